import { spawn, spawnSync } from 'child_process';
import { randomBytes } from 'crypto';
import * as fs from 'fs';
import * as http from 'http';
import * as net from 'net';
import * as path from 'path';
import { fingerprint } from '../lib/private/key-set';
import { aemBundles, CRYPTO_FILE, felixCache, bundleDir } from './support/felix';
import {
  Instance, makeInstance, plant, plantGeneratedKeys, recordFile, removeRecords, renderScript, runScript, runScriptAsync, snapshotTree, synthInstaller,
  testUser, RunResult,
} from './support/installer-harness';
import { Moto, startMoto } from './support/moto';
import { TestSecrets } from './support/secrets';
import { describeWithTools, strace } from './support/tools';

/** The installer's record of which secret installed an instance's keys (lib/scripts/install-keys.sh). */
const recordOf = (inst: Instance) => recordFile(inst.quickstart);

const TOKEN_PROPS = { 'token.samesite.cookie.attr': 'Lax', 'path': '/' };
const ADMIN = 'admin:p\u00e4ss "w0rd" \\ $(x) \u{1F600} /';
const TOKEN_CONFIG = 'token.encapsulated=B"true"\npath="/"\ntoken.samesite.cookie.attr="Lax"\n';

/** Random keys whose base64 holds a '/', so the secret's JSON can escape it as \/. */
const BASE64_LETTERS = 'ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/';

/**
 * `bytes` in base64 with the lowest unused bit of the letter before the padding set: decoders
 * (GNU base64, Node) ignore it, so it decodes to `bytes`, but it is not the text base64 gives.
 */
function notCanonical(bytes: Buffer): string {
  const text = bytes.toString('base64');
  const last = text.indexOf('=') - 1;
  if (last < 0) throw new Error('no padding: every bit is used');
  const loose = text.slice(0, last) + BASE64_LETTERS[BASE64_LETTERS.indexOf(text[last]) | 1] + text.slice(last + 1);
  if (loose === text || !Buffer.from(loose, 'base64').equals(bytes)) throw new Error('not a looser form of the same bytes');
  return loose;
}

function keysWithSlash(): { hmac: Buffer; master: Buffer } {
  for (;;) {
    const hmac = randomBytes(32);
    const master = randomBytes(16);
    if (hmac.toString('base64').includes('/') && master.toString('base64').includes('/')) return { hmac, master };
  }
}

describeWithTools(['java', 'moto_server', 'aws', 'strace'], 'installer script (extracted from the synthesized document) on genuine Felix caches', () => {
  let moto: Moto;
  let cache: ReturnType<typeof felixCache>;
  const doc = () => synthInstaller({ tokenHandlerProperties: TOKEN_PROPS });
  const user = testUser();
  const keys = keysWithSlash();
  const arns: Record<string, string> = {};
  const instances: Instance[] = [];

  let secrets: TestSecrets;
  const createSecret = (name: string, value: string) => secrets.create(name, value);

  beforeAll(async () => {
    moto = await startMoto();
    secrets = new TestSecrets(moto);
    cache = felixCache(aemBundles());
    // Pretty-printed, '/' escaped as \/, an unknown field, the keys not first.
    const escaped = (b: Buffer) => b.toString('base64').replace(/\//g, '\\/');
    arns.good = await createSecret('aem-keys', `{\n  "format": 1,\n  "comment": {"nested": ["x", "\\"hmac\\""]},\n  "hmac" : "${escaped(keys.hmac)}",\n  "master":"${escaped(keys.master)}"\n}`);
    arns.notJson = await createSecret('not-json', 'hmac=abc master=def');
    arns.badBase64 = await createSecret('bad-b64', JSON.stringify({ hmac: 'not*base64!', master: keys.master.toString('base64') }));
    arns.short = await createSecret('short', JSON.stringify({ hmac: randomBytes(31).toString('base64'), master: keys.master.toString('base64') }));
    arns.noMaster = await createSecret('no-master', JSON.stringify({ hmac: keys.hmac.toString('base64') }));
    // JSON escapes of every kind, decoded by the script to UTF-8 whatever the locale.
    arns.admin = await createSecret('admin', String.raw`{"username":"admin","password":"p\u00e4ss \"w0rd\" \\ $(x) \ud83d\ude00 \/"}`);
    arns.adminNoPassword = await createSecret('admin-no-password', '{"username":"admin"}');
    arns.missing = arns.good.replace(/secret:aem-keys-/, 'secret:does-not-exist-');
  }, 60000);

  afterAll(async () => {
    secrets?.destroy();
    await moto?.stop();
    for (const i of instances) {
      fs.rmSync(i.root, { recursive: true, force: true });
      fs.rmSync(recordOf(i), { force: true });
      fs.rmSync(`${recordOf(i)}.lock`, { force: true });
    }
  });

  function instance(opts: { dirName?: string; running?: boolean; systemctlFailsOn?: string } = {}, c = cache): Instance {
    const inst = makeInstance(c, user, opts);
    instances.push(inst);
    return inst;
  }

  /** The installer as SSM writes it for `inst`: the key set's secret, the instance's tree and user, then `values`. */
  const scriptFor = (inst: Instance, values: Record<string, string> = {}) =>
    renderScript(doc(), { SecretId: arns.good, QuickstartDir: inst.quickstart, AemUser: user.name, ...values });
  /** The environment a run gets: moto_server's endpoint and credentials. */
  const runEnv = () => ({ ...moto.env, HOME: process.env.HOME ?? '/root' });

  function run(inst: Instance, values: Record<string, string> = {}, wrap?: string[]): RunResult {
    return runScript(inst, scriptFor(inst, values), runEnv(), { wrap });
  }

  const lines = (text: string) => text.trimEnd().split('\n');
  const read = (file: string) => fs.readFileSync(file);
  const ownerMode = (file: string) => {
    const st = fs.statSync(file);
    return `${st.uid}:${st.gid} ${(st.mode & 0o777).toString(8)}`;
  };
  const fp = { hmac: fingerprint(keys.hmac), master: fingerprint(keys.master) };
  const bundlesLine = () => `bundles: ${CRYPTO_FILE}=${path.basename(bundleDir(cache, '/', CRYPTO_FILE))} com.adobe.granite.crypto=${path.basename(bundleDir(cache, '/', 'com.adobe.granite.crypto'))}`;
  // The read-only `systemctl show` calls (the unit's state, the keys path override check) are left out; their own tests look at them.
  const systemctlCalls = (inst: Instance) => (fs.existsSync(inst.systemctlLog) ? lines(fs.readFileSync(inst.systemctlLog, 'utf8')) : [])
    .filter((l) => !l.startsWith('show '));
  const backups = (inst: Instance) => {
    const root = path.join(inst.quickstart, 'crypto-key-backups');
    return fs.existsSync(root) ? fs.readdirSync(root).map((d) => path.join(root, d)) : [];
  };

  /**
   * Runs a case that must fail: one error line, non-zero, every file byte-identical. `tree`, for
   * a series of failing runs on one instance: holds the snapshot taken after the previous run
   * (asserted equal to the one before it, so it is the tree as this run finds it) and gets this
   * run's; it saves one walk over the tree per run.
   */
  function expectFailure(
    inst: Instance,
    values: Record<string, string>,
    message: string | RegExp,
    tree?: { snapshot?: Record<string, string> },
  ): RunResult {
    const before = tree?.snapshot ?? snapshotTree(inst.quickstart);
    const r = run(inst, values);
    const after = snapshotTree(inst.quickstart);
    if (tree) tree.snapshot = after;
    expect(r.stdout).toBe('');
    expect(lines(r.stderr)).toHaveLength(1);
    if (typeof message === 'string') expect(r.stderr).toBe(`aem-crypto-keys: error: ${message}\n`);
    else expect(r.stderr).toMatch(message);
    expect(r.status).toBe(1);
    expect(after).toEqual(before);
    return r;
  }

  describe('fresh install over AEM\'s auto-generated keys', () => {
    let inst: Instance;
    let old: { hmac: Buffer; master: Buffer };
    let r: RunResult;
    let backup: string;
    beforeAll(() => {
      inst = instance();
      old = plantGeneratedKeys(inst, user);
      r = run(inst);
      [backup] = backups(inst);
    });

    test('succeeds with a summary: each key replaced, storage written, the backup, the token config', () => {
      expect(r.stderr).toBe('');
      expect(r.status).toBe(0);
      expect(path.basename(backup)).toMatch(/^\d{8}T\d{6}Z$/);
      expect(lines(r.stdout)).toEqual([
        bundlesLine(),
        `hmac: ${fp.hmac} replaced (was ${fingerprint(old.hmac)})`,
        `master: ${fp.master} replaced (was ${fingerprint(old.master)})`,
        'storage: Bundle written',
        `backup: ${backup}`,
        `token config: written ${inst.tokenFile}`,
        'restart: not needed (AEM is not running)',
        'result: changed',
      ]);
    });

    test('writes the secret\'s exact key bytes and the Bundle storage mode', () => {
      expect(read(path.join(inst.keyDir, 'hmac'))).toEqual(keys.hmac);
      expect(read(path.join(inst.keyDir, 'master'))).toEqual(keys.master);
      expect(read(path.join(inst.storageDir, 'storage'))).toEqual(Buffer.from('Bundle'));
    });

    test('the key files and storage are the AEM user\'s, mode 600', () => {
      for (const f of ['hmac', 'master']) expect(ownerMode(path.join(inst.keyDir, f))).toBe(`${user.uid}:${user.gid} 600`);
      expect(ownerMode(path.join(inst.storageDir, 'storage'))).toBe(`${user.uid}:${user.gid} 600`);
    });

    test('writes the token handler config, the AEM user\'s, mode 644', () => {
      expect(fs.readFileSync(inst.tokenFile, 'utf8')).toBe(TOKEN_CONFIG);
      expect(ownerMode(inst.tokenFile)).toBe(`${user.uid}:${user.gid} 644`);
    });

    test('the backup holds the auto-generated keys, byte for byte, with their owner and mode, in a private folder', () => {
      expect(fs.readdirSync(backup).sort()).toEqual(['hmac', 'master']);
      expect(read(path.join(backup, 'hmac'))).toEqual(old.hmac);
      expect(read(path.join(backup, 'master'))).toEqual(old.master);
      expect(ownerMode(path.join(backup, 'hmac'))).toBe(`${user.uid}:${user.gid} 600`);
      expect(fs.statSync(backup).mode & 0o777).toBe(0o700);
    });

    test('leaves no staging file anywhere in the tree', () => {
      expect(Object.keys(snapshotTree(inst.quickstart)).filter((f) => f.includes('.aem-crypto-keys.') || f.includes('.incomplete-'))).toEqual([]);
    });

    test('asks whether AEM runs, and starts or restarts nothing when it does not', () => {
      expect(systemctlCalls(inst)).toEqual([]);
    });

    // Runs after the tests above (jest runs a file's tests in order): the instance as they left it.
    describe('then a second identical run, AEM now running', () => {
      let before: Record<string, string>;
      let again: RunResult;
      beforeAll(() => {
        fs.writeFileSync(path.join(inst.stubs, 'running'), '');
        before = snapshotTree(inst.quickstart);
        again = run(inst);
      });

      test('reports every item unchanged', () => {
        expect(again.status).toBe(0);
        expect(lines(again.stdout)).toEqual([
          bundlesLine(),
          `hmac: ${fp.hmac} unchanged`,
          `master: ${fp.master} unchanged`,
          'storage: Bundle unchanged',
          `token config: unchanged ${inst.tokenFile}`,
          'restart: not needed (no key file changed)',
          'result: unchanged (nothing to do)',
        ]);
      });

      test('rewrites nothing (mtime, inode)', () => {
        expect(snapshotTree(inst.quickstart)).toEqual(before);
      });

      test('restarts nothing', () => {
        expect(systemctlCalls(inst)).toEqual([]);
      });
    });
  });

  describe('upgraded instance with storage=JCR and no key files, AEM running (Restart=service)', () => {
    let inst: Instance;
    let r: RunResult;
    let backup: string;
    beforeAll(() => {
      inst = instance({ running: true });
      fs.rmSync(inst.keyDir, { recursive: true });
      plant(path.join(inst.storageDir, 'storage'), 'JCR', user);
      r = run(inst);
      [backup] = backups(inst);
    });

    test('succeeds with a summary: keys written, storage replaced, the backup, AEM restarted', () => {
      expect(r.status).toBe(0);
      expect(lines(r.stdout)).toEqual([
        bundlesLine(),
        `hmac: ${fp.hmac} written`,
        `master: ${fp.master} written`,
        'storage: Bundle replaced (was JCR)',
        `backup: ${backup}`,
        `token config: written ${inst.tokenFile}`,
        'restart: service aem restarted',
        'result: changed',
      ]);
    });

    test('backs up the JCR storage mode and writes Bundle and the keys', () => {
      expect(read(path.join(backup, 'storage'))).toEqual(Buffer.from('JCR'));
      expect(read(path.join(inst.storageDir, 'storage'))).toEqual(Buffer.from('Bundle'));
      expect(read(path.join(inst.keyDir, 'hmac'))).toEqual(keys.hmac);
    });

    test('creates the missing data folder for the AEM user, private', () => {
      expect(ownerMode(inst.keyDir)).toBe(`${user.uid}:${user.gid} 700`);
    });

    test('restarts the running AEM service', () => {
      expect(systemctlCalls(inst)).toEqual(['restart -- aem']);
    });
  });

  test('OnKeyMismatch=fail with other keys: refuses and changes nothing', () => {
    const inst = instance();
    const old = plantGeneratedKeys(inst, user);
    expectFailure(inst, { OnKeyMismatch: 'fail' },
      `the instance has other keys (hmac ${fingerprint(old.hmac)}, master ${fingerprint(old.master)}) and OnKeyMismatch=fail: nothing changed`);
  });

  describe('OnKeyMismatch=replace-fresh (what addInstancesByTag passes by default)', () => {
    test('a brand-new instance: AEM\'s first-start keys (minutes old) are backed up and replaced, no manual step', () => {
      const inst = instance();
      const old = plantGeneratedKeys(inst, user);
      const minutesAgo = new Date(Date.now() - 20 * 60 * 1000);
      for (const k of ['hmac', 'master']) fs.utimesSync(path.join(inst.keyDir, k), minutesAgo, minutesAgo);
      const r = run(inst, { OnKeyMismatch: 'replace-fresh', FreshKeyMinutes: '60' });
      expect(r.stderr).toBe('');
      expect(r.status).toBe(0);
      expect(read(path.join(inst.keyDir, 'hmac'))).toEqual(keys.hmac);
      expect(read(path.join(backups(inst)[0], 'hmac'))).toEqual(old.hmac);
      expect(lines(r.stdout)).toContain(`hmac: ${fp.hmac} replaced (was ${fingerprint(old.hmac)})`);
      expect(lines(r.stdout)).toContain('keys: the replaced keys were 20 minutes old, AEM\'s first-start keys (OnKeyMismatch=replace-fresh, FreshKeyMinutes=60)');
    });

    describe('an established instance (one key file years old)', () => {
      let inst: Instance;
      let old: { hmac: Buffer; master: Buffer };
      beforeAll(() => {
        inst = instance();
        old = plantGeneratedKeys(inst, user);
        const yearsAgo = new Date(Date.now() - 3 * 365 * 24 * 3600 * 1000);
        // Only one old key file is enough to count as established.
        fs.utimesSync(path.join(inst.keyDir, 'master'), yearsAgo, yearsAgo);
      });

      test('keys older than FreshKeyMinutes are kept, one line names the option to set, nothing changed', () => {
        const r = expectFailure(inst, { OnKeyMismatch: 'replace-fresh' },
          new RegExp(`^aem-crypto-keys: error: the instance has other keys \\(hmac ${fingerprint(old.hmac)}, master ${fingerprint(old.master)}\\), last changed \\d+ minutes ago: `
            + 'not AEM\'s first-start keys \\(OnKeyMismatch=replace-fresh, FreshKeyMinutes=1440\\).*OnKeyMismatch=replace \\(construct option onKeyMismatch: OnKeyMismatch.REPLACE\\)\n$'));
        expect(r.stderr).not.toContain(keys.hmac.toString('base64'));
      });

      test('the explicit choice, OnKeyMismatch=replace, replaces them after a backup', () => {
        const again = run(inst, { OnKeyMismatch: 'replace' });
        expect(again.status).toBe(0);
        expect(read(path.join(backups(inst)[0], 'master'))).toEqual(old.master);
      });
    });

    test('keys missing or already equal are no mismatch: written / unchanged whatever their age', () => {
      const inst = instance();
      const r = run(inst, { OnKeyMismatch: 'replace-fresh' });
      expect(r.status).toBe(0);
      const yearsAgo = new Date(Date.now() - 3 * 365 * 24 * 3600 * 1000);
      for (const k of ['hmac', 'master']) fs.utimesSync(path.join(inst.keyDir, k), yearsAgo, yearsAgo);
      const second = run(inst, { OnKeyMismatch: 'replace-fresh' });
      expect(second.status).toBe(0);
      expect(lines(second.stdout).slice(-1)).toEqual(['result: unchanged (nothing to do)']);
    });
  });

  test('OnKeyMismatch=fail with the same keys still moves storage from JCR to Bundle', () => {
    const inst = instance();
    plant(path.join(inst.keyDir, 'hmac'), keys.hmac, user);
    plant(path.join(inst.keyDir, 'master'), keys.master, user);
    plant(path.join(inst.storageDir, 'storage'), 'JCR', user);
    const r = run(inst, { OnKeyMismatch: 'fail', EncapsulatedToken: 'false' });
    expect(r.status).toBe(0);
    expect(lines(r.stdout).slice(1, 5)).toEqual([
      `hmac: ${fp.hmac} unchanged`, `master: ${fp.master} unchanged`, 'storage: Bundle replaced (was JCR)', `backup: ${backups(inst)[0]}`,
    ]);
  });

  describe('StartAfterInstall=true and EncapsulatedToken=false on a stopped AEM', () => {
    const values = { StartAfterInstall: 'true', EncapsulatedToken: 'false' };
    let inst: Instance;
    let r: RunResult;
    beforeAll(() => {
      inst = instance();
      r = run(inst, values);
    });

    test('reports the token config not managed, no restart needed, and the start', () => {
      expect(r.status).toBe(0);
      expect(lines(r.stdout).slice(-4)).toEqual([
        'token config: not managed (EncapsulatedToken=false)',
        'restart: not needed (AEM is not running)',
        'start: service aem started (StartAfterInstall=true)',
        'result: changed',
      ]);
    });

    test('EncapsulatedToken=false leaves the token config alone', () => {
      expect(fs.existsSync(path.join(inst.quickstart, 'install'))).toBe(false);
    });

    test('StartAfterInstall=true starts the stopped AEM', () => {
      expect(systemctlCalls(inst)).toEqual(['start -- aem']);
    });

    test('a second run, AEM running, starts it no more', () => {
      const again = run(inst, values);
      expect(lines(again.stdout).slice(-2)).toEqual(['restart: not needed (no key file changed)', 'result: unchanged (nothing to do)']);
      expect(systemctlCalls(inst)).toEqual(['start -- aem']);
    });
  });

  describe('the AEM unit as systemd has it (systemctl show: LoadState, ActiveState)', () => {
    test('a ServiceName systemd has no unit for, with Restart=service: one line, nothing changed', () => {
      const inst = instance({ running: true });
      fs.writeFileSync(path.join(inst.stubs, 'no-unit'), '');
      expectFailure(inst, {}, 'ServiceName: systemd has no unit aem');
      expect(systemctlCalls(inst)).toEqual([]);
    });

    test('the same with Restart=none and StartAfterInstall=false: installed (the run never uses the name)', () => {
      const inst = instance();
      fs.writeFileSync(path.join(inst.stubs, 'no-unit'), '');
      const r = run(inst, { Restart: 'none', EncapsulatedToken: 'false' });
      expect(r.stderr).toBe('');
      expect(r.status).toBe(0);
      expect(read(path.join(inst.keyDir, 'hmac'))).toEqual(keys.hmac);
    });

    test('an AEM that is activating counts as running: Restart=service restarts it', () => {
      const inst = instance();
      fs.writeFileSync(path.join(inst.stubs, 'activating'), '');
      const r = run(inst, { EncapsulatedToken: 'false' });
      expect(r.status).toBe(0);
      expect(lines(r.stdout)).toContain('restart: service aem restarted');
      expect(systemctlCalls(inst)).toEqual(['restart -- aem']);
    });
  });

  test('StartAfterInstall=true whose start fails, the keys already in place: one line that claims no write', () => {
    const inst = instance({ systemctlFailsOn: 'start' });
    expect(run(inst, { EncapsulatedToken: 'false' }).status).toBe(0);
    const r = run(inst, { EncapsulatedToken: 'false', StartAfterInstall: 'true' });
    expect(r.stderr).toBe('aem-crypto-keys: error: systemctl start aem failed (StartAfterInstall=true)\n');
    expect(r.status).toBe(1);
  });

  test('Restart=none on a running AEM changes the files and says AEM keeps the old keys', () => {
    const inst = instance({ running: true });
    const r = run(inst, { Restart: 'none' });
    expect(r.status).toBe(0);
    expect(lines(r.stdout).slice(-2)).toEqual(['restart: none (Restart=none: the running AEM keeps the old keys until it restarts)', 'result: changed']);
    expect(systemctlCalls(inst)).toEqual([]);
  });

  test('a QuickstartDir with spaces works', () => {
    const inst = instance({ dirName: 'my aem/crx quickstart' });
    const r = run(inst, { ServiceName: 'aem-publish@1.service' });
    expect(r.stderr).toBe('');
    expect(r.status).toBe(0);
    expect(read(path.join(inst.keyDir, 'hmac'))).toEqual(keys.hmac);
    expect(fs.readFileSync(inst.tokenFile, 'utf8')).toBe(TOKEN_CONFIG);
  });

  describe('which key set installed the keys (a root-only record outside the tree)', () => {
    const json = (k: { hmac: Buffer; master: Buffer }) => JSON.stringify({ hmac: k.hmac.toString('base64'), master: k.master.toString('base64') });
    const other = () => ({ hmac: randomBytes(32), master: randomBytes(16) });

    // The tests of this block run in order on one instance: installed from the key set's secret,
    // then offered the keys of another secret `b`.
    describe('keys installed from one secret, another secret\'s keys offered', () => {
      let inst: Instance;
      let b: string;
      let first: RunResult;
      beforeAll(async () => {
        inst = instance();
        b = await createSecret('keyset-b', json(other()));
        first = run(inst);
      });

      test('the install records the secret the keys came from', () => {
        expect(first.status).toBe(0);
        expect(fs.readFileSync(recordOf(inst), 'utf8')).toBe(`${arns.good}\n`);
      });

      test('keys from another secret are never replaced: one line naming both, nothing changed', () => {
        const r = expectFailure(inst, { SecretId: b },
          `the instance has other keys (hmac ${fp.hmac}, master ${fp.master}), installed from secret ${arns.good}, not from ${b}: `
          + `nothing changed. To replace them deliberately, remove ${recordOf(inst)} first`);
        expect(r.stderr).not.toContain(keys.hmac.toString('base64'));
        expect(fs.readFileSync(recordOf(inst), 'utf8')).toBe(`${arns.good}\n`);
      });

      test('Mode=verify names the recorded secret and stays a plain mismatch', () => {
        const v = run(inst, { SecretId: b, Mode: 'verify' });
        expect(v.status).toBe(3);
        expect(lines(v.stdout)).toContain(`key set: the instance's keys were installed from ${arns.good}`);
      });

      test('removing the record is the deliberate way through', () => {
        fs.rmSync(recordOf(inst));
        expect(run(inst, { SecretId: b }).status).toBe(0);
        expect(fs.readFileSync(recordOf(inst), 'utf8')).toBe(`${b}\n`);
      });
    });

    test('a secret whose base64 is not canonical (other bits in its last letter) holds the instance\'s keys: a second run rewrites nothing', async () => {
      const inst = instance();
      const loose = await createSecret('keyset-not-canonical', JSON.stringify({ hmac: notCanonical(keys.hmac), master: notCanonical(keys.master) }));
      expect(run(inst, { SecretId: loose }).status).toBe(0);
      expect(read(path.join(inst.keyDir, 'hmac'))).toEqual(keys.hmac);
      expect(read(path.join(inst.keyDir, 'master'))).toEqual(keys.master);
      const before = snapshotTree(inst.quickstart);
      const r = run(inst, { SecretId: loose });
      expect(r.status).toBe(0);
      expect(lines(r.stdout)).toEqual(expect.arrayContaining([`hmac: ${fp.hmac} unchanged`, `master: ${fp.master} unchanged`,
        'result: unchanged (nothing to do)']));
      expect(snapshotTree(inst.quickstart)).toEqual(before);
    });

    test('another secret holding the same keys: nothing to replace, succeeds and is recorded', async () => {
      const inst = instance();
      const same = await createSecret('keyset-same', json(keys));
      expect(run(inst).status).toBe(0);
      const r = run(inst, { SecretId: same });
      expect(r.stderr).toBe('');
      expect(r.status).toBe(0);
      expect(lines(r.stdout)).toContain(`key set: the instance's keys were installed from ${arns.good}`);
      expect(fs.readFileSync(recordOf(inst), 'utf8')).toBe(`${same}\n`);
    });

    // In order on one instance, installed from secret `a` holding k1.
    describe('the same secret with new keys', () => {
      const k1 = other();
      const k2 = other();
      let inst: Instance;
      let a: string;
      let first: RunResult;
      beforeAll(async () => {
        inst = instance();
        a = await createSecret('keyset-rekey', json(k1));
        first = run(inst, { SecretId: a });
      });

      test('re-keyed: replaces as before', async () => {
        expect(first.status).toBe(0);
        await secrets.put(a, json(k2));
        const r = run(inst, { SecretId: a });
        expect(r.stderr).toBe('');
        expect(r.status).toBe(0);
        expect(lines(r.stdout)).toContain(`hmac: ${fingerprint(k2.hmac)} replaced (was ${fingerprint(k1.hmac)})`);
        expect(read(path.join(inst.keyDir, 'hmac'))).toEqual(k2.hmac);
      });

      test('a record naming the secret in another region (a replica) counts as the same secret: replaces as before', async () => {
        fs.writeFileSync(recordOf(inst), `${a.replace(/:secretsmanager:[^:]+:/, ':secretsmanager:eu-central-2:')}\n`, { mode: 0o600 });
        await secrets.put(a, json(k1));
        expect(run(inst, { SecretId: a }).status).toBe(0);
        expect(read(path.join(inst.keyDir, 'hmac'))).toEqual(k1.hmac);
        expect(fs.readFileSync(recordOf(inst), 'utf8')).toBe(`${a}\n`);
      });
    });

    // In order on one instance with a record.
    describe('the record itself', () => {
      let inst: Instance;
      let first: RunResult;
      beforeAll(() => {
        inst = instance();
        first = run(inst);
      });

      test('the AEM user can neither read nor write the record', () => {
        expect(first.status).toBe(0);
        const file = recordOf(inst);
        const dir = path.dirname(file);
        expect(`${fs.statSync(dir).uid} ${(fs.statSync(dir).mode & 0o777).toString(8)}`).toBe('0 700');
        expect(`${fs.statSync(file).uid} ${(fs.statSync(file).mode & 0o777).toString(8)}`).toBe('0 600');
        for (const cmd of [`printf x > '${file}'`, `rm -f '${file}'`, `printf x > '${dir}/planted'`, `cat '${file}'`]) {
          expect(spawnSync('runuser', ['-u', user.name, '--', 'sh', '-c', cmd], { stdio: 'ignore' }).status).not.toBe(0);
        }
        expect(fs.readFileSync(file, 'utf8')).toBe(`${arns.good}\n`);
      });

      test('a record not owned by root is refused', () => {
        const file = recordOf(inst);
        fs.chownSync(file, user.uid, user.gid);
        expectFailure(inst, {}, `${file} (which secret installed the keys) is unreadable: remove it`);
      });
    });

    test('the test harness removes the records its runs left (removeRecords, after each test file)', () => {
      const inst = instance();
      expect(run(inst).status).toBe(0);
      // The harness names the record as the installer does: a run leaves no record it misses.
      expect(fs.readdirSync(path.dirname(recordOf(inst)))).toContain(path.basename(recordOf(inst)));
      expect(removeRecords([inst.quickstart])).toEqual([recordOf(inst), `${recordOf(inst)}.lock`]);
      expect(fs.existsSync(recordOf(inst))).toBe(false);
    });
  });

  describe('two runs at once on one instance (a gated launch and a tag association can meet): one at a time', () => {
    const PAIRS = 2;
    /** Two runs started together on a new instance, each with its own script file and values. */
    async function together(values: [Record<string, string>, Record<string, string>]): Promise<{ inst: Instance; runs: RunResult[] }> {
      const inst = instance();
      const runs = await Promise.all(values.map((v, i) => runScriptAsync(inst, scriptFor(inst, v), runEnv(), [], `_script${i}.sh`)));
      return { inst, runs };
    }

    test(`the same secret, ${PAIRS} times: both succeed, one of them changes the files`, async () => {
      for (let n = 0; n < PAIRS; n++) {
        const { inst, runs } = await together([{}, {}]);
        expect(runs.map((r) => r.stderr)).toEqual(['', '']);
        expect(runs.map((r) => r.status)).toEqual([0, 0]);
        expect(runs.map((r) => lines(r.stdout).at(-1)).sort()).toEqual(['result: changed', 'result: unchanged (nothing to do)']);
        expect(read(path.join(inst.keyDir, 'hmac'))).toEqual(keys.hmac);
        expect(read(path.join(inst.keyDir, 'master'))).toEqual(keys.master);
      }
    }, 120000);

    test(`two key sets' secrets, ${PAIRS} times: one installs, the other refuses (the record): never a mix`, async () => {
      const other = { hmac: randomBytes(32), master: randomBytes(16) };
      const otherArn = await createSecret('other-key-set', JSON.stringify({ hmac: other.hmac.toString('base64'), master: other.master.toString('base64') }));
      for (let n = 0; n < PAIRS; n++) {
        const { inst, runs } = await together([{}, { SecretId: otherArn }]);
        expect(runs.map((r) => r.status).sort()).toEqual([0, 1]);
        const [won, lost] = runs[0].status === 0 ? [keys, runs[1]] : [other, runs[0]];
        expect(lost.stderr).toMatch(/^aem-crypto-keys: error: the instance has other keys .*, installed from secret arn:.*: nothing changed\. To replace them/);
        expect(read(path.join(inst.keyDir, 'hmac'))).toEqual(won.hmac);
        expect(read(path.join(inst.keyDir, 'master'))).toEqual(won.master);
      }
    }, 120000);
  });

  // In order on one instance: other keys at first, then the key set's.
  describe('Mode=verify', () => {
    let inst: Instance;
    let old: { hmac: Buffer; master: Buffer };
    beforeAll(() => {
      inst = instance();
      old = plantGeneratedKeys(inst, user);
      plant(path.join(inst.storageDir, 'storage'), 'Bundle\n', user);
    });

    test('a mismatch exits 3, lists each difference and changes nothing', () => {
      const before = snapshotTree(inst.quickstart);
      const r = run(inst, { Mode: 'verify' });
      expect(r.status).toBe(3);
      expect(lines(r.stdout)).toEqual([
        bundlesLine(),
        `hmac: ${fp.hmac} differs (instance has ${fingerprint(old.hmac)})`,
        `master: ${fp.master} differs (instance has ${fingerprint(old.master)})`,
        'storage: differs (instance has other content)',
        'token config: missing',
        'token in AEM: not checked (no AdminSecretId)',
        'result: mismatch (Mode=verify changed nothing)',
      ]);
      expect(snapshotTree(inst.quickstart)).toEqual(before);
    });

    test('a match (after an install) exits 0, lists each item ok and changes nothing', () => {
      expect(run(inst).status).toBe(0);
      const before = snapshotTree(inst.quickstart);
      const ok = run(inst, { Mode: 'verify' });
      expect(ok.status).toBe(0);
      expect(lines(ok.stdout)).toEqual([
        bundlesLine(), `hmac: ${fp.hmac} ok`, `master: ${fp.master} ok`, 'storage: Bundle ok', 'token config: ok',
        'token in AEM: not checked (no AdminSecretId)',
        'result: verified (the instance has the secret\'s keys; Mode=verify changed nothing)',
      ]);
      expect(snapshotTree(inst.quickstart)).toEqual(before);
    });
  });

  describe('started other ways than sh -c FILE (a verify run on an instance without keys)', () => {
    let inst: Instance;
    let script: string;
    let file: string;
    beforeAll(() => {
      inst = instance();
      script = scriptFor(inst, { Mode: 'verify', EncapsulatedToken: 'false' });
      file = path.join(inst.root, 'script.sh');
      fs.writeFileSync(file, script);
    });
    const expected = () => [
      bundlesLine(), `hmac: ${fp.hmac} missing on the instance`, `master: ${fp.master} missing on the instance`, 'storage: missing on the instance',
      'token config: not managed (EncapsulatedToken=false)', 'result: mismatch (Mode=verify changed nothing)',
    ];
    const start = (cmd: string, args: string[]) => spawnSync(cmd, args, {
      env: { ...runEnv(), PATH: process.env.PATH! }, encoding: 'utf8',
    });

    test('runs when started by dash (re-execs bash)', () => {
      const r = start('dash', [file]);
      expect(`dash ${r.stderr}`).toBe('dash ');
      expect(lines(r.stdout)).toEqual(expected());
      expect(r.status).toBe(3);
    });

    test('runs when started by bash -c (reads its parameters from BASH_EXECUTION_STRING)', () => {
      const r = start('bash', ['-c', script]);
      expect(`bash ${r.stderr}`).toBe('bash ');
      expect(lines(r.stdout)).toEqual(expected());
      expect(r.status).toBe(3);
    });
  });

  test('crypto.file bundle missing from the cache: fails, nothing changed', () => {
    // A small cache: with no location naming crypto.file the installer reads every bundle's
    // manifest before it gives up (on the full cache that takes about 20 s; npm run bench times it).
    const inst = instance({}, felixCache(aemBundles({ fillers: 40 })));
    fs.rmSync(path.dirname(inst.keyDir), { recursive: true });
    expectFailure(inst, {}, `no bundle ${CRYPTO_FILE} in the Felix bundle cache (is this an AEM 6.3+ instance that was started once?)`);
  });

  test('no Felix cache at all: fails, nothing changed', () => {
    const inst = instance();
    fs.rmSync(inst.felix, { recursive: true });
    expectFailure(inst, {}, `no Felix bundle cache at ${inst.felix} (has AEM been started once on this instance?)`);
  });

  describe('two folders claiming com.adobe.granite.crypto.file', () => {
    const second = { location: 'slinginstall:com.adobe.granite.crypto.file-1.0.20.jar', symbolicName: CRYPTO_FILE, version: '1.0.20', start: false, data: true };

    test('neither active: ambiguous, fails, nothing changed', () => {
      const c = felixCache(aemBundles({ fillers: 40, cryptoFileStarted: false, extra: [second] }));
      const inst = instance({}, c);
      const ids = c.bundles.filter((b) => b.symbolicName === CRYPTO_FILE).map((b) => `bundle${b.id}`);
      expect(ids).toHaveLength(2);
      expectFailure(inst, {}, `ambiguous: 2 bundle folders claim ${CRYPTO_FILE} (${ids.join(' ')}) and 0 of them are active; refusing to guess`);
    });

    test('one of them uninstalled (state 1, folder awaiting removal by Felix): the other one gets the keys', () => {
      const c = felixCache(aemBundles({ fillers: 40, cryptoFileStarted: false, extra: [second] }));
      const inst = makeInstance(c, user);
      instances.push(inst);
      // Felix writes persistent state 1 into bundle.info on uninstall and removes the folder once
      // nothing uses the bundle any more; simulate a folder still awaiting that removal.
      const info = path.join(bundleDir(c, inst.felix, CRYPTO_FILE, 1), 'bundle.info');
      const infoLines = fs.readFileSync(info, 'utf8').split('\n');
      expect(infoLines[2]).toBe('2');
      fs.writeFileSync(info, [infoLines[0], infoLines[1], '1', ...infoLines.slice(3)].join('\n'));
      const r = run(inst);
      expect(r.stderr).toBe('');
      expect(r.status).toBe(0);
      expect(read(path.join(bundleDir(c, inst.felix, CRYPTO_FILE, 0), 'data', 'hmac'))).toEqual(keys.hmac);
      expect(fs.existsSync(path.join(bundleDir(c, inst.felix, CRYPTO_FILE, 1), 'data', 'hmac'))).toBe(false);
    });

    test('one active: the active one gets the keys', () => {
      const c = felixCache(aemBundles({ fillers: 40, cryptoFileStarted: true, extra: [second] }));
      const inst = makeInstance(c, user);
      instances.push(inst);
      const r = run(inst);
      expect(r.status).toBe(0);
      expect(read(path.join(bundleDir(c, inst.felix, CRYPTO_FILE, 0), 'data', 'hmac'))).toEqual(keys.hmac);
      expect(fs.existsSync(path.join(bundleDir(c, inst.felix, CRYPTO_FILE, 1), 'data', 'hmac'))).toBe(false);
    });
  });

  test('bad secrets fail before anything is touched, never quoting the value', () => {
    const inst = instance();
    plantGeneratedKeys(inst, user);
    const tree = {};
    const r = expectFailure(inst, { SecretId: arns.missing }, new RegExp(`^aem-crypto-keys: error: cannot read secret ${arns.missing.replace(/[.*+?^${}()|[\]\\]/g, '\\$&')}: .*ResourceNotFoundException.*\\n$`), tree);
    expect(r.stderr).toContain('can\'t find the specified secret');
    expectFailure(inst, { SecretId: arns.notJson }, `the secret ${arns.notJson} is not a JSON object`, tree);
    expectFailure(inst, { SecretId: arns.badBase64 }, '"hmac" in the secret is not valid base64', tree);
    expectFailure(inst, { SecretId: arns.short }, '"hmac" in the secret is 31 bytes, expected 32', tree);
    expectFailure(inst, { SecretId: arns.noMaster }, 'the secret has no "master" string field', tree);
    // HmacBytes overrides the expectation.
    expectFailure(inst, { HmacBytes: '64' }, '"hmac" in the secret is 32 bytes, expected 64', tree);
  });

  test('unknown user fails, nothing changed', () => {
    const inst = instance();
    expectFailure(inst, { AemUser: 'nosuchaemuser' }, 'parameter AemUser: user \'nosuchaemuser\' does not exist on this host');
  });

  test('hostile parameter values never run as code and change nothing', () => {
    // 117 runs that stop at the parameters, each followed by a walk over the whole tree: a
    // genuine cache with 40 fillers (crypto bundles and decoys as in the 650-filler one) keeps
    // the walks short; the number of bundles plays no part in checking parameters.
    const inst = instance({}, felixCache(aemBundles({ fillers: 40 })));
    plantGeneratedKeys(inst, user);
    const pwned = path.join(inst.root, 'pwned');
    const payloads = [
      `$(touch ${pwned})`,
      `\`touch ${pwned}\``,
      `"; touch ${pwned}; echo "`,
      `'; touch ${pwned}; echo '`,
      `x\ntouch ${pwned}`,
      `$(touch ${pwned})\n#@=/tmp`,
      `x\n#@end\ntouch ${pwned}`,
      'EOF\ntouch pwned\nEOF',
    ];
    const names = Object.keys(doc().parameters);
    expect(names).toHaveLength(15);
    const tree = {};
    for (const name of names) {
      for (const p of payloads) {
        const r = expectFailure(inst, { [name]: p }, /^aem-crypto-keys: error: (parameter \w+: |the parameter block )/, tree);
        if (!p.includes('\n')) expect(r.stderr.startsWith(`aem-crypto-keys: error: parameter ${name}: `)).toBe(true);
        expect(fs.existsSync(pwned)).toBe(false);
      }
    }
    // A value with a newline is refused as such, whatever follows it: a line that is no value line
    // where the next value belongs, or a forged value line (#@Name=) that leaves the real one where
    // the parameter after it belongs.
    expectFailure(inst, { QuickstartDir: `${inst.quickstart}\n${user.name}` }, 'parameter AemUser: contains a newline or the parameter block is malformed', tree);
    expectFailure(inst, { QuickstartDir: `${inst.quickstart}\n#@AemUser=${user.name}` },
      'parameter EncapsulatedToken: contains a newline or the parameter block is malformed', tree);
    expectFailure(inst, { QuickstartDir: '/opt/aem/../etc' }, 'parameter QuickstartDir: must not contain \'.\' or \'..\' components', tree);
    expectFailure(inst, { ServiceName: '--now' }, 'parameter ServiceName: must be a systemd unit name (letters, digits and : _ . @ -)', tree);
    expectFailure(inst, { AemPort: '65536' }, 'parameter AemPort: must be an integer from 1 to 65535', tree);
    expectFailure(inst, { Restart: 'bundles' }, 'Restart=bundles needs AdminSecretId (a secret holding an AEM admin\'s {"username","password"})', tree);
  });

  test('no key material in any process\'s argv or environment, nor in the output (strace -f execve)', () => {
    const inst = instance({ running: true });
    plantGeneratedKeys(inst, user);
    const trace = path.join(inst.root, 'trace');
    const r = run(inst, {}, strace(trace, 'execve', ['-v', '-xx', '-s', '65536']));
    expect(r.status).toBe(0);
    const text = fs.readFileSync(trace, 'utf8');
    // Decode every \xNN string strace printed back into bytes.
    const decoded = Buffer.concat([...text.matchAll(/"((?:\\x[0-9a-f]{2})*)"/g)].map((m) => Buffer.from(m[1].replace(/\\x/g, ''), 'hex')));
    const programs = new Set([...text.matchAll(/execve\("((?:\\x[0-9a-f]{2})*)"/g)].map((m) => path.basename(Buffer.from(m[1].replace(/\\x/g, ''), 'hex').toString())));
    for (const p of ['_script.sh', 'aws', 'base64', 'sha256sum', 'mv', 'systemctl']) expect(programs).toContain(p);
    const haystack = [decoded, Buffer.from(r.stdout), Buffer.from(r.stderr)];
    for (const key of [keys.hmac, keys.master]) {
      for (const form of [key, Buffer.from(key.toString('base64')), Buffer.from(key.toString('hex')), Buffer.from(key.toString('base64').replace(/\//g, '\\/'))]) {
        for (const h of haystack) expect(h.includes(form)).toBe(false);
      }
    }
    // The same search finds a key when it is there (the check can fail).
    expect(Buffer.concat([decoded, Buffer.from(keys.hmac.toString('base64'))]).includes(Buffer.from(keys.hmac.toString('base64')))).toBe(true);
  });

  describe('Restart=bundles through the Web Console on 127.0.0.1', () => {
    interface Req { method: string; url: string; auth?: string; body: string }
    let server: http.Server;
    let port: number;
    const requests: Req[] = [];
    const polls = new Map<string, number>();
    let refuseRefresh = false;

    beforeAll(async () => {
      server = http.createServer((req, res) => {
        let body = '';
        req.on('data', (c) => { body += c; });
        req.on('end', () => {
          requests.push({ method: req.method!, url: req.url!, auth: req.headers.authorization, body });
          if (req.headers.authorization !== `Basic ${Buffer.from(ADMIN).toString('base64')}`) {
            res.writeHead(401).end();
          } else if (req.method === 'POST' && refuseRefresh) {
            res.writeHead(403).end();
          } else if (req.method === 'POST') {
            res.writeHead(200, { 'Content-Type': 'application/json' }).end('{"fragment":false,"stateRaw":4}');
          } else {
            const n = (polls.get(req.url!) ?? 0) + 1;
            polls.set(req.url!, n);
            const state = n < 2 ? 'Resolved' : 'Active';
            res.writeHead(200, { 'Content-Type': 'application/json' }).end(`{"status":"x","data":[{"id":1,"state":"${state}","stateRaw":32}]}`);
          }
        });
      });
      await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
      port = (server.address() as net.AddressInfo).port;
    });
    afterAll(() => new Promise<void>((resolve) => server.close(() => resolve())));

    // The first run against the Web Console (the requests it made are all there are), traced.
    describe('a run with the admin\'s credentials, AEM running', () => {
      let inst: Instance;
      let trace: string;
      let r: RunResult;
      beforeAll(async () => {
        inst = instance({ running: true });
        plantGeneratedKeys(inst, user);
        const script = scriptFor(inst, { Restart: 'bundles', AdminSecretId: arns.admin, AemPort: String(port) });
        const file = path.join(inst.root, '_script.sh');
        fs.writeFileSync(file, script, { mode: 0o700 });
        trace = path.join(inst.root, 'trace');
        const [cmd, ...args] = [...strace(trace, 'execve', ['-v', '-xx', '-s', '65536']), 'sh', '-c', file];
        const child = spawn(cmd, args, {
          env: { ...runEnv(), PATH: `${inst.stubs}:${process.env.PATH}` },
        });
        let stdout = '';
        let stderr = '';
        child.stdout.on('data', (d) => { stdout += d; });
        child.stderr.on('data', (d) => { stderr += d; });
        const status = await new Promise<number | null>((resolve) => child.on('close', resolve));
        r = { status, stdout, stderr };
      });

      test('refreshes crypto.file then crypto, waits until both are Active', () => {
        expect(r.stderr).toBe('');
        expect(r.status).toBe(0);
        const fileId = path.basename(bundleDir(cache, '/', CRYPTO_FILE)).slice('bundle'.length);
        const cryptoId = path.basename(bundleDir(cache, '/', 'com.adobe.granite.crypto')).slice('bundle'.length);
        expect(lines(r.stdout).slice(-2)).toEqual([
          `restart: bundles ${fileId} (com.adobe.granite.crypto.file) and ${cryptoId} (com.adobe.granite.crypto) refreshed and active`,
          'result: changed',
        ]);
        expect(requests.map((q) => `${q.method} ${q.url} ${q.body}`)).toEqual([
          `POST /system/console/bundles/${fileId} action=refresh`,
          `POST /system/console/bundles/${cryptoId} action=refresh`,
          `GET /system/console/bundles/${fileId}.json `,
          `GET /system/console/bundles/${fileId}.json `,
          `GET /system/console/bundles/${cryptoId}.json `,
          `GET /system/console/bundles/${cryptoId}.json `,
        ]);
      });

      test('restarts no service', () => {
        expect(systemctlCalls(inst)).toEqual([]);
      });

      test('neither the admin\'s credentials nor the keys are in any argv (strace -f execve)', () => {
        const decoded = Buffer.concat([...fs.readFileSync(trace, 'utf8').matchAll(/"((?:\\x[0-9a-f]{2})*)"/g)].map((m) => Buffer.from(m[1].replace(/\\x/g, ''), 'hex')));
        expect(decoded.includes(Buffer.from('p\u00e4ss'))).toBe(false);
        expect(decoded.includes(Buffer.from('p\\u00e4ss'))).toBe(false);
        expect(decoded.includes(Buffer.from(requests[0].auth!.slice(6)))).toBe(false);
        expect(decoded.includes(Buffer.from(keys.hmac.toString('base64')))).toBe(false);
      });
    });

    test('an admin secret without a password: one error line, nothing changed', () => {
      const inst = instance({ running: true });
      plantGeneratedKeys(inst, user);
      const before = requests.length;
      expectFailure(inst, { Restart: 'bundles', AdminSecretId: arns.adminNoPassword, AemPort: String(port) },
        'AdminSecretId: the secret must be a JSON object with "username" and "password" strings');
      expect(requests.length).toBe(before);
    });

    test('a refused refresh is reported on stderr (after an HTTP call stderr still reaches the caller)', async () => {
      const inst = instance({ running: true });
      plantGeneratedKeys(inst, user);
      const script = scriptFor(inst, { Restart: 'bundles', AdminSecretId: arns.admin, AemPort: String(port) });
      refuseRefresh = true;
      const r = await runScriptAsync(inst, script, runEnv());
      refuseRefresh = false;
      const fileId = path.basename(bundleDir(cache, '/', CRYPTO_FILE)).slice('bundle'.length);
      expect(r.status).toBe(1);
      expect(r.stderr).toBe(`aem-crypto-keys: error: the keys were written, but the Web Console refused the refresh of bundle ${fileId}: HTTP 403\n`);
      expect(read(path.join(inst.keyDir, 'hmac')).equals(keys.hmac)).toBe(true);
    });
  });
});
