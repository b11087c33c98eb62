import { Duration, Token } from 'aws-cdk-lib';
import { InstallerOptions, RestartBehavior } from '../installer-options';
import { installerValueError } from './installer-checks';

/** The installer document's defaults, by parameter (names fixed by the contract). */
export const INSTALLER_DEFAULTS = {
  QuickstartDir: '/opt/aem/crx-quickstart',
  AemUser: 'aem',
  EncapsulatedToken: 'true',
  Mode: 'install',
  OnKeyMismatch: 'replace',
  Restart: 'service',
  ServiceName: 'aem',
  StartAfterInstall: 'false',
  AdminSecretId: '',
  AemPort: '4502',
  FreshKeyMinutes: '1440',
} as const;

/** The installer document parameters `InstallerOptions` set, in the document's order. */
export const OPTION_PARAMETERS = [
  'QuickstartDir', 'AemUser', 'EncapsulatedToken', 'OnKeyMismatch', 'Restart', 'ServiceName', 'StartAfterInstall', 'AdminSecretId', 'AemPort',
  'FreshKeyMinutes',
] as const;

/** An installer document parameter set by `InstallerOptions`. */
export type OptionParameter = typeof OPTION_PARAMETERS[number];

/**
 * The installer parameters of one gated group or tag association: its `InstallerOptions`, checked
 * once with the rules the installer document applies (a bad option fails synth, not an instance),
 * as the document's parameter values.
 */
export class InstallerParameters {
  /** Checks `options`; throws, naming the option, for a value the installer document would refuse. */
  public static of(options: InstallerOptions = {}): InstallerParameters {
    const chosen: Record<OptionParameter, string | number | boolean | undefined> = {
      QuickstartDir: options.quickstartDir,
      AemUser: options.aemUser,
      EncapsulatedToken: options.encapsulatedToken,
      OnKeyMismatch: options.onKeyMismatch,
      Restart: options.restart,
      ServiceName: options.serviceName,
      StartAfterInstall: options.startAfterInstall,
      AdminSecretId: options.adminSecret?.secretArn,
      AemPort: options.aemPort,
      FreshKeyMinutes: freshKeyMinutes(options.freshKeyAge),
    };
    const values = {} as Record<OptionParameter, string>;
    for (const name of OPTION_PARAMETERS) {
      values[name] = chosen[name] === undefined ? INSTALLER_DEFAULTS[name] : String(chosen[name]);
      const error = installerValueError(name, values[name]);
      if (error) {
        throw new Error(error);
      }
    }
    if (values.Restart === RestartBehavior.BUNDLES && !options.adminSecret) {
      throw new Error('restart: RestartBehavior.BUNDLES needs adminSecret (an AEM admin\'s {"username","password"})');
    }
    return new InstallerParameters(values);
  }

  private constructor(
    /** Every option parameter's value; the document's default where the option is not given. */
    public readonly values: Readonly<Record<OptionParameter, string>>,
  ) {}

  /** The parameters with a value, in order: an empty one (no `AdminSecretId`) leaves the document's default. */
  public get given(): Array<[OptionParameter, string]> {
    return OPTION_PARAMETERS.filter((name) => this.values[name] !== '').map((name) => [name, this.values[name]]);
  }

  /** The parameters of a command or association of the installer document (each value a list of one string). */
  public forDocument(secretArn: string): Record<string, string[]> {
    return { SecretId: [secretArn], ...Object.fromEntries(this.given.map(([name, value]) => [name, [value]])) };
  }
}

/** Whole minutes from 1 minute to 3650 days, or undefined for the document's default. */
function freshKeyMinutes(age: Duration | undefined): number | undefined {
  if (age === undefined) {
    return undefined;
  }
  const minutes = age.toMinutes({ integral: false });
  if (!Token.isUnresolved(minutes) && !(Number.isInteger(minutes) && minutes >= 1 && minutes <= 5256000)) {
    throw new Error(`freshKeyAge: must be whole minutes from 1 minute to 3650 days, got ${minutes} minutes`);
  }
  return minutes;
}
