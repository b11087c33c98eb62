import { OperationError } from './import-keys';

/** Error codes of a request that never got an answer from the service (Node.js and the SDK's HTTP handler). */
const NETWORK_CODES = new Set([
  'ECONNREFUSED', 'ECONNRESET', 'ENOTFOUND', 'EAI_AGAIN', 'ETIMEDOUT', 'EHOSTUNREACH', 'ENETUNREACH', 'EPIPE', 'ECONNABORTED',
  'CERT_HAS_EXPIRED', 'UNABLE_TO_VERIFY_LEAF_SIGNATURE', 'SELF_SIGNED_CERT_IN_CHAIN', 'DEPTH_ZERO_SELF_SIGNED_CERT',
]);

/** The parts of an AWS SDK v3 client this needs (SecretsManagerClient, SSMClient, …). */
interface SdkClient {
  readonly middlewareStack: { add(middleware: any, options: { step: 'initialize'; name: string; priority?: 'high' | 'low' }): void };
  readonly config: { endpoint?: () => Promise<{ protocol: string; hostname: string; port?: number; path: string }> };
}

const explained = new WeakSet<object>();

/** The SDK's retry layer may hand on only the text of an error from another realm ("AWS SDK error wrapper for Error: connect ECONNREFUSED …"). */
const WRAPPER_PREFIX = /^AWS SDK error wrapper for (\w*Error: )?/;
const NETWORK_TEXT = new RegExp(`\\b(${[...NETWORK_CODES].join('|')})\\b|socket hang up|^TimeoutError`);

/** True for an error where no service answered (refused, unresolvable, unreachable, timed out, TLS). */
export function isNetworkError(e: unknown): boolean {
  const err = e as { code?: string; name?: string; message?: string; $metadata?: { httpStatusCode?: number } } | undefined;
  if (!err || err.$metadata?.httpStatusCode) return false;
  if (NETWORK_CODES.has(err.code ?? '') || err.name === 'TimeoutError' || err.name === 'RequestTimeout') return true;
  return WRAPPER_PREFIX.test(err.message ?? '') && NETWORK_TEXT.test((err.message ?? '').replace(WRAPPER_PREFIX, ''));
}

/**
 * Makes a network failure of any call of `client` one clear error: which call, to which endpoint,
 * what happened, and what to check, e.g.
 * `SecretsManager.DescribeSecret to http://127.0.0.1:9 failed: connect ECONNREFUSED 127.0.0.1:9 (nothing answered). Check ...`.
 * Service errors (an HTTP answer) pass through unchanged. Applying it twice changes nothing.
 */
export function explainNetworkErrors<T extends object>(client: T, endpointVariable?: string): T {
  const endpointFlag = endpointVariable ?? '--endpoint-url';
  if (explained.has(client)) return client;
  explained.add(client);
  const sdk = client as unknown as SdkClient;
  sdk.middlewareStack.add((next: (args: unknown) => Promise<unknown>, context: Record<string, any>) => async (args: unknown) => {
    try {
      return await next(args);
    } catch (e) {
      const network = isNetworkError(e);
      if (!network && !isUnreadableAnswer(e)) throw e;
      const service = String(context.clientName ?? 'AWS').replace(/Client$/, '');
      const call = String(context.commandName ?? 'request').replace(/Command$/, '');
      const endpoint = await endpointOf(sdk, context);
      const custom = endpoint.custom || endpointVariable !== undefined;
      if (!network) {
        const status = (e as { $metadata?: { httpStatusCode?: number } }).$metadata?.httpStatusCode;
        throw new OperationError(`${service}.${call} to ${endpoint.url}: the answer is not the service's JSON`
          + `${status ? ` (HTTP ${status})` : ''}. ${custom ? `Check ${endpointFlag}: is it that AWS service's endpoint?` : 'A proxy may have answered.'}`);
      }
      throw new OperationError(`${service}.${call} to ${endpoint.url} failed: ${reason(e)}. ${advice(custom, endpointFlag)}`);
    }
  }, { step: 'initialize', name: 'aemKeysExplainNetworkErrors', priority: 'high' });
  return client;
}

/** An answer the SDK could not parse (an HTML page, a proxy's error, another service): its deserializer fails. */
function isUnreadableAnswer(e: unknown): boolean {
  const err = e as { name?: string; message?: string; $response?: unknown } | undefined;
  return !!err && (/Deserialization error|Unexpected token|is not valid JSON|Expected ',' or/.test(err.message ?? '') || err.name === 'SyntaxError');
}

async function endpointOf(sdk: SdkClient, context: Record<string, any>): Promise<{ url: string; custom: boolean }> {
  const custom = sdk.config.endpoint ? await sdk.config.endpoint() : undefined;
  if (custom) {
    return { url: `${custom.protocol}//${custom.hostname}${custom.port ? `:${custom.port}` : ''}${custom.path === '/' ? '' : custom.path}`, custom: true };
  }
  const resolved = context.endpointV2?.url;
  return { url: resolved ? String(resolved).replace(/\/$/, '') : 'the default AWS endpoint', custom: false };
}

function reason(e: unknown): string {
  const err = e as { code?: string; message?: string; name?: string };
  const text = (err.message || err.code || err.name || 'unknown error').replace(WRAPPER_PREFIX, '').split('\n')[0].slice(0, 200);
  const code = err.code ?? /\b(E[A-Z]{3,})\b/.exec(text)?.[1];
  const what: Record<string, string> = {
    ECONNREFUSED: 'nothing listens there',
    ENOTFOUND: 'the host name does not resolve',
    EAI_AGAIN: 'DNS did not answer',
    ETIMEDOUT: 'no answer in time',
    EHOSTUNREACH: 'no route to the host',
    ENETUNREACH: 'no route to the network',
    ECONNRESET: 'the connection was cut',
  };
  const hint = what[code ?? ''] ?? (err.name === 'TimeoutError' ? 'no answer in time' : '');
  return hint ? `${text} (${hint})` : text;
}

function advice(custom: boolean, endpointFlag: string): string {
  return custom
    ? `Check ${endpointFlag}: is that service running and reachable from here?`
    : 'Check --region, and that this host reaches AWS over HTTPS (network, proxy settings such as HTTPS_PROXY, VPC endpoints, firewall).';
}
