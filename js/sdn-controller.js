'use strict'
// SdnController: the object XO's SDN plugin keeps for its lifetime. It owns one
// OvsdbClient per host and one OpenFlowChannel per (host, bridge), holds the
// ordered list of traffic rules (the desired state), and keeps every switch equal
// to it: rules are compiled (in Rust, src/rules) into flows tagged with a cookie of
// our namespace, pushed with a barrier, read back and repaired by `sync()`.
//
// Where rules land is computed, not stored: a rule targets a VIF, a VM, a network
// or the pool, and the OVSDB replicas of the hosts say which interfaces (ofport,
// MAC, bridge) that means right now. When an interface appears, moves or goes
// away (plug, migration, replug), the flows of the affected switch follow.

const { EventEmitter } = require('node:events')
const crypto = require('node:crypto')
const fs = require('node:fs')
const path = require('node:path')
const native = require('./binding.js')
const { OpenFlowChannel } = require('./openflow-channel.js')
const { OvsdbClient } = require('./ovsdb-client.js')
const { TlsConfig } = require('./tls.js')
const { fail, argError, describe, splitHostTls, checkDurations, backoffDelay, withDeadline, optionsObject, checkString, checkRuleFilter, dataReplacer, isNotData } = require('./options.js')
const { nativeCall } = require('./errors.js')
const { parseFlow, formatFlow } = require('./codec.js')

/**
 * What reports background failures when the caller gives no logger: one
 * process warning per distinct cause (code, host, bridge), not one per reconnect.
 */
function warningLogger() {
  const seen = new Set()
  const warn = (message, data = {}) => {
    const e = data.error
    const key = `${e?.code ?? message}|${e?.host ?? data.host ?? ''}|${e?.bridge ?? data.bridge ?? ''}`
    if (seen.has(key)) return
    seen.add(key)
    process.emitWarning(`${message}${e ? `: ${e.message}` : ''}`, { code: 'XO_SDN_BACKGROUND', detail: key })
  }
  const quiet = () => {}
  return { debug: quiet, info: quiet, warn, error: warn }
}

function checkLogger(logger) {
  if (logger === undefined) return warningLogger()
  if (logger === null || typeof logger !== 'object' || !['debug', 'info', 'warn', 'error'].every((k) => typeof logger[k] === 'function')) {
    throw argError(TypeError, 'ERR_INVALID_ARG_TYPE', 'options.logger must be an object with debug, info, warn and error functions (the shape of @xen-orchestra/log)')
  }
  return logger
}

// The one band table (src/control/bands.rs): rules above XAPI's VIF-locking flows and
// the security-group and elastic-IP bands, below XO's own bands.
const BANDS = native.priorityBands()
const DEFAULT_PRIORITIES = { ...BANDS.rules }
/** XO's own bands, for a controller that takes over XO-managed priorities. */
const XO_PRIORITIES = { ...BANDS.xo }

const STATE_VERSION = 1

function hexCookie(c) {
  return typeof c === 'string' ? c : '0x' + c.toString(16).padStart(16, '0')
}

/** A random free rule number of `list`, for what has no stable identity. */
function randomNumber(list) {
  for (;;) {
    const n = crypto.randomBytes(5).readUIntBE(0, 5)
    if (n !== 0 && list.holder(n) === null) return n
  }
}

// Our cookie tag, from the Rust core (src/rules/cookie.rs), its one definition.
const { value: NAMESPACE, mask: NS_MASK } = native.cookieNamespace()
const ALL64 = (1n << 64n) - 1n
function foreignCookie(v, name = 'cookie') {
  if (typeof v !== 'bigint' && typeof v !== 'string') throw argError(TypeError, 'ERR_INVALID_ARG_TYPE', `${name} must be a BigInt or a '0x' string, got ${describe(v)}`)
  if (typeof v === 'bigint' && v >= 0n && v <= ALL64) return v
  if (typeof v === 'string' && /^0x[0-9a-f]{1,16}$/i.test(v)) return BigInt(v)
  throw argError(TypeError, 'ERR_INVALID_ARG_VALUE', `${name} must be a 64-bit BigInt or '0x' + 1..16 hex digits, got ${String(v)}`)
}
function toFlowMod(f, command) {
  if (typeof f === 'string') return parseFlow(f, { command })
  if (f === null || typeof f !== 'object') throw argError(TypeError, 'ERR_INVALID_ARG_TYPE', 'a flow is ovs-ofctl text or a flow_mod object')
  return { type: 'flow_mod', ...f }
}
function stripOxm(match) {
  const { oxm, ...rest } = match ?? {}
  return rest
}
function flowKey(f) {
  const text = formatFlow({ type: 'flow_mod', command: 'add', priority: f.priority, match: stripOxm(f.match), instructions: [] })
  return text.replace(/ actions=.*$/, '')
}

/**
 * One entry of NativeFlowTable.putManyFrom: a rule of the native list (by id) or a
 * rule's normalized JSON, for endpoints; or raw FLOW_MODs.
 */
function entryText(item) {
  const cookie = hexCookie(item.cookie)
  if (item.flows) return `{"cookie":"${cookie}","flows":"${item.flows.toString('hex')}"}`
  const rule = item.id !== undefined ? `"id":${JSON.stringify(item.id)}` : `"rule":${item.specJson}`
  return `{"cookie":"${cookie}","priority":${item.priority},${rule},"endpoints":${endpointsJson(item.endpoints)}}`
}

// Endpoint lists are shared by every rule on the same VIF (see #endpoints): each is written once.
const endpointTexts = new WeakMap()
function endpointsJson(eps) {
  let text = endpointTexts.get(eps)
  if (text === undefined) endpointTexts.set(eps, (text = JSON.stringify(eps)))
  return text
}

// Rules compiled per native call when the adds are sent as they compile (Switch#put).
const PUT_SLICE = 1000
// The first slice is smaller: the switch has nothing to do until it arrives.
const FIRST_SLICE = 200

/** Waits for every promise; then rejects with the first rejection, if any. */
async function allOrFirstError(promises) {
  const settled = await Promise.allSettled(promises)
  const failed = settled.find((r) => r.status === 'rejected')
  if (failed) throw failed.reason
}

const NO_ERRORS = new Map() // no host unreached (never written)
const NOTHING = Object.freeze({ items: [], entries: [] })
const noop = () => {}

/** An error that says the host cannot be reached now (as opposed to a refusal by a reachable one). */
function unreachable(error) {
  return /^(SDN_HOST_TIMEOUT|CONNECT|CONNECTION_|TLS_|CHANNEL_|OF_ECHO_|OF_HANDSHAKE|OF_CLOSED|OF_TIMEOUT|OVSDB_ECHO_|E[A-Z]+$)/.test(String(error?.code ?? ''))
}

/** The id a rule reference names (its validity is checked by the command itself). */
/** The id of a rule given by its id or `{ id }` (a TypeError otherwise). */
function ruleKey(ref) {
  if (typeof ref === 'string') return ref
  if (ref !== null && typeof ref === 'object' && typeof ref.id === 'string') return ref.id
  throw argError(TypeError, 'ERR_INVALID_ARG_TYPE', `a rule is given by its id (string) or { id }, got ${describe(ref)}`)
}

/** The normalized JSON of an entry's rule (what the compiler and the native list read). */
function specJsonOf(e) {
  e.specJson ??= JSON.stringify(specOf(e))
  return e.specJson
}

/**
 * A rule compiled for the endpoints it has on one switch. The list's current rule
 * `e` is named by id (the native list holds it, checked); an entry that left the
 * list meanwhile carries its own rule.
 */
function ruleItem(e, endpoints, current) {
  return current ? { cookie: e.cookie, priority: e.priority, id: e.id, endpoints } : { cookie: e.cookie, priority: e.priority, specJson: specJsonOf(e), endpoints }
}

/** An entry's cookie as hex, written once per cookie it takes. */
function hexOf(e) {
  if (e.hexOf !== e.cookie) {
    e.hex = hexCookie(e.cookie)
    e.hexOf = e.cookie
  }
  return e.hex
}

/** A cookie as the key of a switch's maps: a BigInt (given as one, or as a '0x' string). */
function cookieKey(c) {
  return typeof c === 'bigint' ? c : BigInt(c)
}

// The items of one cookie, as a switch keeps them: the item itself when it is the
// only one (a rule of a batch: no array for each of 10,000), else an array.
const itemCount = (mine) => (Array.isArray(mine) ? mine.length : 1)
const itemAt = (mine, i) => (Array.isArray(mine) ? mine[i] : mine)

/**
 * Would these items (one or an array, see itemAt) compile to what `was` compiled
 * to? A rule of the list named by id is the same rule while its cookie is (each
 * change of a rule takes a new generation, so a new cookie), so its priority and
 * endpoints decide; endpoint lists are shared per target and snapshot
 * (#endpoints), so compared by identity first. Raw flows compare their bytes; a
 * rule carried whole, its JSON.
 */
function sameItems(was, items) {
  const n = itemCount(items)
  if (itemCount(was) !== n) return false
  for (let i = 0; i < n; i++) {
    const a = itemAt(was, i)
    const b = itemAt(items, i)
    if (a.flows || b.flows) {
      if (!a.flows || !b.flows || !a.flows.equals(b.flows)) return false
      continue
    }
    if (a.id !== b.id || a.specJson !== b.specJson || a.priority !== b.priority) return false
    if (a.endpoints !== b.endpoints && endpointsJson(a.endpoints) !== endpointsJson(b.endpoints)) return false
  }
  return true
}

function checkRuleObject(rule, at = '') {
  if (rule === null || typeof rule !== 'object' || Array.isArray(rule)) {
    const got = rule === null ? 'null' : Array.isArray(rule) ? 'an array' : typeof rule
    throw argError(TypeError, 'ERR_INVALID_ARG_TYPE', `${at}rule must be an object, got ${got}`)
  }
}

const RULE_DATA = dataReplacer()
const RULE_DATA_NUMBERS = dataReplacer((v) => (typeof v === 'bigint' ? Number(v) : v))

/**
 * True when `v` is made of plain objects, arrays and primitives only, a few levels
 * deep: nothing JSON.stringify would hand to a toJSON or would silently turn into
 * `{}` (a promise), so the replacer, which costs as much as the stringify itself
 * on 10,000 rules, is not needed.
 */
function isPlainData(v, depth = 0) {
  if (v === null || typeof v !== 'object') return typeof v !== 'bigint' && typeof v !== 'function' && typeof v !== 'symbol'
  if (depth > 4) return false
  if (Array.isArray(v)) {
    for (let i = 0; i < v.length; i++) if (!isPlainData(v[i], depth + 1)) return false
    return true
  }
  const proto = Object.getPrototypeOf(v)
  if (proto !== Object.prototype && proto !== null) return false
  for (const k in v) {
    if (k === 'toJSON' || k === 'then' || !Object.hasOwn(v, k) || !isPlainData(v[k], depth + 1)) return false
  }
  return true
}

/** JSON of rules for the validator. */
function ruleJson(value, what = 'rule') {
  try {
    if (isPlainData(value)) return JSON.stringify(value)
  } catch {
    // A throwing getter or proxy: the replacer's path below says what it is.
  }
  let json
  try {
    json = JSON.stringify(value, RULE_DATA)
  } catch (err) {
    // BigInt ports and the like: numbers for the validator to judge; anything else is not data.
    if (!isNotData(err)) {
      try {
        json = JSON.stringify(value, RULE_DATA_NUMBERS)
      } catch {
        // left undefined
      }
    }
  }
  // A toJSON may also turn the whole value into nothing.
  if (typeof json !== 'string') throw argError(TypeError, 'ERR_INVALID_ARG_VALUE', `${what} must be plain data (JSON-serializable)`)
  return json
}

/**
 * Normalized rule (Rust validates every field and names it in the error) and its
 * normalized text, `{ spec, text }`: the text is what the list and the compiler read
 * (an id in it is checked against the one they are given), never written again.
 */
function validate(rule, check = native.validateRule) {
  checkRuleObject(rule)
  const json = ruleJson(rule)
  const text = nativeCall(() => check(json))
  return { spec: JSON.parse(text), text }
}

/**
 * A batch of rules checked in one native call: `{ ids, batch, targets, targetOf }`
 * (`batch` for NativeRuleList.appendMany, and whose `json` holds the normalized rules
 * without their ids). Where the rules land is resolved from their distinct `targets`
 * (`targetOf[i]` is rule i's): the 10,000 specs themselves are read once the flows
 * are sent (see batchSpecs).
 */
function validateAll(rules) {
  for (let i = 0; i < rules.length; i++) {
    const r = rules[i]
    // The message (a string per rule) only for a rule that is refused.
    if (r === null || typeof r !== 'object' || Array.isArray(r)) checkRuleObject(r, `rules[${i}]: `)
  }
  const batch = nativeCall(() => native.validateRules(ruleJson(rules, 'rules')))
  return { ids: batch.ids, batch, targets: JSON.parse(batch.targets), targetOf: batch.targetOf }
}

/**
 * Fills the specs of a batch's `entries` from its normalized JSON, once, when one of
 * them is first read (specOf): the `pending` of each of them, which the caller sets
 * as it makes them. The specs come without ids, so no entry ever deletes a
 * property (which would turn 10,000 specs into slow dictionary objects).
 */
function batchSpecs(batch, entries) {
  const pending = {
    fill() {
      const specs = JSON.parse(batch.json)
      for (let i = 0; i < entries.length; i++) {
        // An entry given a new spec meanwhile (updateRule reads it first) keeps it.
        if (entries[i].pending !== pending) continue
        entries[i].spec = specs[i]
        entries[i].pending = null
      }
    },
  }
  return pending
}

/**
 * A copy of normalized rule data (plain objects, arrays, primitives): a view given
 * to a caller shares nothing with the entry, so changing it (`rule.vif.mac = …`)
 * cannot move the controller's rule behind the native list's back.
 */
function copyOfData(v) {
  if (v === null || typeof v !== 'object') return v
  if (Array.isArray(v)) return v.map(copyOfData)
  const out = {}
  for (const k in v) out[k] = copyOfData(v[k])
  return out
}

/** An entry's normalized rule (read from its batch the first time). */
function specOf(e) {
  if (e.pending !== null) e.pending.fill()
  return e.spec
}

/** What decides where an entry lands: `{ vif }`, `{ vm }`, `{ network }` or `{ pool }`. */
function targetOf(e) {
  return e.target ?? specOf(e)
}

/**
 * A new entry of the rule list, `spec` without its id. Every entry has the same
 * fields from the start (the list's placement fills them in; see #mirror), so they
 * all share one shape.
 */
function entryOf(spec, id, host, specJson = undefined, target = undefined) {
  return { spec, specJson, id, host, target, pending: null, priority: 0, generation: 0, number: 0, cookie: 0n, hex: undefined, hexOf: undefined, pinned: false }
}

/** The band `options.priorities` names and the rule list that assigns its priorities (which checks the band). */
function ruleListFor(p) {
  let band
  if (p === undefined || p === 'default') band = { ...DEFAULT_PRIORITIES }
  else if (p === 'xo') band = { ...XO_PRIORITIES }
  else if (p === null || typeof p !== 'object') throw argError(TypeError, 'ERR_INVALID_ARG_TYPE', "options.priorities must be 'default', 'xo' or { min, max }")
  else {
    const { min, max } = p
    if (!Number.isInteger(min) || !Number.isInteger(max) || min < 1 || max > 65535 || min > max) {
      throw argError(RangeError, 'ERR_OUT_OF_RANGE', 'options.priorities must satisfy 1 <= min <= max <= 65535')
    }
    band = { min, max }
  }
  try {
    return { band, list: nativeCall(() => new native.NativeRuleList(band.min, band.max)) }
  } catch (err) {
    err.message = `options.${err.message}`
    throw err
  }
}

/** A switch: one bridge of one host, its desired flows and its channel. */
class Switch {
  constructor(host, bridge, tableId, list) {
    this.host = host
    this.bridge = bridge
    // tableId + 1 is the ingress stage of security groups (src/control/bands.rs).
    this.table = new native.NativeFlowTable(tableId, 2)
    this.list = list // the controller's NativeRuleList: entries name its rules by id
    this.compiled = new Map() // cookie (BigInt) -> the items it was compiled from (see itemAt): unchanged rules are not recompiled
    this.foreign = new Map() // cookie (BigInt) -> flow_mods a caller chose (putForeignFlows)
    this.channel = null
    this.connecting = null
    this.queue = Promise.resolve()
    // First contact: the switch is made equal to the desired state once, before
    // any call changes it (see SdnController#adopt).
    this.adopted = false
    // { version, interfaces, bridges }: its desired flows were computed from this
    // state, which landed on `bridges` of its host (see SdnController#isLoaded).
    this.loaded = null
    this.adopting = null
    this.nextGroup = null // the group commit jobs gather in until the switch is free (SdnController#commit)
    this.foreignPriorities = new Set() // priorities of the flows of others here (SdnController#reconcileAll)
  }

  /**
   * Makes `items` the desired flows of their cookies (items of one cookie are
   * unioned), in one or two native calls; returns the FLOW_MODs that change the switch
   * accordingly (`add`, and `deletes` to send after it), and `added`: each cookie's
   * flows added. An item is
   * a rule of the list compiled for endpoints, `{ cookie, priority, id, endpoints }`,
   * a rule carried whole, `{ cookie, priority, specJson, endpoints }`, or raw flows,
   * `{ cookie, flows: Buffer }`. A cookie whose items are unchanged is not compiled.
   *
   * With `onSlice`, compiles PUT_SLICE cookies per native call (FIRST_SLICE the
   * first time) and hands each slice's ADDs to `onSlice` at once (the caller sends
   * them while the next slice compiles); the DELETEs come back in `deletes`, to
   * send once the adds landed. `distinct` says no two items share a cookie: they are
   * not grouped first.
   */
  put(items, onSlice = null, { distinct = false } = {}) {
    // Indexed loops and forEach, not for-of: a batch runs them 10,000 times before
    // its code is optimized, and for-of makes an iterator result (and a Map, an
    // entry array) per element.
    const byCookie = new Map() // cookie (BigInt) -> its items (see itemAt)
    for (let i = 0; !distinct && i < items.length; i++) {
      const item = items[i]
      const key = cookieKey(item.cookie)
      const had = byCookie.get(key)
      if (had === undefined) byCookie.set(key, item)
      else if (Array.isArray(had)) had.push(item)
      else byCookie.set(key, [had, item])
    }
    const added = new Map() // cookie (BigInt) -> its flows added
    const total = { addCount: 0, deleteCount: 0, deletes: [], added }
    const adds = []
    // A cookie whose one item names a rule of the list crosses with nothing in JSON
    // but its endpoint set (putListed); the others as entry text (putManyFrom).
    let batch = ''
    let cookies = []
    const listed = []
    let slice = FIRST_SLICE
    const take = (delta, groups) => {
      const counts = delta.addCounts
      for (let i = 0; i < groups.length; i++) {
        // (Index reads, not `const [key, mine]`: destructuring runs the iterator protocol,
        // slow for 10,000 groups until the code is optimized.)
        const key = groups[i][0]
        this.compiled.set(key, groups[i][1])
        added.set(key, counts[i])
      }
      total.addCount += delta.addCount
      total.deleteCount += delta.deleteCount
      if (delta.deleteCount > 0) total.deletes.push(delta.delete)
      if (onSlice === null) adds.push(delta.add)
      else if (delta.addCount > 0) onSlice(delta.add)
    }
    const flush = () => {
      if (batch !== '') take(nativeCall(() => this.table.putManyFrom(this.list, `[${batch}]`)), cookies)
      if (listed.length > 0) take(this.#putListed(listed), listed)
      batch = ''
      cookies = []
      listed.length = 0
    }
    const visit = (mine, key) => {
      const was = this.compiled.get(key)
      if (was !== undefined && sameItems(was, mine)) return
      if (!Array.isArray(mine) && mine.id !== undefined) listed.push([key, mine])
      else {
        for (let i = 0; i < itemCount(mine); i++) batch += (batch === '' ? '' : ',') + entryText(itemAt(mine, i))
        cookies.push([key, mine])
      }
      // Sliced, the switch ingests one slice while the next compiles.
      if (onSlice !== null && cookies.length + listed.length === slice) {
        flush()
        slice = PUT_SLICE
      }
    }
    // Items of distinct cookies (rules of one batch) go in order, their first slice
    // compiled before the others are even looked at.
    if (distinct) for (let i = 0; i < items.length; i++) visit(items[i], cookieKey(items[i].cookie))
    else byCookie.forEach(visit)
    flush()
    if (onSlice === null) total.add = adds.length === 1 ? adds[0] : Buffer.concat(adds)
    return total
  }

  /** putListed of `groups` (each one item naming a rule of the list): their cookies, and each endpoint set once. */
  #putListed(groups) {
    const cookies = new BigUint64Array(groups.length)
    const endpointOf = new Uint32Array(groups.length)
    const sets = new Map() // endpoint array -> its index in endpointSets
    const endpointSets = []
    for (let i = 0; i < groups.length; i++) {
      const item = groups[i][1]
      cookies[i] = groups[i][0]
      let k = sets.get(item.endpoints)
      if (k === undefined) {
        k = endpointSets.length
        sets.set(item.endpoints, k)
        endpointSets.push(endpointsJson(item.endpoints))
      }
      endpointOf[i] = k
    }
    return nativeCall(() => this.table.putListed(this.list, cookies, endpointSets, endpointOf))
  }

  /** Cookies (BigInt) with desired flows here. */
  cookies() {
    return [...this.compiled.keys()]
  }

  remove(cookie) {
    const key = cookieKey(cookie)
    this.compiled.delete(key)
    return this.table.remove(key)
  }

  clear() {
    this.compiled.clear()
    this.table.clear()
    this.loaded = null
  }

  /** Runs `fn` after every earlier operation on this switch: a dump never sees a half-applied change. */
  serial(fn) {
    const run = this.queue.then(fn, fn)
    this.queue = run.then(noop, noop) // not its value: a group's outcome would stay reachable
    return run
  }
}

class Host {
  constructor(spec) {
    Object.assign(this, spec)
    this.ovsdb = null
    this.ovsdbConnecting = null
    this.switches = new Map() // bridge name -> Switch
    this.refreshTimer = null
    this.repairTimer = null
    this.repairAttempt = 0
  }
}

class SdnController extends EventEmitter {
  #tls
  #opts
  #priorities
  #hosts = new Map()
  #rules = [] // ordered, first = highest priority
  #byId = new Map()
  // The authority on ids, rule numbers (rules' and providers'), generations and
  // priorities (src/control/list.rs); #rules mirrors what it decides, in its order.
  #list
  #closed = false
  #syncTimer = null
  #providers = []
  #scratch = new native.NativeFlowTable(0)
  #logger
  #stateFile = null
  #savedProviders = {} // provider states read from the state file, handed over at registration
  #pendingSave = null // a save not started yet: it will include every change made before it starts
  #lastSave = Promise.resolve()
  #loading = false
  #ruleTails = new Map() // rule id -> the end of its last command (see #onRule)
  #version = 0 // goes up on every change of the desired state (rules, generations, providers' flows)
  #listTail = Promise.resolve()
  #joining = new Map() // addRule calls of this tick waiting to be applied together (see #applyJoined), by hosts reached

  /**
   * @param {object} [options]
   * @param {TlsConfig} [options.tls] the pool's client certificate + CA (omitted: plain TCP, tests only)
   * @param {'default'|'xo'|{min:number,max:number}} [options.priorities='default'] the priority band of our flows
   * @param {number} [options.tableId=0]
   * @param {object} [options.openflow] OpenFlowChannel options (timeouts, reconnect...)
   * @param {object} [options.ovsdb] OvsdbClient options
   * @param {number} [options.syncIntervalMs=300000] periodic sync() of every host (0: off)
   * @param {{ minMs?: number, maxMs?: number }} [options.repair] after a host failed a call,
   *   sync() it again after minMs (500), doubling up to maxMs (30000), until it succeeds
   * @param {number} [options.hostTimeoutMs=5000] how long a call waits for one host: a host
   *   that has not answered by then gets `{ ok: false, error: SDN_HOST_TIMEOUT }` while the
   *   others complete; its work goes on in the background and the retry owns it
   * @param {string} [options.stateFile] where the desired state lives across restarts: read
   *   here (synchronously), written (atomically) after every change. With it, a restarted
   *   controller knows every rule before it first touches a switch.
   * @param {{ debug: Function, info: Function, warn: Function, error: Function }} [options.logger]
   *   receives what fails in the background (reconnects, periodic sync, retries); the
   *   shape of @xen-orchestra/log's createLogger(). Default: one process warning per
   *   distinct cause. `error` is emitted only when someone listens to it.
   */
  constructor(options = {}) {
    super()
    if (options === null || typeof options !== 'object') throw argError(TypeError, 'ERR_INVALID_ARG_TYPE', 'options must be an object')
    const { tls, priorities, tableId = 0, openflow = {}, ovsdb = {}, syncIntervalMs = 300000, repair = {}, stateFile, logger, hostTimeoutMs = 5000 } = options
    this.#logger = checkLogger(logger)
    if (stateFile !== undefined && (typeof stateFile !== 'string' || stateFile === '')) throw argError(TypeError, 'ERR_INVALID_ARG_TYPE', 'options.stateFile must be a file path')
    if (tls !== undefined && !(tls instanceof TlsConfig)) throw argError(TypeError, 'ERR_INVALID_ARG_TYPE', 'options.tls must be a TlsConfig')
    if (!Number.isInteger(tableId) || tableId < 0 || tableId > 252) throw argError(RangeError, 'ERR_OUT_OF_RANGE', 'options.tableId must be 0..252 (security groups judge delivery in tableId + 1)')
    checkDurations({ syncIntervalMs, hostTimeoutMs }, ['syncIntervalMs', 'hostTimeoutMs'])
    if (hostTimeoutMs < 1) throw argError(RangeError, 'ERR_OUT_OF_RANGE', 'options.hostTimeoutMs must be at least 1')
    if (repair === null || typeof repair !== 'object') throw argError(TypeError, 'ERR_INVALID_ARG_TYPE', 'options.repair must be an object { minMs, maxMs }')
    checkDurations(repair, ['minMs', 'maxMs'])
    this.#tls = tls
    const { band, list } = ruleListFor(priorities)
    this.#priorities = band
    this.#list = list
    this.#opts = { tableId, openflow, ovsdb, syncIntervalMs, hostTimeoutMs, repair: { minMs: repair.minMs ?? 500, maxMs: repair.maxMs ?? 30000 } }
    if (stateFile !== undefined) {
      this.#stateFile = path.resolve(stateFile)
      this.#loadState()
    }
    if (syncIntervalMs > 0) {
      this.#syncTimer = setInterval(() => this.sync().catch((err) => this.#background('periodic sync failed', err)), syncIntervalMs)
      this.#syncTimer.unref?.()
    }
  }

  /**
   * A failure nobody called for (reconnect, periodic sync, retry, a switch's own
   * error): to the logger, and as an `error` event only when someone listens, so
   * it can never crash the process that hosts the controller.
   */
  #background(message, error, level = 'warn') {
    try {
      this.#logger[level](message, { error, host: error?.host, bridge: error?.bridge })
    } catch {
      // a broken logger must not take the controller down either
    }
    if (this.listenerCount('error') > 0) this.emit('error', error)
  }

  // ---- the state file ----

  #loadState() {
    let text
    try {
      text = fs.readFileSync(this.#stateFile, 'utf8')
    } catch (err) {
      if (err.code === 'ENOENT') return
      throw fail('SDN_STATE_UNREADABLE', `cannot read the state file ${this.#stateFile}: ${err.message}`, { cause: err })
    }
    let state
    try {
      state = JSON.parse(text)
      this.#loading = true
      this.importState(state)
    } catch (err) {
      // Starting empty would delete every rule's flows at first contact: refuse instead.
      throw fail('SDN_STATE_UNREADABLE', `the state file ${this.#stateFile} is not a state of this controller: ${err.message}`, { cause: err })
    } finally {
      this.#loading = false
    }
    this.#savedProviders = state.providers ?? {}
  }

  /**
   * Writes the desired state (coalesced: one write in flight, the next one takes
   * every change made meanwhile); resolves once a write that includes the current
   * state is on disk. Rejects `SDN_STATE_WRITE_FAILED`.
   */
  #persist() {
    if (this.#stateFile === null) return Promise.resolve()
    if (this.#pendingSave) return this.#pendingSave
    const save = this.#lastSave.then(() => {
      this.#pendingSave = null
      return this.#writeState()
    })
    this.#pendingSave = save
    this.#lastSave = save.catch(() => {})
    return save
  }

  async #writeState() {
    // After what the command sends: its flows go out before the state is written.
    await new Promise(setImmediate)
    const state = this.#state((spec) => spec) // written out below, never handed out
    // States of providers not registered yet in this process are kept as read.
    const providers = { ...this.#savedProviders }
    for (const p of this.#providers) if (typeof p.stateKey === 'string' && typeof p.exportState === 'function') providers[p.stateKey] = p.exportState()
    state.providers = providers
    const tmp = `${this.#stateFile}.${process.pid}.tmp`
    try {
      const fh = await fs.promises.open(tmp, 'w', 0o600)
      try {
        await fh.writeFile(JSON.stringify(state))
        await fh.sync()
      } finally {
        await fh.close()
      }
      await fs.promises.rename(tmp, this.#stateFile)
    } catch (err) {
      await fs.promises.unlink(tmp).catch(() => {})
      const e = fail('SDN_STATE_WRITE_FAILED', `cannot write the state file ${this.#stateFile}: ${err.message}`, { cause: err })
      this.#background('state not saved', e, 'error')
      throw e
    }
  }

  /** Runs `apply` while the state that it applies is being saved; both must succeed. */
  async #applyAndSave(apply) {
    this.#version++
    const saved = this.#persist()
    saved.catch(() => {}) // awaited below; the apply's own error comes first
    const result = await apply()
    await saved
    return result
  }

  // ---- command order ----

  /**
   * Runs a command on rule `id` after every earlier command on that rule and every
   * earlier whole-list command: an update then a delete, or two updates, of one rule
   * take effect in call order whatever their I/O does meanwhile. Commands on other
   * rules run concurrently.
   */
  #onRule(id, command) {
    // A rule with nothing in flight (every new rule of a burst of addRule) waits for the
    // list alone: no Promise.all, whose promises and closures 2,000 concurrent calls
    // would keep alive across scavenges.
    const previous = this.#ruleTails.get(id)
    const run = (previous === undefined ? this.#listTail : Promise.all([previous, this.#listTail])).then(command)
    const tail = run.then(noop, noop)
    this.#ruleTails.set(id, tail)
    tail.then(() => {
      if (this.#ruleTails.get(id) === tail) this.#ruleTails.delete(id)
    })
    return run
  }

  /** Runs a command on the whole list (reorder, a batch) after every command in flight. */
  #onList(command) {
    const run = Promise.all([this.#listTail, ...this.#ruleTails.values()]).then(command)
    this.#listTail = run.then(noop, noop)
    return run
  }

  // ---- per-host isolation ----

  /**
   * Runs one host's part of a call: bounded by `hostTimeoutMs` (`SDN_HOST_TIMEOUT`;
   * the work goes on in the background, in the switch's queue, and the retry owns the
   * host), and not at all while the host is known unreachable and its retry is
   * pending (its last error, at once): a down or hung host never slows the others.
   */
  #consult(host, work, { dial = false } = {}) {
    if (!dial && host.down && host.repairTimer) return Promise.reject(host.down)
    const ms = this.#opts.hostTimeoutMs
    const expiry = () => fail('SDN_HOST_TIMEOUT', `host ${host.id} did not answer within ${ms} ms (hostTimeoutMs); the controller keeps trying it in the background`, { host: host.id })
    return withDeadline(Promise.resolve().then(work), ms, expiry).then(
      (value) => {
        host.down = null
        return value
      },
      (error) => {
        if (unreachable(error)) host.down = Object.assign(error, { host: error.host ?? host.id })
        throw error
      },
    )
  }

  // ---- hosts ----

  /**
   * Registers a host; connects lazily. `serverCert` (XAPI host.get_server_certificate),
   * `fingerprint` or `ca` say how the host is authenticated; with `tls` one is required.
   */
  addHost(spec) {
    this.#checkOpen()
    if (spec === null || typeof spec !== 'object') throw argError(TypeError, 'ERR_INVALID_ARG_TYPE', 'host must be an object')
    const { id, address, ovsdbPort = 6640, openflowPort = 6653, ...others } = spec
    if (typeof id !== 'string' || id === '') throw argError(TypeError, 'ERR_INVALID_ARG_TYPE', 'host.id must be a non-empty string')
    if (typeof address !== 'string' || address === '') throw argError(TypeError, 'ERR_INVALID_ARG_TYPE', 'host.address must be a non-empty string')
    for (const [k, v] of Object.entries({ ovsdbPort, openflowPort })) {
      if (!Number.isInteger(v) || v < 1 || v > 65535) throw argError(RangeError, 'ERR_OUT_OF_RANGE', `host.${k} must be 1..65535`)
    }
    const { hostTls, rest } = splitHostTls(others)
    const unknown = Object.keys(rest)
    if (unknown.length > 0) throw argError(TypeError, 'ERR_INVALID_ARG_VALUE', `host has unknown option ${unknown[0]}`)
    if (this.#tls) {
      const given = ['serverCert', 'fingerprint', 'ca'].filter((k) => hostTls[k] !== undefined).length + (hostTls.insecure === true ? 1 : 0)
      if (given === 0) throw fail('TLS_HOST_AUTH_REQUIRED', `host ${id}: say how to authenticate it: serverCert, fingerprint, ca, or insecure: true`)
    } else if (Object.keys(hostTls).length > 0) {
      throw argError(TypeError, 'ERR_INVALID_ARG_VALUE', 'host verification options need options.tls')
    }
    if (this.#hosts.has(id)) throw fail('SDN_HOST_EXISTS', `host ${id} is already registered`)
    this.#hosts.set(id, new Host({ id, address, ovsdbPort, openflowPort, hostTls }))
    return this
  }

  /** Forgets a host: closes its connections; its flows stay on the switch (call deleteRule first to remove them). */
  async removeHost(id) {
    checkString(id, 'id')
    const host = this.#hosts.get(id)
    if (!host) throw fail('SDN_HOST_NOT_FOUND', `no host ${id}`)
    this.#hosts.delete(id)
    await this.#closeHost(host)
  }

  /** Registered hosts and their connection state. */
  hosts() {
    return [...this.#hosts.values()].map((h) => ({
      id: h.id,
      address: h.address,
      ovsdb: h.ovsdb !== null,
      bridges: [...h.switches.values()].map((s) => ({ bridge: s.bridge, connected: s.channel !== null, flows: s.table.len() })),
    }))
  }

  // ---- rules ----

  /**
   * Adds a rule at `position` (default: last, i.e. lowest priority). Resolves
   * `{ rule, hosts }` where `hosts[id]` is `{ ok: true, flows }` or `{ ok: false, error }`:
   * a host that is down does not fail the others; the next sync() repairs it.
   */
  async addRule(rule, options = {}) {
    // The id is the command's key: a rule's commands take effect in call order.
    const id = rule !== null && typeof rule === 'object' && typeof rule.id === 'string' ? rule.id : crypto.randomUUID()
    const drawn = rule !== null && typeof rule === 'object' && !Array.isArray(rule) && rule.id === undefined
    return this.#onRule(id, () => this.#addRule(rule, options ?? {}, drawn ? id : undefined))
  }

  /** `drawnId`: the id addRule drew for a rule given without one (it is not in `rule`). */
  async #addRule(rule, { position, host } = {}, drawnId = undefined) {
    this.#checkOpen()
    const { spec: given, text } = this.#validate(rule)
    let id = drawnId
    let spec = given
    if (id === undefined) {
      // The caller's id: the entry keeps a copy of the spec without it (a delete would
      // make it a slow object), and a taken id is refused before any I/O (a drawn one
      // cannot be taken). The insert checks every id again after the I/O.
      ;({ id, ...spec } = given)
      // An id JSON cannot carry (a function, a symbol) reached the validator as no id at all.
      if (typeof id !== 'string') throw argError(TypeError, 'ERR_INVALID_ARG_TYPE', `rule.id must be a string, got ${describe(rule.id)}`)
      nativeCall(() => this.#list.checkNew([id]))
    }
    if (position !== undefined && (!Number.isInteger(position) || position < 0 || position > this.#rules.length)) {
      throw argError(RangeError, 'ERR_OUT_OF_RANGE', `position must be 0..${this.#rules.length}`)
    }
    const onlyHost = this.#checkHostOption(host)
    // Every replica there (the usual case): validated and inserted in one turn, so the
    // list takes the rule it just parsed (#validate).
    let reached = this.#resolveTargets([spec], onlyHost)
    if (reached instanceof Promise) {
      reached = await reached
      this.#checkOpen()
    }
    const entry = entryOf(spec, id, onlyHost, text)
    const placed = nativeCall(() => this.#list.insert(id, text, position, onlyHost))
    // No room between the neighbours: every rule moved, so every old generation goes.
    const previous = placed.respread ? this.#rules.map((e) => ({ cookie: e.cookie })) : null
    if (position === undefined) this.#rules.push(entry)
    else this.#rules.splice(position, 0, entry)
    this.#byId.set(id, entry)
    this.#mirror(placed)
    const outcome = await this.#applyAndSave(() => (previous ? this.#applyEverywhere(this.#rules, reached, previous) : this.#applyJoined(entry, reached)))
    return { rule: this.#view(entry), hosts: outcome }
  }

  /**
   * Adds several rules at the end of the list, in the order given: all are
   * validated before anything is sent, then each switch gets them in one batch
   * behind one barrier. Resolves `{ rules, hosts }` like addRule.
   */
  async addRules(rules, options = {}) {
    const hole = Array.isArray(rules) ? rules.findIndex((r) => r === undefined) : -1 // map() would skip a hole
    if (hole >= 0) throw argError(TypeError, 'ERR_INVALID_ARG_TYPE', `rules[${hole}]: rule must be an object, got undefined`)
    return this.#onList(() => this.#addRules(rules, options ?? {}))
  }

  async #addRules(rules, { host } = {}) {
    this.#checkOpen()
    if (!Array.isArray(rules)) throw argError(TypeError, 'ERR_INVALID_ARG_TYPE', 'rules must be an array')
    const { ids, batch, targets, targetOf: targetIndex } = validateAll(rules)
    nativeCall(() => this.#list.checkBatch(batch))
    const onlyHost = this.#checkHostOption(host)
    const reached = await this.#resolveTargets(targets, onlyHost)
    this.#checkOpen()
    const placed = nativeCall(() => this.#list.appendMany(batch, onlyHost))
    // The tail of the band had no room for them all: the list was spread again.
    const previous = placed.respread ? this.#rules.map((e) => ({ cookie: e.cookie })) : null
    const first = this.#rules.length
    const entries = new Array(ids.length)
    const pending = batchSpecs(batch, entries)
    // One indexed pass: until it is optimized, each pass over 10,000 rules costs.
    for (let i = 0; i < ids.length; i++) {
      const e = entryOf(null, ids[i], onlyHost, undefined, targets[targetIndex[i]])
      e.pending = pending
      entries[i] = e
      this.#rules.push(e)
      this.#byId.set(e.id, e)
    }
    this.#mirror(placed)
    const applied = this.#applyAndSave(() => (previous ? this.#applyEverywhere(this.#rules, reached, previous) : this.#applyEverywhere(entries, reached)))
    applied.catch(noop) // awaited below, after the views
    // The views are written on another thread while the flows are compiled and sent
    // here (every slice goes out before the first macrotask), and read once both are
    // done; written again if anything changed the rules meanwhile.
    const version = this.#version
    const later = nativeCall(() => this.#list.viewsCopy(first, entries.length)).json()
    let views = null
    try {
      const text = await later
      if (this.#version === version && this.#holds(entries, first)) views = JSON.parse(text)
    } catch {
      // an internal error: #viewsOf below says what it is, with its code
    }
    const outcome = await applied
    if (views === null || this.#version !== version) views = this.#viewsOf(entries, first)
    return { rules: views, hosts: outcome }
  }

  /**
   * #view of each of `entries`, which were put in the list from index `first`: the
   * native list writes them all as one JSON text (10,000 views in one JSON.parse),
   * unless the list changed under them meanwhile (an importState), then one by one.
   */
  #viewsOf(entries, first) {
    if (!this.#holds(entries, first)) return entries.map((e) => this.#view(e))
    return JSON.parse(nativeCall(() => this.#list.viewsJson(first, entries.length)))
  }

  /** Are `entries` still the list's, from index `first` on? */
  #holds(entries, first) {
    const rules = this.#rules
    for (let i = 0; i < entries.length; i++) if (rules[first + i] !== entries[i]) return false
    return true
  }

  /** Removes a rule (by id, or `{ id }`); its flows are deleted by cookie on every host. */
  async deleteRule(ref) {
    return this.#onRule(ruleKey(ref), () => this.#deleteRule(ref))
  }

  async #deleteRule(ref) {
    this.#checkOpen()
    const entry = this.#find(ref)
    nativeCall(() => this.#list.remove(entry.id))
    this.#rules.splice(this.#rules.indexOf(entry), 1)
    this.#byId.delete(entry.id)
    const outcome = await this.#applyAndSave(() =>
      this.#forEachSwitch(
        async (sw) => {
          await this.#prepare(sw) // a first contact already drops it: nobody wants it any more
          const del = sw.remove(entry.cookie)
          if (del) await this.#send(sw, [del])
          return 0
        },
        // Where it lands now, also on a switch this process has not touched yet.
        (host, interfaces) => (entry.host && entry.host !== host.id ? [] : [...this.#endpoints(targetOf(entry), interfaces).keys()]),
      ),
    )
    return { rule: this.#view(entry), hosts: outcome }
  }

  /**
   * Changes a rule, make-before-break: its new flows (a new cookie generation, same
   * priority) are confirmed on a switch before the old ones are deleted there.
   */
  async updateRule(ref, patch) {
    return this.#onRule(ruleKey(ref), () => this.#updateRule(ref, patch))
  }

  async #updateRule(ref, patch) {
    this.#checkOpen()
    const entry = this.#find(ref)
    if (patch === null || typeof patch !== 'object') throw argError(TypeError, 'ERR_INVALID_ARG_TYPE', 'patch must be an object')
    if (patch.id !== undefined && patch.id !== entry.id) throw argError(TypeError, 'ERR_INVALID_ARG_VALUE', 'patch.id cannot change a rule id')
    const merged = { ...specOf(entry), ...patch }
    for (const [k, v] of Object.entries(patch)) if (v === null || v === undefined) delete merged[k]
    // A new target replaces the old one.
    const targets = ['vif', 'vm', 'network', 'pool'].filter((t) => patch[t] !== undefined && patch[t] !== null)
    if (targets.length > 0) for (const t of ['vif', 'vm', 'network', 'pool']) if (!targets.includes(t)) delete merged[t]
    delete merged.id
    const { spec, text: specJson } = this.#validate(merged)
    const reached = this.#resolveTargets([spec], entry.host)
    if (reached instanceof Promise) await reached
    const placed = nativeCall(() => this.#list.update(entry.id, specJson))
    const previous = { ...entry }
    entry.spec = spec
    entry.specJson = specJson
    entry.target = undefined
    this.#mirror(placed)
    this.#version++
    const outcome = await this.#applyAndSave(() => this.#applyEverywhere([entry], null, [previous]))
    return { rule: this.#view(entry), hosts: outcome }
  }

  /** Reorders the whole list: `ids` is a permutation of every rule id, first = highest priority. */
  async reorderRules(ids) {
    return this.#onList(() => this.#reorderRules(ids))
  }

  async #reorderRules(ids) {
    this.#checkOpen()
    if (!Array.isArray(ids)) throw argError(TypeError, 'ERR_INVALID_ARG_TYPE', 'ids must be an array of rule ids')
    if (Array.from(ids).some((id) => typeof id !== 'string')) throw argError(TypeError, 'ERR_INVALID_ARG_VALUE', 'ids must list every rule id exactly once')
    const previous = this.#rules.map((e) => ({ cookie: e.cookie }))
    const placed = nativeCall(() => this.#list.reorder(ids))
    this.#rules = ids.map((id) => this.#byId.get(id))
    this.#mirror(placed)
    return { hosts: await this.#applyAndSave(() => this.#applyEverywhere(this.#rules, null, previous)) }
  }

  /** The logger background failures go to (the `logger` option, or the default). */
  get logger() {
    return this.#logger
  }

  /** One rule of the desired state by id (no I/O), or undefined. */
  getRule(id) {
    if (typeof id !== 'string') throw argError(TypeError, 'ERR_INVALID_ARG_TYPE', 'id must be a string')
    const e = this.#byId.get(id)
    return e === undefined ? undefined : this.#view(e)
  }

  /** The desired rules (no I/O), optionally filtered by target. */
  rules(filter = {}) {
    checkRuleFilter(filter)
    return this.#rules.filter((e) => this.#matchesFilter(e, filter)).map((e) => this.#view(e))
  }

  /**
   * The rules as the switches hold them: every rule (filtered by `{ vif }`,
   * `{ vm }` or `{ network }` uuid) with, per host, the flows expected, present and
   * missing and their packet/byte counters, plus `extra`: flows in our cookie
   * namespace that no rule wants (made by hand, or left by a failed delete).
   */
  async listRules(filter = {}) {
    checkRuleFilter(filter)
    this.#checkOpen()
    const perCookie = new Map() // cookie -> hostId -> report
    const extra = []
    const hosts = {}
    await Promise.all(
      [...this.#hosts.values()].map(async (host) => {
        try {
          // Read in the host's own time (bounded), merged only if it answered in time.
          const reports = await this.#consult(host, async () => {
            await this.#refreshHost(host, { send: false })
            const list = []
            for (const sw of host.switches.values()) {
              list.push([sw, await sw.serial(async () => {
                await this.#prepare(sw)
                return sw.table.reconcile(await this.#dump(sw))
              })])
            }
            return list
          })
          for (const [sw, r] of reports) {
            for (const c of r.rules) {
              const key = c.cookie
              if (!perCookie.has(key)) perCookie.set(key, {})
              const at = perCookie.get(key)
              const prev = at[host.id] ?? { expected: 0, present: 0, missing: 0, packets: 0n, bytes: 0n }
              at[host.id] = {
                expected: prev.expected + c.expected,
                present: prev.present + c.present,
                missing: prev.missing + c.missing,
                packets: prev.packets + BigInt(c.packets),
                bytes: prev.bytes + BigInt(c.bytes),
              }
            }
            for (const x of r.extra) extra.push({ host: host.id, bridge: sw.bridge, cookie: hexCookie(x.cookie), flows: x.count })
          }
          hosts[host.id] = { ok: true }
        } catch (error) {
          hosts[host.id] = { ok: false, error: this.#failed(host, error) }
        }
      }),
    )
    const rules = this.#rules
      .filter((e) => this.#matchesFilter(e, filter))
      .map((e) => {
        const at = perCookie.get(e.cookie) ?? {}
        const perHost = {}
        let expected = 0
        let present = 0
        for (const [id, h] of Object.entries(hosts)) {
          if (!h.ok) {
            perHost[id] = { state: 'unreachable', error: h.error }
            continue
          }
          const r = at[id]
          if (!r || r.expected === 0) continue
          expected += r.expected
          present += r.present
          perHost[id] = { state: r.missing === 0 ? 'present' : r.present === 0 ? 'missing' : 'partial', ...r }
        }
        const state = expected === 0 ? 'inactive' : present === expected ? 'present' : present === 0 ? 'missing' : 'partial'
        return { ...this.#view(e), state, hosts: perHost }
      })
    return { rules, extra, hosts }
  }

  /**
   * Dumps every switch, compares with the desired flows and repairs both ways
   * (unwanted flows of our namespace deleted, then missing ones added: a flow of
   * ours altered by hand is both, and its re-add must come last).
   * Resolves `{ hosts: { [id]: { ok, added, removed } | { ok: false, error } } }`.
   */
  async sync(options) {
    const { hosts } = optionsObject(options)
    if (hosts !== undefined && (!Array.isArray(hosts) || !hosts.every((h) => typeof h === 'string'))) throw argError(TypeError, 'ERR_INVALID_ARG_TYPE', `options.hosts must be an array of host ids, got ${describe(hosts)}`)
    this.#checkOpen()
    const targets = hosts === undefined ? [...this.#hosts.values()] : hosts.map((id) => this.#host(id))
    return this.#syncHosts(targets)
  }

  /** `dial`: the host's retry, the one caller that dials a host known unreachable. */
  async #syncHosts(targets, { dial = false } = {}) {
    const out = {}
    await Promise.all(
      targets.map(async (host) => {
        try {
          out[host.id] = await this.#consult(
            host,
            async () => {
              await this.#refreshHost(host, { send: false })
              let added = 0
              let removed = 0
              for (const sw of host.switches.values()) {
                const r = await this.#syncSwitch(sw)
                added += r.added
                removed += r.removed
              }
              return { ok: true, added, removed }
            },
            { dial },
          )
        } catch (error) {
          out[host.id] = { ok: false, error: this.#failed(host, error) }
        }
      }),
    )
    this.emit('synced', out)
    return { hosts: out }
  }

  /** The desired state, to persist (e.g. in XAPI other_config) and `importState` after a restart. */
  exportState() {
    return this.#state(copyOfData)
  }

  /** The state; `copy` gives each rule's nested values (the caller's own, or shared when written at once). */
  #state(copy) {
    return {
      version: STATE_VERSION,
      priorities: { ...this.#priorities },
      rules: this.#rules.map((e) => ({ id: e.id, ...copy(specOf(e)), priority: e.priority, number: e.number, generation: e.generation, ...(e.host ? { host: e.host } : {}) })),
    }
  }

  /** Replaces the desired state (no I/O; call sync() to apply it). Every rule is validated first. */
  importState(state) {
    this.#checkOpen()
    if (state === null || typeof state !== 'object' || state.version !== STATE_VERSION || !Array.isArray(state.rules)) {
      throw argError(TypeError, 'ERR_INVALID_ARG_VALUE', `state must come from exportState() (version ${STATE_VERSION})`)
    }
    const notRule = state.rules.findIndex((r) => r === null || typeof r !== 'object') // holes too
    if (notRule >= 0) throw argError(TypeError, 'ERR_INVALID_ARG_VALUE', `state.rules[${notRule}] is not a rule of exportState()`)
    const saved = state.rules.map((r) => {
      const { priority, number, generation, host, ...rule } = r
      const { id, ...spec } = validate(rule).spec
      return { id, rule: spec, number, generation, priority, ...(host !== undefined ? { host } : {}) }
    })
    // Numbers, generations and priorities come from the state (what the switches carry):
    // the native list checks them all (a number held twice, a priority outside the band)
    // and replaces its rules only if every one is right.
    let text
    try {
      text = JSON.stringify(saved, (k, v) => (typeof v === 'bigint' ? String(v) : v)) // a BigInt number is refused as not a number
    } catch {
      throw argError(TypeError, 'ERR_INVALID_ARG_VALUE', `state must come from exportState() (version ${STATE_VERSION}): it is not plain data`)
    }
    const placed = nativeCall(() => this.#list.restore(text))
    const entries = saved.map(({ id, rule, host }) => entryOf(rule, id, host))
    this.#rules = entries
    this.#byId = new Map(entries.map((e) => [e.id, e]))
    this.#mirror(placed)
    // A state whose priorities leave a rule no free P + 1 (saved when a rule took one
    // priority) was spread again: every rule moved, as after a respread on insert. Its
    // new generation is ours, not one to adopt from the switches: the next contact
    // installs the moved flows and deletes the saved generations' (make-before-break).
    if (placed.respread) for (const e of entries) e.pinned = true
    for (const host of this.#hosts.values()) {
      for (const sw of host.switches.values()) {
        sw.clear()
        sw.adopted = false // the next contact reconciles against the new state
      }
    }
    this.#version++
    if (!this.#loading) this.#persist().catch(() => {}) // reported by #writeState
  }

  /**
   * Extends the desired state with flows that are not ordered rules (security
   * groups, elastic IPs). `provider.items(hostId, interfaces)` returns, per bridge,
   * items `{ cookie, priority, specJson, endpoints }` (a rule, as normalized JSON from
   * the validator, compiled as usual) or
   * `{ cookie, flows: Buffer }` (encoded FLOW_MODs); `provider.onPacketIn(event)`,
   * if present, gets the switches' PACKET_INs. Cookies come from `cookie()` so
   * they stay in our namespace. Returns the handle the provider works through.
   */
  registerProvider(provider) {
    this.#checkOpen()
    if (provider === null || typeof provider !== 'object' || typeof provider.items !== 'function') {
      throw argError(TypeError, 'ERR_INVALID_ARG_TYPE', 'a provider has an items(hostId, interfaces) method')
    }
    this.#providers.push(provider)
    this.#version++
    const handle = {
      /**
       * The rule number of `key` (a name stable across restarts: the same key gives
       * the same number in every process); without a key, a random free one.
       */
      allocateNumber: (key) => {
        if (key !== undefined) checkString(key, 'key')
        const owner = key === undefined ? undefined : `provider:${key}`
        if (owner !== undefined) return nativeCall(() => this.#list.reserveStable(owner))
        const n = randomNumber(this.#list)
        nativeCall(() => this.#list.reserve(`provider:#${n}`, n))
        return n
      },
      /** A number restored from a saved state: held, never handed to anything else. */
      reserveNumbers: (n) => {
        if (!Number.isInteger(n)) throw argError(TypeError, 'ERR_INVALID_ARG_TYPE', `a rule number is an integer, got ${describe(n)}`)
        if (n < 1) throw argError(RangeError, 'ERR_OUT_OF_RANGE', `a rule number is positive, got ${n}`)
        if (this.#list.holder(n) === null) nativeCall(() => this.#list.reserve(`provider:#${n}`, n))
      },
      /** Saves the desired state (the provider's `exportState()` included, under its `stateKey`). */
      persist: () => {
        this.#version++
        return this.#persist()
      },
      /** A failure of the provider's own background work (logger, and `error` when listened to). */
      report: (message, err) => this.#background(message, err),
      /** What the state file held for this provider (its `stateKey`), to import at construction. */
      savedState: () => (typeof provider.stateKey === 'string' ? this.#savedProviders[provider.stateKey] : undefined),
      cookie: (number, generation) => {
        if ((!Number.isInteger(number) && typeof number !== 'bigint') || !Number.isInteger(generation)) throw argError(TypeError, 'ERR_INVALID_ARG_TYPE', `cookie(ruleNumber, generation) takes integers, got ${describe(number)}, ${describe(generation)}`)
        if (generation < 0 || generation > 255) throw argError(RangeError, 'ERR_OUT_OF_RANGE', `generation must be 0 to 255, got ${generation}`)
        return nativeCall(() => native.ruleCookie(number, generation))
      },
      /** The FLOW_MODs `items` compile to (encoded back to back), without touching any switch. */
      compile: (items) => {
        if (!Array.isArray(items) || !Array.from(items).every((i) => i !== null && typeof i === 'object' && (typeof i.cookie === 'bigint' || typeof i.cookie === 'string') && (Buffer.isBuffer(i.flows) || typeof i.specJson === 'string'))) {
          throw argError(TypeError, 'ERR_INVALID_ARG_TYPE', 'items must be an array of provider items ({ cookie, priority, specJson, endpoints } or { cookie, flows: Buffer })')
        }
        try {
          return this.#compile(items)
        } catch (err) {
          if (typeof err?.code === 'string') throw err
          throw argError(TypeError, 'ERR_INVALID_ARG_VALUE', `items are not provider items: ${err?.message}`) // a priority or endpoints that are not JSON data
        }
      },
      /** Saves the state, recomputes and pushes every host (adds before deletes); outcome per host. */
      refresh: () => this.#applyAndSave(() => this.#refreshAll()),
      /** Sends messages on a switch's channel, barrier-confirmed. */
      send: (hostId, bridge, messages) => {
        checkString(hostId, 'hostId')
        checkString(bridge, 'bridge')
        const sw = this.#host(hostId).switches.get(bridge)
        if (!sw) throw fail('SDN_NO_SWITCH', `no channel to ${bridge} on ${hostId}`)
        return this.#channelOf(sw).then((c) => c.send(messages))
      },
      hosts: () => [...this.#hosts.keys()],
      /** The OpenFlow table our flows live in: raw `{ cookie, flows }` items must be FLOW_MODs for it. */
      tableId: this.#opts.tableId,
    }
    return handle
  }

  // ---- flows chosen by the caller (XO's traffic-rules engine picks its own cookies and priorities) ----

  /** The connected OvsdbClient of host `id` (the controller's own: callers never close it). */
  async ovsdbOf(id) {
    checkString(id, 'id')
    this.#checkOpen()
    return this.#ovsdbOf(this.#host(id))
  }

  /**
   * Makes the flows carrying `cookie` on `bridge` of host `host` exactly `flows`
   * (priority `priority`, our table): ADD them + barrier, then DELETE_STRICT every
   * other flow of that cookie read back from the switch + barrier.
   */
  async putForeignFlows(args) {
    const { host: id, bridge, cookie, priority, flows } = optionsObject(args, 'args')
    checkString(id, 'args.host')
    checkString(bridge, 'args.bridge')
    const c = foreignCookie(cookie)
    this.#checkOpen()
    if ((c & NS_MASK) === NAMESPACE || c === 0n || c === 1n) throw argError(TypeError, 'ERR_INVALID_ARG_VALUE', `cookie ${hexCookie(c)} is 0, XAPI's 1, or in the controller's namespace`)
    if (!Number.isInteger(priority) || priority < 0 || priority > 65535) throw argError(RangeError, 'ERR_OUT_OF_RANGE', 'priority must be 0..65535')
    const { min, max } = this.#priorities
    if (priority >= min && priority <= max) throw argError(RangeError, 'ERR_OUT_OF_RANGE', `priority ${priority} is inside the controller's band ${min}-${max}`)
    if (!Array.isArray(flows)) throw argError(TypeError, 'ERR_INVALID_ARG_TYPE', 'flows must be an array')
    const tableId = this.#opts.tableId
    const mods = flows.map((f) => ({ ...toFlowMod(f, 'add'), command: 'add', cookie: c, cookieMask: 0n, priority, tableId, flags: [] }))
    const sw = await this.#foreignSwitch(id, bridge)
    return sw.serial(async () => {
      await this.#prepare(sw)
      const channel = await this.#channelOf(sw)
      if (mods.length > 0) await channel.send(mods)
      const want = new Set(mods.map(flowKey))
      const have = await channel.dumpFlows({ tableId, cookie: c, cookieMask: ALL64 })
      const stale = have.filter((f) => !want.has(flowKey(f)))
      if (stale.length > 0) {
        await channel.send(stale.map((f) => ({ type: 'flow_mod', command: 'delete_strict', tableId, cookie: c, cookieMask: ALL64, priority: f.priority, match: stripOxm(f.match), outPort: 'any', outGroup: 'any' })))
      }
      if (mods.length > 0) sw.foreign.set(c, mods)
      else sw.foreign.delete(c)
      return { flows: mods.length, removed: stale.length }
    })
  }

  /** Deletes flows of one bridge by cookie (and match), then a barrier. */
  async deleteForeignFlows(args) {
    const { host: id, bridge, cookie, cookieMask = ALL64, flows, strict = false } = optionsObject(args, 'args')
    checkString(id, 'args.host')
    checkString(bridge, 'args.bridge')
    const c = foreignCookie(cookie)
    const m = foreignCookie(cookieMask, 'cookieMask')
    if (flows !== undefined && !Array.isArray(flows)) throw argError(TypeError, 'ERR_INVALID_ARG_TYPE', `flows must be an array, got ${describe(flows)}`)
    this.#checkOpen()
    if ((NAMESPACE & m & NS_MASK) === (c & m & NS_MASK)) throw argError(TypeError, 'ERR_INVALID_ARG_VALUE', 'this cookie/mask could select the controller\'s own flows')
    if ((1n & m) === (c & m)) throw argError(TypeError, 'ERR_INVALID_ARG_VALUE', 'this cookie/mask could select XAPI\'s flows (cookie 0x1)')
    if (flows === undefined && c === 0n) throw argError(TypeError, 'ERR_INVALID_ARG_VALUE', 'cookie 0 needs flows (it would delete the default NORMAL flow)')
    const command = strict ? 'delete_strict' : 'delete'
    const base = { type: 'flow_mod', command, tableId: this.#opts.tableId, cookie: c, cookieMask: m, outPort: 'any', outGroup: 'any' }
    const mods = flows === undefined ? [{ ...base, match: {} }] : flows.map((f) => ({ ...toFlowMod(f, command), ...base }))
    const sw = await this.#foreignSwitch(id, bridge)
    await sw.serial(async () => {
      await this.#prepare(sw)
      const channel = await this.#channelOf(sw)
      if (mods.length > 0) await channel.send(mods)
      if (flows === undefined && m === ALL64) sw.foreign.delete(c)
    })
  }

  async #foreignSwitch(id, bridge) {
    const host = this.#host(id)
    const client = await this.#ovsdbOf(host)
    if (!client.rows('Bridge').some((b) => b.name === bridge)) throw fail('SDN_BRIDGE_NOT_FOUND', `no bridge ${bridge} on host ${id}`, { host: id })
    return this.#switchOf(host, bridge)
  }

  /** Closes every connection; the flows stay on the switches. Idempotent. */
  async close() {
    if (this.#closed) return
    this.#closed = true
    clearInterval(this.#syncTimer)
    await Promise.all([...this.#hosts.values()].map((h) => this.#closeHost(h)))
  }

  // ---- internals: rule list ----

  /**
   * A host failed a call (down, unreachable, refusing): sync it again later, with
   * backoff, until it answers; its flows are then repaired without waiting for the
   * periodic sync. Returns the error for the outcome.
   */
  #failed(host, error) {
    if (this.#closed || host.repairTimer || this.#hosts.get(host.id) !== host) return error
    const { minMs, maxMs } = this.#opts.repair
    const delay = backoffDelay(minMs, maxMs, host.repairAttempt++)
    host.repairTimer = setTimeout(() => {
      host.repairTimer = null
      if (this.#closed || this.#hosts.get(host.id) !== host) return
      this.#syncHosts([host], { dial: true }).then(
        (r) => {
          if (!r.hosts[host.id]?.ok) return // #failed scheduled the next attempt
          host.repairAttempt = 0
          this.emit('hostUp', { host: host.id, repaired: r.hosts[host.id] })
        },
        (err) => this.#background(`retry of host ${host.id} failed`, err),
      )
    }, delay)
    host.repairTimer.unref?.()
    return error
  }

  #checkOpen() {
    if (this.#closed) throw fail('SDN_CLOSED', 'the controller is closed')
  }

  #checkHostOption(host) {
    if (host === undefined) return undefined
    if (typeof host !== 'string') throw argError(TypeError, 'ERR_INVALID_ARG_TYPE', `options.host must be a host id (string), got ${describe(host)}`)
    if (!this.#hosts.has(host)) throw fail('SDN_HOST_NOT_FOUND', `no host ${host}`)
    return host
  }

  #host(id) {
    const h = this.#hosts.get(id)
    if (!h) throw fail('SDN_HOST_NOT_FOUND', `no host ${id}`)
    return h
  }

  #find(ref) {
    const id = typeof ref === 'string' ? ref : ref?.id
    if (typeof id !== 'string') throw argError(TypeError, 'ERR_INVALID_ARG_TYPE', 'a rule is given by its id (string) or { id }')
    const e = this.#byId.get(id)
    if (!e) throw fail('SDN_RULE_NOT_FOUND', `no rule ${id}`)
    return e
  }

  #view(e) {
    const view = { id: e.id, ...copyOfData(specOf(e)), priority: e.priority, cookie: hexOf(e) }
    if (e.host) view.host = e.host
    return view
  }

  #matchesFilter(e, filter) {
    if (filter === null || typeof filter !== 'object') throw argError(TypeError, 'ERR_INVALID_ARG_TYPE', 'filter must be an object')
    const s = specOf(e)
    if (filter.vif !== undefined) {
      const uuid = typeof filter.vif === 'string' ? filter.vif : filter.vif?.uuid
      return s.vif?.uuid === String(uuid).toLowerCase()
    }
    if (filter.vm !== undefined) return s.vm?.uuid === String(filter.vm?.uuid ?? filter.vm).toLowerCase()
    if (filter.network !== undefined) return s.network?.uuid === String(filter.network?.uuid ?? filter.network).toLowerCase()
    return true
  }

  /** validate() through the rule list, which keeps the rule it parsed for the insert or update that follows. */
  #validate(rule) {
    return validate(rule, (json) => this.#list.validate(json))
  }

  /**
   * Takes what the native list decided (priorities, generations, numbers, cookies)
   * into the mirror, for the rules from `placement.start` on (all after a respread).
   */
  #mirror(placement) {
    const { start, priorities, generations, numbers, cookies } = placement
    if (placement.respread) this.#version++
    for (let i = 0; i < priorities.length; i++) {
      const e = this.#rules[start + i]
      e.priority = priorities[i]
      e.generation = generations[i]
      e.number = numbers[i]
      e.cookie = cookies[i]
    }
  }

  // ---- internals: hosts, topology ----

  async #ovsdbOf(host) {
    if (host.ovsdb) return host.ovsdb
    if (!host.ovsdbConnecting) {
      host.ovsdbConnecting = (async () => {
        const client = new OvsdbClient({ host: host.address, port: host.ovsdbPort, tls: this.#tls, ...(this.#tls ? host.hostTls : {}), ...this.#opts.ovsdb })
        client.on('error', (err) => this.#background(`OVSDB of host ${host.id}`, Object.assign(err, { host: host.id })))
        try {
          await client.connect()
        } catch (err) {
          await client.close().catch(() => {})
          throw Object.assign(err, { host: host.id })
        }
        if (this.#closed || this.#hosts.get(host.id) !== host) {
          await client.close()
          throw fail('SDN_CLOSED', 'the controller or host was closed while connecting')
        }
        // Interfaces appearing, moving or changing ofport move the flows with them.
        client.on('row', ({ table }) => {
          if (table === 'Interface' || table === 'Port' || table === 'Bridge') this.#scheduleRefresh(host)
        })
        client.on('reconnected', () => this.#scheduleRefresh(host))
        host.ovsdb = client
        return client
      })().finally(() => {
        host.ovsdbConnecting = null
      })
    }
    return host.ovsdbConnecting
  }

  #scheduleRefresh(host) {
    if (host.refreshTimer || this.#closed) return
    host.refreshTimer = setTimeout(() => {
      host.refreshTimer = null
      if (this.#closed || this.#hosts.get(host.id) !== host) return
      this.#refreshHost(host, { send: true }).catch((err) => this.#background(`flows of host ${host.id} not moved with its interfaces`, Object.assign(err, { host: host.id })))
    }, 50)
    host.refreshTimer.unref?.()
  }

  /**
   * bridge -> endpoints of `spec` on `host` (HVM guests have both a vif and a tap
   * interface: both are covered). Computed once per target and vifInterfaces()
   * snapshot: the rules of one VIF share the answer, which callers only read, and its
   * endpoint arrays (compared by identity, their JSON written once).
   */
  #endpoints(spec, interfaces) {
    const index = this.#indexOf(interfaces)
    const v = spec.vif
    const key = v ? `vif\0${v.uuid}\0${v.mac}\0${v.ips ?? ''}` : spec.vm ? `vm\0${spec.vm.uuid}` : spec.network ? `network\0${spec.network.uuid}` : 'pool'
    let out = index.targets.get(key)
    if (out === undefined) index.targets.set(key, (out = this.#findEndpoints(spec, interfaces, index)))
    return out
  }

  #findEndpoints(spec, interfaces, index) {
    const out = new Map()
    for (const [bridge, list] of interfaces) {
      let eps
      const vif = spec.vif
      if (vif) eps = (index.get(bridge).get(vif.uuid) ?? []).map((i) => ({ ofport: i.ofport, mac: vif.mac, ips: vif.ips ?? [] }))
      else {
        const pick = spec.vm ? (i) => i.vmUuid === spec.vm.uuid : spec.network ? (i) => i.networks.includes(spec.network.uuid) : () => true
        eps = list.filter((i) => pick(i) && i.mac).map((i) => ({ ofport: i.ofport, mac: i.mac, ips: [] }))
      }
      if (eps.length > 0) out.set(bridge, eps)
    }
    return out
  }

  #vifIndexes = new WeakMap() // vifInterfaces() result -> bridge -> vif uuid -> interfaces

  /** The interfaces of a vifInterfaces() result by VIF uuid, per bridge (built once per result: a rule targets a VIF by uuid). */
  #indexOf(interfaces) {
    let index = this.#vifIndexes.get(interfaces)
    if (!index) {
      index = new Map()
      for (const [bridge, list] of interfaces) {
        const byVif = new Map()
        for (const i of list) byVif.set(i.vifUuid, [...(byVif.get(i.vifUuid) ?? []), i])
        index.set(bridge, byVif)
      }
      index.targets = new Map() // see #endpoints
      this.#vifIndexes.set(interfaces, index)
    }
    return index
  }

  /**
   * Connects the OVSDB clients the rule needs and checks its target exists: a VIF
   * found on no reachable host, with every host answering, is an error and nothing
   * is applied. Resolves the ids of the hosts reached.
   */
  #resolveTargets(specs, onlyHost) {
    const hosts = onlyHost ? [this.#host(onlyHost)] : [...this.#hosts.values()]
    if (hosts.length === 0) throw fail('SDN_NO_HOSTS', 'no host registered: call addHost() first')
    // Every replica already there (the usual case): no I/O, and nothing to wait for.
    if (hosts.every((h) => h.ovsdb)) return this.#checkTargets(specs, onlyHost, hosts, NO_ERRORS, true)
    return this.#consultTargets(specs, onlyHost, hosts)
  }

  async #consultTargets(specs, onlyHost, hosts) {
    // A replica already there needs no I/O (a host known down is refused by the call's own consult).
    const results = await Promise.allSettled(hosts.map((h) => (h.ovsdb ? h.ovsdb : this.#consult(h, () => this.#ovsdbOf(h)))))
    // Hosts not consulted: their error is their outcome (nothing dialled again for them in this call).
    const unreached = new Map(hosts.map((h, i) => [h.id, results[i].reason]).filter(([, e]) => e !== undefined))
    const reached = hosts.filter((_, i) => results[i].status === 'fulfilled')
    return this.#checkTargets(specs, onlyHost, reached, unreached, reached.length === hosts.length)
  }

  /** #resolveTargets once the replicas of `reached` are there: the ids of the hosts reached, `.unreached` the others' errors. */
  #checkTargets(specs, onlyHost, reached, unreached, everyHostAnswered) {
    const interfaces = reached.map((h) => h.ovsdb.vifInterfaces())
    for (const spec of specs) {
      if (spec.vif || spec.vm) {
        if (!everyHostAnswered || interfaces.some((i) => this.#endpoints(spec, i).size > 0)) continue
        const what = spec.vif ? `VIF ${spec.vif.uuid}` : `VM ${spec.vm.uuid}`
        throw fail(spec.vif ? 'SDN_VIF_NOT_FOUND' : 'SDN_VM_NOT_FOUND', `${what} is on no host${onlyHost ? ` (looked on ${onlyHost})` : ''}: nothing was applied`)
      }
      if (spec.network && everyHostAnswered && !reached.some((h) => h.ovsdb.getBridgeForNetwork(spec.network.uuid) !== undefined)) {
        throw fail('SDN_NETWORK_NOT_FOUND', `network ${spec.network.uuid} has a bridge on no host: nothing was applied`)
      }
    }
    const out = new Set(reached.map((h) => h.id))
    out.unreached = unreached
    return out
  }

  #hostsOf(entry) {
    return entry.host ? [this.#host(entry.host)] : [...this.#hosts.values()]
  }

  /** The hosts of all `entries`, as a Set (one pass, no array per entry: batches hold 10,000). */
  #hostsOfAll(entries) {
    const named = new Set()
    let everyHost = false
    for (let i = 0; i < entries.length; i++) {
      const host = entries[i].host
      if (host) named.add(host)
      else everyHost = true
    }
    const hosts = new Set([...named].map((id) => this.#host(id)))
    if (everyHost) for (const h of this.#hosts.values()) hosts.add(h)
    return hosts
  }

  #switchOf(host, bridge) {
    let sw = host.switches.get(bridge)
    if (!sw) host.switches.set(bridge, (sw = new Switch(host, bridge, this.#opts.tableId, this.#list)))
    return sw
  }

  /**
   * Recomputes the desired flows of every switch of `host`: where each rule lands
   * now, plus the providers' flows; cookies nobody wants any more are dropped.
   * With `send`, pushes the differences: adds first, then deletes.
   */
  async #refreshHost(host, { send }) {
    await this.#ovsdbOf(host)
    const version = this.#version
    const interfaces = host.ovsdb.vifInterfaces()
    // Nothing changed since the switches were last loaded (rules, providers, interfaces): they hold it.
    if (!send && this.#isLoaded(host, version, interfaces)) return
    const perBridge = this.#desired(host)
    for (const bridge of perBridge.keys()) this.#switchOf(host, bridge)
    await Promise.all(
      [...host.switches.values()].map((sw) =>
        sw.serial(async () => {
          if (send) await this.#prepare(sw)
          // Read again: adoption may have changed a rule's generation.
          const { items, entries } = send ? (this.#desired(host).get(sw.bridge) ?? NOTHING) : (perBridge.get(sw.bridge) ?? NOTHING)
          const { delta: d, stale } = this.#load(sw, items)
          if (!send) return
          for (const e of entries) e.pinned = true
          if (d.addCount > 0) await this.#send(sw, [d.add])
          if (d.deleteCount > 0) await this.#send(sw, d.deletes)
          if (stale.length > 0) await this.#send(sw, stale)
        }),
      ),
    )
    if (this.#version === version && host.ovsdb?.vifInterfaces() === interfaces) {
      const bridges = [...perBridge.keys()]
      for (const sw of host.switches.values()) sw.loaded = { version, interfaces, bridges }
    }
  }

  /**
   * Do the switches of `host` hold the desired flows of `version` under `interfaces`?
   * Each was loaded (by a refresh, or at its first contact) or carried forward by
   * every command since (#advanceLoaded), and every bridge that state lands on has
   * its switch.
   */
  #isLoaded(host, version, interfaces) {
    if (host.switches.size === 0) return false
    for (const sw of host.switches.values()) {
      const l = sw.loaded
      if (l === null || l.version !== version || l.interfaces !== interfaces) return false
      for (const bridge of l.bridges) if (!host.switches.has(bridge)) return false
    }
    return true
  }

  /**
   * Command `version` reached every switch of `host` it concerns: the switches that
   * held the state just before it hold its own now, and a sync need not compute
   * them again (see #refreshHost). Its new bridges have switches (it created them).
   */
  #advanceLoaded(host, version) {
    const interfaces = host.ovsdb?.vifInterfaces()
    for (const sw of host.switches.values()) {
      const l = sw.loaded
      if (l?.version === version - 1 && interfaces === l.interfaces) sw.loaded = { ...l, version }
    }
  }

  /**
   * What every switch of `host` should hold now: bridge -> `{ items, entries }`,
   * the rules that land there (where their targets are, per the OVSDB replica)
   * and the providers' flows.
   */
  #desired(host) {
    const interfaces = host.ovsdb.vifInterfaces()
    const perBridge = new Map()
    const at = (bridge) => perBridge.get(bridge) ?? (perBridge.set(bridge, { items: [], entries: [] }), perBridge.get(bridge))
    for (const e of this.#rules) {
      if (e.host && e.host !== host.id) continue
      for (const [bridge, eps] of this.#endpoints(targetOf(e), interfaces)) {
        const b = at(bridge)
        b.items.push(ruleItem(e, eps, true))
        b.entries.push(e)
      }
    }
    for (const provider of this.#providers) {
      for (const [bridge, items] of provider.items(host.id, interfaces)) at(bridge).items.push(...items)
    }
    return perBridge
  }

  /** Makes `items` the desired flows of `sw` (cookies not among them dropped); the FLOW_MODs that would do it. */
  #load(sw, items) {
    const delta = sw.put(items)
    const wanted = new Set(items.map((i) => cookieKey(i.cookie)))
    const stale = sw.cookies().filter((c) => !wanted.has(c)).map((c) => sw.remove(c)).filter(Boolean)
    return { delta, stale }
  }

  /**
   * First contact with a switch in this process: connect, then make it equal to
   * the desired state before any call touches it. Runs once per switch (again
   * after importState), inside the switch's serial queue.
   */
  #prepare(sw) {
    if (sw.adopted) return Promise.resolve(null)
    sw.adopting ??= this.#adopt(sw)
      .then((r) => {
        sw.adopted = true
        if (r.added + r.removed + r.adopted > 0) this.#logger.info('switch adopted', { host: sw.host.id, bridge: sw.bridge, ...r })
        this.emit('adopted', { host: sw.host.id, bridge: sw.bridge, ...r })
        return r
      })
      .finally(() => {
        sw.adopting = null
      })
    return sw.adopting
  }

  /**
   * Adoption: reads our cookie namespace on the switch and reconciles it with the
   * desired state. Flows of rules nobody wants go; a rule's flows that are already
   * exactly right stay untouched (a rule this process has not installed anywhere
   * yet takes the generation the switch holds); anything else is replaced
   * make-before-break: the missing flows first, behind a barrier, then the others.
   */
  async #adopt(sw) {
    const channel = await this.#channelOf(sw)
    const host = sw.host
    const load = () => {
      const desired = this.#desired(host)
      const { items, entries } = desired.get(sw.bridge) ?? NOTHING
      this.#load(sw, items)
      sw.loaded = { version: this.#version, interfaces: host.ovsdb.vifInterfaces(), bridges: [...desired.keys()] }
      return entries
    }
    const dumpNow = () => channel.requestEncoded(sw.table.dumpRequest())
    let entries = load()
    // The whole table once: the flows of others (never replaced) and ours.
    const dump = await channel.requestEncoded(sw.table.dumpAllRequest())
    let r = this.#reconcileAll(sw, dump)
    const candidates = this.#adoptable(entries, r, () => sw.table.reconcile(dump).rules)
    if (candidates.length > 0) {
      for (const c of candidates) this.#setGeneration(c.entry, c.generation)
      entries = load()
      r = sw.table.reconcile(dump)
      const exact = new Set(r.rules.filter((x) => x.expected > 0 && x.present === x.expected && x.missing === 0).map((x) => hexCookie(x.cookie)))
      const extra = new Set(r.extra.map((x) => hexCookie(x.cookie)))
      const rejected = candidates.filter((c) => !exact.has(hexCookie(c.entry.cookie)) || extra.has(hexCookie(c.entry.cookie)))
      for (const c of rejected) this.#setGeneration(c.entry, c.previous)
      if (rejected.length > 0) {
        entries = load()
        r = sw.table.reconcile(dump)
      }
      candidates.splice(0, candidates.length, ...candidates.filter((c) => !rejected.includes(c)))
    }
    for (const e of entries) e.pinned = true
    const added = r.addCount
    let removed = r.deleteCount
    let refused = []
    if (r.addCount > 0) {
      const safe = this.#withoutConflicts(sw, r.add)
      refused = safe.refused
      if (safe.bytes.length > 0) await channel.sendEncoded(safe.bytes)
      // An add may have overwritten a flow of ours with the same cookie, match and
      // priority but other actions; read again so the delete cannot take it.
      if (r.deleteCount > 0) {
        r = sw.table.reconcile(await dumpNow())
        removed = r.deleteCount
      }
    }
    if (removed > 0) await channel.sendEncoded(r.delete)
    // Reported (logger), not thrown: the calls whose rules they are say so in their outcome.
    if (refused.length > 0) this.#conflictError(sw, refused)
    return { added: added - refused.length, removed, adopted: candidates.length }
  }

  /**
   * Rules of `entries` whose own cookie has no flow on the switch but whose number
   * has flows there in another generation, and whose generation is still free to
   * choose (not installed anywhere by this process): `{ entry, generation, previous }`.
   * `reports()` gives the per-rule reports of `r`, read only when other generations are there.
   */
  #adoptable(entries, r, reports) {
    const generations = new Map() // number -> [{ generation, count }]
    for (const x of r.extra) {
      const p = native.parseCookie(x.cookie)
      if (!p) continue
      const list = generations.get(p.ruleNumber) ?? (generations.set(p.ruleNumber, []), generations.get(p.ruleNumber))
      list.push({ generation: p.generation, count: x.count })
    }
    if (generations.size === 0) return []
    const present = new Map(reports().map((x) => [hexCookie(x.cookie), x]))
    const out = []
    for (const e of new Set(entries)) {
      const gens = generations.get(e.number)
      const mine = present.get(hexCookie(e.cookie))
      if (e.pinned || !gens || !mine || mine.present > 0) continue
      const best = gens.reduce((a, b) => (b.count > a.count ? b : a))
      out.push({ entry: e, generation: best.generation, previous: e.generation })
    }
    return out
  }

  #setGeneration(e, generation) {
    this.#version++
    e.generation = generation
    e.cookie = nativeCall(() => this.#list.setGeneration(e.id, generation))
  }

  /**
   * Installs `entries` (their current cookie and priority) on every host they
   * target; then, where that succeeded, deletes the flows of `previous` (older
   * generations of the same rules): make-before-break per switch.
   */
  async #applyEverywhere(entries, reached, previous = []) {
    const hosts = this.#hostsOfAll(entries)
    // Older generations to delete: those no current entry still carries. Read when
    // deleting: a first contact may give an entry back the generation the switch holds.
    const staleNow = () => {
      if (previous.length === 0) return []
      const current = new Set(entries.map((e) => e.cookie))
      return previous.map((p) => p.cookie).filter((c) => c !== undefined && !current.has(c))
    }
    const stale = staleNow()
    const version = this.#version // this command's (see #applyAndSave)
    const out = {}
    await Promise.all(
      [...hosts].map(async (host) => {
        try {
          if (reached && !reached.has(host.id)) throw reached.unreached.get(host.id) ?? fail('SDN_HOST_UNREACHABLE', `host ${host.id} was not consulted`, { host: host.id })
          out[host.id] = await this.#consult(host, () => this.#applyOnHost(host, entries, stale, staleNow))
          this.#advanceLoaded(host, version)
        } catch (error) {
          out[host.id] = { ok: false, error: this.#failed(host, error) }
        }
      }),
    )
    return out
  }

  /**
   * #applyEverywhere's work on one host. With `each` (a Map), also each entry's own
   * outcome there: `{ ok: true, flows }`, or `{ ok: false, error }` when flows of its
   * own were refused over a foreign flow (then the others are not failed for it).
   */
  async #applyOnHost(host, entries, stale, staleNow, each = null) {
    await this.#ovsdbOf(host)
    const interfaces = host.ovsdb.vifInterfaces()
    const perSwitch = new Map()
    // The rules of a batch share their target objects: where one lands is looked up once.
    const landings = new Map() // target -> [[switch's list, endpoints]]
    for (let k = 0; k < entries.length; k++) {
      const e = entries[k]
      if (e.host && e.host !== host.id) continue
      const target = targetOf(e)
      let where = landings.get(target)
      if (where === undefined) {
        where = []
        for (const [bridge, eps] of this.#endpoints(target, interfaces)) {
          const sw = this.#switchOf(host, bridge)
          if (!perSwitch.has(sw)) perSwitch.set(sw, [])
          where.push([perSwitch.get(sw), eps])
        }
        landings.set(target, where)
      }
      for (let i = 0; i < where.length; i++) where[i][0].push([e, where[i][1]])
    }
    // Switches that held an older generation must drop it even if the rule no longer lands there.
    if (stale.length > 0) for (const sw of host.switches.values()) if (!perSwitch.has(sw)) perSwitch.set(sw, [])
    let flows = 0
    const errors = []
    await Promise.all(
      [...perSwitch].map(([sw, list]) =>
        this.#commit(sw, { list, staleNow, each }).then(
          (n) => {
            flows += n
          },
          (err) => errors.push(err),
        ),
      ),
    )
    if (errors.length > 0) throw errors[0]
    // Flows of these rules refused because a foreign flow holds their match and priority
    // (whichever path sent them: this call, or a first contact).
    for (const [sw, all] of perSwitch) {
      if (sw.foreignPriorities.size === 0) continue
      const list = all.filter((pair) => sw.foreignPriorities.has(pair[0].priority))
      if (list.length === 0) continue
      if (each === null) {
        const refused = sw.table.withoutForeign(this.#compile(list.map(([e, eps]) => this.#ruleItem(e, eps))))?.refused ?? []
        if (refused.length > 0) throw this.#conflictError(sw, refused)
        continue
      }
      for (const [e, eps] of list) {
        const refused = sw.table.withoutForeign(this.#compile([this.#ruleItem(e, eps)]))?.refused ?? []
        if (refused.length > 0) each.set(e, { ok: false, error: this.#conflictError(sw, refused) })
      }
    }
    return { ok: true, flows }
  }

  /**
   * Group commit above the switches: the addRule calls of one tick that reached the
   * same hosts are applied together (each host consulted once, each switch one put
   * and one batch) and each call still gets its own outcome: its own flows per host,
   * the host's error, or the refusal of its own flows.
   */
  #applyJoined(entry, reached) {
    // Every host reached (the usual case) needs no key written.
    const everyHost = reached.unreached.size === 0 && reached.size === this.#hosts.size
    const key = everyHost ? '' : `${[...reached].join('\0')}\0\0${[...reached.unreached.keys()].join('\0')}`
    let group = this.#joining.get(key)
    if (group === undefined) {
      group = { entries: [], reached, run: null }
      this.#joining.set(key, group)
      group.run = new Promise((resolve) => setImmediate(resolve)).then(() => {
        this.#joining.delete(key)
        return this.#applyEach(group.entries, group.reached)
      })
    }
    group.entries.push(entry)
    return group.run.then((outcomes) => {
      const outcome = outcomes.get(entry)
      if (outcome instanceof Error) throw outcome
      return outcome
    })
  }

  /**
   * #applyEverywhere for new entries (nothing older to delete), with an outcome per
   * entry: entry -> hostId -> outcome, or the error of that entry alone (its host
   * was removed meanwhile).
   */
  async #applyEach(entries, reached) {
    const outcomes = new Map()
    const hosts = new Set()
    for (const e of entries) {
      try {
        for (const h of this.#hostsOf(e)) hosts.add(h)
        outcomes.set(e, {})
      } catch (error) {
        outcomes.set(e, error)
      }
    }
    entries = entries.filter((e) => !(outcomes.get(e) instanceof Error))
    await Promise.all(
      [...hosts].map(async (host) => {
        const mine = entries.filter((e) => !e.host || e.host === host.id)
        try {
          if (!reached.has(host.id)) throw reached.unreached.get(host.id) ?? fail('SDN_HOST_UNREACHABLE', `host ${host.id} was not consulted`, { host: host.id })
          const each = new Map()
          await this.#consult(host, () => this.#applyOnHost(host, mine, [], () => [], each))
          for (const e of mine) {
            const o = each.get(e)
            // A refusal of its own flows fails the call there and, like any failure, schedules the host's repair.
            outcomes.get(e)[host.id] = o === undefined ? { ok: true, flows: 0 } : typeof o === 'number' ? { ok: true, flows: o } : { ok: false, error: this.#failed(host, o.error) }
          }
        } catch (error) {
          const failed = { ok: false, error: this.#failed(host, error) }
          for (const e of mine) outcomes.get(e)[host.id] = failed
        }
      }),
    )
    return outcomes
  }

  /**
   * Group commit: runs `job` (`{ list: [[entry, endpoints]], staleNow }`) on `sw`
   * together with every job that arrives while the switch is busy: one put, the adds
   * of all of them behind one barrier, then all their deletes behind one barrier.
   * Concurrent calls share two round trips instead of queueing two each. Resolves the
   * job's own flow count; a failure of the batch is the failure of every job in it
   * (flows refused over a foreign flow are reported per call by #applyOnHost).
   */
  #commit(sw, job) {
    let group = sw.nextGroup
    if (!group) {
      group = sw.nextGroup = { jobs: [] }
      group.run = sw.serial(() => {
        sw.nextGroup = null
        return this.#runGroup(sw, group.jobs)
      })
    }
    group.jobs.push(job)
    return group.run.then((counts) => counts.get(job))
  }

  async #runGroup(sw, jobs) {
    const adoption = await this.#prepare(sw)
    // A rule in two jobs (a respread and a concurrent add): its current form, once.
    // One job (an addRules alone) lists each of its rules once already.
    let latest = jobs[0].list
    if (jobs.length > 1) {
      const byEntry = new Map()
      for (const { list } of jobs) for (const [e, eps] of list) byEntry.set(e, eps)
      latest = [...byEntry]
    }
    // Each slice of adds goes out as soon as it is compiled: the switch ingests it
    // while the next one compiles.
    const adds = []
    const items = new Array(latest.length)
    for (let i = 0; i < latest.length; i++) items[i] = this.#ruleItem(latest[i][0], latest[i][1])
    // One job's rules are distinct rules, hence distinct cookies.
    const d = sw.put(items, (bytes) => adds.push(this.#sendUnlessForeign(sw, bytes)), { distinct: jobs.length === 1 })
    for (let i = 0; i < latest.length; i++) latest[i][0].pinned = true
    // Each job's flows here: what this put sends for its rules, unless a first contact just sent them.
    const counts = new Map()
    const flowsOf = adoption === null ? (pair) => d.added.get(pair[0].cookie) ?? 0 : (pair) => this.#scratch.flowCount(specJsonOf(pair[0]), endpointsJson(pair[1]))
    for (const job of jobs) {
      let n = 0
      for (let i = 0; i < job.list.length; i++) {
        const item = job.list[i]
        const mine = flowsOf(item)
        n += mine
        if (job.each) job.each.set(item[0], (job.each.get(item[0]) ?? 0) + mine) // an entry on several switches: their sum
      }
      counts.set(job, n)
    }
    // Deletes after the adds: flows a rule no longer wants here, and older generations.
    const dels = [...d.deletes]
    for (const c of new Set(jobs.flatMap((j) => j.staleNow()))) {
      const del = sw.remove(c)
      if (del) dels.push(del)
    }
    await allOrFirstError(adds)
    if (dels.length > 0) await this.#sendUnlessForeign(sw, dels.length === 1 ? dels[0] : Buffer.concat(dels))
    return counts
  }

  /** Sends FLOW_MODs barrier-confirmed, without the ADDs a foreign flow holds the key of (their callers report those). */
  async #sendUnlessForeign(sw, bytes) {
    const channel = sw.channel ?? (await this.#channelOf(sw))
    const { bytes: kept } = this.#withoutConflicts(sw, bytes)
    try {
      if (kept.length > 0) await channel.sendEncoded(kept)
    } catch (err) {
      throw Object.assign(err, { host: sw.host.id, bridge: sw.bridge })
    }
  }

  #ruleItem(e, eps) {
    return ruleItem(e, eps, this.#byId.get(e.id) === e)
  }

  /** The FLOW_MODs `items` compile to, encoded back to back (no switch touched). */
  #compile(items) {
    this.#scratch.clear()
    return items.length === 0 ? Buffer.alloc(0) : nativeCall(() => this.#scratch.putManyFrom(this.#list, `[${items.map((i) => entryText(i)).join(',')}]`)).add
  }

  async #refreshAll() {
    const out = {}
    await Promise.all(
      [...this.#hosts.values()].map(async (host) => {
        try {
          out[host.id] = await this.#consult(host, async () => {
            await this.#refreshHost(host, { send: true })
            return { ok: true }
          })
        } catch (error) {
          out[host.id] = { ok: false, error: this.#failed(host, error) }
        }
      }),
    )
    return out
  }

  /**
   * Runs `fn(switch)` on every switch of every host (connecting OVSDB first), and
   * on the bridges `bridgesOf(host, interfaces)` names; outcome per host. It is the
   * whole of a command (see #applyAndSave): a host where it succeeded holds it.
   */
  async #forEachSwitch(fn, bridgesOf) {
    const version = this.#version // this command's
    const out = {}
    await Promise.all(
      [...this.#hosts.values()].map(async (host) => {
        try {
          out[host.id] = await this.#consult(host, async () => {
            await this.#ovsdbOf(host)
            if (bridgesOf) for (const b of bridgesOf(host, host.ovsdb.vifInterfaces())) this.#switchOf(host, b)
            let flows = 0
            for (const sw of host.switches.values()) flows += await sw.serial(() => fn(sw))
            this.#advanceLoaded(host, version)
            return { ok: true, flows }
          })
        } catch (error) {
          out[host.id] = { ok: false, error: this.#failed(host, error) }
        }
      }),
    )
    return out
  }

  // ---- internals: OpenFlow ----

  /** The OpenFlow listener of a bridge: its passive Controller target (pssl with TLS, ptcp without), else the host's openflowPort. */
  #listenerOf(host, bridge) {
    const client = host.ovsdb
    const b = client.rows('Bridge').find((r) => r.name === bridge)
    const controllers = new Map(client.rows('Controller').map((c) => [c._uuid, c]))
    const scheme = this.#tls ? 'pssl' : 'ptcp'
    // A port given for this bridge beats XAPI's shared `pssl:` (6653), which OVS
    // binds for only one of the bridges.
    const ports = (b?.controller ?? []).map((u) => (controllers.get(u)?.target ?? '').split(':')).filter(([kind]) => kind === scheme)
    const own = ports.find(([, port]) => port)
    if (own) return Number(own[1])
    if (ports.length > 0) return 6653
    return host.openflowPort
  }

  async #channelOf(sw) {
    if (sw.channel) return sw.channel
    if (!sw.connecting) {
      sw.connecting = (async () => {
        const host = sw.host
        const client = await this.#ovsdbOf(host)
        const expectedDatapathId = client.getDatapathId(sw.bridge)
        const channel = new OpenFlowChannel({
          host: host.address,
          port: this.#listenerOf(host, sw.bridge),
          tls: this.#tls,
          ...(this.#tls ? host.hostTls : {}),
          ...(expectedDatapathId !== undefined ? { expectedDatapathId } : {}),
          ...this.#opts.openflow,
        })
        channel.on('error', (err) => this.#background(`OpenFlow of ${sw.bridge} on host ${host.id}`, Object.assign(err, { host: host.id, bridge: sw.bridge })))
        try {
          await channel.connect()
        } catch (err) {
          await channel.close().catch(() => {})
          throw Object.assign(err, { host: host.id, bridge: sw.bridge })
        }
        if (this.#closed || this.#hosts.get(host.id) !== host) {
          await channel.close()
          throw fail('SDN_CLOSED', 'the controller or host was closed while connecting')
        }
        channel.on('disconnected', (err) => {
          this.#logger.warn('switch disconnected', { host: host.id, bridge: sw.bridge, error: err })
          this.emit('hostDown', { host: host.id, bridge: sw.bridge, error: err })
        })
        channel.on('packetIn', (message) => {
          for (const p of this.#providers) {
            if (!p.onPacketIn) continue
            try {
              p.onPacketIn({ host: host.id, bridge: sw.bridge, message, send: (msgs) => channel.send(msgs) })
            } catch (err) {
              this.#background('a PACKET_IN handler failed', err, 'error')
            }
          }
        })
        // The switch came back (restart, network): it may have lost every flow.
        channel.on('reconnected', () => {
          this.emit('hostUp', { host: host.id, bridge: sw.bridge })
          this.#syncSwitch(sw).then(
            (r) => this.emit('synced', { [host.id]: { ok: true, ...r, bridge: sw.bridge } }),
            (err) => this.#background(`repair of ${sw.bridge} on host ${host.id} after its reconnect failed`, Object.assign(err, { host: host.id, bridge: sw.bridge })),
          )
        })
        sw.channel = channel
        return channel
      })().finally(() => {
        sw.connecting = null
      })
    }
    return sw.connecting
  }

  async #send(sw, buffers) {
    const channel = await this.#channelOf(sw)
    const { bytes, refused } = this.#withoutConflicts(sw, buffers.length === 1 ? buffers[0] : Buffer.concat(buffers))
    try {
      if (bytes.length > 0) await channel.sendEncoded(bytes)
    } catch (err) {
      throw Object.assign(err, { host: sw.host.id, bridge: sw.bridge })
    }
    if (refused.length > 0) throw this.#conflictError(sw, refused)
  }

  /**
   * Reconciles the switch's whole table (dumpAllRequest) with the desired flows, and
   * records the flows of others (any cookie but ours) by match and priority: an ADD
   * of ours with the same match and priority would replace one of them, and our
   * delete by cookie would then remove it. Done at first contact and at every sync.
   * Without the per-rule reports (`rules` is empty): no caller reads them.
   */
  #reconcileAll(sw, dump) {
    const r = sw.table.reconcileAll(dump, false)
    // Only an ADD at one of these priorities can collide: the others are not even decoded.
    sw.foreignPriorities = new Set(sw.table.foreignPriorities())
    return r
  }

  /** `bytes` (FLOW_MODs back to back) without the ADDs that would replace a foreign flow; those are `refused` (ovs-ofctl text). */
  #withoutConflicts(sw, bytes) {
    if (sw.foreignPriorities.size === 0) return { bytes, refused: [] }
    const filtered = sw.table.withoutForeign(bytes)
    return filtered ? { bytes: filtered.kept, refused: filtered.refused } : { bytes, refused: [] }
  }

  #conflictError(sw, keys) {
    const e = fail(
      'SDN_FLOW_CONFLICT',
      `${keys.length} flow(s) not installed on ${sw.bridge} of host ${sw.host.id}: another controller's flow has the same match and priority (${keys.slice(0, 3).join('; ')}${keys.length > 3 ? '; …' : ''}); ours would replace it`,
      { host: sw.host.id, bridge: sw.bridge, flows: keys },
    )
    this.#logger.warn('flows not installed over a foreign flow', { error: e, host: sw.host.id, bridge: sw.bridge })
    return e
  }

  async #dump(sw) {
    const channel = await this.#channelOf(sw)
    return channel.requestEncoded(sw.table.dumpRequest())
  }

  #syncSwitch(sw) {
    return sw.serial(async () => {
      const adoption = await this.#prepare(sw)
      const channel = await this.#channelOf(sw)
      const r = this.#reconcileAll(sw, await channel.requestEncoded(sw.table.dumpAllRequest()))
      // Deletes first: a flow of ours tampered with (same match, wrong action) is
      // both extra and missing, and the re-add must not be deleted after it.
      if (r.deleteCount > 0) await this.#send(sw, [r.delete])
      if (r.addCount > 0) await this.#send(sw, [r.add])
      let foreign = 0
      for (const [c, mods] of sw.foreign) {
        const have = new Set((await channel.dumpFlows({ tableId: this.#opts.tableId, cookie: c, cookieMask: ALL64 })).map(flowKey))
        const missing = mods.filter((m) => !have.has(flowKey(m)))
        if (missing.length > 0) await channel.send(missing)
        foreign += missing.length
      }
      return { added: r.addCount + foreign + (adoption?.added ?? 0), removed: r.deleteCount + (adoption?.removed ?? 0) }
    })
  }

  async #closeHost(host) {
    clearTimeout(host.refreshTimer)
    clearTimeout(host.repairTimer)
    host.repairTimer = null
    const waits = []
    for (const sw of host.switches.values()) {
      if (sw.connecting) waits.push(sw.connecting.then((c) => c.close(), () => {}))
      if (sw.channel) waits.push(sw.channel.close())
      sw.channel = null
    }
    if (host.ovsdbConnecting) waits.push(host.ovsdbConnecting.then((c) => c.close(), () => {}))
    if (host.ovsdb) waits.push(host.ovsdb.close())
    host.ovsdb = null
    await Promise.allSettled(waits)
  }
}

/** The named services a rule's `protocol` may give: `[{ name, clauses: [{ protocol, port }] }]`. */
function services() {
  return JSON.parse(native.listServices())
}

module.exports = { SdnController, services, DEFAULT_PRIORITIES, XO_PRIORITIES }
