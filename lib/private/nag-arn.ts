import { Stack, Token, Validations } from 'aws-cdk-lib';
import { IConstruct } from 'constructs';

/**
 * An ARN as cdk-nag names it in an acknowledgement: the partition as `<AWS::Partition>` (or
 * literal, for a stack with a region under the `@aws-cdk/core:enablePartitionLiterals` flag of
 * new `cdk init` apps), the region and account literal for a stack with an env,
 * `<AWS::Region>`/`<AWS::AccountId>` otherwise.
 */
export function nagArn(stack: Stack, service: string, resource: string): string {
  const region = Token.isUnresolved(stack.region) ? '<AWS::Region>' : stack.region;
  const account = Token.isUnresolved(stack.account) ? '<AWS::AccountId>' : stack.account;
  const partition = Token.isUnresolved(stack.partition) ? '<AWS::Partition>' : stack.partition;
  return `arn:${partition}:${service}:${region}:${account}:${resource}`;
}

/** A cdk-nag rule this library acknowledges, with the reason a reviewer reads. */
export interface NagAcknowledgement {
  /** The rule as cdk-nag reports it, optionally after its pack's `AwsSolutions::` namespace. */
  readonly id: string;
  readonly reason: string;
}

/**
 * What `Validations.of(scope).acknowledge()` records, written the same way on every supported
 * aws-cdk-lib: the construct metadata `aws:cdk:acknowledged-rules` ({ rule id: reason }), which
 * cdk-nag 3 reads on the resource and its ancestors. `acknowledge()` itself cannot be used for
 * rule ids that hold `::` inside brackets (`AwsSolutions-IAM5[Resource::arn:<AWS::Partition>:...]`):
 * aws-cdk-lib 2.257 splits the id on every `::` and throws `Invalid validation rule ID` (later
 * versions parse brackets). The id is recorded without the namespace, so cdk-nag matches it itself.
 */
export function acknowledgeNag(scope: IConstruct, ack: NagAcknowledgement): void {
  const id = ack.id.replace(/^AwsSolutions::/, '');
  scope.node.addMetadata(Validations.ACKNOWLEDGED_RULES_METADATA_KEY, { [id]: ack.reason });
}
