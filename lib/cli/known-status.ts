import {
  DescribeInstanceAssociationsStatusCommand,
  DescribeInstanceInformationCommand,
  ListCommandInvocationsCommand,
  SSMClient,
} from '@aws-sdk/client-ssm';

/** What is already known about one instance's keys, without running anything on it. */
export interface KnownInstanceStatus {
  readonly instanceId: string;
  /** `association` (State Manager's last run), `last run` (the last installer command), or `none`. */
  readonly source: 'association' | 'last run' | 'none';
  /** Success, Failed, TimedOut, Pending, … or `unknown`. */
  readonly status: string;
  /** When that answer was produced (ISO 8601), when known. */
  readonly at?: string;
  /** Seconds between `at` and now. */
  readonly ageSeconds?: number;
  /** SSM's detail (association detailed status or error code, command status detail, mode). */
  readonly detail?: string;
}

/** How many instances are asked about at once (SSM's read APIs are throttled per account). */
const CONCURRENCY = 8;

/**
 * Reads what SSM already knows for every managed instance carrying `tag`: the installer
 * association's last run on it (State Manager compliance), else the last run of the installer
 * document on it (a gated launch, a rollout or a verify). One `DescribeInstanceInformation` page
 * per 50 instances, then one or two calls per instance, never a command on the instance.
 */
export async function knownStatus(
  ssm: SSMClient,
  tag: { Key: string; Values: string[] },
  documentName: string,
  now: number,
): Promise<KnownInstanceStatus[]> {
  const ids = await taggedInstances(ssm, tag);
  const results: KnownInstanceStatus[] = new Array(ids.length);
  let next = 0;
  const worker = async () => {
    while (next < ids.length) {
      const i = next++;
      results[i] = await instanceStatus(ssm, ids[i], documentName, now);
    }
  };
  await Promise.all(Array.from({ length: Math.min(CONCURRENCY, ids.length) }, worker));
  return results.sort((a, b) => a.instanceId.localeCompare(b.instanceId));
}

async function taggedInstances(ssm: SSMClient, tag: { Key: string; Values: string[] }): Promise<string[]> {
  const ids: string[] = [];
  let token: string | undefined;
  do {
    const page = await ssm.send(new DescribeInstanceInformationCommand({ Filters: [tag], MaxResults: 50, NextToken: token }));
    for (const info of page.InstanceInformationList ?? []) if (info.InstanceId) ids.push(info.InstanceId);
    token = page.NextToken;
  } while (token);
  return ids;
}

async function instanceStatus(ssm: SSMClient, instanceId: string, documentName: string, now: number): Promise<KnownInstanceStatus> {
  const association = await lastAssociationRun(ssm, instanceId, documentName);
  if (association) return withAge(association, now);
  const command = await lastCommandRun(ssm, instanceId, documentName);
  if (command) return withAge(command, now);
  return { instanceId, source: 'none', status: 'unknown', detail: `no association run or command of ${documentName} recorded` };
}

async function lastAssociationRun(ssm: SSMClient, instanceId: string, documentName: string): Promise<KnownInstanceStatus | undefined> {
  let token: string | undefined;
  let best: KnownInstanceStatus | undefined;
  do {
    const page = await ssm.send(new DescribeInstanceAssociationsStatusCommand({ InstanceId: instanceId, NextToken: token }));
    for (const a of page.InstanceAssociationStatusInfos ?? []) {
      if (a.Name !== documentName) continue;
      const at = a.ExecutionDate?.toISOString();
      if (best?.at && at && best.at >= at) continue;
      const detail = [a.DetailedStatus && a.DetailedStatus !== a.Status ? a.DetailedStatus : '', a.ErrorCode ? `error ${a.ErrorCode}` : '', a.ExecutionSummary ?? '']
        .filter((x) => x).join('; ');
      best = { instanceId, source: 'association', status: a.Status ?? 'unknown', at, detail: detail || undefined };
    }
    token = page.NextToken;
  } while (token);
  return best;
}

async function lastCommandRun(ssm: SSMClient, instanceId: string, documentName: string): Promise<KnownInstanceStatus | undefined> {
  const page = await ssm.send(new ListCommandInvocationsCommand({
    InstanceId: instanceId,
    Filters: [{ key: 'DocumentName', value: documentName }],
    MaxResults: 10,
  }));
  const latest = (page.CommandInvocations ?? [])
    .filter((c) => c.RequestedDateTime)
    .sort((a, b) => b.RequestedDateTime!.getTime() - a.RequestedDateTime!.getTime())[0];
  if (!latest) return undefined;
  const comment = latest.Comment ? ` (${latest.Comment})` : '';
  return {
    instanceId,
    source: 'last run',
    status: latest.Status ?? 'unknown',
    at: latest.RequestedDateTime!.toISOString(),
    detail: `command ${latest.CommandId}${comment}${latest.StatusDetails && latest.StatusDetails !== latest.Status ? `: ${latest.StatusDetails}` : ''}`,
  };
}

function withAge(s: KnownInstanceStatus, now: number): KnownInstanceStatus {
  return s.at ? { ...s, ageSeconds: Math.max(0, Math.round((now - Date.parse(s.at)) / 1000)) } : s;
}

/** `42s`, `17m`, `5h`, `3d`: how stale an answer is. */
export function formatAge(seconds: number | undefined): string {
  if (seconds === undefined) return '-';
  if (seconds < 120) return `${seconds}s`;
  if (seconds < 7200) return `${Math.floor(seconds / 60)}m`;
  if (seconds < 172800) return `${Math.floor(seconds / 3600)}h`;
  return `${Math.floor(seconds / 86400)}d`;
}
