import { Aws } from 'aws-cdk-lib';
import * as iam from 'aws-cdk-lib/aws-iam';
import { Construct } from 'constructs';

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
