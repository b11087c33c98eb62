import { spawn } from 'child_process';
import { createHash } from 'crypto';
import * as fs from 'fs';
import * as path from 'path';
import { App, Stack } from 'aws-cdk-lib';
import { Template } from 'aws-cdk-lib/assertions';
import * as secretsmanager from 'aws-cdk-lib/aws-secretsmanager';
import { JcrKeyMigrationDocument, MIGRATION_PARAMETER_NAMES } from '../lib/jcr-key-migration-document';
import { AemStub, AemStubOptions, startAemStub } from './support/aem-stub';
import { aemBundles, felixCache } from './support/felix';
import {
  documentIn, Instance, makeInstance, plant, recordFile, renderScript, runScriptAsync, snapshotTree, testUser,
} from './support/installer-harness';
import { Moto, startMoto } from './support/moto';
import { TestSecrets } from './support/secrets';
import { describeWithTools, strace } from './support/tools';

const HMAC = Buffer.from('00112233445566778899aabbccddeeff00112233445566778899aabbccdd0a0d', 'hex'); // holds \n, \r
const MASTER = Buffer.from('000a0d00ff1a1b1c1d1e1f2021222300', 'hex'); // holds NUL bytes
const OLD_HMAC = Buffer.alloc(32, 7);
const OLD_MASTER = Buffer.alloc(16, 9);
const PASSWORD = 'pa"ss w\\ord';

function synthMigration(props: { withAdmin?: boolean; healthTimeoutSeconds?: number } = {}) {
  const app = new App();
  const stack = new Stack(app, 'S');
  const adminSecret = props.withAdmin === false ? undefined : new secretsmanager.Secret(stack, 'Admin');
  new JcrKeyMigrationDocument(stack, 'Migrate', { adminSecret, healthTimeoutSeconds: props.healthTimeoutSeconds });
  return documentIn(Template.fromStack(stack).toJSON(), 'Migrate');
}

describe('JCR key migration document', () => {
  let doc: ReturnType<typeof synthMigration>;
  beforeAll(() => {
    doc = synthMigration();
  });

  test('every migration parameter; the admin secret and a 900 s health timeout by default', () => {
    expect(Object.keys(doc.parameters)).toEqual([...MIGRATION_PARAMETER_NAMES]);
    expect(doc.parameters.AdminSecretId.default).toEqual({ Ref: expect.stringMatching(/^Admin/) });
    expect(doc.parameters.HealthTimeoutSeconds.default).toBe('900');
  });

  test('the step may run an hour', () => {
    expect(doc.content.mainSteps[0].inputs.timeoutSeconds).toBe('3600');
  });

  test('embeds the shared functions, the script and a data block with every parameter', () => {
    const lines = doc.runCommand;
    expect(lines[0]).toBe('#!/bin/bash');
    expect(lines).toContain('aemkeys_scan_bundles() {');
    expect(lines.slice(-3)).toEqual(['#@HmacBytes={{ HmacBytes }}', '#@MasterBytes={{ MasterBytes }}', '#@end']);
    // Nothing after the final exit but the data block.
    const exitAt = lines.lastIndexOf('exit $?');
    expect(lines.slice(exitAt + 1).every((l) => l.startsWith('#@') || /^\{\{ \w+ \}\}$/.test(l))).toBe(true);
  });

  test('without an admin secret, AdminSecretId has no default (every run passes one)', () => {
    expect(synthMigration({ withAdmin: false }).parameters.AdminSecretId.default).toBeUndefined();
  });

  test('healthTimeoutSeconds sets the default health timeout', () => {
    expect(synthMigration({ healthTimeoutSeconds: 60 }).parameters.HealthTimeoutSeconds.default).toBe('60');
  });

  test('bad health timeouts throw', () => {
    expect(() => synthMigration({ healthTimeoutSeconds: 3601 })).toThrow(/healthTimeoutSeconds must be an integer from 1 to 3000/);
    expect(() => synthMigration({ healthTimeoutSeconds: 0 })).toThrow(/healthTimeoutSeconds/);
  });
});

describeWithTools(['moto_server', 'aws', 'java', 'strace'], 'JCR key migration against a stand-in AEM (KA-23909), on genuine Felix caches', () => {
  let moto: Moto;
  let adminArn: string;
  let cache: ReturnType<typeof felixCache>;
  const doc = synthMigration();
  const user = testUser();
  const instances: Instance[] = [];

  beforeAll(async () => {
    moto = await startMoto();
    const secrets = new TestSecrets(moto);
    adminArn = await secrets.create('aem-admin', JSON.stringify({ username: 'admin', password: PASSWORD }));
    secrets.destroy();
    cache = felixCache(aemBundles());
  }, 120000);
  afterAll(async () => {
    await moto?.stop();
    for (const i of instances) fs.rmSync(i.root, { recursive: true, force: true });
  });

  interface Run {
    code: number | null;
    stdout: string;
    stderr: string;
    events: string[];
    stub: AemStub;
    inst: Instance;
    argv: string;
    /** The quickstart folder before the run (snapshotTree). */
    before: Record<string, string>;
  }

  async function migrate(stubOptions: Partial<AemStubOptions> = {}, setup: (inst: Instance) => void = () => undefined,
    values: Record<string, string> = {}, systemctl: { running?: boolean; failsOn?: string } = {}): Promise<Run> {
    const inst = makeInstance(cache, user, { running: systemctl.running ?? true, systemctlFailsOn: systemctl.failsOn });
    instances.push(inst);
    setup(inst);
    fs.writeFileSync(inst.systemctlLog, '');
    const before = snapshotTree(inst.quickstart);
    const stub = await startAemStub({ hmac: HMAC, master: MASTER, password: PASSWORD, events: inst.systemctlLog, ...stubOptions });
    const script = renderScript(doc, {
      QuickstartDir: inst.quickstart, AemUser: user.name, AdminSecretId: adminArn, AemPort: String(stub.port), HealthTimeoutSeconds: '2', ...values,
    });
    const trace = path.join(inst.root, 'trace');
    const r = await runScriptAsync(inst, script, { ...moto.env, HOME: process.env.HOME ?? '/root' },
      strace(trace, 'execve', ['-s', '4096']));
    await stub.close();
    return {
      code: r.status, stdout: r.stdout, stderr: r.stderr, stub, inst, before,
      events: fs.readFileSync(inst.systemctlLog, 'utf8').trim().split('\n').filter(Boolean),
      argv: fs.readFileSync(trace, 'utf8'),
    };
  }

  const keyFile = (inst: Instance, name: string) => path.join(inst.keyDir, name);
  const storage = (inst: Instance) => path.join(inst.storageDir, 'storage');
  const jcrStorage = (inst: Instance) => {
    plant(storage(inst), 'JCR', user);
    plant(keyFile(inst, 'hmac'), OLD_HMAC, user);
    plant(keyFile(inst, 'master'), OLD_MASTER, user);
  };
  const systemctlVerbs = (run: Run) => run.events.filter((l) => /^(stop|start|restart) /.test(l));

  function expectNoSecretsIn(run: Run) {
    const all = run.stdout + run.stderr + run.events.join('\n') + run.argv;
    for (const k of [HMAC, MASTER]) {
      expect(all).not.toContain(k.toString('base64'));
      expect(all).not.toContain(k.toString('hex'));
    }
    expect(run.argv).not.toContain('pa"ss');
    expect(run.argv).not.toContain(Buffer.from(`admin:${PASSWORD}`).toString('base64'));
  }

  describe('keys in /etc/key, the instance on storage=JCR', () => {
    let run: Run;
    beforeAll(async () => {
      run = await migrate({}, jcrStorage);
    });

    test('succeeds', () => {
      expect(run.stderr).toBe('');
      expect(run.code).toBe(0);
    });

    test('moves the keys byte for byte into the data folders, storage Bundle, each file 0600', () => {
      expect(fs.readFileSync(keyFile(run.inst, 'hmac')).equals(HMAC)).toBe(true);
      expect(fs.readFileSync(keyFile(run.inst, 'master')).equals(MASTER)).toBe(true);
      expect(fs.readFileSync(storage(run.inst)).toString('latin1')).toBe('Bundle');
      for (const f of [keyFile(run.inst, 'hmac'), keyFile(run.inst, 'master'), storage(run.inst)]) {
        expect(fs.statSync(f).mode & 0o777).toBe(0o600);
      }
    });

    test('backs up the previous files and names the backup', () => {
      const backupRoot = path.join(run.inst.quickstart, 'crypto-key-backups');
      const backups = fs.readdirSync(backupRoot);
      expect(backups).toHaveLength(1);
      expect(fs.readFileSync(path.join(backupRoot, backups[0], 'storage'), 'utf8')).toBe('JCR');
      expect(fs.readFileSync(path.join(backupRoot, backups[0], 'hmac')).equals(OLD_HMAC)).toBe(true);
      expect(run.stdout).toContain(`backup: ${path.join(backupRoot, backups[0])}`);
    });

    test('leaves no staging file in the data folders; the key files are the AEM user\'s', () => {
      expect(fs.readdirSync(run.inst.keyDir).sort()).toEqual(['hmac', 'master']);
      expect(fs.readdirSync(run.inst.storageDir)).toEqual(['storage']);
      for (const f of ['hmac', 'master']) expect(fs.statSync(keyFile(run.inst, f)).uid).toBe(user.uid);
    });

    test('reads the keys, stops AEM, starts it, verifies, and only then deletes /etc/key', () => {
      const e = run.events;
      const at = (re: RegExp) => e.findIndex((l) => re.test(l));
      expect(at(/^stop /)).toBeGreaterThan(at(/^http GET \/etc\/key\/master$/));
      expect(at(/^start /)).toBeGreaterThan(at(/^stop /));
      const verify = e.findIndex((l, i) => i > at(/^start /) && l === 'http GET /etc/key/hmac');
      expect(verify).toBeGreaterThan(at(/bundles\/com.adobe.granite.crypto.json$/));
      expect(at(/^http POST \/etc\/key hmac%40Delete=&master%40Delete=$/)).toBeGreaterThan(verify);
    });

    test('restarts AEM once', () => {
      expect(systemctlVerbs(run)).toEqual(['stop -- aem', 'start -- aem']);
    });

    test('deletes hmac and master from /etc/key and says so, with the keys\' fingerprints', () => {
      expect(run.stub.deleted).toEqual(['hmac', 'master']);
      expect(run.stdout).toMatch(/result: migrated \(removed hmac and master from \/etc\/key\)\n$/);
      expect(run.stdout).toContain(createHash('sha256').update(HMAC).digest('hex').slice(0, 12));
    });

    test('no key or admin password in the output, the events or any argv', () => {
      expectNoSecretsIn(run);
    });
  });

  test('files that already hold the JCR keys: no restart, still verified before the delete', async () => {
    const run = await migrate({}, (inst) => {
      plant(keyFile(inst, 'hmac'), HMAC, user);
      plant(keyFile(inst, 'master'), MASTER, user);
      plant(storage(inst), 'Bundle', user);
    });
    expect(run.code).toBe(0);
    expect(systemctlVerbs(run)).toEqual([]);
    expect(run.stub.deleted).toEqual(['hmac', 'master']);
  });

  test('a run on the same QuickstartDir (its lock held) is waited for before AEM is stopped', async () => {
    const run = await migrate({}, (inst) => {
      jcrStorage(inst);
      // What an installer run holds (lib/scripts/aem-keys-files.sh, aemkeys_lock), for 1.5 s.
      const lock = `${recordFile(inst.quickstart)}.lock`;
      fs.mkdirSync(path.dirname(lock), { recursive: true, mode: 0o700 });
      const held = path.join(inst.root, 'held');
      spawn('flock', [lock, 'sh', '-c', `touch '${held}'; sleep 1.5; echo released >> '${inst.systemctlLog}'`], { stdio: 'ignore' });
      const until = Date.now() + 10_000;
      while (!fs.existsSync(held) && Date.now() < until) Atomics.wait(new Int32Array(new SharedArrayBuffer(4)), 0, 0, 20);
    });
    expect(run.code).toBe(0);
    const stop = run.events.findIndex((l) => l.startsWith('stop '));
    expect(run.events.indexOf('released')).toBeGreaterThanOrEqual(0);
    expect(run.events.indexOf('released')).toBeLessThan(stop);
  });

  test('AEM answers 503 for /etc/key while it starts: waited for, then verified and migrated', async () => {
    const run = await migrate({ unavailableAfterRestart: 1 }, jcrStorage);
    expect(run.stderr).toBe('');
    expect(run.code).toBe(0);
    expect(run.stub.deleted).toEqual(['hmac', 'master']);
  });

  test('nothing in /etc/key: nothing to do, nothing touched', async () => {
    const run = await migrate({ hmac: undefined, master: undefined }, jcrStorage);
    expect(run.code).toBe(0);
    expect(run.stdout).toMatch(/nothing to migrate/);
    expect(fs.readFileSync(storage(run.inst), 'utf8')).toBe('JCR');
    expect(systemctlVerbs(run)).toEqual([]);
  });

  // Every failure before the last step: /etc/key is never deleted.
  const failures: [string, Partial<AemStubOptions>, Record<string, string>, { running?: boolean; failsOn?: string }, RegExp][] = [
    ['wrong admin password', { password: 'other' }, {}, {}, /AEM refused the admin credentials/],
    ['hmac of the wrong size', { hmac: Buffer.alloc(31, 1) }, {}, {}, /\/etc\/key\/hmac is 31 bytes, expected 32/],
    ['hmac larger than expected', { hmac: Buffer.alloc(48, 1) }, {}, {}, /\/etc\/key\/hmac is larger than 32 bytes \(parameter HmacBytes\)/],
    ['only one key in /etc/key', { master: undefined }, {}, {}, /\/etc\/key has hmac but no master/],
    ['a cut connection (short body)', { truncateMaster: true }, {}, {}, /cannot read \/etc\/key\/master/],
    ['AEM not reachable', {}, { AemPort: '1' }, {}, /cannot read \/etc\/key\/hmac from AEM on 127.0.0.1:1/],
    ['AEM service not active', {}, {}, { running: false }, /service aem is not active/],
    ['systemctl stop fails', {}, {}, { failsOn: 'stop' }, /cannot stop aem/],
    ['AEM unhealthy after the restart', { unhealthyAfterRestart: true }, {}, {}, /did not come back with both crypto bundles active and \/etc\/key served within 2s/],
    ['AEM serves other keys after the restart', { hmacAfterRestart: Buffer.alloc(32, 3) }, {}, {}, /\/etc\/key\/hmac served after the restart differs/],
    ['bad QuickstartDir', {}, { QuickstartDir: '/nonexistent/crx-quickstart' }, {}, /QuickstartDir \/nonexistent\/crx-quickstart is not a directory/],
    ['bad AdminSecretId', {}, { AdminSecretId: 'arn:aws:secretsmanager:us-east-1:123456789012:secret:missing-AbCdEf' }, {}, /cannot read secret/],
    ['a parameter holding a newline', {}, { ServiceName: 'aem\nrm -rf /' }, {}, /parameter .*newline|malformed/],
  ];
  test.each(failures)('%s: fails with one line and never deletes /etc/key', async (_name, stubOptions, values, systemctl, message) => {
    const run = await migrate(stubOptions, jcrStorage, values, systemctl);
    expect(run.code).not.toBe(0);
    expect(run.stderr).toMatch(message);
    expect(run.stderr.trimEnd().split('\n')).toHaveLength(1);
    expect(run.stub.deleted).toEqual([]);
    expect(run.events.some((l) => l.startsWith('http POST'))).toBe(false);
    // A stopped AEM is always started again.
    const stops = run.events.filter((l) => l.startsWith('stop ')).length;
    const starts = run.events.filter((l) => l.startsWith('start ')).length;
    expect(starts).toBeGreaterThanOrEqual(stops);
    // No staging file left behind; before AEM was stopped, nothing at all changed.
    for (const d of [run.inst.keyDir, run.inst.storageDir]) {
      if (fs.existsSync(d)) expect(fs.readdirSync(d).filter((f) => f.startsWith('.aem-crypto-keys'))).toEqual([]);
    }
    if (stops === 0) expect(snapshotTree(run.inst.quickstart)).toEqual(run.before);
    expectNoSecretsIn(run);
  });

  test('the delete answered with an error: reported, keys stay on disk', async () => {
    const run = await migrate({ deleteStatus: 500 }, jcrStorage);
    expect(run.code).toBe(1);
    expect(run.stderr).toMatch(/keys are on disk and verified, but they could not be removed from \/etc\/key: HTTP 500/);
    expect(fs.readFileSync(keyFile(run.inst, 'hmac')).equals(HMAC)).toBe(true);
  });
});
