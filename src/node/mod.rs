//! napi bindings: the only module that imports `napi`. Each function converts its
//! arguments, calls the core, converts the result; errors leave through
//! [`errors`] so every JS error has a stable `code`.

#![allow(missing_docs)] // documented on the JS side (index.d.ts)

mod codec;
mod elastic_ips;
mod convert;
mod errors;
mod memory;
mod net;
mod openflow;
mod ovsdb;
mod rule_list;
mod rules;
mod security_groups;
mod session;
mod stream;
mod tls;
mod xo_plugin;
#[cfg(feature = "bench-typed")]
mod typed_codec;
