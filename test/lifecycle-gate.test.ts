import { App, Duration, Stack } from 'aws-cdk-lib';
import { Match, Template } from 'aws-cdk-lib/assertions';
import * as autoscaling from 'aws-cdk-lib/aws-autoscaling';
import * as ec2 from 'aws-cdk-lib/aws-ec2';
import * as iam from 'aws-cdk-lib/aws-iam';
import * as secretsmanager from 'aws-cdk-lib/aws-secretsmanager';
import { AemCryptoKeys, AutoScalingGroupOptions, RestartBehavior } from '../lib';
import { GATE_TAG_KEY } from '../lib/private/lifecycle-gate';
import { findCycle, references } from './support/template-graph';

interface Fixture {
  app: App;
  stack: Stack;
  keys: AemCryptoKeys;
  vpc: ec2.Vpc;
  group: (id: string, props?: Partial<autoscaling.AutoScalingGroupProps>) => autoscaling.AutoScalingGroup;
}

function fixture(): Fixture {
  const app = new App({ context: { 'aws:cdk:enable-path-metadata': true } });
  const stack = new Stack(app, 'GateStack');
  const vpc = new ec2.Vpc(stack, 'Vpc', { maxAzs: 1, natGateways: 0, subnetConfiguration: [{ name: 'app', subnetType: ec2.SubnetType.PRIVATE_ISOLATED }] });
  const keys = new AemCryptoKeys(stack, 'Keys');
  const group = (id: string, props: Partial<autoscaling.AutoScalingGroupProps> = {}) => new autoscaling.AutoScalingGroup(stack, id, {
    vpc,
    launchTemplate: new ec2.LaunchTemplate(stack, `${id}Template`, {
      instanceType: new ec2.InstanceType('m6i.large'),
      machineImage: ec2.MachineImage.genericLinux({ 'us-east-1': 'ami-12345678' }),
      role: new iam.Role(stack, `${id}Role`, { assumedBy: new iam.ServicePrincipal('ec2.amazonaws.com') }),
    }),
    ...props,
  });
  return { app, stack, keys, vpc, group };
}

function gated(options: AutoScalingGroupOptions = {}) {
  const f = fixture();
  const asg = f.group('Publish');
  const result = f.keys.addAutoScalingGroup(asg, options);
  const template = Template.fromStack(f.stack);
  return { ...f, asg, result, template, json: template.toJSON() as any };
}

const logicalIdOf = (json: any, type: string, pathPart: string): string => {
  const hits = Object.entries(json.Resources as Record<string, any>)
    .filter(([, r]) => r.Type === type && (r.Metadata?.['aws:cdk:path'] ?? '').includes(pathPart));
  expect(hits).toHaveLength(1);
  return hits[0][0];
};

describe('the launching hook is part of the group', () => {
  let defaults: ReturnType<typeof gated>;
  beforeAll(() => {
    defaults = gated();
  });

  test('LifecycleHookSpecificationList on the group itself, ABANDON by default, no separate hook resource', () => {
    const { template, result } = gated();
    template.hasResourceProperties('AWS::AutoScaling::AutoScalingGroup', {
      LifecycleHookSpecificationList: [{
        LifecycleHookName: result.hookName,
        LifecycleTransition: 'autoscaling:EC2_INSTANCE_LAUNCHING',
        DefaultResult: 'ABANDON',
        HeartbeatTimeout: 45 * 60,
      }],
    });
    template.resourceCountIs('AWS::AutoScaling::LifecycleHook', 0);
    expect(result.hookName).toMatch(/^aem-keys-GateStack-[0-9a-f]{12}$/);
  });

  test('appends to hooks the group already declares', () => {
    const f = fixture();
    const asg = f.group('Publish');
    const cfn = asg.node.defaultChild as autoscaling.CfnAutoScalingGroup;
    cfn.lifecycleHookSpecificationList = [{ lifecycleHookName: 'drain', lifecycleTransition: 'autoscaling:EC2_INSTANCE_TERMINATING' }];
    const { hookName } = f.keys.addAutoScalingGroup(asg, { heartbeatTimeout: Duration.hours(1) });
    Template.fromStack(f.stack).hasResourceProperties('AWS::AutoScaling::AutoScalingGroup', {
      LifecycleHookSpecificationList: [
        { LifecycleHookName: 'drain', LifecycleTransition: 'autoscaling:EC2_INSTANCE_TERMINATING' },
        Match.objectLike({ LifecycleHookName: hookName, HeartbeatTimeout: 3600, DefaultResult: 'ABANDON' }),
      ],
    });
  });

  test('the gate tag is on the group and propagated to its instances', () => {
    const { template, result } = gated();
    template.hasResourceProperties('AWS::AutoScaling::AutoScalingGroup', {
      Tags: Match.arrayWith([{ Key: GATE_TAG_KEY, Value: result.hookName, PropagateAtLaunch: true }]),
    });
  });

  test('the group depends on the automation, both roles and their policies, its rule and its read grant', () => {
    const { json } = gated();
    const asgId = logicalIdOf(json, 'AWS::AutoScaling::AutoScalingGroup', 'Publish/ASG');
    const expected = [
      logicalIdOf(json, 'AWS::SSM::Document', 'LifecycleGate/Automation'),
      logicalIdOf(json, 'AWS::IAM::Role', 'LifecycleGate/AutomationRole/'),
      logicalIdOf(json, 'AWS::IAM::Policy', 'LifecycleGate/AutomationRole/DefaultPolicy'),
      logicalIdOf(json, 'AWS::IAM::Role', 'LifecycleGate/EventsRole/'),
      logicalIdOf(json, 'AWS::IAM::Policy', 'LifecycleGate/EventsRole/DefaultPolicy'),
      logicalIdOf(json, 'AWS::Events::Rule', 'LifecycleGate/Group'),
      logicalIdOf(json, 'AWS::IAM::Policy', 'PublishRole/DefaultPolicy'),
    ];
    expect(json.Resources[asgId].DependsOn).toEqual(expect.arrayContaining(expected));
  });

  test('nothing the gate creates refers to the group', () => {
    const { json } = defaults;
    const asgId = logicalIdOf(json, 'AWS::AutoScaling::AutoScalingGroup', 'Publish/ASG');
    for (const [id, resource] of Object.entries(json.Resources as Record<string, any>)) {
      if ((resource.Metadata?.['aws:cdk:path'] ?? '').includes('/Keys/')) {
        expect({ id, refs: [...references(resource)] }).toEqual({ id, refs: expect.not.arrayContaining([asgId]) });
      }
    }
  });

  test('the template has no dependency cycle', () => {
    expect(findCycle(defaults.json.Resources)).toBeUndefined();
  });

  test('manageSsm (default) attaches AmazonSSMManagedInstanceCore to the group role; false leaves the role alone', () => {
    const on = gated();
    on.template.hasResourceProperties('AWS::IAM::Role', {
      AssumeRolePolicyDocument: Match.objectLike({ Statement: [Match.objectLike({ Principal: { Service: 'ec2.amazonaws.com' } })] }),
      ManagedPolicyArns: [{ 'Fn::Join': ['', ['arn:', { Ref: 'AWS::Partition' }, ':iam::aws:policy/AmazonSSMManagedInstanceCore']] }],
    });
    const off = gated({ manageSsm: false });
    off.template.hasResourceProperties('AWS::IAM::Role', {
      AssumeRolePolicyDocument: Match.objectLike({ Statement: [Match.objectLike({ Principal: { Service: 'ec2.amazonaws.com' } })] }),
      ManagedPolicyArns: Match.absent(),
    });
  });
});

describe('warm pools and odd groups', () => {
  test('a group with a warm pool: same single hook (it fires for Warmed:Pending:Wait too), no cycle', () => {
    const f = fixture();
    const asg = f.group('Publish');
    asg.addWarmPool({ minSize: 1, poolState: autoscaling.PoolState.STOPPED });
    const { hookName } = f.keys.addAutoScalingGroup(asg);
    const json = Template.fromStack(f.stack).toJSON();
    expect(findCycle(json.Resources)).toBeUndefined();
    const group = json.Resources[logicalIdOf(json, 'AWS::AutoScaling::AutoScalingGroup', 'Publish/ASG')];
    expect(group.Properties.LifecycleHookSpecificationList.map((h: any) => h.LifecycleHookName)).toEqual([hookName]);
    expect(Object.keys(Template.fromStack(f.stack).findResources('AWS::AutoScaling::WarmPool'))).toHaveLength(1);
  });

  test('a group that creates its own role: read grant before the group, no dependency cycle', () => {
    const f = fixture();
    const asg = new autoscaling.AutoScalingGroup(f.stack, 'OwnRole', {
      vpc: f.vpc,
      instanceType: new ec2.InstanceType('m6i.large'),
      machineImage: ec2.MachineImage.genericLinux({ 'us-east-1': 'ami-12345678' }),
    });
    f.keys.addAutoScalingGroup(asg);
    const json = Template.fromStack(f.stack).toJSON() as any;
    expect(findCycle(json.Resources)).toBeUndefined();
    const asgId = logicalIdOf(json, 'AWS::AutoScaling::AutoScalingGroup', 'OwnRole/ASG');
    expect(json.Resources[asgId].DependsOn).toEqual(expect.arrayContaining([logicalIdOf(json, 'AWS::IAM::Policy', 'OwnRole/InstanceRole/DefaultPolicy')]));
    const roleId = logicalIdOf(json, 'AWS::IAM::Role', 'OwnRole/InstanceRole/Resource');
    expect(json.Resources[roleId].DependsOn ?? []).toEqual([]);
  });

  test('a launch template without a role: clear error unless manageSsm is false', () => {
    const f = fixture();
    const noRole = () => new autoscaling.AutoScalingGroup(f.stack, `NoRole${Math.random().toString(36).slice(2, 8)}`, {
      vpc: f.vpc,
      launchTemplate: new ec2.LaunchTemplate(f.stack, `T${Math.random().toString(36).slice(2, 8)}`, {
        instanceType: new ec2.InstanceType('m6i.large'),
        machineImage: ec2.MachineImage.genericLinux({ 'us-east-1': 'ami-12345678' }),
      }),
    });
    expect(() => f.keys.addAutoScalingGroup(noRole())).toThrow(/exposes no role/);
    expect(() => f.keys.addAutoScalingGroup(noRole(), { manageSsm: false })).not.toThrow();
  });
});

describe('the EventBridge rule', () => {
  describe('of one gated group', () => {
    let built: ReturnType<typeof gated>;
    let rules: Record<string, any>;
    const target = () => (Object.values(rules)[0] as any).Properties.Targets[0];
    beforeAll(() => {
      built = gated({ quickstartDir: '/opt/aem/publish/crx-quickstart', startAfterInstall: true, aemUser: 'cq' });
      rules = built.template.findResources('AWS::Events::Rule');
    });

    test('matches only launching lifecycle actions of this group\'s hook', () => {
      expect(Object.keys(rules)).toHaveLength(1);
      const rule = Object.values(rules)[0] as any;
      expect(rule.Properties.EventPattern).toEqual({
        'source': ['aws.autoscaling'],
        'detail-type': ['EC2 Instance-launch Lifecycle Action'],
        'detail': { LifecycleHookName: [built.result.hookName], LifecycleTransition: ['autoscaling:EC2_INSTANCE_LAUNCHING'] },
      });
    });

    test('starts the automation\'s default version under the gate\'s events role', () => {
      expect(JSON.stringify(target().Arn)).toContain(':automation-definition/');
      expect(JSON.stringify(target().Arn)).toContain(':$DEFAULT');
      expect(target().RoleArn).toEqual({ 'Fn::GetAtt': [expect.stringMatching(/^KeysLifecycleGateEventsRole/), 'Arn'] });
    });

    test('passes the event\'s fields and the installer options', () => {
      const t = target();
      expect(t.InputTransformer.InputPathsMap).toEqual({
        'detail-EC2InstanceId': '$.detail.EC2InstanceId',
        'detail-LifecycleHookName': '$.detail.LifecycleHookName',
        'detail-AutoScalingGroupName': '$.detail.AutoScalingGroupName',
        'detail-LifecycleActionToken': '$.detail.LifecycleActionToken',
        'detail-Destination': '$.detail.Destination',
      });
      // The template is JSON once EventBridge substitutes the (quoted) event values.
      const input = JSON.parse(t.InputTransformer.InputTemplate.replace(/<([^>]+)>/g, '"$1"'));
      expect(input).toEqual({
        InstanceId: ['detail-EC2InstanceId'],
        LifecycleHookName: ['detail-LifecycleHookName'],
        AutoScalingGroupName: ['detail-AutoScalingGroupName'],
        LifecycleActionToken: ['detail-LifecycleActionToken'],
        Destination: ['detail-Destination'],
        QuickstartDir: ['/opt/aem/publish/crx-quickstart'],
        AemUser: ['cq'],
        EncapsulatedToken: ['true'],
        OnKeyMismatch: ['replace'],
        Restart: ['service'],
        ServiceName: ['aem'],
        StartAfterInstall: ['true'],
        AemPort: ['4502'],
        FreshKeyMinutes: ['1440'],
      });
    });
  });

  describe('of two gated groups, the second with a literal name', () => {
    let a: { hookName: string };
    let b: { hookName: string };
    let template: Template;
    beforeAll(() => {
      const f = fixture();
      a = f.keys.addAutoScalingGroup(f.group('PublishA'));
      b = f.keys.addAutoScalingGroup(f.group('PublishB', { autoScalingGroupName: 'aem-publish-b' }));
      template = Template.fromStack(f.stack);
    });

    test('each rule names only its own hook; a literal group name is matched too', () => {
      expect(a.hookName).not.toEqual(b.hookName);
      const patterns = Object.values(template.findResources('AWS::Events::Rule')).map((r: any) => r.Properties.EventPattern.detail);
      expect(patterns).toEqual(expect.arrayContaining([
        { LifecycleHookName: [a.hookName], LifecycleTransition: ['autoscaling:EC2_INSTANCE_LAUNCHING'] },
        { LifecycleHookName: [b.hookName], LifecycleTransition: ['autoscaling:EC2_INSTANCE_LAUNCHING'], AutoScalingGroupName: ['aem-publish-b'] },
      ]));
      expect(patterns).toHaveLength(2);
    });

    test('one automation serves both groups', () => {
      expect(Object.values(template.findResources('AWS::SSM::Document')).filter((d: any) => d.Properties.DocumentType === 'Automation')).toHaveLength(1);
    });
  });

  describe('with an admin secret (Restart=bundles)', () => {
    let stack: Stack;
    beforeAll(() => {
      const f = fixture();
      const admin = new secretsmanager.Secret(f.stack, 'Admin');
      f.keys.addAutoScalingGroup(f.group('Publish'), { restart: RestartBehavior.BUNDLES, adminSecret: admin });
      stack = f.stack;
    });

    test('the secret travels as its ARN', () => {
      const rule = Object.values(Template.fromStack(stack).findResources('AWS::Events::Rule'))[0] as any;
      const inputTemplate = JSON.stringify(rule.Properties.Targets[0].InputTransformer.InputTemplate);
      expect(inputTemplate).toContain('AdminSecretId');
      expect(inputTemplate).toContain('Admin');
      expect(inputTemplate).toContain('bundles');
    });

    test('the group may read it', () => {
      const json = Template.fromStack(stack).toJSON();
      const adminId = logicalIdOf(json, 'AWS::SecretsManager::Secret', 'GateStack/Admin/');
      const groupPolicy = json.Resources[logicalIdOf(json, 'AWS::IAM::Policy', 'PublishRole/DefaultPolicy')].Properties.PolicyDocument.Statement;
      expect(groupPolicy).toEqual(expect.arrayContaining([expect.objectContaining({ Resource: { Ref: adminId } })]));
    });
  });
});

describe('the Automation document', () => {
  const content = (json: any) => Object.values(json.Resources as Record<string, any>)
    .find((r) => r.Type === 'AWS::SSM::Document' && r.Properties.DocumentType === 'Automation').Properties.Content;

  describe('its steps', () => {
    let doc: any;
    const steps = () => doc.mainSteps;
    const named = (name: string) => doc.mainSteps.find((x: any) => x.name === name);
    beforeAll(() => {
      doc = content(gated().json);
    });

    test('schema 0.3, run under its own role', () => {
      expect(doc.schemaVersion).toBe('0.3');
      expect(doc.assumeRole).toEqual({ 'Fn::GetAtt': [expect.stringMatching(/^KeysLifecycleGateAutomationRole/), 'Arn'] });
    });

    test('heartbeat -> wait -> heartbeat -> branch -> install (service | warm pool) -> CONTINUE, and ABANDON', () => {
      expect(steps().map((x: any) => [x.name, x.action])).toEqual([
        ['recordLifecycleHeartbeat', 'aws:executeAwsApi'],
        ['waitForSsmOnline', 'aws:waitForAwsResourceProperty'],
        ['refreshLifecycleHeartbeat', 'aws:executeAwsApi'],
        ['chooseInstallPath', 'aws:branch'],
        ['installKeys', 'aws:runCommand'],
        ['installKeysForWarmPool', 'aws:runCommand'],
        ['completeLifecycleContinue', 'aws:executeAwsApi'],
        ['recordLaunchContinued', 'aws:executeAwsApi'],
        ['recordAbandonAgentNotOnline', 'aws:executeAwsApi'],
        ['recordAbandonInstallerFailed', 'aws:executeAwsApi'],
        ['recordAbandonCancelled', 'aws:executeAwsApi'],
        ['recordAbandonLifecycleActionFailed', 'aws:executeAwsApi'],
        ['recordAbandonHeartbeatExpired', 'aws:executeAwsApi'],
        ['completeLifecycleAbandon', 'aws:executeAwsApi'],
      ]);
    });

    test('each failure goes to the record step of its reason, each cancel to Cancelled; each record step then to ABANDON', () => {
      const failureTo = ['HeartbeatExpired', 'AgentNotOnline', 'HeartbeatExpired', 'InstallerFailed', 'InstallerFailed', 'InstallerFailed', 'LifecycleActionFailed'];
      steps().slice(0, 7).forEach((step: any, i: number) => {
        expect([step.name, step.onFailure, step.onCancel]).toEqual([step.name, `step:recordAbandon${failureTo[i]}`, 'step:recordAbandonCancelled']);
      });
      for (const step of steps().slice(8, 13)) {
        expect([step.name, step.nextStep, step.onFailure, step.onCancel]).toEqual([step.name, 'completeLifecycleAbandon', 'step:completeLifecycleAbandon', 'step:completeLifecycleAbandon']);
      }
    });

    test('CONTINUE and ABANDON complete the lifecycle action; CONTINUE is followed by its count, which ends; ABANDON ends', () => {
      const proceed = named('completeLifecycleContinue');
      const recorded = named('recordLaunchContinued');
      const abandon = steps()[13];
      expect(proceed.nextStep).toBe('recordLaunchContinued');
      expect(recorded.isEnd).toBe(true);
      expect(proceed.inputs).toMatchObject({ Service: 'autoscaling', Api: 'CompleteLifecycleAction', LifecycleActionResult: 'CONTINUE' });
      expect(abandon.inputs).toMatchObject({ Service: 'autoscaling', Api: 'CompleteLifecycleAction', LifecycleActionResult: 'ABANDON' });
      expect([proceed.isEnd, abandon.isEnd]).toEqual([undefined, true]);
    });

    test('the wait for the agent: DescribeInstanceInformation until Online, three attempts sharing 10 minutes', () => {
      // A throttled poll is retried, an offline agent still fails after 10 minutes.
      const wait = named('waitForSsmOnline');
      expect(wait.inputs).toMatchObject({ Service: 'ssm', Api: 'DescribeInstanceInformation', DesiredValues: ['Online'] });
      expect([wait.maxAttempts, wait.timeoutSeconds]).toEqual([3, 200]);
    });

    test('two heartbeats: the first restarts the hook\'s clock after delivery and queueing, the second before the installer', () => {
      const lifecycleAction = {
        AutoScalingGroupName: '{{ AutoScalingGroupName }}',
        LifecycleHookName: '{{ LifecycleHookName }}',
        LifecycleActionToken: '{{ LifecycleActionToken }}',
        InstanceId: '{{ InstanceId }}',
      };
      for (const [step, next] of [[named('recordLifecycleHeartbeat'), 'waitForSsmOnline'], [named('refreshLifecycleHeartbeat'), 'chooseInstallPath']]) {
        expect(step.inputs).toEqual({ Service: 'autoscaling', Api: 'RecordLifecycleActionHeartbeat', ...lifecycleAction });
        expect(step.nextStep).toBe(next);
      }
    });

    test('every AWS API step retries, each attempt with a timeout of its own', () => {
      for (const step of steps().filter((x: any) => x.action === 'aws:executeAwsApi')) {
        expect([step.name, step.maxAttempts, step.timeoutSeconds]).toEqual([step.name, 3, 60]);
      }
    });

    test('the branch sends warm-pool launches to their own install step', () => {
      expect(named('chooseInstallPath').inputs)
        .toEqual({ Choices: [{ NextStep: 'installKeysForWarmPool', Variable: '{{ Destination }}', StringEquals: 'WarmPool' }], Default: 'installKeys' });
    });

    test('both install steps run the installer document on the instance within 20 minutes, then CONTINUE, output to the key set\'s log group', () => {
      for (const step of [named('installKeys'), named('installKeysForWarmPool')]) {
        expect(step.inputs.DocumentName).toEqual({ Ref: expect.stringMatching(/^KeysInstallerDocument/) });
        expect(step.inputs.InstanceIds).toEqual(['{{ InstanceId }}']);
        expect(step.timeoutSeconds).toBe(20 * 60);
        expect(step.nextStep).toBe('completeLifecycleContinue');
        // The installer output of each launch goes to the key set's log group.
        expect(step.inputs.CloudWatchOutputConfig).toEqual({
          CloudWatchOutputEnabled: true, CloudWatchLogGroupName: { Ref: expect.stringMatching(/^KeysLogsLogGroup/) },
        });
      }
    });

    test('every installer parameter is passed through', () => {
      const install = named('installKeys');
      const passed = ['QuickstartDir', 'AemUser', 'EncapsulatedToken', 'OnKeyMismatch', 'Restart', 'ServiceName', 'StartAfterInstall', 'AdminSecretId', 'AemPort', 'FreshKeyMinutes'];
      expect(install.inputs.Parameters).toEqual({
        SecretId: { Ref: expect.stringMatching(/^KeysSecret/) },
        Mode: 'install',
        ...Object.fromEntries(passed.map((p) => [p, `{{ ${p} }}`])),
      });
      for (const p of [...passed, 'InstanceId', 'LifecycleHookName', 'AutoScalingGroupName', 'LifecycleActionToken', 'Destination']) {
        expect(doc.parameters[p]).toMatchObject({ type: 'String' });
      }
    });

    test('the warm-pool path never starts or restarts AEM', () => {
      const install = named('installKeys');
      const warm = named('installKeysForWarmPool');
      expect(warm.inputs.Parameters).toEqual({ ...install.inputs.Parameters, StartAfterInstall: 'false', Restart: 'none' });
    });
  });

  test('each record step publishes its result for the key set, the group and (abandons) the reason, in the key set\'s namespace', () => {
    const doc = content(gated().json);
    const step = (name: string) => doc.mainSteps.find((s: any) => s.name === name);
    const data = (metricName: string, reason?: string) => [
      { MetricName: metricName, Unit: 'Count', Value: 1 },
      { MetricName: metricName, Unit: 'Count', Value: 1, Dimensions: [{ Name: 'AutoScalingGroupName', Value: '{{ AutoScalingGroupName }}' }] },
      ...(reason ? [{ MetricName: metricName, Unit: 'Count', Value: 1, Dimensions: [{ Name: 'Reason', Value: reason }] }] : []),
    ];
    expect(step('recordLaunchContinued').inputs).toEqual({
      Service: 'cloudwatch', Api: 'PutMetricData', Namespace: 'AemCryptoKeys/GateStack/Keys', MetricData: data('LaunchesContinued'),
    });
    for (const reason of ['AgentNotOnline', 'InstallerFailed', 'Cancelled', 'LifecycleActionFailed', 'HeartbeatExpired']) {
      expect(step(`recordAbandon${reason}`).inputs).toEqual({
        Service: 'cloudwatch', Api: 'PutMetricData', Namespace: 'AemCryptoKeys/GateStack/Keys', MetricData: data('LaunchesAbandoned', reason),
      });
      expect(step(`recordAbandon${reason}`).timeoutSeconds).toBe(60);
    }
  });

  test('step bounds are the largest timeouts of the key set\'s groups', () => {
    const f = fixture();
    f.keys.addAutoScalingGroup(f.group('A'), { commandTimeout: Duration.minutes(30), heartbeatTimeout: Duration.hours(1) });
    f.keys.addAutoScalingGroup(f.group('B'), { ssmOnlineTimeout: Duration.minutes(15), heartbeatTimeout: Duration.hours(1) });
    const doc = content(Template.fromStack(f.stack).toJSON());
    expect(doc.mainSteps[1].timeoutSeconds * doc.mainSteps[1].maxAttempts).toBe(15 * 60);
    expect(doc.mainSteps[4].timeoutSeconds).toBe(30 * 60);
  });
});

describe('least-privilege roles', () => {
  const policyOf = (json: any, pathPart: string) => {
    const id = logicalIdOf(json, 'AWS::IAM::Policy', pathPart);
    return json.Resources[id].Properties.PolicyDocument.Statement;
  };
  const arn = (service: string, resource: string) => ({
    'Fn::Join': ['', ['arn:', { Ref: 'AWS::Partition' }, `:${service}:`, { Ref: 'AWS::Region' }, ':', { Ref: 'AWS::AccountId' }, resource]],
  });

  test('automation role: installer document only, gated instances only, lifecycle actions of gated groups only, read-only calls', () => {
    const f = fixture();
    const a = f.keys.addAutoScalingGroup(f.group('PublishA'));
    const b = f.keys.addAutoScalingGroup(f.group('PublishB'));
    const json = Template.fromStack(f.stack).toJSON();
    const installerDoc = logicalIdOf(json, 'AWS::SSM::Document', 'Keys/InstallerDocument');
    expect(policyOf(json, 'LifecycleGate/AutomationRole/DefaultPolicy')).toEqual([
      {
        Sid: 'SendInstallerDocument', Effect: 'Allow', Action: 'ssm:SendCommand',
        Resource: { 'Fn::Join': ['', ['arn:', { Ref: 'AWS::Partition' }, ':ssm:', { Ref: 'AWS::Region' }, ':', { Ref: 'AWS::AccountId' }, ':document/', { Ref: installerDoc }]] },
      },
      {
        Sid: 'SendToGatedInstancesOnly', Effect: 'Allow', Action: 'ssm:SendCommand',
        Resource: arn('ec2', ':instance/*'),
        Condition: { StringEquals: { 'ssm:resourceTag/aem-crypto-keys:gate': [a.hookName, b.hookName] } },
      },
      {
        Sid: 'CompleteLifecycleActionOfGatedGroupsOnly', Effect: 'Allow',
        Action: ['autoscaling:CompleteLifecycleAction', 'autoscaling:RecordLifecycleActionHeartbeat'],
        Resource: arn('autoscaling', ':autoScalingGroup:*:autoScalingGroupName/*'),
        Condition: { StringEquals: { 'autoscaling:ResourceTag/aem-crypto-keys:gate': [a.hookName, b.hookName] } },
      },
      {
        Sid: 'FollowCommandsAndManagedNodes', Effect: 'Allow', Resource: '*',
        Action: ['ssm:DescribeInstanceInformation', 'ssm:GetCommandInvocation', 'ssm:ListCommandInvocations', 'ssm:ListCommands'],
      },
      {
        Sid: 'PublishLaunchResultsToOwnNamespace', Effect: 'Allow', Resource: '*', Action: 'cloudwatch:PutMetricData',
        Condition: { StringEquals: { 'cloudwatch:namespace': 'AemCryptoKeys/GateStack/Keys' } },
      },
    ]);
    const role = json.Resources[logicalIdOf(json, 'AWS::IAM::Role', 'LifecycleGate/AutomationRole/')];
    expect(role.Properties.AssumeRolePolicyDocument.Statement).toEqual([expect.objectContaining({
      Principal: { Service: 'ssm.amazonaws.com' },
      Condition: { StringEquals: { 'aws:SourceAccount': { Ref: 'AWS::AccountId' } }, ArnLike: { 'aws:SourceArn': arn('ssm', ':automation-execution/*') } },
    })]);
    expect(role.Properties.ManagedPolicyArns).toBeUndefined();
  });

  test('EventBridge role: start only this automation, pass only the automation role, only to SSM', () => {
    const { json } = gated();
    const automation = logicalIdOf(json, 'AWS::SSM::Document', 'LifecycleGate/Automation');
    const automationRole = logicalIdOf(json, 'AWS::IAM::Role', 'LifecycleGate/AutomationRole/');
    expect(policyOf(json, 'LifecycleGate/EventsRole/DefaultPolicy')).toEqual([
      {
        Sid: 'StartLifecycleAutomation', Effect: 'Allow', Action: 'ssm:StartAutomationExecution',
        Resource: { 'Fn::Join': ['', ['arn:', { Ref: 'AWS::Partition' }, ':ssm:', { Ref: 'AWS::Region' }, ':', { Ref: 'AWS::AccountId' }, ':automation-definition/', { Ref: automation }, ':$DEFAULT']] },
      },
      {
        Sid: 'PassAutomationRole', Effect: 'Allow', Action: 'iam:PassRole',
        Resource: { 'Fn::GetAtt': [automationRole, 'Arn'] },
        Condition: { StringEquals: { 'iam:PassedToService': 'ssm.amazonaws.com' } },
      },
    ]);
    const role = json.Resources[logicalIdOf(json, 'AWS::IAM::Role', 'LifecycleGate/EventsRole/')];
    expect(role.Properties.AssumeRolePolicyDocument.Statement[0].Principal).toEqual({ Service: 'events.amazonaws.com' });
  });

  test('the group role reads the secret only (and its key only through Secrets Manager), and writes the key set\'s log group only', () => {
    const { json } = gated();
    const statements = policyOf(json, 'PublishRole/DefaultPolicy');
    expect(statements.map((s: any) => s.Action)).toEqual([
      ['secretsmanager:GetSecretValue', 'secretsmanager:DescribeSecret'],
      'kms:Decrypt',
      'logs:DescribeLogGroups',
      ['logs:CreateLogStream', 'logs:DescribeLogStreams', 'logs:PutLogEvents'],
    ]);
    const logGroup = logicalIdOf(json, 'AWS::Logs::LogGroup', 'Keys/Logs/LogGroup');
    expect(statements[2].Resource).toEqual(arn('logs', ':log-group:*'));
    expect(statements[3].Resource).toEqual({ 'Fn::GetAtt': [logGroup, 'Arn'] });
  });
});

describe('input checks at synth', () => {
  test('heartbeat shorter than the automation\'s worst case', () => {
    const f = fixture();
    // Default timeouts: 180 s (heartbeat) + 1200 s (installer) + 540 s (CONTINUE, or its count and ABANDON).
    expect(() => f.keys.addAutoScalingGroup(f.group('P'), { heartbeatTimeout: Duration.minutes(20) }))
      .toThrow(/heartbeatTimeout \(1200 s\) must cover the Automation between two heartbeats: 1140 s .* 1920 s for the installer/);
    expect(() => f.keys.addAutoScalingGroup(f.group('P0'), { heartbeatTimeout: Duration.seconds(1919) })).toThrow(/1920 s for the installer/);
    f.keys.addAutoScalingGroup(f.group('P1'), { heartbeatTimeout: Duration.seconds(1920) });
    expect(() => f.keys.addAutoScalingGroup(f.group('Q'), { heartbeatTimeout: Duration.hours(3) })).toThrow(/between 30 seconds and 2 hours/);
  });

  test('a group whose heartbeat is shorter than another group\'s longer command timeout fails synthesis', () => {
    const f = fixture();
    f.keys.addAutoScalingGroup(f.group('Slow'), { commandTimeout: Duration.minutes(60), heartbeatTimeout: Duration.minutes(75) });
    f.keys.addAutoScalingGroup(f.group('Fast'));
    expect(() => f.app.synth()).toThrow(/heartbeatTimeout \(2700 s\) must cover .* 4320 s for the installer .*the Automation is shared/);
  });

  test('the budget includes EventBridge\'s retries and time in the Automation queue', () => {
    const f = fixture();
    // Between heartbeats 1,020 s suffice (180 + 30 + 360 s; 180 + 300 + 540 s), but delivery
    // (600 s of retries, 180 s of heartbeat attempts) and 10 minutes of queue do not fit.
    const short = { ssmOnlineTimeout: Duration.seconds(30), commandTimeout: Duration.seconds(300) };
    expect(() => f.keys.addAutoScalingGroup(f.group('P'), { ...short, heartbeatTimeout: Duration.seconds(1379) }))
      .toThrow(/delivery \(EventBridge retries and the first heartbeat, 780 s\) plus at least 600 s in the account's Automation queue/);
    expect(() => f.keys.addAutoScalingGroup(f.group('Q'), { ...short, heartbeatTimeout: Duration.seconds(1380) }))
      .not.toThrow();
  });

  test('a commandTimeout the installer document cannot honour (its own execution timeout) is refused', () => {
    const f = fixture();
    const installer = Object.values(Template.fromStack(f.stack).toJSON().Resources as Record<string, any>)
      .find((r) => r.Type === 'AWS::SSM::Document' && r.Properties.DocumentType === 'Command' && r.Properties.Content.mainSteps[0].name === 'installKeys');
    const limit = Number(installer.Properties.Content.mainSteps[0].inputs.timeoutSeconds);
    expect(limit).toBe(3600);
    expect(() => f.keys.addAutoScalingGroup(f.group('P'), { commandTimeout: Duration.seconds(limit + 1), heartbeatTimeout: Duration.hours(2) }))
      .toThrow(/commandTimeout must be between 30 seconds and 3600 seconds \(the installer document's own execution timeout/);
    f.keys.addAutoScalingGroup(f.group('Q'), { commandTimeout: Duration.seconds(limit), heartbeatTimeout: Duration.hours(2) });
    // The default fits: before, the installer stopped itself after 900 s while the Automation waited 1200 s.
    expect(limit).toBeGreaterThanOrEqual(20 * 60);
  });

  test('too many long hook names for the automation role\'s policy fail synthesis', () => {
    const f = fixture();
    for (let i = 0; i < 40; i++) {
      f.keys.addAutoScalingGroup(f.group(`G${i}`), { hookName: `${'h'.repeat(120)}-${i}` });
    }
    expect(() => f.app.synth()).toThrow(/40 gated groups make the automation role's policy about \d+ characters/);
  });

  test('a bad hook name is refused', () => {
    const f = fixture();
    expect(() => f.keys.addAutoScalingGroup(f.group('P1'), { hookName: 'has space' })).toThrow(/hookName must be/);
    expect(() => f.keys.addAutoScalingGroup(f.group('P2'), { hookName: 'x'.repeat(256) })).toThrow(/hookName must be/);
  });

  describe('a group gated with the hook name publish-gate', () => {
    let f: Fixture;
    let asg: autoscaling.AutoScalingGroup;
    beforeAll(() => {
      f = fixture();
      asg = f.group('P3');
      f.keys.addAutoScalingGroup(asg, { hookName: 'publish-gate' });
    });

    test('gating the group again is refused', () => {
      expect(() => f.keys.addAutoScalingGroup(asg)).toThrow(/already gated/);
    });

    test('another group with the same hook name is refused', () => {
      expect(() => f.keys.addAutoScalingGroup(f.group('P4'), { hookName: 'publish-gate' })).toThrow(/already used/);
    });
  });

  test('Restart=bundles without an admin secret is refused', () => {
    const f = fixture();
    expect(() => f.keys.addAutoScalingGroup(f.group('P5'), { restart: RestartBehavior.BUNDLES })).toThrow(/needs adminSecret/);
  });
});
