import * as fs from 'fs';
import * as path from 'path';
import { App, Stack } from 'aws-cdk-lib';
import { Template } from 'aws-cdk-lib/assertions';
import * as autoscaling from 'aws-cdk-lib/aws-autoscaling';
import * as ec2 from 'aws-cdk-lib/aws-ec2';
import * as iam from 'aws-cdk-lib/aws-iam';
import { ExampleAemStack } from '../bin/example-stack';
import { AemCryptoKeys } from '../lib';
import { resolveStack, ResolvedStack } from './support/cfn-resolve';
import { matchesPattern } from './support/event-pattern';
import { evaluate } from './support/iam-evaluate';
import { KeySetScene, keySetScene } from './support/key-set-scene';
import { ConcreteRequest } from './support/runtime-requests';

// Two deployments of the same app in one account and region: the same construct ids, stack names
// that share their first 41 characters (issue 17, defect 3). They must share no physical name,
// no rule of one may match the other's events, and no role of one may act on the other's
// resources.

const REGION = 'us-east-1';
const NAMES = ['acme-aem65-publish-platform-nonprod-envs-dev', 'acme-aem65-publish-platform-nonprod-envs-test'];
const DENIED = ['ImplicitlyDenied', 'ExplicitlyDenied'];

/** As `cdk synth` makes the app: cdk.json's context, path metadata on. */
function deploy(stackName: string): { resolved: ResolvedStack; scene: KeySetScene; appIds: string[] } {
  const cdkJson = JSON.parse(fs.readFileSync(path.join(__dirname, '..', 'cdk.json'), 'utf8'));
  const app = new App({ context: { ...cdkJson.context, 'aws:cdk:enable-path-metadata': true } });
  const stack = new ExampleAemStack(app, 'AemEstate', { stackName, env: { region: REGION } });
  const template = app.synth().getStackByName(stack.stackName).template;
  const resolved = resolveStack(template, { stackName, region: REGION });
  const scene = keySetScene(resolved, { label: stackName, keySetPath: 'AemEstate/CryptoKeys', instanceRolePaths: ['AemEstate/Author/InstanceRole'] });
  // The construct ids the app chooses (the library may derive its own from the stack).
  const appIds = stack.node.children.map((c) => c.node.path).sort();
  return { resolved, scene, appIds };
}

const [a, b] = NAMES.map(deploy);

const NAME_PROPERTIES: Record<string, string[]> = {
  'AWS::Events::Rule': ['Name'],
  'AWS::SSM::Document': ['Name'],
  'AWS::SSM::Association': ['AssociationName'],
  'AWS::KMS::Alias': ['AliasName'],
  'AWS::Logs::LogGroup': ['LogGroupName'],
  'AWS::Logs::ResourcePolicy': ['PolicyName'],
  'AWS::CloudWatch::Alarm': ['AlarmName'],
  'AWS::AutoScaling::LifecycleHook': ['LifecycleHookName'],
  'AWS::EC2::LaunchTemplate': ['LaunchTemplateName'],
  'AWS::SQS::Queue': ['QueueName'],
  'AWS::SNS::Topic': ['TopicName'],
  'AWS::IAM::Role': ['RoleName'],
  'AWS::SecretsManager::Secret': ['Name'],
  'AWS::Lambda::Function': ['FunctionName'],
  'AWS::AutoScaling::AutoScalingGroup': ['AutoScalingGroupName'],
};

/**
 * Every name the template itself chooses (CloudFormation generates the others from the stack
 * name, unique per stack): named resources, lifecycle hooks, metric namespaces and the loop
 * alarms' name prefix.
 */
function chosenNames(resolved: ResolvedStack): Set<string> {
  const names = new Set<string>();
  for (const r of Object.values(resolved.resources) as any[]) {
    for (const prop of NAME_PROPERTIES[r.Type] ?? []) {
      if (r.Properties[prop] !== undefined) names.add(`${r.Type}.${prop}=${r.Properties[prop]}`);
    }
    for (const hook of r.Properties.LifecycleHookSpecificationList ?? []) names.add(`lifecycle hook=${hook.LifecycleHookName}`);
    collectNamespaces(r.Properties, names);
    for (const prefix of prefixesOf(r.Properties.EventPattern)) names.add(`rule pattern prefix=${prefix}`);
  }
  return names;
}

function collectNamespaces(value: any, out: Set<string>): void {
  if (Array.isArray(value)) {
    value.forEach((v) => collectNamespaces(v, out));
  } else if (value && typeof value === 'object') {
    for (const [k, v] of Object.entries(value)) {
      if (['Namespace', 'MetricNamespace', 'cloudwatch:namespace'].includes(k) && typeof v === 'string' && !v.startsWith('AWS/')) {
        out.add(`metric namespace=${v}`);
      } else {
        collectNamespaces(v, out);
      }
    }
  }
}

function prefixesOf(pattern: any): string[] {
  if (!pattern || typeof pattern !== 'object') return [];
  if (Array.isArray(pattern)) return pattern.flatMap((p) => (p && typeof p === 'object' && 'prefix' in p ? [p.prefix] : prefixesOf(p)));
  return Object.values(pattern).flatMap(prefixesOf);
}

/** The events a deployment's own resources cause (EventBridge's documented shapes). */
function eventsOf(scene: KeySetScene): { what: string; event: any }[] {
  const base = { version: '0', account: scene.account, region: scene.region, time: '2026-12-03T10:00:00Z' };
  const launches = scene.groups.map((g) => ({
    what: `launch of ${g.name}`,
    event: {
      ...base, 'id': 'launch', 'source': 'aws.autoscaling', 'detail-type': 'EC2 Instance-launch Lifecycle Action', 'resources': [g.arn],
      'detail': {
        LifecycleActionToken: '87654321-4321-4321-4321-210987654321', AutoScalingGroupName: g.name, LifecycleHookName: g.hookName,
        EC2InstanceId: 'i-1234567890abcdef0', LifecycleTransition: 'autoscaling:EC2_INSTANCE_LAUNCHING',
        Origin: 'EC2', Destination: 'AutoScalingGroup',
      },
    },
  }));
  const associations = scene.associationRules.flatMap((r) => r.pattern.detail['association-id'].map((id: string) => ({
    what: `failed association run ${id}`,
    event: {
      ...base, 'id': 'association', 'source': 'aws.ssm', 'detail-type': 'EC2 State Manager Instance Association State Change',
      'resources': [`arn:aws:ec2:${scene.region}:${scene.account}:instance/i-1234567890abcdef0`],
      'detail': { 'association-id': id, 'instance-id': 'i-1234567890abcdef0', 'document-name': scene.installerDocument, 'status': 'Failed' },
    },
  })));
  const alarms = scene.alarms.map((alarm) => ({
    what: `alarm ${alarm.name}`,
    event: {
      ...base, 'id': 'alarm', 'source': 'aws.cloudwatch', 'detail-type': 'CloudWatch Alarm State Change', 'resources': [alarm.arn],
      'detail': { alarmName: alarm.name, state: { value: 'ALARM' }, previousState: { value: 'OK' } },
    },
  }));
  return [...launches, ...associations, ...alarms];
}

function rulesOfScene(scene: KeySetScene) {
  return [...(scene.lifecycle?.rules ?? []), ...scene.associationRules, ...(scene.loop ? [scene.loop.rule] : [])];
}

function rulesOf(resolved: ResolvedStack): { name: string; pattern: any }[] {
  return Object.values(resolved.resources)
    .filter((r: any) => r.Type === 'AWS::Events::Rule')
    .map((r: any) => ({ name: r.Properties.Name, pattern: r.Properties.EventPattern }));
}

describe('two deployments of the same app in one account and region', () => {
  test('the stack names share 40 characters and the app\'s construct paths are the same', () => {
    expect(NAMES[0].slice(0, 40)).toBe(NAMES[1].slice(0, 40));
    expect(a.appIds).toContain('AemEstate/CryptoKeys');
    expect(a.appIds).toEqual(b.appIds);
  });

  test('each deployment\'s alarms notify its own topic only', () => {
    for (const [own, other] of [[a.scene, b.scene], [b.scene, a.scene]]) {
      expect(own.alarms.length).toBeGreaterThan(0);
      expect(own.alarms.filter((alarm) => alarm.actions.some((t) => t !== own.topic!.arn))).toEqual([]);
      expect(own.topic!.arn).not.toBe(other.topic!.arn);
    }
  });

  test('share no physical name (rules, documents, aliases, log groups, resource policies, alarms, namespaces, hooks)', () => {
    const namesA = chosenNames(a.resolved);
    const namesB = chosenNames(b.resolved);
    expect(namesA.size).toBeGreaterThan(5); // a control: the names are found at all
    expect([...namesA].filter((n) => namesB.has(n))).toEqual([]);
  });

  test.each([[0, 1], [1, 0]])('deployment %i\'s rules match its own events and none of deployment %i\'s', (i, j) => {
    const [own, other] = [[a, b][i], [a, b][j]];
    const rules = rulesOf(own.resolved);
    const ownEvents = eventsOf(own.scene);
    // Every own event that some rule listens for is matched (a control for the matcher and the events).
    expect(ownEvents.filter((e) => e.what.startsWith('launch')).every((e) => rules.some((r) => matchesPattern(r.pattern, e.event)))).toBe(true);
    expect(ownEvents.filter((e) => e.what.startsWith('failed')).every((e) => rules.some((r) => matchesPattern(r.pattern, e.event)))).toBe(true);
    const crossed = eventsOf(other.scene)
      .flatMap((e) => rules.filter((r) => matchesPattern(r.pattern, e.event)).map((r) => `${r.name} matches ${e.what}`));
    expect(crossed).toEqual([]);
  });

  describe('no role or service of one acts on the other\'s resources', () => {
    const sceneA = a.scene;
    const sceneB = b.scene;
    const groupRoleA = sceneA.groups[0].instanceRole!;
    const request = (label: string, r: Omit<ConcreteRequest, 'label'>): ConcreteRequest => ({ label, ...r });
    const tagContext = (prefix: string, tags: Record<string, string>) =>
      Object.fromEntries(Object.entries(tags).map(([k, v]) => [`${prefix}${k}`, v]));
    const instance = `arn:aws:ec2:${REGION}:${sceneA.account}:instance/i-0bbbbbbbbbbbbbbbb`;

    const cases: ConcreteRequest[] = [
      request('A\'s publish instances read B\'s secret', {
        principal: groupRoleA.arn, action: 'secretsmanager:GetSecretValue', resource: sceneB.secretArn,
        context: {}, identityPolicies: groupRoleA.policies,
      }),
      request('A\'s publish instances decrypt with B\'s key', {
        principal: groupRoleA.arn, action: 'kms:Decrypt', resource: sceneB.secretKey!.arn,
        context: { 'kms:ViaService': `secretsmanager.${REGION}.amazonaws.com` },
        identityPolicies: groupRoleA.policies, resourcePolicy: sceneB.secretKey!.policy,
      }),
      request('A\'s Automation sends to an untagged instance', {
        principal: sceneA.lifecycle!.role.arn, action: 'ssm:SendCommand', resource: instance,
        context: {}, identityPolicies: sceneA.lifecycle!.role.policies,
      }),
      request('A\'s Automation sends to B\'s gated instance', {
        principal: sceneA.lifecycle!.role.arn, action: 'ssm:SendCommand', resource: instance,
        context: tagContext('ssm:resourceTag/', sceneB.groups[0].instanceTags), identityPolicies: sceneA.lifecycle!.role.policies,
      }),
      request('A\'s Automation sends B\'s installer', {
        principal: sceneA.lifecycle!.role.arn, action: 'ssm:SendCommand',
        resource: `arn:aws:ssm:${REGION}:${sceneA.account}:document/${sceneB.installerDocument}`,
        context: {}, identityPolicies: sceneA.lifecycle!.role.policies,
      }),
      request('A\'s Automation completes B\'s launches', {
        principal: sceneA.lifecycle!.role.arn, action: 'autoscaling:CompleteLifecycleAction', resource: sceneB.groups[0].arn,
        context: tagContext('autoscaling:ResourceTag/', sceneB.groups[0].tags), identityPolicies: sceneA.lifecycle!.role.policies,
      }),
      request('A\'s launch-loop Automation suspends B\'s group', {
        principal: sceneA.loop!.role.arn, action: 'autoscaling:SuspendProcesses', resource: sceneB.groups[0].arn,
        context: tagContext('autoscaling:ResourceTag/', sceneB.groups[0].tags), identityPolicies: sceneA.loop!.role.policies,
      }),
      request('A\'s launch-loop Automation suspends an ungated group', {
        principal: sceneA.loop!.role.arn, action: 'autoscaling:SuspendProcesses',
        resource: `arn:aws:autoscaling:${REGION}:${sceneA.account}:autoScalingGroup:0f1e2d3c-4b5a-6978-8695-a4b3c2d1e0f9:autoScalingGroupName/web`,
        context: {}, identityPolicies: sceneA.loop!.role.policies,
      }),
      request('A\'s launch-loop Automation reads B\'s loop alarms', {
        principal: sceneA.loop!.role.arn, action: 'cloudwatch:DescribeAlarms',
        resource: `arn:aws:cloudwatch:${REGION}:${sceneA.account}:alarm:${sceneB.loop!.alarmNames[0]}`,
        context: {}, identityPolicies: sceneA.loop!.role.policies,
      }),
      ...rulesOfScene(sceneB).map((rule) => request(`B's rule ${rule.name} dead-letters into A's queue`, {
        principal: 'events.amazonaws.com', action: 'sqs:SendMessage', resource: sceneA.deadLetterQueue!.arn,
        context: { 'aws:SourceArn': rule.arn, 'aws:SourceAccount': sceneA.account },
        identityPolicies: [], resourcePolicy: sceneA.deadLetterQueue!.policy,
      })),
      // B's alarms name only B's topic as their action; the topic policy's scope is the account's
      // alarms (issue 17: aws:SourceAccount, aws:SourceArn), so the deputy it refuses is another account's.
      request('another account\'s alarm publishes to A\'s topic', {
        principal: 'cloudwatch.amazonaws.com', action: 'sns:Publish', resource: sceneA.topic!.arn,
        context: { 'aws:SourceArn': `arn:aws:cloudwatch:${REGION}:444455556666:alarm:${sceneB.alarms[0].name}`, 'aws:SourceAccount': '444455556666' },
        identityPolicies: [], resourcePolicy: sceneA.topic!.policy,
      }),
      ...sceneB.associationRules.map((rule) => request(`B's association rule writes A's log group`, {
        principal: 'events.amazonaws.com', action: 'logs:PutLogEvents',
        resource: `arn:aws:logs:${REGION}:${sceneA.account}:log-group:${sceneA.logGroupName}:log-stream:run-1`,
        context: { 'aws:SourceArn': rule.arn, 'aws:SourceAccount': sceneA.account }, identityPolicies: [],
        resourcePolicy: { Version: '2012-10-17', Statement: sceneA.logResourcePolicies.flatMap((p) => p.Statement) },
      })),
    ];

    test.each(cases.map((c) => [c.label, c] as const))('%s: denied', async (_label, req) => {
      const { result, invalidRequestKeys } = await evaluate(req);
      expect({ result: DENIED.includes(result) ? 'denied' : result, invalidRequestKeys }).toEqual({ result: 'denied', invalidRequestKeys: [] });
    });
  });

  describe('a minimal app (same construct ids, stack names sharing 32 characters)', () => {
    /** One key set gating one group, in a stack of construct id `id` named `stackName` (by default its id). */
    const deployMinimal = (stackName?: string, id = 'Aem') => {
      const app = new App();
      const stack = new Stack(app, id, { stackName });
      const subnetConfiguration = [{ name: 'app', subnetType: ec2.SubnetType.PRIVATE_ISOLATED }];
      const vpc = new ec2.Vpc(stack, 'Vpc', { maxAzs: 1, natGateways: 0, subnetConfiguration });
      const keys = new AemCryptoKeys(stack, 'Keys');
      const asg = new autoscaling.AutoScalingGroup(stack, 'Publish', {
        vpc,
        launchTemplate: new ec2.LaunchTemplate(stack, 'PublishTemplate', {
          instanceType: new ec2.InstanceType('m6i.large'),
          machineImage: ec2.MachineImage.genericLinux({ 'us-east-1': 'ami-12345678' }),
          role: new iam.Role(stack, 'PublishRole', { assumedBy: new iam.ServicePrincipal('ec2.amazonaws.com') }),
        }),
      });
      const { hookName } = keys.addAutoScalingGroup(asg);
      const rules = Object.values(Template.fromStack(stack).findResources('AWS::Events::Rule'))
        .map((r: any) => r.Properties.EventPattern)
        .filter((p: any) => p.source?.[0] === 'aws.autoscaling');
      return { hookName, rules, keys };
    };
    const launch = (hookName: string) => ({
      'source': 'aws.autoscaling',
      'detail-type': 'EC2 Instance-launch Lifecycle Action',
      'detail': { LifecycleHookName: hookName, LifecycleTransition: 'autoscaling:EC2_INSTANCE_LAUNCHING', AutoScalingGroupName: 'Aem-PublishASG-X' },
    });
    const dev = deployMinimal('acme-aem65-publish-platform-nonprod-dev');
    const test_ = deployMinimal('acme-aem65-publish-platform-nonprod-test');

    test('the default hook names differ (the whole stack name is hashed)', () => {
      expect(dev.hookName).not.toEqual(test_.hookName);
      expect(dev.hookName).toMatch(/^aem-keys-acme-aem65-publish-plat-[0-9a-f]{8}-[0-9a-f]{12}$/);
      expect(dev.hookName.length).toBeLessThanOrEqual(9 + 32 + 13);
    });

    test('neither deployment\'s rule matches the other\'s launches', () => {
      expect(dev.rules).toHaveLength(1);
      expect(test_.rules).toHaveLength(1);
      expect(matchesPattern(dev.rules[0], launch(dev.hookName))).toBe(true);
      expect(matchesPattern(dev.rules[0], launch(test_.hookName))).toBe(false);
      expect(matchesPattern(test_.rules[0], launch(dev.hookName))).toBe(false);
      expect(matchesPattern(test_.rules[0], launch(test_.hookName))).toBe(true);
    });

    test('the metric namespaces differ: each deployment\'s alarms count its own events only', () => {
      expect(dev.keys.metricsNamespace).toBe('AemCryptoKeys/acme-aem65-publish-platform-nonprod-dev/Keys');
      expect(test_.keys.metricsNamespace).toBe('AemCryptoKeys/acme-aem65-publish-platform-nonprod-test/Keys');
    });

    test('a stack named by its construct id keeps its former names (no change on upgrade)', () => {
      const { hookName, keys } = deployMinimal(undefined, 'GateStack');
      expect(hookName).toMatch(/^aem-keys-GateStack-[0-9a-f]{12}$/);
      expect(keys.metricsNamespace).toBe('AemCryptoKeys/GateStack/Keys');
    });

    test('a namespace over 255 characters is cut and ends in a hash of the whole, so long names stay distinct', () => {
      const app = new App();
      const stack = new Stack(app, 'S', { stackName: `s${'x'.repeat(126)}` });
      const a = new AemCryptoKeys(stack, `${'k'.repeat(200)}A`);
      const b = new AemCryptoKeys(stack, `${'k'.repeat(200)}B`);
      for (const ns of [a.metricsNamespace, b.metricsNamespace]) expect(ns.length).toBe(255);
      expect(a.metricsNamespace).not.toEqual(b.metricsNamespace);
    });
  });
});
