import * as crypto from 'crypto';
import { Annotations, ArnFormat, Aws, Duration, Lazy, Stack, Tags, Token } from 'aws-cdk-lib';
import * as autoscaling from 'aws-cdk-lib/aws-autoscaling';
import * as events from 'aws-cdk-lib/aws-events';
import * as iam from 'aws-cdk-lib/aws-iam';
import * as ssm from 'aws-cdk-lib/aws-ssm';
import { Construct, IConstruct } from 'constructs';
import { InstallerOptions } from './installer-options';
import { DeadLetterQueue, TARGET_MAX_EVENT_AGE } from './private/dead-letter-queue';
import {
  API_STEP_MAX_ATTEMPTS, API_STEP_TIMEOUT_SECONDS, budgetProblems, gateBudget, INSTALLER_TIMEOUT_SECONDS,
} from './private/gate-budget';
import { ssmConstraint } from './private/installer-checks';
import { INSTALLER_DEFAULTS, InstallerParameters, OPTION_PARAMETERS } from './private/installer-parameters';
import { withLaunchResults } from './private/launch-results';
import { acknowledgeNag, nagArn } from './private/nag-arn';

/** Tag put on every gated group (and, through `PropagateAtLaunch`, on its instances). */
export const GATE_TAG_KEY = 'aem-crypto-keys:gate';

/** Default time a launching instance may stay in `Pending:Wait` before it is abandoned. */
export const DEFAULT_HEARTBEAT_TIMEOUT = Duration.minutes(45);
/** Default time the installer command may take (cold AEM start included). */
export const DEFAULT_COMMAND_TIMEOUT = Duration.minutes(20);
/** Default time a new instance has to register with SSM (agent online). */
export const DEFAULT_SSM_ONLINE_TIMEOUT = Duration.minutes(10);

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

/** Options of `AemCryptoKeys.addAutoScalingGroup`. */
export interface AutoScalingGroupOptions extends InstallerOptions {
  /**
   * How long a launching instance may wait in `Pending:Wait` (or `Warmed:Pending:Wait`) for its
   * keys. When it runs out, Auto Scaling abandons the instance (the hook's default result is
   * `ABANDON`). Between 30 seconds and 2 hours. The Automation records a heartbeat when it starts
   * and again before the installer, so this must cover the longer of the two stretches between
   * heartbeats (`ssmOnlineTimeout`, or `commandTimeout` and the lifecycle action, each with its API
   * steps' retries), and the event's delivery (EventBridge retries) plus 10 minutes in the account's
   * Automation queue (docs/fleet.md, "Timeouts").
   * @default Duration.minutes(45)
   */
  readonly heartbeatTimeout?: Duration;

  /**
   * How long the installer command may take on the instance, including starting a cold AEM when
   * `startAfterInstall` is set. A command still running then fails the automation: `ABANDON`.
   * The Automation document is shared by the key set's groups, so its bound is the largest
   * `commandTimeout` among them (checked against every group's `heartbeatTimeout` at synthesis).
   * At most the installer document's own execution timeout (1 hour), which would stop it first.
   * @default Duration.minutes(20)
   */
  readonly commandTimeout?: Duration;

  /**
   * How long a new instance has to show up as an online SSM managed node. Shared like
   * `commandTimeout`: the largest value among the key set's groups applies.
   * @default Duration.minutes(10)
   */
  readonly ssmOnlineTimeout?: Duration;

  /**
   * Attach `AmazonSSMManagedInstanceCore` to the group's role so its instances register with SSM.
   * Set to `false` when the role (or an instance profile, or Default Host Management) already
   * takes care of it.
   * @default true
   */
  readonly manageSsm?: boolean;

  /**
   * Name of the launching lifecycle hook (also the value of the `aem-crypto-keys:gate` tag).
   * Only `[A-Za-z0-9_/-]`, at most 255 characters, unique among the gated groups of an account
   * and region.
   * Each name is listed twice in the automation role's policy (IAM allows 10,240 characters per
   * role), which bounds a key set to about 80 gated groups with default names; short names allow more.
   * @default - `aem-keys-<stack name>-<12 hex digits of a hash of the group's construct path>`; a stack name over 32
   * characters becomes its first 23 characters and 8 hex digits of a hash of the whole name
   */
  readonly hookName?: string;

  /**
   * The instances' role of a group imported with `AutoScalingGroup.fromAutoScalingGroupName`
   * (whose role cannot be seen from here): it is granted reading the keys (and `adminSecret`)
   * before the hook exists, and `manageSsm: true` attaches `AmazonSSMManagedInstanceCore` to it.
   * Only for imported groups: an owned group's own role is used.
   * @default - none: grant the imported group's role yourself (`grantRead`); synthesis warns
   */
  readonly instanceRole?: iam.IRole;
}

/** Properties of a `LifecycleGate`. */
export interface LifecycleGateProps {
  /** Name of the installer document. */
  readonly installerDocumentName: string;
  /** ARN of the key set's secret. */
  readonly secretArn: string;
  /** CloudWatch namespace the Automation publishes each launch's result to. */
  readonly metricsNamespace: string;
  /**
   * Log group for the installer output of each launch.
   * @default - output kept by SSM only
   */
  readonly logGroupName?: string;
  /**
   * Dead-letter queue of the rules' targets (with bounded retries).
   * @default - no dead-letter queue, EventBridge's default retries
   */
  readonly deadLetterQueue?: DeadLetterQueue;
}

/** What the gate did for one group. */
export interface GatedGroup {
  /** The launching hook's name, also the value of the `aem-crypto-keys:gate` tag. */
  readonly hookName: string;
  /** The EventBridge rule that starts the automation for this group's launches. */
  readonly rule: events.Rule;
  /**
   * The separate lifecycle hook of an imported group.
   * @default - none: an owned group's hook is part of the group itself
   */
  readonly lifecycleHook?: autoscaling.CfnLifecycleHook;
}

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
  private readonly timeouts: Array<{ hookName: string; heartbeat: number; command: number; ssm: number }> = [];

  constructor(scope: Construct, id: string, props: LifecycleGateProps) {
    super(scope, id);
    const stack = Stack.of(this);

    this.automationRole = new iam.Role(this, 'AutomationRole', {
      description: 'Runs the AEM crypto keys lifecycle automation',
      assumedBy: new iam.ServicePrincipal('ssm.amazonaws.com', {
        conditions: {
          StringEquals: { 'aws:SourceAccount': Aws.ACCOUNT_ID },
          ArnLike: { 'aws:SourceArn': `arn:${Aws.PARTITION}:ssm:${Aws.REGION}:${Aws.ACCOUNT_ID}:automation-execution/*` },
        },
      }),
    });
    // The gate values grow with each group: rendered at synthesis, so later groups are included.
    const gateValues = Lazy.list({ produce: () => [...this.hookNames] });
    this.automationRole.addToPolicy(new iam.PolicyStatement({
      sid: 'SendInstallerDocument',
      actions: ['ssm:SendCommand'],
      resources: [stack.formatArn({ service: 'ssm', resource: 'document', resourceName: props.installerDocumentName })],
    }));
    this.automationRole.addToPolicy(new iam.PolicyStatement({
      sid: 'SendToGatedInstancesOnly',
      actions: ['ssm:SendCommand'],
      resources: [stack.formatArn({ service: 'ec2', resource: 'instance', resourceName: '*' })],
      conditions: { StringEquals: { [`ssm:resourceTag/${GATE_TAG_KEY}`]: gateValues } },
    }));
    this.automationRole.addToPolicy(new iam.PolicyStatement({
      sid: 'CompleteLifecycleActionOfGatedGroupsOnly',
      // The heartbeat restarts the hook's clock (and fails when the launch is gone): same scope.
      actions: ['autoscaling:CompleteLifecycleAction', 'autoscaling:RecordLifecycleActionHeartbeat'],
      resources: [stack.formatArn({ service: 'autoscaling', resource: 'autoScalingGroup', resourceName: '*:autoScalingGroupName/*', arnFormat: ArnFormat.COLON_RESOURCE_NAME })],
      conditions: { StringEquals: { [`autoscaling:ResourceTag/${GATE_TAG_KEY}`]: gateValues } },
    }));
    this.automationRole.addToPolicy(new iam.PolicyStatement({
      sid: 'FollowCommandsAndManagedNodes',
      actions: ['ssm:DescribeInstanceInformation', 'ssm:GetCommandInvocation', 'ssm:ListCommandInvocations', 'ssm:ListCommands'],
      resources: ['*'],
    }));
    this.automationRole.addToPolicy(new iam.PolicyStatement({
      sid: 'PublishLaunchResultsToOwnNamespace',
      actions: ['cloudwatch:PutMetricData'],
      resources: ['*'],
      conditions: { StringEquals: { 'cloudwatch:namespace': props.metricsNamespace } },
    }));
    this.deadLetterQueue = props.deadLetterQueue;
    this.metricsNamespace = props.metricsNamespace;

    this.document = new ssm.CfnDocument(this, 'Automation', {
      documentType: 'Automation',
      // A changed content becomes a new default version under the same name, so the rules'
      // target ARN stays valid and executions in flight keep their version (README: Upgrades).
      updateMethod: 'NewVersion',
      content: withLaunchResults(renderAutomation({
        assumeRoleArn: this.automationRole.roleArn,
        installerDocumentName: props.installerDocumentName,
        secretArn: props.secretArn,
        commandTimeoutSeconds: Lazy.number({ produce: () => this.maxTimeout('command', DEFAULT_COMMAND_TIMEOUT) }),
        // The wait's attempts share ssmOnlineTimeout.
        ssmOnlineAttemptSeconds: Lazy.number({
          produce: () => Math.ceil(this.maxTimeout('ssm', DEFAULT_SSM_ONLINE_TIMEOUT) / API_STEP_MAX_ATTEMPTS),
        }),
      }), AUTOMATION_STEPS, { namespace: props.metricsNamespace, logGroupName: props.logGroupName }),
    });
    this.automationDocumentName = this.document.ref;
    this.node.addValidation({ validate: () => [...this.validateTimeouts(), ...this.validatePolicySize()] });

    this.eventsRole = new iam.Role(this, 'EventsRole', {
      description: 'Lets EventBridge start the AEM crypto keys lifecycle automation',
      assumedBy: new iam.ServicePrincipal('events.amazonaws.com', {
        conditions: { StringEquals: { 'aws:SourceAccount': Aws.ACCOUNT_ID } },
      }),
    });
    this.eventsRole.addToPolicy(new iam.PolicyStatement({
      sid: 'StartLifecycleAutomation',
      actions: ['ssm:StartAutomationExecution'],
      resources: [this.automationDefinitionArn],
    }));
    this.eventsRole.addToPolicy(new iam.PolicyStatement({
      sid: 'PassAutomationRole',
      actions: ['iam:PassRole'],
      resources: [this.automationRole.roleArn],
      conditions: { StringEquals: { 'iam:PassedToService': 'ssm.amazonaws.com' } },
    }));

    const ack = (resource: string, reason: string) => acknowledgeNag(this.automationRole, {
      id: `AwsSolutions::AwsSolutions-IAM5[Resource::${resource}]`,
      reason,
    });
    ack(nagArn(stack, 'ec2', 'instance/*'),
      'SendCommand may reach only instances whose aem-crypto-keys:gate tag names a gated group (ssm:resourceTag condition); instance IDs are unknown until launch.');
    ack(nagArn(stack, 'autoscaling', 'autoScalingGroup:*:autoScalingGroupName/*'),
      'CompleteLifecycleAction is limited to groups tagged aem-crypto-keys:gate with a gated value (autoscaling:ResourceTag condition); naming the group ARNs would make every group depend on itself through the gate.');
    ack('*',
      'ssm:DescribeInstanceInformation, GetCommandInvocation, ListCommands and ListCommandInvocations are read-only and do not support resource-level permissions; '
      + 'cloudwatch:PutMetricData has none either and is limited to the key set\'s own namespace (cloudwatch:namespace condition).');
  }

  /** ARN EventBridge targets: the Automation document's default version. */
  public get automationDefinitionArn(): string {
    return `arn:${Aws.PARTITION}:ssm:${Aws.REGION}:${Aws.ACCOUNT_ID}:automation-definition/${this.automationDocumentName}:$DEFAULT`;
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

  /** Gates one more group, whose launches run the installer with `parameters` (built from `options`). */
  public addGroup(asg: autoscaling.IAutoScalingGroup, options: AutoScalingGroupOptions, parameters: InstallerParameters): GatedGroup {
    const cfnAsg = asg.node.defaultChild instanceof autoscaling.CfnAutoScalingGroup ? asg.node.defaultChild : undefined;
    if (!cfnAsg) {
      checkImportedGroup(asg, options, this.importedGroupNames);
    } else if (options.instanceRole) {
      throw new Error(`addAutoScalingGroup: instanceRole is only for imported groups; ${asg.node.path} uses its own role`);
    }
    if (gatedGroups.has(asg)) {
      throw new Error(`addAutoScalingGroup: ${asg.node.path} is already gated (hook ${gatedGroups.get(asg)}); a group can be gated by one key set only`);
    }
    const timeouts = checkTimeouts(options, this.maxEventAge());
    const hookName = options.hookName ?? defaultHookName(asg);
    checkHookName(hookName);
    if (this.hookNames.includes(hookName)) {
      throw new Error(`addAutoScalingGroup: hook name ${hookName} is already used by another gated group`);
    }
    const role = !(options.manageSsm ?? cfnAsg !== undefined)
      ? undefined
      : cfnAsg
        ? roleOf(asg as autoscaling.AutoScalingGroup)
        : options.instanceRole;
    gatedGroups.set(asg, hookName);
    this.hookNames.push(hookName);
    this.timeouts.push({ hookName, ...timeouts });

    const hook = {
      lifecycleHookName: hookName,
      lifecycleTransition: 'autoscaling:EC2_INSTANCE_LAUNCHING',
      defaultResult: 'ABANDON',
      heartbeatTimeout: timeouts.heartbeat,
    };
    let lifecycleHook: autoscaling.CfnLifecycleHook | undefined;
    if (cfnAsg) {
      // 1. The hook is part of the group's own creation: no instance can launch without it.
      const existing = cfnAsg.lifecycleHookSpecificationList;
      if (existing !== undefined && !Array.isArray(existing)) {
        throw new Error(`addAutoScalingGroup: ${asg.node.path} has a lifecycleHookSpecificationList token; cannot add the launching hook to it`);
      }
      cfnAsg.lifecycleHookSpecificationList = [...(existing ?? []), hook];

      // 2. The tag that scopes the automation role to this group and its instances.
      Tags.of(asg).add(GATE_TAG_KEY, hookName, { applyToLaunchedInstances: true });
    } else {
      // 1-2. An imported group (another stack's or team's): a hook resource of its own; its owner
      // tags it with the gate tag (it cannot be tagged from here), CompleteLifecycleAction by ARN.
      lifecycleHook = new autoscaling.CfnLifecycleHook(this, `Hook${hookHash(hookName)}`, { ...hook, autoScalingGroupName: asg.autoScalingGroupName });
      this.allowImportedGroup(asg, hookName);
    }

    // 3. SSM agent registration.
    if (role) {
      role.addManagedPolicy(iam.ManagedPolicy.fromAwsManagedPolicyName('AmazonSSMManagedInstanceCore'));
      acknowledgeNag(role, {
        id: 'AwsSolutions::AwsSolutions-IAM4[Policy::arn:<AWS::Partition>:iam::aws:policy/AmazonSSMManagedInstanceCore]',
        reason: 'AmazonSSMManagedInstanceCore is the AWS-maintained minimum an instance needs to be an SSM managed node, which the keys installer (Run Command) requires.',
      });
    }

    // 4. The rule: only this group's hook; the group's name too when it is known at synth time.
    const detail: Record<string, string[]> = {
      LifecycleHookName: [hookName],
      LifecycleTransition: ['autoscaling:EC2_INSTANCE_LAUNCHING'],
    };
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
    const rule = new events.Rule(this, ruleId, {
      ruleName: this.deadLetterQueue?.ruleName(this, ruleId),
      description: `AEM crypto keys for instances held by lifecycle hook ${hookName}`,
      eventPattern: {
        source: ['aws.autoscaling'],
        detailType: ['EC2 Instance-launch Lifecycle Action'],
        detail,
      },
      targets: [new AutomationTarget(this.automationDefinitionArn, this.eventsRole, events.RuleTargetInput.fromObject(input), this.deadLetterQueue)],
    });

    // 5. Everything the first launch needs exists before the group (or the imported group's hook).
    (cfnAsg ?? lifecycleHook!).node.addDependency(this.document, this.automationRole, this.eventsRole, rule);
    return { hookName, rule, lifecycleHook };
  }

  /** The automation may send to an imported group's instances and complete its lifecycle actions. */
  private allowImportedGroup(asg: autoscaling.IAutoScalingGroup, hookName: string): void {
    const stack = Stack.of(this);
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
      acknowledgeNag(this.automationRole, {
        id: `AwsSolutions::AwsSolutions-IAM5[Resource::${nagArn(stack, 'autoscaling', `autoScalingGroup:*:autoScalingGroupName/${asg.autoScalingGroupName}`)}]`,
        reason: 'CompleteLifecycleAction on the imported group named here only; the wildcard stands for the group ID, unknown to an imported group.',
      });
    }
  }
}

/** An EventBridge target that starts an SSM Automation (aws-events-targets has none). */
class AutomationTarget implements events.IRuleTarget {
  constructor(private readonly arn: string, private readonly role: iam.IRole, private readonly input: events.RuleTargetInput,
    private readonly deadLetters?: DeadLetterQueue) {}

  public bind(): events.RuleTargetConfig {
    return { arn: this.arn, role: this.role, input: this.input, ...this.deadLetters?.targetSettings };
  }
}

interface AutomationRenderProps {
  readonly assumeRoleArn: string;
  readonly installerDocumentName: string;
  readonly secretArn: string;
  readonly commandTimeoutSeconds: number;
  /** Timeout of one attempt of the wait for the agent (the attempts share `ssmOnlineTimeout`). */
  readonly ssmOnlineAttemptSeconds: number;
}

/** Retries of an AWS API step: a throttled or failed call is tried again before the step fails. */
const API_RETRIES = { maxAttempts: API_STEP_MAX_ATTEMPTS, timeoutSeconds: API_STEP_TIMEOUT_SECONDS };

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
function renderAutomation(props: AutomationRenderProps): Record<string, any> {
  const s = AUTOMATION_STEPS;
  const abandonOn = { onFailure: `step:${s.abandon}`, onCancel: `step:${s.abandon}` };
  const installerParams = (overrides: Record<string, string>) => {
    const params: Record<string, string> = { SecretId: props.secretArn, Mode: 'install' };
    for (const name of OPTION_PARAMETERS) {
      params[name] = overrides[name] ?? `{{ ${name} }}`;
    }
    return params;
  };
  const runInstaller = (name: string, overrides: Record<string, string>) => ({
    name,
    action: 'aws:runCommand',
    // Bounds delivery and run; a timed-out step fails, and onFailure leads to ABANDON.
    timeoutSeconds: props.commandTimeoutSeconds,
    ...abandonOn,
    nextStep: s.proceed,
    inputs: {
      DocumentName: props.installerDocumentName,
      InstanceIds: ['{{ InstanceId }}'],
      Comment: 'AEM crypto keys: lifecycle gate',
      Parameters: installerParams(overrides),
    },
  });
  const lifecycleAction = {
    AutoScalingGroupName: '{{ AutoScalingGroupName }}',
    LifecycleHookName: '{{ LifecycleHookName }}',
    LifecycleActionToken: '{{ LifecycleActionToken }}',
    InstanceId: '{{ InstanceId }}',
  };
  const heartbeat = (name: string, nextStep: string) => ({
    name,
    action: 'aws:executeAwsApi',
    ...API_RETRIES,
    ...abandonOn,
    nextStep,
    inputs: { Service: 'autoscaling', Api: 'RecordLifecycleActionHeartbeat', ...lifecycleAction },
  });
  const complete = (name: string, result: 'CONTINUE' | 'ABANDON') => ({
    name,
    action: 'aws:executeAwsApi',
    ...API_RETRIES,
    inputs: {
      Service: 'autoscaling',
      Api: 'CompleteLifecycleAction',
      ...lifecycleAction,
      LifecycleActionResult: result,
    },
  });

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
  // The installer document's parameters of the same names (the document's description says so).
  for (const name of OPTION_PARAMETERS) {
    parameters[name] = {
      type: 'String',
      default: INSTALLER_DEFAULTS[name],
      // The installer document's own constraints: a bad value fails the Automation's start.
      ...ssmConstraint(name),
    };
  }

  return {
    schemaVersion: '0.3',
    description: 'Installs the shared AEM crypto keys on a launching Auto Scaling instance, then completes its lifecycle action: CONTINUE on success, ABANDON on any failure, cancel or timeout. Parameters without a description are the installer document\'s.',
    assumeRole: props.assumeRoleArn,
    parameters,
    mainSteps: [
      heartbeat(s.heartbeat, s.waitForSsm),
      {
        name: s.waitForSsm,
        action: 'aws:waitForAwsResourceProperty',
        // The attempts share ssmOnlineTimeout: a throttled poll is retried, an agent that never
        // comes online still fails after ssmOnlineTimeout in all.
        maxAttempts: API_STEP_MAX_ATTEMPTS,
        timeoutSeconds: props.ssmOnlineAttemptSeconds,
        ...abandonOn,
        nextStep: s.refreshHeartbeat,
        inputs: {
          Service: 'ssm',
          Api: 'DescribeInstanceInformation',
          InstanceInformationFilterList: [{ key: 'InstanceIds', valueSet: ['{{ InstanceId }}'] }],
          PropertySelector: '$.InstanceInformationList[0].PingStatus',
          DesiredValues: ['Online'],
        },
      },
      heartbeat(s.refreshHeartbeat, s.branch),
      {
        name: s.branch,
        action: 'aws:branch',
        ...abandonOn,
        inputs: {
          Choices: [{ NextStep: s.installWarm, Variable: '{{ Destination }}', StringEquals: 'WarmPool' }],
          Default: s.install,
        },
      },
      runInstaller(s.install, {}),
      // Entering a warm pool: keys in place, but AEM is neither started nor restarted there.
      runInstaller(s.installWarm, { StartAfterInstall: 'false', Restart: 'none' }),
      { ...complete(s.proceed, 'CONTINUE'), ...abandonOn, isEnd: true },
      { ...complete(s.abandon, 'ABANDON'), onFailure: 'Abort', onCancel: 'Abort', isEnd: true },
    ],
  };
}

function roleOf(asg: autoscaling.AutoScalingGroup): iam.IRole {
  try {
    return asg.role;
  } catch {
    throw new Error(`addAutoScalingGroup: the launch template of ${asg.node.path} exposes no role, so its instances cannot be made SSM-managed `
      + 'nor granted the secret here. Give the launch template a role, or pass manageSsm: false and grant both yourself.');
  }
}

function checkImportedGroup(asg: autoscaling.IAutoScalingGroup, options: AutoScalingGroupOptions, gated: string[]): void {
  const name = asg.autoScalingGroupName;
  if (gated.includes(name)) {
    throw new Error(`addAutoScalingGroup: the imported group ${name} is already gated; a group can be gated by one key set only`);
  }
  if (options.manageSsm === true && !options.instanceRole) {
    throw new Error(`addAutoScalingGroup: manageSsm for the imported group ${name} needs instanceRole (its role cannot be seen from here)`);
  }
}

function checkTimeouts(options: AutoScalingGroupOptions, maxEventAge: number | undefined): { heartbeat: number; command: number; ssm: number } {
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

function checkHookName(name: string): void {
  if (Token.isUnresolved(name) || !/^[A-Za-z0-9_/-]{1,255}$/.test(name)) {
    throw new Error(`addAutoScalingGroup: hookName must be a literal of 1-255 characters [A-Za-z0-9_/-], got ${JSON.stringify(name)}`);
  }
}

/**
 * `aem-keys-<stack name>-<12 hex of the group's path>`: stable, group-independent, and unique per
 * account and region (stack names are): a stack name longer than 32 characters becomes its first
 * 23 and 8 hex digits of a hash of the whole name, so two stacks sharing 32 characters differ.
 */
function defaultHookName(asg: autoscaling.IAutoScalingGroup): string {
  const fullName = Stack.of(asg).stackName.replace(/[^A-Za-z0-9-]/g, '-');
  const stackName = fullName.length <= 32 ? fullName : `${fullName.slice(0, 23)}-${sha256(fullName).slice(0, 8)}`;
  return `aem-keys-${stackName}-${sha256(asg.node.path).slice(0, 12)}`;
}

function sha256(text: string): string {
  return crypto.createHash('sha256').update(text).digest('hex');
}

function hookHash(hookName: string): string {
  return crypto.createHash('sha256').update(hookName).digest('hex').slice(0, 12).toUpperCase();
}
