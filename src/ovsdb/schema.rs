//! Database schemas (RFC 7047 §3.2), as `get_schema` returns them.
//!
//! Parsed far enough to convert between natural JSON and OVSDB notation
//! ([`crate::ovsdb::notation`]) and to refuse, with an error naming `table.column`,
//! an unknown column or a value of the wrong type, before anything is sent.

use std::collections::BTreeMap;

use serde_json::{Map, Value};

use super::notation;

/// A schema that cannot be parsed.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[error("invalid OVSDB schema: {0}")]
pub struct SchemaError(pub String);

impl SchemaError {
    /// Stable code.
    pub fn code(&self) -> &'static str {
        "OVSDB_BAD_SCHEMA"
    }
}

/// A value, row or name that does not fit the schema. The message starts with
/// the location: `Bridge.fail_mode: ...`, or the table alone for unknown tables.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[error("{location}: {message}")]
pub struct NotationError {
    /// `table.column`, `table`, or empty when no schema location applies.
    pub location: String,
    /// What is wrong.
    pub message: String,
}

impl NotationError {
    /// Stable code (the caller gave a bad value).
    pub fn code(&self) -> &'static str {
        "ERR_INVALID_ARG_VALUE"
    }

    pub(crate) fn at(location: impl Into<String>, message: impl Into<String>) -> NotationError {
        NotationError { location: location.into(), message: message.into() }
    }
}

/// `<atomic-type>` (RFC 7047 §3.2).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum AtomicType {
    /// 64-bit signed integer.
    Integer,
    /// IEEE-754 double.
    Real,
    /// `true`/`false`.
    Boolean,
    /// UTF-8 string.
    String,
    /// UUID: `["uuid", s]`, or `["named-uuid", id]` inside a transaction.
    Uuid,
}

impl AtomicType {
    fn parse(s: &str) -> Result<AtomicType, SchemaError> {
        Ok(match s {
            "integer" => AtomicType::Integer,
            "real" => AtomicType::Real,
            "boolean" => AtomicType::Boolean,
            "string" => AtomicType::String,
            "uuid" => AtomicType::Uuid,
            _ => return Err(SchemaError(format!("unknown atomic type \"{s}\""))),
        })
    }

    /// The name as in a schema.
    pub fn as_str(self) -> &'static str {
        match self {
            AtomicType::Integer => "integer",
            AtomicType::Real => "real",
            AtomicType::Boolean => "boolean",
            AtomicType::String => "string",
            AtomicType::Uuid => "uuid",
        }
    }
}

/// Strong or weak reference (RFC 7047 §3.2 `refType`).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Default)]
pub enum RefType {
    /// Deleting the referenced row is refused while referenced.
    #[default]
    Strong,
    /// The reference is dropped when the referenced row is deleted.
    Weak,
}

/// `<base-type>`: an atomic type and its constraints (RFC 7047 §3.2).
#[derive(Clone, Debug, PartialEq, Default)]
pub struct BaseType {
    /// The atomic type.
    pub atomic: Option<AtomicType>,
    /// `enum`: the allowed atoms, in OVSDB notation.
    pub enum_values: Option<Vec<Value>>,
    /// `minInteger`.
    pub min_integer: Option<i64>,
    /// `maxInteger`.
    pub max_integer: Option<i64>,
    /// `minReal`.
    pub min_real: Option<f64>,
    /// `maxReal`.
    pub max_real: Option<f64>,
    /// `minLength` (characters).
    pub min_length: Option<u64>,
    /// `maxLength` (characters).
    pub max_length: Option<u64>,
    /// `refTable`: the table a uuid refers to.
    pub ref_table: Option<String>,
    /// `refType`.
    pub ref_type: RefType,
}

impl BaseType {
    /// A base type without constraints.
    pub fn of(atomic: AtomicType) -> BaseType {
        BaseType { atomic: Some(atomic), ..BaseType::default() }
    }

    /// The atomic type (every parsed base type has one).
    pub fn atomic_type(&self) -> AtomicType {
        self.atomic.unwrap_or(AtomicType::String)
    }

    fn parse(v: &Value) -> Result<BaseType, SchemaError> {
        let o = match v {
            Value::String(s) => return Ok(BaseType::of(AtomicType::parse(s)?)),
            Value::Object(o) => o,
            other => return Err(SchemaError(format!("base type must be a string or an object, got {other}"))),
        };
        let atomic = match o.get("type") {
            Some(Value::String(s)) => AtomicType::parse(s)?,
            _ => return Err(SchemaError("base type object without a \"type\" string".into())),
        };
        let int = |k: &str| -> Result<Option<i64>, SchemaError> {
            o.get(k).map(|v| v.as_i64().ok_or_else(|| SchemaError(format!("{k} must be an integer")))).transpose()
        };
        let uint = |k: &str| -> Result<Option<u64>, SchemaError> {
            o.get(k).map(|v| v.as_u64().ok_or_else(|| SchemaError(format!("{k} must be a non-negative integer")))).transpose()
        };
        let real = |k: &str| -> Result<Option<f64>, SchemaError> {
            o.get(k).map(|v| v.as_f64().ok_or_else(|| SchemaError(format!("{k} must be a number")))).transpose()
        };
        let enum_values = match o.get("enum") {
            None => None,
            // `<value>`: a set in OVSDB notation, or a single atom.
            Some(Value::Array(a)) if a.first() == Some(&Value::String("set".into())) => match a.get(1) {
                Some(Value::Array(items)) if a.len() == 2 => Some(items.clone()),
                _ => return Err(SchemaError("malformed enum set".into())),
            },
            Some(atom) => Some(vec![atom.clone()]),
        };
        let ref_type = match o.get("refType").and_then(Value::as_str) {
            None | Some("strong") => RefType::Strong,
            Some("weak") => RefType::Weak,
            Some(other) => return Err(SchemaError(format!("unknown refType \"{other}\""))),
        };
        Ok(BaseType {
            atomic: Some(atomic),
            enum_values,
            min_integer: int("minInteger")?,
            max_integer: int("maxInteger")?,
            min_real: real("minReal")?,
            max_real: real("maxReal")?,
            min_length: uint("minLength")?,
            max_length: uint("maxLength")?,
            ref_table: o.get("refTable").and_then(Value::as_str).map(str::to_owned),
            ref_type,
        })
    }

    /// Checks an atom in OVSDB notation against the type and its constraints.
    pub fn check_atom(&self, atom: &Value) -> Result<(), String> {
        let ty = self.atomic_type();
        match (ty, atom) {
            (AtomicType::Integer, Value::Number(n)) if n.is_i64() || n.is_u64() => {
                let Some(i) = n.as_i64() else { return Err(format!("{n} is out of the 64-bit integer range")) };
                if self.min_integer.is_some_and(|m| i < m) || self.max_integer.is_some_and(|m| i > m) {
                    return Err(format!("{i} is not in the range {}", range_text(self.min_integer, self.max_integer)));
                }
            }
            (AtomicType::Real, Value::Number(n)) => {
                let r = n.as_f64().unwrap_or(f64::NAN);
                if self.min_real.is_some_and(|m| r < m) || self.max_real.is_some_and(|m| r > m) {
                    return Err(format!("{r} is not in the range {}", range_text(self.min_real, self.max_real)));
                }
            }
            (AtomicType::Boolean, Value::Bool(_)) => {}
            (AtomicType::String, Value::String(s)) => {
                let n = s.chars().count() as u64;
                if self.min_length.is_some_and(|m| n < m) || self.max_length.is_some_and(|m| n > m) {
                    return Err(format!("\"{s}\" has {n} characters, allowed {}", range_text(self.min_length, self.max_length)));
                }
            }
            (AtomicType::Uuid, Value::Array(a)) => match a.as_slice() {
                [Value::String(tag), Value::String(s)] if tag == "uuid" && notation::is_uuid(s) => {}
                [Value::String(tag), Value::String(s)] if tag == "named-uuid" && notation::is_id(s) => {}
                _ => return Err(format!("expected [\"uuid\", <uuid>] or [\"named-uuid\", <id>], got {atom}")),
            },
            _ => return Err(format!("expected {}, got {atom}", article(ty))),
        }
        if let Some(allowed) = &self.enum_values {
            if !allowed.contains(atom) {
                let list: Vec<String> = allowed.iter().map(Value::to_string).collect();
                return Err(format!("{atom} is not one of the allowed values [{}]", list.join(", ")));
            }
        }
        Ok(())
    }

    /// The default atom of the type (RFC 7047 §5.2.1): 0, 0.0, false, "", the all-zero uuid.
    pub fn default_atom(&self) -> Value {
        match self.atomic_type() {
            AtomicType::Integer => Value::from(0),
            AtomicType::Real => Value::from(0.0),
            AtomicType::Boolean => Value::Bool(false),
            AtomicType::String => Value::String(String::new()),
            AtomicType::Uuid => Value::Array(vec!["uuid".into(), "00000000-0000-0000-0000-000000000000".into()]),
        }
    }
}

fn range_text<T: std::fmt::Display>(min: Option<T>, max: Option<T>) -> String {
    let show = |v: Option<T>| v.map_or_else(|| "".to_owned(), |v| v.to_string());
    format!("[{}, {}]", show(min), show(max))
}

fn article(t: AtomicType) -> &'static str {
    match t {
        AtomicType::Integer => "an integer",
        AtomicType::Real => "a real",
        AtomicType::Boolean => "a boolean",
        AtomicType::String => "a string",
        AtomicType::Uuid => "a uuid",
    }
}

/// `<type>` of a column (RFC 7047 §3.2): a key type, an optional value type (a
/// map), and the number of elements allowed.
#[derive(Clone, Debug, PartialEq)]
pub struct ColumnType {
    /// Key type (the element type of a set, or of a scalar).
    pub key: BaseType,
    /// Value type: present for maps.
    pub value: Option<BaseType>,
    /// Fewest elements: 0 or 1.
    pub min: u64,
    /// Most elements; `None` is `"unlimited"`.
    pub max: Option<u64>,
}

/// How a column's values are shaped.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ColumnKind {
    /// Exactly one atom (`min` = `max` = 1, no value type).
    Scalar,
    /// A set of atoms (optional values are sets of 0 or 1).
    Set,
    /// A map.
    Map,
}

impl ColumnType {
    /// A required scalar of `atomic`.
    pub fn scalar(atomic: AtomicType) -> ColumnType {
        ColumnType { key: BaseType::of(atomic), value: None, min: 1, max: Some(1) }
    }

    /// Parses `<type>`.
    pub fn parse(v: &Value) -> Result<ColumnType, SchemaError> {
        let o = match v {
            Value::String(_) => return Ok(ColumnType { key: BaseType::parse(v)?, value: None, min: 1, max: Some(1) }),
            Value::Object(o) => o,
            other => return Err(SchemaError(format!("column type must be a string or an object, got {other}"))),
        };
        let key = BaseType::parse(o.get("key").ok_or_else(|| SchemaError("column type without \"key\"".into()))?)?;
        let value = o.get("value").map(BaseType::parse).transpose()?;
        let min = match o.get("min") {
            None => 1,
            Some(v) => v.as_u64().filter(|m| *m <= 1).ok_or_else(|| SchemaError(format!("min must be 0 or 1, got {v}")))?,
        };
        let max = match o.get("max") {
            None => Some(1),
            Some(Value::String(s)) if s == "unlimited" => None,
            Some(v) => Some(v.as_u64().filter(|m| *m >= 1 && *m >= min).ok_or_else(|| SchemaError(format!("bad max {v}")))?),
        };
        Ok(ColumnType { key, value, min, max })
    }

    /// Scalar, set or map.
    pub fn kind(&self) -> ColumnKind {
        if self.value.is_some() {
            ColumnKind::Map
        } else if self.min == 1 && self.max == Some(1) {
            ColumnKind::Scalar
        } else {
            ColumnKind::Set
        }
    }

    /// Whether `n` elements are allowed.
    pub fn allows_count(&self, n: usize) -> bool {
        let n = n as u64;
        n >= self.min && self.max.is_none_or(|m| n <= m)
    }

    /// The column's default value in OVSDB notation, as the server fills it on
    /// insert and as `update2` omits it (RFC 7047 §5.2.1; ovsdb-server(7) §4.1.14).
    pub fn default_value(&self) -> Value {
        match (self.kind(), self.min) {
            (ColumnKind::Map, 0) => notation::map_value(Vec::new()),
            (ColumnKind::Set, 0) => notation::set_value(Vec::new()),
            (ColumnKind::Map, _) => notation::map_value(vec![(
                self.key.default_atom(),
                self.value.as_ref().map_or(Value::Null, BaseType::default_atom),
            )]),
            _ => self.key.default_atom(),
        }
    }

    /// Checks a value in OVSDB notation.
    pub fn check(&self, v: &Value) -> Result<(), String> {
        match self.kind() {
            ColumnKind::Scalar => self.key.check_atom(v),
            ColumnKind::Set => {
                let items = notation::set_elements(v).ok_or_else(|| format!("expected a set, got {v}"))?;
                if !self.allows_count(items.len()) {
                    return Err(format!("{} elements, allowed {}", items.len(), count_text(self)));
                }
                items.iter().try_for_each(|a| self.key.check_atom(a))
            }
            ColumnKind::Map => {
                let pairs = notation::map_pairs(v).ok_or_else(|| format!("expected [\"map\", [[k, v], ...]], got {v}"))?;
                if !self.allows_count(pairs.len()) {
                    return Err(format!("{} pairs, allowed {}", pairs.len(), count_text(self)));
                }
                let vt = self.value.as_ref().map_or_else(|| BaseType::of(AtomicType::String), Clone::clone);
                pairs.iter().try_for_each(|(k, val)| {
                    self.key.check_atom(k).map_err(|e| format!("key: {e}"))?;
                    vt.check_atom(val).map_err(|e| format!("value of key {k}: {e}"))
                })
            }
        }
    }
}

fn count_text(t: &ColumnType) -> String {
    match t.max {
        Some(m) => format!("{}..{m}", t.min),
        None => format!("{}..unlimited", t.min),
    }
}

/// `<column-schema>` (RFC 7047 §3.2).
#[derive(Clone, Debug, PartialEq)]
pub struct ColumnSchema {
    /// The column's type.
    pub ty: ColumnType,
    /// `ephemeral`: not persisted.
    pub ephemeral: bool,
    /// `mutable` (default true).
    pub mutable: bool,
}

/// `<table-schema>` (RFC 7047 §3.2), with the implicit `_uuid` and `_version`.
#[derive(Clone, Debug, PartialEq)]
pub struct TableSchema {
    /// Table name.
    pub name: String,
    /// Columns, including `_uuid` and `_version`.
    pub columns: BTreeMap<String, ColumnSchema>,
    /// `maxRows`.
    pub max_rows: Option<u64>,
    /// `isRoot`: rows are kept even when unreferenced.
    pub is_root: bool,
    /// `indexes`: sets of columns whose values must be unique together.
    pub indexes: Vec<Vec<String>>,
}

impl TableSchema {
    fn parse(name: &str, v: &Value) -> Result<TableSchema, SchemaError> {
        let o = v.as_object().ok_or_else(|| SchemaError(format!("table {name} is not an object")))?;
        let cols = o.get("columns").and_then(Value::as_object).ok_or_else(|| SchemaError(format!("table {name} has no columns object")))?;
        let mut columns = BTreeMap::new();
        for (cname, c) in cols {
            let co = c.as_object().ok_or_else(|| SchemaError(format!("{name}.{cname} is not an object")))?;
            let ty = ColumnType::parse(co.get("type").ok_or_else(|| SchemaError(format!("{name}.{cname} has no type")))?)
                .map_err(|e| SchemaError(format!("{name}.{cname}: {}", e.0)))?;
            columns.insert(
                cname.clone(),
                ColumnSchema {
                    ty,
                    ephemeral: co.get("ephemeral").and_then(Value::as_bool).unwrap_or(false),
                    mutable: co.get("mutable").and_then(Value::as_bool).unwrap_or(true),
                },
            );
        }
        for implicit in ["_uuid", "_version"] {
            columns.insert(
                implicit.into(),
                ColumnSchema { ty: ColumnType::scalar(AtomicType::Uuid), ephemeral: false, mutable: false },
            );
        }
        let indexes = match o.get("indexes") {
            None => Vec::new(),
            Some(Value::Array(ixs)) => ixs
                .iter()
                .map(|ix| {
                    ix.as_array()
                        .map(|cs| cs.iter().filter_map(Value::as_str).map(str::to_owned).collect())
                        .ok_or_else(|| SchemaError(format!("table {name}: bad index {ix}")))
                })
                .collect::<Result<_, _>>()?,
            Some(other) => return Err(SchemaError(format!("table {name}: indexes is not an array: {other}"))),
        };
        Ok(TableSchema {
            name: name.to_owned(),
            columns,
            max_rows: o.get("maxRows").and_then(Value::as_u64),
            is_root: o.get("isRoot").and_then(Value::as_bool).unwrap_or(false),
            indexes,
        })
    }

    /// A column's schema, or an error naming `table.column`.
    pub fn column(&self, column: &str) -> Result<&ColumnSchema, NotationError> {
        self.columns.get(column).ok_or_else(|| NotationError::at(format!("{}.{column}", self.name), "no such column"))
    }

    /// Converts a row of natural JSON (`{"name": "br0", "ports": [uuid, ...],
    /// "external_ids": {"k": "v"}}`) into OVSDB notation, checking every value.
    pub fn row_from_natural(&self, row: &Map<String, Value>) -> Result<Map<String, Value>, NotationError> {
        row.iter()
            .map(|(c, v)| {
                let col = self.column(c)?;
                let ovsdb = notation::from_natural(v, &col.ty).map_err(|e| NotationError::at(format!("{}.{c}", self.name), e))?;
                Ok((c.clone(), ovsdb))
            })
            .collect()
    }

    /// Converts a row in OVSDB notation (from a monitor or a `select`) into natural JSON.
    pub fn row_to_natural(&self, row: &Map<String, Value>) -> Result<Map<String, Value>, NotationError> {
        row.iter()
            .map(|(c, v)| {
                let col = self.column(c)?;
                let natural = notation::to_natural_typed(v, &col.ty).map_err(|e| NotationError::at(format!("{}.{c}", self.name), e))?;
                Ok((c.clone(), natural))
            })
            .collect()
    }

    /// Checks a row in OVSDB notation: known columns, values of the right type.
    pub fn check_row(&self, row: &Map<String, Value>) -> Result<(), NotationError> {
        row.iter().try_for_each(|(c, v)| {
            self.column(c)?.ty.check(v).map_err(|e| NotationError::at(format!("{}.{c}", self.name), e))
        })
    }
}

/// `<database-schema>` (RFC 7047 §3.2).
#[derive(Clone, Debug, PartialEq)]
pub struct DatabaseSchema {
    /// Database name, e.g. `Open_vSwitch`.
    pub name: String,
    /// `version` (`x.y.z`); ovsdb-server(7) §3.2 allows it to be absent.
    pub version: Option<String>,
    /// `cksum`.
    pub cksum: Option<String>,
    /// Tables by name.
    pub tables: BTreeMap<String, TableSchema>,
}

impl DatabaseSchema {
    /// Parses the result of `get_schema`.
    pub fn parse(v: &Value) -> Result<DatabaseSchema, SchemaError> {
        let o = v.as_object().ok_or_else(|| SchemaError("schema is not an object".into()))?;
        let name = o.get("name").and_then(Value::as_str).ok_or_else(|| SchemaError("schema has no name".into()))?;
        let tables_json = o.get("tables").and_then(Value::as_object).ok_or_else(|| SchemaError("schema has no tables object".into()))?;
        let tables = tables_json
            .iter()
            .map(|(t, tv)| Ok((t.clone(), TableSchema::parse(t, tv)?)))
            .collect::<Result<_, SchemaError>>()?;
        Ok(DatabaseSchema {
            name: name.to_owned(),
            version: o.get("version").and_then(Value::as_str).map(str::to_owned),
            cksum: o.get("cksum").and_then(Value::as_str).map(str::to_owned),
            tables,
        })
    }

    /// The version as (major, minor, patch), if present and well-formed.
    pub fn version_triple(&self) -> Option<(u32, u32, u32)> {
        let mut it = self.version.as_deref()?.split('.').map(|p| p.parse::<u32>().ok());
        let triple = (it.next()??, it.next()??, it.next()??);
        it.next().is_none().then_some(triple)
    }

    /// A table's schema, or an error naming the table.
    pub fn table(&self, table: &str) -> Result<&TableSchema, NotationError> {
        self.tables.get(table).ok_or_else(|| NotationError::at(table, format!("no such table in database {}", self.name)))
    }

    /// A column's type, if both exist.
    pub fn column_type(&self, table: &str, column: &str) -> Option<&ColumnType> {
        self.tables.get(table)?.columns.get(column).map(|c| &c.ty)
    }

    /// [`TableSchema::row_from_natural`] by table name.
    pub fn row_from_natural(&self, table: &str, row: &Map<String, Value>) -> Result<Map<String, Value>, NotationError> {
        self.table(table)?.row_from_natural(row)
    }

    /// [`TableSchema::row_to_natural`] by table name.
    pub fn row_to_natural(&self, table: &str, row: &Map<String, Value>) -> Result<Map<String, Value>, NotationError> {
        self.table(table)?.row_to_natural(row)
    }

    /// Converts one natural value for `table.column` to OVSDB notation.
    pub fn value_from_natural(&self, table: &str, column: &str, v: &Value) -> Result<Value, NotationError> {
        let col = self.table(table)?.column(column)?;
        notation::from_natural(v, &col.ty).map_err(|e| NotationError::at(format!("{table}.{column}"), e))
    }
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;
    use serde_json::json;

    /// A trimmed-down Open_vSwitch schema with every kind of column.
    pub(crate) fn sample() -> DatabaseSchema {
        DatabaseSchema::parse(&json!({
            "name": "Open_vSwitch",
            "version": "8.3.1",
            "cksum": "1 2",
            "tables": {
                "Bridge": {
                    "columns": {
                        "name": {"type": "string", "mutable": false},
                        "ports": {"type": {"key": {"type": "uuid", "refTable": "Port"}, "min": 0, "max": "unlimited"}},
                        "fail_mode": {"type": {"key": {"type": "string", "enum": ["set", ["secure", "standalone"]]}, "min": 0, "max": 1}},
                        "external_ids": {"type": {"key": "string", "value": "string", "min": 0, "max": "unlimited"}},
                        "flood_vlans": {"type": {"key": {"type": "integer", "minInteger": 0, "maxInteger": 4095}, "min": 0, "max": 4096}},
                        "stp_enable": {"type": "boolean"},
                        "datapath_id": {"type": {"key": "string", "min": 0, "max": 1}, "ephemeral": true}
                    },
                    "indexes": [["name"]]
                },
                "Port": {
                    "columns": {
                        "name": {"type": "string"},
                        "tag": {"type": {"key": {"type": "integer", "minInteger": 0, "maxInteger": 4095}, "min": 0, "max": 1}},
                        "interfaces": {"type": {"key": {"type": "uuid", "refTable": "Interface"}, "min": 1, "max": "unlimited"}},
                        "other_config": {"type": {"key": "string", "value": "string", "min": 0, "max": "unlimited"}},
                        "queues": {"type": {"key": {"type": "integer", "minInteger": 0, "maxInteger": 4294967295u64}, "value": {"type": "uuid", "refTable": "Queue", "refType": "weak"}, "min": 0, "max": "unlimited"}}
                    }
                },
                "Interface": {
                    "columns": {
                        "name": {"type": "string"},
                        "ofport": {"type": {"key": "integer", "min": 0, "max": 1}},
                        "mtu": {"type": {"key": "integer", "min": 0, "max": 1}},
                        "link_speed": {"type": {"key": "real", "min": 0, "max": 1}},
                        "statistics": {"type": {"key": "string", "value": "integer", "min": 0, "max": "unlimited"}}
                    }
                },
                "Open_vSwitch": {
                    "columns": {"bridges": {"type": {"key": {"type": "uuid", "refTable": "Bridge"}, "min": 0, "max": "unlimited"}}},
                    "isRoot": true,
                    "maxRows": 1
                }
            }
        }))
        .unwrap()
    }

    #[test]
    fn parses_types_and_constraints() {
        let s = sample();
        assert_eq!(s.version_triple(), Some((8, 3, 1)));
        let b = s.table("Bridge").unwrap();
        assert_eq!(b.indexes, vec![vec!["name".to_owned()]]);
        assert_eq!(b.column("name").unwrap().ty.kind(), ColumnKind::Scalar);
        assert!(!b.column("name").unwrap().mutable);
        assert!(b.column("datapath_id").unwrap().ephemeral);
        let ports = &b.column("ports").unwrap().ty;
        assert_eq!((ports.kind(), ports.min, ports.max), (ColumnKind::Set, 0, None));
        assert_eq!(ports.key.ref_table.as_deref(), Some("Port"));
        assert_eq!(b.column("external_ids").unwrap().ty.kind(), ColumnKind::Map);
        let fm = &b.column("fail_mode").unwrap().ty;
        assert_eq!(fm.key.enum_values, Some(vec![json!("secure"), json!("standalone")]));
        assert_eq!(b.column("_uuid").unwrap().ty.key.atomic, Some(AtomicType::Uuid));
        let q = &s.table("Port").unwrap().column("queues").unwrap().ty;
        assert_eq!(q.value.as_ref().unwrap().ref_type, RefType::Weak);
        assert!(s.table("Open_vSwitch").unwrap().is_root);
    }

    #[test]
    fn unknown_names_are_named() {
        let s = sample();
        let e = s.row_from_natural("Bridge", json!({"nmae": "br0"}).as_object().unwrap()).unwrap_err();
        assert_eq!(e.to_string(), "Bridge.nmae: no such column");
        let e = s.table("Brige").unwrap_err();
        assert!(e.to_string().starts_with("Brige: no such table"), "{e}");
    }

    #[test]
    fn wrong_types_are_named() {
        let s = sample();
        let e = s.row_from_natural("Bridge", json!({"name": 3}).as_object().unwrap()).unwrap_err();
        assert_eq!(e.to_string(), "Bridge.name: expected a string, got 3");
        let e = s.value_from_natural("Bridge", "fail_mode", &json!("bogus")).unwrap_err();
        assert_eq!(e.location, "Bridge.fail_mode");
        assert!(e.message.contains("not one of the allowed values"), "{e}");
        let e = s.value_from_natural("Bridge", "flood_vlans", &json!([1, 5000])).unwrap_err();
        assert!(e.message.contains("range"), "{e}");
        let e = s.value_from_natural("Port", "tag", &json!([1, 2])).unwrap_err();
        assert!(e.message.contains("allowed 0..1"), "{e}");
        let e = s.value_from_natural("Port", "interfaces", &json!([])).unwrap_err();
        assert!(e.message.contains("allowed 1..unlimited"), "{e}");
        let e = s.value_from_natural("Bridge", "ports", &json!(["not a uuid!"])).unwrap_err();
        assert!(e.message.contains("uuid"), "{e}");
        let e = s.value_from_natural("Interface", "statistics", &json!({"rx": "x"})).unwrap_err();
        assert!(e.message.contains("value of key"), "{e}");
        assert_eq!(e.code(), "ERR_INVALID_ARG_VALUE");
    }

    #[test]
    fn check_row_accepts_what_the_server_sends() {
        let s = sample();
        let row = json!({
            "name": "br0",
            "ports": ["set", [["uuid", "aa51b2d8-55b1-4b44-953a-8aad7944232d"], ["uuid", "d799413e-4de7-4de1-bb06-f7af02241a69"]]],
            "fail_mode": ["set", []],
            "external_ids": ["map", [["xs-network-uuids", "x"]]],
            "flood_vlans": 7,
            "stp_enable": false,
        });
        s.table("Bridge").unwrap().check_row(row.as_object().unwrap()).unwrap();
        assert!(s.table("Bridge").unwrap().check_row(json!({"stp_enable": "no"}).as_object().unwrap()).is_err());
    }

    #[test]
    fn defaults() {
        let s = sample();
        let t = |tb: &str, c: &str| s.column_type(tb, c).unwrap().default_value();
        assert_eq!(t("Bridge", "name"), json!(""));
        assert_eq!(t("Bridge", "ports"), json!(["set", []]));
        assert_eq!(t("Bridge", "external_ids"), json!(["map", []]));
        assert_eq!(t("Bridge", "stp_enable"), json!(false));
        assert_eq!(t("Bridge", "_uuid"), json!(["uuid", "00000000-0000-0000-0000-000000000000"]));
    }

    #[test]
    fn bad_schemas_are_errors() {
        for bad in [
            json!([]),
            json!({"name": "x"}),
            json!({"name": "x", "tables": {"T": {"columns": {"c": {"type": "float"}}}}}),
            json!({"name": "x", "tables": {"T": {"columns": {"c": {"type": {"key": "string", "min": 2}}}}}}),
            json!({"name": "x", "tables": {"T": {"columns": {"c": {"type": {"key": "string", "max": 0}}}}}}),
            json!({"name": "x", "tables": {"T": {"columns": {"c": {}}}}}),
        ] {
            assert!(DatabaseSchema::parse(&bad).is_err(), "{bad}");
        }
    }
}
