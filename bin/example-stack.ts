import { CfnOutput, Duration, Stack, StackProps, Tags, Validations } from 'aws-cdk-lib';
import * as autoscaling from 'aws-cdk-lib/aws-autoscaling';
import * as ec2 from 'aws-cdk-lib/aws-ec2';
import * as iam from 'aws-cdk-lib/aws-iam';
import { Construct, IConstruct } from 'constructs';
import { AemCryptoKeys, AemCryptoKeysMonitoring, AemCryptoKeysProps } from '../lib';

/** Properties of the example AEM stack. */
export interface ExampleAemStackProps extends StackProps {
  /**
   * Number of publish Auto Scaling groups (the benchmark synthesizes 20).
   * @default 1
   */
  readonly publishGroups?: number;

  /**
   * Leave the key set out (the benchmark's baseline).
   * @default true
   */
  readonly withKeys?: boolean;

  /**
   * Properties of the key set, made in this stack: e.g. `replicaRegions` in the primary region, or
   * `KeySource.fromReplica(...)` in a replica region (bin/multi-region-app.ts).
   * @default - a generated key set
   */
  readonly cryptoKeys?: (stack: Stack) => AemCryptoKeysProps;
}

/**
 * An AEM estate on EC2: a VPC, one author instance and publish Auto Scaling groups, all sharing
 * one key set. Environment-agnostic: synthesizes offline, with no AWS call and no context look-up.
 *
 * - the author (tag `aem-role=author`) gets its keys from a State Manager association, at once and
 *   every 30 minutes (drift repair);
 * - every publish group is gated: a new publish instance stays in `Pending:Wait` until the
 *   installer put the keys in place and started AEM (`startAfterInstall`: the image keeps AEM
 *   stopped until then), and is abandoned if that fails.
 */
export class ExampleAemStack extends Stack {
  /** The shared key set (undefined for the baseline). */
  public readonly keys?: AemCryptoKeys;

  constructor(scope: Construct, id: string, props: ExampleAemStackProps = {}) {
    super(scope, id, props);
    const vpc = this.createVpc();
    const machineImage = ec2.MachineImage.latestAmazonLinux2023();
    const author = this.createAuthor(vpc, machineImage);
    const publishGroups = Array.from({ length: props.publishGroups ?? 1 }, (_, i) =>
      this.createPublishGroup(vpc, machineImage, i === 0 ? 'Publish' : `Publish${i + 1}`));

    if (props.withKeys === false) {
      return;
    }
    this.keys = new AemCryptoKeys(this, 'CryptoKeys', props.cryptoKeys?.(this));
    this.keys.grantRead(author);
    // Commands sent with aem-keys --log-group stream the author's output into the key set's log group.
    this.keys.grantLogWrite(author);
    this.keys.addInstancesByTag('aem-role', 'author', { quickstartDir: '/opt/aem/author/crx-quickstart' });
    for (const group of publishGroups) {
      this.keys.addAutoScalingGroup(group, { quickstartDir: '/opt/aem/publish/crx-quickstart', startAfterInstall: true });
    }
    // Alarms (abandoned launches per group, failed association runs, dead letters) to an encrypted
    // topic; a group whose launches keep being abandoned has its Launch process suspended.
    const monitoring = new AemCryptoKeysMonitoring(this, 'CryptoKeysMonitoring', {
      keys: this.keys,
      launchLoopProtection: { abandonedLaunches: 3 },
    });
    new CfnOutput(this, 'AlarmTopicArn', { value: monitoring.topic.topicArn });
    new CfnOutput(this, 'KeySetLogGroup', { value: this.keys.logGroup.logGroupName });
    // What operators pass to the aem-keys CLI (which also finds the documents by their tags).
    new CfnOutput(this, 'KeySetSecretArn', { value: this.keys.secret.secretArn });
    new CfnOutput(this, 'InstallerDocumentName', { value: this.keys.installerDocumentName });
    if (this.keys.exportDocumentName) {
      new CfnOutput(this, 'ExportDocumentName', { value: this.keys.exportDocumentName });
    }
  }

  private createVpc(): ec2.Vpc {
    const vpc = new ec2.Vpc(this, 'Vpc', { maxAzs: 2, natGateways: 1 });
    vpc.addFlowLog('FlowLog');
    return vpc;
  }

  private createAuthor(vpc: ec2.IVpc, machineImage: ec2.IMachineImage): ec2.Instance {
    const author = new ec2.Instance(this, 'Author', {
      vpc,
      vpcSubnets: { subnetType: ec2.SubnetType.PRIVATE_WITH_EGRESS },
      instanceType: ec2.InstanceType.of(ec2.InstanceClass.M6I, ec2.InstanceSize.XLARGE),
      machineImage,
      blockDevices: [encryptedRootVolume()],
      detailedMonitoring: true,
      // IMDSv2 in the instance's own MetadataOptions: requireImdsv2 would add a launch template named
      // after the construct path, shared by two deployments of this app in one account and region.
      httpTokens: ec2.HttpTokens.REQUIRED,
      ssmSessionPermissions: true,
      disableApiTermination: true,
    });
    Tags.of(author).add('aem-role', 'author');
    acknowledgeNag(author, {
      id: 'AwsSolutions-EC26',
      reason: 'cdk-nag EC26 fails with an error on an instance without a launch template (it reads the absent template\'s name); '
        + 'the author\'s only volume is its root volume, encrypted (encryptedRootVolume), which test/example-stack.test.ts checks.',
    });
    acknowledgeNag(author.role, {
      id: 'AwsSolutions-IAM4[Policy::arn:<AWS::Partition>:iam::aws:policy/AmazonSSMManagedInstanceCore]',
      reason: 'AmazonSSMManagedInstanceCore is the AWS-maintained minimum for an SSM managed node; the author receives its keys through a State Manager association.',
    });
    return author;
  }

  private createPublishGroup(vpc: ec2.IVpc, machineImage: ec2.IMachineImage, id: string): autoscaling.AutoScalingGroup {
    const role = new iam.Role(this, `${id}Role`, { assumedBy: new iam.ServicePrincipal('ec2.amazonaws.com') });
    const launchTemplate = new ec2.LaunchTemplate(this, `${id}LaunchTemplate`, {
      instanceType: ec2.InstanceType.of(ec2.InstanceClass.M6I, ec2.InstanceSize.LARGE),
      machineImage,
      role,
      blockDevices: [encryptedRootVolume()],
      detailedMonitoring: true,
      requireImdsv2: true,
      securityGroup: new ec2.SecurityGroup(this, `${id}SecurityGroup`, { vpc, description: 'AEM publish' }),
    });
    const group = new autoscaling.AutoScalingGroup(this, id, {
      vpc,
      vpcSubnets: { subnetType: ec2.SubnetType.PRIVATE_WITH_EGRESS },
      launchTemplate,
      minCapacity: 1,
      maxCapacity: 4,
      healthChecks: autoscaling.HealthChecks.ec2({ gracePeriod: Duration.minutes(15) }),
    });
    acknowledgeNag(group, {
      id: 'AwsSolutions-AS3',
      reason: 'Example estate: scaling activity is visible in EventBridge (the key gate listens to the launch lifecycle events there); wire SNS notifications to your own on-call topic in a real deployment.',
    });
    return group;
  }
}

/**
 * A cdk-nag 3 acknowledgement, recorded as `Validations.of(scope).acknowledge()` records it. On
 * aws-cdk-lib 2.257 `acknowledge()` rejects ids with `::` inside brackets (`IAM4[Policy::arn:...]`,
 * "Invalid validation rule ID"); newer versions accept them, and there `acknowledge()` does the same.
 */
function acknowledgeNag(scope: IConstruct, ack: { id: string; reason: string }): void {
  scope.node.addMetadata(Validations.ACKNOWLEDGED_RULES_METADATA_KEY, { [ack.id]: ack.reason });
}

function encryptedRootVolume(): ec2.BlockDevice {
  return { deviceName: '/dev/xvda', volume: ec2.BlockDeviceVolume.ebs(50, { encrypted: true }) };
}
