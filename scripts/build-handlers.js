#!/usr/bin/env node
// Bundles the Lambda handlers in lib/handlers/ into assets/handlers/<name>/index.js with the local
// esbuild (no Docker). The output is committed, so the library and the example app synthesize from
// a fresh clone without a build step; test/handlers-build.test.ts fails when it is stale.
const path = require('path');
const esbuild = require('esbuild');

const root = path.join(__dirname, '..');
const HANDLERS = ['generate-keys'];

function options(name) {
  return {
    entryPoints: [path.join(root, 'lib', 'handlers', `${name}.ts`)],
    bundle: true,
    platform: 'node',
    target: 'node20',
    format: 'cjs',
    external: ['@aws-sdk/*'],
    legalComments: 'none',
    write: false,
  };
}

async function build(name) {
  const result = await esbuild.build(options(name));
  return result.outputFiles[0].text;
}

async function main() {
  const fs = require('fs');
  for (const name of HANDLERS) {
    const out = path.join(root, 'assets', 'handlers', name, 'index.js');
    fs.mkdirSync(path.dirname(out), { recursive: true });
    fs.writeFileSync(out, await build(name));
    console.log(`built ${path.relative(root, out)}`);
  }
}

module.exports = { build, HANDLERS };
if (require.main === module) {
  main().catch((e) => { console.error(e.message); process.exit(1); });
}
