/**
 * Issue 21, findings 4, 5 and 7: names the AEM user chooses in its tree reach the run's output (and
 * so the SSM output, the CloudWatch events and the metric filters) only escaped: no name prints as
 * a line of its own, carries a metric filter's phrase, or makes one run print without bound.
 * The real installer on a genuine Felix cache, moto_server as Secrets Manager.
 */
import * as fs from 'fs';
import * as path from 'path';
import { ASSOCIATION_CHANGED_PATTERN } from '../lib/private/association-results';
import { CHANGED_PATTERN, ERROR_PATTERN } from '../lib/private/key-set-logs';
import { countMatches } from './support/filter-pattern';
import { outputLines, plant, RunResult, snapshotTree } from './support/installer-harness';
import { keySetInstance } from './support/key-set-instance';
import { describeWithTools } from './support/tools';

const PID = 'com.day.crx.security.token.impl.impl.TokenAuthenticationHandler';
/** What every line of the summary starts with (README, "Installer document"), and the error line. */
const LABELS = /^(bundles|hmac|master|storage|backup|token config|token in AEM|keys|cleanup|restart|start|result): |^aem-crypto-keys: error: /;
/** Lines an attacker would like to add to a run's output. */
const FORGED = ['aem-crypto-keys: error: forged', 'association run: changed (exit 0)', 'result: changed'];

describeWithTools(['java', 'moto_server', 'aws'], 'names from the tree in the installer\'s output', () => {
  const fx = keySetInstance('names');
  const install = () => path.join(fx.inst.quickstart, 'install');
  const planted: string[] = [];
  const plantConfig = (rel: string) => {
    const file = path.join(install(), rel);
    plant(file, 'token.encapsulated=B"false"\n', fx.user, 0o644);
    planted.push(file);
  };
  afterEach(() => {
    for (const f of planted.splice(0)) fs.rmSync(f, { force: true });
  });
  const counts = (r: RunResult) => {
    const lines = outputLines(r);
    return {
      changed: countMatches(CHANGED_PATTERN, lines),
      errors: countMatches(ERROR_PATTERN, lines),
      associationChanged: countMatches(ASSOCIATION_CHANGED_PATTERN, lines),
    };
  };

  beforeAll(() => {
    // The keys in place: later runs change nothing unless told.
    const r = fx.run({ SecretId: fx.good });
    if (r.status !== 0) throw new Error(r.stderr);
  });

  test('finding 4: a config name holding newlines is one escaped line, in verify and install mode; no forged line', () => {
    plantConfig(`${PID}-x\n${FORGED.join('\n')}\ny.config`);
    const shown = `${install()}/${PID}-x\\x0aaem-crypto-keys\\x3a error\\x3a forged`
      + '\\x0aassociation run\\x3a changed \\x28exit 0\\x29\\x0aresult\\x3a changed\\x0ay.config';
    const verify = fx.run({ SecretId: fx.good, Mode: 'verify' });
    expect(verify.status).toBe(0);
    for (const line of outputLines(verify)) expect(line).toMatch(LABELS);
    expect(outputLines(verify)).toContain(`token config: ${shown} also configures the PID (install mode backs it up and removes it)`);
    expect(counts(verify)).toEqual({ changed: 0, errors: 0, associationChanged: 0 });
    const run = fx.run({ SecretId: fx.good });
    expect(run.status).toBe(0);
    for (const line of outputLines(run)) expect(line).toMatch(LABELS);
    expect(outputLines(run)).toContain(`token config: removed ${shown} (it configured the PID too; backed up)`);
    expect(counts(run)).toEqual({ changed: 1, errors: 0, associationChanged: 0 });
    expect(fs.existsSync(planted[0])).toBe(false);
  });

  test('finding 5: a printable folder name carrying the metric filters\' phrases counts in none of them; other bytes print escaped', () => {
    plantConfig(`${FORGED.join(' ')} \xff/${PID}.config`);
    const verify = fx.run({ SecretId: fx.good, Mode: 'verify' });
    expect(verify.status).toBe(0);
    expect(counts(verify)).toEqual({ changed: 0, errors: 0, associationChanged: 0 });
    const folder = 'aem-crypto-keys\\x3a error\\x3a forged association run\\x3a changed \\x28exit 0\\x29 result\\x3a changed \\xc3\\xbf';
    expect(verify.stdout).toContain(`token config: ${install()}/${folder}/${PID}.config also`);
    // The same name in an error line: one error, nothing else.
    fs.chmodSync(path.dirname(planted[0]), 0o555);
    try {
      const r = fx.run({ SecretId: fx.good });
      expect(r.status).toBe(1);
      expect(counts(r)).toEqual({ changed: 0, errors: 1, associationChanged: 0 });
    } finally {
      fs.chmodSync(path.dirname(planted[0]), 0o755);
    }
  });

  test('finding 5: a bundle folder whose name carries the phrases, claiming crypto.file: not a Felix folder, so neither taken nor printed', () => {
    const real = path.dirname(fx.inst.keyDir);
    const fake = path.join(fx.inst.felix, `bundle9999 ${FORGED.join(' ')}`);
    plant(path.join(fake, 'bundle.info'), fs.readFileSync(path.join(real, 'bundle.info')), fx.user, 0o644);
    planted.push(fake);
    try {
      const r = fx.run({ SecretId: fx.good });
      expect(counts(r)).toEqual({ changed: 0, errors: 0, associationChanged: 0 });
      expect(r.status).toBe(0);
      expect(outputLines(r).at(-1)).toBe('result: unchanged (nothing to do)');
    } finally {
      fs.rmSync(fake, { recursive: true, force: true });
    }
  });

  test('finding 7: 30 planted bundle folders claiming crypto.file: the one error line names 10 of them', () => {
    const info = fs.readFileSync(path.join(path.dirname(fx.inst.keyDir), 'bundle.info'));
    const fakes = Array.from({ length: 30 }, (_, i) => path.join(fx.inst.felix, `bundle${9000 + i}`));
    for (const f of fakes) plant(path.join(f, 'bundle.info'), info, fx.user, 0o644);
    try {
      const r = fx.run({ SecretId: fx.good });
      expect(r.status).toBe(1);
      expect(r.stderr)
        .toMatch(/^aem-crypto-keys: error: ambiguous: 31 bundle folders claim com\.adobe\.granite\.crypto\.file \((bundle\d+ ){10}and 21 more\) /);
      expect(r.stderr.split('\n')).toHaveLength(2);
    } finally {
      for (const f of fakes) fs.rmSync(f, { recursive: true, force: true });
    }
  });

  test('finding 7: 3,000 planted configs of the PID: one error line naming none of them, nothing changed', () => {
    fs.mkdirSync(install(), { recursive: true });
    for (let i = 0; i < 3000; i++) {
      const file = path.join(install(), `${PID}-${String(i).padStart(4, '0')}-${'p'.repeat(150)}.config`);
      fs.writeFileSync(file, 'x=1\n');
      fs.chownSync(file, fx.user.uid, fx.user.gid);
      planted.push(file);
    }
    const before = snapshotTree(fx.inst.quickstart);
    const r = fx.run({ SecretId: fx.good });
    expect(r.stdout).toBe('');
    expect(r.stderr).toBe(`aem-crypto-keys: error: more than 20 files in ${install()} and its subfolders configure ${PID}; `
      + 'remove them by hand: nothing changed\n');
    expect(r.status).toBe(1);
    expect(snapshotTree(fx.inst.quickstart)).toEqual(before);
  }, 120000);
});
