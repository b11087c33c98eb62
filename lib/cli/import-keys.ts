import * as fs from 'fs';
import {
  DescribeSecretCommand,
  GetSecretValueCommand,
  PutSecretValueCommand,
  SecretsManagerClient,
} from '@aws-sdk/client-secrets-manager';
import { fingerprint, KeySet, parseKeySet, sameKeys, serializeKeySet } from '../private/key-set';

/** What `import` did. */
export interface ImportResult {
  readonly secret: string;
  /** `filled` (the secret was empty), `unchanged` (same keys already), `replaced` (--force). */
  readonly action: 'filled' | 'unchanged' | 'replaced';
  readonly hmac: string;
  readonly master: string;
  /** Fingerprints of the keys that were replaced. */
  readonly previous?: { hmac?: string; master?: string };
}

/** A refusal or a bad input: exit 1 with this one-line message. */
export class OperationError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'OperationError';
  }
}

/** Why a file could not be read, in words (with the system's code). */
function whyUnreadable(e: unknown): string {
  const code = (e as { code?: string }).code ?? '';
  const words: Record<string, string> = {
    ENOENT: 'no such file', EACCES: 'permission denied', ENOTDIR: 'a part of the path is not a folder', ELOOP: 'too many symbolic links',
  };
  return words[code] ? `${words[code]} (${code})` : ((e as Error).message ?? String(e)).split('\n')[0];
}

/** Reads a raw key file, byte for byte, and checks its size. Never echoes its content. */
export function readKeyFile(path: string, name: string, expected: number): Buffer {
  let stat: fs.Stats;
  try {
    stat = fs.statSync(path);
  } catch (e) {
    throw new OperationError(`--${name}: cannot read ${path}: ${whyUnreadable(e)}`);
  }
  if (!stat.isFile()) throw new OperationError(`--${name}: ${path} is not a regular file`);
  if (stat.size !== expected) {
    throw new OperationError(`--${name}: ${path} is ${stat.size} bytes, expected ${expected} (a raw AEM ${name} file, not base64 or text)`);
  }
  const bytes = fs.readFileSync(path);
  if (bytes.length !== expected) throw new OperationError(`--${name}: ${path} changed while being read`);
  return bytes;
}

/**
 * Writes `keys` into the secret: fills an empty secret, does nothing when it already holds the
 * same keys, refuses to replace different keys (or a value that is not a key set) unless `force`.
 */
export async function importKeys(sm: SecretsManagerClient, secretId: string, keys: KeySet, force: boolean,
  sizes: { hmac: number; master: number }): Promise<ImportResult> {
  let described;
  try {
    described = await sm.send(new DescribeSecretCommand({ SecretId: secretId }));
  } catch (e) {
    if ((e as Error).name === 'ResourceNotFoundException') throw new OperationError(`secret ${secretId} does not exist (or is not visible to these credentials)`);
    throw e;
  }
  if (described.DeletedDate) {
    throw new OperationError(`secret ${secretId} is scheduled for deletion; restore it first (aws secretsmanager restore-secret)`);
  }
  const arn = described.ARN ?? secretId;
  const fp = { hmac: fingerprint(keys.hmac), master: fingerprint(keys.master) };

  let current: string | undefined;
  try {
    const value = await sm.send(new GetSecretValueCommand({ SecretId: arn }));
    current = value.SecretString ?? (value.SecretBinary ? '<binary>' : undefined);
  } catch (e) {
    // An empty secret (no AWSCURRENT version yet, e.g. KeySource.importLater()).
    if ((e as Error).name !== 'ResourceNotFoundException') throw e;
  }

  let previous: ImportResult['previous'];
  if (current !== undefined && current !== '') {
    let existing: KeySet | undefined;
    let why = '';
    try {
      existing = parseKeySet(current, sizes);
    } catch (e) {
      why = (e as Error).message;
    }
    if (existing && sameKeys(existing, keys)) {
      return { secret: arn, action: 'unchanged', ...fp };
    }
    previous = existing ? { hmac: fingerprint(existing.hmac), master: fingerprint(existing.master) } : {};
    if (!force) {
      const holds = existing
        ? `different keys (hmac ${previous.hmac}, master ${previous.master})`
        : `a value that is not a key set (${why})`;
      throw new OperationError(`secret ${arn} already holds ${holds}; not replacing them without --force`);
    }
  }
  await sm.send(new PutSecretValueCommand({ SecretId: arn, SecretString: serializeKeySet(keys) }));
  return { secret: arn, action: previous ? 'replaced' : 'filled', ...fp, ...(previous ? { previous } : {}) };
}
