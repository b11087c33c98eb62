import { spawnSync } from 'child_process';
import * as fs from 'fs';
import * as path from 'path';
import { awsStandInDir, realAws } from './support/aws-stand-in';
import { Moto, startMoto } from './support/moto';
import { TestSecrets } from './support/secrets';
import { describeWithTools } from './support/tools';

/**
 * The contract of the AWS CLI stand-in the script tests run (test/support/aws-stand-in): for
 * every invocation the on-instance scripts make (lib/scripts: get-secret-value and
 * put-secret-value, exactly as written there), against moto_server, the stand-in prints the same
 * stdout and stderr as the real AWS CLI and exits with the same status. Its fallback to the real
 * CLI is disabled for those, so the answers are its own.
 */
describeWithTools(['moto_server', 'aws'], 'AWS CLI stand-in against the real AWS CLI (moto_server)', () => {
  let moto: Moto;
  let secrets: TestSecrets;
  let standIn: string;
  let noFallback: string;
  const arns: Record<string, string> = {};

  beforeAll(async () => {
    moto = await startMoto();
    secrets = new TestSecrets(moto);
    standIn = path.join(awsStandInDir(), 'aws');
    noFallback = path.join(path.dirname(standIn), 'aws-no-fallback');
    const code = fs.readFileSync(standIn, 'utf8');
    expect(code).toContain(`REAL_AWS = ${JSON.stringify(realAws())}`);
    fs.writeFileSync(noFallback, code.replace(`REAL_AWS = ${JSON.stringify(realAws())}`, 'REAL_AWS = "/bin/false"'), { mode: 0o755 });
    arns.plain = await secrets.create('plain', JSON.stringify({ hmac: Buffer.alloc(32, 1).toString('base64'), master: Buffer.alloc(16, 2).toString('base64') }));
    // What the installer tests store: pretty-printed, '/' escaped, nested, non-ASCII, an emoji, a tab.
    arns.escaped = await secrets.create('escaped', '{\n  "format": 1,\n  "comment": {"nested": ["x", "\\"hmac\\""]},\n  "hmac" : "ab\\/cd",\n\t"master":"x"\n}');
    arns.unicode = await secrets.create('unicode', String.raw`{"username":"admin","password":"p\u00e4ss \"w0rd\" \\ $(x) \ud83d\ude00 \/"}`);
    arns.empty = await secrets.create('empty');
    arns.missing = arns.plain.replace(/secret:plain-/, 'secret:does-not-exist-');
  }, 60000);
  afterAll(async () => {
    secrets?.destroy();
    await moto?.stop();
  });

  /** Runs `cli` the way the scripts do: their environment (no locale), stdin (a pipe, as in export-keys.sh) given. */
  function run(cli: string, args: string[], stdin = '') {
    const input = path.join(path.dirname(standIn), 'stdin');
    fs.writeFileSync(input, stdin);
    const r = spawnSync('bash', ['-c', 'cat -- "$0" | "$@"', input, cli, ...args], {
      encoding: 'utf8',
      env: { ...moto.env, HOME: process.env.HOME ?? '/root', PATH: process.env.PATH!, AWS_PAGER: '' },
    });
    return { status: r.status, stdout: r.stdout, stderr: r.stderr };
  }

  const get = (id: string, region = 'us-east-1') => ['secretsmanager', 'get-secret-value', '--secret-id', id, '--region', region, '--query', 'SecretString', '--output', 'text'];
  const put = (id: string) => ['secretsmanager', 'put-secret-value', '--secret-id', id, '--region', 'us-east-1', '--secret-string', 'file:///dev/stdin', '--query', 'VersionId', '--output', 'text'];

  test.each([
    ['a key set', 'plain'],
    ['pretty-printed JSON with escapes, a tab and newlines', 'escaped'],
    ['non-ASCII and an emoji (JSON escapes)', 'unicode'],
    ['a secret without a value (AWSCURRENT missing)', 'empty'],
    ['a secret that does not exist', 'missing'],
  ])('get-secret-value, %s: same stdout, stderr and status', (_name, which) => {
    const real = run(realAws(), get(arns[which]));
    expect(run(noFallback, get(arns[which]))).toEqual(real);
    expect(run(standIn, get(arns[which]))).toEqual(real);
    if (which === 'missing' || which === 'empty') expect(real.status).not.toBe(0);
    else expect(real.stdout.length).toBeGreaterThan(1);
  });

  test('get-secret-value by name and in another region: same answers', () => {
    for (const args of [get('plain'), get(arns.plain, 'eu-west-1')]) {
      expect(run(noFallback, args)).toEqual(run(realAws(), args));
    }
  });

  test('put-secret-value from stdin: the same value stored, a version ID printed, the same errors', async () => {
    const value = '{"hmac":"' + Buffer.alloc(32, 3).toString('base64') + '","master":"' + Buffer.alloc(16, 4).toString('base64') + '","format":1}';
    const real = run(realAws(), put(arns.empty), value);
    expect(real).toEqual({ status: 0, stdout: expect.any(String), stderr: '' });
    const realStored = await secrets.value(arns.empty);
    const mine = run(noFallback, put(arns.empty), value.replace('"format":1', '"format":1 '));
    expect(await secrets.value(arns.empty)).toBe(value.replace('"format":1', '"format":1 '));
    expect(realStored).toBe(value);
    for (const r of [real, mine]) {
      expect(r.stderr).toBe('');
      expect(r.status).toBe(0);
      expect(r.stdout).toMatch(/^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}\n$/);
    }
    expect((await secrets.versions(arns.empty))).toEqual(expect.arrayContaining([real.stdout.trim(), mine.stdout.trim()]));
    expect(run(noFallback, put(arns.missing), value)).toEqual(run(realAws(), put(arns.missing), value));
  });

  test('any other command line runs the real CLI', () => {
    const args = ['secretsmanager', 'describe-secret', '--secret-id', arns.plain, '--region', 'us-east-1', '--query', 'Name', '--output', 'text'];
    expect(run(standIn, args)).toEqual(run(realAws(), args));
    expect(run(noFallback, args).status).toBe(1); // /bin/false: it did not answer this itself
    expect(run(noFallback, [...get(arns.plain), '--debug']).status).toBe(1);
  });
});
