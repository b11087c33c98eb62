import { Duration, Lazy, Validations } from 'aws-cdk-lib';
import * as events from 'aws-cdk-lib/aws-events';
import * as iam from 'aws-cdk-lib/aws-iam';
import * as sqs from 'aws-cdk-lib/aws-sqs';
import { Construct } from 'constructs';

/** How long an undeliverable lifecycle event stays in the dead-letter queue. */
export const DEAD_LETTER_RETENTION = Duration.days(14);
/** How often EventBridge retries starting the Automation. */
export const TARGET_RETRY_ATTEMPTS = 8;
/**
 * How long EventBridge keeps retrying. Past this, a start would come too late to matter: the
 * heartbeat (45 minutes by default) runs out during the Automation and the launch is abandoned.
 */
export const TARGET_MAX_EVENT_AGE = Duration.minutes(10);

/**
 * The dead-letter queue of the key set's EventBridge targets: a lifecycle event whose Automation
 * cannot be started (throttled, role or document broken) lands here instead of vanishing.
 * Encrypted (SQS-managed keys, which EventBridge can use without a key policy), TLS only, kept 14
 * days, and only the key set's own rules may send to it.
 */
export class DeadLetterQueue extends Construct {
  /** The queue. */
  public readonly queue: sqs.Queue;
  private readonly ruleArns: string[] = [];

  constructor(scope: Construct, id: string) {
    super(scope, id);
    this.queue = new sqs.Queue(this, 'Queue', {
      encryption: sqs.QueueEncryption.SQS_MANAGED,
      enforceSSL: true,
      retentionPeriod: DEAD_LETTER_RETENTION,
    });
    this.queue.addToResourcePolicy(new iam.PolicyStatement({
      sid: 'OwnRulesOnly',
      principals: [new iam.ServicePrincipal('events.amazonaws.com')],
      actions: ['sqs:SendMessage'],
      resources: [this.queue.queueArn],
      conditions: { ArnEquals: { 'aws:SourceArn': Lazy.list({ produce: () => [...this.ruleArns] }) } },
    }));
    Validations.of(this.queue).acknowledge({
      id: 'AwsSolutions-SQS3',
      reason: 'This queue is itself the dead-letter queue of the key set\'s EventBridge targets; a dead-letter queue of a dead-letter queue would only move the problem.',
    });
  }

  /** Lets `rule` send its undeliverable events here (queue policy, `aws:SourceArn`). */
  public allow(rule: events.IRule): void {
    this.ruleArns.push(rule.ruleArn);
  }

  /** The target settings: this queue, bounded retries. */
  public get targetSettings(): Pick<events.RuleTargetConfig, 'deadLetterConfig' | 'retryPolicy'> {
    return {
      deadLetterConfig: { arn: this.queue.queueArn },
      retryPolicy: { maximumRetryAttempts: TARGET_RETRY_ATTEMPTS, maximumEventAgeInSeconds: TARGET_MAX_EVENT_AGE.toSeconds() },
    };
  }
}
