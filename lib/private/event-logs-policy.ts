import * as crypto from 'crypto';
import { Lazy, Stack, Token } from 'aws-cdk-lib';
import * as events from 'aws-cdk-lib/aws-events';
import * as logs from 'aws-cdk-lib/aws-logs';
import { Construct } from 'constructs';

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
