'use strict'
// The one module that loads the native addon: every js/ file requires it, none loads
// a `.node` by itself. It picks, in this order:
//   1. the file named by XO_SDN_NATIVE_PATH, when set (a packager's own build);
//   2. a source checkout's own build, `xo-sdn-native.<platform>-<arch>[-<abi>].node`
//      at the package root, where `napi build --platform` writes it (the npm
//      package never carries one: its `files` leave `*.node` out);
//   3. the platform package npm installed as an optional dependency,
//      `xo-sdn-native-linux-x64-gnu` and so on (npm/<abi>/ in the source tree).
// A machine none of them fits gets an Error with code XO_SDN_UNSUPPORTED_PLATFORM
// (js/platform.js); a fitting platform package that is not installed gets
// XO_SDN_BINARY_MISSING, one of another version XO_SDN_BINARY_MISMATCH.

const fs = require('node:fs')
const path = require('node:path')
const { detectRuntime, targetFor, unsupportedPlatform, localFileNames } = require('./platform.js')

const ROOT = path.join(__dirname, '..')

function codeError(code, message, cause) {
  const err = new Error(message, cause ? { cause } : undefined)
  err.code = code
  return err
}

/** A binary built against a newer C library than this one fails to load: say so. */
function loadFailure(err, runtime, what) {
  if (/GLIBC_[0-9.]+|Error relocating|Error loading shared library|ld-linux/.test(String(err && err.message))) {
    return unsupportedPlatform(runtime, `${what} does not load here: ${err.message.split('\n')[0]}`, err)
  }
  return err
}

function loadBinding() {
  const runtime = detectRuntime()
  const explicit = process.env.XO_SDN_NATIVE_PATH
  if (explicit) {
    try {
      return require(path.resolve(explicit))
    } catch (err) {
      throw loadFailure(err, runtime, `XO_SDN_NATIVE_PATH=${explicit}`)
    }
  }
  for (const name of localFileNames(runtime)) {
    const file = path.join(ROOT, name)
    if (fs.existsSync(file)) {
      try {
        return require(file)
      } catch (err) {
        throw loadFailure(err, runtime, file)
      }
    }
  }
  const target = targetFor(runtime) // throws XO_SDN_UNSUPPORTED_PLATFORM
  const { version } = require('../package.json')
  let manifest
  try {
    manifest = require(`${target.packageName}/package.json`)
  } catch (err) {
    if (err && err.code !== 'MODULE_NOT_FOUND') throw err
    throw codeError(
      'XO_SDN_BINARY_MISSING',
      `xo-sdn-native: the native binary for this machine (${target.abi}) comes in the package ${target.packageName}, ` +
        'which is not installed. npm installs it with xo-sdn-native as an optional dependency: ' +
        `reinstall without --omit=optional / --no-optional, or add it yourself (npm install ${target.packageName}@${version}).`,
      err,
    )
  }
  if (manifest.version !== version) {
    throw codeError(
      'XO_SDN_BINARY_MISMATCH',
      `xo-sdn-native ${version} found ${target.packageName} ${manifest.version}: both must be the same version ` +
        `(npm install ${target.packageName}@${version}).`,
    )
  }
  try {
    return require(target.packageName)
  } catch (err) {
    throw loadFailure(err, runtime, target.packageName)
  }
}

module.exports = loadBinding()
