//! The policy engine of the SDN controller: the ordered list of traffic rules,
//! where each rule lands, and the batches of FLOW_MODs that keep every switch
//! equal to it. It is the core of `js/sdn-controller.js` moved into Rust, without
//! its I/O.
//!
//! Status: the rule list ([`RuleList`]) drives the JS controller through
//! `NativeRuleList` (src/node/rule_list.rs): ids, rule numbers (providers'
//! included), generations and priorities are decided here, and
//! `js/sdn-controller.js` mirrors them. The [`Engine`] (desired state per switch,
//! batches) is built and model-tested, not driven yet: the per-switch state,
//! first-contact adoption, read-back, the state file, provider and foreign flows
//! still live in `js/sdn-controller.js`.
//!
//! Sans-I/O: commands and events in, batches out. Nothing here opens a socket,
//! reads a clock, spawns a task or touches napi; the driver (the JS layer through
//! `src/node`, or a test) does all of that and tells the engine what happened.
//!
//! ```text
//!  commands ──▶ add / add_many / update / patch / delete / reorder ─┐  validated first:
//!  OVSDB    ──▶ set_topology(host, bridge -> interfaces)            ├─ a refused command
//!  channel  ──▶ switch_lost(host, bridge), retry(host, bridge)      ┘  changes nothing
//!                                   │
//!                 RuleList (ids, numbers, generations, priorities)
//!                 Switch per (host, bridge): desired vs installed FlowTable
//!                                   │
//!  driver   ◀── poll_batch() -> Batch { host, bridge, id, through, adds, deletes }
//!  driver   ──▶ batch_done(id, ok)
//! ```
//!
//! How the JS layer drives it:
//!
//! 1. On every command, call the engine; a refusal is the command's error (its
//!    [`EngineError::code`] is the JS `code`). An accepted command returns a
//!    [`Receipt`]: its sequence number and the switches it changed.
//! 2. Then pump: while [`Engine::poll_batch`] returns a batch, send its `adds`,
//!    a barrier, then its `deletes`, a barrier, on that switch's channel (an empty
//!    batch needs no message), and call [`Engine::batch_done`] with the outcome.
//!    Pump again after each `batch_done`. The engine never has two batches in
//!    flight for one switch; what is commanded meanwhile goes into the next one.
//! 3. A command is in force on a switch when a batch for it with
//!    `through >= receipt.seq` is confirmed; a failed batch is that switch's error
//!    for the commands waiting on it. A failed switch is parked: after a backoff,
//!    [`Engine::retry`] lets its repair batch go.
//! 4. Feed the OVSDB replica's VIF interfaces per host with [`Engine::set_topology`]
//!    (on every change of `Interface`, `Port` or `Bridge` rows), and call
//!    [`Engine::switch_lost`] when a channel comes back after a disconnect (OVS
//!    may have restarted empty).
//!
//! Ordering guarantees hold by construction: commands are applied in the order
//! they are called, a patch merges into the rule as it is at that moment, and each
//! batch is computed from state (desired vs installed) with adds before deletes,
//! so a rule's new flows are always in before its old ones go, and an update
//! followed by a delete leaves nothing of either generation.
//!
//! Limits, said plainly. OpenFlow 1.1 has no atomic bundle: OVS applies a batch's
//! FLOW_MODs one by one. An ADD that lands on another rule's old key (same match
//! and priority, after a respread) replaces that flow; the adds are ordered so the
//! replaced rule's own new flows go first, except in a cycle (a reorder swapping
//! two rules with identical matches), where the rule that is first in the new
//! order goes first and the other is shadowed by it meanwhile. During a respread
//! old and new flows coexist for a batch, at interleaved priorities, as in the JS.
//! The model test (`model_test.rs`) checks all of this against simulated switches.

#![forbid(unsafe_code)]

pub mod bands;
pub mod engine;
pub mod entries;
pub mod error;
pub mod list;
pub mod numbers;
pub mod patch;
mod switch;
pub mod topology;

#[cfg(test)]
mod model_test;

pub use bands::{NamedBand, PriorityBand, BANDS};
pub use engine::{Batch, Engine, Receipt, SwitchStatus};
pub use error::EngineError;
pub use list::{Placement, RuleList, RuleState};
pub use numbers::{random_rule_id, random_rule_ids, stable_number, NumberRegistry, RuleId};
pub use topology::{endpoints, HostTopology, Interface, SwitchId};
