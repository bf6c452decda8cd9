//! OpenFlow 1.1 codec (OpenFlow Switch Specification 1.1.0, wire version 0x02).
//!
//! Sans-I/O: bytes in, [`Message`] values out, and back. Nothing here touches a
//! socket or a clock. One message family per file, each with `decode`/`encode`;
//! [`message`] only dispatches. Wire enums are open newtypes so unknown values
//! round-trip, and every decode error carries the OpenFlow (type, code) a switch
//! would answer with.
//!
//! Open vSwitch's Nicira extensions live beside it: [`nxm`] (NXM/OXM match TLVs, the
//! `OFPMT_OXM` match OVS accepts on OF1.1), [`nx_action`] (ct, nat, resubmit, reg_load,
//! seen through `Action::Experimenter`) and [`nx_flow_mod`] (`NXT_FLOW_MOD`).
//! [`of13`] translates between this OpenFlow 1.1 and OpenFlow 1.3 on the wire, for a
//! session that negotiated 1.3.

#![forbid(unsafe_code)]

pub mod action;
pub mod codec;
pub mod error_msg;
pub mod flow;
pub mod flow_match;
pub mod framer;
pub mod group;
pub mod header;
pub mod instruction;
pub mod message;
pub mod nx_action;
pub mod nx_flow_mod;
pub mod nxm;
pub mod of13;
pub mod packet;
pub mod port;
pub mod queue;
pub mod stats;
pub mod switch;
pub mod symmetric;
pub mod tagged;
pub mod text;
pub mod types;

/// Maps an OpenFlow 1.0 16-bit port (as NXM carries it) to OF1.1's 32-bit space:
/// reserved ports 0xff00.. become 0xffffff00.. (OVS's `OFPP11_OFFSET`).
pub(crate) fn port_from_of10(p: u16) -> u32 {
    if p >= 0xff00 {
        u32::from(p) + 0xffff_0000
    } else {
        u32::from(p)
    }
}

pub use action::Action;
pub use codec::DecodeError;
pub use flow::{FlowMod, FlowModCommand, FlowModFlags};
pub use flow_match::Match;
pub use framer::Framer;
pub use header::{MsgType, OFP11_VERSION};
pub use instruction::Instruction;
pub use message::{EncodeError, Message};
pub use types::{MacAddr, Masked, PortNo};
