//! The OpenFlow 1.1 standard match (OpenFlow 1.1.0 §A.2.3, `struct ofp_match`,
//! `OFPMT_STANDARD`, 88 bytes).
//!
//! On the wire, fields without a mask are wildcarded by a bit in `wildcards`; the
//! address and metadata fields carry a mask in which 1 bits are *ignored*. The model
//! uses `Option` for "wildcarded" and OVS's convention for masks (1 bits must match),
//! so `nw_src: 10.0.0.0/8` reads naturally; encoding inverts it.

use bytes::{BufMut, BytesMut};
use serde::{Deserialize, Serialize};
use std::net::Ipv4Addr;

use super::codec::{DecodeError, DecodeResult, Reader};
use super::error_msg::ErrorType;
use super::types::{Bytes, MacAddr, Masked, MaskedU64, PortNo};

/// `OFPMT_STANDARD`.
pub const MATCH_TYPE_STANDARD: u16 = 0;
/// `OFPMT_OXM` (OpenFlow 1.2+, and Open vSwitch's OF1.1 flow stats).
pub const MATCH_TYPE_OXM: u16 = 1;
/// `OFPMT11_STANDARD_LENGTH`.
pub const MATCH_LEN: usize = 88;

/// Wildcard bits (`enum ofp_flow_wildcards`, OpenFlow 1.1.0 §A.2.3).
pub mod wildcards {
    #![allow(missing_docs)]
    pub const IN_PORT: u32 = 1 << 0;
    pub const DL_VLAN: u32 = 1 << 1;
    pub const DL_VLAN_PCP: u32 = 1 << 2;
    pub const DL_TYPE: u32 = 1 << 3;
    pub const NW_TOS: u32 = 1 << 4;
    pub const NW_PROTO: u32 = 1 << 5;
    pub const TP_SRC: u32 = 1 << 6;
    pub const TP_DST: u32 = 1 << 7;
    pub const MPLS_LABEL: u32 = 1 << 8;
    pub const MPLS_TC: u32 = 1 << 9;
    pub const ALL: u32 = (1 << 10) - 1;
}

/// `OFPVID_NONE`: match packets without a VLAN tag.
pub const VID_NONE: u16 = 0xffff;
/// `OFPVID_ANY`: match packets with any VLAN tag.
pub const VID_ANY: u16 = 0xfffe;

/// A flow match; an absent field is a wildcard.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct Match {
    /// Input port.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub in_port: Option<PortNo>,
    /// Ethernet source, maskable.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub dl_src: Option<Masked<MacAddr>>,
    /// Ethernet destination, maskable.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub dl_dst: Option<Masked<MacAddr>>,
    /// VLAN id; `0xffff` = no tag, `0xfffe` = any tag.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub dl_vlan: Option<u16>,
    /// VLAN priority.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub dl_vlan_pcp: Option<u8>,
    /// Ethertype.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub dl_type: Option<u16>,
    /// IP ToS (DSCP in the upper 6 bits).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub nw_tos: Option<u8>,
    /// IP protocol, or the low 8 bits of the ARP opcode.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub nw_proto: Option<u8>,
    /// IPv4 source, maskable.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub nw_src: Option<Masked<Ipv4Addr>>,
    /// IPv4 destination, maskable.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub nw_dst: Option<Masked<Ipv4Addr>>,
    /// TCP/UDP/SCTP source port, or ICMP type.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub tp_src: Option<u16>,
    /// TCP/UDP/SCTP destination port, or ICMP code.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub tp_dst: Option<u16>,
    /// MPLS label.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub mpls_label: Option<u32>,
    /// MPLS traffic class.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub mpls_tc: Option<u8>,
    /// Metadata, maskable.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub metadata: Option<MaskedU64>,
    /// The raw NXM/OXM fields, present only when the peer sent the match in that
    /// form (`OFPMT_OXM`, type 1). Open vSwitch does so in OF1.1 flow stats replies.
    /// The fields above are decoded from it where OF1.1 has an equivalent; this copy
    /// makes re-encoding exact. It is encoded verbatim when present: delete it to
    /// encode from the fields instead.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub oxm: Option<Bytes>,
}

fn bad_match(code: u16, detail: impl Into<String>) -> DecodeError {
    DecodeError::new(ErrorType::BAD_MATCH, code, "ofp_match", detail)
}

fn wire_mac(r: &mut Reader<'_>) -> DecodeResult<Option<Masked<MacAddr>>> {
    let value = MacAddr(r.array()?);
    let wild = MacAddr(r.array()?);
    Ok(match wild {
        MacAddr::BROADCAST => None,
        MacAddr::ZERO => Some(Masked::exact(value)),
        w => Some(Masked { value, mask: Some(w.not()) }),
    })
}

fn wire_ip(r: &mut Reader<'_>) -> DecodeResult<Option<Masked<Ipv4Addr>>> {
    let value = Ipv4Addr::from(r.u32()?);
    let wild = r.u32()?;
    Ok(match wild {
        u32::MAX => None,
        0 => Some(Masked::exact(value)),
        w => Some(Masked { value, mask: Some(Ipv4Addr::from(!w)) }),
    })
}

fn put_mac(out: &mut BytesMut, f: &Option<Masked<MacAddr>>) {
    match f {
        None => {
            out.put_slice(&[0; 6]);
            out.put_slice(&[0xff; 6]);
        }
        Some(m) => {
            out.put_slice(&m.value.0);
            out.put_slice(&m.mask.map_or(MacAddr::ZERO, MacAddr::not).0);
        }
    }
}

fn put_ip(out: &mut BytesMut, f: &Option<Masked<Ipv4Addr>>) {
    match f {
        None => {
            out.put_u32(0);
            out.put_u32(u32::MAX);
        }
        Some(m) => {
            out.put_u32(u32::from(m.value));
            out.put_u32(m.mask.map_or(0, |m| !u32::from(m)));
        }
    }
}

impl Match {
    /// Decodes an `ofp_match`.
    ///
    /// §A.2.3: "The OFPMT_STANDARD match type ... length 88". Other match types
    /// are OF1.2+ and are refused with `OFPBMC_BAD_TYPE`.
    pub fn decode(r: &mut Reader<'_>) -> DecodeResult<Match> {
        let match_type = r.u16()?;
        let len = r.u16()?;
        if match_type == MATCH_TYPE_OXM {
            return Match::decode_oxm(len, r);
        }
        if match_type != MATCH_TYPE_STANDARD {
            return Err(bad_match(0, format!("match type {match_type} is neither OFPMT_STANDARD nor OFPMT_OXM")));
        }
        if usize::from(len) != MATCH_LEN {
            return Err(bad_match(1, format!("standard match length {len} is not 88")));
        }
        let mut r = r.sub(MATCH_LEN - 4, "ofp_match")?;
        let in_port = r.u32()?;
        let wc = r.u32()?;
        let bit = |b: u32| wc & b == 0;
        let dl_src = wire_mac(&mut r)?;
        let dl_dst = wire_mac(&mut r)?;
        let dl_vlan = r.u16()?;
        let dl_vlan_pcp = r.u8()?;
        r.skip(1)?;
        let dl_type = r.u16()?;
        let nw_tos = r.u8()?;
        let nw_proto = r.u8()?;
        let nw_src = wire_ip(&mut r)?;
        let nw_dst = wire_ip(&mut r)?;
        let tp_src = r.u16()?;
        let tp_dst = r.u16()?;
        let mpls_label = r.u32()?;
        let mpls_tc = r.u8()?;
        r.skip(3)?;
        let metadata = r.u64()?;
        let metadata_wild = r.u64()?;
        Ok(Match {
            in_port: bit(wildcards::IN_PORT).then_some(PortNo(in_port)),
            dl_src,
            dl_dst,
            dl_vlan: bit(wildcards::DL_VLAN).then_some(dl_vlan),
            dl_vlan_pcp: bit(wildcards::DL_VLAN_PCP).then_some(dl_vlan_pcp),
            dl_type: bit(wildcards::DL_TYPE).then_some(dl_type),
            nw_tos: bit(wildcards::NW_TOS).then_some(nw_tos),
            nw_proto: bit(wildcards::NW_PROTO).then_some(nw_proto),
            nw_src,
            nw_dst,
            tp_src: bit(wildcards::TP_SRC).then_some(tp_src),
            tp_dst: bit(wildcards::TP_DST).then_some(tp_dst),
            mpls_label: bit(wildcards::MPLS_LABEL).then_some(mpls_label),
            mpls_tc: bit(wildcards::MPLS_TC).then_some(mpls_tc),
            metadata: match metadata_wild {
                u64::MAX => None,
                0 => Some(MaskedU64 { value: metadata, mask: None }),
                w => Some(MaskedU64 { value: metadata, mask: Some(!w) }),
            },
            oxm: None,
        })
    }

    /// Decodes an `OFPMT_OXM` match whose 4-byte header is already read: TLVs of
    /// the OXM basic class (0x8000) and Nicira's NXM_0 class (0x0000), padded to 8.
    fn decode_oxm(len: u16, r: &mut Reader<'_>) -> DecodeResult<Match> {
        let len = usize::from(len);
        if len < 4 {
            return Err(bad_match(1, format!("OXM match length {len} is under 4")));
        }
        let padded = (len + 7) / 8 * 8;
        let mut body = r.sub(padded - 4, "ofp_match (OXM)")?;
        let tlvs = body.take(len - 4)?;
        let mut m = Match { oxm: Some(Bytes(tlvs.to_vec())), ..Match::default() };
        let mut t = Reader::new(tlvs, "oxm field");
        while !t.is_empty() {
            let header = t.u32()?;
            let class = header >> 16;
            let field = (header >> 9) & 0x7f;
            let has_mask = header & 0x100 != 0;
            let n = (header & 0xff) as usize;
            let payload = t.take(n)?;
            let (value, mask) = if has_mask {
                let half = n / 2;
                (payload.get(..half).unwrap_or_default(), payload.get(half..).unwrap_or_default())
            } else {
                (payload, &[][..])
            };
            m.apply_oxm(class, field, value, mask);
        }
        Ok(m)
    }

    /// Maps one OXM/NXM field onto the OF1.1 model. Fields OF1.1 cannot express
    /// stay only in `oxm`.
    fn apply_oxm(&mut self, class: u32, field: u32, value: &[u8], mask: &[u8]) {
        let be = |b: &[u8]| b.iter().fold(0u64, |acc, x| (acc << 8) | u64::from(*x));
        let mac = |b: &[u8]| <[u8; 6]>::try_from(b).ok().map(MacAddr);
        let masked_mac = || {
            mac(value).map(|v| Masked { value: v, mask: mac(mask).filter(|m| *m != MacAddr::BROADCAST) })
        };
        let masked_ip = || {
            let v = u32::try_from(be(value)).ok()?;
            let m = (!mask.is_empty()).then(|| be(mask) as u32).filter(|m| *m != u32::MAX);
            Some(Masked { value: Ipv4Addr::from(v), mask: m.map(Ipv4Addr::from) })
        };
        let v = be(value);
        let u8v = u8::try_from(v).ok();
        let u16v = u16::try_from(v).ok();
        match (class, field) {
            (0x8000, 0) => self.in_port = u32::try_from(v).ok().map(PortNo),
            (0x0000, 0) => self.in_port = u16v.map(|p| PortNo(super::port_from_of10(p))),
            (0x8000, 2) => {
                self.metadata = Some(MaskedU64 {
                    value: v,
                    mask: (!mask.is_empty()).then(|| be(mask)).filter(|m| *m != u64::MAX),
                })
            }
            (0x8000, 3) | (0x0000, 1) => self.dl_dst = masked_mac(),
            (0x8000, 4) | (0x0000, 2) => self.dl_src = masked_mac(),
            (0x8000, 5) | (0x0000, 3) => self.dl_type = u16v,
            (0x0000, 4) => {
                // NXM_OF_VLAN_TCI: CFI bit set = tagged; tci 0 = untagged.
                let tci = u16v.unwrap_or(0);
                if tci & 0x1000 != 0 {
                    self.dl_vlan = Some(tci & 0x0fff);
                    if mask.is_empty() || be(mask) & 0xe000 == 0xe000 {
                        self.dl_vlan_pcp = Some((tci >> 13) as u8);
                    }
                } else if tci == 0 {
                    self.dl_vlan = Some(VID_NONE);
                }
            }
            (0x8000, 6) => {
                // OXM_OF_VLAN_VID: OFPVID_PRESENT (0x1000) marks a tag; a mask that
                // leaves out the VID bits means "any tag" (OF1.1's OFPVID_ANY).
                let vid = u16v.unwrap_or(0);
                let mask = (!mask.is_empty()).then(|| be(mask) as u16);
                self.dl_vlan = Some(match mask {
                    Some(m) if vid & 0x1000 != 0 && m & 0x0fff == 0 => VID_ANY,
                    _ if vid & 0x1000 != 0 => vid & 0x0fff,
                    _ => VID_NONE,
                });
            }
            (0x8000, 7) => self.dl_vlan_pcp = u8v,
            (0x8000, 8) => self.nw_tos = u8v.map(|d| d << 2),
            (0x0000, 5) => self.nw_tos = u8v,
            (0x8000, 10) | (0x0000, 6) => self.nw_proto = u8v,
            (0x8000, 11) | (0x0000, 7) | (0x8000, 22) | (0x0000, 16) => self.nw_src = masked_ip(),
            (0x8000, 12) | (0x0000, 8) | (0x8000, 23) | (0x0000, 17) => self.nw_dst = masked_ip(),
            (0x8000, 21) | (0x0000, 15) => self.nw_proto = u8::try_from(v & 0xff).ok(),
            // A masked port (OVS's port ranges) has no OF1.1 equivalent: it stays only in `oxm`
            // rather than reading as the exact port it is not.
            (0x8000, 13..=18) | (0x0000, 9..=12) if !mask.is_empty() => {}
            (0x8000, 13) | (0x8000, 15) | (0x8000, 17) | (0x0000, 9) | (0x0000, 11) => self.tp_src = u16v,
            (0x8000, 14) | (0x8000, 16) | (0x8000, 18) | (0x0000, 10) | (0x0000, 12) => self.tp_dst = u16v,
            (0x8000, 19) | (0x0000, 13) => self.tp_src = u16v,
            (0x8000, 20) | (0x0000, 14) => self.tp_dst = u16v,
            (0x8000, 34) => self.mpls_label = u32::try_from(v).ok(),
            (0x8000, 35) => self.mpls_tc = u8v,
            _ => {}
        }
    }

    /// The `wildcards` field for this match.
    pub fn wildcards(&self) -> u32 {
        let mut wc = 0;
        let mut set = |absent: bool, b: u32| {
            if absent {
                wc |= b;
            }
        };
        set(self.in_port.is_none(), wildcards::IN_PORT);
        set(self.dl_vlan.is_none(), wildcards::DL_VLAN);
        set(self.dl_vlan_pcp.is_none(), wildcards::DL_VLAN_PCP);
        set(self.dl_type.is_none(), wildcards::DL_TYPE);
        set(self.nw_tos.is_none(), wildcards::NW_TOS);
        set(self.nw_proto.is_none(), wildcards::NW_PROTO);
        set(self.tp_src.is_none(), wildcards::TP_SRC);
        set(self.tp_dst.is_none(), wildcards::TP_DST);
        set(self.mpls_label.is_none(), wildcards::MPLS_LABEL);
        set(self.mpls_tc.is_none(), wildcards::MPLS_TC);
        wc
    }

    /// Encodes the 88-byte standard match, or the kept OXM form (see `oxm`).
    pub fn encode(&self, out: &mut BytesMut) {
        if let Some(oxm) = &self.oxm {
            let start = out.len();
            out.put_u16(MATCH_TYPE_OXM);
            out.put_u16(u16::try_from(4 + oxm.0.len()).unwrap_or(u16::MAX));
            out.put_slice(&oxm.0);
            super::codec::pad_to_8(out, start);
            return;
        }
        out.put_u16(MATCH_TYPE_STANDARD);
        out.put_u16(MATCH_LEN as u16);
        out.put_u32(self.in_port.map_or(0, |p| p.0));
        out.put_u32(self.wildcards());
        put_mac(out, &self.dl_src);
        put_mac(out, &self.dl_dst);
        out.put_u16(self.dl_vlan.unwrap_or(0));
        out.put_u8(self.dl_vlan_pcp.unwrap_or(0));
        out.put_u8(0);
        out.put_u16(self.dl_type.unwrap_or(0));
        out.put_u8(self.nw_tos.unwrap_or(0));
        out.put_u8(self.nw_proto.unwrap_or(0));
        put_ip(out, &self.nw_src);
        put_ip(out, &self.nw_dst);
        out.put_u16(self.tp_src.unwrap_or(0));
        out.put_u16(self.tp_dst.unwrap_or(0));
        out.put_u32(self.mpls_label.unwrap_or(0));
        out.put_u8(self.mpls_tc.unwrap_or(0));
        out.put_bytes(0, 3);
        match self.metadata {
            None => {
                out.put_u64(0);
                out.put_u64(u64::MAX);
            }
            Some(m) => {
                out.put_u64(m.value);
                out.put_u64(m.mask.map_or(0, |m| !m));
            }
        }
    }
}
