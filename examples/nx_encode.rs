//! Reads flows in ovs-ofctl syntax (one per line) and prints, for each,
//! `flow<TAB>hex` of the OpenFlow 1.1 FLOW_MOD with an `OFPMT_OXM` match that this crate
//! builds (`parse_nx_flow` + `NxFlow::to_flow_mod`, xid 1), or `flow<TAB>ERROR: reason`.
//! Used by `scripts/capture-nx-vectors.py --ours` to send our own bytes to a real
//! ovs-vswitchd and record what it makes of them.
//!
//! `cargo run --quiet --no-default-features --example nx_encode < flows.txt`

use std::io::BufRead;

use xo_sdn_native::openflow::text::parse_nx_flow;
use xo_sdn_native::openflow::types::hex_encode;
use xo_sdn_native::openflow::Message;

fn main() {
    for line in std::io::stdin().lock().lines() {
        let Ok(flow) = line else { break };
        if flow.trim().is_empty() || flow.starts_with('#') {
            continue;
        }
        let out = match parse_nx_flow(&flow) {
            Ok(f) => match Message::FlowMod(f.to_flow_mod(1)).to_bytes() {
                Ok(b) => hex_encode(&b),
                Err(e) => format!("ERROR: {e}"),
            },
            Err(e) => format!("ERROR: {e}"),
        };
        println!("{flow}\t{out}");
    }
}
