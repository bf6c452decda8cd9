//! serde Deserializer reading the tape written by `js/tape.js` (JS to Rust).

use serde::de::{self, DeserializeSeed, Deserializer, IntoDeserializer, MapAccess, SeqAccess, Unexpected, Visitor};
use std::fmt;

use super::{atoms, op, INLINE_KEY};

/// How a value from JS was wrong; maps to the JS error class.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum TapeErrorKind {
    /// Wrong JS type (`TypeError`, `ERR_INVALID_ARG_TYPE`).
    Type,
    /// Right type, bad value (`TypeError`, `ERR_INVALID_ARG_VALUE`).
    Value,
    /// A number outside the field's range (`RangeError`, `ERR_OUT_OF_RANGE`).
    Range,
    /// The tape itself is malformed (a bug on the JS side).
    Tape,
}

/// A value from JS that does not fit the model. `path` names the field
/// (`instructions[0].actions[1].port`).
#[derive(Debug, Clone)]
pub struct TapeError {
    /// Category.
    pub kind: TapeErrorKind,
    /// What was wrong.
    pub message: String,
    /// Where, outermost first.
    pub path: Vec<String>,
}

impl TapeError {
    fn new(kind: TapeErrorKind, message: impl Into<String>) -> Self {
        TapeError { kind, message: message.into(), path: Vec::new() }
    }

    /// Prefixes the path with an array index (batch position).
    pub fn at_index(self, i: u32) -> Self {
        self.at(format!("[{i}]"))
    }

    fn at(mut self, segment: String) -> Self {
        self.path.insert(0, segment);
        self
    }

    /// `a.b[2].c`.
    pub fn path_string(&self) -> String {
        let mut s = String::new();
        for seg in &self.path {
            if !seg.starts_with('[') && !s.is_empty() {
                s.push('.');
            }
            s.push_str(seg);
        }
        s
    }

    /// Stable code, following Node's own names.
    pub fn code(&self) -> &'static str {
        match self.kind {
            TapeErrorKind::Type => "ERR_INVALID_ARG_TYPE",
            TapeErrorKind::Value => "ERR_INVALID_ARG_VALUE",
            TapeErrorKind::Range => "ERR_OUT_OF_RANGE",
            TapeErrorKind::Tape => "ERR_INTERNAL_TAPE",
        }
    }
}

impl fmt::Display for TapeError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.path.is_empty() {
            f.write_str(&self.message)
        } else {
            write!(f, "{}: {}", self.path_string(), self.message)
        }
    }
}

impl std::error::Error for TapeError {}

impl de::Error for TapeError {
    fn custom<T: fmt::Display>(msg: T) -> Self {
        TapeError::new(TapeErrorKind::Value, msg.to_string())
    }
    fn invalid_type(unexp: Unexpected<'_>, exp: &dyn de::Expected) -> Self {
        // A fractional number where an integer belongs is a range error, as in
        // Node's own argument checks.
        let kind = match unexp {
            Unexpected::Float(_) => TapeErrorKind::Range,
            _ => TapeErrorKind::Type,
        };
        TapeError::new(kind, format!("expected {exp}, got {}", describe(unexp)))
    }
    fn invalid_value(unexp: Unexpected<'_>, exp: &dyn de::Expected) -> Self {
        let kind = match unexp {
            Unexpected::Unsigned(_) | Unexpected::Signed(_) | Unexpected::Float(_) => TapeErrorKind::Range,
            _ => TapeErrorKind::Value,
        };
        TapeError::new(kind, format!("expected {exp}, got {}", describe(unexp)))
    }
}

fn describe(u: Unexpected<'_>) -> String {
    match u {
        Unexpected::Unit => "null".into(),
        Unexpected::Map => "an object".into(),
        Unexpected::Seq => "an array".into(),
        Unexpected::Bytes(_) => "a Buffer".into(),
        Unexpected::Str(s) => format!("'{s}'"),
        Unexpected::Unsigned(n) => n.to_string(),
        Unexpected::Signed(n) => n.to_string(),
        Unexpected::Float(n) => n.to_string(),
        Unexpected::Bool(b) => b.to_string(),
        other => other.to_string(),
    }
}

/// Reads one value of type `T` from the front of `tape`; returns it and the bytes
/// consumed.
pub fn from_tape<'de, T: de::Deserialize<'de>>(tape: &'de [u8]) -> Result<(T, usize), TapeError> {
    atoms::with_local(|local| {
        let mut d = TapeDe { buf: tape, pos: 0, local };
        let v = T::deserialize(&mut d)?;
        Ok((v, d.pos))
    })
}

/// Reads one message from the front of `tape` and lends it to `f`: the FLOW_MOD
/// fast path when it applies (then the message is not even moved), else
/// [`from_tape`]. Returns what `f` returned and the bytes consumed.
pub fn with_message_from_tape<R>(
    tape: &[u8],
    f: impl FnOnce(&crate::openflow::Message) -> R,
) -> Result<(R, usize), TapeError> {
    let mut f = Some(f);
    let fast = atoms::with_local(|l| super::fast::with_flow_mod_from_tape(tape, l, |m| f.take().map(|f| f(m))));
    if let Some((Some(r), used)) = fast {
        return Ok((r, used));
    }
    let (m, used): (crate::openflow::Message, usize) = from_tape(tape)?;
    match f.take() {
        Some(f) => Ok((f(&m), used)),
        None => Err(TapeError::new(TapeErrorKind::Tape, "message consumed twice")),
    }
}

/// Reads one message from the front of `tape`: the FLOW_MOD fast path
/// (`fast.rs`) when it applies, else [`from_tape`]. Same results, errors
/// included (the fast path never reports one: it leaves those to serde).
pub fn message_from_tape(tape: &[u8]) -> Result<(crate::openflow::Message, usize), TapeError> {
    if let Some(r) = atoms::with_local(|l| super::fast::flow_mod_from_tape(tape, l)) {
        return Ok(r);
    }
    from_tape(tape)
}

struct TapeDe<'de, 'l> {
    buf: &'de [u8],
    pos: usize,
    local: &'l mut atoms::Local,
}

fn bad_tape() -> TapeError {
    TapeError::new(TapeErrorKind::Tape, "truncated or malformed value tape")
}

impl<'de> TapeDe<'de, '_> {
    #[inline(always)]
    fn take(&mut self, n: usize) -> Result<&'de [u8], TapeError> {
        let end = self.pos.checked_add(n).ok_or_else(bad_tape)?;
        let s = self.buf.get(self.pos..end).ok_or_else(bad_tape)?;
        self.pos = end;
        Ok(s)
    }
    #[inline(always)]
    fn arr<const N: usize>(&mut self) -> Result<[u8; N], TapeError> {
        let mut a = [0u8; N];
        a.copy_from_slice(self.take(N)?);
        Ok(a)
    }
    #[inline(always)]
    fn u8(&mut self) -> Result<u8, TapeError> {
        Ok(self.arr::<1>()?[0])
    }
    #[inline(always)]
    fn peek(&self) -> Result<u8, TapeError> {
        self.buf.get(self.pos).copied().ok_or_else(bad_tape)
    }
    #[inline(always)]
    fn str_body(&mut self, len: usize) -> Result<&'de str, TapeError> {
        std::str::from_utf8(self.take(len)?).map_err(|_| bad_tape())
    }
    /// A key: an atom id, or [`INLINE_KEY`] then `u8 len` and the bytes (a key
    /// the JS side has no id for yet; identifier-like ones get one for next time).
    #[inline]
    fn key(&mut self) -> Result<&'de str, TapeError> {
        let id = u16::from_le_bytes(self.arr()?);
        if id != INLINE_KEY {
            return self.local.atom(id).ok_or_else(bad_tape);
        }
        let len = usize::from(self.u8()?);
        let key = self.str_body(len)?;
        atoms::learn_key(key);
        Ok(key)
    }
}

impl<'de> Deserializer<'de> for &mut TapeDe<'de, '_> {
    type Error = TapeError;

    fn deserialize_any<V: Visitor<'de>>(self, v: V) -> Result<V::Value, TapeError> {
        match self.u8()? {
            op::NULL => v.visit_unit(),
            op::TRUE => v.visit_bool(true),
            op::FALSE => v.visit_bool(false),
            op::U32 => v.visit_u64(u32::from_le_bytes(self.arr()?).into()),
            op::F64 => {
                let f = f64::from_le_bytes(self.arr()?);
                // JS has one number type: hand integers to serde as integers so that
                // `-1` for a u16 is a range error rather than a type error.
                if f.fract() == 0.0 && f >= -9_007_199_254_740_992.0 && f <= 9_007_199_254_740_992.0 {
                    if f < 0.0 {
                        v.visit_i64(f as i64)
                    } else {
                        v.visit_u64(f as u64)
                    }
                } else {
                    v.visit_f64(f)
                }
            }
            op::BIGINT => v.visit_u64(u64::from_le_bytes(self.arr()?)),
            op::BIG_ZERO => v.visit_u64(0),
            op::BIG_ONES => v.visit_u64(u64::MAX),
            op::STR => {
                let len = usize::from(u16::from_le_bytes(self.arr()?));
                v.visit_borrowed_str(self.str_body(len)?)
            }
            op::ASCII => {
                let len = usize::from(self.u8()?);
                v.visit_borrowed_str(self.str_body(len)?)
            }
            op::NAME => {
                let len = usize::from(self.u8()?);
                let s = self.str_body(len)?;
                atoms::learn_name(s.as_bytes());
                v.visit_borrowed_str(s)
            }
            op::ATOM => {
                let id = u16::from_le_bytes(self.arr()?);
                let s = self.local.atom(id).ok_or_else(bad_tape)?;
                v.visit_borrowed_str(s)
            }
            op::BYTES => {
                let len = u32::from_le_bytes(self.arr()?) as usize;
                v.visit_borrowed_bytes(self.take(len)?)
            }
            op::ARRAY => {
                let n = u32::from_le_bytes(self.arr()?);
                v.visit_seq(Seq { de: self, left: n, index: 0 })
            }
            op::OBJECT => {
                let n = u16::from_le_bytes(self.arr()?);
                v.visit_map(Map { de: self, left: n, key: "" })
            }
            _ => Err(bad_tape()),
        }
    }

    fn deserialize_option<V: Visitor<'de>>(self, v: V) -> Result<V::Value, TapeError> {
        if self.peek()? == op::NULL {
            self.pos += 1;
            v.visit_none()
        } else {
            v.visit_some(self)
        }
    }

    fn deserialize_enum<V: Visitor<'de>>(
        self,
        _: &'static str,
        _: &'static [&'static str],
        v: V,
    ) -> Result<V::Value, TapeError> {
        let s = match self.peek()? {
            op::STR => {
                self.pos += 1;
                let len = usize::from(u16::from_le_bytes(self.arr()?));
                Some(self.str_body(len)?)
            }
            op::ASCII | op::NAME => {
                let name = self.peek()? == op::NAME;
                self.pos += 1;
                let len = usize::from(self.u8()?);
                let s = self.str_body(len)?;
                if name {
                    atoms::learn_name(s.as_bytes());
                }
                Some(s)
            }
            op::ATOM => {
                self.pos += 1;
                let id = u16::from_le_bytes(self.arr()?);
                Some(self.local.atom(id).ok_or_else(bad_tape)?)
            }
            _ => None,
        };
        if let Some(s) = s {
            v.visit_enum(s.into_deserializer())
        } else {
            Err(TapeError::new(TapeErrorKind::Type, "expected a string naming a variant"))
        }
    }

    serde::forward_to_deserialize_any! {
        bool i8 i16 i32 i64 i128 u8 u16 u32 u64 u128 f32 f64 char str string bytes byte_buf unit unit_struct
        newtype_struct seq tuple tuple_struct map struct identifier ignored_any
    }
}

struct Seq<'a, 'de, 'l> {
    de: &'a mut TapeDe<'de, 'l>,
    left: u32,
    index: u32,
}

impl<'de> SeqAccess<'de> for Seq<'_, 'de, '_> {
    type Error = TapeError;
    fn next_element_seed<T: DeserializeSeed<'de>>(&mut self, seed: T) -> Result<Option<T::Value>, TapeError> {
        if self.left == 0 {
            return Ok(None);
        }
        self.left -= 1;
        let i = self.index;
        self.index += 1;
        seed.deserialize(&mut *self.de).map(Some).map_err(|e| e.at(format!("[{i}]")))
    }
    fn size_hint(&self) -> Option<usize> {
        Some(self.left as usize)
    }
}

struct Map<'a, 'de, 'l> {
    de: &'a mut TapeDe<'de, 'l>,
    left: u16,
    key: &'de str,
}

impl<'de> MapAccess<'de> for Map<'_, 'de, '_> {
    type Error = TapeError;
    fn next_key_seed<K: DeserializeSeed<'de>>(&mut self, seed: K) -> Result<Option<K::Value>, TapeError> {
        if self.left == 0 {
            return Ok(None);
        }
        self.left -= 1;
        self.key = self.de.key()?;
        seed.deserialize(de::value::BorrowedStrDeserializer::new(self.key))
            .map(Some)
            .map_err(|e: TapeError| e.at(self.key.to_owned()))
    }
    fn next_value_seed<V: DeserializeSeed<'de>>(&mut self, seed: V) -> Result<V::Value, TapeError> {
        seed.deserialize(&mut *self.de).map_err(|e| e.at(self.key.to_owned()))
    }
    fn size_hint(&self) -> Option<usize> {
        Some(usize::from(self.left))
    }
}
