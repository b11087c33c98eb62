/**
 * Walks the step graph of the synthesized lifecycle Automation document: whatever happens, a
 * launching instance ends in CompleteLifecycleAction, and CONTINUE only after the installer ran.
 */
import { App, Stack } from 'aws-cdk-lib';
import * as autoscaling from 'aws-cdk-lib/aws-autoscaling';
import * as ec2 from 'aws-cdk-lib/aws-ec2';
import { AemCryptoKeys } from '../lib';

type Edge = { to: string; kind: 'success' | 'failure' | 'cancel' | 'timeout' };
const END = '(end)';
const ABORT = '(abort)';

function automationContent(): any {
  const app = new App();
  const stack = new Stack(app, 'GraphStack');
  const vpc = new ec2.Vpc(stack, 'Vpc', { maxAzs: 1, natGateways: 0, subnetConfiguration: [{ name: 'app', subnetType: ec2.SubnetType.PRIVATE_ISOLATED }] });
  const keys = new AemCryptoKeys(stack, 'Keys');
  const asg = new autoscaling.AutoScalingGroup(stack, 'Publish', {
    vpc,
    instanceType: new ec2.InstanceType('m6i.large'),
    machineImage: ec2.MachineImage.genericLinux({ 'us-east-1': 'ami-12345678' }),
  });
  keys.addAutoScalingGroup(asg, { startAfterInstall: true });
  const template = app.synth().getStackByName('GraphStack').template;
  const docs = Object.values(template.Resources as Record<string, any>)
    .filter((r) => r.Type === 'AWS::SSM::Document' && r.Properties.DocumentType === 'Automation');
  expect(docs).toHaveLength(1);
  return { content: docs[0].Properties.Content, installerRef: installerRefOf(template) };
}

function installerRefOf(template: any): string {
  const ids = Object.entries(template.Resources as Record<string, any>)
    .filter(([id, r]) => r.Type === 'AWS::SSM::Document' && r.Properties.DocumentType === 'Command' && id.startsWith('KeysInstallerDocument'))
    .map(([id]) => id);
  expect(ids).toHaveLength(1);
  return ids[0];
}

/**
 * The edges out of a step, following Automation's rules: `nextStep` (or, for `aws:branch`, every
 * choice and the default; or the next step in the list; or the end with `isEnd`) on success;
 * `onFailure` / `onCancel` (`Abort` by default, `Continue` = the success edge, `step:<name>`) on
 * failure, cancel, and on timeout, which Automation treats as a failure.
 */
function edgesOf(steps: any[], index: number): Edge[] {
  const step = steps[index];
  const names = new Set(steps.map((s) => s.name));
  const successTargets: string[] = [];
  if (step.action === 'aws:branch') {
    successTargets.push(...step.inputs.Choices.map((c: any) => c.NextStep), step.inputs.Default);
  } else if (step.isEnd) {
    successTargets.push(END);
  } else if (step.nextStep) {
    successTargets.push(step.nextStep);
  } else {
    successTargets.push(index + 1 < steps.length ? steps[index + 1].name : END);
  }
  const edges: Edge[] = successTargets.map((to) => ({ to, kind: 'success' }));
  const onError = (value: string | undefined, kind: Edge['kind']) => {
    const v = value ?? 'Abort';
    if (v === 'Abort') edges.push({ to: ABORT, kind });
    else if (v === 'Continue') edges.push(...successTargets.map((to) => ({ to, kind })));
    else if (v.startsWith('step:')) edges.push({ to: v.slice(5), kind });
    else throw new Error(`${step.name}: unknown onFailure/onCancel ${v}`);
  };
  onError(step.onFailure, 'failure');
  onError(step.onCancel, 'cancel');
  onError(step.onFailure, 'timeout');
  for (const e of edges) {
    if (e.to !== END && e.to !== ABORT && !names.has(e.to)) throw new Error(`${step.name}: edge to unknown step ${e.to}`);
  }
  return edges;
}

/** Every path from the first step to an end (END or ABORT); the graph must be acyclic. */
function allPaths(steps: any[]): Array<Array<{ step: string; via: Edge['kind'] }>> {
  const index = new Map(steps.map((s, i) => [s.name, i]));
  const paths: Array<Array<{ step: string; via: Edge['kind'] }>> = [];
  const walk = (name: string, path: Array<{ step: string; via: Edge['kind'] }>) => {
    if (name === END || name === ABORT) {
      paths.push([...path, { step: name, via: path.length ? path[path.length - 1].via : 'success' }]);
      return;
    }
    if (path.some((p) => p.step === name)) throw new Error(`cycle through ${name}`);
    for (const edge of edgesOf(steps, index.get(name)!)) {
      walk(edge.to, [...path, { step: name, via: edge.kind }]);
    }
  };
  walk(steps[0].name, []);
  return paths;
}

describe('lifecycle automation step graph', () => {
  const { content, installerRef } = automationContent();
  const steps: any[] = content.mainSteps;
  const byName = new Map(steps.map((s) => [s.name, s]));
  const result = (name: string) => (byName.get(name)?.action === 'aws:executeAwsApi' && byName.get(name)?.inputs.Api === 'CompleteLifecycleAction'
    ? byName.get(name).inputs.LifecycleActionResult : undefined);
  const isInstaller = (name: string) => byName.get(name)?.action === 'aws:runCommand'
    && byName.get(name)?.inputs.DocumentName?.Ref === installerRef;
  const paths = allPaths(steps);
  const continueSteps = steps.filter((s) => result(s.name) === 'CONTINUE').map((s) => s.name);
  const abandonSteps = steps.filter((s) => result(s.name) === 'ABANDON').map((s) => s.name);
  /** The launch result a step publishes: metric name and Reason, or undefined. */
  const published = (name: string) => {
    const s = byName.get(name);
    if (s?.action !== 'aws:executeAwsApi' || s.inputs.Api !== 'PutMetricData') return undefined;
    const reasons = s.inputs.MetricData.flatMap((d: any) => (d.Dimensions ?? []).filter((x: any) => x.Name === 'Reason').map((x: any) => x.Value));
    return { metric: s.inputs.MetricData[0].MetricName as string, reason: reasons[0] as string | undefined };
  };
  const recordSteps = steps.filter((s) => published(s.name)).map((s) => s.name);
  // The step after CONTINUE: the lifecycle action is complete, it only counts.
  const afterContinue = continueSteps.length ? [byName.get(continueSteps[0]).nextStep] : [];

  test('one CONTINUE step and one ABANDON step', () => {
    expect(continueSteps).toHaveLength(1);
    expect(abandonSteps).toHaveLength(1);
  });

  test('ABANDON ends; CONTINUE is followed by its count, which ends', () => {
    expect(published(afterContinue[0])).toEqual({ metric: 'LaunchesContinued', reason: undefined });
    expect(byName.get(afterContinue[0]).isEnd).toBe(true);
    expect(byName.get(abandonSteps[0]).isEnd).toBe(true);
  });

  test('the graph is acyclic and every step is reachable', () => {
    const reached = new Set(paths.flatMap((p) => p.map((n) => n.step)));
    for (const s of steps) expect(reached).toContain(s.name);
  });

  test('every failure, cancel or timeout edge before the lifecycle action is complete leads to ABANDON, through the count of its reason', () => {
    const expectedReason = (from: string, kind: Edge['kind']) => {
      if (kind === 'cancel') return 'Cancelled';
      if (byName.get(from)?.inputs?.Api === 'RecordLifecycleActionHeartbeat') return 'HeartbeatExpired';
      if (from === 'waitForSsmOnline') return 'AgentNotOnline';
      if (continueSteps.includes(from)) return 'LifecycleActionFailed';
      return 'InstallerFailed';
    };
    steps.forEach((s, i) => {
      if (abandonSteps.includes(s.name) || afterContinue.includes(s.name)) return;
      for (const edge of edgesOf(steps, i).filter((e) => e.kind !== 'success')) {
        if (recordSteps.includes(s.name)) {
          // A count that fails must not keep the instance from being abandoned.
          expect({ from: s.name, kind: edge.kind, to: edge.to }).toEqual({ from: s.name, kind: edge.kind, to: abandonSteps[0] });
          continue;
        }
        expect({ from: s.name, kind: edge.kind, published: published(edge.to) })
          .toEqual({ from: s.name, kind: edge.kind, published: { metric: 'LaunchesAbandoned', reason: expectedReason(s.name, edge.kind) } });
        const [next] = edgesOf(steps, steps.indexOf(byName.get(edge.to)));
        expect(next).toEqual({ to: abandonSteps[0], kind: 'success' });
      }
    });
    // Nothing marks a failure as harmless.
    for (const s of steps) expect(s.isCritical).not.toBe(false);
  });

  test('every path publishes exactly one result, and it is the result the path ends in', () => {
    for (const p of paths) {
      const counts = p.filter((n) => recordSteps.includes(n.step)).map((n) => published(n.step)!.metric);
      const completedWith = p.some((n) => continueSteps.includes(n.step) && n.via === 'success') ? 'LaunchesContinued' : 'LaunchesAbandoned';
      expect(counts).toEqual([completedWith]);
      if (completedWith === 'LaunchesAbandoned') expect(p.some((n) => abandonSteps.includes(n.step))).toBe(true);
    }
  });

  test('the all-success path of every branch ends in CONTINUE (and its count)', () => {
    const successOnly = paths.filter((p) => p.slice(0, -1).every((n) => n.via === 'success'));
    expect(successOnly.length).toBeGreaterThanOrEqual(2); // service and warm-pool branches
    for (const p of successOnly) {
      expect(p[p.length - 3].step).toBe(continueSteps[0]);
      expect(p[p.length - 2].step).toBe(afterContinue[0]);
      expect(p[p.length - 1].step).toBe(END);
    }
  });

  test('no path reaches CONTINUE without a successful installer runCommand before it', () => {
    const toContinue = paths.filter((p) => p.some((n) => n.step === continueSteps[0]));
    expect(toContinue.length).toBeGreaterThan(0);
    for (const p of toContinue) {
      const before = p.slice(0, p.findIndex((n) => n.step === continueSteps[0]));
      expect(before.some((n) => isInstaller(n.step) && n.via === 'success')).toBe(true);
    }
  });

  test('every path ends by completing the lifecycle action (or counting a CONTINUE), only a failed ABANDON call or count aborts', () => {
    for (const p of paths) {
      const last = p[p.length - 2].step;
      expect([...afterContinue, ...abandonSteps]).toContain(last);
      if (afterContinue.includes(last)) expect(p[p.length - 3]).toEqual({ step: continueSteps[0], via: 'success' });
      if (p[p.length - 1].step === ABORT) {
        // The ABANDON call (the hook's DefaultResult ABANDON still applies then), or the count
        // after a completed CONTINUE.
        expect([...abandonSteps, ...afterContinue]).toContain(last);
      }
    }
  });

  test('the first step records a heartbeat, and another heartbeat comes between the two long waits', () => {
    const isHeartbeat = (name: string) => byName.get(name)?.action === 'aws:executeAwsApi'
      && byName.get(name)?.inputs.Api === 'RecordLifecycleActionHeartbeat';
    expect(isHeartbeat(steps[0].name)).toBe(true);
    // On every path, a heartbeat (with success) comes before the wait for the agent and before each installer run.
    for (const p of paths) {
      p.forEach((n, i) => {
        const s = byName.get(n.step);
        if (s && ['aws:waitForAwsResourceProperty', 'aws:runCommand'].includes(s.action)) {
          const before = p.slice(0, i);
          const lastWait = before.map((b) => byName.get(b.step)?.action).lastIndexOf('aws:waitForAwsResourceProperty');
          expect(before.slice(lastWait + 1).some((b) => isHeartbeat(b.step) && b.via === 'success')).toBe(true);
        }
      });
    }
  });

  test('every AWS API step retries, each attempt bounded', () => {
    for (const s of steps.filter((x) => ['aws:executeAwsApi', 'aws:waitForAwsResourceProperty'].includes(x.action))) {
      expect({ step: s.name, retries: s.maxAttempts >= 3, bounded: s.timeoutSeconds > 0 }).toEqual({ step: s.name, retries: true, bounded: true });
    }
  });

  test('steps that wait are bounded', () => {
    for (const s of steps.filter((x) => ['aws:waitForAwsResourceProperty', 'aws:runCommand'].includes(x.action))) {
      expect(typeof s.timeoutSeconds).toBe('number');
      expect(s.timeoutSeconds).toBeGreaterThan(0);
    }
  });

  test('both branches run the installer; the warm-pool install neither starts nor restarts AEM', () => {
    const branch = steps.find((s) => s.action === 'aws:branch');
    const warm = branch.inputs.Choices.find((c: any) => c.StringEquals === 'WarmPool').NextStep;
    expect(byName.get(warm).inputs.Parameters).toMatchObject({ StartAfterInstall: 'false', Restart: 'none' });
    expect(isInstaller(warm)).toBe(true);
    expect(isInstaller(branch.inputs.Default)).toBe(true);
  });
});

describe('the walker itself', () => {
  test('a step without onFailure aborts; Continue follows the success edge', () => {
    const steps = [
      { name: 'a', action: 'aws:sleep', nextStep: 'b' },
      { name: 'b', action: 'aws:sleep', onFailure: 'Continue', onCancel: 'step:a', isEnd: true },
    ];
    expect(edgesOf(steps, 0)).toEqual([{ to: 'b', kind: 'success' }, { to: ABORT, kind: 'failure' }, { to: ABORT, kind: 'cancel' }, { to: ABORT, kind: 'timeout' }]);
    expect(edgesOf(steps, 1)).toEqual([{ to: END, kind: 'success' }, { to: END, kind: 'failure' }, { to: 'a', kind: 'cancel' }, { to: END, kind: 'timeout' }]);
    expect(() => allPaths(steps)).toThrow(/cycle/);
  });
});
