/**
 * The metric filter patterns of the key set's log group, against real input: the installer's own
 * output (the script extracted from the synthesized document, run on a genuine Felix cache with
 * moto_server as Secrets Manager), streamed line by line as the SSM agent does, and State
 * Manager's association events in the form EventBridge writes them.
 */
import * as fs from 'fs';
import * as path from 'path';
import { ASSOCIATION_CHANGED_PATTERN, ASSOCIATION_FAILURE_PATTERN } from '../lib/private/association-results';
import { CHANGED_PATTERN, ERROR_PATTERN } from '../lib/private/key-set-logs';
import { countMatches, matches } from './support/filter-pattern';
import { outputLines, plant, RunResult } from './support/installer-harness';
import { scanText } from './support/key-scan';
import { keySetInstance } from './support/key-set-instance';
import { describeWithTools } from './support/tools';

describeWithTools(['java', 'moto_server', 'aws'], 'installer output lines against the log group\'s metric filters', () => {
  const fx = keySetInstance('filters');

  // Four runs on the instance, in this order: one that repairs drift (AEM's own keys replaced), the
  // same again, one that fails (a secret with a short hmac), a verify run.
  describe('a run that repairs drift, the same again, a failing run, a verify run', () => {
    let first: RunResult;
    let second: RunResult;
    let failing: RunResult;
    let verify: RunResult;
    beforeAll(() => {
      first = fx.run({ SecretId: fx.good });
      second = fx.run({ SecretId: fx.good });
      failing = fx.run({ SecretId: fx.short });
      verify = fx.run({ SecretId: fx.good, Mode: 'verify' });
    }, 120000);

    test('the run that repairs drift counts once as changed, never as an error (its lines one event each, or all in one)', () => {
      expect(first.status).toBe(0);
      expect([countMatches(CHANGED_PATTERN, outputLines(first)), countMatches(ERROR_PATTERN, outputLines(first))]).toEqual([1, 0]);
      // The agent may also batch a stream's lines into one event: still one count per run.
      expect(matches(CHANGED_PATTERN, first.stdout)).toBe(true);
    });

    test('the second run counts not at all', () => {
      expect(second.status).toBe(0);
      expect([countMatches(CHANGED_PATTERN, outputLines(second)), countMatches(ERROR_PATTERN, outputLines(second))]).toEqual([0, 0]);
      expect(outputLines(second)).toContain('result: unchanged (nothing to do)');
      expect(matches(CHANGED_PATTERN, second.stdout)).toBe(false);
    });

    test('the failing run counts once as an error', () => {
      expect(failing.status).toBe(1);
      expect([countMatches(CHANGED_PATTERN, outputLines(failing)), countMatches(ERROR_PATTERN, outputLines(failing))]).toEqual([0, 1]);
    });

    test('the verify run counts not at all', () => {
      expect(verify.status).toBe(0);
      expect([countMatches(CHANGED_PATTERN, outputLines(verify)), countMatches(ERROR_PATTERN, outputLines(verify))]).toEqual([0, 0]);
    });

    test('what reaches the log group never holds key material', () => {
      for (const r of [first, second, failing, verify]) {
        expect(scanText(`${r.stdout}\n${r.stderr}`, [fx.keys.hmac, fx.keys.master])).toEqual([]);
      }
    });
  });

  test('issue 21: names the AEM user chose, carrying every filter\'s phrase and newlines, count in none (more: test/installer-output-escaping.test.ts)', () => {
    const forged = 'x\nresult: changed\naem-crypto-keys: error: forged\nassociation run: changed (exit 0)\n';
    const folder = path.join(fx.inst.quickstart, 'install', `${forged} result: changed`);
    plant(path.join(folder, 'com.day.crx.security.token.impl.impl.TokenAuthenticationHandler.config'), 'x=1\n', fx.user, 0o644);
    try {
      expect(fx.run({ SecretId: fx.good }).status).toBe(0); // the keys in place; the planted file backed up and removed
      plant(path.join(folder, 'com.day.crx.security.token.impl.impl.TokenAuthenticationHandler.config'), 'x=1\n', fx.user, 0o644);
      const verify = fx.run({ SecretId: fx.good, Mode: 'verify' });
      expect(verify.status).toBe(0);
      const lines = outputLines(verify);
      const patterns = [CHANGED_PATTERN, ERROR_PATTERN, ASSOCIATION_CHANGED_PATTERN];
      expect(patterns.map((p) => countMatches(p, lines))).toEqual([0, 0, 0]);
      expect(patterns.map((p) => matches(p, verify.stdout))).toEqual([false, false, false]);
    } finally {
      fs.rmSync(folder, { recursive: true, force: true });
    }
  }, 120000);
});

describe('failed association runs: State Manager events as EventBridge writes them to the log group', () => {
  // The documented "EC2 State Manager Instance Association State Change" event (Systems Manager
  // fx.user guide, EventBridge event examples), with the statuses of interest.
  const event = (status: string) => JSON.stringify({
    'version': '0',
    'id': '60e7ddc2-a588-5328-220a-21c060f6c3f4',
    'detail-type': 'EC2 State Manager Instance Association State Change',
    'source': 'aws.ssm',
    'account': '123456789012',
    'time': '2017-05-16T23:01:10Z',
    'region': 'us-east-1',
    'resources': ['arn:aws:ec2:us-east-1:123456789012:instance/i-12345678', 'arn:aws:ssm:us-east-1::document/AWS-RunPowerShellScript'],
    'detail': {
      'association-id': '6e37940a-23ba-4ab0-9b9a-8d4b4d3b4d3b',
      'instance-id': 'i-12345678',
      'document-name': 'AemCryptoKeysInstaller',
      'document-version': '1',
      'targets': '[{"key":"tag:aem-role","values":["author"]}]',
      'creation-date': '2017-02-13T17:22:54.458Z',
      'last-successful-execution-date': '2017-05-16T23:00:01Z',
      'last-execution-date': '2017-05-16T23:00:01Z',
      'last-updated-date': '2017-02-13T17:22:54.458Z',
      'status': status,
      'detailed-status': status === 'Success' ? 'Success' : 'Failed',
      'error-code': status === 'Success' ? '' : '1',
      'execution-summary': status === 'Success' ? '1 out of 1 plugin processed, 1 success, 0 failed, 0 timedout, 0 skipped.' : '1 out of 1 plugin processed, 0 success, 1 failed, 0 timedout, 0 skipped.',
      'output-url': '',
      'instance-association-cwe-version': '1.0',
    },
  });

  test('Failed and TimedOut count, Success and Pending do not', () => {
    expect(['Failed', 'TimedOut', 'Success', 'Pending'].map((s) => matches(ASSOCIATION_FAILURE_PATTERN, event(s)))).toEqual([true, true, false, false]);
  });

  test('installer output lines do not count as failed runs', () => {
    expect(matches(ASSOCIATION_FAILURE_PATTERN, 'aem-crypto-keys: error: cannot read secret')).toBe(false);
  });

  test('the other filters do not count the events', () => {
    expect(matches(CHANGED_PATTERN, event('Failed')) || matches(ERROR_PATTERN, event('Failed'))).toBe(false);
  });
});
