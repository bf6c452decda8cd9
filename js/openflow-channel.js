'use strict'
// OpenFlowChannel: a persistent OpenFlow connection to one bridge of one host, 1.1
// or 1.3 on the wire, OpenFlow 1.1 messages in this API.
// The Rust driver owns the socket (TLS with the pool CA), the handshake, echo
// probes, barriers and reconnection; this facade encodes/decodes messages with the
// codec and turns native events into EventEmitter events.

const { EventEmitter } = require('node:events')
const native = require('./binding.js')
const { encode, encodeBatch, decode } = require('./codec.js')
const { classify } = require('./errors.js')
const { TlsConfig } = require('./tls.js')
const { NodeStreamChannel } = require('./node-transport.js')

/** Native async calls resolve failures as `{ failed, code, message }`; throw them. */
function unwrap(r) {
  if (r !== null && typeof r === 'object' && r.failed === true) throw fail(r.code, r.message)
  return r
}

const { fail, argError, describe, splitHostTls, checkDurations, checkAddress, callOptions } = require('./options.js')

/** A flow given as ovs-ofctl text (`parseFlow`) or as a flow_mod object. */
function toFlowMod(flow, command) {
  if (typeof flow === 'string') {
    const { parseFlow } = require('./index.js')
    return parseFlow(flow, { command })
  }
  if (flow === null || typeof flow !== 'object') throw argError(TypeError, 'ERR_INVALID_ARG_TYPE', 'a flow is a flow_mod object or ovs-ofctl flow text')
  return command === undefined ? { type: 'flow_mod', ...flow } : { type: 'flow_mod', ...flow, command }
}

class OpenFlowChannel extends EventEmitter {
  #native
  #insecure

  /**
   * @param {object} options
   * @param {string} options.host
   * @param {number} [options.port=6653]
   * @param {TlsConfig} [options.tls] omitted: plain TCP (tests, ptcp: listeners)
   * @param {string|Buffer} [options.serverCert] host certificate (XAPI host.get_server_certificate): the trust anchor for this host
   * @param {string} [options.fingerprint] SHA-256 pin of the host certificate
   * @param {string|Buffer} [options.ca] verify the host's chain against this CA
   * @param {boolean} [options.insecure] no host verification (warns every time)
   * @param {bigint} [options.expectedDatapathId]
   * @param {number} [options.echoIntervalMs=5000] idle time before probing the switch
   * @param {number} [options.echoTimeoutMs=5000]
   * @param {number} [options.connectTimeoutMs=10000]
   * @param {number} [options.requestTimeoutMs=30000] every request has one: no promise waits forever
   * @param {boolean} [options.reconnect=true]
   * @param {number} [options.reconnectMinMs=200]
   * @param {number} [options.reconnectMaxMs=30000]
   * @param {number} [options.missSendLen=65535] 0: do not send SET_CONFIG
   * @param {'rustls'|'node'} [options.transport='rustls'] 'node': the same session over a node:tls (OpenSSL) socket
   * @param {Array<'1.1'|'1.3'>} [options.versions=['1.1', '1.3']] versions to negotiate, the highest the
   *   switch also offers wins (XO's bridges offer only 1.1). Messages are OpenFlow 1.1 in this API either way: in 1.3 the channel
   *   translates them on the wire, and refuses (ERR_INVALID_ARG_VALUE) what has no 1.3 form.
   */
  constructor(options) {
    super()
    if (options === null || typeof options !== 'object') throw argError(TypeError, 'ERR_INVALID_ARG_TYPE', 'options must be an object')
    const { host, port = 6653, tls, ...others } = options
    checkAddress(host, port)
    const { hostTls, rest } = splitHostTls(others)
    const channelOptions = { host, port, ...rest }
    if (tls === undefined && Object.keys(hostTls).length > 0) throw argError(TypeError, 'ERR_INVALID_ARG_VALUE', 'host verification options need options.tls')
    this.#insecure = hostTls.insecure === true
    if (tls !== undefined && !(tls instanceof TlsConfig)) throw argError(TypeError, 'ERR_INVALID_ARG_TYPE', 'options.tls must be a TlsConfig')
    checkDurations(channelOptions, ['echoIntervalMs', 'echoTimeoutMs', 'connectTimeoutMs', 'requestTimeoutMs', 'reconnectMinMs', 'reconnectMaxMs', 'missSendLen'])
    if (channelOptions.reconnect !== undefined && typeof channelOptions.reconnect !== 'boolean') throw argError(TypeError, 'ERR_INVALID_ARG_TYPE', `options.reconnect must be a boolean, got ${describe(channelOptions.reconnect)}`)
    const dpid = channelOptions.expectedDatapathId
    if (dpid !== undefined && (typeof dpid !== 'bigint' || dpid < 0n || dpid >= 1n << 64n)) throw argError(TypeError, 'ERR_INVALID_ARG_TYPE', `options.expectedDatapathId must be a 64-bit BigInt, got ${describe(dpid)}`)
    const { versions } = channelOptions
    if (versions !== undefined && (!Array.isArray(versions) || versions.length === 0 || versions.some((v) => v !== '1.1' && v !== '1.3'))) {
      throw argError(TypeError, 'ERR_INVALID_ARG_VALUE', `options.versions must list '1.1', '1.3' or both, got ${describe(versions)}`)
    }
    const transport = channelOptions.transport ?? 'rustls'
    delete channelOptions.transport
    if (transport !== 'rustls' && transport !== 'node') throw argError(TypeError, 'ERR_INVALID_ARG_VALUE', "options.transport must be 'rustls' or 'node'")
    const onEvent = (...args) => {
      // napi delivers the event tuple as one array argument.
      const [kind, payload, code, message] = args.length === 1 && Array.isArray(args[0]) ? args[0] : args
      this.#onNativeEvent(kind, payload, code, message)
    }
    try {
      this.#native =
        transport === 'node'
          ? new NodeStreamChannel(channelOptions, tls, tls ? hostTls : null, onEvent)
          : native.__createOpenFlowChannel(channelOptions, tls?._native ?? null, tls ? hostTls : null, onEvent)
    } catch (err) {
      throw classify(err)
    }
    this.transport = transport
    this.host = host
    this.port = port
  }

  #onNativeEvent(kind, payload, code, message) {
    switch (kind) {
      case 'message': {
        let m
        try {
          m = decode(payload)
        } catch (err) {
          this.emit('error', Object.assign(classify(err), { data: payload }))
          return
        }
        const event = { port_status: 'portStatus', flow_removed: 'flowRemoved', packet_in: 'packetIn', error: 'switchError' }[m.type] ?? 'message'
        this.emit(event, m)
        if (event !== 'message') this.emit('message', m)
        return
      }
      case 'disconnected':
        this.emit('disconnected', fail(code, message))
        return
      case 'reconnected': {
        const features = decode(payload)
        this.datapathId = features.datapathId
        this.emit('reconnected', { datapathId: features.datapathId, ports: features.ports })
        return
      }
      case 'closed':
        // Releases the native event callback, which keeps Node's loop alive.
        this.#native.close()
        this.emit('close')
    }
  }

  /** TCP + TLS, HELLO negotiation (OF1.1), FEATURES: resolves `{ datapathId, ports }`. */
  async connect() {
    if (this.#insecure) {
      process.emitWarning(`OpenFlowChannel to ${this.host}:${this.port} uses insecure: true: the host is NOT authenticated`, { code: 'XO_SDN_INSECURE_TLS' })
    }
    const r = unwrap(await this.#native.connect())
    const features = decode(r.features)
    this.datapathId = features.datapathId
    this.ports = features.ports
    /** The OpenFlow version on the wire, '1.1' or '1.3'. */
    this.version = r.version
    return { datapathId: features.datapathId, ports: features.ports }
  }

  /** Sends one message and resolves with its decoded reply (multipart STATS replies gathered into an array). */
  async request(message, options) {
    const { timeoutMs } = callOptions(options)
    const bytes = encode(message)
    const r = unwrap(await this.#native.request(bytes, timeoutMs))
    if (r.switchError) throw switchError(decode(r.switchError), message, 0)
    const parts = r.parts.map((p) => decode(p))
    return parts.length === 1 ? parts[0] : parts
  }

  /**
   * `request` for a message already encoded: resolves the raw reply messages (one
   * Buffer per part), for callers that decode in Rust (the rule reconciler).
   */
  async requestEncoded(bytes, options) {
    const { timeoutMs } = callOptions(options)
    if (!Buffer.isBuffer(bytes)) throw argError(TypeError, 'ERR_INVALID_ARG_TYPE', 'bytes must be a Buffer')
    const r = unwrap(await this.#native.request(bytes, timeoutMs))
    if (r.switchError) throw switchError(decode(r.switchError), undefined, 0)
    return r.parts
  }

  /**
   * Pipelines `messages` and one BARRIER_REQUEST; resolves `{ count }` when the
   * barrier reply comes back. If the switch refused any, rejects with
   * `code: 'OF_SWITCH_ERROR'` and `errors: [{ index, xid, error, message }]` (the
   * others were applied).
   */
  async send(messages, options) {
    const { timeoutMs } = callOptions(options)
    if (!Array.isArray(messages)) messages = [messages]
    const bytes = encodeBatch(messages)
    const r = unwrap(await this.#native.sendBatch(bytes, timeoutMs))
    if (r.errors.length === 0) return { count: r.count }
    const errors = r.errors.map(({ index, xid, error }) => ({ index, xid, error: decode(error), message: messages[index] }))
    const first = errors[0]
    const e = switchError(first.error, first.message, first.index)
    e.errors = errors
    e.applied = r.count - errors.length
    e.message = `${errors.length} of ${r.count} messages refused by the switch; first: #${first.index} ${e.message}`
    throw e
  }

  /**
   * `send` for messages already encoded back to back (e.g. by `encodeBatch`):
   * their xids are rewritten, then one barrier. Resolves `{ count }`; refusals
   * reject as in `send` (without the original objects).
   */
  async sendEncoded(bytes, options) {
    const { timeoutMs } = callOptions(options)
    if (!Buffer.isBuffer(bytes)) throw argError(TypeError, 'ERR_INVALID_ARG_TYPE', 'bytes must be a Buffer')
    const r = unwrap(await this.#native.sendBatch(bytes, timeoutMs))
    if (r.errors.length === 0) return { count: r.count }
    const errors = r.errors.map(({ index, xid, error }) => ({ index, xid, error: decode(error) }))
    const e = switchError(errors[0].error, undefined, errors[0].index)
    e.errors = errors
    e.applied = r.count - errors.length
    throw e
  }

  /** Flow stats, filtered like `ovs-ofctl dump-flows` (table 0xff = all). */
  async dumpFlows(filter) {
    const { tableId = 0xff, cookie = 0n, cookieMask = 0n, match = {}, outPort = 'any', outGroup = 'any', timeoutMs } = callOptions(filter, 'filter')
    const reply = await this.request(
      { type: 'stats_request', body: { type: 'flow', tableId, cookie, cookieMask, match, outPort, outGroup } },
      { timeoutMs },
    )
    const parts = Array.isArray(reply) ? reply : [reply]
    return parts.flatMap((p) => p.body.flows)
  }

  /** Adds flows (objects or ovs-ofctl text), barrier-confirmed. */
  async addFlows(flows, options) {
    if (!Array.isArray(flows)) throw argError(TypeError, 'ERR_INVALID_ARG_TYPE', `flows must be an array, got ${describe(flows)}`)
    return this.send(flows.map((f) => toFlowMod(f, typeof f === 'string' ? 'add' : undefined)), options)
  }

  /** Deletes flows (objects or ovs-ofctl text; non-strict by default), barrier-confirmed. */
  async deleteFlows(flows, deleteOptions) {
    if (!Array.isArray(flows)) throw argError(TypeError, 'ERR_INVALID_ARG_TYPE', `flows must be an array, got ${describe(flows)}`)
    const { strict = false, ...options } = callOptions(deleteOptions)
    const command = strict ? 'delete_strict' : 'delete'
    return this.send(flows.map((f) => ({ ...toFlowMod(f, command), command })), options)
  }

  /** Graceful and idempotent. */
  async close() {
    await this.#native.close()
  }
}

function switchError(error, message, index) {
  // Open vSwitch's extension errors (nx_vendor) carry their own name, and an 8-byte header before the offending bytes.
  const vendor = error.errorType === 'nx_vendor' && error.data.length >= 8
  const name = vendor ? error.name : `${error.errorType}/${error.code}`
  return fail('OF_SWITCH_ERROR', `switch refused ${message?.type ?? 'the message'}: ${name}`, {
    index,
    xid: error.xid,
    errorType: error.errorType,
    errorCode: error.code,
    ...(vendor ? { reason: name } : {}),
    offending: (() => {
      try {
        return decode(vendor ? error.data.subarray(8) : error.data)
      } catch {
        return undefined
      }
    })(),
  })
}

module.exports = { OpenFlowChannel }
