import {
  CreateSecretCommand, GetSecretValueCommand, ListSecretVersionIdsCommand, PutSecretValueCommand, SecretsManagerClient,
} from '@aws-sdk/client-secrets-manager';
import { Moto, MOTO_REGION } from './moto';

/**
 * The tests' own side of Secrets Manager (creating secrets, reading back what a script stored)
 * through the SDK in this process: an AWS CLI start costs about half a second of CPU. The
 * scripts under test call `aws` themselves (the stand-in of test/support/aws-stand-in.ts, or the
 * real CLI).
 */
export class TestSecrets {
  private readonly sm: SecretsManagerClient;

  constructor(moto: Moto) {
    this.sm = new SecretsManagerClient({
      region: MOTO_REGION, endpoint: moto.endpoint, credentials: { accessKeyId: 'testing', secretAccessKey: 'testing' },
    });
  }

  /** Creates a secret (with no value at all when `value` is undefined); returns its ARN. */
  async create(name: string, value?: string): Promise<string> {
    return (await this.sm.send(new CreateSecretCommand({ Name: name, SecretString: value }))).ARN!;
  }

  /** Stores a new current value (a re-key of the same secret). */
  async put(secretId: string, value: string): Promise<void> {
    await this.sm.send(new PutSecretValueCommand({ SecretId: secretId, SecretString: value }));
  }

  /** The secret's current SecretString; rejects when there is none. */
  async value(secretId: string): Promise<string> {
    return (await this.sm.send(new GetSecretValueCommand({ SecretId: secretId }))).SecretString!;
  }

  /** The secret's version IDs, in the order Secrets Manager lists them. */
  async versions(secretId: string): Promise<string[]> {
    return ((await this.sm.send(new ListSecretVersionIdsCommand({ SecretId: secretId }))).Versions ?? []).map((v) => v.VersionId!);
  }

  destroy(): void {
    this.sm.destroy();
  }
}

/**
 * Two secrets named `<prefix>` and `<prefix>-short`: `keys` in the key set's format, and the same
 * with an hmac one byte short (every installer run on it fails). Returns their ARNs.
 */
export async function keySetSecrets(moto: Moto, prefix: string, keys: { hmac: Buffer; master: Buffer }): Promise<{ good: string; short: string }> {
  const secrets = new TestSecrets(moto);
  const json = (hmac: Buffer) => JSON.stringify({ hmac: hmac.toString('base64'), master: keys.master.toString('base64') });
  try {
    return { good: await secrets.create(prefix, json(keys.hmac)), short: await secrets.create(`${prefix}-short`, json(keys.hmac.subarray(1))) };
  } finally {
    secrets.destroy();
  }
}
