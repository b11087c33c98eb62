import { Stack, Token } from 'aws-cdk-lib';

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
