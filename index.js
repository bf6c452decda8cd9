'use strict'
// xo-sdn-native: `require('xo-sdn-native')` / `import { … } from 'xo-sdn-native'` (or
// `require('.')` in a checkout) gives the whole API, js/index.js. The native addon is
// loaded by js/binding.js (the local build in a checkout, else the platform package).
module.exports = require('./js/index.js')
