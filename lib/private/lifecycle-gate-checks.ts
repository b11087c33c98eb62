import * as crypto from 'crypto';
import { Duration, Stack, Token } from 'aws-cdk-lib';
import * as autoscaling from 'aws-cdk-lib/aws-autoscaling';
import * as iam from 'aws-cdk-lib/aws-iam';
import { AutoScalingGroupOptions } from '../auto-scaling-group-options';
import { budgetProblems, gateBudget, INSTALLER_TIMEOUT_SECONDS } from './gate-budget';

/** Default time a launching instance may stay in `Pending:Wait` before it is abandoned. */
export const DEFAULT_HEARTBEAT_TIMEOUT = Duration.minutes(45);
/** Default time the installer command may take (cold AEM start included). */
export const DEFAULT_COMMAND_TIMEOUT = Duration.minutes(20);
/** Default time a new instance has to register with SSM (agent online). */
export const DEFAULT_SSM_ONLINE_TIMEOUT = Duration.minutes(10);

/** A gated group's timeouts, in seconds. */
export interface GroupTimeouts {
  /** `heartbeatTimeout`: how long the hook holds a launch. */
  readonly heartbeat: number;
  /** `commandTimeout`: how long the installer may take. */
  readonly command: number;
  /** `ssmOnlineTimeout`: how long the instance has to come online in SSM. */
  readonly ssm: number;
}

/** An imported group: not gated yet, and `manageSsm` only with its role. */
export function checkImportedGroup(asg: autoscaling.IAutoScalingGroup, options: AutoScalingGroupOptions, gated: string[]): void {
  const name = asg.autoScalingGroupName;
  if (gated.includes(name)) {
    throw new Error(`addAutoScalingGroup: the imported group ${name} is already gated; a group can be gated by one key set only`);
  }
  if (options.manageSsm === true && !options.instanceRole) {
    throw new Error(`addAutoScalingGroup: manageSsm for the imported group ${name} needs instanceRole (its role cannot be seen from here)`);
  }
}

/** The group's timeouts, each in its range, and the hook's heartbeat long enough for the launch's longest stretch. */
export function checkGroupTimeouts(options: AutoScalingGroupOptions, maxEventAge: number | undefined): GroupTimeouts {
  const heartbeat = (options.heartbeatTimeout ?? DEFAULT_HEARTBEAT_TIMEOUT).toSeconds();
  const command = (options.commandTimeout ?? DEFAULT_COMMAND_TIMEOUT).toSeconds();
  const ssmOnline = (options.ssmOnlineTimeout ?? DEFAULT_SSM_ONLINE_TIMEOUT).toSeconds();
  if (heartbeat < 30 || heartbeat > 7200) {
    throw new Error(`addAutoScalingGroup: heartbeatTimeout must be between 30 seconds and 2 hours, got ${heartbeat} seconds`);
  }
  if (command < 30 || command > INSTALLER_TIMEOUT_SECONDS) {
    throw new Error(`addAutoScalingGroup: commandTimeout must be between 30 seconds and ${INSTALLER_TIMEOUT_SECONDS} seconds `
      + `(the installer document's own execution timeout, which would stop the installer first), got ${command} seconds`);
  }
  if (ssmOnline < 30 || ssmOnline > 7200) {
    throw new Error(`addAutoScalingGroup: ssmOnlineTimeout must be between 30 seconds and 2 hours, got ${ssmOnline} seconds`);
  }
  const problems = budgetProblems(heartbeat, gateBudget(ssmOnline, command, maxEventAge));
  if (problems.length) {
    throw new Error(`addAutoScalingGroup: ${problems.join('; ')}; otherwise the hook could expire while the launch is still being served`);
  }
  return { heartbeat, command, ssm: ssmOnline };
}

/** A literal name Auto Scaling accepts for a lifecycle hook. */
export function checkHookName(name: string): void {
  if (Token.isUnresolved(name) || !/^[A-Za-z0-9_/-]{1,255}$/.test(name)) {
    throw new Error(`addAutoScalingGroup: hookName must be a literal of 1-255 characters [A-Za-z0-9_/-], got ${JSON.stringify(name)}`);
  }
}

/**
 * `aem-keys-<stack name>-<12 hex of the group's path>`: stable, group-independent, and unique per
 * account and region (stack names are): a stack name longer than 32 characters becomes its first
 * 23 and 8 hex digits of a hash of the whole name, so two stacks sharing 32 characters differ.
 */
export function defaultHookName(asg: autoscaling.IAutoScalingGroup): string {
  const fullName = Stack.of(asg).stackName.replace(/[^A-Za-z0-9-]/g, '-');
  const stackName = fullName.length <= 32 ? fullName : `${fullName.slice(0, 23)}-${sha256(fullName).slice(0, 8)}`;
  return `aem-keys-${stackName}-${sha256(asg.node.path).slice(0, 12)}`;
}

/**
 * The role that gets `AmazonSSMManagedInstanceCore` (`manageSsm`, on by default for a group of
 * this app): the group's own, or an imported group's `instanceRole`.
 */
export function ssmRole(asg: autoscaling.IAutoScalingGroup, cfnAsg: autoscaling.CfnAutoScalingGroup | undefined,
  options: AutoScalingGroupOptions): iam.IRole | undefined {
  if (!(options.manageSsm ?? cfnAsg !== undefined)) {
    return undefined;
  }
  return cfnAsg ? roleOf(asg as autoscaling.AutoScalingGroup) : options.instanceRole;
}

function roleOf(asg: autoscaling.AutoScalingGroup): iam.IRole {
  try {
    return asg.role;
  } catch {
    throw new Error(`addAutoScalingGroup: the launch template of ${asg.node.path} exposes no role, so its instances cannot be made SSM-managed `
      + 'nor granted the secret here. Give the launch template a role, or pass manageSsm: false and grant both yourself.');
  }
}

function sha256(text: string): string {
  return crypto.createHash('sha256').update(text).digest('hex');
}
