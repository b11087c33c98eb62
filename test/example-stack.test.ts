import { execFileSync } from 'child_process';
import * as fs from 'fs';
import * as os from 'os';
import * as path from 'path';
import { App, CfnResource, Stack, Validations } from 'aws-cdk-lib';
import { AwsSolutionsChecks } from 'cdk-nag';
import { DATA_BLOCK_MARKER } from '../lib/private/shell-script-document';
import { stableTemplate, synthExample } from './support/synth';
import { describeWithTools } from './support/tools';

describe('example stack', () => {
  const { template } = synthExample();
  const resources = template.Resources as Record<string, any>;
  const ofType = (type: string) => Object.entries(resources).filter(([, r]) => r.Type === type);

  test('environment-agnostic: no account, region or context look-ups in the template', () => {
    const text = JSON.stringify(template);
    expect(text).not.toMatch(/\b\d{12}\b/);
    expect(text).not.toMatch(/(us|eu|ap|sa|ca|me|af)-(east|west|north|south|central|northeast|southeast)-\d/);
  });

  test('the key set: a retained secret, its KMS key, and read grants to the author and publish roles', () => {
    const secrets = ofType('AWS::SecretsManager::Secret');
    expect(secrets).toHaveLength(1);
    expect(secrets[0][1].DeletionPolicy).toBe('Retain');
    // The secret's key, the log group's key and the alarm topic's key.
    expect(ofType('AWS::KMS::Key').map(([id]) => id)).toEqual([
      expect.stringMatching(/^CryptoKeysKey/), expect.stringMatching(/^CryptoKeysLogsKey/), expect.stringMatching(/^CryptoKeysMonitoringTopicKey/),
    ]);
    const [secretId] = secrets[0];
    const readers = ofType('AWS::IAM::Policy')
      .filter(([, p]) => p.Properties.PolicyDocument.Statement.some((s: any) =>
        [].concat(s.Action).includes('secretsmanager:GetSecretValue' as never) && s.Resource?.Ref === secretId))
      .flatMap(([, p]) => p.Properties.Roles.map((r: any) => r.Ref));
    expect(readers).toEqual(expect.arrayContaining([expect.stringMatching(/^AuthorInstanceRole/), expect.stringMatching(/^PublishRole/)]));
  });

  test('operable: a log group kept a year, alarms to the encrypted topic, a dead-letter queue, launch-loop protection', () => {
    const [[groupId, group]] = ofType('AWS::Logs::LogGroup').filter(([id]) => id.startsWith('CryptoKeysLogs'));
    expect(group.Properties.RetentionInDays).toBe(365);
    expect(group.Properties.KmsKeyId).toBeDefined();
    expect(template.Outputs.KeySetLogGroup.Value).toEqual({ Ref: groupId });
    const [[topicId]] = ofType('AWS::SNS::Topic');
    expect(template.Outputs.AlarmTopicArn.Value).toEqual({ Ref: topicId });
    const alarms = ofType('AWS::CloudWatch::Alarm');
    expect(alarms.map(([, a]) => a.Properties.MetricName ?? 'launch loop').sort())
      .toEqual(['ApproximateNumberOfMessagesVisible', 'AssociationRunsFailed', 'LaunchesAbandoned', 'launch loop']);
    for (const [, a] of alarms) expect(a.Properties.AlarmActions).toEqual([{ Ref: topicId }]);
    expect(ofType('AWS::SQS::Queue')).toHaveLength(1);
    expect(ofType('AWS::SSM::Document').filter(([id]) => id.includes('LaunchLoopProtection'))).toHaveLength(1);
    // The author and the publish roles may stream Run Command output into that log group only.
    const writers = ofType('AWS::IAM::Policy')
      .filter(([, p]) => p.Properties.PolicyDocument.Statement.some((st: any) =>
        [].concat(st.Action).includes('logs:PutLogEvents' as never) && JSON.stringify(st.Resource) === JSON.stringify({ 'Fn::GetAtt': [groupId, 'Arn'] })))
      .flatMap(([, p]) => p.Properties.Roles.map((r: any) => r.Ref));
    expect(writers).toEqual(expect.arrayContaining([expect.stringMatching(/^AuthorInstanceRole/), expect.stringMatching(/^PublishRole/)]));
    for (const [, rule] of ofType('AWS::Events::Rule')) {
      for (const target of rule.Properties.Targets) expect(target.DeadLetterConfig).toBeDefined();
    }
  });

  test('snapshot (asset hashes normalized)', () => {
    expect(stableTemplate(template)).toMatchSnapshot();
  });
});

describe('stable snapshot keys', () => {
  test('only asset hashes are normalized', () => {
    const hash = 'a'.repeat(64);
    expect(stableTemplate({ S3Key: `${hash}.zip`, Other: 'b'.repeat(63), Name: 'AemCryptoKeys' }))
      .toEqual({ S3Key: 'ASSET_HASH.zip', Other: 'b'.repeat(63), Name: 'AemCryptoKeys' });
  });

  test('an embedded script body becomes one line; its data block (the parameters) stays', () => {
    const runCommand = ['#!/bin/bash', '# install-keys.sh: puts the keys', 'echo body', 'exit $?', DATA_BLOCK_MARKER, '#@={{ A }}', '#@end'];
    expect(stableTemplate({ inputs: { runCommand } })).toEqual({
      inputs: { runCommand: ['EMBEDDED_SCRIPT install-keys.sh', DATA_BLOCK_MARKER, '#@={{ A }}', '#@end'] },
    });
    expect(stableTemplate({ runCommand: ['echo', 'other'] })).toEqual({ runCommand: ['echo', 'other'] });
  });
});

describe('aws-cdk-lib\'s built-in CloudFormation validation (switched off elsewhere in the suite, see test/support/jest-setup.js)', () => {
  /** Synthesizes with the validation on, as a consumer's synth runs it; returns its violations. */
  function violations(synth: () => string): string[] {
    const saved = process.env.CDK_VALIDATION;
    delete process.env.CDK_VALIDATION;
    try {
      const report = JSON.parse(fs.readFileSync(path.join(synth(), 'validation-report.json'), 'utf8'));
      return report.pluginReports.filter((r: any) => r.pluginName === 'CloudFormation Validate')
        .flatMap((r: any) => r.violations.map((v: any) => `${v.ruleName} ${v.severity}: ${v.description}`));
    } finally {
      process.env.CDK_VALIDATION = saved;
    }
  }

  test('reports nothing for the example stack', () => {
    expect(violations(() => synthExample().outdir)).toEqual([]);
  });

  test('reports a malformed resource (the check can fail)', () => {
    const printed = jest.spyOn(console, 'error').mockImplementation(() => undefined);
    const found = violations(() => {
      const app = new App({ outdir: fs.mkdtempSync(path.join(os.tmpdir(), 'aem-keys-cdk-out-')) });
      new CfnResource(new Stack(app, 'Bad'), 'Queue', { type: 'AWS::SQS::Queue', properties: { VisibilityTimeout: 'not-a-number' } });
      return app.synth().directory;
    });
    expect(found).toEqual([expect.stringMatching(/^F3012 warning: VisibilityTimeout: 'not-a-number' is not of type 'integer'/)]);
    expect(printed.mock.calls.join('\n')).toContain('VisibilityTimeout: \'not-a-number\' is not of type \'integer\'');
    printed.mockRestore();
  });
});

describe('cdk-nag AwsSolutionsChecks on the example stack', () => {
  test('no unacknowledged error or warning; every acknowledgement gives a specific reason', () => {
    let failure: unknown;
    let outdir = '';
    try {
      outdir = synthExample({}, (app) => Validations.of(app).addPlugins(new AwsSolutionsChecks(app))).outdir;
    } catch (e) {
      failure = e;
    }
    if (failure) {
      throw new Error(`cdk-nag found unacknowledged rules:\n${String(failure)}`);
    }
    const acknowledgements = JSON.stringify(collectAcknowledgements(outdir));
    for (const reason of JSON.parse(acknowledgements) as string[]) {
      expect(reason.length).toBeGreaterThan(40);
    }
  });
});

function collectAcknowledgements(outdir: string): string[] {
  const report = path.join(outdir, 'validation-report.json');
  if (!fs.existsSync(report)) return [];
  const text = fs.readFileSync(report, 'utf8');
  return [...text.matchAll(/"reason"\s*:\s*"([^"]*)"/g)].map((m) => m[1]);
}

describeWithTools(['cfn-lint'], 'cfn-lint over every synthesized template', () => {
  test('zero errors', () => {
    const { outdir } = synthExample();
    const templates = fs.readdirSync(outdir).filter((f) => f.endsWith('.template.json')).map((f) => path.join(outdir, f));
    expect(templates.length).toBeGreaterThan(0);
    let output: string;
    try {
      output = execFileSync('cfn-lint', ['--format', 'parseable', ...templates], { encoding: 'utf8' });
    } catch (e: any) {
      output = `${e.stdout ?? ''}${e.stderr ?? ''}`;
    }
    const errors = output.split('\n').filter((l) => /:E\d{4}:/.test(l));
    expect(errors).toEqual([]);
  });
});
