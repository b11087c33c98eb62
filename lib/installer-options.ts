import { Duration } from 'aws-cdk-lib';
import * as secretsmanager from 'aws-cdk-lib/aws-secretsmanager';

/**
 * How a running AEM picks up changed key files.
 */
export enum RestartBehavior {
  /** Change the files only; a running AEM keeps its old keys until it is restarted by hand. */
  NONE = 'none',
  /** Restart the systemd service (only when AEM is running and a key file changed). */
  SERVICE = 'service',
  /**
   * Refresh the two crypto bundles through the Web Console on localhost (needs `adminSecret`).
   *
   * Warning: restarting only the crypto bundles has been reported to break normal login until AEM
   * restarts (peer tools restart the whole OSGi framework or AEM). Prefer `SERVICE`, the default.
   */
  BUNDLES = 'bundles',
}

/**
 * What the installer does when an instance already holds different keys.
 */
export enum OnKeyMismatch {
  /** Back the existing keys up on the instance, then replace them. */
  REPLACE = 'replace',
  /** Fail and change nothing. */
  FAIL = 'fail',
  /**
   * Replace them (after a backup) only when they look like AEM's own first-start keys: every key
   * file on the instance was last modified less than `freshKeyAge` ago. Older keys may protect
   * years of encrypted configuration: the run fails, changes nothing and names the option to set.
   */
  REPLACE_FRESH = 'replace-fresh',
}

/**
 * Installer document parameters, in camelCase, for `addAutoScalingGroup` and `addInstancesByTag`.
 *
 * Each maps to the document parameter of the same name in PascalCase (README: Installer document).
 */
export interface InstallerOptions {
  /**
   * The instance's `crx-quickstart` folder, an absolute path of at most 256 characters.
   *
   * Letters, digits, spaces and `-_./@+,:=~` only, without `.` or `..` components.
   * @default '/opt/aem/crx-quickstart'
   */
  readonly quickstartDir?: string;

  /**
   * Owner of the files written.
   * @default 'aem'
   */
  readonly aemUser?: string;

  /**
   * Write the token handler config that switches AEM to encapsulated tokens.
   * @default true
   */
  readonly encapsulatedToken?: boolean;

  /**
   * What to do when the instance already has other keys.
   *
   * `addAutoScalingGroup` launches new instances, so its default replaces them (after a backup).
   * `addInstancesByTag` may reach an established instance, so its default replaces only AEM's
   * fresh first-start keys (see `freshKeyAge`) and otherwise fails, changing nothing.
   * @default OnKeyMismatch.REPLACE for addAutoScalingGroup, OnKeyMismatch.REPLACE_FRESH for addInstancesByTag
   */
  readonly onKeyMismatch?: OnKeyMismatch;

  /**
   * With `OnKeyMismatch.REPLACE_FRESH`: key files modified less than this long ago count as
   * AEM's own first-start keys and are replaced. Keep it longer than the time from an instance's
   * first AEM start to its first installer run (e.g. the association schedule).
   * Whole minutes, from 1 minute to 3650 days.
   * @default Duration.days(1); for addInstancesByTag, twice the schedule's interval when that is longer
   */
  readonly freshKeyAge?: Duration;

  /**
   * How a running AEM picks up changed files.
   * @default RestartBehavior.SERVICE
   */
  readonly restart?: RestartBehavior;

  /**
   * The systemd unit that runs AEM.
   * @default 'aem'
   */
  readonly serviceName?: string;

  /**
   * Start the service when it is not running, once the keys are in place.
   * Use it with an image that keeps AEM stopped until its keys arrive.
   * @default false
   */
  readonly startAfterInstall?: boolean;

  /**
   * Secret holding `{"username","password"}` of an AEM admin; only used with `RestartBehavior.BUNDLES`.
   * @default - none
   */
  readonly adminSecret?: secretsmanager.ISecret;

  /**
   * Local HTTP port of AEM, used with `RestartBehavior.BUNDLES`.
   * @default 4502
   */
  readonly aemPort?: number;
}
