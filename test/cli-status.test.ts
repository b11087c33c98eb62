/**
 * `aem-keys status` without --verify: what SSM already knows (association runs, last installer
 * runs), with the age of each answer, and nothing sent to the instances. Mocked SSM.
 */
import { DescribeSecretCommand, SecretsManagerClient } from '@aws-sdk/client-secrets-manager';
import {
  DescribeInstanceAssociationsStatusCommand,
  DescribeInstanceInformationCommand,
  ListCommandInvocationsCommand,
  ListDocumentsCommand,
  SendCommandCommand,
  SSMClient,
} from '@aws-sdk/client-ssm';
import { mockClient } from 'aws-sdk-client-mock';
import { formatAge } from '../lib/cli/known-status';
import { runCli } from './support/cli-run';

const ARN = 'arn:aws:secretsmanager:eu-west-1:123456789012:secret:aem-keys-AbCdEf';
const DOC = 'AemKeys-Installer';
const NOW = Date.parse('2026-12-01T12:00:00Z');
const sm = mockClient(SecretsManagerClient);
const ssm = mockClient(SSMClient);

const run = (args: string[]) => runCli(args, {
  pollMs: 1, sleep: async () => undefined, now: () => NOW,
  ssm: new SSMClient({ region: 'eu-west-1' }), secretsManager: new SecretsManagerClient({ region: 'eu-west-1' }),
});

const ago = (minutes: number) => new Date(NOW - minutes * 60_000);

beforeEach(() => {
  sm.reset();
  ssm.reset();
  sm.on(DescribeSecretCommand).resolves({ ARN });
  ssm.on(ListDocumentsCommand).resolves({ DocumentIdentifiers: [{ Name: DOC, Tags: [{ Key: 'aem-crypto-keys:installer-document', Value: ARN }] }] });
  // Two pages of tagged managed instances.
  ssm.on(DescribeInstanceInformationCommand)
    .resolvesOnce({ InstanceInformationList: [{ InstanceId: 'i-0000000000000000c' }, { InstanceId: 'i-0000000000000000a' }], NextToken: 'p2' })
    .resolves({ InstanceInformationList: [{ InstanceId: 'i-0000000000000000b' }, { InstanceId: 'i-0000000000000000d' }] });
  ssm.on(DescribeInstanceAssociationsStatusCommand).callsFake((input) => ({
    InstanceAssociationStatusInfos: {
      // a: the installer association succeeded 12 minutes ago (an older run failed); another document is ignored.
      'i-0000000000000000a': [
        { Name: DOC, Status: 'Failed', DetailedStatus: 'Failed', ExecutionDate: ago(42) },
        { Name: DOC, Status: 'Success', DetailedStatus: 'Success', ExecutionDate: ago(12), ExecutionSummary: '1 out of 1 plugin processed, 1 success' },
        { Name: 'AWS-GatherSoftwareInventory', Status: 'Failed', ExecutionDate: ago(1) },
      ],
      // b: the association failed 3 hours ago.
      'i-0000000000000000b': [{ Name: DOC, Status: 'Failed', DetailedStatus: 'Failed', ErrorCode: '1', ExecutionDate: ago(180) }],
    }[input.InstanceId as string] ?? [],
  }));
  ssm.on(ListCommandInvocationsCommand).callsFake((input) => ({
    CommandInvocations: {
      // c: a gated instance, no association; its launch ran the installer 2 days ago, a verify later.
      'i-0000000000000000c': [
        { CommandId: 'launch', Status: 'Success', StatusDetails: 'Success', RequestedDateTime: ago(3000), Comment: 'AEM crypto keys: lifecycle gate' },
        { CommandId: 'verify', Status: 'Success', StatusDetails: 'Success', RequestedDateTime: ago(2900), Comment: 'aem-keys status' },
      ],
    }[input.InstanceId as string] ?? [],
  }));
});

// Each test runs the command itself (the mocks are reset before each; a run takes milliseconds).
const statusOfPublish = () => run(['status', '--secret', ARN, '--targets', 'tag:aem-role=publish']);

test('reads association runs, else the last installer run, per tagged instance, with ages', async () => {
  const r = await statusOfPublish();
  expect(r.stderr).toBe('');
  const lines = r.stdout.trimEnd().split('\n');
  expect(lines[0]).toMatch(/^INSTANCE\s+SOURCE\s+RESULT\s+AGE\s+DETAIL$/);
  expect(lines[1]).toMatch(/^i-0000000000000000a\s+association\s+Success\s+12m\s+1 out of 1 plugin processed, 1 success$/);
  expect(lines[2]).toMatch(/^i-0000000000000000b\s+association\s+Failed\s+3h\s+error 1$/);
  expect(lines[3]).toMatch(/^i-0000000000000000c\s+last run\s+Success\s+2d\s+command verify \(aem-keys status\)$/);
  expect(lines[4]).toMatch(/^i-0000000000000000d\s+none\s+unknown\s+-\s+no association run or command of AemKeys-Installer recorded$/);
  expect(lines[5]).toBe('not ok on 2 of 4: i-0000000000000000b, i-0000000000000000d (run with --verify for a fresh answer)');
});

test('exit 1 on a failure or an unknown', async () => {
  const r = await statusOfPublish();
  expect(r.code).toBe(1);
});

test('nothing is sent to the instances', async () => {
  await statusOfPublish();
  expect(ssm.commandCalls(SendCommandCommand)).toHaveLength(0);
});

test('finds the instances by the tag filter, every page', async () => {
  await statusOfPublish();
  const info = ssm.commandCalls(DescribeInstanceInformationCommand).map((c) => c.args[0].input);
  expect(info).toEqual([
    { Filters: [{ Key: 'tag:aem-role', Values: ['publish'] }], MaxResults: 50, NextToken: undefined },
    { Filters: [{ Key: 'tag:aem-role', Values: ['publish'] }], MaxResults: 50, NextToken: 'p2' },
  ]);
});

test('looks up the last runs of the installer document, only where no association ran', async () => {
  await statusOfPublish();
  const listed = ssm
    .commandCalls(ListCommandInvocationsCommand)
    .map((c) => c.args[0].input)
    .sort((x, y) => x.InstanceId!.localeCompare(y.InstanceId!));
  expect(listed).toEqual([
    { InstanceId: 'i-0000000000000000c', Filters: [{ key: 'DocumentName', value: DOC }], MaxResults: 10 },
    { InstanceId: 'i-0000000000000000d', Filters: [{ key: 'DocumentName', value: DOC }], MaxResults: 10 },
  ]);
});

describe('all successful', () => {
  beforeEach(() => {
    ssm.on(DescribeInstanceInformationCommand).resolves({ InstanceInformationList: [{ InstanceId: 'i-0000000000000000a' }, { InstanceId: 'i-0000000000000000c' }] });
  });

  test('--json: every answer with its time and age; exit 0', async () => {
    const r = await run(['status', '--secret', ARN, '--targets', 'tag:aem-role=publish', '--json']);
    expect(r.code).toBe(0);
    const out = JSON.parse(r.stdout);
    expect(out).toMatchObject({ documentName: DOC, verified: false, ok: true, notOk: [] });
    expect(out.instances).toEqual([
      { instanceId: 'i-0000000000000000a', source: 'association', status: 'Success', at: ago(12).toISOString(), ageSeconds: 720, detail: '1 out of 1 plugin processed, 1 success' },
      { instanceId: 'i-0000000000000000c', source: 'last run', status: 'Success', at: ago(2900).toISOString(), ageSeconds: 174000, detail: 'command verify (aem-keys status)' },
    ]);
  });

  test('the table: exit 0, naming the oldest answer', async () => {
    const table = await run(['status', '--secret', ARN, '--targets', 'tag:aem-role=publish']);
    expect(table.code).toBe(0);
    expect(table.stdout).toContain('all 2 instance(s) had the keys at their last run (oldest answer 2d old; --verify checks now)');
  });
});

test('no tagged managed instance: exit 1', async () => {
  ssm.on(DescribeInstanceInformationCommand).resolves({ InstanceInformationList: [] });
  const r = await run(['status', '--secret', ARN, '--targets', 'tag:aem-role=nobody']);
  expect(r.code).toBe(1);
  expect(r.stdout).toBe('no managed instance carries tag:aem-role=nobody\n');
});

test('--param and --timeout belong to --verify', async () => {
  ssm.on(DescribeInstanceInformationCommand).resolves({ InstanceInformationList: [] });
  expect((await run(['status', '--secret', ARN, '--targets', 'tag:a=b', '--param', 'QuickstartDir=/x'])).stderr).toMatch(/--param applies to --verify only/);
  expect((await run(['status', '--secret', ARN, '--targets', 'tag:a=b', '--timeout', '5'])).code).toBe(2);
});

test('formatAge', () => {
  expect([undefined, 0, 119, 120, 7199, 7200, 172799, 172800].map(formatAge)).toEqual(['-', '0s', '119s', '2m', '119m', '2h', '47h', '2d']);
});
