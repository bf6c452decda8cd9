'use strict'
// Shared helpers for the jest suites: golden vector loading.

const fs = require('node:fs')
const path = require('node:path')

const VECTORS = path.join(__dirname, '..', 'tests', 'vectors', 'openflow')

/** Rows of a vector TSV (header line and `#` notes skipped), as arrays of columns. */
function vectorRows(file) {
  const text = fs.readFileSync(path.join(VECTORS, file), 'utf8')
  return text
    .split('\n')
    .slice(1)
    .filter((l) => l.trim() !== '' && !l.startsWith('#'))
    .map((l) => l.split('\t'))
}

/** The named message of switch_msgs.tsv as a Buffer. */
function switchMsg(name) {
  const row = vectorRows('switch_msgs.tsv').find((r) => r[0] === name)
  if (!row) throw new Error(`no vector ${name}`)
  return Buffer.from(row[1], 'hex')
}

module.exports = { vectorRows, switchMsg }
