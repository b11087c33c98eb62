import { execFileSync } from 'child_process';
import * as fs from 'fs';
import * as os from 'os';
import * as path from 'path';
import { App, Stack } from 'aws-cdk-lib';
import { Annotations, Match, Template } from 'aws-cdk-lib/assertions';
import * as iam from 'aws-cdk-lib/aws-iam';
import * as kms from 'aws-cdk-lib/aws-kms';
import * as secretsmanager from 'aws-cdk-lib/aws-secretsmanager';
import {
  addMultiRegionEstate, AWS_KEY_REPLICA_REGION, CMK_REPLICA_REGION, EXAMPLE_REPLICA_KEY_ALIAS, EXAMPLE_SECRET_NAME, PRIMARY_REGION,
} from '../bin/multi-region-stacks';
import { AemCryptoKeys, AemCryptoKeysProps, KeySource, ReplicaKey } from '../lib';
import { scanDirectory } from './support/key-scan';
import { nagFindings } from './support/nag';
import { exampleContext } from './support/synth';
import { describeWithTools } from './support/tools';

/** Every IAM statement of the template, flattened. */
function statements(template: Template): any[] {
  return Object.values(template.findResources('AWS::IAM::Policy')).flatMap((p: any) => p.Properties.PolicyDocument.Statement);
}

/** A template value with its tokens resolved to text where the region/partition/account are intrinsics. */
function text(value: unknown): string {
  return JSON.stringify(value);
}

/** The stack's own KMS keys (the log group's, the alarm topic's), by logical ID. */
function localKeys(template: Template): string[] {
  return Object.keys(template.findResources('AWS::KMS::Key'));
}

/** KMS statements about the secret's key: every kms:* statement except grants on the stack's own log/topic keys. */
function secretKeyStatements(template: Template): any[] {
  const own = localKeys(template);
  return statements(template)
    .filter((s) => [].concat(s.Action).some((a: string) => a.startsWith('kms:')))
    .filter((s) => !own.some((id) => text(s.Resource).includes(`"${id}"`)));
}

// With cdk.json's feature flags (partition literals), ARNs in stacks with a region name the partition: aws.
describe('the three-region example', () => {
  const outdir = fs.mkdtempSync(path.join(os.tmpdir(), 'aem-keys-multi-region-'));
  const app = new App({ outdir, context: exampleContext() });
  const estate = addMultiRegionEstate(app);
  const assembly = app.synth();
  const t = (stack: Stack) => Template.fromJSON(assembly.getStackByName(stack.stackName).template);
  const primary = t(estate.primary);
  const cmk = t(estate.cmkReplica);
  const awsKey = t(estate.awsKeyReplica);
  const keys = t(estate.replicaKeys);

  test('stacks in their regions, deployed key stack -> primary -> replica estates', () => {
    expect([estate.replicaKeys, estate.primary, estate.cmkReplica, estate.awsKeyReplica].map((s) => s.region))
      .toEqual([CMK_REPLICA_REGION, PRIMARY_REGION, CMK_REPLICA_REGION, AWS_KEY_REPLICA_REGION]);
    expect(estate.primary.dependencies).toEqual([estate.replicaKeys]);
    expect(estate.cmkReplica.dependencies).toEqual([estate.primary]);
    expect(estate.awsKeyReplica.dependencies).toEqual([estate.primary]);
  });

  test('cdk-nag AwsSolutionsChecks: nothing unacknowledged in the four stacks', () => {
    expect(nagFindings(app)).toEqual([]);
  });

  test('no cross-stack references (no exports, no imports): each stack deploys on its own', () => {
    for (const template of [primary, cmk, awsKey, keys]) {
      expect(text(template.toJSON())).not.toMatch(/Fn::ImportValue/);
      expect(Object.keys(template.toJSON().Outputs ?? {}).filter((k) => k.startsWith('ExportsOutput'))).toEqual([]);
    }
  });

  test('the replica key: customer managed, rotated, retained, under the alias the primary names', () => {
    keys.hasResource('AWS::KMS::Key', {
      Properties: { EnableKeyRotation: true }, DeletionPolicy: 'RetainExceptOnCreate', UpdateReplacePolicy: 'Retain',
    });
    keys.hasResourceProperties('AWS::KMS::Alias', { AliasName: EXAMPLE_REPLICA_KEY_ALIAS });
  });

  test('the primary owns the secret, generated keys and replicas: eu-west-1 with its own key, ap-southeast-2 with aws/secretsmanager', () => {
    primary.resourceCountIs('AWS::SecretsManager::Secret', 1);
    primary.resourceCountIs('Custom::AemCryptoKeys', 1);
    const [secret] = Object.values(primary.findResources('AWS::SecretsManager::Secret')) as any[];
    expect(secret.Properties.Name).toBe(EXAMPLE_SECRET_NAME);
    expect(secret.Properties.ReplicaRegions).toEqual([
      {
        Region: CMK_REPLICA_REGION,
        KmsKeyId: { 'Fn::Join': ['', [`arn:aws:kms:${CMK_REPLICA_REGION}:`, { Ref: 'AWS::AccountId' }, `:${EXAMPLE_REPLICA_KEY_ALIAS}`]] },
      },
      { Region: AWS_KEY_REPLICA_REGION },
    ]);
  });

  test('the generator writes the version that replication re-encrypts: kms:Encrypt and GenerateDataKey on the eu-west-1 key (by alias), '
    + 'through Secrets Manager only; it waits for both replicas', () => {
    const [generator] = Object.values(primary.findResources('Custom::AemCryptoKeys')) as any[];
    expect(generator.Properties.ReplicaRegions).toEqual([CMK_REPLICA_REGION, AWS_KEY_REPLICA_REGION]);
    const [role] = Object.entries(primary.findResources('AWS::IAM::Role'))
      .filter(([id]) => id.startsWith('CustomAemCryptoKeysGenerator')).map(([, r]) => r);
    expect(role).toBeDefined();
    const replicaKeyStatements = role.Properties.Policies.flatMap((p: any) => p.PolicyDocument.Statement)
      .filter((s: any) => text(s.Resource).includes(`:kms:${CMK_REPLICA_REGION}:`));
    expect(replicaKeyStatements).toEqual([{
      Effect: 'Allow',
      Action: ['kms:Encrypt', 'kms:GenerateDataKey'],
      Resource: [{ 'Fn::Join': ['', [`arn:aws:kms:${CMK_REPLICA_REGION}:`, { Ref: 'AWS::AccountId' }, ':key/*']] }],
      Condition: {
        'StringEquals': {
          'kms:ViaService': [`secretsmanager.${PRIMARY_REGION}.amazonaws.com`, `secretsmanager.${CMK_REPLICA_REGION}.amazonaws.com`],
        },
        'ForAnyValue:StringEquals': { 'kms:ResourceAliases': EXAMPLE_REPLICA_KEY_ALIAS },
      },
    }]);
    // ap-southeast-2 uses aws/secretsmanager: nothing to grant there.
    expect(text(role)).not.toContain(AWS_KEY_REPLICA_REGION);
  });

  test('primary grants: its own key, through us-east-1 Secrets Manager only', () => {
    const [secret] = Object.values(primary.findResources('AWS::SecretsManager::Secret')) as any[];
    const secretKey = secret.Properties.KmsKeyId['Fn::GetAtt'][0];
    const kmsStatements = statements(primary).filter((s) => [].concat(s.Action).includes('kms:Decrypt' as never) && text(s.Resource).includes(`"${secretKey}"`));
    expect(kmsStatements.length).toBeGreaterThan(0);
    for (const s of kmsStatements) {
      expect(s.Condition.StringEquals['kms:ViaService']).toBe(`secretsmanager.${PRIMARY_REGION}.amazonaws.com`);
      expect(text(s.Resource)).not.toMatch(/eu-west-1|ap-southeast-2|alias/);
    }
  });

  const replicaStacks: Array<[string, () => Template, string]> = [
    ['eu-west-1 (customer-managed replica key)', () => cmk, CMK_REPLICA_REGION],
    ['ap-southeast-2 (aws/secretsmanager)', () => awsKey, AWS_KEY_REPLICA_REGION],
  ];
  const documentsOf = (tpl: Template) => Object.values(tpl.findResources('AWS::SSM::Document')) as any[];

  test.each(replicaStacks)('%s: no secret, no generator, no key for the secret', (_name, template) => {
    const tpl = template();
    tpl.resourceCountIs('AWS::SecretsManager::Secret', 0);
    tpl.resourceCountIs('Custom::AemCryptoKeys', 0);
    // Only the keys of the log group and the alarm topic: the secret's key is the replica's, never created here.
    expect(localKeys(tpl)).toEqual([expect.stringMatching(/^CryptoKeysLogs/), expect.stringMatching(/^CryptoKeysMonitoringTopicKey/)]);
  });

  test.each(replicaStacks)('%s: its own installer document, gate and association (no export document)', (_name, template) => {
    const tpl = template();
    const docs = documentsOf(tpl);
    expect(docs.map((d) => d.Properties.Content.mainSteps[0].name).sort())
      .toEqual(['findGroup', 'installKeys', 'recordLifecycleHeartbeat']); // launch-loop protection's Automation, installer, lifecycle gate
    tpl.resourceCountIs('AWS::SSM::Association', 1);
    expect(Object.values(tpl.findResources('AWS::Events::Rule')).filter((r: any) => r.Properties.EventPattern.source?.[0] === 'aws.autoscaling')).toHaveLength(1);
  });

  test.each(replicaStacks)('%s: the installer reads the replica in its region', (_name, template, region) => {
    const installer = documentsOf(template()).find((d) => d.Properties.Content.mainSteps[0].name === 'installKeys');
    const replicaArn = { 'Fn::Join': ['', [`arn:aws:secretsmanager:${region}:`, { Ref: 'AWS::AccountId' }, `:secret:${EXAMPLE_SECRET_NAME}`]] };
    expect(installer.Properties.Content.parameters.SecretId.default).toEqual(replicaArn);
  });

  test.each(replicaStacks)('%s: the instances may read the replica in its region', (_name, template, region) => {
    const tpl = template();
    const reads = statements(tpl).filter((s) => [].concat(s.Action).includes('secretsmanager:GetSecretValue' as never));
    expect(reads.length).toBeGreaterThanOrEqual(2); // author + publish group
    for (const s of reads) {
      expect(text(s.Resource)).toContain(`:secretsmanager:${region}:`);
      expect(text(s.Resource)).toContain(`:secret:${EXAMPLE_SECRET_NAME}-??????`);
    }
  });

  test('eu-west-1 grants kms:Decrypt on its replica key only (by alias), only through eu-west-1 Secrets Manager', () => {
    const kmsStatements = secretKeyStatements(cmk);
    expect(kmsStatements.length).toBeGreaterThanOrEqual(2);
    for (const s of kmsStatements) {
      expect(s.Action).toBe('kms:Decrypt');
      expect(s.Resource).toEqual({ 'Fn::Join': ['', [`arn:aws:kms:${CMK_REPLICA_REGION}:`, { Ref: 'AWS::AccountId' }, ':key/*']] });
      expect(s.Condition).toEqual({
        'StringEquals': { 'kms:ViaService': `secretsmanager.${CMK_REPLICA_REGION}.amazonaws.com` },
        'ForAnyValue:StringEquals': { 'kms:ResourceAliases': EXAMPLE_REPLICA_KEY_ALIAS },
      });
    }
  });

  test('ap-southeast-2 (aws/secretsmanager) needs and gets no KMS grant, and says so without a warning', () => {
    expect(secretKeyStatements(awsKey)).toEqual([]);
    expect(assembly.getStackByName(estate.awsKeyReplica.stackName).messages.filter((m) => /noDecryptGrant/.test(String(m.entry.data)))).toEqual([]);
  });

  test('cdk-nag AwsSolutionsChecks pass on every stack (synth above would have thrown)', () => {
    expect(fs.existsSync(path.join(outdir, 'manifest.json'))).toBe(true);
  });

  test('no key-like material in the four stacks\' cloud assembly', () => {
    expect(scanDirectory(outdir)).toEqual([]);
  });

  describeWithTools(['cfn-lint'], 'cfn-lint', () => {
    test('zero errors in the four templates', () => {
      const templates = fs.readdirSync(outdir).filter((f) => f.endsWith('.template.json')).map((f) => path.join(outdir, f));
      expect(templates).toHaveLength(4);
      let output: string;
      try {
        output = execFileSync('cfn-lint', ['--format', 'parseable', ...templates], { encoding: 'utf8' });
      } catch (e: any) {
        output = `${e.stdout ?? ''}${e.stderr ?? ''}`;
      }
      expect(output.split('\n').filter((l) => /:E\d{4}:/.test(l))).toEqual([]);
    });
  });
});

describe('writers of a replicated secret may re-encrypt for its replicas', () => {
  test('grantWrite (export document\'s instance role, aem-keys import callers) covers each replica\'s key: by alias, or by its literal ARN', () => {
    const stack = new Stack(new App(), 'Primary', { env: { region: 'us-east-1' } });
    const literal = 'arn:aws:kms:ap-southeast-2:111111111111:key/1234abcd-12ab-34cd-56ef-1234567890ab';
    const keys = new AemCryptoKeys(stack, 'Keys', {
      secretName: 'aem/writers/crypto-keys',
      replicaRegions: [
        { region: 'eu-west-1', encryptionKey: ReplicaKey.fromRegion(stack, 'Eu', 'eu-west-1', 'alias/aem-keys-eu') },
        { region: 'ap-southeast-2', encryptionKey: kms.Key.fromKeyArn(stack, 'Ap', literal) },
        { region: 'eu-central-1' },
      ],
    });
    const writer = new iam.Role(stack, 'Writer', { assumedBy: new iam.AccountRootPrincipal() });
    keys.grantWrite(writer);
    const [policy] = Object.entries(Template.fromStack(stack).findResources('AWS::IAM::Policy'))
      .filter(([id]) => id.startsWith('Writer')).map(([, p]) => p as any);
    const replicaStatements = policy.Properties.PolicyDocument.Statement
      .filter((s: any) => /eu-west-1|ap-southeast-2|eu-central-1/.test(text(s.Resource)));
    expect(replicaStatements).toEqual([
      {
        Effect: 'Allow', Action: ['kms:Encrypt', 'kms:GenerateDataKey'],
        Resource: { 'Fn::Join': ['', ['arn:', { Ref: 'AWS::Partition' }, ':kms:eu-west-1:', { Ref: 'AWS::AccountId' }, ':key/*']] },
        Condition: {
          'StringEquals': { 'kms:ViaService': ['secretsmanager.us-east-1.amazonaws.com', 'secretsmanager.eu-west-1.amazonaws.com'] },
          'ForAnyValue:StringEquals': { 'kms:ResourceAliases': 'alias/aem-keys-eu' },
        },
      },
      {
        Effect: 'Allow', Action: ['kms:Encrypt', 'kms:GenerateDataKey'], Resource: literal,
        Condition: { StringEquals: { 'kms:ViaService': ['secretsmanager.us-east-1.amazonaws.com', 'secretsmanager.ap-southeast-2.amazonaws.com'] } },
      },
    ]);
  });
});

describe('ReplicaKey aliases: one per key set and region', () => {
  test('no shared default: without aliasName (plain JavaScript) a clear error; two key sets\' keys in one region get their own aliases', () => {
    const stack = new Stack(new App(), 'Keys', { env: { region: 'eu-west-1' } });
    expect(() => new ReplicaKey(stack, 'NoAlias', {} as any)).toThrow('ReplicaKey: aliasName is required, one per key set and region');
    expect(() => (ReplicaKey.fromRegion as any)(stack, 'NoAliasRef', 'eu-west-1')).toThrow('ReplicaKey: aliasName is required');
    new ReplicaKey(stack, 'Prod', { aliasName: 'alias/aem/prod/crypto-keys' });
    new ReplicaKey(stack, 'Stage', { aliasName: 'alias/aem/stage/crypto-keys' });
    const aliases = Object.values(Template.fromStack(stack).findResources('AWS::KMS::Alias')).map((a: any) => a.Properties.AliasName);
    expect(aliases).toEqual(['alias/aem/prod/crypto-keys', 'alias/aem/stage/crypto-keys']);
  });
});

describe('each replica gets a key valid in its region (checked at synth)', () => {
  const primaryIn = (region?: string) => new Stack(new App(), 'Primary', region ? { env: { region } } : {});
  // A literal secretName: replication needs one (each replica stack finds its replica by it).
  const make = (stack: Stack, props: AemCryptoKeysProps) => () => new AemCryptoKeys(stack, 'Keys', { secretName: 'aem-keys', ...props });

  test('the primary\'s own key for a replica', () => {
    const stack = primaryIn();
    const key = new kms.Key(stack, 'Key');
    expect(make(stack, { encryptionKey: key, replicaRegions: [{ region: 'eu-west-1', encryptionKey: key }] }))
      .toThrow('replicaRegions[0].encryptionKey: the primary\'s encryptionKey cannot encrypt a replica in eu-west-1 (KMS keys are regional)');
  });

  test('a key created in the (environment-agnostic) primary stack', () => {
    const stack = primaryIn();
    expect(make(stack, { replicaRegions: [{ region: 'eu-west-1', encryptionKey: new kms.Key(stack, 'Other') }] }))
      .toThrow('replicaRegions[0].encryptionKey: the key is created in this stack, i.e. in the primary\'s region, not in eu-west-1');
  });

  test('a key whose ARN or stack names another region', () => {
    const stack = primaryIn('us-east-1');
    const byArn = kms.Key.fromKeyArn(stack, 'ByArn', 'arn:aws:kms:us-west-2:111111111111:key/1234abcd-12ab-34cd-56ef-1234567890ab');
    expect(make(stack, { replicaRegions: [{ region: 'eu-west-1' }, { region: 'ap-southeast-2', encryptionKey: byArn }] }))
      .toThrow('replicaRegions[1].encryptionKey: the key is in us-west-2, the replica in ap-southeast-2 (KMS keys are regional); create a key in ap-southeast-2');
    const other = new Stack(stack.node.root as App, 'Keys', { env: { region: 'eu-central-1' } });
    const third = primaryIn();
    const fromRegion = ReplicaKey.fromRegion(third, 'Ref', 'eu-central-1', 'alias/aem/c');
    expect(make(primaryIn('us-east-1'), { replicaRegions: [{ region: 'eu-west-1', encryptionKey: new kms.Key(other, 'K') }] })).toThrow('the key is in eu-central-1, the replica in eu-west-1');
    expect(make(third, { replicaRegions: [{ region: 'eu-west-1', encryptionKey: fromRegion }] })).toThrow('the key is in eu-central-1, the replica in eu-west-1');
  });

  test('the primary\'s own region, duplicates and bad names', () => {
    expect(make(primaryIn('eu-west-1'), { replicaRegions: [{ region: 'eu-west-1' }] })).toThrow('replicaRegions[0].region: eu-west-1 is the primary secret\'s own region');
    expect(make(primaryIn(), { replicaRegions: [{ region: 'eu-west-1' }, { region: 'eu-west-1' }] })).toThrow('replicaRegions[1].region: eu-west-1 is listed twice');
    expect(make(primaryIn(), { replicaRegions: [{ region: 'Europe' }] })).toThrow('replicaRegions[0].region: must be a region name like eu-west-1');
  });

  test('valid: ReplicaKey.fromRegion of the replica\'s region, a literal key ARN of that region, or none', () => {
    const stack = primaryIn();
    new AemCryptoKeys(stack, 'Keys', {
      secretName: 'aem-keys',
      replicaRegions: [
        { region: 'eu-west-1', encryptionKey: ReplicaKey.fromRegion(stack, 'Eu', 'eu-west-1', 'alias/aem/eu') },
        { region: 'us-west-2', encryptionKey: kms.Key.fromKeyArn(stack, 'Us', 'arn:aws:kms:us-west-2:111111111111:key/1234abcd-12ab-34cd-56ef-1234567890ab') },
        { region: 'ap-southeast-2' },
      ],
    });
    Template.fromStack(stack).hasResourceProperties('AWS::SecretsManager::Secret', {
      ReplicaRegions: [
        { Region: 'eu-west-1', KmsKeyId: { 'Fn::Join': ['', ['arn:', { Ref: 'AWS::Partition' }, ':kms:eu-west-1:', { Ref: 'AWS::AccountId' }, ':alias/aem/eu']] } },
        { Region: 'us-west-2', KmsKeyId: 'arn:aws:kms:us-west-2:111111111111:key/1234abcd-12ab-34cd-56ef-1234567890ab' },
        { Region: 'ap-southeast-2', KmsKeyId: Match.absent() },
      ],
    });
  });

  test('replicaRegions and encryptionKey are refused for a secret this key set does not create', () => {
    const stack = primaryIn();
    const secret = secretsmanager.Secret.fromSecretNameV2(stack, 'S', 'x');
    expect(make(stack, { keySource: KeySource.fromSecret(secret), replicaRegions: [{ region: 'eu-west-1' }] }))
      .toThrow('replicaRegions: only for a secret this key set creates');
  });
});

describe('KeySource.fromReplica', () => {
  const replicaStack = (region = 'eu-west-1') => new Stack(new App(), 'Replica', { env: { region } });

  describe('by the primary\'s complete ARN, with the replica\'s key', () => {
    let stack: Stack;
    let key: kms.IKey;
    let keys: AemCryptoKeys;
    let role: iam.Role;
    beforeAll(() => {
      stack = replicaStack();
      key = kms.Key.fromKeyArn(stack, 'K', 'arn:aws:kms:eu-west-1:111111111111:key/1234abcd-12ab-34cd-56ef-1234567890ab');
      keys = new AemCryptoKeys(stack, 'Keys', {
        keySource: KeySource.fromReplica({ primarySecretArn: 'arn:aws:secretsmanager:us-east-1:111111111111:secret:aem/keys-AbCdEf', encryptionKey: key }),
      });
      role = new iam.Role(stack, 'Role', { assumedBy: new iam.ServicePrincipal('ec2.amazonaws.com') });
      keys.grantRead(role);
    });

    test('the secret is the replica\'s ARN in this region', () => {
      expect(keys.secret.secretArn).toBe('arn:aws:secretsmanager:eu-west-1:111111111111:secret:aem/keys-AbCdEf');
    });

    test('grantRead grants exactly that ARN and the key through Secrets Manager in this region', () => {
      const s = statements(Template.fromStack(stack));
      expect(s).toContainEqual({ Action: 'kms:Decrypt', Effect: 'Allow', Resource: key.keyArn, Condition: { StringEquals: { 'kms:ViaService': 'secretsmanager.eu-west-1.amazonaws.com' } } });
      expect(s).toContainEqual({ Action: ['secretsmanager:GetSecretValue', 'secretsmanager:DescribeSecret'], Effect: 'Allow', Resource: 'arn:aws:secretsmanager:eu-west-1:111111111111:secret:aem/keys-AbCdEf' });
    });

    test('read-only: no export document, grantWrite refused', () => {
      expect(keys.exportDocumentName).toBeUndefined();
      expect(() => keys.grantWrite(role)).toThrow('grantWrite: this key set reads a replica, which is read-only');
    });
  });

  test('a secretName ending in a hyphen and six characters is refused (a partial ARN would misresolve); a complete ARN is the way', () => {
    for (const name of ['aem/prod-keys-AbC123', 'keys-abcdef', 'x-123456']) {
      expect(() => KeySource.fromReplica({ secretName: name }))
        .toThrow(`KeySource.fromReplica: secretName "${name}" ends in a hyphen and six characters`);
    }
    for (const name of ['aem/prod/crypto-keys', 'keys-abcde', 'keys-abcdefg', 'keys_abcdef']) {
      expect(() => KeySource.fromReplica({ secretName: name })).not.toThrow();
    }
    const complete = 'arn:aws:secretsmanager:us-east-1:111111111111:secret:keys-abcdef-XyZ123';
    expect(() => KeySource.fromReplica({ primarySecretArn: complete })).not.toThrow();
  });

  test('mistake: a key of another region', () => {
    const other = (stack: Stack) => kms.Key.fromKeyArn(stack, 'K', 'arn:aws:kms:us-east-1:111111111111:key/1234abcd-12ab-34cd-56ef-1234567890ab');
    const stack = replicaStack();
    expect(() => new AemCryptoKeys(stack, 'Keys', { keySource: KeySource.fromReplica({ secretName: 'x', encryptionKey: other(stack) }) }))
      .toThrow('KeySource.fromReplica: encryptionKey is in us-east-1, but this stack (the replica\'s region) is in eu-west-1');
  });

  test('mistake: the primary\'s own region', () => {
    const stack = replicaStack('us-east-1');
    expect(() => new AemCryptoKeys(stack, 'Keys', { keySource: KeySource.fromReplica({ primarySecretArn: 'arn:aws:secretsmanager:us-east-1:111111111111:secret:aem/keys-AbCdEf', awsManagedKey: true }) }))
      .toThrow('this stack is in us-east-1, the primary secret\'s own region; use KeySource.fromSecret there');
  });

  test('mistake: a token ARN', () => {
    const stack = replicaStack();
    const tokenArn = new secretsmanager.Secret(new Stack(new App(), 'P'), 'S').secretArn;
    expect(() => new AemCryptoKeys(stack, 'Keys', { keySource: KeySource.fromReplica({ primarySecretArn: tokenArn, awsManagedKey: true }) }))
      .toThrow('primarySecretArn must be a literal Secrets Manager secret ARN');
  });

  test('mistake: both names or neither', () => {
    expect(() => KeySource.fromReplica({})).toThrow('give exactly one of secretName and primarySecretArn');
    expect(() => KeySource.fromReplica({ secretName: 'a', primarySecretArn: 'b' })).toThrow('give exactly one of secretName and primarySecretArn');
  });

  test('mistake: an encryptionKey of its own for a replica', () => {
    const stack = replicaStack();
    expect(() => new AemCryptoKeys(replicaStack(), 'Keys', {
      keySource: KeySource.fromReplica({ secretName: 'x' }), encryptionKey: new kms.Key(stack, 'Own'),
    })).toThrow('encryptionKey: only for a secret this key set creates');
  });
});

describe('a secret without a known key grants no kms:Decrypt: warned at synth', () => {
  const warnings = (source: (stack: Stack) => KeySource) => {
    const stack = new Stack(new App(), 'W');
    new AemCryptoKeys(stack, 'Keys', { keySource: source(stack) });
    return Annotations.fromStack(stack).findWarning('*', Match.stringLikeRegexp('grant no kms:Decrypt'));
  };
  const arn = 'arn:aws:secretsmanager:us-east-1:111111111111:secret:aem/keys-AbCdEf';

  test('fromSecret without encryptionKey: a warning naming the fix', () => {
    const found = warnings((s) => KeySource.fromSecret(secretsmanager.Secret.fromSecretCompleteArn(s, 'S', arn)));
    expect(found).toHaveLength(1);
    expect(String(found[0].entry.data)).toContain('Secret.fromSecretAttributes(scope, id, { secretCompleteArn, encryptionKey })');
    expect(String(found[0].entry.data)).toContain('{ awsManagedKey: true }');
  });

  test('no warning with the secret\'s key, or when the AWS-managed key is stated', () => {
    expect(warnings((s) => KeySource.fromSecret(secretsmanager.Secret.fromSecretAttributes(s, 'S', {
      secretCompleteArn: arn, encryptionKey: kms.Key.fromKeyArn(s, 'K', 'arn:aws:kms:us-east-1:111111111111:key/1234abcd-12ab-34cd-56ef-1234567890ab'),
    })))).toHaveLength(0);
    expect(warnings((s) => KeySource.fromSecret(secretsmanager.Secret.fromSecretCompleteArn(s, 'S', arn), { awsManagedKey: true }))).toHaveLength(0);
  });

  test('a replica key set refuses an export document (a replica is read-only)', () => {
    const stack = new Stack(new App(), 'Replica', { env: { region: 'eu-west-1' } });
    expect(() => new AemCryptoKeys(stack, 'Keys', { keySource: KeySource.fromReplica({ secretName: 'aem/keys', awsManagedKey: true }), exportDocument: true }))
      .toThrow('exportDocument: a replica is read-only; create the export document with the primary region\'s key set');
  });

  test('fromReplica without a key or awsManagedKey warns too', () => {
    expect(warnings(() => KeySource.fromReplica({ secretName: 'aem/keys' }))).toHaveLength(1);
    expect(warnings(() => KeySource.fromReplica({ secretName: 'aem/keys', awsManagedKey: true }))).toHaveLength(0);
  });
});
