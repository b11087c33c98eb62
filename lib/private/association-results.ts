import { ArnFormat, Lazy, Stack } from 'aws-cdk-lib';
import * as events from 'aws-cdk-lib/aws-events';
import * as logs from 'aws-cdk-lib/aws-logs';
import { Construct } from 'constructs';
import type { TagAssociation } from '../tag-association';
import { DeadLetterQueue } from './dead-letter-queue';
import { EventLogsPolicy } from './event-logs-policy';
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
    const logGroupArn = stack.formatArn({
      service: 'logs', resource: 'log-group', resourceName: props.logGroup.logGroupName, arnFormat: ArnFormat.COLON_RESOURCE_NAME,
    });
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
