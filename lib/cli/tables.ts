import { printable } from './args';
import { formatAge, KnownInstanceStatus } from './known-status';
import { CommandResult, InstanceResult } from './run-command';

/** `status` without `--verify`: each instance's last known result. */
export function knownTable(instances: KnownInstanceStatus[]): string {
  const header = ['INSTANCE', 'SOURCE', 'RESULT', 'AGE', 'DETAIL'];
  const rows = instances.map((i) => [i.instanceId, i.source, i.status, formatAge(i.ageSeconds), printable(i.detail ?? '')]);
  const widths = header.map((h, c) => Math.max(h.length, ...rows.map((r) => r[c].length)));
  return [header, ...rows].map((r) => r.map((v, c) => (c === r.length - 1 ? v : v.padEnd(widths[c]))).join('  ').trimEnd()).join('\n') + '\n';
}

/** `--json` output of a command run. */
export function jsonResult(r: CommandResult, status = false) {
  return {
    commandId: r.commandId,
    documentName: r.documentName,
    status: r.status,
    instances: r.instances.map((i) => ({
      instanceId: i.instanceId,
      status: i.status,
      ...(status ? { match: i.status === 'Success' } : {}),
      hmac: i.hmac ?? null,
      master: i.master ?? null,
      error: i.error ?? null,
    })),
  };
}

/** A command run's results, one instance a line. */
export function table(instances: InstanceResult[], status: boolean): string {
  const header = ['INSTANCE', status ? 'MATCH' : 'RESULT', 'HMAC', 'MASTER', 'ERROR'];
  const rows = instances.map((i) => [
    i.instanceId,
    status ? (i.status === 'Success' ? 'yes' : (i.status === 'Failed' ? 'no' : `no (${i.status})`)) : i.status,
    i.hmac ?? '-',
    i.master ?? '-',
    i.error ?? '',
  ]);
  const widths = header.map((h, c) => Math.max(h.length, ...rows.map((r) => r[c].length)));
  return [header, ...rows].map((r) => r.map((v, c) => (c === r.length - 1 ? v : v.padEnd(widths[c]))).join('  ').trimEnd()).join('\n') + '\n';
}
