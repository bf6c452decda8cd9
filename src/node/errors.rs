//! The single mapping from crate errors to JS errors. `code` is stable; the JS
//! facade (`js/errors.js`) turns `ERR_INVALID_ARG_*` into `TypeError` and
//! `ERR_OUT_OF_RANGE` into `RangeError`, as Node does for its own APIs.

use crate::openflow::{DecodeError, EncodeError};
use crate::tape::TapeError;

/// The `code` of a JS error, as napi's custom status.
pub struct Code(pub &'static str);

impl AsRef<str> for Code {
    fn as_ref(&self) -> &str {
        self.0
    }
}

impl From<napi::Status> for Code {
    fn from(s: napi::Status) -> Self {
        Code(match s {
            napi::Status::InvalidArg | napi::Status::ObjectExpected | napi::Status::StringExpected => {
                "ERR_INVALID_ARG_TYPE"
            }
            _ => "ERR_NATIVE",
        })
    }
}

/// A JS error: `code` and message.
pub type JsError = napi::Error<Code>;
pub fn err(code: &'static str, msg: impl ToString) -> JsError {
    napi::Error::new(Code(code), msg)
}

pub fn from_tape(e: TapeError) -> JsError {
    err(e.code(), e)
}

/// Decode errors keep OpenFlow's names: `OFP_BAD_REQUEST_BAD_LEN`.
pub fn from_decode(e: DecodeError) -> JsError {
    let code: &'static str = intern_code(e.code_str());
    err(code, e)
}

pub fn from_encode(e: EncodeError) -> JsError {
    match e {
        EncodeError::TooLong { .. } => err("ERR_OUT_OF_RANGE", e),
    }
}

/// Codes are built from a finite set of (type, code) names; keep one static copy
/// of each so `Code` can stay a `&'static str`.
fn intern_code(code: String) -> &'static str {
    use std::collections::HashSet;
    use std::sync::Mutex;
    static CODES: Mutex<Option<HashSet<&'static str>>> = Mutex::new(None);
    let mut guard = CODES.lock().unwrap_or_else(|e| e.into_inner());
    let set = guard.get_or_insert_with(HashSet::new);
    if let Some(c) = set.get(code.as_str()) {
        return c;
    }
    // Bounded: error types and codes are u16 pairs, and only those seen are kept.
    let leaked: &'static str = Box::leak(code.into_boxed_str());
    set.insert(leaked);
    leaked
}

/// Runs a binding body, turning a panic into a JS error with code `ERR_PANIC`
/// instead of letting it unwind into Node (which would abort xo-server).
pub fn guard<T>(f: impl FnOnce() -> Result<T, JsError>) -> Result<T, JsError> {
    match std::panic::catch_unwind(std::panic::AssertUnwindSafe(f)) {
        Ok(r) => r,
        Err(payload) => {
            let what = payload
                .downcast_ref::<&str>()
                .map(|s| (*s).to_owned())
                .or_else(|| payload.downcast_ref::<String>().cloned())
                .unwrap_or_else(|| "unknown panic".to_owned());
            Err(err("ERR_PANIC", format!("internal error in xo-sdn-native (please report): {what}")))
        }
    }
}
