import {
  Command,
  GetCommandInvocationCommand,
  ListCommandInvocationsCommand,
  ListCommandsCommand,
  SendCommandCommand,
  SendCommandCommandInput,
  SSMClient,
} from '@aws-sdk/client-ssm';
import { Progress } from './progress';

/** Command statuses after which nothing changes any more. */
const TERMINAL = new Set(['Success', 'Failed', 'TimedOut', 'Cancelled']);

/** One instance's result, as the CLI reports it. */
export interface InstanceResult {
  readonly instanceId: string;
  /** SSM invocation status: Success, Failed, TimedOut, Cancelled, InProgress, Pending, Delayed, … */
  readonly status: string;
  /** SSM's detail, e.g. `Undeliverable`, `Execution Timed Out`. */
  readonly statusDetails?: string;
  readonly responseCode?: number;
  /** Fingerprints the script printed (never key material). */
  readonly hmac?: string;
  readonly master?: string;
  /** The script's last stderr line, or SSM's status detail, when the instance did not succeed. */
  readonly error?: string;
  /** Standard output of the script (its summary lines). */
  readonly output: string;
}

/** A finished (or abandoned) Run Command. */
export interface CommandResult {
  readonly commandId: string;
  readonly documentName: string;
  /** Command status; `WaitTimedOut` when the CLI stopped waiting before SSM finished. */
  readonly status: string;
  readonly targetCount: number;
  readonly completedCount: number;
  readonly errorCount: number;
  readonly instances: InstanceResult[];
}

/** How long and how often to poll. */
export interface WaitOptions {
  readonly timeoutMs: number;
  readonly pollMs: number;
  readonly progress?: Progress;
  readonly sleep?: (ms: number) => Promise<void>;
  readonly now?: () => number;
}

const realSleep = (ms: number) => new Promise<void>((r) => setTimeout(r, ms));

/** Sends a command and follows it to the end (or the wait timeout), then reads every invocation. */
export async function sendAndWait(ssm: SSMClient, input: SendCommandCommandInput, wait: WaitOptions): Promise<CommandResult> {
  const sent = await ssm.send(new SendCommandCommand(input));
  const commandId = sent.Command?.CommandId;
  if (!commandId) throw new Error('SendCommand returned no command ID');
  wait.progress?.update(`command ${commandId} sent (${input.DocumentName})`);
  return waitForCommand(ssm, commandId, input.DocumentName ?? '', wait);
}

/** Polls ListCommands until the command reaches a terminal status or the wait times out. */
export async function waitForCommand(ssm: SSMClient, commandId: string, documentName: string, wait: WaitOptions): Promise<CommandResult> {
  const sleep = wait.sleep ?? realSleep;
  const now = wait.now ?? (() => Date.now());
  const deadline = now() + wait.timeoutMs;
  let command: Command | undefined;
  for (;;) {
    const listed = await ssm.send(new ListCommandsCommand({ CommandId: commandId }));
    command = listed.Commands?.[0] ?? command;
    if (command) {
      wait.progress?.update(describeProgress(commandId, command));
      if (TERMINAL.has(command.Status ?? '')) break;
    }
    if (now() >= deadline) break;
    await sleep(wait.pollMs);
  }
  const finished = command !== undefined && TERMINAL.has(command.Status ?? '');
  const instances = command ? await readInvocations(ssm, commandId, command) : [];
  return {
    commandId,
    documentName,
    status: finished ? command!.Status! : 'WaitTimedOut',
    targetCount: command?.TargetCount ?? 0,
    completedCount: command?.CompletedCount ?? 0,
    errorCount: command?.ErrorCount ?? 0,
    instances: instances.sort((a, b) => a.instanceId.localeCompare(b.instanceId)),
  };
}

function describeProgress(commandId: string, c: Command): string {
  const total = c.TargetCount ?? 0;
  const done = c.CompletedCount ?? 0;
  const errors = c.ErrorCount ?? 0;
  const undeliverable = c.DeliveryTimedOutCount ?? 0;
  return `command ${commandId}: ${c.Status ?? 'Pending'}, ${done}/${total} done, ${errors} failed` +
    (undeliverable ? `, ${undeliverable} undeliverable` : '');
}

/**
 * Reads every invocation of a command. A command sent to explicit instance IDs lists them, and
 * each is read with GetCommandInvocation (full output); a command sent to targets does not list
 * its instances, so ListCommandInvocations (with details) finds them.
 */
async function readInvocations(ssm: SSMClient, commandId: string, command: Command): Promise<InstanceResult[]> {
  const ids = command.InstanceIds ?? [];
  if (ids.length === 0 && (command.TargetCount ?? 0) === 0 && TERMINAL.has(command.Status ?? '')) {
    return []; // the targets matched no instance
  }
  if (ids.length > 0) {
    const results: InstanceResult[] = [];
    for (const instanceId of ids) {
      try {
        const inv = await ssm.send(new GetCommandInvocationCommand({ CommandId: commandId, InstanceId: instanceId }));
        results.push(summarize({
          instanceId,
          status: inv.Status ?? 'Unknown',
          statusDetails: inv.StatusDetails,
          responseCode: inv.ResponseCode,
          stdout: inv.StandardOutputContent ?? '',
          stderr: inv.StandardErrorContent ?? '',
        }));
      } catch (e) {
        if ((e as Error).name !== 'InvocationDoesNotExist') throw e;
        results.push(summarize({ instanceId, status: 'Pending', statusDetails: 'not delivered yet', stdout: '', stderr: '' }));
      }
    }
    return results;
  }
  const results: InstanceResult[] = [];
  let nextToken: string | undefined;
  do {
    const page = await ssm.send(new ListCommandInvocationsCommand({ CommandId: commandId, Details: true, NextToken: nextToken }));
    for (const inv of page.CommandInvocations ?? []) {
      const plugins = inv.CommandPlugins ?? [];
      const { stdout, stderr } = splitOutput(plugins.map((p) => p.Output ?? '').join('\n'));
      const failedPlugin = plugins.find((p) => p.Status !== 'Success');
      results.push(summarize({
        instanceId: inv.InstanceId ?? '?',
        status: inv.Status ?? 'Unknown',
        statusDetails: inv.StatusDetails,
        responseCode: failedPlugin?.ResponseCode ?? plugins[plugins.length - 1]?.ResponseCode,
        stdout,
        stderr,
      }));
    }
    nextToken = page.NextToken;
  } while (nextToken);
  return results;
}

/** ListCommandInvocations puts stderr after this marker in a plugin's `Output`. */
const ERROR_MARKER = '\n----------ERROR-------\n';

export function splitOutput(output: string): { stdout: string; stderr: string } {
  const at = output.indexOf(ERROR_MARKER);
  if (at < 0) {
    if (output.startsWith(ERROR_MARKER.slice(1))) return { stdout: '', stderr: output.slice(ERROR_MARKER.length - 1) };
    return { stdout: output, stderr: '' };
  }
  return { stdout: output.slice(0, at), stderr: output.slice(at + ERROR_MARKER.length) };
}

interface RawInvocation {
  instanceId: string;
  status: string;
  statusDetails?: string;
  responseCode?: number;
  stdout: string;
  stderr: string;
}

/** Turns one invocation's raw output into the reported fields. */
export function summarize(raw: RawInvocation): InstanceResult {
  const fp = parseFingerprints(raw.stdout);
  let error: string | undefined;
  if (raw.status !== 'Success') {
    error = lastLine(raw.stderr) ?? (raw.statusDetails && raw.statusDetails !== raw.status ? raw.statusDetails : undefined) ?? raw.status;
  }
  return {
    instanceId: raw.instanceId,
    status: raw.status,
    statusDetails: raw.statusDetails,
    responseCode: raw.responseCode,
    hmac: fp.hmac,
    master: fp.master,
    error,
    output: raw.stdout,
  };
}

function lastLine(text: string): string | undefined {
  const lines = text.split('\n').map((l) => l.trim()).filter((l) => l.length > 0);
  const line = lines[lines.length - 1];
  return line === undefined ? undefined : line.slice(0, 300);
}

/**
 * The fingerprints a script printed: the last `hmac … <12 hex>` and `master … <12 hex>` on a
 * line (the scripts print `hmac 1a2b3c4d5e6f` style summaries; README, "Installer document").
 */
export function parseFingerprints(stdout: string): { hmac?: string; master?: string } {
  const out: { hmac?: string; master?: string } = {};
  for (const line of stdout.split('\n')) {
    for (const name of ['hmac', 'master'] as const) {
      const re = new RegExp(`\\b${name}\\b[^0-9a-f\\n]{0,40}?\\b([0-9a-f]{12})\\b`, 'gi');
      let m: RegExpExecArray | null;
      while ((m = re.exec(line)) !== null) out[name] = m[1].toLowerCase();
    }
  }
  return out;
}
