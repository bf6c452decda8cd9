//! Value types shared by the message families: open wire enums, flag sets, ports,
//! addresses with masks, and opaque byte payloads, with the serde forms the JS
//! surface uses (names in lower snake case, unknown values kept as numbers).
//! The address types ([`MacAddr`], [`Masked`]) are `crate::net::addr`'s,
//! re-exported; their serde forms (strings) are here.

use serde::de::{self, Deserializer, SeqAccess, Visitor};
use serde::ser::{SerializeSeq, Serializer};
use serde::{Deserialize, Serialize};
use std::fmt;
use std::net::Ipv4Addr;

/// Defines an open newtype over a wire integer with named constants: unknown values
/// survive a round trip, serialize as plain numbers, and Debug prints hex.
macro_rules! open_enum {
    ($(#[$m:meta])* pub struct $name:ident($int:ty) { $($(#[$cm:meta])* $konst:ident = $val:expr => $text:literal,)* }) => {
        $(#[$m])*
        #[derive(Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Default)]
        pub struct $name(pub $int);

        impl $name {
            $($(#[$cm])* #[allow(missing_docs)] pub const $konst: Self = Self($val);)*

            /// The lower-snake-case name of a known value.
            pub fn name(self) -> Option<&'static str> {
                match self.0 { $(v if v == $val => Some($text),)* _ => None }
            }

            /// The value for a name (case-insensitive).
            pub fn from_name(s: &str) -> Option<Self> {
                $(if s.eq_ignore_ascii_case($text) { return Some(Self($val)); })*
                None
            }
        }

        impl ::std::fmt::Debug for $name {
            fn fmt(&self, f: &mut ::std::fmt::Formatter<'_>) -> ::std::fmt::Result {
                match self.name() {
                    Some(n) => f.write_str(n),
                    None => ::std::write!(f, "{}(0x{:x})", stringify!($name), self.0),
                }
            }
        }

        impl ::serde::Serialize for $name {
            fn serialize<S: ::serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
                match self.name() {
                    Some(n) => s.serialize_str(n),
                    None => ::serde::Serialize::serialize(&self.0, s),
                }
            }
        }

        impl<'de> ::serde::Deserialize<'de> for $name {
            fn deserialize<D: ::serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
                d.deserialize_any($crate::openflow::types::NameOrNumber::<$int>::new(stringify!($name), |s| $name::from_name(s).map(|v| v.0)))
                    .map($name)
            }
        }
    };
}
pub(crate) use open_enum;

/// Defines a bit-flag newtype whose serde form is an array of flag names; bits
/// without a name are kept as one trailing number so nothing is lost.
macro_rules! flags {
    ($(#[$m:meta])* pub struct $name:ident($int:ty) { $($konst:ident = $val:expr => $text:literal,)* }) => {
        $(#[$m])*
        #[derive(Clone, Copy, PartialEq, Eq, Hash, Default)]
        pub struct $name(pub $int);

        impl $name {
            $(#[allow(missing_docs)] pub const $konst: Self = Self($val);)*
            const NAMED: &'static [($int, &'static str)] = &[$(($val, $text),)*];

            /// True when every bit of `other` is set.
            pub fn contains(self, other: Self) -> bool {
                self.0 & other.0 == other.0
            }

            /// Names of the set bits, then the value of unnamed bits (if any).
            pub fn names(self) -> (Vec<&'static str>, $int) {
                let mut rest = self.0;
                let mut names = Vec::new();
                for &(bit, text) in Self::NAMED {
                    if bit != 0 && self.0 & bit == bit {
                        names.push(text);
                        rest &= !bit;
                    }
                }
                (names, rest)
            }

            /// The bit of a flag name (case-insensitive).
            pub fn bit(name: &str) -> Option<$int> {
                Self::NAMED.iter().find(|(_, t)| t.eq_ignore_ascii_case(name)).map(|(b, _)| *b)
            }
        }

        impl ::std::fmt::Debug for $name {
            fn fmt(&self, f: &mut ::std::fmt::Formatter<'_>) -> ::std::fmt::Result {
                let (names, rest) = self.names();
                ::std::write!(f, "{}{:?}", stringify!($name), names)?;
                if rest != 0 { ::std::write!(f, "+0x{:x}", rest)?; }
                Ok(())
            }
        }

        impl ::serde::Serialize for $name {
            fn serialize<S: ::serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
                $crate::openflow::types::serialize_flags(self.names(), s)
            }
        }

        impl<'de> ::serde::Deserialize<'de> for $name {
            fn deserialize<D: ::serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
                d.deserialize_any($crate::openflow::types::FlagsVisitor::<$int>::new(stringify!($name), $name::bit)).map($name)
            }
        }
    };
}
pub(crate) use flags;

/// Integers the open-enum and flag visitors can produce.
pub trait WireInt: Copy + Default + TryFrom<u64> + Into<u64> + std::ops::BitOr<Output = Self> + fmt::Display {}
impl WireInt for u8 {}
impl WireInt for u16 {}
impl WireInt for u32 {}

fn int_from<T: WireInt, E: de::Error>(v: u64, what: &'static str) -> Result<T, E> {
    T::try_from(v).map_err(|_| E::invalid_value(de::Unexpected::Unsigned(v), &what))
}

fn int_from_f64<T: WireInt, E: de::Error>(v: f64, what: &'static str) -> Result<T, E> {
    if v.fract() != 0.0 || v < 0.0 || v > u64::MAX as f64 {
        return Err(E::invalid_value(de::Unexpected::Float(v), &what));
    }
    int_from(v as u64, what)
}

/// Visitor accepting a known name or a number.
pub struct NameOrNumber<T> {
    what: &'static str,
    lookup: fn(&str) -> Option<T>,
}

impl<T> NameOrNumber<T> {
    /// `what` names the type in errors; `lookup` maps names to values.
    pub fn new(what: &'static str, lookup: fn(&str) -> Option<T>) -> Self {
        Self { what, lookup }
    }
}

impl<'de, T: WireInt> Visitor<'de> for NameOrNumber<T> {
    type Value = T;
    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "a {} name or number", self.what)
    }
    fn visit_u64<E: de::Error>(self, v: u64) -> Result<T, E> {
        int_from(v, self.what)
    }
    fn visit_i64<E: de::Error>(self, v: i64) -> Result<T, E> {
        int_from(u64::try_from(v).map_err(|_| E::invalid_value(de::Unexpected::Signed(v), &self.what))?, self.what)
    }
    fn visit_f64<E: de::Error>(self, v: f64) -> Result<T, E> {
        int_from_f64(v, self.what)
    }
    fn visit_str<E: de::Error>(self, v: &str) -> Result<T, E> {
        if let Some(x) = (self.lookup)(v) {
            return Ok(x);
        }
        match parse_uint(v) {
            Some(n) => int_from(n, self.what),
            None => Err(E::custom(format_args!("unknown {} '{v}'", self.what))),
        }
    }
}

/// Visitor for flag sets: an array of names and numbers, or a single number.
pub struct FlagsVisitor<T> {
    what: &'static str,
    bit: fn(&str) -> Option<T>,
}

impl<T> FlagsVisitor<T> {
    /// `bit` maps a flag name to its bit.
    pub fn new(what: &'static str, bit: fn(&str) -> Option<T>) -> Self {
        Self { what, bit }
    }
}

impl<'de, T: WireInt> Visitor<'de> for FlagsVisitor<T> {
    type Value = T;
    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "an array of {} names, or a number", self.what)
    }
    fn visit_u64<E: de::Error>(self, v: u64) -> Result<T, E> {
        int_from(v, self.what)
    }
    fn visit_f64<E: de::Error>(self, v: f64) -> Result<T, E> {
        int_from_f64(v, self.what)
    }
    fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<T, A::Error> {
        let mut acc = T::default();
        while let Some(item) = seq.next_element::<FlagItem>()? {
            let bit = match item {
                FlagItem::Name(n) => (self.bit)(&n)
                    .ok_or_else(|| de::Error::custom(format_args!("unknown {} flag '{n}'", self.what)))?,
                FlagItem::Number(n) => int_from(n, self.what)?,
            };
            acc = acc | bit;
        }
        Ok(acc)
    }
}

#[derive(Deserialize)]
#[serde(untagged)]
enum FlagItem {
    Number(u64),
    Name(String),
}

/// Serializes `(names, unnamed bits)` as an array.
pub fn serialize_flags<S: Serializer, T: Into<u64> + Copy>(parts: (Vec<&'static str>, T), s: S) -> Result<S::Ok, S::Error> {
    let (names, rest) = parts;
    let rest: u64 = rest.into();
    let mut seq = s.serialize_seq(Some(names.len() + usize::from(rest != 0)))?;
    for n in names {
        seq.serialize_element(n)?;
    }
    if rest != 0 {
        seq.serialize_element(&rest)?;
    }
    seq.end()
}

/// Parses a decimal or `0x` hexadecimal unsigned integer.
pub fn parse_uint(s: &str) -> Option<u64> {
    let s = s.trim();
    if let Some(hex) = s.strip_prefix("0x").or_else(|| s.strip_prefix("0X")) {
        u64::from_str_radix(hex, 16).ok()
    } else if !s.is_empty() && s.bytes().all(|b| b.is_ascii_digit()) {
        s.parse().ok()
    } else {
        None
    }
}

open_enum! {
    /// An OpenFlow 1.1 port number (OpenFlow 1.1.0 §A.2.1, `enum ofp_port_no`).
    /// Reserved ports serialize by name (`'normal'`), others as numbers.
    pub struct PortNo(u32) {
        /// Largest physical port number.
        MAX = 0xffff_ff00 => "max",
        /// The packet's input port.
        IN_PORT = 0xffff_fff8 => "in_port",
        /// Submit to the first flow table (packet-out only).
        TABLE = 0xffff_fff9 => "table",
        /// The switch's normal L2/L3 processing.
        NORMAL = 0xffff_fffa => "normal",
        /// Every port except the input port and those with flooding disabled.
        FLOOD = 0xffff_fffb => "flood",
        /// Every port except the input port.
        ALL = 0xffff_fffc => "all",
        /// Send to the controller.
        CONTROLLER = 0xffff_fffd => "controller",
        /// The local networking stack.
        LOCAL = 0xffff_fffe => "local",
        /// Wildcard port in requests.
        ANY = 0xffff_ffff => "any",
    }
}

/// OFPG_ANY / OFPG_ALL: the group wildcard (OpenFlow 1.1.0 §A.2.3.3? `ofp_group`).
pub const GROUP_ANY: u32 = 0xffff_ffff;
/// Buffer id meaning "no buffered packet".
pub const NO_BUFFER: u32 = 0xffff_ffff;

/// The address types, defined with their text forms (`Display`, `FromStr`: the
/// API's strict grammar) in [`crate::net::addr`], which uses nothing of the
/// crate; their serde forms are below.
pub use crate::net::addr::{prefix_len, AddrParseError, MacAddr, Masked};

/// Formats an address into a stack buffer (no `core::fmt`, no allocation) for
/// `Serialize`; the text is the same as `Display`'s.
struct AddrText {
    buf: [u8; 40],
    len: usize,
}

impl AddrText {
    fn new() -> Self {
        AddrText { buf: [0; 40], len: 0 }
    }
    fn push(&mut self, b: u8) {
        if let Some(slot) = self.buf.get_mut(self.len) {
            *slot = b;
            self.len += 1;
        }
    }
    fn mac(&mut self, m: &MacAddr) {
        const HEX: &[u8; 16] = b"0123456789abcdef";
        for (i, b) in m.0.iter().enumerate() {
            if i > 0 {
                self.push(b':');
            }
            self.push(HEX[usize::from(b >> 4)]);
            self.push(HEX[usize::from(b & 15)]);
        }
    }
    fn dec(&mut self, v: u32) {
        if v >= 100 {
            self.push(b'0' + (v / 100 % 10) as u8);
        }
        if v >= 10 {
            self.push(b'0' + (v / 10 % 10) as u8);
        }
        self.push(b'0' + (v % 10) as u8);
    }
    fn ip(&mut self, a: Ipv4Addr) {
        for (i, b) in a.octets().iter().enumerate() {
            if i > 0 {
                self.push(b'.');
            }
            self.dec(u32::from(*b));
        }
    }
    /// Serializes the text as data (never interned by the tape, see
    /// [`DATA_STR`]; a plain string to any other serializer).
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        let text = std::str::from_utf8(self.buf.get(..self.len).unwrap_or_default())
            .map_err(|_| serde::ser::Error::custom("address text is not UTF-8"))?;
        serialize_data_str(text, s)
    }
}

impl Serialize for MacAddr {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        let mut t = AddrText::new();
        t.mac(self);
        t.serialize(s)
    }
}

impl Serialize for Masked<MacAddr> {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        let mut t = AddrText::new();
        t.mac(&self.value);
        if let Some(m) = &self.mask {
            t.push(b'/');
            t.mac(m);
        }
        t.serialize(s)
    }
}

impl Serialize for Masked<Ipv4Addr> {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        let mut t = AddrText::new();
        t.ip(self.value);
        if let Some(m) = self.mask {
            match prefix_len(m) {
                Some(32) => {}
                Some(p) => {
                    t.push(b'/');
                    t.dec(p);
                }
                None => {
                    t.push(b'/');
                    t.ip(m);
                }
            }
        }
        t.serialize(s)
    }
}

macro_rules! string_serde {
    ($t:ty, $what:literal) => {
        impl<'de> Deserialize<'de> for $t {
            fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
                struct V;
                impl<'de> Visitor<'de> for V {
                    type Value = $t;
                    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                        f.write_str($what)
                    }
                    fn visit_str<E: de::Error>(self, v: &str) -> Result<$t, E> {
                        v.parse().map_err(E::custom)
                    }
                }
                d.deserialize_str(V)
            }
        }
    };
}
string_serde!(MacAddr, "a MAC address string");
string_serde!(Masked<MacAddr>, "a MAC address string, optionally with a /mask");
string_serde!(Masked<Ipv4Addr>, "an IPv4 address string, optionally with a /prefix or /mask");

/// A 64-bit value with an optional mask: a BigInt when exact, `{ value, mask }` when
/// masked (metadata, write_metadata).
#[derive(Clone, Copy, PartialEq, Eq, Hash, Debug, Default)]
pub struct MaskedU64 {
    /// The value.
    pub value: u64,
    /// Bits that matter; `None` for all.
    pub mask: Option<u64>,
}

impl Serialize for MaskedU64 {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        use serde::ser::SerializeStruct;
        match self.mask {
            None => s.serialize_u64(self.value),
            Some(mask) => {
                let mut st = s.serialize_struct("MaskedU64", 2)?;
                st.serialize_field("value", &self.value)?;
                st.serialize_field("mask", &mask)?;
                st.end()
            }
        }
    }
}

impl<'de> Deserialize<'de> for MaskedU64 {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        #[derive(Deserialize)]
        #[serde(untagged)]
        enum Form {
            Exact(U64),
            Masked { value: U64, mask: U64 },
        }
        Ok(match Form::deserialize(d)? {
            Form::Exact(v) => MaskedU64 { value: v.0, mask: None },
            Form::Masked { value, mask } => MaskedU64 { value: value.0, mask: (mask.0 != u64::MAX).then_some(mask.0) },
        })
    }
}

/// A u64 that also accepts a safe-integer number or a decimal/hex string from JS.
#[derive(Clone, Copy, PartialEq, Eq, Hash, Debug, Default, Serialize)]
#[serde(transparent)]
pub struct U64(pub u64);

impl<'de> Deserialize<'de> for U64 {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct V;
        impl<'de> Visitor<'de> for V {
            type Value = U64;
            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("a BigInt, a non-negative integer or a 0x hex string")
            }
            fn visit_u64<E: de::Error>(self, v: u64) -> Result<U64, E> {
                Ok(U64(v))
            }
            fn visit_i64<E: de::Error>(self, v: i64) -> Result<U64, E> {
                u64::try_from(v).map(U64).map_err(|_| E::invalid_value(de::Unexpected::Signed(v), &self))
            }
            fn visit_f64<E: de::Error>(self, v: f64) -> Result<U64, E> {
                if v.fract() != 0.0 || !(0.0..=9_007_199_254_740_991.0).contains(&v) {
                    return Err(E::invalid_value(de::Unexpected::Float(v), &"a safe non-negative integer (or a BigInt)"));
                }
                Ok(U64(v as u64))
            }
            fn visit_str<E: de::Error>(self, v: &str) -> Result<U64, E> {
                parse_uint(v).map(U64).ok_or_else(|| E::custom(format_args!("'{v}' is not an integer")))
            }
        }
        d.deserialize_any(V)
    }
}

/// Serde helpers for plain `u64` fields that must also accept numbers and strings.
pub mod u64_field {
    use super::U64;
    use serde::{Deserialize, Deserializer, Serializer};

    /// Always a u64 (a BigInt in JS).
    pub fn serialize<S: Serializer>(v: &u64, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_u64(*v)
    }

    /// BigInt, safe integer, or string.
    pub fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<u64, D::Error> {
        U64::deserialize(d).map(|v| v.0)
    }
}

/// Opaque bytes (packet data, error data, experimenter bodies): a Buffer in JS.
#[derive(Clone, PartialEq, Eq, Hash, Default)]
pub struct Bytes(pub Vec<u8>);

impl fmt::Debug for Bytes {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "Bytes(")?;
        for b in &self.0 {
            write!(f, "{b:02x}")?;
        }
        write!(f, ")")
    }
}

impl Serialize for Bytes {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_bytes(&self.0)
    }
}

impl<'de> Deserialize<'de> for Bytes {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct V;
        impl<'de> Visitor<'de> for V {
            type Value = Bytes;
            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("a Buffer, a Uint8Array or an array of bytes")
            }
            fn visit_bytes<E: de::Error>(self, v: &[u8]) -> Result<Bytes, E> {
                Ok(Bytes(v.to_vec()))
            }
            fn visit_byte_buf<E: de::Error>(self, v: Vec<u8>) -> Result<Bytes, E> {
                Ok(Bytes(v))
            }
            fn visit_str<E: de::Error>(self, v: &str) -> Result<Bytes, E> {
                hex_decode(v).map(Bytes).ok_or_else(|| E::custom("expected a hex string"))
            }
            fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<Bytes, A::Error> {
                let mut out = Vec::with_capacity(seq.size_hint().unwrap_or(0));
                while let Some(b) = seq.next_element::<u8>()? {
                    out.push(b);
                }
                Ok(Bytes(out))
            }
        }
        d.deserialize_any(V)
    }
}

/// Decodes a hex string (whitespace ignored).
pub fn hex_decode(s: &str) -> Option<Vec<u8>> {
    let digits: Vec<u8> = s.bytes().filter(|b| !b.is_ascii_whitespace()).collect();
    if !digits.len().is_multiple_of(2) {
        return None;
    }
    digits
        .chunks(2)
        .map(|pair| std::str::from_utf8(pair).ok().and_then(|p| u8::from_str_radix(p, 16).ok()))
        .collect()
}

/// Encodes bytes as lower-case hex.
pub fn hex_encode(b: &[u8]) -> String {
    let mut out = Vec::with_capacity(b.len() * 2);
    hex_encode_into(b, &mut out);
    // Hex digits are ASCII.
    String::from_utf8(out).unwrap_or_default()
}

/// [`hex_encode`] appended to `out`, by table (10,000 rule views write a cookie each).
pub fn hex_encode_into(b: &[u8], out: &mut Vec<u8>) {
    const HEX: &[u8; 16] = b"0123456789abcdef";
    for x in b {
        out.push(HEX[usize::from(x >> 4)]);
        out.push(HEX[usize::from(x & 0xf)]);
    }
}

/// The name of the newtype struct through which a value says "this string is
/// data, not a name": MAC and IP addresses. The tape (`crate::tape`) sends such
/// strings inline instead of interning them; any other serializer sees a
/// transparent newtype. Defined here, with the values that use it, so the codec
/// does not depend on the tape.
pub const DATA_STR: &str = "xo_sdn_native::tape::DataStr";

/// Serializes `s` as a string the tape will not intern (see [`DATA_STR`]).
pub fn serialize_data_str<S: serde::Serializer>(s: &str, ser: S) -> Result<S::Ok, S::Error> {
    ser.serialize_newtype_struct(DATA_STR, s)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The address serde forms are their text: read with `net::addr`'s strict
    /// grammar (`FromStr`), written as `Display` writes them.
    #[test]
    fn addresses_serde_as_their_text() {
        use serde_json::{from_value, json, to_value};
        for bad in ["aa:bb-cc:dd-ee:ff", "aa-bb-cc-dd-ee-ff", "a:b:c:d:e:f", " aa:bb:cc:dd:ee:ff"] {
            assert!(from_value::<MacAddr>(json!(bad)).is_err(), "{bad}");
            assert!(from_value::<Masked<MacAddr>>(json!(bad)).is_err(), "{bad}");
        }
        for bad in ["010.0.0.1", " 10.0.0.1", "10.0.0.0/08", "10.0.0.0/33", "10.0.0.0/255.0.0"] {
            assert!(from_value::<Masked<Ipv4Addr>>(json!(bad)).is_err(), "{bad}");
        }
        assert!(from_value::<MacAddr>(json!(1)).is_err());
        let mac: MacAddr = from_value(json!("AA:BB:CC:DD:EE:0F")).unwrap();
        assert_eq!(to_value(mac).unwrap(), json!("aa:bb:cc:dd:ee:0f"));
        for (text, printed) in [
            ("aa:bb:cc:dd:ee:ff", "aa:bb:cc:dd:ee:ff"),
            ("AA:BB:CC:DD:EE:FF/ff:ff:ff:00:00:00", "aa:bb:cc:dd:ee:ff/ff:ff:ff:00:00:00"),
            ("aa:bb:cc:dd:ee:ff/ff:ff:ff:ff:ff:ff", "aa:bb:cc:dd:ee:ff"),
        ] {
            let m: Masked<MacAddr> = from_value(json!(text)).unwrap();
            assert_eq!((to_value(m).unwrap(), m.to_string()), (json!(printed), printed.to_owned()), "{text}");
        }
        for (text, printed) in [
            ("10.0.0.0/8", "10.0.0.0/8"),
            ("10.0.0.0/255.0.255.0", "10.0.0.0/255.0.255.0"),
            ("10.0.0.1/32", "10.0.0.1"),
            ("0.0.0.0/0", "0.0.0.0/0"),
            ("255.255.255.255/255.255.255.128", "255.255.255.255/25"),
        ] {
            let m: Masked<Ipv4Addr> = from_value(json!(text)).unwrap();
            assert_eq!((to_value(m).unwrap(), m.to_string()), (json!(printed), printed.to_owned()), "{text}");
        }
    }

    #[test]
    fn port_names_round_trip() {
        assert_eq!(PortNo::from_name("NORMAL"), Some(PortNo::NORMAL));
        assert_eq!(serde_json::to_string(&PortNo(3)).unwrap(), "3");
        assert_eq!(serde_json::to_string(&PortNo::NORMAL).unwrap(), "\"normal\"");
        assert_eq!(serde_json::from_str::<PortNo>("\"local\"").unwrap(), PortNo::LOCAL);
        assert_eq!(serde_json::from_str::<PortNo>("7").unwrap(), PortNo(7));
        assert!(serde_json::from_str::<PortNo>("\"nope\"").is_err());
    }
}

open_enum! {
    /// A group id (`enum ofp_group`): `'all'`/`'any'` are the reserved wildcards.
    pub struct GroupNo(u32) {
        /// Last usable group number.
        MAX = 0xffff_ff00 => "max",
        /// All groups (group delete, stats).
        ALL = 0xffff_fffc => "all",
        /// Wildcard group.
        ANY = 0xffff_ffff => "any",
    }
}
