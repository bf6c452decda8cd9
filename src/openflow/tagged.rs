//! Deserializing internally tagged enums (`{ type: 'output', port: 1 }`) without
//! serde's `Content` buffering.
//!
//! `#[serde(tag = "type")]` buffers every object into `Content` (allocations per
//! field) before it can look at `type`. The tape always writes `type` first, so
//! `tagged_enum!` reads it, picks the variant, and hands the rest of the map
//! straight to a helper struct with the variant's fields: no buffering, and field
//! errors keep their path. When `type` is not the first key (a JSON value with
//! sorted keys), the object is buffered once as a `serde_json::Value`, as
//! `impl Deserialize for Message` does. Behaviour otherwise matches serde's: same
//! messages for an unknown variant, a missing `type`, an unknown field; unit
//! variants ignore other keys.

use serde::de::{self, DeserializeSeed, Deserializer, MapAccess, Visitor};
use std::fmt;
use std::marker::PhantomData;

/// What `tagged_enum!` implements.
pub trait TaggedEnum: Sized {
    /// The variant tags, in declaration order.
    const VARIANTS: &'static [&'static str];
    /// For "invalid type" errors.
    const EXPECTING: &'static str;
    /// The variant selector (a field-less enum).
    type Tag: Copy;
    /// The variant named `tag`.
    fn tag(tag: &str) -> Option<Self::Tag>;
    /// Reads the variant's fields from `rest` (the object without `type`).
    fn variant<'de, D: Deserializer<'de>>(tag: Self::Tag, rest: D) -> Result<Self, D::Error>;
}

/// `impl Deserialize` body for a [`TaggedEnum`].
pub fn deserialize<'de, T: TaggedEnum, D: Deserializer<'de>>(d: D) -> Result<T, D::Error> {
    d.deserialize_map(TaggedVisitor::<T>(PhantomData))
}

struct TaggedVisitor<T>(PhantomData<T>);

/// The first key: `type`, or another (kept only for the buffered fallback).
enum FirstKey {
    Type,
    Other(String),
}

struct FirstKeySeed;

impl<'de> DeserializeSeed<'de> for FirstKeySeed {
    type Value = FirstKey;
    fn deserialize<D: Deserializer<'de>>(self, d: D) -> Result<FirstKey, D::Error> {
        d.deserialize_str(self)
    }
}

impl<'de> Visitor<'de> for FirstKeySeed {
    type Value = FirstKey;
    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("a field name")
    }
    fn visit_str<E: de::Error>(self, v: &str) -> Result<FirstKey, E> {
        Ok(if v == "type" { FirstKey::Type } else { FirstKey::Other(v.to_owned()) })
    }
}

struct TagSeed<T>(PhantomData<T>);

impl<'de, T: TaggedEnum> DeserializeSeed<'de> for TagSeed<T> {
    type Value = T::Tag;
    fn deserialize<D: Deserializer<'de>>(self, d: D) -> Result<T::Tag, D::Error> {
        d.deserialize_str(self)
    }
}

impl<'de, T: TaggedEnum> Visitor<'de> for TagSeed<T> {
    type Value = T::Tag;
    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("a string naming the variant")
    }
    fn visit_str<E: de::Error>(self, v: &str) -> Result<T::Tag, E> {
        T::tag(v).ok_or_else(|| E::unknown_variant(v, T::VARIANTS))
    }
}

impl<'de, T: TaggedEnum> Visitor<'de> for TaggedVisitor<T> {
    type Value = T;

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(T::EXPECTING)
    }

    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<T, A::Error> {
        let first = match map.next_key_seed(FirstKeySeed)? {
            Some(k) => k,
            None => return Err(de::Error::missing_field("type")),
        };
        let first = match first {
            FirstKey::Type => {
                let tag = map.next_value_seed(TagSeed::<T>(PhantomData))?;
                return T::variant(tag, de::value::MapAccessDeserializer::new(map));
            }
            FirstKey::Other(k) => k,
        };
        let mut obj = serde_json::Map::new();
        let v = map.next_value_seed(Lenient)?;
        obj.insert(first, v);
        while let Some(k) = map.next_key::<String>()? {
            let v = map.next_value_seed(Lenient)?;
            obj.insert(k, v);
        }
        let tag = match obj.remove("type") {
            Some(serde_json::Value::String(t)) => {
                T::tag(&t).ok_or_else(|| <A::Error as de::Error>::unknown_variant(&t, T::VARIANTS))?
            }
            Some(_) => return Err(de::Error::custom("`type` must be a string naming the variant")),
            None => return Err(de::Error::missing_field("type")),
        };
        T::variant(tag, serde_json::Value::Object(obj)).map_err(de::Error::custom)
    }
}

/// Buffers any value as a `serde_json::Value`, as serde's `Content` would take
/// it: bytes become an array of numbers (what `Bytes` also reads), a float JSON
/// cannot hold becomes `null`. So buffering itself never fails, and an object
/// without `type` reports that, as serde does, whatever its values.
struct Lenient;

impl<'de> DeserializeSeed<'de> for Lenient {
    type Value = serde_json::Value;
    fn deserialize<D: Deserializer<'de>>(self, d: D) -> Result<serde_json::Value, D::Error> {
        d.deserialize_any(self)
    }
}

impl<'de> Visitor<'de> for Lenient {
    type Value = serde_json::Value;
    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("any value")
    }
    fn visit_bool<E: de::Error>(self, v: bool) -> Result<serde_json::Value, E> {
        Ok(v.into())
    }
    fn visit_i64<E: de::Error>(self, v: i64) -> Result<serde_json::Value, E> {
        Ok(v.into())
    }
    fn visit_u64<E: de::Error>(self, v: u64) -> Result<serde_json::Value, E> {
        Ok(v.into())
    }
    fn visit_f64<E: de::Error>(self, v: f64) -> Result<serde_json::Value, E> {
        Ok(serde_json::Number::from_f64(v).map_or(serde_json::Value::Null, serde_json::Value::Number))
    }
    fn visit_str<E: de::Error>(self, v: &str) -> Result<serde_json::Value, E> {
        Ok(v.into())
    }
    fn visit_bytes<E: de::Error>(self, v: &[u8]) -> Result<serde_json::Value, E> {
        Ok(v.iter().map(|b| serde_json::Value::from(*b)).collect())
    }
    fn visit_unit<E: de::Error>(self) -> Result<serde_json::Value, E> {
        Ok(serde_json::Value::Null)
    }
    fn visit_none<E: de::Error>(self) -> Result<serde_json::Value, E> {
        Ok(serde_json::Value::Null)
    }
    fn visit_some<D: Deserializer<'de>>(self, d: D) -> Result<serde_json::Value, D::Error> {
        d.deserialize_any(self)
    }
    fn visit_seq<A: de::SeqAccess<'de>>(self, mut seq: A) -> Result<serde_json::Value, A::Error> {
        let mut out = Vec::new();
        while let Some(v) = seq.next_element_seed(Lenient)? {
            out.push(v);
        }
        Ok(out.into())
    }
    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<serde_json::Value, A::Error> {
        let mut out = serde_json::Map::new();
        while let Some(k) = map.next_key::<String>()? {
            let v = map.next_value_seed(Lenient)?;
            out.insert(k, v);
        }
        Ok(out.into())
    }
}

/// Implements `Deserialize` for an internally tagged enum (tag `type`) through
/// [`TaggedEnum`], next to the enum's `#[derive(Serialize)]` whose serde
/// attributes it repeats (a variant or field left out does not compile; the tag
/// names must be serde's `snake_case` of the variants). Each arm is
/// `"tag" => kind Variant body`:
///
/// * `unit Variant ()`: no fields (other keys are ignored, as serde does);
/// * `newtype Variant (Inner)`: the rest of the object is `Inner`;
/// * `fields Variant { field: Type, ... }`: the variant's fields, with their serde
///   attributes; read camelCase and with `deny_unknown_fields`, like the derive.
macro_rules! tagged_enum {
    ($ty:ident { $($tag:literal => $kind:ident $variant:ident $body:tt),* $(,)? }) => {
        const _: () = {
            #[derive(Clone, Copy)]
            #[allow(non_camel_case_types, clippy::enum_variant_names)]
            pub enum __Tag { $($variant),* }

            impl $crate::openflow::tagged::TaggedEnum for $ty {
                const VARIANTS: &'static [&'static str] = &[$($tag),*];
                const EXPECTING: &'static str = concat!("internally tagged enum ", stringify!($ty));
                type Tag = __Tag;
                #[inline]
                fn tag(tag: &str) -> Option<__Tag> {
                    match tag {
                        $($tag => Some(__Tag::$variant),)*
                        _ => None,
                    }
                }
                fn variant<'de, D: ::serde::Deserializer<'de>>(tag: __Tag, rest: D) -> Result<Self, D::Error> {
                    match tag {
                        $(__Tag::$variant => $crate::openflow::tagged::tagged_enum!(@arm $ty $kind $variant $body rest),)*
                    }
                }
            }

            impl<'de> ::serde::Deserialize<'de> for $ty {
                fn deserialize<D: ::serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
                    $crate::openflow::tagged::deserialize(d)
                }
            }

            // A variant added to the enum but not here does not compile (and a
            // field, through the constructor above).
            #[allow(dead_code)]
            fn __every_variant_is_listed(v: &$ty) {
                match v {
                    $($ty::$variant { .. } => {})*
                }
            }
        };
    };
    (@arm $ty:ident unit $variant:ident () $rest:ident) => {{
        <::serde::de::IgnoredAny as ::serde::Deserialize>::deserialize($rest)?;
        Ok($ty::$variant)
    }};
    (@arm $ty:ident newtype $variant:ident ($inner:ty) $rest:ident) => {
        <$inner as ::serde::Deserialize>::deserialize($rest).map($ty::$variant)
    };
    (@arm $ty:ident fields $variant:ident { $($(#[$fm:meta])* $field:ident : $fty:ty),* $(,)? } $rest:ident) => {{
        // Read through a map, so the struct's name never shows in a message.
        #[derive(::serde::Deserialize)]
        #[serde(rename_all = "camelCase", deny_unknown_fields)]
        struct __Fields { $($(#[$fm])* $field: $fty),* }
        let __Fields { $($field),* } = <__Fields as ::serde::Deserialize>::deserialize($rest)?;
        Ok($ty::$variant { $($field),* })
    }};
}
pub(crate) use tagged_enum;
