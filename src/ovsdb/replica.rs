//! An in-memory replica of monitored tables: `table -> uuid -> row`, each row a
//! map of column -> value in OVSDB notation, as the server sent it.
//!
//! Fed by [`MonitorUpdate`]s: a monitor's initial reply and every `update`
//! (RFC 7047 §4.1.6), `update2` and `update3` (ovsdb-server(7) §4.1.14, §4.1.16)
//! notification. Each applied update returns the [`RowEvent`]s it caused.
//!
//! Update formats:
//! - `<table-updates>` (from `monitor`): `{"new": row}` inserts, `{"old": row}`
//!   deletes, both modify. `new` carries every monitored column, so rows are
//!   complete.
//! - `<table-updates2>` (from `monitor_cond*`): `initial`/`insert` give the row
//!   *without the columns at their default value*, `delete` removes it, and
//!   `modify` gives, per changed column, the difference: the new value for a
//!   scalar, the elements to toggle for a set (added if absent, removed if
//!   present), and for a map the pairs to add (new key), change (same key, other
//!   value) or remove (same key and value). Rows fed this way omit default-valued
//!   columns too: a set or map that becomes empty is removed from the row, and,
//!   when a schema is given, so is a scalar that returns to its default.
//!
//! Telling a set from a scalar in a `modify` needs the column type: give the
//! replica the schema ([`Replica::with_schema`]). Without one it guesses from the
//! values (tagged `["set", ...]`/`["map", ...]` are unambiguous; two bare atoms
//! are taken as a scalar change unless they are equal), which is wrong for a
//! multi-valued set that holds exactly one element.
//!
//! Every update is validated and computed before anything changes: an update that
//! cannot be applied leaves the replica untouched and returns an error, after
//! which the replica no longer matches the server and must be resynchronized
//! (re-monitor; the initial reply replaces the monitored tables).
//!
//! Set elements and map pairs computed here are sorted the way ovsdb-server sorts
//! them, so a replica maintained by updates equals one built from a fresh dump.

use std::collections::BTreeMap;

use serde_json::{Map, Value};

use super::monitor::{MonitorUpdate, UpdateFormat};
use super::notation;
use super::schema::{ColumnKind, DatabaseSchema};

/// A row: column -> value in OVSDB notation.
pub type Row = Map<String, Value>;

/// What happened to a row.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum RowEventKind {
    /// A new row.
    Insert,
    /// A row changed.
    Modify,
    /// A row went away.
    Delete,
}

/// A change to the replica.
#[derive(Clone, Debug, PartialEq)]
pub struct RowEvent {
    /// Table name.
    pub table: String,
    /// Row UUID.
    pub uuid: String,
    /// Insert, modify or delete.
    pub kind: RowEventKind,
    /// The whole row before (modify, delete).
    pub old: Option<Row>,
    /// The whole row after (insert, modify).
    pub new: Option<Row>,
}

/// An update that cannot be applied. The replica is unchanged; it should be
/// resynchronized.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum ReplicaError {
    /// The update is not shaped as its format says.
    #[error("malformed table update: {0}")]
    Malformed(String),
    /// A `modify` names a row the replica does not have.
    #[error("update modifies {table} row {uuid}, which the replica does not have")]
    UnknownRow {
        /// Table.
        table: String,
        /// UUID.
        uuid: String,
    },
    /// A column difference does not fit the current value.
    #[error("cannot apply the change to {table}.{column} of row {uuid}: {message}")]
    BadDiff {
        /// Table.
        table: String,
        /// Column.
        column: String,
        /// UUID.
        uuid: String,
        /// Why.
        message: String,
    },
}

impl ReplicaError {
    /// Stable code: the replica is out of sync with the server.
    pub fn code(&self) -> &'static str {
        "OVSDB_REPLICA_OUT_OF_SYNC"
    }
}

/// The replica.
#[derive(Clone, Debug, Default)]
pub struct Replica {
    tables: BTreeMap<String, BTreeMap<String, Row>>,
    schema: Option<DatabaseSchema>,
    last_txn_id: Option<String>,
}

/// One row change in an update, parsed.
enum Change {
    /// `update`: `new` (insert, modify) or only `old` (delete; the replica's own
    /// copy of the row is what the delete event reports).
    V1 { new: Option<Row> },
    /// `update2`: initial or insert.
    Put(Row),
    /// `update2`: modify, with the differences.
    Modify(Row),
    /// `update2`: delete.
    Delete,
}

/// (table, uuid, row after or None for deleted)
type Planned = (String, String, Option<Row>);

impl Replica {
    /// An empty replica without schema.
    pub fn new() -> Replica {
        Replica::default()
    }

    /// An empty replica that uses `schema` to interpret `update2` differences.
    pub fn with_schema(schema: DatabaseSchema) -> Replica {
        Replica { schema: Some(schema), ..Replica::default() }
    }

    /// Sets or replaces the schema.
    pub fn set_schema(&mut self, schema: DatabaseSchema) {
        self.schema = Some(schema);
    }

    /// The schema, if given.
    pub fn schema(&self) -> Option<&DatabaseSchema> {
        self.schema.as_ref()
    }

    /// Forgets every row and the last transaction id (for a resync after a
    /// reconnect). No events. Not required before re-monitoring: a monitor's
    /// initial reply replaces its tables and reports only the real differences.
    pub fn clear(&mut self) {
        self.tables.clear();
        self.last_txn_id = None;
    }

    /// The rows of `table` (none if unknown), by UUID.
    pub fn rows(&self, table: &str) -> impl Iterator<Item = (&str, &Row)> + '_ {
        self.tables.get(table).into_iter().flat_map(|t| t.iter().map(|(u, r)| (u.as_str(), r)))
    }

    /// The rows of `table` as a map, if the table has any.
    pub fn table(&self, table: &str) -> Option<&BTreeMap<String, Row>> {
        self.tables.get(table)
    }

    /// One row.
    pub fn row(&self, table: &str, uuid: &str) -> Option<&Row> {
        self.tables.get(table)?.get(uuid)
    }

    /// Number of rows in `table`.
    pub fn len(&self, table: &str) -> usize {
        self.tables.get(table).map_or(0, BTreeMap::len)
    }

    /// Whether no table has a row.
    pub fn is_empty(&self) -> bool {
        self.tables.values().all(BTreeMap::is_empty)
    }

    /// Names of tables that have rows.
    pub fn tables(&self) -> impl Iterator<Item = &str> + '_ {
        self.tables.iter().filter(|(_, t)| !t.is_empty()).map(|(n, _)| n.as_str())
    }

    /// The last transaction id received (`update3`, `monitor_cond_since` reply):
    /// pass it to the next `monitor_cond_since` after a reconnect.
    pub fn last_txn_id(&self) -> Option<&str> {
        self.last_txn_id.as_deref()
    }

    /// Applies an update; returns the row events, in table then UUID order.
    pub fn apply(&mut self, update: &MonitorUpdate) -> Result<Vec<RowEvent>, ReplicaError> {
        let parsed = parse_updates(&update.updates, update.format)?;
        let mut plan: Vec<Planned> = Vec::new();
        for (table, changes) in &parsed {
            let reset = update.reset_tables.iter().any(|t| t == table);
            for (uuid, change) in changes {
                let after = self.compute(table, uuid, change)?;
                plan.push((table.clone(), uuid.clone(), after));
            }
            if reset {
                self.plan_missing_deletes(table, changes, &mut plan);
            }
        }
        for table in &update.reset_tables {
            if !parsed.contains_key(table) {
                self.plan_missing_deletes(table, &BTreeMap::new(), &mut plan);
            }
        }
        if let Some(t) = &update.last_txn_id {
            self.last_txn_id = Some(t.clone());
        }
        Ok(self.commit(plan))
    }

    /// Rows of `table` that a reset does not mention are gone.
    fn plan_missing_deletes(&self, table: &str, present: &BTreeMap<String, Change>, plan: &mut Vec<Planned>) {
        if let Some(rows) = self.tables.get(table) {
            for uuid in rows.keys().filter(|u| !present.contains_key(*u)) {
                plan.push((table.to_owned(), uuid.clone(), None));
            }
        }
    }

    /// The row after `change`, or `None` if it is deleted.
    fn compute(&self, table: &str, uuid: &str, change: &Change) -> Result<Option<Row>, ReplicaError> {
        let current = self.row(table, uuid);
        Ok(match change {
            Change::V1 { new: Some(new), .. } => {
                let mut row = current.cloned().unwrap_or_default();
                for (c, v) in new {
                    row.insert(c.clone(), v.clone());
                }
                Some(row)
            }
            Change::V1 { new: None, .. } | Change::Delete => None,
            Change::Put(row) => Some(row.clone()),
            Change::Modify(diff) => {
                let Some(current) = current else {
                    return Err(ReplicaError::UnknownRow { table: table.to_owned(), uuid: uuid.to_owned() });
                };
                let mut row = current.clone();
                for (column, d) in diff {
                    let after = self.apply_diff(table, column, row.get(column), d).map_err(|message| ReplicaError::BadDiff {
                        table: table.to_owned(),
                        column: column.clone(),
                        uuid: uuid.to_owned(),
                        message,
                    })?;
                    match after {
                        Some(v) => row.insert(column.clone(), v),
                        None => row.remove(column),
                    };
                }
                Some(row)
            }
        })
    }

    /// ovsdb-server(7) §4.1.14: applies one column's difference. `None`: the column
    /// is now at its default value and, as in `initial`/`insert` rows, absent.
    fn apply_diff(&self, table: &str, column: &str, current: Option<&Value>, diff: &Value) -> Result<Option<Value>, String> {
        let ty = self.schema.as_ref().and_then(|s| s.column_type(table, column));
        let kind = match ty {
            Some(t) => t.kind(),
            None => guess_kind(current, diff),
        };
        match kind {
            ColumnKind::Scalar => {
                if !notation::is_atom(diff) {
                    return Err(format!("expected an atom, got {diff}"));
                }
                Ok((ty.map(|t| t.default_value()).as_ref() != Some(diff)).then(|| diff.clone()))
            }
            ColumnKind::Set => {
                let mut elements = match current {
                    Some(c) => notation::set_elements(c).ok_or_else(|| format!("current value {c} is not a set"))?,
                    None => Vec::new(),
                };
                let toggles = notation::set_elements(diff).ok_or_else(|| format!("difference {diff} is not a set"))?;
                for t in toggles {
                    match elements.iter().position(|e| *e == t) {
                        Some(i) => {
                            elements.remove(i);
                        }
                        None => elements.push(t),
                    }
                }
                notation::sort_set(&mut elements);
                Ok((!elements.is_empty()).then(|| notation::set_value(elements)))
            }
            ColumnKind::Map => {
                let mut pairs = match current {
                    Some(c) => notation::map_pairs(c).ok_or_else(|| format!("current value {c} is not a map"))?,
                    None => Vec::new(),
                };
                let changes = notation::map_pairs(diff).ok_or_else(|| format!("difference {diff} is not a map"))?;
                for (k, v) in changes {
                    match pairs.iter().position(|(pk, _)| *pk == k) {
                        Some(i) => {
                            let old = pairs.remove(i);
                            if old.1 != v {
                                pairs.push((k, v));
                            }
                        }
                        None => pairs.push((k, v)),
                    }
                }
                notation::sort_map(&mut pairs);
                Ok((!pairs.is_empty()).then(|| notation::map_value(pairs)))
            }
        }
    }

    fn commit(&mut self, plan: Vec<Planned>) -> Vec<RowEvent> {
        let mut events = Vec::new();
        for (table, uuid, after) in plan {
            let rows = self.tables.entry(table.clone()).or_default();
            let (kind, old, new) = match (rows.get(&uuid), after) {
                (None, None) => continue,
                (Some(old), Some(new)) if *old == new => continue,
                (None, Some(new)) => {
                    rows.insert(uuid.clone(), new.clone());
                    (RowEventKind::Insert, None, Some(new))
                }
                (Some(_), Some(new)) => {
                    let old = rows.insert(uuid.clone(), new.clone());
                    (RowEventKind::Modify, old, Some(new))
                }
                (Some(_), None) => (RowEventKind::Delete, rows.remove(&uuid), None),
            };
            if rows.is_empty() {
                self.tables.remove(&table);
            }
            events.push(RowEvent { table, uuid, kind, old, new });
        }
        events
    }
}

fn guess_kind(current: Option<&Value>, diff: &Value) -> ColumnKind {
    let tag = |v: &Value| v.as_array().and_then(|a| a.first()).and_then(Value::as_str).map(str::to_owned);
    let tags = [current.and_then(tag), tag(diff)];
    if tags.iter().any(|t| t.as_deref() == Some("map")) {
        ColumnKind::Map
    } else if tags.iter().any(|t| t.as_deref() == Some("set")) || current == Some(diff) {
        ColumnKind::Set
    } else {
        ColumnKind::Scalar
    }
}

/// Parses and validates `<table-updates>`/`<table-updates2>`.
fn parse_updates(v: &Value, format: UpdateFormat) -> Result<BTreeMap<String, BTreeMap<String, Change>>, ReplicaError> {
    let bad = |m: String| ReplicaError::Malformed(m);
    let tables = v.as_object().ok_or_else(|| bad(format!("table updates must be an object, got {v}")))?;
    let mut out = BTreeMap::new();
    for (table, tu) in tables {
        let rows = tu.as_object().ok_or_else(|| bad(format!("update of table {table} is not an object")))?;
        let mut changes = BTreeMap::new();
        for (uuid, ru) in rows {
            if !notation::is_uuid(uuid) {
                return Err(bad(format!("{table}: row key {uuid:?} is not a UUID")));
            }
            let o = ru.as_object().ok_or_else(|| bad(format!("{table} row {uuid}: row update is not an object")))?;
            let row = |k: &str| -> Result<Option<Row>, ReplicaError> {
                match o.get(k) {
                    None | Some(Value::Null) => Ok(None),
                    Some(Value::Object(r)) => Ok(Some(r.clone())),
                    Some(other) => Err(bad(format!("{table} row {uuid}: \"{k}\" is not an object: {other}"))),
                }
            };
            let change = match format {
                UpdateFormat::Update => {
                    let (old, new) = (row("old")?, row("new")?);
                    if old.is_none() && new.is_none() {
                        return Err(bad(format!("{table} row {uuid}: neither \"old\" nor \"new\"")));
                    }
                    Change::V1 { new }
                }
                UpdateFormat::Update2 => {
                    let mut keys = o.keys().filter(|k| matches!(k.as_str(), "initial" | "insert" | "delete" | "modify"));
                    let (Some(k), None) = (keys.next(), keys.next()) else {
                        return Err(bad(format!("{table} row {uuid}: expected exactly one of initial/insert/delete/modify")));
                    };
                    match k.as_str() {
                        "delete" => Change::Delete,
                        "modify" => Change::Modify(row("modify")?.unwrap_or_default()),
                        // initial or insert
                        other => Change::Put(row(other)?.unwrap_or_default()),
                    }
                }
            };
            changes.insert(uuid.clone(), change);
        }
        out.insert(table.clone(), changes);
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::ovsdb::schema::tests::sample;
    use serde_json::json;

    const R1: &str = "aa51b2d8-55b1-4b44-953a-8aad7944232d";
    const R2: &str = "d799413e-4de7-4de1-bb06-f7af02241a69";
    const P1: &str = "11111111-0000-0000-0000-000000000001";
    const P2: &str = "11111111-0000-0000-0000-000000000002";
    const P3: &str = "11111111-0000-0000-0000-000000000003";

    fn upd(format: UpdateFormat, updates: Value) -> MonitorUpdate {
        MonitorUpdate { monitor_id: json!("m"), format, updates, last_txn_id: None, reset_tables: vec![], reply_to: None }
    }

    fn row(v: Value) -> Row {
        v.as_object().unwrap().clone()
    }

    #[test]
    fn update_v1_insert_modify_delete() {
        let mut r = Replica::new();
        let ev = r
            .apply(&upd(UpdateFormat::Update, json!({"Bridge": {R1: {"new": {"name": "br0", "ports": ["set", []], "external_ids": ["map", []]}}}})))
            .unwrap();
        assert_eq!(ev.len(), 1);
        assert_eq!((ev[0].kind, ev[0].table.as_str(), ev[0].uuid.as_str()), (RowEventKind::Insert, "Bridge", R1));
        let ev = r
            .apply(&upd(
                UpdateFormat::Update,
                json!({"Bridge": {R1: {"old": {"ports": ["set", []]}, "new": {"name": "br0", "ports": ["uuid", P1], "external_ids": ["map", []]}}}}),
            ))
            .unwrap();
        assert_eq!(ev[0].kind, RowEventKind::Modify);
        assert_eq!(ev[0].old.as_ref().unwrap()["ports"], json!(["set", []]));
        assert_eq!(r.row("Bridge", R1).unwrap()["ports"], json!(["uuid", P1]));
        let ev = r.apply(&upd(UpdateFormat::Update, json!({"Bridge": {R1: {"old": {"name": "br0"}}}}))).unwrap();
        assert_eq!(ev[0].kind, RowEventKind::Delete);
        assert_eq!(ev[0].old.as_ref().unwrap()["name"], json!("br0"));
        assert!(r.row("Bridge", R1).is_none());
        assert!(r.is_empty());
    }

    fn modify_sets_and_maps(mut r: Replica) {
        r.apply(&upd(
            UpdateFormat::Update2,
            json!({"Bridge": {R1: {"initial": {"name": "br0", "ports": ["set", [["uuid", P1], ["uuid", P2]]], "external_ids": ["map", [["a", "1"], ["b", "2"]]], "flood_vlans": 5}}}}),
        ))
        .unwrap();
        // Sets: toggle P2 out and P3 in; flood_vlans (one element, written bare) gains 3.
        // Maps: a removed (same value), b changed, c added.
        let ev = r
            .apply(&upd(
                UpdateFormat::Update2,
                json!({"Bridge": {R1: {"modify": {
                    "ports": ["set", [["uuid", P2], ["uuid", P3]]],
                    "external_ids": ["map", [["a", "1"], ["b", "3"], ["c", "4"]]],
                    "flood_vlans": 3,
                }}}}),
            ))
            .unwrap();
        let row = r.row("Bridge", R1).unwrap();
        assert_eq!(row["ports"], json!(["set", [["uuid", P1], ["uuid", P3]]]));
        assert_eq!(row["external_ids"], json!(["map", [["b", "3"], ["c", "4"]]]));
        assert_eq!(row["flood_vlans"], json!(["set", [3, 5]]));
        assert_eq!(row["name"], json!("br0"));
        assert_eq!(ev[0].kind, RowEventKind::Modify);
        assert_eq!(ev[0].old.as_ref().unwrap()["ports"], json!(["set", [["uuid", P1], ["uuid", P2]]]));
        // Down to one element (written bare), then empty (column omitted, as in `insert`).
        r.apply(&upd(UpdateFormat::Update2, json!({"Bridge": {R1: {"modify": {"ports": ["uuid", P3], "flood_vlans": ["set", [3]]}}}})))
            .unwrap();
        assert_eq!(r.row("Bridge", R1).unwrap()["ports"], json!(["uuid", P1]));
        assert_eq!(r.row("Bridge", R1).unwrap()["flood_vlans"], json!(5));
        r.apply(&upd(
            UpdateFormat::Update2,
            json!({"Bridge": {R1: {"modify": {"ports": ["uuid", P1], "external_ids": ["map", [["b", "3"], ["c", "4"]]]}}}}),
        ))
        .unwrap();
        let row = r.row("Bridge", R1).unwrap();
        assert!(!row.contains_key("ports") && !row.contains_key("external_ids"), "{row:?}");
        // From absent (default) to a value.
        r.apply(&upd(UpdateFormat::Update2, json!({"Bridge": {R1: {"modify": {"ports": ["uuid", P2], "external_ids": ["map", [["z", "0"]]]}}}})))
            .unwrap();
        let row = r.row("Bridge", R1).unwrap();
        assert_eq!(row["ports"], json!(["uuid", P2]));
        assert_eq!(row["external_ids"], json!(["map", [["z", "0"]]]));
        // Scalar: the new value replaces.
        r.apply(&upd(UpdateFormat::Update2, json!({"Bridge": {R1: {"modify": {"name": "br1"}}}}))).unwrap();
        assert_eq!(r.row("Bridge", R1).unwrap()["name"], json!("br1"));
        // Delete.
        let ev = r.apply(&upd(UpdateFormat::Update2, json!({"Bridge": {R1: {"delete": null}}}))).unwrap();
        assert_eq!(ev[0].kind, RowEventKind::Delete);
        assert_eq!(r.len("Bridge"), 0);
    }

    #[test]
    fn update2_modify_with_schema() {
        modify_sets_and_maps(Replica::with_schema(sample()));
    }

    #[test]
    fn update2_modify_without_schema_for_tagged_values() {
        // The sample above only toggles a bare atom against a tagged set or an equal
        // atom, which is unambiguous without the schema, except `flood_vlans: 3`
        // against `5` (a multi-valued set holding one element).
        let mut r = Replica::new();
        r.apply(&upd(UpdateFormat::Update2, json!({"Bridge": {R1: {"initial": {"flood_vlans": 5, "tag": 1}}}}))).unwrap();
        r.apply(&upd(UpdateFormat::Update2, json!({"Bridge": {R1: {"modify": {"flood_vlans": 3, "tag": 1}}}}))).unwrap();
        let row = r.row("Bridge", R1).unwrap();
        assert_eq!(row["flood_vlans"], json!(3), "guessed as a scalar: documented limitation");
        assert!(!row.contains_key("tag"), "equal bare atoms toggle a set to empty");
        // With the schema it is right.
        let mut r = Replica::with_schema(sample());
        r.apply(&upd(UpdateFormat::Update2, json!({"Bridge": {R1: {"initial": {"flood_vlans": 5}}}}))).unwrap();
        r.apply(&upd(UpdateFormat::Update2, json!({"Bridge": {R1: {"modify": {"flood_vlans": 3}}}}))).unwrap();
        assert_eq!(r.row("Bridge", R1).unwrap()["flood_vlans"], json!(["set", [3, 5]]));
    }

    #[test]
    fn scalar_back_to_default_is_omitted_with_schema() {
        let mut r = Replica::with_schema(sample());
        r.apply(&upd(UpdateFormat::Update2, json!({"Bridge": {R1: {"initial": {"name": "x", "stp_enable": true}}}}))).unwrap();
        r.apply(&upd(UpdateFormat::Update2, json!({"Bridge": {R1: {"modify": {"stp_enable": false}}}}))).unwrap();
        assert_eq!(r.row("Bridge", R1).unwrap(), &row(json!({"name": "x"})));
    }

    #[test]
    fn reset_replaces_the_tables_with_minimal_events() {
        let mut r = Replica::new();
        r.apply(&upd(UpdateFormat::Update2, json!({"Bridge": {R1: {"insert": {"name": "a"}}, R2: {"insert": {"name": "b"}}}, "Port": {P1: {"insert": {"name": "p"}}}})))
            .unwrap();
        // After a reconnect: R1 unchanged, R2 gone, P2 new, P1 changed; Port and
        // Interface are reset, Interface had nothing.
        let mut u = upd(UpdateFormat::Update2, json!({"Bridge": {R1: {"initial": {"name": "a"}}}, "Port": {P1: {"initial": {"name": "q"}}, P2: {"initial": {"name": "r"}}}}));
        u.reset_tables = vec!["Bridge".into(), "Port".into(), "Interface".into()];
        u.last_txn_id = Some("t1".into());
        let ev = r.apply(&u).unwrap();
        let summary: Vec<_> = ev.iter().map(|e| (e.table.as_str(), e.uuid.as_str(), e.kind)).collect();
        assert_eq!(
            summary,
            vec![("Bridge", R2, RowEventKind::Delete), ("Port", P1, RowEventKind::Modify), ("Port", P2, RowEventKind::Insert)]
        );
        assert_eq!(r.last_txn_id(), Some("t1"));
        // A reset with no rows empties the table.
        let mut u = upd(UpdateFormat::Update, json!({}));
        u.reset_tables = vec!["Port".into()];
        assert_eq!(r.apply(&u).unwrap().len(), 2);
        assert_eq!(r.tables().collect::<Vec<_>>(), vec!["Bridge"]);
        r.clear();
        assert!(r.is_empty() && r.last_txn_id().is_none());
    }

    #[test]
    fn bad_updates_change_nothing() {
        let mut r = Replica::with_schema(sample());
        r.apply(&upd(UpdateFormat::Update2, json!({"Bridge": {R1: {"insert": {"name": "a", "ports": ["uuid", P1]}}}}))).unwrap();
        let before = r.clone();
        for (format, bad) in [
            (UpdateFormat::Update2, json!({"Bridge": {R2: {"modify": {"name": "x"}}}})),
            (UpdateFormat::Update2, json!({"Bridge": {R1: {"modify": {"name": "ok"}}}, "Port": {R2: {"modify": {"name": "x"}}}})),
            (UpdateFormat::Update2, json!({"Bridge": {R1: {"modify": {"ports": ["map", []]}}}})),
            (UpdateFormat::Update2, json!({"Bridge": {R1: {"insert": {}, "delete": null}}})),
            (UpdateFormat::Update2, json!({"Bridge": {"not-a-uuid": {"delete": null}}})),
            (UpdateFormat::Update2, json!({"Bridge": []})),
            (UpdateFormat::Update, json!({"Bridge": {R1: {}}})),
            (UpdateFormat::Update, json!({"Bridge": {R1: {"new": 3}}})),
            (UpdateFormat::Update, json!(null)),
        ] {
            assert!(r.apply(&upd(format, bad.clone())).is_err(), "{bad}");
            assert_eq!(r.row("Bridge", R1), before.row("Bridge", R1), "{bad}");
            assert_eq!(r.len("Port"), 0);
        }
        let e = r.apply(&upd(UpdateFormat::Update2, json!({"Bridge": {R2: {"modify": {}}}}))).unwrap_err();
        assert_eq!(e.code(), "OVSDB_REPLICA_OUT_OF_SYNC");
        // Deleting an unknown row is harmless.
        assert!(r.apply(&upd(UpdateFormat::Update2, json!({"Bridge": {R2: {"delete": null}}}))).unwrap().is_empty());
    }
}
