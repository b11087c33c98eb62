import { Duration } from 'aws-cdk-lib';
import * as autoscaling from 'aws-cdk-lib/aws-autoscaling';
import * as events from 'aws-cdk-lib/aws-events';
import * as iam from 'aws-cdk-lib/aws-iam';
import { InstallerOptions } from './installer-options';

/** Options of `AemCryptoKeys.addAutoScalingGroup`. */
export interface AutoScalingGroupOptions extends InstallerOptions {
  /**
   * How long a launching instance may wait in `Pending:Wait` (or `Warmed:Pending:Wait`) for its
   * keys. When it runs out, Auto Scaling abandons the instance (the hook's default result is
   * `ABANDON`). Between 30 seconds and 2 hours. The Automation records a heartbeat when it starts
   * and again before the installer, so this must cover the longer of the two stretches between
   * heartbeats (`ssmOnlineTimeout`, or `commandTimeout` and the lifecycle action, each with its API
   * steps' retries), and the event's delivery (EventBridge retries) plus 10 minutes in the account's
   * Automation queue (docs/fleet.md, "Timeouts").
   * @default Duration.minutes(45)
   */
  readonly heartbeatTimeout?: Duration;

  /**
   * How long the installer command may take on the instance, including starting a cold AEM when
   * `startAfterInstall` is set. A command still running then fails the automation: `ABANDON`.
   * The Automation document is shared by the key set's groups, so its bound is the largest
   * `commandTimeout` among them (checked against every group's `heartbeatTimeout` at synthesis).
   * At most the installer document's own execution timeout (1 hour), which would stop it first.
   * @default Duration.minutes(20)
   */
  readonly commandTimeout?: Duration;

  /**
   * How long a new instance has to show up as an online SSM managed node. Shared like
   * `commandTimeout`: the largest value among the key set's groups applies.
   * @default Duration.minutes(10)
   */
  readonly ssmOnlineTimeout?: Duration;

  /**
   * Attach `AmazonSSMManagedInstanceCore` to the group's role so its instances register with SSM.
   * Set to `false` when the role (or an instance profile, or Default Host Management) already
   * takes care of it.
   * @default true
   */
  readonly manageSsm?: boolean;

  /**
   * Name of the launching lifecycle hook (also the value of the `aem-crypto-keys:gate` tag).
   * Only `[A-Za-z0-9_/-]`, at most 255 characters, unique among the gated groups of an account
   * and region.
   * Each name is listed twice in the automation role's policy (IAM allows 10,240 characters per
   * role), which bounds a key set to about 80 gated groups with default names; short names allow more.
   * @default - `aem-keys-<stack name>-<12 hex digits of a hash of the group's construct path>`; a stack name over 32
   * characters becomes its first 23 characters and 8 hex digits of a hash of the whole name
   */
  readonly hookName?: string;

  /**
   * The instances' role of a group imported with `AutoScalingGroup.fromAutoScalingGroupName`
   * (whose role cannot be seen from here): it is granted reading the keys (and `adminSecret`)
   * before the hook exists, and `manageSsm: true` attaches `AmazonSSMManagedInstanceCore` to it.
   * Only for imported groups: an owned group's own role is used.
   * @default - none: grant the imported group's role yourself (`grantRead`); synthesis warns
   */
  readonly instanceRole?: iam.IRole;
}

/** What the gate did for one group. */
export interface GatedGroup {
  /** The launching hook's name, also the value of the `aem-crypto-keys:gate` tag. */
  readonly hookName: string;
  /** The EventBridge rule that starts the automation for this group's launches. */
  readonly rule: events.Rule;
  /**
   * The separate lifecycle hook of an imported group.
   * @default - none: an owned group's hook is part of the group itself
   */
  readonly lifecycleHook?: autoscaling.CfnLifecycleHook;
}

/** A group gated by `addAutoScalingGroup`. */
export interface GatedAutoScalingGroup extends GatedGroup {
  /** The group. */
  readonly autoScalingGroup: autoscaling.IAutoScalingGroup;
}
