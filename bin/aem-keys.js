#!/usr/bin/env node
// Launcher of the `aem-keys` operator CLI (package.json "bin").
//
// In a clone (after `npm ci`, no build step) it runs the TypeScript source lib/cli/main.ts through
// ts-node (transpile only). In an installed package, which ships compiled JavaScript only, it runs
// dist/cli/aem-keys.js, the CLI bundled with its AWS SDK clients (built by `npm run build`, which
// `npm pack` runs first; the package has no runtime dependencies).
'use strict';
const fs = require('fs');
const path = require('path');

// The SDK's notice about future Node versions would break the CLI's one-line error output; an
// operator can still see it by setting the variable to false.
process.env.AWS_SDK_JS_NODE_VERSION_SUPPORT_WARNING_DISABLED ??= 'true';

const root = path.join(__dirname, '..');
const source = path.join(root, 'lib', 'cli', 'main.ts');
const compiled = path.join(root, 'dist', 'cli', 'aem-keys.js');

function load() {
  if (fs.existsSync(source)) {
    let tsNode;
    try {
      tsNode = require('ts-node');
    } catch {
      tsNode = undefined;
    }
    if (tsNode) {
      tsNode.register({
        transpileOnly: true,
        preferTsExts: true,
        project: path.join(root, 'tsconfig.json'),
        compilerOptions: { module: 'commonjs', sourceMap: false, inlineSourceMap: false, inlineSources: false },
      });
      return require(source);
    }
  }
  if (fs.existsSync(compiled)) return require(compiled);
  process.stderr.write('aem-keys: neither ts-node (run `npm ci`) nor the compiled CLI (run `npm run build`) is available\n');
  process.exit(1);
}

const { main } = load();
main(process.argv.slice(2), { stdout: process.stdout, stderr: process.stderr }).then(
  (code) => { process.exitCode = code; },
  (err) => { process.stderr.write(`aem-keys: ${err && err.message ? err.message.split('\n')[0] : err}\n`); process.exitCode = 1; },
);
