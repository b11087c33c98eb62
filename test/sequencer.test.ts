import * as fs from 'fs';
import * as path from 'path';

// eslint-disable-next-line @typescript-eslint/no-require-imports
const LongestFirst = require('./support/sequencer');

describe('test order (test/support/sequencer.js)', () => {
  test('every file it names is a test file of the suite', () => {
    const files = fs.readdirSync(__dirname).filter((f) => f.endsWith('.test.ts')).map((f) => f.replace(/\.test\.ts$/, ''));
    expect(Object.keys(LongestFirst.LONGEST).filter((name) => !files.includes(name))).toEqual([]);
  });

  test('the files it names first, longest first; the others after them in jest\'s own order', async () => {
    const test = (name: string) => ({ path: path.join(__dirname, `${name}.test.ts`), context: { config: { cache: false }, hasteFS: { getSize: () => name.length } } });
    const order = (await new LongestFirst({}).sort(['cli', 'api', 'installer-kill', 'sources', 'installer-script'].map(test)))
      .map((t: { path: string }) => path.basename(t.path, '.test.ts'));
    expect(order.slice(0, 3)).toEqual(['installer-kill', 'installer-script', 'api']);
    expect(order.slice(3).sort()).toEqual(['cli', 'sources']);
  });
});
