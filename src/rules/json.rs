//! Reading the validator's JSON: a large array one element at a time, each element
//! as a [`Json`] tree that borrows its strings from the text.
//!
//! A batch of 10,000 rules parsed as one `serde_json::Value` is 10,000 trees built,
//! all alive at once, then freed together; the allocator work (and the freeing)
//! cost more than the checks and the compile. Read element by element, each tree
//! is dropped before the next is built and the same memory serves them all.

use std::borrow::Cow;
use std::fmt;

use serde::de::{self, Deserialize, Deserializer, MapAccess, SeqAccess, Visitor};
use serde_json::{Number, Value};

/// Calls `each(index, element)` for every element of the JSON array `text`, in
/// order, stopping at the first `Err` of `each`. `Err(Ok(e))` is `each`'s error,
/// `Err(Err(e))` says `text` is not a JSON array.
pub fn for_each_element<'de, T: Deserialize<'de>, E>(
    text: &'de str,
    mut each: impl FnMut(usize, T) -> Result<(), E>,
) -> Result<(), Result<E, serde_json::Error>> {
    // `each`'s error is kept aside: stopping early leaves the array unfinished,
    // which serde_json reports as a syntax error that must not hide it.
    struct Elements<'f, F, E, T> {
        each: &'f mut F,
        failed: &'f mut Option<E>,
        element: std::marker::PhantomData<T>,
    }

    impl<'de, T: Deserialize<'de>, E, F: FnMut(usize, T) -> Result<(), E>> Visitor<'de> for Elements<'_, F, E, T> {
        type Value = ();

        fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
            f.write_str("a JSON array")
        }

        fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<(), A::Error> {
            let mut index = 0;
            while let Some(v) = seq.next_element::<T>()? {
                if let Err(e) = (self.each)(index, v) {
                    *self.failed = Some(e);
                    return Err(serde::de::Error::custom("stopped"));
                }
                index += 1;
            }
            Ok(())
        }
    }

    let mut failed = None;
    let mut de = serde_json::Deserializer::from_str(text);
    let parsed = de.deserialize_seq(Elements { each: &mut each, failed: &mut failed, element: std::marker::PhantomData }).and_then(|()| de.end());
    match (failed, parsed) {
        (Some(e), _) => Err(Ok(e)),
        (None, Err(e)) => Err(Err(e)),
        (None, Ok(())) => Ok(()),
    }
}

/// A JSON value that borrows its strings from the text it was read from (the
/// validator's input): reading a rule this way allocates its arrays and objects but
/// none of its keys and strings, where a `serde_json::Value` allocates each one and
/// a map for every object. Only a string with an escape in it is copied.
#[derive(Clone, Debug, PartialEq)]
pub enum Json<'a> {
    /// `null`.
    Null,
    /// `true` or `false`.
    Bool(bool),
    /// A number, as `serde_json` reads it.
    Number(Number),
    /// A string, unescaped.
    String(Cow<'a, str>),
    /// An array.
    Array(Vec<Json<'a>>),
    /// An object.
    Object(Object<'a>),
}

/// A JSON object's members in the order given. A key given twice means its last
/// value, as in a `serde_json::Value`.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct Object<'a>(Vec<(Cow<'a, str>, Json<'a>)>);

impl<'a> Object<'a> {
    /// The value of `key` (the last one given).
    pub fn get(&self, key: &str) -> Option<&Json<'a>> {
        self.0.iter().rev().find(|(k, _)| k == key).map(|(_, v)| v)
    }

    /// Whether `key` is given (null or not).
    pub fn contains_key(&self, key: &str) -> bool {
        self.0.iter().any(|(k, _)| k == key)
    }

    /// The keys in the order given (a repeated key more than once).
    pub fn keys(&self) -> impl Iterator<Item = &str> {
        self.0.iter().map(|(k, _)| k.as_ref())
    }
}

impl Json<'_> {
    /// `a string`, `a number`... for messages.
    pub fn kind(&self) -> &'static str {
        match self {
            Json::Null => "null",
            Json::Bool(_) => "a boolean",
            Json::Number(_) => "a number",
            Json::String(_) => "a string",
            Json::Array(_) => "an array",
            Json::Object(_) => "an object",
        }
    }

    /// Whether it is `null`.
    pub fn is_null(&self) -> bool {
        matches!(self, Json::Null)
    }

    /// The string, if it is one.
    pub fn as_str(&self) -> Option<&str> {
        match self {
            Json::String(s) => Some(s),
            _ => None,
        }
    }

    /// The elements, if it is an array.
    pub fn as_array(&self) -> Option<&[Self]> {
        match self {
            Json::Array(items) => Some(items),
            _ => None,
        }
    }

    /// The members, if it is an object.
    pub fn as_object(&self) -> Option<&Object<'_>> {
        match self {
            Json::Object(o) => Some(o),
            _ => None,
        }
    }
}

impl<'a> From<&'a Value> for Json<'a> {
    /// The same value, borrowing the strings of `v`.
    fn from(v: &'a Value) -> Self {
        match v {
            Value::Null => Json::Null,
            Value::Bool(b) => Json::Bool(*b),
            Value::Number(n) => Json::Number(n.clone()),
            Value::String(s) => Json::String(Cow::Borrowed(s)),
            Value::Array(items) => Json::Array(items.iter().map(Json::from).collect()),
            Value::Object(map) => Json::Object(Object(map.iter().map(|(k, v)| (Cow::Borrowed(k.as_str()), Json::from(v))).collect())),
        }
    }
}

/// What the address and number checks read of a JSON value, either kind of tree
/// (the rule validator's [`Json`], the other validators' `serde_json::Value`).
pub trait Scalar {
    /// `a string`, `a number`... for messages.
    fn kind(&self) -> &'static str;
    /// The string, if it is one.
    fn as_str(&self) -> Option<&str>;
    /// The number, if it is one.
    fn as_number(&self) -> Option<&Number>;
}

impl Scalar for Json<'_> {
    fn kind(&self) -> &'static str {
        Json::kind(self)
    }
    fn as_str(&self) -> Option<&str> {
        Json::as_str(self)
    }
    fn as_number(&self) -> Option<&Number> {
        match self {
            Json::Number(n) => Some(n),
            _ => None,
        }
    }
}

impl Scalar for Value {
    fn kind(&self) -> &'static str {
        match self {
            Value::Null => "null",
            Value::Bool(_) => "a boolean",
            Value::Number(_) => "a number",
            Value::String(_) => "a string",
            Value::Array(_) => "an array",
            Value::Object(_) => "an object",
        }
    }
    fn as_str(&self) -> Option<&str> {
        Value::as_str(self)
    }
    fn as_number(&self) -> Option<&Number> {
        match self {
            Value::Number(n) => Some(n),
            _ => None,
        }
    }
}

/// A string, borrowed from the text unless it had to be unescaped.
struct Text<'de>(Cow<'de, str>);

impl<'de> Deserialize<'de> for Text<'de> {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct V;
        impl<'de> Visitor<'de> for V {
            type Value = Text<'de>;
            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("a string")
            }
            fn visit_borrowed_str<E: de::Error>(self, s: &'de str) -> Result<Text<'de>, E> {
                Ok(Text(Cow::Borrowed(s)))
            }
            fn visit_str<E: de::Error>(self, s: &str) -> Result<Text<'de>, E> {
                Ok(Text(Cow::Owned(s.to_owned())))
            }
            fn visit_string<E: de::Error>(self, s: String) -> Result<Text<'de>, E> {
                Ok(Text(Cow::Owned(s)))
            }
        }
        d.deserialize_str(V)
    }
}

impl<'de> Deserialize<'de> for Json<'de> {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct V;
        impl<'de> Visitor<'de> for V {
            type Value = Json<'de>;
            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("any JSON value")
            }
            fn visit_unit<E: de::Error>(self) -> Result<Json<'de>, E> {
                Ok(Json::Null)
            }
            fn visit_none<E: de::Error>(self) -> Result<Json<'de>, E> {
                Ok(Json::Null)
            }
            fn visit_bool<E: de::Error>(self, b: bool) -> Result<Json<'de>, E> {
                Ok(Json::Bool(b))
            }
            fn visit_u64<E: de::Error>(self, n: u64) -> Result<Json<'de>, E> {
                Ok(Json::Number(n.into()))
            }
            fn visit_i64<E: de::Error>(self, n: i64) -> Result<Json<'de>, E> {
                Ok(Json::Number(n.into()))
            }
            // As serde_json's Value: a float it cannot hold (never from JSON text) is null.
            fn visit_f64<E: de::Error>(self, n: f64) -> Result<Json<'de>, E> {
                Ok(Number::from_f64(n).map_or(Json::Null, Json::Number))
            }
            fn visit_borrowed_str<E: de::Error>(self, s: &'de str) -> Result<Json<'de>, E> {
                Ok(Json::String(Cow::Borrowed(s)))
            }
            fn visit_str<E: de::Error>(self, s: &str) -> Result<Json<'de>, E> {
                Ok(Json::String(Cow::Owned(s.to_owned())))
            }
            fn visit_string<E: de::Error>(self, s: String) -> Result<Json<'de>, E> {
                Ok(Json::String(Cow::Owned(s)))
            }
            fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<Json<'de>, A::Error> {
                let mut items = Vec::with_capacity(seq.size_hint().unwrap_or(0));
                while let Some(v) = seq.next_element()? {
                    items.push(v);
                }
                Ok(Json::Array(items))
            }
            fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Json<'de>, A::Error> {
                // A rule has up to 15 keys; most have 5 to 8.
                let mut members = Vec::with_capacity(8);
                while let Some(Text(k)) = map.next_key()? {
                    members.push((k, map.next_value()?));
                }
                Ok(Json::Object(Object(members)))
            }
        }
        d.deserialize_any(V)
    }
}

/// `text`, a JSON array, cut into up to `parts` runs of elements (the text
/// between the brackets, a run for each part) at `},{` found near equal shares
/// of it, for parts to be read on their own as `[run]`, or `None` when `text` is
/// not bracketed.
///
/// Only a cut between two elements of the array gives runs that all read as
/// arrays: reading `[run]` is reading `text` from a boundary between elements,
/// so a `},{` inside a string leaves the run before it inside that string, and
/// one inside an element leaves that element unclosed. A caller that reads every
/// run, and reads the whole of `text` instead when one does not read, reads
/// exactly the elements of `text`, at the same depth.
pub fn split_array(text: &str, parts: usize) -> Option<Vec<&str>> {
    let body = text.trim_matches(is_json_space).strip_prefix('[')?.strip_suffix(']')?;
    let mut runs = Vec::with_capacity(parts);
    let mut start = 0;
    for k in 1..parts.max(1) {
        let share = body.len() * k / parts;
        let Some(found) = body.get(share.max(start)..).and_then(|rest| rest.find("},{")) else { break };
        let comma = share.max(start) + found + 1;
        runs.push(body.get(start..comma)?);
        start = comma + 1;
    }
    runs.push(body.get(start..)?);
    Some(runs)
}

/// JSON's whitespace (RFC 8259 §2), which is not all of Unicode's.
fn is_json_space(c: char) -> bool {
    matches!(c, ' ' | '\t' | '\n' | '\r')
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn split_array_cuts_between_elements_near_equal_shares() {
        let text = r#" [{"a":1},{"b":2},{"c":3},{"d":4}] "#;
        // At the first `},{` from half of the text on.
        assert_eq!(split_array(text, 2).unwrap(), vec![r#"{"a":1},{"b":2},{"c":3}"#, r#"{"d":4}"#]);
        assert_eq!(split_array(text, 1).unwrap(), vec![r#"{"a":1},{"b":2},{"c":3},{"d":4}"#]);
        // No `},{` left to cut at: fewer runs.
        assert_eq!(split_array("[1,2,3]", 3).unwrap(), vec!["1,2,3"]);
        assert_eq!(split_array("[]", 2).unwrap(), vec![""]);
        assert_eq!(split_array("{}", 2), None);
    }

    #[test]
    fn a_cut_inside_a_string_or_an_element_leaves_a_run_that_does_not_read() {
        let read = |run: &str| for_each_element(&format!("[{run}]"), |_, _: Value| Ok::<(), ()>(())).is_ok();
        // The only `},{` is inside a string, then inside an element's array.
        for text in [r#"[{"a":"padding padding x},{y"},{"b":2}]"#, r#"[{"a":[1,1,1,1,1,1,{},{}]},{"b":2}]"#] {
            let runs = split_array(text, 2).unwrap();
            assert!(runs.len() == 2 && !runs.iter().all(|r| read(r)), "{text}: {runs:?}");
        }
        // A true cut reads, run by run, the elements of the whole.
        let text = r#"[{"a":"},{"},{"b":[1]},{"c":{}}]"#;
        let runs = split_array(text, 2).unwrap();
        assert!(runs.iter().all(|r| read(r)), "{runs:?}");
    }

    #[test]
    fn every_element_in_order_then_the_first_error() {
        let mut seen = Vec::new();
        let r: Result<(), Result<(), _>> = for_each_element("[1, {\"a\": 2}, [3]]", |i, v: Value| {
            seen.push((i, v.to_string()));
            Ok(())
        });
        assert!(r.is_ok());
        assert_eq!(seen, vec![(0, "1".to_owned()), (1, "{\"a\":2}".to_owned()), (2, "[3]".to_owned())]);
        let r = for_each_element("[1, 2, 3]", |i, _: Value| if i == 1 { Err("two") } else { Ok(()) });
        assert_eq!(r.unwrap_err().unwrap(), "two");
        for bad in ["{}", "[1,", "[1] 2", "", "[1,]"] {
            let r = for_each_element(bad, |_, _: Value| Ok::<(), ()>(()));
            assert!(matches!(r, Err(Err(_))), "{bad}");
        }
    }

    #[test]
    fn reads_what_a_value_reads_borrowing_the_strings_it_can() {
        let texts = [
            // Keys in order: a Value sorts them, a Json keeps them as given.
            r#"{"": {}, "a": [1, -2, 3.5, 1e3, true, null, "x"], "b": {"c": "d\u00e9\"q"}}"#,
            r#"[[], {}, "", 18446744073709551615, -9223372036854775808, 0.1]"#,
            r#"{"allow": false, "vif": {"mac": "02:00:00:00:00:01", "uuid": "01234567-89ab-cdef-0123-456789abcdef"}}"#,
        ];
        for text in texts {
            let json: Json<'_> = serde_json::from_str(text).unwrap();
            let value: Value = serde_json::from_str(text).unwrap();
            assert_eq!(json, Json::from(&value), "{text}");
        }
        let json: Json<'_> = serde_json::from_str(r#"{"plain": "abc", "escaped": "a\nb"}"#).unwrap();
        let obj = json.as_object().unwrap();
        assert!(matches!(obj.get("plain"), Some(Json::String(Cow::Borrowed("abc")))));
        assert!(matches!(obj.get("escaped"), Some(Json::String(Cow::Owned(s))) if s == "a\nb"));
    }

    #[test]
    fn a_repeated_key_means_its_last_value_as_in_a_value() {
        let text = r#"{"k": 1, "j": 2, "k": "last"}"#;
        let json: Json<'_> = serde_json::from_str(text).unwrap();
        let value: Value = serde_json::from_str(text).unwrap();
        let obj = json.as_object().unwrap();
        assert_eq!(obj.get("k").and_then(Json::as_str), value["k"].as_str());
        assert_eq!(obj.keys().collect::<Vec<_>>(), ["k", "j", "k"]);
    }
}
