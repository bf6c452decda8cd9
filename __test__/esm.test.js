'use strict'
// ESM consumers: `import { encode, SdnController } from 'xo-sdn-native'` must give every
// public name, which Node finds by reading js/index.js statically (cjs-module-lexer). Run in
// a child `node` (real ESM loader), not in jest's VM. The names must also be the ones
// `require` gives and the ones index.d.ts declares as values.

const { execFileSync } = require('node:child_process')
const fs = require('node:fs')
const path = require('node:path')

const ROOT = path.join(__dirname, '..')

function declaredValues(dts) {
  const text = fs.readFileSync(path.join(ROOT, dts), 'utf8')
  const names = new Set()
  for (const m of text.matchAll(/^export (?:declare )?(?:function|class|const|let|var) ([A-Za-z_$][\w$]*)/gm)) names.add(m[1])
  return [...names].sort()
}

describe('ESM named imports from the package root', () => {
  let out
  beforeAll(() => {
    out = JSON.parse(execFileSync(process.execPath, [path.join(__dirname, 'esm', 'imports.mjs')], { cwd: ROOT, encoding: 'utf8' }))
  })

  test('every public name imports by name, and none is undefined', () => {
    expect(out.undefinedNames).toEqual([])
    expect(out.namespace).toEqual(out.imported)
    expect(out.sameAsDefault).toBe(true)
  })

  test('the ESM names are exactly what require() gives and what index.d.ts declares', () => {
    expect(out.namespace).toEqual(Object.keys(require('..')).sort())
    expect(out.namespace).toEqual(declaredValues('index.d.ts'))
  })

  test('the imported functions are the real codec', () => {
    expect(out.roundTrip).toEqual({ type: 'barrier_request', xid: 7 })
    expect(out.flow).toBe('priority=100,tcp,tp_dst=22 actions=drop')
  })

  test('the subpath entries give their declared names to ESM too', () => {
    const names = (entry) =>
      JSON.parse(
        execFileSync(process.execPath, ['--input-type=module', '-e', `import * as m from 'xo-sdn-native/${entry}'; process.stdout.write(JSON.stringify(Object.keys(m)))`], {
          cwd: ROOT,
          encoding: 'utf8',
        }),
      )
    for (const name of declaredValues('js/xo-adapters.d.ts')) expect(names('xo-adapters')).toContain(name)
    for (const name of declaredValues('js/xo-openflow.d.ts')) expect(names('xo-openflow')).toContain(name)
    expect(names('testing').filter((k) => k !== 'default').sort()).toEqual(declaredValues('testing/index.d.ts'))
  })
})
