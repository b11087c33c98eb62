import { randomBytes } from 'crypto';
import * as fs from 'fs';
import * as path from 'path';
import { App, Stack } from 'aws-cdk-lib';
import { Template } from 'aws-cdk-lib/assertions';
import * as iam from 'aws-cdk-lib/aws-iam';
import { AemCryptoKeys } from '../lib/aem-crypto-keys';
import { EXPORT_PARAMETER_NAMES } from '../lib/export-document';
import { KeySource } from '../lib/key-source';
import { EXPORT_DOCUMENT_TAG, fingerprint, INSTALLER_DOCUMENT_TAG, parseKeySet } from '../lib/private/key-set';
import { aemBundles, felixCache } from './support/felix';
import { documentIn, Instance, makeInstance, plant, renderScript, RunResult, runScript, snapshotTree, synthExport, testUser } from './support/installer-harness';
import { Moto, startMoto } from './support/moto';
import { TestSecrets } from './support/secrets';
import { describeWithTools, strace } from './support/tools';

describe('export document', () => {
  const doc = synthExport();

  test('parameters and their defaults; Force is true or false', () => {
    expect(Object.keys(doc.parameters)).toEqual([...EXPORT_PARAMETER_NAMES]);
    const secretId = Object.keys(doc.template.Resources).find((k) => doc.template.Resources[k].Type === 'AWS::SecretsManager::Secret');
    expect(Object.fromEntries(Object.entries(doc.parameters).map(([k, p]) => [k, p.default]))).toEqual({
      SecretId: { Ref: secretId }, QuickstartDir: '/opt/aem/crx-quickstart', AemUser: 'aem', Force: 'false', HmacBytes: '32', MasterBytes: '16',
    });
    expect(doc.parameters.Force.allowedValues).toEqual(['true', 'false']);
  });

  test('one shell step: the embedded script, its parameters only in the data block', () => {
    expect(doc.content.mainSteps[0].action).toBe('aws:runShellScript');
    expect(doc.runCommand[0]).toBe('#!/bin/bash');
    expect(doc.runCommand).toContain('aemkeys_find_bundle() {');
    expect(doc.runCommand.filter((l) => l.includes('{{'))).toEqual(EXPORT_PARAMETER_NAMES.map((n) => `#@${n}={{ ${n} }}`));
  });

  test('both documents are tagged with the secret\'s ARN, for the aem-keys CLI', () => {
    const secretId = Object.keys(doc.template.Resources).find((k) => doc.template.Resources[k].Type === 'AWS::SecretsManager::Secret');
    const tagsOf = (prefix: string) => documentIn(doc.template, prefix).template.Resources[
      Object.keys(doc.template.Resources).find((k) => k.startsWith(prefix))!].Properties.Tags;
    expect(tagsOf('KeysExportDocument')).toEqual([{ Key: EXPORT_DOCUMENT_TAG, Value: { Ref: secretId } }]);
    expect(tagsOf('KeysInstallerDocument')).toEqual([{ Key: INSTALLER_DOCUMENT_TAG, Value: { Ref: secretId } }]);
  });

  test('the secret itself carries no reference to the documents (that would be a dependency cycle)', () => {
    const template = Template.fromJSON(doc.template);
    expect(JSON.stringify(template.findResources('AWS::SecretsManager::Secret'))).not.toContain('Document');
  });

  test('reading does not grant writing: PutSecretValue only through grantWrite', () => {
    const stack = new Stack(new App(), 'S');
    const keys = new AemCryptoKeys(stack, 'Keys', { keySource: KeySource.importLater() });
    const reader = new iam.Role(stack, 'Reader', { assumedBy: new iam.ServicePrincipal('ec2.amazonaws.com') });
    const writer = new iam.Role(stack, 'Writer', { assumedBy: new iam.ServicePrincipal('ec2.amazonaws.com') });
    keys.grantRead(reader);
    keys.grantWrite(writer);
    const policies = Template.fromStack(stack).findResources('AWS::IAM::Policy');
    const actionsOf = (role: string) => Object.values(policies)
      .filter((p) => JSON.stringify(p.Properties.Roles).includes(role))
      .flatMap((p) => p.Properties.PolicyDocument.Statement.flatMap((st: any) => [].concat(st.Action)));
    expect(actionsOf('Reader')).not.toContain('secretsmanager:PutSecretValue');
    expect(actionsOf('Writer')).toContain('secretsmanager:PutSecretValue');
  });
});

describeWithTools(['java', 'moto_server', 'aws', 'strace'], 'export script (from the synthesized document) on genuine Felix caches', () => {
  let moto: Moto;
  let cache: ReturnType<typeof felixCache>;
  const doc = synthExport();
  const user = testUser();
  const instances: Instance[] = [];
  const keys = { hmac: randomBytes(32), master: randomBytes(16) };
  let n = 0;

  let secrets: TestSecrets;
  /** A new secret, with a value or (undefined) none at all, as KeySource.importLater leaves it. */
  const secret = (value?: string) => secrets.create(`keys-${++n}`, value);
  const secretValue = (arn: string) => secrets.value(arn);
  const versions = (arn: string) => secrets.versions(arn);

  beforeAll(async () => {
    moto = await startMoto();
    secrets = new TestSecrets(moto);
    cache = felixCache(aemBundles());
  }, 120000);
  afterAll(async () => {
    secrets?.destroy();
    await moto?.stop();
    for (const i of instances) fs.rmSync(i.root, { recursive: true, force: true });
  });

  /** An instance whose crypto.file data folder holds `keys` and whose storage says Bundle. */
  function reference(k = keys, storage = 'Bundle'): Instance {
    const inst = makeInstance(cache, user);
    instances.push(inst);
    plant(path.join(inst.keyDir, 'hmac'), k.hmac, user);
    plant(path.join(inst.keyDir, 'master'), k.master, user);
    plant(path.join(inst.storageDir, 'storage'), storage, user);
    return inst;
  }

  function run(inst: Instance, values: Record<string, string>): RunResult & { argv: string } {
    const trace = path.join(inst.root, `trace${++n}`);
    const script = renderScript(doc, { QuickstartDir: inst.quickstart, AemUser: user.name, ...values });
    const r = runScript(inst, script, { ...moto.env, HOME: process.env.HOME ?? '/root' },
      { wrap: strace(trace, 'execve', ['-s', '4096']) });
    return { ...r, argv: fs.readFileSync(trace, 'utf8') };
  }

  function expectNoKeyMaterial(r: { stdout: string; stderr: string; argv: string }, k = keys) {
    for (const b of [k.hmac, k.master]) {
      for (const text of [r.stdout, r.stderr, r.argv]) {
        expect(text).not.toContain(b.toString('base64'));
        expect(text).not.toContain(b.toString('hex'));
      }
    }
  }

  const fps = (k = keys) => `hmac ${fingerprint(k.hmac)} master ${fingerprint(k.master)}`;

  // In order on one instance and one empty secret: the export, then a second run.
  describe('an empty secret', () => {
    let inst: Instance;
    let arn: string;
    let before: Record<string, string>;
    let r: RunResult & { argv: string };
    beforeAll(async () => {
      inst = reference();
      arn = await secret();
      before = snapshotTree(inst.quickstart);
      r = run(inst, { SecretId: arn });
    });

    test('is filled with the instance\'s exact key bytes', async () => {
      expect(r.stderr).toBe('');
      expect(r.status).toBe(0);
      const stored = parseKeySet(await secretValue(arn));
      expect(stored.hmac.equals(keys.hmac)).toBe(true);
      expect(stored.master.equals(keys.master)).toBe(true);
      expect(JSON.parse(await secretValue(arn)).format).toBe(1);
      expect(r.stdout).toContain(`secret ${arn} is empty: filling it`);
      expect(r.stdout).toMatch(new RegExp(`result: exported \\(secret .* holds ${fps()}\\)\\n$`));
    });

    test('no key material in the output or any argv', () => {
      expectNoKeyMaterial(r);
    });

    test('the instance is only read', () => {
      expect(snapshotTree(inst.quickstart)).toEqual(before);
    });

    test('a second run changes nothing, not even a new version', async () => {
      const v = await versions(arn);
      const again = run(inst, { SecretId: arn });
      expect(again.status).toBe(0);
      expect(again.stdout).toMatch(/result: unchanged \(secret .* already holds these keys/);
      expect(await versions(arn)).toEqual(v);
    });
  });

  // In order on one instance and a secret holding other keys: without Force, then with it.
  describe('different keys in the secret', () => {
    const other = { hmac: randomBytes(32), master: randomBytes(16) };
    let inst: Instance;
    let arn: string;
    beforeAll(async () => {
      inst = reference();
      arn = await secret(JSON.stringify({ hmac: other.hmac.toString('base64'), master: other.master.toString('base64') }));
    });

    test('without Force: refused, the secret unchanged, no key material shown', async () => {
      const v = await versions(arn);
      const refused = run(inst, { SecretId: arn });
      expect(refused.status).toBe(1);
      expect(refused.stderr).toBe(`aem-crypto-keys: error: secret ${arn} already holds different keys (${fps(other)}); run with Force=true to replace them (the secret was not changed)\n`);
      expect(await versions(arn)).toEqual(v);
      expect(parseKeySet(await secretValue(arn)).hmac.equals(other.hmac)).toBe(true);
      expectNoKeyMaterial(refused, other);
    });

    test('with Force=true: replaced, no key material shown', async () => {
      const forced = run(inst, { SecretId: arn, Force: 'true' });
      expect(forced.status).toBe(0);
      expect(parseKeySet(await secretValue(arn)).hmac.equals(keys.hmac)).toBe(true);
      expectNoKeyMaterial(forced);
    });
  });

  test('a secret holding something else: refused without Force', async () => {
    const inst = reference();
    const arn = await secret('{"username":"admin","password":"x"}');
    const r = run(inst, { SecretId: arn });
    expect(r.status).toBe(1);
    expect(r.stderr).toMatch(/holds a value that is not a key set; run with Force=true/);
    expect(await secretValue(arn)).toBe('{"username":"admin","password":"x"}');
  });

  const failures: [string, () => Instance, Record<string, string>, RegExp][] = [
    ['storage still JCR (keys in /etc/key)', () => reference(keys, 'JCR'), {}, /does not say Bundle: this instance may still use keys stored in the JCR/],
    ['a 31-byte hmac', () => reference({ hmac: randomBytes(31), master: keys.master }), {}, /hmac is 31 bytes, expected 32 \(parameter HmacBytes\)/],
    ['no key files', () => { const i = reference(); fs.rmSync(path.join(i.keyDir, 'hmac')); return i; }, {}, /no hmac file in .* \(has AEM been started once/],
    ['an unknown secret', () => reference(), { SecretId: 'arn:aws:secretsmanager:us-east-1:123456789012:secret:nope-AbCdEf' }, /cannot read secret/],
    ['a hostile QuickstartDir', () => reference(), { QuickstartDir: '/tmp/$(touch /tmp/pwned)' }, /parameter QuickstartDir: must be an absolute path/],
    ['a Force value with a newline', () => reference(), { Force: 'true\nrm -rf /' }, /contains a newline/],
  ];
  test.each(failures)('%s: one error line, the secret and the instance unchanged', async (_name, setup, values, message) => {
    const inst = setup();
    const arn = await secret();
    const before = snapshotTree(inst.quickstart);
    const r = run(inst, { SecretId: arn, ...values });
    expect(r.status).toBe(1);
    expect(r.stderr.trimEnd().split('\n')).toHaveLength(1);
    expect(r.stderr).toMatch(message);
    await expect(secretValue(arn)).rejects.toThrow(/can't find the specified secret value/);
    expect(snapshotTree(inst.quickstart)).toEqual(before);
    expect(fs.existsSync('/tmp/pwned')).toBe(false);
  });
});
