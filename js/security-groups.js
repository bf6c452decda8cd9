'use strict'
// EC2-style security groups on OpenFlow 1.1, stateless by necessity.
//
// A security group is a named set of permissions (protocol, port range, CIDR or
// source group), inbound (ingress) and outbound (egress). A VIF in at least one
// group gets default-deny ingress; egress is allowed unless none of its groups
// keeps the default "all traffic to 0.0.0.0/0" egress permission, as in EC2. The
// union of the groups' permissions decides.
//
// OpenFlow 1.1 has no connection tracking, so "stateless" is made usable:
// * an inbound permission also lets its replies out (inbound TCP 22 from
//   10.10.1.0/24 => outbound from source port 22 to 10.10.1.0/24), when egress is
//   restricted;
// * an outbound permission with ports also lets its replies in (outbound TCP 443
//   to 0.0.0.0/0 => inbound from source port 443), since ingress is default-deny;
//   the default "all traffic" egress permission opens no return path (it would
//   open everything): declare the services a VM uses as a client to get replies;
// * ARP and the DHCP client keep working; a VIF traffic rule (SdnController,
//   higher priorities) can still block them explicitly.
//
// Flows (per VIF, on its bridge, table 0), below the ordered traffic rules
// (10000+) and above XAPI's VIF locking (4000-8000):
//   9900 - slot   the permissions of the VIF's group in that slot (and their replies)
//   9800          ARP and DHCP client, both ways
//   9100          default deny: everything delivered to the VIF; everything it
//                 sends when egress is restricted
// One cookie per group (all its VIFs, on every host) and one for the base flows,
// so one call updates a group everywhere; every change is pushed adds first,
// deletes last (make-before-break), one barrier per switch.

const native = require('./binding.js')
const { fail, argError, describe, checkCidr, checkVif, optionsObject, checkController, isUuidRef } = require('./options.js')
const { nativeCall } = require('./errors.js')

// From the one band table (src/control/bands.rs).
const BANDS = native.priorityBands()
const PRIORITY = { allow: BANDS.securityGroupPermissions.max, basics: BANDS.securityGroupBasics.min, deny: BANDS.securityGroupDeny.min }
/** One permission priority per group slot, inside the band. */
const MAX_GROUPS_PER_VIF = BANDS.securityGroupPermissions.max - BANDS.securityGroupPermissions.min + 1
const STATE_VERSION = 1
const ANY_CIDR = '0.0.0.0/0'

function isAllTraffic(p) {
  return p.protocol === 'all' && p.cidr === ANY_CIDR
}

/** A permission checked and normalized: `{ protocol, fromPort?, toPort?, cidr? | sourceGroup? }`. */
function normalizePermission(p, where) {
  if (p === null || typeof p !== 'object' || Array.isArray(p)) throw argError(TypeError, 'ERR_INVALID_ARG_TYPE', `${where} must be an object { protocol, fromPort, toPort, cidr | sourceGroup }`)
  const known = ['protocol', 'fromPort', 'toPort', 'cidr', 'sourceGroup']
  const unknown = Object.keys(p).find((k) => !known.includes(k))
  if (unknown) throw argError(TypeError, 'ERR_INVALID_ARG_VALUE', `${where}.${unknown} is not a permission field (${known.join(', ')})`)
  let protocol = p.protocol
  if (protocol === -1 || protocol === '-1') protocol = 'all'
  if (typeof protocol !== 'string') throw argError(TypeError, 'ERR_INVALID_ARG_TYPE', `${where}.protocol must be tcp, udp, icmp or all (-1)`)
  protocol = protocol.toLowerCase()
  if (!['tcp', 'udp', 'icmp', 'all'].includes(protocol)) throw argError(TypeError, 'ERR_INVALID_ARG_VALUE', `${where}.protocol must be tcp, udp, icmp or all (-1), got ${JSON.stringify(p.protocol)}`)
  const out = { protocol }
  if (protocol === 'tcp' || protocol === 'udp') {
    for (const k of ['fromPort', 'toPort']) {
      if (!Number.isInteger(p[k])) throw argError(TypeError, 'ERR_INVALID_ARG_TYPE', `${where}.${k} must be an integer port for ${protocol}`)
      if (p[k] < 0 || p[k] > 65535) throw argError(RangeError, 'ERR_OUT_OF_RANGE', `${where}.${k} must be 0..65535, got ${p[k]}`)
    }
    if (p.fromPort > p.toPort) throw argError(TypeError, 'ERR_INVALID_ARG_VALUE', `${where}: fromPort ${p.fromPort} is above toPort ${p.toPort}`)
    Object.assign(out, { fromPort: p.fromPort, toPort: p.toPort })
  } else if (protocol === 'icmp') {
    // EC2: fromPort is the ICMP type, toPort the code, -1 for any.
    for (const k of ['fromPort', 'toPort']) {
      const v = p[k] ?? -1
      if (!Number.isInteger(v) || v < -1 || v > 255) throw argError(RangeError, 'ERR_OUT_OF_RANGE', `${where}.${k} is the ICMP ${k === 'fromPort' ? 'type' : 'code'}: -1..255`)
      if (v !== -1) out[k] = v
    }
  } else if (p.fromPort !== undefined || p.toPort !== undefined) {
    throw argError(TypeError, 'ERR_INVALID_ARG_VALUE', `${where}: ports need protocol tcp or udp`)
  }
  if ((p.cidr === undefined) === (p.sourceGroup === undefined)) throw argError(TypeError, 'ERR_INVALID_ARG_VALUE', `${where} needs exactly one of cidr and sourceGroup`)
  if (p.cidr !== undefined) {
    if (typeof p.cidr !== 'string') throw argError(TypeError, 'ERR_INVALID_ARG_TYPE', `${where}.cidr must be an IPv4 CIDR string`)
    out.cidr = p.cidr.trim() === '0.0.0.0' ? ANY_CIDR : checkCidr(p.cidr, `${where}.cidr`)
  } else {
    if (typeof p.sourceGroup !== 'string' || p.sourceGroup === '') throw argError(TypeError, 'ERR_INVALID_ARG_TYPE', `${where}.sourceGroup must be a group name or id`)
    out.sourceGroup = p.sourceGroup
  }
  return out
}

const samePermission = (a, b) => JSON.stringify(a) === JSON.stringify(b)

class SecurityGroups {
  #handle
  #groups = new Map() // id -> group
  #attachments = new Map() // vif uuid -> { vif: { uuid, mac, ips }, groups: [id] }
  #baseNumber
  #flowBudget
  #counter = new native.NativeFlowTable(0)
  #specs = new Map() // derived rule JSON -> normalized JSON (validated once)

  /**
   * @param {import('./sdn-controller.js').SdnController} sdn
   * @param {object} [options]
   * @param {number} [options.flowBudget=1024] most flows one group may cost per VIF
   */
  constructor(sdn, options) {
    checkController(sdn, ['registerProvider'])
    const { flowBudget = 1024 } = optionsObject(options)
    if (!Number.isInteger(flowBudget) || flowBudget < 1) throw argError(RangeError, 'ERR_OUT_OF_RANGE', 'options.flowBudget must be a positive integer')
    this.#flowBudget = flowBudget
    this.#handle = sdn.registerProvider(this)
    this.#baseNumber = this.#handle.allocateNumber('sg:base')
    // With the controller's stateFile, the groups of the last run come back here.
    const saved = this.#handle.savedState()
    if (saved !== undefined) this.importState(saved)
  }

  /** Where the controller's state file keeps this provider's state. */
  get stateKey() {
    return 'securityGroups'
  }

  // ---- groups ----

  /** Creates a group (no I/O). As in EC2 it starts with one egress permission: all traffic to 0.0.0.0/0. */
  createSecurityGroup(name, description = '') {
    if (typeof name !== 'string' || name.trim() === '' || name.length > 255) throw argError(TypeError, 'ERR_INVALID_ARG_VALUE', 'name must be a non-empty string of at most 255 characters')
    if (typeof description !== 'string' || description.length > 255) throw argError(TypeError, 'ERR_INVALID_ARG_VALUE', 'description must be a string of at most 255 characters')
    if (this.#byName(name)) throw fail('SDN_SG_EXISTS', `a security group named ${JSON.stringify(name)} exists`)
    // The name is the group's identity across restarts: the same name, the same cookie.
    const number = this.#handle.allocateNumber(`sg:group:${name}`)
    const group = { id: `sg-${number.toString(16).padStart(8, '0')}`, name, description, number, ingress: [], egress: [{ protocol: 'all', cidr: ANY_CIDR }] }
    this.#groups.set(group.id, group)
    this.#handle.persist().catch(() => {}) // a failure is reported by the controller
    return this.#view(group)
  }

  /** Deletes a group no VIF uses and no other group names as sourceGroup. */
  async deleteSecurityGroup(ref) {
    const g = this.#group(ref)
    const members = this.#members(g.id)
    if (members.length > 0) throw fail('SDN_SG_IN_USE', `security group ${g.name} is attached to ${members.length} VIF(s): detach it first`)
    for (const other of this.#groups.values()) {
      if (other !== g && [...other.ingress, ...other.egress].some((p) => p.sourceGroup === g.id)) {
        throw fail('SDN_SG_IN_USE', `security group ${other.name} refers to ${g.name} as sourceGroup`)
      }
    }
    this.#groups.delete(g.id)
    return { hosts: await this.#handle.refresh() }
  }

  authorizeIngress(group, permissions) {
    return this.#authorize(group, 'ingress', permissions)
  }

  authorizeEgress(group, permissions) {
    return this.#authorize(group, 'egress', permissions)
  }

  revokeIngress(group, permissions) {
    return this.#revoke(group, 'ingress', permissions)
  }

  revokeEgress(group, permissions) {
    return this.#revoke(group, 'egress', permissions)
  }

  async #authorize(ref, side, permissions) {
    const g = this.#group(ref)
    const list = this.#permissionList(permissions, side)
    for (const p of list) {
      if (p.sourceGroup !== undefined) p.sourceGroup = this.#group(p.sourceGroup).id
      if ([...g[side], ...list.filter((q) => q !== p)].some((q) => samePermission(q, p))) {
        throw fail('SDN_SG_DUPLICATE', `security group ${g.name} already has this ${side} permission: ${JSON.stringify(p)}`)
      }
    }
    const next = { ...g, [side]: [...g[side], ...list] }
    this.#checkBudget(next)
    g[side] = next[side]
    return { group: this.#view(g), hosts: await this.#handle.refresh() }
  }

  async #revoke(ref, side, permissions) {
    const g = this.#group(ref)
    const list = this.#permissionList(permissions, side)
    for (const p of list) {
      if (p.sourceGroup !== undefined) p.sourceGroup = this.#group(p.sourceGroup).id
      if (!g[side].some((q) => samePermission(q, p))) throw fail('SDN_SG_PERMISSION_NOT_FOUND', `security group ${g.name} has no such ${side} permission: ${JSON.stringify(p)}`)
    }
    g[side] = g[side].filter((q) => !list.some((p) => samePermission(q, p)))
    return { group: this.#view(g), hosts: await this.#handle.refresh() }
  }

  #permissionList(permissions, side) {
    const list = Array.isArray(permissions) ? permissions : [permissions]
    if (list.length === 0) throw argError(TypeError, 'ERR_INVALID_ARG_VALUE', 'give at least one permission')
    return Array.from(list, (p, i) => normalizePermission(p, Array.isArray(permissions) ? `${side}[${i}]` : side)) // holes too
  }

  // ---- VIFs ----

  /**
   * Sets the groups of a VIF, or of several VIFs at once (`{ uuid, mac, ips? }` or
   * an array of them; `ips` are its IPv4 addresses: needed for sourceGroup rules
   * naming its groups, and they keep allowed egress inside them, like XAPI's VIF
   * locking). Every VIF is checked first; then one push to every host.
   */
  async attach(vifs, groups) {
    const list = Array.from(Array.isArray(vifs) ? vifs : [vifs], (v) => this.#checkVif(v)) // holes too
    if (!Array.isArray(groups) || groups.length === 0) throw argError(TypeError, 'ERR_INVALID_ARG_TYPE', 'groups must be a non-empty array of group names or ids')
    if (groups.length > MAX_GROUPS_PER_VIF) throw argError(RangeError, 'ERR_OUT_OF_RANGE', `a VIF may be in at most ${MAX_GROUPS_PER_VIF} groups`)
    const ids = [...new Set(groups.map((r) => this.#group(r).id))]
    for (const v of list) this.#attachments.set(v.uuid, { vif: v, groups: ids })
    return { hosts: await this.#handle.refresh() }
  }

  /** Removes groups from a VIF (all when `groups` is omitted): a VIF in no group is not filtered. */
  async detach(vif, groups) {
    if (!isUuidRef(vif)) throw argError(TypeError, 'ERR_INVALID_ARG_TYPE', `vif must be a VIF uuid or { uuid }, got ${describe(vif)}`)
    if (groups !== undefined && !Array.isArray(groups)) throw argError(TypeError, 'ERR_INVALID_ARG_TYPE', `groups must be an array of group names or ids, got ${describe(groups)}`)
    const uuid = typeof vif === 'string' ? vif.toLowerCase() : vif?.uuid?.toLowerCase()
    const a = this.#attachments.get(uuid)
    if (!a) throw fail('SDN_SG_NOT_ATTACHED', `VIF ${uuid} is in no security group`)
    if (groups === undefined) this.#attachments.delete(uuid)
    else {
      const ids = groups.map((r) => this.#group(r).id)
      a.groups = a.groups.filter((id) => !ids.includes(id))
      if (a.groups.length === 0) this.#attachments.delete(uuid)
    }
    return { hosts: await this.#handle.refresh() }
  }

  /** Every group with its permissions and members (VIF uuids). */
  describe() {
    return [...this.#groups.values()].map((g) => ({ ...this.#view(g), members: this.#members(g.id) }))
  }

  exportState() {
    return {
      version: STATE_VERSION,
      baseNumber: this.#baseNumber,
      groups: [...this.#groups.values()].map((g) => ({ ...g, ingress: [...g.ingress], egress: [...g.egress] })),
      attachments: [...this.#attachments.values()].map((a) => ({ vif: { ...a.vif }, groups: [...a.groups] })),
    }
  }

  /** Replaces the groups and attachments (no I/O: call sdn.sync() to apply). */
  importState(state) {
    if (state === null || typeof state !== 'object' || state.version !== STATE_VERSION) throw argError(TypeError, 'ERR_INVALID_ARG_VALUE', `state must come from exportState() (version ${STATE_VERSION})`)
    const notState = (what) => argError(TypeError, 'ERR_INVALID_ARG_VALUE', `state must come from exportState(): ${what}`)
    if (!Array.isArray(state.groups) || !Array.isArray(state.attachments)) throw notState('groups and attachments must be arrays')
    Array.from(state.groups).forEach((g, i) => { // holes too
      if (g === null || typeof g !== 'object' || typeof g.id !== 'string' || typeof g.name !== 'string' || typeof g.description !== 'string' || !Number.isInteger(g.number) || g.number < 1 || !Array.isArray(g.ingress) || !Array.isArray(g.egress)) throw notState(`groups[${i}] is not a group`)
    })
    Array.from(state.attachments).forEach((a, i) => {
      if (a === null || typeof a !== 'object' || a.vif === null || typeof a.vif !== 'object' || !Array.isArray(a.groups)) throw notState(`attachments[${i}] is not an attachment`)
    })
    const groups = new Map()
    for (const g of state.groups) {
      const ingress = Array.from(g.ingress, (p, i) => normalizePermission(p, `${g.name}.ingress[${i}]`))
      const egress = Array.from(g.egress, (p, i) => normalizePermission(p, `${g.name}.egress[${i}]`))
      groups.set(g.id, { id: g.id, name: g.name, description: g.description, number: g.number, ingress, egress })
    }
    const attachments = new Map()
    for (const a of state.attachments) {
      if (!Array.from(a.groups).every((id) => groups.has(id))) throw argError(TypeError, 'ERR_INVALID_ARG_VALUE', `state attaches VIF ${describe(a.vif.uuid)} to an unknown group`)
      const vif = this.#checkVif(a.vif)
      attachments.set(vif.uuid, { vif, groups: [...a.groups] })
    }
    if (!Number.isInteger(state.baseNumber) || state.baseNumber < 1) throw argError(TypeError, 'ERR_INVALID_ARG_VALUE', 'state.baseNumber is missing')
    for (const g of groups.values()) this.#handle.reserveNumbers(g.number)
    this.#handle.reserveNumbers(state.baseNumber)
    this.#baseNumber = state.baseNumber
    this.#groups = groups
    this.#attachments = attachments
  }

  // ---- the provider: flows per host and bridge ----

  /** @internal Called by the controller: the flows of every attached VIF of a host, per bridge. */
  items(hostId, interfaces) {
    const out = new Map()
    if (this.#attachments.size === 0) return out
    for (const [bridge, list] of interfaces) {
      const items = []
      for (const iface of list) {
        const a = this.#attachments.get(iface.vifUuid)
        if (!a) continue
        const mac = a.vif.mac
        items.push(...this.#vifItems(a, { ofport: iface.ofport, mac, ips: a.vif.ips }))
      }
      if (items.length > 0) out.set(bridge, items)
    }
    return out
  }

  /**
   * @internal What a VIF's groups make: `{ egressRestricted, rules: [{ priority, spec }] }`
   * (spec = normalized JSON), or null when it is in no group.
   */
  rulesOf(vifUuid) {
    const a = this.#attachments.get(vifUuid)
    if (!a) return null
    const egressRestricted = !a.groups.some((id) => this.#groups.get(id)?.egress.some(isAllTraffic))
    const rules = this.#derived(a).map(({ priority, rule }) => {
      const { unlocked, ...r } = rule
      return { priority, spec: this.#spec(r) }
    })
    return { egressRestricted, rules }
  }

  /** The derived rules of one VIF: `[{ cookie, priority, rule }]` (normalized rules). */
  #derived(a) {
    const groups = a.groups.map((id) => this.#groups.get(id)).filter(Boolean)
    const restricted = !groups.some((g) => g.egress.some(isAllTraffic))
    const target = { vif: { uuid: a.vif.uuid, mac: a.vif.mac } }
    const out = []
    const base = this.#handle.cookie(this.#baseNumber, 0)
    const add = (cookie, priority, rule) => out.push({ cookie, priority, rule: { ...target, ...rule } })
    groups.forEach((g, slot) => {
      const cookie = this.#handle.cookie(g.number, 0)
      const priority = PRIORITY.allow - slot
      for (const p of g.ingress) {
        for (const ipRange of this.#sources(p)) {
          for (const m of matches(p)) add(cookie, priority, { allow: true, ...m, ipRange, direction: 'to' })
          if (restricted) for (const r of replies(p)) add(cookie, priority, { allow: true, ...r, ipRange, direction: 'from' })
        }
      }
      for (const p of g.egress) {
        if (isAllTraffic(p)) continue // no flows: egress is unrestricted, and it opens no return path
        for (const ipRange of this.#sources(p)) {
          if (restricted) for (const m of matches(p)) add(cookie, priority, { allow: true, ...m, ipRange, direction: 'from' })
          for (const r of replies(p)) add(cookie, priority, { allow: true, ...r, ipRange, direction: 'to' })
        }
      }
    })
    // The basics a VM needs, then default deny.
    add(base, PRIORITY.basics, { allow: true, protocol: 'arp', direction: restricted ? 'both' : 'to' })
    add(base, PRIORITY.basics, { allow: true, protocol: 'udp', sourcePort: 67, port: 68, direction: 'to' })
    if (restricted) add(base, PRIORITY.basics, { allow: true, protocol: 'udp', sourcePort: 68, port: 67, direction: 'from', unlocked: true })
    add(base, PRIORITY.deny, { allow: false, direction: restricted ? 'both' : 'to' })
    return out
  }

  #vifItems(a, endpoint) {
    return this.#derived(a).map(({ cookie, priority, rule }) => {
      // The DHCP client sends from 0.0.0.0 before it has an address.
      const { unlocked, ...r } = rule
      return { cookie, priority, specJson: this.#spec(r), endpoints: [unlocked ? { ...endpoint, ips: [] } : endpoint] }
    })
  }

  #spec(rule) {
    const text = JSON.stringify(rule)
    let spec = this.#specs.get(text)
    if (spec === undefined) {
      spec = nativeCall(() => native.validateRule(text))
      if (this.#specs.size > 100000) this.#specs.clear()
      this.#specs.set(text, spec)
    }
    return spec
  }

  /** The address ranges a permission names: its CIDR, or the addresses of the source group's members. */
  #sources(p) {
    if (p.cidr !== undefined) return [p.cidr === ANY_CIDR ? undefined : p.cidr]
    const ips = new Set()
    for (const a of this.#attachments.values()) if (a.groups.includes(p.sourceGroup)) for (const ip of a.vif.ips) ips.add(`${ip}/32`)
    return [...ips]
  }

  #checkBudget(group) {
    // Worst case per VIF: egress restricted (replies of inbound permissions too), one address per source group member.
    const endpoint = JSON.stringify([{ ofport: 1, mac: '02:00:00:00:00:01', ips: [] }])
    const target = { vif: { uuid: '00000000-0000-0000-0000-000000000001', mac: '02:00:00:00:00:01' } }
    let flows = 0
    const count = (rule) => (flows += nativeCall(() => this.#counter.flowCount(this.#spec({ ...target, ...rule }), endpoint)))
    for (const p of group.ingress) {
      const sources = p.cidr !== undefined ? 1 : Math.max(1, this.#sources(p).length)
      for (let i = 0; i < sources; i++) {
        for (const m of matches(p)) count({ allow: true, ...m, direction: 'to' })
        for (const r of replies(p)) count({ allow: true, ...r, direction: 'from' })
      }
    }
    for (const p of group.egress) {
      if (isAllTraffic(p)) continue
      for (const m of matches(p)) count({ allow: true, ...m, direction: 'from' })
      for (const r of replies(p)) count({ allow: true, ...r, direction: 'to' })
    }
    if (flows > this.#flowBudget) {
      throw fail('SDN_FLOW_BUDGET', `security group ${group.name} would cost ${flows} flows per VIF, over the budget of ${this.#flowBudget}: OpenFlow 1.1 matches one port per flow, so a port range costs one flow per port (and as much again for its replies); narrow the ranges or raise flowBudget`)
    }
  }

  // ---- helpers ----

  #group(ref) {
    if (typeof ref !== 'string') throw argError(TypeError, 'ERR_INVALID_ARG_TYPE', 'a security group is given by its name or id')
    const g = this.#groups.get(ref) ?? this.#byName(ref)
    if (!g) throw fail('SDN_SG_NOT_FOUND', `no security group ${JSON.stringify(ref)}`)
    return g
  }

  #byName(name) {
    for (const g of this.#groups.values()) if (g.name === name) return g
    return undefined
  }

  #members(id) {
    return [...this.#attachments.values()].filter((a) => a.groups.includes(id)).map((a) => a.vif.uuid)
  }

  #checkVif(vif) {
    return checkVif(vif, '{ uuid, mac, ips? }')
  }

  #view(g) {
    return { id: g.id, name: g.name, description: g.description, ingress: g.ingress.map((p) => ({ ...p })), egress: g.egress.map((p) => ({ ...p })) }
  }
}

/** 0-65535 (or 1-65535) is every port: no port match at all. */
const allPorts = (p) => p.fromPort <= 1 && p.toPort === 65535

/** A port range in pieces a rule accepts (a rule covers at most 256 ports). */
function portChunks(lo, hi) {
  const out = []
  for (let a = lo; a <= hi; a += 256) {
    const b = Math.min(hi, a + 255)
    out.push(a === b ? a : [a, b])
  }
  return out
}

/** The match parts of the rules for a permission. */
function matches(p) {
  if (p.protocol === 'all') return [{ protocol: 'ip' }]
  if (p.protocol === 'icmp') return [{ protocol: 'icmp', ...(p.fromPort !== undefined ? { icmpType: p.fromPort } : {}), ...(p.toPort !== undefined ? { icmpCode: p.toPort } : {}) }]
  if (allPorts(p)) return [{ protocol: p.protocol }]
  return portChunks(Math.max(1, p.fromPort), p.toPort).map((port) => ({ protocol: p.protocol, port }))
}

/** The packets answering a permission, stateless: the same service as source port, or any ICMP/IP back. */
function replies(p) {
  if (p.protocol === 'all') return [{ protocol: 'ip' }]
  if (p.protocol === 'icmp') return [{ protocol: 'icmp' }]
  if (allPorts(p)) return [{ protocol: p.protocol }]
  return portChunks(Math.max(1, p.fromPort), p.toPort).map((sourcePort) => ({ protocol: p.protocol, sourcePort }))
}

module.exports = { SecurityGroups, SECURITY_GROUP_PRIORITIES: PRIORITY }
