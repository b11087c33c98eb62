/**
 * Growth: each gated group adds the same, small number of resources and bytes, and a 50-group
 * stack stays within CloudFormation's limits. Synthesizes 1, 10 and 50 groups, gated and not.
 */
import { exampleStack, fleetStack, TemplateSize } from '../scripts/bench-fleet';

// CloudFormation quotas (per template): https://docs.aws.amazon.com/AWSCloudFormation/latest/UserGuide/cloudformation-limits.html
const MAX_RESOURCES = 500;
const MAX_TEMPLATE_BYTES = 1_000_000; // template body from S3 (cdk deploy uploads it)
const MAX_PARAMETERS = 200;
const MAX_OUTPUTS = 200;
// IAM: inline policies of one role together, whitespace excluded.
const MAX_ROLE_INLINE_POLICY_CHARS = 10_240;

describe('growth with the number of gated groups', () => {
  const counts = [1, 10, 50];
  const sizes = new Map<number, { gated: TemplateSize; plain: TemplateSize }>();
  for (const n of counts) {
    sizes.set(n, { gated: fleetStack(n, true), plain: fleetStack(n, false) });
  }
  const overhead = (n: number) => {
    const { gated, plain } = sizes.get(n)!;
    return { resources: gated.resources - plain.resources, bytes: gated.bytes - plain.bytes };
  };

  test('resources and bytes added per group are identical from 1 to 10 and from 10 to 50 groups', () => {
    const a = overhead(1);
    const b = overhead(10);
    const c = overhead(50);
    const perGroupResources = [(b.resources - a.resources) / 9, (c.resources - b.resources) / 40];
    const perGroupBytes = [(b.bytes - a.bytes) / 9, (c.bytes - b.bytes) / 40];
    expect(perGroupResources[0]).toBe(perGroupResources[1]);
    expect(perGroupBytes[0]).toBe(perGroupBytes[1]);
    expect(Number.isInteger(perGroupBytes[0])).toBe(true);
    // A rule per group, plus the read (and log) grant on the group's role; nothing else.
    expect(perGroupResources[0]).toBe(2);
    expect(perGroupBytes[0]).toBeLessThan(4_000);
  });

  describe('with monitoring and launch-loop protection', () => {
    // Each group count synthesized once, for all the tests below.
    const monitored = new Map<number, ReturnType<typeof fleetStack>>();
    const synthMonitored = (n: number) => monitored.get(n) ?? monitored.set(n, fleetStack(n, true, {}, true)).get(n)!;
    const added = (n: number) => {
      const m = synthMonitored(n);
      const p = sizes.get(n)!.plain;
      return { resources: m.resources - p.resources, bytes: m.bytes - p.bytes, template: m.template };
    };

    test('constant per group too (+ one loop alarm)', () => {
      const [a, b, c] = [added(1), added(10), added(50)];
      const perGroupResources = [(b.resources - a.resources) / 9, (c.resources - b.resources) / 40];
      const perGroupBytes = [(b.bytes - a.bytes) / 9, (c.bytes - b.bytes) / 40];
      expect(perGroupResources).toEqual([3, 3]);
      expect(perGroupBytes[0]).toBe(perGroupBytes[1]);
      expect(perGroupBytes[0]).toBeLessThan(8_000);
    });

    test('50 groups stay within CloudFormation\'s resource and template size limits', () => {
      const fifty = synthMonitored(50);
      expect(fifty.resources).toBeLessThan(MAX_RESOURCES);
      expect(fifty.bytes).toBeLessThan(MAX_TEMPLATE_BYTES);
    });

    test('the dead-letter queue\'s policy admits the rules by name prefix: the same size for 1 and 50 groups', () => {
      const fifty = synthMonitored(50);
      const a = added(1);
      const queuePolicy = (t: any) => JSON.stringify(Object.values(t.Resources as Record<string, any>).find((r) => r.Type === 'AWS::SQS::QueuePolicy').Properties);
      expect(queuePolicy(fifty.template).length).toBe(queuePolicy(a.template).length);
    });
  });

  test('what each group adds: one rule, one role policy; one Automation and one installer document per key set', () => {
    const types = (t: any) => Object.values(t.Resources as Record<string, any>).map((r) => r.Type as string);
    const count = (list: string[], type: string) => list.filter((t) => t === type).length;
    for (const n of counts) {
      const gated = types(sizes.get(n)!.gated.template);
      const plain = types(sizes.get(n)!.plain.template);
      expect(count(gated, 'AWS::Events::Rule') - count(plain, 'AWS::Events::Rule')).toBe(n);
      expect(count(gated, 'AWS::SSM::Document')).toBe(2); // installer, Automation: once per key set (no export document for generated keys)
      expect(count(gated, 'AWS::AutoScaling::LifecycleHook')).toBe(0);
      expect(count(gated, 'AWS::Lambda::Function') - count(plain, 'AWS::Lambda::Function')).toBe(1); // the key generator, once
    }
  });

  test('50 gated groups stay within CloudFormation\'s limits', () => {
    const { gated } = sizes.get(50)!;
    expect(gated.resources).toBeLessThan(MAX_RESOURCES);
    expect(gated.bytes).toBeLessThan(MAX_TEMPLATE_BYTES);
    expect(gated.parameters).toBeLessThanOrEqual(MAX_PARAMETERS);
    expect(gated.outputs).toBeLessThanOrEqual(MAX_OUTPUTS);
  });

  test('50 gated groups stay within IAM\'s inline policy limit', () => {
    const { gated } = sizes.get(50)!;
    // The automation role's policy grows by two tag values per group. Its CloudFormation form
    // (Fn::Join and all) is longer than the policy IAM stores, so this bound is conservative.
    const policies = Object.values(gated.template.Resources as Record<string, any>)
      .filter((r) => r.Type === 'AWS::IAM::Policy' && /AutomationRole/.test(JSON.stringify(r.Properties.Roles)));
    expect(policies).toHaveLength(1);
    expect(JSON.stringify(policies[0].Properties.PolicyDocument).length).toBeLessThan(MAX_ROLE_INLINE_POLICY_CHARS);
  });

  test('the example app with 50 gated publish groups (VPC, author, tag association) also fits', () => {
    const example = exampleStack(50, true);
    expect(example.resources).toBeLessThan(MAX_RESOURCES);
    expect(example.bytes).toBeLessThan(MAX_TEMPLATE_BYTES);
    expect(example.parameters).toBeLessThanOrEqual(MAX_PARAMETERS);
    expect(example.outputs).toBeLessThanOrEqual(MAX_OUTPUTS);
  });
});
