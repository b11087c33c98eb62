import { execFileSync } from 'child_process';
import * as fs from 'fs';
import * as path from 'path';
import { App } from 'aws-cdk-lib';
import { ExampleAemStack } from '../bin/example-stack';
import { acknowledgements, nagFindings } from './support/nag';
import { exampleContext, stableTemplate, synthExample } from './support/synth';
import { describeWithTools } from './support/tools';

describe('two copies of the example in one account and region (cdk.json: the feature flags of a new cdk init app)', () => {
  test('the example\'s cdk.json sets the flags that give launch templates no fixed name', () => {
    expect(exampleContext()).toMatchObject({ '@aws-cdk/aws-ec2:uniqueImdsv2TemplateName': true });
  });

  test('no literal physical name is shared (e.g. the AuthorLaunchTemplate of requireImdsv2)', () => {
    // Two copies as bin/example-app.ts makes them (cdk deploy -c exampleStackName=...), stack names sharing 32 characters.
    // Not physical names: an inline IAM policy's name (per role), a topic's display name, an alarm's metric.
    const notPhysical = /^(AWS::IAM::Policy PolicyName|\S+ (DisplayName|MetricName))=/;
    const names = (stackName: string) => {
      const app = new App({ context: exampleContext() });
      const stack = new ExampleAemStack(app, stackName, { stackName });
      const found = new Set<string>();
      for (const r of Object.values<any>(app.synth().getStackByName(stack.stackName).template.Resources)) {
        for (const [key, value] of Object.entries<any>(r.Properties ?? {})) {
          const name = `${r.Type} ${key}=${value}`;
          if (/Name$/.test(key) && typeof value === 'string' && !notPhysical.test(name.replace(/=.*/, '='))) found.add(name);
        }
      }
      return found;
    };
    const dev = names('acme-aem65-publish-platform-nonprod-dev');
    const test_ = names('acme-aem65-publish-platform-nonprod-test');
    expect(dev.size).toBeGreaterThan(0);
    expect([...dev].filter((n) => test_.has(n))).toEqual([]);
  });
});

describe('example stack', () => {
  const { template } = synthExample();
  const resources = template.Resources as Record<string, any>;
  const ofType = (type: string) => Object.entries(resources).filter(([, r]) => r.Type === type);

  test('environment-agnostic: no account, region or context look-ups in the template', () => {
    const text = JSON.stringify(template);
    expect(text).not.toMatch(/\b\d{12}\b/);
    expect(text).not.toMatch(/(us|eu|ap|sa|ca|me|af)-(east|west|north|south|central|northeast|southeast)-\d/);
  });

  test('the key set: one retained secret', () => {
    const secrets = ofType('AWS::SecretsManager::Secret');
    expect(secrets).toHaveLength(1);
    expect(secrets[0][1].DeletionPolicy).toBe('RetainExceptOnCreate');
    expect(secrets[0][1].UpdateReplacePolicy).toBe('Retain');
  });

  test('the KMS keys: the secret\'s, the log group\'s and the alarm topic\'s', () => {
    expect(ofType('AWS::KMS::Key').map(([id]) => id)).toEqual([
      expect.stringMatching(/^CryptoKeysKey/), expect.stringMatching(/^CryptoKeysLogsKey/), expect.stringMatching(/^CryptoKeysMonitoringTopicKey/),
    ]);
  });

  test('the author and publish roles may read the secret', () => {
    const [secretId] = ofType('AWS::SecretsManager::Secret')[0];
    const readers = ofType('AWS::IAM::Policy')
      .filter(([, p]) => p.Properties.PolicyDocument.Statement.some((s: any) =>
        [].concat(s.Action).includes('secretsmanager:GetSecretValue' as never) && s.Resource?.Ref === secretId))
      .flatMap(([, p]) => p.Properties.Roles.map((r: any) => r.Ref));
    expect(readers).toEqual(expect.arrayContaining([expect.stringMatching(/^AuthorInstanceRole/), expect.stringMatching(/^PublishRole/)]));
  });

  test('the author: IMDSv2 in its own metadata options (no launch template with a name)', () => {
    const [[, author]] = ofType('AWS::EC2::Instance');
    expect(author.Properties.MetadataOptions).toMatchObject({ HttpTokens: 'required' });
    expect(author.Properties.LaunchTemplate).toBeUndefined();
  });

  test('the author: its only volume encrypted', () => {
    const [[, author]] = ofType('AWS::EC2::Instance');
    expect(author.Properties.Volumes).toBeUndefined();
    expect(author.Properties.BlockDeviceMappings).toEqual([expect.objectContaining({ Ebs: expect.objectContaining({ Encrypted: true }) })]);
  });

  const keySetLogGroup = () => ofType('AWS::Logs::LogGroup').filter(([id]) => id.startsWith('CryptoKeysLogs'))[0];

  test('operable: the key set\'s log group, kept a year, encrypted, named in an output', () => {
    const [groupId, group] = keySetLogGroup();
    expect(group.Properties.RetentionInDays).toBe(365);
    expect(group.Properties.KmsKeyId).toBeDefined();
    expect(template.Outputs.KeySetLogGroup.Value).toEqual({ Ref: groupId });
  });

  test('operable: the alarm topic, named in an output', () => {
    const [[topicId]] = ofType('AWS::SNS::Topic');
    expect(template.Outputs.AlarmTopicArn.Value).toEqual({ Ref: topicId });
  });

  test('operable: the monitoring\'s alarms and the launch-loop alarm, all to the topic', () => {
    const [[topicId]] = ofType('AWS::SNS::Topic');
    const alarms = ofType('AWS::CloudWatch::Alarm');
    // The account's Automation usage alarms are Metrics Insights queries, labelled with the metric.
    const usage = (a: any) => a.Properties.Metrics?.find((m: any) => /"AWS\/Usage"/.test(m.Expression ?? ''))?.Label;
    expect(alarms.map(([, a]) => a.Properties.MetricName ?? usage(a) ?? 'launch loop').sort()).toEqual([
      'ApproximateNumberOfMessagesVisible', 'AssociationRunsFailed', 'ConcurrentAutomationUsage', 'LaunchesAbandoned', 'QueuedAutomationUsage', 'launch loop',
    ]);
    for (const [, a] of alarms) expect(a.Properties.AlarmActions).toEqual([{ Ref: topicId }]);
  });

  test('operable: one dead-letter queue, which every rule target has', () => {
    expect(ofType('AWS::SQS::Queue')).toHaveLength(1);
    for (const [, rule] of ofType('AWS::Events::Rule')) {
      for (const target of rule.Properties.Targets) expect(target.DeadLetterConfig).toBeDefined();
    }
  });

  test('operable: launch-loop protection', () => {
    expect(ofType('AWS::SSM::Document').filter(([id]) => id.includes('LaunchLoopProtection'))).toHaveLength(1);
  });

  test('operable: the author and the publish roles may stream Run Command output into the key set\'s log group', () => {
    const [groupId] = keySetLogGroup();
    const writers = ofType('AWS::IAM::Policy')
      .filter(([, p]) => p.Properties.PolicyDocument.Statement.some((st: any) =>
        [].concat(st.Action).includes('logs:PutLogEvents' as never) && JSON.stringify(st.Resource) === JSON.stringify({ 'Fn::GetAtt': [groupId, 'Arn'] })))
      .flatMap(([, p]) => p.Properties.Roles.map((r: any) => r.Ref));
    expect(writers).toEqual(expect.arrayContaining([expect.stringMatching(/^AuthorInstanceRole/), expect.stringMatching(/^PublishRole/)]));
  });

  test('snapshot (asset hashes normalized)', () => {
    expect(stableTemplate(template)).toMatchSnapshot();
  });
});

describe('cdk-nag AwsSolutionsChecks on the example stack', () => {
  const { app } = synthExample();

  test('no unacknowledged error or warning; every acknowledgement gives a specific reason', () => {
    expect(nagFindings(app)).toEqual([]);
    const reasons = acknowledgements(app, true);
    expect(reasons.length).toBeGreaterThan(5);
    for (const reason of reasons) {
      expect(reason.length).toBeGreaterThan(40);
    }
  });

  test('each acknowledgement hides a finding cdk-nag makes without it (ids as cdk-nag matches them, none stale)', () => {
    const hidden = new Set(nagFindings(app, true).map((f) => f.split(' at ')[0]));
    expect(hidden.size).toBeGreaterThan(5);
    expect(acknowledgements(app).filter((id) => !hidden.has(id))).toEqual([]);
  });
});

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
