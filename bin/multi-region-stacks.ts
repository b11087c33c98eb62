import { App, Stack, StackProps } from 'aws-cdk-lib';
import { Construct } from 'constructs';
import { KeySource, ReplicaKey } from '../lib';
import { ExampleAemStack } from './example-stack';

/** The three regions of the example estate. */
export const PRIMARY_REGION = 'us-east-1';
/** Replica with a customer-managed key (a `ReplicaKey` in its own small stack). */
export const CMK_REPLICA_REGION = 'eu-west-1';
/** Replica encrypted with that region's `aws/secretsmanager`. */
export const AWS_KEY_REPLICA_REGION = 'ap-southeast-2';
/** The key set's secret name: its replicas carry the same name in their regions. */
export const EXAMPLE_SECRET_NAME = 'aem/example/crypto-keys';
/** The alias of the eu-west-1 replica's key: one per key set and region (an alias is unique in an account and region). */
export const EXAMPLE_REPLICA_KEY_ALIAS = 'alias/aem/example/crypto-keys';

/** A stack holding only the customer-managed key of a replica region. */
export class ReplicaKeyStack extends Stack {
  public readonly replicaKey: ReplicaKey;

  constructor(scope: Construct, id: string, props: StackProps) {
    super(scope, id, props);
    this.replicaKey = new ReplicaKey(this, 'ReplicaKey', { aliasName: EXAMPLE_REPLICA_KEY_ALIAS });
  }
}

/** The stacks of the three-region example, in deploy order. */
export interface MultiRegionEstate {
  readonly replicaKeys: ReplicaKeyStack;
  readonly primary: ExampleAemStack;
  readonly cmkReplica: ExampleAemStack;
  readonly awsKeyReplica: ExampleAemStack;
}

/**
 * One key set, three regions. Each region has its own AEM estate (author, publish groups) with its
 * own installer document, lifecycle gate and association; only the primary region owns the secret.
 *
 * Deploy order (`cdk deploy --all` follows it): the replica key stack of eu-west-1, then the
 * primary (secret, generated keys, replicas), then the replica-region estates.
 *
 * Regions are explicit (a replica is tied to its region); the account stays unresolved, so
 * everything synthesizes offline without credentials.
 */
export function addMultiRegionEstate(app: App): MultiRegionEstate {
  const replicaKeys = new ReplicaKeyStack(app, `AemCryptoKeysReplicaKey-${CMK_REPLICA_REGION}`, {
    env: { region: CMK_REPLICA_REGION },
    description: `KMS key of the AEM crypto keys replica in ${CMK_REPLICA_REGION} (deploy first)`,
  });

  const primary = new ExampleAemStack(app, `AemEstate-${PRIMARY_REGION}`, {
    env: { region: PRIMARY_REGION },
    description: `AEM estate in ${PRIMARY_REGION}: owns the key set's secret and replicates it`,
    cryptoKeys: (stack) => ({
      secretName: EXAMPLE_SECRET_NAME,
      replicaRegions: [
        // Named by its alias ARN: no cross-region reference to the key stack.
        {
          region: CMK_REPLICA_REGION,
          encryptionKey: ReplicaKey.fromRegion(stack, 'EuWest1ReplicaKey', CMK_REPLICA_REGION, EXAMPLE_REPLICA_KEY_ALIAS),
        },
        { region: AWS_KEY_REPLICA_REGION },
      ],
    }),
  });
  primary.addDependency(replicaKeys, 'the replica in eu-west-1 is encrypted with that region\'s ReplicaKey');

  const cmkReplica = new ExampleAemStack(app, `AemEstate-${CMK_REPLICA_REGION}`, {
    env: { region: CMK_REPLICA_REGION },
    description: `AEM estate in ${CMK_REPLICA_REGION}: reads the replica (customer-managed key)`,
    // The replica's key by its alias too: grants through kms:ResourceAliases, no cross-stack export.
    cryptoKeys: (stack) => ({
      keySource: KeySource.fromReplica({
        secretName: EXAMPLE_SECRET_NAME,
        encryptionKey: ReplicaKey.fromRegion(stack, 'ReplicaKey', CMK_REPLICA_REGION, EXAMPLE_REPLICA_KEY_ALIAS),
      }),
    }),
  });
  cmkReplica.addDependency(primary, 'the replica exists once the primary secret is created');

  const awsKeyReplica = new ExampleAemStack(app, `AemEstate-${AWS_KEY_REPLICA_REGION}`, {
    env: { region: AWS_KEY_REPLICA_REGION },
    description: `AEM estate in ${AWS_KEY_REPLICA_REGION}: reads the replica (aws/secretsmanager)`,
    cryptoKeys: () => ({ keySource: KeySource.fromReplica({ secretName: EXAMPLE_SECRET_NAME, awsManagedKey: true }) }),
  });
  awsKeyReplica.addDependency(primary, 'the replica exists once the primary secret is created');

  return { replicaKeys, primary, cmkReplica, awsKeyReplica };
}
