//! ARP for IPv4 over Ethernet (RFC 826) in Ethernet II frames, optionally with one
//! IEEE 802.1Q tag.
//!
//! ```text
//!  0     6     12         (+4 when tagged)
//! | dst | src | [0x8100 | TCI] | 0x0806 | ARP (28 bytes) | padding to 60 bytes
//!
//!  ARP:  0      2      4    5    6    8     14    18    24    28
//!       | htype| ptype| hlen|plen| op | sha | spa | tha | tpa |
//!       |  1   |0x0800|  6  | 4  |
//! ```
//!
//! Only that hardware and protocol pair is read. RFC 826's reception algorithm
//! drops a packet whose hardware type or protocol it does not speak and may check
//! the two address lengths; we check them, so every field is where we read it.

use std::net::Ipv4Addr;

use super::addr::MacAddr;

/// Ethertype of ARP.
pub const ETH_TYPE_ARP: u16 = 0x0806;
/// Ethertype of IPv4 (the ARP protocol type it resolves).
pub const ETH_TYPE_IPV4: u16 = 0x0800;
/// Ethertype of an IEEE 802.1Q tag.
pub const ETH_TYPE_VLAN: u16 = 0x8100;
/// ARP hardware type of Ethernet (RFC 826 `ares_hrd$Ethernet`).
pub const HTYPE_ETHERNET: u16 = 1;
/// `ares_op$REQUEST`.
pub const OP_REQUEST: u16 = 1;
/// `ares_op$REPLY`.
pub const OP_REPLY: u16 = 2;
/// IEEE 802.3's 64-byte minimum frame without its 4-byte FCS: what a sender pads
/// to (the switch adds the FCS).
pub const MIN_FRAME_LEN: usize = 60;

const ETH_HEADER_LEN: usize = 14;
const VLAN_TAG_LEN: usize = 4;
const ARP_LEN: usize = 28;

/// An 802.1Q tag: VLAN id and priority (the drop-eligible bit is not kept).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct Vlan {
    /// VLAN id (12 bits).
    pub vid: u16,
    /// Priority code point (3 bits).
    pub pcp: u8,
}

impl Vlan {
    fn tci(self) -> u16 {
        (u16::from(self.pcp & 0x7) << 13) | (self.vid & 0x0fff)
    }

    fn of_tci(tci: u16) -> Self {
        Vlan { vid: tci & 0x0fff, pcp: (tci >> 13) as u8 }
    }
}

/// One ARP packet and the Ethernet header that carried it.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct ArpPacket {
    /// Ethernet destination.
    pub eth_dst: MacAddr,
    /// Ethernet source (a host's own frames have it equal to `sha`).
    pub eth_src: MacAddr,
    /// The 802.1Q tag, if the frame had one.
    pub vlan: Option<Vlan>,
    /// Opcode: [`OP_REQUEST`], [`OP_REPLY`], or any other value as received.
    pub op: u16,
    /// Sender hardware address.
    pub sha: MacAddr,
    /// Sender protocol address.
    pub spa: Ipv4Addr,
    /// Target hardware address (ignored in a request).
    pub tha: MacAddr,
    /// Target protocol address.
    pub tpa: Ipv4Addr,
}

fn u16_at(b: &[u8], at: usize) -> Option<u16> {
    Some(u16::from_be_bytes(b.get(at..at + 2)?.try_into().ok()?))
}

fn mac_at(b: &[u8], at: usize) -> Option<MacAddr> {
    Some(MacAddr(b.get(at..at + 6)?.try_into().ok()?))
}

fn ip_at(b: &[u8], at: usize) -> Option<Ipv4Addr> {
    Some(Ipv4Addr::from(<[u8; 4]>::try_from(b.get(at..at + 4)?).ok()?))
}

/// Reads an Ethernet II frame carrying IPv4-over-Ethernet ARP; `None` for any
/// other frame, a truncated one, or other hardware/protocol types. Bytes past the
/// ARP packet (padding, an FCS) are ignored. Never panics.
pub fn parse_arp(frame: &[u8]) -> Option<ArpPacket> {
    let eth_dst = mac_at(frame, 0)?;
    let eth_src = mac_at(frame, 6)?;
    let (vlan, at) = match u16_at(frame, 12)? {
        ETH_TYPE_VLAN => (Some(Vlan::of_tci(u16_at(frame, 14)?)), ETH_HEADER_LEN + VLAN_TAG_LEN),
        _ => (None, ETH_HEADER_LEN),
    };
    if u16_at(frame, at - 2)? != ETH_TYPE_ARP {
        return None;
    }
    let arp = frame.get(at..at + ARP_LEN)?;
    let well_formed = u16_at(arp, 0)? == HTYPE_ETHERNET && u16_at(arp, 2)? == ETH_TYPE_IPV4 && arp[4..6] == [6, 4];
    well_formed.then_some(())?;
    Some(ArpPacket {
        eth_dst,
        eth_src,
        vlan,
        op: u16_at(arp, 6)?,
        sha: mac_at(arp, 8)?,
        spa: ip_at(arp, 14)?,
        tha: mac_at(arp, 18)?,
        tpa: ip_at(arp, 24)?,
    })
}

impl ArpPacket {
    /// The frame: Ethernet header (tagged if `vlan` is set), the ARP packet, and
    /// zero padding up to [`MIN_FRAME_LEN`].
    pub fn encode(&self) -> Vec<u8> {
        let mut out = Vec::with_capacity(MIN_FRAME_LEN);
        out.extend_from_slice(&self.eth_dst.0);
        out.extend_from_slice(&self.eth_src.0);
        if let Some(v) = self.vlan {
            out.extend_from_slice(&ETH_TYPE_VLAN.to_be_bytes());
            out.extend_from_slice(&v.tci().to_be_bytes());
        }
        out.extend_from_slice(&ETH_TYPE_ARP.to_be_bytes());
        out.extend_from_slice(&HTYPE_ETHERNET.to_be_bytes());
        out.extend_from_slice(&ETH_TYPE_IPV4.to_be_bytes());
        out.extend_from_slice(&[6, 4]);
        out.extend_from_slice(&self.op.to_be_bytes());
        out.extend_from_slice(&self.sha.0);
        out.extend_from_slice(&self.spa.octets());
        out.extend_from_slice(&self.tha.0);
        out.extend_from_slice(&self.tpa.octets());
        out.resize(out.len().max(MIN_FRAME_LEN), 0);
        out
    }
}

/// The reply to `request` saying that `request.tpa` is at `answer_mac` (RFC 826:
/// swap the sender and target fields, put our address in as sender, opcode REPLY),
/// sent straight back to the requester (Ethernet destination = its `sha`) with the
/// request's VLAN tag. Whether `request` is a request worth answering is the
/// caller's decision.
pub fn build_arp_reply(request: &ArpPacket, answer_mac: MacAddr) -> Vec<u8> {
    ArpPacket {
        eth_dst: request.sha,
        eth_src: answer_mac,
        vlan: request.vlan,
        op: OP_REPLY,
        sha: answer_mac,
        spa: request.tpa,
        tha: request.sha,
        tpa: request.spa,
    }
    .encode()
}

/// A gratuitous ARP announcing that `ip` is at `mac` (after an elastic IP moves):
/// a broadcast request with sender and target address both `ip` and a zero target
/// hardware address: the ARP Announcement of RFC 5227 §2.3, and the form of the
/// Linux kernel's own gratuitous ARP. Untagged.
pub fn build_gratuitous_arp(mac: MacAddr, ip: Ipv4Addr) -> Vec<u8> {
    ArpPacket {
        eth_dst: MacAddr::BROADCAST,
        eth_src: mac,
        vlan: None,
        op: OP_REQUEST,
        sha: mac,
        spa: ip,
        tha: MacAddr::ZERO,
        tpa: ip,
    }
    .encode()
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Hex text to bytes; spaces (between fields) are ignored.
    fn hex_decode(s: &str) -> Option<Vec<u8>> {
        let digits: Vec<u8> = s.bytes().filter(|b| *b != b' ').collect();
        if !digits.len().is_multiple_of(2) {
            return None;
        }
        digits.chunks(2).map(|p| u8::from_str_radix(std::str::from_utf8(p).ok()?, 16).ok()).collect()
    }

    fn mac(s: &str) -> MacAddr {
        s.parse().unwrap()
    }

    fn ip(s: &str) -> Ipv4Addr {
        s.parse().unwrap()
    }

    /// A host (02:00:00:00:00:05, 10.0.0.5) asking who has 10.0.0.1: 42 bytes, not
    /// padded (as a capture on the sending host shows it; the NIC pads).
    const REQUEST: &str = "ffffffffffff020000000005080600010800060400010200000000050a0000050000000000000a000001";

    fn request() -> Vec<u8> {
        hex_decode(REQUEST).unwrap()
    }

    #[test]
    fn parses_a_request() {
        let want = ArpPacket {
            eth_dst: MacAddr::BROADCAST,
            eth_src: mac("02:00:00:00:00:05"),
            vlan: None,
            op: OP_REQUEST,
            sha: mac("02:00:00:00:00:05"),
            spa: ip("10.0.0.5"),
            tha: MacAddr::ZERO,
            tpa: ip("10.0.0.1"),
        };
        assert_eq!(parse_arp(&request()), Some(want));
        let mut padded = request();
        padded.resize(64, 0xee); // padding and an FCS
        assert_eq!(parse_arp(&padded), Some(want));
    }

    #[test]
    fn parses_one_vlan_tag() {
        let mut tagged = request();
        tagged.splice(12..12, [0x81, 0x00, 0xa0, 0x2a]); // pcp 5, dei 0, vid 42
        let p = parse_arp(&tagged).unwrap();
        assert_eq!(p.vlan, Some(Vlan { vid: 42, pcp: 5 }));
        assert_eq!((p.spa, p.tpa), (ip("10.0.0.5"), ip("10.0.0.1")));
        // Two tags (QinQ with 0x8100 outside) is not ARP at the place we look.
        let mut double = tagged.clone();
        double.splice(12..12, [0x81, 0x00, 0x00, 0x07]);
        assert_eq!(parse_arp(&double), None);
    }

    #[test]
    fn refuses_what_is_not_ipv4_over_ethernet_arp() {
        let r = request();
        let with = |at: usize, b: u8| {
            let mut f = r.clone();
            f[at] = b;
            parse_arp(&f)
        };
        assert_eq!(with(13, 0x00), None, "ethertype 0x0800");
        assert_eq!(with(15, 6), None, "htype 6 (IEEE 802)");
        assert_eq!(with(16, 0x86), None, "ptype 0x86dd");
        assert_eq!(with(18, 8), None, "hlen 8");
        assert_eq!(with(19, 16), None, "plen 16");
        assert_eq!(parse_arp(&r[..41]), None, "one byte short");
        assert_eq!(parse_arp(&[]), None);
        assert_eq!(with(21, 9).map(|p| p.op), Some(9), "other opcodes are kept for the caller");
    }

    #[test]
    fn reply_answers_the_request() {
        let req = parse_arp(&request()).unwrap();
        let frame = build_arp_reply(&req, mac("02:aa:00:00:00:01"));
        assert_eq!(frame.len(), MIN_FRAME_LEN);
        let want = "020000000005 02aa00000001 0806 0001 0800 06 04 0002 02aa00000001 0a000001 020000000005 0a000005";
        let mut want = hex_decode(want).unwrap();
        want.resize(60, 0);
        assert_eq!(frame, want);
        let r = parse_arp(&frame).unwrap();
        assert_eq!((r.op, r.sha, r.spa, r.tha, r.tpa), (OP_REPLY, mac("02:aa:00:00:00:01"), req.tpa, req.sha, req.spa));
    }

    #[test]
    fn reply_keeps_the_vlan_tag() {
        let mut tagged = request();
        tagged.splice(12..12, [0x81, 0x00, 0xa0, 0x2a]);
        let frame = build_arp_reply(&parse_arp(&tagged).unwrap(), mac("02:aa:00:00:00:01"));
        assert_eq!((frame.len(), &frame[12..16]), (MIN_FRAME_LEN, &[0x81, 0x00, 0xa0, 0x2a][..]));
        assert_eq!(parse_arp(&frame).unwrap().vlan, Some(Vlan { vid: 42, pcp: 5 }));
    }

    #[test]
    fn gratuitous_arp_is_an_announcement() {
        let frame = build_gratuitous_arp(mac("02:00:00:00:00:05"), ip("203.0.113.5"));
        let want = "ffffffffffff 020000000005 0806 0001 0800 06 04 0001 020000000005 cb007105 000000000000 cb007105";
        let mut want = hex_decode(want).unwrap();
        want.resize(60, 0);
        assert_eq!(frame, want);
    }

    #[test]
    fn encode_and_parse_round_trip() {
        let p = ArpPacket {
            eth_dst: mac("02:00:00:00:00:01"),
            eth_src: mac("02:00:00:00:00:02"),
            vlan: Some(Vlan { vid: 4095, pcp: 7 }),
            op: 0xbeef,
            sha: mac("02:00:00:00:00:03"),
            spa: ip("1.2.3.4"),
            tha: mac("02:00:00:00:00:04"),
            tpa: ip("5.6.7.8"),
        };
        assert_eq!(parse_arp(&p.encode()), Some(p));
        assert_eq!(parse_arp(&ArpPacket { vlan: None, ..p }.encode()), Some(ArpPacket { vlan: None, ..p }));
    }

    /// xorshift64: deterministic, no dependency.
    struct Rng(u64);
    impl Rng {
        fn next(&mut self) -> u64 {
            self.0 ^= self.0 << 13;
            self.0 ^= self.0 >> 7;
            self.0 ^= self.0 << 17;
            self.0
        }
        fn below(&mut self, n: usize) -> usize {
            (self.next() % n as u64) as usize
        }
    }

    #[test]
    fn no_input_panics() {
        let mut rng = Rng(0x9e37_79b9_7f4a_7c15);
        let mut tagged = request();
        tagged.splice(12..12, [0x81, 0x00, 0x00, 0x07]);
        let seeds = [request(), tagged, build_gratuitous_arp(mac("02:00:00:00:00:05"), ip("10.0.0.5"))];
        let mut parsed = 0;
        for round in 0..200_000 {
            let frame: Vec<u8> = if round % 2 == 0 {
                // A valid frame, truncated, with a few bytes flipped.
                let mut f = seeds[rng.below(seeds.len())].clone();
                f.truncate(rng.below(f.len() + 1));
                for _ in 0..rng.below(4) {
                    if !f.is_empty() {
                        let at = rng.below(f.len());
                        f[at] = rng.next() as u8;
                    }
                }
                f
            } else {
                // Random bytes of a random length, half of them behind an ARP-like head.
                let len = rng.below(80);
                let mut f: Vec<u8> = (0..len).map(|_| rng.next() as u8).collect();
                if round % 4 == 1 && f.len() >= 22 {
                    f[12..22].copy_from_slice(&[0x08, 0x06, 0, 1, 8, 0, 6, 4, 0, 1]);
                }
                f
            };
            if let Some(p) = parse_arp(&frame) {
                parsed += 1;
                assert_eq!(parse_arp(&p.encode()), Some(p));
                let reply = build_arp_reply(&p, mac("02:aa:00:00:00:01"));
                assert!(reply.len() >= MIN_FRAME_LEN);
            }
        }
        assert!(parsed > 10_000, "only {parsed} frames parsed: the generator lost its aim");
    }
}
