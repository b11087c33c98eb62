import { execFileSync } from 'child_process';
import * as fs from 'fs';
import * as os from 'os';
import * as path from 'path';
import { CreateSecretCommand, GetSecretValueCommand, SecretsManagerClient } from '@aws-sdk/client-secrets-manager';
import { CreateDocumentCommand, ListCommandsCommand, SSMClient } from '@aws-sdk/client-ssm';
import { EXPORT_DOCUMENT_TAG, fingerprint, INSTALLER_DOCUMENT_TAG, parseKeySet, serializeKeySet } from '../lib/private/key-set';
import { launchCli, runCli } from './support/cli-run';
import { Moto, MOTO_REGION, startMoto } from './support/moto';
import { describeWithTools } from './support/tools';

const run = runCli;
const launch = launchCli;

describe('aem-keys command line (no AWS)', () => {
  test('--help lists every command on stdout', () => {
    const help = launch(['--help']);
    expect(help.code).toBe(0);
    for (const c of ['import', 'export', 'status', 'rollout']) expect(help.stdout).toContain(c);
    expect(help.stderr).toBe('');
  });

  test('each command has its own help (COMMAND --help, help COMMAND)', async () => {
    for (const c of ['import', 'export', 'status', 'rollout']) {
      const r = await run([c, '--help']);
      expect(r.code).toBe(0);
      expect(r.stdout).toContain(`Usage: aem-keys ${c}`);
      expect(r.stdout).toContain('--secret ARN');
    }
    expect((await run(['rollout', '--help'])).stdout).toContain('--max-concurrency');
    expect((await run(['help', 'status'])).stdout).toContain('Usage: aem-keys status');
  });

  test('no arguments: exit 2', async () => {
    expect((await run([])).code).toBe(2);
  });

  test.each([
    [['frobnicate'], /unknown command "frobnicate"/],
    [['import', '--secret', 's', '--hmac', 'h'], /import: missing --master FILE/],
    [['import', '--secret'], /import: --secret needs a value \(ARN\)/],
    [['import', '--secret', 's', '--hmac', 'h', '--master', 'm', '--colour'], /import: unknown option --colour/],
    [['import', '--secret', 's', '--secret', 't', '--hmac', 'h', '--master', 'm'], /--secret given more than once/],
    [['import', 'stray', '--secret', 's', '--hmac', 'h', '--master', 'm'], /unexpected argument "stray"/],
    [['import', '--secret', 'arn:aws:sqs:x', '--hmac', 'h', '--master', 'm'], /--secret must be a Secrets Manager ARN or name/],
    [['import', '--secret', 's', '--hmac', 'h', '--master', 'm', '--hmac-bytes', '0'], /--hmac-bytes must be a positive whole number/],
    [['import', '--secret', 's', '--hmac', 'h', '--master', 'm', '--region', 'mars'], /--region must look like eu-west-1/],
    [['import', '--secret', 's', '--hmac', 'h', '--master', 'm', '--endpoint-url', 'ftp://x'], /--endpoint-url must be an http\(s\) URL/],
    [['status', '--secret', 's', '--targets', 'Role=publish'], /--targets must look like tag:KEY=VALUE/],
    [['status', '--secret', 's'], /status: missing --targets/],
    [['rollout', '--secret', 's', '--targets', 'tag:Role=publish', '--max-concurrency', '0'], /--max-concurrency must be a number or a percentage/],
    [['rollout', '--secret', 's', '--targets', 'tag:Role=publish', '--max-errors', '150%'], /--max-errors must be a number or a percentage/],
    [['rollout', '--secret', 's', '--targets', 'tag:Role=publish', '--param', 'Mode=install'], /--param Mode is set by the command itself/],
    [['rollout', '--secret', 's', '--targets', 'tag:Role=publish', '--timeout', 'soon'], /--timeout must be a positive whole number/],
    [['export', '--secret', 's', '--instance', 'author-1'], /--instance must be an instance ID/],
    [['export', '--secret', 's', '--instance', 'i-0123456789abcdef0', '--force=maybe'], /--force takes no value/],
  ])('usage error %j: one line on stderr, exit 2', async (args, message) => {
    const r = await run(args as string[]);
    expect(r.code).toBe(2);
    expect(r.stdout).toBe('');
    expect(r.stderr).toMatch(message);
    expect(r.stderr.trimEnd().split('\n')).toHaveLength(1);
    expect(r.stderr).toMatch(/^aem-keys: /);
  });

  test('the launcher exits 2 with one line for a usage error', () => {
    const r = launch(['status', '--secret', 's', '--targets', 'nope']);
    expect(r.code).toBe(2);
    expect(r.stderr.trimEnd().split('\n')).toHaveLength(1);
  });

  test('key files of the wrong size are refused before any AWS call', async () => {
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'aem-keys-'));
    fs.writeFileSync(path.join(dir, 'hmac'), Buffer.alloc(32, 1));
    fs.writeFileSync(path.join(dir, 'master'), Buffer.from('AAAAAAAAAAAAAAAAAAAAAA==\n'));
    const r = await run(['import', '--secret', 'x', '--hmac', path.join(dir, 'hmac'), '--master', path.join(dir, 'master'), '--endpoint-url', 'http://127.0.0.1:9']);
    expect(r.code).toBe(1);
    expect(r.stderr).toMatch(/--master: .* is 25 bytes, expected 16/);
    expect(r.stderr).not.toContain('AAAA');
  });
});

describeWithTools(['moto_server', 'aws'], 'aem-keys against moto_server (real SDK)', () => {
  let moto: Moto;
  let sm: SecretsManagerClient;
  let ssm: SSMClient;
  let dir: string;
  const saved = { ...process.env };
  const keysA = { hmac: Buffer.alloc(32, 0xa1), master: Buffer.alloc(16, 0xa2) };
  const keysB = { hmac: Buffer.alloc(32, 0xb1), master: Buffer.alloc(16, 0xb2) };
  let publish: string[];

  function keyFiles(name: string, keys: { hmac: Buffer; master: Buffer }) {
    const h = path.join(dir, `${name}.hmac`);
    const m = path.join(dir, `${name}.master`);
    fs.writeFileSync(h, keys.hmac);
    fs.writeFileSync(m, keys.master);
    return ['--hmac', h, '--master', m];
  }

  const aws = (...args: string[]) => execFileSync('aws', args, { env: { ...process.env, ...moto.env }, encoding: 'utf8' });

  async function createSecret(name: string, tags: Record<string, string> = {}, value?: string): Promise<string> {
    const r = await sm.send(new CreateSecretCommand({
      Name: name,
      SecretString: value,
      Tags: Object.entries(tags).map(([Key, Value]) => ({ Key, Value })),
    }));
    return r.ARN!;
  }

  /** A Command document tagged as AemCryptoKeys tags its documents: `tag` = the secret's ARN. */
  async function taggedDocument(name: string, tag: string, secretArn: string): Promise<void> {
    const content = { schemaVersion: '2.2', description: name, mainSteps: [{ action: 'aws:runShellScript', name: 'run', inputs: { runCommand: ['true'] } }] };
    await ssm.send(new CreateDocumentCommand({
      Name: name, DocumentType: 'Command', Content: JSON.stringify(content), Tags: [{ Key: tag, Value: secretArn }],
    }));
  }

  async function secretKeys(arn: string) {
    const v = await sm.send(new GetSecretValueCommand({ SecretId: arn }));
    return parseKeySet(v.SecretString!);
  }

  async function lastCommand() {
    const r = await ssm.send(new ListCommandsCommand({}));
    const cmds = r.Commands!;
    return cmds.sort((a, b) => a.RequestedDateTime!.getTime() - b.RequestedDateTime!.getTime())[cmds.length - 1];
  }

  beforeAll(async () => {
    moto = await startMoto();
    Object.assign(process.env, moto.env);
    sm = new SecretsManagerClient({ region: MOTO_REGION, endpoint: moto.endpoint });
    ssm = new SSMClient({ region: MOTO_REGION, endpoint: moto.endpoint });
    dir = fs.mkdtempSync(path.join(os.tmpdir(), 'aem-keys-'));
    publish = JSON.parse(aws('ec2', 'run-instances', '--image-id', 'ami-12c6146b', '--count', '3',
      '--tag-specifications', 'ResourceType=instance,Tags=[{Key=aem-role,Value=publish}]',
      '--query', 'Instances[].InstanceId', '--output', 'json')).sort();
    aws('ec2', 'run-instances', '--image-id', 'ami-12c6146b', '--count', '1',
      '--tag-specifications', 'ResourceType=instance,Tags=[{Key=aem-role,Value=author}]');
  });

  afterAll(async () => {
    process.env = saved;
    await moto?.stop();
  });

  // In order on one secret: keys A imported, again, then keys B without and with --force.
  describe('import, run after run on one secret', () => {
    let arn: string;
    const outputs: Array<{ stdout: string; stderr: string }> = [];
    const importKeys = async (args: string[]) => {
      const r = await run(['import', '--secret', arn, ...args]);
      outputs.push(r);
      return r;
    };
    beforeAll(async () => {
      arn = await createSecret('keys-import');
    });

    test('fills an empty secret', async () => {
      const filled = await importKeys(keyFiles('a', keysA));
      expect(filled.code).toBe(0);
      expect(filled.stdout).toContain('filled');
      expect(filled.stdout).toContain(fingerprint(keysA.hmac));
      expect(filled.stdout).toContain(fingerprint(keysA.master));
      expect((await secretKeys(arn)).hmac.equals(keysA.hmac)).toBe(true);
    });

    test('is a no-op when the keys are identical', async () => {
      const again = await importKeys([...keyFiles('a', keysA), '--json']);
      expect(again.code).toBe(0);
      expect(JSON.parse(again.stdout)).toMatchObject({ action: 'unchanged', hmac: fingerprint(keysA.hmac) });
    });

    test('refuses different keys with one line, the secret unchanged', async () => {
      const refused = await importKeys(keyFiles('b', keysB));
      expect(refused.code).toBe(1);
      expect(refused.stderr).toMatch(/already holds different keys .*--force/);
      expect(refused.stderr.trimEnd().split('\n')).toHaveLength(1);
      expect((await secretKeys(arn)).master.equals(keysA.master)).toBe(true);
    });

    test('replaces them with --force', async () => {
      const forced = await importKeys([...keyFiles('b', keysB), '--force', '--json']);
      expect(forced.code).toBe(0);
      expect(JSON.parse(forced.stdout)).toEqual({
        secret: arn,
        action: 'replaced',
        hmac: fingerprint(keysB.hmac),
        master: fingerprint(keysB.master),
        previous: { hmac: fingerprint(keysA.hmac), master: fingerprint(keysA.master) },
      });
      const now = await secretKeys(arn);
      expect(now.hmac.equals(keysB.hmac) && now.master.equals(keysB.master)).toBe(true);
    });

    test('nothing any of those runs printed holds key material (raw, base64 or hex)', () => {
      expect(outputs).toHaveLength(4);
      for (const out of outputs) {
        for (const k of [keysA.hmac, keysA.master, keysB.hmac, keysB.master]) {
          for (const enc of ['base64', 'hex'] as const) {
            expect(out.stdout + out.stderr).not.toContain(k.toString(enc));
          }
        }
      }
    });
  });

  test('import refuses to overwrite a value that is not a key set', async () => {
    const arn = await createSecret('keys-garbage', {}, '{"user":"x"}');
    const r = await run(['import', '--secret', arn, ...keyFiles('a', keysA)]);
    expect(r.code).toBe(1);
    expect(r.stderr).toMatch(/holds a value that is not a key set/);
  });

  test('import refuses an unknown secret', async () => {
    const missing = await run(['import', '--secret', 'no-such-secret', ...keyFiles('a', keysA)]);
    expect(missing.code).toBe(1);
    expect(missing.stderr).toMatch(/does not exist/);
  });

  test('import through the launcher with AWS_ENDPOINT_URL (as an operator runs it)', async () => {
    const arn = await createSecret('keys-launcher');
    const r = launch(['import', '--secret', arn, ...keyFiles('a', keysA)], moto.env);
    expect(r.stderr).toBe('');
    expect(r.code).toBe(0);
    expect(r.stdout).toContain('filled');
    expect((await secretKeys(arn)).master.equals(keysA.master)).toBe(true);
  });

  describe('status --verify, the secret\'s installer document tagged (and another key set\'s)', () => {
    let arn: string;
    beforeAll(async () => {
      arn = await createSecret('keys-status', {}, serializeKeySet(keysA));
      await taggedDocument('Installer-From-Tag', INSTALLER_DOCUMENT_TAG, arn);
      await taggedDocument('Other-Key-Set-Installer', INSTALLER_DOCUMENT_TAG, arn.replace('keys-status', 'keys-other'));
    });

    test('sends the tagged installer with Mode=verify to the tag, reads every invocation back (--json)', async () => {
      const r = await run(['status', '--secret', arn, '--targets', 'tag:aem-role=publish', '--param', 'QuickstartDir=/opt/aem/publish/crx-quickstart', '--json', '--verify']);
      expect(r.code).toBe(0);
      const cmd = await lastCommand();
      expect(cmd.DocumentName).toBe('Installer-From-Tag');
      expect(cmd.Targets).toEqual([{ Key: 'tag:aem-role', Values: ['publish'] }]);
      expect(cmd.Parameters).toEqual({ SecretId: [arn], Mode: ['verify'], QuickstartDir: ['/opt/aem/publish/crx-quickstart'] });
      const out = JSON.parse(r.stdout);
      expect(out.commandId).toBe(cmd.CommandId);
      expect(out.instances.map((i: { instanceId: string }) => i.instanceId)).toEqual(publish);
      expect(out.instances.every((i: { match: boolean }) => i.match)).toBe(true);
    });

    test('prints a table and the command\'s progress; --document names the document', async () => {
      const table = await run(['status', '--secret', arn, '--targets', 'tag:aem-role=publish', '--param', 'QuickstartDir=/opt/aem/publish/crx-quickstart', '--document', 'Explicit', '--verify']);
      expect(table.code).toBe(0);
      expect(table.stdout.split('\n')[0]).toMatch(/^INSTANCE\s+MATCH\s+HMAC\s+MASTER\s+ERROR$/);
      for (const id of publish) expect(table.stdout).toMatch(new RegExp(`${id}\\s+yes`));
      expect((await lastCommand()).DocumentName).toBe('Explicit');
      expect(table.stderr).toMatch(/command .*: Success, 3\/3 done, 0 failed; 3 instance\(s\)/);
    });
  });

  describe('rollout', () => {
    let arn: string;
    beforeAll(async () => {
      arn = await createSecret('keys-rollout', {}, serializeKeySet(keysA));
      await taggedDocument('Inst', INSTALLER_DOCUMENT_TAG, arn);
    });

    test('sends the installer (Mode=install) with the rate controls given', async () => {
      const r = await run(['rollout', '--secret', arn, '--targets', 'tag:aem-role=publish', '--param', 'QuickstartDir=/opt/aem/publish/crx-quickstart', '--max-concurrency', '2', '--max-errors', '0']);
      expect(r.code).toBe(0);
      expect(r.stdout).toContain('installed on all 3 instance(s)');
      const cmd = await lastCommand();
      expect(cmd).toMatchObject({ DocumentName: 'Inst', MaxConcurrency: '2', MaxErrors: '0', Parameters: { SecretId: [arn], Mode: ['install'] } });
    });

    test('default rate controls: 10% at a time, stop after one error', async () => {
      await run(['rollout', '--secret', arn, '--targets', 'tag:aem-role=publish', '--param', 'QuickstartDir=/opt/aem/publish/crx-quickstart']);
      expect(await lastCommand()).toMatchObject({ MaxConcurrency: '10%', MaxErrors: '1' });
    });
  });

  test('rollout/status to a tag no instance carries fails', async () => {
    const arn = await createSecret('keys-none');
    await taggedDocument('Inst-none', INSTALLER_DOCUMENT_TAG, arn);
    const r = await run(['rollout', '--secret', arn, '--targets', 'tag:aem-role=nobody', '--param', 'QuickstartDir=/opt/aem/publish/crx-quickstart']);
    expect(r.code).toBe(1);
    expect(r.stdout).toMatch(/no instance carries tag:aem-role=nobody/);
  });

  // In order on one secret: no document tagged with it, then two.
  describe('which document: --document is needed', () => {
    let arn: string;
    beforeAll(async () => {
      arn = await createSecret('keys-untagged');
    });

    test('when no document is tagged with the secret', async () => {
      const r = await run(['status', '--secret', arn, '--targets', 'tag:aem-role=publish']);
      expect(r.code).toBe(1);
      expect(r.stderr)
        .toMatch(/no SSM document of this account is tagged aem-crypto-keys:installer-document=arn:.*keys-untagged.*; pass --document NAME/);
    });

    test('when two documents are tagged with the secret', async () => {
      await taggedDocument('Twin-1', INSTALLER_DOCUMENT_TAG, arn);
      await taggedDocument('Twin-2', INSTALLER_DOCUMENT_TAG, arn);
      const twins = await run(['status', '--secret', arn, '--targets', 'tag:aem-role=publish']);
      expect(twins.code).toBe(1);
      expect(twins.stderr).toMatch(/2 SSM documents \(Twin-1, Twin-2\) are tagged/);
    });
  });

  test('export runs the export document on the one instance with SecretId and Force', async () => {
    const arn = await createSecret('keys-export');
    await taggedDocument('Exporter', EXPORT_DOCUMENT_TAG, arn);
    const [author] = JSON.parse(aws('ec2', 'describe-instances', '--filters', 'Name=tag:aem-role,Values=author',
      '--query', 'Reservations[].Instances[].InstanceId', '--output', 'json'));
    const r = await run(['export', '--secret', arn, '--instance', author, '--force']);
    expect(r.code).toBe(0);
    expect(r.stdout).toContain(`export from ${author} into ${arn}: done`);
    const cmd = await lastCommand();
    expect(cmd).toMatchObject({ DocumentName: 'Exporter', Parameters: { SecretId: [arn], Force: ['true'] } });
    // moto 5 adds every instance to a command sent without Targets (its EC2 filter of no filters
    // matches all); the CLI reports only the instance it asked for.
    expect(cmd.InstanceIds).toContain(author);
    expect(r.stdout).not.toMatch(new RegExp(publish.join('|')));
  });
});
