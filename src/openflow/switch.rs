//! Switch handshake and configuration: FEATURES_REQUEST/REPLY (OpenFlow 1.1.0
//! §A.3.1), GET_CONFIG_REQUEST/REPLY and SET_CONFIG (§A.3.2), TABLE_MOD (§A.3.3).

use bytes::{BufMut, BytesMut};
use serde::{Deserialize, Serialize};

use super::codec::{DecodeResult, Reader};
use super::port::Port;
use super::types::{flags, open_enum, u64_field};

flags! {
    /// `enum ofp_capabilities`.
    pub struct Capabilities(u32) {
        FLOW_STATS = 1 << 0 => "flow_stats",
        TABLE_STATS = 1 << 1 => "table_stats",
        PORT_STATS = 1 << 2 => "port_stats",
        GROUP_STATS = 1 << 3 => "group_stats",
        IP_REASM = 1 << 5 => "ip_reasm",
        QUEUE_STATS = 1 << 6 => "queue_stats",
        ARP_MATCH_IP = 1 << 7 => "arp_match_ip",
    }
}

/// The switch's identity and ports.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct FeaturesReply {
    /// Transaction id.
    #[serde(default)]
    pub xid: u32,
    /// Datapath id (BigInt in JS).
    #[serde(with = "u64_field")]
    pub datapath_id: u64,
    /// Packets the switch can buffer.
    #[serde(default)]
    pub n_buffers: u32,
    /// Number of tables.
    #[serde(default)]
    pub n_tables: u8,
    /// Capabilities.
    #[serde(default)]
    pub capabilities: Capabilities,
    /// Reserved field, kept for round trips.
    #[serde(default)]
    pub reserved: u32,
    /// Ports.
    #[serde(default)]
    pub ports: Vec<Port>,
}

impl FeaturesReply {
    /// Decodes the body.
    pub fn decode(xid: u32, r: &mut Reader<'_>) -> DecodeResult<Self> {
        let datapath_id = r.u64()?;
        let n_buffers = r.u32()?;
        let n_tables = r.u8()?;
        r.skip(3)?;
        let capabilities = Capabilities(r.u32()?);
        let reserved = r.u32()?;
        let ports = Port::decode_list(r)?;
        Ok(FeaturesReply { xid, datapath_id, n_buffers, n_tables, capabilities, reserved, ports })
    }

    /// Encodes the body.
    pub fn encode(&self, out: &mut BytesMut) {
        out.put_u64(self.datapath_id);
        out.put_u32(self.n_buffers);
        out.put_u8(self.n_tables);
        out.put_bytes(0, 3);
        out.put_u32(self.capabilities.0);
        out.put_u32(self.reserved);
        for p in &self.ports {
            p.encode(out);
        }
    }
}

flags! {
    /// `enum ofp_config_flags`: fragment handling (0 = normal) and OF1.1's
    /// invalid-TTL-to-controller bit.
    pub struct ConfigFlags(u16) {
        FRAG_DROP = 1 => "frag_drop",
        FRAG_REASM = 2 => "frag_reasm",
        INVALID_TTL_TO_CONTROLLER = 4 => "invalid_ttl_to_controller",
    }
}

/// Body of GET_CONFIG_REPLY and SET_CONFIG (`struct ofp_switch_config`).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct SwitchConfig {
    /// Transaction id.
    #[serde(default)]
    pub xid: u32,
    /// Flags.
    #[serde(default)]
    pub flags: ConfigFlags,
    /// Bytes of a table-miss packet sent to the controller.
    #[serde(default = "default_miss_send_len")]
    pub miss_send_len: u16,
}

fn default_miss_send_len() -> u16 {
    128
}

impl SwitchConfig {
    /// Decodes the body.
    pub fn decode(xid: u32, r: &mut Reader<'_>) -> DecodeResult<Self> {
        Ok(SwitchConfig { xid, flags: ConfigFlags(r.u16()?), miss_send_len: r.u16()? })
    }

    /// Encodes the body.
    pub fn encode(&self, out: &mut BytesMut) {
        out.put_u16(self.flags.0);
        out.put_u16(self.miss_send_len);
    }
}

open_enum! {
    /// `enum ofp_table_config` (table-miss behaviour).
    pub struct TableConfig(u32) {
        MISS_CONTROLLER = 0 => "miss_controller",
        MISS_CONTINUE = 1 => "miss_continue",
        MISS_DROP = 2 => "miss_drop",
    }
}

/// Configures a flow table.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct TableMod {
    /// Transaction id.
    #[serde(default)]
    pub xid: u32,
    /// Table, 0xff for all.
    pub table_id: u8,
    /// Table-miss behaviour.
    pub config: TableConfig,
}

impl TableMod {
    /// Decodes the body.
    pub fn decode(xid: u32, r: &mut Reader<'_>) -> DecodeResult<Self> {
        let table_id = r.u8()?;
        r.skip(3)?;
        Ok(TableMod { xid, table_id, config: TableConfig(r.u32()?) })
    }

    /// Encodes the body.
    pub fn encode(&self, out: &mut BytesMut) {
        out.put_u8(self.table_id);
        out.put_bytes(0, 3);
        out.put_u32(self.config.0);
    }
}
