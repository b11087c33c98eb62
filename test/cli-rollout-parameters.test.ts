import { DescribeSecretCommand, SecretsManagerClient } from '@aws-sdk/client-secrets-manager';
import {
  DescribeAssociationCommand,
  ListAssociationsCommand,
  ListCommandsCommand,
  ListDocumentsCommand,
  SendCommandCommand,
  SSMClient,
} from '@aws-sdk/client-ssm';
import { Stack } from 'aws-cdk-lib';
import { Template } from 'aws-cdk-lib/assertions';
import { mockClient } from 'aws-sdk-client-mock';
import { AemCryptoKeys, OnKeyMismatch, RestartBehavior } from '../lib';
import { runCli } from './support/cli-run';

// Issue 19 item 1: rollout and status --verify send what the constructs send to those instances
// (the tag association's parameters), refuse to guess without them, and check --param as synth does.

const ARN = 'arn:aws:secretsmanager:eu-west-1:123456789012:secret:aem-keys-AbCdEf';
const sm = mockClient(SecretsManagerClient);
const ssm = mockClient(SSMClient);

/** The parameters the constructs give the association of the README's author (synthesized, not written by hand). */
function associationParameters(): Record<string, string[]> {
  const stack = new Stack();
  const keys = new AemCryptoKeys(stack, 'Keys');
  keys.addInstancesByTag('aem-role', 'author', {
    quickstartDir: '/opt/aem/author/crx-quickstart', aemUser: 'aemauthor', serviceName: 'aem-author',
    restart: RestartBehavior.NONE, onKeyMismatch: OnKeyMismatch.FAIL,
  });
  const [association] = Object.values<any>(Template.fromStack(stack).findResources('AWS::SSM::Association'));
  const params = stack.resolve(association.Properties.Parameters);
  return { ...params, SecretId: [ARN] };
}

/** One in-process run, with clients the mocks answer and no waiting between polls. */
const run = (args: string[]) => runCli(args, {
  pollMs: 1, sleep: async () => undefined,
  ssm: new SSMClient({ region: 'eu-west-1' }), secretsManager: new SecretsManagerClient({ region: 'eu-west-1' }),
});

beforeEach(() => {
  sm.reset();
  ssm.reset();
  sm.on(DescribeSecretCommand).resolves({ ARN });
  const documents = [{ Name: 'AemKeys-Installer', Tags: [{ Key: 'aem-crypto-keys:installer-document', Value: ARN }] }];
  ssm.on(ListDocumentsCommand).callsFake((input) => {
    const tag = input.Filters.find((f: { Key: string }) => f.Key.startsWith('tag:'));
    return { DocumentIdentifiers: documents.filter((d) => d.Tags.some((t) => `tag:${t.Key}` === tag.Key && tag.Values.includes(t.Value))) };
  });
  ssm.on(ListAssociationsCommand).resolves({ Associations: [
    { AssociationId: 'assoc-author', Name: 'AemKeys-Installer', Targets: [{ Key: 'tag:aem-role', Values: ['author'] }] },
    { AssociationId: 'assoc-other', Name: 'AemKeys-Installer', Targets: [{ Key: 'tag:aem-role', Values: ['publish-old'] }] },
  ] });
  ssm.on(DescribeAssociationCommand, { AssociationId: 'assoc-author' }).resolves({ AssociationDescription: { Parameters: associationParameters() } });
  ssm.on(SendCommandCommand).resolves({ Command: { CommandId: 'cmd-1' } });
  ssm.on(ListCommandsCommand).resolves({ Commands: [{ CommandId: 'cmd-1', Status: 'Success', TargetCount: 0, CompletedCount: 0, ErrorCount: 0 }] });
});

test('rollout sends the tag association\'s parameters (QuickstartDir, AemUser, ServiceName, Restart, OnKeyMismatch, ...), not the defaults', async () => {
  await run(['rollout', '--secret', ARN, '--targets', 'tag:aem-role=author']);
  const sent = ssm.commandCalls(SendCommandCommand)[0].args[0].input.Parameters!;
  const expected = associationParameters();
  expect(sent).toEqual({ ...expected, SecretId: [ARN], Mode: ['install'] });
  expect(sent.QuickstartDir).toEqual(['/opt/aem/author/crx-quickstart']);
  expect(ssm.commandCalls(ListAssociationsCommand)[0].args[0].input.AssociationFilterList).toEqual([{ key: 'Name', value: 'AemKeys-Installer' }]);
});

test('status --verify checks the same place; --param overrides one value', async () => {
  await run(['status', '--secret', ARN, '--targets', 'tag:aem-role=author', '--verify', '--param', 'AemPort=4503']);
  const sent = ssm.commandCalls(SendCommandCommand)[0].args[0].input.Parameters!;
  expect(sent).toMatchObject({ QuickstartDir: ['/opt/aem/author/crx-quickstart'], AemUser: ['aemauthor'], AemPort: ['4503'], Mode: ['verify'] });
});

test('no association on those targets: refuses to guess, sends nothing', async () => {
  const r = await run(['rollout', '--secret', ARN, '--targets', 'tag:aem-role=publish']);
  expect(r.code).toBe(1);
  expect(r.stderr).toMatch(/^aem-keys: rollout: no association of AemKeys-Installer targets tag:aem-role=publish, .*QuickstartDir \(required\)/);
  expect(ssm.commandCalls(SendCommandCommand)).toHaveLength(0);
});

test('no association on those targets: --param QuickstartDir states the options, and only those are sent', async () => {
  await run(['rollout', '--secret', ARN, '--targets', 'tag:aem-role=publish', '--param', 'QuickstartDir=/opt/aem/publish/crx-quickstart']);
  expect(ssm.commandCalls(SendCommandCommand)[0].args[0].input.Parameters).toEqual({
    QuickstartDir: ['/opt/aem/publish/crx-quickstart'], SecretId: [ARN], Mode: ['install'],
  });
});

test('--param names and values are checked with the rule table synth uses, before any call', async () => {
  const bad = [
    [['--param', 'QuickstartDir=/opt/aem/../etc'], /--param QuickstartDir: must be an absolute path .* got "\/opt\/aem\/..\/etc"/],
    [['--param', 'Restart=always'], /--param Restart: must be one of none, service, bundles, got "always"/],
    [['--param', 'AemPort=70000'], /--param AemPort: must be an integer from 1 to 65535/],
    [['--param', 'QuickStartDir=/opt/aem'], /--param QuickStartDir is not an installer parameter \(QuickstartDir, AemUser/],
  ] as const;
  for (const [args, message] of bad) {
    const r = await run(['rollout', '--secret', ARN, '--targets', 'tag:aem-role=author', ...args]);
    expect([r.code, r.stderr]).toEqual([2, expect.stringMatching(message)]);
  }
  expect(ssm.calls()).toHaveLength(0);
});
