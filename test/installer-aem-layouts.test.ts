import { randomBytes } from 'crypto';
import * as fs from 'fs';
import * as net from 'net';
import * as os from 'os';
import * as path from 'path';
import { startAemStub, TOKEN_PID } from './support/aem-stub';
import { aemBundles, BundleSpec, bundleDir, CRYPTO, CRYPTO_FILE, felixCache } from './support/felix';
import {
  Instance, makeInstance, plant, renderScript, runScript, runScriptAsync, RunResult, snapshotTree, synthInstaller, testUser, TOKEN_FILE,
} from './support/installer-harness';
import { Moto, startMoto } from './support/moto';
import { TestSecrets } from './support/secrets';
import { describeWithTools } from './support/tools';

/**
 * What AEM really does (issue 12): bundles found by their manifest when no location names them,
 * the cache where sling.properties puts it, key-path overrides, one config file per token PID,
 * and the token config AEM actually applies. Genuine Felix caches throughout.
 */

const OPT = '/opt/aem/crx-quickstart/launchpad/startup';

/** AEM-like filler bundles and decoys, with the two crypto bundles at the given locations. */
function layout(file: Partial<BundleSpec>, crypto: Partial<BundleSpec>, extra: BundleSpec[] = []): BundleSpec[] {
  return aemBundles({ fillers: 30 }).map((b) => {
    if (b.symbolicName === CRYPTO_FILE) return { ...b, ...file };
    if (b.symbolicName === CRYPTO) return { ...b, ...crypto };
    return b;
  }).concat(extra);
}

/** Jar names that do not say what the bundle is: only the manifests can. */
const RENAMED = layout(
  // Deflated manifest, its name folded onto a continuation line, ;singleton:=true; then a service
  // pack updates it (only version0.1/ is left once Felix restarts).
  { location: `slinginstall:${OPT}/1/cq-crypto-file-renamed.jar`, version: '1.0.18.CQ650-B0002', manifest: 'folded',
    updateTo: { symbolicName: CRYPTO_FILE, version: '1.0.20.CQ650-SP1' } },
  // Stored (method 0) manifest.
  { location: 'launchpad:resources/install/0/granite-crypto-bundle.jar', version: '3.0.4.CQ650-B0002', manifest: 'stored' },
  [
    // The same pattern of names for another bundle: a location that lies the other way.
    { location: `slinginstall:${OPT}/1/cq-crypto-file-support-1.0.0-CQ650-B0002.jar`, symbolicName: 'com.adobe.granite.crypto.file.support', version: '1.0.0', start: true, data: true },
    // Updated from an old crypto.file revision to something else (what version0.0/ would say).
    { location: `slinginstall:${OPT}/1/decoy-crypto.jar`, symbolicName: CRYPTO_FILE, version: '0.9.0', start: true, data: true,
      updateTo: { symbolicName: 'com.example.decoy', version: '1.0.0' } },
  ],
);

/** AEM 6.4-style absolute slinginstall: locations and CQ-qualified versions: the fast path. */
const ABSOLUTE = layout(
  { location: `slinginstall:${OPT}/0/com.adobe.granite.crypto.file-1.0.18-CQ650-B0002.jar`, version: '1.0.18.CQ650-B0002' },
  { location: `slinginstall:${OPT}/0/com.adobe.granite.crypto-3.0.4-CQ650-B0002.jar`, version: '3.0.4.CQ650-B0002' },
);

describeWithTools(['java', 'moto_server', 'aws'], 'installer on what AEM really does (genuine Felix caches)', () => {
  let moto: Moto;
  const doc = () => synthInstaller();
  const user = testUser();
  const keys = { hmac: randomBytes(32), master: randomBytes(16) };
  const arns: Record<string, string> = {};
  const roots: string[] = [];

  beforeAll(async () => {
    moto = await startMoto();
    const secrets = new TestSecrets(moto);
    const create = (name: string, value: string) => secrets.create(name, value);
    arns.good = await create('aem-keys', JSON.stringify({ hmac: keys.hmac.toString('base64'), master: keys.master.toString('base64') }));
    arns.admin = await create('admin', JSON.stringify({ username: 'admin', password: 'admin' }));
    secrets.destroy();
  }, 60000);

  afterAll(async () => {
    await moto?.stop();
    for (const r of roots) fs.rmSync(r, { recursive: true, force: true });
  });

  function instance(spec: BundleSpec[], opts: { dirName?: string } = {}): { inst: Instance; cache: ReturnType<typeof felixCache> } {
    const cache = felixCache(spec);
    const inst = makeInstance(cache, user, opts);
    roots.push(inst.root);
    return { inst, cache };
  }

  function run(inst: Instance, values: Record<string, string> = {}): RunResult {
    const script = renderScript(doc(), { SecretId: arns.good, QuickstartDir: inst.quickstart, AemUser: user.name, ...values });
    return runScript(inst, script, { ...moto.env, HOME: process.env.HOME ?? '/root' });
  }

  const lines = (text: string) => text.trimEnd().split('\n');

  /** A case that must fail: one error line, status 1, every file under the root byte-identical. */
  function expectFailure(inst: Instance, values: Record<string, string>, message: string): void {
    const before = snapshotTree(inst.root);
    const r = run(inst, values);
    expect(r.stderr).toBe(`aem-crypto-keys: error: ${message}\n`);
    expect(r.stdout).toBe('');
    expect(r.status).toBe(1);
    const after = snapshotTree(inst.root);
    delete after['_script.sh'];
    delete before['_script.sh'];
    delete after['stubs/systemctl.log'];
    delete before['stubs/systemctl.log'];
    expect(after).toEqual(before);
  }

  const folder = (cache: ReturnType<typeof felixCache>, felix: string, name: string, nth = 0) => bundleDir(cache, felix, name, nth);
  const expectKeysIn = (dir: string) => {
    expect(fs.readFileSync(path.join(dir, 'data', 'hmac'))).toEqual(keys.hmac);
    expect(fs.readFileSync(path.join(dir, 'data', 'master'))).toEqual(keys.master);
  };

  describe('bundles found by Bundle-SymbolicName', () => {
    // In order on one instance: the install, then a verify run.
    describe('renamed jars (deflated folded manifest after a service-pack update, stored manifest)', () => {
      let made: ReturnType<typeof instance>;
      let file: string;
      let crypto: string;
      let r: RunResult;
      beforeAll(() => {
        made = instance(RENAMED);
        file = folder(made.cache, made.inst.felix, CRYPTO_FILE);
        crypto = folder(made.cache, made.inst.felix, CRYPTO);
      });

      test('the genuine cache: the updated crypto.file kept its first location and only version0.1/', () => {
        expect(fs.readdirSync(file).filter((d) => d.startsWith('version'))).toEqual(['version0.1']);
        expect(fs.readFileSync(path.join(file, 'bundle.info'), 'utf8')).toContain('cq-crypto-file-renamed.jar');
      });

      test('the manifests decide: the keys and storage go to the crypto bundles they name', () => {
        r = run(made.inst);
        expect(r.stderr).toBe('');
        expect(r.status).toBe(0);
        expect(lines(r.stdout)[0]).toBe(`bundles: ${CRYPTO_FILE}=${path.basename(file)} ${CRYPTO}=${path.basename(crypto)}`);
        expectKeysIn(file);
        expect(fs.readFileSync(path.join(crypto, 'data', 'storage'), 'utf8')).toBe('Bundle');
      });

      test('the decoys\' data folders stay empty', () => {
        for (const name of ['com.adobe.granite.crypto.file.support', 'com.example.decoy']) {
          expect(fs.readdirSync(path.join(folder(made.cache, made.inst.felix, name), 'data'))).toEqual([]);
        }
      });

      test('a verify run finds the same bundles', () => {
        const verify = run(made.inst, { Mode: 'verify' });
        expect(verify.status).toBe(0);
        expect(lines(verify.stdout)[0]).toBe(lines(r.stdout)[0]);
      });
    });

    test('the highest revision is read: an old version0.0/ claiming crypto.file does not count', () => {
      const { inst, cache } = instance(RENAMED);
      const decoy = folder(cache, inst.felix, 'com.example.decoy');
      const file = folder(cache, inst.felix, CRYPTO_FILE);
      // A live framework between an update and its restart keeps both revisions.
      fs.mkdirSync(path.join(decoy, 'version0.0'));
      fs.copyFileSync(path.join(file, 'version0.1', 'bundle.jar'), path.join(decoy, 'version0.0', 'bundle.jar'));
      const r = run(inst);
      expect(r.stderr).toBe('');
      expect(r.status).toBe(0);
      expectKeysIn(file);
      // The same old revision alone is read, and then two folders claim the name.
      fs.rmSync(path.join(decoy, 'version0.1'), { recursive: true });
      expectFailure(inst, { Mode: 'verify' },
        `ambiguous: 2 bundle folders claim ${CRYPTO_FILE} (${[file, decoy].map((d) => path.basename(d)).sort().join(' ')}) and 2 of them are active; refusing to guess`);
    });

    test('a manifest whose bytes do not match its CRC-32 is not believed: no bundle, nothing changed', () => {
      const { inst, cache } = instance(RENAMED);
      const jar = path.join(folder(cache, inst.felix, CRYPTO), 'version0.0', 'bundle.jar');
      const bytes = fs.readFileSync(jar);
      // Stored: the text is in the jar as is. Change a byte the name does not depend on.
      const at = bytes.indexOf('Manifest-Version: 1.0');
      expect(at).toBeGreaterThan(0);
      bytes[at + 20] ^= 0x01;
      fs.writeFileSync(jar, bytes);
      expectFailure(inst, {}, `no bundle ${CRYPTO} in the Felix bundle cache (is this an AEM 6.3+ instance that was started once?)`);
    });

    test('absolute slinginstall: locations with CQ-qualified versions: found by location, no jar opened', () => {
      const { inst, cache } = instance(ABSOLUTE);
      // Without any jar in the cache: the fast path never opens one.
      for (const b of cache.bundles) fs.rmSync(path.join(inst.felix, `bundle${b.id}`, 'version0.0', 'bundle.jar'));
      const r = run(inst);
      expect(r.stderr).toBe('');
      expect(r.status).toBe(0);
      expectKeysIn(folder(cache, inst.felix, CRYPTO_FILE));
    });
  });

  describe('where the bundle cache is', () => {
    const small = () => instance(aemBundles({ fillers: 20 }));

    test.each([
      ['${sling.home}/launchpad/cache', 'launchpad/cache'],
      ['launchpad/cache', 'launchpad/cache'],
      ['${sling.launchpad}/cache', 'launchpad/cache'],
      ['${sling.launchpad}/cache', 'lp/cache', 'sling.launchpad=${sling.home}/lp\n'],
      // java.util.Properties never continues a comment, even one ending in a backslash.
      ['${sling.home}/launchpad/cache', 'launchpad/cache', '# the bundle cache, moved \\\n'],
    ])('org.osgi.framework.storage=%s in conf/sling.properties', (value, where, more = '') => {
      const { inst, cache } = small();
      const moved = path.join(inst.quickstart, where);
      fs.mkdirSync(path.dirname(moved), { recursive: true });
      fs.renameSync(inst.felix, moved);
      plant(path.join(inst.quickstart, 'conf', 'sling.properties'), `# Sling\nsling.home=${inst.quickstart}\n${more}org.osgi.framework.storage = ${value}\n`, user, 0o644);
      const r = run(inst);
      expect(r.stderr).toBe('');
      expect(r.status).toBe(0);
      expectKeysIn(folder(cache, moved, CRYPTO_FILE));
    });

    test('a storage setting outside QuickstartDir: one line, nothing changed', () => {
      const { inst } = small();
      const props = path.join(inst.quickstart, 'conf', 'sling.properties');
      plant(props, 'org.osgi.framework.storage=/var/tmp/felix\n', user, 0o644);
      expectFailure(inst, {}, `org.osgi.framework.storage in ${props} (/var/tmp/felix) is not a folder inside QuickstartDir; refusing to use it`);
      plant(props, 'org.osgi.framework.storage=${sling.home}/../elsewhere\n', user, 0o644);
      expectFailure(inst, {}, `org.osgi.framework.storage in ${props} (${inst.quickstart}/../elsewhere) is not a folder inside QuickstartDir; refusing to use it`);
    });

    test('a storage setting at no folder: one line, nothing changed', () => {
      const { inst } = small();
      const props = path.join(inst.quickstart, 'conf', 'sling.properties');
      plant(props, 'org.osgi.framework.storage=launchpad/nothing\n', user, 0o644);
      expectFailure(inst, { Mode: 'verify' }, `no Felix bundle cache at ${inst.quickstart}/launchpad/nothing (org.osgi.framework.storage in ${props})`);
    });

    test('AEM Forms on JEE (crx-repository/): the failure names the folder to pass, which then works', () => {
      const cache = felixCache(aemBundles({ fillers: 20 }));
      const root = fs.mkdtempSync(path.join(os.tmpdir(), 'aem-keys-jee-'));
      const inst = makeInstance(cache, user, { root, dirName: 'crx-repository' });
      roots.push(root);
      expectFailure(inst, { QuickstartDir: root },
        `no Felix bundle cache at ${root}/launchpad/felix, but ${root}/crx-repository has one (AEM Forms on JEE): pass QuickstartDir=${root}/crx-repository`);
      const r = run(inst);
      expect(r.stderr).toBe('');
      expect(r.status).toBe(0);
    });
  });

  describe('keys AEM would read from elsewhere (com.adobe.granite.crypto.keys.path)', () => {
    const fail = (where: string) => `AEM reads its keys from elsewhere: ${where}; the keys in the bundle folder would be ignored (remove that setting, or put the keys there yourself)`;

    test('in conf/sling.properties: install and verify fail', () => {
      const { inst } = instance(aemBundles({ fillers: 20 }));
      const props = path.join(inst.quickstart, 'conf', 'sling.properties');
      plant(props, '# keys\n#com.adobe.granite.crypto.keys.path=/commented\nsling.run.modes=publish\n', user, 0o644);
      expect(run(inst, { Mode: 'verify' }).status).toBe(3); // a comment is no setting
      plant(props, 'sling.run.modes=publish\ncom.adobe.granite.crypto.keys.path : /opt/keys\n', user, 0o644);
      expectFailure(inst, {}, fail(`${props} sets com.adobe.granite.crypto.keys.path=/opt/keys`));
      expectFailure(inst, { Mode: 'verify' }, fail(`${props} sets com.adobe.granite.crypto.keys.path=/opt/keys`));
    });

    test('in bin/start (a JVM option; commented lines do not count)', () => {
      const { inst } = instance(aemBundles({ fillers: 20 }));
      const start = path.join(inst.quickstart, 'bin', 'start');
      plant(start, '#!/bin/bash\n# CQ_JVM_OPTS="-Dcom.adobe.granite.crypto.keys.path=/x"\nCQ_PORT=4502\n', user, 0o755);
      expect(run(inst, { Mode: 'verify' }).status).toBe(3);
      plant(start, '#!/bin/bash\nCQ_JVM_OPTS="-server -Xmx4g -Dcom.adobe.granite.crypto.keys.path=/opt/keys"\n', user, 0o755);
      expectFailure(inst, {}, fail(`${start} sets com.adobe.granite.crypto.keys.path`));
      expectFailure(inst, { Mode: 'verify' }, fail(`${start} sets com.adobe.granite.crypto.keys.path`));
    });

    test.each([
      ['Environment', 'Environment=JAVA_HOME=/usr/lib/jvm COM_ADOBE_GRANITE_CRYPTO_KEYS_PATH=/opt/keys\nExecStart={ path=/opt/aem/crx-quickstart/bin/start ; argv[]=/opt/aem/crx-quickstart/bin/start ; }\n'],
      ['ExecStart', 'Environment=\nExecStart={ path=/usr/bin/java ; argv[]=/usr/bin/java -Dcom.adobe.granite.crypto.keys.path=/opt/keys -jar aem.jar ; }\n'],
    ])('in the systemd unit\'s %s (systemctl show)', (_, show) => {
      const { inst } = instance(aemBundles({ fillers: 20 }));
      fs.writeFileSync(path.join(inst.stubs, 'show'), 'Environment=JAVA_HOME=/usr/lib/jvm\nExecStart={ path=/opt/aem/crx-quickstart/bin/start ; }\n');
      expect(run(inst, { Mode: 'verify', ServiceName: 'aem-publish' }).status).toBe(3);
      expect(fs.readFileSync(inst.systemctlLog, 'utf8')).toContain('show -p Environment -p ExecStart -- aem-publish\n');
      fs.writeFileSync(path.join(inst.stubs, 'show'), show);
      const msg = fail('the systemd unit aem-publish sets com.adobe.granite.crypto.keys.path (Environment or ExecStart)');
      expectFailure(inst, { ServiceName: 'aem-publish' }, msg);
      expectFailure(inst, { ServiceName: 'aem-publish', Mode: 'verify' }, msg);
    });
  });

  describe('one configuration file per token handler PID', () => {
    // In order on one instance: a verify run, the install, another install.
    describe('a written-back .cfg.json and a run-mode copy beside the .config', () => {
      let inst: Instance;
      let install: string;
      let json: string;
      let runMode: string;
      let unrelated: string;
      let r: RunResult;
      let backup: string;
      beforeAll(() => {
        ({ inst } = instance(aemBundles({ fillers: 20 })));
        install = path.join(inst.quickstart, 'install');
        json = path.join(install, `${TOKEN_PID}.cfg.json`);
        runMode = path.join(install, 'install.publish', `${TOKEN_PID}.config`);
        unrelated = path.join(install, `${TOKEN_PID}.config.orig`);
        plant(json, '# Configuration created by Apache Sling File Installer\n{"token.encapsulated":false}\n', user, 0o644);
        plant(runMode, 'token.encapsulated=B"false"\n', user, 0o644);
        plant(unrelated, 'kept\n', user, 0o644);
      });

      test('verify names both and changes nothing', () => {
        const before = snapshotTree(inst.quickstart);
        const verify = run(inst, { Mode: 'verify' });
        expect(snapshotTree(inst.quickstart)).toEqual(before);
        expect(lines(verify.stdout)).toEqual(expect.arrayContaining([
        `token config: ${json} also configures the PID (install mode backs it up and removes it)`,
        `token config: ${runMode} also configures the PID (install mode backs it up and removes it)`,
        'token in AEM: not checked (no AdminSecretId)',
        ]));
      });

      test('install backs both up and removes them, and says so', () => {
        r = run(inst);
        expect(r.stderr).toBe('');
        expect(r.status).toBe(0);
        [backup] = fs.readdirSync(path.join(inst.quickstart, 'crypto-key-backups')).map((d) => path.join(inst.quickstart, 'crypto-key-backups', d));
        expect(lines(r.stdout)).toEqual(expect.arrayContaining([
        `backup: ${backup}`,
        `token config: written ${inst.tokenFile}`,
        `token config: removed ${json} (it configured the PID too; backed up)`,
        `token config: removed ${runMode} (it configured the PID too; backed up)`,
        ]));
        expect(fs.existsSync(json)).toBe(false);
        expect(fs.existsSync(runMode)).toBe(false);
        expect(fs.readFileSync(path.join(backup, `${TOKEN_PID}.cfg.json`), 'utf8')).toContain('"token.encapsulated":false');
        expect(fs.readFileSync(path.join(backup, `${TOKEN_PID}.config`), 'utf8')).toBe('token.encapsulated=B"false"\n');
      });

      test('the .config stays the only one; a file that only shares the prefix is kept', () => {
        expect(fs.readFileSync(unrelated, 'utf8')).toBe('kept\n');
        expect(fs.readdirSync(install).filter((f) => f.startsWith(TOKEN_PID)).sort()).toEqual([TOKEN_FILE, `${TOKEN_PID}.config.orig`]);
      });

      test('the next run has nothing left to do', () => {
        expect(lines(run(inst).stdout).slice(-1)).toEqual(['result: unchanged (nothing to do)']);
      });
    });

    test('another file that is a symlink, or two with one name: one line, nothing changed', () => {
      const { inst } = instance(aemBundles({ fillers: 20 }));
      const install = path.join(inst.quickstart, 'install');
      fs.mkdirSync(install);
      const link = path.join(install, `${TOKEN_PID}.cfg.json`);
      fs.symlinkSync('/etc/passwd', link);
      expectFailure(inst, {}, `${link} configures ${TOKEN_PID} too but is (in) a symlink or not a regular file; remove it by hand`);
      fs.unlinkSync(link);
      // A run-mode folder that is a symlink to a folder outside the tree. The folder is one the AEM
      // user can read: the install folder is listed as that user, so a folder it cannot read shows
      // nothing (root never looks into it itself: issue 21, finding 8).
      const outside = fs.mkdtempSync(path.join(os.tmpdir(), 'aem-keys-outside-'));
      fs.chmodSync(outside, 0o755);
      roots.push(outside);
      fs.writeFileSync(path.join(outside, `${TOKEN_PID}.config`), 'x=B"true"\n');
      fs.symlinkSync(outside, path.join(install, 'install.publish'));
      expectFailure(inst, {}, `${install}/install.publish/${TOKEN_PID}.config configures ${TOKEN_PID} too but is (in) a symlink or not a regular file; remove it by hand`);
      expect(fs.readFileSync(path.join(outside, `${TOKEN_PID}.config`), 'utf8')).toBe('x=B"true"\n');
      fs.unlinkSync(path.join(install, 'install.publish'));
      plant(path.join(install, `${TOKEN_PID}-factory.config`), 'x=B"true"\n', user, 0o644);
      plant(path.join(install, 'install.author', `${TOKEN_PID}-factory.config`), 'x=B"true"\n', user, 0o644);
      expectFailure(inst, {}, `${install}/install.author/${TOKEN_PID}-factory.config and ${install}/${TOKEN_PID}-factory.config both configure ${TOKEN_PID}; remove one by hand`);
    });
  });

  describe('Mode=verify asks the running AEM which token config is effective', () => {
    async function verifyWith(tokenConfig: { encapsulated: boolean; installedFrom: (inst: Instance) => string } | undefined, admin = true) {
      const { inst } = instance(aemBundles({ fillers: 20 }));
      expect(run(inst).status).toBe(0);
      const events = path.join(inst.root, 'events');
      fs.writeFileSync(events, '');
      const stub = await startAemStub({
        events,
        tokenConfig: tokenConfig && { encapsulated: tokenConfig.encapsulated, installedFrom: tokenConfig.installedFrom(inst) },
      });
      try {
        const script = renderScript(doc(), {
          SecretId: arns.good, QuickstartDir: inst.quickstart, AemUser: user.name, Mode: 'verify',
          ...(admin ? { AdminSecretId: arns.admin } : {}), AemPort: String(stub.port),
        });
        const before = snapshotTree(inst.quickstart);
        const r = await runScriptAsync(inst, script, { ...moto.env, HOME: process.env.HOME ?? '/root' });
        expect(snapshotTree(inst.quickstart)).toEqual(before);
        expect(r.stderr).toBe('');
        expect(r.status).toBe(0);
        return { inst, out: lines(r.stdout), events: lines(fs.readFileSync(events, 'utf8')) };
      } finally {
        await stub.close();
      }
    }

    test('our file applied and token.encapsulated=true: effective', async () => {
      const { inst, out, events } = await verifyWith({ encapsulated: true, installedFrom: (i) => `fileinstall8ab1c2:${i.tokenFile}` });
      expect(out.slice(-2)).toEqual([`token in AEM: effective (token.encapsulated=true from fileinstall8ab1c2:${inst.tokenFile})`, expect.stringMatching(/^result: verified/)]);
      expect(events).toEqual([`http GET /system/console/configMgr/${TOKEN_PID}.json`, 'http GET /system/console/status-osgi-installer.txt']);
    });

    test('a repository configuration outranks the file: overridden by it', async () => {
      const from = `jcrinstall:/apps/system/config/${TOKEN_PID}.config`;
      const { out } = await verifyWith({ encapsulated: false, installedFrom: () => from });
      expect(out).toContain(`token in AEM: overridden by ${from} (token.encapsulated=false)`);
    });

    test('no configuration at all in the running AEM: not applied', async () => {
      const { out } = await verifyWith(undefined);
      expect(out).toContain('token in AEM: not applied (the running AEM has no configuration for the PID)');
    });

    test('without AdminSecretId: says it could not check, asks nothing', async () => {
      const { out, events } = await verifyWith({ encapsulated: true, installedFrom: (i) => `fileinstall:${i.tokenFile}` }, false);
      expect(out).toContain('token in AEM: not checked (no AdminSecretId)');
      expect(events).toEqual(['']);
    });

    test('no Web Console on the port: says it could not check', async () => {
      const { inst } = instance(aemBundles({ fillers: 20 }));
      const server = net.createServer();
      await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
      const port = (server.address() as net.AddressInfo).port;
      await new Promise<void>((resolve) => server.close(() => resolve()));
      const r = run(inst, { Mode: 'verify', AdminSecretId: arns.admin, AemPort: String(port) });
      expect(r.stderr).toBe('');
      expect(lines(r.stdout)).toContain(`token in AEM: not checked (the Web Console on 127.0.0.1:${port} answered nothing)`);
    });
  });
});
