//! Conversions shared by the bindings: JS millisecond options to durations,
//! session deadlines to "milliseconds from now" for JS timers, and JSON text.

use std::time::{Duration, Instant};

use napi::bindgen_prelude::{check_status, sys, ToNapiValue, TypeName, ValueType};

/// `v` milliseconds, or `default` when the option was not given.
pub fn ms(v: Option<u32>, default: u64) -> Duration {
    Duration::from_millis(v.map_or(default, u64::from))
}

/// Milliseconds from now until `deadline` (0 when due), for a JS `setTimeout`.
pub fn ms_until(deadline: Option<Instant>) -> Option<f64> {
    deadline.map(|t| t.saturating_duration_since(Instant::now()).as_secs_f64() * 1000.0)
}

/// JSON text for JS. ASCII text (what the controller writes, unless a rule's
/// description is not) becomes a one-byte string that V8 copies instead of
/// decoding it as UTF-8 (the views of 10,000 rules are 2.5 MB).
pub struct JsonText(pub String);

impl TypeName for JsonText {
    fn type_name() -> &'static str {
        "string"
    }
    fn value_type() -> ValueType {
        ValueType::String
    }
}

impl ToNapiValue for JsonText {
    unsafe fn to_napi_value(env: sys::napi_env, val: Self) -> napi::Result<sys::napi_value> {
        let text = val.0;
        if !text.is_ascii() {
            // SAFETY: forwarded as napi-rs calls us, with its own env.
            return unsafe { ToNapiValue::to_napi_value(env, text) };
        }
        let mut out = std::ptr::null_mut();
        // SAFETY: `env` is napi-rs's; the pointer and length are those of a live
        // str, whose bytes are all ASCII, hence valid Latin-1 with the same meaning.
        let status =
            unsafe { sys::napi_create_string_latin1(env, text.as_ptr().cast(), text.len() as isize, &mut out) };
        check_status!(status, "could not create the JSON text")?;
        Ok(out)
    }
}
