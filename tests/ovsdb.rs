//! `xo_sdn_native::ovsdb` against a real ovsdb-server.
//!
//! Each test starts the project's sandbox (`node testing/sandbox.js start`: real
//! ovsdb-server + ovs-vswitchd on loopback, stopped when its stdin closes),
//! connects to host 0's plain `ptcp` OVSDB port with a blocking `TcpStream`, and
//! drives the sans-I/O session by hand. `ovs-vsctl` on the sandbox's unix socket
//! is the reference for what the database holds. When Open vSwitch (or node) is
//! missing these tests fail with a message saying so; they never skip.

use std::collections::VecDeque;
use std::io::{BufRead, BufReader, ErrorKind as IoErrorKind, Read, Write};
use std::net::TcpStream;
use std::process::{Child, ChildStdin, Command, Stdio};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use serde_json::{json, Map, Value};
use xo_sdn_native::ovsdb::framing::JsonFramer;
use xo_sdn_native::ovsdb::jsonrpc::Message;
use xo_sdn_native::ovsdb::monitor::{monitor_requests, MonitorRequest};
use xo_sdn_native::ovsdb::{
    CloseReason, Config, DatabaseSchema, ErrorKind, Event, OvsdbSession, Replica, RequestError, RequestId, RowEvent, RowEventKind,
};

const DB: &str = "Open_vSwitch";
const TABLES: [&str; 3] = ["Bridge", "Port", "Interface"];

// ---------------------------------------------------------------------------------------
// Sandbox

struct Sandbox {
    child: Child,
    stdin: Option<ChildStdin>,
    /// host 0 of the sandbox's JSON line
    host: Value,
}

impl Sandbox {
    fn start() -> Sandbox {
        let root = env!("CARGO_MANIFEST_DIR");
        let mut child = Command::new("node")
            .args(["testing/sandbox.js", "start", "--nports", "2"])
            .current_dir(root)
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap_or_else(|e| panic!("cannot run `node testing/sandbox.js start` (is Node.js installed?): {e}"));
        let stderr = Arc::new(Mutex::new(String::new()));
        {
            let mut pipe = child.stderr.take().expect("stderr piped");
            let sink = Arc::clone(&stderr);
            std::thread::spawn(move || {
                let mut s = String::new();
                let _ = pipe.read_to_string(&mut s);
                sink.lock().unwrap().push_str(&s);
            });
        }
        let mut line = String::new();
        BufReader::new(child.stdout.take().expect("stdout piped")).read_line(&mut line).expect("read sandbox stdout");
        if line.trim().is_empty() {
            let status = child.wait();
            std::thread::sleep(Duration::from_millis(200));
            panic!(
                "the OVS sandbox did not start ({status:?}). Open vSwitch (ovsdb-server, ovs-vswitchd, ovs-vsctl) must be \
                 installed; as root `node testing/sandbox.js ensure` installs it. stderr:\n{}",
                stderr.lock().unwrap()
            );
        }
        let info: Value = serde_json::from_str(&line).unwrap_or_else(|e| panic!("sandbox printed {line:?}: {e}"));
        let stdin = child.stdin.take();
        Sandbox { child, stdin, host: info["hosts"][0].clone() }
    }

    fn addr(&self) -> String {
        let port = self.host["ports"]["ovsdbTcp"].as_u64().expect("sandbox has no plain TCP ovsdb port (ports.ovsdbTcp)");
        format!("{}:{port}", self.host["ip"].as_str().unwrap())
    }

    /// `ovs-vsctl --db=unix:<run>/db.sock ...`
    fn vsctl(&self, args: &[&str]) -> String {
        let db = self.host["targets"]["ovsdbUnix"].as_str().unwrap();
        let mut cmd = Command::new("ovs-vsctl");
        cmd.arg(format!("--db={db}")).arg("--timeout=15").args(args);
        if let Some(env) = self.host["env"].as_object() {
            for (k, v) in env {
                cmd.env(k, v.as_str().unwrap_or_default());
            }
        }
        let out = cmd.output().unwrap_or_else(|e| panic!("cannot run ovs-vsctl (is Open vSwitch installed?): {e}"));
        assert!(out.status.success(), "ovs-vsctl {args:?} failed: {}", String::from_utf8_lossy(&out.stderr));
        String::from_utf8(out.stdout).unwrap()
    }

    /// `ovs-vsctl --format=json --data=json list <table>`: uuid -> row (OVSDB notation).
    fn list(&self, table: &str) -> Vec<(String, Map<String, Value>)> {
        let v: Value = serde_json::from_str(&self.vsctl(&["--format=json", "--data=json", "list", table])).unwrap();
        let headings: Vec<&str> = v["headings"].as_array().unwrap().iter().map(|h| h.as_str().unwrap()).collect();
        v["data"]
            .as_array()
            .unwrap()
            .iter()
            .map(|r| {
                let mut row: Map<String, Value> = headings.iter().map(|h| h.to_string()).zip(r.as_array().unwrap().iter().cloned()).collect();
                let uuid = row.remove("_uuid").unwrap()[1].as_str().unwrap().to_owned();
                (uuid, row)
            })
            .collect()
    }
}

impl Drop for Sandbox {
    fn drop(&mut self) {
        drop(self.stdin.take()); // the sandbox stops its daemons when stdin closes
        let _ = self.child.wait();
    }
}

// ---------------------------------------------------------------------------------------
// A blocking driver for the session, as a test harness

struct Client {
    stream: TcpStream,
    session: OvsdbSession,
    replica: Replica,
    events: VecDeque<Event>,
    row_events: Vec<RowEvent>,
    /// Replies we wrote to the server's `echo` probes.
    echo_replies: usize,
}

impl Client {
    fn connect(sb: &Sandbox, config: Config) -> Client {
        let stream = TcpStream::connect(sb.addr()).unwrap_or_else(|e| panic!("connect to ovsdb-server at {}: {e}", sb.addr()));
        stream.set_nodelay(true).unwrap();
        Client {
            stream,
            session: OvsdbSession::new(config, Instant::now()),
            replica: Replica::new(),
            events: VecDeque::new(),
            row_events: Vec::new(),
            echo_replies: 0,
        }
    }

    fn flush(&mut self) {
        if let Some(out) = self.session.take_output() {
            let mut f = JsonFramer::new();
            f.push(&out);
            while let Some(text) = f.next_text().expect("we write valid JSON") {
                if let Message::Response { id, .. } = Message::parse(&text).expect("we write JSON-RPC") {
                    self.echo_replies += usize::from(id == json!("echo"));
                }
            }
            self.stream.write_all(&out).expect("write to ovsdb-server");
        }
    }

    /// One round: write, read for at most `wait` (or until the session's deadline),
    /// expire timers, collect events (updates go to the replica).
    fn pump(&mut self, wait: Duration) {
        self.flush();
        let now = Instant::now();
        let mut until = now + wait;
        if let Some(t) = self.session.poll_timeout() {
            until = until.min(t);
        }
        let timeout = until.saturating_duration_since(now).max(Duration::from_millis(1));
        self.stream.set_read_timeout(Some(timeout)).unwrap();
        let mut buf = vec![0u8; 64 * 1024];
        match self.stream.read(&mut buf) {
            Ok(0) => self.session.close(CloseReason::Transport("EOF".into())),
            Ok(n) => self.session.receive(&buf[..n], Instant::now()),
            Err(e) if matches!(e.kind(), IoErrorKind::WouldBlock | IoErrorKind::TimedOut) => {}
            Err(e) => self.session.close(CloseReason::Transport(e.to_string())),
        }
        let now = Instant::now();
        if self.session.poll_timeout().is_some_and(|t| t <= now) {
            self.session.handle_timeout(now);
        }
        while let Some(ev) = self.session.poll_event() {
            match ev {
                Event::Update(u) => {
                    let evs = self.replica.apply(&u).unwrap_or_else(|e| panic!("replica: {e} applying {u:?}"));
                    self.row_events.extend(evs);
                }
                other => self.events.push_back(other),
            }
        }
        self.flush();
    }

    fn wait(&mut self, id: RequestId) -> Result<Value, RequestError> {
        let deadline = Instant::now() + Duration::from_secs(30);
        loop {
            if let Some(pos) = self.events.iter().position(|e| matches!(e, Event::Completed { id: i, .. } if *i == id)) {
                let Some(Event::Completed { result, .. }) = self.events.remove(pos) else { unreachable!() };
                return result;
            }
            assert!(Instant::now() < deadline, "no completion for request {id}; events: {:?}", self.events);
            self.pump(Duration::from_millis(100));
        }
    }

    /// Issues a command and waits for its completion.
    fn run(&mut self, cmd: impl FnOnce(&mut OvsdbSession, Instant) -> Result<RequestId, RequestError>) -> Result<Value, RequestError> {
        let id = cmd(&mut self.session, Instant::now()).expect("command refused");
        self.wait(id)
    }

    /// [`Client::run`], which must succeed.
    fn ok(&mut self, cmd: impl FnOnce(&mut OvsdbSession, Instant) -> Result<RequestId, RequestError>) -> Value {
        self.run(cmd).unwrap_or_else(|e| panic!("request failed: {e} ({})", e.code()))
    }

    /// Pumps until `cond` holds (30 s at most).
    fn until(&mut self, what: &str, mut cond: impl FnMut(&Client) -> bool) {
        let deadline = Instant::now() + Duration::from_secs(30);
        while !cond(self) {
            assert!(Instant::now() < deadline, "timed out waiting for {what}; events: {:?}", self.events);
            assert!(!self.session.is_closed(), "session closed while waiting for {what}: {:?}", self.events);
            self.pump(Duration::from_millis(100));
        }
    }

    fn schema(&mut self) -> DatabaseSchema {
        let v = self.ok(|s, now| s.get_schema(DB, now));
        DatabaseSchema::parse(&v).expect("parse the Open_vSwitch schema")
    }

    fn find(&self, table: &str, name: &str) -> Option<String> {
        self.replica.rows(table).find(|(_, r)| r.get("name") == Some(&json!(name))).map(|(u, _)| u.to_owned())
    }
}

fn all_columns() -> Value {
    monitor_requests(TABLES.map(|t| (t, MonitorRequest::all())))
}

/// Differences between the replica and `ovs-vsctl list` for `table`, over the
/// columns the replica has (all of them for a `monitor` replica).
fn diff_with_vsctl(sb: &Sandbox, c: &Client, table: &str) -> Vec<String> {
    let listed = sb.list(table);
    let mut diffs = Vec::new();
    if listed.len() != c.replica.len(table) {
        diffs.push(format!("{table}: ovs-vsctl lists {} rows, the replica has {}", listed.len(), c.replica.len(table)));
    }
    for (uuid, row) in listed {
        let Some(mine) = c.replica.row(table, &uuid) else {
            diffs.push(format!("{table} {uuid} missing from the replica"));
            continue;
        };
        for (col, v) in &row {
            if mine.get(col) != Some(v) {
                diffs.push(format!("{table} {uuid} .{col}: vsctl {v} replica {:?}", mine.get(col)));
            }
        }
        // `monitor` also sends `_version`, which `ovs-vsctl list` does not show.
        let extra: Vec<&String> = mine.keys().filter(|k| !row.contains_key(*k) && *k != "_version").collect();
        if !extra.is_empty() {
            diffs.push(format!("{table} {uuid}: replica has columns {extra:?} that ovs-vsctl does not list"));
        }
    }
    diffs
}

fn assert_matches_vsctl(sb: &Sandbox, c: &mut Client) {
    // vswitchd keeps changing a few columns (statistics, status): retry briefly so
    // both sides have seen the same transactions.
    let mut last = Vec::new();
    for _ in 0..30 {
        for _ in 0..3 {
            c.pump(Duration::from_millis(50));
        }
        last = TABLES.iter().flat_map(|t| diff_with_vsctl(sb, c, t)).collect();
        if last.is_empty() {
            return;
        }
    }
    panic!("replica differs from ovs-vsctl:\n{}", last.join("\n"));
}

// ---------------------------------------------------------------------------------------
// Tests

#[test]
fn rpc_transactions_and_errors() {
    let sb = Sandbox::start();
    let mut c = Client::connect(&sb, Config::default());

    let dbs = c.ok(|s, now| s.list_dbs(now));
    assert!(dbs.as_array().unwrap().contains(&json!(DB)), "{dbs}");

    let schema = c.schema();
    assert_eq!(schema.name, DB);
    for t in TABLES {
        assert!(schema.tables.contains_key(t), "schema has no {t}");
    }
    assert!(schema.version_triple().is_some());
    let e = c.run(|s, now| s.get_schema("Nope", now)).unwrap_err();
    assert_eq!(e.code(), "OVSDB_UNKNOWN_DATABASE", "{e}");
    assert_eq!(c.ok(|s, now| s.echo(now)), json!(["xo-sdn"]));

    // The schema refuses bad values before anything is sent.
    let e = schema.row_from_natural("Bridge", json!({"fail_mode": 3}).as_object().unwrap()).unwrap_err();
    assert!(e.to_string().starts_with("Bridge.fail_mode: "), "{e}");
    let e = schema.row_from_natural("Bridge", json!({"nmae": "x"}).as_object().unwrap()).unwrap_err();
    assert_eq!(e.to_string(), "Bridge.nmae: no such column");

    // Insert a bridge (natural JSON -> OVSDB notation through the schema) and
    // attach it to the root row with a named-uuid.
    let row = schema
        .row_from_natural("Bridge", json!({"name": "br-test", "external_ids": {"owner": "xo-sdn", "n": "1"}, "fail_mode": "secure"}).as_object().unwrap())
        .unwrap();
    let ops = vec![
        json!({"op": "insert", "table": "Bridge", "row": row, "uuid-name": "newbr"}),
        json!({"op": "mutate", "table": "Open_vSwitch", "where": [], "mutations": [["bridges", "insert", ["set", [["named-uuid", "newbr"]]]]]}),
    ];
    let results = c.ok(|s, now| s.transact(DB, ops, now));
    let uuid = results[0]["uuid"][1].as_str().expect("insert result has the new uuid").to_owned();
    assert_eq!(results[1], json!({"count": 1}));
    let listed = sb.list("Bridge");
    let (_, br) = listed.iter().find(|(u, _)| *u == uuid).expect("ovs-vsctl sees the inserted bridge");
    assert_eq!(br["name"], json!("br-test"));
    assert_eq!(br["fail_mode"], json!("secure"));
    assert_eq!(br["external_ids"], json!(["map", [["n", "1"], ["owner", "xo-sdn"]]]));

    // An operation that violates a constraint: attributed to its index, and the
    // whole transaction is rolled back (the QoS row of operation 0 is not there).
    let qos_before = sb.list("QoS").len();
    let ops = vec![
        json!({"op": "insert", "table": "QoS", "row": {"type": "linux-htb"}}),
        json!({"op": "insert", "table": "Bridge", "row": {"name": "x", "fail_mode": "bogus"}}),
    ];
    let id = c.session.transact(DB, ops, Instant::now()).unwrap();
    let Err(RequestError::Transact(e)) = c.wait(id) else { panic!("constraint violation not reported") };
    assert_eq!((e.index, e.operation.as_deref(), &e.error), (1, Some("insert"), &ErrorKind::ConstraintViolation), "{e}");
    assert_eq!(RequestError::Transact(e.clone()).code(), "OVSDB_CONSTRAINT_VIOLATION");
    assert!(e.details.as_deref().unwrap_or_default().contains("bogus"), "{e}");
    assert_eq!(sb.list("QoS").len(), qos_before, "a failed transaction left a row behind");

    // Every operation succeeds but the commit breaks Bridge's name index: the error
    // is the extra result, index = number of operations.
    let ops = vec![
        json!({"op": "insert", "table": "Bridge", "row": {"name": "br-test"}, "uuid-name": "dup"}),
        json!({"op": "mutate", "table": "Open_vSwitch", "where": [], "mutations": [["bridges", "insert", ["set", [["named-uuid", "dup"]]]]]}),
    ];
    let id = c.session.transact(DB, ops, Instant::now()).unwrap();
    let Err(RequestError::Transact(e)) = c.wait(id) else { panic!("commit error not reported") };
    assert_eq!((e.index, e.operation.as_deref(), &e.error), (2, None, &ErrorKind::ConstraintViolation), "{e}");

    // A `wait` that times out (RFC 7047 §5.2.6), after a comment: index 1.
    let wait_op = |timeout: u64| {
        json!({"op": "wait", "table": "Bridge", "timeout": timeout, "where": [["name", "==", "br-test"]], "columns": ["name"], "until": "!=", "rows": [{"name": "br-test"}]})
    };
    let id = c.session.transact(DB, vec![json!({"op": "comment", "comment": "xo-sdn test"}), wait_op(300)], Instant::now()).unwrap();
    let Err(RequestError::Transact(e)) = c.wait(id) else { panic!("wait did not time out") };
    assert_eq!((e.index, e.operation.as_deref(), &e.error), (1, Some("wait"), &ErrorKind::TimedOut), "{e}");
    assert_eq!(RequestError::Transact(e).code(), "OVSDB_TIMED_OUT");

    // A request that outlives its local timeout: OVSDB_TIMEOUT, outcome unknown.
    let id = c.session.transact_with_timeout(DB, vec![wait_op(2000)], Duration::from_millis(200), Instant::now()).unwrap();
    assert_eq!(c.wait(id), Err(RequestError::Timeout));
    // Cancel a blocked `wait`: completes at once; ovsdb-server drops the request
    // without answering, so nothing else arrives for it.
    let id = c.session.transact(DB, vec![wait_op(60_000)], Instant::now()).unwrap();
    c.pump(Duration::from_millis(200));
    c.session.cancel(id).unwrap();
    assert_eq!(c.wait(id), Err(RequestError::Canceled));
    // The late reply of the timed-out request above (after 2 s) is dropped too, and
    // the session stays usable.
    let t = Instant::now();
    while t.elapsed() < Duration::from_millis(2500) {
        c.pump(Duration::from_millis(100));
    }
    assert!(c.events.is_empty(), "{:?}", c.events);
    assert_eq!(c.ok(|s, now| s.list_dbs(now)), dbs);

    // Locks (RFC 7047 §4.1.8-4.1.10): a second client waits, gives up, steals; the
    // first is told, queues again, and is granted the lock when it is released.
    let mut c2 = Client::connect(&sb, Config::default());
    assert_eq!(c.ok(|s, now| s.lock("xo_sdn", now)), json!({"locked": true}));
    assert_eq!(c2.ok(|s, now| s.lock("xo_sdn", now)), json!({"locked": false}));
    assert_eq!(c2.ok(|s, now| s.unlock("xo_sdn", now)), json!({}));
    assert_eq!(c2.ok(|s, now| s.steal("xo_sdn", now)), json!({"locked": true}));
    c.until("stolen", |c| c.events.contains(&Event::Stolen("xo_sdn".into())));
    c.ok(|s, now| s.unlock("xo_sdn", now));
    assert_eq!(c.ok(|s, now| s.lock("xo_sdn", now)), json!({"locked": false}));
    c2.ok(|s, now| s.unlock("xo_sdn", now));
    c.until("locked", |c| c.events.contains(&Event::Locked("xo_sdn".into())));

    c.session.close(CloseReason::ByUser);
    assert_eq!(c.session.list_dbs(Instant::now()), Err(RequestError::NotConnected));
}

#[test]
fn monitor_matches_ovs_vsctl_and_follows_changes() {
    let sb = Sandbox::start();
    let mut c = Client::connect(&sb, Config::default());
    assert_eq!(c.ok(|s, now| s.monitor(DB, json!("xo-monitor"), all_columns(), now)), json!({}));
    assert!(c.replica.len("Interface") >= 3, "br0 + 2 VIFs expected");
    assert!(c.row_events.iter().all(|e| e.kind == RowEventKind::Insert));
    assert_matches_vsctl(&sb, &mut c);

    // Changes made by ovs-vsctl arrive as updates.
    c.row_events.clear();
    sb.vsctl(&["add-port", "br0", "pnew", "--", "set", "Interface", "pnew", "type=dummy"]);
    c.until("pnew", |c| c.find("Interface", "pnew").is_some() && c.find("Port", "pnew").is_some());
    let port = c.find("Port", "pnew").unwrap();
    assert!(c.row_events.iter().any(|e| e.kind == RowEventKind::Insert && e.table == "Port" && e.uuid == port));
    let br0 = c.find("Bridge", "br0").unwrap();
    assert!(c.row_events.iter().any(|e| e.kind == RowEventKind::Modify && e.table == "Bridge" && e.uuid == br0));

    sb.vsctl(&["set", "Port", "pnew", "tag=10"]);
    c.until("tag", |c| c.replica.row("Port", &port).unwrap()["tag"] == json!(10));
    sb.vsctl(&["br-set-external-id", "br0", "xo", "1"]);
    c.until("external id", |c| {
        notation_map_has(&c.replica.row("Bridge", &br0).unwrap()["external_ids"], "xo", "1")
    });
    assert_matches_vsctl(&sb, &mut c);

    c.row_events.clear();
    sb.vsctl(&["del-port", "br0", "pnew"]);
    c.until("deletion", |c| c.find("Port", "pnew").is_none() && c.find("Interface", "pnew").is_none());
    let deleted = c.row_events.iter().find(|e| e.kind == RowEventKind::Delete && e.table == "Port").expect("delete event");
    assert_eq!(deleted.old.as_ref().unwrap()["name"], json!("pnew"));
    assert!(deleted.new.is_none());
    assert_matches_vsctl(&sb, &mut c);
}

fn notation_map_has(v: &Value, k: &str, val: &str) -> bool {
    xo_sdn_native::ovsdb::notation::map_pairs(v).is_some_and(|p| p.contains(&(json!(k), json!(val))))
}

/// Pumps two clients until their replicas hold the same rows.
fn assert_same_rows(a: &mut Client, b: &mut Client) {
    let mut diff = String::new();
    for _ in 0..60 {
        a.pump(Duration::from_millis(50));
        b.pump(Duration::from_millis(50));
        diff = TABLES
            .iter()
            .filter(|t| a.replica.table(t) != b.replica.table(t))
            .map(|t| format!("{t}: {:?}\n vs {:?}", a.replica.table(t), b.replica.table(t)))
            .collect();
        if diff.is_empty() {
            return;
        }
    }
    panic!("replicas differ:\n{diff}");
}

#[test]
fn update2_replica_stays_consistent_across_reconnects() {
    let sb = Sandbox::start();
    let mut a = Client::connect(&sb, Config::default());
    let schema = a.schema();
    a.replica.set_schema(schema.clone());
    let r = a.ok(|s, now| s.monitor_cond_since(DB, json!("xo"), all_columns(), None, now));
    assert_eq!(r["found"], json!(false));
    assert!(a.replica.len("Port") >= 3);

    // update3 notifications carry set and map differences.
    sb.vsctl(&["add-port", "br0", "p1", "--", "set", "Interface", "p1", "type=dummy", "--", "set", "Port", "p1", "trunks=1,2,3"]);
    a.until("p1", |c| c.find("Port", "p1").is_some());
    let p1 = a.find("Port", "p1").unwrap();
    sb.vsctl(&["set", "Port", "p1", "trunks=2,3,4", "other_config:a=1", "other_config:b=2"]);
    a.until("trunks", |c| c.replica.row("Port", &p1).unwrap().get("trunks") == Some(&json!(["set", [2, 3, 4]])));
    sb.vsctl(&["set", "Port", "p1", "trunks=7", "other_config:a=9"]);
    sb.vsctl(&["remove", "Port", "p1", "other_config", "b"]);
    a.until("other_config", |c| c.replica.row("Port", &p1).unwrap().get("other_config") == Some(&json!(["map", [["a", "9"]]])));
    assert_eq!(a.replica.row("Port", &p1).unwrap()["trunks"], json!(7));
    sb.vsctl(&["clear", "Port", "p1", "trunks", "other_config"]);
    a.until("cleared", |c| !c.replica.row("Port", &p1).unwrap().contains_key("trunks"));
    let txn = a.replica.last_txn_id().map(str::to_owned);
    assert!(txn.is_some(), "update3 carries the last transaction id");

    // A fresh client's replica (monitor_cond) equals the one fed by differences.
    let mut fresh = Client::connect(&sb, Config::default());
    fresh.replica.set_schema(schema.clone());
    fresh.ok(|s, now| s.monitor_cond(DB, json!("fresh"), all_columns(), now));
    assert_same_rows(&mut a, &mut fresh);

    // Disconnect; the database changes meanwhile.
    a.session.close(CloseReason::Transport("test disconnect".into()));
    drop(a.stream);
    let mut replica = a.replica;
    sb.vsctl(&["del-port", "br0", "p1"]);
    sb.vsctl(&["add-port", "br0", "p2", "--", "set", "Interface", "p2", "type=dummy"]);
    sb.vsctl(&["br-set-external-id", "br0", "after", "reconnect"]);

    // Reconnect with monitor_cond_since: only real changes come out as events.
    let mut b = Client::connect(&sb, Config::default());
    replica.set_schema(schema.clone());
    b.replica = replica;
    let r = b.ok(|s, now| s.monitor_cond_since(DB, json!("xo"), all_columns(), txn.as_deref(), now));
    assert!(r["found"].is_boolean(), "{r}");
    let kinds = |t: &str, k: RowEventKind| b.row_events.iter().filter(|e| e.table == t && e.kind == k).count();
    assert_eq!(kinds("Port", RowEventKind::Delete), 1, "{:?}", b.row_events);
    assert_eq!(kinds("Port", RowEventKind::Insert), 1, "{:?}", b.row_events);
    assert!(b.find("Port", "p1").is_none() && b.find("Port", "p2").is_some());
    assert_same_rows(&mut b, &mut fresh);

    // The other way: clear, then a plain re-monitor.
    b.session.close(CloseReason::ByUser);
    drop(b.stream);
    let mut replica = b.replica;
    replica.clear();
    let mut d = Client::connect(&sb, Config::default());
    d.replica = replica;
    d.ok(|s, now| s.monitor_cond(DB, json!("again"), all_columns(), now));
    assert!(d.row_events.iter().all(|e| e.kind == RowEventKind::Insert));
    assert_same_rows(&mut d, &mut fresh);
}

#[test]
fn probes_and_the_servers_echo() {
    let sb = Sandbox::start();
    // Our own probes: answered by the server, so the session stays up.
    let config = Config { echo_interval: Duration::from_millis(200), echo_timeout: Duration::from_secs(3), ..Config::default() };
    let mut c = Client::connect(&sb, config);
    let t = Instant::now();
    while t.elapsed() < Duration::from_millis(1500) {
        c.pump(Duration::from_millis(100));
    }
    assert!(!c.session.is_closed(), "{:?}", c.events);
    assert!(c.events.is_empty(), "probe replies are not events: {:?}", c.events);

    // The server probes an idle client after 5 s and drops it 5 s later if it gets
    // no answer: with our probes off, staying connected for 12 s means we answered.
    let mut quiet = Client::connect(&sb, Config { echo_interval: Duration::ZERO, ..Config::default() });
    let t = Instant::now();
    while t.elapsed() < Duration::from_secs(12) {
        quiet.pump(Duration::from_millis(200));
        c.pump(Duration::ZERO);
    }
    assert!(quiet.echo_replies >= 1, "ovsdb-server sent no echo in 12 s");
    assert!(!quiet.session.is_closed(), "{:?}", quiet.events);
    let dbs = quiet.ok(|s, now| s.list_dbs(now));
    assert!(dbs.as_array().unwrap().contains(&json!(DB)));
}
