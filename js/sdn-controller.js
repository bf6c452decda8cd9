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
const native = require('../native.js')
const { OpenFlowChannel } = require('./openflow-channel.js')
const { OvsdbClient } = require('./ovsdb-client.js')
const { TlsConfig } = require('./tls.js')
const { fail, argError, splitHostTls, checkDurations } = require('./options.js')
const { nativeCall } = require('./errors.js')
const { parseFlow, formatFlow } = require('./codec.js')

/** Above XAPI's VIF-locking flows (4000–8000), below XO's bands (35001–65000). */
const DEFAULT_PRIORITIES = { min: 10000, max: 34999 }
/** XO's own bands, for a controller that takes over XO-managed priorities. */
const XO_PRIORITIES = { min: 35001, max: 65000 }

const STATE_VERSION = 1

function hexCookie(c) {
  return typeof c === 'string' ? c : '0x' + c.toString(16).padStart(16, '0')
}

// Our cookie tag, from the Rust core (src/rules/cookie.rs), its one definition.
const { value: NAMESPACE, mask: NS_MASK } = native.cookieNamespace()
const ALL64 = (1n << 64n) - 1n
function foreignCookie(v) {
  if (typeof v === 'bigint' && v >= 0n && v <= ALL64) return v
  if (typeof v === 'string' && /^0x[0-9a-f]{1,16}$/i.test(v)) return BigInt(v)
  throw argError(TypeError, 'ERR_INVALID_ARG_VALUE', `cookie must be a 64-bit BigInt or '0x' + 1..16 hex digits, got ${String(v)}`)
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

/** One entry of NativeFlowTable.putMany: a rule for endpoints, or raw FLOW_MODs. */
function entryText(item) {
  const cookie = hexCookie(item.cookie)
  return item.flows
    ? `{"cookie":"${cookie}","flows":"${item.flows.toString('hex')}"}`
    : `{"cookie":"${cookie}","priority":${item.priority},"rule":${item.specJson},"endpoints":${JSON.stringify(item.endpoints)}}`
}

/** A rule compiled for the endpoints it has on one switch. */
function ruleItem(e, endpoints) {
  e.specJson ??= JSON.stringify(e.spec)
  return { cookie: e.cookie, priority: e.priority, specJson: e.specJson, endpoints }
}

/** Normalized rule (Rust validates every field and names it in the error). */
function validate(rule) {
  if (rule === null || typeof rule !== 'object' || Array.isArray(rule)) {
    const got = rule === null ? 'null' : Array.isArray(rule) ? 'an array' : typeof rule
    throw argError(TypeError, 'ERR_INVALID_ARG_TYPE', `rule must be an object, got ${got}`)
  }
  let json
  try {
    json = JSON.stringify(rule)
  } catch {
    // BigInt ports and the like: numbers for the validator to judge; anything else is not data.
    try {
      json = JSON.stringify(rule, (k, v) => (typeof v === 'bigint' ? Number(v) : v))
    } catch {
      throw argError(TypeError, 'ERR_INVALID_ARG_VALUE', 'rule must be plain data (JSON-serializable)')
    }
  }
  const text = nativeCall(() => native.validateRule(json))
  const spec = JSON.parse(text)
  // The normalized text is what the compiler reads; without an id it is reused as is.
  if (spec.id === undefined) Object.defineProperty(spec, SPEC_JSON, { value: text })
  return spec
}

const SPEC_JSON = Symbol('normalized JSON')

/** A new entry of the rule list. */
function entryOf(spec, fields) {
  const specJson = spec[SPEC_JSON]
  delete spec.id
  return { spec, specJson, ...fields }
}

function checkPriorities(p) {
  if (p === undefined || p === 'default') return { ...DEFAULT_PRIORITIES }
  if (p === 'xo') return { ...XO_PRIORITIES }
  if (p === null || typeof p !== 'object') throw argError(TypeError, 'ERR_INVALID_ARG_TYPE', "options.priorities must be 'default', 'xo' or { min, max }")
  const { min, max } = p
  if (!Number.isInteger(min) || !Number.isInteger(max) || min < 1 || max > 65535 || min > max) {
    throw argError(RangeError, 'ERR_OUT_OF_RANGE', 'options.priorities must satisfy 1 <= min <= max <= 65535')
  }
  if (min <= 8000) {
    throw argError(RangeError, 'ERR_OUT_OF_RANGE', 'options.priorities.min must be above 8000: XAPI VIF-locking flows use 4000-8000 and must stay below our rules')
  }
  return { min, max }
}

/** A switch: one bridge of one host, its desired flows and its channel. */
class Switch {
  constructor(host, bridge, tableId) {
    this.host = host
    this.bridge = bridge
    this.table = new native.NativeFlowTable(tableId)
    this.compiled = new Map() // hex cookie -> what it was compiled from: unchanged rules are not recompiled
    this.foreign = new Map() // cookie (BigInt) -> flow_mods a caller chose (putForeignFlows)
    this.channel = null
    this.connecting = null
    this.queue = Promise.resolve()
  }

  /**
   * Makes `items` the desired flows of their cookies (items of one cookie are
   * unioned), in one native call; returns the FLOW_MODs that change the switch
   * accordingly. An item is a rule compiled for endpoints, `{ cookie, priority,
   * specJson, endpoints }`, or raw flows, `{ cookie, flows: Buffer }`.
   */
  put(items) {
    const byCookie = new Map()
    for (const item of items) {
      const cookie = hexCookie(item.cookie)
      const text = entryText(item)
      const list = byCookie.get(cookie)
      if (list) list.push(text)
      else byCookie.set(cookie, [text])
    }
    const batch = []
    const keys = []
    for (const [cookie, texts] of byCookie) {
      const key = texts.join(',')
      if (this.compiled.get(cookie) === key) continue
      batch.push(key)
      keys.push([cookie, key])
    }
    if (batch.length === 0) return { addCount: 0, deleteCount: 0 }
    const delta = nativeCall(() => this.table.putMany(`[${batch.join(',')}]`))
    for (const [cookie, key] of keys) this.compiled.set(cookie, key)
    return delta
  }

  /** Cookies (hex) with desired flows here. */
  cookies() {
    return [...this.compiled.keys()]
  }

  remove(cookie) {
    this.compiled.delete(hexCookie(cookie))
    return this.table.remove(typeof cookie === 'bigint' ? cookie : BigInt(cookie))
  }

  clear() {
    this.compiled.clear()
    this.table.clear()
  }

  /** Runs `fn` after every earlier operation on this switch: a dump never sees a half-applied change. */
  serial(fn) {
    const run = this.queue.then(fn, fn)
    this.queue = run.catch(() => {})
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
  #nextNumber = 1
  #closed = false
  #syncTimer = null
  #providers = []
  #scratch = new native.NativeFlowTable(0)

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
   */
  constructor(options = {}) {
    super()
    if (options === null || typeof options !== 'object') throw argError(TypeError, 'ERR_INVALID_ARG_TYPE', 'options must be an object')
    const { tls, priorities, tableId = 0, openflow = {}, ovsdb = {}, syncIntervalMs = 300000, repair = {} } = options
    if (tls !== undefined && !(tls instanceof TlsConfig)) throw argError(TypeError, 'ERR_INVALID_ARG_TYPE', 'options.tls must be a TlsConfig')
    if (!Number.isInteger(tableId) || tableId < 0 || tableId > 254) throw argError(RangeError, 'ERR_OUT_OF_RANGE', 'options.tableId must be 0..254')
    checkDurations({ syncIntervalMs }, ['syncIntervalMs'])
    if (repair === null || typeof repair !== 'object') throw argError(TypeError, 'ERR_INVALID_ARG_TYPE', 'options.repair must be an object { minMs, maxMs }')
    checkDurations(repair, ['minMs', 'maxMs'])
    this.#tls = tls
    this.#priorities = checkPriorities(priorities)
    this.#opts = { tableId, openflow, ovsdb, syncIntervalMs, repair: { minMs: repair.minMs ?? 500, maxMs: repair.maxMs ?? 30000 } }
    if (syncIntervalMs > 0) {
      this.#syncTimer = setInterval(() => this.sync().catch((err) => this.emit('error', err)), syncIntervalMs)
      this.#syncTimer.unref?.()
    }
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
  async addRule(rule, { position, host } = {}) {
    this.#checkOpen()
    const spec = validate(rule)
    if (spec.id !== undefined && this.#byId.has(spec.id)) throw fail('SDN_RULE_EXISTS', `a rule with id ${spec.id} exists`)
    if (position !== undefined && (!Number.isInteger(position) || position < 0 || position > this.#rules.length)) {
      throw argError(RangeError, 'ERR_OUT_OF_RANGE', `position must be 0..${this.#rules.length}`)
    }
    const onlyHost = this.#checkHostOption(host)
    const reached = await this.#resolveTargets([spec], onlyHost)
    const entry = entryOf(spec, { id: spec.id ?? crypto.randomUUID(), number: this.#nextNumber++, generation: 0, priority: 0, host: onlyHost })
    const index = position ?? this.#rules.length
    const before = this.#rules.map((e) => ({ ...e }))
    this.#rules.splice(index, 0, entry)
    this.#byId.set(entry.id, entry)
    const renumbered = this.#assignPriority(index)
    // No room between the neighbours: every rule moved, so every old generation goes.
    const outcome = renumbered ? await this.#applyEverywhere(this.#rules, reached, before) : await this.#applyEverywhere([entry], reached)
    return { rule: this.#view(entry), hosts: outcome }
  }

  /**
   * Adds several rules at the end of the list, in the order given: all are
   * validated before anything is sent, then each switch gets them in one batch
   * behind one barrier. Resolves `{ rules, hosts }` like addRule.
   */
  async addRules(rules, { host } = {}) {
    this.#checkOpen()
    if (!Array.isArray(rules)) throw argError(TypeError, 'ERR_INVALID_ARG_TYPE', 'rules must be an array')
    const specs = rules.map((r, i) => {
      try {
        return validate(r)
      } catch (err) {
        err.message = `rules[${i}]: ${err.message}`
        throw err
      }
    })
    const ids = new Set()
    for (const s of specs) {
      if (s.id === undefined) continue
      if (this.#byId.has(s.id) || ids.has(s.id)) throw fail('SDN_RULE_EXISTS', `a rule with id ${s.id} exists`)
      ids.add(s.id)
    }
    const { min } = this.#priorities
    const last = this.#rules.length > 0 ? this.#rules[this.#rules.length - 1].priority : this.#priorities.max + 1
    if (last - specs.length < min) throw fail('SDN_TOO_MANY_RULES', `no room for ${specs.length} more rules below priority ${last} (band ${min}-${this.#priorities.max}); reorderRules() compacts the list`)
    const onlyHost = this.#checkHostOption(host)
    const reached = await this.#resolveTargets(specs, onlyHost)
    const entries = specs.map((spec, i) => {
      const number = this.#nextNumber++
      return entryOf(spec, { id: spec.id ?? crypto.randomUUID(), number, generation: 0, priority: last - 1 - i, host: onlyHost, cookie: nativeCall(() => native.ruleCookie(number, 0)) })
    })
    for (const e of entries) {
      this.#rules.push(e)
      this.#byId.set(e.id, e)
    }
    const outcome = await this.#applyEverywhere(entries, reached)
    return { rules: entries.map((e) => this.#view(e)), hosts: outcome }
  }

  /** Removes a rule (by id, or `{ id }`); its flows are deleted by cookie on every host. */
  async deleteRule(ref) {
    this.#checkOpen()
    const entry = this.#find(ref)
    this.#rules.splice(this.#rules.indexOf(entry), 1)
    this.#byId.delete(entry.id)
    const outcome = await this.#forEachSwitch(async (sw) => {
      const del = sw.remove(entry.cookie)
      if (del) await this.#send(sw, [del])
      return 0
    })
    return { rule: this.#view(entry), hosts: outcome }
  }

  /**
   * Changes a rule, make-before-break: its new flows (a new cookie generation, same
   * priority) are confirmed on a switch before the old ones are deleted there.
   */
  async updateRule(ref, patch) {
    this.#checkOpen()
    const entry = this.#find(ref)
    if (patch === null || typeof patch !== 'object') throw argError(TypeError, 'ERR_INVALID_ARG_TYPE', 'patch must be an object')
    if (patch.id !== undefined && patch.id !== entry.id) throw argError(TypeError, 'ERR_INVALID_ARG_VALUE', 'patch.id cannot change a rule id')
    const merged = { ...entry.spec, ...patch }
    for (const [k, v] of Object.entries(patch)) if (v === null || v === undefined) delete merged[k]
    // A new target replaces the old one.
    const targets = ['vif', 'vm', 'network', 'pool'].filter((t) => patch[t] !== undefined && patch[t] !== null)
    if (targets.length > 0) for (const t of ['vif', 'vm', 'network', 'pool']) if (!targets.includes(t)) delete merged[t]
    delete merged.id
    const spec = validate(merged)
    await this.#resolveTargets([spec], entry.host)
    const previous = { ...entry, spec: entry.spec }
    entry.spec = spec
    entry.specJson = undefined
    this.#nextGeneration(entry)
    const outcome = await this.#applyEverywhere([entry], null, [previous])
    return { rule: this.#view(entry), hosts: outcome }
  }

  /** Reorders the whole list: `ids` is a permutation of every rule id, first = highest priority. */
  async reorderRules(ids) {
    this.#checkOpen()
    if (!Array.isArray(ids)) throw argError(TypeError, 'ERR_INVALID_ARG_TYPE', 'ids must be an array of rule ids')
    const set = new Set(ids)
    if (set.size !== ids.length || ids.length !== this.#rules.length || !ids.every((id) => this.#byId.has(id))) {
      throw argError(TypeError, 'ERR_INVALID_ARG_VALUE', 'ids must list every rule id exactly once')
    }
    const previous = this.#rules.map((e) => ({ ...e }))
    this.#rules = ids.map((id) => this.#byId.get(id))
    this.#renumber()
    return { hosts: await this.#applyEverywhere(this.#rules, null, previous) }
  }

  /** The desired rules (no I/O), optionally filtered by target. */
  rules(filter = {}) {
    return this.#rules.filter((e) => this.#matchesFilter(e, filter)).map((e) => this.#view(e))
  }

  /**
   * The rules as the switches hold them: every rule (filtered by `{ vif }`,
   * `{ vm }` or `{ network }` uuid) with, per host, the flows expected, present and
   * missing and their packet/byte counters, plus `extra`: flows in our cookie
   * namespace that no rule wants (made by hand, or left by a failed delete).
   */
  async listRules(filter = {}) {
    this.#checkOpen()
    const perCookie = new Map() // cookie -> hostId -> report
    const extra = []
    const hosts = {}
    await Promise.all(
      [...this.#hosts.values()].map(async (host) => {
        try {
          await this.#refreshHost(host, { send: false })
          for (const sw of host.switches.values()) {
            const r = await sw.serial(async () => sw.table.reconcile(await this.#dump(sw)))
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
  async sync({ hosts } = {}) {
    this.#checkOpen()
    const targets = hosts === undefined ? [...this.#hosts.values()] : hosts.map((id) => this.#host(id))
    const out = {}
    await Promise.all(
      targets.map(async (host) => {
        try {
          await this.#refreshHost(host, { send: false })
          let added = 0
          let removed = 0
          for (const sw of host.switches.values()) {
            const r = await this.#syncSwitch(sw)
            added += r.added
            removed += r.removed
          }
          out[host.id] = { ok: true, added, removed }
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
    return {
      version: STATE_VERSION,
      priorities: { ...this.#priorities },
      nextRuleNumber: this.#nextNumber,
      rules: this.#rules.map((e) => ({ id: e.id, ...e.spec, priority: e.priority, number: e.number, generation: e.generation, ...(e.host ? { host: e.host } : {}) })),
    }
  }

  /** Replaces the desired state (no I/O; call sync() to apply it). Every rule is validated first. */
  importState(state) {
    this.#checkOpen()
    if (state === null || typeof state !== 'object' || state.version !== STATE_VERSION || !Array.isArray(state.rules)) {
      throw argError(TypeError, 'ERR_INVALID_ARG_VALUE', `state must come from exportState() (version ${STATE_VERSION})`)
    }
    const entries = state.rules.map((r, i) => {
      const { priority, number, generation, host, ...rule } = r
      if (!Number.isInteger(number) || number < 1 || !Number.isInteger(generation) || generation < 0 || generation > 255) {
        throw argError(TypeError, 'ERR_INVALID_ARG_VALUE', `state.rules[${i}] has no valid number/generation`)
      }
      if (!Number.isInteger(priority) || priority < this.#priorities.min || priority > this.#priorities.max) {
        throw argError(RangeError, 'ERR_OUT_OF_RANGE', `state.rules[${i}].priority is outside the priority band`)
      }
      const spec = validate(rule)
      const id = spec.id
      delete spec.id
      const entry = { id, spec, number, generation, priority, host }
      entry.cookie = nativeCall(() => native.ruleCookie(number, generation))
      return entry
    })
    this.#rules = entries
    this.#byId = new Map(entries.map((e) => [e.id, e]))
    // Providers (security groups, elastic IPs) may already hold numbers of this process.
    this.#nextNumber = Math.max(this.#nextNumber, state.nextRuleNumber ?? 1, ...entries.map((e) => e.number + 1))
    for (const host of this.#hosts.values()) for (const sw of host.switches.values()) sw.clear()
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
    return {
      /** A fresh rule number (for a provider's cookies). */
      allocateNumber: () => this.#nextNumber++,
      /** Numbers restored from a saved state must not be handed out again. */
      reserveNumbers: (upTo) => {
        this.#nextNumber = Math.max(this.#nextNumber, upTo + 1)
      },
      cookie: (number, generation) => nativeCall(() => native.ruleCookie(number, generation)),
      /** The FLOW_MODs `items` compile to (encoded back to back), without touching any switch. */
      compile: (items) => {
        this.#scratch.clear()
        return items.length === 0 ? Buffer.alloc(0) : nativeCall(() => this.#scratch.putMany(`[${items.map(entryText).join(',')}]`)).add
      },
      /** Recomputes and pushes every host (adds before deletes); outcome per host. */
      refresh: () => this.#refreshAll(),
      /** Sends messages on a switch's channel, barrier-confirmed. */
      send: (hostId, bridge, messages) => {
        const sw = this.#host(hostId).switches.get(bridge)
        if (!sw) throw fail('SDN_NO_SWITCH', `no channel to ${bridge} on ${hostId}`)
        return this.#channelOf(sw).then((c) => c.send(messages))
      },
      hosts: () => [...this.#hosts.keys()],
    }
  }

  // ---- flows chosen by the caller (XO's traffic-rules engine picks its own cookies and priorities) ----

  /** The connected OvsdbClient of host `id` (the controller's own: callers never close it). */
  async ovsdbOf(id) {
    this.#checkOpen()
    return this.#ovsdbOf(this.#host(id))
  }

  /**
   * Makes the flows carrying `cookie` on `bridge` of host `host` exactly `flows`
   * (priority `priority`, our table): ADD them + barrier, then DELETE_STRICT every
   * other flow of that cookie read back from the switch + barrier.
   */
  async putForeignFlows({ host: id, bridge, cookie, priority, flows } = {}) {
    this.#checkOpen()
    const c = foreignCookie(cookie)
    if ((c & NS_MASK) === NAMESPACE || c === 0n || c === 1n) throw argError(TypeError, 'ERR_INVALID_ARG_VALUE', `cookie ${hexCookie(c)} is 0, XAPI's 1, or in the controller's namespace`)
    if (!Number.isInteger(priority) || priority < 0 || priority > 65535) throw argError(RangeError, 'ERR_OUT_OF_RANGE', 'priority must be 0..65535')
    const { min, max } = this.#priorities
    if (priority >= min && priority <= max) throw argError(RangeError, 'ERR_OUT_OF_RANGE', `priority ${priority} is inside the controller's band ${min}-${max}`)
    if (!Array.isArray(flows)) throw argError(TypeError, 'ERR_INVALID_ARG_TYPE', 'flows must be an array')
    const tableId = this.#opts.tableId
    const mods = flows.map((f) => ({ ...toFlowMod(f, 'add'), command: 'add', cookie: c, cookieMask: 0n, priority, tableId, flags: [] }))
    const sw = await this.#foreignSwitch(id, bridge)
    return sw.serial(async () => {
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
  async deleteForeignFlows({ host: id, bridge, cookie, cookieMask = ALL64, flows, strict = false } = {}) {
    this.#checkOpen()
    const c = foreignCookie(cookie)
    const m = foreignCookie(cookieMask)
    if ((NAMESPACE & m & NS_MASK) === (c & m & NS_MASK)) throw argError(TypeError, 'ERR_INVALID_ARG_VALUE', 'this cookie/mask could select the controller\'s own flows')
    if ((1n & m) === (c & m)) throw argError(TypeError, 'ERR_INVALID_ARG_VALUE', 'this cookie/mask could select XAPI\'s flows (cookie 0x1)')
    if (flows === undefined && c === 0n) throw argError(TypeError, 'ERR_INVALID_ARG_VALUE', 'cookie 0 needs flows (it would delete the default NORMAL flow)')
    const command = strict ? 'delete_strict' : 'delete'
    const base = { type: 'flow_mod', command, tableId: this.#opts.tableId, cookie: c, cookieMask: m, outPort: 'any', outGroup: 'any' }
    const mods = flows === undefined ? [{ ...base, match: {} }] : flows.map((f) => ({ ...toFlowMod(f, command), ...base }))
    const sw = await this.#foreignSwitch(id, bridge)
    await sw.serial(async () => {
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
    const delay = Math.min(maxMs, minMs * 2 ** Math.min(host.repairAttempt++, 20)) * (0.75 + Math.random() / 4)
    host.repairTimer = setTimeout(() => {
      host.repairTimer = null
      if (this.#closed || this.#hosts.get(host.id) !== host) return
      this.sync({ hosts: [host.id] }).then(
        (r) => {
          if (!r.hosts[host.id]?.ok) return // #failed scheduled the next attempt
          host.repairAttempt = 0
          this.emit('hostUp', { host: host.id, repaired: r.hosts[host.id] })
        },
        (err) => this.emit('error', err),
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
    if (typeof host !== 'string' || !this.#hosts.has(host)) throw fail('SDN_HOST_NOT_FOUND', `no host ${String(host)}`)
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
    return { id: e.id, ...e.spec, priority: e.priority, cookie: hexCookie(e.cookie), ...(e.host ? { host: e.host } : {}) }
  }

  #matchesFilter(e, filter) {
    if (filter === null || typeof filter !== 'object') throw argError(TypeError, 'ERR_INVALID_ARG_TYPE', 'filter must be an object')
    const s = e.spec
    if (filter.vif !== undefined) {
      const uuid = typeof filter.vif === 'string' ? filter.vif : filter.vif?.uuid
      return s.vif?.uuid === String(uuid).toLowerCase()
    }
    if (filter.vm !== undefined) return s.vm?.uuid === String(filter.vm?.uuid ?? filter.vm).toLowerCase()
    if (filter.network !== undefined) return s.network?.uuid === String(filter.network?.uuid ?? filter.network).toLowerCase()
    return true
  }

  #nextGeneration(e) {
    e.generation = (e.generation + 1) & 0xff
    e.cookie = nativeCall(() => native.ruleCookie(e.number, e.generation))
  }

  /**
   * Gives the rule at `index` a priority between its neighbours; when there is no
   * room, spreads the whole list over the band again (returns true: every rule
   * must be rewritten).
   */
  #assignPriority(index) {
    const { min, max } = this.#priorities
    const e = this.#rules[index]
    const above = index > 0 ? this.#rules[index - 1].priority : max + 1
    const below = index < this.#rules.length - 1 ? this.#rules[index + 1].priority : min - 1
    e.cookie = nativeCall(() => native.ruleCookie(e.number, e.generation))
    if (above - below > 1) {
      // Appending takes the next priority down; inserting takes the middle.
      e.priority = index === this.#rules.length - 1 ? above - 1 : Math.floor((above + below) / 2)
      return false
    }
    if (this.#rules.length > max - min + 1) {
      this.#rules.splice(index, 1)
      this.#byId.delete(e.id)
      throw fail('SDN_TOO_MANY_RULES', `the priority band ${min}-${max} holds at most ${max - min + 1} rules`)
    }
    this.#renumber()
    return true
  }

  /** Spreads the priorities evenly (gaps keep later inserts cheap); every rule gets a new generation. */
  #renumber() {
    const { min, max } = this.#priorities
    const n = this.#rules.length
    const step = Math.max(1, Math.min(16, Math.floor((max - min + 1) / (n + 1))))
    this.#rules.forEach((e, i) => {
      e.priority = max - i * step
      this.#nextGeneration(e)
    })
  }

  // ---- internals: hosts, topology ----

  async #ovsdbOf(host) {
    if (host.ovsdb) return host.ovsdb
    if (!host.ovsdbConnecting) {
      host.ovsdbConnecting = (async () => {
        const client = new OvsdbClient({ host: host.address, port: host.ovsdbPort, tls: this.#tls, ...(this.#tls ? host.hostTls : {}), ...this.#opts.ovsdb })
        client.on('error', (err) => this.emit('error', Object.assign(err, { host: host.id })))
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
      this.#refreshHost(host, { send: true }).catch((err) => this.emit('error', Object.assign(err, { host: host.id })))
    }, 50)
    host.refreshTimer.unref?.()
  }

  /** bridge -> endpoints of `spec` on `host` (HVM guests have both a vif and a tap interface: both are covered). */
  #endpoints(spec, interfaces) {
    const out = new Map()
    for (const [bridge, list] of interfaces) {
      let eps
      if (spec.vif) eps = list.filter((i) => i.vifUuid === spec.vif.uuid).map((i) => ({ ofport: i.ofport, mac: spec.vif.mac, ips: spec.vif.ips ?? [] }))
      else {
        const pick = spec.vm ? (i) => i.vmUuid === spec.vm.uuid : spec.network ? (i) => i.networks.includes(spec.network.uuid) : () => true
        eps = list.filter((i) => pick(i) && i.mac).map((i) => ({ ofport: i.ofport, mac: i.mac, ips: [] }))
      }
      if (eps.length > 0) out.set(bridge, eps)
    }
    return out
  }

  /**
   * Connects the OVSDB clients the rule needs and checks its target exists: a VIF
   * found on no reachable host, with every host answering, is an error and nothing
   * is applied. Resolves the ids of the hosts reached.
   */
  async #resolveTargets(specs, onlyHost) {
    const hosts = onlyHost ? [this.#host(onlyHost)] : [...this.#hosts.values()]
    if (hosts.length === 0) throw fail('SDN_NO_HOSTS', 'no host registered: call addHost() first')
    const results = await Promise.allSettled(hosts.map((h) => this.#ovsdbOf(h)))
    const reached = hosts.filter((_, i) => results[i].status === 'fulfilled')
    const everyHostAnswered = reached.length === hosts.length
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
    return new Set(reached.map((h) => h.id))
  }

  #hostsOf(entry) {
    return entry.host ? [this.#host(entry.host)] : [...this.#hosts.values()]
  }

  #switchOf(host, bridge) {
    let sw = host.switches.get(bridge)
    if (!sw) host.switches.set(bridge, (sw = new Switch(host, bridge, this.#opts.tableId)))
    return sw
  }

  /**
   * Recomputes the desired flows of every switch of `host`: where each rule lands
   * now, plus the providers' flows; cookies nobody wants any more are dropped.
   * With `send`, pushes the differences: adds first, then deletes.
   */
  async #refreshHost(host, { send }) {
    await this.#ovsdbOf(host)
    const interfaces = host.ovsdb.vifInterfaces()
    const perBridge = new Map() // bridge -> items
    const itemsOf = (bridge) => perBridge.get(bridge) ?? (perBridge.set(bridge, []), perBridge.get(bridge))
    for (const e of this.#rules) {
      if (e.host && e.host !== host.id) continue
      for (const [bridge, eps] of this.#endpoints(e.spec, interfaces)) itemsOf(bridge).push(ruleItem(e, eps))
    }
    for (const provider of this.#providers) {
      for (const [bridge, items] of provider.items(host.id, interfaces)) itemsOf(bridge).push(...items)
    }
    for (const bridge of perBridge.keys()) this.#switchOf(host, bridge)
    await Promise.all(
      [...host.switches.values()].map((sw) =>
        sw.serial(async () => {
          const items = perBridge.get(sw.bridge) ?? []
          const d = sw.put(items)
          const wanted = new Set(items.map((i) => hexCookie(i.cookie)))
          const stale = sw.cookies().filter((c) => !wanted.has(c)).map((c) => sw.remove(c)).filter(Boolean)
          if (!send) return
          if (d.addCount > 0) await this.#send(sw, [d.add])
          if (d.deleteCount > 0) await this.#send(sw, [d.delete])
          if (stale.length > 0) await this.#send(sw, stale)
        }),
      ),
    )
  }

  /**
   * Installs `entries` (their current cookie and priority) on every host they
   * target; then, where that succeeded, deletes the flows of `previous` (older
   * generations of the same rules): make-before-break per switch.
   */
  async #applyEverywhere(entries, reached, previous = []) {
    const hosts = new Set(entries.flatMap((e) => this.#hostsOf(e)))
    // Older generations to delete: those no current entry still carries.
    const current = new Set(entries.map((e) => e.cookie))
    const stale = previous.map((p) => p.cookie).filter((c) => c !== undefined && !current.has(c))
    const out = {}
    await Promise.all(
      [...hosts].map(async (host) => {
        try {
          if (reached && !reached.has(host.id)) await this.#ovsdbOf(host) // throws the connection error
          const interfaces = host.ovsdb.vifInterfaces()
          const perSwitch = new Map()
          for (const e of entries) {
            if (e.host && e.host !== host.id) continue
            for (const [bridge, eps] of this.#endpoints(e.spec, interfaces)) {
              const sw = this.#switchOf(host, bridge)
              if (!perSwitch.has(sw)) perSwitch.set(sw, [])
              perSwitch.get(sw).push([e, eps])
            }
          }
          // Switches that held an older generation must drop it even if the rule no longer lands there.
          if (stale.length > 0) for (const sw of host.switches.values()) if (!perSwitch.has(sw)) perSwitch.set(sw, [])
          let flows = 0
          const errors = []
          await Promise.all(
            [...perSwitch].map(([sw, list]) =>
              sw
                .serial(async () => {
                  const d = sw.put(list.map(([e, eps]) => ruleItem(e, eps)))
                  flows += d.addCount
                  // Deletes here are flows a rule no longer wants on this switch; after the adds.
                  if (d.addCount > 0) await this.#send(sw, [d.add])
                  if (d.deleteCount > 0) await this.#send(sw, [d.delete])
                  const dels = stale.map((c) => sw.remove(c)).filter(Boolean)
                  if (dels.length) await this.#send(sw, dels)
                })
                .catch((err) => errors.push(err)),
            ),
          )
          if (errors.length > 0) throw errors[0]
          out[host.id] = { ok: true, flows }
        } catch (error) {
          out[host.id] = { ok: false, error: this.#failed(host, error) }
        }
      }),
    )
    return out
  }

  async #refreshAll() {
    const out = {}
    await Promise.all(
      [...this.#hosts.values()].map(async (host) => {
        try {
          await this.#refreshHost(host, { send: true })
          out[host.id] = { ok: true }
        } catch (error) {
          out[host.id] = { ok: false, error: this.#failed(host, error) }
        }
      }),
    )
    return out
  }

  /** Runs `fn(switch)` on every switch of every host (connecting OVSDB first); outcome per host. */
  async #forEachSwitch(fn) {
    const out = {}
    await Promise.all(
      [...this.#hosts.values()].map(async (host) => {
        try {
          await this.#ovsdbOf(host)
          let flows = 0
          for (const sw of host.switches.values()) flows += await sw.serial(() => fn(sw))
          out[host.id] = { ok: true, flows }
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
    for (const u of b?.controller ?? []) {
      const target = controllers.get(u)?.target ?? ''
      const [kind, port] = target.split(':')
      if (kind === scheme) return Number(port || 6653)
    }
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
        channel.on('error', (err) => this.emit('error', Object.assign(err, { host: host.id, bridge: sw.bridge })))
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
        channel.on('disconnected', (err) => this.emit('hostDown', { host: host.id, bridge: sw.bridge, error: err }))
        channel.on('packetIn', (message) => {
          for (const p of this.#providers) {
            if (!p.onPacketIn) continue
            try {
              p.onPacketIn({ host: host.id, bridge: sw.bridge, message, send: (msgs) => channel.send(msgs) })
            } catch (err) {
              this.emit('error', err)
            }
          }
        })
        // The switch came back (restart, network): it may have lost every flow.
        channel.on('reconnected', () => {
          this.emit('hostUp', { host: host.id, bridge: sw.bridge })
          this.#syncSwitch(sw).then(
            (r) => this.emit('synced', { [host.id]: { ok: true, ...r, bridge: sw.bridge } }),
            (err) => this.emit('error', Object.assign(err, { host: host.id, bridge: sw.bridge })),
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
    try {
      return await channel.sendEncoded(buffers.length === 1 ? buffers[0] : Buffer.concat(buffers))
    } catch (err) {
      throw Object.assign(err, { host: sw.host.id, bridge: sw.bridge })
    }
  }

  async #dump(sw) {
    const channel = await this.#channelOf(sw)
    return channel.requestEncoded(sw.table.dumpRequest())
  }

  #syncSwitch(sw) {
    return sw.serial(async () => {
      const r = sw.table.reconcile(await this.#dump(sw))
      // Deletes first: a flow of ours tampered with (same match, wrong action) is
      // both extra and missing, and the re-add must not be deleted after it.
      if (r.deleteCount > 0) await this.#send(sw, [r.delete])
      if (r.addCount > 0) await this.#send(sw, [r.add])
      let foreign = 0
      for (const [c, mods] of sw.foreign) {
        const channel = await this.#channelOf(sw)
        const have = new Set((await channel.dumpFlows({ tableId: this.#opts.tableId, cookie: c, cookieMask: ALL64 })).map(flowKey))
        const missing = mods.filter((m) => !have.has(flowKey(m)))
        if (missing.length > 0) await channel.send(missing)
        foreign += missing.length
      }
      return { added: r.addCount + foreign, removed: r.deleteCount }
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
