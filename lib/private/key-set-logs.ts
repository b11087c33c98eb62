import { ArnFormat, Aws, RemovalPolicy, Stack } from 'aws-cdk-lib';
import * as iam from 'aws-cdk-lib/aws-iam';
import * as kms from 'aws-cdk-lib/aws-kms';
import * as logs from 'aws-cdk-lib/aws-logs';
import { Construct, IConstruct } from 'constructs';
import { METRICS } from './launch-results';
import { acknowledgeNag, nagArn } from './nag-arn';

/**
 * The installer's last stdout line when it changed something on the instance (README: Installer
 * document). Only the scripts' fixed text can hold the phrase: every name from the tree reaches the
 * output escaped (`aemkeys_name`: no ':' survives), so no name the AEM user chooses can (issue 21).
 */
export const CHANGED_PATTERN = '"result: changed"';
/** The one stderr line of every failing on-instance script (`aemkeys_fail`); names in it escaped likewise. */
export const ERROR_PATTERN = '"aem-crypto-keys: error:"';

/** Default retention of a key set's log group. */
export const DEFAULT_LOG_RETENTION = logs.RetentionDays.ONE_YEAR;

/** Properties of `KeySetLogs`. */
export interface KeySetLogsProps {
  /** The key set's metrics namespace (for the metric filters). */
  readonly namespace: string;

  /**
   * How long the log events are kept.
   * @default logs.RetentionDays.ONE_YEAR
   */
  readonly retention?: logs.RetentionDays;

  /**
   * KMS key that encrypts the log group. Its key policy must let the CloudWatch Logs service of
   * this region use it.
   * @default - a new customer-managed key with automatic rotation, usable by CloudWatch Logs for this log group only
   */
  readonly encryptionKey?: kms.IKey;
}

/**
 * The key set's CloudWatch Logs group: the installer output of every gated launch (Run Command
 * `CloudWatchOutputConfig`, one stream per command, instance and stream), the output of every tag
 * association run (sent by the installer itself, document parameter `LogGroupName`, one stream
 * per instance), and the State Manager events of failed association runs. Never key
 * material: the scripts print fingerprints only.
 */
export class KeySetLogs extends Construct {
  /** The log group. */
  public readonly logGroup: logs.LogGroup;
  /** The key encrypting it. */
  public readonly encryptionKey: kms.IKey;

  constructor(scope: Construct, id: string, props: KeySetLogsProps) {
    super(scope, id);
    // Kept when it leaves the stack, with its key: the output of past runs outlives the stack.
    const removalPolicy = RemovalPolicy.RETAIN_ON_UPDATE_OR_DELETE;
    if (props.encryptionKey) {
      this.encryptionKey = props.encryptionKey;
    } else {
      const key = new kms.Key(this, 'Key', {
        description: 'Encrypts the AEM crypto keys log group (installer output, failed association runs)',
        enableKeyRotation: true,
        removalPolicy,
      });
      // CloudWatch Logs encrypts with the key only for log groups of this account and region.
      key.addToResourcePolicy(new iam.PolicyStatement({
        sid: 'CloudWatchLogsOfThisAccount',
        principals: [new iam.ServicePrincipal(`logs.${Aws.REGION}.amazonaws.com`)],
        actions: ['kms:Encrypt*', 'kms:Decrypt*', 'kms:ReEncrypt*', 'kms:GenerateDataKey*', 'kms:Describe*'],
        resources: ['*'],
        conditions: {
          ArnLike: {
            'kms:EncryptionContext:aws:logs:arn': `arn:${Aws.PARTITION}:logs:${Aws.REGION}:${Aws.ACCOUNT_ID}:log-group:*`,
          },
        },
      }));
      this.encryptionKey = key;
    }
    this.logGroup = new logs.LogGroup(this, 'LogGroup', {
      retention: props.retention ?? DEFAULT_LOG_RETENTION,
      encryptionKey: this.encryptionKey,
      removalPolicy,
    });
    // Counted from the output lines themselves: every installer run streamed here (lifecycle
    // launches, and commands sent with this log group) that repaired drift, or failed.
    for (const [id, pattern, metricName] of [
      ['ChangedRuns', CHANGED_PATTERN, METRICS.installerChanged],
      ['ErrorRuns', ERROR_PATTERN, METRICS.installerErrors],
    ] as const) {
      new logs.MetricFilter(this, id, {
        logGroup: this.logGroup,
        filterPattern: logs.FilterPattern.literal(pattern),
        metricNamespace: props.namespace,
        metricName,
        metricValue: '1',
      });
    }
  }

  /**
   * What the SSM agent needs to stream Run Command output into this log group: find it
   * (`DescribeLogGroups` has no resource-level scope beyond log-group:*), then streams and events
   * of this group only. The installer sending a tag association run's output needs only
   * `CreateLogStream` and `PutLogEvents` of these.
   */
  public grantAgentWrite(grantee: iam.IGrantable): iam.Grant {
    const stack = Stack.of(this);
    const find = iam.Grant.addToPrincipal({
      grantee,
      actions: ['logs:DescribeLogGroups'],
      resourceArns: [stack.formatArn({ service: 'logs', resource: 'log-group', resourceName: '*', arnFormat: ArnFormat.COLON_RESOURCE_NAME })],
    });
    if (Construct.isConstruct(grantee.grantPrincipal)) {
      acknowledgeNag(grantee.grantPrincipal as IConstruct, {
        id: `AwsSolutions::AwsSolutions-IAM5[Resource::${nagArn(stack, 'logs', 'log-group:*')}]`,
        reason: 'logs:DescribeLogGroups only (the SSM agent checks that the output log group exists); it lists names and has no narrower resource. Writing is limited to the key set\'s log group.',
      });
    }
    return find.combine(iam.Grant.addToPrincipal({
      grantee,
      actions: ['logs:CreateLogStream', 'logs:DescribeLogStreams', 'logs:PutLogEvents'],
      resourceArns: [this.logGroup.logGroupArn],
    }));
  }
}
