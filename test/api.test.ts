import { spawnSync } from 'child_process';
import * as fs from 'fs';
import * as os from 'os';
import * as path from 'path';
// eslint-disable-next-line @typescript-eslint/no-require-imports -- a CommonJS script of scripts/
const { isBuildCurrent } = require('../scripts/build-inputs');

// The jsii assembly (.jsii, built by `npm run build`) is the public API every CDK language sees.
// These tests build it unless the clone's build is current (scripts/build-inputs.js), then check
// that the committed API.md is what jsii-docgen makes of it, that no breaking change against
// api/baseline.jsii is left unmarked, and that the package entry exports exactly the assembly's
// classes and enums.
// @full-suite: the jsii build and jsii-docgen take tens of seconds; not in `npm run test:fast`.
const root = path.join(__dirname, '..');
const env = { ...process.env, JSII_SILENCE_WARNING_END_OF_LIFE_NODE_VERSION: process.env.JSII_SILENCE_WARNING_END_OF_LIFE_NODE_VERSION ?? '20' };
const TOOLS = ['jsii', 'jsii-docgen', 'jsii-diff', 'jsii-rosetta'];

function run(args: string[], extraEnv: Record<string, string> = {}): { status: number | null; out: string } {
  const r = spawnSync(process.execPath, args, { cwd: root, env: { ...env, ...extraEnv }, encoding: 'utf8', maxBuffer: 64 * 1024 * 1024 });
  return { status: r.status, out: `${r.stdout}${r.stderr}` };
}

function assembly(): any {
  return JSON.parse(fs.readFileSync(path.join(root, '.jsii'), 'utf8'));
}

const missing = TOOLS.filter((t) => !fs.existsSync(path.join(root, 'node_modules', t, 'package.json')));
const describeWithJsii = missing.length === 0 ? describe : describe.skip;
if (missing.length > 0) {
  // eslint-disable-next-line no-console
  console.warn(`skipping "the public API (jsii)": missing ${missing.join(', ')} in node_modules (run npm ci)`);
}

describeWithJsii(`the public API (jsii)${missing.length ? ` [needs ${missing.join(', ')}]` : ''}`, () => {
  beforeAll(() => {
    if (!isBuildCurrent(root)) {
      const r = run([path.join(root, 'scripts', 'build.js')]);
      if (r.status !== 0) throw new Error(`npm run build failed:\n${r.out}`);
    }
  }, 600_000);

  test('API.md is what jsii-docgen makes of the current API (regenerate: npm run build && npm run docgen)', () => {
    const out = path.join(fs.mkdtempSync(path.join(os.tmpdir(), 'aem-keys-docgen-')), 'API.md');
    try {
      const r = run([require.resolve('jsii-docgen/bin/jsii-docgen'), '-o', out]);
      expect(r.status).toBe(0);
      expect(fs.readFileSync(path.join(root, 'API.md'), 'utf8')).toBe(fs.readFileSync(out, 'utf8'));
    } finally {
      fs.rmSync(path.dirname(out), { recursive: true, force: true });
    }
  }, 300_000);

  test('no breaking change against api/baseline.jsii that api/allowed-breaking-changes.txt does not mark', () => {
    const r = run([path.join(root, 'scripts', 'api-diff.js')]);
    if (r.status !== 0) throw new Error(`jsii-diff found unmarked breaking changes:\n${r.out}`);
  }, 300_000);

  test('the check fails on a breaking change nobody marked (here: every change since the baseline)', () => {
    const allowed = fs.readFileSync(path.join(root, 'api', 'allowed-breaking-changes.txt'), 'utf8')
      .split('\n').map((l) => l.trim()).filter((l) => l && !l.startsWith('#'));
    const empty = path.join(fs.mkdtempSync(path.join(os.tmpdir(), 'aem-keys-api-')), 'none.txt');
    fs.writeFileSync(empty, '');
    try {
      const r = run([path.join(root, 'scripts', 'api-diff.js')], { API_DIFF_IGNORE_FILE: empty });
      if (allowed.length === 0) {
        expect(r.status).toBe(0);
      } else {
        expect(r.status).not.toBe(0);
        for (const key of allowed) expect(r.out).toContain(`[${key}]`);
      }
    } finally {
      fs.rmSync(path.dirname(empty), { recursive: true, force: true });
    }
  }, 300_000);

  test('the package entry exports exactly the classes and enums of the assembly', () => {
    // eslint-disable-next-line @typescript-eslint/no-require-imports
    const exported = Object.keys(require('../lib')).sort();
    const types = Object.values<any>(assembly().types).filter((t) => t.kind === 'class' || t.kind === 'enum').map((t) => t.name).sort();
    expect(exported).toEqual(types);
  });

  test('every public type and member is documented, and every optional property says its @default', () => {
    const problems: string[] = [];
    for (const [fqn, t] of Object.entries<any>(assembly().types)) {
      if (!t.docs?.summary) problems.push(`${fqn}: no summary`);
      for (const p of t.properties ?? []) {
        if (!p.docs?.summary) problems.push(`${fqn}.${p.name}: no summary`);
        if (t.datatype && p.optional && p.docs?.default === undefined) problems.push(`${fqn}.${p.name}: optional without @default`);
      }
      for (const m of t.methods ?? []) if (!m.docs?.summary) problems.push(`${fqn}.${m.name}(): no summary`);
      for (const m of t.members ?? []) if (!m.docs?.summary) problems.push(`${fqn}.${m.name}: no summary`);
    }
    expect(problems).toEqual([]);
  });
});
