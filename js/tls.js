'use strict'
// TlsConfig: the controller's TLS identity (client certificate and key, signed by
// the pool's SDN CA), shared by every connection. How each *host* is authenticated
// (serverCert, fingerprint, ca, or an explicit insecure: true) is given per
// connection; there is no insecure default.

const native = require('./binding.js')
const { classify } = require('./errors.js')

function pem(value, name, optional = false) {
  if (value === undefined && optional) return undefined
  if (typeof value === 'string' || Buffer.isBuffer(value)) return value
  if (value instanceof Uint8Array) return Buffer.from(value)
  const e = new TypeError(`${name} must be a PEM string or Buffer`)
  e.code = 'ERR_INVALID_ARG_TYPE'
  throw e
}

/** The PEMs of each TlsConfig, for drivers that run TLS in Node (`node:tls`). */
const pems = new WeakMap()

class TlsConfig {
  /**
   * @param {object} options
   * @param {string|Buffer} options.clientCert PEM, signed by the pool's SDN CA
   * @param {string|Buffer} options.clientKey PEM
   * @param {string|Buffer} [options.poolCa] PEM; when given, clientCert is checked against it now
   */
  constructor(options) {
    if (options === null || typeof options !== 'object') {
      const e = new TypeError('TlsConfig options must be an object')
      e.code = 'ERR_INVALID_ARG_TYPE'
      throw e
    }
    const opts = {
      clientCert: pem(options.clientCert, 'clientCert'),
      clientKey: pem(options.clientKey, 'clientKey'),
      poolCa: pem(options.poolCa, 'poolCa', true),
    }
    try {
      this._native = native.__createTlsConfig(opts)
    } catch (err) {
      throw classify(err)
    }
    pems.set(this, opts)
  }

  /** SHA-256 fingerprint of the client certificate (`AB:CD:…`). */
  get clientCertFingerprint() {
    return this._native.clientCertFingerprint
  }
}

module.exports = { TlsConfig, pemsOf: (config) => pems.get(config) }
