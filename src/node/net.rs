//! Packet-helper bindings: ARP frames for the controller's PACKET_IN/PACKET_OUT
//! path, and the per-address rate limiter. Frames cross as Buffers, MACs as
//! `'aa:bb:cc:dd:ee:ff'`, IPv4 addresses dotted.

use std::net::Ipv4Addr;

use napi::bindgen_prelude::Buffer;
use napi_derive::napi;

use super::errors::{err, guard, JsError};
use crate::net::addr::{parse_ipv4, parse_mac};
use crate::net::arp::{self, build_arp_reply, build_gratuitous_arp, parse_arp};
use crate::net::{RateLimitError, RateLimiter};
use crate::openflow::types::MacAddr;

/// A MAC a host may use as its own: the API's MAC grammar
/// ([`parse_mac`]: `aa:bb:cc:dd:ee:ff`, any case), not a group address (bit 0
/// of the first octet), not all zeros.
fn unicast_mac(text: &str, what: &str) -> Result<MacAddr, JsError> {
    let mac =
        parse_mac(text).ok_or_else(|| err("ERR_INVALID_ARG_VALUE", format!("{what}: invalid MAC address '{text}'")))?;
    if mac.0[0] & 1 == 1 || mac == MacAddr::ZERO {
        return Err(err("ERR_INVALID_ARG_VALUE", format!("{what}: '{text}' is not a unicast MAC address")));
    }
    Ok(mac)
}

/// An IPv4 address ([`parse_ipv4`], `std`'s grammar).
fn ipv4(text: &str, what: &str) -> Result<Ipv4Addr, JsError> {
    parse_ipv4(text).ok_or_else(|| err("ERR_INVALID_ARG_VALUE", format!("{what}: invalid IPv4 address '{text}'")))
}

/// An ARP packet read from a frame.
#[napi(object)]
pub struct NativeArpPacket {
    /// 1 request, 2 reply (other values as received).
    pub op: u32,
    pub sender_mac: String,
    pub sender_ip: String,
    pub target_mac: String,
    pub target_ip: String,
    /// The 802.1Q VLAN id, when the frame was tagged.
    pub vlan: Option<u32>,
}

/// The ARP packet of an Ethernet II frame (one 802.1Q tag allowed), or `null`
/// for any other frame.
#[napi(js_name = "parseArp")]
pub fn parse_arp_frame(frame: Buffer) -> Result<Option<NativeArpPacket>, JsError> {
    guard(|| {
        Ok(parse_arp(&frame).map(|p| NativeArpPacket {
            op: u32::from(p.op),
            sender_mac: p.sha.to_string(),
            sender_ip: p.spa.to_string(),
            target_mac: p.tha.to_string(),
            target_ip: p.tpa.to_string(),
            vlan: p.vlan.map(|v| u32::from(v.vid)),
        }))
    })
}

/// The reply to the ARP request `frame`: `frame`'s target address is at
/// `answerMac`. Sent to the requester, with the request's VLAN tag, padded to 60
/// bytes.
#[napi(js_name = "buildArpReply")]
pub fn build_arp_reply_frame(frame: Buffer, answer_mac: String) -> Result<Buffer, JsError> {
    guard(|| {
        let answer = unicast_mac(&answer_mac, "answerMac")?;
        let request = match parse_arp(&frame) {
            Some(p) if p.op == arp::OP_REQUEST => p,
            Some(p) => {
                let msg = format!("frame: an ARP packet with opcode {}, not a request (1)", p.op);
                return Err(err("ERR_INVALID_ARG_VALUE", msg));
            }
            None => {
                let msg = "frame: not an ARP request (Ethernet II, at most one 802.1Q tag, IPv4 over Ethernet)";
                return Err(err("ERR_INVALID_ARG_VALUE", msg));
            }
        };
        Ok(build_arp_reply(&request, answer).into())
    })
}

/// A gratuitous ARP (RFC 5227 announcement) saying `ip` is at `mac`: broadcast,
/// untagged, 60 bytes.
#[napi(js_name = "buildGratuitousArp")]
pub fn build_gratuitous_arp_frame(mac: String, ip: String) -> Result<Buffer, JsError> {
    guard(|| {
        let mac = unicast_mac(&mac, "mac")?;
        let ip = ipv4(&ip, "ip")?;
        if ip.is_unspecified() || ip.is_broadcast() || ip.is_multicast() {
            return Err(err("ERR_INVALID_ARG_VALUE", format!("ip: '{ip}' is not a unicast IPv4 address")));
        }
        Ok(build_gratuitous_arp(mac, ip).into())
    })
}

/// A token bucket per IPv4 address: `ratePerSec` events a second after a burst of
/// `burst`, at most `maxKeys` addresses held (the least recently seen goes).
#[napi]
pub struct NativeRateLimiter {
    inner: RateLimiter,
}

#[napi]
impl NativeRateLimiter {
    #[napi(constructor)]
    pub fn new(rate_per_sec: f64, burst: u32, max_keys: u32) -> Result<Self, JsError> {
        guard(|| {
            let max_keys = usize::try_from(max_keys).unwrap_or(usize::MAX);
            let inner = RateLimiter::new(rate_per_sec, burst, max_keys).map_err(|e| {
                let msg = match e {
                    RateLimitError::Rate(r) => format!("ratePerSec must be a finite number, 0 or more, got {r}"),
                    RateLimitError::Burst => "burst must be 1 or more, got 0".to_owned(),
                    RateLimitError::MaxKeys => "maxKeys must be 1 or more, got 0".to_owned(),
                };
                err("ERR_OUT_OF_RANGE", msg)
            })?;
            Ok(NativeRateLimiter { inner })
        })
    }

    /// Takes a token for `ip` at `nowMs` (any monotonic millisecond clock, e.g.
    /// `performance.now()`): true if allowed.
    #[napi]
    pub fn allow(&mut self, ip: String, now_ms: f64) -> Result<bool, JsError> {
        guard(|| {
            let key = u32::from(ipv4(&ip, "ip")?);
            if !now_ms.is_finite() || now_ms < 0.0 {
                return Err(err("ERR_OUT_OF_RANGE", format!("nowMs must be a finite number, 0 or more, got {now_ms}")));
            }
            Ok(self.inner.allow(key, now_ms as u64))
        })
    }

    /// Addresses held.
    #[napi]
    pub fn len(&self) -> u32 {
        u32::try_from(self.inner.len()).unwrap_or(u32::MAX)
    }

    /// Forgets every address.
    #[napi]
    pub fn clear(&mut self) {
        self.inner.clear();
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The ARP and rate-limit bindings read `answerMac`/`mac`/`ip` with the
    /// API's one grammar: what the strict parsers refuse is refused, with the
    /// bindings' own messages.
    #[test]
    fn address_arguments_refuse_what_the_strict_parsers_refuse() {
        assert_eq!(
            unicast_mac("AE:F7:4B:84:6C:8B", "mac").ok().map(|m| m.to_string()).as_deref(),
            Some("ae:f7:4b:84:6c:8b")
        );
        for bad in ["aa:bb-cc:dd-ee:ff", "02-00-00-00-00-01", "2:0:0:0:0:1", " 02:00:00:00:00:01", ""] {
            assert_eq!(parse_mac(bad), None, "{bad:?}");
            let e = unicast_mac(bad, "answerMac").err().unwrap_or_else(|| panic!("{bad:?} taken"));
            assert_eq!(e.status.0, "ERR_INVALID_ARG_VALUE");
            assert_eq!(e.reason, format!("answerMac: invalid MAC address '{bad}'"));
        }
        assert_eq!(ipv4("10.0.0.1", "ip").ok(), Some(Ipv4Addr::new(10, 0, 0, 1)));
        for bad in ["010.0.0.1", " 10.0.0.1", "10.0.0.1 ", "10.0.0.1/32", ""] {
            assert_eq!(parse_ipv4(bad), None, "{bad:?}");
            let e = ipv4(bad, "ip").err().unwrap_or_else(|| panic!("{bad:?} taken"));
            assert_eq!(e.reason, format!("ip: invalid IPv4 address '{bad}'"));
        }
    }
}

/// An IPv4 prefix read by the API's one grammar ([`crate::net::addr`]).
#[napi(object)]
pub struct NativeIpv4Cidr {
    /// `a.b.c.d/n`, the network address (host bits cleared when asked).
    pub cidr: String,
    /// The network address as an unsigned 32-bit number.
    pub network: u32,
    /// The prefix length, 0..=32 (32 for a plain address).
    pub prefix: u32,
}

/// `a.b.c.d` or `a.b.c.d/n` as a prefix: the one IPv4/CIDR reading for the JS side
/// (security groups, elastic IPs, XO's stored rules). Host bits are refused
/// (`ERR_INVALID_ARG_VALUE`, a likely typo) unless `clearHostBits`, which keeps the
/// meaning Open vSwitch gave such a CIDR (it masks the address). A netmask instead
/// of a prefix length is refused: a prefix is what rules and pools take.
#[napi]
pub fn ipv4_cidr(text: String, clear_host_bits: bool) -> Result<NativeIpv4Cidr, JsError> {
    guard(|| {
        let bad = || err("ERR_INVALID_ARG_VALUE", format!("'{text}' is not an IPv4 address or CIDR (a.b.c.d/n)"));
        let (addr, mask) = crate::net::addr::parse_ipv4_masked(&text).map_err(|e| match e {
            crate::net::addr::MaskedIpError::PrefixOutOfRange => {
                err("ERR_OUT_OF_RANGE", format!("'{text}': the prefix length must be 0 to 32"))
            }
            _ => bad(),
        })?;
        let prefix = match mask {
            None => 32,
            Some(crate::net::addr::IpMask::Prefix(p)) => p,
            Some(crate::net::addr::IpMask::Netmask(_)) => return Err(bad()),
        };
        let netmask = crate::net::addr::ipv4_prefix_mask(prefix);
        let network = u32::from(addr) & netmask;
        if network != u32::from(addr) && !clear_host_bits {
            return Err(err(
                "ERR_INVALID_ARG_VALUE",
                format!("'{text}' has host bits set: the network is {}/{prefix}", Ipv4Addr::from(network)),
            ));
        }
        Ok(NativeIpv4Cidr { cidr: format!("{}/{prefix}", Ipv4Addr::from(network)), network, prefix: prefix.into() })
    })
}
