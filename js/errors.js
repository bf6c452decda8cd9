'use strict'
// Native errors carry a stable `code`. Argument errors become the classes Node
// uses for its own APIs: TypeError for a wrong type or value, RangeError for a
// number out of range. Every native error is re-created on the JS side, so it
// belongs to the caller's realm (jest, vm contexts) and its stack shows JS frames.

function classify(err) {
  // No instanceof Error: errors from the addon belong to Node's main realm.
  if (err === null || typeof err !== 'object' || typeof err.code !== 'string') return err
  let Cls = Error
  if (err.code === 'ERR_INVALID_ARG_TYPE' || err.code === 'ERR_INVALID_ARG_VALUE') Cls = TypeError
  else if (err.code === 'ERR_OUT_OF_RANGE') Cls = RangeError
  if (err instanceof Cls && Object.getPrototypeOf(err) === Cls.prototype) return err
  const e = new Cls(err.message)
  e.code = err.code
  return e
}

/** Runs a native call; its error comes out classified (TypeError/RangeError by code). */
function nativeCall(fn) {
  try {
    return fn()
  } catch (err) {
    throw classify(err)
  }
}

module.exports = { classify, nativeCall }
