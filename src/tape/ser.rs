//! serde Serializer writing the tape (Rust to JS).

use serde::ser::{self, Serialize};
use std::cell::RefCell;
use std::collections::HashMap;
use std::fmt;
use std::sync::RwLock;

use super::op;

/// Every key name interned so far, in id order. Global so that every thread (and
/// every JS realm) sees the same ids; appended to, never reordered.
static KEYS: RwLock<Vec<&'static str>> = RwLock::new(Vec::new());

thread_local! {
    /// Per-thread cache keyed by the address of the `&'static str` serde hands us.
    static KEY_CACHE: RefCell<HashMap<(usize, usize), u16>> = RefCell::new(HashMap::new());
}

fn intern(key: &'static str) -> u16 {
    let addr = (key.as_ptr() as usize, key.len());
    if let Some(id) = KEY_CACHE.with(|c| c.borrow().get(&addr).copied()) {
        return id;
    }
    let id = {
        let mut keys = KEYS.write().unwrap_or_else(|e| e.into_inner());
        match keys.iter().position(|k| *k == key) {
            Some(i) => i,
            None => {
                keys.push(key);
                keys.len() - 1
            }
        }
    };
    let id = u16::try_from(id).unwrap_or(u16::MAX);
    KEY_CACHE.with(|c| c.borrow_mut().insert(addr, id));
    id
}

/// Key names from id `from` on, for the JS side to extend its table.
pub fn key_names(from: usize) -> Vec<String> {
    let keys = KEYS.read().unwrap_or_else(|e| e.into_inner());
    keys.iter().skip(from).map(|k| (*k).to_owned()).collect()
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

/// Appends the tape of `value` to `out`.
pub fn to_tape<T: Serialize + ?Sized>(value: &T, out: &mut Vec<u8>) -> Result<(), SerError> {
    value.serialize(&mut TapeSer { out })
}

struct TapeSer<'a> {
    out: &'a mut Vec<u8>,
}

impl TapeSer<'_> {
    fn u32(&mut self, v: u32) {
        self.out.push(op::U32);
        self.out.extend_from_slice(&v.to_le_bytes());
    }
    fn f64(&mut self, v: f64) {
        self.out.push(op::F64);
        self.out.extend_from_slice(&v.to_le_bytes());
    }
    fn str(&mut self, s: &str) -> Result<(), SerError> {
        let len = u16::try_from(s.len()).map_err(|_| SerError("string longer than 65535 bytes".into()))?;
        self.out.push(op::STR);
        self.out.extend_from_slice(&len.to_le_bytes());
        self.out.extend_from_slice(s.as_bytes());
        Ok(())
    }
    /// Writes a container header with a placeholder count; returns where to patch.
    fn open(&mut self, opcode: u8, width: usize) -> usize {
        self.out.push(opcode);
        let at = self.out.len();
        self.out.extend(std::iter::repeat(0).take(width));
        at
    }
}

/// An open array or object: patches its element count when closed.
struct Compound<'s, 'a> {
    ser: &'s mut TapeSer<'a>,
    count_at: usize,
    count: u32,
    wide: bool,
}

impl Compound<'_, '_> {
    fn close(self) -> Result<(), SerError> {
        let at = self.count_at;
        if self.wide {
            self.ser.out.get_mut(at..at + 4).map(|s| s.copy_from_slice(&self.count.to_le_bytes()));
        } else {
            let n = u16::try_from(self.count).map_err(|_| SerError("object with more than 65535 keys".into()))?;
            self.ser.out.get_mut(at..at + 2).map(|s| s.copy_from_slice(&n.to_le_bytes()));
        }
        Ok(())
    }
    fn key(&mut self, key: &'static str) {
        let id = intern(key);
        self.ser.out.extend_from_slice(&id.to_le_bytes());
    }
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
        self.out.push(op::BIGINT);
        self.out.extend_from_slice(&v.to_le_bytes());
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
    fn serialize_newtype_struct<T: Serialize + ?Sized>(self, _: &'static str, v: &T) -> Result<(), SerError> {
        v.serialize(self)
    }
    fn serialize_newtype_variant<T: Serialize + ?Sized>(
        self,
        _: &'static str,
        _: u32,
        variant: &'static str,
        v: &T,
    ) -> Result<(), SerError> {
        let at = self.open(op::OBJECT, 2);
        let mut c = Compound { ser: self, count_at: at, count: 1, wide: false };
        c.key(variant);
        v.serialize(&mut *c.ser)?;
        c.close()
    }
    fn serialize_seq(self, _: Option<usize>) -> Result<Compound<'s, 'a>, SerError> {
        let at = self.open(op::ARRAY, 4);
        Ok(Compound { ser: self, count_at: at, count: 0, wide: true })
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
        let at = self.open(op::OBJECT, 2);
        Ok(Compound { ser: self, count_at: at, count: 0, wide: false })
    }
    fn serialize_struct(self, _: &'static str, _: usize) -> Result<Compound<'s, 'a>, SerError> {
        self.serialize_map(None)
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
    fn serialize_field<T: Serialize + ?Sized>(&mut self, key: &'static str, v: &T) -> Result<(), SerError> {
        self.count += 1;
        self.key(key);
        v.serialize(&mut *self.ser)
    }
    fn end(self) -> Result<(), SerError> {
        self.close()
    }
}

impl ser::SerializeStructVariant for Compound<'_, '_> {
    type Ok = ();
    type Error = SerError;
    fn serialize_field<T: Serialize + ?Sized>(&mut self, key: &'static str, v: &T) -> Result<(), SerError> {
        ser::SerializeStruct::serialize_field(self, key, v)
    }
    fn end(self) -> Result<(), SerError> {
        self.close()
    }
}
