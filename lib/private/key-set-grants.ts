import { Stack } from 'aws-cdk-lib';
import * as iam from 'aws-cdk-lib/aws-iam';
import * as kms from 'aws-cdk-lib/aws-kms';
import * as secretsmanager from 'aws-cdk-lib/aws-secretsmanager';
import { Construct } from 'constructs';
import { aliasOfKeyReference } from '../replica-key';
import { acknowledgeNag, nagArn } from './nag-arn';

/** What a key set's grants cover. */
export interface KeySetGrantsProps {
  /** The key set's secret. */
  readonly secret: secretsmanager.ISecret;
  /**
   * The KMS key encrypting the secret.
   * @default - none: no KMS grant (aws/secretsmanager)
   */
  readonly encryptionKey?: kms.IKey;
  /**
   * Regions the secret is replicated to: writing a version needs their keys too.
   * @default - not replicated
   */
  readonly replicaRegions?: secretsmanager.ReplicaRegion[];
}

/** One IAM statement, as a custom resource provider's role policy takes it. */
export interface GrantStatement {
  /** The KMS actions allowed. */
  readonly actions: string[];
  /** The key's ARN, or `key/*` of its region when it is named by an alias. */
  readonly resources: string[];
  /** Through Secrets Manager only (and the alias, when named by one). */
  readonly conditions: Record<string, any>;
}

/**
 * The grants of a key set: reading and writing its secret, and its KMS key only through this
 * region's Secrets Manager.
 */
export class KeySetGrants {
  constructor(private readonly scope: Construct, private readonly props: KeySetGrantsProps) {}

  /** `GetSecretValue` and `DescribeSecret` on the secret, `kms:Decrypt` on its key. */
  public read(grantee: iam.IGrantable): iam.Grant {
    return this.grantSecret(grantee, ['secretsmanager:GetSecretValue', 'secretsmanager:DescribeSecret'], ['kms:Decrypt']);
  }

  /** `PutSecretValue` too, with what the replicas' keys need for the version written. */
  public write(grantee: iam.IGrantable): iam.Grant {
    const grant = this.grantSecret(
      grantee,
      ['secretsmanager:PutSecretValue', 'secretsmanager:DescribeSecret', 'secretsmanager:GetSecretValue'],
      ['kms:Decrypt', 'kms:Encrypt', 'kms:GenerateDataKey'],
    );
    const replicas = replicaKeyStatements(this.scope, this.props.replicaRegions ?? [], grantee);
    return replicas.reduce((all, { actions, resources, conditions }) => all.combine(iam.Grant.addToPrincipal({
      grantee,
      actions,
      resourceArns: resources,
      conditions,
    })), grant);
  }

  private grantSecret(grantee: iam.IGrantable, secretActions: string[], keyActions: string[]): iam.Grant {
    // An imported secret knows its own ARN form (partial ARNs need a wildcard suffix).
    const grant = iam.Grant.addToPrincipal({ grantee, actions: secretActions, resourceArns: [secretArnForPolicies(this.props.secret)] });
    const key = this.props.encryptionKey;
    return key ? grant.combine(grantKey(this.scope, grantee, key, keyActions)) : grant;
  }
}

/** `actions` on `key`, only through this region's Secrets Manager (in a replica region, its replica's key only). */
function grantKey(scope: Construct, grantee: iam.IGrantable, key: kms.IKey, actions: string[]): iam.Grant {
  const stack = Stack.of(scope);
  const viaService = { 'kms:ViaService': `secretsmanager.${stack.region}.amazonaws.com` };
  const alias = aliasOfKeyReference(key);
  if (alias === undefined) {
    return iam.Grant.addToPrincipal({ grantee, actions, resourceArns: [key.keyArn], conditions: { StringEquals: viaService } });
  }
  // IAM cannot name a key by its alias ARN: any key of this region and account that carries the alias.
  acknowledgeAliasGrant(stack, grantee, alias);
  return iam.Grant.addToPrincipal({
    grantee,
    actions,
    resourceArns: [stack.formatArn({ service: 'kms', resource: 'key', resourceName: '*' })],
    conditions: { 'StringEquals': viaService, 'ForAnyValue:StringEquals': { 'kms:ResourceAliases': alias } },
  });
}

/**
 * What replication needs from whoever writes a version of a replicated secret: Secrets Manager
 * re-encrypts it with each replica's customer-managed key with the writer's permissions
 * (Secrets Manager user guide, "Troubleshoot replication": `kms:GenerateDataKey` and
 * `kms:Encrypt` on the replica's key), through Secrets Manager only. Replicas on
 * `aws/secretsmanager` need nothing. Which region's endpoint KMS reports as `kms:ViaService`
 * for this call is not documented: both the primary's and the replica's are allowed.
 */
export function replicaKeyStatements(scope: Construct, replicaRegions: secretsmanager.ReplicaRegion[], grantee?: iam.IGrantable): GrantStatement[] {
  const stack = Stack.of(scope);
  return replicaRegions.flatMap(({ region, encryptionKey: key }) => {
    if (!key) {
      return [];
    }
    const viaService = { 'kms:ViaService': [stack.region, region].map((r) => `secretsmanager.${r}.amazonaws.com`) };
    const actions = ['kms:Encrypt', 'kms:GenerateDataKey'];
    const alias = aliasOfKeyReference(key);
    if (alias === undefined) {
      return [{ actions, resources: [key.keyArn], conditions: { StringEquals: viaService } }];
    }
    if (grantee) {
      acknowledgeAliasGrant(stack, grantee, alias, region);
    }
    return [{
      actions,
      resources: [stack.formatArn({ service: 'kms', region, resource: 'key', resourceName: '*' })],
      conditions: { 'StringEquals': viaService, 'ForAnyValue:StringEquals': { 'kms:ResourceAliases': alias } },
    }];
  });
}

/** cdk-nag: the key/* resource of an alias grant is narrowed by its kms:ResourceAliases condition. */
function acknowledgeAliasGrant(stack: Stack, grantee: iam.IGrantable, alias: string, region?: string): void {
  const principal = grantee.grantPrincipal;
  if (!Construct.isConstruct(principal)) {
    return;
  }
  const inStack = nagArn(stack, 'kms', 'key/*');
  const resource = region === undefined ? inStack : inStack.replace(/^(arn:[^:]+:kms:)[^:]+/, `$1${region}`);
  acknowledgeNag(principal, {
    id: `AwsSolutions::AwsSolutions-IAM5[Resource::${resource}]`,
    reason: `KMS use only on the key carrying ${alias} (kms:ResourceAliases condition) and only through Secrets Manager (kms:ViaService); `
      + 'IAM cannot name a key by its alias ARN.',
  });
}

/** The secret's ARN as policies name it: a partial ARN matches any suffix. */
function secretArnForPolicies(secret: secretsmanager.ISecret): string {
  return secret.secretFullArn ?? `${secret.secretArn}-??????`;
}
