/**
 * Integration test for a real account (integ-runner; README "Integration test"): a key set and a
 * gated group of one Amazon Linux 2023 instance carrying a stand-in AEM tree (stand-in-aem.sh, no
 * AEM), then assertions that
 *   - the launch's lifecycle action continued (the instance is InService and the lifecycle
 *     Automation succeeded),
 *   - a verify run of the installer document reports the secret's fingerprints on the instance,
 *   - the key files the secret's keys were written to have the right sizes (32 and 16 bytes).
 * No assertion reads the secret itself: its value would land in the assertion provider's logs.
 */
import * as fs from 'fs';
import * as path from 'path';
import { ExpectedResult, IntegTest, Match } from '@aws-cdk/integ-tests-alpha';
import { App, Duration, RemovalPolicy, Stack } from 'aws-cdk-lib';
import * as autoscaling from 'aws-cdk-lib/aws-autoscaling';
import * as ec2 from 'aws-cdk-lib/aws-ec2';
import * as iam from 'aws-cdk-lib/aws-iam';
import { AemCryptoKeys, RestartBehavior } from '../../lib';
import { LifecycleGate } from '../../lib/private/lifecycle-gate';

const QUICKSTART = '/opt/aem/crx-quickstart';
const KEY_DIR = `${QUICKSTART}/launchpad/felix/bundle10/data`;

const app = new App();
const stack = new Stack(app, 'AemCryptoKeysInteg');
// Public subnet, no NAT gateway: the instance reaches SSM and Secrets Manager over its public IP.
const vpc = new ec2.Vpc(stack, 'Vpc', { maxAzs: 1, natGateways: 0, subnetConfiguration: [{ name: 'public', subnetType: ec2.SubnetType.PUBLIC }] });
const keys = new AemCryptoKeys(stack, 'Keys', { removalPolicy: RemovalPolicy.DESTROY });

const userData = ec2.UserData.forLinux();
userData.addCommands(fs.readFileSync(path.join(__dirname, 'stand-in-aem.sh'), 'utf8'));
const launchTemplate = new ec2.LaunchTemplate(stack, 'Template', {
  machineImage: ec2.MachineImage.latestAmazonLinux2023({ cpuType: ec2.AmazonLinuxCpuType.ARM_64 }),
  instanceType: ec2.InstanceType.of(ec2.InstanceClass.T4G, ec2.InstanceSize.SMALL),
  role: new iam.Role(stack, 'InstanceRole', { assumedBy: new iam.ServicePrincipal('ec2.amazonaws.com') }),
  userData,
  associatePublicIpAddress: true,
  requireImdsv2: true,
  securityGroup: new ec2.SecurityGroup(stack, 'NoInbound', { vpc, allowAllOutbound: true, description: 'No inbound; outbound to AWS APIs' }),
});
const group = new autoscaling.AutoScalingGroup(stack, 'Publish', {
  vpc,
  vpcSubnets: { subnetType: ec2.SubnetType.PUBLIC },
  launchTemplate,
  minCapacity: 1,
  maxCapacity: 1,
});
const gated = keys.addAutoScalingGroup(group, { quickstartDir: QUICKSTART, aemUser: 'aem', restart: RestartBehavior.NONE });

const integ = new IntegTest(app, 'GateInteg', {
  testCases: [stack],
  diffAssets: false,
  cdkCommandOptions: { destroy: { args: { force: true } } },
});
const wait = { totalTimeout: Duration.minutes(40), interval: Duration.seconds(30) };

// 1. The lifecycle action continued: the group's instance is InService, and the Automation succeeded.
const inService = integ.assertions.awsApiCall('AutoScaling', 'describeAutoScalingGroups', { AutoScalingGroupNames: [group.autoScalingGroupName] })
  .expect(ExpectedResult.objectLike({ AutoScalingGroups: [{ Instances: [{ LifecycleState: 'InService', HealthStatus: 'Healthy' }] }] }))
  .waitForAssertions(wait);
const automation = integ.assertions.awsApiCall('SSM', 'describeAutomationExecutions', {
  Filters: [{ Key: 'DocumentNamePrefix', Values: [(keys.node.findChild('LifecycleGate') as LifecycleGate).automationDocumentName] }],
}).expect(ExpectedResult.objectLike({ AutomationExecutionMetadataList: [{ AutomationExecutionStatus: 'Success' }] }));
inService.next(automation);

// 2. A verify run of the installer document: the instance holds the secret's keys (fingerprints match).
const verify = integ.assertions.awsApiCall('SSM', 'sendCommand', {
  DocumentName: keys.installerDocumentName,
  Targets: [{ Key: 'tag:aem-crypto-keys:gate', Values: [gated.hookName] }],
  Parameters: { SecretId: [keys.secret.secretArn], Mode: ['verify'], QuickstartDir: [QUICKSTART], AemUser: ['aem'] },
  Comment: 'aem-keys integ: verify',
});
const verified = integ.assertions.awsApiCall('SSM', 'listCommandInvocations', { CommandId: verify.getAttString('Command.CommandId'), Details: true })
  .expect(ExpectedResult.objectLike({
    CommandInvocations: [{
      Status: 'Success',
      CommandPlugins: [{ Output: Match.stringLikeRegexp('hmac: [0-9a-f]{12} ok[\\s\\S]*master: [0-9a-f]{12} ok') }],
    }],
  }))
  .waitForAssertions({ totalTimeout: Duration.minutes(5), interval: Duration.seconds(15) });
automation.next(verify).next(verified);

// 3. The keys the verify run matched against the secret have AEM's sizes: hmac 32 bytes, master 16.
const sizes = integ.assertions.awsApiCall('SSM', 'sendCommand', {
  DocumentName: 'AWS-RunShellScript',
  Targets: [{ Key: 'tag:aem-crypto-keys:gate', Values: [gated.hookName] }],
  Parameters: { commands: [`stat -c '%n %s' ${KEY_DIR}/hmac ${KEY_DIR}/master`] },
  Comment: 'aem-keys integ: key sizes',
});
const sized = integ.assertions.awsApiCall('SSM', 'listCommandInvocations', { CommandId: sizes.getAttString('Command.CommandId'), Details: true })
  .expect(ExpectedResult.objectLike({
    CommandInvocations: [{ Status: 'Success', CommandPlugins: [{ Output: Match.stringLikeRegexp(`${KEY_DIR}/hmac 32\\n${KEY_DIR}/master 16`) }] }],
  }))
  .waitForAssertions({ totalTimeout: Duration.minutes(5), interval: Duration.seconds(15) });
verified.next(sizes).next(sized);

app.synth();
