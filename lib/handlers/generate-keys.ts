/**
 * Custom resource handler: fills an empty secret with a freshly generated AEM key set, once.
 *
 * - Create/Update: when the secret already holds a value, it is kept (a valid key set of the
 *   configured sizes `HmacBytes`/`MasterBytes`, default 32/16) or the request fails (anything
 *   else): keys are never regenerated. Only an empty secret is filled, with keys of those sizes.
 * - Create/Update of a replicated secret (`ReplicaRegions`): then waits (bounded) until every
 *   replica region reports `InSync`, and fails the deploy otherwise, naming the region and the
 *   likely cause. Replication re-encrypts the version with the replica's key, with the writer's
 *   permissions, and Secrets Manager removes a replica left without a usable version
 *   (Secrets Manager user guide, "Troubleshoot replication").
 * - Delete: does nothing; the secret has its own removal policy (retain by default).
 * Nothing returned or logged contains key material.
 */
import {
  DescribeSecretCommand,
  GetSecretValueCommand,
  PutSecretValueCommand,
  SecretsManagerClient,
} from '@aws-sdk/client-secrets-manager';
import { generateKeySet, HMAC_BYTES, MASTER_BYTES, parseKeySet, serializeKeySet } from '../private/key-set';

export interface GenerateKeysEvent {
  readonly RequestType: 'Create' | 'Update' | 'Delete';
  readonly RequestId: string;
  readonly PhysicalResourceId?: string;
  readonly ResourceProperties: GenerateKeysProperties;
  readonly OldResourceProperties?: { readonly SecretId?: string };
}

/** The custom resource's properties (CloudFormation passes every value as a string). */
export interface GenerateKeysProperties {
  readonly SecretId?: string;
  /** Size of `hmac` in bytes, 1 to 4096. Default 32. */
  readonly HmacBytes?: string;
  /** Size of `master` in bytes, 1 to 4096. Default 16. */
  readonly MasterBytes?: string;
  /** Regions the secret is replicated to: each must report `InSync` before the deploy goes on. */
  readonly ReplicaRegions?: string[];
  /** How long to wait for the replicas, in seconds. Default 300. */
  readonly ReplicaWaitSeconds?: string;
}

export interface GenerateKeysResult {
  readonly PhysicalResourceId: string;
  readonly Data: { readonly Generated: string };
}

let client = new SecretsManagerClient({});
let pollMilliseconds = 5_000;

/** For tests: use another client (e.g. one pointed at a local emulator). */
export function useClient(other: SecretsManagerClient): void {
  client = other;
}

/** For tests: poll the replication status this often. */
export function usePollInterval(milliseconds: number): void {
  pollMilliseconds = milliseconds;
}

export async function handler(event: GenerateKeysEvent): Promise<GenerateKeysResult> {
  const secretId = event.ResourceProperties.SecretId;
  if (!secretId) {
    throw new Error('SecretId is required');
  }
  if (event.RequestType === 'Delete') {
    return { PhysicalResourceId: event.PhysicalResourceId ?? secretId, Data: { Generated: 'false' } };
  }
  const sizes = {
    hmac: keySize('HmacBytes', event.ResourceProperties.HmacBytes, HMAC_BYTES),
    master: keySize('MasterBytes', event.ResourceProperties.MasterBytes, MASTER_BYTES),
  };
  const replicas = event.ResourceProperties.ReplicaRegions ?? [];
  const waitSeconds = replicaWait(event.ResourceProperties.ReplicaWaitSeconds);
  if (await hasCurrentValue(secretId)) {
    await checkExistingValue(secretId, sizes);
    // A replica added since, or one that failed last time, must hold the keys too.
    await waitForReplicas(secretId, replicas, waitSeconds);
    return { PhysicalResourceId: secretId, Data: { Generated: 'false' } };
  }
  refuseReplacedSecret(event, secretId);
  await client.send(new PutSecretValueCommand({
    SecretId: secretId,
    SecretString: serializeKeySet(generateKeySet(sizes)),
    ClientRequestToken: event.RequestId,
  }));
  await waitForReplicas(secretId, replicas, waitSeconds);
  return { PhysicalResourceId: secretId, Data: { Generated: 'true' } };
}

/**
 * Waits until every replica region reports `InSync` (DescribeSecret `ReplicationStatus`); fails at
 * once on `Failed` or a missing region, and after `waitSeconds` on anything else.
 */
async function waitForReplicas(secretId: string, regions: string[], waitSeconds: number): Promise<void> {
  if (regions.length === 0) {
    return;
  }
  const deadline = Date.now() + waitSeconds * 1000;
  for (;;) {
    const description = await client.send(new DescribeSecretCommand({ SecretId: secretId }));
    const statuses = description.ReplicationStatus ?? [];
    const pending: string[] = [];
    for (const region of regions) {
      const status = statuses.find((s) => s.Region === region);
      if (!status) {
        throw new Error(replicaError(secretId, region, 'is missing (Secrets Manager removes a replica left without a usable version)'));
      }
      if (status.Status === 'Failed') {
        const why = status.StatusMessage ? ` (${status.StatusMessage})` : '';
        throw new Error(replicaError(secretId, region, `failed to replicate${why}`, status.KmsKeyId));
      }
      if (status.Status !== 'InSync') {
        pending.push(region);
      }
    }
    if (pending.length === 0) {
      return;
    }
    if (Date.now() + pollMilliseconds > deadline) {
      throw new Error(replicaError(secretId, pending[0], `is still ${statuses.find((s) => s.Region === pending[0])?.Status ?? 'not InSync'} `
        + `after ${waitSeconds} s`, statuses.find((s) => s.Region === pending[0])?.KmsKeyId));
    }
    await new Promise((resolve) => setTimeout(resolve, pollMilliseconds));
  }
}

function replicaError(secretId: string, region: string, what: string, keyId?: string): string {
  return `the replica of ${secretId} in ${region} ${what}. Likely cause: the writer (this generator's role) may not use the replica's KMS key `
    + `${keyId ?? '(its encryptionKey in replicaRegions)'} in ${region} (kms:GenerateDataKey and kms:Encrypt, in IAM and in the key policy), `
    + 'or that key is disabled, pending deletion or missing. Fix it, then deploy again (aws secretsmanager describe-secret shows ReplicationStatus).';
}

function replicaWait(value: string | undefined): number {
  if (value === undefined || value === '') {
    return 300;
  }
  if (!/^[0-9]{1,4}$/.test(value)) {
    throw new Error(`ReplicaWaitSeconds must be a whole number of seconds, got ${JSON.stringify(value)}`);
  }
  return Number(value);
}

/**
 * A secret replaced by CloudFormation (e.g. a new name) arrives as an Update with another SecretId
 * and no value. Generating would silently give the estate new keys: refuse, and say how to carry
 * the old keys over.
 */
function refuseReplacedSecret(event: GenerateKeysEvent, secretId: string): void {
  const previous = event.OldResourceProperties?.SecretId;
  if (event.RequestType === 'Update' && previous && previous !== secretId) {
    throw new Error(`the key set's secret was replaced (${previous} -> ${secretId}); refusing to generate new keys. `
      + 'Revert the change, or copy the keys into the new secret first (aem-keys import) and deploy again.');
  }
}

async function hasCurrentValue(secretId: string): Promise<boolean> {
  const description = await client.send(new DescribeSecretCommand({ SecretId: secretId }));
  if (description.DeletedDate) {
    throw new Error(`secret ${secretId} is scheduled for deletion; restore it (aws secretsmanager restore-secret) before deploying`);
  }
  const stages = Object.values(description.VersionIdsToStages ?? {});
  return stages.some((labels) => labels.includes('AWSCURRENT'));
}

function keySize(name: string, value: string | number | undefined, fallback: number): number {
  if (value === undefined || value === '') {
    return fallback;
  }
  const text = String(value);
  if (!/^[1-9][0-9]{0,3}$/.test(text) || Number(text) > 4096) {
    throw new Error(`${name} must be an integer from 1 to 4096, got ${JSON.stringify(text)}`);
  }
  return Number(text);
}

async function checkExistingValue(secretId: string, sizes: { hmac: number; master: number }): Promise<void> {
  const current = await client.send(new GetSecretValueCommand({ SecretId: secretId }));
  try {
    parseKeySet(current.SecretString ?? '', sizes);
  } catch (e) {
    throw new Error(`secret ${secretId} already holds a value that is not an AEM key set (${(e as Error).message}); refusing to overwrite it`, { cause: e });
  }
}
