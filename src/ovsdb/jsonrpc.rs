//! JSON-RPC 1.0 messages as RFC 7047 §4 uses them.
//!
//! Unlike JSON-RPC 2.0 there is no `"jsonrpc"` member, and:
//! - a request is `{"method": <string>, "params": [<value>*], "id": <nonnull-value>}`;
//! - a notification is a request whose `id` is `null` (RFC 7047 §4: "update",
//!   "locked", "stolen", and our "cancel");
//! - a response carries both `result` and `error`, one of them `null`, and the
//!   request's `id`;
//! - both peers send requests: ovsdb-server probes an idle client with `echo`
//!   (§4.1.11) and expects the reply.
//!
//! The id we put on our requests is a JSON number; the server echoes it as is.

use serde_json::{Map, Value};

/// One JSON-RPC 1.0 message.
#[derive(Clone, Debug, PartialEq)]
pub enum Message {
    /// A request: the peer expects a response with the same `id`.
    Request {
        /// Method name.
        method: String,
        /// Parameters (an array in every OVSDB method).
        params: Value,
        /// Non-null id.
        id: Value,
    },
    /// A request with `id: null`: no response is sent.
    Notification {
        /// Method name.
        method: String,
        /// Parameters.
        params: Value,
    },
    /// The response to a request.
    Response {
        /// `result`: `null` when `error` is not.
        result: Value,
        /// `error`: `null` on success.
        error: Value,
        /// The request's id.
        id: Value,
    },
}

/// A JSON text that is not a JSON-RPC 1.0 message.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[error("not a JSON-RPC message: {0}")]
pub struct JsonRpcError(pub String);

impl Message {
    /// Parses one JSON text (as cut by [`crate::ovsdb::framing::JsonFramer`]).
    pub fn parse(text: &[u8]) -> Result<Message, JsonRpcError> {
        let value: Value = serde_json::from_slice(text).map_err(|e| JsonRpcError(format!("invalid JSON: {e}")))?;
        Message::from_value(value)
    }

    /// Classifies a JSON value. Missing `params`/`result`/`error` count as `null`,
    /// as OVS's own parser does.
    pub fn from_value(value: Value) -> Result<Message, JsonRpcError> {
        let Value::Object(mut o) = value else {
            return Err(JsonRpcError("top-level value is not an object".into()));
        };
        let id = o.remove("id").unwrap_or(Value::Null);
        match o.remove("method") {
            Some(Value::String(method)) => {
                if o.contains_key("result") || o.contains_key("error") {
                    return Err(JsonRpcError(format!("request \"{method}\" has a result or error member")));
                }
                let params = o.remove("params").unwrap_or(Value::Null);
                if id.is_null() {
                    Ok(Message::Notification { method, params })
                } else {
                    Ok(Message::Request { method, params, id })
                }
            }
            Some(other) => Err(JsonRpcError(format!("method is not a string: {other}"))),
            None => {
                if !o.contains_key("result") && !o.contains_key("error") {
                    return Err(JsonRpcError("object is neither a request nor a response".into()));
                }
                if id.is_null() {
                    return Err(JsonRpcError("response without an id".into()));
                }
                let result = o.remove("result").unwrap_or(Value::Null);
                let error = o.remove("error").unwrap_or(Value::Null);
                Ok(Message::Response { result, error, id })
            }
        }
    }

    /// A request.
    pub fn request(method: &str, params: Value, id: Value) -> Message {
        Message::Request { method: method.to_owned(), params, id }
    }

    /// A notification.
    pub fn notification(method: &str, params: Value) -> Message {
        Message::Notification { method: method.to_owned(), params }
    }

    /// A successful response.
    pub fn reply(id: Value, result: Value) -> Message {
        Message::Response { result, error: Value::Null, id }
    }

    /// An error response.
    pub fn error_reply(id: Value, error: Value) -> Message {
        Message::Response { result: Value::Null, error, id }
    }

    /// The wire form.
    pub fn to_value(&self) -> Value {
        let mut o = Map::new();
        match self {
            Message::Request { method, params, id } => {
                o.insert("method".into(), Value::String(method.clone()));
                o.insert("params".into(), params.clone());
                o.insert("id".into(), id.clone());
            }
            Message::Notification { method, params } => {
                o.insert("method".into(), Value::String(method.clone()));
                o.insert("params".into(), params.clone());
                o.insert("id".into(), Value::Null);
            }
            Message::Response { result, error, id } => {
                o.insert("result".into(), result.clone());
                o.insert("error".into(), error.clone());
                o.insert("id".into(), id.clone());
            }
        }
        Value::Object(o)
    }

    /// Appends the JSON text to `out`.
    pub fn write_to(&self, out: &mut Vec<u8>) {
        // Serializing a `Value` into a Vec cannot fail (no I/O, string keys only).
        if serde_json::to_writer(&mut *out, &self.to_value()).is_err() {
            debug_assert!(false, "serializing a serde_json::Value failed");
        }
    }

    /// The JSON text.
    pub fn to_vec(&self) -> Vec<u8> {
        let mut v = Vec::new();
        self.write_to(&mut v);
        v
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn classifies_the_three_kinds() {
        let m = Message::parse(br#"{"method":"echo","params":[],"id":"echo"}"#).unwrap();
        assert_eq!(m, Message::request("echo", json!([]), json!("echo")));
        let m = Message::parse(br#"{"method":"update","params":[null,{}],"id":null}"#).unwrap();
        assert_eq!(m, Message::notification("update", json!([null, {}])));
        let m = Message::parse(br#"{"method":"locked","params":["l"]}"#).unwrap();
        assert_eq!(m, Message::notification("locked", json!(["l"])));
        let m = Message::parse(br#"{"id":7,"result":["Open_vSwitch"],"error":null}"#).unwrap();
        assert_eq!(m, Message::reply(json!(7), json!(["Open_vSwitch"])));
        let m = Message::parse(br#"{"id":7,"result":null,"error":{"error":"unknown database"}}"#).unwrap();
        assert!(matches!(m, Message::Response { error: Value::Object(_), .. }));
    }

    #[test]
    fn round_trips() {
        for m in [
            Message::request("transact", json!(["db", {"op": "comment", "comment": "é"}]), json!(1)),
            Message::notification("cancel", json!([3])),
            Message::reply(json!("echo"), json!([])),
            Message::error_reply(json!(2), json!({"error": "canceled"})),
        ] {
            assert_eq!(Message::parse(&m.to_vec()).unwrap(), m);
        }
        let v = Message::notification("cancel", json!([3])).to_value();
        assert_eq!(v["id"], Value::Null);
    }

    #[test]
    fn rejects_what_is_not_json_rpc() {
        for bad in [&b"[1]"[..], b"{}", b"{\"method\":3,\"id\":1}", b"{\"result\":1}", b"{\"id\":1,\"method\":\"x\",\"result\":1}", b"{bad json}", b"\"s\""] {
            assert!(Message::parse(bad).is_err(), "{}", String::from_utf8_lossy(bad));
        }
    }
}
