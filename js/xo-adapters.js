'use strict'
/**
 * Adapters that let Xen Orchestra's SDN Controller plugin
 * (`packages/xo-server-sdn-controller`) run on one shared `SdnController` instead of
 * its own protocol layer, with the object shapes its code already uses:
 *
 * - `createLegacyOpenFlowChannel(sdn)`: a class shaped like XO's `OpenFlowChannel`
 *   (`protocol/openflow-channel.js`): `new Channel(host, tlsHelper)`,
 *   `addRule({ vif, allow, protocol, port, ipRange, direction, ofport })`,
 *   `deleteRule({ vif, protocol, port, ipRange, direction, ofport })`. The rules become
 *   ordered, cookie-tagged rules of the controller, restricted to that host.
 * - `createOvsdbClientAdapter(sdn)`: a class shaped like XO's `OvsdbClient`
 *   (`protocol/ovsdb-client.js`), delegating to the controller's persistent
 *   per-host OvsdbClient (one connection per host, not one per call).
 * - `createTrafficRulesBackend(sdn)`: the backend contract of XO's unmerged ordered
 *   traffic-rules engine (`traffic-rules/plugin.js`: install, deleteCookie,
 *   deleteLegacy, supportsCookies, forgetHosts, hostsOf), installing the flows
 *   `sdncontroller.py` would build, over OpenFlow with a barrier, with the engine's
 *   own priorities and cookies.
 *
 * Switching XO (in `src/index.js` and `src/openflow-controller.js`), with `sdn` created
 * once by the plugin and hosts registered with `id: host.$ref`:
 *
 *     const { SdnController } = require('xo-sdn-native')
 *     const { createLegacyOpenFlowChannel, createOvsdbClientAdapter } = require('xo-sdn-native/xo-adapters')
 *     const OpenFlowChannel = createLegacyOpenFlowChannel(sdn)
 *     const OvsdbClient = createOvsdbClientAdapter(sdn)
 *     // unchanged: new OvsdbClient(host, tlsHelper), new OpenFlowChannel(host, tlsHelper)
 *
 * Host ids: XO keys its per-host caches (`ovsdbClients`, `ofChannels`) and the
 * engine's outcome maps by `host.$ref`, so the adapters name a host in the controller
 * by `host.$ref` (falling back to `host.uuid` for objects without one). Register hosts
 * with that id (`sdn.addHost({ id: host.$ref, address: host.address, serverCert })`), or
 * give an adapter `register(host)` and it registers them on first use. `hostId`
 * replaces the choice; every adapter on one controller must use the same one.
 *
 * Unlike XO's protocol layer, nothing is swallowed: every failure rejects with a
 * coded Error, and a call resolves only once the switch confirmed it (barrier).
 *
 * Needs from SdnController (beyond addRule/deleteRule/updateRule/rules/hosts/addHost):
 * `ovsdbOf(hostId)`, `putForeignFlows(...)`, `deleteForeignFlows(...)`; see
 * xo-adapters.d.ts for their contract.
 */

const { EventEmitter } = require('node:events')
const crypto = require('node:crypto')
const native = require('./binding.js')
const { fail, argError, describe, ipv4Cidr, checkController, checkTimerMs, optionsObject, dataReplacer } = require('./options.js')
const { nativeCall } = require('./errors.js')
const { one } = require('./ovsdb-client.js').ovsdb

// ---------------------------------------------------------------------------
// shared helpers
// ---------------------------------------------------------------------------

/** `host.$ref`, else `host.uuid`: see the module comment. */
function defaultHostId(host) {
  return host?.$ref ?? host?.uuid
}

function checkOptions(options, known) {
  if (options === null || typeof options !== 'object') throw argError(TypeError, 'ERR_INVALID_ARG_TYPE', 'options must be an object')
  for (const k of Object.keys(options)) {
    if (!known.includes(k)) throw argError(TypeError, 'ERR_INVALID_ARG_VALUE', `unknown option ${k}`)
  }
  const { hostId, register } = options
  if (hostId !== undefined && typeof hostId !== 'function') throw argError(TypeError, 'ERR_INVALID_ARG_TYPE', 'options.hostId must be a function (host) => string')
  if (register !== undefined && typeof register !== 'function') throw argError(TypeError, 'ERR_INVALID_ARG_TYPE', 'options.register must be a function (host) => host spec')
}

function idOf(hostId, host) {
  if (host === null || typeof host !== 'object') throw argError(TypeError, 'ERR_INVALID_ARG_TYPE', 'host must be a XAPI host object')
  const id = hostId(host)
  if (typeof id !== 'string' || id === '') throw argError(TypeError, 'ERR_INVALID_ARG_VALUE', 'host has no id (hostId(host) must give a non-empty string: $ref or uuid)')
  return id
}

/** Runs `fn` after every earlier call with the same key; keys are dropped when idle. */
function serializer() {
  const tails = new Map()
  return (key, fn) => {
    const run = (tails.get(key) ?? Promise.resolve()).then(() => fn())
    const tail = run.catch(() => {})
    tails.set(key, tail)
    tail.then(() => {
      if (tails.get(key) === tail) tails.delete(key)
    })
    return run
  }
}

// Registrations in flight, per controller, so two adapters (or two calls) registering
// the same host call `register` once.
const registering = new WeakMap()

/**
 * Makes sure the controller knows host `id`: registered already, or registered now
 * with `register(host)` (its spec, `id` set by us, `address` defaulting to the XAPI
 * host's). Without `register`, an unknown host is `SDN_HOST_NOT_FOUND`.
 */
async function ensureHost(sdn, host, id, register) {
  const known = () => sdn.hosts().some((h) => h.id === id)
  if (known()) return
  if (!register) {
    throw fail('SDN_HOST_NOT_FOUND', `host ${id} is not registered with the SdnController: call sdn.addHost({ id: ${JSON.stringify(id)}, address, serverCert }) or give the adapter a register option`, { host: id })
  }
  let pending = registering.get(sdn)
  if (!pending) registering.set(sdn, (pending = new Map()))
  if (!pending.has(id)) {
    pending.set(
      id,
      (async () => {
        const spec = await register(host)
        if (spec === null || typeof spec !== 'object') throw argError(TypeError, 'ERR_INVALID_ARG_TYPE', `register(host) must give a host spec ({ address, serverCert, ... }) for ${id}`)
        if (known()) return
        try {
          sdn.addHost({ address: host.address, ...spec, id })
        } catch (err) {
          if (err.code !== 'SDN_HOST_EXISTS') throw err
        }
      })().finally(() => pending.delete(id)),
    )
  }
  return pending.get(id)
}

/**
 * The `register` option for XO's host objects: the host's XAPI `address`, and its XAPI
 * TLS certificate (`host.get_server_certificate`, through the host's own XAPI connection
 * `host.$xapi`) as the trust anchor of its OVSDB and OpenFlow connections.
 */
async function registerXapiHost(host) {
  if (host === null || typeof host !== 'object') throw argError(TypeError, 'ERR_INVALID_ARG_TYPE', `host must be a XAPI host object, got ${describe(host)}`)
  // An object with its own call method: a function's `call` is Function.prototype.call.
  if (host.$xapi === null || typeof host.$xapi !== 'object' || typeof host.$xapi.call !== 'function') throw argError(TypeError, 'ERR_INVALID_ARG_TYPE', `host.$xapi must be the host's XAPI connection (XO's host objects have one), got ${describe(host.$xapi)}`)
  if (typeof host.$ref !== 'string' || host.$ref === '') throw argError(TypeError, 'ERR_INVALID_ARG_TYPE', `host.$ref must be the host's XAPI reference, got ${describe(host.$ref)}`)
  if (typeof host.address !== 'string' || host.address === '') throw argError(TypeError, 'ERR_INVALID_ARG_TYPE', `host.address must be the host's address, got ${describe(host.address)}`)
  let serverCert
  try {
    serverCert = await host.$xapi.call('host.get_server_certificate', host.$ref)
  } catch (err) {
    throw fail('SDN_HOST_CERT_UNAVAILABLE', `host.get_server_certificate of ${host.$ref} failed: ${err?.message ?? describe(err)}`, { host: host.$ref, cause: err })
  }
  if (typeof serverCert !== 'string' || !serverCert.includes('-----BEGIN CERTIFICATE-----')) {
    throw fail('SDN_HOST_CERT_UNAVAILABLE', `host.get_server_certificate of ${host.$ref} did not give a PEM certificate (got ${describe(serverCert)})`, { host: host.$ref })
  }
  return { address: host.address, serverCert }
}

/** The normalized form of a rule, as the controller stores it (its own validator). */
function normalizeRule(rule) {
  let json
  try {
    json = JSON.stringify(rule, dataReplacer())
  } catch (err) {
    throw argError(TypeError, 'ERR_INVALID_ARG_VALUE', `the rule must be plain data (JSON-serializable): ${err.message}`)
  }
  return JSON.parse(nativeCall(() => native.validateRule(json)))
}

function stable(v) {
  if (Array.isArray(v)) return `[${v.map(stable).join(',')}]`
  if (v !== null && typeof v === 'object') {
    return `{${Object.keys(v)
      .filter((k) => v[k] !== undefined)
      .sort()
      .map((k) => `${JSON.stringify(k)}:${stable(v[k])}`)
      .join(',')}}`
  }
  return JSON.stringify(v)
}

// ---------------------------------------------------------------------------
// 1. XO's OpenFlowChannel
// ---------------------------------------------------------------------------

/**
 * XO's channel sent a CIDR's address as given and OVS masked it: `10.0.0.1/24`
 * filtered 10.0.0.0/24. Our validator refuses host bits (a likely typo), so stored
 * XO rules carrying them are cleared here to keep their old meaning. Anything that is
 * not a CIDR is left for the validator to name.
 */
function clearHostBits(range) {
  if (typeof range !== 'string' || !range.includes('/')) return range
  try {
    return ipv4Cidr(range, 'ipRange', { clearHostBits: true }).cidr
  } catch {
    return range
  }
}

const present = (v) => v !== undefined && v !== null && v !== ''

/**
 * What identifies a stored XO rule on its VIF or network: the fields XO's delete
 * compares (protocol, port, ipRange, direction), `allow` excluded. Protocol and
 * direction are compared without case, the CIDR without host bits.
 */
function xoKey({ protocol, port, ipRange, direction }) {
  const text = (v) => (present(v) ? String(v).trim().toLowerCase() : '')
  return JSON.stringify([text(protocol), present(port) ? String(port) : '', present(ipRange) ? clearHostBits(String(ipRange).trim()) : '', text(direction)])
}

/** A rule id that is the same for the same stored XO rule in every process. */
function xoRuleId(kind, uuid, key) {
  return `xo-${kind}:${String(uuid).toLowerCase()}:${crypto.createHash('sha256').update(key).digest('hex').slice(0, 16)}`
}

const XO_L4 = ['tcp', 'udp', 'icmp']
/** Protocols a rule applies to IPv4 and IPv6 alike unless its range names a family. */
const IPV4_PINNED = ['ip', 'tcp', 'udp']

/**
 * XO's `{ allow, protocol, port, ipRange, direction }` as a controller rule (without
 * target and id), in one of two meanings:
 *
 * - `'xo'`: exactly the matches XO 1.4's direct channel installed
 *   (`protocol/openflow-channel.js`). For TCP/UDP/ICMP a rule covers both packet
 *   directions, and `port` is the VIF's own port for `from`, the remote one for `to`
 *   (`from/to`: either); for IP, ARP and all traffic `from` is what the VIF sends and
 *   `to` what it receives.
 * - `'packet'`: `direction` is the packet's direction and `port` its destination port.
 */
function legacyRule({ allow, protocol, port, ipRange, direction }, semantics = 'xo') {
  const rule = { allow }
  // XO sends no protocol (or '') for "all traffic", and ipRange '' for "any address".
  if (present(protocol)) rule.protocol = typeof protocol === 'string' ? protocol.trim().toLowerCase() : protocol
  if (present(ipRange)) rule.ipRange = typeof ipRange === 'string' ? clearHostBits(ipRange.trim()) : ipRange
  const dir = typeof direction === 'string' ? direction.trim().toLowerCase() : direction
  const icmpPort = rule.protocol === 'icmp' && present(port)
  if (semantics === 'packet') {
    rule.direction = dir
    if (icmpPort) rule.icmpType = port
    else if (present(port)) rule.port = port
    return rule
  }
  // XO 1.4 matched IPv4 only (dl_type 0x0800); a controller rule without a range covers IPv6 too.
  if (!present(ipRange) && IPV4_PINNED.includes(rule.protocol)) rule.ipRange = '0.0.0.0/0'
  if (typeof dir !== 'string' || !XO_L4.includes(rule.protocol)) {
    rule.direction = dir
    if (present(port)) rule.port = port // the validator names what is wrong
    return rule
  }
  const from = dir.includes('from') || dir === 'both'
  const to = dir.includes('to') || dir === 'both'
  rule.direction = from || to ? 'both' : dir
  if (icmpPort) rule.icmpType = port
  else if (present(port)) {
    rule.port = port
    rule.portSide = from && to ? 'either' : from ? 'local' : 'remote'
  }
  return rule
}

/** The controller rule's fields that say what it does (no id, priority, cookie, host). */
function ruleBody(view) {
  const { id, priority, cookie, host, description, ...body } = view
  return body
}

function checkSemantics(semantics) {
  if (semantics !== 'xo' && semantics !== 'packet') throw argError(TypeError, 'ERR_INVALID_ARG_VALUE', "options.semantics must be 'xo' or 'packet'")
}

/** The outcome of `host` in a controller result, as a value or a thrown error. */
function outcomeOf(result, id) {
  const o = result?.hosts?.[id]
  if (o === undefined) throw fail('SDN_NO_OUTCOME', `the controller reported nothing for host ${id}`, { host: id })
  if (!o.ok) throw o.error
  return o
}

/** Throws `SDN_PARTIAL_FAILURE` (the rule stays; the hosts are retried) when some host failed. */
function checkEveryHost(result, what) {
  const failed = Object.entries(result.hosts ?? {}).filter(([, o]) => !o.ok)
  if (failed.length === 0) return
  const [first] = failed
  throw fail(
    'SDN_PARTIAL_FAILURE',
    `${what} failed on ${failed.map(([h]) => h).join(', ')} (${first[1].error?.code ?? ''} ${first[1].error?.message ?? ''}); the controller keeps it and retries those hosts`,
    { hosts: result.hosts, cause: first[1].error, rule: result.rule },
  )
}

/** Changes rule `id` to `body` (keys it no longer has are cleared) unless it is already that. */
async function updateTo(sdn, existing, body) {
  const now = ruleBody(existing)
  if (stable(now) === stable(body)) return null
  const patch = { ...body }
  for (const k of Object.keys(now)) if (!(k in body)) patch[k] = null
  return sdn.updateRule(existing.id, patch)
}

// Per controller: the lock shared by every legacy channel class made on it.
const ruleLocks = new WeakMap()

/**
 * A class with the shape of XO's `OpenFlowChannel`, one instance per XAPI host, all
 * on `sdn`. See xo-adapters.d.ts and the README ("Wiring into the XO plugin").
 */
function createLegacyOpenFlowChannel(sdn, options = {}) {
  checkController(sdn, ['addRule', 'deleteRule', 'updateRule', 'getRule', 'hosts', 'addHost'])
  checkOptions(options, ['hostId', 'register', 'ifMissing', 'semantics'])
  const { hostId = defaultHostId, register, ifMissing = 'resolve', semantics = 'xo' } = options
  if (ifMissing !== 'reject' && ifMissing !== 'resolve') throw argError(TypeError, 'ERR_INVALID_ARG_VALUE', "options.ifMissing must be 'reject' or 'resolve'")
  checkSemantics(semantics)
  // One stored rule changes one call at a time (whatever the host, whatever the
  // class made on this controller): find-then-change stays consistent.
  if (!ruleLocks.has(sdn)) ruleLocks.set(sdn, serializer())
  const serial = ruleLocks.get(sdn)

  /** The rule's controller form, normalized as the controller keeps it (bad input fails before any I/O). */
  const controllerRule = (target, args) => normalizeRule({ ...target, ...legacyRule(args, semantics) })

  return class OpenFlowChannel extends EventEmitter {
    /**
     * @param {object} host XAPI host (`$ref`, `uuid`, `address`)
     * @param {unknown} [tlsHelper] ignored: TLS is the controller's
     */
    constructor(host, tlsHelper) {
      super()
      this.host = host
      this.hostId = idOf(hostId, host)
    }

    /**
     * Adds (or replaces) the VIF's rule with this match, installed on this host (XO
     * calls the channel of the VM's host). A rule already there unchanged is left
     * alone (XO re-adds every stored rule on connect); one with another action is
     * changed make-before-break at its priority; one left on another host (the VM
     * moved) moves here. Resolves `{ rule, flows }` once the switch confirmed it;
     * rejects, keeping nothing new, if it could not be installed.
     */
    async addRule(args) {
      if (args === null || typeof args !== 'object') throw argError(TypeError, 'ERR_INVALID_ARG_TYPE', 'addRule takes { vif, allow, protocol, port, ipRange, direction }')
      const { vif } = args
      if (vif === null || typeof vif !== 'object') throw argError(TypeError, 'ERR_INVALID_ARG_TYPE', 'vif must be an XO VIF object ({ uuid, MAC })')
      const rule = controllerRule({ vif: { uuid: vif.uuid, mac: vif.MAC ?? vif.mac } }, args)
      const id = xoRuleId('vif', vif.uuid, xoKey(args))
      const host = this.hostId
      return serial(id, async () => {
        await ensureHost(sdn, this.host, host, register)
        let existing = sdn.getRule(id)
        if (existing && existing.host !== host) {
          await sdn.deleteRule(id).catch(() => {}) // the old host's flows go with it, or at its next contact
          existing = undefined
        }
        if (!existing) {
          const r = await sdn.addRule({ id, ...rule }, { host })
          try {
            return { rule: r.rule, flows: outcomeOf(r, host).flows }
          } catch (err) {
            // Not installed: XO does not store the rule, so neither do we.
            await sdn.deleteRule(id).catch(() => {})
            throw err
          }
        }
        const r = await updateTo(sdn, existing, rule)
        if (r === null) return { rule: existing, flows: 0 }
        try {
          return { rule: r.rule, flows: outcomeOf(r, host).flows }
        } catch (err) {
          await updateTo(sdn, sdn.getRule(id), ruleBody(existing)).catch(() => {})
          throw err
        }
      })
    }

    /**
     * Deletes the VIF's rule with this match (`allow` is not part of it), wherever it
     * is installed. Resolves `{ deleted }` once the switch confirmed it. A rule that is
     * not there resolves `{ deleted: [] }` (or rejects `SDN_RULE_NOT_FOUND` with
     * `ifMissing: 'reject'`). If its host could not be reached, the rule is put back
     * (same id and position) and the error thrown.
     */
    async deleteRule(args) {
      if (args === null || typeof args !== 'object') throw argError(TypeError, 'ERR_INVALID_ARG_TYPE', 'deleteRule takes { vif, protocol, port, ipRange, direction }')
      const { vif } = args
      if (vif === null || typeof vif !== 'object') throw argError(TypeError, 'ERR_INVALID_ARG_TYPE', 'vif must be an XO VIF object ({ uuid, MAC })')
      controllerRule({ vif: { uuid: vif.uuid, mac: vif.MAC ?? vif.mac } }, { ...args, allow: false })
      const id = xoRuleId('vif', vif.uuid, xoKey(args))
      return serial(id, async () => {
        await ensureHost(sdn, this.host, this.hostId, register)
        const existing = sdn.getRule(id)
        if (!existing) {
          if (ifMissing === 'resolve') return { deleted: [] }
          throw fail('SDN_RULE_NOT_FOUND', `VIF ${vif.uuid} has no rule ${xoKey(args)}`, { host: this.hostId })
        }
        const position = sdn.rules().findIndex((r) => r.id === id)
        const r = await sdn.deleteRule(id)
        try {
          outcomeOf(r, existing.host)
        } catch (err) {
          await sdn.addRule(ruleBodyWithId(existing), { host: existing.host, ...(position >= 0 ? { position } : {}) }).catch(() => {})
          throw err
        }
        return { deleted: [r.rule] }
      })
    }

    /**
     * A network rule (XO calls it on the channel of the network's first host): on
     * every VIF of the network on every host, also VIFs plugged or migrated later,
     * with the same meaning as a VIF rule. `cookie` (XO's) is not used: the
     * controller has its own. Resolves `{ rule, hosts }`; if a host failed, rejects
     * `SDN_PARTIAL_FAILURE` and keeps the rule, which the controller retries there.
     */
    async addNetworkRule(args) {
      if (args === null || typeof args !== 'object') throw argError(TypeError, 'ERR_INVALID_ARG_TYPE', 'addNetworkRule takes { network, allow, protocol, port, ipRange, direction, cookie }')
      const network = checkNetwork(args.network)
      const rule = controllerRule({ network: { uuid: network.uuid } }, args)
      const id = xoRuleId('net', network.uuid, xoKey(args))
      return serial(id, async () => {
        await ensureNetworkHosts(sdn, network, this.host, hostId, register)
        const existing = sdn.getRule(id)
        const r = existing ? await updateTo(sdn, existing, rule) : await sdn.addRule({ id, ...rule })
        if (r === null) return { rule: existing, hosts: {} }
        checkEveryHost(r, `network rule ${id}`)
        return { rule: r.rule, hosts: r.hosts }
      })
    }

    /**
     * Deletes the network rule with this match from every host. Resolves
     * `{ deleted, hosts }`; a missing rule resolves `{ deleted: [] }` (or rejects
     * `SDN_RULE_NOT_FOUND` with `ifMissing: 'reject'`). A host that could not be
     * reached gets it removed at its next contact: `SDN_PARTIAL_FAILURE`.
     */
    async deleteNetworkRule(args) {
      if (args === null || typeof args !== 'object') throw argError(TypeError, 'ERR_INVALID_ARG_TYPE', 'deleteNetworkRule takes { network, protocol, port, ipRange, direction, cookie }')
      const network = checkNetwork(args.network)
      controllerRule({ network: { uuid: network.uuid } }, { ...args, allow: false })
      const id = xoRuleId('net', network.uuid, xoKey(args))
      return serial(id, async () => {
        // Every host the rule may be on must be known, also right after a restart.
        await ensureNetworkHosts(sdn, network, this.host, hostId, register)
        if (!sdn.getRule(id)) {
          if (ifMissing === 'resolve') return { deleted: [] }
          throw fail('SDN_RULE_NOT_FOUND', `network ${network.uuid} has no rule ${xoKey(args)}`)
        }
        const r = await sdn.deleteRule(id)
        checkEveryHost(r, `deleting network rule ${id}`)
        return { deleted: [r.rule], hosts: r.hosts }
      })
    }
  }
}

function ruleBodyWithId(view) {
  return { id: view.id, ...ruleBody(view) }
}

function checkNetwork(network) {
  if (network === null || typeof network !== 'object' || typeof network.uuid !== 'string' || network.uuid === '' || (network.$PIFs !== undefined && network.$PIFs !== null && !Array.isArray(network.$PIFs))) {
    throw argError(TypeError, 'ERR_INVALID_ARG_TYPE', 'network must be a XAPI network object ({ uuid, $PIFs })')
  }
  return network
}

/** Registers the hosts of the network's PIFs (and the calling channel's host) when `register` is given. */
async function ensureNetworkHosts(sdn, network, callerHost, hostId, register) {
  const hosts = [callerHost, ...(network.$PIFs ?? []).map((p) => p?.$host)].filter((h) => h !== null && typeof h === 'object')
  const seen = new Set()
  await Promise.all(
    hosts.map((h) => {
      const id = hostId(h)
      if (typeof id !== 'string' || seen.has(id)) return undefined
      seen.add(id)
      return register ? ensureHost(sdn, h, id, register) : undefined
    }),
  )
}

/**
 * For stored XO rules (`{ allow, protocol, port, ipRange, direction }`, as in
 * `other_config['xo:sdn-controller:of-rules']`), what changes under each
 * `semantics` of the legacy channel compared with what XO 1.4's direct channel
 * installed: `[{ rule, xo: [change], packet: [change] }]`, a change being
 * `{ code, message }`; an empty list means the same matches. `network: true` for a
 * network's rules (XO 1.4's channel installed none).
 */
function legacyRuleChanges(rules, options) {
  const { network = false } = optionsObject(options)
  if (!Array.isArray(rules)) throw argError(TypeError, 'ERR_INVALID_ARG_TYPE', 'rules must be an array of stored XO rules')
  return rules.map((stored, i) => {
    let rule = stored
    if (typeof stored === 'string') {
      try {
        rule = JSON.parse(stored)
      } catch (err) {
        throw argError(TypeError, 'ERR_INVALID_ARG_VALUE', `rules[${i}] is not the JSON of a stored XO rule: ${err.message}`)
      }
    }
    if (rule === null || typeof rule !== 'object') throw argError(TypeError, 'ERR_INVALID_ARG_TYPE', `rules[${i}] must be a stored XO rule (object or its JSON)`)
    const common = []
    const { protocol, port, direction } = rule
    const dir = typeof direction === 'string' ? direction : ''
    const proto = typeof protocol === 'string' ? protocol : present(protocol) ? describe(protocol) : ''
    if (network) common.push({ code: 'NETWORK_RULE', message: "XO 1.4's direct channel installed no network rule (it has no addNetworkRule); it is now enforced on every VIF of the network" })
    if (!dir.includes('from') && !dir.includes('to')) {
      common.push({ code: 'DIRECTION_BOTH', message: `direction ${JSON.stringify(dir)} contains neither 'from' nor 'to': XO 1.4 installed nothing; it now covers both directions` })
    }
    if (proto !== '' && !['IP', 'ICMP', 'TCP', 'UDP', 'ARP'].includes(proto)) {
      common.push({
        code: 'PROTOCOL_NOT_RECOGNIZED',
        message: `protocol ${JSON.stringify(proto)}: XO 1.4 recognized only IP, ICMP, TCP, UDP and ARP in upper case and matched every packet of the VIF's MAC instead (address and port dropped by Open vSwitch); it now matches ${proto.toLowerCase()}`,
      })
    }
    const lower = proto.toLowerCase()
    const xo = [...common]
    const packet = [...common]
    if (lower === 'icmp' && present(port)) {
      const c = { code: 'ICMP_PORT', message: 'an ICMP port: XO 1.4 matched it as the ICMP type one way and the code the other way; it is now the ICMP type both ways' }
      xo.push(c)
      packet.push(c)
    }
    if (['tcp', 'udp'].includes(lower) && present(port)) {
      packet.push({ code: 'PORT_SIDE', message: `port ${typeof port === 'string' || typeof port === 'number' ? port : describe(port)}: XO 1.4 matched the VIF's own port for 'from' and the remote port for 'to', in both packet directions; with semantics 'packet' it is the destination port of packets going ${dir}` })
    } else if (XO_L4.includes(lower) && (dir.includes('from') || dir.includes('to')) && !(dir.includes('from') && dir.includes('to'))) {
      packet.push({ code: 'ONE_WAY', message: `XO 1.4 matched ${lower.toUpperCase()} both ways for a single direction; with semantics 'packet' only packets going ${dir}` })
    }
    if (IPV4_PINNED.includes(lower) && !present(rule.ipRange)) {
      packet.push({ code: 'IPV6', message: `no ipRange: XO 1.4 matched ${lower.toUpperCase()} over IPv4 only; with semantics 'packet' the rule covers IPv6 too (semantics 'xo' keeps it to IPv4)` })
    }
    return { rule, xo, packet }
  })
}

// ---------------------------------------------------------------------------
// 2. XO's OvsdbClient
// ---------------------------------------------------------------------------

/**
 * A class with the shape of XO's `OvsdbClient`, one instance per XAPI host, all on
 * the controller's persistent OvsdbClient of that host (`sdn.ovsdbOf(id)`).
 */
function createOvsdbClientAdapter(sdn, options = {}) {
  checkController(sdn, ['ovsdbOf', 'hosts', 'addHost'])
  checkOptions(options, ['hostId', 'register', 'target', 'protocols', 'ofportTimeoutMs'])
  const { hostId = defaultHostId, register, target = 'pssl:', protocols = ['OpenFlow11'], ofportTimeoutMs = 5000 } = options
  if (typeof target !== 'string' && typeof target !== 'function') throw argError(TypeError, 'ERR_INVALID_ARG_TYPE', 'options.target must be a controller target string or a function ({ bridge, network, host }) => string')
  if (!Array.isArray(protocols) || !protocols.every((p) => typeof p === 'string')) throw argError(TypeError, 'ERR_INVALID_ARG_TYPE', 'options.protocols must be an array of strings')
  checkTimerMs(ofportTimeoutMs, 'options.ofportTimeoutMs')
  // Two tunnels to the same remote on one network are created one at a time.
  const serial = serializer()

  return class OvsdbClient {
    /**
     * @param {object} host XAPI host (`$ref`, `uuid`, `address`, `$PIFs`)
     * @param {unknown} [tlsHelper] ignored: TLS is the controller's
     */
    constructor(host, tlsHelper) {
      this.host = host
      this.hostId = idOf(hostId, host)
    }

    get address() {
      return this.host.address
    }

    /** The controller's connected OvsdbClient of this host. */
    async client() {
      await ensureHost(sdn, this.host, this.hostId, register)
      return sdn.ovsdbOf(this.hostId)
    }

    /** The OpenFlow port of a VIF (XO VIF object or uuid); rejects `OVSDB_VIF_NOT_FOUND` after `ofportTimeoutMs`. */
    async getOfPortForVif(vif) {
      const uuid = typeof vif === 'string' ? vif : vif?.uuid
      if (typeof uuid !== 'string' || uuid === '') throw argError(TypeError, 'ERR_INVALID_ARG_TYPE', 'vif must be an XO VIF object or a VIF uuid')
      const db = await this.client()
      return db.getOfPortForVif(uuid, { timeoutMs: ofportTimeoutMs })
    }

    async #setController(db, network) {
      const bridge = db.getBridgeForNetwork(network.uuid)
      if (bridge === undefined) return undefined
      const t = typeof target === 'function' ? target({ bridge, network, host: this.host }) : target
      const r = await db.setBridgeController({ bridge, target: t, protocols })
      return { network: network.uuid, ...r }
    }

    /**
     * Makes the controller target a controller of the bridge of every network the
     * host has a PIF on (networks without a bridge here are skipped, as XO does).
     * Resolves `[{ network, bridge, target, changed }]`; if some failed, rejects after
     * trying all, with `errors` and `results`. A host that cannot be reached resolves
     * `undefined`, reported to the controller's logger (XO calls this for every host
     * before each rule change).
     */
    async setBridgeController() {
      let db
      try {
        db = await this.client()
      } catch (err) {
        // XO calls this for every host of the pool before each rule change: a host
        // that cannot be reached must not fail the rule of a healthy one. Reported,
        // not thrown (XO's own client logged and returned too).
        if (err.code === 'SDN_HOST_NOT_FOUND' || err instanceof TypeError || err instanceof RangeError) throw err
        sdn.logger?.warn(`host ${this.hostId} unreachable: its bridges' controller was not set`, { error: err, host: this.hostId })
        return undefined
      }
      const seen = new Set()
      const networks = []
      for (const pif of this.host.$PIFs ?? []) {
        const n = pif?.$network
        if (n === undefined || n === null || seen.has(n.uuid)) continue
        seen.add(n.uuid)
        networks.push(n)
      }
      const results = []
      const errors = []
      for (const n of networks) {
        try {
          const r = await this.#setController(db, n)
          if (r) results.push(r)
        } catch (err) {
          errors.push(Object.assign(err, { network: n.uuid }))
        }
      }
      if (errors.length > 0) throw Object.assign(errors[0], { errors, results })
      return results
    }

    /** The same for one network; resolves undefined when it has no bridge on this host. */
    async setBridgeControllerForNetwork(network) {
      if (network === null || typeof network !== 'object') throw argError(TypeError, 'ERR_INVALID_ARG_TYPE', 'network must be a XAPI network object')
      return this.#setController(await this.client(), network)
    }

    /**
     * Adds the tunnel of a private network to `remoteAddress` on the network's bridge
     * (re-created when its settings, e.g. the password, changed); resolves the bridge name.
     */
    async addInterfaceAndPort(network, remoteAddress, encapsulation, key, password, privateNetworkUuid) {
      if (network === null || typeof network !== 'object' || typeof network.uuid !== 'string') throw argError(TypeError, 'ERR_INVALID_ARG_TYPE', 'network must be a XAPI network object')
      if (typeof remoteAddress !== 'string') throw argError(TypeError, 'ERR_INVALID_ARG_TYPE', `remoteAddress must be an IP address, got ${describe(remoteAddress)}`)
      const db = await this.client()
      return serial(`${this.hostId}\0${network.uuid}\0${remoteAddress}`, async () => {
        const r = await db.addTunnel({
          networkUuid: network.uuid,
          remoteIp: remoteAddress,
          encapsulation,
          ...(key !== undefined && key !== null ? { key } : {}),
          ...(password !== undefined && password !== null ? { psk: password } : {}),
          privateNetworkUuid,
        })
        return r.bridge
      })
    }

    /** Removes the private network's tunnels from the network's bridge; resolves how many (0 without a bridge). */
    async resetForNetwork(network, privateNetworkUuid) {
      if (network === null || typeof network !== 'object') throw argError(TypeError, 'ERR_INVALID_ARG_TYPE', 'network must be a XAPI network object')
      const db = await this.client()
      if (db.getBridgeForNetwork(network.uuid) === undefined) return 0
      return db.resetForNetwork(network.uuid, privateNetworkUuid)
    }
  }
}

// ---------------------------------------------------------------------------
// 3. the traffic-rules engine's backend
// ---------------------------------------------------------------------------

const PLUGIN_PROTOCOLS = ['tcp', 'udp', 'icmp', 'ip', 'arp']
const MAC = /^[0-9a-f]{2}(:[0-9a-f]{2}){5}$/i
const COOKIE = /^0x[0-9a-f]{1,16}$/i
const LOCAL_PORT = 65534

function entryError(message) {
  return argError(TypeError, 'ERR_INVALID_ARG_VALUE', message)
}

/** A cookie of the engine (`'0x<hex>'`, 1 to 16 digits, or a BigInt) as a BigInt. */
function cookieOf(cookie, what = 'cookie') {
  if (typeof cookie === 'bigint' && cookie >= 0n && cookie < 1n << 64n) return cookie
  if (typeof cookie !== 'string' || !COOKIE.test(cookie)) throw entryError(`${what} must be '0x' and 1 to 16 hex digits, got ${String(cookie)}`)
  return BigInt(cookie)
}

/**
 * The parts of an engine rule that `sdncontroller.py` reads, checked as it checks
 * them (case-insensitive protocol and direction). Two leniencies: `ipRange` '' means
 * any address (the plugin requires one) and TCP/UDP need no port (all ports).
 */
function pluginRule(rule, { needAllow }) {
  if (rule === null || typeof rule !== 'object') throw argError(TypeError, 'ERR_INVALID_ARG_TYPE', 'rule must be an object')
  const { mac, allow, protocol, port, ipRange = '', direction } = rule
  const out = {}
  if (typeof protocol !== 'string' || !PLUGIN_PROTOCOLS.includes(protocol.toLowerCase())) {
    throw entryError(`rule.protocol must be one of ${PLUGIN_PROTOCOLS.join(', ')} (any case), got ${String(protocol)}`)
  }
  out.protocol = protocol.toLowerCase()
  const dirs = typeof direction === 'string' ? direction.toLowerCase().split('/') : []
  out.to = dirs.includes('to')
  out.from = dirs.includes('from')
  if (!out.to && !out.from) throw entryError(`rule.direction must contain 'to' and/or 'from', got ${String(direction)}`)
  if (mac !== undefined && mac !== null && mac !== '') {
    if (typeof mac !== 'string' || !MAC.test(mac)) throw entryError(`rule.mac must be a MAC address, got ${String(mac)}`)
    out.mac = mac.toLowerCase()
  }
  if (typeof ipRange !== 'string') throw entryError('rule.ipRange must be a string')
  if (ipRange !== '') {
    // sdncontroller.py takes an address with an optional /n (host bits allowed: ovs-ofctl masks them).
    try {
      ipv4Cidr(ipRange, 'rule.ipRange', { clearHostBits: true })
    } catch {
      throw entryError(`rule.ipRange must be an IPv4 address or CIDR, got ${ipRange}`)
    }
    out.ipRange = ipRange
  }
  if (port !== undefined && port !== null && port !== '') {
    const p = typeof port === 'string' && /^\d+$/.test(port) ? Number(port) : port
    if (!Number.isInteger(p) || p < 0 || p > 65535) throw argError(RangeError, 'ERR_OUT_OF_RANGE', `rule.port must be 0..65535, got ${String(port)}`)
    if (!['tcp', 'udp', 'icmp'].includes(out.protocol)) throw entryError(`rule.port needs protocol tcp, udp or icmp, not ${out.protocol}`)
    out.port = p
  }
  if (needAllow) {
    if (typeof allow !== 'boolean') throw entryError('rule.allow must be a boolean')
    out.allow = allow
  }
  return out
}


function ofportOf(iface) {
  const p = one(iface?.ofport)
  return typeof p === 'number' && p > 0 && p !== LOCAL_PORT ? p : undefined
}

/**
 * Where a network's flows go on a host, read from the OVSDB replica the way
 * `sdncontroller.py` reads ovs-vsctl: the bridge to program (the parent of a VLAN
 * fake bridge), its VLAN tag, the ofports of the network's ports (VIFs, tunnels to
 * private-network peers...), and the uplinks of the parent (physical NICs, bond
 * members, gre/vxlan tunnels: named neither vif*, tap* nor xen*, type '', gre or
 * vxlan), which are not counted as ports. `network.bridge` (XAPI) names the bridge;
 * without it, `external_ids:xs-network-uuids`.
 */
function networkTopology(db, network) {
  const bridges = db.rows('Bridge')
  const ports = new Map(db.rows('Port').map((p) => [p._uuid, p]))
  const ifaces = new Map(db.rows('Interface').map((i) => [i._uuid, i]))
  const portsOf = (b) => (b.ports ?? []).map((u) => ports.get(u)).filter(Boolean)
  const ifacesOf = (p) => (p.interfaces ?? []).map((u) => ifaces.get(u)).filter(Boolean)
  const tagOf = (p) => {
    const t = one(p.tag)
    return typeof t === 'number' ? t : undefined
  }
  // A fake bridge is a tagged internal port of its parent named after it (ovs-vsctl).
  const isFake = (b, p) => p.name !== b.name && tagOf(p) !== undefined && ifacesOf(p).some((i) => i.name === p.name && i.type === 'internal')

  let name = network.bridge
  let parent
  let vlan
  if (typeof name === 'string' && name !== '') {
    parent = bridges.find((b) => b.name === name)
    if (!parent) {
      for (const b of bridges) {
        const p = portsOf(b).find((x) => x.name === name)
        if (p) {
          parent = b
          vlan = tagOf(p)
          break
        }
      }
    }
  }
  if (!parent) {
    name = db.getBridgeForNetwork(network.uuid)
    parent = name === undefined ? undefined : bridges.find((b) => b.name === name)
  }
  if (!parent) return undefined

  // `ovs-vsctl list-ports`: a tagged port belongs to the fake bridge of its VLAN if
  // there is one; a bridge's own internal port is not listed.
  const all = portsOf(parent)
  const fakeTags = new Set(all.filter((p) => isFake(parent, p)).map(tagOf))
  const ofParent = all.filter((p) => p.name !== parent.name && !isFake(parent, p) && !fakeTags.has(tagOf(p)))
  const ofNetwork = vlan === undefined ? ofParent : all.filter((p) => p.name !== name && !isFake(parent, p) && tagOf(p) === vlan)

  const uplinks = []
  for (const p of ofParent) {
    for (const i of ifacesOf(p)) {
      if (/^(vif|xen|tap)/.test(i.name ?? '')) continue
      if (!['', 'gre', 'vxlan'].includes(i.type ?? '')) continue
      const o = ofportOf(i)
      if (o !== undefined) uplinks.push(o)
    }
  }
  const ofports = []
  for (const p of ofNetwork) {
    for (const i of ifacesOf(p)) {
      const o = ofportOf(i)
      if (o !== undefined && !uplinks.includes(o)) ofports.push(o)
    }
  }
  return { bridge: parent.name, vlan, ofports: ofports.sort((a, b) => a - b), uplinks: uplinks.sort((a, b) => a - b) }
}

/**
 * The flows `sdncontroller.py` builds for a rule (without priority and cookie, in its
 * order), as the ovs-ofctl text putForeignFlows/deleteForeignFlows read: built in
 * Rust (src/policy/xo_plugin.rs), one native call per rule and host. Per direction,
 * one flow on the MAC for a VIF rule; for a network rule one per port of the
 * network and one per uplink, none when the network has no port on this host.
 */
function pluginFlows(r, topo, { actions }) {
  const rule = { protocol: r.protocol, to: r.to, from: r.from, mac: r.mac, ipRange: r.ipRange, port: r.port, allow: r.allow }
  return nativeCall(() => native.xoPluginFlows(rule, { vlan: topo.vlan, ofports: topo.ofports, uplinks: topo.uplinks }, actions === true))
}

/**
 * The backend of XO's ordered traffic-rules engine, on `sdn`: every method resolves
 * `Map<host.$ref, Error | undefined>` and never throws. See xo-adapters.d.ts.
 */
function createTrafficRulesBackend(sdn, options = {}) {
  checkController(sdn, ['ovsdbOf', 'putForeignFlows', 'deleteForeignFlows', 'hosts', 'addHost'])
  checkOptions(options, ['hostId', 'register'])
  const { hostId = defaultHostId, register } = options
  const cookieSupport = new Map() // host.$ref -> true

  function hostsOf(network) {
    const out = []
    const seen = new Set()
    const pifs = network?.$PIFs ?? []
    if (!Array.isArray(pifs)) throw argError(TypeError, 'ERR_INVALID_ARG_TYPE', `network.$PIFs must be an array, got ${describe(pifs)}`)
    for (const pif of pifs) {
      const h = pif?.$host
      if (h === undefined || h === null || seen.has(h.$ref)) continue
      seen.add(h.$ref)
      out.push(h)
    }
    return out
  }

  /** Runs `fn(id, db, host)` on every host; outcome per host.$ref (an Error, or undefined). */
  async function onHosts(network, hosts, fn, { check } = {}) {
    const outcomes = new Map()
    let list = hosts
    try {
      list ??= hostsOf(network)
      if (!Array.isArray(list)) throw argError(TypeError, 'ERR_INVALID_ARG_TYPE', 'hosts must be an array of XAPI hosts')
      if (network === null || typeof network !== 'object') throw argError(TypeError, 'ERR_INVALID_ARG_TYPE', 'network must be a XAPI network object')
      check?.()
    } catch (err) {
      // Bad input fails every host the same way; still no throw.
      for (const h of Array.isArray(list) ? list : []) outcomes.set(h?.$ref, err)
      return outcomes
    }
    await Promise.all(
      list.map(async (host) => {
        let outcome
        try {
          const id = idOf(hostId, host)
          await ensureHost(sdn, host, id, register)
          const db = await sdn.ovsdbOf(id)
          await fn(id, db, host)
        } catch (err) {
          outcome = err instanceof Error ? err : Object.assign(new Error(String(err)), { cause: err })
        }
        outcomes.set(host?.$ref, outcome)
      }),
    )
    return outcomes
  }

  return {
    hostsOf,

    /**
     * Installs the entry's flows with its priority and cookie, replacing what that
     * cookie had on the bridge (make-before-break). A host where the network has no
     * port installs nothing and succeeds (the plugin's error '4').
     */
    install(network, entry, hosts) {
      let r
      let cookie
      return onHosts(
        network,
        hosts,
        async (id, db) => {
          const topo = networkTopology(db, network)
          if (!topo) throw fail('SDN_NETWORK_NOT_FOUND', `network ${network.uuid} has no bridge on host ${id}`, { host: id })
          const flows = pluginFlows(r, topo, { actions: true })
          await sdn.putForeignFlows({ host: id, bridge: topo.bridge, cookie, priority: entry.priority, flows })
        },
        {
          check() {
            r = pluginRule(entry, { needAllow: true })
            cookie = cookieOf(entry.cookie, 'entry.cookie')
            if (!Number.isInteger(entry.priority) || entry.priority < 0 || entry.priority > 65535) {
              throw argError(RangeError, 'ERR_OUT_OF_RANGE', `entry.priority must be 0..65535, got ${String(entry.priority)}`)
            }
          },
        },
      )
    },

    /** Deletes every flow carrying `cookie` on the network's bridge (`rule` is not needed). A host without the bridge has none: success. */
    deleteCookie(network, rule, cookie, hosts) {
      let c
      return onHosts(
        network,
        hosts,
        async (id, db) => {
          const topo = networkTopology(db, network)
          if (!topo) return
          await sdn.deleteForeignFlows({ host: id, bridge: topo.bridge, cookie: c })
        },
        {
          check() {
            c = cookieOf(cookie)
          },
        },
      )
    },

    /**
     * Deletes the flows the plugin installed for `rule` before cookies: by match,
     * non-strict, at any priority, cookie 0 only. A rule the plugin could not have
     * installed (no ipRange, TCP/UDP without port) has no such flow: success, nothing sent.
     */
    deleteLegacy(network, rule, hosts) {
      let r
      return onHosts(
        network,
        hosts,
        async (id, db) => {
          if (!r.ipRange || (['tcp', 'udp'].includes(r.protocol) && r.port === undefined)) return
          const topo = networkTopology(db, network)
          if (!topo) return
          const flows = pluginFlows(r, topo, { actions: false })
          if (flows.length === 0) return
          await sdn.deleteForeignFlows({ host: id, bridge: topo.bridge, cookie: 0n, flows })
        },
        {
          check() {
            r = pluginRule(rule, { needAllow: false })
          },
        },
      )
    },

    /**
     * Always true once the host answers (flows are installed by this controller, with
     * cookies); undefined while it is unreachable or unknown (asked again next time).
     */
    async supportsCookies(host) {
      const ref = host?.$ref
      if (cookieSupport.has(ref)) return true
      try {
        const id = idOf(hostId, host)
        await ensureHost(sdn, host, id, register)
        await sdn.ovsdbOf(id)
      } catch {
        return undefined
      }
      cookieSupport.set(ref, true)
      return true
    },

    forgetHosts(hosts) {
      if (hosts !== undefined && hosts !== null && !Array.isArray(hosts)) throw argError(TypeError, 'ERR_INVALID_ARG_TYPE', `hosts must be an array of XAPI hosts, got ${describe(hosts)}`)
      for (const h of hosts ?? []) cookieSupport.delete(h?.$ref)
    },
  }
}

module.exports = {
  createLegacyOpenFlowChannel,
  createOvsdbClientAdapter,
  createTrafficRulesBackend,
  defaultHostId,
  legacyRuleChanges,
  registerXapiHost,
  // for tests and tools
  _internals: { legacyRule, clearHostBits, xoKey, xoRuleId, pluginRule, pluginFlows, networkTopology },
}
