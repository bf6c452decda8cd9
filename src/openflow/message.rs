//! The `Message` enum over every OpenFlow 1.1 message family, and the dispatch
//! from header type to family decoder. Nothing else lives here.

use bytes::{BufMut, BytesMut};
use serde::de::{self, MapAccess, Visitor};
use serde::{Deserialize, Deserializer, Serialize};
use std::fmt;

use super::codec::{DecodeError, DecodeResult, Reader};
use super::error_msg::ErrorMsg;
use super::flow::{FlowMod, FlowRemoved};
use super::group::GroupMod;
use super::header::{Header, MsgType, HEADER_LEN, MAX_MESSAGE_LEN, OFP11_VERSION};
use super::packet::{PacketIn, PacketOut};
use super::port::{PortMod, PortStatus};
use super::queue::{QueueGetConfigReply, QueueGetConfigRequest};
use super::stats::{StatsReply, StatsRequest};
use super::switch::{FeaturesReply, SwitchConfig, TableMod};
use super::symmetric::{Echo, Empty, Experimenter, Hello};
use super::types::Bytes;

/// A message of another version than OF1.1, or of a type this codec does not know:
/// kept whole so it can be logged, forwarded or re-encoded.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct RawMessage {
    /// Transaction id.
    #[serde(default)]
    pub xid: u32,
    /// Header version.
    pub version: u8,
    /// Header type.
    pub msg_type: u8,
    /// Everything after the header.
    #[serde(default)]
    pub body: Bytes,
}

/// Any OpenFlow 1.1 message. In JS, a plain object whose `type` is the spec name in
/// lower snake case without `OFPT_`, then `xid`, then the family's fields.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
#[serde(tag = "type", rename_all = "snake_case")]
#[allow(missing_docs)]
pub enum Message {
    Hello(Hello),
    Error(ErrorMsg),
    EchoRequest(Echo),
    EchoReply(Echo),
    Experimenter(Experimenter),
    FeaturesRequest(Empty),
    FeaturesReply(FeaturesReply),
    GetConfigRequest(Empty),
    GetConfigReply(SwitchConfig),
    SetConfig(SwitchConfig),
    PacketIn(PacketIn),
    FlowRemoved(FlowRemoved),
    PortStatus(PortStatus),
    PacketOut(PacketOut),
    FlowMod(FlowMod),
    GroupMod(GroupMod),
    PortMod(PortMod),
    TableMod(TableMod),
    StatsRequest(StatsRequest),
    StatsReply(StatsReply),
    BarrierRequest(Empty),
    BarrierReply(Empty),
    QueueGetConfigRequest(QueueGetConfigRequest),
    QueueGetConfigReply(QueueGetConfigReply),
    /// Another version, or an unknown type.
    Raw(RawMessage),
}

/// Why a message could not be encoded.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum EncodeError {
    /// The encoding does not fit the 16-bit length field.
    #[error("{msg_type} message would be {len} bytes; OpenFlow messages are at most 65535")]
    TooLong {
        /// Message type.
        msg_type: &'static str,
        /// Encoded length.
        len: usize,
    },
}

impl Message {
    /// Decodes exactly one message from `buf`, whose length must equal the header's.
    ///
    /// HELLO of any version decodes as [`Hello`] (version negotiation needs it);
    /// other messages of another version, and unknown types, decode to
    /// [`Message::Raw`]. Malformed OF1.1 bodies are errors, never panics.
    pub fn decode(buf: &[u8]) -> DecodeResult<Message> {
        let h = Header::decode(buf)?;
        let mut r = Reader::new(buf.get(HEADER_LEN..).unwrap_or_default(), "message body");
        let xid = h.xid;
        if h.msg_type == MsgType::HELLO {
            return Ok(Message::Hello(Hello::decode(xid, h.version, &mut r)?));
        }
        if h.version != OFP11_VERSION {
            return Ok(raw(&h, r));
        }
        let r = &mut r;
        let m = match h.msg_type {
            MsgType::ERROR => Message::Error(ErrorMsg::decode(xid, r)?),
            MsgType::ECHO_REQUEST => Message::EchoRequest(Echo { xid, data: Bytes(r.take_rest().to_vec()) }),
            MsgType::ECHO_REPLY => Message::EchoReply(Echo { xid, data: Bytes(r.take_rest().to_vec()) }),
            MsgType::EXPERIMENTER => Message::Experimenter(Experimenter::decode(xid, r)?),
            MsgType::FEATURES_REQUEST => Message::FeaturesRequest(Empty { xid }),
            MsgType::FEATURES_REPLY => Message::FeaturesReply(FeaturesReply::decode(xid, r)?),
            MsgType::GET_CONFIG_REQUEST => Message::GetConfigRequest(Empty { xid }),
            MsgType::GET_CONFIG_REPLY => Message::GetConfigReply(SwitchConfig::decode(xid, r)?),
            MsgType::SET_CONFIG => Message::SetConfig(SwitchConfig::decode(xid, r)?),
            MsgType::PACKET_IN => Message::PacketIn(PacketIn::decode(xid, r)?),
            MsgType::FLOW_REMOVED => Message::FlowRemoved(FlowRemoved::decode(xid, r)?),
            MsgType::PORT_STATUS => Message::PortStatus(PortStatus::decode(xid, r)?),
            MsgType::PACKET_OUT => Message::PacketOut(PacketOut::decode(xid, r)?),
            MsgType::FLOW_MOD => Message::FlowMod(FlowMod::decode(xid, r)?),
            MsgType::GROUP_MOD => Message::GroupMod(GroupMod::decode(xid, r)?),
            MsgType::PORT_MOD => Message::PortMod(PortMod::decode(xid, r)?),
            MsgType::TABLE_MOD => Message::TableMod(TableMod::decode(xid, r)?),
            MsgType::STATS_REQUEST => Message::StatsRequest(StatsRequest::decode(xid, r)?),
            MsgType::STATS_REPLY => Message::StatsReply(StatsReply::decode(xid, r)?),
            MsgType::BARRIER_REQUEST => Message::BarrierRequest(Empty { xid }),
            MsgType::BARRIER_REPLY => Message::BarrierReply(Empty { xid }),
            MsgType::QUEUE_GET_CONFIG_REQUEST => Message::QueueGetConfigRequest(QueueGetConfigRequest::decode(xid, r)?),
            MsgType::QUEUE_GET_CONFIG_REPLY => Message::QueueGetConfigReply(QueueGetConfigReply::decode(xid, r)?),
            _ => return Ok(raw(&h, *r)),
        };
        if !r.is_empty() {
            return Err(DecodeError::bad_len(
                "message body",
                format!("{} trailing bytes after a {:?}", r.remaining(), h.msg_type),
            ));
        }
        Ok(m)
    }

    /// Transaction id.
    pub fn xid(&self) -> u32 {
        match self {
            Message::Hello(m) => m.xid,
            Message::Error(m) => m.xid,
            Message::EchoRequest(m) | Message::EchoReply(m) => m.xid,
            Message::Experimenter(m) => m.xid,
            Message::FeaturesRequest(m)
            | Message::GetConfigRequest(m)
            | Message::BarrierRequest(m)
            | Message::BarrierReply(m) => m.xid,
            Message::FeaturesReply(m) => m.xid,
            Message::GetConfigReply(m) | Message::SetConfig(m) => m.xid,
            Message::PacketIn(m) => m.xid,
            Message::FlowRemoved(m) => m.xid,
            Message::PortStatus(m) => m.xid,
            Message::PacketOut(m) => m.xid,
            Message::FlowMod(m) => m.xid,
            Message::GroupMod(m) => m.xid,
            Message::PortMod(m) => m.xid,
            Message::TableMod(m) => m.xid,
            Message::StatsRequest(m) => m.xid,
            Message::StatsReply(m) => m.xid,
            Message::QueueGetConfigRequest(m) => m.xid,
            Message::QueueGetConfigReply(m) => m.xid,
            Message::Raw(m) => m.xid,
        }
    }

    /// Sets the transaction id.
    pub fn set_xid(&mut self, xid: u32) {
        match self {
            Message::Hello(m) => m.xid = xid,
            Message::Error(m) => m.xid = xid,
            Message::EchoRequest(m) | Message::EchoReply(m) => m.xid = xid,
            Message::Experimenter(m) => m.xid = xid,
            Message::FeaturesRequest(m)
            | Message::GetConfigRequest(m)
            | Message::BarrierRequest(m)
            | Message::BarrierReply(m) => m.xid = xid,
            Message::FeaturesReply(m) => m.xid = xid,
            Message::GetConfigReply(m) | Message::SetConfig(m) => m.xid = xid,
            Message::PacketIn(m) => m.xid = xid,
            Message::FlowRemoved(m) => m.xid = xid,
            Message::PortStatus(m) => m.xid = xid,
            Message::PacketOut(m) => m.xid = xid,
            Message::FlowMod(m) => m.xid = xid,
            Message::GroupMod(m) => m.xid = xid,
            Message::PortMod(m) => m.xid = xid,
            Message::TableMod(m) => m.xid = xid,
            Message::StatsRequest(m) => m.xid = xid,
            Message::StatsReply(m) => m.xid = xid,
            Message::QueueGetConfigRequest(m) => m.xid = xid,
            Message::QueueGetConfigReply(m) => m.xid = xid,
            Message::Raw(m) => m.xid = xid,
        }
    }

    /// Header version and type of this message.
    pub fn header_type(&self) -> (u8, MsgType) {
        let t = match self {
            Message::Hello(m) => return (m.version, MsgType::HELLO),
            Message::Raw(m) => return (m.version, MsgType(m.msg_type)),
            Message::Error(_) => MsgType::ERROR,
            Message::EchoRequest(_) => MsgType::ECHO_REQUEST,
            Message::EchoReply(_) => MsgType::ECHO_REPLY,
            Message::Experimenter(_) => MsgType::EXPERIMENTER,
            Message::FeaturesRequest(_) => MsgType::FEATURES_REQUEST,
            Message::FeaturesReply(_) => MsgType::FEATURES_REPLY,
            Message::GetConfigRequest(_) => MsgType::GET_CONFIG_REQUEST,
            Message::GetConfigReply(_) => MsgType::GET_CONFIG_REPLY,
            Message::SetConfig(_) => MsgType::SET_CONFIG,
            Message::PacketIn(_) => MsgType::PACKET_IN,
            Message::FlowRemoved(_) => MsgType::FLOW_REMOVED,
            Message::PortStatus(_) => MsgType::PORT_STATUS,
            Message::PacketOut(_) => MsgType::PACKET_OUT,
            Message::FlowMod(_) => MsgType::FLOW_MOD,
            Message::GroupMod(_) => MsgType::GROUP_MOD,
            Message::PortMod(_) => MsgType::PORT_MOD,
            Message::TableMod(_) => MsgType::TABLE_MOD,
            Message::StatsRequest(_) => MsgType::STATS_REQUEST,
            Message::StatsReply(_) => MsgType::STATS_REPLY,
            Message::BarrierRequest(_) => MsgType::BARRIER_REQUEST,
            Message::BarrierReply(_) => MsgType::BARRIER_REPLY,
            Message::QueueGetConfigRequest(_) => MsgType::QUEUE_GET_CONFIG_REQUEST,
            Message::QueueGetConfigReply(_) => MsgType::QUEUE_GET_CONFIG_REPLY,
        };
        (OFP11_VERSION, t)
    }

    /// Appends the encoding to `out`. On error `out` is left as it was.
    pub fn encode(&self, out: &mut BytesMut) -> Result<(), EncodeError> {
        let (version, t) = self.header_type();
        let start = Header::begin(out, version, t, self.xid());
        match self {
            Message::Hello(m) => m.encode(out),
            Message::Error(m) => m.encode(out),
            Message::EchoRequest(m) | Message::EchoReply(m) => out.put_slice(&m.data.0),
            Message::Experimenter(m) => m.encode(out),
            Message::FeaturesRequest(_)
            | Message::GetConfigRequest(_)
            | Message::BarrierRequest(_)
            | Message::BarrierReply(_) => {}
            Message::FeaturesReply(m) => m.encode(out),
            Message::GetConfigReply(m) | Message::SetConfig(m) => m.encode(out),
            Message::PacketIn(m) => m.encode(out),
            Message::FlowRemoved(m) => m.encode(out),
            Message::PortStatus(m) => m.encode(out),
            Message::PacketOut(m) => m.encode(out),
            Message::FlowMod(m) => m.encode(out),
            Message::GroupMod(m) => m.encode(out),
            Message::PortMod(m) => m.encode(out),
            Message::TableMod(m) => m.encode(out),
            Message::StatsRequest(m) => m.encode(out),
            Message::StatsReply(m) => m.encode(out),
            Message::QueueGetConfigRequest(m) => m.encode(out),
            Message::QueueGetConfigReply(m) => m.encode(out),
            Message::Raw(m) => out.put_slice(&m.body.0),
        }
        let len = out.len() - start;
        if len > MAX_MESSAGE_LEN {
            out.truncate(start);
            return Err(EncodeError::TooLong { msg_type: t.name().unwrap_or("raw"), len });
        }
        Header::finish(out, start);
        Ok(())
    }

    /// Encodes into a fresh buffer.
    pub fn to_bytes(&self) -> Result<Vec<u8>, EncodeError> {
        let mut out = BytesMut::with_capacity(256);
        self.encode(&mut out)?;
        Ok(out.to_vec())
    }
}

fn raw(h: &Header, r: Reader<'_>) -> Message {
    Message::Raw(RawMessage { xid: h.xid, version: h.version, msg_type: h.msg_type.0, body: Bytes(r.rest().to_vec()) })
}

/// Reads `type` first and hands the rest of the object straight to the family's
/// struct, so field errors keep their path (`match.dlSrc: ...`) and nothing is
/// buffered. When `type` is not the first key (serde_json sorts keys), the object
/// is buffered once and read again.
impl<'de> Deserialize<'de> for Message {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        d.deserialize_map(MessageVisitor)
    }
}

macro_rules! by_type {
    ($t:expr, $de:expr, $err:ty, { $($name:literal => $variant:ident,)* }) => {
        match $t {
            $($name => Deserialize::deserialize($de).map(Message::$variant),)*
            other => Err(<$err as de::Error>::unknown_variant(other, MESSAGE_TYPES)),
        }
    };
}

macro_rules! message_types {
    ($mac:ident, $t:expr, $de:expr, $err:ty) => {
        $mac!($t, $de, $err, {
            "hello" => Hello, "error" => Error, "echo_request" => EchoRequest, "echo_reply" => EchoReply,
            "experimenter" => Experimenter, "features_request" => FeaturesRequest,
            "features_reply" => FeaturesReply, "get_config_request" => GetConfigRequest,
            "get_config_reply" => GetConfigReply, "set_config" => SetConfig, "packet_in" => PacketIn,
            "flow_removed" => FlowRemoved, "port_status" => PortStatus, "packet_out" => PacketOut,
            "flow_mod" => FlowMod, "group_mod" => GroupMod, "port_mod" => PortMod, "table_mod" => TableMod,
            "stats_request" => StatsRequest, "stats_reply" => StatsReply,
            "barrier_request" => BarrierRequest, "barrier_reply" => BarrierReply,
            "queue_get_config_request" => QueueGetConfigRequest,
            "queue_get_config_reply" => QueueGetConfigReply, "raw" => Raw,
        })
    };
}

const MESSAGE_TYPES: &[&str] = &[
    "hello", "error", "echo_request", "echo_reply", "experimenter", "features_request", "features_reply",
    "get_config_request", "get_config_reply", "set_config", "packet_in", "flow_removed", "port_status",
    "packet_out", "flow_mod", "group_mod", "port_mod", "table_mod", "stats_request", "stats_reply",
    "barrier_request", "barrier_reply", "queue_get_config_request", "queue_get_config_reply", "raw",
];

struct MessageVisitor;

impl<'de> Visitor<'de> for MessageVisitor {
    type Value = Message;

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("an OpenFlow message object with a `type`")
    }

    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Message, A::Error> {
        let Some(first) = map.next_key::<std::borrow::Cow<'de, str>>()? else {
            return Err(de::Error::missing_field("type"));
        };
        if first == "type" {
            let t: std::borrow::Cow<'de, str> = map.next_value()?;
            let rest = de::value::MapAccessDeserializer::new(map);
            return message_types!(by_type, t.as_ref(), rest, A::Error);
        }
        let mut obj = serde_json::Map::new();
        let v: serde_json::Value = map.next_value()?;
        obj.insert(first.into_owned(), v);
        while let Some((k, v)) = map.next_entry::<String, serde_json::Value>()? {
            obj.insert(k, v);
        }
        let t = match obj.remove("type") {
            Some(serde_json::Value::String(t)) => t,
            Some(_) => return Err(de::Error::custom("`type` must be a string")),
            None => return Err(de::Error::missing_field("type")),
        };
        let rest = serde_json::Value::Object(obj);
        message_types!(by_type, t.as_str(), rest, serde_json::Error).map_err(de::Error::custom)
    }
}
