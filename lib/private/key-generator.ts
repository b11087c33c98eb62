import * as path from 'path';
import { CfnResource, CustomResource, CustomResourceProvider, CustomResourceProviderRuntime, RemovalPolicy, Stack } from 'aws-cdk-lib';
import * as kms from 'aws-cdk-lib/aws-kms';
import * as logs from 'aws-cdk-lib/aws-logs';
import * as secretsmanager from 'aws-cdk-lib/aws-secretsmanager';
import { Construct } from 'constructs';
import type { KeyLengths } from '../aem-crypto-keys';
import { KEY_LENGTH_LABELS } from '../installer-document';
import { replicaKeyStatements } from './key-set-grants';
import { keySizeParameters } from './shell-script-document';

/** What the generator fills. */
export interface GeneratedKeysProps {
  /** The empty secret the key set created. */
  readonly secret: secretsmanager.ISecret;
  /** Its KMS key. */
  readonly encryptionKey: kms.IKey;
  /**
   * Key sizes to write (and to check an existing value against).
   * @default { hmac: 32, master: 16 }
   */
  readonly keyLengths?: KeyLengths;
  /**
   * The secret's replicas, which must report InSync before the deploy goes on.
   * @default - not replicated
   */
  readonly replicaRegions?: secretsmanager.ReplicaRegion[];
}

/**
 * The custom resource that fills the secret with random keys once, at its first deploy, and never
 * again (`KeySource.generate()`). Deleting it never touches the secret.
 */
export function generateKeysOnce(scope: Construct, props: GeneratedKeysProps): CustomResource {
  const sizes = keySizeParameters(props.keyLengths ?? {}, KEY_LENGTH_LABELS);
  const replicas = props.replicaRegions ?? [];
  const provider = CustomResourceProvider.getOrCreateProvider(scope, 'Custom::AemCryptoKeysGenerator', {
    codeDirectory: path.join(__dirname, '..', '..', 'assets', 'handlers', 'generate-keys'),
    runtime: CustomResourceProviderRuntime.NODEJS_22_X,
    description: 'Fills an empty AEM crypto keys secret with random keys, once',
  });
  logGeneratorWithRetention(provider);
  provider.addToRolePolicy({
    Effect: 'Allow',
    Action: ['secretsmanager:DescribeSecret', 'secretsmanager:GetSecretValue', 'secretsmanager:PutSecretValue'],
    Resource: props.secret.secretArn,
  });
  provider.addToRolePolicy({
    Effect: 'Allow',
    Action: ['kms:Decrypt', 'kms:Encrypt', 'kms:GenerateDataKey'],
    Resource: props.encryptionKey.keyArn,
    Condition: { StringEquals: { 'kms:ViaService': `secretsmanager.${Stack.of(scope).region}.amazonaws.com` } },
  });
  // The version it writes is replicated with its permissions.
  for (const statement of replicaKeyStatements(scope, replicas)) {
    provider.addToRolePolicy({ Effect: 'Allow', Action: statement.actions, Resource: statement.resources, Condition: statement.conditions });
  }
  const replicaRegions = replicas.map((replica) => replica.region);
  const generator = new CustomResource(scope, 'GeneratedKeys', {
    serviceToken: provider.serviceToken,
    resourceType: 'Custom::AemCryptoKeys',
    // The sizes to write and to check an existing value against (the installer's HmacBytes/MasterBytes),
    // and the replicas that must report InSync before the deploy goes on.
    properties: {
      SecretId: props.secret.secretArn,
      HmacBytes: sizes.HmacBytes.default,
      MasterBytes: sizes.MasterBytes.default,
      ...(replicaRegions.length ? { ReplicaRegions: replicaRegions } : {}),
    },
    // Deleting this resource never touches the secret: the handler's Delete does nothing.
    removalPolicy: RemovalPolicy.RETAIN,
  });
  generator.node.addDependency(props.secret);
  return generator;
}

/**
 * The generator (one per stack, shared by its key sets) logs into a log group of its own that
 * expires, instead of the `/aws/lambda/<function>` group Lambda would create, which never does
 * (Lambda `LoggingConfig`). It logs no key material.
 */
function logGeneratorWithRetention(provider: CustomResourceProvider): void {
  if (provider.node.tryFindChild('Logs')) {
    return;
  }
  const logGroup = new logs.LogGroup(provider, 'Logs', {
    retention: logs.RetentionDays.ONE_YEAR,
    removalPolicy: RemovalPolicy.RETAIN_ON_UPDATE_OR_DELETE,
  });
  (provider.node.findChild('Handler') as CfnResource).addPropertyOverride('LoggingConfig', { LogGroup: logGroup.logGroupName });
}
