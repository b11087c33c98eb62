/**
 * The scale simulation's core (scripts/scale-sim.ts): it reads the gate from the synthesized
 * template, and small cases have known answers. Timings are the benchmark's (npm run bench:scale).
 */
import { App, Duration, Stack } from 'aws-cdk-lib';
import * as autoscaling from 'aws-cdk-lib/aws-autoscaling';
import * as ec2 from 'aws-cdk-lib/aws-ec2';
import { AemCryptoKeys } from '../lib';
import { ABORT, DEFAULT_MODEL, END, gateSpecOf, GateSpec, Model, percentile, SimStep, simulate, withoutHeartbeatsOrRetries } from '../scripts/scale-sim';

function template(options: { heartbeatTimeout?: Duration; commandTimeout?: Duration; ssmOnlineTimeout?: Duration } = {}): any {
  const app = new App();
  const stack = new Stack(app, 'SimStack');
  const vpc = new ec2.Vpc(stack, 'Vpc', { maxAzs: 1, natGateways: 0, subnetConfiguration: [{ name: 'app', subnetType: ec2.SubnetType.PRIVATE_ISOLATED }] });
  const keys = new AemCryptoKeys(stack, 'Keys');
  keys.addAutoScalingGroup(new autoscaling.AutoScalingGroup(stack, 'Publish', {
    vpc,
    instanceType: new ec2.InstanceType('m6i.large'),
    machineImage: ec2.MachineImage.genericLinux({ 'us-east-1': 'ami-12345678' }),
  }), options);
  return app.synth().getStackByName('SimStack').template;
}

describe('the gate, read from the template', () => {
  const tpl = template({ heartbeatTimeout: Duration.minutes(50), commandTimeout: Duration.minutes(25), ssmOnlineTimeout: Duration.minutes(12) });
  const spec = gateSpecOf(tpl);
  const doc = Object.values(tpl.Resources as Record<string, any>).find((r) => r.Type === 'AWS::SSM::Document' && r.Properties.DocumentType === 'Automation')
    .Properties.Content;

  test('steps, timeouts and attempts are the document\'s', () => {
    expect(spec.steps.map((s) => s.name)).toEqual(doc.mainSteps.map((s: any) => s.name));
    spec.steps.forEach((s, i) => {
      expect([s.timeoutSeconds, s.maxAttempts]).toEqual([doc.mainSteps[i].timeoutSeconds, doc.mainSteps[i].maxAttempts ?? 1]);
    });
  });

  test('APIs, results and edges are the document\'s, the timeouts those given', () => {
    const step = (name: string) => spec.steps.find((s) => s.name === name)!;
    expect(step('waitForSsmOnline')).toMatchObject({ api: 'DescribeInstanceInformation', timeoutSeconds: 240, maxAttempts: 3, onFailure: 'recordAbandonAgentNotOnline' });
    expect(step('installKeys')).toMatchObject({ timeoutSeconds: 1500, next: 'completeLifecycleContinue' });
    expect(step('chooseInstallPath').next).toBe('installKeys');
    expect(step('completeLifecycleAbandon')).toMatchObject({ result: 'ABANDON', next: END, onFailure: ABORT });
    expect(spec.steps[0]).toMatchObject({ api: 'RecordLifecycleActionHeartbeat', maxAttempts: 3 });
  });

  test('heartbeat and retry policy are the hook\'s and the rule\'s', () => {
    expect(spec).toMatchObject({ heartbeatSeconds: 3000, defaultResult: 'ABANDON', maxEventAgeSeconds: 600, maxRetryAttempts: 8 });
  });

  describe('today\'s document (without heartbeats or retries)', () => {
    const today = withoutHeartbeatsOrRetries(spec);

    test('the heartbeat steps removed', () => {
      expect(today.steps.map((s) => s.name)).toEqual(spec.steps.filter((s) => s.api !== 'RecordLifecycleActionHeartbeat').map((s) => s.name));
      expect(today.steps.map((s) => s.name)).not.toContain('refreshLifecycleHeartbeat');
      expect(today.steps.length).toBe(spec.steps.length - 2);
    });

    test('the wait comes first: one attempt of the whole timeout, its edge past the removed heartbeat', () => {
      expect(today.steps[0].name).toBe('waitForSsmOnline');
      expect(today.steps[0]).toMatchObject({ next: 'chooseInstallPath', maxAttempts: 1, timeoutSeconds: 720 });
    });

    test('one attempt each; every edge leads to a step that is there', () => {
      const names = new Set([...today.steps.map((s) => s.name), END, ABORT]);
      for (const s of today.steps) {
        expect([s.name, s.maxAttempts, names.has(s.next), names.has(s.onFailure)]).toEqual([s.name, 1, true, true]);
      }
    });
  });
});

describe('known answers', () => {
  const api = (name: string, apiName: string, next: string, extra: Partial<SimStep> = {}): SimStep => ({
    name, action: 'aws:executeAwsApi', api: apiName, maxAttempts: 1, timeoutSeconds: 60, next, onFailure: 'abandon', ...extra,
  });
  const steps = (attempts = 1): SimStep[] => [
    api('heartbeat', 'RecordLifecycleActionHeartbeat', 'wait', { maxAttempts: attempts }),
    { name: 'wait', action: 'aws:waitForAwsResourceProperty', api: 'DescribeInstanceInformation', timeoutSeconds: 1000, maxAttempts: 1, next: 'install', onFailure: 'abandon' },
    { name: 'install', action: 'aws:runCommand', timeoutSeconds: 5000, maxAttempts: 1, next: 'continue', onFailure: 'abandon' },
    api('continue', 'CompleteLifecycleAction', END, { result: 'CONTINUE' }),
    api('abandon', 'CompleteLifecycleAction', END, { result: 'ABANDON', onFailure: ABORT }),
  ];
  const spec = (over: Partial<GateSpec> = {}): GateSpec => ({
    steps: steps(), heartbeatSeconds: 400, defaultResult: 'ABANDON', maxEventAgeSeconds: 600, maxRetryAttempts: 8, ...over,
  });
  const model: Model = {
    ...DEFAULT_MODEL,
    concurrency: 1,
    delivery: [0, 0],
    agentOnline: [100, 100],
    installer: [200, 200],
    slowShare: 0,
    apiLatency: 0,
    pollSeconds: 10,
    retryDelay: [5, 5],
    replaceSeconds: 60,
    rates: {},
    horizonSeconds: 3600,
  };

  test('one launch: InService when the agent is online (100 s) and the installer ran (200 s)', () => {
    expect(simulate(spec(), { groups: 1, perGroup: 1 }, model)).toMatchObject({ launches: 1, abandoned: 0, inService: [300] });
  });

  test('one Automation slot, heartbeat 400 s: the second launch waits 300 s in the queue; its first heartbeat saves it', () => {
    expect(simulate(spec(), { groups: 1, perGroup: 2 }, model))
      .toMatchObject({ launches: 2, abandoned: 0, expired: 0, inService: [300, 500], maxQueued: 1 });
  });

  test('the same without the heartbeat step: the second launch expires at 400 s while its installer runs; its replacement (460 s) serves at 760 s', () => {
    const today = withoutHeartbeatsOrRetries(spec());
    expect(simulate(today, { groups: 1, perGroup: 2 }, model)).toMatchObject({ launches: 3, abandoned: 1, expired: 1, inService: [300, 760] });
  });

  const throttling: Model = { ...model, concurrency: 2, rates: { RecordLifecycleActionHeartbeat: { perSecond: 1, burst: 1 } }, horizonSeconds: 50 };

  test('a throttled heartbeat abandons a healthy launch with one attempt', () => {
    expect(simulate(spec(), { groups: 1, perGroup: 2 }, throttling)).toMatchObject({ launches: 2, abandoned: 1, expired: 0 });
  });

  test('a second heartbeat attempt 5 s later gets a new token: no launch abandoned', () => {
    expect(simulate(spec({ steps: steps(2) }), { groups: 1, perGroup: 2 }, { ...throttling, horizonSeconds: 3600 }))
      .toMatchObject({ launches: 2, abandoned: 0, inService: [300, 305] });
  });

  test('deterministic: the same seed gives the same run, another seed another', () => {
    const real = gateSpecOf(template());
    const run = (seed: number) => simulate(real, { groups: 2, perGroup: 5 }, { ...DEFAULT_MODEL, seed });
    expect(run(7)).toEqual(run(7));
    expect(run(7).inService).not.toEqual(run(8).inService);
  });

  test('percentile: nearest rank', () => {
    expect([percentile([1, 2, 3, 4], 50), percentile([1, 2, 3, 4], 99), percentile([5], 1)]).toEqual([2, 4, 5]);
  });
});
