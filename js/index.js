'use strict'
// xo-sdn-native: the whole API. `require('xo-sdn-native')`.

// `frames` is internal (the controller's and elastic IPs' helper), not part of the API.
const { frames, ...codec } = require('./codec.js')
const { TlsConfig } = require('./tls.js')
const { OpenFlowChannel } = require('./openflow-channel.js')
const { OvsdbClient, ovsdb } = require('./ovsdb-client.js')
const { SdnController, services } = require('./sdn-controller.js')
const { SecurityGroups } = require('./security-groups.js')
const { ElasticIps } = require('./elastic-ips.js')

module.exports = {
  ...codec,
  TlsConfig,
  OpenFlowChannel,
  OvsdbClient,
  ovsdb,
  SdnController,
  services,
  SecurityGroups,
  ElasticIps,
}
