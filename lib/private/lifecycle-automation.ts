import * as events from 'aws-cdk-lib/aws-events';
import * as iam from 'aws-cdk-lib/aws-iam';
import { API_STEP_MAX_ATTEMPTS, API_STEP_TIMEOUT_SECONDS } from './gate-budget';
import { ssmConstraint } from './installer-checks';
import { INSTALLER_DEFAULTS, OPTION_PARAMETERS } from './installer-parameters';

/** Step names of the lifecycle Automation document. */
export const AUTOMATION_STEPS = {
  heartbeat: 'recordLifecycleHeartbeat',
  waitForSsm: 'waitForSsmOnline',
  refreshHeartbeat: 'refreshLifecycleHeartbeat',
  branch: 'chooseInstallPath',
  install: 'installKeys',
  installWarm: 'installKeysForWarmPool',
  proceed: 'completeLifecycleContinue',
  abandon: 'completeLifecycleAbandon',
} as const;

/** What the lifecycle Automation document is rendered from. */
export interface AutomationRenderProps {
  /** The role the Automation runs as. */
  readonly assumeRoleArn: string;
  /** The installer document it runs. */
  readonly installerDocumentName: string;
  /** The key set's secret (the installer's `SecretId`). */
  readonly secretArn: string;
  /** Bound of the installer command (delivery and run). */
  readonly commandTimeoutSeconds: number;
  /** Timeout of one attempt of the wait for the agent (the attempts share `ssmOnlineTimeout`). */
  readonly ssmOnlineAttemptSeconds: number;
}

/** A rule target's dead-letter queue and retries (`DeadLetterQueue.targetSettings`). */
export type DeadLetterSettings = Pick<events.RuleTargetConfig, 'deadLetterConfig' | 'retryPolicy'>;

/** An EventBridge target that starts an SSM Automation (aws-events-targets has none). */
export class AutomationTarget implements events.IRuleTarget {
  constructor(private readonly arn: string, private readonly role: iam.IRole, private readonly input: events.RuleTargetInput,
    private readonly deadLetters?: DeadLetterSettings) {}

  public bind(): events.RuleTargetConfig {
    return { arn: this.arn, role: this.role, input: this.input, ...this.deadLetters };
  }
}

const STEPS = AUTOMATION_STEPS;

/** Retries of an AWS API step: a throttled or failed call is tried again before the step fails. */
const API_RETRIES = { maxAttempts: API_STEP_MAX_ATTEMPTS, timeoutSeconds: API_STEP_TIMEOUT_SECONDS };

/** Any failure or cancel of a step completes the lifecycle action with ABANDON. */
const ABANDON_ON = { onFailure: `step:${STEPS.abandon}`, onCancel: `step:${STEPS.abandon}` };

/** The lifecycle action of this launch, as the Auto Scaling API calls take it. */
const LIFECYCLE_ACTION = {
  AutoScalingGroupName: '{{ AutoScalingGroupName }}',
  LifecycleHookName: '{{ LifecycleHookName }}',
  LifecycleActionToken: '{{ LifecycleActionToken }}',
  InstanceId: '{{ InstanceId }}',
};

/**
 * The lifecycle Automation document (schemaVersion 0.3).
 *
 * recordLifecycleHeartbeat -> waitForSsmOnline -> refreshLifecycleHeartbeat -> chooseInstallPath
 *   -> installKeys | installKeysForWarmPool -> completeLifecycleContinue;
 * every failure, cancel or timeout -> completeLifecycleAbandon.
 *
 * The first heartbeat restarts the hook's clock after EventBridge's retries and the account's
 * Automation queue, and fails at once when the launch is gone (hook expired, instance
 * terminated): the Automation then holds no slot for a wait on a missing instance. The second
 * restarts it before the installer. Every AWS API step is tried `API_STEP_MAX_ATTEMPTS` times.
 */
export function renderAutomation(props: AutomationRenderProps): Record<string, any> {
  return {
    schemaVersion: '0.3',
    description: 'Installs the shared AEM crypto keys on a launching Auto Scaling instance, then completes its lifecycle action: CONTINUE on success, '
      + 'ABANDON on any failure, cancel or timeout. Parameters without a description are the installer document\'s.',
    assumeRole: props.assumeRoleArn,
    parameters: automationParameters(),
    mainSteps: [
      heartbeat(STEPS.heartbeat, STEPS.waitForSsm),
      waitForSsmOnline(props.ssmOnlineAttemptSeconds),
      heartbeat(STEPS.refreshHeartbeat, STEPS.branch),
      {
        name: STEPS.branch,
        action: 'aws:branch',
        ...ABANDON_ON,
        inputs: {
          Choices: [{ NextStep: STEPS.installWarm, Variable: '{{ Destination }}', StringEquals: 'WarmPool' }],
          Default: STEPS.install,
        },
      },
      runInstaller(props, STEPS.install, {}),
      // Entering a warm pool: keys in place, but AEM is neither started nor restarted there.
      runInstaller(props, STEPS.installWarm, { StartAfterInstall: 'false', Restart: 'none' }),
      { ...complete(STEPS.proceed, 'CONTINUE'), ...ABANDON_ON, isEnd: true },
      { ...complete(STEPS.abandon, 'ABANDON'), onFailure: 'Abort', onCancel: 'Abort', isEnd: true },
    ],
  };
}

/** The event's values, then the installer document's parameters of the same names (the document's description says so). */
function automationParameters(): Record<string, Record<string, unknown>> {
  const parameters: Record<string, Record<string, unknown>> = {
    InstanceId: { type: 'String', description: 'The launching instance (event detail EC2InstanceId).', allowedPattern: '^i-[0-9a-f]{8,17}$' },
    LifecycleHookName: { type: 'String', description: 'The lifecycle hook holding the instance.', allowedPattern: '^[A-Za-z0-9_/-]{1,255}$' },
    AutoScalingGroupName: { type: 'String', description: 'The instance\'s Auto Scaling group.', allowedPattern: '^.{1,255}$' },
    LifecycleActionToken: { type: 'String', description: 'The lifecycle action token of this launch.', allowedPattern: '^[A-Za-z0-9-]{36}$' },
    Destination: {
      type: 'String',
      description: 'Where the instance goes: AutoScalingGroup (service) or WarmPool (keys only, AEM not started).',
      default: 'AutoScalingGroup',
      allowedPattern: '^[A-Za-z0-9]{0,32}$',
    },
  };
  for (const name of OPTION_PARAMETERS) {
    parameters[name] = {
      type: 'String',
      default: INSTALLER_DEFAULTS[name],
      // The installer document's own constraints: a bad value fails the Automation's start.
      ...ssmConstraint(name),
    };
  }
  return parameters;
}

/** Restarts the hook's clock; fails when the launch is gone. */
function heartbeat(name: string, nextStep: string): Record<string, unknown> {
  return {
    name,
    action: 'aws:executeAwsApi',
    ...API_RETRIES,
    ...ABANDON_ON,
    nextStep,
    inputs: { Service: 'autoscaling', Api: 'RecordLifecycleActionHeartbeat', ...LIFECYCLE_ACTION },
  };
}

/** Waits for the instance's SSM agent to come online. */
function waitForSsmOnline(attemptSeconds: number): Record<string, unknown> {
  return {
    name: STEPS.waitForSsm,
    action: 'aws:waitForAwsResourceProperty',
    // The attempts share ssmOnlineTimeout: a throttled poll is retried, an agent that never
    // comes online still fails after ssmOnlineTimeout in all.
    maxAttempts: API_STEP_MAX_ATTEMPTS,
    timeoutSeconds: attemptSeconds,
    ...ABANDON_ON,
    nextStep: STEPS.refreshHeartbeat,
    inputs: {
      Service: 'ssm',
      Api: 'DescribeInstanceInformation',
      InstanceInformationFilterList: [{ key: 'InstanceIds', valueSet: ['{{ InstanceId }}'] }],
      PropertySelector: '$.InstanceInformationList[0].PingStatus',
      DesiredValues: ['Online'],
    },
  };
}

/** Runs the installer document on the instance, with the Automation's parameters except `overrides`. */
function runInstaller(props: AutomationRenderProps, name: string, overrides: Record<string, string>): Record<string, unknown> {
  const parameters: Record<string, string> = { SecretId: props.secretArn, Mode: 'install' };
  for (const parameter of OPTION_PARAMETERS) {
    parameters[parameter] = overrides[parameter] ?? `{{ ${parameter} }}`;
  }
  return {
    name,
    action: 'aws:runCommand',
    // Bounds delivery and run; a timed-out step fails, and onFailure leads to ABANDON.
    timeoutSeconds: props.commandTimeoutSeconds,
    ...ABANDON_ON,
    nextStep: STEPS.proceed,
    inputs: {
      DocumentName: props.installerDocumentName,
      InstanceIds: ['{{ InstanceId }}'],
      Comment: 'AEM crypto keys: lifecycle gate',
      Parameters: parameters,
    },
  };
}

/** Completes the lifecycle action with `result`. */
function complete(name: string, result: 'CONTINUE' | 'ABANDON'): Record<string, unknown> {
  return {
    name,
    action: 'aws:executeAwsApi',
    ...API_RETRIES,
    inputs: {
      Service: 'autoscaling',
      Api: 'CompleteLifecycleAction',
      ...LIFECYCLE_ACTION,
      LifecycleActionResult: result,
    },
  };
}
