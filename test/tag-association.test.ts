import { App, Duration, Stack } from 'aws-cdk-lib';
import { Annotations, Match, Template } from 'aws-cdk-lib/assertions';
import * as iam from 'aws-cdk-lib/aws-iam';
import * as s3 from 'aws-cdk-lib/aws-s3';
import * as secretsmanager from 'aws-cdk-lib/aws-secretsmanager';
import { AemCryptoKeys, ComplianceSeverity, InstancesByTagOptions, OnKeyMismatch, RestartBehavior, TagAssociation } from '../lib';

function setup() {
  const app = new App();
  const stack = new Stack(app, 'TagStack');
  const keys = new AemCryptoKeys(stack, 'Keys');
  return { stack, keys };
}

function associate(key: string, value: string, options: InstancesByTagOptions = {}) {
  const { stack, keys } = setup();
  const association = keys.addInstancesByTag(key, value, options);
  return { stack, keys, association, template: Template.fromStack(stack) };
}

describe('addInstancesByTag', () => {
  test('targets the tag, runs the installer document with the options, at once and every 30 minutes, 10% at a time', () => {
    const { template } = associate('aem-role', 'author', { quickstartDir: '/opt/aem/author/crx-quickstart', onKeyMismatch: OnKeyMismatch.FAIL });
    const installer = Object.keys(template.findResources('AWS::SSM::Document')).find((id) => id.startsWith('KeysInstallerDocument'));
    const secret = Object.keys(template.findResources('AWS::SecretsManager::Secret'))[0];
    template.resourceCountIs('AWS::SSM::Association', 1);
    template.hasResourceProperties('AWS::SSM::Association', {
      Name: { Ref: installer },
      Targets: [{ Key: 'tag:aem-role', Values: ['author'] }],
      ScheduleExpression: 'rate(30 minutes)',
      ApplyOnlyAtCronInterval: Match.absent(),
      MaxConcurrency: '10%',
      MaxErrors: '10%',
      ComplianceSeverity: 'HIGH',
      AssociationName: Match.absent(),
      OutputLocation: Match.absent(),
      Parameters: {
        SecretId: [{ Ref: secret }],
        QuickstartDir: ['/opt/aem/author/crx-quickstart'],
        AemUser: ['aem'],
        EncapsulatedToken: ['true'],
        OnKeyMismatch: ['fail'],
        Restart: ['service'],
        ServiceName: ['aem'],
        StartAfterInstall: ['false'],
        AemPort: ['4502'],
        FreshKeyMinutes: ['1440'],
      },
    });
  });

  test('by default an established instance keeps its keys: only AEM\'s fresh first-start keys are replaced (replace-fresh)', () => {
    const { template } = associate('aem-role', 'author');
    template.hasResourceProperties('AWS::SSM::Association', {
      Parameters: Match.objectLike({ OnKeyMismatch: ['replace-fresh'], FreshKeyMinutes: ['1440'] }),
    });
    // The gated Auto Scaling path (new instances only) keeps replace: see lifecycle-gate.test.ts.
  });

  test('replacing established keys is an explicit choice', () => {
    const explicit = associate('aem-role', 'author', { onKeyMismatch: OnKeyMismatch.REPLACE }).template;
    explicit.hasResourceProperties('AWS::SSM::Association', { Parameters: Match.objectLike({ OnKeyMismatch: ['replace'] }) });
  });

  test('freshKeyAge is tunable', () => {
    const tuned = associate('aem-role', 'author', { freshKeyAge: Duration.hours(2) }).template;
    tuned.hasResourceProperties('AWS::SSM::Association', { Parameters: Match.objectLike({ OnKeyMismatch: ['replace-fresh'], FreshKeyMinutes: ['120'] }) });
  });

  test('freshKeyAge outlasts the schedule: by default twice its interval, and never shorter than it', () => {
    const slow = associate('aem-role', 'author', { schedule: 'rate(2 days)' }).template;
    slow.hasResourceProperties('AWS::SSM::Association', { Parameters: Match.objectLike({ FreshKeyMinutes: [String(4 * 1440)] }) });
    expect(() => associate('aem-role', 'author', { schedule: 'rate(6 hours)', freshKeyAge: Duration.hours(6) }))
      .toThrow(/freshKeyAge \(360 minutes\) must be longer than the schedule's interval \(360 minutes\)/);
  });

  test('freshKeyAge must be whole minutes', () => {
    expect(() => associate('aem-role', 'author', { freshKeyAge: Duration.seconds(3690) })).toThrow(/freshKeyAge: must be whole minutes/);
  });

  test('schedule, rate controls, name, compliance severity and output location are options', () => {
    const { stack, keys } = setup();
    const bucket = new s3.Bucket(stack, 'Logs');
    const admin = new secretsmanager.Secret(stack, 'Admin');
    keys.addInstancesByTag('aem-role', 'publish-standalone', {
      schedule: 'cron(0 3 ? * SUN *)',
      maxConcurrency: '1',
      maxErrors: '0',
      associationName: 'aem-keys-standalone',
      complianceSeverity: ComplianceSeverity.CRITICAL,
      outputBucket: bucket,
      outputKeyPrefix: 'aem-keys/',
      restart: RestartBehavior.BUNDLES,
      adminSecret: admin,
    });
    const template = Template.fromStack(stack);
    const bucketId = Object.keys(template.findResources('AWS::S3::Bucket'))[0];
    const adminId = Object.keys(template.findResources('AWS::SecretsManager::Secret')).find((id) => id.startsWith('Admin'));
    template.hasResourceProperties('AWS::SSM::Association', {
      ScheduleExpression: 'cron(0 3 ? * SUN *)',
      MaxConcurrency: '1',
      MaxErrors: '0',
      AssociationName: 'aem-keys-standalone',
      ComplianceSeverity: 'CRITICAL',
      OutputLocation: { S3Location: { OutputS3BucketName: { Ref: bucketId }, OutputS3KeyPrefix: 'aem-keys/', OutputS3Region: { Ref: 'AWS::Region' } } },
      Parameters: Match.objectLike({ Restart: ['bundles'], AdminSecretId: [{ Ref: adminId }] }),
    });
  });

  test('each run\'s output goes to the key set\'s log group (LogGroupName)', () => {
    const { template, keys } = associate('aem-role', 'author');
    const logGroup = Object.keys(template.findResources('AWS::Logs::LogGroup')).filter((id) => id.startsWith('KeysLogs')); // not the generator's
    expect(logGroup).toHaveLength(1);
    template.hasResourceProperties('AWS::SSM::Association', { Parameters: Match.objectLike({ LogGroupName: [{ Ref: logGroup[0] }] }) });
    expect(Stack.of(keys).resolve(keys.logGroup.logGroupName)).toEqual({ Ref: logGroup[0] });
  });

  test('logOutput: false leaves LogGroupName out', () => {
    const off = associate('aem-role', 'author', { logOutput: false }).template;
    const association = Object.values(off.findResources('AWS::SSM::Association'))[0] as any;
    expect(Object.keys(association.Properties.Parameters)).not.toContain('LogGroupName');
  });

  describe('the installer document\'s LogGroupName', () => {
    let p: any;
    beforeAll(() => {
      const { template } = associate('aem-role', 'author');
      const installer = Object.entries(template.findResources('AWS::SSM::Document')).find(([id]) => id.startsWith('KeysInstallerDocument'))![1] as any;
      p = installer.Properties.Content.parameters.LogGroupName;
    });

    test('empty by default (nothing sent), the rule table\'s pattern', () => {
      expect(p).toMatchObject({ type: 'String', default: '', allowedPattern: '^[-._/#A-Za-z0-9]{0,512}$' });
    });

    test('the pattern accepts log group names, up to 512 characters', () => {
      for (const ok of ['', '/aem/keys', 'Keys-LogsLogGroup_1.x#2', 'a'.repeat(512)]) expect(new RegExp(p.allowedPattern).test(ok)).toBe(true);
    });

    test('the pattern refuses what is no log group name', () => {
      for (const bad of ['a:b', 'a b', 'a*', 'ü', 'a'.repeat(513), 'a\nb']) expect(new RegExp(p.allowedPattern).test(bad)).toBe(false);
    });
  });

  test('TagAssociation refuses a bad log group name it is given', () => {
    const { stack, keys } = setup();
    expect(() => new TagAssociation(stack, 'Bad', {
      installerDocumentName: keys.installerDocumentName, secretArn: keys.secret.secretArn, tagKey: 'aem-role', tagValue: 'author', logGroupName: 'has space',
    })).toThrow('addInstancesByTag: logGroup: must be a CloudWatch Logs group name');
  });

  test('TagAssociation refuses a secret ARN it is given that the installer would refuse; a literal ARN passes', () => {
    const { stack, keys } = setup();
    const make = (id: string, secretArn: string) => new TagAssociation(stack, id, {
      installerDocumentName: keys.installerDocumentName, secretArn, tagKey: 'aem-role', tagValue: 'author',
    });
    expect(() => make('Bad', 'aem-keys')).toThrow('addInstancesByTag: secret: must be a Secrets Manager secret ARN, got "aem-keys"');
    const arn = 'arn:aws:secretsmanager:eu-west-1:123456789012:secret:aem-keys-AbCdEf';
    expect(Stack.of(stack).resolve(make('Literal', arn).association.parameters)).toMatchObject({ SecretId: [arn] });
  });

  test('TagAssociation passes a good log group name it is given', () => {
    const { stack, keys } = setup();
    const fine = new TagAssociation(stack, 'Fine', {
      installerDocumentName: keys.installerDocumentName, secretArn: keys.secret.secretArn, tagKey: 'aem-role', tagValue: 'author', logGroupName: '/aem/keys',
    });
    expect(Stack.of(fine).resolve(fine.association.parameters)).toMatchObject({ LogGroupName: ['/aem/keys'] });
  });

  test('synthesis says what the tagged instances\' role needs (it is not visible here)', () => {
    const { stack } = associate('aem-role', 'author');
    expect(Annotations.fromStack(stack).findInfo('*', Match.stringLikeRegexp('grant the tagged instances\' role keys.grantRead\\(role\\) and, for their output in the key set\'s log group, keys.grantLogWrite\\(role\\)'))).toHaveLength(1);
  });

  test('with logOutput: false, it does not ask for grantLogWrite', () => {
    const off = associate('aem-role', 'author', { logOutput: false }).stack;
    const infos = Annotations.fromStack(off).findInfo('*', Match.stringLikeRegexp('addInstancesByTag'));
    expect(infos).toHaveLength(1);
    expect(JSON.stringify(infos)).not.toContain('grantLogWrite');
  });

  test('grantLogWrite (for the tagged instances\' role): writing to the key set\'s log group only', () => {
    const { stack, keys } = setup();
    keys.addInstancesByTag('aem-role', 'author');
    const role = new iam.Role(stack, 'AuthorRole', { assumedBy: new iam.ServicePrincipal('ec2.amazonaws.com') });
    keys.grantLogWrite(role);
    const template = Template.fromStack(stack);
    const logGroup = Object.keys(template.findResources('AWS::Logs::LogGroup'))[0];
    const policies = Object.values(template.findResources('AWS::IAM::Policy')) as any[];
    expect(policies).toHaveLength(1);
    const statements = stack.resolve(policies[0].Properties.PolicyDocument.Statement);
    expect(statements).toEqual([
      // DescribeLogGroups has no narrower resource (the SSM agent's check that the group exists).
      expect.objectContaining({ Action: 'logs:DescribeLogGroups', Effect: 'Allow', Resource: expect.objectContaining({ 'Fn::Join': ['', expect.arrayContaining([':log-group:*'])] }) }),
      // The installer needs CreateLogStream and PutLogEvents; the agent also DescribeLogStreams.
      { Action: ['logs:CreateLogStream', 'logs:DescribeLogStreams', 'logs:PutLogEvents'], Effect: 'Allow', Resource: { 'Fn::GetAtt': [logGroup, 'Arn'] } },
    ]);
    expect(statements.some((st: any) => st.Condition)).toBe(false);
  });

  test('an empty AdminSecretId is left out (the document default applies)', () => {
    const { template } = associate('aem-role', 'author');
    const association = Object.values(template.findResources('AWS::SSM::Association'))[0] as any;
    expect(Object.keys(association.Properties.Parameters)).not.toContain('AdminSecretId');
  });

  test('several tags, several associations, one installer document', () => {
    const { stack, keys } = setup();
    keys.addInstancesByTag('aem-role', 'author');
    keys.addInstancesByTag('aem-role', 'dispatcher-publish');
    const template = Template.fromStack(stack);
    template.resourceCountIs('AWS::SSM::Association', 2);
    const commands = Object.keys(template.findResources('AWS::SSM::Document', { Properties: { DocumentType: 'Command' } }));
    expect(commands.filter((id) => id.includes('InstallerDocument'))).toHaveLength(1);
    expect(commands.filter((id) => !id.includes('InstallerDocument') && !id.includes('ExportDocument'))).toEqual([]);
  });

  test.each([
    ['an empty key', '', 'author', /tag key is empty/],
    ['a blank key', '   ', 'author', /tag key is empty/],
    ['a reserved aws: key', 'aws:cloudformation:stack-name', 'x', /reserved/],
    ['a 129-character key', 'k'.repeat(129), 'x', /longer than 128/],
    ['an empty value', 'aem-role', '', /value of tag aem-role is empty/],
    ['a 257-character value', 'aem-role', 'v'.repeat(257), /longer than 256/],
  ])('rejects %s', (_label, key, value, error) => {
    const { keys } = setup();
    expect(() => keys.addInstancesByTag(key, value)).toThrow(error);
  });

  test.each<[InstancesByTagOptions, RegExp]>([
    [{ schedule: 'rate(5 minutes)' }, /at most every 30 minutes/],
    [{ schedule: 'every day' }, /rate\(…\) or cron\(…\)/],
    [{ maxConcurrency: '0' }, /maxConcurrency must be a number or a percentage/],
    [{ maxConcurrency: '150%' }, /maxConcurrency/],
    [{ maxErrors: 'ten' }, /maxErrors must be/],
    [{ associationName: 'has space' }, /associationName must be/],
    [{ outputKeyPrefix: 'x/' }, /outputKeyPrefix needs outputBucket/],
    [{ restart: RestartBehavior.BUNDLES }, /needs adminSecret/],
  ])('rejects options %j', (options, error) => {
    const { keys } = setup();
    expect(() => keys.addInstancesByTag('aem-role', 'author', options)).toThrow(error);
  });

  test('rate of hours and days is accepted', () => {
    expect(() => associate('aem-role', 'author', { schedule: 'rate(1 hour)' })).not.toThrow();
    expect(() => associate('aem-role', 'author', { schedule: 'rate(2 days)' })).not.toThrow();
  });
});
