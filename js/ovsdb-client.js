'use strict'
// OvsdbClient: one persistent OVSDB (RFC 7047) connection to a host's
// ovsdb-server, with a live replica of the tables the SDN controller needs and the
// XCP-ng operations of XO's plugin. The Rust session (src/ovsdb) frames JSON-RPC,
// matches replies, answers and sends echo probes, checks every operation of a
// transaction and applies monitor updates to its replica; this file moves bytes
// (rustls by default, node:tls when the host only offers suites rustls refuses),
// reconnects, and indexes the replica for lookups without a round trip.

const { EventEmitter } = require('node:events')
const native = require('./binding.js')
const { TlsConfig, pemsOf } = require('./tls.js')
const { connectNodeSocket, codeOf } = require('./node-transport.js')
const { fail, argError, describe, splitHostTls, checkDurations, checkAddress, backoffDelay, withDeadline, optionsObject, callOptions, checkString, checkTimerMs } = require('./options.js')
const { classify } = require('./errors.js')

const DB = 'Open_vSwitch'
/** Tables replicated by default: what setBridgeController, tunnels and VIF lookups read. */
const DEFAULT_TABLES = {
  Open_vSwitch: ['bridges', 'ovs_version', 'external_ids'],
  Bridge: ['name', 'datapath_id', 'controller', 'protocols', 'ports', 'external_ids', 'other_config', 'fail_mode'],
  Port: ['name', 'interfaces', 'external_ids', 'other_config', 'tag'],
  Interface: ['name', 'type', 'ofport', 'options', 'external_ids', 'other_config', 'mac_in_use', 'error'],
  Controller: ['target', 'is_connected', 'inactivity_probe', 'connection_mode'],
}
const PRIVATE_NETWORK_KEY = 'xo:sdn-controller:private-network-uuid'

/** OVSDB notation helpers for transact(). */
const ovsdb = {
  uuid: (u) => ['uuid', u],
  namedUuid: (n) => ['named-uuid', n],
  set: (items) => ['set', items],
  map: (obj) => {
    if (obj === null || typeof obj !== 'object') throw argError(TypeError, 'ERR_INVALID_ARG_TYPE', `ovsdb.map takes an object, got ${describe(obj)}`)
    return ['map', Object.entries(obj)]
  },
  /** An optional column of a replicated row (a set of 0 or 1 value) as its value, or undefined. */
  one: (v) => (Array.isArray(v) ? v[0] : v),
}

/** Longest JSON-RPC message we send (what we read is capped in the Rust framer, src/ovsdb/framing.rs). */
const MAX_MESSAGE_BYTES = 64 * 1024 * 1024
const LONE_SURROGATE = /[\uD800-\uDBFF](?![\uDC00-\uDFFF])|(?<![\uD800-\uDBFF])[\uDC00-\uDFFF]/

/**
 * `value` as the JSON text of a request, checked first so that nothing the server
 * would choke on leaves (ovsdb-server drops the whole connection on a string with
 * U+0000, and every request in flight with it): plain JSON data only (no BigInt,
 * function, symbol, non-finite number, cycle), strings without U+0000 and without
 * lone surrogates (they are not UTF-8). TypeError/RangeError naming the path.
 */
function wireJson(value, path) {
  const seen = new Set()
  const walk = (v, at) => {
    switch (typeof v) {
      case 'string':
        if (v.includes('\u0000')) throw argError(TypeError, 'ERR_INVALID_ARG_VALUE', `${at} contains U+0000, which OVSDB strings cannot hold`)
        if (LONE_SURROGATE.test(v)) throw argError(TypeError, 'ERR_INVALID_ARG_VALUE', `${at} is not valid UTF-8 (a lone surrogate)`)
        return
      case 'number':
        if (!Number.isFinite(v)) throw argError(TypeError, 'ERR_INVALID_ARG_VALUE', `${at} must be a finite number, got ${v}`)
        return
      case 'boolean':
        return
      case 'object':
        if (v === null) return
        if (seen.has(v)) throw argError(TypeError, 'ERR_INVALID_ARG_VALUE', `${at} refers back to itself (a cycle is not JSON)`)
        seen.add(v)
        if (Array.isArray(v)) v.forEach((x, i) => walk(x, `${at}[${i}]`))
        else {
          const proto = Object.getPrototypeOf(v)
          if (proto !== Object.prototype && proto !== null) throw argError(TypeError, 'ERR_INVALID_ARG_TYPE', `${at} must be plain JSON data, got a ${v.constructor?.name ?? 'non-plain object'}`)
          for (const [k, x] of Object.entries(v)) {
            walk(k, `${at} key ${JSON.stringify(k)}`)
            if (x !== undefined) walk(x, `${at}.${k}`)
          }
        }
        seen.delete(v)
        return
      default:
        throw argError(TypeError, 'ERR_INVALID_ARG_TYPE', `${at} must be JSON data, got a ${typeof v}`)
    }
  }
  walk(value, path)
  const json = JSON.stringify(value)
  if (Buffer.byteLength(json) > MAX_MESSAGE_BYTES) throw argError(RangeError, 'ERR_OUT_OF_RANGE', `${path} is ${Buffer.byteLength(json)} bytes of JSON, above the ${MAX_MESSAGE_BYTES}-byte message cap`)
  return json
}

class OvsdbClient extends EventEmitter {
  #closedBecause = null // the session's reason when it ended the connection itself
  #opts
  #tls
  #hostTls
  #session = null
  #native = null
  #stream = null // { receive(session, data), send(session), end(), cut() }
  #timer = null
  #waiting = new Map()
  #ofPortWaits = new Set() // getOfPortForVif waits (their reject): close() ends them
  #tables = new Map() // table -> Map(uuid -> row, natural notation)
  #vifInterfaces = null // vifInterfaces() until a Bridge, Port or Interface row changes
  #closing = false
  #connected = false
  #attempt = 0
  #monitorSeq = 0
  #monitoredOnce = false
  #serverHasSince = undefined

  /**
   * @param {object} options
   * @param {string} options.host
   * @param {number} [options.port=6640]
   * @param {TlsConfig} [options.tls] omitted: plain TCP (ptcp: listeners, tests)
   * @param {string|Buffer} [options.serverCert] / fingerprint / ca / insecure: how the host is authenticated
   * @param {'auto'|'never'|'always'} [options.legacyTls='auto'] node:tls (OpenSSL) when rustls finds no shared cipher
   * @param {object} [options.tables] table -> columns to replicate (default: what the SDN controller needs)
   */
  constructor(options) {
    super()
    if (options === null || typeof options !== 'object') throw argError(TypeError, 'ERR_INVALID_ARG_TYPE', 'options must be an object')
    const { host, port = 6640, tls, legacyTls = 'auto', tables = DEFAULT_TABLES, ...others } = options
    checkAddress(host, port)
    if (tls !== undefined && !(tls instanceof TlsConfig)) throw argError(TypeError, 'ERR_INVALID_ARG_TYPE', 'options.tls must be a TlsConfig')
    if (!['auto', 'never', 'always'].includes(legacyTls)) throw argError(TypeError, 'ERR_INVALID_ARG_VALUE', "options.legacyTls must be 'auto', 'never' or 'always'")
    const { hostTls, rest } = splitHostTls(others)
    const opts = { host, port, legacyTls, tables, ...rest }
    checkDurations(opts, ['echoIntervalMs', 'echoTimeoutMs', 'connectTimeoutMs', 'requestTimeoutMs', 'reconnectMinMs', 'reconnectMaxMs'])
    if (tls) {
      const given = ['serverCert', 'fingerprint', 'ca'].filter((k) => hostTls[k] !== undefined).length + (hostTls.insecure === true ? 1 : 0)
      if (given === 0) throw fail('TLS_HOST_AUTH_REQUIRED', 'say how to authenticate the host: serverCert, fingerprint, ca, or insecure: true')
      if (given > 1) throw argError(TypeError, 'ERR_INVALID_ARG_VALUE', 'give only one of serverCert, fingerprint, ca, insecure')
    } else if (Object.keys(hostTls).length > 0) {
      throw argError(TypeError, 'ERR_INVALID_ARG_VALUE', 'host verification options need options.tls')
    }
    this.#opts = opts
    this.#tls = tls
    this.#hostTls = hostTls
    this.host = host
    this.port = port
  }

  // ---- transport ----

  async #openRustls() {
    let stream
    try {
      stream = native.__createStream(this.host, this.port, this.#opts.connectTimeoutMs, this.#tls?._native ?? null, this.#tls ? this.#hostTls : null, (...a) => {
        const [kind, payload, code, message] = a.length === 1 && Array.isArray(a[0]) ? a[0] : a
        if (kind === 'data') this.#onData(stream, payload)
        else this.#onClose(stream, code ? fail(code, message) : null)
      })
    } catch (err) {
      throw classify(err)
    }
    const failure = await stream.connect()
    if (failure) throw fail(failure.code, failure.message)
    // Reads and output stay native (no JS Buffer): a Buffer from Rust is freed only
    // when V8 collects it, and V8 let tens of MiB of them pile up under a flood.
    return {
      receive: (session, chunk) => session.receiveChunk(chunk),
      send: (session) => session.sendOutput(stream),
      end: () => stream.end(),
      cut: () => stream.end(true),
      id: stream,
      transport: 'rustls',
    }
  }

  async #openNode() {
    const { socket, cipher } = await connectNodeSocket(this.#opts, this.#tls ? pemsOf(this.#tls) : null, this.#hostTls)
    const send = (session) => {
      const out = session.takeOutput()
      if (out) socket.write(out)
    }
    const handle = { receive: (session, bytes) => session.receive(bytes), send, end: () => socket.end(), cut: () => socket.destroy(), id: socket, transport: 'node', cipher, unsent: () => socket.writableLength }
    let lastError = null
    socket.on('data', (d) => this.#onData(socket, d))
    socket.on('error', (e) => (lastError = e))
    socket.on('close', () => this.#onClose(socket, lastError ? fail(codeOf(lastError), lastError.message) : null))
    return handle
  }

  async #openTransport() {
    const legacy = this.#opts.legacyTls
    if (!this.#tls || legacy === 'never') return this.#openRustls()
    if (legacy === 'always') return this.#warnLegacy(await this.#openNode())
    try {
      return await this.#openRustls()
    } catch (err) {
      if (err.code !== 'TLS_NO_SHARED_CIPHER') throw err
      // XCP-ng 8.3's ovsdb-server offers only RSA-key-exchange suites, which
      // rustls refuses by design: run the same session over OpenSSL instead.
      return this.#warnLegacy(await this.#openNode())
    }
  }

  #warnLegacy(handle) {
    this.transport = 'node'
    process.emitWarning(
      `OvsdbClient ${this.host}:${this.port}: rustls shares no cipher suite with this host; using node:tls (OpenSSL) with ${handle.cipher?.name ?? 'an unknown suite'} (${handle.cipher?.version ?? '?'}), host still authenticated`,
      { code: 'XO_SDN_LEGACY_TLS' },
    )
    return handle
  }

  #onData(id, bytes) {
    if (!this.#stream || this.#stream.id !== id || !this.#session) return
    // Over node:tls, what the socket still holds counts against the session's write cap.
    if (this.#stream.unsent) this.#session.setUnsent(this.#stream.unsent())
    this.#stream.receive(this.#session, bytes)
    this.#pump()
  }

  #onClose(id, error) {
    if (!this.#stream || this.#stream.id !== id) return
    const session = this.#session
    // The session's own reason, when it ended the connection, beats the stream's.
    const reason = this.#closedBecause ?? error
    this.#closedBecause = null
    // Releases the native stream's event callback, which keeps Node's loop alive.
    this.#stream.end()
    this.#stream = null
    if (session) {
      // Pending commands fail with the cause's code (PEER_NOT_READING...), not CHANNEL_CLOSED.
      session.close(this.#closing ? undefined : (reason?.message ?? 'the connection closed'), this.#closing ? undefined : reason?.code)
      this.#pump(session)
    }
    this.#session = null
    clearTimeout(this.#timer)
    this.#lost(reason)
  }

  #pump(session = this.#session) {
    if (!session) return
    for (const ev of session.pollEvents()) this.#dispatch(ev)
    if (this.#stream) this.#stream.send(session)
    else session.sendOutput(null) // the connection is gone: drop it
    clearTimeout(this.#timer)
    const due = session.pollTimeoutMs()
    if (due !== null && this.#session === session) {
      this.#timer = setTimeout(() => {
        session.handleTimeout()
        this.#pump(session)
      }, Math.ceil(due))
      this.#timer.unref?.()
    }
  }

  #dispatch(ev) {
    switch (ev.kind) {
      case 'completed': {
        const w = this.#waiting.get(ev.id)
        if (!w) return
        this.#waiting.delete(ev.id)
        if (ev.code) {
          const e = fail(ev.code, ev.message)
          if (ev.json) Object.assign(e, JSON.parse(ev.json))
          w.reject(e)
        } else w.resolve(JSON.parse(ev.json))
        return
      }
      case 'rows':
        for (const change of JSON.parse(ev.json)) this.#applyRow(change)
        return
      case 'resync':
        this.emit('error', fail(ev.code, ev.message))
        this.#stream?.end()
        return
      case 'locked':
      case 'stolen':
        this.emit(ev.kind, JSON.parse(ev.json))
        return
      case 'notification':
      case 'monitor_canceled':
        this.emit('notification', JSON.parse(ev.json))
        return
      case 'closed':
        // The session ended itself (a message past the cap, no echo answer, a peer
        // not reading): cut the stream at once (reading such a peer to its end would
        // keep taking in what it sends), and report the session's reason.
        if (ev.code && !this.#closing) {
          this.#closedBecause = fail(ev.code, ev.message)
          this.#stream?.cut()
        }
        return
    }
  }

  #applyRow({ table, uuid, kind, old, new: row }) {
    let t = this.#tables.get(table)
    if (!t) this.#tables.set(table, (t = new Map()))
    if (kind === 'delete') t.delete(uuid)
    else t.set(uuid, row)
    if (table === 'Bridge' || table === 'Port' || table === 'Interface') this.#vifInterfaces = null
    this.emit('row', { table, uuid, kind, old, new: row })
    if (table === 'Interface') {
      const vif = (row ?? old)?.external_ids?.['xs-vif-uuid']
      const name = (row ?? old)?.name ?? ''
      if (vif !== undefined && !name.includes('tap')) {
        if (kind === 'insert') this.emit('vifAdded', { vifUuid: vif, name, ofport: ofportOf(row) })
        else if (kind === 'delete') this.emit('vifRemoved', { vifUuid: vif, name, ofport: ofportOf(old) })
        else if (ofportOf(old) !== ofportOf(row)) this.emit('vifChanged', { vifUuid: vif, name, ofport: ofportOf(row), previousOfport: ofportOf(old) })
      }
    }
  }

  #command(fn, signal) {
    const session = this.#session
    if (!session) return Promise.reject(fail('CHANNEL_NOT_CONNECTED', 'the OVSDB client is not connected'))
    if (signal?.aborted) return Promise.reject(fail('OVSDB_CANCELED', 'request canceled'))
    let id
    try {
      if (this.#stream?.unsent) session.setUnsent(this.#stream.unsent())
      id = fn(session)
    } catch (err) {
      return Promise.reject(classify(err))
    }
    const p = new Promise((resolve, reject) => this.#waiting.set(id, { resolve, reject }))
    if (signal) {
      // RFC 7047 `cancel`: a `wait` still blocked is not executed.
      const onAbort = () => {
        if (this.#session === session && this.#waiting.has(id)) {
          try {
            session.cancel(id)
          } catch {}
          this.#pump(session)
        }
      }
      signal.addEventListener('abort', onAbort, { once: true })
      p.finally(() => signal.removeEventListener('abort', onAbort)).catch(() => {})
    }
    this.#pump()
    return p
  }

  /**
   * The whole handshake (TCP, TLS, list_dbs, get_schema, monitor) within
   * `connectTimeoutMs` (default 10 s): a server that accepts and then stays silent
   * fails with CONNECT_TIMEOUT, not after the echo or request timeouts.
   */
  async #establishWithin() {
    const budget = this.#opts.connectTimeoutMs ?? 10000
    await withDeadline(this.#establish(), budget, () => {
      this.#stream?.end() // the handshake's requests fail with the stream; nobody waits for them any more
      return fail('CONNECT_TIMEOUT', `${this.host}:${this.port}: the OVSDB handshake (connection, list_dbs, get_schema, monitor) did not finish within ${budget} ms`)
    })
  }

  async #establish() {
    const stream = await this.#openTransport()
    this.transport = stream.transport
    this.cipher = stream.cipher ?? null
    this.#stream = stream
    // A fresh protocol session per connection, but one replica across reconnects:
    // the re-monitor's reply replaces the tables and only real differences come out.
    if (this.#native === null) {
      this.#native = native.__createOvsdbSession({
        echoIntervalMs: this.#opts.echoIntervalMs,
        echoTimeoutMs: this.#opts.echoTimeoutMs,
        requestTimeoutMs: this.#opts.requestTimeoutMs,
      })
    } else {
      this.#native.restart()
    }
    this.#session = this.#native
    this.#pump()
    if (this.#serverHasSince === undefined) this.#serverHasSince = (await this.listDbs()).includes('_Server')
    const schema = await this.getSchema(DB)
    this.schema = schema
    this.#session.setSchema(JSON.stringify(schema))
    const requests = {}
    for (const [table, columns] of Object.entries(this.#opts.tables)) requests[table] = { columns }
    const id = JSON.stringify(`xo-sdn-${++this.#monitorSeq}`)
    // After a reconnect, servers that have monitor_cond_since (OVS 2.12+) send only
    // what changed since the replica's last transaction.
    const since = this.#monitoredOnce && this.#serverHasSince
    await this.#command((s) => (since ? s.monitorSince(DB, id, JSON.stringify(requests)) : s.monitor(DB, id, JSON.stringify(requests), true)))
    this.#monitoredOnce = true
  }

  #lost(error) {
    for (const [, w] of this.#waiting) w.reject(error ?? fail('CHANNEL_CLOSED', 'the OVSDB connection closed'))
    this.#waiting.clear()
    if (!this.#connected) return
    if (this.#closing) return this.emit('close')
    this.emit('disconnected', error ?? fail('CHANNEL_CLOSED', `${this.host}:${this.port} closed the connection`))
    if (this.#opts.reconnect === false) return this.emit('close')
    const min = this.#opts.reconnectMinMs ?? 200
    const max = this.#opts.reconnectMaxMs ?? 30000
    const delay = backoffDelay(min, max, this.#attempt++)
    setTimeout(() => {
      if (this.#closing) return this.emit('close')
      this.#establishWithin().then(
        () => {
          this.#attempt = 0
          this.emit('reconnected')
        },
        (err) => {
          if (this.#stream) this.#stream.end()
          else this.#lost(err)
        },
      )
    }, delay).unref?.()
  }

  // ---- public API ----

  /** Connects, reads the schema, and fills the replica. */
  async connect() {
    if (this.#connected) throw fail('CHANNEL_ALREADY_CONNECTED', 'connect() was already called; close() first')
    try {
      await this.#establishWithin()
    } catch (err) {
      this.#stream?.end()
      throw err
    }
    this.#connected = true
  }

  /** Graceful and idempotent. */
  async close() {
    if (this.#closing) return
    this.#closing = true
    clearTimeout(this.#timer)
    for (const end of this.#ofPortWaits) end(fail('CHANNEL_CLOSED', 'the OVSDB client was closed'))
    const stream = this.#stream
    if (!stream) return
    await new Promise((resolve) => {
      this.once('close', resolve)
      this.#session?.close()
      this.#pump()
      stream.end()
      setTimeout(resolve, 2000).unref?.()
    })
  }

  /** Any JSON-RPC method (params as in RFC 7047). */
  call(method, params = [], options) {
    if (typeof method !== 'string' || method === '') return Promise.reject(argError(TypeError, 'ERR_INVALID_ARG_TYPE', 'method must be a non-empty string'))
    let json
    let timeoutMs
    try {
      ;({ timeoutMs } = callOptions(options))
      json = wireJson(params, 'params')
    } catch (err) {
      return Promise.reject(err)
    }
    return this.#command((s) => s.call(method, json, timeoutMs))
  }

  listDbs() {
    return this.call('list_dbs', [])
  }

  getSchema(db = DB) {
    return this.call('get_schema', [db])
  }

  echo(...args) {
    return this.call('echo', args)
  }

  /**
   * Runs RFC 7047 operations. Values in OVSDB notation (see `ovsdb.uuid/namedUuid/
   * set/map`), or with `natural: true` in natural JSON (uuid or row name → string,
   * set → array, map → object), converted and checked against the schema first:
   * a wrong column or value type is a TypeError naming `table.column`, and nothing
   * is sent. `signal` (AbortSignal) sends RFC 7047 `cancel`.
   * Resolves with one result per operation; rejects with the failing operation's
   * `index`, `operation`, the RFC `error` and `details` (code `OVSDB_…`) when the
   * server did not commit.
   */
  transact(operations, options) {
    let db, timeoutMs, natural, signal
    try {
      ;({ db = DB, timeoutMs, natural = false, signal } = callOptions(options))
      checkString(db, 'options.db')
      if (typeof natural !== 'boolean') throw argError(TypeError, 'ERR_INVALID_ARG_TYPE', `options.natural must be a boolean, got ${describe(natural)}`)
      if (signal !== undefined && (signal === null || typeof signal !== 'object' || typeof signal.aborted !== 'boolean' || typeof signal.addEventListener !== 'function')) throw argError(TypeError, 'ERR_INVALID_ARG_TYPE', `options.signal must be an AbortSignal, got ${describe(signal)}`)
    } catch (err) {
      return Promise.reject(err)
    }
    if (!Array.isArray(operations)) return Promise.reject(argError(TypeError, 'ERR_INVALID_ARG_TYPE', 'operations must be an array'))
    if (natural && db !== DB) return Promise.reject(argError(TypeError, 'ERR_INVALID_ARG_VALUE', `natural values need the schema of ${DB}`))
    let json
    try {
      json = wireJson(operations, 'operations')
    } catch (err) {
      return Promise.reject(err)
    }
    return this.#command((s) => s.transact(db, json, timeoutMs, natural), signal)
  }

  lock(name) {
    return this.call('lock', [name])
  }

  steal(name) {
    return this.call('steal', [name])
  }

  unlock(name) {
    return this.call('unlock', [name])
  }

  /** Replicated rows of a table (natural notation), without a round trip. */
  rows(table) {
    return [...(this.#tables.get(table)?.entries() ?? [])].map(([uuid, row]) => ({ _uuid: uuid, ...row }))
  }

  #findBridge({ networkUuid, bridge }) {
    for (const [uuid, row] of this.#tables.get('Bridge') ?? []) {
      if (bridge !== undefined ? row.name === bridge : (row.external_ids?.['xs-network-uuids'] ?? '').split(';').includes(networkUuid)) {
        return { uuid, row }
      }
    }
    return null
  }

  /** The bridge of a network (`external_ids:xs-network-uuids` may list several, `;`-separated). */
  getBridgeForNetwork(networkUuid) {
    return this.#findBridge({ networkUuid })?.row.name
  }

  /**
   * The VIF interfaces (vif and tap: an HVM guest has both) with an assigned
   * ofport, per bridge name: `[{ name, ofport, vifUuid, vmUuid, mac, networks }]`
   * from `external_ids` (xs-vif-uuid, xs-vm-uuid, attached-mac, and the bridge's
   * xs-network-uuids), uuids and MACs lower case. From the replica, no round trip;
   * computed once per change of those tables (the result is shared: read it, do
   * not change it).
   */
  vifInterfaces() {
    this.#vifInterfaces ??= this.#computeVifInterfaces()
    return this.#vifInterfaces
  }

  #computeVifInterfaces() {
    const bridgeOfPort = new Map()
    for (const b of this.#tables.get('Bridge')?.values() ?? []) for (const p of b.ports ?? []) bridgeOfPort.set(p, b)
    const bridgeOfIface = new Map()
    for (const [uuid, p] of this.#tables.get('Port') ?? []) {
      const b = bridgeOfPort.get(uuid)
      if (b) for (const i of p.interfaces ?? []) bridgeOfIface.set(i, b)
    }
    const out = new Map()
    for (const [uuid, i] of this.#tables.get('Interface') ?? []) {
      const ids = i.external_ids ?? {}
      const vifUuid = ids['xs-vif-uuid']
      const bridge = bridgeOfIface.get(uuid)
      const ofport = ofportOf(i)
      if (!vifUuid || !bridge || ofport === undefined) continue
      const list = out.get(bridge.name) ?? []
      list.push({
        name: i.name,
        ofport,
        vifUuid: vifUuid.toLowerCase(),
        vmUuid: ids['xs-vm-uuid']?.toLowerCase(),
        mac: ids['attached-mac']?.toLowerCase(),
        networks: (bridge.external_ids?.['xs-network-uuids'] ?? '').toLowerCase().split(';'),
      })
      out.set(bridge.name, list)
    }
    return out
  }

  /** The datapath id of a bridge, as a BigInt. */
  getDatapathId(bridge) {
    const b = this.#findBridge({ bridge })
    const dpid = one(b?.row.datapath_id)
    return typeof dpid === 'string' ? BigInt('0x' + dpid) : undefined
  }

  #ofPortNow(vifUuid) {
    for (const row of this.#tables.get('Interface')?.values() ?? []) {
      if (row.external_ids?.['xs-vif-uuid'] === vifUuid && !String(row.name).includes('tap')) {
        return ofportOf(row) ?? null // null: found, ofport not assigned yet
      }
    }
    return undefined
  }

  /** The OpenFlow port of a VIF, from the replica; waits (up to timeoutMs) while OVS has not assigned it. */
  async getOfPortForVif(vifUuid, options) {
    checkString(vifUuid, 'vifUuid')
    const { timeoutMs = 5000 } = optionsObject(options)
    checkTimerMs(timeoutMs, 'options.timeoutMs')
    if (this.#closing) throw fail('CHANNEL_CLOSED', 'the OVSDB client is closed')
    const now = this.#ofPortNow(vifUuid)
    if (typeof now === 'number') return now
    return new Promise((resolve, reject) => {
      const onRow = () => {
        const p = this.#ofPortNow(vifUuid)
        if (typeof p === 'number') {
          cleanup()
          resolve(p)
        }
      }
      const timer = setTimeout(() => {
        cleanup()
        reject(fail('OVSDB_VIF_NOT_FOUND', `no interface with an ofport for VIF ${vifUuid} after ${timeoutMs} ms`))
      }, timeoutMs)
      const end = (err) => {
        cleanup()
        reject(err)
      }
      const cleanup = () => {
        clearTimeout(timer)
        this.off('row', onRow)
        this.#ofPortWaits.delete(end)
      }
      this.on('row', onRow)
      this.#ofPortWaits.add(end)
    })
  }

  /**
   * Makes `target` (default `pssl:6653`) a controller of the bridge and adds the
   * protocols (default OpenFlow11) to Bridge.protocols, keeping what is there.
   * Idempotent. Resolves `{ bridge, target, changed }`.
   */
  async setBridgeController(options) {
    const { networkUuid, bridge, target = 'pssl:6653', protocols = ['OpenFlow11'] } = optionsObject(options)
    if ((networkUuid === undefined) === (bridge === undefined)) throw argError(TypeError, 'ERR_INVALID_ARG_VALUE', 'give networkUuid or bridge')
    checkString(networkUuid ?? bridge, networkUuid !== undefined ? 'options.networkUuid' : 'options.bridge')
    checkString(target, 'options.target')
    if (!Array.isArray(protocols) || !protocols.every((p) => typeof p === 'string')) throw argError(TypeError, 'ERR_INVALID_ARG_TYPE', `options.protocols must be an array of strings, got ${describe(protocols)}`)
    const b = this.#findBridge({ networkUuid, bridge })
    if (!b) throw fail('OVSDB_BRIDGE_NOT_FOUND', `no bridge for ${networkUuid !== undefined ? `network ${networkUuid}` : `bridge ${bridge}`}`)
    const controllers = this.#tables.get('Controller') ?? new Map()
    const current = (b.row.controller ?? []).map((u) => ({ uuid: u, row: controllers.get(u) }))
    const existing = current.find((c) => c.row?.target === target)
    const missingProtocols = protocols.filter((p) => !(b.row.protocols ?? []).includes(p))
    if (existing && missingProtocols.length === 0) return { bridge: b.row.name, target, changed: false }
    const ops = []
    if (!existing) {
      ops.push({ op: 'insert', table: 'Controller', row: { target }, 'uuid-name': 'ctl' })
      ops.push({ op: 'mutate', table: 'Bridge', where: [['_uuid', '==', ovsdb.uuid(b.uuid)]], mutations: [['controller', 'insert', ovsdb.set([ovsdb.namedUuid('ctl')])]] })
    }
    if (missingProtocols.length > 0) {
      ops.push({ op: 'mutate', table: 'Bridge', where: [['_uuid', '==', ovsdb.uuid(b.uuid)]], mutations: [['protocols', 'insert', ovsdb.set(missingProtocols)]] })
    }
    await this.transact(ops)
    return { bridge: b.row.name, target, changed: true }
  }

  /**
   * Adds a GRE/VXLAN tunnel port for a private network on the network's bridge, in
   * one transaction (Interface + Port + Bridge.ports). Re-creates it when the psk
   * changed. Resolves `{ bridge, port, changed }`.
   */
  async addTunnel(tunnel) {
    const { networkUuid, remoteIp, encapsulation = 'gre', key, psk, privateNetworkUuid } = optionsObject(tunnel)
    checkString(networkUuid, 'options.networkUuid')
    if (key !== undefined && typeof key !== 'string' && !Number.isInteger(key)) throw argError(TypeError, 'ERR_INVALID_ARG_TYPE', `options.key must be an integer or a string, got ${describe(key)}`)
    if (psk !== undefined) checkString(psk, 'options.psk')
    if (!['gre', 'vxlan'].includes(encapsulation)) throw argError(TypeError, 'ERR_INVALID_ARG_VALUE', "encapsulation must be 'gre' or 'vxlan'")
    if (typeof remoteIp !== 'string' || require('node:net').isIP(remoteIp) === 0) throw argError(TypeError, 'ERR_INVALID_ARG_VALUE', 'remoteIp must be an IP address')
    if (typeof privateNetworkUuid !== 'string' || privateNetworkUuid === '') throw argError(TypeError, 'ERR_INVALID_ARG_VALUE', 'privateNetworkUuid is required')
    const b = this.#findBridge({ networkUuid })
    if (!b) throw fail('OVSDB_BRIDGE_NOT_FOUND', `no bridge for network ${networkUuid}`)
    const options = { remote_ip: remoteIp, ...(key !== undefined ? { key: String(key) } : {}), ...(psk !== undefined ? { psk } : {}) }
    const mine = this.#tunnelsOf(b, privateNetworkUuid).filter((t) => t.iface.options?.remote_ip === remoteIp)
    const same = mine.find((t) => t.iface.type === encapsulation && JSON.stringify(sorted(t.iface.options ?? {})) === JSON.stringify(sorted(options)))
    if (same) return { bridge: b.row.name, port: same.port.name, changed: false }
    // The name changes with the settings, so the old port and its replacement can
    // be removed and added in one transaction (names are unique in Interface).
    const name = `${encapsulation}${hash(`${privateNetworkUuid}/${remoteIp}/${key ?? ''}/${psk ?? ''}`)}`
    const ops = mine.flatMap((t) => this.#deletePortOps(b.uuid, t.portUuid))
    const marker = { [PRIVATE_NETWORK_KEY]: privateNetworkUuid }
    ops.push({ op: 'insert', table: 'Interface', 'uuid-name': 'tif', row: { name, type: encapsulation, options: ovsdb.map(options), other_config: ovsdb.map(marker) } })
    ops.push({ op: 'insert', table: 'Port', 'uuid-name': 'tport', row: { name, interfaces: ovsdb.set([ovsdb.namedUuid('tif')]), other_config: ovsdb.map(marker) } })
    ops.push({ op: 'mutate', table: 'Bridge', where: [['_uuid', '==', ovsdb.uuid(b.uuid)]], mutations: [['ports', 'insert', ovsdb.set([ovsdb.namedUuid('tport')])]] })
    await this.transact(ops)
    return { bridge: b.row.name, port: name, changed: true }
  }

  /** Removes the tunnel ports of a private network from the network's bridge. Resolves the number removed. */
  async resetForNetwork(networkUuid, privateNetworkUuid) {
    checkString(networkUuid, 'networkUuid')
    checkString(privateNetworkUuid, 'privateNetworkUuid')
    const b = this.#findBridge({ networkUuid })
    if (!b) throw fail('OVSDB_BRIDGE_NOT_FOUND', `no bridge for network ${networkUuid}`)
    const mine = this.#tunnelsOf(b, privateNetworkUuid)
    if (mine.length === 0) return 0
    await this.transact(mine.flatMap((t) => this.#deletePortOps(b.uuid, t.portUuid)))
    return mine.length
  }

  #tunnelsOf(bridge, privateNetworkUuid) {
    const ports = this.#tables.get('Port') ?? new Map()
    const ifaces = this.#tables.get('Interface') ?? new Map()
    const out = []
    for (const portUuid of bridge.row.ports ?? []) {
      const port = ports.get(portUuid)
      if (port?.other_config?.[PRIVATE_NETWORK_KEY] !== privateNetworkUuid) continue
      for (const ifUuid of port.interfaces ?? []) {
        const iface = ifaces.get(ifUuid)
        if (iface) out.push({ portUuid, port, iface })
      }
    }
    return out
  }

  #deletePortOps(bridgeUuid, portUuid) {
    // The Port and its Interfaces are garbage-collected once no bridge refers to them.
    return [{ op: 'mutate', table: 'Bridge', where: [['_uuid', '==', ovsdb.uuid(bridgeUuid)]], mutations: [['ports', 'delete', ovsdb.set([ovsdb.uuid(portUuid)])]] }]
  }
}

const { one } = ovsdb

/** The OpenFlow port OVS assigned to an interface row; undefined while it has none ([] or -1). */
function ofportOf(row) {
  const p = one(row?.ofport)
  return typeof p === 'number' && p > 0 ? p : undefined
}

function sorted(o) {
  return Object.fromEntries(Object.entries(o).sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0)))
}

function hash(s) {
  return require('node:crypto').createHash('sha256').update(s).digest('hex').slice(0, 8)
}

module.exports = { OvsdbClient, ovsdb }
