'use strict'
// xo-sdn-native: the whole API. `require('xo-sdn-native')` or
// `import { SdnController, encode } from 'xo-sdn-native'`.
//
// Every public name is listed by itself in the object literal below: Node finds the
// named exports of a CommonJS module for ESM `import { name }` by reading that
// literal statically (cjs-module-lexer), and it sees names, not spreads. A name
// added here must also be in index.d.ts; __test__/esm.test.js checks both.

// `frames` (codec.js) is internal: the controller's and elastic IPs' helper.
const { encode, decode, encodeBatch, FrameDecoder, parseFlow, formatFlow } = require('./codec.js')
const { TlsConfig } = require('./tls.js')
const { OpenFlowChannel } = require('./openflow-channel.js')
const { OvsdbClient, ovsdb } = require('./ovsdb-client.js')
const { SdnController, services } = require('./sdn-controller.js')
const { SecurityGroups } = require('./security-groups.js')
const { ElasticIps } = require('./elastic-ips.js')

module.exports = {
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
}
