//! Monitor requests and the updates they produce (RFC 7047 §4.1.5–4.1.6;
//! `monitor_cond`, `monitor_cond_since`, `update2`, `update3` per ovsdb-server(7)
//! §4.1.12–4.1.16).
//!
//! The session turns both a monitor's initial reply and every later `update*`
//! notification into one [`MonitorUpdate`], which the
//! [`crate::ovsdb::replica::Replica`] applies.

use serde_json::{Map, Value};

use super::session::RequestId;

/// The all-zero UUID, the `<last-txn-id>` to send when we have none.
pub const ZERO_TXN_ID: &str = "00000000-0000-0000-0000-000000000000";

/// Which `<table-updates>` flavour an update carries.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum UpdateFormat {
    /// RFC 7047 §4.1.6 `<table-updates>`: rows as `{"old": ..., "new": ...}` (from `monitor`).
    Update,
    /// ovsdb-server(7) §4.1.14 `<table-updates2>`: `initial`/`insert`/`delete`/`modify`,
    /// where `modify` carries the difference (from `monitor_cond` and `monitor_cond_since`).
    Update2,
}

/// Changes to the monitored tables: a monitor's initial reply, or an `update`,
/// `update2` or `update3` notification.
#[derive(Clone, Debug, PartialEq)]
pub struct MonitorUpdate {
    /// The `<json-value>` the monitor was created with.
    pub monitor_id: Value,
    /// How `updates` is laid out.
    pub format: UpdateFormat,
    /// The `<table-updates>` or `<table-updates2>` object, as received.
    pub updates: Value,
    /// The transaction id this update brings the replica to (`update3`, and the
    /// reply to `monitor_cond_since`).
    pub last_txn_id: Option<String>,
    /// Tables whose whole content `updates` gives (a monitor's initial reply, or
    /// `monitor_cond_since` with `found: false`): rows of these tables that are not
    /// in `updates` no longer exist. Empty for notifications.
    pub reset_tables: Vec<String>,
    /// The monitor request this is the reply to; `None` for notifications.
    pub reply_to: Option<RequestId>,
}

/// `<monitor-select>`: which kinds of change to report (all by default).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Select {
    /// Send the current rows in the reply.
    pub initial: bool,
    /// Report inserted rows.
    pub insert: bool,
    /// Report deleted rows.
    pub delete: bool,
    /// Report modified rows.
    pub modify: bool,
}

impl Default for Select {
    fn default() -> Self {
        Select { initial: true, insert: true, delete: true, modify: true }
    }
}

/// One `<monitor-request>` / `<monitor-cond-request>` for a table.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct MonitorRequest {
    /// Columns to monitor; `None`: all.
    pub columns: Option<Vec<String>>,
    /// `where` conditions (`monitor_cond*` only): `[<condition>*]` in RFC 7047 §5.1 form.
    pub conditions: Option<Vec<Value>>,
    /// What to report; `None`: everything.
    pub select: Option<Select>,
}

impl MonitorRequest {
    /// Every column, every change.
    pub fn all() -> MonitorRequest {
        MonitorRequest::default()
    }

    /// The given columns, every change.
    pub fn columns<S: Into<String>>(columns: impl IntoIterator<Item = S>) -> MonitorRequest {
        MonitorRequest { columns: Some(columns.into_iter().map(Into::into).collect()), ..MonitorRequest::default() }
    }

    /// The wire form.
    pub fn to_json(&self) -> Value {
        let mut o = Map::new();
        if let Some(c) = &self.columns {
            o.insert("columns".into(), Value::Array(c.iter().cloned().map(Value::String).collect()));
        }
        if let Some(w) = &self.conditions {
            o.insert("where".into(), Value::Array(w.clone()));
        }
        if let Some(s) = self.select {
            let mut so = Map::new();
            for (k, v) in [("initial", s.initial), ("insert", s.insert), ("delete", s.delete), ("modify", s.modify)] {
                so.insert(k.into(), Value::Bool(v));
            }
            o.insert("select".into(), Value::Object(so));
        }
        Value::Object(o)
    }
}

/// Builds `<monitor-requests>`: table name → array of requests.
pub fn monitor_requests<'a>(tables: impl IntoIterator<Item = (&'a str, MonitorRequest)>) -> Value {
    let mut o = Map::new();
    for (t, r) in tables {
        let entry = o.entry(t.to_owned()).or_insert_with(|| Value::Array(Vec::new()));
        if let Value::Array(a) = entry {
            a.push(r.to_json());
        }
    }
    Value::Object(o)
}

/// Checks the shape of `<monitor-requests>` (an object of table → request or
/// array of requests) and returns the tables whose initial contents the reply
/// will carry (those with at least one request that does not set `initial: false`).
pub(crate) fn snapshot_tables(requests: &Value) -> Result<Vec<String>, String> {
    let o = requests.as_object().ok_or_else(|| format!("monitor requests must be an object of table -> request(s), got {requests}"))?;
    let mut tables = Vec::new();
    for (table, r) in o {
        // ovsdb-server(7) §4.1.5: a single request may stand for a one-element array.
        let list: &[Value] = match r {
            Value::Array(a) => a,
            single => std::slice::from_ref(single),
        };
        if list.is_empty() {
            return Err(format!("monitor request for table {table} is empty"));
        }
        let mut initial = false;
        for req in list {
            let ro = req.as_object().ok_or_else(|| format!("monitor request for table {table} is not an object: {req}"))?;
            let wants = ro.get("select").and_then(|s| s.get("initial")).and_then(Value::as_bool).unwrap_or(true);
            initial |= wants;
        }
        if initial {
            tables.push(table.clone());
        }
    }
    Ok(tables)
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn builds_requests() {
        let r = monitor_requests([
            ("Bridge", MonitorRequest::columns(["name", "ports"])),
            ("Port", MonitorRequest { select: Some(Select { initial: false, ..Select::default() }), ..MonitorRequest::all() }),
            ("Interface", MonitorRequest { conditions: Some(vec![json!(["type", "==", "dummy"])]), ..MonitorRequest::all() }),
        ]);
        assert_eq!(
            r,
            json!({
                "Bridge": [{"columns": ["name", "ports"]}],
                "Port": [{"select": {"initial": false, "insert": true, "delete": true, "modify": true}}],
                "Interface": [{"where": [["type", "==", "dummy"]]}],
            })
        );
        assert_eq!(snapshot_tables(&r).unwrap(), vec!["Bridge".to_owned(), "Interface".to_owned()]);
        assert_eq!(snapshot_tables(&json!({"T": {}})).unwrap(), vec!["T".to_owned()]);
        assert!(snapshot_tables(&json!([])).is_err());
        assert!(snapshot_tables(&json!({"T": []})).is_err());
        assert!(snapshot_tables(&json!({"T": [3]})).is_err());
    }
}
