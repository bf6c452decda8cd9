//! STATS_REQUEST / STATS_REPLY (OpenFlow 1.1.0 §A.3.5): `struct ofp_stats_request`
//! header (type, flags, 4 pad bytes) then a body that depends on the type.

use bytes::{BufMut, BytesMut};
use serde::{Deserialize, Serialize};

use super::codec::{patch_len16, put_fixed_str, DecodeError, DecodeResult, Reader};
use super::flow_match::Match;
use super::group::Bucket;
use super::group::GroupType;
use super::instruction::Instruction;
use super::types::{flags, open_enum, u64_field, Bytes, GroupNo, PortNo};

open_enum! {
    /// `enum ofp_stats_types`.
    pub struct StatsType(u16) {
        DESC = 0 => "desc",
        FLOW = 1 => "flow",
        AGGREGATE = 2 => "aggregate",
        TABLE = 3 => "table",
        PORT = 4 => "port",
        QUEUE = 5 => "queue",
        GROUP = 6 => "group",
        GROUP_DESC = 7 => "group_desc",
        EXPERIMENTER = 0xffff => "experimenter",
    }
}

flags! {
    /// `enum ofp_stats_reply_flags`.
    pub struct StatsFlags(u16) {
        REPLY_MORE = 1 => "reply_more",
    }
}

/// `OFPQ_ALL`.
pub const QUEUE_ALL: u32 = 0xffff_ffff;
const DESC_STR_LEN: usize = 256;
const SERIAL_NUM_LEN: usize = 32;
const TABLE_NAME_LEN: usize = 32;
const FLOW_STATS_LEN: usize = 48;
const TABLE_STATS_LEN: usize = 88;
const PORT_STATS_LEN: usize = 104;
const QUEUE_STATS_LEN: usize = 32;
const GROUP_STATS_LEN: usize = 32;
const BUCKET_COUNTER_LEN: usize = 16;
const GROUP_DESC_LEN: usize = 8;

/// Selects flows for FLOW and AGGREGATE requests (`struct ofp_flow_stats_request`).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct FlowStatsRequest {
    /// Table, 0xff for all.
    #[serde(default = "all_tables")]
    pub table_id: u8,
    /// Only flows that output to this port.
    #[serde(default = "any_port")]
    pub out_port: PortNo,
    /// Only flows that output to this group.
    #[serde(default = "any_group")]
    pub out_group: GroupNo,
    /// Cookie value to match under `cookie_mask`.
    #[serde(with = "u64_field", default)]
    pub cookie: u64,
    /// Cookie bits that must match (0 = any).
    #[serde(with = "u64_field", default)]
    pub cookie_mask: u64,
    /// Flows must match this (non-strictly).
    #[serde(rename = "match", default)]
    pub flow_match: Match,
}

fn all_tables() -> u8 {
    0xff
}
fn any_port() -> PortNo {
    PortNo::ANY
}
fn any_group() -> GroupNo {
    GroupNo::ANY
}
fn queue_all() -> u32 {
    QUEUE_ALL
}
fn group_all() -> GroupNo {
    GroupNo::ALL
}

impl Default for FlowStatsRequest {
    fn default() -> Self {
        FlowStatsRequest {
            table_id: 0xff,
            out_port: PortNo::ANY,
            out_group: GroupNo::ANY,
            cookie: 0,
            cookie_mask: 0,
            flow_match: Match::default(),
        }
    }
}

impl FlowStatsRequest {
    fn decode(r: &mut Reader<'_>) -> DecodeResult<Self> {
        let table_id = r.u8()?;
        r.skip(3)?;
        let out_port = PortNo(r.u32()?);
        let out_group = GroupNo(r.u32()?);
        r.skip(4)?;
        let cookie = r.u64()?;
        let cookie_mask = r.u64()?;
        Ok(FlowStatsRequest { table_id, out_port, out_group, cookie, cookie_mask, flow_match: Match::decode(r)? })
    }

    fn encode(&self, out: &mut BytesMut) {
        out.put_u8(self.table_id);
        out.put_bytes(0, 3);
        out.put_u32(self.out_port.0);
        out.put_u32(self.out_group.0);
        out.put_u32(0);
        out.put_u64(self.cookie);
        out.put_u64(self.cookie_mask);
        self.flow_match.encode(out);
    }
}

/// The body of a STATS_REQUEST. In JS: `body: { type: 'flow', tableId: 0xff, ... }`.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
#[serde(tag = "type", rename_all = "snake_case", rename_all_fields = "camelCase", deny_unknown_fields)]
pub enum StatsRequestBody {
    /// Switch description.
    Desc,
    /// Individual flows.
    Flow(FlowStatsRequest),
    /// Totals over flows.
    Aggregate(FlowStatsRequest),
    /// Flow tables.
    Table,
    /// Port counters.
    Port {
        /// Port, or `'any'` for all.
        #[serde(default = "any_port")]
        port_no: PortNo,
    },
    /// Queue counters.
    Queue {
        /// Port, or `'any'`.
        #[serde(default = "any_port")]
        port_no: PortNo,
        /// Queue, or 0xffffffff for all.
        #[serde(default = "queue_all")]
        queue_id: u32,
    },
    /// Group counters.
    Group {
        /// Group, or `'all'`.
        #[serde(default = "group_all")]
        group_id: GroupNo,
    },
    /// Group descriptions.
    GroupDesc,
    /// Experimenter statistics.
    Experimenter {
        /// Experimenter id.
        experimenter: u32,
        /// Body after the id.
        #[serde(default)]
        data: Bytes,
    },
    /// A type this codec does not know, kept as is.
    Unknown {
        /// Wire stats type.
        stats_type: u16,
        /// Body.
        #[serde(default)]
        data: Bytes,
    },
}

// Reads `type` first instead of buffering the object (see `crate::openflow::tagged`).
crate::openflow::tagged::tagged_enum! {
    StatsRequestBody {
        "desc" => unit Desc (),
        "flow" => newtype Flow (FlowStatsRequest),
        "aggregate" => newtype Aggregate (FlowStatsRequest),
        "table" => unit Table (),
        "port" => fields Port {
            #[serde(default = "any_port")]
            port_no: PortNo,
        },
        "queue" => fields Queue {
            #[serde(default = "any_port")]
            port_no: PortNo,
            #[serde(default = "queue_all")]
            queue_id: u32,
        },
        "group" => fields Group {
            #[serde(default = "group_all")]
            group_id: GroupNo,
        },
        "group_desc" => unit GroupDesc (),
        "experimenter" => fields Experimenter {
            experimenter: u32,
            #[serde(default)]
            data: Bytes,
        },
        "unknown" => fields Unknown {
            stats_type: u16,
            #[serde(default)]
            data: Bytes,
        },
    }
}

impl StatsRequestBody {
    fn stats_type(&self) -> StatsType {
        match self {
            Self::Desc => StatsType::DESC,
            Self::Flow(_) => StatsType::FLOW,
            Self::Aggregate(_) => StatsType::AGGREGATE,
            Self::Table => StatsType::TABLE,
            Self::Port { .. } => StatsType::PORT,
            Self::Queue { .. } => StatsType::QUEUE,
            Self::Group { .. } => StatsType::GROUP,
            Self::GroupDesc => StatsType::GROUP_DESC,
            Self::Experimenter { .. } => StatsType::EXPERIMENTER,
            Self::Unknown { stats_type, .. } => StatsType(*stats_type),
        }
    }
}

/// STATS_REQUEST.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct StatsRequest {
    /// Transaction id.
    #[serde(default)]
    pub xid: u32,
    /// Flags (none are defined for requests in OF1.1).
    #[serde(default)]
    pub flags: StatsFlags,
    /// What is asked.
    pub body: StatsRequestBody,
}

fn no_trailing(r: &Reader<'_>, what: &'static str) -> DecodeResult<()> {
    if r.is_empty() {
        Ok(())
    } else {
        Err(DecodeError::bad_len(what, format!("{} unexpected trailing bytes", r.remaining())))
    }
}

impl StatsRequest {
    /// Decodes the body.
    pub fn decode(xid: u32, r: &mut Reader<'_>) -> DecodeResult<Self> {
        let t = StatsType(r.u16()?);
        let flags = StatsFlags(r.u16()?);
        r.skip(4)?;
        let body = match t {
            StatsType::DESC => StatsRequestBody::Desc,
            StatsType::FLOW => StatsRequestBody::Flow(FlowStatsRequest::decode(r)?),
            StatsType::AGGREGATE => StatsRequestBody::Aggregate(FlowStatsRequest::decode(r)?),
            StatsType::TABLE => StatsRequestBody::Table,
            StatsType::PORT => {
                let port_no = PortNo(r.u32()?);
                r.skip(4)?;
                StatsRequestBody::Port { port_no }
            }
            StatsType::QUEUE => StatsRequestBody::Queue { port_no: PortNo(r.u32()?), queue_id: r.u32()? },
            StatsType::GROUP => {
                let group_id = GroupNo(r.u32()?);
                r.skip(4)?;
                StatsRequestBody::Group { group_id }
            }
            StatsType::GROUP_DESC => StatsRequestBody::GroupDesc,
            StatsType::EXPERIMENTER => {
                StatsRequestBody::Experimenter { experimenter: r.u32()?, data: Bytes(r.take_rest().to_vec()) }
            }
            StatsType(other) => StatsRequestBody::Unknown { stats_type: other, data: Bytes(r.take_rest().to_vec()) },
        };
        no_trailing(r, "ofp_stats_request")?;
        Ok(StatsRequest { xid, flags, body })
    }

    /// Encodes the body.
    pub fn encode(&self, out: &mut BytesMut) {
        out.put_u16(self.body.stats_type().0);
        out.put_u16(self.flags.0);
        out.put_u32(0);
        match &self.body {
            StatsRequestBody::Desc | StatsRequestBody::Table | StatsRequestBody::GroupDesc => {}
            StatsRequestBody::Flow(f) | StatsRequestBody::Aggregate(f) => f.encode(out),
            StatsRequestBody::Port { port_no } => {
                out.put_u32(port_no.0);
                out.put_u32(0);
            }
            StatsRequestBody::Queue { port_no, queue_id } => {
                out.put_u32(port_no.0);
                out.put_u32(*queue_id);
            }
            StatsRequestBody::Group { group_id } => {
                out.put_u32(group_id.0);
                out.put_u32(0);
            }
            StatsRequestBody::Experimenter { experimenter, data } => {
                out.put_u32(*experimenter);
                out.put_slice(&data.0);
            }
            StatsRequestBody::Unknown { data, .. } => out.put_slice(&data.0),
        }
    }
}

/// One flow of a FLOW stats reply (`struct ofp_flow_stats`).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct FlowStats {
    /// Table.
    pub table_id: u8,
    /// Seconds alive.
    pub duration_sec: u32,
    /// Nanoseconds beyond `duration_sec`.
    pub duration_nsec: u32,
    /// Priority.
    pub priority: u16,
    /// Idle timeout.
    pub idle_timeout: u16,
    /// Hard timeout.
    pub hard_timeout: u16,
    /// Cookie.
    #[serde(with = "u64_field")]
    pub cookie: u64,
    /// Packets matched.
    #[serde(with = "u64_field")]
    pub packet_count: u64,
    /// Bytes matched.
    #[serde(with = "u64_field")]
    pub byte_count: u64,
    /// Match.
    #[serde(rename = "match", default)]
    pub flow_match: Match,
    /// Instructions.
    #[serde(default)]
    pub instructions: Vec<Instruction>,
}

/// One table of a TABLE stats reply (`struct ofp_table_stats`, 88 bytes).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct TableStats {
    /// Table id.
    pub table_id: u8,
    /// Name.
    pub name: String,
    /// Wildcards supported (`OFPFW_*`).
    pub wildcards: u32,
    /// Fields matchable (`OFPFMF_*`).
    #[serde(rename = "match")]
    pub match_fields: u32,
    /// Instructions supported (bit per `OFPIT_*`).
    pub instructions: u32,
    /// Actions supported by write_actions (bit per `OFPAT_*`).
    pub write_actions: u32,
    /// Actions supported by apply_actions.
    pub apply_actions: u32,
    /// Table config (`OFPTC_*`).
    pub config: u32,
    /// Capacity.
    pub max_entries: u32,
    /// Flows in use.
    pub active_count: u32,
    /// Packets looked up.
    #[serde(with = "u64_field")]
    pub lookup_count: u64,
    /// Packets that hit.
    #[serde(with = "u64_field")]
    pub matched_count: u64,
}

/// One port of a PORT stats reply (`struct ofp_port_stats`, 104 bytes). Unsupported
/// counters are all-ones.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
#[allow(missing_docs)]
pub struct PortStats {
    pub port_no: PortNo,
    #[serde(with = "u64_field")]
    pub rx_packets: u64,
    #[serde(with = "u64_field")]
    pub tx_packets: u64,
    #[serde(with = "u64_field")]
    pub rx_bytes: u64,
    #[serde(with = "u64_field")]
    pub tx_bytes: u64,
    #[serde(with = "u64_field")]
    pub rx_dropped: u64,
    #[serde(with = "u64_field")]
    pub tx_dropped: u64,
    #[serde(with = "u64_field")]
    pub rx_errors: u64,
    #[serde(with = "u64_field")]
    pub tx_errors: u64,
    #[serde(with = "u64_field")]
    pub rx_frame_err: u64,
    #[serde(with = "u64_field")]
    pub rx_over_err: u64,
    #[serde(with = "u64_field")]
    pub rx_crc_err: u64,
    #[serde(with = "u64_field")]
    pub collisions: u64,
}

/// One queue of a QUEUE stats reply (`struct ofp_queue_stats`, 32 bytes).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
#[allow(missing_docs)]
pub struct QueueStats {
    pub port_no: PortNo,
    pub queue_id: u32,
    #[serde(with = "u64_field")]
    pub tx_bytes: u64,
    #[serde(with = "u64_field")]
    pub tx_packets: u64,
    #[serde(with = "u64_field")]
    pub tx_errors: u64,
}

/// Packet and byte counters of one bucket (`struct ofp_bucket_counter`).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
#[allow(missing_docs)]
pub struct BucketCounter {
    #[serde(with = "u64_field")]
    pub packet_count: u64,
    #[serde(with = "u64_field")]
    pub byte_count: u64,
}

/// One group of a GROUP stats reply (`struct ofp_group_stats`).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
#[allow(missing_docs)]
pub struct GroupStats {
    pub group_id: GroupNo,
    pub ref_count: u32,
    #[serde(with = "u64_field")]
    pub packet_count: u64,
    #[serde(with = "u64_field")]
    pub byte_count: u64,
    #[serde(default)]
    pub bucket_stats: Vec<BucketCounter>,
}

/// One group of a GROUP_DESC stats reply (`struct ofp_group_desc_stats`).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
#[allow(missing_docs)]
pub struct GroupDesc {
    pub group_type: GroupType,
    pub group_id: GroupNo,
    #[serde(default)]
    pub buckets: Vec<Bucket>,
}

/// The body of a STATS_REPLY. In JS: `body: { type: 'flow', flows: [...] }`.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
#[serde(tag = "type", rename_all = "snake_case", rename_all_fields = "camelCase", deny_unknown_fields)]
#[allow(missing_docs)]
pub enum StatsReplyBody {
    /// Switch description (`struct ofp_desc_stats`).
    Desc { mfr_desc: String, hw_desc: String, sw_desc: String, serial_num: String, dp_desc: String },
    /// Flows.
    Flow { flows: Vec<FlowStats> },
    /// Totals (`struct ofp_aggregate_stats_reply`).
    Aggregate {
        #[serde(with = "u64_field")]
        packet_count: u64,
        #[serde(with = "u64_field")]
        byte_count: u64,
        flow_count: u32,
    },
    /// Tables.
    Table { tables: Vec<TableStats> },
    /// Ports.
    Port { ports: Vec<PortStats> },
    /// Queues.
    Queue { queues: Vec<QueueStats> },
    /// Groups.
    Group { groups: Vec<GroupStats> },
    /// Group descriptions.
    GroupDesc { groups: Vec<GroupDesc> },
    /// Experimenter statistics.
    Experimenter {
        experimenter: u32,
        #[serde(default)]
        data: Bytes,
    },
    /// A type this codec does not know, kept as is.
    Unknown {
        stats_type: u16,
        #[serde(default)]
        data: Bytes,
    },
}

// Reads `type` first instead of buffering the object (see `crate::openflow::tagged`).
crate::openflow::tagged::tagged_enum! {
    StatsReplyBody {
        "desc" => fields Desc { mfr_desc: String, hw_desc: String, sw_desc: String, serial_num: String, dp_desc: String },
        "flow" => fields Flow { flows: Vec<FlowStats> },
        "aggregate" => fields Aggregate {
            #[serde(with = "u64_field")]
            packet_count: u64,
            #[serde(with = "u64_field")]
            byte_count: u64,
            flow_count: u32,
        },
        "table" => fields Table { tables: Vec<TableStats> },
        "port" => fields Port { ports: Vec<PortStats> },
        "queue" => fields Queue { queues: Vec<QueueStats> },
        "group" => fields Group { groups: Vec<GroupStats> },
        "group_desc" => fields GroupDesc { groups: Vec<GroupDesc> },
        "experimenter" => fields Experimenter {
            experimenter: u32,
            #[serde(default)]
            data: Bytes,
        },
        "unknown" => fields Unknown {
            stats_type: u16,
            #[serde(default)]
            data: Bytes,
        },
    }
}

impl StatsReplyBody {
    fn stats_type(&self) -> StatsType {
        match self {
            Self::Desc { .. } => StatsType::DESC,
            Self::Flow { .. } => StatsType::FLOW,
            Self::Aggregate { .. } => StatsType::AGGREGATE,
            Self::Table { .. } => StatsType::TABLE,
            Self::Port { .. } => StatsType::PORT,
            Self::Queue { .. } => StatsType::QUEUE,
            Self::Group { .. } => StatsType::GROUP,
            Self::GroupDesc { .. } => StatsType::GROUP_DESC,
            Self::Experimenter { .. } => StatsType::EXPERIMENTER,
            Self::Unknown { stats_type, .. } => StatsType(*stats_type),
        }
    }
}

/// STATS_REPLY. Several replies with `reply_more` make one answer.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct StatsReply {
    /// Transaction id.
    #[serde(default)]
    pub xid: u32,
    /// `['reply_more']` when more replies follow.
    #[serde(default)]
    pub flags: StatsFlags,
    /// What is answered.
    pub body: StatsReplyBody,
}

/// Splits `r` into length-prefixed entries (u16 length first), each at least `min`.
fn entries<'a, T>(
    r: &mut Reader<'a>,
    min: usize,
    what: &'static str,
    mut f: impl FnMut(u16, Reader<'a>) -> DecodeResult<T>,
) -> DecodeResult<Vec<T>> {
    let mut out = Vec::new();
    while !r.is_empty() {
        let len = Reader::new(r.rest(), what).u16()?;
        let body = r.checked_len(len, 0, 8, what)?;
        if body < min {
            return Err(DecodeError::bad_len(what, format!("entry length {len} is under {min}")));
        }
        out.push(f(len, r.sub(body, what)?)?);
    }
    Ok(out)
}

/// Splits `r` into fixed-size entries.
fn fixed_entries<'a, T>(
    r: &mut Reader<'a>,
    size: usize,
    what: &'static str,
    mut f: impl FnMut(Reader<'a>) -> DecodeResult<T>,
) -> DecodeResult<Vec<T>> {
    if r.remaining() % size != 0 {
        return Err(DecodeError::bad_len(what, format!("{} bytes is not a multiple of {size}", r.remaining())));
    }
    let mut out = Vec::with_capacity(r.remaining() / size);
    while !r.is_empty() {
        out.push(f(r.sub(size, what)?)?);
    }
    Ok(out)
}

impl StatsReply {
    /// Decodes the body.
    pub fn decode(xid: u32, r: &mut Reader<'_>) -> DecodeResult<Self> {
        let t = StatsType(r.u16()?);
        let flags = StatsFlags(r.u16()?);
        r.skip(4)?;
        let body = match t {
            StatsType::DESC => StatsReplyBody::Desc {
                mfr_desc: r.fixed_str(DESC_STR_LEN)?,
                hw_desc: r.fixed_str(DESC_STR_LEN)?,
                sw_desc: r.fixed_str(DESC_STR_LEN)?,
                serial_num: r.fixed_str(SERIAL_NUM_LEN)?,
                dp_desc: r.fixed_str(DESC_STR_LEN)?,
            },
            StatsType::FLOW => StatsReplyBody::Flow {
                flows: entries(r, FLOW_STATS_LEN, "ofp_flow_stats", |_, mut e| {
                    e.skip(2)?;
                    let table_id = e.u8()?;
                    e.skip(1)?;
                    let duration_sec = e.u32()?;
                    let duration_nsec = e.u32()?;
                    let priority = e.u16()?;
                    let idle_timeout = e.u16()?;
                    let hard_timeout = e.u16()?;
                    e.skip(6)?;
                    let cookie = e.u64()?;
                    let packet_count = e.u64()?;
                    let byte_count = e.u64()?;
                    let flow_match = Match::decode(&mut e)?;
                    let instructions = Instruction::decode_list(&mut e)?;
                    Ok(FlowStats {
                        table_id,
                        duration_sec,
                        duration_nsec,
                        priority,
                        idle_timeout,
                        hard_timeout,
                        cookie,
                        packet_count,
                        byte_count,
                        flow_match,
                        instructions,
                    })
                })?,
            },
            StatsType::AGGREGATE => {
                let packet_count = r.u64()?;
                let byte_count = r.u64()?;
                let flow_count = r.u32()?;
                r.skip(4)?;
                StatsReplyBody::Aggregate { packet_count, byte_count, flow_count }
            }
            StatsType::TABLE => StatsReplyBody::Table {
                tables: fixed_entries(r, TABLE_STATS_LEN, "ofp_table_stats", |mut e| {
                    let table_id = e.u8()?;
                    e.skip(7)?;
                    Ok(TableStats {
                        table_id,
                        name: e.fixed_str(TABLE_NAME_LEN)?,
                        wildcards: e.u32()?,
                        match_fields: e.u32()?,
                        instructions: e.u32()?,
                        write_actions: e.u32()?,
                        apply_actions: e.u32()?,
                        config: e.u32()?,
                        max_entries: e.u32()?,
                        active_count: e.u32()?,
                        lookup_count: e.u64()?,
                        matched_count: e.u64()?,
                    })
                })?,
            },
            StatsType::PORT => StatsReplyBody::Port {
                ports: fixed_entries(r, PORT_STATS_LEN, "ofp_port_stats", |mut e| {
                    let port_no = PortNo(e.u32()?);
                    e.skip(4)?;
                    Ok(PortStats {
                        port_no,
                        rx_packets: e.u64()?,
                        tx_packets: e.u64()?,
                        rx_bytes: e.u64()?,
                        tx_bytes: e.u64()?,
                        rx_dropped: e.u64()?,
                        tx_dropped: e.u64()?,
                        rx_errors: e.u64()?,
                        tx_errors: e.u64()?,
                        rx_frame_err: e.u64()?,
                        rx_over_err: e.u64()?,
                        rx_crc_err: e.u64()?,
                        collisions: e.u64()?,
                    })
                })?,
            },
            StatsType::QUEUE => StatsReplyBody::Queue {
                queues: fixed_entries(r, QUEUE_STATS_LEN, "ofp_queue_stats", |mut e| {
                    Ok(QueueStats {
                        port_no: PortNo(e.u32()?),
                        queue_id: e.u32()?,
                        tx_bytes: e.u64()?,
                        tx_packets: e.u64()?,
                        tx_errors: e.u64()?,
                    })
                })?,
            },
            StatsType::GROUP => StatsReplyBody::Group {
                groups: entries(r, GROUP_STATS_LEN, "ofp_group_stats", |_, mut e| {
                    e.skip(4)?;
                    let group_id = GroupNo(e.u32()?);
                    let ref_count = e.u32()?;
                    e.skip(4)?;
                    let packet_count = e.u64()?;
                    let byte_count = e.u64()?;
                    let bucket_stats = fixed_entries(&mut e, BUCKET_COUNTER_LEN, "ofp_bucket_counter", |mut b| {
                        Ok(BucketCounter { packet_count: b.u64()?, byte_count: b.u64()? })
                    })?;
                    Ok(GroupStats { group_id, ref_count, packet_count, byte_count, bucket_stats })
                })?,
            },
            StatsType::GROUP_DESC => StatsReplyBody::GroupDesc {
                groups: entries(r, GROUP_DESC_LEN, "ofp_group_desc_stats", |_, mut e| {
                    e.skip(2)?;
                    let group_type = GroupType(e.u8()?);
                    e.skip(1)?;
                    let group_id = GroupNo(e.u32()?);
                    Ok(GroupDesc { group_type, group_id, buckets: Bucket::decode_list(&mut e)? })
                })?,
            },
            StatsType::EXPERIMENTER => {
                StatsReplyBody::Experimenter { experimenter: r.u32()?, data: Bytes(r.take_rest().to_vec()) }
            }
            StatsType(other) => StatsReplyBody::Unknown { stats_type: other, data: Bytes(r.take_rest().to_vec()) },
        };
        no_trailing(r, "ofp_stats_reply")?;
        Ok(StatsReply { xid, flags, body })
    }

    /// Encodes the body.
    pub fn encode(&self, out: &mut BytesMut) {
        out.put_u16(self.body.stats_type().0);
        out.put_u16(self.flags.0);
        out.put_u32(0);
        match &self.body {
            StatsReplyBody::Desc { mfr_desc, hw_desc, sw_desc, serial_num, dp_desc } => {
                put_fixed_str(out, mfr_desc, DESC_STR_LEN);
                put_fixed_str(out, hw_desc, DESC_STR_LEN);
                put_fixed_str(out, sw_desc, DESC_STR_LEN);
                put_fixed_str(out, serial_num, SERIAL_NUM_LEN);
                put_fixed_str(out, dp_desc, DESC_STR_LEN);
            }
            StatsReplyBody::Flow { flows } => {
                for f in flows {
                    let start = out.len();
                    out.put_u16(0);
                    out.put_u8(f.table_id);
                    out.put_u8(0);
                    out.put_u32(f.duration_sec);
                    out.put_u32(f.duration_nsec);
                    out.put_u16(f.priority);
                    out.put_u16(f.idle_timeout);
                    out.put_u16(f.hard_timeout);
                    out.put_bytes(0, 6);
                    out.put_u64(f.cookie);
                    out.put_u64(f.packet_count);
                    out.put_u64(f.byte_count);
                    f.flow_match.encode(out);
                    Instruction::encode_list(&f.instructions, out);
                    patch_len16(out, start, start);
                }
            }
            StatsReplyBody::Aggregate { packet_count, byte_count, flow_count } => {
                out.put_u64(*packet_count);
                out.put_u64(*byte_count);
                out.put_u32(*flow_count);
                out.put_u32(0);
            }
            StatsReplyBody::Table { tables } => {
                for t in tables {
                    out.put_u8(t.table_id);
                    out.put_bytes(0, 7);
                    put_fixed_str(out, &t.name, TABLE_NAME_LEN);
                    for v in [
                        t.wildcards,
                        t.match_fields,
                        t.instructions,
                        t.write_actions,
                        t.apply_actions,
                        t.config,
                        t.max_entries,
                        t.active_count,
                    ] {
                        out.put_u32(v);
                    }
                    out.put_u64(t.lookup_count);
                    out.put_u64(t.matched_count);
                }
            }
            StatsReplyBody::Port { ports } => {
                for p in ports {
                    out.put_u32(p.port_no.0);
                    out.put_u32(0);
                    for v in [
                        p.rx_packets,
                        p.tx_packets,
                        p.rx_bytes,
                        p.tx_bytes,
                        p.rx_dropped,
                        p.tx_dropped,
                        p.rx_errors,
                        p.tx_errors,
                        p.rx_frame_err,
                        p.rx_over_err,
                        p.rx_crc_err,
                        p.collisions,
                    ] {
                        out.put_u64(v);
                    }
                }
            }
            StatsReplyBody::Queue { queues } => {
                for q in queues {
                    out.put_u32(q.port_no.0);
                    out.put_u32(q.queue_id);
                    out.put_u64(q.tx_bytes);
                    out.put_u64(q.tx_packets);
                    out.put_u64(q.tx_errors);
                }
            }
            StatsReplyBody::Group { groups } => {
                for g in groups {
                    let start = out.len();
                    out.put_u16(0);
                    out.put_u16(0);
                    out.put_u32(g.group_id.0);
                    out.put_u32(g.ref_count);
                    out.put_u32(0);
                    out.put_u64(g.packet_count);
                    out.put_u64(g.byte_count);
                    for b in &g.bucket_stats {
                        out.put_u64(b.packet_count);
                        out.put_u64(b.byte_count);
                    }
                    patch_len16(out, start, start);
                }
            }
            StatsReplyBody::GroupDesc { groups } => {
                for g in groups {
                    let start = out.len();
                    out.put_u16(0);
                    out.put_u8(g.group_type.0);
                    out.put_u8(0);
                    out.put_u32(g.group_id.0);
                    for b in &g.buckets {
                        b.encode(out);
                    }
                    patch_len16(out, start, start);
                }
            }
            StatsReplyBody::Experimenter { experimenter, data } => {
                out.put_u32(*experimenter);
                out.put_slice(&data.0);
            }
            StatsReplyBody::Unknown { data, .. } => out.put_slice(&data.0),
        }
    }
}
