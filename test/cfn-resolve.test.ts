import { resolveStack, secretSuffix, TEST_ACCOUNT } from './support/cfn-resolve';

// The resolver the runtime-request tests stand on: intrinsics to the values CloudFormation gives.

const template = {
  Parameters: { Ami: { Type: 'String', Default: 'ami-123' } },
  Resources: {
    Key: { Type: 'AWS::KMS::Key', Properties: {} },
    Secret: { Type: 'AWS::SecretsManager::Secret', Properties: { Name: 'aem/keys', KmsKeyId: { 'Fn::GetAtt': ['Key', 'Arn'] } } },
    Group: { Type: 'AWS::Logs::LogGroup', Properties: {} },
    Rule: { Type: 'AWS::Events::Rule', Properties: { Name: 'r1' } },
    Role: { Type: 'AWS::IAM::Role', Properties: { Path: '/svc/' } },
    User: {
      Type: 'Custom::X',
      Properties: {
        Join: {
          'Fn::Join': ['', ['arn:', { Ref: 'AWS::Partition' }, ':ssm:', { Ref: 'AWS::Region' }, ':', { Ref: 'AWS::AccountId' }, ':document/d']],
        },
        Sub: { 'Fn::Sub': 'arn:${AWS::Partition}:logs:${AWS::Region}:${AWS::AccountId}:log-group:${Group}:*' },
        SubVars: { 'Fn::Sub': ['${A}-${Rule.Arn}', { A: { Ref: 'Ami' } }] },
        Select: { 'Fn::Select': [1, { 'Fn::Split': ['/', 'a/b/c'] }] },
        Secret: { Ref: 'Secret' },
        Role: { 'Fn::GetAtt': 'Role.Arn' },
      },
    },
  },
};

describe('resolveStack', () => {
  const stack = resolveStack(template, { stackName: 'Stack', region: 'eu-west-1' });
  const user = stack.resources.User.Properties;

  test('pseudo parameters, Fn::Join, Fn::Sub (with and without variables), Fn::Select and Fn::Split', () => {
    expect(user.Join).toBe(`arn:aws:ssm:eu-west-1:${TEST_ACCOUNT}:document/d`);
    expect(user.Sub).toBe(`arn:aws:logs:eu-west-1:${TEST_ACCOUNT}:log-group:${stack.ref('Group')}:*`);
    expect(user.SubVars).toBe(`ami-123-arn:aws:events:eu-west-1:${TEST_ACCOUNT}:rule/r1`);
    expect(user.Select).toBe('b');
  });

  test('a secret\'s Ref is its ARN with Secrets Manager\'s six-character suffix', () => {
    expect(user.Secret).toBe(`arn:aws:secretsmanager:eu-west-1:${TEST_ACCOUNT}:secret:aem/keys-${secretSuffix('aem/keys')}`);
    expect(secretSuffix('aem/keys')).toMatch(/^[a-z]{6}$/);
  });

  test('a key\'s Arn holds its id', () => {
    expect(stack.resources.Secret.Properties.KmsKeyId).toBe(`arn:aws:kms:eu-west-1:${TEST_ACCOUNT}:key/${stack.ref('Key')}`);
  });

  test('generated names are per stack and logical ID', () => {
    expect(stack.ref('Group')).toMatch(/^Stack-Group-[0-9A-F]{13}$/);
    expect(resolveStack(template, { stackName: 'Other', region: 'eu-west-1' }).ref('Group')).not.toBe(stack.ref('Group'));
  });

  test('a role\'s ARN keeps its path', () => {
    expect(user.Role).toBe(`arn:aws:iam::${TEST_ACCOUNT}:role/svc/${stack.ref('Role')}`);
  });

  test('refuses a reference to an unknown logical ID', () => {
    expect(() => resolveStack({ Resources: { A: { Type: 'X', Properties: { B: { Ref: 'Nope' } } } } }, { stackName: 's', region: 'r' }))
      .toThrow(/unknown logical ID Nope/);
  });

  test('refuses an import', () => {
    expect(() => resolveStack({ Resources: { A: { Type: 'X', Properties: { B: { 'Fn::ImportValue': 'x' } } } } }, { stackName: 's', region: 'r' }))
      .toThrow(/ImportValue/);
  });
});
