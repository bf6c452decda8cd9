'use strict'
// Runs the Rust OpenFlow session (sans-I/O) over a byte stream owned by Node:
// `node:tls` (OpenSSL) or `node:net`. Used when rustls cannot talk to a host, and
// by anyone who wants to supply their own stream. The host is authenticated with
// the same policy as the rustls transport: serverCert, fingerprint, ca, or an
// explicit insecure.
//
// It implements the same interface as the native channel (connect, request,
// sendBatch, close, events as (kind, payload, code, message)).

const crypto = require('node:crypto')
const net = require('node:net')
const tls = require('node:tls')
const native = require('./binding.js')
const { pemsOf } = require('./tls.js')

const { fail, backoffDelay } = require('./options.js')

/** Maps Node/OpenSSL TLS and socket errors onto the codes the rustls transport uses. */
function codeOf(err) {
  const c = String(err.code ?? '')
  if (c === 'ECONNREFUSED') return 'CONNECTION_REFUSED'
  if (c === 'ETIMEDOUT') return 'CONNECT_TIMEOUT'
  if (/UNABLE_TO_VERIFY|SELF_SIGNED|UNABLE_TO_GET_ISSUER/.test(c)) return 'TLS_UNKNOWN_ISSUER'
  if (c === 'CERT_HAS_EXPIRED' || c === 'CERT_NOT_YET_VALID') return 'TLS_HOST_CERT_EXPIRED'
  if (c === 'ERR_TLS_CERT_ALTNAME_INVALID') return 'TLS_HOST_NAME_MISMATCH'
  if (/ALERT_(UNKNOWN_CA|BAD_CERTIFICATE|CERTIFICATE_REQUIRED|CERTIFICATE_EXPIRED|CERTIFICATE_UNKNOWN|ACCESS_DENIED)/.test(c)) return 'TLS_CLIENT_CERT_REJECTED'
  if (/HANDSHAKE_FAILURE|NO_SHARED_CIPHER|PROTOCOL_VERSION|NO_PROTOCOLS|UNSUPPORTED_PROTOCOL|INSUFFICIENT_SECURITY/.test(c)) return 'TLS_NO_SHARED_CIPHER'
  if (/WRONG_VERSION_NUMBER|PACKET_LENGTH_TOO_LONG|RECORD_LAYER/.test(c)) return 'TLS_PEER_NOT_TLS'
  if (c.startsWith('ERR_SSL')) return 'TLS_HANDSHAKE_FAILED'
  return 'CHANNEL_CLOSED'
}

function derOf(pem) {
  return new crypto.X509Certificate(pem).raw
}

/** Checks the peer certificate against the host policy; returns an error code or null. */
function verifyPeer(socket, host) {
  const peer = socket.getPeerX509Certificate?.()
  if (!peer) return ['TLS_HANDSHAKE_FAILED', 'the host presented no certificate']
  const now = Date.now()
  const expired = () => now < Date.parse(peer.validFrom) || now > Date.parse(peer.validTo)
  if (host.serverCert !== undefined) {
    if (!peer.raw.equals(derOf(host.serverCert))) return ['TLS_HOST_CERT_MISMATCH', 'the host presented another certificate than serverCert']
    if (expired()) return ['TLS_HOST_CERT_EXPIRED', `the host certificate is valid ${peer.validFrom} .. ${peer.validTo}`]
    return null
  }
  if (host.fingerprint !== undefined) {
    const want = host.fingerprint.replace(/^sha256 Fingerprint=/i, '').replace(/:/g, '').toLowerCase()
    const got = crypto.createHash('sha256').update(peer.raw).digest('hex')
    if (got !== want) return ['TLS_HOST_CERT_MISMATCH', 'the host certificate does not match the fingerprint']
    if (expired()) return ['TLS_HOST_CERT_EXPIRED', `the host certificate is valid ${peer.validFrom} .. ${peer.validTo}`]
    return null
  }
  return null // ca: verified by OpenSSL (rejectUnauthorized); insecure: nothing
}


/**
 * Opens a `node:net` or `node:tls` socket to `options.host:options.port` and
 * authenticates the host per `host` (serverCert, fingerprint, ca or insecure).
 * Resolves `{ socket, cipher }`; rejects with an Error carrying a stable `code`.
 */
function connectNodeSocket(options, pems, host = {}) {
  const { host: address, port } = options
  const timeout = options.connectTimeoutMs ?? 10000
  return new Promise((resolve, reject) => {
    let socket
    const timer = setTimeout(() => {
      socket?.destroy()
      reject(fail(pems ? 'TLS_HANDSHAKE_TIMEOUT' : 'CONNECT_TIMEOUT', `no connection to ${address}:${port} within ${timeout} ms`))
    }, timeout)
    const done = (err, cipher) => {
      clearTimeout(timer)
      if (err) {
        socket.destroy()
        reject(err)
      } else resolve({ socket, cipher })
    }
    if (pems) {
      const name = host.serverName ?? address
      socket = tls.connect({
        host: address,
        port,
        cert: pems.clientCert,
        key: pems.clientKey,
        servername: net.isIP(name) ? undefined : name,
        // serverCert and fingerprint are checked against the peer below; ca by OpenSSL.
        rejectUnauthorized: host.ca !== undefined,
        ca: host.ca,
        checkServerIdentity: host.ca !== undefined ? (_, cert) => tls.checkServerIdentity(name, cert) : () => undefined,
      })
      socket.once('secureConnect', () => {
        const bad = verifyPeer(socket, host)
        if (bad) return done(fail(bad[0], bad[1]))
        done(null, socket.getCipher())
      })
    } else {
      socket = net.connect({ host: address, port }, () => done(null, null))
    }
    socket.setNoDelay(true)
    socket.once('error', (err) => done(fail(codeOf(err), `${address}:${port}: ${err.message}`)))
  })
}

class NodeStreamChannel {
  #options
  #tls
  #host
  #onEvent
  #socket = null
  #session = null
  #timer = null
  #waiting = new Map()
  #closing = false
  #connectedOnce = false
  #attempt = 0

  /**
   * @param {object} options channel options (host, port, timeouts, reconnect...)
   * @param {TlsConfig|undefined} tlsConfig
   * @param {object|null} host serverCert | fingerprint | ca | insecure, serverName
   * @param {Function} onEvent (kind, payload, code, message)
   */
  constructor(options, tlsConfig, host, onEvent) {
    this.#options = options
    this.#tls = tlsConfig ? pemsOf(tlsConfig) : null
    this.#host = host ?? {}
    this.#onEvent = onEvent
    if (this.#tls) {
      const given = ['serverCert', 'fingerprint', 'ca'].filter((k) => this.#host[k] !== undefined).length + (this.#host.insecure === true ? 1 : 0)
      if (given === 0) throw fail('TLS_HOST_AUTH_REQUIRED', 'say how to authenticate the host: serverCert, fingerprint, ca, or insecure: true')
      if (given > 1) throw fail('ERR_INVALID_ARG_VALUE', 'give only one of serverCert, fingerprint, ca, insecure')
    }
  }

  #openSocket() {
    return connectNodeSocket(this.#options, this.#tls, this.#host).then(({ socket, cipher }) => {
      this.cipher = cipher
      return socket
    })
  }

  async #establish() {
    const socket = await this.#openSocket()
    const session = native.__createOpenFlowSession(this.#options)
    this.#socket = socket
    this.#session = session
    return new Promise((resolve, reject) => {
      let settled = false
      this.#pendingConnect = { resolve: (v) => { settled = true; resolve(v) }, reject: (e) => { settled = true; reject(e) } }
      socket.on('data', (chunk) => {
        // What the socket still holds counts against the write cap (echo replies we owe a flooder).
        session.setUnsent(socket.writableLength)
        session.receive(chunk)
        this.#pump()
      })
      // With TLS 1.3 the host refuses our certificate after the handshake looks done
      // to us: the alert arrives here, before 'close'.
      let lastError = null
      socket.on('error', (err) => (lastError = err))
      socket.on('close', () => {
        if (this.#session !== session) return
        if (!settled) {
          const p = this.#pendingConnect
          this.#pendingConnect = null
          p?.reject(
            lastError
              ? fail(codeOf(lastError), `${this.#options.host}:${this.#options.port}: ${lastError.message}`)
              : fail('OF_CLOSED_BEFORE_HELLO', `${this.#options.host}:${this.#options.port} closed the connection before the switch's HELLO`),
          )
        }
        session.close(this.#closing ? undefined : 'the connection closed')
        this.#pump()
        this.#lost()
      })
      this.#pump()
    })
  }

  #pendingConnect = null
  #closedBecause = null // the session's reason when it ended the connection itself

  #pump() {
    const session = this.#session
    if (!session) return
    for (const ev of session.pollEvents()) this.#dispatch(ev)
    const out = session.takeOutput()
    if (out && this.#socket && !this.#socket.destroyed) this.#socket.write(out)
    clearTimeout(this.#timer)
    const due = session.pollTimeoutMs()
    if (due !== null) {
      this.#timer = setTimeout(() => {
        session.handleTimeout()
        this.#pump()
      }, Math.ceil(due))
      this.#timer.unref?.()
    }
  }

  #dispatch(ev) {
    switch (ev.kind) {
      case 'connected': {
        const p = this.#pendingConnect
        this.#pendingConnect = null
        p?.resolve({ datapathId: ev.datapathId, version: ev.version, features: ev.payload })
        return
      }
      case 'message':
        this.#onEvent('message', ev.payload, null, null)
        return
      case 'closed': {
        const p = this.#pendingConnect
        this.#pendingConnect = null
        p?.reject(fail(ev.code, ev.message))
        // The session ended the connection (echo timeout, a cap): its reason is the loss's.
        if (ev.code) this.#closedBecause = { code: ev.code, message: ev.message }
        this.#socket?.destroy()
        return
      }
      case 'completed': {
        const w = this.#waiting.get(ev.id)
        if (!w) return
        this.#waiting.delete(ev.id)
        if (ev.code) w.reject(fail(ev.code, ev.message))
        else if (ev.switchError) w.resolve({ parts: [], switchError: ev.switchError })
        else if (ev.parts) w.resolve({ parts: ev.parts })
        else w.resolve({ count: ev.count, firstXid: ev.firstXid, errors: ev.errors })
      }
    }
  }

  #lost() {
    clearTimeout(this.#timer)
    this.#session = null
    this.#socket = null
    if (!this.#connectedOnce) return
    if (this.#closing) {
      this.#onEvent('closed', null, null, null)
      return
    }
    const because = this.#closedBecause
    this.#closedBecause = null
    this.#onEvent('disconnected', null, because?.code ?? 'CHANNEL_CLOSED', because?.message ?? `${this.#options.host}:${this.#options.port} closed the connection`)
    if (this.#options.reconnect === false) {
      this.#onEvent('closed', null, null, null)
      return
    }
    const min = this.#options.reconnectMinMs ?? 200
    const max = this.#options.reconnectMaxMs ?? 30000
    const delay = backoffDelay(min, max, this.#attempt++)
    setTimeout(() => {
      if (this.#closing) return this.#onEvent('closed', null, null, null)
      this.#establish().then(
        (c) => {
          this.#attempt = 0
          this.#onEvent('reconnected', c.features, null, null)
        },
        () => this.#lost(),
      )
    }, delay).unref?.()
  }

  async connect() {
    if (this.#connectedOnce) throw fail('CHANNEL_ALREADY_CONNECTED', 'connect() was already called; close() first')
    const c = await this.#establish()
    this.#connectedOnce = true
    return c
  }

  #command(method, bytes, timeoutMs) {
    const session = this.#session
    if (!session || !session.active) return Promise.reject(fail('CHANNEL_NOT_CONNECTED', 'the channel is not connected'))
    let id
    try {
      if (this.#socket) session.setUnsent(this.#socket.writableLength)
      id = session[method](bytes, timeoutMs ?? this.#options.requestTimeoutMs ?? 30000)
    } catch (err) {
      return Promise.reject(err)
    }
    const p = new Promise((resolve, reject) => this.#waiting.set(id, { resolve, reject }))
    this.#pump()
    return p
  }

  request(bytes, timeoutMs) {
    return this.#command('request', bytes, timeoutMs)
  }

  sendBatch(bytes, timeoutMs) {
    return this.#command('sendBatch', bytes, timeoutMs)
  }

  async close() {
    if (this.#closing) return
    this.#closing = true
    const socket = this.#socket
    if (!socket) return
    this.#session?.close()
    this.#pump()
    await new Promise((resolve) => {
      socket.once('close', resolve)
      socket.end()
      setTimeout(() => socket.destroy(), 2000).unref?.()
    })
  }
}

module.exports = { NodeStreamChannel, connectNodeSocket, codeOf }
