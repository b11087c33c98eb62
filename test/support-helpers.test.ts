/**
 * The test helpers under test/support, tested themselves: a helper that answered wrongly would let
 * the tests that stand on it pass (or fail) for the wrong reason. One describe per helper. Two
 * helpers have files of their own: test/cfn-resolve.test.ts (the template resolver) and
 * test/aws-stand-in.test.ts (the AWS CLI stand-in, against the real AWS CLI and moto_server).
 */
import { generateKeySet } from '../lib/private/key-set';
import { DATA_BLOCK_MARKER } from '../lib/private/shell-script-document';
import { matchesPattern } from './support/event-pattern';
import { matches } from './support/filter-pattern';
import { invalidConditionKeys } from './support/iam-evaluate';
import { scanText } from './support/key-scan';
import { scriptCalls } from './support/runtime-requests';
import { stableTemplate } from './support/synth';
import { findCycle } from './support/template-graph';

// test/support/event-pattern.ts
describe('the event pattern matcher', () => {
  const event = { 'source': 'aws.autoscaling', 'detail-type': 'x', 'detail': { name: 'aemkeys-loop-1', n: 5, list: ['a', 'b'] } };

  test.each([
    [{ source: ['aws.autoscaling'] }, true],
    [{ source: ['aws.ssm'] }, false],
    [{ detail: { name: [{ prefix: 'aemkeys-loop-' }] } }, true],
    [{ detail: { name: [{ prefix: 'aemkeys-loop-2' }] } }, false],
    [{ detail: { name: [{ suffix: '-1' }] } }, true],
    [{ detail: { name: [{ 'anything-but': ['aemkeys-loop-1'] }] } }, false],
    [{ detail: { name: [{ 'anything-but': { prefix: 'other' } }] } }, true],
    [{ detail: { missing: [{ exists: false }] } }, true],
    [{ detail: { name: [{ exists: false }] } }, false],
    [{ detail: { n: [{ numeric: ['>', 1, '<=', 5] }] } }, true],
    [{ detail: { n: [{ numeric: ['>', 5] }] } }, false],
    [{ detail: { list: ['b'] } }, true],
    [{ detail: { list: ['c'] } }, false],
    [{ detail: { name: [{ 'equals-ignore-case': 'AEMKEYS-LOOP-1' }] } }, true],
    [{ detail: { name: [{ wildcard: 'aemkeys-*-1' }] } }, true],
    [{ source: ['aws.autoscaling'], detail: { name: ['other'] } }, false],
  ])('%j matches: %s', (pattern, expected) => {
    expect(matchesPattern(pattern, event)).toBe(expected);
  });

  test('refuses a filter it does not know', () => {
    expect(() => matchesPattern({ source: [{ cidr: '10.0.0.0/8' }] }, event)).toThrow(/unknown filter cidr/);
  });
});

// test/support/filter-pattern.ts
describe('the filter pattern evaluator', () => {
  test('quoted phrases', () => {
    expect(matches('"result: changed"', 'result: changed')).toBe(true);
    expect(matches('"result: changed"', 'result: unchanged (nothing to do)')).toBe(false);
  });

  test('bare words: all of them', () => {
    expect(matches('ERROR timeout', 'ERROR: a timeout')).toBe(true);
    expect(matches('ERROR timeout', 'ERROR: slow')).toBe(false);
  });

  test('JSON comparisons with && and ||; text that is not JSON never matches', () => {
    expect(matches('{ ($.a = "x") && ($.b.c = "y" || $.b.c = "z") }', '{"a":"x","b":{"c":"z"}}')).toBe(true);
    expect(matches('{ ($.a = "x") && ($.b.c = "y" || $.b.c = "z") }', '{"a":"x","b":{"c":"w"}}')).toBe(false);
    expect(matches('{ $.a = "x" }', 'not json')).toBe(false);
  });

  test('unsupported syntax throws', () => {
    expect(() => matches('?ERROR ?WARN', 'x')).toThrow(/unsupported/);
    expect(() => matches('{ $.a > 1 }', '{"a":2}')).toThrow();
  });
});

// test/support/template-graph.ts
describe('the cycle finder', () => {
  test('finds cycles', () => {
    expect(findCycle({ A: { DependsOn: ['B'] }, B: { Properties: { X: { 'Fn::GetAtt': ['A', 'Arn'] } } } })).toEqual(['A', 'B', 'A']);
    expect(findCycle({ A: { DependsOn: ['B'] }, B: { Properties: { X: { Ref: 'C' } } }, C: {} })).toBeUndefined();
  });
});

// test/support/key-scan.ts (its control on a synthesized assembly, a key set planted into it, stays
// in test/no-key-material.test.ts beside the scan it controls)
describe('the scanner', () => {
  test('catches a lone base64 master key', () => {
    expect(scanText(`x ${generateKeySet().master.toString('base64')} y`)).toEqual(['base64 of exactly 16 bytes (a master key)']);
  });

  test('ignores asset hashes', () => {
    expect(scanText(`"S3Key": "${'ab12'.repeat(16)}.zip"`)).toEqual([]);
  });
});

// test/support/runtime-requests.ts
describe('the script extractor', () => {
  test('finds direct, array and wrapper invocations and ignores comments and quoted text', () => {
    const script = [
      '# aws s3 cp never runs',
      'AWS_PAGER=\'\' aws secretsmanager get-secret-value --secret-id "$arn"',
      'local -a aws=(timeout 60 aws logs) a=(--region x)',
      '"${aws[@]}" create-log-stream "${a[@]}"',
      'echo "resume: aws autoscaling resume-processes"',
      'put() {',
      '  timeout 60 aws ssm "$2" --region "$1" "${@:3}"',
      '}',
      'put "$r" put-parameter --name x',
      '[[ $ok ]] && put us-east-1 get-parameter <<< "$b"',
    ].join('\n');
    expect(scriptCalls(script).sort()).toEqual(['logs:CreateLogStream', 'secretsmanager:GetSecretValue', 'ssm:GetParameter', 'ssm:PutParameter']);
  });
});

// test/support/iam-evaluate.ts
describe('the condition key check', () => {
  test('refuses a key of another action (a control)', async () => {
    const condition = { StringEquals: { 'kms:ViaService': 'x' } };
    const policy = { Statement: [{ Effect: 'Allow', Action: 'sqs:SendMessage', Resource: '*', Condition: condition }] };
    expect(await invalidConditionKeys(policy)).toEqual(['kms:ViaService for sqs:SendMessage']);
  });
});

// test/support/synth.ts (stableTemplate)
describe('stable snapshot keys', () => {
  test('only asset hashes are normalized', () => {
    const hash = 'a'.repeat(64);
    expect(stableTemplate({ S3Key: `${hash}.zip`, Other: 'b'.repeat(63), Name: 'AemCryptoKeys' }))
      .toEqual({ S3Key: 'ASSET_HASH.zip', Other: 'b'.repeat(63), Name: 'AemCryptoKeys' });
  });

  test('an embedded script body becomes one line; its data block (the parameters) stays', () => {
    const runCommand = ['#!/bin/bash', '# install-keys.sh: puts the keys', 'echo body', 'exit $?', DATA_BLOCK_MARKER, '#@A={{ A }}', '#@end'];
    expect(stableTemplate({ inputs: { runCommand } })).toEqual({
      inputs: { runCommand: ['EMBEDDED_SCRIPT install-keys.sh', DATA_BLOCK_MARKER, '#@A={{ A }}', '#@end'] },
    });
    expect(stableTemplate({ runCommand: ['echo', 'other'] })).toEqual({ runCommand: ['echo', 'other'] });
  });
});
