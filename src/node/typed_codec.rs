//! The codec's N-API boundary as typed napi objects instead of the value tape: a
//! prototype, built only with the `bench-typed` feature, that exists to measure the
//! two against each other (issue 11, `bench/boundary.bench.js`). Never in a release
//! or packaged binary.
//!
//! Two typed paths:
//! * `#[napi(object)]` types mirroring the JS shapes (`__encodeTyped`,
//!   `__decodeTyped`, ...): napi-rs reads and builds each property with N-API
//!   calls. They cover what the hot path sends and receives: FLOW_MOD with every
//!   OpenFlow 1.1 instruction and action, BARRIER_REQUEST/REPLY, ECHO_REQUEST/REPLY;
//!   any other type is refused with `ERR_TYPED_UNSUPPORTED`. Output is the shape of
//!   today's `decode` (same keys in the same order, BigInt cookies, Buffers).
//! * napi-rs's serde support (`__encodeSerde`, `__decodeSerde`, ...) on the codec's
//!   own serde impls: every message, no mirror types, but napi-rs writes a `u64`
//!   that fits 32 bits as a Number, so its decoded shape differs (`cookie: 0`, not
//!   `0n`). Measured for reference only.
//!
//! Not reproduced from the tape path (the prototype measures the valid case): the
//! refusal of unknown keys (`deny_unknown_fields`), error codes and paths such as
//! `instructions[0].actions[1].port`, and napi-rs's `u32` reading accepts
//! fractions and wraps negatives where the tape path refuses them.

// The enums are the JS shapes napi-rs builds and reads; boxing a variant would only add
// an indirection to what is measured.
#![allow(clippy::large_enum_variant)]

use bytes::BytesMut;
use napi::bindgen_prelude::{BufferSlice, Either, Either3, Env, ToNapiValue, TypeName, Uint8Array, Unknown};
use napi::{sys, ValueType};
use napi_derive::napi;
use std::net::Ipv4Addr;

use super::errors::{err, from_decode, from_encode, guard, JsError};
use crate::openflow::flow::FlowModFlags;
use crate::openflow::symmetric::{Echo, Empty};
use crate::openflow::types::{parse_uint, Bytes, GroupNo, MaskedU64};
use crate::openflow::{Action, FlowMod, FlowModCommand, Framer, Instruction, MacAddr, Masked, Match, Message, PortNo};

// ---------------------------------------------------------------- Rust to JS

/// A wire value JS sees by its name when it has one (`'normal'`, `'add'`), else
/// as a number: the serde form of the codec's open enums and flags.
pub struct NameOrNumber {
    name: Option<&'static str>,
    value: u32,
}

impl NameOrNumber {
    fn new(name: Option<&'static str>, value: u32) -> Self {
        NameOrNumber { name, value }
    }
}

impl TypeName for NameOrNumber {
    fn type_name() -> &'static str {
        "string | number"
    }
    fn value_type() -> ValueType {
        ValueType::Unknown
    }
}

impl ToNapiValue for NameOrNumber {
    unsafe fn to_napi_value(env: sys::napi_env, val: Self) -> napi::Result<sys::napi_value> {
        // SAFETY: forwarded as napi-rs calls us, with its own env.
        unsafe {
            match val.name {
                Some(name) => ToNapiValue::to_napi_value(env, name),
                None => ToNapiValue::to_napi_value(env, val.value),
            }
        }
    }
}

/// An address as text, formatted on the stack the way the codec's `Serialize`
/// does (`types.rs`), so neither path pays `core::fmt`.
pub struct AddrText {
    buf: [u8; 40],
    len: usize,
}

impl AddrText {
    fn new() -> Self {
        AddrText { buf: [0; 40], len: 0 }
    }
    fn push(&mut self, b: u8) {
        if let Some(slot) = self.buf.get_mut(self.len) {
            *slot = b;
            self.len += 1;
        }
    }
    fn dec(&mut self, v: u32) {
        if v >= 100 {
            self.push(b'0' + (v / 100 % 10) as u8);
        }
        if v >= 10 {
            self.push(b'0' + (v / 10 % 10) as u8);
        }
        self.push(b'0' + (v % 10) as u8);
    }
    fn mac(mut self, m: &MacAddr) -> Self {
        const HEX: &[u8; 16] = b"0123456789abcdef";
        for (i, b) in m.0.iter().enumerate() {
            if i > 0 {
                self.push(b':');
            }
            self.push(HEX[usize::from(b >> 4)]);
            self.push(HEX[usize::from(b & 15)]);
        }
        self
    }
    fn ip(mut self, a: Ipv4Addr) -> Self {
        for (i, b) in a.octets().iter().enumerate() {
            if i > 0 {
                self.push(b'.');
            }
            self.dec(u32::from(*b));
        }
        self
    }
    fn masked_mac(m: &Masked<MacAddr>) -> Self {
        let mut t = AddrText::new().mac(&m.value);
        if let Some(mask) = &m.mask {
            t.push(b'/');
            t = t.mac(mask);
        }
        t
    }
    fn masked_ip(m: &Masked<Ipv4Addr>) -> Self {
        let mut t = AddrText::new().ip(m.value);
        if let Some(mask) = m.mask {
            match crate::openflow::types::prefix_len(mask) {
                Some(32) => {}
                Some(p) => {
                    t.push(b'/');
                    t.dec(p);
                }
                None => {
                    t.push(b'/');
                    t = t.ip(mask);
                }
            }
        }
        t
    }
}

impl TypeName for AddrText {
    fn type_name() -> &'static str {
        "string"
    }
    fn value_type() -> ValueType {
        ValueType::String
    }
}

impl ToNapiValue for AddrText {
    unsafe fn to_napi_value(env: sys::napi_env, val: Self) -> napi::Result<sys::napi_value> {
        let text = std::str::from_utf8(val.buf.get(..val.len).unwrap_or_default()).unwrap_or_default();
        // SAFETY: forwarded as napi-rs calls us, with its own env.
        unsafe { ToNapiValue::to_napi_value(env, text) }
    }
}

/// Opaque bytes as a Buffer of their own (the tape path copies them too).
fn buffer_of(b: Bytes) -> napi::bindgen_prelude::Buffer {
    b.0.into()
}

/// A decoded message, shaped as today's `decode` returns it.
#[napi(discriminant = "type", discriminant_case = "snake_case", object_from_js = false)]
pub enum MessageOut {
    FlowMod {
        xid: u32,
        cookie: u64,
        cookie_mask: u64,
        table_id: u8,
        command: NameOrNumber,
        idle_timeout: u16,
        hard_timeout: u16,
        priority: u16,
        buffer_id: u32,
        out_port: NameOrNumber,
        out_group: NameOrNumber,
        flags: Vec<NameOrNumber>,
        #[napi(js_name = "match")]
        flow_match: MatchOut,
        instructions: Vec<InstructionOut>,
    },
    BarrierRequest {
        xid: u32,
    },
    BarrierReply {
        xid: u32,
    },
    EchoRequest {
        xid: u32,
        data: napi::bindgen_prelude::Buffer,
    },
    EchoReply {
        xid: u32,
        data: napi::bindgen_prelude::Buffer,
    },
    /// What the stream decoder yields for a framed message that does not decode.
    Invalid {
        xid: u32,
        version: u8,
        msg_type: u8,
        code: String,
        message: String,
        data: napi::bindgen_prelude::Buffer,
    },
}

/// `ofp_match` (§A.2.3): a key only for each field that is not wildcarded.
#[napi(object, object_from_js = false)]
pub struct MatchOut {
    pub in_port: Option<NameOrNumber>,
    pub dl_src: Option<AddrText>,
    pub dl_dst: Option<AddrText>,
    pub dl_vlan: Option<u16>,
    pub dl_vlan_pcp: Option<u8>,
    pub dl_type: Option<u16>,
    pub nw_tos: Option<u8>,
    pub nw_proto: Option<u8>,
    pub nw_src: Option<AddrText>,
    pub nw_dst: Option<AddrText>,
    pub tp_src: Option<u16>,
    pub tp_dst: Option<u16>,
    pub mpls_label: Option<u32>,
    pub mpls_tc: Option<u8>,
    pub metadata: Option<Either<u64, MaskedU64Out>>,
    pub oxm: Option<napi::bindgen_prelude::Buffer>,
}

/// Metadata with a mask.
#[napi(object, object_from_js = false)]
pub struct MaskedU64Out {
    pub value: u64,
    pub mask: u64,
}

/// An instruction (§A.2.4).
#[napi(discriminant = "type", discriminant_case = "snake_case", object_from_js = false)]
pub enum InstructionOut {
    GotoTable { table_id: u8 },
    WriteMetadata { metadata: u64, metadata_mask: u64 },
    WriteActions { actions: Vec<ActionOut> },
    ApplyActions { actions: Vec<ActionOut> },
    ClearActions,
    Experimenter { experimenter: u32, data: napi::bindgen_prelude::Buffer },
    Unknown { instruction_type: u16, data: napi::bindgen_prelude::Buffer },
}

/// An action (§A.2.5).
#[napi(discriminant = "type", discriminant_case = "snake_case", object_from_js = false)]
pub enum ActionOut {
    Output { port: NameOrNumber, max_len: u16 },
    SetVlanVid { vlan_vid: u16 },
    SetVlanPcp { vlan_pcp: u8 },
    SetDlSrc { dl_addr: AddrText },
    SetDlDst { dl_addr: AddrText },
    SetNwSrc { nw_addr: AddrText },
    SetNwDst { nw_addr: AddrText },
    SetNwTos { nw_tos: u8 },
    SetNwEcn { nw_ecn: u8 },
    SetTpSrc { tp_port: u16 },
    SetTpDst { tp_port: u16 },
    CopyTtlOut,
    CopyTtlIn,
    SetMplsLabel { mpls_label: u32 },
    SetMplsTc { mpls_tc: u8 },
    SetMplsTtl { mpls_ttl: u8 },
    DecMplsTtl,
    PushVlan { ethertype: u16 },
    PopVlan,
    PushMpls { ethertype: u16 },
    PopMpls { ethertype: u16 },
    SetQueue { queue_id: u32 },
    Group { group_id: u32 },
    SetNwTtl { nw_ttl: u8 },
    DecNwTtl,
    Experimenter { experimenter: u32, data: napi::bindgen_prelude::Buffer },
    Unknown { action_type: u16, data: napi::bindgen_prelude::Buffer },
}

fn port_out(p: PortNo) -> NameOrNumber {
    NameOrNumber::new(p.name(), p.0)
}

/// Flag names, then the unnamed bits as one number (the codec's `serialize_flags`).
fn flags_out(f: FlowModFlags) -> Vec<NameOrNumber> {
    let (names, rest) = f.names();
    let mut out: Vec<NameOrNumber> = names.into_iter().map(|n| NameOrNumber::new(Some(n), 0)).collect();
    if rest != 0 {
        out.push(NameOrNumber::new(None, u32::from(rest)));
    }
    out
}

fn match_out(m: Match) -> MatchOut {
    MatchOut {
        in_port: m.in_port.map(port_out),
        dl_src: m.dl_src.as_ref().map(AddrText::masked_mac),
        dl_dst: m.dl_dst.as_ref().map(AddrText::masked_mac),
        dl_vlan: m.dl_vlan,
        dl_vlan_pcp: m.dl_vlan_pcp,
        dl_type: m.dl_type,
        nw_tos: m.nw_tos,
        nw_proto: m.nw_proto,
        nw_src: m.nw_src.as_ref().map(AddrText::masked_ip),
        nw_dst: m.nw_dst.as_ref().map(AddrText::masked_ip),
        tp_src: m.tp_src,
        tp_dst: m.tp_dst,
        mpls_label: m.mpls_label,
        mpls_tc: m.mpls_tc,
        metadata: m.metadata.map(|md| match md.mask {
            None => Either::A(md.value),
            Some(mask) => Either::B(MaskedU64Out { value: md.value, mask }),
        }),
        oxm: m.oxm.map(buffer_of),
    }
}

fn action_out(a: Action) -> ActionOut {
    match a {
        Action::Output { port, max_len } => ActionOut::Output { port: port_out(port), max_len },
        Action::SetVlanVid { vlan_vid } => ActionOut::SetVlanVid { vlan_vid },
        Action::SetVlanPcp { vlan_pcp } => ActionOut::SetVlanPcp { vlan_pcp },
        Action::SetDlSrc { dl_addr } => ActionOut::SetDlSrc { dl_addr: AddrText::new().mac(&dl_addr) },
        Action::SetDlDst { dl_addr } => ActionOut::SetDlDst { dl_addr: AddrText::new().mac(&dl_addr) },
        Action::SetNwSrc { nw_addr } => ActionOut::SetNwSrc { nw_addr: AddrText::new().ip(nw_addr) },
        Action::SetNwDst { nw_addr } => ActionOut::SetNwDst { nw_addr: AddrText::new().ip(nw_addr) },
        Action::SetNwTos { nw_tos } => ActionOut::SetNwTos { nw_tos },
        Action::SetNwEcn { nw_ecn } => ActionOut::SetNwEcn { nw_ecn },
        Action::SetTpSrc { tp_port } => ActionOut::SetTpSrc { tp_port },
        Action::SetTpDst { tp_port } => ActionOut::SetTpDst { tp_port },
        Action::CopyTtlOut => ActionOut::CopyTtlOut,
        Action::CopyTtlIn => ActionOut::CopyTtlIn,
        Action::SetMplsLabel { mpls_label } => ActionOut::SetMplsLabel { mpls_label },
        Action::SetMplsTc { mpls_tc } => ActionOut::SetMplsTc { mpls_tc },
        Action::SetMplsTtl { mpls_ttl } => ActionOut::SetMplsTtl { mpls_ttl },
        Action::DecMplsTtl => ActionOut::DecMplsTtl,
        Action::PushVlan { ethertype } => ActionOut::PushVlan { ethertype },
        Action::PopVlan => ActionOut::PopVlan,
        Action::PushMpls { ethertype } => ActionOut::PushMpls { ethertype },
        Action::PopMpls { ethertype } => ActionOut::PopMpls { ethertype },
        Action::SetQueue { queue_id } => ActionOut::SetQueue { queue_id },
        Action::Group { group_id } => ActionOut::Group { group_id },
        Action::SetNwTtl { nw_ttl } => ActionOut::SetNwTtl { nw_ttl },
        Action::DecNwTtl => ActionOut::DecNwTtl,
        Action::Experimenter { experimenter, data } => ActionOut::Experimenter { experimenter, data: buffer_of(data) },
        Action::Unknown { action_type, data } => ActionOut::Unknown { action_type, data: buffer_of(data) },
    }
}

fn instruction_out(i: Instruction) -> InstructionOut {
    let actions = |list: Vec<Action>| list.into_iter().map(action_out).collect();
    match i {
        Instruction::GotoTable { table_id } => InstructionOut::GotoTable { table_id },
        Instruction::WriteMetadata { metadata, metadata_mask } => {
            InstructionOut::WriteMetadata { metadata, metadata_mask }
        }
        Instruction::WriteActions { actions: a } => InstructionOut::WriteActions { actions: actions(a) },
        Instruction::ApplyActions { actions: a } => InstructionOut::ApplyActions { actions: actions(a) },
        Instruction::ClearActions => InstructionOut::ClearActions,
        Instruction::Experimenter { experimenter, data } => {
            InstructionOut::Experimenter { experimenter, data: buffer_of(data) }
        }
        Instruction::Unknown { instruction_type, data } => {
            InstructionOut::Unknown { instruction_type, data: buffer_of(data) }
        }
    }
}

fn unsupported(what: impl std::fmt::Display) -> JsError {
    err("ERR_TYPED_UNSUPPORTED", format!("the typed prototype does not carry {what}"))
}

fn message_out(m: Message) -> Result<MessageOut, JsError> {
    Ok(match m {
        Message::FlowMod(fm) => MessageOut::FlowMod {
            xid: fm.xid,
            cookie: fm.cookie,
            cookie_mask: fm.cookie_mask,
            table_id: fm.table_id,
            command: NameOrNumber::new(fm.command.name(), u32::from(fm.command.0)),
            idle_timeout: fm.idle_timeout,
            hard_timeout: fm.hard_timeout,
            priority: fm.priority,
            buffer_id: fm.buffer_id,
            out_port: port_out(fm.out_port),
            out_group: NameOrNumber::new(fm.out_group.name(), fm.out_group.0),
            flags: flags_out(fm.flags),
            flow_match: match_out(fm.flow_match),
            instructions: fm.instructions.into_iter().map(instruction_out).collect(),
        },
        Message::BarrierRequest(Empty { xid }) => MessageOut::BarrierRequest { xid },
        Message::BarrierReply(Empty { xid }) => MessageOut::BarrierReply { xid },
        Message::EchoRequest(Echo { xid, data }) => MessageOut::EchoRequest { xid, data: buffer_of(data) },
        Message::EchoReply(Echo { xid, data }) => MessageOut::EchoReply { xid, data: buffer_of(data) },
        other => return Err(unsupported(format_args!("{:?}", other.header_type().1))),
    })
}

// ---------------------------------------------------------------- JS to Rust

/// A name or a number, as JS may give an open enum (`'normal'`, `0xfffffffa`,
/// `'0xfffffffa'`).
type NameOrNumberIn = Either<u32, String>;

/// A u64 as JS may give it: BigInt, safe integer, or decimal/hex string.
type U64In = Either3<napi::bindgen_prelude::BigInt, f64, String>;

fn bad(field: &str, why: impl std::fmt::Display) -> JsError {
    err("ERR_INVALID_ARG_VALUE", format!("{field}: {why}"))
}

fn name_or_number(v: NameOrNumberIn, field: &str, by_name: impl Fn(&str) -> Option<u32>) -> Result<u32, JsError> {
    match v {
        Either::A(n) => Ok(n),
        Either::B(s) => by_name(&s)
            .or_else(|| parse_uint(&s).and_then(|n| u32::try_from(n).ok()))
            .ok_or_else(|| bad(field, format_args!("unknown name '{s}'"))),
    }
}

fn narrow<T: TryFrom<u32>>(v: u32, field: &str) -> Result<T, JsError> {
    T::try_from(v).map_err(|_| bad(field, format_args!("{v} is out of range")))
}

fn u64_in(v: U64In, field: &str) -> Result<u64, JsError> {
    match v {
        Either3::A(big) => match big.get_u64() {
            (false, v, true) => Ok(v),
            _ => Err(bad(field, "BigInt out of the u64 range")),
        },
        Either3::B(n) if n.fract() == 0.0 && (0.0..=9_007_199_254_740_991.0).contains(&n) => Ok(n as u64),
        Either3::B(n) => Err(bad(field, format_args!("{n} is not a safe non-negative integer"))),
        Either3::C(s) => parse_uint(&s).ok_or_else(|| bad(field, format_args!("'{s}' is not an integer"))),
    }
}

fn text<T: std::str::FromStr>(s: &str, field: &str) -> Result<T, JsError>
where
    T::Err: std::fmt::Display,
{
    s.parse().map_err(|e| bad(field, e))
}

/// A message to encode: every field but `type` may be left out and takes the
/// spec's default, as with the tape path.
#[napi(discriminant = "type", discriminant_case = "snake_case", object_to_js = false)]
pub enum MessageIn {
    FlowMod {
        xid: Option<u32>,
        cookie: Option<U64In>,
        cookie_mask: Option<U64In>,
        table_id: Option<u8>,
        command: Option<NameOrNumberIn>,
        idle_timeout: Option<u16>,
        hard_timeout: Option<u16>,
        priority: Option<u16>,
        buffer_id: Option<u32>,
        out_port: Option<NameOrNumberIn>,
        out_group: Option<NameOrNumberIn>,
        flags: Option<Either<u16, Vec<NameOrNumberIn>>>,
        #[napi(js_name = "match")]
        flow_match: Option<MatchIn>,
        instructions: Option<Vec<InstructionIn>>,
    },
    BarrierRequest {
        xid: Option<u32>,
    },
    BarrierReply {
        xid: Option<u32>,
    },
    EchoRequest {
        xid: Option<u32>,
        data: Option<Uint8Array>,
    },
    EchoReply {
        xid: Option<u32>,
        data: Option<Uint8Array>,
    },
}

/// `ofp_match` from JS: a missing key is a wildcard.
#[napi(object, object_to_js = false)]
pub struct MatchIn {
    pub in_port: Option<NameOrNumberIn>,
    pub dl_src: Option<String>,
    pub dl_dst: Option<String>,
    pub dl_vlan: Option<u16>,
    pub dl_vlan_pcp: Option<u8>,
    pub dl_type: Option<u16>,
    pub nw_tos: Option<u8>,
    pub nw_proto: Option<u8>,
    pub nw_src: Option<String>,
    pub nw_dst: Option<String>,
    pub tp_src: Option<u16>,
    pub tp_dst: Option<u16>,
    pub mpls_label: Option<u32>,
    pub mpls_tc: Option<u8>,
    pub metadata: Option<Either<U64In, MaskedU64In>>,
    pub oxm: Option<Uint8Array>,
}

/// Metadata with a mask, from JS.
#[napi(object, object_to_js = false)]
pub struct MaskedU64In {
    pub value: U64In,
    pub mask: U64In,
}

/// An instruction from JS (§A.2.4).
#[napi(discriminant = "type", discriminant_case = "snake_case", object_to_js = false)]
pub enum InstructionIn {
    GotoTable { table_id: u8 },
    WriteMetadata { metadata: U64In, metadata_mask: Option<U64In> },
    WriteActions { actions: Option<Vec<ActionIn>> },
    ApplyActions { actions: Option<Vec<ActionIn>> },
    ClearActions,
    Experimenter { experimenter: u32, data: Option<Uint8Array> },
    Unknown { instruction_type: u16, data: Option<Uint8Array> },
}

/// An action from JS (§A.2.5).
#[napi(discriminant = "type", discriminant_case = "snake_case", object_to_js = false)]
pub enum ActionIn {
    Output { port: NameOrNumberIn, max_len: Option<u16> },
    SetVlanVid { vlan_vid: u16 },
    SetVlanPcp { vlan_pcp: u8 },
    SetDlSrc { dl_addr: String },
    SetDlDst { dl_addr: String },
    SetNwSrc { nw_addr: String },
    SetNwDst { nw_addr: String },
    SetNwTos { nw_tos: u8 },
    SetNwEcn { nw_ecn: u8 },
    SetTpSrc { tp_port: u16 },
    SetTpDst { tp_port: u16 },
    CopyTtlOut,
    CopyTtlIn,
    SetMplsLabel { mpls_label: u32 },
    SetMplsTc { mpls_tc: u8 },
    SetMplsTtl { mpls_ttl: u8 },
    DecMplsTtl,
    PushVlan { ethertype: u16 },
    PopVlan,
    PushMpls { ethertype: u16 },
    PopMpls { ethertype: u16 },
    SetQueue { queue_id: u32 },
    Group { group_id: u32 },
    SetNwTtl { nw_ttl: u8 },
    DecNwTtl,
    Experimenter { experimenter: u32, data: Option<Uint8Array> },
    Unknown { action_type: u16, data: Option<Uint8Array> },
}

fn bytes_in(b: Option<Uint8Array>) -> Bytes {
    Bytes(b.map(|b| b.to_vec()).unwrap_or_default())
}

fn port_in(p: NameOrNumberIn, field: &str) -> Result<PortNo, JsError> {
    name_or_number(p, field, |s| PortNo::from_name(s).map(|p| p.0)).map(PortNo)
}

fn match_in(m: MatchIn) -> Result<Match, JsError> {
    Ok(Match {
        in_port: m.in_port.map(|p| port_in(p, "match.inPort")).transpose()?,
        dl_src: m.dl_src.map(|s| text(&s, "match.dlSrc")).transpose()?,
        dl_dst: m.dl_dst.map(|s| text(&s, "match.dlDst")).transpose()?,
        dl_vlan: m.dl_vlan,
        dl_vlan_pcp: m.dl_vlan_pcp,
        dl_type: m.dl_type,
        nw_tos: m.nw_tos,
        nw_proto: m.nw_proto,
        nw_src: m.nw_src.map(|s| text(&s, "match.nwSrc")).transpose()?,
        nw_dst: m.nw_dst.map(|s| text(&s, "match.nwDst")).transpose()?,
        tp_src: m.tp_src,
        tp_dst: m.tp_dst,
        mpls_label: m.mpls_label,
        mpls_tc: m.mpls_tc,
        metadata: m
            .metadata
            .map(|md| -> Result<MaskedU64, JsError> {
                Ok(match md {
                    Either::A(v) => MaskedU64 { value: u64_in(v, "match.metadata")?, mask: None },
                    Either::B(MaskedU64In { value, mask }) => {
                        let mask = u64_in(mask, "match.metadata.mask")?;
                        MaskedU64 {
                            value: u64_in(value, "match.metadata.value")?,
                            mask: (mask != u64::MAX).then_some(mask),
                        }
                    }
                })
            })
            .transpose()?,
        oxm: m.oxm.map(|b| Bytes(b.to_vec())),
    })
}

fn action_in(a: ActionIn) -> Result<Action, JsError> {
    Ok(match a {
        ActionIn::Output { port, max_len } => {
            Action::Output { port: port_in(port, "action.port")?, max_len: max_len.unwrap_or(0) }
        }
        ActionIn::SetVlanVid { vlan_vid } => Action::SetVlanVid { vlan_vid },
        ActionIn::SetVlanPcp { vlan_pcp } => Action::SetVlanPcp { vlan_pcp },
        ActionIn::SetDlSrc { dl_addr } => Action::SetDlSrc { dl_addr: text(&dl_addr, "action.dlAddr")? },
        ActionIn::SetDlDst { dl_addr } => Action::SetDlDst { dl_addr: text(&dl_addr, "action.dlAddr")? },
        ActionIn::SetNwSrc { nw_addr } => Action::SetNwSrc { nw_addr: text(&nw_addr, "action.nwAddr")? },
        ActionIn::SetNwDst { nw_addr } => Action::SetNwDst { nw_addr: text(&nw_addr, "action.nwAddr")? },
        ActionIn::SetNwTos { nw_tos } => Action::SetNwTos { nw_tos },
        ActionIn::SetNwEcn { nw_ecn } => Action::SetNwEcn { nw_ecn },
        ActionIn::SetTpSrc { tp_port } => Action::SetTpSrc { tp_port },
        ActionIn::SetTpDst { tp_port } => Action::SetTpDst { tp_port },
        ActionIn::CopyTtlOut => Action::CopyTtlOut,
        ActionIn::CopyTtlIn => Action::CopyTtlIn,
        ActionIn::SetMplsLabel { mpls_label } => Action::SetMplsLabel { mpls_label },
        ActionIn::SetMplsTc { mpls_tc } => Action::SetMplsTc { mpls_tc },
        ActionIn::SetMplsTtl { mpls_ttl } => Action::SetMplsTtl { mpls_ttl },
        ActionIn::DecMplsTtl => Action::DecMplsTtl,
        ActionIn::PushVlan { ethertype } => Action::PushVlan { ethertype },
        ActionIn::PopVlan => Action::PopVlan,
        ActionIn::PushMpls { ethertype } => Action::PushMpls { ethertype },
        ActionIn::PopMpls { ethertype } => Action::PopMpls { ethertype },
        ActionIn::SetQueue { queue_id } => Action::SetQueue { queue_id },
        ActionIn::Group { group_id } => Action::Group { group_id },
        ActionIn::SetNwTtl { nw_ttl } => Action::SetNwTtl { nw_ttl },
        ActionIn::DecNwTtl => Action::DecNwTtl,
        ActionIn::Experimenter { experimenter, data } => Action::Experimenter { experimenter, data: bytes_in(data) },
        ActionIn::Unknown { action_type, data } => Action::Unknown { action_type, data: bytes_in(data) },
    })
}

fn actions_in(list: Option<Vec<ActionIn>>) -> Result<Vec<Action>, JsError> {
    list.unwrap_or_default().into_iter().map(action_in).collect()
}

fn instruction_in(i: InstructionIn) -> Result<Instruction, JsError> {
    Ok(match i {
        InstructionIn::GotoTable { table_id } => Instruction::GotoTable { table_id },
        InstructionIn::WriteMetadata { metadata, metadata_mask } => Instruction::WriteMetadata {
            metadata: u64_in(metadata, "instruction.metadata")?,
            metadata_mask: metadata_mask
                .map(|m| u64_in(m, "instruction.metadataMask"))
                .transpose()?
                .unwrap_or(u64::MAX),
        },
        InstructionIn::WriteActions { actions } => Instruction::WriteActions { actions: actions_in(actions)? },
        InstructionIn::ApplyActions { actions } => Instruction::ApplyActions { actions: actions_in(actions)? },
        InstructionIn::ClearActions => Instruction::ClearActions,
        InstructionIn::Experimenter { experimenter, data } => {
            Instruction::Experimenter { experimenter, data: bytes_in(data) }
        }
        InstructionIn::Unknown { instruction_type, data } => {
            Instruction::Unknown { instruction_type, data: bytes_in(data) }
        }
    })
}

fn flags_in(f: Either<u16, Vec<NameOrNumberIn>>) -> Result<FlowModFlags, JsError> {
    let bits = match f {
        Either::A(bits) => bits,
        Either::B(list) => list.into_iter().try_fold(0u16, |acc, item| {
            let bit = name_or_number(item, "flags", |s| FlowModFlags::bit(s).map(u32::from))?;
            Ok::<u16, JsError>(acc | narrow::<u16>(bit, "flags")?)
        })?,
    };
    Ok(FlowModFlags(bits))
}

fn message_in(m: MessageIn) -> Result<Message, JsError> {
    Ok(match m {
        MessageIn::FlowMod {
            xid,
            cookie,
            cookie_mask,
            table_id,
            command,
            idle_timeout,
            hard_timeout,
            priority,
            buffer_id,
            out_port,
            out_group,
            flags,
            flow_match,
            instructions,
        } => {
            let d = FlowMod::default();
            Message::FlowMod(FlowMod {
                xid: xid.unwrap_or(d.xid),
                cookie: cookie.map(|c| u64_in(c, "cookie")).transpose()?.unwrap_or(d.cookie),
                cookie_mask: cookie_mask.map(|c| u64_in(c, "cookieMask")).transpose()?.unwrap_or(d.cookie_mask),
                table_id: table_id.unwrap_or(d.table_id),
                command: match command {
                    Some(c) => FlowModCommand(narrow(
                        name_or_number(c, "command", |s| FlowModCommand::from_name(s).map(|c| u32::from(c.0)))?,
                        "command",
                    )?),
                    None => d.command,
                },
                idle_timeout: idle_timeout.unwrap_or(d.idle_timeout),
                hard_timeout: hard_timeout.unwrap_or(d.hard_timeout),
                priority: priority.unwrap_or(d.priority),
                buffer_id: buffer_id.unwrap_or(d.buffer_id),
                out_port: out_port.map(|p| port_in(p, "outPort")).transpose()?.unwrap_or(d.out_port),
                out_group: match out_group {
                    Some(g) => GroupNo(name_or_number(g, "outGroup", |s| GroupNo::from_name(s).map(|g| g.0))?),
                    None => d.out_group,
                },
                flags: flags.map(flags_in).transpose()?.unwrap_or(d.flags),
                flow_match: flow_match.map(match_in).transpose()?.unwrap_or_default(),
                instructions: instructions
                    .unwrap_or_default()
                    .into_iter()
                    .map(instruction_in)
                    .collect::<Result<_, _>>()?,
            })
        }
        MessageIn::BarrierRequest { xid } => Message::BarrierRequest(Empty { xid: xid.unwrap_or(0) }),
        MessageIn::BarrierReply { xid } => Message::BarrierReply(Empty { xid: xid.unwrap_or(0) }),
        MessageIn::EchoRequest { xid, data } => {
            Message::EchoRequest(Echo { xid: xid.unwrap_or(0), data: bytes_in(data) })
        }
        MessageIn::EchoReply { xid, data } => Message::EchoReply(Echo { xid: xid.unwrap_or(0), data: bytes_in(data) }),
    })
}

// ---------------------------------------------------------------- the calls

fn encode_all<'env>(
    env: &'env Env,
    messages: impl IntoIterator<Item = Result<Message, JsError>>,
) -> Result<BufferSlice<'env>, JsError> {
    let mut out = BytesMut::with_capacity(256);
    for m in messages {
        m?.encode(&mut out).map_err(from_encode)?;
    }
    BufferSlice::copy_from(env, &out).map_err(|e| err("ERR_NATIVE", e))
}

/// `encode` through `#[napi(object)]` types.
#[napi(js_name = "__encodeTyped")]
pub fn encode_typed<'env>(env: &'env Env, message: MessageIn) -> Result<BufferSlice<'env>, JsError> {
    guard(|| encode_all(env, [message_in(message)]))
}

/// `encodeBatch` through `#[napi(object)]` types.
#[napi(js_name = "__encodeBatchTyped")]
pub fn encode_batch_typed<'env>(env: &'env Env, messages: Vec<MessageIn>) -> Result<BufferSlice<'env>, JsError> {
    guard(|| encode_all(env, messages.into_iter().map(message_in)))
}

/// `decode` through `#[napi(object)]` types.
#[napi(js_name = "__decodeTyped")]
pub fn decode_typed(bytes: BufferSlice) -> Result<MessageOut, JsError> {
    guard(|| message_out(Message::decode(&bytes).map_err(from_decode)?))
}

/// `FrameDecoder` through `#[napi(object)]` types.
#[napi(js_name = "TypedFrameDecoder")]
pub struct TypedFrameDecoder {
    framer: Framer,
}

#[napi]
impl TypedFrameDecoder {
    #[napi(constructor)]
    pub fn new() -> Self {
        TypedFrameDecoder { framer: Framer::new() }
    }

    /// Every message completed by `chunk`; a framed one that does not decode
    /// comes out as `{ type: 'invalid', ... }`, as with `FrameDecoder`.
    #[napi]
    pub fn push(&mut self, chunk: BufferSlice) -> Result<Vec<MessageOut>, JsError> {
        guard(|| {
            self.framer.push(&chunk);
            let mut out = Vec::new();
            while let Some(frame) = self.framer.next_frame().map_err(|e| err("OFP_BAD_FRAME", e))? {
                out.push(match Message::decode(&frame) {
                    Ok(m) => message_out(m)?,
                    Err(e) => MessageOut::Invalid {
                        xid: frame.get(4..8).map_or(0, |x| u32::from_be_bytes([x[0], x[1], x[2], x[3]])),
                        version: frame.first().copied().unwrap_or(0),
                        msg_type: frame.get(1).copied().unwrap_or(0),
                        code: e.code_str(),
                        message: e.to_string(),
                        data: frame.to_vec().into(),
                    },
                });
            }
            Ok(out)
        })
    }
}

/// `encode` through napi-rs's serde support, on the codec's own `Deserialize`.
#[napi(js_name = "__encodeSerde")]
pub fn encode_serde<'env>(env: &'env Env, message: Unknown) -> Result<BufferSlice<'env>, JsError> {
    guard(|| {
        let m: Message = env.from_js_value(message).map_err(|e| err("ERR_INVALID_ARG_VALUE", e))?;
        encode_all(env, [Ok(m)])
    })
}

/// `encodeBatch` through napi-rs's serde support.
#[napi(js_name = "__encodeBatchSerde")]
pub fn encode_batch_serde<'env>(env: &'env Env, messages: Unknown) -> Result<BufferSlice<'env>, JsError> {
    guard(|| {
        let list: Vec<Message> = env.from_js_value(messages).map_err(|e| err("ERR_INVALID_ARG_VALUE", e))?;
        encode_all(env, list.into_iter().map(Ok))
    })
}

/// `decode` through napi-rs's serde support (a `u64` under 2^32 comes out as a Number).
#[napi(js_name = "__decodeSerde")]
pub fn decode_serde<'env>(env: &'env Env, bytes: BufferSlice) -> Result<Unknown<'env>, JsError> {
    guard(|| {
        let m = Message::decode(&bytes).map_err(from_decode)?;
        env.to_js_value(&m).map_err(|e| err("ERR_NATIVE", e))
    })
}

/// `FrameDecoder` through napi-rs's serde support (frames that do not decode are
/// an error here: reference figures only).
#[napi(js_name = "SerdeFrameDecoder")]
pub struct SerdeFrameDecoder {
    framer: Framer,
}

#[napi]
impl SerdeFrameDecoder {
    #[napi(constructor)]
    pub fn new() -> Self {
        SerdeFrameDecoder { framer: Framer::new() }
    }

    /// Every message completed by `chunk`.
    #[napi]
    pub fn push<'env>(&mut self, env: &'env Env, chunk: BufferSlice) -> Result<Unknown<'env>, JsError> {
        guard(|| {
            self.framer.push(&chunk);
            let mut list = Vec::new();
            while let Some(frame) = self.framer.next_frame().map_err(|e| err("OFP_BAD_FRAME", e))? {
                list.push(Message::decode(&frame).map_err(from_decode)?);
            }
            env.to_js_value(&list).map_err(|e| err("ERR_NATIVE", e))
        })
    }
}
