import * as crypto from 'crypto';
import { Annotations, ArnFormat, Duration, Lazy, Stack, Tags, Token } from 'aws-cdk-lib';
import * as autoscaling from 'aws-cdk-lib/aws-autoscaling';
import * as events from 'aws-cdk-lib/aws-events';
import * as iam from 'aws-cdk-lib/aws-iam';
import * as logs from 'aws-cdk-lib/aws-logs';
import * as secretsmanager from 'aws-cdk-lib/aws-secretsmanager';
import * as ssm from 'aws-cdk-lib/aws-ssm';
import { Construct, IConstruct } from 'constructs';
import { AutoScalingGroupOptions, GatedGroup } from '../auto-scaling-group-options';
import { InstallerDocument } from '../installer-document';
import { automationDefinitionArn, createAutomationRole, createAutomationStarterRole } from './automation-roles';
import { DeadLetterQueue, TARGET_MAX_EVENT_AGE } from './dead-letter-queue';
import { API_STEP_MAX_ATTEMPTS, budgetProblems, gateBudget } from './gate-budget';
import { InstallerParameters } from './installer-parameters';
import { withLaunchResults } from './launch-results';
import { AUTOMATION_STEPS, AutomationTarget, renderAutomation } from './lifecycle-automation';
import {
  checkGroupTimeouts, checkHookName, checkImportedGroup, DEFAULT_COMMAND_TIMEOUT, DEFAULT_SSM_ONLINE_TIMEOUT, defaultHookName, GroupTimeouts, ssmRole,
} from './lifecycle-gate-checks';
import { acknowledgeNag, nagArn } from './nag-arn';

/** Tag put on every gated group (and, through `PropagateAtLaunch`, on its instances). */
export const GATE_TAG_KEY = 'aem-crypto-keys:gate';

/** IAM's limit for the inline policies of one role, in characters. */
const MAX_ROLE_POLICY_CHARS = 10_240;

/** Automation parameters that come from the lifecycle event, in the order of the event's `detail`. */
const EVENT_PARAMETERS = {
  InstanceId: '$.detail.EC2InstanceId',
  LifecycleHookName: '$.detail.LifecycleHookName',
  AutoScalingGroupName: '$.detail.AutoScalingGroupName',
  LifecycleActionToken: '$.detail.LifecycleActionToken',
  Destination: '$.detail.Destination',
} as const;

/** Properties of a `LifecycleGate`. */
export interface LifecycleGateProps {
  /** The installer document the Automation runs. */
  readonly installerDocument: InstallerDocument;
  /** The key set's secret. */
  readonly secret: secretsmanager.ISecret;
  /** CloudWatch namespace the Automation publishes each launch's result to. */
  readonly metricsNamespace: string;
  /**
   * Log group for the installer output of each launch.
   * @default - output kept by SSM only
   */
  readonly logGroup?: logs.ILogGroup;
  /**
   * Dead-letter queue of the rules' targets (with bounded retries).
   * @default - no dead-letter queue, EventBridge's default retries
   */
  readonly deadLetterQueue?: DeadLetterQueue;
}

/** A group the gate holds, as the key set needs it. */
export interface GateEntry {
  /** What the gate did for the group. */
  readonly gatedGroup: GatedGroup;
  /** What lets the group's instances launch (the group, or an imported group's hook): it waits for their grants. */
  readonly launcher: IConstruct;
  /**
   * The group's instances, for grants: the group, or an imported group's `instanceRole`.
   * @default - unknown (an imported group without `instanceRole`)
   */
  readonly instances?: iam.IGrantable;
}

/** The hook of each gated group, across key sets (a group is gated by one key set only). */
const gatedGroups = new WeakMap<IConstruct, string>();

/**
 * Keeps new instances of Auto Scaling groups out of service until they hold the keys.
 *
 * One per key set, shared by every gated group: one Automation document, its role, and the
 * EventBridge role. Each group adds a launching hook inside the group itself, a tag, and one
 * EventBridge rule; nothing per instance.
 *
 * Launch -> hook (`Pending:Wait`) -> EventBridge rule -> Automation: wait for SSM, run the
 * installer document, `CompleteLifecycleAction` `CONTINUE`; any failure, cancel or timeout ends in
 * `ABANDON`. Nothing the gate creates refers to a group, so every group can depend on the gate's
 * resources and none of its instances launches before they exist.
 */
export class LifecycleGate extends Construct {
  /** Name of the Automation document. */
  public readonly automationDocumentName: string;
  /** The role the Automation runs as. */
  public readonly automationRole: iam.Role;
  /** The role EventBridge uses to start the Automation. */
  public readonly eventsRole: iam.Role;
  /** Hook names (= gate tag values) of the groups gated so far. */
  public readonly hookNames: string[] = [];

  private readonly document: ssm.CfnDocument;
  /** Names of the imported groups gated so far (their owner tags them with the gate tag). */
  private readonly importedGroupNames: string[] = [];
  private readonly deadLetterQueue?: DeadLetterQueue;
  private readonly metricsNamespace: string;
  private readonly timeouts: Array<GroupTimeouts & { hookName: string }> = [];

  constructor(scope: Construct, id: string, props: LifecycleGateProps) {
    super(scope, id);
    this.deadLetterQueue = props.deadLetterQueue;
    this.metricsNamespace = props.metricsNamespace;
    this.automationRole = this.createAutomationRole(props);
    this.document = new ssm.CfnDocument(this, 'Automation', {
      documentType: 'Automation',
      // A changed content becomes a new default version under the same name, so the rules'
      // target ARN stays valid and executions in flight keep their version (README: Upgrades).
      updateMethod: 'NewVersion',
      content: withLaunchResults(renderAutomation({
        assumeRoleArn: this.automationRole.roleArn,
        installerDocumentName: props.installerDocument.documentName,
        secretArn: props.secret.secretArn,
        commandTimeoutSeconds: Lazy.number({ produce: () => this.maxTimeout('command', DEFAULT_COMMAND_TIMEOUT) }),
        // The wait's attempts share ssmOnlineTimeout.
        ssmOnlineAttemptSeconds: Lazy.number({
          produce: () => Math.ceil(this.maxTimeout('ssm', DEFAULT_SSM_ONLINE_TIMEOUT) / API_STEP_MAX_ATTEMPTS),
        }),
      }), AUTOMATION_STEPS, { namespace: props.metricsNamespace, logGroupName: props.logGroup?.logGroupName }),
    });
    this.automationDocumentName = this.document.ref;
    this.node.addValidation({ validate: () => [...this.validateTimeouts(), ...this.validatePolicySize()] });
    this.eventsRole = this.createEventsRole();
    this.acknowledgeAutomationRole();
  }

  /** ARN EventBridge targets: the Automation document's default version. */
  public get automationDefinitionArn(): string {
    return automationDefinitionArn(this.automationDocumentName);
  }

  /** Gates one more group, whose launches run the installer with `parameters` (built from `options`). */
  public addGroup(asg: autoscaling.IAutoScalingGroup, options: AutoScalingGroupOptions, parameters: InstallerParameters): GateEntry {
    const cfnAsg = cfnGroupOf(asg);
    if (!cfnAsg) {
      checkImportedGroup(asg, options, this.importedGroupNames);
    } else if (options.instanceRole) {
      throw new Error(`addAutoScalingGroup: instanceRole is only for imported groups; ${asg.node.path} uses its own role`);
    }
    if (gatedGroups.has(asg)) {
      throw new Error(`addAutoScalingGroup: ${asg.node.path} is already gated (hook ${gatedGroups.get(asg)}); a group can be gated by one key set only`);
    }
    const timeouts = checkGroupTimeouts(options, this.maxEventAge());
    const hookName = this.newHookName(asg, options);
    const role = ssmRole(asg, cfnAsg, options);
    gatedGroups.set(asg, hookName);
    this.hookNames.push(hookName);
    this.timeouts.push({ hookName, ...timeouts });

    const hook = {
      lifecycleHookName: hookName,
      lifecycleTransition: 'autoscaling:EC2_INSTANCE_LAUNCHING',
      defaultResult: 'ABANDON',
      heartbeatTimeout: timeouts.heartbeat,
    };
    let launcher: IConstruct;
    let lifecycleHook: autoscaling.CfnLifecycleHook | undefined;
    if (cfnAsg) {
      addHookToGroup(asg, cfnAsg, hook);
      launcher = cfnAsg;
    } else {
      lifecycleHook = this.addHookToImportedGroup(asg, hook);
      launcher = lifecycleHook;
    }
    if (role) {
      manageSsm(role);
    }
    const rule = this.addRule(asg, hookName, parameters);
    // Everything the first launch needs exists before the group (or the imported group's hook).
    launcher.node.addDependency(this.document, this.automationRole, this.eventsRole, rule);
    return { gatedGroup: { hookName, rule, lifecycleHook }, launcher, instances: cfnAsg ? asg : options.instanceRole };
  }

  private newHookName(asg: autoscaling.IAutoScalingGroup, options: AutoScalingGroupOptions): string {
    const hookName = options.hookName ?? defaultHookName(asg);
    checkHookName(hookName);
    if (this.hookNames.includes(hookName)) {
      throw new Error(`addAutoScalingGroup: hook name ${hookName} is already used by another gated group`);
    }
    return hookName;
  }

  /**
   * An imported group (another stack's or team's): a hook resource of its own; its owner tags it
   * with the gate tag (it cannot be tagged from here), CompleteLifecycleAction by ARN.
   */
  private addHookToImportedGroup(asg: autoscaling.IAutoScalingGroup, hook: autoscaling.CfnAutoScalingGroup.LifecycleHookSpecificationProperty):
  autoscaling.CfnLifecycleHook {
    const hookName = hook.lifecycleHookName;
    const lifecycleHook = new autoscaling.CfnLifecycleHook(this, `Hook${hookHash(hookName)}`, { ...hook, autoScalingGroupName: asg.autoScalingGroupName });
    this.importedGroupNames.push(asg.autoScalingGroupName);
    // SendCommand reaches its instances through the gate tag like any gated group's (no AWS
    // documentation says the aws:autoscaling:groupName tag is evaluated in ssm:resourceTag).
    Annotations.of(asg).addWarningV2('cdk-aem-crypto-keys:importedGroupTag',
      `addAutoScalingGroup: the imported group ${asg.autoScalingGroupName} must carry the tag ${GATE_TAG_KEY}=${hookName}, propagated at launch, `
      + 'or the installer cannot be sent to its instances and every launch is abandoned. Its owner adds it: aws autoscaling create-or-update-tags '
      + `--tags ResourceId=${asg.autoScalingGroupName},ResourceType=auto-scaling-group,Key=${GATE_TAG_KEY},Value=${hookName},PropagateAtLaunch=true`);
    this.automationRole.addToPolicy(new iam.PolicyStatement({
      actions: ['autoscaling:CompleteLifecycleAction', 'autoscaling:RecordLifecycleActionHeartbeat'],
      resources: [asg.autoScalingGroupArn],
    }));
    if (!Token.isUnresolved(asg.autoScalingGroupName)) {
      const resource = nagArn(Stack.of(this), 'autoscaling', `autoScalingGroup:*:autoScalingGroupName/${asg.autoScalingGroupName}`);
      acknowledgeNag(this.automationRole, {
        id: `AwsSolutions::AwsSolutions-IAM5[Resource::${resource}]`,
        reason: 'CompleteLifecycleAction on the imported group named here only; the wildcard stands for the group ID, unknown to an imported group.',
      });
    }
    return lifecycleHook;
  }

  /** The rule that starts the Automation: only this group's hook; the group's name too when it is known at synth time. */
  private addRule(asg: autoscaling.IAutoScalingGroup, hookName: string, parameters: InstallerParameters): events.Rule {
    const detail: Record<string, string[]> = {
      LifecycleHookName: [hookName],
      LifecycleTransition: ['autoscaling:EC2_INSTANCE_LAUNCHING'],
    };
    const cfnAsg = cfnGroupOf(asg);
    const literalName = cfnAsg ? cfnAsg.autoScalingGroupName : asg.autoScalingGroupName;
    if (literalName !== undefined && !Token.isUnresolved(literalName)) {
      detail.AutoScalingGroupName = [literalName];
    }
    const input: Record<string, string[]> = {};
    for (const [name, path] of Object.entries(EVENT_PARAMETERS)) {
      input[name] = [events.EventField.fromPath(path)];
    }
    for (const [name, value] of parameters.given) {
      input[name] = [value];
    }
    const ruleId = `Group${hookHash(hookName)}`;
    const target = new AutomationTarget(this.automationDefinitionArn, this.eventsRole, events.RuleTargetInput.fromObject(input),
      this.deadLetterQueue?.targetSettings);
    return new events.Rule(this, ruleId, {
      ruleName: this.deadLetterQueue?.ruleName(this, ruleId),
      description: `AEM crypto keys for instances held by lifecycle hook ${hookName}`,
      eventPattern: {
        source: ['aws.autoscaling'],
        detailType: ['EC2 Instance-launch Lifecycle Action'],
        detail,
      },
      targets: [target],
    });
  }

  private createAutomationRole(props: LifecycleGateProps): iam.Role {
    const stack = Stack.of(this);
    const role = createAutomationRole(this, 'Runs the AEM crypto keys lifecycle automation');
    // The gate values grow with each group: rendered at synthesis, so later groups are included.
    const gateValues = Lazy.list({ produce: () => [...this.hookNames] });
    role.addToPolicy(new iam.PolicyStatement({
      sid: 'SendInstallerDocument',
      actions: ['ssm:SendCommand'],
      resources: [stack.formatArn({ service: 'ssm', resource: 'document', resourceName: props.installerDocument.documentName })],
    }));
    role.addToPolicy(new iam.PolicyStatement({
      sid: 'SendToGatedInstancesOnly',
      actions: ['ssm:SendCommand'],
      resources: [stack.formatArn({ service: 'ec2', resource: 'instance', resourceName: '*' })],
      conditions: { StringEquals: { [`ssm:resourceTag/${GATE_TAG_KEY}`]: gateValues } },
    }));
    role.addToPolicy(new iam.PolicyStatement({
      sid: 'CompleteLifecycleActionOfGatedGroupsOnly',
      // The heartbeat restarts the hook's clock (and fails when the launch is gone): same scope.
      actions: ['autoscaling:CompleteLifecycleAction', 'autoscaling:RecordLifecycleActionHeartbeat'],
      resources: [stack.formatArn({
        service: 'autoscaling', resource: 'autoScalingGroup', resourceName: '*:autoScalingGroupName/*', arnFormat: ArnFormat.COLON_RESOURCE_NAME,
      })],
      conditions: { StringEquals: { [`autoscaling:ResourceTag/${GATE_TAG_KEY}`]: gateValues } },
    }));
    role.addToPolicy(new iam.PolicyStatement({
      sid: 'FollowCommandsAndManagedNodes',
      actions: ['ssm:DescribeInstanceInformation', 'ssm:GetCommandInvocation', 'ssm:ListCommandInvocations', 'ssm:ListCommands'],
      resources: ['*'],
    }));
    role.addToPolicy(new iam.PolicyStatement({
      sid: 'PublishLaunchResultsToOwnNamespace',
      actions: ['cloudwatch:PutMetricData'],
      resources: ['*'],
      conditions: { StringEquals: { 'cloudwatch:namespace': props.metricsNamespace } },
    }));
    return role;
  }

  private createEventsRole(): iam.Role {
    return createAutomationStarterRole(this, {
      description: 'Lets EventBridge start the AEM crypto keys lifecycle automation',
      definitionArn: this.automationDefinitionArn,
      automationRole: this.automationRole,
      sids: { start: 'StartLifecycleAutomation', passRole: 'PassAutomationRole' },
    });
  }

  /** cdk-nag: why each wildcard of the automation role is as narrow as it can be. */
  private acknowledgeAutomationRole(): void {
    const stack = Stack.of(this);
    const ack = (resource: string, reason: string) => acknowledgeNag(this.automationRole, {
      id: `AwsSolutions::AwsSolutions-IAM5[Resource::${resource}]`,
      reason,
    });
    ack(nagArn(stack, 'ec2', 'instance/*'),
      'SendCommand may reach only instances whose aem-crypto-keys:gate tag names a gated group (ssm:resourceTag condition); '
      + 'instance IDs are unknown until launch.');
    ack(nagArn(stack, 'autoscaling', 'autoScalingGroup:*:autoScalingGroupName/*'),
      'CompleteLifecycleAction is limited to groups tagged aem-crypto-keys:gate with a gated value (autoscaling:ResourceTag condition); '
      + 'naming the group ARNs would make every group depend on itself through the gate.');
    ack('*',
      'ssm:DescribeInstanceInformation, GetCommandInvocation, ListCommands and ListCommandInvocations are read-only and do not support resource-level permissions; '
      + 'cloudwatch:PutMetricData has none either and is limited to the key set\'s own namespace (cloudwatch:namespace condition).');
  }

  private maxTimeout(kind: 'command' | 'ssm', fallback: Duration): number {
    return Math.max(0, ...this.timeouts.map((t) => t[kind])) || fallback.toSeconds();
  }

  private validateTimeouts(): string[] {
    const budget = gateBudget(this.maxTimeout('ssm', DEFAULT_SSM_ONLINE_TIMEOUT), this.maxTimeout('command', DEFAULT_COMMAND_TIMEOUT),
      this.maxEventAge());
    return this.timeouts.flatMap((t) => budgetProblems(t.heartbeat, budget).map((p) => `lifecycle hook ${t.hookName}: ${p} `
      + '(the Automation is shared: its bounds are the largest ssmOnlineTimeout and commandTimeout of the key set\'s groups)'));
  }

  /** The rule targets' maximum event age (`undefined`: EventBridge's default retry policy). */
  private maxEventAge(): number | undefined {
    return this.deadLetterQueue ? TARGET_MAX_EVENT_AGE.toSeconds() : undefined;
  }

  private validatePolicySize(): string[] {
    // Every hook name appears in two conditions of the automation role's inline policy; IAM allows
    // 10,240 characters of inline policy per role. The fixed part is about 1,300 characters, plus
    // about 200 and the namespace for the launch results' PutMetricData statement.
    const estimate = 1_600 + this.metricsNamespace.length + 2 * this.hookNames.reduce((sum, h) => sum + h.length + 3, 0)
      + this.importedGroupNames.reduce((sum, n) => sum + 2 * n.length + 400, 0);
    return estimate > MAX_ROLE_POLICY_CHARS
      ? [`${this.hookNames.length} gated groups make the automation role's policy about ${estimate} characters (IAM allows ${MAX_ROLE_POLICY_CHARS}); use shorter hookName values`]
      : [];
  }
}

/** The hook is part of the group's own creation (no instance can launch without it), and the tag scopes the automation role to the group. */
function addHookToGroup(asg: autoscaling.IAutoScalingGroup, cfnAsg: autoscaling.CfnAutoScalingGroup,
  hook: autoscaling.CfnAutoScalingGroup.LifecycleHookSpecificationProperty): void {
  const existing = cfnAsg.lifecycleHookSpecificationList;
  if (existing !== undefined && !Array.isArray(existing)) {
    throw new Error(`addAutoScalingGroup: ${asg.node.path} has a lifecycleHookSpecificationList token; cannot add the launching hook to it`);
  }
  cfnAsg.lifecycleHookSpecificationList = [...(existing ?? []), hook];
  Tags.of(asg).add(GATE_TAG_KEY, hook.lifecycleHookName, { applyToLaunchedInstances: true });
}

/** SSM agent registration of the group's instances. */
function manageSsm(role: iam.IRole): void {
  role.addManagedPolicy(iam.ManagedPolicy.fromAwsManagedPolicyName('AmazonSSMManagedInstanceCore'));
  acknowledgeNag(role, {
    id: 'AwsSolutions::AwsSolutions-IAM4[Policy::arn:<AWS::Partition>:iam::aws:policy/AmazonSSMManagedInstanceCore]',
    reason: 'AmazonSSMManagedInstanceCore is the AWS-maintained minimum an instance needs to be an SSM managed node, '
      + 'which the keys installer (Run Command) requires.',
  });
}

/** 12 hex digits naming a hook's own constructs (its rule, an imported group's hook). */
function hookHash(hookName: string): string {
  return crypto.createHash('sha256').update(hookName).digest('hex').slice(0, 12).toUpperCase();
}

/** The group's CloudFormation resource when this app defines it; undefined for an imported group. */
function cfnGroupOf(asg: autoscaling.IAutoScalingGroup): autoscaling.CfnAutoScalingGroup | undefined {
  return asg.node.defaultChild instanceof autoscaling.CfnAutoScalingGroup ? asg.node.defaultChild : undefined;
}
