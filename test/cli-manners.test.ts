import * as fs from 'fs';
import * as http from 'http';
import * as net from 'net';
import * as os from 'os';
import * as path from 'path';
import { DescribeSecretCommand, SecretsManagerClient } from '@aws-sdk/client-secrets-manager';
import { SSMClient } from '@aws-sdk/client-ssm';
import { mockClient } from 'aws-sdk-client-mock';
import { runCli } from './support/cli-run';

// Issue 19 item 5: the CLI behaves like the AWS CLI an operator knows. Only loopback is contacted.

const saved = { ...process.env };
beforeEach(() => {
  process.env = { ...saved, AWS_ACCESS_KEY_ID: 'testing', AWS_SECRET_ACCESS_KEY: 'testing', AWS_EC2_METADATA_DISABLED: 'true', AWS_MAX_ATTEMPTS: '1' };
  for (const v of ['AWS_REGION', 'AWS_DEFAULT_REGION', 'AWS_PROFILE', 'AWS_ENDPOINT_URL', 'AWS_ENDPOINT_URL_SECRETS_MANAGER', 'AWS_ENDPOINT_URL_SSM']) delete process.env[v];
  process.env.AWS_CONFIG_FILE = '/dev/null';
  process.env.AWS_SHARED_CREDENTIALS_FILE = '/dev/null';
});
afterAll(() => {
  process.env = saved;
});

const SECRET = 'arn:aws:secretsmanager:eu-west-1:123456789012:secret:aem-keys-AbCdEf';

function keyFiles(): { hmac: string; master: string } {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'aem-keys-manners-'));
  fs.writeFileSync(path.join(dir, 'hmac'), Buffer.alloc(32, 7));
  fs.writeFileSync(path.join(dir, 'master'), Buffer.alloc(16, 9));
  return { hmac: path.join(dir, 'hmac'), master: path.join(dir, 'master') };
}

/** A loopback HTTP server recording each request's Host header; answers with `body`. */
async function serve(body: string, status = 200) {
  const hosts: string[] = [];
  const server = http.createServer((req, res) => {
    hosts.push(String(req.headers.authorization ?? ''));
    req.resume();
    req.on('end', () => res.writeHead(status, { 'content-type': 'text/html' }).end(body));
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  const port = (server.address() as net.AddressInfo).port;
  return { endpoint: `http://127.0.0.1:${port}`, hosts, stop: () => new Promise<void>((r) => server.close(() => r())) };
}

test('--version prints the package version', async () => {
  const r = await runCli(['--version']);
  expect(r).toEqual({ code: 0, stdout: `aem-keys ${JSON.parse(fs.readFileSync(path.join(__dirname, '..', 'package.json'), 'utf8')).version} (cdk-aem-crypto-keys)\n`, stderr: '' });
});

test('bare aem-keys prints the help to stderr and exits 2', async () => {
  const bare = await runCli([]);
  expect(bare.code).toBe(2);
  expect(bare.stdout).toBe('');
  expect(bare.stderr).toMatch(/^aem-keys: manage the shared AEM crypto keys/);
});

test('--help prints the same help to stdout', async () => {
  const bare = await runCli([]);
  const help = await runCli(['--help']);
  expect(help.code).toBe(0);
  expect(help.stdout).toBe(bare.stderr);
});

test('--json failures print a JSON error object on stdout (and the line on stderr)', async () => {
  const r = await runCli(['import', '--secret', SECRET, '--hmac', '/nonexistent/hmac', '--master', '/nonexistent/master', '--json']);
  expect(r.code).toBe(1);
  expect(JSON.parse(r.stdout)).toEqual({ error: '--hmac: cannot read /nonexistent/hmac: no such file (ENOENT)', exitCode: 1 });
  expect(r.stderr).toBe('aem-keys: --hmac: cannot read /nonexistent/hmac: no such file (ENOENT)\n');
});

test('--json usage errors print a JSON error object too, exit 2', async () => {
  const usage = await runCli(['rollout', '--json']);
  expect(usage.code).toBe(2);
  expect(JSON.parse(usage.stdout)).toMatchObject({ exitCode: 2, error: expect.stringContaining('--secret') });
});

test('"cannot read FILE" says why', async () => {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'aem-keys-manners-'));
  const r = await runCli(['import', '--secret', SECRET, '--hmac', path.join(dir, 'missing'), '--master', path.join(dir, 'm')]);
  expect(r.stderr).toBe(`aem-keys: --hmac: cannot read ${path.join(dir, 'missing')}: no such file (ENOENT)\n`);
});

test('AWS errors become one line, exit 1', async () => {
  // Mocked clients (these instances only): nothing is sent.
  const secretsManager = new SecretsManagerClient({ region: 'eu-west-1' });
  const ssm = new SSMClient({ region: 'eu-west-1' });
  mockClient(ssm);
  mockClient(secretsManager).on(DescribeSecretCommand)
    .rejects(Object.assign(new Error('User is not authorized to perform: secretsmanager:DescribeSecret\nmore'), { name: 'AccessDeniedException' }));
  const r = await runCli(['status', '--secret', SECRET, '--targets', 'tag:a=b'], { pollMs: 1, sleep: async () => undefined, ssm, secretsManager });
  expect(r.code).toBe(1);
  expect(r.stderr).toBe('aem-keys: AccessDeniedException: User is not authorized to perform: secretsmanager:DescribeSecret\n');
});

describe('region', () => {
  test('--region disagreeing with the secret ARN says so', async () => {
    const r = await runCli(['import', '--secret', SECRET, '--hmac', 'x', '--master', 'y', '--region', 'us-east-1']);
    expect(r.code).toBe(2);
    expect(r.stderr).toBe('aem-keys: import: --region us-east-1 disagrees with the secret ARN, which is in eu-west-1; '
      + 'leave --region out or name the secret in us-east-1\n');
  });

  test('--secret NAME takes AWS_DEFAULT_REGION as the AWS CLI does (AWS_REGION first)', async () => {
    const server = await serve('{}', 400);
    try {
      const files = keyFiles();
      const args = ['import', '--secret', 'aem-keys', '--hmac', files.hmac, '--master', files.master, '--endpoint-url', server.endpoint];
      process.env.AWS_DEFAULT_REGION = 'ap-southeast-2';
      await runCli(args);
      process.env.AWS_REGION = 'ca-central-1';
      await runCli(args);
      // SigV4 names the region in the credential scope of each request.
      expect(server.hosts.map((a) => /Credential=[^/]+\/\d+\/([a-z0-9-]+)\//.exec(a)?.[1])).toEqual(['ap-southeast-2', 'ca-central-1']);
    } finally {
      await server.stop();
    }
  });
});
