"use strict";
var __defProp = Object.defineProperty;
var __getOwnPropDesc = Object.getOwnPropertyDescriptor;
var __getOwnPropNames = Object.getOwnPropertyNames;
var __hasOwnProp = Object.prototype.hasOwnProperty;
var __export = (target, all) => {
  for (var name in all)
    __defProp(target, name, { get: all[name], enumerable: true });
};
var __copyProps = (to, from, except, desc) => {
  if (from && typeof from === "object" || typeof from === "function") {
    for (let key of __getOwnPropNames(from))
      if (!__hasOwnProp.call(to, key) && key !== except)
        __defProp(to, key, { get: () => from[key], enumerable: !(desc = __getOwnPropDesc(from, key)) || desc.enumerable });
  }
  return to;
};
var __toCommonJS = (mod) => __copyProps(__defProp({}, "__esModule", { value: true }), mod);

// lib/handlers/generate-keys.ts
var generate_keys_exports = {};
__export(generate_keys_exports, {
  handler: () => handler,
  useClient: () => useClient,
  usePollInterval: () => usePollInterval
});
module.exports = __toCommonJS(generate_keys_exports);
var import_client_secrets_manager = require("@aws-sdk/client-secrets-manager");

// lib/private/key-set.ts
var import_crypto = require("crypto");
var HMAC_BYTES = 32;
var MASTER_BYTES = 16;
var BASE64 = /^(?:[A-Za-z0-9+/]{4})*(?:[A-Za-z0-9+/]{2}==|[A-Za-z0-9+/]{3}=)?$/;
function generateKeySet(sizes = { hmac: HMAC_BYTES, master: MASTER_BYTES }) {
  return { hmac: (0, import_crypto.randomBytes)(sizes.hmac), master: (0, import_crypto.randomBytes)(sizes.master) };
}
function serializeKeySet(keys) {
  return JSON.stringify({ hmac: keys.hmac.toString("base64"), master: keys.master.toString("base64"), format: 1 });
}
function parseKeySet(secretString, sizes = { hmac: HMAC_BYTES, master: MASTER_BYTES }) {
  let doc;
  try {
    doc = JSON.parse(secretString);
  } catch {
    throw new Error("the secret is not JSON");
  }
  if (typeof doc !== "object" || doc === null || Array.isArray(doc)) {
    throw new Error("the secret is not a JSON object");
  }
  const fields = doc;
  return {
    hmac: decodeKey(fields, "hmac", sizes.hmac),
    master: decodeKey(fields, "master", sizes.master)
  };
}
function decodeKey(fields, name, size) {
  const value = fields[name];
  if (typeof value !== "string") {
    throw new Error(`the secret has no "${name}" string`);
  }
  if (!BASE64.test(value)) {
    throw new Error(`"${name}" is not valid base64`);
  }
  const bytes = Buffer.from(value, "base64");
  if (bytes.length !== size) {
    throw new Error(`"${name}" is ${bytes.length} bytes, expected ${size}`);
  }
  return bytes;
}

// lib/handlers/generate-keys.ts
var client = new import_client_secrets_manager.SecretsManagerClient({});
var pollMilliseconds = 5e3;
function useClient(other) {
  client = other;
}
function usePollInterval(milliseconds) {
  pollMilliseconds = milliseconds;
}
async function handler(event) {
  const secretId = event.ResourceProperties.SecretId;
  if (!secretId) {
    throw new Error("SecretId is required");
  }
  if (event.RequestType === "Delete") {
    return { PhysicalResourceId: event.PhysicalResourceId ?? secretId, Data: { Generated: "false" } };
  }
  const sizes = {
    hmac: keySize("HmacBytes", event.ResourceProperties.HmacBytes, HMAC_BYTES),
    master: keySize("MasterBytes", event.ResourceProperties.MasterBytes, MASTER_BYTES)
  };
  const replicas = event.ResourceProperties.ReplicaRegions ?? [];
  const waitSeconds = replicaWait(event.ResourceProperties.ReplicaWaitSeconds);
  if (await hasCurrentValue(secretId)) {
    await checkExistingValue(secretId, sizes);
    await waitForReplicas(secretId, replicas, waitSeconds);
    return { PhysicalResourceId: secretId, Data: { Generated: "false" } };
  }
  refuseReplacedSecret(event, secretId);
  await client.send(new import_client_secrets_manager.PutSecretValueCommand({
    SecretId: secretId,
    SecretString: serializeKeySet(generateKeySet(sizes)),
    ClientRequestToken: event.RequestId
  }));
  await waitForReplicas(secretId, replicas, waitSeconds);
  return { PhysicalResourceId: secretId, Data: { Generated: "true" } };
}
async function waitForReplicas(secretId, regions, waitSeconds) {
  if (regions.length === 0) {
    return;
  }
  const deadline = Date.now() + waitSeconds * 1e3;
  for (; ; ) {
    const description = await client.send(new import_client_secrets_manager.DescribeSecretCommand({ SecretId: secretId }));
    const statuses = description.ReplicationStatus ?? [];
    const pending = [];
    for (const region of regions) {
      const status = statuses.find((s) => s.Region === region);
      if (!status) {
        throw new Error(replicaError(secretId, region, "is missing (Secrets Manager removes a replica left without a usable version)"));
      }
      if (status.Status === "Failed") {
        const why = status.StatusMessage ? ` (${status.StatusMessage})` : "";
        throw new Error(replicaError(secretId, region, `failed to replicate${why}`, status.KmsKeyId));
      }
      if (status.Status !== "InSync") {
        pending.push(region);
      }
    }
    if (pending.length === 0) {
      return;
    }
    if (Date.now() + pollMilliseconds > deadline) {
      throw new Error(replicaError(secretId, pending[0], `is still ${statuses.find((s) => s.Region === pending[0])?.Status ?? "not InSync"} after ${waitSeconds} s`, statuses.find((s) => s.Region === pending[0])?.KmsKeyId));
    }
    await new Promise((resolve) => setTimeout(resolve, pollMilliseconds));
  }
}
function replicaError(secretId, region, what, keyId) {
  return `the replica of ${secretId} in ${region} ${what}. Likely cause: the writer (this generator's role) may not use the replica's KMS key ${keyId ?? "(its encryptionKey in replicaRegions)"} in ${region} (kms:GenerateDataKey and kms:Encrypt, in IAM and in the key policy), or that key is disabled, pending deletion or missing. Fix it, then deploy again (aws secretsmanager describe-secret shows ReplicationStatus).`;
}
function replicaWait(value) {
  if (value === void 0 || value === "") {
    return 300;
  }
  if (!/^[0-9]{1,4}$/.test(value)) {
    throw new Error(`ReplicaWaitSeconds must be a whole number of seconds, got ${JSON.stringify(value)}`);
  }
  return Number(value);
}
function refuseReplacedSecret(event, secretId) {
  const previous = event.OldResourceProperties?.SecretId;
  if (event.RequestType === "Update" && previous && previous !== secretId) {
    throw new Error(`the key set's secret was replaced (${previous} -> ${secretId}); refusing to generate new keys. Revert the change, or copy the keys into the new secret first (aem-keys import) and deploy again.`);
  }
}
async function hasCurrentValue(secretId) {
  const description = await client.send(new import_client_secrets_manager.DescribeSecretCommand({ SecretId: secretId }));
  if (description.DeletedDate) {
    throw new Error(`secret ${secretId} is scheduled for deletion; restore it (aws secretsmanager restore-secret) before deploying`);
  }
  const stages = Object.values(description.VersionIdsToStages ?? {});
  return stages.some((labels) => labels.includes("AWSCURRENT"));
}
function keySize(name, value, fallback) {
  if (value === void 0 || value === "") {
    return fallback;
  }
  const text = String(value);
  if (!/^[1-9][0-9]{0,3}$/.test(text) || Number(text) > 4096) {
    throw new Error(`${name} must be an integer from 1 to 4096, got ${JSON.stringify(text)}`);
  }
  return Number(text);
}
async function checkExistingValue(secretId, sizes) {
  const current = await client.send(new import_client_secrets_manager.GetSecretValueCommand({ SecretId: secretId }));
  try {
    parseKeySet(current.SecretString ?? "", sizes);
  } catch (e) {
    throw new Error(`secret ${secretId} already holds a value that is not an AEM key set (${e.message}); refusing to overwrite it`, { cause: e });
  }
}
// Annotate the CommonJS export names for ESM import in node:
0 && (module.exports = {
  handler,
  useClient,
  usePollInterval
});
