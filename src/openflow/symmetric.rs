//! Symmetric messages: HELLO (OpenFlow 1.1.0 §A.5.1, with the hello elements of
//! OpenFlow 1.3.1+ §A.5.1 that OVS sends), ECHO_REQUEST/REPLY (§A.5.2, §A.5.3) and
//! EXPERIMENTER (§A.5.4).

use bytes::{BufMut, BytesMut};
use serde::{Deserialize, Serialize};

use super::codec::{pad_to_8, DecodeError, DecodeResult, Reader};
use super::header::OFP11_VERSION;
use super::types::Bytes;

/// `OFPHET_VERSIONBITMAP`.
pub const HELLO_ELEM_VERSION_BITMAP: u16 = 1;

/// One hello element.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
#[serde(tag = "type", rename_all = "snake_case", rename_all_fields = "camelCase", deny_unknown_fields)]
pub enum HelloElement {
    /// Versions the sender supports: bit `v` of word `v / 32` set for wire version `v`.
    VersionBitmap {
        /// 32-bit words, least significant first.
        bitmaps: Vec<u32>,
    },
    /// Another element type, kept as is.
    Unknown {
        /// Wire type.
        element_type: u16,
        /// Body (without padding).
        #[serde(default)]
        data: Bytes,
    },
}

// Reads `type` first instead of buffering the object (see `crate::openflow::tagged`).
crate::openflow::tagged::tagged_enum! {
    HelloElement {
        "version_bitmap" => fields VersionBitmap { bitmaps: Vec<u32> },
        "unknown" => fields Unknown {
            element_type: u16,
            #[serde(default)]
            data: Bytes,
        },
    }
}

/// HELLO. OVS opens with an OF1.3-version HELLO carrying a version bitmap; any
/// version decodes here, and `versions()` gives what the peer offers.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct Hello {
    /// Transaction id.
    #[serde(default)]
    pub xid: u32,
    /// Header version: the highest the sender supports.
    #[serde(default = "default_version")]
    pub version: u8,
    /// Hello elements (OF1.3.1+; none in a plain OF1.1 hello).
    #[serde(default)]
    pub elements: Vec<HelloElement>,
}

fn default_version() -> u8 {
    OFP11_VERSION
}

impl Hello {
    /// Decodes the body. Elements that do not parse are ignored (the spec says
    /// unknown elements must be ignored), but a truncated element is an error.
    pub fn decode(xid: u32, version: u8, r: &mut Reader<'_>) -> DecodeResult<Self> {
        let mut elements = Vec::new();
        while r.remaining() >= 4 {
            let mut hdr = *r;
            let t = hdr.u16()?;
            let len = usize::from(hdr.u16()?);
            if len < 4 || len > r.remaining() {
                return Err(DecodeError::bad_len("ofp_hello_elem", format!("element length {len} is invalid")));
            }
            let mut body = r.sub(len, "ofp_hello_elem")?;
            body.skip(4)?;
            // Elements are padded to 8 bytes; the padding is not counted in `len`.
            let padded = (len + 7) / 8 * 8;
            r.skip((padded - len).min(r.remaining()))?;
            if t == HELLO_ELEM_VERSION_BITMAP {
                let mut bitmaps = Vec::with_capacity(body.remaining() / 4);
                while body.remaining() >= 4 {
                    bitmaps.push(body.u32()?);
                }
                elements.push(HelloElement::VersionBitmap { bitmaps });
            } else {
                elements.push(HelloElement::Unknown { element_type: t, data: Bytes(body.take_rest().to_vec()) });
            }
        }
        // A trailing fragment shorter than an element header is tolerated, as OVS does.
        r.take_rest();
        Ok(Hello { xid, version, elements })
    }

    /// Encodes the body.
    pub fn encode(&self, out: &mut BytesMut) {
        for e in &self.elements {
            let start = out.len();
            match e {
                HelloElement::VersionBitmap { bitmaps } => {
                    out.put_u16(HELLO_ELEM_VERSION_BITMAP);
                    out.put_u16(u16::try_from(4 + bitmaps.len() * 4).unwrap_or(u16::MAX));
                    for b in bitmaps {
                        out.put_u32(*b);
                    }
                }
                HelloElement::Unknown { element_type, data } => {
                    out.put_u16(*element_type);
                    out.put_u16(u16::try_from(4 + data.0.len()).unwrap_or(u16::MAX));
                    out.put_slice(&data.0);
                }
            }
            pad_to_8(out, start);
        }
    }

    /// Versions the peer supports: from its bitmap when it sent one, else every
    /// version up to the header's (OpenFlow 1.3.1 §6.3.1).
    pub fn versions(&self) -> Vec<u8> {
        for e in &self.elements {
            if let HelloElement::VersionBitmap { bitmaps } = e {
                let mut out = Vec::new();
                for (w, word) in bitmaps.iter().enumerate() {
                    for bit in 0..32u32 {
                        if word & (1 << bit) != 0 {
                            if let Ok(v) = u8::try_from(w * 32 + bit as usize) {
                                out.push(v);
                            }
                        }
                    }
                }
                return out;
            }
        }
        (1..=self.version).collect()
    }
}

/// ECHO_REQUEST / ECHO_REPLY body.
#[derive(Clone, Debug, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct Echo {
    /// Transaction id.
    #[serde(default)]
    pub xid: u32,
    /// Arbitrary payload, echoed back.
    #[serde(default)]
    pub data: Bytes,
}

/// EXPERIMENTER (`struct ofp_experimenter_header`). OF1.1 has 4 pad bytes after
/// the id; vendors (Nicira's `nicira_header`) and OF1.2+ use them as a subtype, so
/// they are kept as `expType`.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct Experimenter {
    /// Transaction id.
    #[serde(default)]
    pub xid: u32,
    /// Experimenter id.
    pub experimenter: u32,
    /// Experimenter-defined subtype (the OF1.1 pad bytes).
    #[serde(default)]
    pub exp_type: u32,
    /// Body after the header.
    #[serde(default)]
    pub data: Bytes,
}

impl Experimenter {
    /// Decodes the body.
    pub fn decode(xid: u32, r: &mut Reader<'_>) -> DecodeResult<Self> {
        let experimenter = r.u32()?;
        let exp_type = r.u32()?;
        Ok(Experimenter { xid, experimenter, exp_type, data: Bytes(r.take_rest().to_vec()) })
    }

    /// Encodes the body.
    pub fn encode(&self, out: &mut BytesMut) {
        out.put_u32(self.experimenter);
        out.put_u32(self.exp_type);
        out.put_slice(&self.data.0);
    }
}

/// A message whose body is empty (FEATURES_REQUEST, GET_CONFIG_REQUEST, BARRIER_*).
#[derive(Clone, Debug, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct Empty {
    /// Transaction id.
    #[serde(default)]
    pub xid: u32,
}
