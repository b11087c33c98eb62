import { PARAMETER_PATTERNS } from './parameter-patterns';

/**
 * How each installer document parameter is checked, in one place: SSM checks `allowedPattern` /
 * `allowedValues` (installer document and lifecycle Automation), the installer script checks
 * the same expressions again (aem-keys-common.sh), and the constructs check the values they pass
 * at synth (`checkInstallerValue`), so a bad option fails `cdk synth`, not a launching instance.
 */
interface RuleBase {
  /** The construct option that sets the parameter (named in errors). */
  readonly prop: string;
  /** What a valid value is, for errors. */
  readonly expected: string;
  /** Rejects `.` and `..` path components (the script's aemkeys_check_abs_path). */
  readonly noDotComponents?: boolean;
  /** Inclusive integer range (the script's aemkeys_check_uint). */
  readonly range?: { readonly min: number; readonly max: number };
}

/** A rule checks a value against a regular expression or a list of values: exactly one of them. */
export type InstallerParameterRule = RuleBase & (
  /** Regular expression (SSM and the script use the same one). */
  | { readonly allowedPattern: string; readonly allowedValues?: undefined }
  /** The only values accepted. */
  | { readonly allowedValues: readonly string[]; readonly allowedPattern?: undefined }
);

const values = (prop: string, allowed: readonly string[]): InstallerParameterRule =>
  ({ prop, expected: `one of ${allowed.join(', ')}`, allowedValues: allowed });

/** The rules, by installer document parameter (all but HmacBytes/MasterBytes, see keySizeParameters). */
export const INSTALLER_PARAMETER_RULES = {
  SecretId: { prop: 'secret', expected: 'a Secrets Manager secret ARN', allowedPattern: PARAMETER_PATTERNS.secretArn },
  QuickstartDir: {
    prop: 'quickstartDir',
    expected: 'an absolute path of at most 256 letters, digits, spaces and - _ . / @ + , : = ~ without \'.\' or \'..\' components',
    allowedPattern: PARAMETER_PATTERNS.path,
    noDotComponents: true,
  },
  AemUser: { prop: 'aemUser', expected: 'a user name (lower case letters, digits, _ and -, at most 32, starting with a letter or _)', allowedPattern: PARAMETER_PATTERNS.user },
  EncapsulatedToken: values('encapsulatedToken', ['true', 'false']),
  Mode: values('mode', ['install', 'verify']),
  OnKeyMismatch: values('onKeyMismatch', ['replace', 'fail', 'replace-fresh']),
  Restart: values('restart', ['none', 'service', 'bundles']),
  ServiceName: { prop: 'serviceName', expected: 'a systemd unit name (letters, digits and : _ . @ -, starting with a letter, digit or _)', allowedPattern: PARAMETER_PATTERNS.unit },
  StartAfterInstall: values('startAfterInstall', ['true', 'false']),
  AdminSecretId: { prop: 'adminSecret', expected: 'a Secrets Manager secret ARN', allowedPattern: PARAMETER_PATTERNS.optionalSecretArn },
  AemPort: { prop: 'aemPort', expected: 'an integer from 1 to 65535', allowedPattern: PARAMETER_PATTERNS.port, range: { min: 1, max: 65535 } },
  FreshKeyMinutes: { prop: 'freshKeyAge', expected: 'whole minutes from 1 to 5256000 (3650 days)', allowedPattern: '^[1-9][0-9]{0,6}$', range: { min: 1, max: 5256000 } },
  // Empty: the installer sends nothing itself (the caller streams with CloudWatchOutputConfig, or not at all).
  LogGroupName: { prop: 'logGroup', expected: 'a CloudWatch Logs group name (letters, digits and . _ - / #, at most 512) or empty', allowedPattern: '^[-._/#A-Za-z0-9]{0,512}$' },
} satisfies Record<string, InstallerParameterRule>;

/** An installer parameter with a rule. */
export type RuledInstallerParameter = keyof typeof INSTALLER_PARAMETER_RULES;

/** The SSM side of a rule: `{ allowedPattern }` or `{ allowedValues }`, for a document parameter. */
export function ssmConstraint(name: RuledInstallerParameter): { allowedPattern?: string; allowedValues?: string[] } {
  const rule: InstallerParameterRule = INSTALLER_PARAMETER_RULES[name];
  return rule.allowedValues ? { allowedValues: [...rule.allowedValues] } : { allowedPattern: rule.allowedPattern };
}

/**
 * The error for a value the installer would refuse (`<prop>: must be …, got "…"`), or undefined
 * when it is valid or not known at synth (a token).
 */
export function installerValueError(name: RuledInstallerParameter, value: string): string | undefined {
  // A token (Token.isUnresolved, without importing aws-cdk-lib: the aem-keys CLI bundles this file).
  if (/[$#]\{Token\[/.test(value)) {
    return undefined;
  }
  return ruleError(name, value);
}

/** The error for a value the installer would refuse, the same rule at synth and in the aem-keys CLI. */
export function ruleError(name: RuledInstallerParameter, value: string): string | undefined {
  const rule: InstallerParameterRule = INSTALLER_PARAMETER_RULES[name];
  const ok = (rule.allowedValues ? rule.allowedValues.includes(value) : new RegExp(rule.allowedPattern).test(value))
    && !(rule.noDotComponents && /(^|\/)\.\.?(\/|$)/.test(value))
    && !(rule.range && (Number(value) < rule.range.min || Number(value) > rule.range.max));
  return ok ? undefined : `${rule.prop}: must be ${rule.expected}, got ${JSON.stringify(value)}`;
}
