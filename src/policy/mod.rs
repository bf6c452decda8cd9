//! Policies that compile to traffic rules: a policy is product logic (what a
//! security group allows) turned into [`crate::rules::Rule`]s, which
//! [`crate::rules::compile`] turns into flows like any other rule, so there is one
//! compile path for every policy (issue 11).
//!
//! Sans-I/O like `rules/`: JSON and typed values in, rules and FLOW_MODs out. Nothing
//! here opens a socket, reads a clock, spawns a task or touches napi (checked by
//! `tests/layering.rs`); priorities come from the one band table,
//! [`crate::control::bands`].

#![forbid(unsafe_code)]

pub mod security_groups;
