'use strict'
// The types, as a TypeScript user sees them: every ```js example of the README compiled as
// printed (`checkJs`, its surroundings declared in __test__/types/globals.d.ts), and
// __test__/types/entries.ts importing every entry point of `exports`, all with
// `tsc --strict --noEmit` and module resolution node16, through the package's own
// `exports` (the checkout is linked as node_modules/xo-sdn-native of a scratch project).

const { spawnSync } = require('node:child_process')
const fs = require('node:fs')
const os = require('node:os')
const path = require('node:path')

const ROOT = path.join(__dirname, '..')

/** The README's ```js blocks: [{ line, code }]. */
function readmeExamples() {
  const lines = fs.readFileSync(path.join(ROOT, 'README.md'), 'utf8').split('\n')
  const blocks = []
  let open = null
  lines.forEach((l, i) => {
    if (open === null && l.trim() === '```js') open = { line: i + 2, code: [] }
    else if (open !== null && l.trim() === '```') {
      blocks.push({ line: open.line, code: open.code.join('\n') })
      open = null
    } else if (open !== null) open.code.push(l)
  })
  return blocks
}

test('every README example and every entry point compiles with tsc --strict', () => {
  const examples = readmeExamples()
  expect(examples.length).toBeGreaterThanOrEqual(6)
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'xo-sdn-native-types-'))
  try {
    fs.mkdirSync(path.join(dir, 'node_modules', '@types'), { recursive: true })
    fs.symlinkSync(ROOT, path.join(dir, 'node_modules', 'xo-sdn-native'), 'dir')
    fs.symlinkSync(path.join(ROOT, 'node_modules', '@types', 'node'), path.join(dir, 'node_modules', '@types', 'node'), 'dir')
    fs.writeFileSync(path.join(dir, 'package.json'), JSON.stringify({ name: 'types-check', private: true, type: 'commonjs' }))
    for (const f of ['globals.d.ts', 'entries.ts']) fs.copyFileSync(path.join(__dirname, 'types', f), path.join(dir, f))
    const files = ['globals.d.ts', 'entries.ts']
    examples.forEach(({ line, code }, i) => {
      // Each example in an async function of its own (they use await and `this` of the plugin).
      const file = `readme-${i + 1}.js`
      fs.writeFileSync(path.join(dir, file), `// README.md line ${line}\n/** @this {PluginThis} */\nasync function example() {\n${code}\n}\nmodule.exports = example\n`)
      files.push(file)
    })
    fs.writeFileSync(
      path.join(dir, 'tsconfig.json'),
      JSON.stringify({
        compilerOptions: {
          strict: true,
          noEmit: true,
          allowJs: true,
          checkJs: true,
          module: 'node16',
          moduleResolution: 'node16',
          target: 'es2022',
          types: ['node'],
          skipLibCheck: false,
          noUnusedLocals: false,
        },
        files,
      }),
    )
    const tsc = require.resolve('typescript/bin/tsc', { paths: [ROOT] })
    const r = spawnSync(process.execPath, [tsc, '-p', dir, '--pretty', 'false'], { encoding: 'utf8', timeout: 120e3 })
    // Errors name the generated file and line: readme-N.js line L is README line (L - 4 + the block's first line).
    const errors = (r.stdout + r.stderr).split('\n').filter(Boolean).map((l) => l.replace(/^.*?(readme-\d+\.js|entries\.ts|globals\.d\.ts)/, '$1'))
    expect(errors).toEqual([])
  } finally {
    fs.rmSync(dir, { recursive: true, force: true })
  }
}, 180e3)
