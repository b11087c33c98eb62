import { App, Duration, Stack } from 'aws-cdk-lib';
import { Annotations, Match, Template } from 'aws-cdk-lib/assertions';
import * as autoscaling from 'aws-cdk-lib/aws-autoscaling';
import * as ec2 from 'aws-cdk-lib/aws-ec2';
import * as iam from 'aws-cdk-lib/aws-iam';
import { AemCryptoKeys, AutoScalingGroupOptions } from '../lib';
import { findCycle, idsOf, waitsFor } from './support/template-graph';

// A group owned by another stack or team, imported by name: its hook cannot be part of its
// creation, so the gate adds a separate AWS::AutoScaling::LifecycleHook.

function imported(options: AutoScalingGroupOptions = {}, withRole = true) {
  const app = new App({ context: { 'aws:cdk:enable-path-metadata': true } });
  const stack = new Stack(app, 'Keys');
  const keys = new AemCryptoKeys(stack, 'Keys');
  const asg = autoscaling.AutoScalingGroup.fromAutoScalingGroupName(stack, 'Publish', 'team-publish-asg');
  const instanceRole = withRole ? iam.Role.fromRoleName(stack, 'PublishRole', 'team-publish-role') : undefined;
  const gated = keys.addAutoScalingGroup(asg, { instanceRole, ...options });
  const template = Template.fromStack(stack);
  return { stack, keys, gated, template, resources: template.toJSON().Resources as Record<string, any> };
}

function automationStatements(resources: Record<string, any>): any[] {
  return Object.entries(resources)
    .filter(([, r]) => r.Type === 'AWS::IAM::Policy' && r.Metadata['aws:cdk:path'].includes('AutomationRole'))
    .flatMap(([, r]) => r.Properties.PolicyDocument.Statement);
}

describe('an imported group', () => {
  test('gets a separate launching hook: ABANDON by default, the heartbeat, the group by name', () => {
    const { template, gated } = imported({ heartbeatTimeout: Duration.hours(1) });
    template.resourceCountIs('AWS::AutoScaling::LifecycleHook', 1);
    template.hasResourceProperties('AWS::AutoScaling::LifecycleHook', {
      AutoScalingGroupName: 'team-publish-asg',
      LifecycleHookName: gated.hookName,
      LifecycleTransition: 'autoscaling:EC2_INSTANCE_LAUNCHING',
      DefaultResult: 'ABANDON',
      HeartbeatTimeout: 3600,
    });
    expect(gated.lifecycleHook).toBeDefined();
  });

  test('the hook waits for the generated keys, the rule, the automation, both roles and the read grant; no cycle', () => {
    const { resources } = imported();
    const [hook] = idsOf(resources, 'AWS::AutoScaling::LifecycleHook');
    for (const id of [
      ...idsOf(resources, 'Custom::AemCryptoKeys'),
      ...idsOf(resources, 'AWS::Events::Rule'),
      ...idsOf(resources, 'AWS::SSM::Document', 'LifecycleGate'),
      ...idsOf(resources, 'AWS::IAM::Policy', 'AutomationRole'),
      ...idsOf(resources, 'AWS::IAM::Policy', 'EventsRole'),
      ...idsOf(resources, 'AWS::IAM::Policy', 'PublishRole'),
    ]) {
      expect({ id, before: waitsFor(resources, hook, id) }).toEqual({ id, before: true });
    }
    expect(findCycle(resources)).toBeUndefined();
  });

  test('the instance role passed in reads the secret (its key only via Secrets Manager) and writes the key set\'s log group', () => {
    const { resources } = imported();
    const [grant] = idsOf(resources, 'AWS::IAM::Policy', 'PublishRole');
    expect(resources[grant].Properties.Roles).toEqual(['team-publish-role']);
    expect(resources[grant].Properties.PolicyDocument.Statement.map((s: any) => s.Action)).toEqual([
      ['secretsmanager:GetSecretValue', 'secretsmanager:DescribeSecret'], 'kms:Decrypt',
      'logs:DescribeLogGroups', ['logs:CreateLogStream', 'logs:DescribeLogStreams', 'logs:PutLogEvents'],
    ]);
    const logGroup = idsOf(resources, 'AWS::Logs::LogGroup')[0];
    expect(resources[grant].Properties.PolicyDocument.Statement[3].Resource).toEqual({ 'Fn::GetAtt': [logGroup, 'Arn'] });
  });

  test('the rule matches the group by name', () => {
    const { template } = imported();
    template.hasResourceProperties('AWS::Events::Rule', {
      EventPattern: { detail: Match.objectLike({ AutoScalingGroupName: ['team-publish-asg'] }) },
    });
  });

  describe('the automation', () => {
    let built: ReturnType<typeof imported>;
    let statements: any[];
    beforeAll(() => {
      built = imported();
      statements = automationStatements(built.resources);
    });

    test('sends to its instances through the library\'s own gate tag (never aws:autoscaling:groupName)', () => {
      const { gated } = built;
      const sends = statements.filter((s) => s.Action === 'ssm:SendCommand' && s.Condition);
      expect(sends).toEqual([expect.objectContaining({ Condition: { StringEquals: { 'ssm:resourceTag/aem-crypto-keys:gate': [gated.hookName] } } })]);
      expect(JSON.stringify(statements)).not.toContain('aws:autoscaling:groupName');
    });

    test('the owner tags the group (it cannot be tagged from here): synthesis says exactly how', () => {
      const { gated, stack } = built;
      const warnings = Annotations.fromStack(stack).findWarning('*', Match.stringLikeRegexp(
      `imported group team-publish-asg must carry the tag aem-crypto-keys:gate=${gated.hookName}, propagated at launch`));
      expect(warnings).toHaveLength(1);
      expect(JSON.stringify(warnings[0].entry.data)).toContain(
      `--tags ResourceId=team-publish-asg,ResourceType=auto-scaling-group,Key=aem-crypto-keys:gate,Value=${gated.hookName},PropagateAtLaunch=true`);
    });

    test('completes only its group\'s lifecycle actions', () => {
      const lifecycleActions = JSON.stringify(['autoscaling:CompleteLifecycleAction', 'autoscaling:RecordLifecycleActionHeartbeat']);
      const complete = statements.filter((s) => JSON.stringify(s.Action) === lifecycleActions && !s.Condition);
      expect(complete).toHaveLength(1);
      expect(JSON.stringify(complete[0].Resource)).toContain(':autoScalingGroup:*:autoScalingGroupName/team-publish-asg');
    });
  });

  test('without instanceRole: nothing granted, a warning naming the fix', () => {
    const { stack, resources } = imported({}, false);
    expect(idsOf(resources, 'AWS::IAM::Policy').filter((id) => !/Automation|Events|Provider/.test(resources[id].Metadata['aws:cdk:path']))).toEqual([]);
    const warnings = Annotations.fromStack(stack).findWarning('*', Match.stringLikeRegexp('imported group team-publish-asg gets no read grant'));
    expect(warnings).toHaveLength(1);
  });

  test('without instanceRole, manageSsm is refused', () => {
    expect(() => imported({ manageSsm: true }, false)).toThrow('manageSsm for the imported group team-publish-asg needs instanceRole');
  });

  test('an owned and an imported group in one key set: one hook resource (the imported one), each rule its own group', () => {
    const app = new App();
    const stack = new Stack(app, 'Mixed');
    const keys = new AemCryptoKeys(stack, 'Keys');
    const vpc = new ec2.Vpc(stack, 'Vpc', {
      maxAzs: 1, natGateways: 0, subnetConfiguration: [{ name: 'app', subnetType: ec2.SubnetType.PRIVATE_ISOLATED }],
    });
    const owned = new autoscaling.AutoScalingGroup(stack, 'Owned', {
      vpc,
      launchTemplate: new ec2.LaunchTemplate(stack, 'T', {
        instanceType: new ec2.InstanceType('m6i.large'),
        machineImage: ec2.MachineImage.genericLinux({ 'us-east-1': 'ami-12345678' }),
        role: new iam.Role(stack, 'R', { assumedBy: new iam.ServicePrincipal('ec2.amazonaws.com') }),
      }),
    });
    keys.addAutoScalingGroup(owned);
    const other = autoscaling.AutoScalingGroup.fromAutoScalingGroupName(stack, 'Other', 'other-asg');
    keys.addAutoScalingGroup(other, { instanceRole: iam.Role.fromRoleName(stack, 'OtherRole', 'other-role') });
    expect(() => keys.addAutoScalingGroup(autoscaling.AutoScalingGroup.fromAutoScalingGroupName(stack, 'Again', 'other-asg'), { hookName: 'x-again' }))
      .toThrow('the imported group other-asg is already gated');
    expect(() => keys.addAutoScalingGroup(owned, { instanceRole: iam.Role.fromRoleName(stack, 'X', 'x') }))
      .toThrow('instanceRole is only for imported groups');
    const t = Template.fromStack(stack);
    t.resourceCountIs('AWS::AutoScaling::LifecycleHook', 1);
    t.resourceCountIs('AWS::Events::Rule', 2);
    expect(findCycle(t.toJSON().Resources)).toBeUndefined();
  });
});
