#!/usr/bin/env node
// Builds the published library into dist/: compiled JavaScript and .d.ts from lib/ (tsconfig.build.json,
// no source maps), and the on-instance scripts into dist/scripts/, where the compiled
// dist/private/shell-script-document.js reads them (../scripts, as lib/private/ reads lib/scripts/).
// Sources never get .js files next to them, so tests and ts-node always run the TypeScript. `npm pack` runs this first (prepack).
'use strict';
const { execFileSync } = require('child_process');
const fs = require('fs');
const path = require('path');

const root = path.join(__dirname, '..');
const dist = path.join(root, 'dist');

fs.rmSync(dist, { recursive: true, force: true });
execFileSync(process.execPath, [require.resolve('typescript/bin/tsc'), '-p', path.join(root, 'tsconfig.build.json')], { stdio: ['ignore', 2, 2] });
const scripts = path.join(root, 'lib', 'scripts');
fs.mkdirSync(path.join(dist, 'scripts'));
for (const file of fs.readdirSync(scripts).filter((f) => f.endsWith('.sh'))) {
  fs.copyFileSync(path.join(scripts, file), path.join(dist, 'scripts', file));
}
console.error(`built ${path.relative(root, dist)}/`);
