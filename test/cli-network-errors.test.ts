import * as fs from 'fs';
import * as http from 'http';
import * as net from 'net';
import * as os from 'os';
import * as path from 'path';
import { SecretsManagerClient } from '@aws-sdk/client-secrets-manager';
import { ListDocumentsCommand, SSMClient } from '@aws-sdk/client-ssm';
import { explainNetworkErrors } from '../lib/cli/network-errors';
import { launchCli, runCli } from './support/cli-run';
import { closedPort } from './support/ports';

// A network failure names the call, the endpoint and what to check (it used to be only
// "aem-keys: connect ECONNREFUSED 127.0.0.1:9"). Only loopback is ever contacted.

const saved = { ...process.env };
beforeAll(() => {
  Object.assign(process.env, { AWS_ACCESS_KEY_ID: 'testing', AWS_SECRET_ACCESS_KEY: 'testing', AWS_EC2_METADATA_DISABLED: 'true', AWS_MAX_ATTEMPTS: '1' });
});
afterAll(() => {
  process.env = saved;
});

/** A loopback server; returns its endpoint and a stop function. */
async function serve(handler: http.RequestListener | ((socket: net.Socket) => void), raw = false) {
  const server = raw ? net.createServer(handler as (s: net.Socket) => void) : http.createServer(handler as http.RequestListener);
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  const port = (server.address() as net.AddressInfo).port;
  return { endpoint: `http://127.0.0.1:${port}`, port, stop: () => new Promise<void>((r) => server.close(() => r())) };
}

function keyFiles(): { hmac: string; master: string } {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'aem-keys-net-'));
  fs.writeFileSync(path.join(dir, 'hmac'), Buffer.alloc(32, 7));
  fs.writeFileSync(path.join(dir, 'master'), Buffer.alloc(16, 9));
  return { hmac: path.join(dir, 'hmac'), master: path.join(dir, 'master') };
}

const run = runCli;

const SECRET = 'arn:aws:secretsmanager:eu-west-1:123456789012:secret:aem-keys-AbCdEf';

test('import against an endpoint where nothing listens: one line naming the call, the endpoint and what to check', async () => {
  const port = await closedPort();
  const files = keyFiles();
  const r = await run(['import', '--secret', SECRET, '--hmac', files.hmac, '--master', files.master, '--endpoint-url', `http://127.0.0.1:${port}`]);
  expect(r.code).toBe(1);
  expect(r.stderr.trimEnd().split('\n')).toEqual([
    `aem-keys: SecretsManager.DescribeSecret to http://127.0.0.1:${port} failed: connect ECONNREFUSED 127.0.0.1:${port} (nothing listens there). `
    + 'Check --endpoint-url: is that service running and reachable from here?',
  ]);
});

test('an SSM call cut off mid-connection names SSM, the call and the endpoint', async () => {
  const server = await serve((socket: net.Socket) => socket.destroy(), true);
  try {
    const ssm = explainNetworkErrors(new SSMClient({ region: 'eu-west-1', endpoint: server.endpoint, maxAttempts: 1 }));
    await expect(ssm.send(new ListDocumentsCommand({}))).rejects.toThrow(
      new RegExp(`^SSM\\.ListDocuments to ${server.endpoint.replace(/\./g, '\\.')} failed: .*(ECONNRESET|socket hang up).*Check --endpoint-url`),
    );
  } finally {
    await server.stop();
  }
});

test('a service answer (HTTP 400) is not a network error: the service\'s own error passes through', async () => {
  const server = await serve((_req, res) => {
    res.writeHead(400, { 'content-type': 'application/x-amz-json-1.1' });
    res.end(JSON.stringify({ __type: 'ResourceNotFoundException', message: 'Secrets Manager can\'t find the specified secret.' }));
  });
  try {
    const sm = explainNetworkErrors(new SecretsManagerClient({ region: 'eu-west-1', endpoint: server.endpoint, maxAttempts: 1 }));
    const files = keyFiles();
    const r = await run(['import', '--secret', SECRET, '--hmac', files.hmac, '--master', files.master, '--endpoint-url', server.endpoint]);
    expect(r.code).toBe(1);
    expect(r.stderr).toContain('does not exist');
    expect(r.stderr).not.toContain('failed: ');
    expect(explainNetworkErrors(sm)).toBe(sm);
  } finally {
    await server.stop();
  }
});

test('the real launcher (errors from Node itself, outside jest) gives the same line', async () => {
  const port = await closedPort();
  const files = keyFiles();
  const result = launchCli(['import', '--secret', SECRET, '--hmac', files.hmac, '--master', files.master, '--endpoint-url', `http://127.0.0.1:${port}`], {
    AWS_MAX_ATTEMPTS: '1',
  });
  expect(result.code).toBe(1);
  expect(result.stderr.trimEnd().split('\n')).toEqual([
    `aem-keys: SecretsManager.DescribeSecret to http://127.0.0.1:${port} failed: connect ECONNREFUSED 127.0.0.1:${port} (nothing listens there). `
    + 'Check --endpoint-url: is that service running and reachable from here?',
  ]);
}, 60_000);

describe('endpoints', () => {
  // No endpoint variable but the one a test sets (as cli-manners.test.ts had it), and none left behind.
  let outer: NodeJS.ProcessEnv;
  beforeEach(() => {
    outer = process.env;
    process.env = { ...outer };
    for (const v of ['AWS_ENDPOINT_URL', 'AWS_ENDPOINT_URL_SECRETS_MANAGER', 'AWS_ENDPOINT_URL_SSM']) delete process.env[v];
  });
  afterEach(() => {
    process.env = outer;
  });

  test('an answer that is not JSON names the call and the endpoint', async () => {
    const server = await serve((req, res) => {
      req.resume();
      req.on('end', () => res.writeHead(200, { 'content-type': 'text/html' }).end('<html><body>Proxy login</body></html>'));
    });
    try {
      const files = keyFiles();
      const r = await runCli(['import', '--secret', SECRET, '--hmac', files.hmac, '--master', files.master, '--endpoint-url', server.endpoint]);
      expect(r.code).toBe(1);
      expect(r.stderr).toBe(`aem-keys: SecretsManager.DescribeSecret to ${server.endpoint}: the answer is not the service's JSON (HTTP 200). `
        + 'Check --endpoint-url: is it that AWS service\'s endpoint?\n');
    } finally {
      await server.stop();
    }
  });

  test('an unreachable AWS_ENDPOINT_URL is named as such', async () => {
    const port = await closedPort();
    process.env.AWS_ENDPOINT_URL = `http://127.0.0.1:${port}`;
    const files = keyFiles();
    const r = await runCli(['import', '--secret', SECRET, '--hmac', files.hmac, '--master', files.master]);
    expect(r.code).toBe(1);
    expect(r.stderr).toMatch(new RegExp(`^aem-keys: SecretsManager\\.DescribeSecret to http://127\\.0\\.0\\.1:${port} failed: .*ECONNREFUSED.*`
      + 'Check AWS_ENDPOINT_URL: is that service running and reachable from here\\?\\n$'));
  });
});
