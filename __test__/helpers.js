'use strict'
// Shared helpers for the jest suites: golden vector loading, waiting on the switch.

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

/** The error `promise` rejects with; fails when it resolves. */
async function rejection(promise) {
  try {
    await promise
  } catch (e) {
    return e
  }
  throw new Error('expected a rejection')
}

/** Polls `check` every 50 ms until it is truthy; after `timeoutMs` throws its last error (or a timeout). */
async function waitFor(check, timeoutMs = 15000) {
  const deadline = Date.now() + timeoutMs
  for (;;) {
    let last
    try {
      if (await check()) return
    } catch (e) {
      last = e
    }
    if (Date.now() > deadline) throw last ?? new Error('condition not met in time')
    await new Promise((r) => setTimeout(r, 50))
  }
}

module.exports = { vectorRows, switchMsg, rejection, waitFor }
