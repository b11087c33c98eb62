import * as crypto from 'crypto';
import { ArnFormat, Lazy, Stack, Token } from 'aws-cdk-lib';
import * as events from 'aws-cdk-lib/aws-events';
import * as logs from 'aws-cdk-lib/aws-logs';
import { Construct } from 'constructs';
import type { TagAssociation } from '../tag-association';
import { DeadLetterQueue } from './dead-letter-queue';
import { METRICS } from './launch-results';

/** Instance association statuses that count as a failed run. */
export const FAILED_ASSOCIATION_STATUSES = ['Failed', 'TimedOut'];

/**
 * Metric filter pattern over the State Manager events the rule writes to the log group: one
 * count per instance whose run of one of the key set's associations failed.
 */
export const ASSOCIATION_FAILURE_PATTERN = '{ ($.source = "aws.ssm") && '
  + `(${FAILED_ASSOCIATION_STATUSES.map((s) => `$.detail.status = "${s}"`).join(' || ')}) }`;

/**
 * Text filter pattern over the closing line the installer sends after each association run
 * (`association run: WORD (exit N)`, document parameter `LogGroupName`): runs that changed
 * something on an instance (drift repaired, or keys installed on a newly tagged instance). No name
 * from the tree can hold the phrase: names reach the output escaped, with no ':' (issue 21).
 */
export const ASSOCIATION_CHANGED_PATTERN = '"association run: changed"';

/** Properties of `AssociationResults`. */
export interface AssociationResultsProps {
  /** The key set's log group, where the failure events are kept. */
  readonly logGroup: logs.ILogGroup;
  /** The key set's metrics namespace. */
  readonly namespace: string;
  /** Dead-letter queue of the rule's target. */
  readonly deadLetterQueue: DeadLetterQueue;
}

/**
 * Failed runs of the key set's tag associations, counted without a Lambda: an EventBridge rule on
 * State Manager's per-instance association events (statuses Failed and TimedOut, the key set's
 * associations only) writes each event to the key set's log group, and a metric filter counts
 * them (`AssociationRunsFailed`). The event names the instance, the association and the error:
 * the log group is also where an operator reads which instance failed. A second metric filter
 * counts the runs that changed something (`AssociationRunsChanged`), from the closing line of the
 * output the installer sends to the log group itself.
 */
export class AssociationResults extends Construct {
  /** The rule. */
  public readonly rule: events.Rule;
  private readonly associationIds: string[] = [];

  constructor(scope: Construct, id: string, props: AssociationResultsProps) {
    super(scope, id);
    const stack = Stack.of(this);
    this.rule = new events.Rule(this, 'Rule', {
      ruleName: props.deadLetterQueue.ruleName(this, 'Rule'),
      description: 'Failed runs of the AEM crypto keys tag associations, into the key set\'s log group',
      eventPattern: {
        source: ['aws.ssm'],
        detailType: ['EC2 State Manager Instance Association State Change'],
        detail: {
          'association-id': Lazy.list({ produce: () => [...this.associationIds] }),
          'status': FAILED_ASSOCIATION_STATUSES,
        },
      },
    });
    const logGroupArn = stack.formatArn({ service: 'logs', resource: 'log-group', resourceName: props.logGroup.logGroupName, arnFormat: ArnFormat.COLON_RESOURCE_NAME });
    this.rule.addTarget({
      bind: () => ({ arn: logGroupArn, ...props.deadLetterQueue.targetSettings }),
    });
    EventLogsPolicy.of(stack).allow(props.logGroup, this.rule);
    new logs.MetricFilter(this, 'Failures', {
      logGroup: props.logGroup,
      filterPattern: logs.FilterPattern.literal(ASSOCIATION_FAILURE_PATTERN),
      metricNamespace: props.namespace,
      metricName: METRICS.associationFailures,
      metricValue: '1',
    });
    new logs.MetricFilter(this, 'Changes', {
      logGroup: props.logGroup,
      filterPattern: logs.FilterPattern.literal(ASSOCIATION_CHANGED_PATTERN),
      metricNamespace: props.namespace,
      metricName: METRICS.associationChanges,
      metricValue: '1',
    });
  }

  /** Counts the failed runs of one more association. */
  public addAssociation(association: TagAssociation): void {
    this.associationIds.push(association.associationId);
  }
}

/** CloudWatch Logs' limit on one resource policy document, in characters. */
const MAX_LOGS_POLICY_CHARS = 5_120;

/**
 * The one CloudWatch Logs resource policy of a stack through which EventBridge writes the key
 * sets' failure events into their log groups. CloudWatch Logs allows 10 resource policies per
 * account and region, so the stack's key sets share one instead of spending one each. Its
 * statements follow AWS's documented policy for EventBridge log targets (EventBridge user guide,
 * "Using resource-based policies", CloudWatch Logs permissions): `CreateLogStream` on the log
 * group without a condition, `PutLogEvents` only for the rule (`aws:SourceArn`). A plain resource,
 * not aws-events-targets' custom resource Lambda.
 */
export class EventLogsPolicy extends Construct {
  /** The stack's policy, created on first use. */
  public static of(stack: Stack): EventLogsPolicy {
    const id = 'AemCryptoKeysEventLogsPolicy';
    return (stack.node.tryFindChild(id) as EventLogsPolicy | undefined) ?? new EventLogsPolicy(stack, id);
  }

  private readonly targets: Array<{ logGroupArn: string; ruleArn: string }> = [];

  private constructor(scope: Stack, id: string) {
    super(scope, id);
    // Unique per account and region (stack names are), at most 255 characters.
    const policyName = `AemCryptoKeysEvents-${scope.stackName}`.slice(0, 200);
    new logs.CfnResourcePolicy(this, 'Resource', {
      policyName: Token.isUnresolved(scope.stackName) ? policyName : `${policyName}-${hash(scope.stackName)}`,
      policyDocument: Lazy.string({ produce: () => scope.toJsonString({ Version: '2012-10-17', Statement: this.statements() }) }),
    });
    this.node.addValidation({ validate: () => this.validateSize(scope) });
  }

  /** EventBridge may write the events of `rule` into `logGroup`. */
  public allow(logGroup: logs.ILogGroup, rule: events.IRule): void {
    this.targets.push({ logGroupArn: logGroup.logGroupArn, ruleArn: rule.ruleArn });
  }

  private statements(): unknown[] {
    const principal = { Service: ['events.amazonaws.com', 'delivery.logs.amazonaws.com'] };
    return [
      {
        Sid: 'EventsCreateStreams', Effect: 'Allow', Principal: principal, Action: 'logs:CreateLogStream',
        Resource: this.targets.map((t) => t.logGroupArn),
      },
      ...this.targets.map((t, i) => ({
        Sid: `EventsPutFromOwnRule${i + 1}`,
        Effect: 'Allow',
        Principal: principal,
        Action: 'logs:PutLogEvents',
        Resource: t.logGroupArn,
        Condition: { ArnEquals: { 'aws:SourceArn': t.ruleArn } },
      })),
    ];
  }

  /** The document as deployed, with each unresolved value counted at its longest plausible (a 128-character name in an ARN). */
  private validateSize(stack: Stack): string[] {
    const text = JSON.stringify(stack.resolve(this.statements()), (_k, v) => (v && typeof v === 'object' && !Array.isArray(v)
      && Object.keys(v).length === 1 && /^(Ref|Fn::)/.test(Object.keys(v)[0]) ? 'x'.repeat(128) : v));
    return text.length + 60 > MAX_LOGS_POLICY_CHARS
      ? [`the stack's CloudWatch Logs resource policy for EventBridge would be about ${text.length + 60} characters (CloudWatch Logs allows `
        + `${MAX_LOGS_POLICY_CHARS}): ${this.targets.length} key sets with tag associations in one stack; spread them over stacks`]
      : [];
  }
}

function hash(text: string): string {
  return crypto.createHash('sha256').update(text).digest('hex').slice(0, 8);
}
