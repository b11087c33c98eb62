import { Arn, RemovalPolicy, Stack, Token } from 'aws-cdk-lib';
import * as kms from 'aws-cdk-lib/aws-kms';
import { Construct } from 'constructs';

const ALIAS_NAME = /^alias\/[a-zA-Z0-9/_-]{1,250}$/;

/** Properties of a `ReplicaKey`. */
export interface ReplicaKeyProps {
  /**
   * The key's alias in its region, through which the primary's stack names it
   * (`ReplicaKey.fromRegion`) without a cross-region reference. An alias is unique per account
   * and region, so each key set needs its own, e.g. `alias/aem/<estate>/crypto-keys`; there is no
   * default, since a shared one would make a second key set's key fail to deploy.
   */
  readonly aliasName: string;

  /**
   * What happens to the key when it leaves the stack. Losing it makes the replica unreadable.
   * The default keeps it on stack deletion and replacement, and lets a rollback of the deploy that
   * created it delete it (CloudFormation `RetainExceptOnCreate`).
   * @default RemovalPolicy.RETAIN_ON_UPDATE_OR_DELETE
   */
  readonly removalPolicy?: RemovalPolicy;
}

/**
 * A customer-managed KMS key for a key set's replica in this stack's region (a KMS key is
 * regional: a replica cannot use the primary region's key).
 *
 * Put it in a small stack of the replica region that is deployed before the primary's stack;
 * the primary names it with `ReplicaKey.fromRegion(...)` in `replicaRegions`, and the replica
 * region's key set passes `replicaKey.key` to `KeySource.fromReplica({ encryptionKey })`.
 */
export class ReplicaKey extends Construct {
  /**
   * A reference to the key a `ReplicaKey` created in `region`, by its alias ARN (same account as
   * `scope`), without a cross-stack or cross-region reference:
   * - in the primary's `replicaRegions`:
   *   `{ region: 'eu-west-1', encryptionKey: ReplicaKey.fromRegion(this, 'EuKey', 'eu-west-1', 'alias/aem/prod/crypto-keys') }`
   *   (Secrets Manager accepts an alias for a replica's key);
   * - in the replica region's `KeySource.fromReplica({ encryptionKey })`: grants then name the
   *   key through its alias (`kms:ResourceAliases`), since IAM cannot name a key by alias ARN.
   */
  public static fromRegion(scope: Construct, id: string, region: string, aliasName: string): kms.IKey {
    checkAlias(aliasName);
    if (Token.isUnresolved(region) || !/^[a-z]{2}(-[a-z]+)+-[0-9]+$/.test(region)) {
      throw new Error(`ReplicaKey.fromRegion: region must be a literal region name like eu-west-1, got ${JSON.stringify(region)}`);
    }
    const stack = Stack.of(scope);
    const arn = Arn.format({ service: 'kms', region, account: stack.account, resource: aliasName }, stack);
    const key = kms.Key.fromKeyArn(scope, id, arn);
    ALIAS_REFERENCES.set(key, { region, aliasName });
    return key;
  }

  /** The key. */
  public readonly key: kms.Key;

  /** Its alias. */
  public readonly aliasName: string;

  constructor(scope: Construct, id: string, props: ReplicaKeyProps) {
    super(scope, id);
    this.aliasName = props.aliasName;
    checkAlias(this.aliasName);
    this.key = new kms.Key(this, 'Key', {
      description: 'Encrypts the replica of the AEM crypto keys secret in this region',
      enableKeyRotation: true,
      alias: this.aliasName,
      removalPolicy: props.removalPolicy ?? RemovalPolicy.RETAIN_ON_UPDATE_OR_DELETE,
    });
  }
}

const ALIAS_REFERENCES = new WeakMap<kms.IKey, { region: string; aliasName: string }>();

/**
 * The region of a KMS key when it is known at synth: a `ReplicaKey.fromRegion` reference, a key
 * in a stack with a literal region, or an imported key with a literal ARN.
 */
export function knownKeyRegion(key: kms.IKey): string | undefined {
  const region = ALIAS_REFERENCES.get(key)?.region ?? key.env.region;
  return Token.isUnresolved(region) ? undefined : region;
}

/** The alias name when the key is referenced by its alias (`ReplicaKey.fromRegion`, or a literal alias ARN). */
export function aliasOfKeyReference(key: kms.IKey): string | undefined {
  const known = ALIAS_REFERENCES.get(key)?.aliasName;
  if (known !== undefined || Token.isUnresolved(key.keyArn)) {
    return known;
  }
  return /^arn:[^:]+:kms:[^:]*:[^:]*:(alias\/.+)$/.exec(key.keyArn)?.[1];
}

function checkAlias(aliasName: string | undefined): void {
  if (aliasName === undefined) {
    throw new Error('ReplicaKey: aliasName is required, one per key set and region (an alias is unique in an account and region, '
      + 'so a shared default would collide with a second key set), e.g. alias/aem/<estate>/crypto-keys');
  }
  if (!Token.isUnresolved(aliasName) && (!ALIAS_NAME.test(aliasName) || aliasName.startsWith('alias/aws/'))) {
    throw new Error(`ReplicaKey: aliasName must be alias/ followed by 1-250 characters [a-zA-Z0-9/_-], not under alias/aws/, got ${JSON.stringify(aliasName)}`);
  }
}
