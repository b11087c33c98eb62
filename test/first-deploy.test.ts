import { App, Stack } from 'aws-cdk-lib';
import { Template } from 'aws-cdk-lib/assertions';
import * as autoscaling from 'aws-cdk-lib/aws-autoscaling';
import * as ec2 from 'aws-cdk-lib/aws-ec2';
import * as iam from 'aws-cdk-lib/aws-iam';
import { AemCryptoKeys, AemCryptoKeysProps, KeySource } from '../lib';
import { findCycle, idsOf, waitsFor } from './support/template-graph';

// On the first deploy nothing may run the installer before the generator filled the secret:
// a gated group's first instances would be abandoned (and replaced, again and again), a tag
// association's first run would fail on every instance.

function estate(groups: number, tags: number, props: AemCryptoKeysProps = {}) {
  const app = new App({ context: { 'aws:cdk:enable-path-metadata': true } });
  const stack = new Stack(app, 'Estate');
  const vpc = new ec2.Vpc(stack, 'Vpc', { maxAzs: 1, natGateways: 0, subnetConfiguration: [{ name: 'app', subnetType: ec2.SubnetType.PRIVATE_ISOLATED }] });
  const keys = new AemCryptoKeys(stack, 'Keys', props);
  for (let i = 0; i < groups; i++) {
    const asg = new autoscaling.AutoScalingGroup(stack, `Publish${i}`, {
      vpc,
      launchTemplate: new ec2.LaunchTemplate(stack, `Template${i}`, {
        instanceType: new ec2.InstanceType('m6i.large'),
        machineImage: ec2.MachineImage.genericLinux({ 'us-east-1': 'ami-12345678' }),
        role: new iam.Role(stack, `Role${i}`, { assumedBy: new iam.ServicePrincipal('ec2.amazonaws.com') }),
      }),
    });
    keys.addAutoScalingGroup(asg);
  }
  for (let i = 0; i < tags; i++) {
    keys.addInstancesByTag('aem-role', `author${i}`);
  }
  const resources = Template.fromStack(stack).toJSON().Resources as Record<string, any>;
  return { keys, resources };
}

describe('nothing installs before the generated keys exist', () => {
  test.each([[1, 1], [3, 2]])('%i gated group(s) and %i tag association(s) wait for the generator; no cycle', (groups, tags) => {
    const { resources } = estate(groups, tags);
    const [generator] = idsOf(resources, 'Custom::AemCryptoKeys');
    const asgs = idsOf(resources, 'AWS::AutoScaling::AutoScalingGroup');
    const associations = idsOf(resources, 'AWS::SSM::Association');
    expect(asgs).toHaveLength(groups);
    expect(associations).toHaveLength(tags);
    for (const id of [...asgs, ...associations]) {
      expect({ id, waits: waitsFor(resources, id, generator) }).toEqual({ id, waits: true });
      // Directly: the resource that starts installs names the generator in its DependsOn.
      expect(resources[id].DependsOn).toContain(generator);
    }
    expect(findCycle(resources)).toBeUndefined();
  });

  test('the generator waits for none of them (it only needs the secret and its key)', () => {
    const { resources } = estate(2, 2);
    const [generator] = idsOf(resources, 'Custom::AemCryptoKeys');
    for (const id of [...idsOf(resources, 'AWS::AutoScaling::AutoScalingGroup'), ...idsOf(resources, 'AWS::SSM::Association'),
      ...idsOf(resources, 'AWS::Events::Rule'), ...idsOf(resources, 'AWS::IAM::Policy', '/Role')]) {
      expect({ id, before: waitsFor(resources, generator, id) }).toEqual({ id, before: false });
    }
  });

  test('the rule, automation and grants still come before the group (and its instances)', () => {
    const { resources } = estate(1, 0);
    const [asg] = idsOf(resources, 'AWS::AutoScaling::AutoScalingGroup');
    for (const id of [...idsOf(resources, 'AWS::Events::Rule'), ...idsOf(resources, 'AWS::SSM::Document', 'LifecycleGate'), ...idsOf(resources, 'AWS::IAM::Policy', 'Role0')]) {
      expect({ id, before: waitsFor(resources, asg, id) }).toEqual({ id, before: true });
    }
  });

  test('keysReady lets other resources wait too', () => {
    const generated = estate(0, 0);
    const app = new App();
    const stack = new Stack(app, 'Other');
    const keys = new AemCryptoKeys(stack, 'Keys');
    const bucket = new ec2.CfnVPC(stack, 'Thing', { cidrBlock: '10.0.0.0/16' });
    bucket.node.addDependency(keys.keysReady);
    const resources = Template.fromStack(stack).toJSON().Resources;
    expect(resources[stack.getLogicalId(bucket)].DependsOn).toEqual(idsOf(resources, 'Custom::AemCryptoKeys'));
    expect(idsOf(generated.resources, 'Custom::AemCryptoKeys')).toHaveLength(1);
  });

  test('without a generator keysReady is empty: nothing waits, no cycle', () => {
    const later = estate(1, 1, { keySource: KeySource.importLater() });
    expect(idsOf(later.resources, 'Custom::AemCryptoKeys')).toHaveLength(0);
    expect(findCycle(later.resources)).toBeUndefined();
  });
});
