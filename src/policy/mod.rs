//! Policies compiled to flows in Rust, one module each (elastic IPs, the flows of
//! XO's traffic-rules plugin): what they place on which bridge, as FLOW_MODs (or
//! the flow text) the controller installs. Sans-I/O like `rules`: no socket,
//! clock, tokio or napi.

#![forbid(unsafe_code)]

pub mod elastic_ips;
pub mod xo_plugin;
