//! OFPT_ERROR (OpenFlow 1.1.0 §A.4.4, `struct ofp_error_msg`): type, code and the
//! offending bytes, which are kept and can be decoded on their own.

use bytes::{BufMut, BytesMut};
use serde::{Deserialize, Serialize};
use std::fmt;

use super::codec::{DecodeResult, Reader};
use super::types::{open_enum, Bytes};

open_enum! {
    /// Error type (`enum ofp_error_type`).
    pub struct ErrorType(u16) {
        HELLO_FAILED = 0 => "hello_failed",
        BAD_REQUEST = 1 => "bad_request",
        BAD_ACTION = 2 => "bad_action",
        BAD_INSTRUCTION = 3 => "bad_instruction",
        BAD_MATCH = 4 => "bad_match",
        FLOW_MOD_FAILED = 5 => "flow_mod_failed",
        GROUP_MOD_FAILED = 6 => "group_mod_failed",
        PORT_MOD_FAILED = 7 => "port_mod_failed",
        TABLE_MOD_FAILED = 8 => "table_mod_failed",
        QUEUE_OP_FAILED = 9 => "queue_op_failed",
        SWITCH_CONFIG_FAILED = 10 => "switch_config_failed",
        /// `NXET_VENDOR`: Open vSwitch's extension errors in OpenFlow 1.0 and 1.1
        /// (`lib/ofp-errors.c`): an `nx_vendor_error` (vendor, type, code) leads
        /// the data, then the offending bytes.
        NX_VENDOR = 0xb0c2 => "nx_vendor",
    }
}

/// The `nx_vendor_error` of an [`ErrorType::NX_VENDOR`] error.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct VendorError {
    /// The vendor (`NX_VENDOR_ID`, 0x00002320, for Open vSwitch's own).
    pub vendor: u32,
    /// Its type.
    pub error_type: u16,
    /// Its code.
    pub code: u16,
}

impl VendorError {
    /// Open vSwitch's name for it (`NX1.0-1.1(type,code)` in `lib/ofp-errors.h`),
    /// for the ones a controller of ours meets.
    pub fn ovs_name(self) -> Option<&'static str> {
        const NICIRA: u32 = 0x0000_2320;
        match (self.vendor, self.error_type, self.code) {
            (NICIRA, 1, 256) => Some("NXBRC_NXM_INVALID"),
            (NICIRA, 1, 257) => Some("NXBRC_NXM_BAD_TYPE"),
            (NICIRA, 1, 264) => Some("NXBMC_CT_DATAPATH_SUPPORT"),
            (NICIRA, 1, 265) => Some("NXBAC_CT_DATAPATH_SUPPORT"),
            _ => None,
        }
    }
}

impl ErrorType {
    /// Upper-case name, or the number for unknown types.
    pub fn name_upper(self) -> String {
        match self.name() {
            Some(n) => n.to_ascii_uppercase(),
            None => format!("{}", self.0),
        }
    }

    /// The code names of this type, indexed by code number.
    fn code_names(self) -> &'static [&'static str] {
        match self.0 {
            0 => &["incompatible", "eperm"],
            1 => &[
                "bad_version", "bad_type", "bad_stat", "bad_experimenter", "bad_subtype", "eperm", "bad_len",
                "buffer_empty", "buffer_unknown", "bad_table_id",
            ],
            2 => &[
                "bad_type", "bad_len", "bad_experimenter", "bad_experimenter_type", "bad_out_port", "bad_argument",
                "eperm", "too_many", "bad_queue", "bad_out_group", "match_inconsistent", "unsupported_order",
                "bad_tag",
            ],
            3 => &["unknown_inst", "unsup_inst", "bad_table_id", "unsup_metadata", "unsup_metadata_mask", "unsup_exp_inst"],
            4 => &["bad_type", "bad_len", "bad_tag", "bad_dl_addr_mask", "bad_nw_addr_mask", "bad_wildcards", "bad_field", "bad_value"],
            5 => &["unknown", "table_full", "bad_table_id", "overlap", "eperm", "bad_timeout", "bad_command"],
            6 => &[
                "group_exists", "invalid_group", "weight_unsupported", "out_of_groups", "out_of_buckets",
                "chaining_unsupported", "watch_unsupported", "loop", "unknown_group",
            ],
            7 => &["bad_port", "bad_hw_addr", "bad_config", "bad_advertise"],
            8 => &["bad_table", "bad_config"],
            9 => &["bad_port", "bad_queue", "eperm"],
            10 => &["bad_flags", "bad_len"],
            _ => &[],
        }
    }
}

/// Error code; its meaning depends on the [`ErrorType`].
#[derive(Clone, Copy, PartialEq, Eq, Hash, Default, Debug, Serialize)]
#[serde(transparent)]
pub struct ErrorCode(pub u16);

impl ErrorCode {
    /// The code's name under `t` (`'bad_out_group'`), if known.
    pub fn name(self, t: ErrorType) -> Option<&'static str> {
        t.code_names().get(usize::from(self.0)).copied()
    }

    /// The code for a name under `t`.
    pub fn from_name(t: ErrorType, s: &str) -> Option<ErrorCode> {
        let pos = t.code_names().iter().position(|n| n.eq_ignore_ascii_case(s))?;
        u16::try_from(pos).ok().map(ErrorCode)
    }
}

/// OFPT_ERROR body. In JS: `{ type: 'error', xid, errorType: 'bad_action',
/// code: 'bad_out_group', data: Buffer }`; unknown types and codes are numbers.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ErrorMsg {
    /// Transaction id of the request that failed.
    pub xid: u32,
    /// Error type.
    pub error_type: ErrorType,
    /// Error code.
    pub code: ErrorCode,
    /// At least the first 64 bytes of the failed request (§A.4.4), kept as sent.
    pub data: Bytes,
}

impl ErrorMsg {
    /// Decodes the body after the header.
    pub fn decode(xid: u32, r: &mut Reader<'_>) -> DecodeResult<Self> {
        Ok(Self { xid, error_type: ErrorType(r.u16()?), code: ErrorCode(r.u16()?), data: Bytes(r.take_rest().to_vec()) })
    }

    /// Encodes the body.
    pub fn encode(&self, out: &mut BytesMut) {
        out.put_u16(self.error_type.0);
        out.put_u16(self.code.0);
        out.put_slice(&self.data.0);
    }

    /// The vendor error an [`ErrorType::NX_VENDOR`] error carries.
    pub fn vendor_error(&self) -> Option<VendorError> {
        let d = &self.data.0;
        (self.error_type == ErrorType::NX_VENDOR && d.len() >= 8).then(|| VendorError {
            vendor: u32::from_be_bytes([d[0], d[1], d[2], d[3]]),
            error_type: u16::from_be_bytes([d[4], d[5]]),
            code: u16::from_be_bytes([d[6], d[7]]),
        })
    }

    /// The bytes of the request that failed (after a vendor error's header).
    pub fn offending(&self) -> &[u8] {
        match self.vendor_error() {
            Some(_) => &self.data.0[8..],
            None => &self.data.0,
        }
    }

    /// `OFPBAC_BAD_OUT_GROUP`-style name, as OVS prints it.
    pub fn ovs_name(&self) -> String {
        if let Some(v) = self.vendor_error() {
            return match v.ovs_name() {
                Some(name) => name.to_owned(),
                None => format!("NXET_VENDOR({:#x},{},{})", v.vendor, v.error_type, v.code),
            };
        }
        let prefix = match self.error_type.0 {
            0 => "OFPHFC",
            1 => "OFPBRC",
            2 => "OFPBAC",
            3 => "OFPBIC",
            4 => "OFPBMC",
            5 => "OFPFMFC",
            6 => "OFPGMFC",
            7 => "OFPPMFC",
            8 => "OFPTMFC",
            9 => "OFPQOFC",
            10 => "OFPSCFC",
            _ => return format!("OFPET({},{})", self.error_type.0, self.code.0),
        };
        match self.code.name(self.error_type) {
            Some(n) => format!("{prefix}_{}", n.to_ascii_uppercase()),
            None => format!("{prefix}({})", self.code.0),
        }
    }
}

impl fmt::Display for ErrorMsg {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.ovs_name())
    }
}

impl Serialize for ErrorMsg {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        use serde::ser::SerializeStruct;
        let mut st = s.serialize_struct("ErrorMsg", 5)?;
        st.serialize_field("xid", &self.xid)?;
        st.serialize_field("errorType", &self.error_type)?;
        match self.code.name(self.error_type) {
            Some(n) => st.serialize_field("code", n)?,
            None => st.serialize_field("code", &self.code.0)?,
        }
        st.serialize_field("data", &self.data)?;
        if self.vendor_error().is_some() {
            // What the vendor error is, by Open vSwitch's name (the data holds it all).
            st.serialize_field("name", &self.ovs_name())?;
        }
        st.end()
    }
}

impl<'de> Deserialize<'de> for ErrorMsg {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        #[derive(Deserialize)]
        #[serde(rename_all = "camelCase", deny_unknown_fields)]
        struct Raw {
            #[serde(default)]
            xid: u32,
            error_type: ErrorType,
            code: CodeForm,
            #[serde(default)]
            data: Bytes,
            /// Written for vendor errors, read back and ignored (`data` holds it).
            #[serde(default)]
            #[allow(dead_code)]
            name: Option<String>,
        }
        #[derive(Deserialize)]
        #[serde(untagged)]
        enum CodeForm {
            Number(u16),
            Name(String),
        }
        let raw = Raw::deserialize(d)?;
        let code = match raw.code {
            CodeForm::Number(n) => ErrorCode(n),
            CodeForm::Name(n) => ErrorCode::from_name(raw.error_type, &n)
                .or_else(|| super::types::parse_uint(&n).and_then(|x| u16::try_from(x).ok()).map(ErrorCode))
                .ok_or_else(|| serde::de::Error::custom(format_args!("unknown error code '{n}' for {:?}", raw.error_type)))?,
        };
        Ok(ErrorMsg { xid: raw.xid, error_type: raw.error_type, code, data: raw.data })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The head of what Open vSwitch 3.1 answered an OF1.1 FLOW_MOD with a `ct`
    /// action once its datapath had no ct_state (`ovs-appctl dpif/set-dp-features
    /// br0 ct_state false`; __test__/security-groups-stateful.test.js): NXET_VENDOR,
    /// then (NX_VENDOR_ID, 1, 265) and the offending FLOW_MOD's header.
    const CT_REFUSED: [u8; 12] = [0, 0, 0x23, 0x20, 0, 1, 1, 9, 2, 0x0e, 0, 0xa8];

    #[test]
    fn open_vswitch_vendor_errors_are_named_and_keep_the_offending_bytes_apart() {
        let e = ErrorMsg { xid: 6, error_type: ErrorType::NX_VENDOR, code: ErrorCode(0), data: Bytes(CT_REFUSED.to_vec()) };
        assert_eq!(e.vendor_error(), Some(VendorError { vendor: 0x2320, error_type: 1, code: 265 }));
        assert_eq!(e.ovs_name(), "NXBAC_CT_DATAPATH_SUPPORT");
        assert_eq!(e.offending(), &[2, 0x0e, 0, 0xa8], "the FLOW_MOD (OF1.1, type 14)");
        let mut match_refused = e.clone();
        match_refused.data.0[7] = 8;
        assert_eq!(match_refused.ovs_name(), "NXBMC_CT_DATAPATH_SUPPORT");
        match_refused.data.0[7] = 99;
        assert_eq!(match_refused.ovs_name(), "NXET_VENDOR(0x2320,1,355)");
        // The JS form names it, and reads back as the same error.
        let json = serde_json::to_value(&e).unwrap();
        assert_eq!((json["errorType"].as_str(), json["name"].as_str()), (Some("nx_vendor"), Some("NXBAC_CT_DATAPATH_SUPPORT")));
        assert_eq!(serde_json::from_value::<ErrorMsg>(json).unwrap(), e);
        // Too short for a vendor header: a plain error of an unknown kind.
        let short = ErrorMsg { data: Bytes(vec![0, 0]), ..e };
        assert_eq!((short.vendor_error(), short.offending()), (None, &[0u8, 0][..]));
    }
}
