//! serde Serializer writing the tape (Rust to JS).
//!
//! Objects are written as `SHAPE id value*`: the keys travel once, in the shape
//! table ([`super::atoms`]), and the JS side builds the object from a literal.
//! Strings that recur (variant names, port names, ...) travel as atom ids.

use serde::ser::{self, Serialize};
use std::fmt;
use std::rc::Rc;
use std::sync::atomic::{AtomicBool, Ordering};

use super::atoms::{self, Local, Pred, SHAPE_SEED};
use super::op;

/// Key names from id `from` on, for the JS side to extend its table.
pub fn key_names(from: usize) -> Vec<String> {
    atoms::atom_names(from)
}

/// A serialization failure (a value the tape cannot carry).
#[derive(Debug)]
pub struct SerError(String);

impl fmt::Display for SerError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}
impl std::error::Error for SerError {}
impl ser::Error for SerError {
    fn custom<T: fmt::Display>(msg: T) -> Self {
        SerError(msg.to_string())
    }
}

use crate::openflow::types::DATA_STR;

/// Appends the tape of `value` to `out`.
pub fn to_tape<T: Serialize + ?Sized>(value: &T, out: &mut Vec<u8>) -> Result<(), SerError> {
    atoms::with_local(|local| {
        let start = out.len();
        let keyed = SHAPES_FULL.load(Ordering::Relaxed);
        let r = serialize_with(value, out, local, keyed);
        match r {
            Err(e) if e.0 == SHAPES_FULL_MSG && !keyed => {
                SHAPES_FULL.store(true, Ordering::Relaxed);
                out.truncate(start);
                serialize_with(value, out, local, true)
            }
            r => r,
        }
    })
}

/// Writes `s` as `ASCII` (short ASCII) or `STR`.
pub(crate) fn inline_str(out: &mut Vec<u8>, s: &str) -> Result<(), SerError> {
    if s.len() <= 255 && s.is_ascii() {
        out.push(op::ASCII);
        out.push(s.len() as u8);
    } else {
        let len = u16::try_from(s.len()).map_err(|_| SerError("string longer than 65535 bytes".into()))?;
        out.push(op::STR);
        out.extend_from_slice(&len.to_le_bytes());
    }
    out.extend_from_slice(s.as_bytes());
    Ok(())
}

/// Appends the tape of a message to `out`: [`to_tape`], with the FLOW_MOD fast
/// path (`fast.rs`), which writes the same bytes.
pub fn message_to_tape(m: &crate::openflow::Message, out: &mut Vec<u8>) -> Result<(), SerError> {
    if let crate::openflow::Message::FlowMod(fm) = m {
        if !SHAPES_FULL.load(Ordering::Relaxed)
            && atoms::with_local(|l| super::fast::flow_mod_to_tape(fm, out, l)).is_some()
        {
            return Ok(());
        }
    }
    to_tape(m, out)
}

/// Set once the shape table is full: objects are then written keyed.
static SHAPES_FULL: AtomicBool = AtomicBool::new(false);
const SHAPES_FULL_MSG: &str = "the tape's shape table is full";

pub(crate) fn serialize_with<T: Serialize + ?Sized>(
    value: &T,
    out: &mut Vec<u8>,
    local: &mut Local,
    keyed: bool,
) -> Result<(), SerError> {
    let mut keys = std::mem::take(&mut local.key_stack);
    let mut key_addrs = std::mem::take(&mut local.key_addr_stack);
    keys.clear();
    key_addrs.clear();
    let mut ser = TapeSer { out, local, keys, key_addrs, data_str: false, keyed };
    let r = value.serialize(&mut ser);
    ser.local.key_stack = std::mem::take(&mut ser.keys);
    ser.local.key_addr_stack = std::mem::take(&mut ser.key_addrs);
    r
}

struct TapeSer<'a> {
    out: &'a mut Vec<u8>,
    local: &'a mut Local,
    /// Key ids of the open objects, innermost last.
    keys: Vec<u16>,
    /// Their `(address, len)`, to remember the shape of a struct (see [`Pred`]).
    key_addrs: Vec<(usize, usize)>,
    /// The next string is data (see [`DATA_STR`]).
    data_str: bool,
    /// Objects as `OBJECT n (key value)*` (the shape table is full).
    keyed: bool,
}

impl TapeSer<'_> {
    #[inline]
    fn u32(&mut self, v: u32) {
        let b = v.to_le_bytes();
        self.out.extend_from_slice(&[op::U32, b[0], b[1], b[2], b[3]]);
    }
    fn f64(&mut self, v: f64) {
        self.out.push(op::F64);
        self.out.extend_from_slice(&v.to_le_bytes());
    }
    #[inline]
    fn atom(&mut self, id: u16) {
        let b = id.to_le_bytes();
        self.out.extend_from_slice(&[op::ATOM, b[0], b[1]]);
    }
    fn inline_str(&mut self, s: &str) -> Result<(), SerError> {
        inline_str(self.out, s)
    }
    #[inline]
    fn str(&mut self, s: &str) -> Result<(), SerError> {
        if std::mem::take(&mut self.data_str) {
            return self.inline_str(s);
        }
        match self.local.str_id(s) {
            Some(id) => {
                self.atom(id);
                Ok(())
            }
            None => self.inline_str(s),
        }
    }
    /// Writes a container header with a placeholder; returns where to patch.
    #[inline]
    fn open(&mut self, opcode: u8, width: usize) -> usize {
        self.out.push(opcode);
        let at = self.out.len();
        self.out.extend_from_slice(&[0, 0, 0, 0][..width]);
        at
    }
}

enum Kind {
    Array { at: usize },
    Object(Obj),
}

/// An open object. While its keys follow the shape its struct had last time
/// (`pred`), nothing is recorded but the position; on the first difference the
/// keys so far are materialized and the shape is looked up at the end.
struct Obj {
    at: usize,
    keys_from: usize,
    hash: u64,
    /// The struct's name address (0: not a struct), the key of `pred`.
    name: usize,
    pred: Option<Rc<Pred>>,
    pos: usize,
}

/// An open array or object: patches its count (array) or shape (object) when closed.
struct Compound<'s, 'a> {
    ser: &'s mut TapeSer<'a>,
    kind: Kind,
    count: u32,
}

impl Compound<'_, '_> {
    fn object<'s, 'a>(ser: &'s mut TapeSer<'a>, name: usize) -> Compound<'s, 'a> {
        if ser.keyed {
            let at = ser.open(op::OBJECT, 2);
            let keys_from = ser.keys.len();
            return Compound {
                ser,
                kind: Kind::Object(Obj { at, keys_from, hash: SHAPE_SEED, name: 0, pred: None, pos: 0 }),
                count: 0,
            };
        }
        let at = ser.open(op::SHAPE, 2);
        let keys_from = ser.keys.len();
        let pred = if name != 0 { ser.local.pred(name) } else { None };
        Compound { ser, kind: Kind::Object(Obj { at, keys_from, hash: SHAPE_SEED, name, pred, pos: 0 }), count: 0 }
    }

    fn close(self) -> Result<(), SerError> {
        let Compound { ser, kind, count } = self;
        match kind {
            Kind::Array { at } => {
                if let Some(s) = ser.out.get_mut(at..at + 4) {
                    s.copy_from_slice(&count.to_le_bytes());
                }
                Ok(())
            }
            Kind::Object(mut o) => {
                if ser.keyed {
                    let n = u16::try_from(count).map_err(|_| SerError("object with more than 65535 keys".into()))?;
                    if let Some(s) = ser.out.get_mut(o.at..o.at + 2) {
                        s.copy_from_slice(&n.to_le_bytes());
                    }
                    return Ok(());
                }
                let shape = match o.pred.take() {
                    Some(p) if o.pos == p.keys.len() => p.shape,
                    Some(p) => {
                        materialize(ser, &mut o, &p);
                        close_shape(ser, &o)?
                    }
                    None => close_shape(ser, &o)?,
                };
                if let Some(s) = ser.out.get_mut(o.at..o.at + 2) {
                    s.copy_from_slice(&shape.to_le_bytes());
                }
                ser.keys.truncate(o.keys_from);
                ser.key_addrs.truncate(o.keys_from);
                Ok(())
            }
        }
    }

    #[inline]
    fn field<T: Serialize + ?Sized>(&mut self, key: &'static str, v: &T) -> Result<(), SerError> {
        let Kind::Object(o) = &mut self.kind else {
            return Err(SerError("field outside an object".into()));
        };
        self.count += 1;
        if let Some(p) = &o.pred {
            if let Some(&(addr, len, _)) = p.keys.get(o.pos) {
                if addr == key.as_ptr() as usize && len == key.len() {
                    o.pos += 1;
                    return v.serialize(&mut *self.ser);
                }
            }
            let p = o.pred.take();
            if let Some(p) = p {
                materialize(self.ser, o, &p);
            }
        }
        let id = self.ser.local.key_id(key).ok_or_else(|| SerError("too many distinct object keys".into()))?;
        if self.ser.keyed {
            self.ser.out.extend_from_slice(&id.to_le_bytes());
        } else {
            o.hash = atoms::shape_hash(o.hash, id);
            self.ser.keys.push(id);
            self.ser.key_addrs.push((key.as_ptr() as usize, key.len()));
        }
        v.serialize(&mut *self.ser)
    }
}

/// The predicted keys matched up to `o.pos`: record them as if seen one by one.
fn materialize(ser: &mut TapeSer<'_>, o: &mut Obj, p: &Pred) {
    for &(addr, len, id) in p.keys.get(..o.pos).unwrap_or_default() {
        o.hash = atoms::shape_hash(o.hash, id);
        ser.keys.push(id);
        ser.key_addrs.push((addr, len));
    }
}

/// Looks the object's shape up and remembers it as its struct's prediction.
fn close_shape(ser: &mut TapeSer<'_>, o: &Obj) -> Result<u16, SerError> {
    let keys = ser.keys.get(o.keys_from..).unwrap_or_default();
    let shape = ser.local.shape_id(keys, o.hash).ok_or_else(|| SerError(SHAPES_FULL_MSG.into()))?;
    if o.name != 0 {
        let addrs = ser.key_addrs.get(o.keys_from..).unwrap_or_default();
        let pred = Pred { shape, keys: addrs.iter().zip(keys).map(|(a, k)| (a.0, a.1, *k)).collect() };
        ser.local.set_pred(o.name, pred);
    }
    Ok(shape)
}

impl<'s, 'a> ser::Serializer for &'s mut TapeSer<'a> {
    type Ok = ();
    type Error = SerError;
    type SerializeSeq = Compound<'s, 'a>;
    type SerializeTuple = Compound<'s, 'a>;
    type SerializeTupleStruct = Compound<'s, 'a>;
    type SerializeTupleVariant = Compound<'s, 'a>;
    type SerializeMap = Compound<'s, 'a>;
    type SerializeStruct = Compound<'s, 'a>;
    type SerializeStructVariant = Compound<'s, 'a>;

    fn serialize_bool(self, v: bool) -> Result<(), SerError> {
        self.out.push(if v { op::TRUE } else { op::FALSE });
        Ok(())
    }
    fn serialize_i8(self, v: i8) -> Result<(), SerError> {
        self.serialize_i64(v.into())
    }
    fn serialize_i16(self, v: i16) -> Result<(), SerError> {
        self.serialize_i64(v.into())
    }
    fn serialize_i32(self, v: i32) -> Result<(), SerError> {
        self.serialize_i64(v.into())
    }
    fn serialize_i64(self, v: i64) -> Result<(), SerError> {
        match u32::try_from(v) {
            Ok(u) => self.u32(u),
            Err(_) => self.f64(v as f64),
        }
        Ok(())
    }
    fn serialize_u8(self, v: u8) -> Result<(), SerError> {
        self.u32(v.into());
        Ok(())
    }
    fn serialize_u16(self, v: u16) -> Result<(), SerError> {
        self.u32(v.into());
        Ok(())
    }
    fn serialize_u32(self, v: u32) -> Result<(), SerError> {
        self.u32(v);
        Ok(())
    }
    /// 64-bit values (cookies, counters, datapath ids) are BigInt in JS, always.
    fn serialize_u64(self, v: u64) -> Result<(), SerError> {
        match v {
            0 => self.out.push(op::BIG_ZERO),
            u64::MAX => self.out.push(op::BIG_ONES),
            _ => {
                self.out.push(op::BIGINT);
                self.out.extend_from_slice(&v.to_le_bytes());
            }
        }
        Ok(())
    }
    fn serialize_f32(self, v: f32) -> Result<(), SerError> {
        self.f64(v.into());
        Ok(())
    }
    fn serialize_f64(self, v: f64) -> Result<(), SerError> {
        self.f64(v);
        Ok(())
    }
    fn serialize_char(self, v: char) -> Result<(), SerError> {
        self.str(v.encode_utf8(&mut [0; 4]))
    }
    fn serialize_str(self, v: &str) -> Result<(), SerError> {
        self.str(v)
    }
    fn serialize_bytes(self, v: &[u8]) -> Result<(), SerError> {
        let len = u32::try_from(v.len()).map_err(|_| SerError("byte string too long".into()))?;
        self.out.push(op::BYTES);
        self.out.extend_from_slice(&len.to_le_bytes());
        self.out.extend_from_slice(v);
        Ok(())
    }
    fn serialize_none(self) -> Result<(), SerError> {
        self.out.push(op::NULL);
        Ok(())
    }
    fn serialize_some<T: Serialize + ?Sized>(self, v: &T) -> Result<(), SerError> {
        v.serialize(self)
    }
    fn serialize_unit(self) -> Result<(), SerError> {
        self.serialize_none()
    }
    fn serialize_unit_struct(self, _: &'static str) -> Result<(), SerError> {
        self.serialize_none()
    }
    fn serialize_unit_variant(self, _: &'static str, _: u32, variant: &'static str) -> Result<(), SerError> {
        self.str(variant)
    }
    fn serialize_newtype_struct<T: Serialize + ?Sized>(self, name: &'static str, v: &T) -> Result<(), SerError> {
        if name == DATA_STR {
            self.data_str = true;
            let r = v.serialize(&mut *self);
            self.data_str = false;
            return r;
        }
        v.serialize(self)
    }
    fn serialize_newtype_variant<T: Serialize + ?Sized>(
        self,
        _: &'static str,
        _: u32,
        variant: &'static str,
        v: &T,
    ) -> Result<(), SerError> {
        let mut c = Compound::object(self, 0);
        c.field(variant, v)?;
        c.close()
    }
    fn serialize_seq(self, _: Option<usize>) -> Result<Compound<'s, 'a>, SerError> {
        let at = self.open(op::ARRAY, 4);
        Ok(Compound { ser: self, kind: Kind::Array { at }, count: 0 })
    }
    fn serialize_tuple(self, len: usize) -> Result<Compound<'s, 'a>, SerError> {
        self.serialize_seq(Some(len))
    }
    fn serialize_tuple_struct(self, _: &'static str, len: usize) -> Result<Compound<'s, 'a>, SerError> {
        self.serialize_seq(Some(len))
    }
    fn serialize_tuple_variant(
        self,
        _: &'static str,
        _: u32,
        _: &'static str,
        _: usize,
    ) -> Result<Compound<'s, 'a>, SerError> {
        Err(SerError("tuple variants are not supported on the tape".into()))
    }
    fn serialize_map(self, _: Option<usize>) -> Result<Compound<'s, 'a>, SerError> {
        Ok(Compound::object(self, 0))
    }
    fn serialize_struct(self, name: &'static str, _: usize) -> Result<Compound<'s, 'a>, SerError> {
        Ok(Compound::object(self, name.as_ptr() as usize))
    }
    fn serialize_struct_variant(
        self,
        _: &'static str,
        _: u32,
        _: &'static str,
        _: usize,
    ) -> Result<Compound<'s, 'a>, SerError> {
        Err(SerError("struct variants are not supported on the tape".into()))
    }
}

impl ser::SerializeSeq for Compound<'_, '_> {
    type Ok = ();
    type Error = SerError;
    #[inline]
    fn serialize_element<T: Serialize + ?Sized>(&mut self, v: &T) -> Result<(), SerError> {
        self.count += 1;
        v.serialize(&mut *self.ser)
    }
    fn end(self) -> Result<(), SerError> {
        self.close()
    }
}

impl ser::SerializeTuple for Compound<'_, '_> {
    type Ok = ();
    type Error = SerError;
    fn serialize_element<T: Serialize + ?Sized>(&mut self, v: &T) -> Result<(), SerError> {
        ser::SerializeSeq::serialize_element(self, v)
    }
    fn end(self) -> Result<(), SerError> {
        self.close()
    }
}

impl ser::SerializeTupleStruct for Compound<'_, '_> {
    type Ok = ();
    type Error = SerError;
    fn serialize_field<T: Serialize + ?Sized>(&mut self, v: &T) -> Result<(), SerError> {
        ser::SerializeSeq::serialize_element(self, v)
    }
    fn end(self) -> Result<(), SerError> {
        self.close()
    }
}

impl ser::SerializeTupleVariant for Compound<'_, '_> {
    type Ok = ();
    type Error = SerError;
    fn serialize_field<T: Serialize + ?Sized>(&mut self, v: &T) -> Result<(), SerError> {
        ser::SerializeSeq::serialize_element(self, v)
    }
    fn end(self) -> Result<(), SerError> {
        self.close()
    }
}

/// Map keys must be strings known at compile time in this crate's models; a
/// dynamic key is refused rather than leaked into the intern table.
impl ser::SerializeMap for Compound<'_, '_> {
    type Ok = ();
    type Error = SerError;
    fn serialize_key<T: Serialize + ?Sized>(&mut self, _: &T) -> Result<(), SerError> {
        Err(SerError("maps with dynamic keys are not supported on the tape".into()))
    }
    fn serialize_value<T: Serialize + ?Sized>(&mut self, _: &T) -> Result<(), SerError> {
        Err(SerError("maps with dynamic keys are not supported on the tape".into()))
    }
    fn end(self) -> Result<(), SerError> {
        self.close()
    }
}

impl ser::SerializeStruct for Compound<'_, '_> {
    type Ok = ();
    type Error = SerError;
    #[inline]
    fn serialize_field<T: Serialize + ?Sized>(&mut self, key: &'static str, v: &T) -> Result<(), SerError> {
        self.field(key, v)
    }
    fn end(self) -> Result<(), SerError> {
        self.close()
    }
}

impl ser::SerializeStructVariant for Compound<'_, '_> {
    type Ok = ();
    type Error = SerError;
    fn serialize_field<T: Serialize + ?Sized>(&mut self, key: &'static str, v: &T) -> Result<(), SerError> {
        self.field(key, v)
    }
    fn end(self) -> Result<(), SerError> {
        self.close()
    }
}
