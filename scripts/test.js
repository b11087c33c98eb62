#!/usr/bin/env node
// `npm test`: the type check (tsc --noEmit) and the jest suite, side by side rather than one
// after the other (tsc keeps one core busy for a while; jest's workers use the rest). Fails when
// either fails; extra arguments go to jest.
'use strict';
const { spawn } = require('child_process');
const path = require('path');

const root = path.join(__dirname, '..');
const run = (args) => new Promise((resolve) => {
  const child = spawn(process.execPath, args, { cwd: root, stdio: 'inherit' });
  child.on('close', (code, signal) => resolve(code ?? (signal ? 1 : 0)));
});

Promise.all([
  run([require.resolve('typescript/bin/tsc'), '--noEmit', '-p', '.']),
  run([require.resolve('jest/bin/jest'), '--maxWorkers=2', ...process.argv.slice(2)]),
]).then(([tsc, jest]) => {
  if (tsc !== 0) console.error('npm test: the type check (tsc --noEmit -p .) failed');
  process.exitCode = tsc || jest;
});
