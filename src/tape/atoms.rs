//! The tables both halves of the tape share: *atoms* (object keys and short
//! strings that recur, sent as a `u16` id instead of bytes) and *shapes* (the key
//! sequence of an object, sent once as a `u16` id so the JS side can build the
//! object from a literal with one hidden class per shape).
//!
//! Both tables are global and append-only, so ids mean the same thing on every
//! thread and in every JS realm; the JS side pulls entries it has not seen yet
//! (`__keyNames`, `__shapes`). Each thread keeps a [`Local`] view: snapshots of
//! the tables and direct-mapped caches, so the hot path takes no lock and hashes
//! nothing:
//!
//! * keys arrive as `&'static str` from serde: the cache maps the string's address
//!   to its id with one compare (a static string's content never changes);
//! * other strings are looked up by address too, then checked byte for byte (a
//!   heap or stack address may hold something else next time);
//! * a shape is found by a hash of its key ids, then checked id for id;
//! * a struct's last shape is remembered by the address of its name ([`Pred`]),
//!   so a struct written the same way as last time costs one address compare
//!   per field.
//!
//! Growth is bounded: atoms are at most [`MAX_ATOM_LEN`] bytes and [`MAX_ATOMS`]
//! in number (string values and keys learnt from JS stop being interned well
//! before static keys do), shapes at most [`MAX_SHAPES`]. Past a limit values
//! simply travel inline (objects keyed, see `ser.rs`).

use std::cell::RefCell;
use std::collections::HashMap;
use std::hash::{BuildHasherDefault, Hasher};
use std::rc::Rc;
use std::sync::RwLock;

/// Longest string value that may become an atom.
pub const MAX_ATOM_LEN: usize = 32;
/// Atom ids available in total (`u16::MAX` is reserved for "inline key").
pub const MAX_ATOMS: usize = 0xfff0;
/// String values (as opposed to keys) stop being interned past this many atoms.
const MAX_STRING_ATOMS: usize = 8192;
/// Keys learnt from JS (see [`learn_key`]) stop being interned past this many:
/// keys the models do not have only come with invalid input, which must not be
/// able to fill the table.
const MAX_LEARNED_KEYS: usize = 16384;
/// Shape ids available (`u16::MAX` is never used).
pub const MAX_SHAPES: usize = 0xfff0;

/// FNV-1a: the tables hash short strings and short id sequences; SipHash's
/// setup costs more than the lookup.
#[derive(Default)]
struct Fnv(u64);

impl Hasher for Fnv {
    fn finish(&self) -> u64 {
        self.0
    }
    fn write(&mut self, bytes: &[u8]) {
        let mut h = if self.0 == 0 { 0xcbf2_9ce4_8422_2325 } else { self.0 };
        for b in bytes {
            h ^= u64::from(*b);
            h = h.wrapping_mul(0x0100_0000_01b3);
        }
        self.0 = h;
    }
}

type FnvMap<K, V> = HashMap<K, V, BuildHasherDefault<Fnv>>;

#[derive(Default)]
struct Tables {
    atoms: Vec<&'static str>,
    atom_index: FnvMap<&'static str, u16>,
    shapes: Vec<&'static [u16]>,
    shape_index: FnvMap<&'static [u16], u16>,
}

static TABLES: RwLock<Option<Tables>> = RwLock::new(None);

fn with_tables<R>(f: impl FnOnce(&mut Tables) -> R) -> R {
    let mut g = TABLES.write().unwrap_or_else(|e| e.into_inner());
    f(g.get_or_insert_with(Tables::default))
}

fn read_tables<R>(f: impl FnOnce(&Tables) -> R) -> R {
    let g = TABLES.read().unwrap_or_else(|e| e.into_inner());
    match g.as_ref() {
        Some(t) => f(t),
        None => f(&Tables::default()),
    }
}

const KEY_SLOTS: usize = 1024;
const STR_SLOTS: usize = 512;
const SHAPE_SLOTS: usize = 1024;
const PRED_SLOTS: usize = 256;

/// A thread's view: snapshots of the tables (refreshed on a miss) and caches.
/// The serializer and deserializer hold it for a whole call (one thread-local
/// access per call, not per key).
pub struct Local {
    atoms: Vec<&'static str>,
    shapes: Vec<&'static [u16]>,
    /// `(address, len, id)` of `&'static str` keys, direct-mapped...
    keys: Box<[(usize, usize, u16)]>,
    /// ... backed by a map, so two keys sharing a slot cost a hash lookup, not a lock.
    keys2: FnvMap<(usize, usize), u16>,
    /// `(address, len, id)` of string values; checked against `atoms[id]`.
    strs: Box<[(usize, usize, u16)]>,
    /// `(hash, id + 1)` of shapes; checked against `shapes[id]`.
    shape_cache: Box<[(u64, u32)]>,
    /// The last shape of each struct, by the address of its name.
    preds: Box<[(usize, Option<Rc<Pred>>)]>,
    /// Scratch for the serializer: key ids and addresses of the open objects.
    pub(crate) key_stack: Vec<u16>,
    pub(crate) key_addr_stack: Vec<(usize, usize)>,
    /// Ids resolved by the FLOW_MOD fast path.
    pub(crate) fast: Option<Box<super::fast::Cache>>,
}

/// The shape a struct had the last time it was written: its id, and its keys as
/// `(address, len, id)` so the serializer can follow along comparing addresses.
pub struct Pred {
    /// Shape id.
    pub shape: u16,
    /// Keys in order.
    pub keys: Box<[(usize, usize, u16)]>,
}

impl Local {
    fn new() -> Self {
        Local {
            atoms: Vec::new(),
            shapes: Vec::new(),
            keys: vec![(0, 0, 0); KEY_SLOTS].into_boxed_slice(),
            keys2: FnvMap::default(),
            strs: vec![(0, 0, 0); STR_SLOTS].into_boxed_slice(),
            shape_cache: vec![(0, 0); SHAPE_SLOTS].into_boxed_slice(),
            preds: (0..PRED_SLOTS).map(|_| (0, None)).collect(),
            key_stack: Vec::new(),
            key_addr_stack: Vec::new(),
            fast: None,
        }
    }

    /// The shape the struct named at `name` had last time.
    #[inline]
    pub fn pred(&self, name: usize) -> Option<Rc<Pred>> {
        let (n, p) = &self.preds[addr_slot(name, 0, PRED_SLOTS)];
        if *n == name {
            p.clone()
        } else {
            None
        }
    }

    /// Remembers the shape of the struct named at `name`.
    pub fn set_pred(&mut self, name: usize, pred: Pred) {
        self.preds[addr_slot(name, 0, PRED_SLOTS)] = (name, Some(Rc::new(pred)));
    }

    fn refresh_atoms(&mut self) {
        let have = self.atoms.len();
        read_tables(|t| self.atoms.extend_from_slice(t.atoms.get(have..).unwrap_or_default()));
    }

    fn refresh_shapes(&mut self) {
        let have = self.shapes.len();
        read_tables(|t| self.shapes.extend_from_slice(t.shapes.get(have..).unwrap_or_default()));
    }

    /// The id of a key serde handed us. Keys are static and few; `None` only when
    /// the table is full.
    #[inline]
    pub fn key_id(&mut self, key: &'static str) -> Option<u16> {
        let (ptr, len) = (key.as_ptr() as usize, key.len());
        let slot = addr_slot(ptr, len, KEY_SLOTS);
        let e = self.keys[slot];
        if e.0 == ptr && e.1 == len {
            return Some(e.2);
        }
        self.key_id_slow(key, slot)
    }

    #[cold]
    fn key_id_slow(&mut self, key: &'static str, slot: usize) -> Option<u16> {
        let addr = (key.as_ptr() as usize, key.len());
        let id = match self.keys2.get(&addr) {
            Some(id) => *id,
            None => {
                let id = intern_global(key, MAX_ATOMS)?;
                self.keys2.insert(addr, id);
                id
            }
        };
        self.keys[slot] = (addr.0, addr.1, id);
        Some(id)
    }

    /// The atom id of a string value, interning it if it looks like a name (starts
    /// with a letter, at most [`MAX_ATOM_LEN`] bytes) and the table has room;
    /// `None` means "send it inline".
    #[inline]
    pub fn str_id(&mut self, s: &str) -> Option<u16> {
        // Names start with a letter; numbers and addresses (data) do not.
        if s.len() > MAX_ATOM_LEN || !s.as_bytes().first().is_some_and(u8::is_ascii_alphabetic) {
            return None;
        }
        let (ptr, len) = (s.as_ptr() as usize, s.len());
        let slot = addr_slot(ptr, len, STR_SLOTS);
        let e = self.strs[slot];
        if e.0 == ptr && e.1 == len {
            if let Some(a) = self.atoms.get(usize::from(e.2)) {
                if short_eq(a.as_bytes(), s.as_bytes()) {
                    return Some(e.2);
                }
            }
        }
        self.str_id_slow(s, slot)
    }

    #[cold]
    fn str_id_slow(&mut self, s: &str, slot: usize) -> Option<u16> {
        let id = intern_global(s, MAX_STRING_ATOMS)?;
        if usize::from(id) >= self.atoms.len() {
            self.refresh_atoms();
        }
        self.strs[slot] = (s.as_ptr() as usize, s.len(), id);
        Some(id)
    }

    /// The atom for an id (JS to Rust keys).
    #[inline]
    pub fn atom(&mut self, id: u16) -> Option<&'static str> {
        match self.atoms.get(usize::from(id)) {
            Some(a) => Some(*a),
            None => {
                self.refresh_atoms();
                self.atoms.get(usize::from(id)).copied()
            }
        }
    }

    /// The id of the shape `keys` (whose running hash is `hash`); `None` when the
    /// table is full.
    #[inline]
    pub fn shape_id(&mut self, keys: &[u16], hash: u64) -> Option<u16> {
        let slot = (hash >> 32) as usize & (SHAPE_SLOTS - 1);
        let (h, id1) = self.shape_cache[slot];
        if h == hash && id1 != 0 {
            let id = (id1 - 1) as usize;
            if self.shapes.get(id).is_some_and(|s| *s == keys) {
                return Some(id as u16);
            }
        }
        self.shape_id_slow(keys, hash, slot)
    }

    #[cold]
    fn shape_id_slow(&mut self, keys: &[u16], hash: u64, slot: usize) -> Option<u16> {
        let id = match read_tables(|t| t.shape_index.get(keys).copied()) {
            Some(id) => id,
            None => with_tables(|t| {
                if let Some(id) = t.shape_index.get(keys) {
                    return Some(*id);
                }
                if t.shapes.len() >= MAX_SHAPES {
                    return None;
                }
                let id = t.shapes.len() as u16;
                let leaked: &'static [u16] = Box::leak(keys.to_vec().into_boxed_slice());
                t.shapes.push(leaked);
                t.shape_index.insert(leaked, id);
                Some(id)
            })?,
        };
        if usize::from(id) >= self.shapes.len() {
            self.refresh_shapes();
        }
        self.shape_cache[slot] = (hash, u32::from(id) + 1);
        Some(id)
    }
}

/// Byte equality for short strings without a `memcmp` call.
#[inline]
fn short_eq(a: &[u8], b: &[u8]) -> bool {
    if a.len() != b.len() {
        return false;
    }
    let mut i = 0;
    while i + 8 <= a.len() {
        let x = u64::from_ne_bytes(a[i..i + 8].try_into().unwrap_or([0; 8]));
        let y = u64::from_ne_bytes(b[i..i + 8].try_into().unwrap_or([0; 8]));
        if x != y {
            return false;
        }
        i += 8;
    }
    a[i..] == b[i..]
}

thread_local! {
    static LOCAL: RefCell<Local> = RefCell::new(Local::new());
}

/// Runs `f` with this thread's [`Local`] (a fresh one if it is already in use,
/// which only a re-entrant call could cause).
pub fn with_local<R>(f: impl FnOnce(&mut Local) -> R) -> R {
    LOCAL.with(|l| match l.try_borrow_mut() {
        Ok(mut l) => f(&mut l),
        Err(_) => f(&mut Local::new()),
    })
}

#[inline]
fn addr_slot(ptr: usize, len: usize, slots: usize) -> usize {
    let h = (ptr as u64 ^ (len as u64).rotate_left(40)).wrapping_mul(0x9e37_79b9_7f4a_7c15);
    (h >> 40) as usize & (slots - 1)
}

/// Interns `s` in the global table (unless `limit` atoms already exist).
fn intern_global(s: &str, limit: usize) -> Option<u16> {
    if let Some(id) = read_tables(|t| t.atom_index.get(s).copied()) {
        return Some(id);
    }
    with_tables(|t| {
        if let Some(id) = t.atom_index.get(s) {
            return Some(*id);
        }
        if t.atoms.len() >= limit {
            return None;
        }
        let id = t.atoms.len() as u16;
        let leaked: &'static str = Box::leak(s.to_owned().into_boxed_str());
        t.atoms.push(leaked);
        t.atom_index.insert(leaked, id);
        Some(id)
    })
}

/// Interns a key that came inline from JS, so that JS can send its id next time.
/// Only identifier-like names are kept (junk keys from a caller stay inline).
pub fn learn_key(key: &str) -> Option<u16> {
    let ok = !key.is_empty()
        && key.len() <= 64
        && key.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'_' || b == b'$')
        && !key.as_bytes()[0].is_ascii_digit();
    if ok {
        intern_global(key, MAX_LEARNED_KEYS)
    } else {
        None
    }
}

/// Interns a string value JS sent as a `NAME` (so that it can send its id next
/// time): a lowercase identifier of at most [`MAX_ATOM_LEN`] bytes, the same rule
/// as `isName` in `js/tape.js`, while there is room for string atoms.
pub fn learn_name(name: &[u8]) -> Option<u16> {
    let ok = !name.is_empty()
        && name.len() <= MAX_ATOM_LEN
        && name[0].is_ascii_lowercase()
        && name.iter().all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || *b == b'_');
    if ok {
        intern_global(std::str::from_utf8(name).ok()?, MAX_STRING_ATOMS)
    } else {
        None
    }
}

/// Combines a key id into a running shape hash.
#[inline]
pub fn shape_hash(h: u64, id: u16) -> u64 {
    (h ^ u64::from(id)).wrapping_mul(0x0000_0100_0000_01b3).rotate_left(7)
}

/// Initial value of a running shape hash.
pub const SHAPE_SEED: u64 = 0x243f_6a88_85a3_08d3;

/// Atom names from id `from` on.
pub fn atom_names(from: usize) -> Vec<String> {
    read_tables(|t| t.atoms.get(from..).unwrap_or_default().iter().map(|s| (*s).to_owned()).collect())
}

/// Shapes from id `from` on, flattened: `n, key id * n, n, ...`.
pub fn shape_list(from: usize) -> Vec<u32> {
    read_tables(|t| {
        let mut out = Vec::new();
        for s in t.shapes.get(from..).unwrap_or_default() {
            out.push(s.len() as u32);
            out.extend(s.iter().map(|k| u32::from(*k)));
        }
        out
    })
}
