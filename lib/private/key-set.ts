import { createHash, randomBytes } from 'crypto';

/** Expected key sizes in bytes (per public re-implementations of AEM's crypto: HmacSHA256 and AES-128). */
export const HMAC_BYTES = 32;
export const MASTER_BYTES = 16;

/** Tags on a key set's documents, valued with its secret's ARN, so the `aem-keys` CLI needs no `--document`. */
export const INSTALLER_DOCUMENT_TAG = 'aem-crypto-keys:installer-document';
export const EXPORT_DOCUMENT_TAG = 'aem-crypto-keys:export-document';

/** The two raw AEM keys. */
export interface KeySet {
  readonly hmac: Buffer;
  readonly master: Buffer;
}

const BASE64 = /^(?:[A-Za-z0-9+/]{4})*(?:[A-Za-z0-9+/]{2}==|[A-Za-z0-9+/]{3}=)?$/;

/** A fresh key set from the operating system's CSPRNG (32 + 16 bytes unless other sizes are given). */
export function generateKeySet(sizes = { hmac: HMAC_BYTES, master: MASTER_BYTES }): KeySet {
  return { hmac: randomBytes(sizes.hmac), master: randomBytes(sizes.master) };
}

/** The secret's JSON (`{"hmac","master"}` as base64); unknown fields are kept out. */
export function serializeKeySet(keys: KeySet): string {
  return JSON.stringify({ hmac: keys.hmac.toString('base64'), master: keys.master.toString('base64'), format: 1 });
}

/**
 * Reads a secret string. Throws one clear error that never quotes the value.
 */
export function parseKeySet(secretString: string, sizes = { hmac: HMAC_BYTES, master: MASTER_BYTES }): KeySet {
  let doc: unknown;
  try {
    doc = JSON.parse(secretString);
  } catch {
    throw new Error('the secret is not JSON');
  }
  if (typeof doc !== 'object' || doc === null || Array.isArray(doc)) {
    throw new Error('the secret is not a JSON object');
  }
  const fields = doc as Record<string, unknown>;
  return {
    hmac: decodeKey(fields, 'hmac', sizes.hmac),
    master: decodeKey(fields, 'master', sizes.master),
  };
}

function decodeKey(fields: Record<string, unknown>, name: string, size: number): Buffer {
  const value = fields[name];
  if (typeof value !== 'string') {
    throw new Error(`the secret has no "${name}" string`);
  }
  if (!BASE64.test(value)) {
    throw new Error(`"${name}" is not valid base64`);
  }
  const bytes = Buffer.from(value, 'base64');
  if (bytes.length !== size) {
    throw new Error(`"${name}" is ${bytes.length} bytes, expected ${size}`);
  }
  return bytes;
}

/** A short, safe-to-print fingerprint: the first 12 hex digits of SHA-256. Same as the installer prints. */
export function fingerprint(bytes: Buffer): string {
  return createHash('sha256').update(bytes).digest('hex').slice(0, 12);
}

/** True when both keys are byte-identical. */
export function sameKeys(a: KeySet, b: KeySet): boolean {
  return a.hmac.equals(b.hmac) && a.master.equals(b.master);
}
