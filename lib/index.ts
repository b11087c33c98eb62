export * from './aem-crypto-keys';
export * from './key-source';
export * from './installer-options';
export * from './installer-document';
export type { KeySet } from './key-set';
export { HMAC_BYTES, MASTER_BYTES, parseKeySet, serializeKeySet, fingerprint } from './key-set';
export * from './lifecycle-gate';
export * from './tag-association';
