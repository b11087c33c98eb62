// What `npm run build` (scripts/build.js) builds from, as one sha256: every file under lib/, the
// README (jsii puts it into the assembly), package.json and package-lock.json (the package's
// names and jsii settings; the versions of jsii, esbuild and the SDK clients the CLI bundles) and
// build.js itself. build.js records it beside its output, in dist/.build-inputs (not a file the
// package ships). A build whose record equals the current inputs is up to date: the tests that
// need a build (test/api.test.ts, test/package.test.ts) use it instead of building again.
'use strict';
const { createHash } = require('crypto');
const fs = require('fs');
const path = require('path');

const FILES = ['README.md', 'package.json', 'package-lock.json', 'scripts/build.js'];

function files(root, dir) {
  return fs.readdirSync(path.join(root, dir), { withFileTypes: true }).flatMap((e) => {
    const rel = `${dir}/${e.name}`;
    return e.isDirectory() ? files(root, rel) : [rel];
  });
}

/** The sha256 (hex) of the build's inputs in the clone at `root`: each file's name and content. */
function buildInputs(root) {
  const hash = createHash('sha256');
  for (const rel of [...files(root, 'lib').sort(), ...FILES]) {
    hash.update(`${rel}\0`).update(fs.readFileSync(path.join(root, rel))).update('\0');
  }
  return hash.digest('hex');
}

/** Where build.js records the inputs of the build in dist/. */
function recordFile(root) {
  return path.join(root, 'dist', '.build-inputs');
}

/** True when dist/ and .jsii at `root` were built from the inputs there now. */
function isBuildCurrent(root) {
  try {
    return fs.existsSync(path.join(root, '.jsii')) && fs.readFileSync(recordFile(root), 'utf8') === buildInputs(root);
  } catch {
    return false;
  }
}

module.exports = { buildInputs, isBuildCurrent, recordFile };
