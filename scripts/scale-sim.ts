/**
 * A discrete-event model of the lifecycle gate at fleet scale (issue 18; docs/fleet.md, "Scale").
 *
 * Driven by the synthesized template: the Automation document's steps (action, API, timeouts,
 * maxAttempts, success and failure edges), the hook's heartbeat and default result, and the rule
 * target's retry policy. Everything AWS does not document is a stated assumption in `Model`.
 * Deterministic: one seeded random generator.
 */

/** One step of the Automation, as the simulator follows it. */
export interface SimStep {
  readonly name: string;
  readonly action: string;
  readonly api?: string;
  /** Timeout of one attempt (seconds). */
  readonly timeoutSeconds?: number;
  readonly maxAttempts: number;
  /** Success edge: a step name, or `END`. */
  readonly next: string;
  /** Failure (and timeout) edge: a step name, or `ABORT`. */
  readonly onFailure: string;
  /** `CompleteLifecycleAction` result, for those steps. */
  readonly result?: 'CONTINUE' | 'ABANDON';
}

export const END = '(end)';
export const ABORT = '(abort)';

/** What the template says about the gate. */
export interface GateSpec {
  readonly steps: SimStep[];
  /** Lifecycle hook `HeartbeatTimeout` (seconds). */
  readonly heartbeatSeconds: number;
  readonly defaultResult: 'CONTINUE' | 'ABANDON';
  /** Rule target retry policy. */
  readonly maxEventAgeSeconds: number;
  readonly maxRetryAttempts: number;
}

/** Reads the gate from a synthesized stack template (the first Automation document, hook and rule). */
export function gateSpecOf(template: any): GateSpec {
  const resources = Object.values(template.Resources as Record<string, any>);
  const doc = resources.find((r) => r.Type === 'AWS::SSM::Document' && r.Properties.DocumentType === 'Automation'
    && r.Properties.Content.mainSteps.some((s: any) => s.inputs?.Api === 'CompleteLifecycleAction'));
  if (!doc) throw new Error('no lifecycle Automation document in the template');
  const hook = resources.flatMap((r) => (r.Type === 'AWS::AutoScaling::AutoScalingGroup' ? r.Properties.LifecycleHookSpecificationList ?? [] : []))
    .find((h: any) => h.LifecycleTransition === 'autoscaling:EC2_INSTANCE_LAUNCHING');
  const target = resources.flatMap((r) => (r.Type === 'AWS::Events::Rule' ? r.Properties.Targets ?? [] : []))
    .find((t: any) => JSON.stringify(t.Arn).includes('automation-definition'));
  if (!hook || !target) throw new Error('no gated group (launching hook and rule target) in the template');
  return {
    steps: stepsOf(doc.Properties.Content.mainSteps),
    heartbeatSeconds: hook.HeartbeatTimeout,
    defaultResult: hook.DefaultResult,
    // EventBridge's default retry policy: 24 hours, 185 attempts (EventBridge API reference, RetryPolicy).
    maxEventAgeSeconds: target.RetryPolicy?.MaximumEventAgeInSeconds ?? 86_400,
    maxRetryAttempts: target.RetryPolicy?.MaximumRetryAttempts ?? 185,
  };
}

/** The simulator's view of Automation `mainSteps` (Automation's edge rules: nextStep, isEnd, onFailure). */
export function stepsOf(mainSteps: any[]): SimStep[] {
  return mainSteps.map((s, i) => {
    const following = i + 1 < mainSteps.length ? mainSteps[i + 1].name : END;
    const next = s.action === 'aws:branch' ? s.inputs.Default : s.isEnd ? END : s.nextStep ?? following;
    const onFailure = !s.onFailure || s.onFailure === 'Abort' ? ABORT : s.onFailure === 'Continue' ? next : s.onFailure.replace(/^step:/, '');
    return {
      name: s.name,
      action: s.action,
      api: s.inputs?.Api,
      timeoutSeconds: typeof s.timeoutSeconds === 'number' ? s.timeoutSeconds : undefined,
      maxAttempts: s.maxAttempts ?? 1,
      next,
      onFailure,
      result: s.inputs?.Api === 'CompleteLifecycleAction' ? s.inputs.LifecycleActionResult : undefined,
    };
  });
}

/**
 * Today's document, from the template's: no heartbeat steps (their edges lead past them), every
 * step one attempt, the wait for the agent one attempt of the whole `ssmOnlineTimeout`.
 */
export function withoutHeartbeatsOrRetries(spec: GateSpec): GateSpec {
  const heartbeats = new Map(spec.steps.filter((s) => s.api === 'RecordLifecycleActionHeartbeat').map((s) => [s.name, s.next]));
  const skip = (to: string): string => (heartbeats.has(to) ? skip(heartbeats.get(to)!) : to);
  const steps = spec.steps.filter((s) => !heartbeats.has(s.name)).map((s) => ({
    ...s,
    next: skip(s.next),
    onFailure: skip(s.onFailure),
    maxAttempts: 1,
    timeoutSeconds: s.action === 'aws:waitForAwsResourceProperty' && s.timeoutSeconds ? s.timeoutSeconds * s.maxAttempts : s.timeoutSeconds,
  }));
  return { ...spec, steps };
}

/** A token bucket: an API's request rate for the account (a call finding it empty is throttled). */
export interface Rate {
  readonly perSecond: number;
  readonly burst: number;
}

/** The assumptions (docs/fleet.md lists them with their sources or reasons). */
export interface Model {
  /** Concurrently running Automations (default quota 100; 500 with adaptive concurrency). */
  readonly concurrency: number;
  /** Automations the account queues beyond those (documented: 1,000). */
  readonly queueLimit: number;
  /** Launch to lifecycle event at the rule's target, seconds [min, max). */
  readonly delivery: [number, number];
  /** Launch to the SSM agent online, seconds [min, max). */
  readonly agentOnline: [number, number];
  /** The installer's run (cold AEM start included), seconds [min, max); `slowShare` of runs take `slow` instead. */
  readonly installer: [number, number];
  readonly slow: [number, number];
  readonly slowShare: number;
  /** Latency of one API call, seconds. */
  readonly apiLatency: number;
  /** Interval between the polls of `aws:waitForAwsResourceProperty`, seconds. */
  readonly pollSeconds: number;
  /** Delay before the next attempt of a failed step, seconds [min, max). */
  readonly retryDelay: [number, number];
  /** Abandoned (terminated) instance to its replacement's launch, seconds. */
  readonly replaceSeconds: number;
  /** Request rates per API; APIs not listed are never throttled. */
  readonly rates: Record<string, Rate>;
  /** End of the simulation (seconds); slots not in service by then count at this time. */
  readonly horizonSeconds: number;
  readonly seed: number;
}

export const DEFAULT_MODEL: Model = {
  concurrency: 100,
  queueLimit: 1_000,
  delivery: [0.5, 2],
  agentOnline: [60, 180],
  installer: [300, 900],
  slow: [900, 1_140],
  slowShare: 0.1,
  apiLatency: 0.3,
  pollSeconds: 15,
  retryDelay: [2, 10],
  replaceSeconds: 60,
  rates: {
    RecordLifecycleActionHeartbeat: { perSecond: 20, burst: 40 },
    CompleteLifecycleAction: { perSecond: 20, burst: 40 },
    DescribeInstanceInformation: { perSecond: 20, burst: 40 },
    SendCommand: { perSecond: 20, burst: 40 },
    PutMetricData: { perSecond: 150, burst: 300 },
  },
  horizonSeconds: 6 * 3_600,
  seed: 18,
};

/** A scale-out: `groups` groups each adding `perGroup` instances at time 0. */
export interface Scenario {
  readonly groups: number;
  readonly perGroup: number;
}

/** What happened. */
export interface SimResult {
  /** Launches, replacements included. */
  readonly launches: number;
  /** Launches abandoned (every simulated instance is healthy: each would have served). */
  readonly abandoned: number;
  /** Abandoned by the hook's default result (heartbeat ran out). */
  readonly expired: number;
  /** Seconds from the scale-out to InService, one per requested instance, ascending. */
  readonly inService: number[];
  /** Most Automations queued at once. */
  readonly maxQueued: number;
}

/** The p-th percentile (nearest rank) of ascending values. */
export function percentile(sorted: number[], p: number): number {
  if (!sorted.length) return NaN;
  return sorted[Math.min(sorted.length - 1, Math.max(0, Math.ceil((p / 100) * sorted.length) - 1))];
}

/** mulberry32: a small seeded generator. */
function random(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

interface Launch {
  readonly slot: number;
  readonly at: number;
  readonly agentAt: number;
  readonly installerSeconds: number;
  /** The hook's deadline while the lifecycle action is open. */
  deadline: number;
  state: 'waiting' | 'continued' | 'abandoned';
}

/** Runs one scenario against one gate. */
export function simulate(spec: GateSpec, scenario: Scenario, model: Model = DEFAULT_MODEL): SimResult {
  const rnd = random(model.seed);
  const between = ([lo, hi]: [number, number]) => lo + (hi - lo) * rnd();
  const byName = new Map(spec.steps.map((s) => [s.name, s]));
  const events: Array<{ t: number; seq: number; run: () => void }> = [];
  let seq = 0;
  let now = 0;
  const at = (t: number, run: () => void) => {
    events.push({ t, seq: seq++, run });
    let i = events.length - 1;
    while (i > 0) {
      const parent = (i - 1) >> 1;
      if (before(events[parent], events[i])) break;
      [events[parent], events[i]] = [events[i], events[parent]];
      i = parent;
    }
  };
  const pop = () => {
    const top = events[0];
    const last = events.pop()!;
    if (events.length) {
      events[0] = last;
      let i = 0;
      for (;;) {
        const l = 2 * i + 1;
        const r = l + 1;
        let m = i;
        if (l < events.length && before(events[l], events[m])) m = l;
        if (r < events.length && before(events[r], events[m])) m = r;
        if (m === i) break;
        [events[m], events[i]] = [events[i], events[m]];
        i = m;
      }
    }
    return top;
  };

  const buckets = new Map<string, { tokens: number; t: number }>();
  /** Whether a call of `api` now is throttled (its token bucket is empty). */
  const throttled = (api: string | undefined): boolean => {
    const rate = api ? model.rates[api] : undefined;
    if (!rate) return false;
    const b = buckets.get(api!) ?? { tokens: rate.burst, t: now };
    b.tokens = Math.min(rate.burst, b.tokens + (now - b.t) * rate.perSecond);
    b.t = now;
    buckets.set(api!, b);
    if (b.tokens < 1) return true;
    b.tokens -= 1;
    return false;
  };

  let launches = 0;
  let abandoned = 0;
  let expired = 0;
  let running = 0;
  let maxQueued = 0;
  const queue: Launch[] = [];
  const inService: number[] = [];
  const open = (l: Launch) => l.state === 'waiting' && now < l.deadline;

  const end = (l: Launch, how: 'continued' | 'abandoned') => {
    l.state = how;
    if (how === 'continued') {
      inService.push(now);
      return;
    }
    abandoned++;
    if (now + model.replaceSeconds < model.horizonSeconds) at(now + model.replaceSeconds, () => launch(l.slot));
  };

  const launch = (slot: number) => {
    launches++;
    const l: Launch = {
      slot,
      at: now,
      agentAt: now + between(model.agentOnline),
      installerSeconds: rnd() < model.slowShare ? between(model.slow) : between(model.installer),
      deadline: now + spec.heartbeatSeconds,
      state: 'waiting',
    };
    const checkExpiry = () => {
      if (l.state !== 'waiting') return;
      if (now < l.deadline) return at(l.deadline, checkExpiry);
      expired++;
      if (spec.defaultResult === 'ABANDON') end(l, 'abandoned');
      else end(l, 'continued');
    };
    at(l.deadline, checkExpiry);
    deliver(l, 0, now + between(model.delivery));
  };

  /** EventBridge starts the Automation; a refused start is retried with backoff within the retry policy. */
  const deliver = (l: Launch, retries: number, t: number) => at(t, () => {
    const full = running + queue.length >= model.concurrency + model.queueLimit;
    if (!full && !throttled('StartAutomationExecution')) {
      queue.push(l);
      maxQueued = Math.max(maxQueued, queue.length - Math.max(0, model.concurrency - running));
      startQueued();
      return;
    }
    const delay = Math.min(2 ** retries, 60) * (1 + rnd());
    if (retries < spec.maxRetryAttempts && now + delay - l.at <= spec.maxEventAgeSeconds) deliver(l, retries + 1, now + delay);
    // else: dead-lettered; the hook's default result decides.
  });

  const startQueued = () => {
    while (running < model.concurrency && queue.length) {
      const l = queue.shift()!;
      running++;
      step(l, spec.steps[0].name, 1);
    }
  };

  const finish = () => {
    running--;
    startQueued();
  };

  const go = (l: Launch, to: string) => {
    if (to === END || to === ABORT) return finish();
    step(l, to, 1);
  };

  /** One attempt of a step; on failure the next attempt or the failure edge. */
  const step = (l: Launch, name: string, attempt: number) => {
    const s = byName.get(name)!;
    const retry = () => at(now + between(model.retryDelay), () => step(l, name, attempt + 1));
    const fail = (t: number) => at(t, () => (attempt < s.maxAttempts ? retry() : go(l, s.onFailure)));
    const succeed = (t: number) => at(t, () => go(l, s.next));
    switch (s.action) {
      case 'aws:branch':
        return go(l, s.next);
      case 'aws:executeAwsApi':
        return at(now + model.apiLatency, () => {
          if (throttled(s.api)) return fail(now);
          if (s.api === 'RecordLifecycleActionHeartbeat') {
            if (!open(l)) return fail(now);
            l.deadline = now + spec.heartbeatSeconds;
          } else if (s.api === 'CompleteLifecycleAction') {
            if (!open(l)) return fail(now);
            end(l, s.result === 'CONTINUE' ? 'continued' : 'abandoned');
          }
          return succeed(now);
        });
      case 'aws:waitForAwsResourceProperty': {
        const deadline = now + (s.timeoutSeconds ?? Infinity);
        const poll = () => {
          if (throttled(s.api)) return fail(now);
          // A terminated instance never comes online: the wait runs into its timeout.
          if (l.state !== 'abandoned' && now >= l.agentAt) return succeed(now);
          if (now + model.pollSeconds > deadline) return fail(deadline);
          at(now + model.pollSeconds, poll);
        };
        return at(now + model.apiLatency, poll);
      }
      case 'aws:runCommand':
        return at(now + model.apiLatency, () => {
          if (throttled('SendCommand') || l.state === 'abandoned') return fail(now);
          const timeout = s.timeoutSeconds ?? Infinity;
          const done = Math.min(l.installerSeconds, timeout);
          // The installer fails when the instance is terminated while it runs (hook expired).
          at(now + done, () => (l.state === 'abandoned' || l.installerSeconds > timeout ? fail(now) : succeed(now)));
        });
      default:
        throw new Error(`step ${s.name}: action ${s.action} is not modelled`);
    }
  };

  for (let g = 0; g < scenario.groups; g++) {
    for (let i = 0; i < scenario.perGroup; i++) launch(g * scenario.perGroup + i);
  }
  while (events.length) {
    const e = pop();
    if (e.t > model.horizonSeconds) break;
    now = e.t;
    e.run();
  }
  const slots = scenario.groups * scenario.perGroup;
  const times = inService.slice().sort((a, b) => a - b);
  while (times.length < slots) times.push(model.horizonSeconds);
  return { launches, abandoned, expired, inService: times, maxQueued };
}

function before(a: { t: number; seq: number }, b: { t: number; seq: number }): boolean {
  return a.t < b.t || (a.t === b.t && a.seq < b.seq);
}

/** `scale <scenario>: <N> launches, <K> healthy abandoned, InService p50 <s> s, p99 <s> s` */
export function scaleLine(name: string, r: SimResult): string {
  const s = (v: number) => Math.round(v);
  return `scale ${name}: ${r.launches} launches, ${r.abandoned} healthy abandoned, InService p50 ${s(percentile(r.inService, 50))} s, `
    + `p99 ${s(percentile(r.inService, 99))} s`;
}
