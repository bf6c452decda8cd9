//! RFC 7047 operations written with natural JSON values (uuid → string, set →
//! array, map → object), converted to OVSDB notation by the schema and checked
//! against it before anything is sent.

use serde_json::Value;

use super::notation;
use super::schema::{ColumnKind, ColumnType, DatabaseSchema, NotationError};

/// Converts every value of `ops` (rows, `where` conditions, mutations, `wait` rows)
/// from natural JSON to OVSDB notation. An unknown table or column, or a value of
/// the wrong type, is an error naming `table.column` (and nothing is sent).
pub fn ops_from_natural(schema: &DatabaseSchema, ops: &[Value]) -> Result<Vec<Value>, NotationError> {
    ops.iter()
        .enumerate()
        .map(|(i, op)| {
            op_from_natural(schema, op).map_err(|e| NotationError::at(format!("operations[{i}] {}", e.location), e.message))
        })
        .collect()
}

fn op_from_natural(schema: &DatabaseSchema, op: &Value) -> Result<Value, NotationError> {
    let Value::Object(o) = op else { return Ok(op.clone()) };
    let Some(table) = o.get("table").and_then(Value::as_str) else { return Ok(op.clone()) };
    let mut out = o.clone();
    if let Some(Value::Object(row)) = o.get("row") {
        out.insert("row".into(), Value::Object(schema.row_from_natural(table, row)?));
    }
    if let Some(Value::Array(rows)) = o.get("rows") {
        let rows = rows
            .iter()
            .map(|r| match r {
                Value::Object(r) => schema.row_from_natural(table, r).map(Value::Object),
                other => Ok(other.clone()),
            })
            .collect::<Result<Vec<_>, _>>()?;
        out.insert("rows".into(), Value::Array(rows));
    }
    if let Some(Value::Array(conds)) = o.get("where") {
        let conds = conds
            .iter()
            .map(|c| triple(schema, table, c, |ty, _, v| notation::from_natural(v, &relaxed(ty))))
            .collect::<Result<Vec<_>, _>>()?;
        out.insert("where".into(), Value::Array(conds));
    }
    if let Some(Value::Array(muts)) = o.get("mutations") {
        let muts = muts.iter().map(|m| triple(schema, table, m, mutation_value)).collect::<Result<Vec<_>, _>>()?;
        out.insert("mutations".into(), Value::Array(muts));
    }
    Ok(Value::Object(out))
}

/// `[column, function-or-mutator, value]` with the value converted.
fn triple(
    schema: &DatabaseSchema,
    table: &str,
    t: &Value,
    convert: impl Fn(&ColumnType, &str, &Value) -> Result<Value, String>,
) -> Result<Value, NotationError> {
    let Some([Value::String(col), Value::String(f), v]) = t.as_array().map(Vec::as_slice) else { return Ok(t.clone()) };
    let ty = schema.table(table)?.column(col)?.ty.clone();
    let value = convert(&ty, f, v).map_err(|e| NotationError::at(format!("{table}.{col}"), e))?;
    Ok(Value::Array(vec![Value::String(col.clone()), Value::String(f.clone()), value]))
}

/// Any number of elements: conditions and mutations name parts of a value.
fn relaxed(ty: &ColumnType) -> ColumnType {
    let mut t = ty.clone();
    if t.kind() != ColumnKind::Scalar {
        t.min = 0;
        t.max = None;
    }
    t
}

fn mutation_value(ty: &ColumnType, mutator: &str, v: &Value) -> Result<Value, String> {
    match (ty.kind(), mutator, v) {
        // RFC 7047 §5.1: "delete" on a map takes a map, or a set of keys.
        (ColumnKind::Map, "delete", Value::Array(_)) => {
            let keys = ColumnType { key: ty.key.clone(), value: None, min: 0, max: None };
            notation::from_natural(v, &keys)
        }
        // Arithmetic mutators take one atom of the key type.
        (_, "+=" | "-=" | "*=" | "/=" | "%=", _) => {
            let atom = ColumnType { key: ty.key.clone(), value: None, min: 1, max: Some(1) };
            notation::from_natural(v, &atom)
        }
        _ => notation::from_natural(v, &relaxed(ty)),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn schema() -> DatabaseSchema {
        DatabaseSchema::parse(&json!({
            "name": "Open_vSwitch", "version": "8.3.0",
            "tables": {
                "Bridge": {"columns": {
                    "name": {"type": "string"},
                    "ports": {"type": {"key": {"type": "uuid", "refTable": "Port"}, "min": 0, "max": "unlimited"}},
                    "protocols": {"type": {"key": {"type": "string", "enum": ["set", ["OpenFlow10", "OpenFlow11", "OpenFlow13"]]}, "min": 0, "max": "unlimited"}},
                    "external_ids": {"type": {"key": "string", "value": "string", "min": 0, "max": "unlimited"}}
                }},
                "Port": {"columns": {"name": {"type": "string"}}}
            }
        }))
        .unwrap()
    }

    #[test]
    fn rows_conditions_and_mutations_become_notation() {
        let ops = json!([
            {"op": "insert", "table": "Port", "row": {"name": "p1"}, "uuid-name": "np"},
            {"op": "mutate", "table": "Bridge", "where": [["name", "==", "br0"]],
             "mutations": [["ports", "insert", ["np"]], ["protocols", "insert", ["OpenFlow11"]],
                           ["external_ids", "delete", ["k"]], ["external_ids", "insert", {"a": "b"}]]},
            {"op": "comment", "comment": "x"}
        ]);
        let out = ops_from_natural(&schema(), ops.as_array().unwrap()).unwrap();
        // A one-element set may be written as its element (RFC 7047 §5.1).
        assert_eq!(out[1]["mutations"][0][2], json!(["named-uuid", "np"]));
        assert_eq!(out[1]["mutations"][1][2], json!("OpenFlow11"));
        assert_eq!(out[1]["mutations"][2][2], json!("k"));
        assert_eq!(out[1]["mutations"][3][2], json!(["map", [["a", "b"]]]));
        assert_eq!(out[2], json!({"op": "comment", "comment": "x"}));
    }

    #[test]
    fn wrong_types_and_unknown_columns_name_the_place() {
        let bad = json!([{"op": "insert", "table": "Bridge", "row": {"protocols": ["OpenFlow99"]}}]);
        let e = ops_from_natural(&schema(), bad.as_array().unwrap()).unwrap_err();
        assert!(e.location.contains("operations[0]") && e.location.contains("Bridge.protocols"), "{e:?}");
        let bad = json!([{"op": "select", "table": "Bridge", "where": [["nope", "==", 1]]}]);
        let e = ops_from_natural(&schema(), bad.as_array().unwrap()).unwrap_err();
        assert!(e.location.contains("Bridge.nope"), "{e:?}");
    }
}
