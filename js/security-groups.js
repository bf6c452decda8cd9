'use strict'
// EC2-style security groups on OpenFlow 1.1, stateful (Open vSwitch's connection
// tracker, the default) or stateless: the public API over NativeSecurityGroups
// (src/node/security_groups.rs), whose core (src/policy/security_groups.rs) holds
// the groups and attachments, checks every permission, VIF and budget, and derives
// and compiles each VIF's rules: a group's permissions (and, stateless, their
// replies) at 9900 - slot, ARP and the
// DHCP client at 9800, default deny at 9100, from the band table
// (src/control/bands.rs), egress verdicts in the controller's table and ingress
// verdicts in the next one. Its module docs say what each permission lets through.
//
// This facade keeps what belongs to JavaScript: the argument types JS alone can
// see (a string, an array, plain data), the rule numbers (the controller's
// registry allocates and reserves them), persistence through the controller's
// state file, and the pushes (`refresh()`) after each change. One native call per
// operation: arguments go as JSON text, views and state come back as JSON text,
// flows as one encoded buffer per bridge and cookie.
//
// One cookie per group (all its VIFs, on every host) and one for the base flows,
// so one call updates a group everywhere; every change is pushed adds first,
// deletes last (make-before-break), one barrier per switch.

const native = require('./binding.js')
const { argError, describe, fail, optionsObject, checkController, isUuidRef, dataReplacer } = require('./options.js')
const { nativeCall } = require('./errors.js')

// From the one band table (src/control/bands.rs), for callers that show them.
const BANDS = native.priorityBands()
const PRIORITY = { allow: BANDS.securityGroupPermissions.max, basics: BANDS.securityGroupBasics.min, deny: BANDS.securityGroupDeny.min }

/**
 * `value` as JSON text for the native side, `'null'` for undefined. BigInts and
 * non-finite numbers become strings, so the native checks refuse them with the
 * field's own message instead of JSON.stringify throwing without a code; a value
 * that is not data (a cycle) is an ERR_INVALID_ARG_VALUE naming `what`.
 */
const GROUP_DATA = dataReplacer((v) => (typeof v === 'bigint' || (typeof v === 'number' && !Number.isFinite(v)) ? String(v) : v))

function jsonText(value, what) {
  try {
    return JSON.stringify(value, GROUP_DATA) ?? 'null'
  } catch (err) {
    throw argError(TypeError, 'ERR_INVALID_ARG_VALUE', `${what} must be plain data: ${err?.message}`)
  }
}

/** The interfaces the controller gives `items()`, as the native side reads them: `[[bridge, [[vifUuid, ofport], ...]], ...]`. */
function interfacesText(interfaces) {
  if (!(interfaces instanceof Map)) throw argError(TypeError, 'ERR_INVALID_ARG_TYPE', `interfaces must be a Map of bridge -> interfaces, got ${describe(interfaces)}`)
  const out = []
  for (const [bridge, list] of interfaces) {
    if (typeof bridge !== 'string' || !Array.isArray(list)) throw argError(TypeError, 'ERR_INVALID_ARG_TYPE', 'interfaces must map bridge names to arrays of { vifUuid, ofport }')
    const vifs = []
    for (const i of list) if (i !== null && typeof i === 'object' && typeof i.vifUuid === 'string' && Number.isInteger(i.ofport)) vifs.push([i.vifUuid, i.ofport])
    out.push([bridge, vifs])
  }
  return JSON.stringify(out)
}

class SecurityGroups {
  #handle
  #native
  #stateful
  /** The controller hands the same Map while the host's interfaces are unchanged: its text is made once. */
  #interfaces = new WeakMap()

  /**
   * @param {import('./sdn-controller.js').SdnController} sdn
   * @param {object} [options]
   * @param {number} [options.flowBudget=1024] most flows one group may cost per VIF
   * @param {boolean} [options.stateful] connection tracking. Omitted: the mode the
   *   controller's state file saved the groups in (stateless for a state written before
   *   the mode was saved), else stateful.
   */
  constructor(sdn, options) {
    checkController(sdn, ['registerProvider'])
    const { flowBudget = 1024, stateful } = optionsObject(options)
    if (!Number.isInteger(flowBudget) || flowBudget < 1 || flowBudget > 0xffffffff) throw argError(RangeError, 'ERR_OUT_OF_RANGE', 'options.flowBudget must be a positive integer')
    if (stateful !== undefined && typeof stateful !== 'boolean') throw argError(TypeError, 'ERR_INVALID_ARG_TYPE', `options.stateful must be a boolean, got ${describe(stateful)}`)
    this.#handle = sdn.registerProvider(this)
    // With the controller's stateFile, the groups of the last run come back here, in
    // the mode they were installed in: an upgrade never changes what a pool lets through.
    const saved = this.#handle.savedState()
    const mode = stateful ?? (saved === undefined ? true : saved?.stateful === true)
    this.#native = nativeCall(() => new native.NativeSecurityGroups(this.#handle.allocateNumber('sg:base'), flowBudget, mode))
    this.#stateful = mode
    if (saved !== undefined) this.importState(saved)
  }

  /** Where the controller's state file keeps this provider's state. */
  get stateKey() {
    return 'securityGroups'
  }

  /** Connection tracking (options.stateful): replies of allowed connections pass, nothing else does. */
  get stateful() {
    return this.#stateful
  }

  // ---- groups ----

  /** Creates a group (no I/O). As in EC2 it starts with one egress permission: all traffic to 0.0.0.0/0. */
  createSecurityGroup(name, description = '') {
    // Checked here, before a rule number is reserved under the name.
    if (typeof name !== 'string' || name.trim() === '' || name.length > 255) throw argError(TypeError, 'ERR_INVALID_ARG_VALUE', 'name must be a non-empty string of at most 255 characters')
    if (typeof description !== 'string' || description.length > 255) throw argError(TypeError, 'ERR_INVALID_ARG_VALUE', 'description must be a string of at most 255 characters')
    // The name is the group's identity across restarts: the same name, the same number, the same cookie.
    const number = this.#handle.allocateNumber(`sg:group:${name}`)
    const view = JSON.parse(nativeCall(() => this.#native.createGroup(name, description, number)))
    this.#handle.persist().catch(() => {}) // a failure is reported by the controller
    return view
  }

  /** Deletes a group no VIF uses and no other group names as sourceGroup. */
  async deleteSecurityGroup(ref) {
    nativeCall(() => this.#native.deleteGroup(groupRef(ref)))
    return { hosts: await this.#push() }
  }

  authorizeIngress(group, permissions) {
    return this.#change('authorize', group, 'ingress', permissions)
  }

  authorizeEgress(group, permissions) {
    return this.#change('authorize', group, 'egress', permissions)
  }

  revokeIngress(group, permissions) {
    return this.#change('revoke', group, 'ingress', permissions)
  }

  revokeEgress(group, permissions) {
    return this.#change('revoke', group, 'egress', permissions)
  }

  async #change(op, ref, side, permissions) {
    const json = jsonText(permissions, 'permissions')
    const group = JSON.parse(nativeCall(() => this.#native[op](groupRef(ref), side, json)))
    return { group, hosts: await this.#handle.refresh() }
  }

  // ---- VIFs ----

  /**
   * Sets the groups of a VIF, or of several VIFs at once (`{ uuid, mac, ips? }` or
   * an array of them; `ips` are its IPv4 and IPv6 addresses: needed for sourceGroup
   * rules naming its groups, and they keep allowed egress inside them, family by family,
   * like XAPI's VIF locking). Every VIF and the flow budget are checked first; then one
   * push to every host.
   */
  async attach(vifs, groups) {
    const given = Array.from(Array.isArray(vifs) ? vifs : [vifs], (v) => (v !== null && typeof v === 'object' ? { uuid: v.uuid, mac: v.mac, ips: v.ips } : v)) // holes too
    if (!Array.isArray(groups) || groups.length === 0) throw argError(TypeError, 'ERR_INVALID_ARG_TYPE', 'groups must be a non-empty array of group names or ids')
    const vifsJson = jsonText(Array.isArray(vifs) ? given : given[0], 'vifs')
    const groupsJson = jsonText(Array.from(groups), 'groups')
    nativeCall(() => this.#native.attach(vifsJson, groupsJson))
    return { hosts: await this.#push() }
  }

  /** Removes groups from a VIF (all when `groups` is omitted): a VIF in no group is not filtered. */
  async detach(vif, groups) {
    if (!isUuidRef(vif)) throw argError(TypeError, 'ERR_INVALID_ARG_TYPE', `vif must be a VIF uuid or { uuid }, got ${describe(vif)}`)
    if (groups !== undefined && !Array.isArray(groups)) throw argError(TypeError, 'ERR_INVALID_ARG_TYPE', `groups must be an array of group names or ids, got ${describe(groups)}`)
    const uuid = (typeof vif === 'string' ? vif : vif.uuid).toLowerCase()
    const groupsJson = groups === undefined ? undefined : jsonText(Array.from(groups), 'groups')
    nativeCall(() => this.#native.detach(uuid, groupsJson))
    return { hosts: await this.#push() }
  }

  /** Pushes the groups to every host; a host whose datapath cannot track connections says so. */
  async #push() {
    const hosts = await this.#handle.refresh()
    if (!this.#stateful) return hosts
    for (const [id, r] of Object.entries(hosts)) {
      if (r?.ok === false && lacksConntrack(r.error)) {
        const message = `host ${id}: its datapath has no connection tracking, so stateful groups cannot be installed there (use stateful: false for such hosts)`
        hosts[id] = { ok: false, error: fail('SDN_CONNTRACK_UNSUPPORTED', message, { host: id, cause: r.error }) }
      }
    }
    return hosts
  }

  /** Every group with its permissions and members (VIF uuids). */
  describe() {
    return JSON.parse(this.#native.describe())
  }

  exportState() {
    return JSON.parse(this.#native.exportState())
  }

  /**
   * Replaces the groups and attachments (no I/O: call sdn.sync() to apply). They are
   * installed in this instance's mode (`stateful`), whatever the state's.
   */
  importState(state) {
    if (state === null || typeof state !== 'object') throw argError(TypeError, 'ERR_INVALID_ARG_VALUE', 'state must come from exportState() (version 1)')
    const json = jsonText(state, 'state')
    const numbers = nativeCall(() => this.#native.importState(json))
    // Checked by the native side (1 to 2^40-1): reserving them cannot fail.
    for (const n of numbers) this.#handle.reserveNumbers(n)
  }

  // ---- the provider: flows per host and bridge ----

  /** @internal Called by the controller: the flows of every attached VIF of a host, per bridge, one item per cookie. */
  items(hostId, interfaces) {
    let text = this.#interfaces.get(interfaces)
    if (text === undefined) {
      text = interfacesText(interfaces)
      this.#interfaces.set(interfaces, text)
    }
    const out = new Map()
    for (const { bridge, cookie, flows } of nativeCall(() => this.#native.flows(text, this.#handle.tableId ?? 0))) {
      const items = out.get(bridge)
      if (items) items.push({ cookie, flows })
      else out.set(bridge, [{ cookie, flows }])
    }
    return out
  }

  /**
   * @internal What a VIF's groups make: `{ egressRestricted, rules: [{ priority, spec }] }`
   * (spec = normalized rule JSON), or null when it is in no group.
   */
  rulesOf(vifUuid) {
    if (typeof vifUuid !== 'string') return null // no VIF has that uuid
    const json = this.#native.rulesOf(vifUuid)
    return json === null ? null : JSON.parse(json)
  }
}

/** Open vSwitch refused a ct action or match because its datapath cannot track connections. */
function lacksConntrack(error) {
  if (error?.code !== 'OF_SWITCH_ERROR') return false
  const names = [error.reason, ...(error.errors ?? []).map((e) => e.error?.name)]
  return names.some((n) => /^NXB[AM]C_CT_DATAPATH_SUPPORT$/.test(n ?? ''))
}

/** A group reference: its name or id. */
function groupRef(ref) {
  if (typeof ref !== 'string') throw argError(TypeError, 'ERR_INVALID_ARG_TYPE', 'a security group is given by its name or id')
  return ref
}

module.exports = { SecurityGroups, SECURITY_GROUP_PRIORITIES: PRIORITY }
