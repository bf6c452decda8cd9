//! Policies compiled to flows in Rust, one module each: what they place on which
//! bridge, as FLOW_MODs the controller installs. Sans-I/O like `rules`: no socket,
//! clock, tokio or napi.

#![forbid(unsafe_code)]

pub mod elastic_ips;
