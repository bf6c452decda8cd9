//! Open vSwitch's `ovs-ofctl` flow syntax for OpenFlow 1.1: parsing into a
//! [`FlowMod`](super::flow::FlowMod) and printing the way `dump-flows` does.
//!
//! [`parse_flow`] reads what `ovs-ofctl -O OpenFlow11 add-flow|mod-flows|del-flows`
//! accepts (`man ovs-ofctl` "Flow Syntax", `man ovs-fields`, `man ovs-actions`) and
//! builds the FlowMod that ovs-ofctl 3.1 would send, byte for byte once encoded: same
//! defaults (priority 0x8000, no buffer, out_port/out_group ANY, table 0 when none or
//! 255 is given, because OF1.1 has no "all tables"), same cookie rules, the same host
//! bits cleared under masks, `mod_vlan_vid` pushing a tag when the match does not
//! guarantee one, the action list becoming one `apply_actions` instruction followed by
//! `clear_actions`, `write_actions`, `write_metadata`, `goto_table` (the only order
//! OVS accepts), and the Nicira extension actions ovs-ofctl uses in OF1.1 (`resubmit`,
//! `note`, `load` into registers, `enqueue`, `dec_ttl(ids)`, `controller(...)`).
//!
//! It is deliberately stricter than ovs-ofctl where ovs-ofctl silently sends something
//! other than what was written: a field whose prerequisite is missing (`tp_dst=80`
//! without `tcp`: ovs-ofctl sends it and the switch drops the field, widening the flow),
//! values that do not fit the field (`dl_vlan=5000`, `dl_vlan_pcp=9`, `nw_tos=5`,
//! `tp_dst=70000`), ECN matches (the OF1.1 match has no ECN bits), and repeated or
//! contradictory fields (`tcp,udp`). Everything OF1.1 cannot express (IPv6 fields,
//! port ranges, registers, arbitrary `vlan_tci` masks, ...) is refused with
//! [`TextError::NotInOpenFlow11`], as ovs-ofctl refuses it with "none of the usable
//! flow formats".
//!
//! Those are the business of [`parse_nx_flow`] (`nx`): the Nicira/OXM match fields
//! (`ct_state`, `ct_zone`, `ct_mark`, registers, metadata, IPv6, ICMPv6 and ND,
//! `tcp_flags`, masked ports, ARP hardware addresses) and the `ct`/`nat`/`resubmit`/`load`
//! actions, encoded as an OF1.1 FLOW_MOD with an `OFPMT_OXM` match (which Open vSwitch
//! accepts on an OF1.1 channel) or as an `NXT_FLOW_MOD`; [`format_nx_flow`] prints them.
//! The OF1.1 printers below switch to it for an OXM match beyond OF1.1's reach.
//!
//! The printers ([`format_flow_stats`], [`format_flow_mod`], [`format_match`],
//! [`format_instructions`]) produce the line `ovs-ofctl -O OpenFlow11 dump-flows`
//! prints for the same flow: the match is read the way OVS reads an OF1.1 match (fields
//! whose prerequisites are absent are ignored), then printed in OVS's field order with
//! its shorthands (`tcp`, `arp`, ...), and the actions in OVS's names (`NORMAL`,
//! `CONTROLLER:65535`, `set_vlan_vid:10`, `write_actions(...)`, ...).
//!
//! Layout, one concern per file:
//!
//! - `error`: [`TextError`] (why a flow was refused) and the helpers building it.
//! - `lex`: OVS's key/value tokenizer, C-style numbers, hex, ovs-ofctl's lenient
//!   MAC/IPv4 forms, port/table/group names.
//! - `matching`: the match fields ovs-ofctl knows, and the match built from them.
//! - `actions`: actions and instructions: parsing, the checks against the match,
//!   encoding to OF1.1 (and the Nicira extension actions).
//! - `nx`: the Nicira extensions, parsed and printed ([`parse_nx_flow`], [`format_nx_flow`]).
//! - `parse`: [`parse_flow`], the flow_mod keywords tying match and actions together.
//! - `print`: the `format_*` printers, as `dump-flows` prints.
//!
//! This file holds the public API and the protocol constants the parser and the
//! printer share.

mod actions;
mod error;
mod lex;
mod matching;
mod nx;
mod parse;
mod print;

pub use error::TextError;
pub use nx::{format_nx_actions, format_nx_flow, format_nxm_match, parse_nx_flow, NxFlow};
pub use parse::parse_flow;
pub use print::{format_flow_mod, format_flow_stats, format_instructions, format_match};

// ---------------------------------------------------------------------------------
// Constants shared by the parser and the printer

const ETH_TYPE_IP: u16 = 0x0800;
const ETH_TYPE_ARP: u16 = 0x0806;
const ETH_TYPE_RARP: u16 = 0x8035;
const ETH_TYPE_IPV6: u16 = 0x86dd;
const ETH_TYPE_MPLS: u16 = 0x8847;
const ETH_TYPE_MPLS_MCAST: u16 = 0x8848;
const IPPROTO_ICMP: u8 = 1;
const IPPROTO_TCP: u8 = 6;
const IPPROTO_UDP: u8 = 17;
const IPPROTO_SCTP: u8 = 132;

const VLAN_CFI: u16 = 0x1000;
const VLAN_VID_MASK: u16 = 0x0fff;
const VLAN_PCP_MASK: u16 = 0xe000;

/// The Nicira experimenter id.
const NX_VENDOR: u32 = 0x0000_2320;
const NXAST_RESUBMIT: u16 = 1;
const NXAST_POP_QUEUE: u16 = 5;
const NXAST_REG_LOAD: u16 = 7;
const NXAST_NOTE: u16 = 8;
const NXAST_RESUBMIT_TABLE: u16 = 14;
const NXAST_CONTROLLER: u16 = 20;
const NXAST_DEC_TTL_CNT_IDS: u16 = 21;
const NXAST_CONTROLLER2: u16 = 37;

/// `OFPR_ACTION`, the default packet-in reason of a controller action.
const REASON_ACTION: u8 = 1;
/// Packet-in reasons as ovs-ofctl names them (`enum ofp_packet_in_reason`).
const REASONS: [&str; 6] = ["no_match", "action", "invalid_ttl", "action_set", "group", "packet_out"];
/// "No meter" in NXAST_CONTROLLER2.
const NO_METER: u32 = u32::MAX;
