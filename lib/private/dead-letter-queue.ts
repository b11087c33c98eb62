import * as crypto from 'crypto';
import { Aws, Duration } from 'aws-cdk-lib';
import * as events from 'aws-cdk-lib/aws-events';
import * as iam from 'aws-cdk-lib/aws-iam';
import * as sqs from 'aws-cdk-lib/aws-sqs';
import { Construct } from 'constructs';
import { acknowledgeNag } from './nag-arn';

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
 * days, and only the key set's own rules may send to it: they are named `<namePrefix>-<hash>`,
 * and the queue policy allows that prefix (a fixed-size policy, whatever the number of groups;
 * listing each rule's ARN would pass SQS's 8,192-byte policy limit at about 70 groups).
 */
export class DeadLetterQueue extends Construct {
  /** The queue. */
  public readonly queue: sqs.Queue;
  /** Prefix of the names of the rules that may send here. */
  public readonly namePrefix: string;

  constructor(scope: Construct, id: string, props: { readonly namePrefix: string }) {
    super(scope, id);
    this.namePrefix = props.namePrefix;
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
      conditions: {
        ArnLike: { 'aws:SourceArn': `arn:${Aws.PARTITION}:events:${Aws.REGION}:${Aws.ACCOUNT_ID}:rule/${this.namePrefix}-*` },
        StringEquals: { 'aws:SourceAccount': Aws.ACCOUNT_ID },
      },
    }));
    acknowledgeNag(this.queue, {
      id: 'AwsSolutions-SQS3',
      reason: 'This queue is itself the dead-letter queue of the key set\'s EventBridge targets; a dead-letter queue of a dead-letter queue would only move the problem.',
    });
  }

  /** The name of a rule that may send here: `<namePrefix>-<12 hex of the rule's construct path>` (at most 64 characters). */
  public ruleName(scope: Construct, id: string): string {
    const hash = crypto.createHash('sha256').update(`${scope.node.path}/${id}`).digest('hex').slice(0, 12);
    return `${this.namePrefix}-${hash}`;
  }

  /** The target settings: this queue, bounded retries. */
  public get targetSettings(): Pick<events.RuleTargetConfig, 'deadLetterConfig' | 'retryPolicy'> {
    return {
      deadLetterConfig: { arn: this.queue.queueArn },
      retryPolicy: { maximumRetryAttempts: TARGET_RETRY_ATTEMPTS, maximumEventAgeInSeconds: TARGET_MAX_EVENT_AGE.toSeconds() },
    };
  }
}
