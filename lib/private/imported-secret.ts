import { Annotations, ArnFormat, Stack, Token } from 'aws-cdk-lib';
import * as kms from 'aws-cdk-lib/aws-kms';
import * as secretsmanager from 'aws-cdk-lib/aws-secretsmanager';
import { Construct, DependencyGroup } from 'constructs';
import type { AemCryptoKeysProps } from '../aem-crypto-keys';
import type { KeySourceConfig, ReplicaSourceOptions } from '../key-source';
import { knownKeyRegion } from '../replica-key';
import { SECRET_ARN_PATTERN } from './parameter-patterns';

/** How a replica is named: by the primary secret's name, or by its complete ARN. */
export type ReplicaName = { readonly secretName: string } | { readonly primarySecretArn: string };

/** The one name `KeySource.fromReplica` was given. */
export function replicaName(options: ReplicaSourceOptions): ReplicaName {
  const { secretName, primarySecretArn } = options;
  if (secretName !== undefined && primarySecretArn === undefined) {
    return { secretName };
  }
  if (primarySecretArn !== undefined && secretName === undefined) {
    return { primarySecretArn };
  }
  throw new Error('KeySource.fromReplica: give exactly one of secretName and primarySecretArn');
}

/** Binds `KeySource.fromSecret`: the owner's secret, with the key it was imported with. */
export function bindExistingSecret(scope: Construct, props: AemCryptoKeysProps, secret: secretsmanager.ISecret,
  awsManagedKey: boolean): KeySourceConfig {
  checkNotOwnedProps(props);
  const encryptionKey = secret.encryptionKey;
  if (!encryptionKey && !awsManagedKey) {
    warnWithoutKey(scope, 'Import the secret with its key, Secret.fromSecretAttributes(scope, id, { secretCompleteArn, encryptionKey }), '
      + 'or state KeySource.fromSecret(secret, { awsManagedKey: true }) when it uses aws/secretsmanager.');
  }
  return { secret, encryptionKey, keysReady: new DependencyGroup(), writable: true, exportDocumentByDefault: false };
}

/**
 * Binds `KeySource.fromReplica`: this region's replica of the primary secret, imported with its
 * key. Read-only: no export document, no `grantWrite` (write the primary).
 */
export function bindReplica(scope: Construct, props: AemCryptoKeysProps, name: ReplicaName, options: ReplicaSourceOptions): KeySourceConfig {
  checkNotOwnedProps(props);
  if (props.exportDocument) {
    throw new Error('exportDocument: a replica is read-only; create the export document with the primary region\'s key set');
  }
  const encryptionKey = options.encryptionKey;
  if (encryptionKey) {
    checkReplicaKeyRegion(scope, encryptionKey);
  }
  const secret = secretsmanager.Secret.fromSecretAttributes(scope, 'Replica', { ...replicaArn(scope, name), encryptionKey });
  if (!encryptionKey && !options.awsManagedKey) {
    warnWithoutKey(scope, 'Pass the replica\'s key in this region, KeySource.fromReplica({ ..., encryptionKey }), '
      + 'or state { awsManagedKey: true } when the replica uses aws/secretsmanager.');
  }
  return { secret, encryptionKey, keysReady: new DependencyGroup(), writable: false, exportDocumentByDefault: false };
}

function checkReplicaKeyRegion(scope: Construct, key: kms.IKey): void {
  const region = Stack.of(scope).region;
  const keyRegion = knownKeyRegion(key);
  if (keyRegion !== undefined && !Token.isUnresolved(region) && keyRegion !== region) {
    throw new Error(`KeySource.fromReplica: encryptionKey is in ${keyRegion}, but this stack (the replica's region) is in ${region}; `
      + 'pass the key that encrypts the replica in this region (e.g. the ReplicaKey of this region)');
  }
}

/** The replica's ARN in this stack's region: partial when named by the secret's name. */
function replicaArn(scope: Construct, name: ReplicaName): { secretPartialArn: string } | { secretCompleteArn: string } {
  const stack = Stack.of(scope);
  if ('secretName' in name) {
    return {
      secretPartialArn: stack.formatArn({ service: 'secretsmanager', resource: 'secret', resourceName: name.secretName, arnFormat: ArnFormat.COLON_RESOURCE_NAME }),
    };
  }
  const primary = Token.isUnresolved(name.primarySecretArn) ? null : new RegExp(SECRET_ARN_PATTERN).exec(name.primarySecretArn);
  if (!primary) {
    throw new Error('KeySource.fromReplica: primarySecretArn must be a literal Secrets Manager secret ARN (a reference to a stack in another region '
      + `cannot be resolved; pass secretName instead), got ${JSON.stringify(name.primarySecretArn)}`);
  }
  const [, partition, primaryRegion, , account, secretName] = primary;
  if (!Token.isUnresolved(stack.region) && stack.region === primaryRegion) {
    throw new Error(`KeySource.fromReplica: this stack is in ${primaryRegion}, the primary secret's own region; use KeySource.fromSecret there`);
  }
  return { secretCompleteArn: `arn:${partition}:secretsmanager:${stack.region}:${account}:secret:${secretName}` };
}

/** Without a key, grants hold no kms:Decrypt: fine for aws/secretsmanager only. */
function warnWithoutKey(scope: Construct, fix: string): void {
  Annotations.of(scope).addWarningV2('cdk-aem-crypto-keys:noDecryptGrant',
    'keySource: the secret has no encryptionKey, so grantRead, gated groups and tag associations grant no kms:Decrypt; '
    + `instances fail to read a secret encrypted with a customer-managed key. ${fix}`);
}

/** Props that only apply to a secret this key set creates. */
function checkNotOwnedProps(props: AemCryptoKeysProps): void {
  for (const name of ['encryptionKey', 'replicaRegions', 'secretName', 'description'] as const) {
    if (props[name] !== undefined) {
      throw new Error(`${name}: only for a secret this key set creates; with KeySource.fromSecret or KeySource.fromReplica the secret (and its key) `
        + 'are the owner\'s');
    }
  }
}
