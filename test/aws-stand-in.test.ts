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
 * put-secret-value, and aemkeys_logged's create-log-stream and put-log-events, exactly as written
 * there), against moto_server, the stand-in prints the same stdout and stderr as the real AWS CLI
 * and exits with the same status. Its fallback to the real CLI is disabled for those, so the
 * answers are its own; a CloudWatch Logs call that does not succeed is the real CLI's.
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
  function runWith(cli: string, args: string[], stdin: string | Buffer, env: Record<string, string>) {
    const input = path.join(path.dirname(standIn), 'stdin');
    fs.writeFileSync(input, stdin);
    const r = spawnSync('bash', ['-c', 'cat -- "$0" | "$@"', input, cli, ...args], {
      encoding: 'utf8',
      env: { ...moto.env, HOME: process.env.HOME ?? '/root', PATH: process.env.PATH!, AWS_PAGER: '', ...env },
    });
    return { status: r.status, stdout: r.stdout, stderr: r.stderr };
  }
  const run = (cli: string, args: string[], stdin = '') => runWith(cli, args, stdin, {});

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

  const keySetValue = '{"hmac":"' + Buffer.alloc(32, 3).toString('base64') + '","master":"' + Buffer.alloc(16, 4).toString('base64') + '","format":1}';

  test('put-secret-value from stdin: the same value stored, a version ID printed', async () => {
    const value = keySetValue;
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
  });

  test('put-secret-value to a secret that does not exist: the same error', () => {
    expect(run(noFallback, put(arns.missing), keySetValue)).toEqual(run(realAws(), put(arns.missing), keySetValue));
  });

  const logs = (operation: 'create-log-stream' | 'put-log-events', group: string, stream: string) => ['logs', operation, '--region', 'us-east-1',
    '--log-group-name', group, '--log-stream-name', stream, ...(operation === 'put-log-events' ? ['--log-events', 'file:///dev/stdin'] : [])];

  test('CloudWatch Logs, as aemkeys_logged calls it: a stream made and events put, the same output; the same events stored', () => {
    const group = '/aem/stand-in';
    expect(run(realAws(), ['logs', 'create-log-group', '--log-group-name', group, '--region', 'us-east-1'])).toEqual({ status: 0, stdout: '', stderr: '' });
    const events = JSON.stringify([{ timestamp: Date.now(), message: 'hmac: 0123abcd4567 replaced (was 89ab) \\ "q" ü' }, { timestamp: Date.now() + 1, message: 'association run: changed (exit 0)' }]);
    const answers = ['real', 'mine'].map((who) => {
      const cli = who === 'real' ? realAws() : noFallback;
      return [run(cli, logs('create-log-stream', group, who)), run(cli, logs('put-log-events', group, who), events)];
    });
    expect(answers[1]).toEqual(answers[0]);
    expect(answers[0][0]).toEqual({ status: 0, stdout: '', stderr: '' });
    expect(answers[0][1]).toEqual({ status: 0, stdout: expect.stringMatching(/^\{\n {4}"nextSequenceToken": "\d+"\n\}\n$/), stderr: '' });
    const stored = ['real', 'mine'].map((stream) => JSON.parse(run(realAws(), ['logs', 'get-log-events', '--log-group-name', group, '--log-stream-name', stream,
      '--start-from-head', '--region', 'us-east-1', '--query', 'events[].[timestamp,message]', '--output', 'json']).stdout));
    expect(stored[1]).toEqual(stored[0]);
    expect(stored[0]).toEqual(JSON.parse(events).map((e: { timestamp: number; message: string }) => [e.timestamp, e.message]));
  });

  test('CloudWatch Logs errors are the real CLI\'s own (no such group, text that is not UTF-8, nothing listening)', () => {
    const cases: Array<[string[], string | Buffer, Record<string, string>]> = [
      [logs('create-log-stream', '/aem/missing', 's'), '', {}],
      [logs('put-log-events', '/aem/missing', 's'), '[{"timestamp":1,"message":"x"}]', {}],
      [logs('put-log-events', '/aem/stand-in', 'real'), Buffer.from([0x5b, 0xff, 0xfe, 0x5d]), {}],
      [logs('create-log-stream', '/aem/stand-in', 'x'), '', { AWS_ENDPOINT_URL: 'http://127.0.0.1:9', AWS_MAX_ATTEMPTS: '1' }],
    ];
    // One after the other: pyenv's aws shim, run several times at once, can print its own rehash
    // errors on stderr.
    for (const [args, stdin, env] of cases) {
      const real = runWith(realAws(), args, stdin, env);
      expect(real.status).not.toBe(0);
      expect(runWith(standIn, args, stdin, env)).toEqual(real);
      expect(runWith(noFallback, args, stdin, env).status).toBe(1); // /bin/false: it did not answer this itself
    }
  });

  test('any other command line runs the real CLI', () => {
    const args = ['secretsmanager', 'describe-secret', '--secret-id', arns.plain, '--region', 'us-east-1', '--query', 'Name', '--output', 'text'];
    expect(run(standIn, args)).toEqual(run(realAws(), args));
    expect(run(noFallback, args).status).toBe(1); // /bin/false: it did not answer this itself
    expect(run(noFallback, [...get(arns.plain), '--debug']).status).toBe(1);
  });
});
