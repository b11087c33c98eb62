import * as crypto from 'crypto';
import { ArnFormat, Duration, Lazy, Stack } from 'aws-cdk-lib';
import * as cloudwatch from 'aws-cdk-lib/aws-cloudwatch';
import * as events from 'aws-cdk-lib/aws-events';
import * as iam from 'aws-cdk-lib/aws-iam';
import * as kms from 'aws-cdk-lib/aws-kms';
import * as sns from 'aws-cdk-lib/aws-sns';
import * as ssm from 'aws-cdk-lib/aws-ssm';
import { Construct } from 'constructs';
import type { AemCryptoKeys } from './aem-crypto-keys';
import type { GatedAutoScalingGroup } from './auto-scaling-group-options';
import { automationDefinitionArn, createAutomationRole, createAutomationStarterRole } from './private/automation-roles';
import { AutomationTarget } from './private/lifecycle-automation';
import { GATE_TAG_KEY } from './private/lifecycle-gate';
import { acknowledgeNag, nagArn } from './private/nag-arn';

/** Default number of abandoned launches (with no successful one) that stops a group's launches. */
export const DEFAULT_LOOP_ABANDONS = 3;
/** Default window in which those abandons must happen. */
export const DEFAULT_LOOP_WINDOW = Duration.hours(1);

/** Options of the opt-in launch-loop protection. */
export interface LaunchLoopProtectionOptions {
  /**
   * Abandoned launches of one group, with no launch completed with CONTINUE in the same window,
   * after which the group's `Launch` process is suspended.
   * @default 3
   */
  readonly abandonedLaunches?: number;

  /**
   * The window (the alarm's period: CloudWatch sums per aligned period, so a loop is stopped
   * within at most two windows).
   * @default Duration.hours(1)
   */
  readonly window?: Duration;
}

/** Properties of `LaunchLoopProtection`. */
export interface LaunchLoopProtectionProps extends LaunchLoopProtectionOptions {
  /** The key set whose gated groups are protected. */
  readonly keys: AemCryptoKeys;
  /** Where the "launches suspended" message goes. */
  readonly topic: sns.ITopic;
  /**
   * The topic's KMS key, when it has one (the suspending Automation publishes with it).
   * @default - the topic is not encrypted with a customer-managed key
   */
  readonly topicKey?: kms.IKey;
  /** Actions of the loop alarms (notification). */
  readonly alarmActions: cloudwatch.IAlarmAction[];
}

/** Index, in a loop alarm's `Metrics`, of the abandoned-launches query (its dimension names the group). */
export const LOOP_ALARM_GROUP_SELECTOR = '$.MetricAlarms[0].Metrics[1].MetricStat.Metric.Dimensions[0].Value';

/**
 * Stops launch loops: per gated group, an alarm "N abandoned launches and none continued within
 * the window" named `<prefix>-<hash>`; one EventBridge rule (no Lambda) on any of them entering
 * ALARM starts a small Automation that reads the group from the alarm, suspends the group's
 * `Launch` process and publishes how to resume to the topic.
 *
 * Trade-off: while suspended, the group does not replace unhealthy instances nor scale out; the
 * running instances keep serving. Resume with
 * `aws autoscaling resume-processes --auto-scaling-group-name NAME --scaling-processes Launch`.
 */
export class LaunchLoopProtection extends Construct {
  /** Name of the suspending Automation document. */
  public readonly documentName: string;
  /** The loop alarms, one per gated group, in the order the groups were gated. */
  public readonly alarms: cloudwatch.Alarm[] = [];

  /** Prefix of the loop alarms' names. */
  public readonly alarmNamePrefix: string;

  private readonly document: ssm.CfnDocument;
  private readonly role: iam.Role;
  /** Gate tag values (hook names) of the key set's own groups, which carry the tag. */
  private readonly ownHookNames: string[] = [];
  private readonly abandons: number;
  private readonly window: Duration;

  constructor(scope: Construct, id: string, private readonly props: LaunchLoopProtectionProps) {
    super(scope, id);
    this.abandons = props.abandonedLaunches ?? DEFAULT_LOOP_ABANDONS;
    this.window = props.window ?? DEFAULT_LOOP_WINDOW;
    checkOptions(this.abandons, this.window);
    this.alarmNamePrefix = `aemkeys-loop-${hash(`${Stack.of(this).stackName}/${this.node.path}`)}`;
    this.role = this.createRole();
    this.document = this.createDocument();
    this.documentName = this.document.ref;
    this.createRule();
    props.keys._onGroupGated((group) => this.protect(group));
  }

  /** ARN EventBridge targets: the suspending Automation's default version. */
  public get automationDefinitionArn(): string {
    return automationDefinitionArn(this.document.ref);
  }

  /** The Automation's role: it reads the loop alarms, publishes to the topic; `allowSuspend` adds the groups. */
  private createRole(): iam.Role {
    const stack = Stack.of(this);
    const role = createAutomationRole(this, 'Suspends the Launch process of an AEM crypto keys gated group caught in a launch loop');
    role.addToPolicy(new iam.PolicyStatement({
      sid: 'ReadOwnLoopAlarmsOnly',
      actions: ['cloudwatch:DescribeAlarms'],
      resources: [stack.formatArn({ service: 'cloudwatch', resource: 'alarm', resourceName: `${this.alarmNamePrefix}-*`, arnFormat: ArnFormat.COLON_RESOURCE_NAME })],
    }));
    this.props.topic.grantPublish(role);
    this.props.topicKey?.grant(role, 'kms:GenerateDataKey*', 'kms:Decrypt');
    acknowledgeNag(role, {
      id: `AwsSolutions::AwsSolutions-IAM5[Resource::${nagArn(stack, 'autoscaling', 'autoScalingGroup:*:autoScalingGroupName/*')}]`,
      reason: 'SuspendProcesses is limited to this key set\'s gated groups: their aem-crypto-keys:gate tag values '
        + '(autoscaling:ResourceTag condition); '
        + 'naming each group would make the groups depend on this role.',
    });
    acknowledgeNag(role, {
      id: `AwsSolutions::AwsSolutions-IAM5[Resource::${nagArn(stack, 'cloudwatch', `alarm:${this.alarmNamePrefix}-*`)}]`,
      reason: 'DescribeAlarms on this key set\'s launch-loop alarms only (their name prefix); the alarms are created per gated group.',
    });
    if (this.props.topicKey) {
      acknowledgeNag(role, {
        id: 'AwsSolutions::AwsSolutions-IAM5[Action::kms:GenerateDataKey*]',
        reason: 'kms:GenerateDataKey* on the notification topic\'s key only: SNS needs a data key to store the encrypted message.',
      });
    }
    return role;
  }

  /** The Automation: the alarm names the group; suspend its Launch process; say how to resume. */
  private createDocument(): ssm.CfnDocument {
    return new ssm.CfnDocument(this, 'Automation', {
      documentType: 'Automation',
      content: {
        schemaVersion: '0.3',
        description: 'Suspends the Launch process of an AEM crypto keys gated Auto Scaling group whose launches keep being abandoned, and says how to resume.',
        assumeRole: this.role.roleArn,
        parameters: {
          AlarmName: { type: 'String', description: 'The loop alarm that fired.', allowedPattern: `^${this.alarmNamePrefix}-[0-9a-f]{12}$` },
        },
        mainSteps: [
          {
            name: 'findGroup',
            action: 'aws:executeAwsApi',
            timeoutSeconds: 60,
            nextStep: 'suspendLaunch',
            inputs: { Service: 'cloudwatch', Api: 'DescribeAlarms', AlarmNames: ['{{ AlarmName }}'] },
            outputs: [{ Name: 'AutoScalingGroupName', Selector: LOOP_ALARM_GROUP_SELECTOR, Type: 'String' }],
          },
          {
            name: 'suspendLaunch',
            action: 'aws:executeAwsApi',
            timeoutSeconds: 60,
            nextStep: 'notify',
            inputs: { Service: 'autoscaling', Api: 'SuspendProcesses', AutoScalingGroupName: '{{ findGroup.AutoScalingGroupName }}', ScalingProcesses: ['Launch'] },
          },
          {
            name: 'notify',
            action: 'aws:executeAwsApi',
            timeoutSeconds: 60,
            isEnd: true,
            inputs: {
              Service: 'sns',
              Api: 'Publish',
              TopicArn: this.props.topic.topicArn,
              Subject: 'AEM crypto keys: launches suspended',
              Message: 'The Launch process of Auto Scaling group {{ findGroup.AutoScalingGroupName }} was suspended by AEM crypto keys launch-loop protection '
                + '(alarm {{ AlarmName }}: its launches kept being abandoned). Running instances are untouched; the group neither scales out nor replaces instances until resumed. '
                + 'Find the cause in the key set\'s log group and the lifecycle Automation executions, fix it, then resume: '
                + 'aws autoscaling resume-processes --auto-scaling-group-name {{ findGroup.AutoScalingGroupName }} --scaling-processes Launch',
            },
          },
        ],
      },
    });
  }

  /** One rule for every loop alarm of this key set (by name prefix): nothing per group but the alarm. */
  private createRule(): void {
    const eventsRole = createAutomationStarterRole(this, {
      description: 'Lets EventBridge start the AEM crypto keys launch-loop protection',
      definitionArn: this.automationDefinitionArn,
      automationRole: this.role,
      sids: { start: 'StartSuspendAutomation', passRole: 'PassSuspendRole' },
    });
    const ruleId = 'Suspend';
    const rule = new events.Rule(this, ruleId, {
      ruleName: this.props.keys._deadLetterRuleName(this, ruleId),
      description: 'Suspends launches of an AEM crypto keys gated group when its launch-loop alarm fires',
      eventPattern: {
        source: ['aws.cloudwatch'],
        detailType: ['CloudWatch Alarm State Change'],
        detail: { alarmName: [{ prefix: `${this.alarmNamePrefix}-` }], state: { value: ['ALARM'] } },
      },
    });
    const input = events.RuleTargetInput.fromObject({ AlarmName: [events.EventField.fromPath('$.detail.alarmName')] });
    rule.addTarget(new AutomationTarget(this.automationDefinitionArn, eventsRole, input, this.props.keys._deadLetterTargetSettings()));
  }

  /**
   * The Automation may suspend this key set's gated groups only: its own groups by their gate tag
   * value (not "tag present": another key set's groups carry the tag too), an imported group (no
   * gate tag of ours) by its ARN.
   */
  private allowSuspend(group: GatedAutoScalingGroup): void {
    const stack = Stack.of(this);
    if (group.lifecycleHook) {
      const groupName = group.autoScalingGroup.autoScalingGroupName;
      this.role.addToPolicy(new iam.PolicyStatement({
        actions: ['autoscaling:SuspendProcesses'],
        resources: [group.autoScalingGroup.autoScalingGroupArn],
      }));
      acknowledgeNag(this.role, {
        id: `AwsSolutions::AwsSolutions-IAM5[Resource::${nagArn(stack, 'autoscaling', `autoScalingGroup:*:autoScalingGroupName/${groupName}`)}]`,
        reason: 'SuspendProcesses on the imported group named here only; the wildcard stands for the group ID, unknown to an imported group.',
      });
      return;
    }
    if (this.ownHookNames.push(group.hookName) === 1) {
      this.role.addToPolicy(new iam.PolicyStatement({
        sid: 'SuspendOwnGatedGroupsOnly',
        actions: ['autoscaling:SuspendProcesses'],
        resources: [stack.formatArn({
          service: 'autoscaling', resource: 'autoScalingGroup', resourceName: '*:autoScalingGroupName/*', arnFormat: ArnFormat.COLON_RESOURCE_NAME,
        })],
        conditions: { StringEquals: { [`autoscaling:ResourceTag/${GATE_TAG_KEY}`]: Lazy.list({ produce: () => [...this.ownHookNames] }) } },
      }));
    }
  }

  private protect(group: GatedAutoScalingGroup): void {
    this.allowSuspend(group);
    const id = group.rule.node.id; // Group<hash of the hook name>: stable and unique per key set
    const options = { autoScalingGroup: group.autoScalingGroup, period: this.window };
    const alarm = new cloudwatch.Alarm(this, `${id}Loop`, {
      alarmName: `${this.alarmNamePrefix}-${hash(group.autoScalingGroup.node.path)}`,
      alarmDescription: `Launch loop: ${this.abandons} or more launches of ${group.autoScalingGroup.node.path} abandoned within ${this.window.toHumanString()} and none completed; `
        + 'its Launch process is being suspended (README: Operating it).',
      metric: new cloudwatch.MathExpression({
        expression: `IF(FILL(abandoned, 0) >= ${this.abandons} AND FILL(continued, 0) == 0, 1, 0)`,
        usingMetrics: {
          abandoned: this.props.keys.metricAbandonedLaunches(options),
          continued: this.props.keys.metricContinuedLaunches(options),
        },
        period: this.window,
        label: 'launch loop (1 = yes)',
      }),
      threshold: 1,
      comparisonOperator: cloudwatch.ComparisonOperator.GREATER_THAN_OR_EQUAL_TO_THRESHOLD,
      evaluationPeriods: 1,
      treatMissingData: cloudwatch.TreatMissingData.NOT_BREACHING,
    });
    alarm.addAlarmAction(...this.props.alarmActions);
    this.alarms.push(alarm);
  }
}

function checkOptions(abandons: number, window: Duration): void {
  if (!Number.isInteger(abandons) || abandons < 1) {
    throw new Error(`launchLoopProtection: abandonedLaunches must be a whole number of at least 1, got ${abandons}`);
  }
  const windowSeconds = window.toSeconds();
  if (windowSeconds < 300 || windowSeconds > 86400 || windowSeconds % 60 !== 0) {
    throw new Error(`launchLoopProtection: window must be whole minutes from 5 minutes to 1 day, got ${windowSeconds} seconds`);
  }
}

function hash(text: string): string {
  return crypto.createHash('sha256').update(text).digest('hex').slice(0, 12);
}
