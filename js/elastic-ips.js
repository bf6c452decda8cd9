'use strict'
// EC2-style elastic IPs on OpenFlow 1.1: a public address leased from a pool,
// associated with one VIF on any network, moved in one call, released.
//
// On the VIF's bridge (table 0, priorities 9980-9990: above the security groups,
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

const native = require('./binding.js')
const { encodeBatch, decode, frames } = require('./codec.js')
const { fail, argError, describe, ipv4Cidr, checkVif, optionsObject, checkString, checkController } = require('./options.js')

// From the one band table (src/control/bands.rs): ARP to the controller first, then
// internal traffic untranslated, then translation.
const BAND = native.priorityBands().elasticIps
const PRIORITY = { arp: BAND.max, internal: BAND.min + Math.floor((BAND.max - BAND.min) / 2), nat: BAND.min }
const STATE_VERSION = 1
const ETH_IP = 0x0800
const ETH_ARP = 0x0806

const intToIp = (n) => [24, 16, 8, 0].map((s) => Math.floor(n / 2 ** s) % 256).join('.')

/** A checked CIDR with its numbers: `{ text, base, prefix, size }` (read by the crate's one parser). */
function parseCidr(text, where) {
  const { cidr, network, prefix } = ipv4Cidr(typeof text === 'string' ? text.trim() : text, where)
  return { text: cidr, base: network, prefix, size: 2 ** (32 - prefix) }
}

/** Is `inner` inside `outer` (both { base, prefix })? */
const within = (inner, outer) => inner.prefix >= outer.prefix && Math.floor(inner.base / outer.size) === Math.floor(outer.base / outer.size)

class ElasticIps {
  #handle
  #sg
  #pools
  #internal
  #addresses = new Map() // public ip -> { ip, pool, number, generation, vif: { uuid, mac, ip } | null }
  #answering = new Map() // `${host}|${bridge}|${publicIp}` -> mac: where ARP for an address is answered
  #limiter
  #twins = new Map() // cache: derived rules + endpoint + address -> FLOW_MOD objects
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
    this.#pools = pools.map((p, i) => parseCidr(p, `options.pools[${i}]`))
    if (!Array.isArray(internal)) throw argError(TypeError, 'ERR_INVALID_ARG_TYPE', 'options.internal must be an array of CIDRs')
    this.#internal = internal.map((p, i) => parseCidr(p, `options.internal[${i}]`))
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
    const pools = pool === undefined ? this.#pools : this.#pools.filter((p) => p.text === pool || p.text === `${pool}/32`)
    if (pools.length === 0) throw fail('SDN_EIP_POOL_NOT_FOUND', `no address pool ${pool}`)
    for (const p of pools) {
      // Network and broadcast addresses are skipped in pools larger than /31.
      const [first, last] = p.prefix >= 31 ? [p.base, p.base + p.size - 1] : [p.base + 1, p.base + p.size - 2]
      for (let n = first; n <= last; n++) {
        const ip = intToIp(n)
        if (this.#addresses.has(ip)) continue
        const entry = { ip, pool: p.text, number: this.#handle.allocateNumber(`eip:${ip}`), generation: 0, vif: null }
        this.#addresses.set(ip, entry)
        this.#handle.persist().catch(() => {}) // a failure is reported by the controller
        return { publicIp: ip, pool: p.text }
      }
    }
    throw fail('SDN_EIP_POOL_EXHAUSTED', `no free address in ${pools.map((p) => p.text).join(', ')}`)
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
    const map = new Map()
    Array.from(state.addresses).forEach((e, i) => { // holes too
      if (e === null || typeof e !== 'object' || typeof e.pool !== 'string' || !Number.isInteger(e.number) || e.number < 1 || !Number.isInteger(e.generation) || e.generation < 0 || e.generation > 255 || (e.vif !== null && typeof e.vif !== 'object')) {
        throw argError(TypeError, 'ERR_INVALID_ARG_VALUE', `state must come from exportState(): addresses[${i}] is not an address`)
      }
      const ip = parseCidr(e.ip, 'state.addresses[].ip')
      if (!this.#pools.some((p) => within(ip, p))) throw argError(TypeError, 'ERR_INVALID_ARG_VALUE', `${e.ip} is in none of the pools`)
      map.set(e.ip, { ip: e.ip, pool: e.pool, number: e.number, generation: e.generation, vif: e.vif ? this.#checkVif(e.vif) : null })
    })
    for (const e of map.values()) this.#handle.reserveNumbers(e.number)
    this.#addresses = map
  }

  // ---- the provider ----

  /** @internal The flows of the associated VIFs of a host, per bridge. */
  items(hostId, interfaces) {
    const out = new Map()
    for (const key of [...this.#answering.keys()]) if (key.startsWith(`${hostId}|`)) this.#answering.delete(key)
    for (const e of this.#addresses.values()) {
      if (!e.vif) continue
      for (const [bridge, list] of interfaces) {
        for (const iface of list) {
          if (iface.vifUuid !== e.vif.uuid || iface.name.startsWith('tap')) continue
          const flows = this.#flows(e, iface.ofport)
          const cookie = this.#handle.cookie(e.number, e.generation)
          for (const f of flows) f.cookie = cookie
          const items = out.get(bridge) ?? []
          items.push({ cookie, flows: encodeBatch(flows) })
          out.set(bridge, items)
          this.#answering.set(`${hostId}|${bridge}|${e.ip}`, e.vif.mac)
        }
      }
    }
    return out
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

  // ---- flows ----

  #flows(e, ofport) {
    const { mac, ip } = e.vif
    const P = e.ip
    const toVif = [{ type: 'set_dl_dst', dlAddr: mac }, { type: 'set_nw_dst', nwAddr: ip }, { type: 'output', port: ofport }]
    const flows = []
    const fromVif = [{ type: 'set_nw_src', nwAddr: P }, { type: 'output', port: 'normal' }]
    const flow = (priority, match, actions) => ({ type: 'flow_mod', command: 'add', priority, match, instructions: [{ type: 'apply_actions', actions }] })
    flows.push(flow(PRIORITY.arp, { dlType: ETH_ARP, nwProto: 1, nwDst: P }, [{ type: 'output', port: 'controller', maxLen: 128 }]))
    const groups = this.#sg?.rulesOf(e.vif.uuid)
    const out = { inPort: ofport, dlSrc: mac, dlType: ETH_IP, nwSrc: ip }
    const translateOut = () => {
      flows.push(flow(PRIORITY.nat, out, fromVif))
      for (const k of this.#internal) flows.push(flow(PRIORITY.internal, { ...out, nwDst: k.text }, [{ type: 'output', port: 'normal' }]))
    }
    if (!groups) {
      flows.push(flow(PRIORITY.nat, { dlType: ETH_IP, nwDst: P }, toVif))
      translateOut()
      return flows
    }
    // Outbound open (no egress flows of the groups): translate everything the VIF sends.
    if (!groups.egressRestricted) translateOut()
    // Twins of the security groups' allowed IP flows: the groups decide, translated.
    for (const f of this.#compiled(groups.rules, ofport, mac, ip)) {
      const m = { ...f.match }
      delete m.oxm
      if (m.dlType !== ETH_IP) continue
      if (m.inPort === undefined) {
        flows.push(flow(PRIORITY.nat, { ...m, nwDst: P }, toVif))
        continue
      }
      if (!groups.egressRestricted) continue
      const twin = { ...m, nwSrc: ip }
      const dst = m.nwDst === undefined ? null : parseCidr(m.nwDst, 'nwDst')
      let covered = false
      for (const k of this.#internal) {
        if (dst && !within(k, dst) && !within(dst, k)) continue
        const narrower = dst && within(dst, k) ? dst : k
        flows.push(flow(PRIORITY.internal, { ...twin, nwDst: narrower.text }, [{ type: 'output', port: 'normal' }]))
        if (dst && within(dst, k)) covered = true
      }
      if (!covered) flows.push(flow(PRIORITY.nat, twin, fromVif))
    }
    return flows
  }

  /** The security groups' allow flows of a VIF, compiled by the rule compiler (cached). */
  #compiled(derived, ofport, mac, ip) {
    const allows = derived.filter((d) => JSON.parse(d.spec).allow)
    const key = JSON.stringify([allows.map((d) => [d.priority, d.spec]), ofport, mac, ip])
    let flows = this.#twins.get(key)
    if (!flows) {
      const cookie = this.#handle.cookie(1, 0) // compiled only, never installed: any cookie of ours will do
      const endpoints = [{ ofport, mac, ips: [ip] }]
      flows = frames(this.#handle.compile(allows.map((d) => ({ cookie, priority: d.priority, specJson: d.spec, endpoints })))).map(decode)
      if (this.#twins.size > 1000) this.#twins.clear()
      this.#twins.set(key, flows)
    }
    return flows
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
