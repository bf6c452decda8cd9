//! A FLOW_MOD-specialised path through the tape, both ways.
//!
//! The generic path goes through serde: every field of a FLOW_MOD costs a
//! visitor, a dynamic dispatch on the value, a field-name match, and the message
//! level allocates its tag. FLOW_MOD is what XO sends in bulk, so it gets a
//! direct path:
//!
//! * [`flow_mod_to_tape`] writes exactly the bytes `to_tape(&Message::FlowMod(..))`
//!   writes (same atoms, same shapes, same order), without serde;
//! * [`flow_mod_from_tape`] reads a `flow_mod` object from a JS tape into a
//!   [`FlowMod`] directly. It is strict: any key, type or value it is not sure
//!   about (an unknown key, a string where a number belongs, `'0x10'` for a port,
//!   `metadata`, an action it does not model...) makes it give up, and the caller
//!   reads the tape again through serde, which then produces the value or the
//!   exact error it always did. So it only ever takes inputs the serde path
//!   accepts, and must produce the same value for them.
//!
//! Both properties are checked by differential tests (`tests` below): tapes equal
//! byte for byte, values equal, on the golden vectors and on random messages.

use std::net::Ipv4Addr;

use super::atoms::{shape_hash, Local, SHAPE_SEED};
use super::op;
use super::ser::inline_str;
use crate::net::addr::{parse_ipv4, parse_mac, parse_masked_ipv4, parse_masked_mac};
use crate::openflow::action::Action;
use crate::openflow::flow::{FlowMod, FlowModCommand, FlowModFlags};
use crate::openflow::flow_match::Match;
use crate::openflow::instruction::Instruction;
use crate::openflow::types::{prefix_len, Bytes, GroupNo, MacAddr, Masked, MaskedU64, PortNo};
use crate::openflow::Message;

/// Every key the fast path writes or reads, by index (`K_*`).
#[rustfmt::skip]
const KEYS: &[&str] = &[
    "type", "xid", "cookie", "cookieMask", "tableId", "command", "idleTimeout", "hardTimeout", "priority", "bufferId",
    "outPort", "outGroup", "flags", "match", "instructions", // 0..=14: flow_mod
    "inPort", "dlSrc", "dlDst", "dlVlan", "dlVlanPcp", "dlType", "nwTos", "nwProto", "nwSrc", "nwDst", "tpSrc", "tpDst",
    "mplsLabel", "mplsTc", "metadata", "oxm", // 15..=30: match
    "value", "mask", // 31, 32: MaskedU64
    "metadataMask", "actions", "experimenter", "data", "instructionType", // 33..=37: instructions
    "port", "maxLen", "vlanVid", "vlanPcp", "dlAddr", "nwAddr", "nwEcn", "tpPort", "mplsTtl", "ethertype", "queueId",
    "groupId", "nwTtl", "actionType", // 38..=51: actions
];

const K_TYPE: usize = 0;
const K_MATCH0: usize = 15;
const K_VALUE: usize = 31;
const K_MASK: usize = 32;
const K_METADATA_MASK: usize = 33;
const K_ACTIONS: usize = 34;
const K_EXPERIMENTER: usize = 35;
const K_DATA: usize = 36;
const K_INSTRUCTION_TYPE: usize = 37;
const K_PORT: usize = 38;
const K_MAX_LEN: usize = 39;
const K_VLAN_VID: usize = 40;
const K_VLAN_PCP: usize = 41;
const K_DL_ADDR: usize = 42;
const K_NW_ADDR: usize = 43;
const K_NW_ECN: usize = 44;
const K_TP_PORT: usize = 45;
const K_MPLS_TTL: usize = 46;
const K_ETHERTYPE: usize = 47;
const K_QUEUE_ID: usize = 48;
const K_GROUP_ID: usize = 49;
const K_NW_TTL: usize = 50;
const K_ACTION_TYPE: usize = 51;
// Keys shared with the match / flow_mod lists.
const K_TABLE_ID: usize = 4;
const K_NW_TOS: usize = 21;
const K_MPLS_LABEL: usize = 27;
const K_MPLS_TC: usize = 28;
const K_METADATA: usize = 29;

const UNSET: u16 = u16::MAX;
const MATCH_SLOTS: usize = 64;

/// Ids this thread's fast path has resolved: key atoms, and shapes.
pub struct Cache {
    keys: [u16; KEYS.len()],
    /// Reverse map for reading: atom id -> key index + 1 (0: not a fast-path key).
    by_atom: Vec<u8>,
    flow_mod_shape: u16,
    /// `(presence mask + 1, shape)` of match shapes.
    match_shapes: [(u32, u16); MATCH_SLOTS],
    masked_u64_shape: u16,
    /// Instruction / action shapes by a small tag (variant and key list).
    variant_shapes: [u16; 64],
    /// The FLOW_MOD the reader fills, reused (and its instruction list) from
    /// one message to the next.
    scratch: Option<Box<Message>>,
}

impl Cache {
    fn new() -> Box<Cache> {
        Box::new(Cache {
            keys: [UNSET; KEYS.len()],
            by_atom: Vec::new(),
            flow_mod_shape: UNSET,
            match_shapes: [(0, 0); MATCH_SLOTS],
            masked_u64_shape: UNSET,
            variant_shapes: [UNSET; 64],
            scratch: None,
        })
    }
}

/// The fast path's view of the thread's tables: its cache is taken out of the
/// `Local` for the call and put back by [`Ctx::finish`].
struct Ctx<'l> {
    l: &'l mut Local,
    cache: Box<Cache>,
}

impl<'l> Ctx<'l> {
    fn new(l: &'l mut Local) -> Self {
        let cache = l.fast.take().unwrap_or_else(Cache::new);
        Ctx { l, cache }
    }

    fn finish(self) {
        self.l.fast = Some(self.cache);
    }

    #[inline]
    fn cache(&mut self) -> &mut Cache {
        &mut self.cache
    }

    #[inline]
    fn key(&mut self, k: usize) -> Option<u16> {
        let id = self.cache.keys[k];
        if id != UNSET {
            return Some(id);
        }
        let id = self.l.key_id(KEYS[k])?;
        self.cache.keys[k] = id;
        Some(id)
    }

    /// The shape of the key list `keys` (indices into [`KEYS`]).
    fn shape_of(&mut self, keys: &[usize]) -> Option<u16> {
        let mut ids = [0u16; 20];
        let mut hash = SHAPE_SEED;
        for (i, k) in keys.iter().enumerate() {
            let id = self.key(*k)?;
            *ids.get_mut(i)? = id;
            hash = shape_hash(hash, id);
        }
        self.l.shape_id(ids.get(..keys.len())?, hash)
    }

    /// A fixed shape, cached under `slot` of `variant_shapes`.
    fn variant_shape(&mut self, slot: usize, keys: &[usize]) -> Option<u16> {
        let s = *self.cache().variant_shapes.get(slot)?;
        if s != UNSET {
            return Some(s);
        }
        let s = self.shape_of(keys)?;
        *self.cache().variant_shapes.get_mut(slot)? = s;
        Some(s)
    }
}

// ---- Rust to JS ----

struct W<'a, 'l> {
    out: &'a mut Vec<u8>,
    c: Ctx<'l>,
}

impl W<'_, '_> {
    #[inline]
    fn u32(&mut self, v: u32) {
        let b = v.to_le_bytes();
        self.out.extend_from_slice(&[op::U32, b[0], b[1], b[2], b[3]]);
    }
    #[inline]
    fn u64(&mut self, v: u64) {
        match v {
            0 => self.out.push(op::BIG_ZERO),
            u64::MAX => self.out.push(op::BIG_ONES),
            _ => {
                self.out.push(op::BIGINT);
                self.out.extend_from_slice(&v.to_le_bytes());
            }
        }
    }
    /// A name, as `TapeSer::str` writes it: an atom, or inline.
    #[inline]
    fn name(&mut self, s: &str) -> Option<()> {
        match self.c.l.str_id(s) {
            Some(id) => {
                let b = id.to_le_bytes();
                self.out.extend_from_slice(&[op::ATOM, b[0], b[1]]);
            }
            None => inline_str(self.out, s).ok()?,
        }
        Some(())
    }
    #[inline]
    fn shape(&mut self, id: u16) {
        let b = id.to_le_bytes();
        self.out.extend_from_slice(&[op::SHAPE, b[0], b[1]]);
    }
    fn array(&mut self, n: usize) -> Option<()> {
        let n = u32::try_from(n).ok()?.to_le_bytes();
        self.out.extend_from_slice(&[op::ARRAY, n[0], n[1], n[2], n[3]]);
        Some(())
    }
    fn bytes(&mut self, b: &[u8]) -> Option<()> {
        let n = u32::try_from(b.len()).ok()?.to_le_bytes();
        self.out.extend_from_slice(&[op::BYTES, n[0], n[1], n[2], n[3]]);
        self.out.extend_from_slice(b);
        Some(())
    }
    fn port(&mut self, p: PortNo) -> Option<()> {
        match p.name() {
            Some(n) => self.name(n),
            None => {
                self.u32(p.0);
                Some(())
            }
        }
    }
    fn group(&mut self, g: GroupNo) -> Option<()> {
        match g.name() {
            Some(n) => self.name(n),
            None => {
                self.u32(g.0);
                Some(())
            }
        }
    }

    /// An address as data: `ASCII len text`, formatted like `Display`.
    fn text(&mut self, f: impl FnOnce(&mut Vec<u8>)) {
        self.out.extend_from_slice(&[op::ASCII, 0]);
        let at = self.out.len();
        f(self.out);
        let n = self.out.len() - at;
        if let Some(len) = self.out.get_mut(at - 1) {
            *len = n as u8;
        }
    }

    fn flow_mod(&mut self, fm: &FlowMod) -> Option<()> {
        let shape = match self.c.cache().flow_mod_shape {
            UNSET => {
                let s = self.c.shape_of(&(0..=14).collect::<Vec<_>>())?;
                self.c.cache().flow_mod_shape = s;
                s
            }
            s => s,
        };
        self.shape(shape);
        self.name("flow_mod")?;
        self.u32(fm.xid);
        self.u64(fm.cookie);
        self.u64(fm.cookie_mask);
        self.u32(fm.table_id.into());
        match fm.command.name() {
            Some(n) => self.name(n)?,
            None => self.u32(fm.command.0.into()),
        }
        self.u32(fm.idle_timeout.into());
        self.u32(fm.hard_timeout.into());
        self.u32(fm.priority.into());
        self.u32(fm.buffer_id);
        self.port(fm.out_port)?;
        self.group(fm.out_group)?;
        let (names, rest) = fm.flags.names();
        self.array(names.len() + usize::from(rest != 0))?;
        for n in names {
            self.name(n)?;
        }
        if rest != 0 {
            self.u64(rest.into());
        }
        self.flow_match(&fm.flow_match)?;
        self.array(fm.instructions.len())?;
        for i in &fm.instructions {
            self.instruction(i)?;
        }
        Some(())
    }

    fn flow_match(&mut self, m: &Match) -> Option<()> {
        let present = [
            m.in_port.is_some(),
            m.dl_src.is_some(),
            m.dl_dst.is_some(),
            m.dl_vlan.is_some(),
            m.dl_vlan_pcp.is_some(),
            m.dl_type.is_some(),
            m.nw_tos.is_some(),
            m.nw_proto.is_some(),
            m.nw_src.is_some(),
            m.nw_dst.is_some(),
            m.tp_src.is_some(),
            m.tp_dst.is_some(),
            m.mpls_label.is_some(),
            m.mpls_tc.is_some(),
            m.metadata.is_some(),
            m.oxm.is_some(),
        ];
        let mask = present.iter().enumerate().fold(0u32, |a, (i, p)| a | (u32::from(*p) << i));
        let slot = (mask as usize).wrapping_mul(0x9e37) >> 4 & (MATCH_SLOTS - 1);
        let (m1, s) = self.c.cache().match_shapes[slot];
        let shape = if m1 == mask + 1 {
            s
        } else {
            let keys: Vec<usize> = (0..16).filter(|i| present[*i]).map(|i| K_MATCH0 + i).collect();
            let s = self.c.shape_of(&keys)?;
            self.c.cache().match_shapes[slot] = (mask + 1, s);
            s
        };
        self.shape(shape);
        if let Some(p) = m.in_port {
            self.port(p)?;
        }
        for mac in [&m.dl_src, &m.dl_dst].into_iter().flatten() {
            self.text(|o| {
                put_mac(o, &mac.value);
                if let Some(mask) = &mac.mask {
                    o.push(b'/');
                    put_mac(o, mask);
                }
            });
        }
        if let Some(v) = m.dl_vlan {
            self.u32(v.into());
        }
        if let Some(v) = m.dl_vlan_pcp {
            self.u32(v.into());
        }
        if let Some(v) = m.dl_type {
            self.u32(v.into());
        }
        if let Some(v) = m.nw_tos {
            self.u32(v.into());
        }
        if let Some(v) = m.nw_proto {
            self.u32(v.into());
        }
        for ip in [&m.nw_src, &m.nw_dst].into_iter().flatten() {
            self.text(|o| put_masked_ip(o, ip));
        }
        if let Some(v) = m.tp_src {
            self.u32(v.into());
        }
        if let Some(v) = m.tp_dst {
            self.u32(v.into());
        }
        if let Some(v) = m.mpls_label {
            self.u32(v);
        }
        if let Some(v) = m.mpls_tc {
            self.u32(v.into());
        }
        if let Some(md) = &m.metadata {
            self.masked_u64(md)?;
        }
        if let Some(oxm) = &m.oxm {
            self.bytes(&oxm.0)?;
        }
        Some(())
    }

    fn masked_u64(&mut self, v: &MaskedU64) -> Option<()> {
        match v.mask {
            None => self.u64(v.value),
            Some(mask) => {
                let s = match self.c.cache().masked_u64_shape {
                    UNSET => {
                        let s = self.c.shape_of(&[K_VALUE, K_MASK])?;
                        self.c.cache().masked_u64_shape = s;
                        s
                    }
                    s => s,
                };
                self.shape(s);
                self.u64(v.value);
                self.u64(mask);
            }
        }
        Some(())
    }

    fn instruction(&mut self, i: &Instruction) -> Option<()> {
        let (slot, keys, tag): (usize, &[usize], &str) = match i {
            Instruction::GotoTable { .. } => (0, &[K_TYPE, K_TABLE_ID], "goto_table"),
            Instruction::WriteMetadata { .. } => (1, &[K_TYPE, K_METADATA, K_METADATA_MASK], "write_metadata"),
            Instruction::WriteActions { .. } => (2, &[K_TYPE, K_ACTIONS], "write_actions"),
            Instruction::ApplyActions { .. } => (2, &[K_TYPE, K_ACTIONS], "apply_actions"),
            Instruction::ClearActions => (3, &[K_TYPE], "clear_actions"),
            Instruction::Experimenter { .. } => (4, &[K_TYPE, K_EXPERIMENTER, K_DATA], "experimenter"),
            Instruction::Unknown { .. } => (5, &[K_TYPE, K_INSTRUCTION_TYPE, K_DATA], "unknown"),
        };
        let shape = self.c.variant_shape(slot, keys)?;
        self.shape(shape);
        self.name(tag)?;
        match i {
            Instruction::GotoTable { table_id } => self.u32((*table_id).into()),
            Instruction::WriteMetadata { metadata, metadata_mask } => {
                self.u64(*metadata);
                self.u64(*metadata_mask);
            }
            Instruction::WriteActions { actions } | Instruction::ApplyActions { actions } => {
                self.array(actions.len())?;
                for a in actions {
                    self.action(a)?;
                }
            }
            Instruction::ClearActions => {}
            Instruction::Experimenter { experimenter, data } => {
                self.u32(*experimenter);
                self.bytes(&data.0)?;
            }
            Instruction::Unknown { instruction_type, data } => {
                self.u32((*instruction_type).into());
                self.bytes(&data.0)?;
            }
        }
        Some(())
    }

    fn action(&mut self, a: &Action) -> Option<()> {
        use Action as A;
        // (shape slot, keys after `type`, tag)
        let (slot, keys, tag): (usize, &[usize], &str) = match a {
            A::Output { .. } => (8, &[K_TYPE, K_PORT, K_MAX_LEN], "output"),
            A::SetVlanVid { .. } => (9, &[K_TYPE, K_VLAN_VID], "set_vlan_vid"),
            A::SetVlanPcp { .. } => (10, &[K_TYPE, K_VLAN_PCP], "set_vlan_pcp"),
            A::SetDlSrc { .. } => (11, &[K_TYPE, K_DL_ADDR], "set_dl_src"),
            A::SetDlDst { .. } => (11, &[K_TYPE, K_DL_ADDR], "set_dl_dst"),
            A::SetNwSrc { .. } => (12, &[K_TYPE, K_NW_ADDR], "set_nw_src"),
            A::SetNwDst { .. } => (12, &[K_TYPE, K_NW_ADDR], "set_nw_dst"),
            A::SetNwTos { .. } => (13, &[K_TYPE, K_NW_TOS], "set_nw_tos"),
            A::SetNwEcn { .. } => (14, &[K_TYPE, K_NW_ECN], "set_nw_ecn"),
            A::SetTpSrc { .. } => (15, &[K_TYPE, K_TP_PORT], "set_tp_src"),
            A::SetTpDst { .. } => (15, &[K_TYPE, K_TP_PORT], "set_tp_dst"),
            A::CopyTtlOut => (16, &[K_TYPE], "copy_ttl_out"),
            A::CopyTtlIn => (16, &[K_TYPE], "copy_ttl_in"),
            A::SetMplsLabel { .. } => (17, &[K_TYPE, K_MPLS_LABEL], "set_mpls_label"),
            A::SetMplsTc { .. } => (18, &[K_TYPE, K_MPLS_TC], "set_mpls_tc"),
            A::SetMplsTtl { .. } => (19, &[K_TYPE, K_MPLS_TTL], "set_mpls_ttl"),
            A::DecMplsTtl => (16, &[K_TYPE], "dec_mpls_ttl"),
            A::PushVlan { .. } => (20, &[K_TYPE, K_ETHERTYPE], "push_vlan"),
            A::PopVlan => (16, &[K_TYPE], "pop_vlan"),
            A::PushMpls { .. } => (20, &[K_TYPE, K_ETHERTYPE], "push_mpls"),
            A::PopMpls { .. } => (20, &[K_TYPE, K_ETHERTYPE], "pop_mpls"),
            A::SetQueue { .. } => (21, &[K_TYPE, K_QUEUE_ID], "set_queue"),
            A::Group { .. } => (22, &[K_TYPE, K_GROUP_ID], "group"),
            A::SetNwTtl { .. } => (23, &[K_TYPE, K_NW_TTL], "set_nw_ttl"),
            A::DecNwTtl => (16, &[K_TYPE], "dec_nw_ttl"),
            A::Experimenter { .. } => (4, &[K_TYPE, K_EXPERIMENTER, K_DATA], "experimenter"),
            A::Unknown { .. } => (24, &[K_TYPE, K_ACTION_TYPE, K_DATA], "unknown"),
        };
        let shape = self.c.variant_shape(slot, keys)?;
        self.shape(shape);
        self.name(tag)?;
        match a {
            A::Output { port, max_len } => {
                self.port(*port)?;
                self.u32((*max_len).into());
            }
            A::SetVlanVid { vlan_vid: v }
            | A::SetTpSrc { tp_port: v }
            | A::SetTpDst { tp_port: v }
            | A::PushVlan { ethertype: v }
            | A::PushMpls { ethertype: v }
            | A::PopMpls { ethertype: v } => self.u32((*v).into()),
            A::SetVlanPcp { vlan_pcp: v }
            | A::SetNwTos { nw_tos: v }
            | A::SetNwEcn { nw_ecn: v }
            | A::SetMplsTc { mpls_tc: v }
            | A::SetMplsTtl { mpls_ttl: v }
            | A::SetNwTtl { nw_ttl: v } => self.u32((*v).into()),
            A::SetMplsLabel { mpls_label: v } | A::SetQueue { queue_id: v } | A::Group { group_id: v } => self.u32(*v),
            A::SetDlSrc { dl_addr } | A::SetDlDst { dl_addr } => self.text(|o| put_mac(o, dl_addr)),
            A::SetNwSrc { nw_addr } | A::SetNwDst { nw_addr } => {
                // std's `Serialize for Ipv4Addr` writes the text with `serialize_str`:
                // a string value, which the tape interns only if it starts with a
                // letter (an address never does), so it goes inline.
                self.text(|o| put_ip(o, *nw_addr));
            }
            A::CopyTtlOut | A::CopyTtlIn | A::DecMplsTtl | A::PopVlan | A::DecNwTtl => {}
            A::Experimenter { experimenter, data } => {
                self.u32(*experimenter);
                self.bytes(&data.0)?;
            }
            A::Unknown { action_type, data } => {
                self.u32((*action_type).into());
                self.bytes(&data.0)?;
            }
        }
        Some(())
    }
}

const HEX: &[u8; 16] = b"0123456789abcdef";

fn put_mac(o: &mut Vec<u8>, m: &MacAddr) {
    let [a, b, c, d, e, f] = m.0;
    o.extend_from_slice(&[
        HEX[usize::from(a >> 4)],
        HEX[usize::from(a & 15)],
        b':',
        HEX[usize::from(b >> 4)],
        HEX[usize::from(b & 15)],
        b':',
        HEX[usize::from(c >> 4)],
        HEX[usize::from(c & 15)],
        b':',
        HEX[usize::from(d >> 4)],
        HEX[usize::from(d & 15)],
        b':',
        HEX[usize::from(e >> 4)],
        HEX[usize::from(e & 15)],
        b':',
        HEX[usize::from(f >> 4)],
        HEX[usize::from(f & 15)],
    ]);
}

fn put_dec(o: &mut Vec<u8>, v: u32) {
    if v >= 100 {
        o.push(b'0' + (v / 100 % 10) as u8);
    }
    if v >= 10 {
        o.push(b'0' + (v / 10 % 10) as u8);
    }
    o.push(b'0' + (v % 10) as u8);
}

fn put_ip(o: &mut Vec<u8>, a: Ipv4Addr) {
    let [w, x, y, z] = a.octets();
    put_dec(o, w.into());
    o.push(b'.');
    put_dec(o, x.into());
    o.push(b'.');
    put_dec(o, y.into());
    o.push(b'.');
    put_dec(o, z.into());
}

fn put_masked_ip(o: &mut Vec<u8>, m: &Masked<Ipv4Addr>) {
    put_ip(o, m.value);
    if let Some(mask) = m.mask {
        match prefix_len(mask) {
            Some(32) => {}
            Some(p) => {
                o.push(b'/');
                put_dec(o, p);
            }
            None => {
                o.push(b'/');
                put_ip(o, mask);
            }
        }
    }
}

/// Appends the tape of `Message::FlowMod(fm)` to `out`, exactly as [`super::to_tape`]
/// would. `None` (and `out` as it was) when the tables are full: use `to_tape`.
pub fn flow_mod_to_tape(fm: &FlowMod, out: &mut Vec<u8>, l: &mut Local) -> Option<()> {
    let start = out.len();
    let mut w = W { out, c: Ctx::new(l) };
    let r = w.flow_mod(fm);
    w.c.finish();
    if r.is_none() {
        out.truncate(start);
    }
    r
}

// ---- JS to Rust ----

/// `by_atom` entries: not looked up yet / not a key of the fast path.
const BY_ATOM_UNKNOWN: u8 = 0xff;
const BY_ATOM_NONE: u8 = 0xfe;

/// A tape value as the fast path sees it.
enum Val<'t> {
    U32(u32),
    /// 64-bit (BIGINT, BIG_ZERO, BIG_ONES).
    Big(u64),
    /// Not UTF-8 checked: compared as bytes, parsed as ASCII, or checked
    /// where a `&str` is needed (serde would refuse a non-UTF-8 string, and so
    /// does every use here).
    Str(&'t [u8]),
    Null,
    Array(u32),
    Object(u16),
    Bytes(&'t [u8]),
}

struct R<'t, 'l> {
    t: &'t [u8],
    pos: usize,
    c: Ctx<'l>,
}

impl<'t> R<'t, '_> {
    #[inline]
    fn take(&mut self, n: usize) -> Option<&'t [u8]> {
        let s = self.t.get(self.pos..self.pos.checked_add(n)?)?;
        self.pos += n;
        Some(s)
    }
    #[inline]
    fn u8(&mut self) -> Option<u8> {
        let b = *self.t.get(self.pos)?;
        self.pos += 1;
        Some(b)
    }
    #[inline]
    fn u16(&mut self) -> Option<u16> {
        let b = self.take(2)?;
        Some(u16::from_le_bytes([b[0], b[1]]))
    }
    #[inline]
    fn u32_le(&mut self) -> Option<u32> {
        let b = self.take(4)?;
        Some(u32::from_le_bytes([b[0], b[1], b[2], b[3]]))
    }

    /// The next key, as an index into [`KEYS`]; `None` for anything else
    /// (inline keys included: the serde path learns those).
    #[inline]
    fn key(&mut self) -> Option<usize> {
        let id = self.u16()?;
        if id == super::INLINE_KEY {
            return None;
        }
        let cache = self.c.cache();
        match cache.by_atom.get(usize::from(id)).copied().unwrap_or(BY_ATOM_UNKNOWN) {
            BY_ATOM_NONE => None,
            BY_ATOM_UNKNOWN => self.resolve_key(id),
            k => Some(usize::from(k)),
        }
    }

    #[cold]
    fn resolve_key(&mut self, id: u16) -> Option<usize> {
        let name = self.c.l.atom(id)?;
        let k = KEYS.iter().position(|k| *k == name);
        let cache = self.c.cache();
        let i = usize::from(id);
        if cache.by_atom.len() <= i {
            cache.by_atom.resize(i + 1, BY_ATOM_UNKNOWN);
        }
        cache.by_atom[i] = k.map_or(BY_ATOM_NONE, |k| k as u8);
        k
    }

    #[inline(always)]
    fn val(&mut self) -> Option<Val<'t>> {
        Some(match self.u8()? {
            op::U32 => Val::U32(self.u32_le()?),
            op::BIG_ZERO => Val::Big(0),
            op::BIG_ONES => Val::Big(u64::MAX),
            op::BIGINT => {
                let b = self.take(8)?;
                Val::Big(u64::from_le_bytes(b.try_into().ok()?))
            }
            op::STR => {
                let n = usize::from(self.u16()?);
                Val::Str(self.take(n)?)
            }
            op::ASCII => {
                let n = usize::from(self.u8()?);
                Val::Str(self.take(n)?)
            }
            op::NAME => {
                let n = usize::from(self.u8()?);
                let s = self.take(n)?;
                super::atoms::learn_name(s);
                Val::Str(s)
            }
            op::ATOM => {
                let id = self.u16()?;
                Val::Str(self.c.l.atom(id)?.as_bytes())
            }
            op::NULL => Val::Null,
            op::ARRAY => Val::Array(self.u32_le()?),
            op::OBJECT => Val::Object(self.u16()?),
            op::BYTES => {
                let n = self.u32_le()? as usize;
                Val::Bytes(self.take(n)?)
            }
            _ => return None,
        })
    }

    // Each reader accepts exactly the forms for which it knows serde's answer.

    fn u32v(&mut self) -> Option<u32> {
        match self.val()? {
            Val::U32(v) => Some(v),
            _ => None,
        }
    }
    fn u16v(&mut self) -> Option<u16> {
        u16::try_from(self.u32v()?).ok()
    }
    fn u8v(&mut self) -> Option<u8> {
        u8::try_from(self.u32v()?).ok()
    }
    fn u64v(&mut self) -> Option<u64> {
        match self.val()? {
            Val::U32(v) => Some(v.into()),
            Val::Big(v) => Some(v),
            _ => None,
        }
    }
    fn port(&mut self) -> Option<PortNo> {
        match self.val()? {
            Val::U32(v) => Some(PortNo(v)),
            Val::Str(s) => PortNo::from_name(utf8(s)?),
            _ => None,
        }
    }
    fn group(&mut self) -> Option<GroupNo> {
        match self.val()? {
            Val::U32(v) => Some(GroupNo(v)),
            Val::Str(s) => GroupNo::from_name(utf8(s)?),
            _ => None,
        }
    }
    fn str(&mut self) -> Option<&'t [u8]> {
        match self.val()? {
            Val::Str(s) => Some(s),
            _ => None,
        }
    }
    /// `null` is `None` for an `Option` field; `f` reads a present value.
    fn opt<T>(&mut self, f: impl FnOnce(&mut Self) -> Option<T>) -> Option<Option<T>> {
        if self.t.get(self.pos) == Some(&op::NULL) {
            self.pos += 1;
            return Some(None);
        }
        f(self).map(Some)
    }
    /// Marks key `k` seen; `None` on a duplicate (serde refuses those).
    fn once(seen: &mut u64, k: usize) -> Option<()> {
        let bit = 1u64 << k;
        if *seen & bit != 0 {
            return None;
        }
        *seen |= bit;
        Some(())
    }
    /// The `type` that starts a tagged object.
    fn tag(&mut self) -> Option<&'t [u8]> {
        if self.key()? != K_TYPE {
            return None;
        }
        self.str()
    }

    fn top(&mut self, fm: &mut FlowMod) -> Option<()> {
        let n = self.object_len()?.checked_sub(1)?;
        if self.tag()? != b"flow_mod" {
            return None;
        }
        self.flow_mod(n, fm)
    }

    /// The rest of a `flow_mod` object whose `type` was read, into `fm` (which
    /// holds the defaults); `n` keys remain.
    fn flow_mod(&mut self, n: u16, fm: &mut FlowMod) -> Option<()> {
        let mut seen = 0u64;
        for _ in 0..n {
            let k = self.key()?;
            Self::once(&mut seen, k)?;
            match k {
                1 => fm.xid = self.u32v()?,
                2 => fm.cookie = self.u64v()?,
                3 => fm.cookie_mask = self.u64v()?,
                4 => fm.table_id = self.u8v()?,
                5 => {
                    fm.command = match self.val()? {
                        Val::U32(v) => FlowModCommand(u8::try_from(v).ok()?),
                        Val::Str(s) => FlowModCommand::from_name(utf8(s)?)?,
                        _ => return None,
                    }
                }
                6 => fm.idle_timeout = self.u16v()?,
                7 => fm.hard_timeout = self.u16v()?,
                8 => fm.priority = self.u16v()?,
                9 => fm.buffer_id = self.u32v()?,
                10 => fm.out_port = self.port()?,
                11 => fm.out_group = self.group()?,
                12 => fm.flags = self.flags()?,
                13 => {
                    let Val::Object(n) = self.val()? else { return None };
                    self.flow_match(n, &mut fm.flow_match)?;
                }
                14 => {
                    let Val::Array(n) = self.val()? else { return None };
                    fm.instructions.clear();
                    for _ in 0..n {
                        let i = self.instruction()?;
                        fm.instructions.push(i);
                    }
                }
                _ => return None,
            }
        }
        Some(())
    }

    fn flags(&mut self) -> Option<FlowModFlags> {
        match self.val()? {
            Val::U32(v) => Some(FlowModFlags(u16::try_from(v).ok()?)),
            Val::Big(v) => Some(FlowModFlags(u16::try_from(v).ok()?)),
            Val::Array(n) => {
                let mut bits = 0u16;
                for _ in 0..n {
                    bits |= match self.val()? {
                        Val::Str(s) => FlowModFlags::bit(utf8(s)?)?,
                        Val::U32(v) => u16::try_from(v).ok()?,
                        Val::Big(v) => u16::try_from(v).ok()?,
                        _ => return None,
                    };
                }
                Some(FlowModFlags(bits))
            }
            _ => None,
        }
    }

    fn flow_match(&mut self, n: u16, m: &mut Match) -> Option<()> {
        let mut seen = 0u64;
        for _ in 0..n {
            let k = self.key()?;
            Self::once(&mut seen, k)?;
            match k.checked_sub(K_MATCH0)? {
                0 => m.in_port = self.opt(|r| r.port())?,
                1 => m.dl_src = self.opt(|r| parse_masked_mac(r.str()?))?,
                2 => m.dl_dst = self.opt(|r| parse_masked_mac(r.str()?))?,
                3 => m.dl_vlan = self.opt(|r| r.u16v())?,
                4 => m.dl_vlan_pcp = self.opt(|r| r.u8v())?,
                5 => m.dl_type = self.opt(|r| r.u16v())?,
                6 => m.nw_tos = self.opt(|r| r.u8v())?,
                7 => m.nw_proto = self.opt(|r| r.u8v())?,
                8 => m.nw_src = self.opt(|r| parse_masked_ipv4(r.str()?))?,
                9 => m.nw_dst = self.opt(|r| parse_masked_ipv4(r.str()?))?,
                10 => m.tp_src = self.opt(|r| r.u16v())?,
                11 => m.tp_dst = self.opt(|r| r.u16v())?,
                12 => m.mpls_label = self.opt(|r| r.u32v())?,
                13 => m.mpls_tc = self.opt(|r| r.u8v())?,
                14 => m.metadata = self.opt(|r| r.masked_u64())?,
                15 => m.oxm = self.opt(|r| r.bytes())?,
                _ => return None,
            }
        }
        Some(())
    }

    /// A Buffer (serde also takes a hex string or an array of bytes: not here).
    fn bytes(&mut self) -> Option<Bytes> {
        match self.val()? {
            Val::Bytes(b) => Some(Bytes(b.to_vec())),
            _ => None,
        }
    }

    /// `MaskedU64`: a number, or `{ value, mask }` (serde's untagged form would
    /// also ignore other keys and take strings: not here).
    fn masked_u64(&mut self) -> Option<MaskedU64> {
        match self.val()? {
            Val::U32(v) => Some(MaskedU64 { value: v.into(), mask: None }),
            Val::Big(v) => Some(MaskedU64 { value: v, mask: None }),
            Val::Object(2) => {
                let (mut value, mut mask) = (0, 0);
                let seen = self.fields(2, |r, k| {
                    match k {
                        K_VALUE => value = r.u64v()?,
                        K_MASK => mask = r.u64v()?,
                        _ => return None,
                    }
                    Some(())
                })?;
                (seen == (1 << K_VALUE) | (1 << K_MASK))
                    .then_some(MaskedU64 { value, mask: (mask != u64::MAX).then_some(mask) })
            }
            _ => None,
        }
    }

    /// `{ experimenter | <id key>, data }` of experimenter and unknown variants:
    /// the id is required, `data` defaults to empty.
    fn id_and_data(&mut self, n: u16, id_key: usize, narrow: bool) -> Option<(u32, Bytes)> {
        let (mut id, mut data) = (None, Bytes::default());
        self.fields(n, |r, k| {
            if k == id_key {
                id = Some(if narrow { r.u16v()?.into() } else { r.u32v()? });
            } else if k == K_DATA {
                data = r.bytes()?;
            } else {
                return None;
            }
            Some(())
        })?;
        Some((id?, data))
    }

    fn object_len(&mut self) -> Option<u16> {
        match self.val()? {
            Val::Object(n) => Some(n),
            _ => None,
        }
    }

    /// `n` keys of which each must be one of `keys` (at most once), read by `f`.
    fn fields(&mut self, n: u16, mut f: impl FnMut(&mut Self, usize) -> Option<()>) -> Option<u64> {
        let mut seen = 0u64;
        for _ in 0..n {
            let k = self.key()?;
            Self::once(&mut seen, k)?;
            f(self, k)?;
        }
        Some(seen)
    }

    fn actions(&mut self) -> Option<Vec<Action>> {
        let Val::Array(n) = self.val()? else { return None };
        let mut list = Vec::with_capacity((n as usize).min(16));
        for _ in 0..n {
            list.push(self.action()?);
        }
        Some(list)
    }

    fn instruction(&mut self) -> Option<Instruction> {
        let n = self.object_len()?.checked_sub(1)?;
        let tag = self.tag()?;
        Some(match tag {
            b"apply_actions" | b"write_actions" => {
                let mut actions = Vec::new();
                self.fields(n, |r, k| {
                    if k != K_ACTIONS {
                        return None;
                    }
                    actions = r.actions()?;
                    Some(())
                })?;
                if tag == b"apply_actions" {
                    Instruction::ApplyActions { actions }
                } else {
                    Instruction::WriteActions { actions }
                }
            }
            b"goto_table" => {
                let mut table_id = 0;
                let seen = self.fields(n, |r, k| {
                    if k != K_TABLE_ID {
                        return None;
                    }
                    table_id = r.u8v()?;
                    Some(())
                })?;
                if seen == 0 {
                    return None; // missing field: serde says so
                }
                Instruction::GotoTable { table_id }
            }
            b"write_metadata" => {
                let (mut metadata, mut metadata_mask) = (0, u64::MAX);
                let seen = self.fields(n, |r, k| {
                    match k {
                        K_METADATA => metadata = r.u64v()?,
                        K_METADATA_MASK => metadata_mask = r.u64v()?,
                        _ => return None,
                    }
                    Some(())
                })?;
                if seen & (1 << K_METADATA) == 0 {
                    return None;
                }
                Instruction::WriteMetadata { metadata, metadata_mask }
            }
            b"clear_actions" if n == 0 => Instruction::ClearActions,
            b"experimenter" => {
                let (experimenter, data) = self.id_and_data(n, K_EXPERIMENTER, false)?;
                Instruction::Experimenter { experimenter, data }
            }
            b"unknown" => {
                let (t, data) = self.id_and_data(n, K_INSTRUCTION_TYPE, true)?;
                Instruction::Unknown { instruction_type: u16::try_from(t).ok()?, data }
            }
            _ => return None,
        })
    }

    fn action(&mut self) -> Option<Action> {
        use Action as A;
        let n = self.object_len()?.checked_sub(1)?;
        let tag = self.tag()?;
        if tag == b"output" {
            let (mut port, mut max_len) = (None, 0);
            self.fields(n, |r, k| {
                match k {
                    K_PORT => port = Some(r.port()?),
                    K_MAX_LEN => max_len = r.u16v()?,
                    _ => return None,
                }
                Some(())
            })?;
            return Some(A::Output { port: port?, max_len });
        }
        // Unit variants: no other key (serde would ignore them; not worth it here).
        let unit = match tag {
            b"copy_ttl_out" => Some(A::CopyTtlOut),
            b"copy_ttl_in" => Some(A::CopyTtlIn),
            b"dec_mpls_ttl" => Some(A::DecMplsTtl),
            b"pop_vlan" => Some(A::PopVlan),
            b"dec_nw_ttl" => Some(A::DecNwTtl),
            _ => None,
        };
        if let Some(a) = unit {
            return (n == 0).then_some(a);
        }
        if tag == b"experimenter" {
            let (experimenter, data) = self.id_and_data(n, K_EXPERIMENTER, false)?;
            return Some(A::Experimenter { experimenter, data });
        }
        if tag == b"unknown" {
            let (t, data) = self.id_and_data(n, K_ACTION_TYPE, true)?;
            return Some(A::Unknown { action_type: u16::try_from(t).ok()?, data });
        }
        // One required field.
        if n != 1 {
            return None;
        }
        let k = self.key()?;
        let want = |key: usize| (k == key).then_some(());
        Some(match tag {
            b"group" => {
                want(K_GROUP_ID)?;
                A::Group { group_id: self.u32v()? }
            }
            b"set_queue" => {
                want(K_QUEUE_ID)?;
                A::SetQueue { queue_id: self.u32v()? }
            }
            b"set_vlan_vid" => {
                want(K_VLAN_VID)?;
                A::SetVlanVid { vlan_vid: self.u16v()? }
            }
            b"set_vlan_pcp" => {
                want(K_VLAN_PCP)?;
                A::SetVlanPcp { vlan_pcp: self.u8v()? }
            }
            b"set_dl_src" | b"set_dl_dst" => {
                want(K_DL_ADDR)?;
                let dl_addr = parse_mac(self.str()?)?;
                if tag == b"set_dl_src" {
                    A::SetDlSrc { dl_addr }
                } else {
                    A::SetDlDst { dl_addr }
                }
            }
            b"set_nw_src" | b"set_nw_dst" => {
                want(K_NW_ADDR)?;
                let nw_addr = parse_ipv4(self.str()?)?;
                if tag == b"set_nw_src" {
                    A::SetNwSrc { nw_addr }
                } else {
                    A::SetNwDst { nw_addr }
                }
            }
            b"set_nw_tos" => {
                want(K_NW_TOS)?;
                A::SetNwTos { nw_tos: self.u8v()? }
            }
            b"set_nw_ecn" => {
                want(K_NW_ECN)?;
                A::SetNwEcn { nw_ecn: self.u8v()? }
            }
            b"set_tp_src" | b"set_tp_dst" => {
                want(K_TP_PORT)?;
                let tp_port = self.u16v()?;
                if tag == b"set_tp_src" {
                    A::SetTpSrc { tp_port }
                } else {
                    A::SetTpDst { tp_port }
                }
            }
            b"set_mpls_label" => {
                want(K_MPLS_LABEL)?;
                A::SetMplsLabel { mpls_label: self.u32v()? }
            }
            b"set_mpls_tc" => {
                want(K_MPLS_TC)?;
                A::SetMplsTc { mpls_tc: self.u8v()? }
            }
            b"set_mpls_ttl" => {
                want(K_MPLS_TTL)?;
                A::SetMplsTtl { mpls_ttl: self.u8v()? }
            }
            b"push_vlan" | b"push_mpls" | b"pop_mpls" => {
                want(K_ETHERTYPE)?;
                let ethertype = self.u16v()?;
                match tag {
                    b"push_vlan" => A::PushVlan { ethertype },
                    b"push_mpls" => A::PushMpls { ethertype },
                    _ => A::PopMpls { ethertype },
                }
            }
            b"set_nw_ttl" => {
                want(K_NW_TTL)?;
                A::SetNwTtl { nw_ttl: self.u8v()? }
            }
            _ => return None,
        })
    }
}

/// Reads a `flow_mod` message from the front of a JS tape, or `None` if the fast
/// path cannot vouch for the result (then read it with serde). On success, also
/// the bytes consumed.
pub fn flow_mod_from_tape(tape: &[u8], l: &mut Local) -> Option<(Message, usize)> {
    with_flow_mod_from_tape(tape, l, |m| m.clone())
}

/// Like [`flow_mod_from_tape`], but lends the message to `f` instead of
/// returning it: the reader fills a message it keeps, so a batch of FLOW_MODs
/// neither moves nor reallocates one per message.
pub fn with_flow_mod_from_tape<T>(tape: &[u8], l: &mut Local, f: impl FnOnce(&Message) -> T) -> Option<(T, usize)> {
    let mut r = R { t: tape, pos: 0, c: Ctx::new(l) };
    let mut m = r.c.cache.scratch.take().unwrap_or_else(|| Box::new(Message::FlowMod(FlowMod::default())));
    let ok = match &mut *m {
        Message::FlowMod(fm) => {
            let mut instructions = std::mem::take(&mut fm.instructions);
            instructions.clear();
            *fm = FlowMod { instructions, ..FlowMod::default() };
            r.top(fm)
        }
        _ => None,
    };
    let pos = r.pos;
    let out = ok.map(|()| (f(&m), pos));
    r.c.cache.scratch = Some(m);
    r.c.finish();
    out
}

/// `&str` of tape bytes, as serde would check them.
#[inline]
fn utf8(b: &[u8]) -> Option<&str> {
    std::str::from_utf8(b).ok()
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;
    use crate::openflow::types::hex_decode;
    use crate::tape::{atoms, to_tape};

    /// xorshift64*: deterministic, no dependency.
    pub(crate) struct Rng(pub u64);

    impl Rng {
        pub(crate) fn next(&mut self) -> u64 {
            self.0 ^= self.0 >> 12;
            self.0 ^= self.0 << 25;
            self.0 ^= self.0 >> 27;
            self.0.wrapping_mul(0x2545_f491_4f6c_dd1d)
        }
        pub(crate) fn below(&mut self, n: u64) -> u64 {
            self.next() % n
        }
        pub(crate) fn chance(&mut self, one_in: u64) -> bool {
            self.below(one_in) == 0
        }
        fn u8(&mut self) -> u8 {
            self.next() as u8
        }
        fn u16(&mut self) -> u16 {
            // Edges often: 0, max, small.
            match self.below(4) {
                0 => 0,
                1 => u16::MAX,
                2 => self.below(10) as u16,
                _ => self.next() as u16,
            }
        }
        fn u32(&mut self) -> u32 {
            match self.below(4) {
                0 => 0,
                1 => u32::MAX,
                2 => self.below(10) as u32,
                _ => self.next() as u32,
            }
        }
        fn u64(&mut self) -> u64 {
            match self.below(4) {
                0 => 0,
                1 => u64::MAX,
                2 => self.below(1 << 40),
                _ => self.next(),
            }
        }
        fn port(&mut self) -> PortNo {
            match self.below(3) {
                0 => PortNo(0xffff_fff8 + self.below(8) as u32),
                1 => PortNo(0xffff_ff00),
                _ => PortNo(self.u32()),
            }
        }
        fn mac(&mut self) -> MacAddr {
            MacAddr(std::array::from_fn(|_| self.u8()))
        }
        fn ip(&mut self) -> Ipv4Addr {
            Ipv4Addr::from(self.u32())
        }
        fn bytes(&mut self) -> Bytes {
            Bytes((0..self.below(20)).map(|_| self.u8()).collect())
        }
        fn action(&mut self) -> Action {
            use Action as A;
            match self.below(27) {
                0 => A::Output { port: self.port(), max_len: self.u16() },
                1 => A::SetVlanVid { vlan_vid: self.u16() },
                2 => A::SetVlanPcp { vlan_pcp: self.u8() },
                3 => A::SetDlSrc { dl_addr: self.mac() },
                4 => A::SetDlDst { dl_addr: self.mac() },
                5 => A::SetNwSrc { nw_addr: self.ip() },
                6 => A::SetNwDst { nw_addr: self.ip() },
                7 => A::SetNwTos { nw_tos: self.u8() },
                8 => A::SetNwEcn { nw_ecn: self.u8() },
                9 => A::SetTpSrc { tp_port: self.u16() },
                10 => A::SetTpDst { tp_port: self.u16() },
                11 => A::CopyTtlOut,
                12 => A::CopyTtlIn,
                13 => A::SetMplsLabel { mpls_label: self.u32() },
                14 => A::SetMplsTc { mpls_tc: self.u8() },
                15 => A::SetMplsTtl { mpls_ttl: self.u8() },
                16 => A::DecMplsTtl,
                17 => A::PushVlan { ethertype: self.u16() },
                18 => A::PopVlan,
                19 => A::PushMpls { ethertype: self.u16() },
                20 => A::PopMpls { ethertype: self.u16() },
                21 => A::SetQueue { queue_id: self.u32() },
                22 => A::Group { group_id: self.u32() },
                23 => A::SetNwTtl { nw_ttl: self.u8() },
                24 => A::DecNwTtl,
                25 => A::Experimenter { experimenter: self.u32(), data: self.bytes() },
                _ => A::Unknown { action_type: 25 + self.below(100) as u16, data: self.bytes() },
            }
        }
        fn actions(&mut self) -> Vec<Action> {
            (0..self.below(4)).map(|_| self.action()).collect()
        }
        fn instruction(&mut self) -> Instruction {
            use Instruction as I;
            match self.below(7) {
                0 => I::GotoTable { table_id: self.u8() },
                1 => I::WriteMetadata { metadata: self.u64(), metadata_mask: self.u64() },
                2 => I::WriteActions { actions: self.actions() },
                3 | 4 => I::ApplyActions { actions: self.actions() },
                5 => I::ClearActions,
                _ => I::Experimenter { experimenter: self.u32(), data: self.bytes() },
            }
        }
        fn masked_mac(&mut self) -> Masked<MacAddr> {
            Masked { value: self.mac(), mask: self.chance(3).then(|| self.mac()) }
        }
        fn masked_ip(&mut self) -> Masked<Ipv4Addr> {
            let mask = match self.below(4) {
                0 => Some(Ipv4Addr::from(u32::MAX.checked_shl(self.below(33) as u32).unwrap_or(0))),
                1 => Some(self.ip()),
                _ => None,
            };
            Masked { value: self.ip(), mask }
        }
        pub(crate) fn flow_match(&mut self) -> Match {
            let p = |r: &mut Rng| r.chance(2);
            Match {
                in_port: p(self).then(|| self.port()),
                dl_src: p(self).then(|| self.masked_mac()),
                dl_dst: p(self).then(|| self.masked_mac()),
                dl_vlan: p(self).then(|| self.u16()),
                dl_vlan_pcp: p(self).then(|| self.u8()),
                dl_type: p(self).then(|| self.u16()),
                nw_tos: p(self).then(|| self.u8()),
                nw_proto: p(self).then(|| self.u8()),
                nw_src: p(self).then(|| self.masked_ip()),
                nw_dst: p(self).then(|| self.masked_ip()),
                tp_src: p(self).then(|| self.u16()),
                tp_dst: p(self).then(|| self.u16()),
                mpls_label: p(self).then(|| self.u32()),
                mpls_tc: p(self).then(|| self.u8()),
                metadata: self.chance(4).then(|| MaskedU64 {
                    value: self.u64(),
                    mask: self.chance(2).then(|| self.u64()).filter(|m| *m != u64::MAX),
                }),
                oxm: self.chance(8).then(|| self.bytes()),
            }
        }
        pub(crate) fn flow_mod(&mut self) -> FlowMod {
            FlowMod {
                xid: self.u32(),
                cookie: self.u64(),
                cookie_mask: self.u64(),
                table_id: self.u8(),
                command: FlowModCommand(self.below(7) as u8),
                idle_timeout: self.u16(),
                hard_timeout: self.u16(),
                priority: self.u16(),
                buffer_id: self.u32(),
                out_port: self.port(),
                out_group: GroupNo(if self.chance(2) { 0xffff_fffc + self.below(4) as u32 } else { self.u32() }),
                flags: FlowModFlags(self.u16() & if self.chance(2) { 3 } else { 0xffff }),
                flow_match: self.flow_match(),
                instructions: (0..self.below(4)).map(|_| self.instruction()).collect(),
            }
        }
    }

    pub(crate) fn golden_flow_mods() -> Vec<FlowMod> {
        let text =
            std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/tests/vectors/openflow/flow_mods.tsv"))
                .expect("flow_mods.tsv");
        text.lines()
            .skip(1)
            .filter(|l| !l.trim().is_empty() && !l.starts_with('#'))
            .filter_map(|l| l.split('\t').nth(2))
            .map(|hex| match Message::decode(&hex_decode(hex).expect("hex")) {
                Ok(Message::FlowMod(fm)) => fm,
                other => panic!("not a flow_mod: {other:?}"),
            })
            .collect()
    }

    fn fast_tape(fm: &FlowMod) -> Vec<u8> {
        let mut out = Vec::new();
        atoms::with_local(|l| flow_mod_to_tape(fm, &mut out, l)).expect("fast path");
        out
    }

    fn serde_tape(fm: &FlowMod) -> Vec<u8> {
        let mut out = Vec::new();
        to_tape(&Message::FlowMod(fm.clone()), &mut out).expect("to_tape");
        out
    }

    #[test]
    fn fast_writer_writes_what_serde_writes() {
        let golden = golden_flow_mods();
        assert!(golden.len() > 100);
        let mut rng = Rng(0x5eed_1234_abcd_0001);
        let random: Vec<FlowMod> = (0..20_000).map(|_| rng.flow_mod()).collect();
        for (i, fm) in golden.iter().chain(&random).enumerate() {
            // Both orders: whichever runs first interns the atoms and shapes.
            let (a, b) = if i % 2 == 0 { (fast_tape(fm), serde_tape(fm)) } else { (serde_tape(fm), fast_tape(fm)) };
            let (fast, serde) = if i % 2 == 0 { (a, b) } else { (b, a) };
            assert_eq!(fast, serde, "tape differs for {fm:?}");
        }
    }

    // ---- the reader, against serde ----

    /// A JS value, as `js/tape.js` would write it.
    #[derive(Clone, Debug)]
    pub(crate) enum J {
        Null,
        Bool(bool),
        U32(u32),
        F64(f64),
        Big(u64),
        Str(String),
        Bytes(Vec<u8>),
        Arr(Vec<J>),
        Obj(Vec<(String, J)>),
    }

    /// Reads a Rust-written tape (what the JS side would build objects from).
    pub(crate) fn read_rust_tape(t: &[u8]) -> J {
        let atoms = atoms::atom_names(0);
        let flat = atoms::shape_list(0);
        let mut shapes = Vec::new();
        let mut i = 0;
        while i < flat.len() {
            let n = flat[i] as usize;
            shapes.push(flat[i + 1..i + 1 + n].to_vec());
            i += 1 + n;
        }
        fn go(t: &[u8], p: &mut usize, atoms: &[String], shapes: &[Vec<u32>]) -> J {
            let op = t[*p];
            *p += 1;
            let u16at = |p: usize| u16::from_le_bytes([t[p], t[p + 1]]);
            let u32at = |p: usize| u32::from_le_bytes(t[p..p + 4].try_into().unwrap());
            match op {
                op::NULL => J::Null,
                op::TRUE => J::Bool(true),
                op::FALSE => J::Bool(false),
                op::U32 => {
                    *p += 4;
                    J::U32(u32at(*p - 4))
                }
                op::F64 => {
                    *p += 8;
                    J::F64(f64::from_le_bytes(t[*p - 8..*p].try_into().unwrap()))
                }
                op::BIGINT => {
                    *p += 8;
                    J::Big(u64::from_le_bytes(t[*p - 8..*p].try_into().unwrap()))
                }
                op::BIG_ZERO => J::Big(0),
                op::BIG_ONES => J::Big(u64::MAX),
                op::ATOM => {
                    *p += 2;
                    J::Str(atoms[usize::from(u16at(*p - 2))].clone())
                }
                op::ASCII => {
                    let n = usize::from(t[*p]);
                    *p += 1 + n;
                    J::Str(String::from_utf8(t[*p - n..*p].to_vec()).unwrap())
                }
                op::STR => {
                    let n = usize::from(u16at(*p));
                    *p += 2 + n;
                    J::Str(String::from_utf8(t[*p - n..*p].to_vec()).unwrap())
                }
                op::BYTES => {
                    let n = u32at(*p) as usize;
                    *p += 4 + n;
                    J::Bytes(t[*p - n..*p].to_vec())
                }
                op::ARRAY => {
                    let n = u32at(*p);
                    *p += 4;
                    J::Arr((0..n).map(|_| go(t, p, atoms, shapes)).collect())
                }
                op::SHAPE => {
                    let s = usize::from(u16at(*p));
                    *p += 2;
                    J::Obj(shapes[s].iter().map(|k| (atoms[*k as usize].clone(), go(t, p, atoms, shapes))).collect())
                }
                op::OBJECT => {
                    let n = u16at(*p);
                    *p += 2;
                    J::Obj(
                        (0..n)
                            .map(|_| {
                                let k = atoms[usize::from(u16at(*p))].clone();
                                *p += 2;
                                (k, go(t, p, atoms, shapes))
                            })
                            .collect(),
                    )
                }
                other => panic!("op {other}"),
            }
        }
        let mut p = 0;
        go(t, &mut p, &atoms, &shapes)
    }

    /// Writes `j` as `js/tape.js` does (`type` first); keys by id, or inline
    /// when `inline` says so.
    pub(crate) fn write_js_tape(j: &J, out: &mut Vec<u8>, inline: &mut impl FnMut() -> bool) {
        match j {
            J::Null => out.push(op::NULL),
            J::Bool(b) => out.push(if *b { op::TRUE } else { op::FALSE }),
            J::U32(v) => {
                out.push(op::U32);
                out.extend_from_slice(&v.to_le_bytes());
            }
            J::F64(v) => {
                out.push(op::F64);
                out.extend_from_slice(&v.to_le_bytes());
            }
            J::Big(v) => match *v {
                0 => out.push(op::BIG_ZERO),
                u64::MAX => out.push(op::BIG_ONES),
                v => {
                    out.push(op::BIGINT);
                    out.extend_from_slice(&v.to_le_bytes());
                }
            },
            J::Str(s) => {
                // As js/tape.js: an atom when it has one, a NAME for a new name,
                // else plain; `inline()` varies it.
                static VARY: std::sync::atomic::AtomicU32 = std::sync::atomic::AtomicU32::new(0);
                let plain = VARY.fetch_add(1, std::sync::atomic::Ordering::Relaxed).is_multiple_of(3);
                let known = atoms::atom_names(0).iter().position(|a| a == s);
                let name = atoms::learn_name(s.as_bytes()).is_some();
                match (known, name, plain) {
                    (Some(id), _, false) => {
                        out.push(op::ATOM);
                        out.extend_from_slice(&(id as u16).to_le_bytes());
                    }
                    (_, true, false) => {
                        out.extend_from_slice(&[op::NAME, s.len() as u8]);
                        out.extend_from_slice(s.as_bytes());
                    }
                    _ => {
                        out.push(op::STR);
                        out.extend_from_slice(&(s.len() as u16).to_le_bytes());
                        out.extend_from_slice(s.as_bytes());
                    }
                }
            }
            J::Bytes(b) => {
                out.push(op::BYTES);
                out.extend_from_slice(&(b.len() as u32).to_le_bytes());
                out.extend_from_slice(b);
            }
            J::Arr(a) => {
                out.push(op::ARRAY);
                out.extend_from_slice(&(a.len() as u32).to_le_bytes());
                for v in a {
                    write_js_tape(v, out, inline);
                }
            }
            J::Obj(fields) => {
                out.push(op::OBJECT);
                out.extend_from_slice(&(fields.len() as u16).to_le_bytes());
                let typed = fields.iter().filter(|(k, _)| k == "type");
                let rest = fields.iter().filter(|(k, _)| k != "type");
                for (k, v) in typed.chain(rest) {
                    match (inline(), atoms::learn_key(k)) {
                        (false, Some(id)) => out.extend_from_slice(&id.to_le_bytes()),
                        _ => {
                            out.extend_from_slice(&[0xff, 0xff, k.len() as u8]);
                            out.extend_from_slice(k.as_bytes());
                        }
                    }
                    write_js_tape(v, out, inline);
                }
            }
        }
    }

    /// One random change of the kind a caller could make.
    fn mutate(j: &mut J, rng: &mut Rng) {
        // Pick a random node, depth first.
        fn count(j: &J) -> usize {
            1 + match j {
                J::Arr(a) => a.iter().map(count).sum(),
                J::Obj(f) => f.iter().map(|(_, v)| count(v)).sum(),
                _ => 0,
            }
        }
        fn nth(j: &mut J, n: usize) -> Result<&mut J, usize> {
            if n == 0 {
                return Ok(j);
            }
            let mut left = n - 1;
            let kids: Vec<&mut J> = match j {
                J::Arr(a) => a.iter_mut().collect(),
                J::Obj(f) => f.iter_mut().map(|(_, v)| v).collect(),
                _ => Vec::new(),
            };
            for k in kids {
                match nth(k, left) {
                    Ok(found) => return Ok(found),
                    Err(rest) => left = rest,
                }
            }
            Err(left)
        }
        let n = rng.below(count(j) as u64) as usize;
        let Ok(t) = nth(j, n) else { return };
        const WORDS: &[&str] = &[
            "normal",
            "NORMAL",
            "any",
            "add",
            "0x10",
            "12",
            "",
            "bogus",
            "apply_actions",
            "output",
            "ae:f7:4b:84:6c:8b",
            "10.0.0.0/8",
            "10.0.0.1/33",
            "zz",
            "send_flow_rem",
            "goto_table",
            "clear_actions",
            "flow_mod",
            "group",
        ];
        let word = |rng: &mut Rng| J::Str(WORDS[rng.below(WORDS.len() as u64) as usize].to_owned());
        let scalar = |rng: &mut Rng| match rng.below(9) {
            0 => J::Null,
            1 => J::Bool(true),
            2 => J::U32(rng.below(300) as u32),
            3 => J::U32(u32::MAX),
            4 => J::F64(-1.0),
            5 => J::F64(1.5),
            6 => J::F64(5e9),
            7 => J::Big(rng.next()),
            _ => word(rng),
        };
        match t {
            J::Obj(fields) => match rng.below(5) {
                0 if !fields.is_empty() => {
                    let i = rng.below(fields.len() as u64) as usize;
                    fields.remove(i);
                }
                1 => {
                    const KEYS_X: &[&str] = &["bogus", "xid", "port", "type", "tableId", "metadata", "oxm", "actions"];
                    let k = KEYS_X[rng.below(KEYS_X.len() as u64) as usize];
                    let v = scalar(rng);
                    fields.push((k.to_owned(), v));
                }
                2 if !fields.is_empty() => {
                    let i = rng.below(fields.len() as u64) as usize;
                    fields[i].1 = scalar(rng);
                }
                3 if !fields.is_empty() => {
                    let i = rng.below(fields.len() as u64) as usize;
                    fields[i].1 = J::Null;
                }
                _ if fields.len() > 1 => {
                    let (a, b) = (rng.below(fields.len() as u64) as usize, rng.below(fields.len() as u64) as usize);
                    fields.swap(a, b);
                }
                _ => {}
            },
            J::Arr(a) => match rng.below(3) {
                0 if !a.is_empty() => {
                    a.pop();
                }
                1 => a.push(scalar(rng)),
                _ => a.push(J::Obj(vec![("type".into(), word(rng))])),
            },
            other => *other = scalar(rng),
        }
    }

    #[test]
    fn keys_table_is_consistent() {
        let named = [
            (K_TYPE, "type"),
            (K_TABLE_ID, "tableId"),
            (K_MATCH0, "inPort"),
            (K_NW_TOS, "nwTos"),
            (K_MPLS_LABEL, "mplsLabel"),
            (K_MPLS_TC, "mplsTc"),
            (K_METADATA, "metadata"),
            (K_VALUE, "value"),
            (K_MASK, "mask"),
            (K_METADATA_MASK, "metadataMask"),
            (K_ACTIONS, "actions"),
            (K_EXPERIMENTER, "experimenter"),
            (K_DATA, "data"),
            (K_INSTRUCTION_TYPE, "instructionType"),
            (K_PORT, "port"),
            (K_MAX_LEN, "maxLen"),
            (K_VLAN_VID, "vlanVid"),
            (K_VLAN_PCP, "vlanPcp"),
            (K_DL_ADDR, "dlAddr"),
            (K_NW_ADDR, "nwAddr"),
            (K_NW_ECN, "nwEcn"),
            (K_TP_PORT, "tpPort"),
            (K_MPLS_TTL, "mplsTtl"),
            (K_ETHERTYPE, "ethertype"),
            (K_QUEUE_ID, "queueId"),
            (K_GROUP_ID, "groupId"),
            (K_NW_TTL, "nwTtl"),
            (K_ACTION_TYPE, "actionType"),
        ];
        for (k, name) in named {
            assert_eq!(KEYS[k], name);
        }
        assert_eq!(KEYS.len(), 52);
        // The serde defaults of an empty flow_mod are `FlowMod::default()`, which
        // the fast path starts from.
        let mut t = Vec::new();
        write_js_tape(&J::Obj(vec![("type".into(), J::Str("flow_mod".into()))]), &mut t, &mut || false);
        let (m, _) = crate::tape::from_tape::<Message>(&t).unwrap();
        assert_eq!(m, Message::FlowMod(FlowMod::default()));
        let (m, _) = crate::tape::message_from_tape(&t).unwrap();
        assert_eq!(m, Message::FlowMod(FlowMod::default()));
    }

    #[test]
    fn fast_reader_agrees_with_serde() {
        let golden = golden_flow_mods();
        let mut rng = Rng(0xfeed_0000_2222_7777);
        let random: Vec<FlowMod> = (0..2_500).map(|_| rng.flow_mod()).collect();
        let (mut fast_hits, mut total, mut clean_hits, mut clean) = (0, 0, 0, 0);
        let mut golden_hits = 0;
        for (n, fm) in golden.iter().chain(&random).enumerate() {
            let mut rust_tape = Vec::new();
            to_tape(&Message::FlowMod(fm.clone()), &mut rust_tape).unwrap();
            let j = read_rust_tape(&rust_tape);
            for round in 0..6 {
                let mut j = j.clone();
                if round > 0 {
                    for _ in 0..rng.below(3) + 1 {
                        mutate(&mut j, &mut rng);
                    }
                }
                let mut t = Vec::new();
                let inline_one_in = if round == 5 { 3 } else { 0 };
                write_js_tape(&j, &mut t, &mut || inline_one_in > 0 && rng.chance(inline_one_in));
                t.extend_from_slice(&[op::NULL, op::NULL]); // trailing bytes: consumed length must agree
                let fast = atoms::with_local(|l| flow_mod_from_tape(&t, l));
                let serde = crate::tape::from_tape::<Message>(&t);
                if round == 0 && fast.is_none() && std::env::var("SHOW_MISSES").is_ok() {
                    eprintln!("golden miss: {j:?}");
                }
                total += 1;
                if round == 0 {
                    clean += 1;
                }
                if let Some((Message::FlowMod(fm_fast), used_fast)) = fast {
                    fast_hits += 1;
                    if round == 0 {
                        clean_hits += 1;
                        if n < golden.len() {
                            golden_hits += 1;
                        }
                    }
                    match serde {
                        Ok((Message::FlowMod(fm_serde), used_serde)) => {
                            assert_eq!(fm_fast, fm_serde, "values differ for {j:?}");
                            assert_eq!(used_fast, used_serde, "lengths differ for {j:?}");
                        }
                        other => panic!("fast path accepted what serde gives as {other:?}: {j:?}"),
                    }
                }
            }
        }
        // Real flows (the golden vectors, from ovs-ofctl) all go fast; random ones
        // often use what the fast path leaves to serde (metadata, experimenter...).
        assert_eq!(golden_hits, golden.len(), "golden flow_mods not all on the fast path");
        assert!(fast_hits > 0 && fast_hits < total, "{fast_hits}/{total}");
        eprintln!(
            "fast path: golden {golden_hits}/{}, random clean {clean_hits}/{clean}, overall {fast_hits}/{total}",
            golden.len()
        );
    }

    /// Address text in a FLOW_MOD object (match `dlSrc`/`dlDst`/`nwSrc`/`nwDst`,
    /// `set_dl_src`'s `dlAddr`, `set_nw_dst`'s `nwAddr`) is read by the one
    /// grammar of `net::addr` on both paths: the fast reader takes exactly what it
    /// takes (and gives up on the rest), serde refuses the rest with an error.
    #[test]
    fn address_text_takes_the_strict_grammar_on_both_paths() {
        use crate::net::addr::{parse_ipv4, parse_mac, parse_masked_ipv4, parse_masked_mac};
        #[derive(Clone, Copy, Debug)]
        enum Slot {
            DlSrc,
            DlDst,
            NwSrc,
            NwDst,
            SetDlSrc,
            SetNwDst,
        }
        let placeholder = |slot: Slot| match slot {
            Slot::DlSrc => "01:01:01:01:01:01",
            Slot::DlDst => "02:02:02:02:02:02",
            Slot::NwSrc => "1.1.1.1",
            Slot::NwDst => "2.2.2.2",
            Slot::SetDlSrc => "03:03:03:03:03:03",
            Slot::SetNwDst => "3.3.3.3",
        };
        let apply = |dl_addr, nw_addr| {
            vec![Instruction::ApplyActions {
                actions: vec![Action::SetDlSrc { dl_addr }, Action::SetNwDst { nw_addr }],
            }]
        };
        let (set_dl, set_nw) =
            (placeholder(Slot::SetDlSrc).parse().unwrap(), placeholder(Slot::SetNwDst).parse().unwrap());
        let base = FlowMod {
            flow_match: Match {
                dl_src: Some(placeholder(Slot::DlSrc).parse().unwrap()),
                dl_dst: Some(placeholder(Slot::DlDst).parse().unwrap()),
                nw_src: Some(placeholder(Slot::NwSrc).parse().unwrap()),
                nw_dst: Some(placeholder(Slot::NwDst).parse().unwrap()),
                ..Match::default()
            },
            instructions: apply(set_dl, set_nw),
            ..FlowMod::default()
        };
        let mut rust_tape = Vec::new();
        to_tape(&Message::FlowMod(base.clone()), &mut rust_tape).unwrap();
        let base_j = read_rust_tape(&rust_tape);
        fn replace(j: &mut J, from: &str, to: &str) -> usize {
            match j {
                J::Str(s) if s == from => {
                    *s = to.to_owned();
                    1
                }
                J::Arr(a) => a.iter_mut().map(|v| replace(v, from, to)).sum(),
                J::Obj(f) => f.iter_mut().map(|(_, v)| replace(v, from, to)).sum(),
                _ => 0,
            }
        }
        const INPUTS: &[&str] = &[
            // accepted where the field's kind fits
            "aa:bb:cc:dd:ee:ff",
            "AA:BB:cc:DD:ee:FF",
            "aa:bb:cc:dd:ee:ff/ff:ff:ff:00:00:00",
            "10.0.0.1",
            "10.0.0.0/8",
            "10.0.0.1/32",
            "10.0.0.0/255.0.255.0",
            // refused everywhere
            "aa:bb-cc:dd-ee:ff",
            "aa-bb-cc-dd-ee-ff",
            "a:b:c:d:e:f",
            " aa:bb:cc:dd:ee:ff",
            "aa:bb:cc:dd:ee:ff/ff:ff:ff:0:0:0",
            "010.0.0.1",
            " 10.0.0.1",
            "10.0.0.1 ",
            "10.0.0.0/33",
            "10.0.0.0/08",
            "10.0.0.0/+8",
            "10.0.0.0/255.0.0",
            "",
        ];
        let slots = [Slot::DlSrc, Slot::DlDst, Slot::NwSrc, Slot::NwDst, Slot::SetDlSrc, Slot::SetNwDst];
        let (mut accepted, mut refused) = (0, 0);
        for &slot in &slots {
            for &input in INPUTS {
                let mut want = base.clone();
                let ok = match slot {
                    Slot::DlSrc => parse_masked_mac(input).map(|v| want.flow_match.dl_src = Some(v)).is_some(),
                    Slot::DlDst => parse_masked_mac(input).map(|v| want.flow_match.dl_dst = Some(v)).is_some(),
                    Slot::NwSrc => parse_masked_ipv4(input).map(|v| want.flow_match.nw_src = Some(v)).is_some(),
                    Slot::NwDst => parse_masked_ipv4(input).map(|v| want.flow_match.nw_dst = Some(v)).is_some(),
                    Slot::SetDlSrc => parse_mac(input).map(|v| want.instructions = apply(v, set_nw)).is_some(),
                    Slot::SetNwDst => parse_ipv4(input).map(|v| want.instructions = apply(set_dl, v)).is_some(),
                };
                let mut j = base_j.clone();
                assert_eq!(replace(&mut j, placeholder(slot), input), 1, "{slot:?}");
                let mut t = Vec::new();
                write_js_tape(&j, &mut t, &mut || false);
                let fast = atoms::with_local(|l| flow_mod_from_tape(&t, l)).map(|(m, _)| m);
                let serde = crate::tape::from_tape::<Message>(&t).map(|(m, _)| m);
                let public = crate::tape::message_from_tape(&t).map(|(m, _)| m);
                let want = Message::FlowMod(want);
                if ok {
                    accepted += 1;
                    assert_eq!(fast.as_ref(), Some(&want), "fast path, {slot:?} = {input:?}");
                    assert_eq!(serde.as_ref().ok(), Some(&want), "serde, {slot:?} = {input:?}");
                    assert_eq!(public.as_ref().ok(), Some(&want), "message_from_tape, {slot:?} = {input:?}");
                } else {
                    refused += 1;
                    assert_eq!(fast, None, "fast path took {slot:?} = {input:?}");
                    let e = serde.expect_err(&format!("serde took {slot:?} = {input:?}"));
                    assert!(e.to_string().contains("invalid"), "{slot:?} = {input:?}: {e}");
                    assert!(public.is_err(), "message_from_tape took {slot:?} = {input:?}");
                }
            }
        }
        assert_eq!((accepted, refused), (17, 103));
    }

    /// The keyed form (used once the shape table is full) says the same thing.
    #[test]
    fn keyed_objects_read_like_shaped_ones() {
        let mut rng = Rng(0x6b65_7965_6400_0001);
        for i in 0..300 {
            let m = if i % 3 == 0 {
                Message::Hello(crate::openflow::symmetric::Hello {
                    xid: i,
                    version: 2,
                    elements: vec![crate::openflow::symmetric::HelloElement::VersionBitmap { bitmaps: vec![4, i] }],
                })
            } else {
                Message::FlowMod(rng.flow_mod())
            };
            let (mut shaped, mut keyed) = (Vec::new(), Vec::new());
            atoms::with_local(|l| {
                crate::tape::ser::serialize_with(&m, &mut shaped, l, false).unwrap();
                crate::tape::ser::serialize_with(&m, &mut keyed, l, true).unwrap();
            });
            assert_ne!(shaped, keyed);
            assert_eq!(format!("{:?}", read_rust_tape(&shaped)), format!("{:?}", read_rust_tape(&keyed)));
        }
    }
}
