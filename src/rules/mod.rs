//! VIF traffic rules: validation, compilation to OpenFlow 1.1 flows, and the
//! desired-flow table that reconciles a switch. Sans-I/O: JSON and flow stats in,
//! FLOW_MODs out; nothing here touches a socket, a clock, tokio or napi.
//!
//! ```text
//!  rule JSON ──parse_rule──▶ Rule ──compile(endpoints, priority, cookie)──▶ FlowMods
//!                                                                             │
//!  flow stats (dump filtered by cookie::NAMESPACE) ──▶ FlowTable::reconcile ◀─┘ put/remove
//! ```

#![forbid(unsafe_code)]

pub mod compile;
pub mod cookie;
pub mod json;
pub mod port_mask;
pub mod rule;
pub mod service;
pub mod table;

pub use compile::{compile, flow_count, parse_endpoints, Endpoint};
pub use json::Json;
pub use rule::{parse_rule, parse_rules, parse_rules_then, rule_from_json, Direction, PortRange, Protocol, Rule, RuleError, Target};
pub use service::{services, Service};
pub use table::{dump_request, encode_flow_mods, CookieReport, Delta, FlowTable, MatchKey, Reconcile, Tables};
