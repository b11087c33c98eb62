import { Aspects, Aws, Duration } from 'aws-cdk-lib';
import * as cloudwatch from 'aws-cdk-lib/aws-cloudwatch';
import * as actions from 'aws-cdk-lib/aws-cloudwatch-actions';
import * as iam from 'aws-cdk-lib/aws-iam';
import * as kms from 'aws-cdk-lib/aws-kms';
import * as sns from 'aws-cdk-lib/aws-sns';
import { Construct } from 'constructs';
import type { AemCryptoKeys } from './aem-crypto-keys';
import { LaunchLoopProtection, LaunchLoopProtectionOptions } from './launch-loop-protection';
import { accountUsage } from './private/account-usage';

/** Properties of `AemCryptoKeysMonitoring`. */
export interface AemCryptoKeysMonitoringProps {
  /** The key set to watch. */
  readonly keys: AemCryptoKeys;

  /**
   * Where alarms (and the launch-loop protection's message) go.
   * @default - a new topic encrypted with a new customer-managed KMS key
   */
  readonly topic?: sns.ITopic;

  /**
   * Abandoned launches (of all the key set's gated groups) within `abandonedLaunchesPeriod` that
   * raise the alarm. A gated launch is abandoned only when something is broken, so one is enough
   * by default. Which group, and why: the metric's `AutoScalingGroupName` and `Reason` series.
   * @default 1
   */
  readonly abandonedLaunchesThreshold?: number;

  /**
   * Period of the abandoned-launches alarms.
   * @default Duration.minutes(5)
   */
  readonly abandonedLaunchesPeriod?: Duration;

  /**
   * Failed tag association runs (instances) within `failedAssociationRunsPeriod` that raise the
   * association alarm (created when the key set has tag associations).
   * @default 1
   */
  readonly failedAssociationRunsThreshold?: number;

  /**
   * Period of the association alarm (association runs come every 30 minutes by default).
   * @default Duration.hours(1)
   */
  readonly failedAssociationRunsPeriod?: Duration;

  /**
   * Messages in the dead-letter queue (lifecycle events whose Automation could not be started)
   * that raise the dead-letter alarm.
   * @default 1
   */
  readonly deadLetterThreshold?: number;

  /**
   * Alarm on the account's SSM Automation queue and concurrency (AWS/Usage `QueuedAutomationUsage`
   * and `ConcurrentAutomationUsage`, account-wide for the Region). A lifecycle Automation that
   * waits in the queue holds its launch in `Pending:Wait`; one that waits longer than the hook's
   * heartbeat is abandoned. Turn off in all but one key set of an account and Region, whose
   * alarms would otherwise say the same thing.
   * @default true
   */
  readonly automationQuotaAlarms?: boolean;

  /**
   * `QueuedAutomationUsage` that, as the smallest value over `automationQueuePeriod`, raises the
   * queue alarm: by default, Automations were queued for the whole period.
   * @default 1
   */
  readonly automationQueueThreshold?: number;

  /**
   * Period of the queue alarm.
   * @default Duration.minutes(5)
   */
  readonly automationQueuePeriod?: Duration;

  /**
   * `ConcurrentAutomationUsage` (largest value over 5 minutes) that raises the concurrency alarm:
   * by default 80 % of the default quota of 100 concurrent Automations. Raise it with adaptive
   * concurrency (up to 500).
   * @default 80
   */
  readonly concurrentAutomationsThreshold?: number;

  /**
   * Suspend a gated group's `Launch` process when its launches keep being abandoned (opt-in;
   * README "Operating it" explains the trade-offs and how to resume).
   * @default - launches are never suspended; the alarms only notify
   */
  readonly launchLoopProtection?: LaunchLoopProtectionOptions;
}

/**
 * Alarms for an `AemCryptoKeys` key set, in the style of cdk-monitoring-constructs: abandoned
 * launches, failed tag association runs, and the dead-letter queue, all notifying one SNS topic;
 * optionally launch-loop protection (one more alarm per gated group). Fixed size otherwise: the
 * alarms watch key-set totals, the per-group and per-reason series are there for dashboards.
 *
 * It may be created before or after the key set's groups and tag associations: the dead-letter and
 * failed-association alarms are added at synth when they were not there yet, and groups gated
 * later are covered.
 *
 * @example
 * // keys: an AemCryptoKeys
 * import { AemCryptoKeysMonitoring } from 'cdk-aem-crypto-keys';
 *
 * new AemCryptoKeysMonitoring(this, 'CryptoKeysMonitoring', {
 *   keys,
 *   launchLoopProtection: { abandonedLaunches: 3, window: Duration.hours(1) },
 * });
 */
export class AemCryptoKeysMonitoring extends Construct {
  /** The notification topic. */
  public readonly topic: sns.ITopic;
  /** Abandoned launches of the key set. */
  public readonly abandonedLaunchesAlarm: cloudwatch.Alarm;
  /** The launch-loop protection, when enabled. */
  public readonly launchLoopProtection?: LaunchLoopProtection;
  /** The account's Automation queue alarm (unless `automationQuotaAlarms` is false). */
  public readonly automationQueueAlarm?: cloudwatch.Alarm;
  /** The account's Automation concurrency alarm (unless `automationQuotaAlarms` is false). */
  public readonly concurrentAutomationsAlarm?: cloudwatch.Alarm;

  private readonly action: cloudwatch.IAlarmAction;
  private deadLetters?: cloudwatch.Alarm;
  private failedRuns?: cloudwatch.Alarm;

  constructor(scope: Construct, id: string, props: AemCryptoKeysMonitoringProps) {
    super(scope, id);
    const threshold = (name: string, value: number | undefined, fallback: number) => {
      const v = value ?? fallback;
      if (!Number.isFinite(v) || v <= 0) throw new Error(`AemCryptoKeysMonitoring: ${name} must be a positive number, got ${v}`);
      return v;
    };
    const abandonedThreshold = threshold('abandonedLaunchesThreshold', props.abandonedLaunchesThreshold, 1);
    const associationThreshold = threshold('failedAssociationRunsThreshold', props.failedAssociationRunsThreshold, 1);
    const deadLetterThreshold = threshold('deadLetterThreshold', props.deadLetterThreshold, 1);

    let topicKey: kms.IKey | undefined;
    if (props.topic) {
      this.topic = props.topic;
    } else {
      const key = new kms.Key(this, 'TopicKey', {
        description: 'Encrypts the AEM crypto keys alarm topic',
        enableKeyRotation: true,
      });
      // CloudWatch alarms publish to an encrypted topic only when they may use its key.
      key.grant(new iam.ServicePrincipal('cloudwatch.amazonaws.com'), 'kms:Decrypt', 'kms:GenerateDataKey*');
      const topic = new sns.Topic(this, 'Topic', { displayName: 'AEM crypto keys alarms', masterKey: key, enforceSSL: true });
      allowAlarmsToPublish(topic);
      topicKey = key;
      this.topic = topic;
    }
    this.action = new actions.SnsAction(this.topic);
    const keys = props.keys;

    this.abandonedLaunchesAlarm = this.alarm('AbandonedLaunches', {
      alarmDescription: 'Gated launches were abandoned: instances did not get their AEM crypto keys. LaunchesAbandoned by '
        + 'AutoScalingGroupName and by Reason says where and why; the installer output is in the key set\'s log group.',
      metric: keys.metricAbandonedLaunches({ period: props.abandonedLaunchesPeriod ?? Duration.minutes(5) }),
      threshold: abandonedThreshold,
    });
    const late = () => this.addKeySetAlarms(keys, deadLetterThreshold, associationThreshold, props.failedAssociationRunsPeriod);
    late();
    // Groups and tag associations added after this construct: their alarms are added at synth.
    Aspects.of(this).add({ visit: (node) => { if (node === this) late(); } });
    if (props.automationQuotaAlarms ?? true) {
      this.automationQueueAlarm = this.alarm('AutomationQueue', {
        alarmDescription: 'SSM Automations of this account and Region have been queued (status Pending) for the whole period: '
          + 'gated launches wait in Pending:Wait, and those queued longer than their heartbeat are abandoned '
          + '(counted as LaunchesAbandoned, Reason HeartbeatExpired). README "At fleet scale": adaptive concurrency.',
        metric: accountUsage('QueuedAutomationUsage', 'MIN', props.automationQueuePeriod ?? Duration.minutes(5)),
        threshold: threshold('automationQueueThreshold', props.automationQueueThreshold, 1),
      });
      this.concurrentAutomationsAlarm = this.alarm('ConcurrentAutomations', {
        alarmDescription: 'SSM Automations running at once in this account and Region are near the quota (100 by default, up to 500 '
          + 'with adaptive concurrency); further lifecycle Automations will queue. README "At fleet scale".',
        metric: accountUsage('ConcurrentAutomationUsage', 'MAX', Duration.minutes(5)),
        threshold: threshold('concurrentAutomationsThreshold', props.concurrentAutomationsThreshold, 80),
      });
    }
    if (props.launchLoopProtection) {
      this.launchLoopProtection = new LaunchLoopProtection(this, 'LaunchLoopProtection', {
        ...props.launchLoopProtection,
        keys,
        topic: this.topic,
        topicKey,
        alarmActions: [this.action],
      });
    }
  }

  /** Failed association runs alarm (when the key set has tag associations, also those added after this construct). */
  public get failedAssociationRunsAlarm(): cloudwatch.Alarm | undefined {
    return this.failedRuns;
  }

  /** Dead-letter queue alarm (when the key set has rules, also those added after this construct). */
  public get deadLetterAlarm(): cloudwatch.Alarm | undefined {
    return this.deadLetters;
  }

  /** The alarms that need the key set's dead-letter queue and association results, once they exist. */
  private addKeySetAlarms(keys: AemCryptoKeys, deadLetterThreshold: number, associationThreshold: number, period?: Duration): void {
    // The queue exists once the key set has a gated group or a tag association.
    const queue = keys.deadLetterQueue;
    if (queue && !this.deadLetters) {
      this.deadLetters = this.alarm('DeadLetters', {
        alarmDescription: 'Lifecycle or State Manager events that EventBridge could not deliver (the Automation did not start): '
          + 'launches wait out their heartbeat and are abandoned. Read the messages in the dead-letter queue.',
        metric: queue.metricApproximateNumberOfMessagesVisible({ period: Duration.minutes(5), statistic: cloudwatch.Stats.MAXIMUM }),
        threshold: deadLetterThreshold,
      });
    }
    if (keys.node.tryFindChild('AssociationResults') && !this.failedRuns) {
      this.failedRuns = this.alarm('FailedAssociationRuns', {
        alarmDescription: 'Runs of the key set\'s tag associations failed on instances (their keys may be missing or stale). '
          + 'The failure events, with instance and association, are in the key set\'s log group.',
        metric: keys.metricFailedAssociationRuns({ period: period ?? Duration.hours(1) }),
        threshold: associationThreshold,
      });
    }
  }

  private alarm(id: string, props: Pick<cloudwatch.AlarmProps, 'alarmDescription' | 'metric' | 'threshold'>): cloudwatch.Alarm {
    const alarm = new cloudwatch.Alarm(this, id, {
      ...props,
      comparisonOperator: cloudwatch.ComparisonOperator.GREATER_THAN_OR_EQUAL_TO_THRESHOLD,
      evaluationPeriods: 1,
      treatMissingData: cloudwatch.TreatMissingData.NOT_BREACHING,
    });
    alarm.addAlarmAction(this.action);
    alarm.addOkAction(this.action);
    return alarm;
  }
}

/**
 * A topic policy replaces SNS's default one, so CloudWatch alarms may publish only when the
 * policy says so (AWS knowledge center "cloudwatch-receive-sns-for-alarm-trigger"); scoped to the
 * alarms of this account and region (confused deputy: aws:SourceArn and aws:SourceAccount). The
 * launch-loop Automation publishes as its own role (identity policy, same account): no statement.
 */
function allowAlarmsToPublish(topic: sns.Topic): void {
  topic.addToResourcePolicy(new iam.PolicyStatement({
    sid: 'CloudWatchAlarmsOfThisAccount',
    principals: [new iam.ServicePrincipal('cloudwatch.amazonaws.com')],
    actions: ['sns:Publish'],
    resources: [topic.topicArn],
    conditions: {
      StringEquals: { 'aws:SourceAccount': Aws.ACCOUNT_ID },
      ArnLike: { 'aws:SourceArn': `arn:${Aws.PARTITION}:cloudwatch:${Aws.REGION}:${Aws.ACCOUNT_ID}:alarm:*` },
    },
  }));
}
