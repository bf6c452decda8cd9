//! Match fields: the fields ovs-ofctl knows (and those only NXM/OXM can carry), the
//! protocol shorthands, and the match built from them, checked for prerequisites and
//! converted to the OF1.1 match.

use std::net::Ipv4Addr;

use super::actions::FlowState;
use super::error::{bad, not11, Result, TextError};
use super::lex::{field_int, ofctl_ipv4_masked, ofctl_mac, parse_port};
use super::{
    ETH_TYPE_ARP, ETH_TYPE_IP, ETH_TYPE_IPV6, ETH_TYPE_MPLS, ETH_TYPE_MPLS_MCAST, ETH_TYPE_RARP, IPPROTO_ICMP,
    IPPROTO_SCTP, IPPROTO_TCP, IPPROTO_UDP, VLAN_CFI, VLAN_PCP_MASK, VLAN_VID_MASK,
};
use crate::openflow::flow_match::{Match, VID_ANY, VID_NONE};
use crate::openflow::types::{MacAddr, Masked, MaskedU64, PortNo};

/// The match fields ovs-ofctl knows that OF1.1 can carry, after aliasing.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub(super) enum Field {
    InPort,
    EthSrc,
    EthDst,
    EthType,
    VlanTci,
    DlVlan,
    VlanVid,
    VlanPcp,
    MplsLabel,
    MplsTc,
    Ipv4Src,
    Ipv4Dst,
    IpProto,
    IpDscp,
    IpDscpShifted,
    ArpOp,
    ArpSpa,
    ArpTpa,
    TpSrc,
    TpDst,
    TcpSrc,
    TcpDst,
    UdpSrc,
    UdpDst,
    SctpSrc,
    SctpDst,
    IcmpType,
    IcmpCode,
    Metadata,
}

pub(super) fn field_by_name(name: &str) -> Option<Field> {
    use Field::*;
    Some(match name {
        "in_port" | "in_port_oxm" => InPort,
        "eth_src" | "dl_src" => EthSrc,
        "eth_dst" | "dl_dst" => EthDst,
        "eth_type" | "dl_type" => EthType,
        "vlan_tci" => VlanTci,
        "dl_vlan" => DlVlan,
        "vlan_vid" => VlanVid,
        "dl_vlan_pcp" | "vlan_pcp" => VlanPcp,
        "mpls_label" => MplsLabel,
        "mpls_tc" => MplsTc,
        "ip_src" | "nw_src" => Ipv4Src,
        "ip_dst" | "nw_dst" => Ipv4Dst,
        "nw_proto" | "ip_proto" => IpProto,
        "nw_tos" => IpDscp,
        "ip_dscp" => IpDscpShifted,
        "arp_op" => ArpOp,
        "arp_spa" => ArpSpa,
        "arp_tpa" => ArpTpa,
        "tp_src" => TpSrc,
        "tp_dst" => TpDst,
        "tcp_src" => TcpSrc,
        "tcp_dst" => TcpDst,
        "udp_src" => UdpSrc,
        "udp_dst" => UdpDst,
        "sctp_src" => SctpSrc,
        "sctp_dst" => SctpDst,
        "icmp_type" => IcmpType,
        "icmp_code" => IcmpCode,
        "metadata" => Metadata,
        _ => return None,
    })
}

/// Match fields ovs-ofctl knows but only NXM/OXM (OF1.2+) can carry.
pub(super) fn field_beyond_of11(name: &str) -> Option<&'static str> {
    let nxm_only = [
        ("nw_ecn", "the OF1.1 match has no ECN bits"),
        ("ip_ecn", "the OF1.1 match has no ECN bits"),
        ("nw_ttl", "the OF1.1 match has no TTL"),
        ("ip_frag", "the OF1.1 match has no fragment bits"),
        ("nw_frag", "the OF1.1 match has no fragment bits"),
        ("arp_sha", "the OF1.1 match has no ARP hardware addresses"),
        ("arp_tha", "the OF1.1 match has no ARP hardware addresses"),
        ("tcp_flags", "the OF1.1 match has no TCP flags"),
        ("mpls_bos", "the OF1.1 match has no MPLS BoS bit"),
        ("mpls_ttl", "the OF1.1 match has no MPLS TTL"),
        ("pkt_mark", "packet marks need NXM"),
        ("skb_priority", "skb_priority cannot be matched"),
        ("actset_output", "actset_output needs OF1.3"),
        ("conj_id", "conjunctive matches need NXM"),
        ("dp_hash", "dp_hash needs NXM"),
        ("recirc_id", "recirc_id needs NXM"),
        ("packet_type", "packet_type needs OF1.5"),
        ("tunnel_id", "tunnel metadata needs NXM"),
    ];
    if let Some((_, why)) = nxm_only.iter().find(|(n, _)| *n == name) {
        return Some(why);
    }
    let prefixes = [
        ("ipv6_", "IPv6 fields need NXM or OXM"),
        ("nd_", "IPv6 neighbor discovery fields need NXM or OXM"),
        ("icmpv6_", "ICMPv6 fields need NXM or OXM"),
        ("tun_", "tunnel metadata needs NXM"),
        ("ct_", "connection tracking fields need NXM"),
        ("nsh_", "NSH fields need NXM"),
        ("reg", "registers need NXM"),
        ("xreg", "registers need NXM"),
        ("xxreg", "registers need NXM"),
        ("dl_vlan1", "a second VLAN header needs NXM"),
    ];
    prefixes.iter().find(|(p, _)| name.starts_with(p)).map(|(_, why)| *why)
}

/// Protocol shorthands (`ofp_parse_protocol`): ethertype and IP protocol.
pub(super) fn protocol_by_name(name: &str) -> Option<(u16, Option<u8>, bool)> {
    // (dl_type, nw_proto, expressible in OF1.1)
    Some(match name {
        "ip" | "ipv4" | "ip4" => (ETH_TYPE_IP, None, true),
        "arp" => (ETH_TYPE_ARP, None, true),
        "rarp" => (ETH_TYPE_RARP, None, true),
        "icmp" => (ETH_TYPE_IP, Some(IPPROTO_ICMP), true),
        "tcp" => (ETH_TYPE_IP, Some(IPPROTO_TCP), true),
        "udp" => (ETH_TYPE_IP, Some(IPPROTO_UDP), true),
        "sctp" => (ETH_TYPE_IP, Some(IPPROTO_SCTP), true),
        "ipv6" | "ip6" => (ETH_TYPE_IPV6, None, true),
        "icmp6" => (ETH_TYPE_IPV6, Some(58), false),
        "tcp6" => (ETH_TYPE_IPV6, Some(IPPROTO_TCP), false),
        "udp6" => (ETH_TYPE_IPV6, Some(IPPROTO_UDP), false),
        "sctp6" => (ETH_TYPE_IPV6, Some(IPPROTO_SCTP), false),
        "mpls" => (ETH_TYPE_MPLS, None, true),
        "mplsm" => (ETH_TYPE_MPLS_MCAST, None, true),
        _ => return None,
    })
}

/// A value and the token that set it (for conflict messages).
#[derive(Clone, Debug)]
struct Set<T> {
    value: T,
    token: String,
}

/// The match as OVS holds it while parsing (`struct match`): values under masks in
/// which 1 bits must match, the VLAN as one TCI. Converted to the OF1.1 match at the
/// end exactly as `ofputil_match_to_ofp11_match` does.
#[derive(Default)]
pub(super) struct MatchBuilder {
    in_port: Option<u32>,
    dl_src: Option<(MacAddr, MacAddr)>,
    dl_dst: Option<(MacAddr, MacAddr)>,
    dl_type: Option<Set<u16>>,
    tci: u16,
    tci_mask: u16,
    nw_src: Option<(u32, u32)>,
    nw_dst: Option<(u32, u32)>,
    nw_proto: Option<Set<u8>>,
    nw_tos: Option<u8>,
    tp_src: Option<u16>,
    tp_dst: Option<u16>,
    mpls_label: Option<u32>,
    mpls_tc: Option<u8>,
    metadata: Option<(u64, u64)>,
    /// Fields set explicitly (not wildcarded), with the token, for prerequisites.
    given: Vec<(Field, String)>,
    /// Slots already named, for duplicate detection.
    slots: Vec<&'static str>,
}

fn slots_of(f: Field) -> &'static [&'static str] {
    use Field::*;
    match f {
        InPort => &["in_port"],
        EthSrc => &["dl_src"],
        EthDst => &["dl_dst"],
        EthType => &["dl_type"],
        VlanTci => &["vlan_vid", "vlan_pcp"],
        DlVlan | VlanVid => &["vlan_vid"],
        VlanPcp => &["vlan_pcp"],
        MplsLabel => &["mpls_label"],
        MplsTc => &["mpls_tc"],
        Ipv4Src | ArpSpa => &["nw_src"],
        Ipv4Dst | ArpTpa => &["nw_dst"],
        IpProto | ArpOp => &["nw_proto"],
        IpDscp | IpDscpShifted => &["nw_tos"],
        TpSrc | TcpSrc | UdpSrc | SctpSrc | IcmpType => &["tp_src"],
        TpDst | TcpDst | UdpDst | SctpDst | IcmpCode => &["tp_dst"],
        Metadata => &["metadata"],
    }
}

/// Sets a field a shorthand and an explicit field may both give (`tcp,nw_proto=6`):
/// the same value twice is fine, two different ones conflict.
fn set_once<T: PartialEq>(slot: &mut Option<Set<T>>, v: T, token: &str) -> Result<()> {
    if let Some(old) = slot {
        if old.value != v {
            return Err(TextError::Conflict { token: token.to_owned(), other: old.token.clone() });
        }
        return Ok(());
    }
    *slot = Some(Set { value: v, token: token.to_owned() });
    Ok(())
}

impl MatchBuilder {
    fn set_dl_type(&mut self, v: u16, token: &str) -> Result<()> {
        set_once(&mut self.dl_type, v, token)
    }

    fn set_nw_proto(&mut self, v: u8, token: &str) -> Result<()> {
        set_once(&mut self.nw_proto, v, token)
    }

    /// `ip`, `tcp`, ...
    pub(super) fn protocol(&mut self, name: &str, value: &str) -> Result<()> {
        let token = token_of(name, value);
        let Some((dl_type, nw_proto, of11)) = protocol_by_name(name) else {
            return Err(TextError::UnknownField { token: name.to_owned() });
        };
        if !value.is_empty() {
            return Err(bad(token, format!("the shorthand '{name}' takes no value")));
        }
        if !of11 {
            return Err(not11(token, "L3/L4 matches within IPv6 need NXM or OXM"));
        }
        self.set_dl_type(dl_type, name)?;
        if let Some(p) = nw_proto {
            self.set_nw_proto(p, name)?;
        }
        Ok(())
    }

    /// `name=value` for a known field.
    pub(super) fn field(&mut self, f: Field, name: &str, value: &str) -> Result<()> {
        let token = token_of(name, value);
        for slot in slots_of(f) {
            if self.slots.contains(slot) {
                return Err(TextError::Duplicate { token });
            }
        }
        self.slots.extend_from_slice(slots_of(f));
        // ovs-ofctl: an empty value matches on nothing ("0/0"); "*" wildcards.
        let value = if value.is_empty() { "0/0" } else { value };
        if value == "*" {
            return Ok(());
        }
        use Field::*;
        match f {
            InPort => {
                let p = parse_port(value).ok_or_else(|| bad(&token, "invalid or unknown port"))?;
                self.in_port = Some(p);
            }
            EthSrc | EthDst => {
                let (v, m) = match value.split_once('/') {
                    None => (ofctl_mac(value), Some(MacAddr::BROADCAST)),
                    Some((v, m)) => (ofctl_mac(v), ofctl_mac(m)),
                };
                let (Some(v), Some(m)) = (v, m) else {
                    return Err(bad(&token, "invalid Ethernet address"));
                };
                let slot = if f == EthSrc { &mut self.dl_src } else { &mut self.dl_dst };
                if m == MacAddr::ZERO {
                    *slot = None;
                    return Ok(());
                }
                let mut masked = v.0;
                for (b, mb) in masked.iter_mut().zip(m.0) {
                    *b &= mb;
                }
                *slot = Some((MacAddr(masked), m));
            }
            Ipv4Src | Ipv4Dst | ArpSpa | ArpTpa => {
                let (v, m) = ofctl_ipv4_masked(value).ok_or_else(|| bad(&token, "invalid IPv4 address or mask"))?;
                let slot = if matches!(f, Ipv4Src | ArpSpa) { &mut self.nw_src } else { &mut self.nw_dst };
                if m == 0 {
                    *slot = None;
                    return Ok(());
                }
                *slot = Some((v & m, m));
            }
            Metadata => {
                let (v, m) = int_masked(&token, value, 8)?;
                if m == 0 {
                    self.metadata = None;
                    return Ok(());
                }
                self.metadata = Some((v & m, m));
            }
            _ => {
                let width = match f {
                    EthType | VlanTci | DlVlan | VlanVid | ArpOp | TpSrc | TpDst | TcpSrc | TcpDst | UdpSrc
                    | UdpDst | SctpSrc | SctpDst => 2,
                    MplsLabel => 4,
                    _ => 1,
                };
                let (v, m) = int_masked(&token, value, width)?;
                let ones = if width >= 8 { u64::MAX } else { (1u64 << (8 * width)) - 1 };
                if m == 0 {
                    return self.wildcard(f);
                }
                if m != ones {
                    return Err(match f {
                        VlanTci => {
                            not11(&token, "an arbitrary vlan_tci mask needs NXM or OXM (use dl_vlan/dl_vlan_pcp)")
                        }
                        TpSrc | TpDst | TcpSrc | TcpDst | UdpSrc | UdpDst | SctpSrc | SctpDst => {
                            not11(&token, "port masks (ranges) need NXM or OXM")
                        }
                        _ => bad(&token, format!("{name} cannot be masked")),
                    });
                }
                self.exact(f, name, &token, v)?;
            }
        }
        self.given.push((f, token_of(name, value)));
        Ok(())
    }

    fn wildcard(&mut self, f: Field) -> Result<()> {
        use Field::*;
        match f {
            EthType => self.dl_type = None,
            VlanTci => {
                self.tci = 0;
                self.tci_mask = 0;
            }
            DlVlan | VlanVid => {
                self.tci &= !(VLAN_VID_MASK | VLAN_CFI);
                self.tci_mask &= !(VLAN_VID_MASK | VLAN_CFI);
            }
            VlanPcp => {
                self.tci &= !VLAN_PCP_MASK;
                self.tci_mask &= !VLAN_PCP_MASK;
            }
            MplsLabel => self.mpls_label = None,
            MplsTc => self.mpls_tc = None,
            IpProto | ArpOp => self.nw_proto = None,
            IpDscp | IpDscpShifted => self.nw_tos = None,
            TpSrc | TcpSrc | UdpSrc | SctpSrc | IcmpType => self.tp_src = None,
            TpDst | TcpDst | UdpDst | SctpDst | IcmpCode => self.tp_dst = None,
            _ => {}
        }
        Ok(())
    }

    fn exact(&mut self, f: Field, name: &str, token: &str, v: u64) -> Result<()> {
        use Field::*;
        let out_of_range = |what: &str| bad(token, format!("{what} is out of range for {name}"));
        match f {
            EthType => self.set_dl_type(v as u16, token)?,
            VlanTci => {
                let v = v as u16;
                if v & VLAN_CFI == 0 && v != 0 {
                    return Err(bad(token, "a vlan_tci without the 0x1000 (CFI/present) bit can only be 0 (no tag)"));
                }
                self.tci = v;
                self.tci_mask = 0xffff;
            }
            DlVlan => {
                // 0xffff is OFP10_VLAN_NONE: no tag.
                if v == 0xffff {
                    self.tci = 0;
                    self.tci_mask = 0xffff;
                } else if v > u64::from(VLAN_VID_MASK) {
                    return Err(out_of_range(&v.to_string()));
                } else {
                    self.tci = (self.tci & !VLAN_VID_MASK) | VLAN_CFI | v as u16;
                    self.tci_mask |= VLAN_VID_MASK | VLAN_CFI;
                }
            }
            VlanVid => {
                // OF1.2 semantics: 0x1000 is "tag present", 0 is "no tag".
                let v = v as u16;
                if v > VLAN_CFI | VLAN_VID_MASK {
                    return Err(out_of_range(&v.to_string()));
                }
                if v & VLAN_CFI == 0 && v != 0 {
                    return Err(bad(token, "vlan_vid needs the 0x1000 (present) bit, or 0 for no tag"));
                }
                let m = VLAN_VID_MASK | VLAN_CFI;
                self.tci = (self.tci & !m) | v;
                self.tci_mask = m | (self.tci_mask & VLAN_PCP_MASK);
            }
            VlanPcp => {
                if v > 7 {
                    return Err(out_of_range(&v.to_string()));
                }
                self.tci = (self.tci & !VLAN_PCP_MASK) | ((v as u16) << 13) | VLAN_CFI;
                self.tci_mask |= VLAN_CFI | VLAN_PCP_MASK;
            }
            MplsLabel => {
                if v > 0xfffff {
                    return Err(out_of_range(&v.to_string()));
                }
                self.mpls_label = Some(v as u32);
            }
            MplsTc => {
                if v > 7 {
                    return Err(out_of_range(&v.to_string()));
                }
                self.mpls_tc = Some(v as u8);
            }
            IpProto => self.set_nw_proto(v as u8, token)?,
            ArpOp => {
                if v > 0xff {
                    return Err(bad(token, "OF1.1 matches only the low 8 bits of the ARP opcode"));
                }
                self.set_nw_proto(v as u8, token)?;
            }
            IpDscp => {
                if v & 3 != 0 {
                    return Err(bad(token, "nw_tos matches the DSCP bits only: the low 2 (ECN) bits must be 0"));
                }
                self.nw_tos = Some(v as u8);
            }
            IpDscpShifted => {
                if v > 63 {
                    return Err(out_of_range(&v.to_string()));
                }
                self.nw_tos = Some((v as u8) << 2);
            }
            TpSrc | TcpSrc | UdpSrc | SctpSrc => self.tp_src = Some(v as u16),
            TpDst | TcpDst | UdpDst | SctpDst => self.tp_dst = Some(v as u16),
            IcmpType => self.tp_src = Some(v as u16),
            IcmpCode => self.tp_dst = Some(v as u16),
            InPort | EthSrc | EthDst | Ipv4Src | Ipv4Dst | ArpSpa | ArpTpa | Metadata => {}
        }
        Ok(())
    }

    fn dl_type(&self) -> Option<u16> {
        self.dl_type.as_ref().map(|s| s.value)
    }

    fn nw_proto(&self) -> Option<u8> {
        self.nw_proto.as_ref().map(|s| s.value)
    }

    /// Prerequisites, checked once every field is known (order does not matter).
    pub(super) fn check_prerequisites(&self) -> Result<()> {
        use Field::*;
        let dl = self.dl_type();
        let proto = self.nw_proto();
        let ip = dl == Some(ETH_TYPE_IP);
        let arp = matches!(dl, Some(ETH_TYPE_ARP) | Some(ETH_TYPE_RARP));
        let v6 = dl == Some(ETH_TYPE_IPV6);
        let need = |token: &str, requires: &str| TextError::MissingPrerequisite {
            token: token.to_owned(),
            requires: requires.to_owned(),
        };
        for (f, token) in &self.given {
            match f {
                Ipv4Src | Ipv4Dst if !(ip || arp) => return Err(need(token, "ip or arp")),
                ArpSpa | ArpTpa | ArpOp if !arp => return Err(need(token, "arp")),
                IpProto | IpDscp | IpDscpShifted if v6 => {
                    return Err(not11(token, "L3 matches within IPv6 need NXM or OXM"))
                }
                IpProto if !(ip || arp) => return Err(need(token, "ip or arp")),
                IpDscp | IpDscpShifted if !ip => return Err(need(token, "ip")),
                TpSrc | TpDst | TcpSrc | TcpDst | UdpSrc | UdpDst | SctpSrc | SctpDst | IcmpType | IcmpCode if v6 => {
                    return Err(not11(token, "L4 matches within IPv6 need NXM or OXM"))
                }
                TpSrc | TpDst
                    if !(ip && matches!(proto, Some(IPPROTO_TCP | IPPROTO_UDP | IPPROTO_SCTP | IPPROTO_ICMP))) =>
                {
                    return Err(need(token, "tcp, udp or sctp"))
                }
                TcpSrc | TcpDst if !(ip && proto == Some(IPPROTO_TCP)) => return Err(need(token, "tcp")),
                UdpSrc | UdpDst if !(ip && proto == Some(IPPROTO_UDP)) => return Err(need(token, "udp")),
                SctpSrc | SctpDst if !(ip && proto == Some(IPPROTO_SCTP)) => return Err(need(token, "sctp")),
                IcmpType | IcmpCode if !(ip && proto == Some(IPPROTO_ICMP)) => return Err(need(token, "icmp")),
                MplsLabel | MplsTc if !matches!(dl, Some(ETH_TYPE_MPLS) | Some(ETH_TYPE_MPLS_MCAST)) => {
                    return Err(need(token, "mpls or mplsm"))
                }
                _ => {}
            }
        }
        Ok(())
    }

    /// `ofputil_match_to_ofp11_match`.
    pub(super) fn to_match(&self) -> Match {
        let (dl_vlan, dl_vlan_pcp) = if self.tci_mask == 0 {
            (None, None)
        } else if self.tci_mask & VLAN_CFI != 0 && self.tci & VLAN_CFI == 0 {
            (Some(VID_NONE), None)
        } else {
            let vid = if self.tci_mask & VLAN_VID_MASK == 0 { VID_ANY } else { self.tci & VLAN_VID_MASK };
            let pcp = (self.tci_mask & VLAN_PCP_MASK != 0).then_some((self.tci >> 13) as u8);
            (Some(vid), pcp)
        };
        let mac = |f: &Option<(MacAddr, MacAddr)>| {
            f.map(|(v, m)| Masked { value: v, mask: (m != MacAddr::BROADCAST).then_some(m) })
        };
        let ip = |f: &Option<(u32, u32)>| {
            f.map(|(v, m)| Masked { value: Ipv4Addr::from(v), mask: (m != u32::MAX).then_some(Ipv4Addr::from(m)) })
        };
        Match {
            in_port: self.in_port.map(PortNo),
            dl_src: mac(&self.dl_src),
            dl_dst: mac(&self.dl_dst),
            dl_vlan,
            dl_vlan_pcp,
            dl_type: self.dl_type(),
            nw_tos: self.nw_tos,
            nw_proto: self.nw_proto(),
            nw_src: ip(&self.nw_src),
            nw_dst: ip(&self.nw_dst),
            tp_src: self.tp_src,
            tp_dst: self.tp_dst,
            mpls_label: self.mpls_label,
            mpls_tc: self.mpls_tc,
            metadata: self.metadata.map(|(v, m)| MaskedU64 { value: v, mask: (m != u64::MAX).then_some(m) }),
            ..Match::default()
        }
    }

    /// What the action checks see of the flow (`cp->match->flow`).
    pub(super) fn flow_state(&self) -> FlowState {
        FlowState {
            dl_type: self.dl_type().unwrap_or(0),
            nw_proto: self.nw_proto().unwrap_or(0),
            vlans: [self.tci & VLAN_CFI != 0, false],
        }
    }
}

/// `value[/mask]` of an integer field of `width` bytes.
fn int_masked(token: &str, value: &str, width: u32) -> Result<(u64, u64)> {
    let ones = if width >= 8 { u64::MAX } else { (1u64 << (8 * width)) - 1 };
    let (v, m) = match value.split_once('/') {
        None => (value, None),
        Some((v, m)) => (v, Some(m)),
    };
    let too_big = || bad(token, format!("value too large (or not a number) for a {width}-byte field"));
    let v = field_int(v, width).ok_or_else(too_big)?;
    let m = match m {
        None => ones,
        Some(m) => field_int(m, width).ok_or_else(too_big)?,
    };
    Ok((v, m))
}

fn token_of(key: &str, value: &str) -> String {
    if value.is_empty() {
        key.to_owned()
    } else {
        format!("{key}={value}")
    }
}
