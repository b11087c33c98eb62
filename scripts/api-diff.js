#!/usr/bin/env node
// Breaking-change check: jsii-diff between api/baseline.jsii (the assembly of the last released
// version, 0.1.0) and the current .jsii (built by `npm run build`), failing on any breaking change
// whose key api/allowed-breaking-changes.txt does not list.
//
// The baseline is not stored as a file named `.jsii` because jsii-docgen documents every `**/.jsii`
// it finds under the project and would pick it up in place of the current API. jsii-diff needs a
// package folder (package.json + .jsii) to resolve aws-cdk-lib and constructs, so one is staged in
// a temporary folder whose node_modules is this clone's.
// At a release: `cp .jsii api/baseline.jsii` and empty api/allowed-breaking-changes.txt.
// API_DIFF_IGNORE_FILE replaces that file (the test uses an empty one to see the check fail).
'use strict';
const { spawnSync } = require('child_process');
const fs = require('fs');
const os = require('os');
const path = require('path');

const root = path.join(__dirname, '..');
if (!fs.existsSync(path.join(root, '.jsii'))) {
  console.error('api-diff: no .jsii: run `npm run build` first');
  process.exit(1);
}
const assembly = JSON.parse(fs.readFileSync(path.join(root, 'api', 'baseline.jsii'), 'utf8'));
const staged = fs.mkdtempSync(path.join(os.tmpdir(), 'aem-keys-api-baseline-'));
try {
  fs.writeFileSync(path.join(staged, '.jsii'), JSON.stringify(assembly));
  fs.writeFileSync(path.join(staged, 'package.json'), JSON.stringify({
    name: assembly.name, version: assembly.version, jsii: {}, peerDependencies: assembly.dependencies ?? {},
  }));
  fs.symlinkSync(path.join(root, 'node_modules'), path.join(staged, 'node_modules'), 'dir');
  const r = spawnSync(process.execPath, [require.resolve('jsii-diff/bin/jsii-diff'),
    staged, root, '--error-on', 'all', '--keys', '--ignore-file', process.env.API_DIFF_IGNORE_FILE ?? path.join(root, 'api', 'allowed-breaking-changes.txt'),
  ], {
    stdio: 'inherit',
    env: { ...process.env, JSII_SILENCE_WARNING_END_OF_LIFE_NODE_VERSION: process.env.JSII_SILENCE_WARNING_END_OF_LIFE_NODE_VERSION ?? '20' },
  });
  process.exitCode = r.status ?? 1;
} finally {
  fs.rmSync(staged, { recursive: true, force: true });
}
