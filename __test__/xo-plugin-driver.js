'use strict'
// XO's SDN Controller plugin as a caller: the call sequences of
// `packages/xo-server-sdn-controller/src/index.js` (xen-orchestra, plugin 1.4.0,
// direct-channel mode, the default of xo-server's config.toml), written here from
// reading it, on a small XAPI world of the sandbox hosts. What the plugin does is
// reproduced, including what it swallows: every error it catches is logged into
// `plugin.log` the way it logs it, and its stored rules live in the XAPI objects'
// `other_config` across plugin restarts, as in XAPI.

const OF_RULES = 'xo:sdn-controller:of-rules'

/** The XAPI world: a pool of the sandbox hosts, their VIFs and one network (br0 of every host). */
function xapiWorld(sb) {
  const objects = new Map() // $id -> object
  const xapi = {
    calls: [],
    async call(method, ...args) {
      xapi.calls.push([method, ...args])
      if (method === 'host.get_server_certificate') return sb.hosts.find((h) => hostRef(h) === args[0]).certs.server.cert
      throw Object.assign(new Error(`${method}: not in this world`), { code: 'MESSAGE_METHOD_UNKNOWN' })
    },
    async barrier(ref) {
      return [...objects.values()].find((o) => o.$ref === ref)
    },
  }
  const withOtherConfig = (o) =>
    Object.assign(o, {
      other_config: {},
      async update_other_config(key, value) {
        if (value === null) delete o.other_config[key]
        else o.other_config[key] = value
      },
    })
  const pool = { $id: 'pool', $ref: 'OpaqueRef:pool', $xapi: xapi, name_label: 'sandbox pool' }
  const network = withOtherConfig({ $type: 'network', $id: 'net-br0', $ref: 'OpaqueRef:net-br0', uuid: sb.hosts[0].networkUuid, bridge: 'br0', name_label: 'Pool-wide network', $xapi: xapi, $pool: pool, $PIFs: [] })
  const hosts = sb.hosts.map((h) => {
    const host = { $type: 'host', $id: `host-${h.index}`, $ref: hostRef(h), uuid: `aaaaaaaa-0000-0000-0000-00000000000${h.index}`, address: h.ip, name_label: h.name, enabled: true, $xapi: xapi, $pool: pool }
    host.$PIFs = [{ $network: network, host: host.$ref, $host: host }]
    network.$PIFs.push(host.$PIFs[0])
    return host
  })
  const vifs = sb.hosts.flatMap((h, i) =>
    h.bridges[0].vifs.map((v) => {
      const vm = { $id: `vm-${v.vmUuid}`, uuid: v.vmUuid, $resident_on: hosts[i], name_label: `vm ${v.name}` }
      return withOtherConfig({ $type: 'VIF', $id: `vif-${v.uuid}`, $ref: `OpaqueRef:vif-${v.uuid}`, uuid: v.uuid, MAC: v.mac, device: '0', currently_attached: true, $VM: vm, $network: network, $pool: pool, $xapi: xapi, sandbox: v })
    }),
  )
  for (const o of [network, ...hosts, ...vifs]) objects.set(o.$id, o)
  xapi.objects = objects
  return { xapi, pool, network, hosts, vifs, vifOf: (h, n) => vifs.find((v) => v.uuid === h.bridges[0].vifs[n - 1].uuid) }
}

const hostRef = (h) => `OpaqueRef:host-${h.index}`

/** The rules stored in an object's other_config: a JSON array of JSON-encoded rules, as XO writes it. */
const storedRules = (o) => (o.other_config[OF_RULES] !== undefined ? JSON.parse(o.other_config[OF_RULES]).map((s) => JSON.parse(s)) : [])

/**
 * The plugin (`SDNController` of index.js), reduced to what touches the protocol
 * layer: per-host OvsdbClient and channel caches keyed by `host.$ref`, the rule
 * methods and the event handlers that re-apply or clean rules.
 */
class XoPlugin {
  constructor(world, { OpenFlowChannel, OvsdbClient }) {
    this.world = world
    this.OpenFlowChannel = OpenFlowChannel
    this.OvsdbClient = OvsdbClient
    this.ovsdbClients = {}
    this.ofChannels = {}
    this.tlsHelper = { note: 'XO passes its TlsHelper; the adapters ignore it' }
    this.log = [] // [level, message, data]
  }

  #error(message, data) {
    this.log.push(['error', message, data])
  }

  #object(id) {
    return this.world.xapi.objects.get(id)
  }

  // index.js: _getOrCreateOvsdbClient / _getOrCreateOfChannel (direct channel)
  _getOrCreateOvsdbClient(host) {
    if (host === undefined || !host.enabled) return undefined
    this.ovsdbClients[host.$ref] ??= new this.OvsdbClient(host, this.tlsHelper)
    return this.ovsdbClients[host.$ref]
  }

  async _getOrCreateOfChannel(host) {
    if (host === undefined || !host.enabled) return undefined
    this.ofChannels[host.$ref] ??= new this.OpenFlowChannel(host, this.tlsHelper)
    return this.ofChannels[host.$ref]
  }

  // index.js: _setPoolControllerIfNeeded; the pool already has SDN_controller pssl,
  // so only every host's setBridgeController runs (Promise.all: one rejection fails the call).
  async _setPoolControllerIfNeeded() {
    await Promise.all(this.world.hosts.map((host) => this.ovsdbClients[host.$ref]?.setBridgeController()))
  }

  // index.js: _handleConnectedXapi (what concerns the rules): clients and channels
  // for every host, then every VIF's stored rules re-added.
  async _handleConnectedXapi() {
    try {
      for (const host of this.world.hosts) {
        this._getOrCreateOvsdbClient(host)
        await this._getOrCreateOfChannel(host)
      }
      for (const vif of this.world.vifs) await this._applyVifOfRules(vif)
    } catch (error) {
      this.#error('Error while handling xapi connection', { error })
    }
  }

  async _addRule({ allow, direction, ipRange = '', port, protocol, vifId }) {
    const vif = this.#object(vifId)
    try {
      await this._setPoolControllerIfNeeded(vif.$pool)
      try {
        const client = this._getOrCreateOvsdbClient(vif.$VM.$resident_on)
        const channel = await this._getOrCreateOfChannel(vif.$VM.$resident_on)
        if (client !== undefined && channel !== undefined) {
          const ofport = await client.getOfPortForVif(vif)
          await channel.addRule({ vif, allow, protocol, port, ipRange, direction, ofport })
        }
      } catch (error) {
        if (error.code !== 'HOST_OFFLINE') throw error
      }
      const stored = vif.other_config[OF_RULES] !== undefined ? JSON.parse(vif.other_config[OF_RULES]) : []
      const stringRule = JSON.stringify({ allow, protocol, port, ipRange, direction })
      if (!stored.includes(stringRule)) {
        stored.push(stringRule)
        await vif.update_other_config(OF_RULES, JSON.stringify(stored))
        await vif.$xapi.barrier(vif.$ref)
      }
    } catch (error) {
      this.#error('Error while adding OF rule', { error, vif: vif.uuid })
    }
  }

  async _deleteRule({ direction, ipRange = '', port, protocol, vifId }, updateOtherConfig = true) {
    let vif = this.#object(vifId)
    try {
      await this._setPoolControllerIfNeeded(vif.$pool)
      try {
        const client = this._getOrCreateOvsdbClient(vif.$VM.$resident_on)
        const channel = await this._getOrCreateOfChannel(vif.$VM.$resident_on)
        if (client !== undefined && channel !== undefined) {
          const ofport = await client.getOfPortForVif(vif)
          await channel.deleteRule({ vif, protocol, port, ipRange, direction, ofport })
        }
      } catch (error) {
        if (error.code !== 'HOST_OFFLINE') throw error
      }
      if (!updateOtherConfig) return
      const stored = vif.other_config[OF_RULES]
      if (stored === undefined) return
      const kept = JSON.parse(stored).filter((s) => {
        const rule = JSON.parse(s)
        return rule.protocol !== protocol || rule.port !== port || rule.ipRange !== ipRange || rule.direction !== direction
      })
      await vif.update_other_config(OF_RULES, kept.length === 0 ? null : JSON.stringify(kept))
      vif = await vif.$xapi.barrier(vif.$ref)
      // "Put back rules that could have been wrongfully deleted because delete rule too general"
      await this._applyVifOfRules(vif)
    } catch (error) {
      this.#error('Error while deleting OF rule', { error, vif: vif.uuid })
    }
  }

  async _addNetworkRule({ networkId, allow, direction, ipRange = '', port, protocol }) {
    try {
      const network = this.#object(networkId)
      if (!(network.$PIFs.length > 0)) throw new Error('Network needs to be plugged to add a rule')
      const rules = storedRules(network)
      const same = rules.filter((r) => r.direction === direction && r.ipRange === ipRange && r.port === port && r.protocol === protocol)
      // XO draws a random cookie for a new rule; any unique one does here.
      const cookie = same.length !== 0 ? same[0].cookie : `0x${(rules.length + 1).toString(16).padStart(16, '0')}`
      const kept = rules.filter((r) => r.protocol !== protocol || r.port !== port || r.ipRange !== ipRange || r.direction !== direction)
      kept.push({ allow, protocol, port, ipRange, direction, cookie })
      try {
        const host = network.$PIFs[0].$host
        const channel = await this._getOrCreateOfChannel(host)
        if (channel !== undefined) await channel.addNetworkRule({ network, allow, protocol, port, ipRange, direction, cookie })
      } catch (error) {
        if (error.code !== 'HOST_OFFLINE') this.#error('addNetworkRule: rule not added', error)
      }
      await network.update_other_config(OF_RULES, JSON.stringify(kept.map((r) => JSON.stringify(r))))
      await network.$xapi.barrier(network.$ref)
    } catch (error) {
      this.#error('Error while adding Network OF rule', { error, networkId })
    }
  }

  async _deleteNetworkOfRule({ direction, ipRange = '', port, protocol, networkId }, updateOtherConfig = true) {
    try {
      let network = this.#object(networkId)
      if (!(network.$PIFs.length > 0)) throw new Error('Network needs to be plugged to delete a rule')
      const rules = storedRules(network)
      const same = rules.filter((r) => r.direction === direction && r.ipRange === ipRange && r.port === port && r.protocol === protocol)
      if (same.length === 0) return
      const cookie = same[0].cookie
      try {
        const host = network.$PIFs[0].$host
        const channel = await this._getOrCreateOfChannel(host)
        if (channel !== undefined) await channel.deleteNetworkRule({ network, protocol, port, ipRange, direction, cookie })
      } catch (error) {
        if (error.code !== 'HOST_OFFLINE') this.#error('deleteNetworkOfRule: error while deleting OpenFlow rule', error)
      }
      if (!updateOtherConfig) return
      const kept = rules.filter((r) => r.protocol !== protocol || r.port !== port || r.ipRange !== ipRange || r.direction !== direction || r.cookie !== cookie)
      await network.update_other_config(OF_RULES, kept.length === 0 ? null : JSON.stringify(kept.map((r) => JSON.stringify(r))))
      network = await network.$xapi.barrier(network.$ref)
      await this._applyNetworkOfRules(network)
    } catch (error) {
      this.#error('Error while deleting Network OF rule', { error, networkId })
    }
  }

  async _applyVifOfRules(vif) {
    if (!vif.currently_attached) return
    for (const rule of storedRules(vif)) await this._addRule({ ...rule, vifId: vif.$id })
  }

  async _cleanVifOfRules(vif) {
    for (const rule of storedRules(vif)) await this._deleteRule({ ...rule, vifId: vif.$id }, false)
  }

  async _applyNetworkOfRules(network) {
    for (const rule of storedRules(network)) await this._addNetworkRule({ ...rule, networkId: network.$id })
  }

  async _cleanNetworkOfRules(network) {
    for (const rule of storedRules(network)) await this._deleteNetworkOfRule({ ...rule, networkId: network.$id }, false)
  }

  // index.js: _vifUpdated, for a VIF's `unplug` task (before it completes) and its `plug` task (after).
  async vifUnplugging(vif) {
    await this._cleanNetworkOfRules(vif.$network)
    await this._applyNetworkOfRules(vif.$network)
    await this._cleanVifOfRules(vif)
  }

  async vifPlugged(vif) {
    await this._applyVifOfRules(vif)
    await this._applyNetworkOfRules(vif.$network)
  }

  /** What the plugin logged as errors, as `message: code` lines (for assertions). */
  errors() {
    return this.log.filter(([level]) => level === 'error').map(([, message, data]) => `${message}: ${(data?.error ?? data)?.code ?? (data?.error ?? data)?.message}`)
  }
}

module.exports = { xapiWorld, XoPlugin, hostRef, OF_RULES }
