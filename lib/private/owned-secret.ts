import { Aws, CfnRule, Fn, RemovalPolicy, Stack, Token } from 'aws-cdk-lib';
import * as kms from 'aws-cdk-lib/aws-kms';
import * as secretsmanager from 'aws-cdk-lib/aws-secretsmanager';
import { Construct, DependencyGroup } from 'constructs';
import type { AemCryptoKeysProps } from '../aem-crypto-keys';
import type { KeySourceConfig } from '../key-source';
import { knownKeyRegion } from '../replica-key';
import { generateKeysOnce } from './key-generator';
import { acknowledgeNag } from './nag-arn';

/** Binds `KeySource.generate()`: a secret of the key set's own, filled once at deploy time. */
export function bindGeneratedSecret(scope: Construct, props: AemCryptoKeysProps): KeySourceConfig {
  const owned = createOwnedSecret(scope, props);
  const generator = generateKeysOnce(scope, { ...owned, keyLengths: props.keyLengths, replicaRegions: props.replicaRegions });
  return { ...owned, keysReady: new DependencyGroup(generator), writable: true, exportDocumentByDefault: false };
}

/** Binds `KeySource.importLater()`: a secret of the key set's own, empty until the export document or `aem-keys import` fills it. */
export function bindSecretImportedLater(scope: Construct, props: AemCryptoKeysProps): KeySourceConfig {
  return { ...createOwnedSecret(scope, props), keysReady: new DependencyGroup(), writable: true, exportDocumentByDefault: true };
}

/** The secret (with its replicas) and its KMS key, created by the key set. */
function createOwnedSecret(scope: Construct, props: AemCryptoKeysProps): { secret: secretsmanager.Secret; encryptionKey: kms.IKey } {
  checkSecretName(props);
  checkReplicaRegions(scope, props);
  const removalPolicy = props.removalPolicy ?? RemovalPolicy.RETAIN_ON_UPDATE_OR_DELETE;
  const encryptionKey = props.encryptionKey ?? new kms.Key(scope, 'Key', {
    description: 'Encrypts the AEM crypto keys secret',
    enableKeyRotation: true,
    removalPolicy,
  });
  const secret = new secretsmanager.Secret(scope, 'Secret', {
    secretName: props.secretName,
    description: props.description ?? 'AEM crypto keys (hmac, master) shared by every instance',
    encryptionKey,
    removalPolicy,
    replicaRegions: props.replicaRegions,
  });
  // No initial value: the keys are written once by the generator (or imported later), never
  // by CloudFormation, so they never appear in a template.
  (secret.node.defaultChild as secretsmanager.CfnSecret).addPropertyDeletionOverride('GenerateSecretString');
  acknowledgeNag(secret, {
    id: 'AwsSolutions-SMG4',
    reason: 'AEM crypto keys cannot be rotated automatically: new hmac/master keys make every value AEM encrypted and every login token unreadable. Re-keying is a deliberate procedure (README: Re-keying).',
  });
  return { secret, encryptionKey };
}

/**
 * A secret name Secrets Manager accepts: 1 to 512 characters, ASCII letters, digits and `/_+=.@-`
 * (CreateSecret, https://docs.aws.amazon.com/secretsmanager/latest/apireference/API_CreateSecret.html).
 * Replicas are found by name in their regions (`KeySource.fromReplica`), so replication needs one.
 */
function checkSecretName(props: AemCryptoKeysProps): void {
  const name = props.secretName;
  if (name !== undefined && !Token.isUnresolved(name)) {
    const bad = [...new Set(name.replace(/[A-Za-z0-9/_+=.@-]/g, ''))];
    if (bad.length > 0 || name.length === 0 || name.length > 512) {
      throw new Error(`secretName: ${JSON.stringify(name)} is not a name Secrets Manager accepts (1 to 512 ASCII letters, digits and /_+=.@-)`
        + (bad.length > 0 ? `; not allowed: ${bad.map((c) => JSON.stringify(c)).join(' ')}` : ''));
    }
  }
  if ((props.replicaRegions ?? []).length > 0 && (name === undefined || Token.isUnresolved(name))) {
    throw new Error('replicaRegions: needs a literal secretName; each replica region\'s stack finds its replica by that name (KeySource.fromReplica)');
  }
}

/**
 * Each replica needs a key valid in its own region (KMS keys are regional): never the primary's
 * key, nor one known to live in another region. Checked where the values are known at synth.
 */
function checkReplicaRegions(scope: Construct, props: AemCryptoKeysProps): void {
  const seen = new Set<string>();
  (props.replicaRegions ?? []).forEach((replica, i) => {
    if (Token.isUnresolved(replica.region)) {
      return;
    }
    checkReplicaRegion(scope, replica.region, i, seen);
    if (replica.encryptionKey) {
      checkReplicaKey(scope, replica.region, replica.encryptionKey, i, props.encryptionKey);
    }
  });
}

/** A region name, listed once, not the primary's own (checked at deploy when the stack's region is unknown at synth). */
function checkReplicaRegion(scope: Construct, region: string, i: number, seen: Set<string>): void {
  const label = `replicaRegions[${i}]`;
  const stackRegion = Stack.of(scope).region;
  if (!/^[a-z]{2}(-[a-z]+)+-[0-9]+$/.test(region)) {
    throw new Error(`${label}.region: must be a region name like eu-west-1, got ${JSON.stringify(region)}`);
  }
  if (seen.has(region)) {
    throw new Error(`${label}.region: ${region} is listed twice`);
  }
  seen.add(region);
  if (!Token.isUnresolved(stackRegion) && region === stackRegion) {
    throw new Error(`${label}.region: ${region} is the primary secret's own region (this stack's); list only other regions`);
  }
  if (Token.isUnresolved(stackRegion)) {
    // An environment-agnostic stack learns its region at deploy: CloudFormation checks it before creating anything.
    new CfnRule(scope, `ReplicaRegionCheck${i}`, {
      assertions: [{
        assert: Fn.conditionNot(Fn.conditionEquals(Aws.REGION, region)),
        assertDescription: `${label}.region: ${region} is the primary secret's own region (this stack's); list only other regions`,
      }],
    });
  }
}

/** A replica's key lives in the replica's region: never the primary's key, nor one known to live elsewhere. */
function checkReplicaKey(scope: Construct, region: string, key: kms.IKey, i: number, primaryKey: kms.IKey | undefined): void {
  const label = `replicaRegions[${i}]`;
  const fix = `create a key in ${region} (ReplicaKey in a stack of that region) and name it here with `
    + `ReplicaKey.fromRegion(this, id, '${region}', aliasName), `
    + 'or leave encryptionKey out to use that region\'s aws/secretsmanager';
  if (key === primaryKey) {
    throw new Error(`${label}.encryptionKey: the primary's encryptionKey cannot encrypt a replica in ${region} (KMS keys are regional); ${fix}`);
  }
  const keyRegion = knownKeyRegion(key);
  if (keyRegion !== undefined && keyRegion !== region) {
    throw new Error(`${label}.encryptionKey: the key is in ${keyRegion}, the replica in ${region} (KMS keys are regional); ${fix}`);
  }
  if (keyRegion === undefined && key instanceof kms.Key && Stack.of(key) === Stack.of(scope)) {
    throw new Error(`${label}.encryptionKey: the key is created in this stack, i.e. in the primary's region, not in ${region}; ${fix}`);
  }
}
