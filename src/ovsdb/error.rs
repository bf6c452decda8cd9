//! OVSDB errors: the RFC 7047 error strings as a typed enum with stable codes,
//! JSON-RPC error objects, per-operation transaction errors, and the session's own
//! close reasons and request failures.
//!
//! RFC 7047 §3.1 defines `<error>` as an object `{"error": <string>, "details":
//! <string>}`; §4.1.3 and §5.2 list the strings a server uses. ovsdb-server(7) §3.1
//! adds "syntax error or unknown column" (with an optional `syntax` member),
//! "internal error", "ovsdb error" and "permission error". Strings we do not know are
//! kept as [`ErrorKind::Other`] so nothing the server said is lost.

use serde_json::{Map, Value};

/// An OVSDB error string (RFC 7047 §3.1, §4.1, §5.2; ovsdb-server(7) §3.1).
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub enum ErrorKind {
    /// `"constraint violation"`: a value broke its column's constraints (enum,
    /// range, set size) or a transaction broke a table index (§5.2.1, §3.2).
    ConstraintViolation,
    /// `"referential integrity violation"`: a strong reference would dangle (§5.2).
    ReferentialIntegrityViolation,
    /// `"resources exhausted"`: the server ran out of memory or a limit (§4.1.3).
    ResourcesExhausted,
    /// `"I/O error"`: committing to disk failed (§4.1.3).
    IoError,
    /// `"duplicate uuid-name"`: two operations declared the same `uuid-name` (§5.2.1).
    DuplicateUuidName,
    /// `"domain error"`: a mutation's arithmetic is undefined, e.g. division by zero (§5.2.4).
    DomainError,
    /// `"range error"`: a mutation's result is out of range (§5.2.4).
    RangeError,
    /// `"timed out"`: a `wait` operation's timeout expired (§5.2.6).
    TimedOut,
    /// `"not supported"`: the server does not implement the request (§5.2.3 et al.).
    NotSupported,
    /// `"aborted"`: an `abort` operation ran (§5.2.8).
    Aborted,
    /// `"not owner"`: an `assert` named a lock this client does not own (§5.2.10).
    NotOwner,
    /// `"canceled"`: the request was canceled by a `cancel` notification (§4.1.4).
    Canceled,
    /// `"unknown database"`: the request named a database the server does not have (§4.1.2).
    UnknownDatabase,
    /// `"syntax error or unknown column"` (ovsdb-server(7) §3.1).
    SyntaxError,
    /// `"internal error"` (ovsdb-server(7) §3.1).
    InternalError,
    /// `"ovsdb error"`: a generic server-side error, e.g. a set or map with a
    /// duplicate key (ovsdb-server(7) §3.1).
    OvsdbError,
    /// `"permission error"`: role-based access control refused it (ovsdb-server(7) §3.1).
    PermissionError,
    /// Any other string, kept as sent.
    Other(String),
}

/// (wire string, variant, code) for every named kind.
const KINDS: &[(&str, ErrorKind, &str)] = &[
    ("constraint violation", ErrorKind::ConstraintViolation, "OVSDB_CONSTRAINT_VIOLATION"),
    ("referential integrity violation", ErrorKind::ReferentialIntegrityViolation, "OVSDB_REFERENTIAL_INTEGRITY_VIOLATION"),
    ("resources exhausted", ErrorKind::ResourcesExhausted, "OVSDB_RESOURCES_EXHAUSTED"),
    ("I/O error", ErrorKind::IoError, "OVSDB_IO_ERROR"),
    ("duplicate uuid-name", ErrorKind::DuplicateUuidName, "OVSDB_DUPLICATE_UUID_NAME"),
    ("domain error", ErrorKind::DomainError, "OVSDB_DOMAIN_ERROR"),
    ("range error", ErrorKind::RangeError, "OVSDB_RANGE_ERROR"),
    ("timed out", ErrorKind::TimedOut, "OVSDB_TIMED_OUT"),
    ("not supported", ErrorKind::NotSupported, "OVSDB_NOT_SUPPORTED"),
    ("aborted", ErrorKind::Aborted, "OVSDB_ABORTED"),
    ("not owner", ErrorKind::NotOwner, "OVSDB_NOT_OWNER"),
    ("canceled", ErrorKind::Canceled, "OVSDB_CANCELED"),
    ("unknown database", ErrorKind::UnknownDatabase, "OVSDB_UNKNOWN_DATABASE"),
    ("syntax error or unknown column", ErrorKind::SyntaxError, "OVSDB_SYNTAX_ERROR"),
    ("internal error", ErrorKind::InternalError, "OVSDB_INTERNAL_ERROR"),
    ("ovsdb error", ErrorKind::OvsdbError, "OVSDB_SERVER_ERROR"),
    ("permission error", ErrorKind::PermissionError, "OVSDB_PERMISSION_ERROR"),
];

impl ErrorKind {
    /// Parses a wire string; unknown strings become [`ErrorKind::Other`].
    pub fn parse(s: &str) -> ErrorKind {
        KINDS.iter().find(|(w, _, _)| *w == s).map_or_else(|| ErrorKind::Other(s.to_owned()), |(_, k, _)| k.clone())
    }

    /// The string as the server sends it.
    pub fn as_str(&self) -> &str {
        match self {
            ErrorKind::Other(s) => s,
            k => KINDS.iter().find(|(_, v, _)| v == k).map_or("", |(w, _, _)| w),
        }
    }

    /// Stable code: `OVSDB_CONSTRAINT_VIOLATION`, ..., `OVSDB_ERROR` for unknown strings.
    pub fn code(&self) -> &'static str {
        match self {
            ErrorKind::Other(_) => "OVSDB_ERROR",
            k => KINDS.iter().find(|(_, v, _)| v == k).map_or("OVSDB_ERROR", |(_, _, c)| c),
        }
    }
}

impl std::fmt::Display for ErrorKind {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

/// An `<error>` object as the server sent it (RFC 7047 §3.1): in a JSON-RPC
/// response's `error` member, or as one entry of a transaction's result array.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[error("{error}{}", details.as_deref().map(|d| format!(": {d}")).unwrap_or_default())]
pub struct RpcError {
    /// The error string.
    pub error: ErrorKind,
    /// `details`, if any: human-readable text.
    pub details: Option<String>,
    /// `syntax`, if any: the JSON that could not be parsed (ovsdb-server(7) §3.1).
    pub syntax: Option<String>,
}

impl RpcError {
    /// Reads an `<error>`: an object with an `error` string is the usual form; a bare
    /// string is accepted too; anything else is kept as its JSON text.
    pub fn from_json(v: &Value) -> RpcError {
        match v {
            Value::Object(o) => RpcError::from_object(o),
            Value::String(s) => RpcError { error: ErrorKind::parse(s), details: None, syntax: None },
            other => RpcError { error: ErrorKind::Other(other.to_string()), details: None, syntax: None },
        }
    }

    fn from_object(o: &Map<String, Value>) -> RpcError {
        let text = |k: &str| {
            o.get(k).and_then(|v| match v {
                Value::Null => None,
                Value::String(s) => Some(s.clone()),
                other => Some(other.to_string()),
            })
        };
        let error = match o.get("error") {
            Some(Value::String(s)) => ErrorKind::parse(s),
            Some(other) => ErrorKind::Other(other.to_string()),
            None => ErrorKind::Other(Value::Object(o.clone()).to_string()),
        };
        RpcError { error, details: text("details"), syntax: text("syntax") }
    }

    /// Stable code of the error string.
    pub fn code(&self) -> &'static str {
        self.error.code()
    }

    /// Back to the wire form.
    pub fn to_json(&self) -> Value {
        let mut o = Map::new();
        o.insert("error".into(), Value::String(self.error.as_str().to_owned()));
        if let Some(d) = &self.details {
            o.insert("details".into(), Value::String(d.clone()));
        }
        if let Some(s) = &self.syntax {
            o.insert("syntax".into(), Value::String(s.clone()));
        }
        Value::Object(o)
    }
}

/// One operation of a `transact` failed, or the commit did (RFC 7047 §4.1.3).
///
/// `index` is the position of the failed operation in the request's array. When
/// every operation succeeded but the commit failed, the server appends one extra
/// result, and `index` equals the number of operations (`operation` is `None`).
/// Either way the transaction was rolled back: nothing of it was applied.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[error("{}: {error}{}", match operation { Some(op) => format!("operation {index} ({op}) failed"), None => format!("commit failed (after {index} operations)") }, details.as_deref().map(|d| format!(": {d}")).unwrap_or_default())]
pub struct TransactError {
    /// Position of the failed operation; equal to the operation count for a commit error.
    pub index: usize,
    /// The `op` member of the failed operation, if it had one (`None` for a commit error).
    pub operation: Option<String>,
    /// The error string.
    pub error: ErrorKind,
    /// `details`, if any.
    pub details: Option<String>,
    /// `syntax`, if any.
    pub syntax: Option<String>,
}

impl TransactError {
    /// Stable code of the error string.
    pub fn code(&self) -> &'static str {
        self.error.code()
    }
}

/// Why a session ended.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum CloseReason {
    /// The server did not answer our `echo` probe, nor send anything, in time.
    #[error("ovsdb-server did not answer the echo probe")]
    ProbeTimeout,
    /// The server sent bytes that are not JSON-RPC, or a malformed notification.
    #[error("OVSDB protocol error: {0}")]
    Protocol(String),
    /// One message from the server passed the size cap (see
    /// [`crate::ovsdb::framing::MAX_MESSAGE_BYTES`]) while still incomplete: it was
    /// dropped at the cap, and the stream cannot be resynchronized.
    #[error("ovsdb-server sent a JSON message larger than the {limit}-byte cap")]
    MessageTooLarge {
        /// The cap.
        limit: usize,
    },
    /// The bytes waiting to be written to the server passed
    /// [`crate::session::MAX_QUEUED_BYTES`]: it does not read what we send.
    #[error("{0}")]
    PeerNotReading(String),
    /// The transport ended (set by the driver).
    #[error("connection lost: {0}")]
    Transport(String),
    /// `close()` was called by the user.
    #[error("channel closed")]
    ByUser,
}

impl CloseReason {
    /// Stable code: `OVSDB_ECHO_TIMEOUT`, `OVSDB_PROTOCOL_ERROR`,
    /// `OVSDB_MESSAGE_TOO_LARGE`, `PEER_NOT_READING`, `CHANNEL_CLOSED`.
    pub fn code(&self) -> &'static str {
        match self {
            CloseReason::ProbeTimeout => "OVSDB_ECHO_TIMEOUT",
            CloseReason::Protocol(_) => "OVSDB_PROTOCOL_ERROR",
            CloseReason::MessageTooLarge { .. } => "OVSDB_MESSAGE_TOO_LARGE",
            CloseReason::PeerNotReading(_) => crate::session::PEER_NOT_READING,
            CloseReason::Transport(_) | CloseReason::ByUser => "CHANNEL_CLOSED",
        }
    }
}

/// Why a command failed.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum RequestError {
    /// No reply in time. The server may still have executed the request (a
    /// transaction may have been committed): the outcome is unknown.
    #[error("no reply from ovsdb-server in time (outcome unknown)")]
    Timeout,
    /// The session is closed.
    #[error("not connected to ovsdb-server")]
    NotConnected,
    /// [`crate::ovsdb::session::OvsdbSession::cancel`] was called. A request that
    /// was blocked (a `wait` operation) was not executed; one that was not may
    /// already have been, as with a timeout.
    #[error("request canceled")]
    Canceled,
    /// The session ended before the reply; the outcome is unknown.
    #[error("{0}")]
    Closed(CloseReason),
    /// The server answered with a JSON-RPC error.
    #[error("ovsdb-server refused the request: {0}")]
    Rpc(RpcError),
    /// A transaction's operation or commit failed; nothing was applied.
    #[error("transaction failed: {0}")]
    Transact(TransactError),
    /// The reply does not have the shape the method's specification gives it, so
    /// what happened cannot be told.
    #[error("malformed reply from ovsdb-server: {0}")]
    BadReply(String),
    /// The arguments given are not valid.
    #[error("invalid argument: {0}")]
    Invalid(String),
}

impl RequestError {
    /// Stable code: `OVSDB_TIMEOUT`, `CHANNEL_NOT_CONNECTED`, `OVSDB_CANCELED`, the close reason's code,
    /// the server error's code (`OVSDB_CONSTRAINT_VIOLATION`, ...),
    /// `OVSDB_PROTOCOL_ERROR` for a malformed reply, `ERR_INVALID_ARG_VALUE`.
    pub fn code(&self) -> &'static str {
        match self {
            RequestError::Timeout => "OVSDB_TIMEOUT",
            RequestError::NotConnected => "CHANNEL_NOT_CONNECTED",
            RequestError::Canceled => "OVSDB_CANCELED",
            RequestError::Closed(r) => r.code(),
            RequestError::Rpc(e) => e.code(),
            RequestError::Transact(e) => e.code(),
            RequestError::BadReply(_) => "OVSDB_PROTOCOL_ERROR",
            RequestError::Invalid(_) => "ERR_INVALID_ARG_VALUE",
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn every_rfc_string_round_trips_with_a_distinct_code() {
        let mut codes = std::collections::HashSet::new();
        for (wire, kind, code) in KINDS {
            assert_eq!(&ErrorKind::parse(wire), kind);
            assert_eq!(kind.as_str(), *wire);
            assert_eq!(kind.code(), *code);
            assert!(codes.insert(*code), "duplicate code {code}");
        }
        assert_eq!(ErrorKind::parse("constraint violation").code(), "OVSDB_CONSTRAINT_VIOLATION");
        assert_eq!(ErrorKind::parse("not owner").code(), "OVSDB_NOT_OWNER");
    }

    #[test]
    fn unknown_strings_are_kept() {
        let k = ErrorKind::parse("weird new error");
        assert_eq!(k, ErrorKind::Other("weird new error".into()));
        assert_eq!(k.as_str(), "weird new error");
        assert_eq!(k.code(), "OVSDB_ERROR");
    }

    #[test]
    fn rpc_error_forms() {
        let e = RpcError::from_json(&json!({"error": "unknown database", "details": "no Nope", "syntax": "[\"Nope\"]"}));
        assert_eq!(e.error, ErrorKind::UnknownDatabase);
        assert_eq!(e.details.as_deref(), Some("no Nope"));
        assert_eq!(e.syntax.as_deref(), Some("[\"Nope\"]"));
        assert_eq!(RpcError::from_json(&e.to_json()), e);
        assert_eq!(e.to_string(), "unknown database: no Nope");
        assert_eq!(RpcError::from_json(&json!("unknown method")).error, ErrorKind::Other("unknown method".into()));
        assert_eq!(RpcError::from_json(&json!(42)).error, ErrorKind::Other("42".into()));
    }

    #[test]
    fn codes_of_session_errors() {
        assert_eq!(CloseReason::ProbeTimeout.code(), "OVSDB_ECHO_TIMEOUT");
        assert_eq!(CloseReason::Protocol("x".into()).code(), "OVSDB_PROTOCOL_ERROR");
        assert_eq!(CloseReason::ByUser.code(), "CHANNEL_CLOSED");
        assert_eq!(CloseReason::MessageTooLarge { limit: 1 }.code(), "OVSDB_MESSAGE_TOO_LARGE");
        assert_eq!(CloseReason::PeerNotReading("x".into()).code(), "PEER_NOT_READING");
        assert_eq!(RequestError::Timeout.code(), "OVSDB_TIMEOUT");
        assert_eq!(RequestError::NotConnected.code(), "CHANNEL_NOT_CONNECTED");
        let t = TransactError { index: 1, operation: Some("insert".into()), error: ErrorKind::ConstraintViolation, details: Some("bad".into()), syntax: None };
        assert_eq!(t.to_string(), "operation 1 (insert) failed: constraint violation: bad");
        assert_eq!(RequestError::Transact(t).code(), "OVSDB_CONSTRAINT_VIOLATION");
    }
}
