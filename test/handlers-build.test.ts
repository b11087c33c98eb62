import * as fs from 'fs';
import * as path from 'path';
// The prebuilt handler bundles are committed so synthesis needs no build step (and no Docker).
// This fails when a handler source changed without `npm run build:handlers`.
// eslint-disable-next-line @typescript-eslint/no-require-imports -- a CommonJS build script without types
const { build, HANDLERS } = require('../scripts/build-handlers.js');

describe('prebuilt handler bundles', () => {
  test.each(HANDLERS as string[])('assets/handlers/%s/index.js is up to date with lib/handlers', async (name) => {
    const committed = fs.readFileSync(path.join(__dirname, '..', 'assets', 'handlers', name, 'index.js'), 'utf8');
    expect(committed).toBe(await build(name));
  });
});
