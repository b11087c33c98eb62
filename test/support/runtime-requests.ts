import * as fs from 'fs';
import * as path from 'path';
import { GroupView, KeySetScene, KeyView, Policy, RoleView } from './key-set-scene';

/**
 * Every request the running system makes, once: who makes it, which action, on which resource,
 * with which request context, and which call of a script, an Automation step, the CLI or the
 * generator makes it (`madeBy`, the ids the extractors below produce). test/runtime-requests.test.ts
 * fails when a document, the CLI or the generator makes a call no row names, and evaluates every
 * row with iam-simulate against the synthesized policies of each deployed key set.
 *
 * Adding a call: add its id to the `madeBy` of the row that covers it, or a row.
 */

export type Who =
  | 'instance' // a gated group's or a tagged instance's role (installer, agent output)
  | 'writer-instance' // a role granted keys.grantWrite (runs the export document)
  | 'ssm-agent' // the SSM agent of an instance, with the instance's role (Run Command output to CloudWatch Logs)
  | 'lifecycle-automation' // the lifecycle Automation's role
  | 'lifecycle-events' // EventBridge's role for the lifecycle rule
  | 'loop-automation' // the launch-loop Automation's role
  | 'loop-events' // EventBridge's role for the launch-loop rule
  | 'ssm-service' // ssm.amazonaws.com assuming an Automation role
  | 'events-service' // events.amazonaws.com (assuming a role, delivering to a log group or queue)
  | 'cloudwatch-alarms' // cloudwatch.amazonaws.com (alarm actions)
  | 'logs-service' // logs.<region>.amazonaws.com (encrypting the log group)
  | 'generator' // the generator Lambda's role
  | 'operator'; // whoever runs the aem-keys CLI, with the operator policy of docs/permissions.md

export type On =
  | 'secret' | 'secret-key' | 'replica-key' | 'log-stream' | 'any-log-group' | 'logs-key'
  | 'installer-document' | 'export-document' | 'gated-instance' | 'gated-group' | 'tagged-instance'
  | 'lifecycle-automation-definition' | 'loop-automation-definition'
  | 'lifecycle-automation-role' | 'loop-automation-role' | 'lifecycle-events-role' | 'loop-events-role'
  | 'dead-letter-queue' | 'topic' | 'topic-key' | 'loop-alarm' | 'association' | 'all';

export type ContextKey =
  | 'kms:ViaService' | 'kms:EncryptionContext:SecretARN' | 'kms:ResourceAliases' | 'kms:EncryptionContext:aws:logs:arn'
  | 'kms:EncryptionContext:aws:sns:topicArn' | 'aws:SourceArn' | 'aws:SourceAccount' | 'ssm:resourceTag/*'
  | 'autoscaling:ResourceTag/*' | 'cloudwatch:namespace' | 'iam:PassedToService';

export interface RuntimeRequest {
  readonly who: Who;
  readonly action: string;
  readonly on: On;
  readonly context: readonly ContextKey[];
  /** The extracted calls this request answers (see `extractCalls`); empty: made by AWS itself for the caller. */
  readonly madeBy: readonly string[];
  readonly why: string;
}

const SM_VIA = ['kms:ViaService', 'kms:EncryptionContext:SecretARN', 'kms:ResourceAliases'] as const;
const FROM_RULE = ['aws:SourceArn', 'aws:SourceAccount'] as const;

export const RUNTIME_REQUESTS: readonly RuntimeRequest[] = [
  // Instances: the installer (and the migration's admin secret read, same call) and its log shipping.
  {
    who: 'instance', action: 'secretsmanager:GetSecretValue', on: 'secret', context: [],
    madeBy: ['installer:secretsmanager:GetSecretValue', 'migration:secretsmanager:GetSecretValue'], why: 'reads the keys',
  },
  { who: 'instance', action: 'kms:Decrypt', on: 'secret-key', context: SM_VIA, madeBy: [], why: 'Secrets Manager decrypts the value for the caller' },
  {
    who: 'instance', action: 'logs:CreateLogStream', on: 'log-stream', context: [],
    madeBy: ['installer:logs:CreateLogStream'], why: 'a tag association run\'s output, one stream per run',
  },
  { who: 'instance', action: 'logs:PutLogEvents', on: 'log-stream', context: [], madeBy: ['installer:logs:PutLogEvents'], why: 'the run\'s output' },
  // The SSM agent, for Run Command output (CloudWatchOutputConfig of the lifecycle Automation and of aem-keys --log-group).
  {
    who: 'ssm-agent', action: 'logs:DescribeLogGroups', on: 'any-log-group', context: [], madeBy: [],
    why: 'the agent checks the group exists. AWS\'s service authorization data lists no resource type for it, so iam-simulate '
      + 'only takes "*"; CloudWatch Logs\' own guide grants it on arn:aws:logs:<region>:<account>:log-group:* '
      + '("Logs sent to CloudWatch Logs", User permissions), the form the grant uses: checked as a statement, not simulated',
  },
  { who: 'ssm-agent', action: 'logs:CreateLogStream', on: 'log-stream', context: [], madeBy: [], why: 'command output stream' },
  { who: 'ssm-agent', action: 'logs:DescribeLogStreams', on: 'log-stream', context: [], madeBy: [], why: 'command output stream' },
  { who: 'ssm-agent', action: 'logs:PutLogEvents', on: 'log-stream', context: [], madeBy: [], why: 'command output' },
  // The export document, on a reference instance granted keys.grantWrite.
  {
    who: 'writer-instance', action: 'secretsmanager:GetSecretValue', on: 'secret', context: [],
    madeBy: ['export:secretsmanager:GetSecretValue'], why: 'compares the secret with the instance\'s keys',
  },
  {
    who: 'writer-instance', action: 'secretsmanager:PutSecretValue', on: 'secret', context: [],
    madeBy: ['export:secretsmanager:PutSecretValue'], why: 'writes the instance\'s keys',
  },
  { who: 'writer-instance', action: 'kms:GenerateDataKey', on: 'secret-key', context: SM_VIA, madeBy: [],
    why: 'Secrets Manager encrypts the new version' },
  { who: 'writer-instance', action: 'kms:Decrypt', on: 'secret-key', context: SM_VIA, madeBy: [], why: 'reading the current version' },
  ...['kms:GenerateDataKey', 'kms:Encrypt'].map((action): RuntimeRequest => ({
    who: 'writer-instance', action, on: 'replica-key', context: SM_VIA, madeBy: [], why: 'replication re-encrypts with the writer\'s rights',
  })),
  // EventBridge starts the lifecycle Automation.
  { who: 'events-service', action: 'sts:AssumeRole', on: 'lifecycle-events-role', context: FROM_RULE, madeBy: [], why: 'the rule\'s target role' },
  {
    who: 'lifecycle-events', action: 'ssm:StartAutomationExecution', on: 'lifecycle-automation-definition', context: [],
    madeBy: ['lifecycle-rule:ssm:StartAutomationExecution'], why: 'the rule\'s target',
  },
  {
    who: 'lifecycle-events', action: 'iam:PassRole', on: 'lifecycle-automation-role', context: ['iam:PassedToService'],
    madeBy: [], why: 'the Automation runs with its assumeRole',
  },
  { who: 'ssm-service', action: 'sts:AssumeRole', on: 'lifecycle-automation-role', context: ['aws:SourceArn', 'aws:SourceAccount'],
    madeBy: [], why: 'Automation assumes its role' },
  // The lifecycle Automation.
  {
    who: 'lifecycle-automation', action: 'ssm:DescribeInstanceInformation', on: 'all', context: [],
    madeBy: ['lifecycle-automation:ssm:DescribeInstanceInformation'], why: 'waits for the agent',
  },
  {
    who: 'lifecycle-automation', action: 'ssm:SendCommand', on: 'installer-document', context: [],
    madeBy: ['lifecycle-automation:ssm:SendCommand'], why: 'aws:runCommand: the installer',
  },
  {
    who: 'lifecycle-automation', action: 'ssm:SendCommand', on: 'gated-instance', context: ['ssm:resourceTag/*'],
    madeBy: ['lifecycle-automation:ssm:SendCommand'], why: 'aws:runCommand: to the launching instance only',
  },
  ...['ssm:ListCommands', 'ssm:ListCommandInvocations', 'ssm:GetCommandInvocation'].map((action): RuntimeRequest => ({
    who: 'lifecycle-automation', action, on: 'all', context: [], madeBy: [`lifecycle-automation:${action}`],
    why: 'aws:runCommand follows its command',
  })),
  {
    who: 'lifecycle-automation', action: 'autoscaling:CompleteLifecycleAction', on: 'gated-group', context: ['autoscaling:ResourceTag/*'],
    madeBy: ['lifecycle-automation:autoscaling:CompleteLifecycleAction'], why: 'CONTINUE or ABANDON',
  },
  {
    who: 'lifecycle-automation', action: 'autoscaling:RecordLifecycleActionHeartbeat', on: 'gated-group', context: ['autoscaling:ResourceTag/*'],
    madeBy: ['lifecycle-automation:autoscaling:RecordLifecycleActionHeartbeat'], why: 'keeps a long install inside the heartbeat timeout',
  },
  {
    who: 'lifecycle-automation', action: 'cloudwatch:PutMetricData', on: 'all', context: ['cloudwatch:namespace'],
    madeBy: ['lifecycle-automation:cloudwatch:PutMetricData'], why: 'LaunchesContinued / LaunchesAbandoned',
  },
  // EventBridge delivers association failures to the log group, and what it cannot deliver to the queue.
  // EventBridge's documented policy for log targets (user guide, "Using resource-based policies", CloudWatch Logs
  // permissions) has no condition: nothing documents that CreateLogStream carries aws:SourceArn, so the row assumes none.
  { who: 'events-service', action: 'logs:CreateLogStream', on: 'log-stream', context: [], madeBy: [], why: 'association rule → log group' },
  { who: 'events-service', action: 'logs:PutLogEvents', on: 'log-stream', context: FROM_RULE, madeBy: [], why: 'association rule → log group' },
  { who: 'events-service', action: 'sqs:SendMessage', on: 'dead-letter-queue', context: FROM_RULE, madeBy: [], why: 'every rule\'s dead letters' },
  // CloudWatch Logs encrypts the log group with its key.
  ...['kms:GenerateDataKey', 'kms:Decrypt'].map((action): RuntimeRequest => ({
    who: 'logs-service', action, on: 'logs-key', context: ['kms:EncryptionContext:aws:logs:arn'], madeBy: [], why: 'the log group\'s encryption',
  })),
  // Alarms publish to the encrypted topic.
  { who: 'cloudwatch-alarms', action: 'sns:Publish', on: 'topic', context: FROM_RULE, madeBy: [], why: 'alarm actions' },
  ...['kms:GenerateDataKey', 'kms:Decrypt'].map((action): RuntimeRequest => ({
    who: 'cloudwatch-alarms', action, on: 'topic-key', context: [], madeBy: [], why: 'publishing to an encrypted topic',
  })),
  // EventBridge starts the launch-loop Automation, which suspends the group and notifies.
  { who: 'events-service', action: 'sts:AssumeRole', on: 'loop-events-role', context: FROM_RULE, madeBy: [], why: 'the loop rule\'s target role' },
  {
    who: 'loop-events', action: 'ssm:StartAutomationExecution', on: 'loop-automation-definition', context: [],
    madeBy: ['loop-rule:ssm:StartAutomationExecution'], why: 'the loop rule\'s target',
  },
  { who: 'loop-events', action: 'iam:PassRole', on: 'loop-automation-role', context: ['iam:PassedToService'], madeBy: [],
    why: 'the Automation\'s role' },
  { who: 'ssm-service', action: 'sts:AssumeRole', on: 'loop-automation-role', context: ['aws:SourceArn', 'aws:SourceAccount'], madeBy: [],
    why: 'Automation assumes its role' },
  {
    who: 'loop-automation', action: 'cloudwatch:DescribeAlarms', on: 'loop-alarm', context: [],
    madeBy: ['launch-loop-automation:cloudwatch:DescribeAlarms'], why: 'finds the group of the alarm',
  },
  {
    who: 'loop-automation', action: 'autoscaling:SuspendProcesses', on: 'gated-group', context: ['autoscaling:ResourceTag/*'],
    madeBy: ['launch-loop-automation:autoscaling:SuspendProcesses'], why: 'suspends Launch',
  },
  { who: 'loop-automation', action: 'sns:Publish', on: 'topic', context: [], madeBy: ['launch-loop-automation:sns:Publish'],
    why: 'says how to resume' },
  ...['kms:GenerateDataKey', 'kms:Decrypt'].map((action): RuntimeRequest => ({
    who: 'loop-automation', action, on: 'topic-key', context: ['kms:ViaService', 'kms:EncryptionContext:aws:sns:topicArn'],
    madeBy: [], why: 'SNS encrypts the message for the publisher',
  })),
  // The generator (custom resource) fills an empty secret; replication re-encrypts with its rights.
  ...['DescribeSecret', 'GetSecretValue', 'PutSecretValue'].map((api): RuntimeRequest => ({
    who: 'generator', action: `secretsmanager:${api}`, on: 'secret', context: [], madeBy: [`generator:secretsmanager:${api}`],
    why: 'fills the secret once',
  })),
  { who: 'generator', action: 'kms:GenerateDataKey', on: 'secret-key', context: SM_VIA, madeBy: [], why: 'Secrets Manager encrypts the version' },
  { who: 'generator', action: 'kms:Decrypt', on: 'secret-key', context: SM_VIA, madeBy: [], why: 'reads the current version' },
  ...['kms:GenerateDataKey', 'kms:Encrypt'].map((action): RuntimeRequest => ({
    who: 'generator', action, on: 'replica-key', context: SM_VIA, madeBy: [],
    why: 'replication re-encrypts the version with each replica key, with the writer\'s rights (Secrets Manager, "Troubleshoot replication")',
  })),
  // The aem-keys CLI, with the operator policy of docs/permissions.md.
  ...['DescribeSecret', 'GetSecretValue', 'PutSecretValue'].map((api): RuntimeRequest => ({
    who: 'operator', action: `secretsmanager:${api}`, on: 'secret', context: [], madeBy: [`cli:secretsmanager:${api}`], why: 'aem-keys import',
  })),
  ...['kms:GenerateDataKey', 'kms:Decrypt'].map((action): RuntimeRequest => ({
    who: 'operator', action, on: 'secret-key', context: SM_VIA, madeBy: [], why: 'aem-keys import (Secrets Manager for the caller)',
  })),
  ...['kms:GenerateDataKey', 'kms:Encrypt'].map((action): RuntimeRequest => ({
    who: 'operator', action, on: 'replica-key', context: SM_VIA, madeBy: [],
    why: 'aem-keys import: replication re-encrypts with the caller\'s rights',
  })),
  { who: 'operator', action: 'ssm:SendCommand', on: 'installer-document', context: [], madeBy: ['cli:ssm:SendCommand'],
    why: 'aem-keys rollout / status --verify' },
  { who: 'operator', action: 'ssm:SendCommand', on: 'export-document', context: [], madeBy: ['cli:ssm:SendCommand'], why: 'aem-keys export' },
  { who: 'operator', action: 'ssm:SendCommand', on: 'tagged-instance', context: ['ssm:resourceTag/*'], madeBy: ['cli:ssm:SendCommand'],
    why: 'to the tagged instances' },
  {
    who: 'operator', action: 'ssm:DescribeInstanceAssociationsStatus', on: 'tagged-instance', context: [],
    madeBy: ['cli:ssm:DescribeInstanceAssociationsStatus'], why: 'aem-keys status: the association\'s last run',
  },
  ...['ListDocuments', 'ListCommands', 'ListCommandInvocations', 'GetCommandInvocation', 'DescribeInstanceInformation']
    .map((api): RuntimeRequest => ({
      who: 'operator', action: `ssm:${api}`, on: 'all', context: [], madeBy: [`cli:ssm:${api}`],
      why: 'finds documents, follows commands, reads status',
    })),
  {
    who: 'operator', action: 'ssm:ListAssociations', on: 'all', context: [], madeBy: ['cli:ssm:ListAssociations'],
    why: 'aem-keys rollout / status --verify: finds the key set\'s tag association (no resource-level permissions)',
  },
  {
    who: 'operator', action: 'ssm:DescribeAssociation', on: 'association', context: [], madeBy: ['cli:ssm:DescribeAssociation'],
    why: 'aem-keys rollout / status --verify: the parameters of that association, to send the same',
  },
];

// ---------------------------------------------------------------------------------------------
// Extraction: the calls each document, the CLI and the generator make, found mechanically.

/** `aws <service> <command>` invocations of an embedded script (direct, or through an array such as `aws=(... aws logs)`). */
export function scriptCalls(script: string): string[] {
  const calls = new Set<string>();
  const lines = script.split('\n').filter((l) => !/^\s*#/.test(l));
  const arrays = new Map<string, string>();
  for (const line of lines) {
    for (const m of line.matchAll(/(?:local -a |^|\s)(\w+)=\((?:[^()]*\s)?aws ([a-z0-9-]+)\)/g)) arrays.set(m[1], m[2]);
  }
  const wrapped = wrappers(lines);
  for (const line of lines) {
    for (const m of line.matchAll(/(?:^|[\s(|;&])aws ([a-z0-9-]+) ([a-z][a-z0-9-]+)/g)) {
      if (!insideQuotes(line.slice(0, m.index))) calls.add(`${m[1]}:${pascal(m[2])}`);
    }
    for (const [name, service] of arrays) {
      for (const m of line.matchAll(new RegExp(`"\\$\\{${name}\\[@\\]\\}" ([a-z][a-z0-9-]+)`, 'g'))) calls.add(`${service}:${pascal(m[1])}`);
    }
    for (const w of wrapped) {
      for (const m of line.matchAll(new RegExp(`(?:^|[\\s(|;&])${w.name}((?: +[^ ;|&<>]+){${w.argument}})`, 'g'))) {
        const action = m[1].trim().split(/ +/)[w.argument - 1];
        if (/^[a-z][a-z0-9-]+$/.test(action)) calls.add(`${w.service}:${pascal(action)}`);
      }
    }
  }
  return [...calls];
}

/** Functions that call `aws <service> "$N"`: the action is their Nth argument (`aemkeys_logs_call GROUP REGION ACTION`). */
function wrappers(lines: readonly string[]): Array<{ name: string; service: string; argument: number }> {
  const found: Array<{ name: string; service: string; argument: number }> = [];
  let current: string | undefined;
  for (const line of lines) {
    const header = /^\s*([A-Za-z_]\w*)\(\) \{$/.exec(line);
    if (header) current = header[1];
    else if (/^\s*\}$/.test(line)) current = undefined;
    const m = /(?:^|\s)aws ([a-z0-9-]+) "\$([1-9])"/.exec(line);
    if (current && m && !insideQuotes(line.slice(0, m.index))) found.push({ name: current, service: m[1], argument: Number(m[2]) });
  }
  return found;
}

/** True when `prefix` leaves a single- or double-quoted string open (the rest of the line is text, not a command). */
function insideQuotes(prefix: string): boolean {
  let quote = '';
  for (let i = 0; i < prefix.length; i++) {
    const c = prefix[i];
    if (quote === '' && (c === '\'' || c === '"')) quote = c;
    else if (c === quote && !(quote === '"' && prefix[i - 1] === '\\')) quote = '';
  }
  return quote !== '';
}

function pascal(kebab: string): string {
  return kebab.split('-').map((w) => w[0].toUpperCase() + w.slice(1)).join('');
}

/** Step actions that call no AWS API. */
const NO_CALL_STEPS = new Set(['aws:branch', 'aws:sleep', 'aws:pause', 'aws:approve']);

/** The IAM actions of an Automation document's steps (`Service`/`Api` of API steps, aws:runCommand's SendCommand and polling). */
export function automationCalls(content: any): string[] {
  const calls = new Set<string>();
  for (const step of content.mainSteps ?? []) {
    const a = step.action;
    if (['aws:executeAwsApi', 'aws:waitForAwsResourceProperty', 'aws:assertAwsResourceProperty'].includes(a)) {
      calls.add(`${String(step.inputs.Service).toLowerCase()}:${step.inputs.Api}`);
    } else if (a === 'aws:runCommand') {
      ['ssm:SendCommand', 'ssm:ListCommands', 'ssm:ListCommandInvocations', 'ssm:GetCommandInvocation'].forEach((c) => calls.add(c));
    } else if (a === 'aws:executeAutomation') {
      calls.add('ssm:StartAutomationExecution');
    } else if (!NO_CALL_STEPS.has(a)) {
      calls.add(`unclassified-step:${a}`);
    }
  }
  return [...calls];
}

const SDK_SERVICE: Record<string, string> = { 'client-ssm': 'ssm', 'client-secrets-manager': 'secretsmanager' };

/** The SDK commands sent by the TypeScript files of a folder (`new XCommand(` with X imported from an @aws-sdk client). */
export function sdkCalls(dir: string): string[] {
  const calls = new Set<string>();
  for (const file of fs.readdirSync(dir).filter((f) => f.endsWith('.ts'))) {
    const text = fs.readFileSync(path.join(dir, file), 'utf8');
    for (const m of text.matchAll(/new (\w+)Command\(/g)) {
      const service = Object.entries(SDK_SERVICE).find(([pkg]) => sdkExports(pkg).includes(`${m[1]}Command`))?.[1] ?? 'unknown-sdk';
      calls.add(`${service}:${m[1]}`);
    }
  }
  return [...calls];
}

function sdkExports(pkg: string): string[] {
  // eslint-disable-next-line @typescript-eslint/no-require-imports
  return Object.keys(require(`@aws-sdk/${pkg}`));
}

/** Every call of the documents of the scenes, the CLI and the generator, as `madeBy` ids. */
export function extractCalls(scenes: KeySetScene[], libDir: string): Set<string> {
  const ids = new Set<string>();
  for (const scene of scenes) {
    for (const doc of scene.documents) {
      if (doc.content.schemaVersion === '0.3') {
        automationCalls(doc.content).forEach((c) => ids.add(`${doc.kind}:${c}`));
      } else {
        const script = (doc.content.mainSteps ?? []).map((s: any) => (s.inputs?.runCommand ?? []).join('\n')).join('\n');
        scriptCalls(script).forEach((c) => ids.add(`${doc.kind}:${c}`));
      }
    }
    if (scene.lifecycle) scene.lifecycle.rules.forEach((r) => ids.add(`lifecycle-rule:${targetCall(r.targets[0].Arn)}`));
    if (scene.loop) ids.add(`loop-rule:${targetCall(scene.loop.rule.targets[0].Arn)}`);
  }
  sdkCalls(path.join(libDir, 'cli')).forEach((c) => ids.add(`cli:${c}`));
  sdkCalls(path.join(libDir, 'handlers')).forEach((c) => ids.add(`generator:${c}`));
  return ids;
}

/** What EventBridge calls for a target ARN (the kinds of target this library uses). */
function targetCall(arn: string): string {
  if (arn.includes(':automation-definition/')) return 'ssm:StartAutomationExecution';
  return `unclassified-target:${arn.split(':')[2]}`;
}

// ---------------------------------------------------------------------------------------------
// Concrete requests of a row in one scene.

export interface ConcreteRequest {
  readonly label: string;
  readonly principal: string;
  readonly action: string;
  readonly resource: string;
  readonly context: Record<string, string | string[]>;
  readonly identityPolicies: Policy[];
  readonly resourcePolicy?: any;
}

export interface Callers {
  /** The operator policy (docs/permissions.md), with this scene's values. */
  readonly operator?: Policy;
}

const SERVICE_PRINCIPAL: Partial<Record<Who, (s: KeySetScene) => string>> = {
  'ssm-service': () => 'ssm.amazonaws.com',
  'events-service': () => 'events.amazonaws.com',
  'cloudwatch-alarms': () => 'cloudwatch.amazonaws.com',
  'logs-service': (s) => `logs.${s.region}.amazonaws.com`,
};

function callerRoles(row: RuntimeRequest, s: KeySetScene, callers: Callers): { role: RoleView; group?: GroupView }[] {
  switch (row.who) {
    case 'instance':
    case 'ssm-agent':
      return [
        ...s.groups.filter((g) => g.instanceRole).map((g) => ({ role: g.instanceRole!, group: g })),
        ...s.otherInstanceRoles.map((role) => ({ role })),
      ];
    case 'writer-instance': return s.writerRoles.map((role) => ({ role }));
    case 'lifecycle-automation': return s.lifecycle ? [{ role: s.lifecycle.role }] : [];
    case 'lifecycle-events': return s.lifecycle ? [{ role: s.lifecycle.eventsRole }] : [];
    case 'loop-automation': return s.loop ? [{ role: s.loop.role }] : [];
    case 'loop-events': return s.loop ? [{ role: s.loop.eventsRole }] : [];
    case 'generator': return s.generator ? [{ role: s.generator }] : [];
    case 'operator': {
      if (!callers.operator) return [];
      const arn = `arn:aws:iam::${s.account}:role/aem-keys-operator`;
      return [{ role: { name: 'aem-keys-operator', arn, trust: {}, policies: [callers.operator] } }];
    }
    default: return [];
  }
}

interface Target {
  label: string; arn: string; policy?: any; tags?: Record<string, string>; key?: KeyView; sourceArns?: string[];
  /** The region of the Secrets Manager that uses the key for the caller (kms:ViaService). */
  viaRegion?: string;
}

function logGroupArn(s: KeySetScene): string {
  return `arn:aws:logs:${s.region}:${s.account}:log-group:${s.logGroupName}`;
}

function targets(row: RuntimeRequest, s: KeySetScene, group?: GroupView): Target[] {
  const ssm = (rest: string) => `arn:aws:ssm:${s.region}:${s.account}:${rest}`;
  const role = (r?: RoleView) => (r ? [{ label: r.name, arn: r.arn, policy: r.trust }] : []);
  const logPolicy = s.logResourcePolicies.length
    ? { Version: '2012-10-17', Statement: s.logResourcePolicies.flatMap((p) => p.Statement) }
    : undefined;
  switch (row.on) {
    case 'secret': return [{ label: 'secret', arn: s.secretArn, policy: s.secretPolicy }];
    case 'secret-key': return s.secretKey ? [{ label: 'secret key', arn: s.secretKey.arn, policy: s.secretKey.policy, key: s.secretKey }] : [];
    case 'replica-key':
      // AWS does not document which region's Secrets Manager replication presents (kms:ViaService): both must be allowed.
      return Object.entries(s.replicaKeys).flatMap(([region, k]) => [region, s.region].map((via) => ({
        label: `replica key ${region} via secretsmanager.${via}`, arn: k.arn, policy: k.policy, key: k, viaRegion: via,
      })));
    case 'log-stream': {
      const sources = row.who === 'events-service' ? s.associationRules.map((r) => r.arn) : undefined;
      if (sources && sources.length === 0) return [];
      return [{ label: 'log stream', arn: `${logGroupArn(s)}:log-stream:run-1`, policy: logPolicy, sourceArns: sources }];
    }
    case 'any-log-group': return [{ label: 'log groups', arn: `${logGroupArn(s)}:*` }];
    case 'logs-key': return [{ label: 'logs key', arn: s.logsKey.arn, policy: s.logsKey.policy, key: s.logsKey }];
    case 'installer-document': return [{ label: 'installer document', arn: ssm(`document/${s.installerDocument}`) }];
    case 'export-document': return s.exportDocument ? [{ label: 'export document', arn: ssm(`document/${s.exportDocument}`) }] : [];
    case 'gated-instance':
      return s.groups.map((g) => ({ label: `instance of ${g.name}`, arn: `arn:aws:ec2:${s.region}:${s.account}:instance/i-0123456789abcdef0`,
        tags: g.instanceTags }));
    case 'tagged-instance':
      return [{ label: 'tagged instance', arn: `arn:aws:ec2:${s.region}:${s.account}:instance/i-0fedcba9876543210`,
        tags: { 'aem-role': 'publish' } }];
    case 'gated-group': return (group ? [group] : s.groups).map((g) => ({ label: `group ${g.name}`, arn: g.arn, tags: g.tags }));
    case 'lifecycle-automation-definition':
      return s.lifecycle ? [{ label: 'lifecycle automation', arn: ssm(`automation-definition/${s.lifecycle.automation}:$DEFAULT`) }] : [];
    case 'loop-automation-definition':
      return s.loop ? [{ label: 'loop automation', arn: ssm(`automation-definition/${s.loop.automation}:$DEFAULT`) }] : [];
    case 'lifecycle-automation-role': return role(s.lifecycle?.role);
    case 'loop-automation-role': return role(s.loop?.role);
    case 'lifecycle-events-role':
      return s.lifecycle ? [{ ...role(s.lifecycle.eventsRole)[0], sourceArns: s.lifecycle.rules.map((r) => r.arn) }] : [];
    case 'loop-events-role': return s.loop ? [{ ...role(s.loop.eventsRole)[0], sourceArns: [s.loop.rule.arn] }] : [];
    case 'dead-letter-queue': {
      if (!s.deadLetterQueue) return [];
      const rules = [...(s.lifecycle?.rules ?? []), ...s.associationRules, ...(s.loop ? [s.loop.rule] : [])];
      return [{ label: 'dead-letter queue', arn: s.deadLetterQueue.arn, policy: s.deadLetterQueue.policy, sourceArns: rules.map((r) => r.arn) }];
    }
    case 'topic':
      return s.topic ? [{
        label: 'alarm topic', arn: s.topic.arn, policy: s.topic.policy,
        sourceArns: row.who === 'cloudwatch-alarms' ? s.alarms.filter((a) => a.actions.includes(s.topic!.arn)).map((a) => a.arn) : undefined,
      }] : [];
    case 'topic-key': return s.topic ? [{ label: 'topic key', arn: s.topic.key.arn, policy: s.topic.key.policy, key: s.topic.key }] : [];
    case 'loop-alarm':
      return (s.loop?.alarmNames ?? []).map((n) => ({ label: `alarm ${n}`, arn: `arn:aws:cloudwatch:${s.region}:${s.account}:alarm:${n}` }));
    case 'association': return [{ label: 'an association', arn: ssm('association/0b1c2d3e-4f50-4617-8293-a4b5c6d7e8f9') }];
    case 'all': return [{ label: '*', arn: '*' }];
  }
}

function contextFor(row: RuntimeRequest, s: KeySetScene, t: Target, sourceArn?: string): Record<string, string | string[]> {
  const c: Record<string, string | string[]> = {};
  for (const key of row.context) {
    switch (key) {
      case 'kms:ViaService':
        c[key] = t.label === 'topic key' ? `sns.${s.region}.amazonaws.com` : `secretsmanager.${t.viaRegion ?? regionOf(t.arn)}.amazonaws.com`;
        break;
      case 'kms:EncryptionContext:SecretARN': c[key] = s.secretArn.replace(`:${s.region}:`, `:${regionOf(t.arn)}:`); break;
      case 'kms:ResourceAliases': if (t.key?.aliases.length) c[key] = t.key.aliases; break;
      case 'kms:EncryptionContext:aws:logs:arn': c[key] = logGroupArn(s); break;
      case 'kms:EncryptionContext:aws:sns:topicArn': if (s.topic) c[key] = s.topic.arn; break;
      case 'aws:SourceArn':
        if (sourceArn) c[key] = sourceArn;
        else if (row.who === 'ssm-service') c[key] = `arn:aws:ssm:${s.region}:${s.account}:automation-execution/0f1e2d3c-4b5a-6978-8695-a4b3c2d1e0f9`;
        break;
      case 'aws:SourceAccount': c[key] = s.account; break;
      case 'ssm:resourceTag/*':
      case 'autoscaling:ResourceTag/*':
        for (const [k, v] of Object.entries(t.tags ?? {})) c[key.replace('*', k)] = v;
        break;
      case 'cloudwatch:namespace': if (s.lifecycle) c[key] = s.lifecycle.namespace; break;
      case 'iam:PassedToService': c[key] = 'ssm.amazonaws.com'; break;
    }
  }
  return c;
}

function regionOf(arn: string): string {
  return arn.split(':')[3];
}

/** The concrete requests of a row in a scene: one per caller role (or service), target and source. */
export function concreteRequests(row: RuntimeRequest, s: KeySetScene, callers: Callers = {}): ConcreteRequest[] {
  const service = SERVICE_PRINCIPAL[row.who];
  const principals = service
    ? [{ principal: service(s), policies: [] as Policy[], group: undefined as GroupView | undefined, name: service(s) }]
    : callerRoles(row, s, callers).map(({ role, group }) => ({ principal: role.arn, policies: role.policies, group, name: role.name }));
  const out: ConcreteRequest[] = [];
  for (const p of principals) {
    for (const t of targets(row, s, row.on === 'gated-group' && row.who === 'instance' ? p.group : undefined)) {
      const sources = row.context.includes('aws:SourceArn') && t.sourceArns ? t.sourceArns : [undefined];
      for (const source of sources) {
        out.push({
          label: `${s.label}: ${p.name} ${row.action} on ${t.label}${source ? ` from ${source.split(':').pop()}` : ''}`,
          principal: p.principal,
          action: row.action,
          resource: t.arn,
          context: contextFor(row, s, t, source),
          identityPolicies: p.policies,
          resourcePolicy: t.policy,
        });
      }
    }
  }
  return out;
}

/** The operator policy of docs/permissions.md (between the markers), with a scene's values substituted. */
export function operatorPolicy(readme: string, s: KeySetScene): Policy {
  const m = /<!-- operator-policy -->\s*```json\n([\s\S]*?)```\s*<!-- \/operator-policy -->/.exec(readme);
  if (!m) throw new Error('docs/permissions.md: no operator policy between <!-- operator-policy --> markers');
  const text = m[1]
    .replace(/<region>/g, s.region).replace(/<account>/g, s.account).replace(/<secret ARN>/g, s.secretArn)
    .replace(/<key ARN>/g, s.secretKey?.arn ?? '')
    .replace(/"<replica key ARNs>"/g, JSON.stringify(Object.values(s.replicaKeys).map((k) => k.arn)))
    .replace(/<installer document>/g, s.installerDocument)
    .replace(/<export document>/g, s.exportDocument ?? 'no-export-document');
  const policy = JSON.parse(text);
  // A secret under aws/secretsmanager: no key statement (the AWS managed key's policy covers Secrets Manager's use).
  policy.Statement = policy.Statement.filter((st: any) => st.Resource !== '' && !(Array.isArray(st.Resource) && st.Resource.length === 0));
  return { name: 'docs/permissions.md operator policy', policy };
}
