//! OVSDB notation (RFC 7047 §5.1) and its "natural JSON" counterpart.
//!
//! On the wire an atom is an integer, real, boolean or string, or a UUID written
//! `["uuid", "550e8400-..."]` (or `["named-uuid", "id"]` to name a row inserted by
//! the same transaction). A set is `["set", [<atom>*]]`, "except that a set with
//! exactly one element may be represented by that element" (§5.1) — ovsdb-server
//! always sends one-element sets that way. A map is `["map", [[<atom>, <atom>]*]]`.
//!
//! Natural JSON is what application code wants: a UUID is its string, a set is an
//! array, a map is an object (keys as strings). Going back needs the column type,
//! from [`crate::ovsdb::schema`]: a string may be a UUID or a plain string, an array
//! may be a set, and map keys may be integers. Values produced here are canonical
//! the way ovsdb-server writes them: set elements and map keys sorted, one-element
//! sets as bare atoms, maps always tagged.

use std::cmp::Ordering;

use serde_json::{Map, Value};

use super::schema::{AtomicType, BaseType, ColumnKind, ColumnType};

/// Whether `s` is a UUID in the 8-4-4-4-12 hex form (RFC 7047 §3.1 `<uuid>`).
pub fn is_uuid(s: &str) -> bool {
    let b = s.as_bytes();
    b.len() == 36
        && b.iter().enumerate().all(|(i, c)| match i {
            8 | 13 | 18 | 23 => *c == b'-',
            _ => c.is_ascii_hexdigit(),
        })
}

/// Whether `s` is an `<id>` (RFC 7047 §3.1): `[a-zA-Z_][a-zA-Z0-9_]*`, as a `uuid-name` must be.
pub fn is_id(s: &str) -> bool {
    let mut it = s.bytes();
    it.next().is_some_and(|c| c.is_ascii_alphabetic() || c == b'_') && it.all(|c| c.is_ascii_alphanumeric() || c == b'_')
}

/// `["uuid", s]`.
pub fn uuid(s: &str) -> Value {
    Value::Array(vec![Value::String("uuid".into()), Value::String(s.to_owned())])
}

/// `["named-uuid", s]`.
pub fn named_uuid(s: &str) -> Value {
    Value::Array(vec![Value::String("named-uuid".into()), Value::String(s.to_owned())])
}

/// The UUID or name of a `["uuid", s]`/`["named-uuid", s]` atom.
pub fn uuid_str(v: &Value) -> Option<&str> {
    match v.as_array()?.as_slice() {
        [Value::String(t), Value::String(s)] if t == "uuid" || t == "named-uuid" => Some(s),
        _ => None,
    }
}

/// Whether `v` is an atom in OVSDB notation.
pub fn is_atom(v: &Value) -> bool {
    match v {
        Value::Number(_) | Value::Bool(_) | Value::String(_) => true,
        Value::Array(_) => uuid_str(v).is_some(),
        Value::Null | Value::Object(_) => false,
    }
}

/// A set in canonical notation: one element is written bare, others as `["set", [...]]`.
pub fn set_value(mut elements: Vec<Value>) -> Value {
    if elements.len() == 1 {
        elements.pop().unwrap_or(Value::Null)
    } else {
        Value::Array(vec![Value::String("set".into()), Value::Array(elements)])
    }
}

/// A map in notation: `["map", [[k, v], ...]]`.
pub fn map_value(pairs: Vec<(Value, Value)>) -> Value {
    let pairs = pairs.into_iter().map(|(k, v)| Value::Array(vec![k, v])).collect();
    Value::Array(vec![Value::String("map".into()), Value::Array(pairs)])
}

/// The elements of a set: `["set", [...]]`, or a bare atom as a one-element set.
pub fn set_elements(v: &Value) -> Option<Vec<Value>> {
    if let Some([Value::String(tag), Value::Array(items)]) = v.as_array().map(Vec::as_slice) {
        if tag == "set" {
            return items.iter().all(is_atom).then(|| items.clone());
        }
    }
    is_atom(v).then(|| vec![v.clone()])
}

/// The pairs of `["map", [[k, v], ...]]`.
pub fn map_pairs(v: &Value) -> Option<Vec<(Value, Value)>> {
    let [Value::String(tag), Value::Array(items)] = v.as_array()?.as_slice() else { return None };
    if tag != "map" {
        return None;
    }
    items
        .iter()
        .map(|p| match p.as_array().map(Vec::as_slice) {
            Some([k, v]) if is_atom(k) && is_atom(v) => Some((k.clone(), v.clone())),
            _ => None,
        })
        .collect()
}

/// Orders atoms the way ovsdb-server sorts set elements and map keys: numbers
/// numerically, `false` before `true`, strings bytewise, UUIDs by their hex digits.
pub fn atom_cmp(a: &Value, b: &Value) -> Ordering {
    fn rank(v: &Value) -> u8 {
        match v {
            Value::Null => 0,
            Value::Bool(_) => 1,
            Value::Number(_) => 2,
            Value::String(_) => 3,
            Value::Array(_) => 4,
            Value::Object(_) => 5,
        }
    }
    match (a, b) {
        (Value::Number(x), Value::Number(y)) => match (x.as_i64(), y.as_i64()) {
            (Some(i), Some(j)) => i.cmp(&j),
            _ => x.as_f64().unwrap_or(0.0).total_cmp(&y.as_f64().unwrap_or(0.0)),
        },
        (Value::Bool(x), Value::Bool(y)) => x.cmp(y),
        (Value::String(x), Value::String(y)) => x.cmp(y),
        _ => match (uuid_str(a), uuid_str(b)) {
            (Some(x), Some(y)) => x.to_ascii_lowercase().cmp(&y.to_ascii_lowercase()),
            _ => rank(a).cmp(&rank(b)).then_with(|| a.to_string().cmp(&b.to_string())),
        },
    }
}

/// Sorts set elements and removes duplicates.
pub fn sort_set(elements: &mut Vec<Value>) {
    elements.sort_by(atom_cmp);
    elements.dedup_by(|a, b| atom_cmp(a, b) == Ordering::Equal);
}

/// Sorts map pairs by key.
pub fn sort_map(pairs: &mut [(Value, Value)]) {
    pairs.sort_by(|a, b| atom_cmp(&a.0, &b.0));
}

/// Natural form of any value without a schema: UUID atoms become strings,
/// `["set", ...]` an array, `["map", ...]` an object. A bare atom stays an atom
/// (without the schema a one-element set cannot be told from a scalar).
pub fn to_natural(v: &Value) -> Value {
    if let Some(s) = uuid_str(v) {
        return Value::String(s.to_owned());
    }
    if let Some(pairs) = map_pairs(v) {
        return Value::Object(pairs.iter().map(|(k, v)| (key_string(k), to_natural(v))).collect());
    }
    if let Some([Value::String(tag), Value::Array(items)]) = v.as_array().map(Vec::as_slice) {
        if tag == "set" {
            return Value::Array(items.iter().map(to_natural).collect());
        }
    }
    v.clone()
}

fn atom_to_natural(v: &Value) -> Value {
    uuid_str(v).map_or_else(|| v.clone(), |s| Value::String(s.to_owned()))
}

/// A map key as an object key: strings as is, others as their JSON text.
fn key_string(k: &Value) -> String {
    match k {
        Value::String(s) => s.clone(),
        other => uuid_str(other).map_or_else(|| other.to_string(), str::to_owned),
    }
}

/// Natural form of a value of the given column type, checked against it: a
/// scalar becomes its atom, every set (optional values included) an array, a map
/// an object.
pub fn to_natural_typed(v: &Value, ty: &ColumnType) -> Result<Value, String> {
    ty.check(v)?;
    Ok(match ty.kind() {
        ColumnKind::Scalar => atom_to_natural(v),
        ColumnKind::Set => Value::Array(set_elements(v).unwrap_or_default().iter().map(atom_to_natural).collect()),
        ColumnKind::Map => Value::Object(
            map_pairs(v).unwrap_or_default().iter().map(|(k, val)| (key_string(k), atom_to_natural(val))).collect(),
        ),
    })
}

/// Converts a natural value to OVSDB notation for a column of type `ty`, and
/// checks it. A set accepts an array, a single atom (a one-element set) or `null`
/// (the empty set); a map accepts an object; a UUID accepts a UUID string, or an
/// `<id>` naming a row inserted by the same transaction (`named-uuid`).
pub fn from_natural(v: &Value, ty: &ColumnType) -> Result<Value, String> {
    let out = match ty.kind() {
        ColumnKind::Scalar => atom_from_natural(v, &ty.key)?,
        ColumnKind::Set => {
            let items: &[Value] = match v {
                Value::Array(a) => a,
                Value::Null => &[],
                single => std::slice::from_ref(single),
            };
            let mut atoms = items.iter().map(|x| atom_from_natural(x, &ty.key)).collect::<Result<Vec<_>, _>>()?;
            sort_set(&mut atoms);
            if !ty.allows_count(atoms.len()) {
                return Err(format!("{} elements, allowed {}", atoms.len(), count_text(ty)));
            }
            set_value(atoms)
        }
        ColumnKind::Map => {
            let obj: &Map<String, Value> = match v {
                Value::Object(o) => o,
                other => return Err(format!("expected an object (a map), got {other}")),
            };
            let vt = ty.value.clone().unwrap_or_else(|| BaseType::of(AtomicType::String));
            let mut pairs = obj
                .iter()
                .map(|(k, val)| {
                    let key = key_from_string(k, &ty.key).map_err(|e| format!("key {k:?}: {e}"))?;
                    let value = atom_from_natural(val, &vt).map_err(|e| format!("value of key {k:?}: {e}"))?;
                    Ok((key, value))
                })
                .collect::<Result<Vec<_>, String>>()?;
            sort_map(&mut pairs);
            if !ty.allows_count(pairs.len()) {
                return Err(format!("{} pairs, allowed {}", pairs.len(), count_text(ty)));
            }
            map_value(pairs)
        }
    };
    ty.check(&out)?;
    Ok(out)
}

fn count_text(t: &ColumnType) -> String {
    t.max.map_or_else(|| format!("{}..unlimited", t.min), |m| format!("{}..{m}", t.min))
}

fn atom_from_natural(v: &Value, base: &BaseType) -> Result<Value, String> {
    let atom = match (base.atomic_type(), v) {
        (AtomicType::Uuid, Value::String(s)) if is_uuid(s) => uuid(s),
        (AtomicType::Uuid, Value::String(s)) if is_id(s) => named_uuid(s),
        (AtomicType::Uuid, Value::String(s)) => return Err(format!("\"{s}\" is neither a UUID nor a row name")),
        _ => v.clone(),
    };
    base.check_atom(&atom)?;
    Ok(atom)
}

/// Map keys arrive as object keys (strings): parse them as the key type.
fn key_from_string(k: &str, base: &BaseType) -> Result<Value, String> {
    let v = match base.atomic_type() {
        AtomicType::String | AtomicType::Uuid => Value::String(k.to_owned()),
        AtomicType::Integer => Value::from(k.parse::<i64>().map_err(|_| format!("\"{k}\" is not an integer"))?),
        AtomicType::Real => {
            let r = k.parse::<f64>().ok().filter(|r| r.is_finite()).ok_or_else(|| format!("\"{k}\" is not a number"))?;
            Value::from(r)
        }
        AtomicType::Boolean => match k {
            "true" => Value::Bool(true),
            "false" => Value::Bool(false),
            _ => return Err(format!("\"{k}\" is not a boolean")),
        },
    };
    atom_from_natural(&v, base)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::ovsdb::schema::tests::sample;
    use serde_json::json;

    const U1: &str = "aa51b2d8-55b1-4b44-953a-8aad7944232d";
    const U2: &str = "d799413e-4de7-4de1-bb06-f7af02241a69";

    #[test]
    fn recognizers() {
        assert!(is_uuid(U1));
        assert!(!is_uuid("aa51b2d8-55b1-4b44-953a-8aad7944232"));
        assert!(!is_uuid("aa51b2d8x55b1-4b44-953a-8aad7944232d"));
        assert!(is_id("row_1") && is_id("_x") && !is_id("1x") && !is_id("") && !is_id("a-b"));
        assert_eq!(set_elements(&json!("a")), Some(vec![json!("a")]));
        assert_eq!(set_elements(&json!(["set", []])), Some(vec![]));
        assert_eq!(set_elements(&json!(["uuid", U1])), Some(vec![json!(["uuid", U1])]));
        assert_eq!(set_elements(&json!(["map", []])), None);
        assert_eq!(map_pairs(&json!(["map", [["k", 1]]])), Some(vec![(json!("k"), json!(1))]));
        assert_eq!(map_pairs(&json!(["map", [["k"]]])), None);
    }

    #[test]
    fn untyped_natural_form() {
        assert_eq!(to_natural(&json!(["uuid", U1])), json!(U1));
        assert_eq!(to_natural(&json!(["named-uuid", "b"])), json!("b"));
        assert_eq!(to_natural(&json!(["set", [["uuid", U1], ["uuid", U2]]])), json!([U1, U2]));
        assert_eq!(to_natural(&json!(["map", [["a", "1"], [2, ["uuid", U1]]]])), json!({"a": "1", "2": U1}));
        assert_eq!(to_natural(&json!("x")), json!("x"));
    }

    /// Server-form values of every column kind convert to natural JSON and back to
    /// exactly the same bytes.
    #[test]
    fn round_trips_through_natural_json() {
        let s = sample();
        let cases = [
            ("Bridge", "name", json!("br0"), json!("br0")),
            ("Bridge", "stp_enable", json!(true), json!(true)),
            ("Bridge", "ports", json!(["set", []]), json!([])),
            ("Bridge", "ports", json!(["uuid", U1]), json!([U1])),
            ("Bridge", "ports", json!(["set", [["uuid", U1], ["uuid", U2]]]), json!([U1, U2])),
            ("Bridge", "fail_mode", json!(["set", []]), json!([])),
            ("Bridge", "fail_mode", json!("secure"), json!(["secure"])),
            ("Bridge", "external_ids", json!(["map", []]), json!({})),
            ("Bridge", "external_ids", json!(["map", [["a", "1"], ["b", "é"]]]), json!({"a": "1", "b": "é"})),
            ("Bridge", "flood_vlans", json!(["set", [1, 10, 4095]]), json!([1, 10, 4095])),
            ("Port", "tag", json!(100), json!([100])),
            ("Port", "queues", json!(["map", [[0, ["uuid", U2]], [7, ["uuid", U1]]]]), json!({"0": U2, "7": U1})),
            ("Interface", "link_speed", json!(1e9), json!([1e9])),
            ("Interface", "statistics", json!(["map", [["rx_bytes", 10], ["tx_bytes", 0]]]), json!({"rx_bytes": 10, "tx_bytes": 0})),
        ];
        for (t, c, wire, natural) in cases {
            let ty = s.column_type(t, c).unwrap();
            assert_eq!(to_natural_typed(&wire, ty).unwrap(), natural, "{t}.{c} to natural");
            assert_eq!(from_natural(&natural, ty).unwrap(), wire, "{t}.{c} from natural");
        }
    }

    #[test]
    fn natural_input_is_canonicalized() {
        let s = sample();
        let ty = s.column_type("Bridge", "ports").unwrap();
        // Unsorted and duplicated, a named row, a single atom, null.
        assert_eq!(from_natural(&json!([U2, U1, U2]), ty).unwrap(), json!(["set", [["uuid", U1], ["uuid", U2]]]));
        assert_eq!(from_natural(&json!(["newport"]), ty).unwrap(), json!(["named-uuid", "newport"]));
        assert_eq!(from_natural(&json!(U1), ty).unwrap(), json!(["uuid", U1]));
        assert_eq!(from_natural(&Value::Null, ty).unwrap(), json!(["set", []]));
        let ty = s.column_type("Port", "queues").unwrap();
        assert_eq!(from_natural(&json!({"10": U1, "9": U2}), ty).unwrap(), json!(["map", [[9, ["uuid", U2]], [10, ["uuid", U1]]]]));
        assert!(from_natural(&json!({"x": U1}), ty).unwrap_err().contains("not an integer"));
        assert!(from_natural(&json!({"-1": U1}), ty).unwrap_err().contains("range"));
    }

    #[test]
    fn whole_rows() {
        let s = sample();
        let natural = json!({"name": "br1", "ports": ["p1", U1], "external_ids": {"k": "v"}, "fail_mode": "secure"});
        let wire = s.row_from_natural("Bridge", natural.as_object().unwrap()).unwrap();
        assert_eq!(
            Value::Object(wire.clone()),
            json!({"name": "br1", "ports": ["set", [["uuid", U1], ["named-uuid", "p1"]]], "external_ids": ["map", [["k", "v"]]], "fail_mode": "secure"})
        );
        let back = s.row_to_natural("Bridge", &wire).unwrap();
        assert_eq!(Value::Object(back), json!({"name": "br1", "ports": [U1, "p1"], "external_ids": {"k": "v"}, "fail_mode": ["secure"]}));
        assert!(s.row_to_natural("Bridge", json!({"name": ["set", []]}).as_object().unwrap()).is_err());
    }

    #[test]
    fn ordering_matches_ovsdb() {
        let mut v = vec![json!(10), json!(-1), json!(2)];
        sort_set(&mut v);
        assert_eq!(v, vec![json!(-1), json!(2), json!(10)]);
        let mut v = vec![json!(["uuid", U2]), json!(["uuid", U1])];
        sort_set(&mut v);
        assert_eq!(v[0], json!(["uuid", U1]));
        let mut v = vec![json!("b"), json!("B"), json!("a"), json!("a")];
        sort_set(&mut v);
        assert_eq!(v, vec![json!("B"), json!("a"), json!("b")]);
    }
}
