//! napi bindings: the only module that imports `napi`. Each function converts its
//! arguments, calls the core, converts the result; errors leave through
//! [`errors::JsError`] so every JS error has a stable `code`.

mod codec;
mod errors;
