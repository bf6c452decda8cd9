//! Nicira vendor actions (`OFPAT_EXPERIMENTER`/`OFPAT_VENDOR` 0xffff, experimenter id
//! `NX_VENDOR_ID` 0x00002320; OVS `lib/ofp-actions.c`, `struct nx_action_header`):
//!
//! ```text
//! | type=0xffff (16) | len (16) | vendor=0x00002320 (32) | subtype (16) | body ... | pad to 8 |
//! ```
//!
//! They travel in [`Action::Experimenter`] (the existing OF1.1 action enum, so old vectors
//! and the JS shape are untouched): [`Action::nicira`] gives the typed view, and
//! `Action::from(NxAction)` builds one. The encoding is the same in OpenFlow 1.0
//! (`NXT_FLOW_MOD`), 1.1 and 1.3.
//!
//! A body this module cannot type exactly (an unknown subtype, or bytes that would not
//! re-encode identically, such as non-zero padding) is kept as [`NxAction::Unknown`].

use bytes::{BufMut, BytesMut};
use std::net::{Ipv4Addr, Ipv6Addr};

use super::action::{Action, ACTION_EXPERIMENTER};
use super::codec::{DecodeError, DecodeResult, Reader};
use super::error_msg::ErrorType;
use super::nxm::NxmHeader;
use super::types::{open_enum, Bytes};

/// `NX_VENDOR_ID`, Nicira's experimenter id.
pub const NX_VENDOR: u32 = 0x0000_2320;

open_enum! {
    /// `enum nx_action_subtype` (OVS `ofp-actions.c`, `NXAST_*`).
    pub struct NxSubtype(u16) {
        RESUBMIT = 1 => "resubmit",
        REG_LOAD = 7 => "reg_load",
        NOTE = 8 => "note",
        RESUBMIT_TABLE = 14 => "resubmit_table",
        CT = 35 => "ct",
        NAT = 36 => "nat",
    }
}

/// `NX_CT_F_COMMIT`: commit the connection to the tracker.
pub const CT_COMMIT: u16 = 1 << 0;
/// `NX_CT_F_FORCE`: commit in this direction, replacing an opposite-direction entry.
pub const CT_FORCE: u16 = 1 << 1;
/// `NX_CT_RECIRC_NONE`: do not recirculate.
pub const CT_RECIRC_NONE: u8 = 0xff;
/// `OFPP_IN_PORT` as a 16-bit port (resubmit's "same port").
pub const OFPP_IN_PORT: u16 = 0xfff8;
/// `NXAST_RESUBMIT_TABLE`'s "same table".
pub const SAME_TABLE: u8 = 0xff;

/// NAT flags (`enum nx_nat_flags`).
pub mod nat_flags {
    #![allow(missing_docs)]
    pub const SRC: u16 = 1 << 0;
    pub const DST: u16 = 1 << 1;
    pub const PERSISTENT: u16 = 1 << 2;
    pub const PROTO_HASH: u16 = 1 << 3;
    pub const PROTO_RANDOM: u16 = 1 << 4;
}

/// Which NAT range members follow (`enum nx_nat_range`).
pub mod nat_range {
    #![allow(missing_docs)]
    pub const IPV4_MIN: u16 = 1 << 0;
    pub const IPV4_MAX: u16 = 1 << 1;
    pub const IPV6_MIN: u16 = 1 << 2;
    pub const IPV6_MAX: u16 = 1 << 3;
    pub const PROTO_MIN: u16 = 1 << 4;
    pub const PROTO_MAX: u16 = 1 << 5;
}

/// A subfield `FIELD[ofs..ofs+n_bits-1]`, on the wire as a header plus `ofs_nbits`
/// (`nxm_encode_ofs_nbits`: `ofs << 6 | (n_bits - 1)`).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Subfield {
    /// The field (a maskless NXM/OXM header).
    pub field: NxmHeader,
    /// First bit.
    pub ofs: u16,
    /// Number of bits, 1..=64.
    pub n_bits: u16,
}

impl Subfield {
    fn ofs_nbits(&self) -> u16 {
        self.ofs << 6 | (self.n_bits.saturating_sub(1) & 0x3f)
    }
    fn from_ofs_nbits(field: NxmHeader, v: u16) -> Self {
        Subfield { field, ofs: v >> 6, n_bits: (v & 0x3f) + 1 }
    }
}

/// Where `ct` takes its zone from.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum CtZone {
    /// `zone=N` (0 = the default zone).
    Immediate(u16),
    /// `zone=FIELD[a..b]` (16 bits of a field).
    Field(Subfield),
}

/// `NXAST_CT` (`struct nx_action_conntrack`, 24 bytes then nested actions).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Ct {
    /// `NX_CT_F_*`.
    pub flags: u16,
    /// The zone.
    pub zone: CtZone,
    /// Table to recirculate to, or [`CT_RECIRC_NONE`].
    pub recirc_table: u8,
    /// Application-layer gateway: the L4 port of its protocol (21 = ftp, 69 = tftp), 0 = none.
    pub alg: u16,
    /// Nested actions (`exec(...)`, `nat`): only set-field/load and `nat` are allowed by OVS.
    pub actions: Vec<Action>,
}

/// `NXAST_NAT` (`struct nx_action_nat`), valid only inside `ct`.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Nat {
    /// `NX_NAT_F_*`.
    pub flags: u16,
    /// Lowest IPv4 address.
    pub ipv4_min: Option<Ipv4Addr>,
    /// Highest IPv4 address.
    pub ipv4_max: Option<Ipv4Addr>,
    /// Lowest IPv6 address.
    pub ipv6_min: Option<Ipv6Addr>,
    /// Highest IPv6 address.
    pub ipv6_max: Option<Ipv6Addr>,
    /// Lowest L4 port.
    pub proto_min: Option<u16>,
    /// Highest L4 port.
    pub proto_max: Option<u16>,
}

/// One Nicira action.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum NxAction {
    /// `NXAST_RESUBMIT`: look the packet up again in the same table, as if from `in_port`.
    Resubmit {
        /// Port to pretend the packet came from ([`OFPP_IN_PORT`] = its own).
        in_port: u16,
    },
    /// `NXAST_RESUBMIT_TABLE`: look the packet up again in `table`.
    ResubmitTable {
        /// As in `Resubmit`.
        in_port: u16,
        /// Table, or [`SAME_TABLE`].
        table: u8,
    },
    /// `NXAST_REG_LOAD`: `load:VALUE->DST[ofs..]`.
    RegLoad {
        /// Destination subfield.
        dst: Subfield,
        /// Value (its low `n_bits` bits).
        value: u64,
    },
    /// `NXAST_CT`.
    Ct(Ct),
    /// `NXAST_NAT`.
    Nat(Nat),
    /// Any other subtype, or a body that would not re-encode identically.
    Unknown {
        /// Subtype.
        subtype: NxSubtype,
        /// Body after the subtype, padding included.
        data: Bytes,
    },
}

fn bad_action(code: u16, detail: impl Into<String>) -> DecodeError {
    DecodeError::new(ErrorType::BAD_ACTION, code, "nx_action", detail)
}

impl NxAction {
    /// The subtype.
    pub fn subtype(&self) -> NxSubtype {
        match self {
            NxAction::Resubmit { .. } => NxSubtype::RESUBMIT,
            NxAction::ResubmitTable { .. } => NxSubtype::RESUBMIT_TABLE,
            NxAction::RegLoad { .. } => NxSubtype::REG_LOAD,
            NxAction::Ct(_) => NxSubtype::CT,
            NxAction::Nat(_) => NxSubtype::NAT,
            NxAction::Unknown { subtype, .. } => *subtype,
        }
    }

    /// Decodes the body after the vendor id (`data` of [`Action::Experimenter`]): subtype
    /// first. A typed body that would not re-encode to the same bytes becomes `Unknown`.
    pub fn decode_body(data: &[u8]) -> DecodeResult<NxAction> {
        let mut r = Reader::new(data, "nx_action");
        let subtype = NxSubtype(r.u16()?);
        let rest = r.rest();
        let typed = match Self::decode_typed(subtype, &mut r) {
            Ok(Some(a)) => a,
            Ok(None) => return Ok(NxAction::Unknown { subtype, data: Bytes(rest.to_vec()) }),
            Err(e) => return Err(e),
        };
        if typed.body_bytes() == data {
            Ok(typed)
        } else {
            Ok(NxAction::Unknown { subtype, data: Bytes(rest.to_vec()) })
        }
    }

    fn decode_typed(subtype: NxSubtype, r: &mut Reader<'_>) -> DecodeResult<Option<NxAction>> {
        Ok(Some(match subtype {
            NxSubtype::RESUBMIT => NxAction::Resubmit { in_port: r.u16()? },
            NxSubtype::RESUBMIT_TABLE => {
                let in_port = r.u16()?;
                NxAction::ResubmitTable { in_port, table: r.u8()? }
            }
            NxSubtype::REG_LOAD => {
                let ofs_nbits = r.u16()?;
                let field = NxmHeader(r.u32()?);
                NxAction::RegLoad { dst: Subfield::from_ofs_nbits(field, ofs_nbits), value: r.u64()? }
            }
            NxSubtype::CT => {
                let flags = r.u16()?;
                let zone_src = r.u32()?;
                let zone_v = r.u16()?;
                let recirc_table = r.u8()?;
                r.skip(3)?;
                let alg = r.u16()?;
                let zone = if zone_src == 0 {
                    CtZone::Immediate(zone_v)
                } else {
                    CtZone::Field(Subfield::from_ofs_nbits(NxmHeader(zone_src), zone_v))
                };
                let mut nested = Reader::new(r.take_rest(), "nx_action_conntrack actions");
                let actions = Action::decode_list(&mut nested)
                    .map_err(|e| bad_action(e.code.0, format!("ct nested actions: {}", e.detail)))?;
                NxAction::Ct(Ct { flags, zone, recirc_table, alg, actions })
            }
            NxSubtype::NAT => {
                r.skip(2)?;
                let flags = r.u16()?;
                let present = r.u16()?;
                let has = |b: u16| present & b != 0;
                let mut n = Nat { flags, ..Nat::default() };
                if has(nat_range::IPV4_MIN) {
                    n.ipv4_min = Some(Ipv4Addr::from(r.u32()?));
                }
                if has(nat_range::IPV4_MAX) {
                    n.ipv4_max = Some(Ipv4Addr::from(r.u32()?));
                }
                if has(nat_range::IPV6_MIN) {
                    n.ipv6_min = Some(Ipv6Addr::from(r.array::<16>()?));
                }
                if has(nat_range::IPV6_MAX) {
                    n.ipv6_max = Some(Ipv6Addr::from(r.array::<16>()?));
                }
                if has(nat_range::PROTO_MIN) {
                    n.proto_min = Some(r.u16()?);
                }
                if has(nat_range::PROTO_MAX) {
                    n.proto_max = Some(r.u16()?);
                }
                if present & !0x3f != 0 {
                    return Ok(None);
                }
                NxAction::Nat(n)
            }
            _ => return Ok(None),
        }))
    }

    /// The body after the vendor id, subtype first, padded so the whole action
    /// (8 bytes of type/len/vendor + body) is a multiple of 8.
    pub fn body_bytes(&self) -> Vec<u8> {
        let mut out = BytesMut::new();
        out.put_u16(self.subtype().0);
        match self {
            NxAction::Resubmit { in_port } => out.put_u16(*in_port),
            NxAction::ResubmitTable { in_port, table } => {
                out.put_u16(*in_port);
                out.put_u8(*table);
            }
            NxAction::RegLoad { dst, value } => {
                out.put_u16(dst.ofs_nbits());
                out.put_u32(dst.field.0);
                out.put_u64(*value);
            }
            NxAction::Ct(ct) => {
                out.put_u16(ct.flags);
                match ct.zone {
                    CtZone::Immediate(z) => {
                        out.put_u32(0);
                        out.put_u16(z);
                    }
                    CtZone::Field(sf) => {
                        out.put_u32(sf.field.0);
                        out.put_u16(sf.ofs_nbits());
                    }
                }
                out.put_u8(ct.recirc_table);
                out.put_bytes(0, 3);
                out.put_u16(ct.alg);
                Action::encode_list(&ct.actions, &mut out);
            }
            NxAction::Nat(n) => {
                out.put_u16(0);
                out.put_u16(n.flags);
                let mut present = 0;
                let mut set = |c: bool, b: u16| {
                    if c {
                        present |= b
                    }
                };
                set(n.ipv4_min.is_some(), nat_range::IPV4_MIN);
                set(n.ipv4_max.is_some(), nat_range::IPV4_MAX);
                set(n.ipv6_min.is_some(), nat_range::IPV6_MIN);
                set(n.ipv6_max.is_some(), nat_range::IPV6_MAX);
                set(n.proto_min.is_some(), nat_range::PROTO_MIN);
                set(n.proto_max.is_some(), nat_range::PROTO_MAX);
                out.put_u16(present);
                if let Some(a) = n.ipv4_min {
                    out.put_slice(&a.octets());
                }
                if let Some(a) = n.ipv4_max {
                    out.put_slice(&a.octets());
                }
                if let Some(a) = n.ipv6_min {
                    out.put_slice(&a.octets());
                }
                if let Some(a) = n.ipv6_max {
                    out.put_slice(&a.octets());
                }
                if let Some(p) = n.proto_min {
                    out.put_u16(p);
                }
                if let Some(p) = n.proto_max {
                    out.put_u16(p);
                }
            }
            NxAction::Unknown { data, .. } => out.put_slice(&data.0),
        }
        // type/len/vendor are 8 bytes, so the body alone must reach a multiple of 8,
        // and at least 8 (`struct nx_action_header` is 16 bytes).
        let min = 8usize.max(out.len().div_ceil(8) * 8);
        out.put_bytes(0, min - out.len());
        out.to_vec()
    }
}

impl From<NxAction> for Action {
    fn from(a: NxAction) -> Action {
        Action::Experimenter { experimenter: NX_VENDOR, data: Bytes(a.body_bytes()) }
    }
}

impl Action {
    /// The typed Nicira action this is, if it is one (`OFPAT_EXPERIMENTER` with
    /// `NX_VENDOR_ID`); `None` for every other action.
    pub fn nicira(&self) -> Option<DecodeResult<NxAction>> {
        match self {
            Action::Experimenter { experimenter: NX_VENDOR, data } => Some(NxAction::decode_body(&data.0)),
            _ => None,
        }
    }
}

/// `OFPAT_VENDOR`/`OFPAT_EXPERIMENTER`, re-exported for the OF1.0 action list.
pub const ACTION_VENDOR: u16 = ACTION_EXPERIMENTER;

#[cfg(test)]
mod tests {
    use super::*;
    use crate::openflow::types::hex_decode;

    fn round_trip(hex: &str) -> NxAction {
        let bytes = hex_decode(hex).unwrap();
        let a = Action::decode(&mut Reader::new(&bytes, "t")).unwrap();
        let nx = a.nicira().unwrap().unwrap();
        let mut out = BytesMut::new();
        Action::from(nx.clone()).encode(&mut out);
        assert_eq!(out.to_vec(), bytes, "{nx:?}");
        nx
    }

    #[test]
    fn ovs_actions_type_and_round_trip() {
        // ct(commit,zone=5,table=2), from ovs-ofctl 3.1
        let ct = round_trip("ffff00180000232000230001000000000005020000000000");
        assert!(matches!(ct, NxAction::Ct(Ct { flags: 1, zone: CtZone::Immediate(5), recirc_table: 2, .. })));
        // ct(table=1,zone=NXM_NX_REG0[0..15])
        let ct = round_trip("ffff0018000023200023000000010004000f010000000000");
        let NxAction::Ct(Ct { zone: CtZone::Field(sf), .. }) = ct else { panic!("{ct:?}") };
        assert_eq!((sf.field.0, sf.ofs, sf.n_bits), (0x0001_0004, 0, 16));
        // ct(commit,nat(dst=10.0.0.2:80))
        let ct = round_trip(
            "ffff00300000232000230001000000000000ff0000000000ffff00180000232000240000000200110a00000200500000",
        );
        let NxAction::Ct(Ct { actions, .. }) = ct else { panic!() };
        let nat = actions[0].nicira().unwrap().unwrap();
        assert_eq!(
            nat,
            NxAction::Nat(Nat {
                flags: nat_flags::DST,
                ipv4_min: Some(Ipv4Addr::new(10, 0, 0, 2)),
                proto_min: Some(80),
                ..Nat::default()
            })
        );
        assert_eq!(
            round_trip("ffff001000002320000efff802000000"),
            NxAction::ResubmitTable { in_port: OFPP_IN_PORT, table: 2 }
        );
        assert!(matches!(
            round_trip("ffff0018000023200007000f000100040000000000000005"),
            NxAction::RegLoad { value: 5, dst: Subfield { ofs: 0, n_bits: 16, .. } }
        ));
        // NXAST_NOTE is not typed: kept raw.
        assert!(matches!(round_trip("ffff0010000023200008616263000000"), NxAction::Unknown { .. }));
    }

    #[test]
    fn odd_bodies_stay_raw_or_fail_without_panic() {
        // non-zero padding after a resubmit: not what we would encode, so Unknown.
        assert!(matches!(round_trip("ffff001000002320000efff802000001"), NxAction::Unknown { .. }));
        for n in 0..24 {
            let body = hex_decode("00230001000000000005020000000000ffff0008").unwrap();
            let _ = NxAction::decode_body(&body[..n.min(body.len())]);
        }
    }
}
