'use strict'
// Option handling shared by the connection classes (OpenFlowChannel, OvsdbClient),
// and the values the security groups and elastic IPs check with the rule validator.

const native = require('./binding.js')
const { nativeCall } = require('./errors.js')

/** An Error with a stable `code` (and extra fields). */
function fail(code, message, extra) {
  const e = new Error(message)
  e.code = code
  return Object.assign(e, extra)
}

/** A TypeError/RangeError with a Node-style `code`. */
function argError(Cls, code, message) {
  const e = new Cls(message)
  e.code = code
  return e
}

/** How a host is authenticated: given per connection, next to the other options. */
const HOST_TLS_KEYS = ['serverCert', 'fingerprint', 'ca', 'insecure', 'serverName']

/** Splits the host-verification options from the rest, checked; PEM Buffers become strings. */
function splitHostTls(options) {
  const hostTls = {}
  const rest = {}
  for (const [k, v] of Object.entries(options)) {
    if (v === undefined) continue
    if (!HOST_TLS_KEYS.includes(k)) rest[k] = v
    else if (k === 'insecure') {
      if (typeof v !== 'boolean') throw argError(TypeError, 'ERR_INVALID_ARG_TYPE', `options.insecure must be a boolean, got ${describe(v)}`)
      hostTls[k] = v
    } else if (typeof v === 'string') hostTls[k] = v
    else if ((k === 'serverCert' || k === 'ca') && (Buffer.isBuffer(v) || v instanceof Uint8Array)) hostTls[k] = Buffer.from(v).toString()
    else throw argError(TypeError, 'ERR_INVALID_ARG_TYPE', `options.${k} must be a string${k === 'serverCert' || k === 'ca' ? ' or a Buffer (PEM)' : ''}, got ${describe(v)}`)
  }
  return { hostTls, rest }
}

/** A value in an error message, whatever it is (a null-prototype object, a symbol...). */
function describe(v) {
  if (v === null) return 'null'
  if (typeof v === 'string') return JSON.stringify(v.length > 60 ? `${v.slice(0, 60)}…` : v)
  if (typeof v === 'object') return Array.isArray(v) ? 'an array' : 'an object'
  if (typeof v === 'bigint') return `${v}n`
  return typeof v === 'symbol' ? 'a symbol' : `${typeof v} ${String(v)}`
}

/** Throws a RangeError naming the first option that is not a non-negative 32-bit integer. */
function checkDurations(options, keys) {
  for (const k of keys) {
    const v = options[k]
    if (v !== undefined && (!Number.isInteger(v) || v < 0 || v > 0xffffffff)) {
      throw argError(RangeError, 'ERR_OUT_OF_RANGE', `options.${k} must be a non-negative integer`)
    }
  }
}

/** A delay given to a JS timer (`setTimeout` holds at most 2^31-1 ms): a RangeError naming it otherwise. */
function checkTimerMs(v, name) {
  if (!Number.isInteger(v) || v < 0 || v > 0x7fffffff) throw argError(RangeError, 'ERR_OUT_OF_RANGE', `${name} must be an integer 0..${0x7fffffff}, got ${describe(v)}`)
  return v
}

/**
 * Milliseconds before reconnect/retry attempt `attempt` (0-based): the crate's one
 * backoff (src/session/reconnect.rs), jittered into [50%, 100%] of `min * 2^attempt`
 * capped at `max`.
 */
function backoffDelay(min, max, attempt) {
  return native.backoffDelayMs(min, max, Math.min(attempt, 0xffffffff), Math.random())
}

/**
 * `work` (a promise) or, after `ms`, the error `onExpiry()` returns (it may also
 * act, e.g. close what the work waits on). The work goes on after the expiry; its
 * own outcome is then ignored. The timer never keeps the process alive.
 */
function withDeadline(work, ms, onExpiry) {
  work.catch(() => {})
  const deadline = deadlineFor(ms)
  return new Promise((resolve, reject) => {
    const expire = () => {
      try {
        reject(onExpiry())
      } catch (err) {
        reject(err)
      }
    }
    deadline.add(expire)
    work.then(
      (value) => {
        deadline.done(expire)
        resolve(value)
      },
      (error) => {
        deadline.done(expire)
        reject(error)
      },
    )
  })
}

// Deadlines of one length set within DEADLINE_SLACK_MS of each other share a timer
// (never firing early, at most that much late): 2,000 concurrent calls arm one
// timer, not 2,000. A timer nobody waits on any more is cleared at once.
const DEADLINE_SLACK_MS = 5
let openDeadline = null

function deadlineFor(ms) {
  const now = Date.now()
  const d = openDeadline
  if (d !== null && d.ms === ms && now + ms <= d.due) return d
  const next = {
    ms,
    due: now + ms + DEADLINE_SLACK_MS,
    waiting: new Set(),
    timer: null,
    add(expire) {
      this.waiting.add(expire)
    },
    done(expire) {
      this.waiting.delete(expire)
      if (this.waiting.size === 0) this.close()
    },
    close() {
      clearTimeout(this.timer)
      if (openDeadline === this) openDeadline = null
    },
  }
  next.timer = setTimeout(() => {
    next.close()
    const expired = [...next.waiting]
    next.waiting.clear()
    for (const expire of expired) expire()
  }, ms + DEADLINE_SLACK_MS)
  next.timer.unref?.()
  openDeadline = next
  return next
}

const NOT_DATA = new Error('a promise or thenable is not data')

/**
 * A JSON.stringify replacer for the caller's data (`map` first turns values the
 * native checks should judge, e.g. BigInts): a promise, such as what an async
 * `toJSON` returns, is not data. Its rejection is handled here, not left unhandled
 * in xo-server's process; the stringify throws, and `isNotData(err)` says why.
 */
function dataReplacer(map = (v) => v) {
  return (k, v) => {
    if (v !== null && (typeof v === 'object' || typeof v === 'function')) {
      let then
      try {
        then = v.then
      } catch {
        throw NOT_DATA
      }
      if (typeof then === 'function') {
        try {
          Promise.resolve(v).catch(() => {})
        } catch {
          // a hostile thenable: refused below all the same
        }
        throw NOT_DATA
      }
      return v
    }
    return map(v)
  }
}

const isNotData = (err) => err === NOT_DATA

/** `options` of a call (undefined: `{}`), checked to be an object; a TypeError names `where`. */
function optionsObject(options, where = 'options') {
  if (options === undefined) return {}
  if (options === null || typeof options !== 'object') throw argError(TypeError, 'ERR_INVALID_ARG_TYPE', `${where} must be an object, got ${describe(options)}`)
  return options
}

/** The `{ timeoutMs }` options of a call: an object, `timeoutMs` absent or 0..2^32-1 ms (RangeError). */
function callOptions(options, where = 'options') {
  const o = optionsObject(options, where)
  checkDurations(o, ['timeoutMs'])
  return o
}

/** A string argument (`what` names it): a TypeError otherwise, and when empty unless `allowEmpty`. */
function checkString(v, what, { allowEmpty = false } = {}) {
  if (typeof v !== 'string' || (!allowEmpty && v === '')) throw argError(TypeError, 'ERR_INVALID_ARG_TYPE', `${what} must be a ${allowEmpty ? '' : 'non-empty '}string, got ${describe(v)}`)
  return v
}

/** An SdnController argument: an object with the `methods` its caller uses. */
function checkController(sdn, methods) {
  if (sdn === null || typeof sdn !== 'object') throw argError(TypeError, 'ERR_INVALID_ARG_TYPE', `sdn must be an SdnController, got ${describe(sdn)}`)
  for (const m of methods) {
    if (typeof sdn[m] !== 'function') throw argError(TypeError, 'ERR_INVALID_ARG_VALUE', `sdn must be an SdnController (it has no ${m}())`)
  }
  return sdn
}

/** An object given by its uuid or `{ uuid }` (a VIF, VM, network). */
function isUuidRef(v) {
  return typeof v === 'string' || (v !== null && typeof v === 'object' && typeof v.uuid === 'string')
}

/** A rule filter (`{ vif?, vm?, network? }`, each a uuid or `{ uuid }`). */
function checkRuleFilter(filter) {
  const f = optionsObject(filter, 'filter')
  for (const k of ['vif', 'vm', 'network']) {
    const v = f[k]
    if (v === undefined || isUuidRef(v)) continue
    throw argError(TypeError, 'ERR_INVALID_ARG_TYPE', `filter.${k} must be a uuid or { uuid }, got ${describe(v)}`)
  }
  return f
}

/** Validates host and port. */
function checkAddress(host, port) {
  if (typeof host !== 'string' || host === '') throw argError(TypeError, 'ERR_INVALID_ARG_TYPE', 'options.host must be a non-empty string')
  if (!Number.isInteger(port) || port < 1 || port > 65535) throw argError(RangeError, 'ERR_OUT_OF_RANGE', 'options.port must be 1..65535')
}

/**
 * An IPv4 address or CIDR read by the crate's one grammar (src/net/addr.rs):
 * `{ cidr: 'a.b.c.d/n', network, prefix }`. Host bits are refused unless
 * `clearHostBits` (what Open vSwitch did with them: mask the address). Errors name `where`.
 */
function ipv4Cidr(text, where, { clearHostBits = false } = {}) {
  if (typeof text !== 'string') throw argError(TypeError, 'ERR_INVALID_ARG_TYPE', `${where} must be an IPv4 CIDR string, got ${describe(text)}`)
  if (text.includes(':')) throw argError(TypeError, 'ERR_INVALID_ARG_VALUE', `${where}: IPv6 (${text}) is not supported: OpenFlow 1.1 matches IPv4 only`)
  try {
    return nativeCall(() => native.ipv4Cidr(text, clearHostBits))
  } catch (err) {
    err.message = `${where}: ${err.message}`
    throw err
  }
}

/** An IPv4 address or CIDR (surrounding spaces ignored) as `a.b.c.d/n`, host bits refused. */
function checkCidr(text, where) {
  return ipv4Cidr(typeof text === 'string' ? text.trim() : text, where).cidr
}

/** A VIF `{ uuid, mac, ips? }` checked and normalized by the rule validator (errors name `rule.vif.*`). */
function checkVif(vif, shape) {
  if (vif === null || typeof vif !== 'object') throw argError(TypeError, 'ERR_INVALID_ARG_TYPE', `vif must be an object ${shape}`)
  const { uuid, mac, ips = [] } = vif
  let json
  try {
    json = JSON.stringify({ vif: { uuid, mac, ips }, allow: true, direction: 'to' })
  } catch (err) {
    throw argError(TypeError, 'ERR_INVALID_ARG_VALUE', `vif must be plain data ${shape}: ${err.message}`)
  }
  const spec = JSON.parse(nativeCall(() => native.validateRule(json)))
  return { uuid: spec.vif.uuid, mac: spec.vif.mac, ips: spec.vif.ips ?? [] }
}

module.exports = { dataReplacer, isNotData, backoffDelay, withDeadline, describe, fail, argError, HOST_TLS_KEYS, splitHostTls, checkDurations, checkTimerMs, checkAddress, checkCidr, ipv4Cidr, checkVif, optionsObject, callOptions, checkString, checkController, isUuidRef, checkRuleFilter }
