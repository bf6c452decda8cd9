'use strict'
// xo-sdn-native: the whole API. `require('xo-sdn-native')`.

const codec = require('./codec.js')

module.exports = {
  ...codec,
}
