#!/usr/bin/env node
'use strict'
// Writes every golden vector as one file of fuzz/corpus/openflow_decode/.
const fs = require('node:fs')
const path = require('node:path')
const { vectorRows } = require('../__test__/helpers.js')

const dir = path.join(__dirname, '..', 'fuzz', 'corpus', 'openflow_decode')
fs.mkdirSync(dir, { recursive: true })
let n = 0
for (const r of vectorRows('flow_mods.tsv')) fs.writeFileSync(path.join(dir, `flow_mod_${n++}`), Buffer.from(r[2], 'hex'))
for (const r of vectorRows('switch_msgs.tsv')) fs.writeFileSync(path.join(dir, r[0]), Buffer.from(r[1], 'hex'))
console.log(`${n} + switch messages written to ${dir}`)
