'use strict'
// EC2-style elastic IPs on OpenFlow 1.1: a public address leased from a pool,
// associated with one VIF on any network, moved in one call, released.
//
// On the VIF's bridge (the controller's table, priorities 9980-9990: above the security groups,
// below the ordered traffic rules):
//   9990  ARP request for the public address -> controller. OpenFlow 1.1 cannot
//         build an ARP reply in the switch, so the controller answers with the
//         VIF's MAC by PACKET_OUT (rate-limited per address), and sends a
//         gratuitous ARP when the address is associated or moves.
//   9985  sent by the VIF to an internal range (options.internal): unchanged.
//   9980  to the public address: destination rewritten to the VIF's private
//         address and MAC, output to its port; sent by the VIF from its private
//         address: source rewritten to the public one, then NORMAL.
// When the VIF is in security groups, they apply to the private side: each of
// its allowed flows gets a translated twin (inbound twins match the public
// address; outbound twins rewrite the source), and what no twin matches falls to
// the groups' default deny. Limitation: an *allow* VIF traffic rule
// (SdnController, priority 10000+) takes matching packets before translation,
// so inbound packets it allows reach the VM with the public destination; use
// security groups to open services of a VIF with an elastic IP.
//
// The flows, the pools (leasing, membership) and the priorities are computed in
// Rust (src/policy/elastic_ips.rs, one native call per operation or host); this
// facade keeps the leases (the state it exports), the events, the ARP rate
// limiter and the calls to the controller.

const native = require('./binding.js')
const { nativeCall } = require('./errors.js')
const { fail, argError, describe, checkVif, optionsObject, checkString, checkController } = require('./options.js')

// From the one band table (src/control/bands.rs): ARP to the controller first, then
// internal traffic untranslated, then translation.
const PRIORITY = Object.freeze(native.elasticIpPriorities())
const STATE_VERSION = 1

/** `list` (an array) of CIDR strings, checked to be strings: the native side reads them. */
function cidrStrings(list, where) {
  return Array.from(list, (p, i) => { // holes too
    if (typeof p !== 'string') throw argError(TypeError, 'ERR_INVALID_ARG_TYPE', `${where}[${i}] must be an IPv4 CIDR string, got ${describe(p)}`)
    return p
  })
}

/** The interfaces of a host (`Map` bridge -> `[{ name, ofport, vifUuid? }]`) as one list for the native side. */
function interfaceList(interfaces) {
  if (!(interfaces instanceof Map)) throw argError(TypeError, 'ERR_INVALID_ARG_TYPE', `interfaces must be a Map of bridge -> interfaces, got ${describe(interfaces)}`)
  const out = []
  for (const [bridge, list] of interfaces) {
    if (typeof bridge !== 'string' || !Array.isArray(list)) throw argError(TypeError, 'ERR_INVALID_ARG_TYPE', 'interfaces must map bridge names to arrays of interfaces')
    for (const i of list) {
      const ok = i !== null && typeof i === 'object' && typeof i.name === 'string' && typeof i.ofport === 'number' && (i.vifUuid == null || typeof i.vifUuid === 'string')
      if (!ok) throw argError(TypeError, 'ERR_INVALID_ARG_TYPE', `interfaces of ${bridge} must be { name, ofport, vifUuid? }, got ${describe(i)}`)
      out.push({ bridge, name: i.name, ofport: i.ofport, vifUuid: i.vifUuid ?? undefined })
    }
  }
  return out
}

class ElasticIps {
  #handle
  #sg
  #core // NativeElasticIps: the pools and internal ranges, parsed once
  #addresses = new Map() // public ip -> { ip, pool, number, generation, vif: { uuid, mac, ip } | null }
  #answering = new Map() // `${host}|${bridge}|${publicIp}` -> mac: where ARP for an address is answered
  #limiter
  #events

  /**
   * @param {import('./sdn-controller.js').SdnController} sdn
   * @param {object} options
   * @param {string[]} options.pools CIDRs the public addresses are leased from
   * @param {string[]} [options.internal] destinations reached without translation (the private networks)
   * @param {import('./security-groups.js').SecurityGroups} [options.securityGroups] applied on the private side
   * @param {number} [options.arpRatePerSec=20] ARP replies per second and address (burst 2x)
   */
  constructor(sdn, options) {
    checkController(sdn, ['registerProvider'])
    const { pools, internal = [], securityGroups, arpRatePerSec = 20 } = optionsObject(options)
    if (securityGroups !== undefined && (securityGroups === null || typeof securityGroups !== 'object' || typeof securityGroups.rulesOf !== 'function')) throw argError(TypeError, 'ERR_INVALID_ARG_TYPE', `options.securityGroups must be a SecurityGroups, got ${describe(securityGroups)}`)
    if (!Array.isArray(pools) || pools.length === 0) throw argError(TypeError, 'ERR_INVALID_ARG_TYPE', 'options.pools must be a non-empty array of CIDRs')
    const poolTexts = cidrStrings(pools, 'options.pools')
    if (!Array.isArray(internal)) throw argError(TypeError, 'ERR_INVALID_ARG_TYPE', 'options.internal must be an array of CIDRs')
    const internalTexts = cidrStrings(internal, 'options.internal')
    this.#core = nativeCall(() => new native.NativeElasticIps(poolTexts, internalTexts))
    if (typeof arpRatePerSec !== 'number') throw argError(TypeError, 'ERR_INVALID_ARG_TYPE', `options.arpRatePerSec must be a number, got ${describe(arpRatePerSec)}`)
    if (!(arpRatePerSec > 0) || arpRatePerSec > 1e6) throw argError(RangeError, 'ERR_OUT_OF_RANGE', 'options.arpRatePerSec must be positive, at most 1e6')
    this.#limiter = new native.NativeRateLimiter(arpRatePerSec, Math.max(1, Math.ceil(arpRatePerSec * 2)), 65536)
    this.#sg = securityGroups
    this.#events = sdn
    this.#handle = sdn.registerProvider(this)
    // With the controller's stateFile, the addresses of the last run come back here.
    const saved = this.#handle.savedState()
    if (saved !== undefined) this.importState(saved)
  }

  /** Where the controller's state file keeps this provider's state. */
  get stateKey() {
    return 'elasticIps'
  }

  /** Leases a free address (from `pool`, a CIDR given at construction, or any). */
  allocateAddress(pool) {
    if (pool !== undefined) checkString(pool, 'pool')
    // SDN_EIP_POOL_NOT_FOUND and SDN_EIP_POOL_EXHAUSTED come from the native side.
    const lease = nativeCall(() => this.#core.lease(pool, [...this.#addresses.keys()]))
    const ip = lease.publicIp
    const entry = { ip, pool: lease.pool, number: this.#handle.allocateNumber(`eip:${ip}`), generation: 0, vif: null }
    this.#addresses.set(ip, entry)
    this.#handle.persist().catch(() => {}) // a failure is reported by the controller
    return { publicIp: ip, pool: lease.pool }
  }

  /**
   * Associates `publicIp` with a VIF (`{ uuid, mac, ip }`, ip = its private IPv4);
   * an address already associated moves (one call). Sends a gratuitous ARP from
   * the new place. Resolves `{ hosts }`.
   */
  async associateAddress(vif, publicIp) {
    const entry = this.#address(publicIp)
    const v = this.#checkVif(vif)
    for (const other of this.#addresses.values()) {
      if (other !== entry && other.vif?.uuid === v.uuid) throw fail('SDN_EIP_VIF_BUSY', `VIF ${v.uuid} already has ${other.ip}: disassociate it first`)
    }
    entry.vif = v
    entry.generation = (entry.generation + 1) & 0xff
    const hosts = await this.#handle.refresh()
    await this.#announce(entry)
    return { hosts }
  }

  async disassociateAddress(publicIp) {
    const entry = this.#address(publicIp)
    if (!entry.vif) throw fail('SDN_EIP_NOT_ASSOCIATED', `${entry.ip} is not associated`)
    entry.vif = null
    return { hosts: await this.#handle.refresh() }
  }

  /** Returns an address to its pool (disassociating it first). */
  async releaseAddress(publicIp) {
    const entry = this.#address(publicIp)
    this.#addresses.delete(entry.ip)
    if (entry.vif) return { hosts: await this.#handle.refresh() }
    await this.#handle.persist()
    return { hosts: {} }
  }

  describeAddresses() {
    return [...this.#addresses.values()].map((e) => ({ publicIp: e.ip, pool: e.pool, vif: e.vif ? { ...e.vif } : null }))
  }

  exportState() {
    return { version: STATE_VERSION, addresses: [...this.#addresses.values()].map((e) => ({ ...e, vif: e.vif ? { ...e.vif } : null })) }
  }

  /** Replaces the leases (no I/O: call sdn.sync() to apply). */
  importState(state) {
    if (state === null || typeof state !== 'object' || state.version !== STATE_VERSION || !Array.isArray(state.addresses)) {
      throw argError(TypeError, 'ERR_INVALID_ARG_VALUE', `state must come from exportState() (version ${STATE_VERSION})`)
    }
    const entries = Array.from(state.addresses, (e, i) => { // holes too
      if (e === null || typeof e !== 'object' || typeof e.ip !== 'string' || typeof e.pool !== 'string' || !Number.isInteger(e.number) || e.number < 1 || !Number.isInteger(e.generation) || e.generation < 0 || e.generation > 255 || (e.vif !== null && typeof e.vif !== 'object')) {
        throw argError(TypeError, 'ERR_INVALID_ARG_VALUE', `state must come from exportState(): addresses[${i}] is not an address`)
      }
      return e
    })
    // Each a plain address in one of the pools (errors name state.addresses[i].ip).
    nativeCall(() => this.#core.checkLeased(entries.map((e) => e.ip)))
    const map = new Map()
    for (const e of entries) map.set(e.ip, { ip: e.ip, pool: e.pool, number: e.number, generation: e.generation, vif: e.vif ? this.#checkVif(e.vif) : null })
    for (const e of map.values()) this.#handle.reserveNumbers(e.number)
    this.#addresses = map
  }

  // ---- the provider ----

  /** @internal The flows of the associated VIFs of a host, per bridge. */
  items(hostId, interfaces) {
    checkString(hostId, 'hostId')
    const associated = [...this.#addresses.values()].filter((e) => e.vif)
    const list = associated.length === 0 ? [] : interfaceList(interfaces)
    // One native call for the host: the flows of every associated address on every bridge of its VIF.
    const placed = associated.length === 0 ? [] : nativeCall(() => this.#core.place(associated.map((e) => this.#association(e)), list, this.#handle.tableId ?? 0))
    for (const key of [...this.#answering.keys()]) if (key.startsWith(`${hostId}|`)) this.#answering.delete(key)
    const out = new Map()
    for (const p of placed) {
      const items = out.get(p.bridge) ?? []
      items.push({ cookie: p.cookie, flows: p.flows })
      out.set(p.bridge, items)
      this.#answering.set(`${hostId}|${p.bridge}|${p.publicIp}`, p.mac)
    }
    return out
  }

  /** What the native side needs of an associated address: its cookie's parts, its VIF, the VIF's security groups. */
  #association(e) {
    const groups = this.#sg?.rulesOf(e.vif.uuid)
    return { publicIp: e.ip, number: e.number, generation: e.generation, vif: e.vif, groups: groups ?? undefined }
  }

  /** @internal ARP requests for our public addresses, sent up by the 9990 flows. */
  onPacketIn(event) {
    const { host, bridge, message, send } = optionsObject(event, 'event')
    checkString(host, 'event.host')
    checkString(bridge, 'event.bridge')
    if (message === null || typeof message !== 'object' || !Buffer.isBuffer(message.data)) throw argError(TypeError, 'ERR_INVALID_ARG_TYPE', 'event.message must be a packet_in with data (a Buffer)')
    if (typeof send !== 'function') throw argError(TypeError, 'ERR_INVALID_ARG_TYPE', 'event.send must be a function')
    const arp = native.parseArp(message.data)
    if (!arp || arp.op !== 1) return
    const mac = this.#answering.get(`${host}|${bridge}|${arp.targetIp}`)
    if (!mac) return
    if (!this.#limiter.allow(arp.targetIp, Date.now())) return
    const reply = native.buildArpReply(message.data, mac)
    const inPort = message.inPort
    send([{ type: 'packet_out', inPort: 'controller', actions: [{ type: 'output', port: inPort }], data: reply }]).then(
      () => this.#events.emit('arpReply', { host, bridge, publicIp: arp.targetIp, mac, to: arp.senderIp, port: inPort }),
      (err) => this.#handle.report('ARP reply not sent', err),
    )
  }

  async #announce(entry) {
    if (!entry.vif) return // disassociated (or released) meanwhile
    const garp = native.buildGratuitousArp(entry.vif.mac, entry.ip)
    const sends = []
    for (const key of this.#answering.keys()) {
      const [host, bridge, ip] = key.split('|')
      if (ip !== entry.ip) continue
      sends.push(this.#handle.send(host, bridge, [{ type: 'packet_out', inPort: 'controller', actions: [{ type: 'output', port: 'flood' }], data: garp }]).catch((err) => this.#handle.report('gratuitous ARP not sent', err)))
    }
    await Promise.all(sends)
  }

  #address(publicIp) {
    checkString(publicIp, 'publicIp')
    const e = this.#addresses.get(publicIp)
    if (!e) throw fail('SDN_EIP_NOT_FOUND', `${publicIp} is not an allocated address`)
    return e
  }

  #checkVif(vif) {
    if (typeof vif?.ip !== 'string') throw argError(TypeError, 'ERR_INVALID_ARG_TYPE', 'vif.ip (its private IPv4 address) is required')
    const { uuid, mac, ips } = checkVif({ uuid: vif.uuid, mac: vif.mac, ips: [vif.ip] }, '{ uuid, mac, ip }')
    return { uuid, mac, ip: ips[0] }
  }
}

module.exports = { ElasticIps, ELASTIC_IP_PRIORITIES: PRIORITY }
