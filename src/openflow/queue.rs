//! QUEUE_GET_CONFIG_REQUEST/REPLY (OpenFlow 1.1.0 §A.3.6) and queue descriptions
//! (`struct ofp_packet_queue`, §A.2.2).

use bytes::{BufMut, BytesMut};
use serde::{Deserialize, Serialize};

use super::codec::{patch_len16, pad_to_8, DecodeResult, Reader};
use super::types::{Bytes, PortNo};

/// `OFPQT_MIN_RATE`.
pub const QUEUE_PROP_MIN_RATE: u16 = 1;

/// A queue property.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
#[serde(tag = "type", rename_all = "snake_case", rename_all_fields = "camelCase", deny_unknown_fields)]
pub enum QueueProperty {
    /// Minimum rate in 1/10 of a percent; >1000 means disabled.
    MinRate {
        /// Rate.
        rate: u16,
    },
    /// Another property, kept as is.
    Unknown {
        /// Wire property type.
        property: u16,
        /// Body after the 8-byte property header.
        #[serde(default)]
        data: Bytes,
    },
}

// Reads `type` first instead of buffering the object (see `crate::openflow::tagged`).
crate::openflow::tagged::tagged_enum! {
    QueueProperty {
        "min_rate" => fields MinRate { rate: u16 },
        "unknown" => fields Unknown {
            property: u16,
            #[serde(default)]
            data: Bytes,
        },
    }
}

/// One queue of a port.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct PacketQueue {
    /// Queue id.
    pub queue_id: u32,
    /// Properties.
    #[serde(default)]
    pub properties: Vec<QueueProperty>,
}

impl PacketQueue {
    fn decode_list(r: &mut Reader<'_>) -> DecodeResult<Vec<PacketQueue>> {
        let mut out = Vec::new();
        while !r.is_empty() {
            let mut hdr = *r;
            let queue_id = hdr.u32()?;
            let len = hdr.u16()?;
            let body_len = r.checked_len(len, 0, 8, "ofp_packet_queue")?;
            let mut q = r.sub(body_len, "ofp_packet_queue")?;
            q.skip(8)?;
            let mut properties = Vec::new();
            while !q.is_empty() {
                let mut ph = q;
                let property = ph.u16()?;
                let plen = ph.u16()?;
                let pbody = q.checked_len(plen, 0, 8, "ofp_queue_prop")?;
                let mut p = q.sub(pbody, "ofp_queue_prop")?;
                p.skip(8)?;
                if property == QUEUE_PROP_MIN_RATE && plen == 16 {
                    properties.push(QueueProperty::MinRate { rate: p.u16()? });
                } else {
                    properties.push(QueueProperty::Unknown { property, data: Bytes(p.take_rest().to_vec()) });
                }
            }
            out.push(PacketQueue { queue_id, properties });
        }
        Ok(out)
    }

    fn encode(&self, out: &mut BytesMut) {
        let start = out.len();
        out.put_u32(self.queue_id);
        out.put_u16(0);
        out.put_u16(0);
        for p in &self.properties {
            let ps = out.len();
            match p {
                QueueProperty::MinRate { rate } => {
                    out.put_u16(QUEUE_PROP_MIN_RATE);
                    out.put_u16(16);
                    out.put_u32(0);
                    out.put_u16(*rate);
                    out.put_bytes(0, 6);
                }
                QueueProperty::Unknown { property, data } => {
                    out.put_u16(*property);
                    out.put_u16(0);
                    out.put_u32(0);
                    out.put_slice(&data.0);
                    pad_to_8(out, ps);
                    patch_len16(out, ps, ps + 2);
                }
            }
        }
        patch_len16(out, start, start + 4);
    }
}

/// Asks for the queues of a port.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct QueueGetConfigRequest {
    /// Transaction id.
    #[serde(default)]
    pub xid: u32,
    /// Port to query.
    pub port: PortNo,
}

impl QueueGetConfigRequest {
    /// Decodes the body.
    pub fn decode(xid: u32, r: &mut Reader<'_>) -> DecodeResult<Self> {
        let port = PortNo(r.u32()?);
        r.skip(4)?;
        Ok(Self { xid, port })
    }

    /// Encodes the body.
    pub fn encode(&self, out: &mut BytesMut) {
        out.put_u32(self.port.0);
        out.put_u32(0);
    }
}

/// The queues of a port.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct QueueGetConfigReply {
    /// Transaction id.
    #[serde(default)]
    pub xid: u32,
    /// Port queried.
    pub port: PortNo,
    /// Its queues.
    #[serde(default)]
    pub queues: Vec<PacketQueue>,
}

impl QueueGetConfigReply {
    /// Decodes the body.
    pub fn decode(xid: u32, r: &mut Reader<'_>) -> DecodeResult<Self> {
        let port = PortNo(r.u32()?);
        r.skip(4)?;
        Ok(Self { xid, port, queues: PacketQueue::decode_list(r)? })
    }

    /// Encodes the body.
    pub fn encode(&self, out: &mut BytesMut) {
        out.put_u32(self.port.0);
        out.put_u32(0);
        for q in &self.queues {
            q.encode(out);
        }
    }
}
