//! Address text (`addr`: the one MAC/IPv4/CIDR grammar of the API), and packet
//! helpers for the traffic the controller handles itself: ARP for the
//! addresses it answers for (elastic IPs) and announces, and a per-address rate
//! limit on what reaches it. Sans-I/O: frames in, frames out, time an argument;
//! nothing here touches a socket, a clock, tokio or napi.

#![forbid(unsafe_code)]

pub mod addr;
pub mod arp;
pub mod ratelimit;

pub use arp::{build_arp_reply, build_gratuitous_arp, parse_arp, ArpPacket, Vlan};
pub use ratelimit::{RateLimitError, RateLimiter};
