/**
 * The installer's own log shipping (document parameter LogGroupName, set by tag associations,
 * which have no CloudWatchOutputConfig): the real shell against moto_server's CloudWatch Logs on
 * 127.0.0.1 with the real AWS CLI. What arrives, how it is escaped, that it never holds key
 * material, that the metric filters count it, and that a failure to send changes nothing but one
 * warning line.
 */
import { spawnSync } from 'child_process';
import { randomBytes } from 'crypto';
import * as fs from 'fs';
import * as os from 'os';
import * as path from 'path';
import { ASSOCIATION_CHANGED_PATTERN, ASSOCIATION_FAILURE_PATTERN } from '../lib/private/association-results';
import { INSTALLER_PARAMETER_RULES } from '../lib/private/installer-checks';
import { CHANGED_PATTERN, ERROR_PATTERN } from '../lib/private/key-set-logs';
import { awsStandInDir, plainPython } from './support/aws-stand-in';
import { countMatches } from './support/filter-pattern';
import { outputLines, plant, renderScript, RunResult, runScript, snapshotTree, synthInstaller } from './support/installer-harness';
import { scanText } from './support/key-scan';
import { keySetInstance } from './support/key-set-instance';
import { Moto, startMoto } from './support/moto';
import { describeWithTools, strace } from './support/tools';

const COMMON = path.join(__dirname, '..', 'lib', 'scripts', 'aem-keys-common.sh');
/** One stream per instance (issue 18: a burst of new instances makes one CreateLogStream call each, later runs none). */
const STREAM = /^association\/([^/]+)$/;

interface Event { timestamp: number; message: string }

/**
 * One CloudWatch Logs API call to moto_server (its JSON protocol; moto checks no signature), for
 * what the tests set up and read back: a process start, not an AWS CLI start (about a second each).
 */
function logsApi(moto: Moto, operation: string, body: Record<string, unknown>): any {
  const args = ['-c', LOGS_API, moto.endpoint, operation, JSON.stringify(body), moto.env.AWS_ACCESS_KEY_ID ?? 'testing'];
  const r = spawnSync(plainPython(), args, { encoding: 'utf8', maxBuffer: 64 * 1024 * 1024 });
  if (r.status !== 0) throw new Error(`${operation}: ${r.stderr}`);
  return r.stdout.trim() === '' ? {} : JSON.parse(r.stdout);
}
const LOGS_API = [
  'import sys, urllib.request',
  'endpoint, operation, body, key = sys.argv[1:]',
  "request = urllib.request.Request(endpoint.rstrip('/') + '/', data=body.encode(), method='POST', headers={",
  "    'Content-Type': 'application/x-amz-json-1.1', 'X-Amz-Target': 'Logs_20140328.' + operation,",
  "    'Authorization': 'AWS4-HMAC-SHA256 Credential=%s/20260101/us-east-1/logs/aws4_request, SignedHeaders=host, Signature=0' % key})",
  'sys.stdout.write(urllib.request.build_opener(urllib.request.ProxyHandler({})).open(request, timeout=60).read().decode())',
].join('\n');

/** The names of the group's streams, oldest first. */
function streamNames(moto: Moto, group: string): string[] {
  const streams: Array<{ logStreamName: string; creationTime: number }> = logsApi(moto, 'DescribeLogStreams', { logGroupName: group }).logStreams;
  return streams.sort((a, b) => a.creationTime - b.creationTime || a.logStreamName.localeCompare(b.logStreamName)).map((s) => s.logStreamName);
}

/** The streams of the group after the first `skip` (oldest first), with their events. */
function readGroup(moto: Moto, group: string, skip = 0): Array<{ name: string; events: Event[] }> {
  return streamNames(moto, group).slice(skip).map((name) => ({
    name,
    events: logsApi(moto, 'GetLogEvents', { logGroupName: group, logStreamName: name, startFromHead: true }).events,
  }));
}

describe('LogGroupName: one rule', () => {
  test('the script checks the rule table\'s expression, and agrees with it on samples', () => {
    const common = fs.readFileSync(COMMON, 'utf8');
    const fn = common.slice(common.indexOf('aemkeys_logged() {'));
    const re = /^ {2}local re='([^']*)'/m.exec(fn)?.[1];
    expect(re).toBe(INSTALLER_PARAMETER_RULES.LogGroupName.allowedPattern);
    for (const v of ['/aem/keys', 'Keys-LogsLogGroup_1.x#2', 'a'.repeat(512), 'a'.repeat(513), 'a:b', 'a b', 'a*', 'ü', '$(id)']) {
      const bash = spawnSync('bash', ['-c', 're=$1; [[ $2 =~ $re ]]', '_', re!, v]).status === 0;
      expect({ v, bash }).toEqual({ v, bash: new RegExp(re!).test(v) });
    }
  });
});

describe('issue 18: a burst of new instances and CreateLogStream (50 calls a second per account and region)', () => {
  test('200 instances\' first runs spread their one CreateLogStream call over 10 s: at most 50 in any second', () => {
    // The delays aemkeys_log_spread would sleep (its sleep replaced by a print), for 200 first runs.
    const script = '. "$1"; sleep() { echo "$1"; }; for i in {1..200}; do aemkeys_log_spread; echo -; done';
    const r = spawnSync('bash', ['-c', script, '_', COMMON], { encoding: 'utf8', env: {} });
    const delays = r.stdout.split('-\n').slice(0, -1).map((d) => (d.trim() === '' ? 0 : Number(d.trim())));
    expect(delays).toHaveLength(200);
    expect(Math.min(...delays)).toBeGreaterThanOrEqual(0);
    expect(Math.max(...delays)).toBeLessThanOrEqual(10);
    const perSecond = new Array(11).fill(0);
    for (const d of delays) perSecond[Math.floor(d)]++;
    expect(Math.max(...perSecond)).toBeLessThanOrEqual(50);
    // Later runs of an instance make no call at all (the aemkeys_logged tests below).
  });
});

describeWithTools(['moto_server', 'aws'], 'aemkeys_logged: the shell path against CloudWatch Logs (moto_server, real AWS CLI)', () => {
  let moto: Moto;
  let dir: string;
  const group = '/aem/keys-unit';

  beforeAll(async () => {
    moto = await startMoto();
    logsApi(moto, 'CreateLogGroup', { logGroupName: group });
    dir = fs.mkdtempSync(path.join(os.tmpdir(), 'aem-keys-logged-'));
  }, 60000);

  afterAll(async () => {
    await moto?.stop();
    if (dir) fs.rmSync(dir, { recursive: true, force: true });
  });

  /**
   * Runs `aemkeys_logged GROUP us-east-1 emit` where `emit` prints `out` (bytes) on stdout and
   * `err` on stderr and returns `status`.
   */
  const logged = (opts: { out: Buffer | string; err?: string; status?: number; group?: string; env?: Record<string, string>; path?: string }) => {
    fs.writeFileSync(path.join(dir, 'out'), opts.out);
    fs.writeFileSync(path.join(dir, 'err'), opts.err ?? '');
    const script = `. "$1"; d=$2; emit() { cat "$d/out"; cat "$d/err" >&2; return ${opts.status ?? 0}; }; aemkeys_logged "$3" us-east-1 emit`;
    const r = spawnSync('bash', ['-c', script, '_', COMMON, dir, opts.group ?? group], {
      // The fast AWS CLI stand-in (test/support/aws-stand-in): it answers these logs calls when they
      // succeed and runs the real CLI for everything else (its contract: test/aws-stand-in.test.ts).
      env: {
        ...process.env, ...moto.env, AWS_SSM_INSTANCE_ID: 'i-0123456789abcdef0', AEMKEYS_LOG_SPREAD_SECONDS: '0', ...opts.env,
        PATH: opts.path ?? `${awsStandInDir()}:${process.env.PATH}`,
      },
      encoding: 'utf8',
      timeout: 120000,
      maxBuffer: 64 * 1024 * 1024,
    });
    return { status: r.status, stdout: r.stdout, stderr: r.stderr };
  };
  const newStreams = (before: number) => readGroup(moto, group, before);
  let instances = 0;
  /** An instance id of its own, so that a test reads only its own stream. */
  const newInstance = () => `i-0a${String(++instances).padStart(15, '0')}`;
  const eventsOf = (instance: string): Event[] =>
    logsApi(moto, 'GetLogEvents', { logGroupName: group, logStreamName: `association/${instance}`, startFromHead: true }).events;

  describe('two runs of one instance', () => {
    let id: string;
    let r: ReturnType<typeof logged>;
    let again: ReturnType<typeof logged>;
    let streams: ReturnType<typeof newStreams>;
    beforeAll(() => {
      const before = streamNames(moto, group).length;
      id = newInstance();
      const env = { AWS_SSM_INSTANCE_ID: id };
      r = logged({ out: 'bundles: x\nhmac: 0123abcd4567 replaced (was 89ab)\n\nresult: changed\n', err: 'a note on stderr\n', status: 0, env });
      again = logged({ out: 'result: unchanged (nothing to do)\n', status: 0, env });
      streams = newStreams(before);
    }, 60000);

    test('output and status unchanged', () => {
      expect(r).toEqual({ status: 0, stdout: 'bundles: x\nhmac: 0123abcd4567 replaced (was 89ab)\n\nresult: changed\n', stderr: 'a note on stderr\n' });
      expect(again.stderr).toBe('');
    });

    test('one stream per instance, made by its first run', () => {
      expect(streams.map((s) => s.name)).toEqual([`association/${id}`]);
      expect(STREAM.exec(streams[0].name)![1]).toBe(id);
    });

    test('each run adds its lines in order, then its closing line', () => {
      expect(streams[0].events.map((e) => e.message)).toEqual([
        'bundles: x', 'hmac: 0123abcd4567 replaced (was 89ab)', 'result: changed', 'a note on stderr', 'association run: changed (exit 0)',
        'result: unchanged (nothing to do)', 'association run: unchanged (exit 0)',
      ]);
    });

    test('the events carry rising timestamps of now', () => {
      const times = streams[0].events.map((e) => e.timestamp);
      expect(times.slice(0, 5).every((t, i) => i === 0 || t > times[i - 1])).toBe(true);
      expect(Math.abs(times[0] - Date.now())).toBeLessThan(5 * 60000);
    });
  });

  test('JSON escaping: quotes and backslashes arrive as they were; every byte outside printable ASCII (tab, Unicode, control) as ?', () => {
    const before = streamNames(moto, group).length;
    const weird = [
      'token config: /opt/aem/crx-quickstart/install/a "quoted" name.config',
      'back\\slash \\n \\" \\\\ end\\',
      'tab\there\tand "both\\"',
      'Unicode: ü € 日本語 🙂 in a name',
      'control \u0001 \u001b[31m \u007f kept one line',
      '{"looks":"like json"}',
      'result: unchanged (nothing to do)',
    ];
    const id = newInstance();
    const r = logged({ out: `${weird.join('\n')}\n`, status: 0, env: { AWS_SSM_INSTANCE_ID: id } });
    expect(r.status).toBe(0);
    expect(r.stderr).toBe('');
    expect(newStreams(before)).toHaveLength(1);
    expect(eventsOf(id).map((e) => e.message)).toEqual([
      ...weird.slice(0, 2),
      'tab?here?and "both\\"',
      // The scripts print printable ASCII only (aemkeys_print_lines): ü, €, 日本語 and 🙂 are 2, 3, 9 and 4 bytes.
      'Unicode: ?? ??? ????????? ???? in a name',
      'control ? ?[31m ? kept one line',
      '{"looks":"like json"}',
      'result: unchanged (nothing to do)',
      'association run: unchanged (exit 0)',
    ]);
  }, 60000);

  describe('runs ending with status 1, 3 and (without the SSM agent\'s instance id) 7', () => {
    const ids: string[] = [];
    const statuses: Array<number | null> = [];
    beforeAll(() => {
      ids.push(newInstance(), newInstance());
      const err = 'aem-crypto-keys: error: the keys were written, but systemctl restart aem failed\n';
      statuses.push(logged({ out: 'result: changed\n', err, status: 1, env: { AWS_SSM_INSTANCE_ID: ids[0] } }).status);
      const mismatch = 'hmac: x differs\nresult: mismatch (Mode=verify changed nothing)\n';
      statuses.push(logged({ out: mismatch, status: 3, env: { AWS_SSM_INSTANCE_ID: ids[1] } }).status);
      statuses.push(logged({ out: '', err: '', status: 7, env: { AWS_SSM_INSTANCE_ID: '' } }).status);
    }, 60000);

    test('each keeps its status', () => {
      expect(statuses).toEqual([1, 3, 7]);
    });

    test('the closing line: failed for a status other than 0 or 3, the result word otherwise', () => {
      expect([eventsOf(ids[0]).at(-1)!.message, eventsOf(ids[1]).at(-1)!.message, eventsOf(os.hostname()).at(-1)!.message]).toEqual([
        'association run: failed (exit 1)', 'association run: mismatch (exit 3)', 'association run: failed (exit 7)',
      ]);
    });

    test('without the SSM agent\'s instance id, the stream is the host name\'s', () => {
      expect(eventsOf(os.hostname())).toHaveLength(1);
    });
  });

  describe('a failure to send is one warning line; status, stdout and stderr otherwise unchanged', () => {
    test('no such log group', () => {
      const r = logged({ out: 'result: unchanged (nothing to do)\n', err: 'aem-crypto-keys: error: x\n', status: 5, group: '/aem/missing' });
      expect(r.status).toBe(5);
      expect(r.stdout).toBe('result: unchanged (nothing to do)\n');
      const err = r.stderr.split('\n').filter((l) => l !== '');
      expect(err).toHaveLength(2);
      expect(err[0]).toBe('aem-crypto-keys: error: x');
      expect(err[1]).toMatch(/^aem-crypto-keys: warning: output not sent to log group \/aem\/missing: .*ResourceNotFoundException/);
    }, 60000);

    test('CloudWatch Logs unreachable', () => {
      const r = logged({ out: 'result: changed\n', status: 0, env: { AWS_ENDPOINT_URL: 'http://127.0.0.1:9', AWS_MAX_ATTEMPTS: '1' } });
      expect(r.status).toBe(0);
      expect(r.stdout).toBe('result: changed\n');
      expect(r.stderr.split('\n').filter((l) => l !== '')).toEqual([
        expect.stringMatching(/^aem-crypto-keys: warning: output not sent to log group \/aem\/keys-unit: .*(connect|Connect)/),
      ]);
    }, 120000);

    test('not allowed (the instance role lacks keys.grantLogWrite): the AWS CLI\'s own error line', () => {
      const stubs = fs.mkdtempSync(path.join(dir, 'stubs-'));
      fs.writeFileSync(path.join(stubs, 'aws'), '#!/bin/bash\necho >&2\necho "An error occurred (AccessDeniedException) when calling the CreateLogStream operation: not authorized" >&2\nexit 254\n', { mode: 0o755 });
      const r = logged({ out: 'result: changed\n', status: 0, path: `${stubs}:${process.env.PATH}` });
      expect(r).toEqual({
        status: 0,
        stdout: 'result: changed\n',
        stderr: 'aem-crypto-keys: warning: output not sent to log group /aem/keys-unit: An error occurred (AccessDeniedException) when calling the CreateLogStream operation: not authorized\n',
      });
    }, 60000);

  });

  test('issue 21, finding 6: a line that is not UTF-8 (bytes the AEM user chose) arrives, those bytes as ?, with the run\'s other events', () => {
    const id = newInstance();
    const bad = (bytes: number[]) => Buffer.concat([Buffer.from('token config: /x/bad-'), Buffer.from(bytes), Buffer.from('.config\n')]);
    const r = logged({
      out: Buffer.concat([
        bad([0xff, 0xfe]), bad([0xc3]), bad([0xed, 0xa0, 0x80]), bad([0xc0, 0xaf]), Buffer.from('fine: \u00fc\nresult: changed\n'),
      ]),
      status: 0, env: { AWS_SSM_INSTANCE_ID: id },
    });
    expect(r.status).toBe(0);
    expect(r.stderr).toBe('');
    expect(eventsOf(id).map((e) => e.message)).toEqual([
      'token config: /x/bad-??.config', 'token config: /x/bad-?.config', 'token config: /x/bad-???.config', 'token config: /x/bad-??.config',
      'fine: ??', 'result: changed', 'association run: changed (exit 0)',
    ]);
  }, 60000);

  describe('issue 21, finding 7', () => {
    /** An aws in front of the stand-in that keeps what each put-log-events call reads; calls() returns and forgets it. */
    const putLogEventsShim = () => {
      const shim = fs.mkdtempSync(path.join(dir, 'shim-'));
      fs.writeFileSync(path.join(shim, 'aws'), [
        '#!/bin/bash',
        `PATH=${awsStandInDir()}:${process.env.PATH}`,
        'if [[ " $* " == *" put-log-events "* ]]; then',
        `  f=$(mktemp -p '${shim}' put-XXXXXX.json); cat > "$f"; exec aws "$@" < "$f"`,
        'fi',
        'exec aws "$@"',
      ].join('\n') + '\n', { mode: 0o755 });
      const calls = () => fs.readdirSync(shim).filter((f) => f.startsWith('put-')).map((f) => {
        const events = JSON.parse(fs.readFileSync(path.join(shim, f), 'utf8')) as Event[];
        fs.rmSync(path.join(shim, f));
        return events;
      });
      return { dir: shim, calls };
    };
    const withinLimits = (events: Event[]) => events.length <= 10000 && events.reduce((n, e) => n + Buffer.byteLength(e.message) + 26, 0) <= 1048576;
    /** One run printing `lines` and its result, on an instance of its own, through the shim. */
    const run = (lines: string[]) => {
      const shim = putLogEventsShim();
      const id = newInstance();
      const out = `${lines.join('\n')}\nresult: changed\n`;
      const r = logged({ out, status: 0, env: { AWS_SSM_INSTANCE_ID: id }, path: `${shim.dir}:${process.env.PATH}` });
      expect(r.stderr).toBe('');
      expect(r.status).toBe(0);
      return { id, calls: shim.calls() };
    };

    test('output beyond one PutLogEvents call goes in several, each within the limits', () => {
      // 600 lines of 4,000 bytes (2.4 MB): three calls, every line there.
      const long = Array.from({ length: 600 }, (_, i) => `line ${String(i).padStart(3, '0')} ${'l'.repeat(3991)}`);
      const b = run(long);
      // 1,048,576 / (4,000 + 26) bytes: 260 events a call; the first call twice (the instance's
      // stream is made between: its first run).
      expect(b.calls.map((c) => c.length).sort((x, y) => y - x)).toEqual([260, 260, 260, 82]);
      expect(b.calls.every(withinLimits)).toBe(true);
      expect(eventsOf(b.id).map((e) => e.message)).toEqual([...long, 'result: changed', 'association run: changed (exit 0)']);
    }, 120000);

    test('a run sends at most 1,000 lines', () => {
      // What 3,000 planted names would print: 3,000 lines of 400 bytes (1.2 MB).
      const planted = Array.from({ length: 3000 },
        (_, i) => `token config: /opt/aem/crx-quickstart/install/x-${String(i).padStart(4, '0')}-${'p'.repeat(340)}.config`);
      const a = run(planted);
      expect(a.calls.length).toBeGreaterThan(0);
      expect(a.calls.every(withinLimits)).toBe(true);
      expect(eventsOf(a.id).map((e) => e.message)).toEqual([
        ...planted.slice(0, 1000), 'aem-crypto-keys: 2001 more output lines not sent (at most 1000 a run)', 'association run: changed (exit 0)',
      ]);
    }, 120000);
  });

  test('a bad group name: one error line, nothing run, nothing sent', () => {
    const before = streamNames(moto, group).length;
    const r = logged({ out: 'ran\n', group: 'bad name' });
    expect(r).toEqual({ status: 1, stdout: '', stderr: 'aem-crypto-keys: error: parameter LogGroupName: not a log group name\n' });
    expect(streamNames(moto, group)).toHaveLength(before);
  }, 60000);
});

describeWithTools(['java', 'moto_server', 'aws', 'strace'], 'the real installer with LogGroupName (tag associations), on a genuine Felix cache', () => {
  const group = '/aem/keys-installer';
  const agent = { AWS_SSM_INSTANCE_ID: 'i-0fedcba9876543210', AWS_SSM_REGION_NAME: 'us-east-1', AEMKEYS_LOG_SPREAD_SECONDS: '0' };
  const fx = keySetInstance('shipped', () => agent);
  beforeAll(() => logsApi(fx.moto, 'CreateLogGroup', { logGroupName: group }));

  // Five runs, in this order: the install, the same again, a repair of drift, a failing run, a verify run.
  describe('five runs: install, again, drift repaired, failing, verify', () => {
    let runs: RunResult[];
    let streams: ReturnType<typeof readGroup>;
    const all = () => streams.flatMap((s) => s.events.map((e) => e.message));
    beforeAll(() => {
      const first = fx.run({ SecretId: fx.good, LogGroupName: group });
      const second = fx.run({ SecretId: fx.good, LogGroupName: group });
      plant(path.join(fx.inst.keyDir, 'hmac'), randomBytes(32), fx.user); // drift: someone changed the key
      const repair = fx.run({ SecretId: fx.good, LogGroupName: group });
      const failing = fx.run({ SecretId: fx.short, LogGroupName: group });
      const verify = fx.run({ SecretId: fx.good, Mode: 'verify', LogGroupName: group });
      runs = [first, second, repair, failing, verify];
      streams = readGroup(fx.moto, group);
    }, 180000);

    test('the runs end as they should; the third repairs the drift', () => {
      expect(runs.map((r) => r.status)).toEqual([0, 0, 0, 1, 0]);
      expect(runs[2].stdout).toMatch(/^hmac: [0-9a-f]{12} replaced \(was [0-9a-f]{12}\)$/m);
    });

    test('every run arrives whole in the instance\'s stream: its lines, then the closing line', () => {
      expect(streams.map((s) => s.name)).toEqual(['association/i-0fedcba9876543210']);
      const closing = ['changed (exit 0)', 'unchanged (exit 0)', 'changed (exit 0)', 'failed (exit 1)', 'verified (exit 0)'];
      expect(streams[0].events.map((e) => e.message)).toEqual(runs.flatMap((r, i) => [...outputLines(r), `association run: ${closing[i]}`]));
    });

    test('the metric filters count drift repaired, changes and errors', () => {
      const count = (pattern: string) => countMatches(pattern, all());
      expect({
        associationChanged: count(ASSOCIATION_CHANGED_PATTERN),
        installerChanged: count(CHANGED_PATTERN),
        installerErrors: count(ERROR_PATTERN),
        associationFailures: count(ASSOCIATION_FAILURE_PATTERN),
      }).toEqual({ associationChanged: 2, installerChanged: 2, installerErrors: 1, associationFailures: 0 });
    });

    test('what reached the log group never holds key material', () => {
      expect(scanText(all().join('\n'), [fx.keys.hmac, fx.keys.master])).toEqual([]);
    });
  });

  test('a failure to send changes nothing on the instance and in the output but one warning line', () => {
    const plain = fx.run({ SecretId: fx.good });
    const shipped = fx.run({ SecretId: fx.good, LogGroupName: '/aem/no-such-group' });
    expect(shipped.status).toBe(plain.status);
    expect(shipped.stdout).toBe(plain.stdout);
    expect(plain.stderr).toBe('');
    expect(shipped.stderr)
      .toMatch(/^aem-crypto-keys: warning: output not sent to log group \/aem\/no-such-group: [^\n]*ResourceNotFoundException[^\n]*\n$/);
  }, 120000);

  test('a bad LogGroupName: one clear error, nothing changed, nothing sent', () => {
    const before = snapshotTree(fx.inst.quickstart);
    const streams = streamNames(fx.moto, group).length;
    const r = fx.run({ SecretId: fx.good, LogGroupName: 'no spaces allowed' });
    expect(r).toEqual({ status: 1, stdout: '', stderr: 'aem-crypto-keys: error: parameter LogGroupName: not a log group name\n' });
    expect(snapshotTree(fx.inst.quickstart)).toEqual(before);
    expect(streamNames(fx.moto, group)).toHaveLength(streams);
  }, 120000);

  test('no key material in any process\'s argv or environment (strace -f execve); the output travels to CloudWatch Logs on stdin, not in arguments', () => {
    plant(path.join(fx.inst.keyDir, 'master'), randomBytes(16), fx.user); // drift, so the run replaces a key
    const trace = path.join(fx.inst.root, 'trace-logged');
    const stream = `association/${agent.AWS_SSM_INSTANCE_ID}`;
    if (!streamNames(fx.moto, group).includes(stream)) logsApi(fx.moto, 'CreateLogStream', { logGroupName: group, logStreamName: stream });
    const before = logsApi(fx.moto, 'GetLogEvents', { logGroupName: group, logStreamName: stream, startFromHead: true }).events.length;
    const r = runScript(
      fx.inst,
      renderScript(synthInstaller(), { QuickstartDir: fx.inst.quickstart, AemUser: fx.user.name, SecretId: fx.good, LogGroupName: group }),
      { ...fx.moto.env, HOME: process.env.HOME ?? '/root', ...agent },
      { wrap: strace(trace, 'execve', ['-v', '-xx', '-s', '65536']) },
    );
    expect(r.status).toBe(0);
    expect(r.stdout).toMatch(/^master: [0-9a-f]{12} replaced/m);
    const decode = (line: string) => [...line.matchAll(/"((?:\\x[0-9a-f]{2})*)"/g)].map((m) => Buffer.from(m[1].replace(/\\x/g, ''), 'hex'));
    const calls = fs.readFileSync(trace, 'utf8').split('\n').filter((l) => l.includes('execve(')).map(decode);
    const awsLogs = calls.filter((c) => c.some((a) => a.toString() === 'logs'));
    // The instance's stream exists: no CreateLogStream call (issue 18: later runs make none).
    const operations = awsLogs.map((c) => c.map(String).find((a) => a === 'create-log-stream' || a === 'put-log-events'));
    expect(new Set(operations)).toEqual(new Set(['put-log-events']));
    const put = awsLogs.find((c) => c.some((a) => a.toString() === 'put-log-events'))!.map(String);
    expect(put).toContain('file:///dev/stdin');
    expect(put.some((a) => a.includes('result: changed') || a.includes('replaced'))).toBe(false);
    const all: Event[] = logsApi(fx.moto, 'GetLogEvents', { logGroupName: group, logStreamName: stream, startFromHead: true }).events;
    const events = all.slice(before);
    expect(events.map((e) => e.message)).toEqual([...outputLines(r), 'association run: changed (exit 0)']);
    // Every argument and environment string of every process, end to end (one search, not one per string).
    const sent = Buffer.from(events.map((e) => e.message).join('\n'));
    const haystack = [Buffer.concat(calls.flat()), Buffer.from(r.stdout), Buffer.from(r.stderr), sent];
    for (const key of [fx.keys.hmac, fx.keys.master]) {
      for (const form of [key, Buffer.from(key.toString('base64')), Buffer.from(key.toString('hex')), Buffer.from(key.toString('base64').replace(/\//g, '\\/'))]) {
        for (const h of haystack) expect(h.includes(form)).toBe(false);
      }
    }
    // The same search finds a key when it is there (the check can fail).
    expect(Buffer.concat([...calls.flat(), Buffer.from(fx.keys.master.toString('base64'))]).includes(Buffer.from(fx.keys.master.toString('base64')))).toBe(true);
  }, 180000);
});
