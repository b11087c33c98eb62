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
  useClient: () => useClient
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
function useClient(other) {
  client = other;
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
  if (await hasCurrentValue(secretId)) {
    await checkExistingValue(secretId, sizes);
    return { PhysicalResourceId: secretId, Data: { Generated: "false" } };
  }
  refuseReplacedSecret(event, secretId);
  await client.send(new import_client_secrets_manager.PutSecretValueCommand({
    SecretId: secretId,
    SecretString: serializeKeySet(generateKeySet(sizes)),
    ClientRequestToken: event.RequestId
  }));
  return { PhysicalResourceId: secretId, Data: { Generated: "true" } };
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
  useClient
});
