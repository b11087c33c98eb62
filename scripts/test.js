#!/usr/bin/env node
// `npm test`: the type check (tsc --noEmit) and the jest suite, side by side rather than one
// after the other (tsc keeps one core busy for a while; jest's workers use the rest). Fails when
// either fails; extra arguments go to jest.
// `npm run test:fast` (--fast): the same, with only the synth and unit tests: no moto_server, no
// Felix, no installer runs, no package build (which files: test/support/fast-filter.js).
'use strict';
const { spawn } = require('child_process');
const { createHash } = require('crypto');
const os = require('os');
const path = require('path');

const root = path.join(__dirname, '..');
const run = (args) => new Promise((resolve) => {
  const child = spawn(process.execPath, args, { cwd: root, stdio: 'inherit' });
  child.on('close', (code, signal) => resolve(code ?? (signal ? 1 : 0)));
});

// Incremental: a later run re-checks only what changed (the build info lives in the temp folder,
// one file per clone; a stale or foreign one only means a full check).
const buildInfo = path.join(os.tmpdir(), `aem-keys-tsc-${createHash('sha256').update(root).digest('hex').slice(0, 12)}.tsbuildinfo`);

const args = process.argv.slice(2);
const fast = args.includes('--fast');
const jestArgs = args.filter((a) => a !== '--fast');
if (fast) {
  process.env.AEM_KEYS_TESTS = 'fast';
  jestArgs.unshift(`--filter=${path.join(root, 'test', 'support', 'fast-filter.js')}`);
}

Promise.all([
  run([require.resolve('typescript/bin/tsc'), '--noEmit', '-p', '.', '--incremental', '--tsBuildInfoFile', buildInfo]),
  run([require.resolve('jest/bin/jest'), '--maxWorkers=2', ...jestArgs]),
]).then(([tsc, jest]) => {
  if (tsc !== 0) console.error('npm test: the type check (tsc --noEmit -p .) failed');
  process.exitCode = tsc || jest;
});
