/**
 * The commands that run an SSM command on the instances and wait for it (status --verify, rollout,
 * export; lib/cli/run-command.ts), against mocked SSM: what each sends, how it waits and reads every
 * page, what it prints per instance and in sum, its exit code, --log-group, and run-command's
 * output helpers.
 */
import { DescribeSecretCommand, SecretsManagerClient } from '@aws-sdk/client-secrets-manager';
import {
  CommandInvocation,
  DescribeAssociationCommand,
  ListAssociationsCommand,
  GetCommandInvocationCommand,
  ListCommandInvocationsCommand,
  ListCommandsCommand,
  ListDocumentsCommand,
  SendCommandCommand,
  SSMClient,
} from '@aws-sdk/client-ssm';
import { mockClient } from 'aws-sdk-client-mock';
import { Progress } from '../lib/cli/progress';
import { parseFingerprints, splitOutput, summarize } from '../lib/cli/run-command';
import { capture, runCli } from './support/cli-run';

// What moto cannot emulate: commands that stay in progress, fail on some instances, and targets
// whose instances only ListCommandInvocations reveals (real SSM lists no InstanceIds for them).

const ARN = 'arn:aws:secretsmanager:eu-west-1:123456789012:secret:aem-keys-AbCdEf';
const sm = mockClient(SecretsManagerClient);
const ssm = mockClient(SSMClient);

const clients = () => ({ ssm: new SSMClient({ region: 'eu-west-1' }), secretsManager: new SecretsManagerClient({ region: 'eu-west-1' }) });
const run = (args: string[]) => runCli(args, { pollMs: 1, sleep: async () => undefined, ...clients() });

const ok = (id: string, fp = 'aaaaaaaaaaaa'): CommandInvocation => ({
  InstanceId: id, Status: 'Success', StatusDetails: 'Success',
  CommandPlugins: [{ Name: 'installKeys', Status: 'Success', ResponseCode: 0, Output: `hmac ${fp} master bbbbbbbbbbbb: unchanged\n` }],
});
const bad = (id: string, err: string): CommandInvocation => ({
  InstanceId: id, Status: 'Failed', StatusDetails: 'Failed',
  CommandPlugins: [{ Name: 'installKeys', Status: 'Failed', ResponseCode: 1,
    Output: `instance hmac cccccccccccc master dddddddddddd\n----------ERROR-------\n${err}\nfailed to run commands: exit status 1` }],
});

beforeEach(() => {
  sm.reset();
  ssm.reset();
  sm.on(DescribeSecretCommand).resolves({ ARN });
  // The account's documents tagged with the key set's secret; the filter is applied as SSM would.
  const documents = [
    { Name: 'AemKeys-Installer', Tags: [{ Key: 'aem-crypto-keys:installer-document', Value: ARN }] },
    { Name: 'AemKeys-Export', Tags: [{ Key: 'aem-crypto-keys:export-document', Value: ARN }] },
  ];
  ssm.on(ListDocumentsCommand).callsFake((input) => {
    const tag = input.Filters.find((f: { Key: string }) => f.Key.startsWith('tag:'));
    return { DocumentIdentifiers: documents.filter((d) => d.Tags.some((t) => `tag:${t.Key}` === tag.Key && tag.Values.includes(t.Value))) };
  });
  ssm.on(SendCommandCommand).resolves({ Command: { CommandId: 'cmd-1' } });
  // The key set's tag association on aem-role=publish (addInstancesByTag), whose parameters rollout sends.
  ssm.on(ListAssociationsCommand).resolves({ Associations: [{ AssociationId: 'assoc-1', Name: 'AemKeys-Installer', Targets: [{ Key: 'tag:aem-role', Values: ['publish'] }] }] });
  ssm.on(DescribeAssociationCommand).resolves({ AssociationDescription: { Parameters: { SecretId: [ARN], QuickstartDir: ['/opt/aem/publish/crx-quickstart'] } } });
});

describe('status --verify on three instances: one matching, one failed, one timed out', () => {
  // Each test runs the command (the mocks are reset before each; a run takes milliseconds).
  beforeEach(() => {
    ssm.on(ListCommandsCommand)
      .resolvesOnce({ Commands: [{ CommandId: 'cmd-1', Status: 'InProgress', TargetCount: 3, CompletedCount: 1, ErrorCount: 0, InstanceIds: [] }] })
      .resolves({ Commands: [{ CommandId: 'cmd-1', Status: 'Failed', TargetCount: 3, CompletedCount: 3, ErrorCount: 1, InstanceIds: [] }] });
    ssm.on(ListCommandInvocationsCommand)
      .resolvesOnce({ CommandInvocations: [ok('i-0000000000000000a'), bad('i-0000000000000000b', 'hmac differs from the secret')], NextToken: 't' })
      .resolves({ CommandInvocations: [{ InstanceId: 'i-0000000000000000c', Status: 'TimedOut', StatusDetails: 'Delivery Timed Out', CommandPlugins: [] }] });
  });
  const verify = () => run(['status', '--secret', ARN, '--targets', 'tag:aem-role=publish', '--verify']);

  test('mismatches are listed per instance and exit 1', async () => {
    const r = await verify();
    expect(r.code).toBe(1);
    const lines = r.stdout.trimEnd().split('\n');
    expect(lines[1]).toMatch(/^i-0000000000000000a\s+yes\s+aaaaaaaaaaaa\s+bbbbbbbbbbbb$/);
    expect(lines[2]).toMatch(/^i-0000000000000000b\s+no\s+cccccccccccc\s+dddddddddddd\s+failed to run commands: exit status 1$/);
    expect(lines[3]).toMatch(/^i-0000000000000000c\s+no \(TimedOut\)\s+-\s+-\s+Delivery Timed Out$/);
    expect(lines[4]).toBe('not matching on 2 of 3: i-0000000000000000b, i-0000000000000000c');
  });

  test('sends the installer with Mode=verify to the tag, to all instances at once', async () => {
    await verify();
    const send = ssm.commandCalls(SendCommandCommand)[0].args[0].input;
    expect(send).toMatchObject({
      DocumentName: 'AemKeys-Installer', Targets: [{ Key: 'tag:aem-role', Values: ['publish'] }],
      Parameters: { SecretId: [ARN], Mode: ['verify'] }, MaxConcurrency: '100%', MaxErrors: '100%',
    });
  });

  test('reads every page of ListCommandInvocations', async () => {
    await verify();
    expect(ssm.commandCalls(ListCommandInvocationsCommand)[1].args[0].input).toMatchObject({ CommandId: 'cmd-1', Details: true, NextToken: 't' });
  });

  test('the region comes from the secret ARN', async () => {
    await verify();
    expect(await ssm.commandCalls(SendCommandCommand)[0].thisValue.config.region()).toBe('eu-west-1');
  });
});

describe('rollout --json on two instances, one failing', () => {
  beforeEach(() => {
    ssm.on(ListCommandsCommand).resolves({ Commands: [{ CommandId: 'cmd-1', Status: 'Failed', TargetCount: 2, CompletedCount: 2, ErrorCount: 1 }] });
    ssm.on(ListCommandInvocationsCommand).resolves({ CommandInvocations: [ok('i-0000000000000000a'), bad('i-0000000000000000b', 'no com.adobe.granite.crypto.file bundle under /opt/aem/crx-quickstart')] });
  });
  const rollout = () => run(['rollout', '--secret', ARN, '--targets', 'tag:aem-role=publish', '--max-concurrency', '25%', '--max-errors', '2', '--json']);

  test('names the failed instances and lists them in the JSON, exit 1', async () => {
    const r = await rollout();
    expect(r.code).toBe(1);
    const out = JSON.parse(r.stdout);
    expect(out.failed).toEqual(['i-0000000000000000b']);
    expect(out.ok).toBe(false);
    expect(out.instances[1]).toMatchObject({ instanceId: 'i-0000000000000000b', status: 'Failed' });
  });

  test('sends the installer with Mode=install and the rate controls given', async () => {
    await rollout();
    expect(ssm.commandCalls(SendCommandCommand)[0].args[0].input).toMatchObject({ MaxConcurrency: '25%', MaxErrors: '2', Parameters: { Mode: ['install'] } });
  });

  test('progress goes to stderr', async () => {
    const r = await rollout();
    expect(r.stderr).toContain('command cmd-1: Failed, 2/2 done, 1 failed');
  });
});

test('rollout: SSM stopping after max errors leaves instances not run, which count as failed', async () => {
  ssm.on(ListCommandsCommand).resolves({ Commands: [{ CommandId: 'cmd-1', Status: 'Failed', TargetCount: 3, CompletedCount: 3, ErrorCount: 1 }] });
  ssm.on(ListCommandInvocationsCommand).resolves({ CommandInvocations: [
    bad('i-0000000000000000a', 'x'), { InstanceId: 'i-0000000000000000b', Status: 'Cancelled', StatusDetails: 'Cancelled' }, ok('i-0000000000000000c'),
  ] });
  const r = await run(['rollout', '--secret', ARN, '--targets', 'tag:aem-role=publish']);
  expect(r.code).toBe(1);
  expect(r.stdout).toContain('failed on 2 of 3: i-0000000000000000a, i-0000000000000000b');
});

test('a wait that times out says so and exits 1 without claiming success', async () => {
  ssm.on(ListCommandsCommand).resolves({ Commands: [{ CommandId: 'cmd-1', Status: 'InProgress', TargetCount: 1, CompletedCount: 0, InstanceIds: ['i-0000000000000000a'] }] });
  ssm.on(GetCommandInvocationCommand).resolves({ Status: 'InProgress', StatusDetails: 'InProgress' });
  let t = 0;
  const r = await runCli(['rollout', '--secret', ARN, '--targets', 'tag:a=b', '--param', 'QuickstartDir=/opt/aem/crx-quickstart', '--timeout', '5'], {
    pollMs: 1000, sleep: async (ms) => { t += ms; }, now: () => t, ...clients(),
  });
  expect(r.code).toBe(1);
  expect(r.stderr).toContain('WaitTimedOut');
  expect(r.stdout).toMatch(/i-0000000000000000a\s+InProgress/);
  expect(t).toBe(5000);
  expect(ssm.commandCalls(ListCommandsCommand)).toHaveLength(6);
});

describe('export refused by the instance', () => {
  beforeEach(() => {
    sm.on(DescribeSecretCommand).resolves({ ARN, Tags: [{ Key: 'aem-crypto-keys:export-document', Value: 'AemKeys-Export' }] });
    ssm.on(ListCommandsCommand).resolves({
      Commands: [{ CommandId: 'cmd-1', Status: 'Failed', TargetCount: 1, CompletedCount: 1, ErrorCount: 1, InstanceIds: ['i-0123456789abcdef0'] }],
    });
    ssm.on(GetCommandInvocationCommand).resolves({
      Status: 'Failed', StatusDetails: 'Failed', ResponseCode: 1,
      StandardOutputContent: 'instance hmac 111111111111 master 222222222222\n',
      StandardErrorContent: 'the secret already holds different keys (hmac 333333333333, master 444444444444); pass Force=true to replace them\n',
    });
  });
  const exportKeys = () => run(['export', '--secret', ARN, '--instance', 'i-0123456789abcdef0']);

  test('prints the instance output (fingerprints) and fails, saying why', async () => {
    const r = await exportKeys();
    expect(r.code).toBe(1);
    expect(r.stdout).toContain('instance hmac 111111111111');
    expect(r.stdout).toContain('export from i-0123456789abcdef0 failed: the secret already holds different keys');
  });

  test('sends the export document to the one instance, Force=false', async () => {
    await exportKeys();
    expect(ssm.commandCalls(SendCommandCommand)[0].args[0].input).toEqual({
      DocumentName: 'AemKeys-Export', InstanceIds: ['i-0123456789abcdef0'],
      Parameters: { SecretId: [ARN], Force: ['false'] }, Comment: 'aem-keys export',
    });
  });
});

describe('--log-group (rollout, export, status --verify)', () => {
  beforeEach(() => {
    ssm.on(ListCommandsCommand).resolves({ Commands: [{ CommandId: 'cmd-1', Status: 'Success', TargetCount: 1, CompletedCount: 1, ErrorCount: 0 }] });
    ssm.on(ListCommandInvocationsCommand).resolves({ CommandInvocations: [ok('i-0000000000000000a')] });
  });

  test('streams the command output to that CloudWatch Logs group', async () => {
    const r = await run(['rollout', '--secret', ARN, '--targets', 'tag:aem-role=publish', '--log-group', 'AemCryptoKeysExample-CryptoKeysLogsLogGroup84978975-AbC']);
    expect(r.code).toBe(0);
    expect(ssm.commandCalls(SendCommandCommand)[0].args[0].input.CloudWatchOutputConfig)
      .toEqual({ CloudWatchOutputEnabled: true, CloudWatchLogGroupName: 'AemCryptoKeysExample-CryptoKeysLogsLogGroup84978975-AbC' });
  });

  test('without it, no CloudWatch output', async () => {
    await run(['rollout', '--secret', ARN, '--targets', 'tag:aem-role=publish']);
    expect(ssm.commandCalls(SendCommandCommand)[0].args[0].input.CloudWatchOutputConfig).toBeUndefined();
  });

  test('a bad name is a usage error; nothing is sent', async () => {
    const bad = await run(['rollout', '--secret', ARN, '--targets', 'tag:aem-role=publish', '--log-group', 'a b']);
    expect([bad.code, bad.stderr]).toEqual([2, 'aem-keys: rollout: --log-group is not a valid log group name: "a b"\n']);
    expect(ssm.commandCalls(SendCommandCommand)).toHaveLength(0);
  });
});

describe('output helpers', () => {
  test('splitOutput separates stderr after SSM\'s marker', () => {
    expect(splitOutput('a\n----------ERROR-------\nb')).toEqual({ stdout: 'a', stderr: 'b' });
    expect(splitOutput('----------ERROR-------\nb')).toEqual({ stdout: '', stderr: 'b' });
    expect(splitOutput('a')).toEqual({ stdout: 'a', stderr: '' });
  });

  test('parseFingerprints takes the last labelled 12-hex value', () => {
    expect(parseFingerprints('secret: hmac 0123456789ab, master abcdefabcdef\ninstance: hmac=fedcba987654 master=none'))
      .toEqual({ hmac: 'fedcba987654', master: 'abcdefabcdef' });
    expect(parseFingerprints('nothing here')).toEqual({});
  });

  test('summarize prefers the last stderr line, then the status detail', () => {
    expect(summarize({ instanceId: 'i', status: 'Failed', stdout: '', stderr: 'first\nlast\n\n' }).error).toBe('last');
    expect(summarize({ instanceId: 'i', status: 'TimedOut', statusDetails: 'Execution Timed Out', stdout: '', stderr: '' }).error).toBe('Execution Timed Out');
    expect(summarize({ instanceId: 'i', status: 'Success', stdout: '', stderr: 'warning' }).error).toBeUndefined();
  });

  test('progress: rewritten line on a TTY, throttled plain lines otherwise', () => {
    const tty = capture(true);
    const p = new Progress(tty);
    p.update('a');
    p.update('b');
    p.done('c');
    expect(tty.text()).toBe('\r\x1b[Ka\r\x1b[Kb\r\x1b[Kc\n');

    const plain = capture(false);
    let now = 1000;
    const q = new Progress(plain, 10000, () => now);
    q.update('a');
    now += 5000;
    q.update('b'); // throttled
    now += 6000;
    q.update('c');
    q.update('c'); // unchanged
    q.done('d');
    expect(plain.text()).toBe('a\nc\nd\n');
  });
});
