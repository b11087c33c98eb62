#!/usr/bin/env -S npx ts-node
/**
 * Scale benchmark: the lifecycle gate at fleet scale, as a discrete-event simulation
 * (scripts/scale-sim.ts) driven by the synthesized template's Automation document, hook and
 * rule target. Assumptions: docs/fleet.md, "Scale-out at fleet scale".
 *
 *   npm run bench:scale
 */
import { fleetStack } from './bench-fleet';
import { DEFAULT_MODEL, gateSpecOf, scaleLine, simulate, withoutHeartbeatsOrRetries } from './scale-sim';

function main(): void {
  const oneGroup = gateSpecOf(fleetStack(1, true).template);
  const twentyGroups = gateSpecOf(fleetStack(20, true).template);
  const today = withoutHeartbeatsOrRetries(twentyGroups);
  const runs: Array<[string, ReturnType<typeof simulate>]> = [
    ['burst-100', simulate(oneGroup, { groups: 1, perGroup: 100 })],
    ['fleet-20x10', simulate(twentyGroups, { groups: 20, perGroup: 10 })],
    ['control', simulate(today, { groups: 20, perGroup: 10 })],
    ['burst-100-control', simulate(withoutHeartbeatsOrRetries(oneGroup), { groups: 1, perGroup: 100 })],
    ['fleet-20x10-adaptive', simulate(twentyGroups, { groups: 20, perGroup: 10 }, { ...DEFAULT_MODEL, concurrency: 500 })],
  ];
  for (const [name, r] of runs) console.log(scaleLine(name, r));
  console.log('');
  for (const [name, r] of runs) {
    console.log(`  ${name}: ${r.expired} abandoned by the hook's heartbeat, at most ${r.maxQueued} Automations queued at once`);
  }
  const steps = twentyGroups.steps.map((s) => [s.name, s.maxAttempts > 1 ? ` x${s.maxAttempts}` : '', s.timeoutSeconds ? ` ${s.timeoutSeconds} s` : ''].join(''));
  console.log(`  from the template: heartbeat ${twentyGroups.heartbeatSeconds} s (${twentyGroups.defaultResult}), EventBridge retries `
    + `${twentyGroups.maxRetryAttempts} / ${twentyGroups.maxEventAgeSeconds} s; steps ${steps.join(', ')}`);
}

main();
