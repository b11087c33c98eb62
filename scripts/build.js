#!/usr/bin/env node
// Builds the published library into dist/ and the jsii assembly (.jsii), which the package ships
// for the other CDK languages. `npm pack` runs this first (prepack).
//
// - jsii compiles lib/ into dist/ (tsconfig.build.json: rootDir lib, outDir dist; JavaScript and
//   .d.ts, no source maps) and writes .jsii from the public API that lib/index.ts exports. The CLI
//   and the Lambda handler are not part of it (package.json jsii.excludeTypescript).
// - The on-instance scripts go to dist/scripts/, where the compiled
//   dist/private/shell-script-document.js reads them (../scripts, as lib/private/ reads lib/scripts/).
// - The operator CLI (lib/cli/main.ts) is bundled with its AWS SDK clients by the local esbuild into
//   dist/cli/aem-keys.js, so the package has no runtime dependencies: jsii requires every runtime
//   dependency to be a jsii module itself (or bundled).
// - dist/.build-inputs records what the build was made from (scripts/build-inputs.js).
// Sources never get .js files next to them, so tests and ts-node always run the TypeScript.
// Everything goes to stderr: stdout belongs to `npm pack --json`.
'use strict';
const { execFileSync } = require('child_process');
const fs = require('fs');
const path = require('path');
const { buildInputs, recordFile } = require('./build-inputs');

const root = path.join(__dirname, '..');
const dist = path.join(root, 'dist');

function jsii() {
  execFileSync(process.execPath, [require.resolve('jsii/bin/jsii'), '--silence-warnings=metadata/missing-dev-dependency'], {
    cwd: root,
    stdio: ['ignore', 2, 2],
    env: { ...process.env, JSII_SILENCE_WARNING_END_OF_LIFE_NODE_VERSION: process.env.JSII_SILENCE_WARNING_END_OF_LIFE_NODE_VERSION ?? '20' },
  });
}

function copyScripts() {
  const scripts = path.join(root, 'lib', 'scripts');
  fs.mkdirSync(path.join(dist, 'scripts'));
  for (const file of fs.readdirSync(scripts).filter((f) => f.endsWith('.sh'))) {
    fs.copyFileSync(path.join(scripts, file), path.join(dist, 'scripts', file));
  }
}

async function bundleCli() {
  const esbuild = require('esbuild');
  const out = path.join(dist, 'cli', 'aem-keys.js');
  await esbuild.build({
    entryPoints: [path.join(root, 'lib', 'cli', 'main.ts')],
    outfile: out,
    bundle: true,
    platform: 'node',
    target: 'node20',
    format: 'cjs',
    minify: true,
    legalComments: 'eof',
    logLevel: 'warning',
  });
  return out;
}

async function main() {
  const inputs = buildInputs(root);
  fs.rmSync(dist, { recursive: true, force: true });
  fs.rmSync(path.join(root, '.jsii'), { force: true });
  jsii();
  copyScripts();
  const cli = await bundleCli();
  fs.writeFileSync(recordFile(root), inputs);
  console.error(`built ${path.relative(root, dist)}/, .jsii and ${path.relative(root, cli)} (${fs.statSync(cli).size} bytes)`);
}

main().catch((err) => {
  console.error(err.message ?? err);
  process.exit(1);
});
