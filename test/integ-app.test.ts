/**
 * The integration test (test/integ/integ.gate.ts), offline: its snapshot is unchanged (the check
 * `npm run integ` makes, here in the suite so CI runs it), and the user data's stand-in AEM tree is
 * one the real installer serves: install, then a verify run reporting the secret's fingerprints,
 * key files of 32 and 16 bytes (what the integ test asserts on the instance).
 */
import { spawnSync } from 'child_process';
import { createHash, randomBytes } from 'crypto';
import * as fs from 'fs';
import * as os from 'os';
import * as path from 'path';
import { integContext, normalized, snapshotDifferences } from '../scripts/integ';
import { Instance, renderScript, runScript, synthInstaller, testUser } from './support/installer-harness';
import { Moto, startMoto } from './support/moto';
import { keySetSecrets } from './support/secrets';
import { describeWithTools } from './support/tools';

const INTEG = path.join(__dirname, 'integ');

function restore(name: string, value: string | undefined): void {
  if (value === undefined) delete process.env[name];
  else process.env[name] = value;
}

test('the integ app synthesizes to its committed snapshot (templates, test manifest, asset manifests; asset hashes and salts aside)', () => {
  const outdir = fs.mkdtempSync(path.join(os.tmpdir(), 'aem-keys-integ-'));
  const before = { outdir: process.env.CDK_OUTDIR, context: process.env.CDK_CONTEXT_JSON };
  process.env.CDK_OUTDIR = outdir;
  process.env.CDK_CONTEXT_JSON = JSON.stringify(integContext());
  try {
    // The integ app synthesizes when loaded (as integ-runner runs it): a fresh module copy each time.
    // eslint-disable-next-line @typescript-eslint/no-require-imports
    jest.isolateModules(() => require('./integ/integ.gate'));
  } finally {
    restore('CDK_OUTDIR', before.outdir);
    restore('CDK_CONTEXT_JSON', before.context);
  }
  expect(snapshotDifferences(outdir, path.join(INTEG, 'integ.gate.ts.snapshot'))).toEqual([]);
  // The check can fail: a changed template is reported.
  const tpl = path.join(outdir, 'AemCryptoKeysInteg.template.json');
  fs.writeFileSync(tpl, fs.readFileSync(tpl, 'utf8').replace('"t4g.small"', '"t4g.large"'));
  expect(snapshotDifferences(outdir, path.join(INTEG, 'integ.gate.ts.snapshot')))
    .toEqual(['AemCryptoKeysInteg.template.json: differs from the snapshot']);
  expect(normalized('{"salt": "1796293501285", "a": "' + 'ab'.repeat(32) + '"}')).toBe('{"salt": "<time>", "a": "<hash>"}');
  fs.rmSync(outdir, { recursive: true, force: true });
});

describeWithTools(['moto_server', 'aws', 'setpriv'], 'the integ instance\'s stand-in AEM tree (its user data, run here)', () => {
  const user = testUser();
  const keys = { hmac: randomBytes(32), master: randomBytes(16) };
  let moto: Moto;
  let secret: string;
  let inst: Instance;
  beforeAll(async () => {
    moto = await startMoto();
    ({ good: secret } = await keySetSecrets(moto, 'integ-stand-in', keys));
    const root = fs.mkdtempSync(path.join(os.tmpdir(), 'aem-keys-integ-tree-'));
    fs.chmodSync(root, 0o755);
    const made = spawnSync('bash', [path.join(INTEG, 'stand-in-aem.sh')], {
      encoding: 'utf8', env: { ...process.env, AEMKEYS_STAND_IN_ROOT: path.join(root, 'aem'), AEMKEYS_STAND_IN_USER: user.name },
    });
    expect(made.stderr).toBe('');
    const stubs = path.join(root, 'stubs');
    fs.mkdirSync(stubs);
    // AEM is not installed: systemd has no unit for it, as on the integ instance.
    fs.writeFileSync(path.join(stubs, 'systemctl'),
      '#!/bin/bash\n[ "$1" = is-active ] && exit 3\n[ "$1" = show ] && printf \'LoadState=not-found\\nActiveState=inactive\\n\'\nexit 0\n', { mode: 0o755 });
    const quickstart = path.join(root, 'aem', 'crx-quickstart');
    const felix = path.join(quickstart, 'launchpad', 'felix');
    inst = {
      root, quickstart, felix, stubs, systemctlLog: path.join(stubs, 'log'),
      keyDir: path.join(felix, 'bundle10', 'data'),
      storageDir: path.join(felix, 'bundle11', 'data'),
      tokenFile: path.join(quickstart, 'install', 'x'),
    };
  }, 120000);
  afterAll(async () => {
    await moto?.stop();
    if (inst) fs.rmSync(inst.root, { recursive: true, force: true });
  });
  const run = (values: Record<string, string>) => runScript(inst, renderScript(synthInstaller(), {
    QuickstartDir: inst.quickstart, AemUser: user.name, SecretId: secret, Restart: 'none', ...values,
  }), { ...moto.env, HOME: process.env.HOME ?? '/root' });

  // In order on the stand-in tree: the install, then a verify run.
  describe('install, then verify', () => {
    let installed: ReturnType<typeof run>;
    let verified: ReturnType<typeof run>;
    beforeAll(() => {
      installed = run({});
      verified = run({ Mode: 'verify' });
    });

    test('the install succeeds', () => {
      expect({ status: installed.status, stderr: installed.stderr }).toEqual({ status: 0, stderr: expect.any(String) });
    });

    test('verify reports the fingerprints of the secret\'s keys, as the integ test matches them', () => {
      const fp = (b: Buffer) => createHash('sha256').update(b).digest('hex').slice(0, 12);
      expect(verified.status).toBe(0);
      // The integ test's regular expression, on the real output.
      expect(verified.stdout).toMatch(/hmac: [0-9a-f]{12} ok[\s\S]*master: [0-9a-f]{12} ok/);
      expect(verified.stdout).toContain(`hmac: ${fp(keys.hmac)} ok`);
      expect(verified.stdout).toContain(`master: ${fp(keys.master)} ok`);
    });

    test('key files of 32 and 16 bytes where the integ test looks', () => {
      const stat = spawnSync('stat', ['-c', '%n %s', `${inst.keyDir}/hmac`, `${inst.keyDir}/master`], { encoding: 'utf8' });
      expect(stat.stdout).toBe(`${inst.keyDir}/hmac 32\n${inst.keyDir}/master 16\n`);
      const source = fs.readFileSync(path.join(INTEG, 'integ.gate.ts'), 'utf8');
      expect(source).toContain('const KEY_DIR = `${QUICKSTART}/launchpad/felix/bundle10/data`;');
    });
  });
});
