// Run by __test__/esm.test.js with plain `node` (real ESM, not jest's VM): every public
// name imported by name from the package root, and the package's other entry points.
// In a checkout `xo-sdn-native` resolves to the checkout itself (a package may import
// itself by name through its `exports`).
import {
  encode,
  decode,
  encodeBatch,
  FrameDecoder,
  parseFlow,
  formatFlow,
  TlsConfig,
  OpenFlowChannel,
  OvsdbClient,
  ovsdb,
  SdnController,
  services,
  SecurityGroups,
  ElasticIps,
} from 'xo-sdn-native'
import * as root from 'xo-sdn-native'
import rootDefault from 'xo-sdn-native'
import openflow, { pack, unpack, parse, parseSocket, versions, protocols } from 'xo-sdn-native/xo-openflow'
import { createLegacyOpenFlowChannel, createOvsdbClientAdapter, createTrafficRulesBackend, defaultHostId, legacyRuleChanges, registerXapiHost } from 'xo-sdn-native/xo-adapters'
import { startSandbox, controllerFor, ensureOvs, ovsAvailable, stopDetached, freePorts, PROFILES, Sandbox, Host, parse as parseOvs } from 'xo-sdn-native/testing'

const named = { encode, decode, encodeBatch, FrameDecoder, parseFlow, formatFlow, TlsConfig, OpenFlowChannel, OvsdbClient, ovsdb, SdnController, services, SecurityGroups, ElasticIps }
const others = {
  'xo-openflow': { openflow, pack, unpack, parse, parseSocket, versions, protocols },
  'xo-adapters': { createLegacyOpenFlowChannel, createOvsdbClientAdapter, createTrafficRulesBackend, defaultHostId, legacyRuleChanges, registerXapiHost },
  testing: { startSandbox, controllerFor, ensureOvs, ovsAvailable, stopDetached, freePorts, PROFILES, Sandbox, Host, parseOvs },
}

const undefinedNames = [
  ...Object.entries(named).filter(([, v]) => v === undefined).map(([k]) => k),
  ...Object.entries(others).flatMap(([entry, o]) => Object.entries(o).filter(([, v]) => v === undefined).map(([k]) => `${entry}:${k}`)),
]
// What a round trip through the named imports gives, to prove they are the real functions.
const bytes = encode({ type: 'barrier_request', xid: 7 })
process.stdout.write(
  JSON.stringify({
    namespace: Object.keys(root).filter((k) => k !== 'default').sort(),
    imported: Object.keys(named).sort(),
    undefinedNames,
    sameAsDefault: Object.keys(named).every((k) => rootDefault[k] === named[k]),
    roundTrip: decode(bytes),
    flow: formatFlow(parseFlow('priority=100,tcp,tp_dst=22 actions=drop')),
  }),
)
