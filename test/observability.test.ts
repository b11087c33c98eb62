/**
 * Template assertions for what makes the fleet observable: the key set's log group, metric
 * filters, dead-letter queue and retries, association failure events, the monitoring construct's
 * alarms and topic, and the opt-in launch-loop protection (least privilege throughout).
 */
import { App, Duration, Stack } from 'aws-cdk-lib';
import { Match, Template } from 'aws-cdk-lib/assertions';
import * as autoscaling from 'aws-cdk-lib/aws-autoscaling';
import * as ec2 from 'aws-cdk-lib/aws-ec2';
import * as iam from 'aws-cdk-lib/aws-iam';
import * as kms from 'aws-cdk-lib/aws-kms';
import * as logs from 'aws-cdk-lib/aws-logs';
import * as sns from 'aws-cdk-lib/aws-sns';
import { AbandonReason, AemCryptoKeys, AemCryptoKeysMonitoring, AemCryptoKeysMonitoringProps, AemCryptoKeysProps } from '../lib';
import { LOOP_ALARM_GROUP_SELECTOR } from '../lib/launch-loop-protection';

const NS = 'AemCryptoKeys/ObsStack/Keys';

type MonitoringOption = Partial<AemCryptoKeysMonitoringProps> | ((stack: Stack) => Partial<AemCryptoKeysMonitoringProps>) | false;

function build(
  opts: {
    groups?: number;
    tagged?: boolean;
    monitoring?: MonitoringOption;
    keys?: AemCryptoKeysProps;
    before?: (stack: Stack, keys: AemCryptoKeys) => void;
    after?: (stack: Stack, keys: AemCryptoKeys) => void;
  } = {},
) {
  const app = new App({ context: { 'aws:cdk:enable-path-metadata': true } });
  const stack = new Stack(app, 'ObsStack');
  const vpc = new ec2.Vpc(stack, 'Vpc', {
    maxAzs: 1,
    natGateways: 0,
    subnetConfiguration: [{ name: 'app', subnetType: ec2.SubnetType.PRIVATE_ISOLATED }],
  });
  const keys = new AemCryptoKeys(stack, 'Keys', opts.keys);
  const groups: autoscaling.AutoScalingGroup[] = [];
  for (let i = 1; i <= (opts.groups ?? 1); i++) {
    const asg = new autoscaling.AutoScalingGroup(stack, `Publish${i}`, {
      vpc,
      launchTemplate: new ec2.LaunchTemplate(stack, `Publish${i}Template`, {
        instanceType: new ec2.InstanceType('m6i.large'),
        machineImage: ec2.MachineImage.genericLinux({ 'us-east-1': 'ami-12345678' }),
        role: new iam.Role(stack, `Publish${i}Role`, { assumedBy: new iam.ServicePrincipal('ec2.amazonaws.com') }),
      }),
    });
    groups.push(asg);
    keys.addAutoScalingGroup(asg);
  }
  const association = opts.tagged === false ? undefined : keys.addInstancesByTag('aem-role', 'author');
  opts.before?.(stack, keys);
  const monitoringProps = typeof opts.monitoring === 'function' ? opts.monitoring(stack) : opts.monitoring;
  const monitoring = opts.monitoring === false ? undefined : new AemCryptoKeysMonitoring(stack, 'Monitoring', { keys, ...monitoringProps });
  opts.after?.(stack, keys);
  const template = Template.fromStack(stack);
  return { stack, keys, groups, association, monitoring, template, json: template.toJSON() as any };
}

const byPath = (json: any, type: string, pathPart: string): Array<[string, any]> => Object.entries(json.Resources as Record<string, any>)
  .filter(([, r]) => r.Type === type && (r.Metadata?.['aws:cdk:path'] ?? '').includes(pathPart));
const one = (json: any, type: string, pathPart: string): [string, any] => {
  const hits = byPath(json, type, pathPart);
  expect(hits).toHaveLength(1);
  return hits[0];
};
const arn = (service: string, resource: string) => ({
  'Fn::Join': ['', ['arn:', { Ref: 'AWS::Partition' }, `:${service}:`, { Ref: 'AWS::Region' }, ':', { Ref: 'AWS::AccountId' }, resource]],
});

describe('the key set\'s log group', () => {
  let json: any;
  beforeAll(() => {
    ({ json } = build({ tagged: false, monitoring: false }));
  });

  test('one per key set', () => {
    expect(byPath(json, 'AWS::Logs::LogGroup', '/Keys/')).toHaveLength(1); // and the generator's own (test/aem-crypto-keys.test.ts)
  });

  test('kept a year, encrypted with its own key, retained', () => {
    const [keyId] = one(json, 'AWS::KMS::Key', 'Keys/Logs/Key');
    const [, group] = one(json, 'AWS::Logs::LogGroup', 'Keys/Logs/LogGroup');
    expect(group.Properties).toEqual({ RetentionInDays: 365, KmsKeyId: { 'Fn::GetAtt': [keyId, 'Arn'] } });
    expect(group.DeletionPolicy).toBe('RetainExceptOnCreate');
    expect(group.UpdateReplacePolicy).toBe('Retain');
  });

  test('its key rotates, and only CloudWatch Logs of this account may use it', () => {
    const [, key] = one(json, 'AWS::KMS::Key', 'Keys/Logs/Key');
    expect(key.Properties.EnableKeyRotation).toBe(true);
    const logsStatement = key.Properties.KeyPolicy.Statement.find((s: any) => s.Sid === 'CloudWatchLogsOfThisAccount');
    expect(logsStatement.Principal).toEqual({ Service: { 'Fn::Join': ['', ['logs.', { Ref: 'AWS::Region' }, '.amazonaws.com']] } });
    expect(logsStatement.Condition).toEqual({ ArnLike: { 'kms:EncryptionContext:aws:logs:arn': arn('logs', ':log-group:*') } });
  });

  test('retention and key are props', () => {
    const app = new App();
    const stack = new Stack(app, 'S');
    const key = new kms.Key(stack, 'MyKey');
    new AemCryptoKeys(stack, 'Keys', { logRetention: logs.RetentionDays.TEN_YEARS, logEncryptionKey: key });
    const t = Template.fromStack(stack);
    t.hasResourceProperties('AWS::Logs::LogGroup', { RetentionInDays: 3653, KmsKeyId: { 'Fn::GetAtt': [Match.stringLikeRegexp('^MyKey'), 'Arn'] } });
    expect(Object.keys(t.findResources('AWS::KMS::Key'))).toHaveLength(2); // the secret's and the one passed
  });

  test('metric filters: installer runs that changed something, and installer errors, in the key set\'s namespace', () => {
    const [groupId] = one(json, 'AWS::Logs::LogGroup', 'Keys/Logs/LogGroup');
    const filters = byPath(json, 'AWS::Logs::MetricFilter', 'Keys/Logs/').map(([, f]) => f.Properties);
    expect(filters).toEqual([
      { LogGroupName: { Ref: groupId }, FilterPattern: '"result: changed"', MetricTransformations: [{ MetricNamespace: NS, MetricName: 'InstallerRunsChanged', MetricValue: '1' }] },
      { LogGroupName: { Ref: groupId }, FilterPattern: '"aem-crypto-keys: error:"', MetricTransformations: [{ MetricNamespace: NS, MetricName: 'InstallerErrors', MetricValue: '1' }] },
    ]);
  });
});

describe('dead letters and retries', () => {
  // Two gated groups, tag associations, launch-loop protection: every kind of rule.
  let json: any;
  beforeAll(() => {
    ({ json } = build({ groups: 2, monitoring: { launchLoopProtection: {} } }));
  });

  test('one encrypted queue per key set, 14 days', () => {
    const [, queue] = one(json, 'AWS::SQS::Queue', 'Keys/DeadLetters/Queue');
    expect(queue.Properties).toEqual({ SqsManagedSseEnabled: true, MessageRetentionPeriod: 14 * 24 * 3600 });
  });

  test('every rule target has the queue and bounded retries', () => {
    const [queueId] = one(json, 'AWS::SQS::Queue', 'Keys/DeadLetters/Queue');
    const rules = byPath(json, 'AWS::Events::Rule', '');
    expect(rules).toHaveLength(2 + 1 + 1); // two gated groups, the association failures, the loop rule
    for (const [, rule] of rules) {
      for (const target of rule.Properties.Targets) {
        expect([target.DeadLetterConfig, target.RetryPolicy]).toEqual([
          { Arn: { 'Fn::GetAtt': [queueId, 'Arn'] } },
          { MaximumRetryAttempts: 8, MaximumEventAgeInSeconds: 600 },
        ]);
      }
    }
  });

  test('the queue policy lets EventBridge send only from the key set\'s own rules (their name prefix), and denies plain HTTP', () => {
    const [queueId] = one(json, 'AWS::SQS::Queue', 'Keys/DeadLetters/Queue');
    const [, policy] = one(json, 'AWS::SQS::QueuePolicy', 'Keys/DeadLetters/');
    const statements = policy.Properties.PolicyDocument.Statement;
    const allow = statements.filter((s: any) => s.Effect === 'Allow');
    expect(allow).toEqual([{
      Sid: 'OwnRulesOnly', Effect: 'Allow', Action: 'sqs:SendMessage',
      Principal: { Service: 'events.amazonaws.com' },
      Resource: { 'Fn::GetAtt': [queueId, 'Arn'] },
      Condition: {
        ArnLike: { 'aws:SourceArn': arn('events', expect.stringMatching(/^:rule\/aemkeys-[0-9a-f]{12}-\*$/)) },
        StringEquals: { 'aws:SourceAccount': { Ref: 'AWS::AccountId' } },
      },
    }]);
    const prefix = /rule\/(aemkeys-[0-9a-f]{12})-\*/.exec(JSON.stringify(allow))![1];
    // Every rule that dead-letters here carries that prefix, and a distinct name.
    const names = byPath(json, 'AWS::Events::Rule', '').map(([, r]) => r.Properties.Name);
    expect(names).toHaveLength(4);
    for (const name of names) expect(name).toMatch(new RegExp(`^${prefix}-[0-9a-f]{12}$`));
    expect(new Set(names).size).toBe(4);
    expect(statements.filter((s: any) => s.Effect === 'Deny')).toEqual([expect.objectContaining({ Condition: { Bool: { 'aws:SecureTransport': 'false' } } })]);
  });

  test('two key sets in one stack: two queues with different rule-name prefixes', () => {
    const { json } = build({ groups: 1, before: (stack) => {
      const other = new AemCryptoKeys(stack, 'Other');
      other.addInstancesByTag('aem-role', 'other');
    } });
    const prefixes = byPath(json, 'AWS::SQS::QueuePolicy', '').map(([, p]) => /rule\/(aemkeys-[0-9a-f]{12})-\*/.exec(JSON.stringify(p))![1]);
    expect(prefixes).toHaveLength(2);
    expect(prefixes[0]).not.toEqual(prefixes[1]);
  });
});

describe('failed association runs', () => {
  // Two tag associations.
  let t: any;
  beforeAll(() => {
    ({ json: t } = build({ monitoring: false, before: (_stack, keys) => keys.addInstancesByTag('aem-role', 'preview') }));
  });

  test('a rule matches the failed and timed-out instance runs of the key set\'s associations', () => {
    const associations = byPath(t, 'AWS::SSM::Association', '').map(([id]) => id);
    expect(associations).toHaveLength(2);
    const [, rule] = one(t, 'AWS::Events::Rule', 'Keys/AssociationResults/Rule');
    expect(rule.Properties.EventPattern).toEqual({
      'source': ['aws.ssm'],
      'detail-type': ['EC2 State Manager Instance Association State Change'],
      'detail': { 'association-id': associations.map((id) => ({ 'Fn::GetAtt': [id, 'AssociationId'] })), 'status': ['Failed', 'TimedOut'] },
    });
  });

  test('the rule writes into the key set\'s log group, under a resource policy for that rule and group only', () => {
    const [ruleId, rule] = one(t, 'AWS::Events::Rule', 'Keys/AssociationResults/Rule');
    const [groupId] = one(t, 'AWS::Logs::LogGroup', 'Keys/Logs/LogGroup');
    expect(rule.Properties.Targets[0].Arn).toEqual({ 'Fn::Join': ['', ['arn:', { Ref: 'AWS::Partition' }, ':logs:', { Ref: 'AWS::Region' }, ':', { Ref: 'AWS::AccountId' }, ':log-group:', { Ref: groupId }]] });
    const [, policy] = one(t, 'AWS::Logs::ResourcePolicy', 'AemCryptoKeysEventLogsPolicy');
    const doc = JSON.stringify(policy.Properties.PolicyDocument);
    expect(doc).toContain('logs:CreateLogStream');
    expect(doc).toContain('logs:PutLogEvents');
    expect(doc).toContain(ruleId); // aws:SourceArn: this rule only
    expect(doc).toContain(groupId); // this log group only
    expect(doc).not.toContain('"Resource":"*"');
  });

  test('a metric filter counts the failed runs', () => {
    const [, filter] = one(t, 'AWS::Logs::MetricFilter', 'Keys/AssociationResults/Failures');
    expect(filter.Properties.MetricTransformations).toEqual([{ MetricNamespace: NS, MetricName: 'AssociationRunsFailed', MetricValue: '1' }]);
  });

  test('a metric filter counts the runs that changed something, from the closing line the installer sends', () => {
    // test/association-logs.test.ts runs the installer into such a group.
    const [groupId] = one(t, 'AWS::Logs::LogGroup', 'Keys/Logs/LogGroup');
    const [, changes] = one(t, 'AWS::Logs::MetricFilter', 'Keys/AssociationResults/Changes');
    expect(changes.Properties).toEqual({
      LogGroupName: { Ref: groupId },
      FilterPattern: '"association run: changed"',
      MetricTransformations: [{ MetricNamespace: NS, MetricName: 'AssociationRunsChanged', MetricValue: '1' }],
    });
  });

  test('needs no function of its own (the key generator is the only one)', () => {
    expect(byPath(t, 'AWS::Lambda::Function', '')).toHaveLength(1);
  });
});

describe('the CloudWatch Logs resource policy EventBridge writes under', () => {
  // The policy document as CloudFormation would see it, with the stack's tokens as readable placeholders.
  const statementsOf = (stack: Stack) => {
    const [policy] = Object.values(Template.fromStack(stack).findResources('AWS::Logs::ResourcePolicy')) as any[];
    const joined = policy.Properties.PolicyDocument['Fn::Join'][1]
      .map((part: any) => (typeof part === 'string' ? part : `<${part.Ref ?? part['Fn::GetAtt']?.join('.')}>`)).join('');
    return { name: policy.Properties.PolicyName, statements: JSON.parse(joined).Statement as any[] };
  };

  test('AWS\'s documented form: CreateLogStream on the log groups with no aws:SourceArn condition; '
    + 'PutLogEvents only from each key set\'s own rule', () => {
    const { stack, json } = build({ monitoring: false, before: (s) => new AemCryptoKeys(s, 'Other').addInstancesByTag('aem-role', 'other') });
    const { statements } = statementsOf(stack);
    const [create, ...puts] = statements;
    expect(create).toEqual({
      Sid: 'EventsCreateStreams', Effect: 'Allow', Principal: { Service: ['events.amazonaws.com', 'delivery.logs.amazonaws.com'] },
      Action: 'logs:CreateLogStream',
      Resource: [expect.stringMatching(/^<KeysLogsLogGroup\w+\.Arn>$/), expect.stringMatching(/^<OtherLogsLogGroup\w+\.Arn>$/)],
    });
    const [keysRule] = one(json, 'AWS::Events::Rule', 'Keys/AssociationResults/Rule');
    const [otherRule] = one(json, 'AWS::Events::Rule', 'Other/AssociationResults/Rule');
    expect(puts.map((s) => [s.Action, s.Resource, s.Condition])).toEqual([
      ['logs:PutLogEvents', create.Resource[0], { ArnEquals: { 'aws:SourceArn': `<${keysRule}.Arn>` } }],
      ['logs:PutLogEvents', create.Resource[1], { ArnEquals: { 'aws:SourceArn': `<${otherRule}.Arn>` } }],
    ]);
  });

  test('one policy per stack, whatever its key sets (CloudWatch Logs allows 10 per account and region)', () => {
    const { stack } = build({ monitoring: false, before: (s) => {
      for (const id of ['Second', 'Third']) new AemCryptoKeys(s, id).addInstancesByTag('aem-role', id);
    } });
    Template.fromStack(stack).resourceCountIs('AWS::Logs::ResourcePolicy', 1);
    expect(statementsOf(stack).statements).toHaveLength(4);
  });

  test('the policy is named uniquely per stack', () => {
    const named = (stackName: string) => {
      const s = new Stack(new App(), 'Aem', { stackName });
      new AemCryptoKeys(s, 'Keys').addInstancesByTag('aem-role', 'author');
      return statementsOf(s).name;
    };
    const dev = named('acme-aem65-publish-platform-nonprod-dev');
    expect(dev).toMatch(/^AemCryptoKeysEvents-acme-aem65-publish-platform-nonprod-dev-[0-9a-f]{8}$/);
    expect(dev).not.toEqual(named('acme-aem65-publish-platform-nonprod-test'));
  });

  test('more key sets than one policy document holds: synthesis fails with one clear message', () => {
    const app = new App();
    const stack = new Stack(app, 'Big');
    for (let i = 0; i < 12; i++) new AemCryptoKeys(stack, `Keys${i}`).addInstancesByTag('aem-role', `r${i}`);
    expect(() => app.synth())
      .toThrow(/CloudWatch Logs resource policy for EventBridge would be about \d+ characters \(CloudWatch Logs allows 5120\): 12 key sets/);
  });
});

describe('AemCryptoKeysMonitoring', () => {
  describe('with its defaults, over three gated groups', () => {
    let json: any;
    let monitoring: AemCryptoKeysMonitoring | undefined;
    const alarms = () => byPath(json, 'AWS::CloudWatch::Alarm', '');
    const alarm = (metric: string) => alarms()
      .find(([, a]) => (a.Properties.MetricName ?? a.Properties.Metrics?.[0].Label) === metric)![1].Properties;
    beforeAll(() => {
      ({ json, monitoring } = build({ groups: 3 }));
    });

    test('an encrypted topic, its key rotating and usable by CloudWatch', () => {
      const [, topic] = one(json, 'AWS::SNS::Topic', 'Monitoring/Topic');
      const [topicKeyId, topicKey] = one(json, 'AWS::KMS::Key', 'Monitoring/TopicKey');
      expect(topic.Properties.KmsMasterKeyId).toEqual({ 'Fn::GetAtt': [topicKeyId, 'Arn'] });
      expect(topicKey.Properties.EnableKeyRotation).toBe(true);
      expect(topicKey.Properties.KeyPolicy.Statement).toEqual(expect.arrayContaining([
        expect.objectContaining({ Principal: { Service: 'cloudwatch.amazonaws.com' }, Action: ['kms:Decrypt', 'kms:GenerateDataKey*'] }),
      ]));
    });

    test('five alarms whatever the groups, each notifying the topic on ALARM and OK, at or above its threshold in one period', () => {
      const [topicId] = one(json, 'AWS::SNS::Topic', 'Monitoring/Topic');
      expect(alarms()).toHaveLength(5);
      for (const [, a] of alarms()) {
        expect(a.Properties.AlarmActions).toEqual([{ Ref: topicId }]);
        expect(a.Properties.OKActions).toEqual([{ Ref: topicId }]);
        expect(a.Properties.TreatMissingData).toBe('notBreaching');
        expect(a.Properties.ComparisonOperator).toBe('GreaterThanOrEqualToThreshold');
        expect(a.Properties.EvaluationPeriods).toBe(1);
      }
    });

    test('abandoned launches: the key-set total (the series the Automation publishes without dimensions)', () => {
      expect(alarm('LaunchesAbandoned')).toMatchObject({ Namespace: NS, Statistic: 'Sum', Period: 300, Threshold: 1 });
      expect(alarm('LaunchesAbandoned').Dimensions).toBeUndefined();
      expect(monitoring!.abandonedLaunchesAlarm).toBeDefined();
    });

    test('failed association runs, over an hour', () => {
      expect(alarm('AssociationRunsFailed')).toMatchObject({ Namespace: NS, Statistic: 'Sum', Period: 3600, Threshold: 1 });
    });

    test('dead letters: any message visible in the key set\'s queue', () => {
      const [queueId] = one(json, 'AWS::SQS::Queue', 'Keys/DeadLetters/Queue');
      expect(alarm('ApproximateNumberOfMessagesVisible')).toMatchObject({
        Namespace: 'AWS/SQS', Statistic: 'Maximum', Period: 300, Threshold: 1,
        Dimensions: [{ Name: 'QueueName', Value: { 'Fn::GetAtt': [queueId, 'QueueName'] } }],
      });
    });

    test('the account\'s Automation queue (queued for the whole 5 minutes) and concurrency (80 of the default 100)', () => {
      expect(alarm('QueuedAutomationUsage')).toMatchObject({
        Threshold: 1, Metrics: [{ Id: 'expr_1', Expression: 'SELECT MIN(QueuedAutomationUsage) FROM "AWS/Usage"', Period: 300, ReturnData: true, Label: 'QueuedAutomationUsage' }],
      });
      expect(alarm('ConcurrentAutomationUsage')).toMatchObject({
        Threshold: 80, Metrics: [{ Id: 'expr_1', Expression: 'SELECT MAX(ConcurrentAutomationUsage) FROM "AWS/Usage"', Period: 300, ReturnData: true, Label: 'ConcurrentAutomationUsage' }],
      });
      expect([monitoring!.automationQueueAlarm, monitoring!.concurrentAutomationsAlarm].every((a) => a !== undefined)).toBe(true);
    });
  });

  test('a launch abandoned by heartbeat expiry is counted: the Automation\'s first heartbeat fails and publishes Reason HeartbeatExpired, in the key-set total the abandoned alarm watches', () => {
    const { json } = build();
    const doc = byPath(json, 'AWS::SSM::Document', 'LifecycleGate/Automation')[0][1].Properties.Content;
    const first = doc.mainSteps[0];
    expect(first.inputs.Api).toBe('RecordLifecycleActionHeartbeat');
    const record = doc.mainSteps.find((s: any) => `step:${s.name}` === first.onFailure);
    expect(record.inputs.MetricData.map((d: any) => [d.MetricName, d.Dimensions ?? []])).toEqual([
      ['LaunchesAbandoned', []],
      ['LaunchesAbandoned', [{ Name: 'AutoScalingGroupName', Value: '{{ AutoScalingGroupName }}' }]],
      ['LaunchesAbandoned', [{ Name: 'Reason', Value: AbandonReason.HEARTBEAT_EXPIRED }]],
    ]);
  });

  test('the account-wide Automation alarms: thresholds are props', () => {
    const custom = build({
      monitoring: { automationQueueThreshold: 20, automationQueuePeriod: Duration.minutes(10), concurrentAutomationsThreshold: 400 },
    });
    expect(custom.template.findResources('AWS::CloudWatch::Alarm', { Properties: { Threshold: 20, Metrics: [Match.objectLike({ Period: 600 })] } }))
      .not.toEqual({});
    expect(custom.template.findResources('AWS::CloudWatch::Alarm', { Properties: { Threshold: 400 } })).not.toEqual({});
  });

  test('the account-wide Automation alarms can be left to another key set (automationQuotaAlarms: false)', () => {
    const off = build({ monitoring: { automationQuotaAlarms: false } });
    expect(JSON.stringify(off.json)).not.toContain('AWS/Usage');
    expect(off.monitoring!.automationQueueAlarm).toBeUndefined();
  });

  test('the account-wide Automation alarms: a threshold below 1 is refused', () => {
    expect(() => build({ monitoring: { concurrentAutomationsThreshold: 0 } })).toThrow(/concurrentAutomationsThreshold must be a positive number/);
  });

  test('the topic policy lets CloudWatch alarms of this account and region publish (a topic policy replaces SNS\'s default), '
    + 'and keeps the TLS deny', () => {
    const { json } = build({ groups: 1, monitoring: { launchLoopProtection: {} } });
    const [topicId] = one(json, 'AWS::SNS::Topic', 'Monitoring/Topic');
    const [, policy] = one(json, 'AWS::SNS::TopicPolicy', 'Monitoring/Topic');
    expect(policy.Properties.Topics).toEqual([{ Ref: topicId }]);
    const statements = policy.Properties.PolicyDocument.Statement;
    expect(statements.filter((s: any) => s.Effect === 'Allow')).toEqual([{
      Sid: 'CloudWatchAlarmsOfThisAccount', Effect: 'Allow', Action: 'sns:Publish',
      Principal: { Service: 'cloudwatch.amazonaws.com' },
      Resource: { Ref: topicId },
      Condition: {
        StringEquals: { 'aws:SourceAccount': { Ref: 'AWS::AccountId' } },
        ArnLike: { 'aws:SourceArn': arn('cloudwatch', ':alarm:*') },
      },
    }]);
    const tlsOnly = expect.objectContaining({ Condition: { Bool: { 'aws:SecureTransport': 'false' } } });
    expect(statements.filter((s: any) => s.Effect === 'Deny')).toEqual([tlsOnly]);
    // Every alarm that notifies the topic is one of this account's and region's alarms.
    for (const [, a] of byPath(json, 'AWS::CloudWatch::Alarm', '')) expect(a.Properties.AlarmActions).toEqual([{ Ref: topicId }]);
  });

  describe('with a user topic and its own thresholds and periods', () => {
    let json: any;
    beforeAll(() => {
      ({ json } = build({
        monitoring: (stack) => ({
          topic: new sns.Topic(stack, 'UserTopic'),
          abandonedLaunchesThreshold: 2, abandonedLaunchesPeriod: Duration.minutes(15),
          failedAssociationRunsThreshold: 5, failedAssociationRunsPeriod: Duration.hours(2),
          deadLetterThreshold: 3,
        }),
      }));
    });

    test('a user topic is used as is (no topic, no key created)', () => {
      expect(byPath(json, 'AWS::SNS::Topic', '').map(([id]) => id)).toEqual([expect.stringMatching(/^UserTopic/)]);
      expect(byPath(json, 'AWS::CloudWatch::Alarm', '').every(([, a]) => a.Properties.AlarmActions[0].Ref.startsWith('UserTopic'))).toBe(true);
      expect(byPath(json, 'AWS::KMS::Key', 'Monitoring/')).toHaveLength(0);
    });

    test('thresholds and periods are props', () => {
      const alarm = (metric: string) => byPath(json, 'AWS::CloudWatch::Alarm', '').find(([, a]) => a.Properties.MetricName === metric)![1].Properties;
      expect(alarm('LaunchesAbandoned')).toMatchObject({ Threshold: 2, Period: 900 });
      expect(alarm('AssociationRunsFailed')).toMatchObject({ Threshold: 5, Period: 7200 });
      expect(alarm('ApproximateNumberOfMessagesVisible')).toMatchObject({ Threshold: 3 });
    });
  });

  describe('without tag associations, launch-loop protection on, a group gated after the monitoring', () => {
    let alarms: any[];
    beforeAll(() => {
      const { template } = build({
        groups: 1,
        tagged: false,
        monitoring: { launchLoopProtection: {} },
        after: (stack, keys) => keys.addAutoScalingGroup(new autoscaling.AutoScalingGroup(stack, 'Late', {
          vpc: stack.node.findChild('Vpc') as ec2.Vpc,
          instanceType: new ec2.InstanceType('m6i.large'),
          machineImage: ec2.MachineImage.genericLinux({ 'us-east-1': 'ami-12345678' }),
        })),
      });
      alarms = Object.values(template.findResources('AWS::CloudWatch::Alarm')) as any[];
    });

    test('without tag associations there is no association alarm', () => {
      expect(alarms.filter((a) => a.Properties.MetricName === 'AssociationRunsFailed')).toHaveLength(0);
    });

    test('groups gated after the monitoring are loop-protected too', () => {
      const loops = alarms.filter((a) => a.Properties.Metrics && !JSON.stringify(a.Properties.Metrics).includes('AWS/Usage'));
      expect(loops).toHaveLength(2);
      expect(JSON.stringify(loops)).toMatch(/"Ref":"LateASG/);
    });
  });

  test('bad thresholds: one clear error', () => {
    expect(() => build({ monitoring: { abandonedLaunchesThreshold: 0 } })).toThrow(/abandonedLaunchesThreshold must be a positive number/);
    expect(() => build({ monitoring: { launchLoopProtection: { abandonedLaunches: 1.5 } } })).toThrow(/abandonedLaunches must be a whole number/);
    expect(() => build({ monitoring: { launchLoopProtection: { window: Duration.minutes(2) } } })).toThrow(/window must be whole minutes/);
  });
});

test('AemCryptoKeysMonitoring created before the groups and tag associations still alarms on their dead letters and failed runs', () => {
  const templateOf = (monitorFirst: boolean) => {
    const s = new Stack(new App(), 'ObsStack');
    const keys = new AemCryptoKeys(s, 'Keys');
    const monitor = () => new AemCryptoKeysMonitoring(s, 'Monitoring', { keys });
    const early = monitorFirst ? monitor() : undefined;
    keys.addInstancesByTag('aem-role', 'author');
    const late = monitorFirst ? undefined : monitor();
    const template = Template.fromStack(s);
    const m = (early ?? late)!;
    return { template, alarms: [m.deadLetterAlarm, m.failedAssociationRunsAlarm].map((a) => a !== undefined) };
  };
  const first = templateOf(true);
  const after = templateOf(false);
  expect(first.alarms).toEqual([true, true]);
  expect(first.template.toJSON()).toEqual(after.template.toJSON());
  expect(Object.keys(first.template.findResources('AWS::CloudWatch::Alarm')).filter((id) => /DeadLetters|FailedAssociationRuns/.test(id))).toHaveLength(2);
});

describe('metric methods', () => {
  let built: ReturnType<typeof build>;
  beforeAll(() => {
    built = build({ monitoring: false, tagged: false });
  });

  test('abandoned launches for the key set: its namespace, Sum over 5 minutes, no dimension', () => {
    const all = built.keys.metricAbandonedLaunches();
    expect([all.namespace, all.metricName, all.statistic, all.period.toSeconds(), all.dimensions]).toEqual([NS, 'LaunchesAbandoned', 'Sum', 300, undefined]);
  });

  test('abandoned launches per group', () => {
    const byGroup = built.keys.metricAbandonedLaunches({ autoScalingGroup: built.groups[0] });
    expect(built.stack.resolve(byGroup.dimensions)).toEqual({ AutoScalingGroupName: { Ref: expect.stringMatching(/^Publish1ASG/) } });
  });

  test('abandoned launches per reason', () => {
    expect(built.keys.metricAbandonedLaunches({ reason: AbandonReason.AGENT_NOT_ONLINE }).dimensions).toEqual({ Reason: 'AgentNotOnline' });
  });

  test('abandoned launches per group and per reason at once: refused', () => {
    expect(() => built.keys.metricAbandonedLaunches({ reason: AbandonReason.CANCELLED, autoScalingGroup: built.groups[0] })).toThrow(/not both/);
  });

  test('the other metrics: their names, in the key set\'s namespace, Sum over 5 minutes unless a period is given', () => {
    const { keys } = built;
    expect(keys.metricContinuedLaunches().metricName).toBe('LaunchesContinued');
    expect(keys.metricFailedAssociationRuns().metricName).toBe('AssociationRunsFailed');
    const changes = keys.metricAssociationChanges();
    expect([changes.namespace, changes.metricName, changes.statistic, changes.period.toSeconds(), changes.dimensions])
      .toEqual([NS, 'AssociationRunsChanged', 'Sum', 300, undefined]);
    expect(keys.metricInstallerChanges().metricName).toBe('InstallerRunsChanged');
    expect(keys.metricInstallerErrors({ period: Duration.hours(1) }).period.toSeconds()).toBe(3600);
  });
});

describe('launch-loop protection (opt-in)', () => {
  test('off by default: no suspending Automation, no loop alarm', () => {
    const { json } = build({ groups: 2, monitoring: {} });
    expect(byPath(json, 'AWS::SSM::Document', 'LaunchLoop')).toHaveLength(0);
    expect(byPath(json, 'AWS::CloudWatch::Alarm', 'LaunchLoop')).toHaveLength(0);
  });

  describe('on, over two groups (4 abandons in 30 minutes)', () => {
    let json: any;
    let prefix: string;
    const alarms = () => byPath(json, 'AWS::CloudWatch::Alarm', 'LaunchLoopProtection/');
    beforeAll(() => {
      const built = build({ groups: 2, monitoring: { launchLoopProtection: { abandonedLaunches: 4, window: Duration.minutes(30) } } });
      json = built.json;
      prefix = built.monitoring!.launchLoopProtection!.alarmNamePrefix;
    });

    test('one alarm per group, named with the key set\'s prefix', () => {
      expect(alarms()).toHaveLength(2);
      expect(prefix).toMatch(/^aemkeys-loop-[0-9a-f]{12}$/);
      for (const [, alarm] of alarms()) expect(alarm.Properties.AlarmName).toMatch(new RegExp(`^${prefix}-[0-9a-f]{12}$`));
    });

    test('each alarm is "N abandons and no CONTINUE in the window" over its group\'s series', () => {
      for (const [, alarm] of alarms()) {
        const metrics = alarm.Properties.Metrics;
        expect(metrics[0]).toEqual({ Id: 'expr_1', Label: 'launch loop (1 = yes)', ReturnData: true,
          Expression: 'IF(FILL(abandoned, 0) >= 4 AND FILL(continued, 0) == 0, 1, 0)' });
        const stat = (id: string) => metrics.find((m: any) => m.Id === id).MetricStat;
        expect(stat('abandoned')).toMatchObject({ Metric: { Namespace: NS, MetricName: 'LaunchesAbandoned' }, Period: 1800, Stat: 'Sum' });
        expect(stat('continued')).toMatchObject({ Metric: { Namespace: NS, MetricName: 'LaunchesContinued' }, Period: 1800, Stat: 'Sum' });
        expect(stat('abandoned').Metric.Dimensions).toEqual(stat('continued').Metric.Dimensions);
        expect(alarm.Properties).toMatchObject({ Threshold: 1, EvaluationPeriods: 1, TreatMissingData: 'notBreaching' });
      }
    });

    test('the Automation\'s selector over DescribeAlarms\' answer names each alarm\'s own group', () => {
      // DescribeAlarms' answer holds the alarm's Metrics as they were put.
      const groupIds = byPath(json, 'AWS::AutoScaling::AutoScalingGroup', '').map(([id]) => id).sort();
      const seen: string[] = [];
      for (const [, alarm] of alarms()) {
        const described = { MetricAlarms: [{ Metrics: alarm.Properties.Metrics }] };
        const selected = LOOP_ALARM_GROUP_SELECTOR.slice(2).split('.').reduce((node: any, part) => {
          const m = /^(\w+)\[(\d+)\]$/.exec(part);
          return m ? node[m[1]][Number(m[2])] : node[part];
        }, described);
        expect(selected).toEqual({ Ref: expect.any(String) });
        seen.push(selected.Ref);
      }
      expect(seen.sort()).toEqual(groupIds);
    });

    test('one rule on their ALARM state starts the suspending Automation with the alarm\'s name', () => {
      const [docId] = one(json, 'AWS::SSM::Document', 'LaunchLoopProtection/Automation');
      const [eventsRoleId] = one(json, 'AWS::IAM::Role', 'LaunchLoopProtection/EventsRole/');
      const [, rule] = one(json, 'AWS::Events::Rule', 'LaunchLoopProtection/');
      expect(rule.Properties.EventPattern).toEqual({
        'source': ['aws.cloudwatch'],
        'detail-type': ['CloudWatch Alarm State Change'],
        'detail': { alarmName: [{ prefix: `${prefix}-` }], state: { value: ['ALARM'] } },
      });
      const target = rule.Properties.Targets[0];
      expect(JSON.stringify(target.Arn)).toContain(docId);
      expect(target.RoleArn).toEqual({ 'Fn::GetAtt': [eventsRoleId, 'Arn'] });
      expect(target.InputTransformer).toEqual({ InputPathsMap: { 'detail-alarmName': '$.detail.alarmName' }, InputTemplate: '{"AlarmName":[<detail-alarmName>]}' });
    });

    test('the Automation takes only the names of this key set\'s loop alarms', () => {
      const [, doc] = one(json, 'AWS::SSM::Document', 'LaunchLoopProtection/Automation');
      expect(doc.Properties.Content.parameters.AlarmName.allowedPattern).toBe(`^${prefix}-[0-9a-f]{12}$`);
    });
  });

  test('the suspending Automation reads the group from the alarm, suspends Launch only, then tells the topic how to resume', () => {
    const { json } = build({ monitoring: { launchLoopProtection: {} } });
    const [, doc] = one(json, 'AWS::SSM::Document', 'LaunchLoopProtection/Automation');
    const [find, suspend, notify] = doc.Properties.Content.mainSteps;
    expect(find.inputs).toEqual({ Service: 'cloudwatch', Api: 'DescribeAlarms', AlarmNames: ['{{ AlarmName }}'] });
    expect(find.outputs).toEqual([{ Name: 'AutoScalingGroupName', Selector: LOOP_ALARM_GROUP_SELECTOR, Type: 'String' }]);
    expect(suspend.inputs).toEqual({ Service: 'autoscaling', Api: 'SuspendProcesses', AutoScalingGroupName: '{{ findGroup.AutoScalingGroupName }}', ScalingProcesses: ['Launch'] });
    expect(notify.inputs).toMatchObject({ Service: 'sns', Api: 'Publish' });
    expect(notify.inputs.Message).toContain('aws autoscaling resume-processes --auto-scaling-group-name {{ findGroup.AutoScalingGroupName }} --scaling-processes Launch');
  });

  test('the suspending role names this key set\'s groups only (their gate tag values, an imported group by ARN), never "any gated group"', () => {
    const { json, keys } = build({ groups: 2, monitoring: { launchLoopProtection: {} }, before: (stack) => {
      // Another key set's gated group in the same account: its tag must not be enough.
      const other = new AemCryptoKeys(stack, 'Other');
      const vpc = stack.node.findChild('Vpc') as ec2.Vpc;
      other.addAutoScalingGroup(new autoscaling.AutoScalingGroup(stack, 'OtherGroup', {
        vpc,
        launchTemplate: new ec2.LaunchTemplate(stack, 'OtherTemplate', {
          instanceType: new ec2.InstanceType('m6i.large'),
          machineImage: ec2.MachineImage.genericLinux({ 'us-east-1': 'ami-12345678' }),
          role: new iam.Role(stack, 'OtherRole', { assumedBy: new iam.ServicePrincipal('ec2.amazonaws.com') }),
        }),
      }));
    }, after: (stack, k) => {
      k.addAutoScalingGroup(autoscaling.AutoScalingGroup.fromAutoScalingGroupName(stack, 'Imported', 'legacy-publish'),
        { instanceRole: iam.Role.fromRoleName(stack, 'LegacyRole', 'legacy-publish-role') });
    } });
    const [, policy] = one(json, 'AWS::IAM::Policy', 'Monitoring/LaunchLoopProtection/AutomationRole/DefaultPolicy');
    const suspend = policy.Properties.PolicyDocument.Statement.filter((s: any) => s.Action === 'autoscaling:SuspendProcesses');
    const own = keys.gatedGroups.filter((g) => !g.lifecycleHook).map((g) => g.hookName);
    expect(own).toHaveLength(2);
    expect(suspend).toEqual([
      {
        Sid: 'SuspendOwnGatedGroupsOnly', Effect: 'Allow', Action: 'autoscaling:SuspendProcesses',
        Resource: arn('autoscaling', ':autoScalingGroup:*:autoScalingGroupName/*'),
        Condition: { StringEquals: { 'autoscaling:ResourceTag/aem-crypto-keys:gate': own } },
      },
      {
        Effect: 'Allow', Action: 'autoscaling:SuspendProcesses',
        Resource: arn('autoscaling', ':autoScalingGroup:*:autoScalingGroupName/legacy-publish'),
      },
    ]);
    expect(JSON.stringify(suspend)).not.toContain('Null');
  });

  test('least privilege: suspend only this key set\'s gated groups, publish only to the topic (with its key), start only this Automation', () => {
    const { json, keys } = build({ monitoring: { launchLoopProtection: {} } });
    const [topicId] = one(json, 'AWS::SNS::Topic', 'Monitoring/Topic');
    const [topicKeyId] = one(json, 'AWS::KMS::Key', 'Monitoring/TopicKey');
    const [roleId] = one(json, 'AWS::IAM::Role', 'LaunchLoopProtection/AutomationRole/');
    const [, policy] = one(json, 'AWS::IAM::Policy', 'LaunchLoopProtection/AutomationRole/DefaultPolicy');
    const [, loopAlarm] = one(json, 'AWS::CloudWatch::Alarm', 'LaunchLoopProtection/');
    const prefix = (loopAlarm.Properties.AlarmName as string).slice(0, -13);
    expect(policy.Properties.PolicyDocument.Statement).toEqual([
      { Sid: 'ReadOwnLoopAlarmsOnly', Effect: 'Allow', Action: 'cloudwatch:DescribeAlarms', Resource: arn('cloudwatch', `:alarm:${prefix}-*`) },
      { Effect: 'Allow', Action: 'sns:Publish', Resource: { Ref: topicId } },
      { Effect: 'Allow', Action: ['kms:Decrypt', 'kms:GenerateDataKey*'], Resource: { 'Fn::GetAtt': [topicKeyId, 'Arn'] } },
      {
        Sid: 'SuspendOwnGatedGroupsOnly', Effect: 'Allow', Action: 'autoscaling:SuspendProcesses',
        Resource: arn('autoscaling', ':autoScalingGroup:*:autoScalingGroupName/*'),
        Condition: { StringEquals: { 'autoscaling:ResourceTag/aem-crypto-keys:gate': [keys.gatedGroups[0].hookName] } },
      },
    ]);
    const [docId] = one(json, 'AWS::SSM::Document', 'LaunchLoopProtection/Automation');
    const [, eventsPolicy] = one(json, 'AWS::IAM::Policy', 'LaunchLoopProtection/EventsRole/DefaultPolicy');
    expect(eventsPolicy.Properties.PolicyDocument.Statement).toEqual([
      { Sid: 'StartSuspendAutomation', Effect: 'Allow', Action: 'ssm:StartAutomationExecution', Resource: expect.objectContaining({ 'Fn::Join': ['', expect.arrayContaining([{ Ref: docId }, ':$DEFAULT'])] }) },
      { Sid: 'PassSuspendRole', Effect: 'Allow', Action: 'iam:PassRole', Resource: { 'Fn::GetAtt': [roleId, 'Arn'] }, Condition: { StringEquals: { 'iam:PassedToService': 'ssm.amazonaws.com' } } },
    ]);
  });
});
