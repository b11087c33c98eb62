// The roles of the package's two Automation documents (the lifecycle gate's and the launch-loop
// protection's): the role each runs as, and the role EventBridge starts it with.
import { Aws } from 'aws-cdk-lib';
import * as iam from 'aws-cdk-lib/aws-iam';
import { Construct } from 'constructs';

/** The ARN an EventBridge rule targets to start the Automation document `documentName`: its default version. */
export function automationDefinitionArn(documentName: string): string {
  return `arn:${Aws.PARTITION}:ssm:${Aws.REGION}:${Aws.ACCOUNT_ID}:automation-definition/${documentName}:$DEFAULT`;
}

/**
 * `scope`'s `AutomationRole`, the role an Automation document runs as: assumable by SSM for
 * Automation executions of this account and region only (no confused deputy).
 */
export function createAutomationRole(scope: Construct, description: string): iam.Role {
  return new iam.Role(scope, 'AutomationRole', {
    description,
    assumedBy: new iam.ServicePrincipal('ssm.amazonaws.com', {
      conditions: {
        StringEquals: { 'aws:SourceAccount': Aws.ACCOUNT_ID },
        ArnLike: { 'aws:SourceArn': `arn:${Aws.PARTITION}:ssm:${Aws.REGION}:${Aws.ACCOUNT_ID}:automation-execution/*` },
      },
    }),
  });
}

/** What an EventBridge role that starts an Automation document needs. */
export interface AutomationStarterRoleProps {
  /** The role's description. */
  readonly description: string;
  /** The Automation definition the rule starts (`automation-definition/NAME:$DEFAULT`). */
  readonly definitionArn: string;
  /** The role the Automation runs as (passed to SSM). */
  readonly automationRole: iam.IRole;
  /** The statement ids: starting the Automation, passing its role. */
  readonly sids: { readonly start: string; readonly passRole: string };
}

/**
 * `scope`'s `EventsRole`: EventBridge (of this account only) may start the Automation and pass
 * it its role, for SSM only. Shared by the lifecycle gate and the launch-loop protection.
 */
export function createAutomationStarterRole(scope: Construct, props: AutomationStarterRoleProps): iam.Role {
  const role = new iam.Role(scope, 'EventsRole', {
    description: props.description,
    assumedBy: new iam.ServicePrincipal('events.amazonaws.com', {
      conditions: { StringEquals: { 'aws:SourceAccount': Aws.ACCOUNT_ID } },
    }),
  });
  role.addToPolicy(new iam.PolicyStatement({
    sid: props.sids.start,
    actions: ['ssm:StartAutomationExecution'],
    resources: [props.definitionArn],
  }));
  role.addToPolicy(new iam.PolicyStatement({
    sid: props.sids.passRole,
    actions: ['iam:PassRole'],
    resources: [props.automationRole.roleArn],
    conditions: { StringEquals: { 'iam:PassedToService': 'ssm.amazonaws.com' } },
  }));
  return role;
}
