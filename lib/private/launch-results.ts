/**
 * Countable results of gated launches, published by the lifecycle Automation itself.
 *
 * Every way out of the Automation passes one `aws:executeAwsApi` step that calls CloudWatch
 * `PutMetricData` before (ABANDON) or after (CONTINUE) the lifecycle action is completed: no
 * Lambda, no per-instance resource, and the reason is known exactly because each failure edge of
 * the step graph leads to the record step of its own reason.
 */

import * as crypto from 'crypto';
import { Stack, Token } from 'aws-cdk-lib';
import { IConstruct } from 'constructs';
import { AbandonReason } from '../abandon-reason';
import { API_STEP_MAX_ATTEMPTS, API_STEP_TIMEOUT_SECONDS } from './gate-budget';

/** Metric names of a key set (namespace: `AemCryptoKeys/<key set>`). */
export const METRICS = {
  /** Launches the gate completed with `CONTINUE` (keys installed). */
  continued: 'LaunchesContinued',
  /** Launches the gate completed with `ABANDON` (dimension `Reason`, or `AutoScalingGroupName`, or none). */
  abandoned: 'LaunchesAbandoned',
  /** Installer runs that changed something on an instance (`result: changed` in the installer output). */
  installerChanged: 'InstallerRunsChanged',
  /** Installer runs that failed with an error line (`aem-crypto-keys: error:` on stderr). */
  installerErrors: 'InstallerErrors',
  /** Tag association runs that failed (or timed out) on an instance. */
  associationFailures: 'AssociationRunsFailed',
  /** Tag association runs that changed something on an instance (the installer's closing line `association run: changed`). */
  associationChanges: 'AssociationRunsChanged',
} as const;

/** Prefix of the record steps' names. */
export const RECORD_STEP_PREFIX = 'record';

/**
 * `AemCryptoKeys/<stack name>/<key set's construct path below its stack>`, characters CloudWatch
 * allows: unique per deployment (stack names are unique per account and region), so two
 * deployments of one app never count each other's events. The same as the former
 * `AemCryptoKeys/<construct path>` when the stack's name is its construct id. At most 255
 * characters (a longer one ends in 8 hex digits of a hash of the whole); with an unresolved stack
 * name, the construct path alone.
 */
export function metricsNamespace(keySet: IConstruct): string {
  const stack = Stack.of(keySet);
  const below = keySet.node.path.slice(stack.node.path.length).replace(/^\//, '');
  const name = Token.isUnresolved(stack.stackName) ? keySet.node.path : `${stack.stackName}/${below}`;
  const full = `AemCryptoKeys/${name.replace(/[^A-Za-z0-9._/#:-]/g, '-')}`;
  return full.length <= 255 ? full : `${full.slice(0, 246)}-${crypto.createHash('sha256').update(full).digest('hex').slice(0, 8)}`;
}

interface StepNames {
  readonly heartbeat: string;
  readonly refreshHeartbeat: string;
  readonly waitForSsm: string;
  readonly proceed: string;
  readonly abandon: string;
}

/** Options of `withLaunchResults`. */
export interface LaunchResultOptions {
  readonly namespace: string;
  /** Log group of the installer's Run Command output (`CloudWatchOutputConfig`). */
  readonly logGroupName?: string;
}

/**
 * Adds the result steps to a rendered lifecycle Automation: every `onFailure` / `onCancel` edge to
 * the ABANDON step goes to a record step of its reason first; CONTINUE is followed by a record
 * step. Also sends each `aws:runCommand` step's output to the log group, when given.
 */
export function withLaunchResults(doc: Record<string, any>, names: StepNames, options: LaunchResultOptions): Record<string, any> {
  const steps: any[] = doc.mainSteps;
  const used = new Set<AbandonReason>();
  const toAbandon = `step:${names.abandon}`;
  const rewritten = steps.map((step) => {
    if (step.name === names.abandon) return step;
    const copy = { ...step };
    if (copy.onFailure === toAbandon) {
      const reason = failureReason(step, names);
      used.add(reason);
      copy.onFailure = `step:${recordStepName(reason)}`;
    }
    if (copy.onCancel === toAbandon) {
      used.add(AbandonReason.CANCELLED);
      copy.onCancel = `step:${recordStepName(AbandonReason.CANCELLED)}`;
    }
    if (copy.name === names.proceed) {
      delete copy.isEnd;
      copy.nextStep = recordStepName('Continued');
    }
    if (copy.action === 'aws:runCommand' && options.logGroupName !== undefined) {
      copy.inputs = {
        ...copy.inputs,
        CloudWatchOutputConfig: { CloudWatchOutputEnabled: true, CloudWatchLogGroupName: options.logGroupName },
      };
    }
    return copy;
  });
  const abandonAt = rewritten.findIndex((s) => s.name === names.abandon);
  const records = Object.values(AbandonReason).filter((r) => used.has(r)).map((reason) => ({
    ...putMetric(recordStepName(reason), options.namespace, METRICS.abandoned, reason),
    // A failed PutMetricData must never keep the instance from being abandoned.
    onFailure: toAbandon,
    onCancel: toAbandon,
    nextStep: names.abandon,
  }));
  const continued = {
    ...putMetric(recordStepName('Continued'), options.namespace, METRICS.continued),
    // The lifecycle action is complete: a failed PutMetricData only marks the execution Failed.
    isEnd: true,
  };
  return {
    ...doc,
    mainSteps: [...rewritten.slice(0, abandonAt), continued, ...records, ...rewritten.slice(abandonAt)],
  };
}

function recordStepName(reason: AbandonReason | 'Continued'): string {
  return reason === 'Continued' ? `${RECORD_STEP_PREFIX}LaunchContinued` : `${RECORD_STEP_PREFIX}Abandon${reason}`;
}

function failureReason(step: any, names: StepNames): AbandonReason {
  if (step.name === names.heartbeat || step.name === names.refreshHeartbeat) return AbandonReason.HEARTBEAT_EXPIRED;
  if (step.name === names.waitForSsm) return AbandonReason.AGENT_NOT_ONLINE;
  if (step.name === names.proceed) return AbandonReason.LIFECYCLE_ACTION_FAILED;
  return AbandonReason.INSTALLER_FAILED;
}

/**
 * One `PutMetricData` call with the count three times: for the key set, for the group, and (for
 * abandons) for the reason; CloudWatch does not aggregate across dimensions.
 */
function putMetric(name: string, namespace: string, metricName: string, reason?: AbandonReason): Record<string, any> {
  const datum = (dimensions: Array<{ Name: string; Value: string }>) => ({
    MetricName: metricName,
    Unit: 'Count',
    Value: 1,
    ...(dimensions.length ? { Dimensions: dimensions } : {}),
  });
  return {
    name,
    action: 'aws:executeAwsApi',
    maxAttempts: API_STEP_MAX_ATTEMPTS,
    timeoutSeconds: API_STEP_TIMEOUT_SECONDS,
    inputs: {
      Service: 'cloudwatch',
      Api: 'PutMetricData',
      Namespace: namespace,
      MetricData: [
        datum([]),
        datum([{ Name: 'AutoScalingGroupName', Value: '{{ AutoScalingGroupName }}' }]),
        ...(reason ? [datum([{ Name: 'Reason', Value: reason }])] : []),
      ],
    },
  };
}
