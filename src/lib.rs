//! `xo-sdn-native`: the protocol core of Xen Orchestra's SDN controller.
//!
//! ```text
//!  JS (xo-server plugin)
//!    │  js/ facade, adapters
//!  src/node/      napi bindings: convert JS <-> Rust, map errors to `code`; nothing else
//!    │
//!  src/openflow/  OpenFlow 1.1 codec + flow text syntax     (sans-I/O)
//!  src/net/       ARP frames, per-address rate limit        (sans-I/O)
//!  src/policy/    security groups, elastic IPs, XO plugin   (sans-I/O)
//! ```
//!
//! Layering rules: protocol modules import neither `tokio` nor `napi`; only
//! `node/` imports `napi`. Every module but `node/` forbids `unsafe` (napi's macros
//! generate it there) and `mapped_buf` (the system calls that keep large connection
//! buffers out of malloc's arenas).

#![warn(missing_docs)]

pub mod openflow;
pub mod rules;
/// Policies compiled to flows (security groups, elastic IPs, XO's plugin): one compile path.
pub mod policy;
/// The sans-I/O policy engine: ordered rules, where they land, per-switch batches.
pub mod control;
pub mod net;
pub mod ovsdb;
pub mod session;
pub mod driver;
pub mod tape;
pub mod tls;
pub mod mapped_buf;
pub mod parallel;

#[cfg(feature = "node")]
mod node;
