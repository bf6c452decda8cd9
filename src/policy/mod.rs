//! Policies compiled to flows in Rust, one module each: security groups (turned
//! into [`crate::rules::Rule`]s that [`crate::rules::compile`] compiles like any
//! other rule, and counted by the same derivation), elastic IPs (their NAT twins
//! built on the compiled FLOW_MODs) and the flows of XO's traffic-rules plugin.
//! One compile path for every policy (issue 11).
//!
//! Sans-I/O like `rules`: JSON and typed values in, rules and FLOW_MODs (or flow
//! text) out. Nothing here opens a socket, reads a clock, spawns a task or touches
//! napi (checked by `tests/layering.rs`); priorities come from the one band table,
//! [`crate::control::bands`].

#![forbid(unsafe_code)]

pub mod elastic_ips;
pub mod security_groups;
pub mod xo_plugin;
