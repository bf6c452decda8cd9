//! The 8-byte OpenFlow header (OpenFlow 1.1.0 §A.1, `struct ofp_header`).

use bytes::{BufMut, BytesMut};

use super::codec::{DecodeError, DecodeResult, Reader};
use super::types::open_enum;

/// Wire version of OpenFlow 1.1.
pub const OFP11_VERSION: u8 = 0x02;
/// Size of `struct ofp_header`.
pub const HEADER_LEN: usize = 8;
/// Largest message: the header's length field is 16 bits.
pub const MAX_MESSAGE_LEN: usize = u16::MAX as usize;

open_enum! {
    /// Message type (OpenFlow 1.1.0 §A.1, `enum ofp_type`). Numbers are the OF1.1 ones:
    /// BARRIER is 20/21 here, unlike OF1.3.
    pub struct MsgType(u8) {
        HELLO = 0 => "hello",
        ERROR = 1 => "error",
        ECHO_REQUEST = 2 => "echo_request",
        ECHO_REPLY = 3 => "echo_reply",
        EXPERIMENTER = 4 => "experimenter",
        FEATURES_REQUEST = 5 => "features_request",
        FEATURES_REPLY = 6 => "features_reply",
        GET_CONFIG_REQUEST = 7 => "get_config_request",
        GET_CONFIG_REPLY = 8 => "get_config_reply",
        SET_CONFIG = 9 => "set_config",
        PACKET_IN = 10 => "packet_in",
        FLOW_REMOVED = 11 => "flow_removed",
        PORT_STATUS = 12 => "port_status",
        PACKET_OUT = 13 => "packet_out",
        FLOW_MOD = 14 => "flow_mod",
        GROUP_MOD = 15 => "group_mod",
        PORT_MOD = 16 => "port_mod",
        TABLE_MOD = 17 => "table_mod",
        STATS_REQUEST = 18 => "stats_request",
        STATS_REPLY = 19 => "stats_reply",
        BARRIER_REQUEST = 20 => "barrier_request",
        BARRIER_REPLY = 21 => "barrier_reply",
        QUEUE_GET_CONFIG_REQUEST = 22 => "queue_get_config_request",
        QUEUE_GET_CONFIG_REPLY = 23 => "queue_get_config_reply",
    }
}

/// A decoded header.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Header {
    /// Protocol version (0x02 for OF1.1).
    pub version: u8,
    /// Message type.
    pub msg_type: MsgType,
    /// Length of the whole message, header included.
    pub length: u16,
    /// Transaction id.
    pub xid: u32,
}

impl Header {
    /// Reads a header and checks its length against `HEADER_LEN` and the bytes given.
    ///
    /// OpenFlow 1.1.0 §A.1: "length: Length including this ofp_header."
    pub fn decode(buf: &[u8]) -> DecodeResult<Header> {
        let mut r = Reader::new(buf, "ofp_header");
        let h = Header { version: r.u8()?, msg_type: MsgType(r.u8()?), length: r.u16()?, xid: r.u32()? };
        if usize::from(h.length) < HEADER_LEN {
            return Err(DecodeError::bad_len("ofp_header", format!("length {} is shorter than the header", h.length)));
        }
        if usize::from(h.length) != buf.len() {
            return Err(DecodeError::bad_len(
                "ofp_header",
                format!("length field says {} bytes, message has {}", h.length, buf.len()),
            ));
        }
        Ok(h)
    }

    /// Starts a message: writes the header with a zero length, returns the start
    /// offset for [`finish`].
    pub fn begin(out: &mut BytesMut, version: u8, msg_type: MsgType, xid: u32) -> usize {
        let start = out.len();
        out.put_u8(version);
        out.put_u8(msg_type.0);
        out.put_u16(0);
        out.put_u32(xid);
        start
    }

    /// Back-patches the length of the message begun at `start`.
    pub fn finish(out: &mut BytesMut, start: usize) {
        super::codec::patch_len16(out, start, start + 2);
    }
}
