import { App, RemovalPolicy, Stack } from 'aws-cdk-lib';
import { Match, Template } from 'aws-cdk-lib/assertions';
import * as iam from 'aws-cdk-lib/aws-iam';
import * as kms from 'aws-cdk-lib/aws-kms';
import * as secretsmanager from 'aws-cdk-lib/aws-secretsmanager';
import { AemCryptoKeys, AemCryptoKeysProps, KeySource, TokenHandlerProperty } from '../lib';

function synth(props?: AemCryptoKeysProps, extra?: (stack: Stack, keys: AemCryptoKeys) => void) {
  const stack = new Stack(new App(), 'Test');
  const keys = new AemCryptoKeys(stack, 'Keys', props);
  extra?.(stack, keys);
  return { stack, keys, template: Template.fromStack(stack) };
}

function policyStatements(template: Template, roleLogicalId: string): any[] {
  const policies = template.findResources('AWS::IAM::Policy');
  return Object.values(policies)
    .filter((p: any) => p.Properties.Roles.some((r: any) => r.Ref === roleLogicalId))
    .flatMap((p: any) => p.Properties.PolicyDocument.Statement);
}

function logicalId(stack: Stack, construct: { node: any }): string {
  return stack.getLogicalId(construct.node.defaultChild);
}

describe('AemCryptoKeys defaults', () => {
  const { template } = synth();

  const theSecret = () => (Object.values(template.findResources('AWS::SecretsManager::Secret')) as any[])[0];

  test('one secret', () => {
    template.resourceCountIs('AWS::SecretsManager::Secret', 1);
  });

  test('the secret is retained', () => {
    expect(theSecret().DeletionPolicy).toBe('RetainExceptOnCreate');
    expect(theSecret().UpdateReplacePolicy).toBe('Retain');
  });

  test('the secret is encrypted with its own KMS key', () => {
    expect(theSecret().Properties.KmsKeyId).toEqual({ 'Fn::GetAtt': [expect.stringMatching(/^KeysKey/), 'Arn'] });
  });

  test('the secret is never given a value by CloudFormation', () => {
    expect(theSecret().Properties.GenerateSecretString).toBeUndefined();
    expect(theSecret().Properties.SecretString).toBeUndefined();
  });

  test('KMS key is customer managed, rotated and retained', () => {
    // The secret's key; the log group's key (KeysLogsKey…) is its own.
    expect(secretKeys(template)).toHaveLength(1);
    template.hasResource('AWS::KMS::Key', {
      Properties: { EnableKeyRotation: true },
      DeletionPolicy: 'RetainExceptOnCreate',
      UpdateReplacePolicy: 'Retain',
    });
  });

  test('retained on stack deletion and replacement, but a rollback of the creating deploy deletes them (a retry with secretName works)', () => {
    const { template: named } = synth({ secretName: 'aem/prod/crypto-keys' });
    const kept = ['AWS::SecretsManager::Secret', 'AWS::KMS::Key', 'AWS::Logs::LogGroup'];
    for (const type of kept) {
      const resources = Object.values(named.findResources(type)) as any[];
      expect(resources.length).toBeGreaterThan(0);
      for (const r of resources) expect([type, r.DeletionPolicy, r.UpdateReplacePolicy]).toEqual([type, 'RetainExceptOnCreate', 'Retain']);
    }
  });

  test('an explicit removalPolicy RETAIN is honoured as given', () => {
    const { template: retained } = synth({ removalPolicy: RemovalPolicy.RETAIN });
    retained.hasResource('AWS::SecretsManager::Secret', { DeletionPolicy: 'Retain', UpdateReplacePolicy: 'Retain' });
  });

  test('keys are generated once by a custom resource that only names the secret (and the key lengths, 32 and 16)', () => {
    template.resourceCountIs('Custom::AemCryptoKeys', 1);
    const [generator] = Object.values(template.findResources('Custom::AemCryptoKeys')) as any[];
    expect(Object.keys(generator.Properties).sort()).toEqual(['HmacBytes', 'MasterBytes', 'SecretId', 'ServiceToken']);
    expect(generator.Properties.SecretId).toEqual({ Ref: expect.stringMatching(/^KeysSecret/) });
    expect([generator.Properties.HmacBytes, generator.Properties.MasterBytes]).toEqual(['32', '16']);
  });

  test('the generating custom resource is retained', () => {
    const [generator] = Object.values(template.findResources('Custom::AemCryptoKeys')) as any[];
    expect(generator.DeletionPolicy).toBe('Retain');
  });

  describe('two key sets in one stack', () => {
    let two: Template;
    let functions: any[];
    beforeAll(() => {
      ({ template: two } = synth({}, (stack) => new AemCryptoKeys(stack, 'Second')));
      functions = Object.values(two.findResources('AWS::Lambda::Function')) as any[];
    });

    test('one generator function per stack', () => {
      expect(functions).toHaveLength(1);
    });

    test('the generator logs into a log group of its own that expires (not a /aws/lambda group kept forever)', () => {
      const groups = two.findResources('AWS::Logs::LogGroup');
      const [groupId] = Object.keys(groups).filter((id) => id.startsWith('CustomAemCryptoKeysGenerator'));
      expect(groupId).toBeDefined();
      expect(functions[0].Properties.LoggingConfig).toEqual({ LogGroup: { Ref: groupId } });
      expect(groups[groupId].Properties.RetentionInDays).toBe(365);
    });
  });

  describe('keyLengths', () => {
    let sized: Template;
    beforeAll(() => {
      ({ template: sized } = synth({ keyLengths: { hmac: 64, master: 32 } }));
    });

    test('reach the generator (which writes and checks them)', () => {
      const [generator] = Object.values(sized.findResources('Custom::AemCryptoKeys')) as any[];
      expect([generator.Properties.HmacBytes, generator.Properties.MasterBytes]).toEqual(['64', '32']);
    });

    test('reach the installer document', () => {
      const installer = Object.values(sized.findResources('AWS::SSM::Document')).find((d: any) => d.Properties.Content.mainSteps?.[0]?.name === 'installKeys') as any;
      expect([installer.Properties.Content.parameters.HmacBytes.default, installer.Properties.Content.parameters.MasterBytes.default])
        .toEqual(['64', '32']);
    });

    test('out of range: refused at synth', () => {
      expect(() => synth({ keyLengths: { hmac: 0 } })).toThrow('hmacBytes (keyLengths.hmac) must be an integer from 1 to 4096, got 0');
    });
  });

  test('generator may write only this secret, and use the key only through Secrets Manager', () => {
    const roles = template.findResources('AWS::IAM::Role', {
      Properties: { AssumeRolePolicyDocument: { Statement: [Match.objectLike({ Principal: { Service: 'lambda.amazonaws.com' } })] } },
    });
    const [role] = Object.values(roles) as any[];
    const statements = role.Properties.Policies.flatMap((p: any) => p.PolicyDocument.Statement);
    expect(statements).toEqual([
      {
        Effect: 'Allow',
        Action: ['secretsmanager:DescribeSecret', 'secretsmanager:GetSecretValue', 'secretsmanager:PutSecretValue'],
        Resource: { Ref: expect.stringMatching(/^KeysSecret/) },
      },
      {
        Effect: 'Allow',
        Action: ['kms:Decrypt', 'kms:Encrypt', 'kms:GenerateDataKey'],
        Resource: { 'Fn::GetAtt': [expect.stringMatching(/^KeysKey/), 'Arn'] },
        Condition: { StringEquals: { 'kms:ViaService': { 'Fn::Join': ['', ['secretsmanager.', { Ref: 'AWS::Region' }, '.amazonaws.com']] } } },
      },
    ]);
  });

  test('no replicas unless asked', () => {
    const [secret] = Object.values(template.findResources('AWS::SecretsManager::Secret')) as any[];
    expect(secret.Properties.ReplicaRegions).toBeUndefined();
  });
});

describe('AemCryptoKeys props', () => {
  test('removalPolicy DESTROY is honoured for secret and key', () => {
    const { template } = synth({ removalPolicy: RemovalPolicy.DESTROY });
    template.hasResource('AWS::SecretsManager::Secret', { DeletionPolicy: 'Delete' });
    template.hasResource('AWS::KMS::Key', { DeletionPolicy: 'Delete' });
  });

  test('a KMS key passed in is used and no key is created', () => {
    const stack = new Stack(new App(), 'Own');
    const key = new kms.Key(stack, 'MyKey');
    new AemCryptoKeys(stack, 'Keys', { encryptionKey: key });
    const t = Template.fromStack(stack);
    expect(secretKeys(t)).toEqual([stack.getLogicalId(key.node.defaultChild as kms.CfnKey)]);
    t.hasResourceProperties('AWS::SecretsManager::Secret', { KmsKeyId: { 'Fn::GetAtt': [stack.getLogicalId(key.node.defaultChild as kms.CfnKey), 'Arn'] } });
  });

  test('secret name, description and replica regions', () => {
    const { template } = synth({
      secretName: 'aem/prod/crypto-keys',
      description: 'prod keys',
      replicaRegions: [{ region: 'eu-west-1' }, { region: 'us-west-2', encryptionKey: kms.Key.fromKeyArn(new Stack(), 'R', 'arn:aws:kms:us-west-2:111111111111:key/1234abcd-12ab-34cd-56ef-1234567890ab') }],
    });
    template.hasResourceProperties('AWS::SecretsManager::Secret', {
      Name: 'aem/prod/crypto-keys',
      Description: 'prod keys',
      ReplicaRegions: [{ Region: 'eu-west-1' }, { Region: 'us-west-2', KmsKeyId: 'arn:aws:kms:us-west-2:111111111111:key/1234abcd-12ab-34cd-56ef-1234567890ab' }],
    });
  });

  test('importLater: an empty secret and no generator', () => {
    const { template } = synth({ keySource: KeySource.importLater() });
    template.resourceCountIs('AWS::SecretsManager::Secret', 1);
    template.resourceCountIs('Custom::AemCryptoKeys', 0);
    const [secret] = Object.values(template.findResources('AWS::SecretsManager::Secret')) as any[];
    expect(secret.Properties.GenerateSecretString).toBeUndefined();
  });

  describe('an existing secret', () => {
    const arn = 'arn:aws:secretsmanager:eu-central-1:111111111111:secret:aem/keys-AbCdEf';
    let keys: AemCryptoKeys;
    let t: Template;
    beforeAll(() => {
      const stack = new Stack(new App(), 'Existing');
      keys = new AemCryptoKeys(stack, 'Keys', {
        keySource: KeySource.fromSecret(secretsmanager.Secret.fromSecretCompleteArn(stack, 'S', arn)),
      });
      t = Template.fromStack(stack);
    });

    test('nothing is created for the keys: no secret, no key, no generator', () => {
      t.resourceCountIs('AWS::SecretsManager::Secret', 0);
      expect(secretKeys(t)).toEqual([]);
      t.resourceCountIs('Custom::AemCryptoKeys', 0);
      expect(keys.secret.secretArn).toBe(arn);
    });

    test('the installer defaults to that ARN', () => {
      const doc = Object.values(t.findResources('AWS::SSM::Document'))[0] as any;
      expect(doc.Properties.Content.parameters.SecretId.default).toBe(arn);
    });
  });
});

describe('export document', () => {
  const exportDocs = (template: Template) => Object.keys(template.findResources('AWS::SSM::Document')).filter((id) => id.startsWith('KeysExportDocument'));

  test('only importLater() key sets get one by default; exportDocument overrides', () => {
    expect(exportDocs(synth({}).template)).toHaveLength(0);
    expect(exportDocs(synth({ keySource: KeySource.importLater() }).template)).toHaveLength(1);
    expect(exportDocs(synth({ exportDocument: true }).template)).toHaveLength(1);
    expect(exportDocs(synth({ keySource: KeySource.importLater(), exportDocument: false }).template)).toHaveLength(0);
    const keys = new AemCryptoKeys(new Stack(new App(), 'S'), 'Keys');
    expect(keys.exportDocumentName).toBeUndefined();
  });
});

describe('grants', () => {
  test('grantRead: GetSecretValue/DescribeSecret on this secret only, kms:Decrypt only via Secrets Manager', () => {
    let roleId = '';
    const { template } = synth(undefined, (stack, keys) => {
      const role = new iam.Role(stack, 'Reader', { assumedBy: new iam.ServicePrincipal('ec2.amazonaws.com') });
      const grant = keys.grantRead(role);
      expect(grant.success).toBe(true);
      roleId = logicalId(stack, role);
    });
    expect(policyStatements(template, roleId)).toEqual([
      {
        Effect: 'Allow',
        Action: ['secretsmanager:GetSecretValue', 'secretsmanager:DescribeSecret'],
        Resource: { Ref: expect.stringMatching(/^KeysSecret/) },
      },
      {
        Effect: 'Allow',
        Action: 'kms:Decrypt',
        Resource: { 'Fn::GetAtt': [expect.stringMatching(/^KeysKey/), 'Arn'] },
        Condition: { StringEquals: { 'kms:ViaService': { 'Fn::Join': ['', ['secretsmanager.', { Ref: 'AWS::Region' }, '.amazonaws.com']] } } },
      },
    ]);
  });

  test('grantRead leaves the key policy alone (no resource-policy widening)', () => {
    const { template: before } = synth();
    const { template: after } = synth(undefined, (stack, keys) => {
      keys.grantRead(new iam.Role(stack, 'Reader', { assumedBy: new iam.AccountRootPrincipal() }));
    });
    const policy = (t: Template) => (Object.values(t.findResources('AWS::KMS::Key'))[0] as any).Properties.KeyPolicy;
    expect(policy(after)).toEqual(policy(before));
  });

  test('grantWrite is separate from grantRead and allows PutSecretValue', () => {
    let roleId = '';
    const { template } = synth(undefined, (stack, keys) => {
      const role = new iam.Role(stack, 'Writer', { assumedBy: new iam.ServicePrincipal('ec2.amazonaws.com') });
      keys.grantWrite(role);
      roleId = logicalId(stack, role);
    });
    const actions = policyStatements(template, roleId).flatMap((s) => [].concat(s.Action));
    expect(actions).toEqual(expect.arrayContaining(['secretsmanager:PutSecretValue', 'kms:GenerateDataKey']));
  });

  test('grantRead on an imported secret by name uses the partial-ARN wildcard', () => {
    const stack = new Stack(new App(), 'ByName');
    const keys = new AemCryptoKeys(stack, 'Keys', {
      keySource: KeySource.fromSecret(secretsmanager.Secret.fromSecretNameV2(stack, 'S', 'aem/keys')),
    });
    const role = new iam.Role(stack, 'Reader', { assumedBy: new iam.ServicePrincipal('ec2.amazonaws.com') });
    keys.grantRead(role);
    const statements = policyStatements(Template.fromStack(stack), logicalId(stack, role));
    expect(statements).toHaveLength(1);
    expect(JSON.stringify(statements[0].Resource)).toContain(':secret:aem/keys-??????');
  });
});

describe('keys are never regenerated by a later deploy', () => {
  function generatorProps(props?: AemCryptoKeysProps) {
    const { template } = synth(props);
    const [generator] = Object.values(template.findResources('Custom::AemCryptoKeys')) as any[];
    return { id: Object.keys(template.findResources('Custom::AemCryptoKeys'))[0], props: generator.Properties };
  }

  test('changing other props leaves the generator resource and its properties unchanged', () => {
    const base = generatorProps();
    const changed = generatorProps({ description: 'renamed', tokenHandlerProperties: [TokenHandlerProperty.fromString('token.samesite.cookie.attr', 'Strict')] });
    expect(changed).toEqual(base);
  });
});

/** KMS keys other than the log group's. */
function secretKeys(t: Template): string[] {
  return Object.keys(t.findResources('AWS::KMS::Key')).filter((id) => !id.startsWith('KeysLogsKey'));
}
