'use strict'
// `which`, for the scripts: the path of an executable file `cmd` on PATH, or null.

const fs = require('node:fs')
const path = require('node:path')

function which(cmd) {
  for (const dir of (process.env.PATH || '').split(path.delimiter)) {
    if (!dir) continue
    const p = path.join(dir, cmd)
    try {
      fs.accessSync(p, fs.constants.X_OK)
      if (fs.statSync(p).isFile()) return p
    } catch {}
  }
  return null
}

module.exports = { which }
