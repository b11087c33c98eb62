import { App, Stack } from 'aws-cdk-lib';
import { Annotations, Match, Template } from 'aws-cdk-lib/assertions';
import * as iam from 'aws-cdk-lib/aws-iam';
import { AemCryptoKeys } from '../lib';

/** Mistakes that used to synthesize and fail later (at deploy, or on the instances): caught at synth. */

function stack(app = new App(), env?: { region: string }): Stack {
  return new Stack(app, `S${app.node.children.length}`, { env });
}

describe('secretName', () => {
  test('characters Secrets Manager refuses fail synth, naming them', () => {
    expect(() => new AemCryptoKeys(stack(), 'Keys', { secretName: 'aem keys#1' }))
      .toThrow('secretName: "aem keys#1" is not a name Secrets Manager accepts (1 to 512 ASCII letters, digits and /_+=.@-); not allowed: " " "#"');
    expect(() => new AemCryptoKeys(stack(), 'Keys', { secretName: 'x'.repeat(513) })).toThrow(/not a name Secrets Manager accepts/);
    expect(() => new AemCryptoKeys(stack(), 'Keys', { secretName: 'aem/prod_keys+1=a.b@c-d' })).not.toThrow();
  });

  test('replicaRegions need a literal secretName (each replica stack finds its replica by it)', () => {
    expect(() => new AemCryptoKeys(stack(), 'Keys', { replicaRegions: [{ region: 'eu-west-1' }] }))
      .toThrow('replicaRegions: needs a literal secretName');
    expect(() => new AemCryptoKeys(stack(), 'Keys', { secretName: 'aem', replicaRegions: [{ region: 'eu-west-1' }] })).not.toThrow();
  });
});

describe('a replica region equal to the stack\'s region', () => {
  test('in an environment-agnostic stack: fails at deploy, before anything is created (a template rule)', () => {
    const s = stack();
    new AemCryptoKeys(s, 'Keys', { secretName: 'aem', replicaRegions: [{ region: 'eu-west-1' }] });
    const rules = Template.fromStack(s).toJSON().Rules;
    const ours = Object.values<any>(rules).filter((r) => JSON.stringify(r).includes('eu-west-1'));
    expect(ours).toEqual([{
      Assertions: [{
        Assert: { 'Fn::Not': [{ 'Fn::Equals': [{ Ref: 'AWS::Region' }, 'eu-west-1'] }] },
        AssertDescription: 'replicaRegions[0].region: eu-west-1 is the primary secret\'s own region (this stack\'s); list only other regions',
      }],
    }]);
  });

  test('with a region known at synth: no template rule (synth makes the check)', () => {
    const known = stack(new App(), { region: 'us-east-1' });
    new AemCryptoKeys(known, 'Keys', { secretName: 'aem', replicaRegions: [{ region: 'eu-west-1' }] });
    expect(JSON.stringify(Template.fromStack(known).toJSON().Rules ?? {})).not.toContain('eu-west-1');
  });
});

test('the same tag added twice to a key set fails synth', () => {
  const keys = new AemCryptoKeys(stack(), 'Keys');
  keys.addInstancesByTag('aem-role', 'author');
  expect(() => keys.addInstancesByTag('aem-role', 'author')).toThrow('addInstancesByTag(aem-role=author): this key set already installs on instances tagged aem-role=author');
  expect(() => keys.addInstancesByTag('aem-role', 'publish')).not.toThrow();
});

test('two key sets of one app targeting the same tag: a warning at synth naming the other', () => {
  const app = new App();
  const dev = stack(app);
  const prod = stack(app);
  new AemCryptoKeys(dev, 'Keys').addInstancesByTag('aem-role', 'author');
  new AemCryptoKeys(prod, 'Keys').addInstancesByTag('aem-role', 'author');
  const third = new AemCryptoKeys(stack(app), 'Keys');
  third.addInstancesByTag('aem-role', 'publish');
  app.synth();
  const warnings = Annotations.fromStack(dev).findWarning('*', Match.stringLikeRegexp('tagTargetedTwice'));
  expect(warnings.map((w) => w.entry.data)).toEqual([expect.stringContaining(`addInstancesByTag(aem-role=author): ${prod.node.path}/Keys also installs keys`)]);
  expect(Annotations.fromStack(prod).findWarning('*', Match.stringLikeRegexp('tagTargetedTwice'))).toHaveLength(1);
  expect(Annotations.fromStack(Stack.of(third)).findWarning('*', Match.stringLikeRegexp('tagTargetedTwice'))).toHaveLength(0);
});

describe('the grants reminder for tagged instances', () => {
  const reminders = (s: Stack) => Annotations.fromStack(s).findInfo('*', Match.stringLikeRegexp('grant the tagged instances'));

  test('printed while a grant is missing, with an id that can be acknowledged', () => {
    const s = stack();
    new AemCryptoKeys(s, 'Keys').addInstancesByTag('aem-role', 'author');
    const [info] = reminders(s);
    expect(info.entry.data).toMatch(new RegExp(
      `grant the tagged instances' role keys\\.grantRead\\(role\\) and, for their output .*keys\\.grantLogWrite\\(role\\) \\[ack: cdk-aem-crypto-keys:tagAssociationGrants\\]$`,
    ));
  });

  test('names only the missing grant', () => {
    const s = stack();
    const keys = new AemCryptoKeys(s, 'Keys');
    keys.addInstancesByTag('aem-role', 'author');
    const role = new iam.Role(s, 'AuthorRole', { assumedBy: new iam.ServicePrincipal('ec2.amazonaws.com') });
    keys.grantRead(role);
    expect(reminders(s).map((i) => i.entry.data)).toEqual([expect.not.stringContaining('grantRead')]);
  });

  test('nothing after both grants, whenever they were given', () => {
    const both = stack();
    const keys2 = new AemCryptoKeys(both, 'Keys');
    keys2.addInstancesByTag('aem-role', 'author');
    const role2 = new iam.Role(both, 'AuthorRole', { assumedBy: new iam.ServicePrincipal('ec2.amazonaws.com') });
    keys2.grantRead(role2);
    keys2.grantLogWrite(role2);
    expect(reminders(both)).toEqual([]);
  });
});
