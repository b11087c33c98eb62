import { execFileSync } from 'child_process';
import * as path from 'path';
import { App, Stack } from 'aws-cdk-lib';
import { Template } from 'aws-cdk-lib/assertions';
import * as autoscaling from 'aws-cdk-lib/aws-autoscaling';
import * as ec2 from 'aws-cdk-lib/aws-ec2';
import * as iam from 'aws-cdk-lib/aws-iam';
import { AemCryptoKeys, InstallerOptions } from '../lib';
import { INSTALLER_PARAMETER_RULES, installerValueError, RuledInstallerParameter } from '../lib/private/installer-checks';
import { PARAMETER_PATTERNS } from '../lib/private/shell-script-document';

const COMMON = path.join(__dirname, '..', 'lib', 'scripts', 'aem-keys-common.sh');

describe('one source of truth for parameter patterns', () => {
  test('the script\'s AEMKEYS_*_RE are the TypeScript patterns', () => {
    // Each as bash builds it (an expression longer than a line is assembled with +=).
    const shell = (name: string) => execFileSync('bash', ['-c', '. "$1"; printf %s "${!2}"', '_', COMMON, name], { encoding: 'utf8' });
    expect({
      arn: shell('AEMKEYS_ARN_RE'), path: shell('AEMKEYS_PATH_RE'), user: shell('AEMKEYS_USER_RE'), unit: shell('AEMKEYS_UNIT_RE'),
    }).toEqual({
      arn: PARAMETER_PATTERNS.secretArn, path: PARAMETER_PATTERNS.path, user: PARAMETER_PATTERNS.user, unit: PARAMETER_PATTERNS.unit,
    });
  });

  // The script's own checks (run by bash) and the synth check agree on every sample, valid or not.
  const samples: Array<[RuledInstallerParameter, string, string]> = [
    ...['/opt/aem/crx-quickstart', '/srv/aem author/crx-quickstart/', '/', 'opt/aem', '', '/opt/../etc', '/opt/aem/..', '/./opt', '/opt/.',
      '/opt/..aem/x', '/opt/a..b', '/opt/$(id)', '/opt/aem\n/etc', '/opt/a;b', '~/aem'].map((v): [RuledInstallerParameter, string, string] => ['QuickstartDir', v, 'aemkeys_check_abs_path QuickstartDir "$v"']),
    ...['aem', '_svc', 'aem-author', 'Aem', '1aem', '-aem', 'a'.repeat(33), 'a'.repeat(32), '', 'aem;id'].map((v): [RuledInstallerParameter, string, string] => ['AemUser', v, '[[ $v =~ $AEMKEYS_USER_RE ]]']),
    ...['aem', 'aem-author.service', 'aem@1', '-aem', '.aem', '', 'a b', 'aem$'].map((v): [RuledInstallerParameter, string, string] => ['ServiceName', v, 'aemkeys_check_unit ServiceName "$v"']),
    ...['4502', '1', '65535', '65536', '0', '99999', '04502', '4502.5', ''].map((v): [RuledInstallerParameter, string, string] => ['AemPort', v, 'aemkeys_check_uint AemPort "$v" 1 65535']),
    ...['true', 'false', 'TRUE', 'yes', ''].map((v): [RuledInstallerParameter, string, string] => ['StartAfterInstall', v, 'aemkeys_check_enum StartAfterInstall "$v" true false']),
    ...['none', 'service', 'bundles', 'reboot'].map((v): [RuledInstallerParameter, string, string] => ['Restart', v, 'aemkeys_check_enum Restart "$v" none service bundles']),
  ];
  test.each(samples)('%s %j: synth check agrees with the installer script', (name, value, check) => {
    let scriptAccepts: boolean;
    try {
      execFileSync('bash', ['-c', `. "$1"; v=$2; ${check}`, '_', COMMON, value], { stdio: 'pipe' });
      scriptAccepts = true;
    } catch {
      scriptAccepts = false;
    }
    const error = installerValueError(name, value);
    expect({ value, synthAccepts: error === undefined }).toEqual({ value, synthAccepts: scriptAccepts });
    if (error) {
      expect(error).toContain(`${(INSTALLER_PARAMETER_RULES[name] as { prop: string }).prop}: must be `);
    }
  });
});

function fixture() {
  const app = new App();
  const stack = new Stack(app, 'Checks');
  const vpc = new ec2.Vpc(stack, 'Vpc', { maxAzs: 1, natGateways: 0, subnetConfiguration: [{ name: 'app', subnetType: ec2.SubnetType.PRIVATE_ISOLATED }] });
  const keys = new AemCryptoKeys(stack, 'Keys');
  const group = new autoscaling.AutoScalingGroup(stack, 'Publish', {
    vpc,
    launchTemplate: new ec2.LaunchTemplate(stack, 'Template', {
      instanceType: new ec2.InstanceType('m6i.large'),
      machineImage: ec2.MachineImage.genericLinux({ 'us-east-1': 'ami-12345678' }),
      role: new iam.Role(stack, 'Role', { assumedBy: new iam.ServicePrincipal('ec2.amazonaws.com') }),
    }),
  });
  return { stack, keys, group };
}

describe('installer options fail synth, naming the prop', () => {
  const bad: Array<[InstallerOptions, string]> = [
    [{ quickstartDir: 'opt/aem/crx-quickstart' }, 'quickstartDir: must be an absolute path'],
    [{ quickstartDir: '/opt/aem/../../etc' }, 'quickstartDir: must be an absolute path of at most 256 letters, digits, spaces and - _ . / @ + , : = ~ without \'.\' or \'..\' components, got "/opt/aem/../../etc"'],
    [{ quickstartDir: '/opt/./aem' }, 'without \'.\' or \'..\' components'],
    [{ quickstartDir: `/${'a'.repeat(256)}` }, 'quickstartDir: must be an absolute path of at most 256 letters'],
    [{ aemUser: 'Root' }, 'aemUser: must be a user name'],
    [{ serviceName: '-aem' }, 'serviceName: must be a systemd unit name'],
    [{ aemPort: 70000 }, 'aemPort: must be an integer from 1 to 65535, got "70000"'],
    [{ aemPort: 4502.5 }, 'aemPort: must be an integer'],
    [{ restart: 'reboot' as any }, 'restart: must be one of none, service, bundles, got "reboot"'],
    [{ onKeyMismatch: 'keep' as any }, 'onKeyMismatch: must be one of replace, fail'],
    [{ startAfterInstall: 'yes' as any }, 'startAfterInstall: must be one of true, false'],
  ];

  test.each(bad)('addAutoScalingGroup %j: one clear error, nothing added', (options, message) => {
    const { stack, keys, group } = fixture();
    expect(() => keys.addAutoScalingGroup(group, options)).toThrow(message);
    const t = Template.fromStack(stack);
    t.resourceCountIs('AWS::Events::Rule', 0);
    t.resourceCountIs('AWS::IAM::Policy', 0);
  });

  test.each(bad)('addInstancesByTag %j: one clear error, nothing added', (options, message) => {
    const { stack, keys } = fixture();
    expect(() => keys.addInstancesByTag('aem-role', 'author', options)).toThrow(message);
    Template.fromStack(stack).resourceCountIs('AWS::SSM::Association', 0);
  });

  test('valid options pass', () => {
    const { keys, group } = fixture();
    const options: InstallerOptions = { quickstartDir: '/srv/aem author/crx-quickstart/', aemUser: 'aem-author', serviceName: 'aem-author.service', aemPort: 65535 };
    expect(() => keys.addAutoScalingGroup(group, options)).not.toThrow();
    expect(() => keys.addInstancesByTag('aem-role', 'author', options)).not.toThrow();
  });
});

test('the lifecycle Automation\'s installer parameters carry the installer document\'s constraints', () => {
  const { stack, keys, group } = fixture();
  keys.addAutoScalingGroup(group);
  const docs = Object.values(Template.fromStack(stack).findResources('AWS::SSM::Document')) as any[];
  const automation = docs.find((d) => d.Properties.DocumentType === 'Automation').Properties.Content.parameters;
  const installer = docs.find((d) => d.Properties.Content.mainSteps?.[0]?.name === 'installKeys').Properties.Content.parameters;
  const constraints = (p: any) => ({ allowedPattern: p.allowedPattern, allowedValues: p.allowedValues });
  // LogGroupName is for tag associations: the Automation streams with CloudWatchOutputConfig.
  const passed = Object.keys(INSTALLER_PARAMETER_RULES).filter((n) => n !== 'SecretId' && n !== 'Mode' && n !== 'LogGroupName');
  for (const name of passed) {
    expect({ name, ...constraints(automation[name]) }).toEqual({ name, ...constraints(installer[name]) });
    expect(automation[name].allowedPattern ?? automation[name].allowedValues).toBeDefined();
  }
});
