import * as secretsmanager from 'aws-cdk-lib/aws-secretsmanager';
import { Construct } from 'constructs';
import { INSTALLER_TIMEOUT_SECONDS } from './private/gate-budget';
import { ssmConstraint } from './private/installer-checks';
import { INSTALLER_DEFAULTS } from './private/installer-parameters';
import { createShellScriptDocument, keySizeParameters, ScriptParameter } from './private/shell-script-document';
import { TokenHandlerProperty, tokenHandlerRecord } from './token-handler-property';

/** Properties of an `InstallerDocument`. */
export interface InstallerDocumentProps {
  /** The secret whose keys the document installs (the `SecretId` default). */
  readonly secret: secretsmanager.ISecret;
  /**
   * Token handler properties besides `token.encapsulated`.
   * @default - none
   */
  readonly tokenHandlerProperties?: TokenHandlerProperty[];
  /**
   * Expected `hmac` size in bytes.
   * @default 32
   */
  readonly hmacBytes?: number;
  /**
   * Expected `master` size in bytes.
   * @default 16
   */
  readonly masterBytes?: number;
}

/**
 * OSGi configuration values of the token handler, rendered into a Felix `.config` file (internal:
 * users pass `TokenHandlerProperty` objects).
 */
export type TokenHandlerProperties = Record<string, string | number | boolean | string[]>;

/** The OSGi PID of AEM's token authentication handler. */
export const TOKEN_HANDLER_PID = 'com.day.crx.security.token.impl.impl.TokenAuthenticationHandler';

/** Installer document parameters, in the order of the script's data block. */
export const INSTALLER_PARAMETER_NAMES = [
  'SecretId', 'QuickstartDir', 'AemUser', 'EncapsulatedToken', 'Mode', 'OnKeyMismatch', 'Restart',
  'ServiceName', 'StartAfterInstall', 'AdminSecretId', 'AemPort', 'FreshKeyMinutes', 'HmacBytes', 'MasterBytes', 'LogGroupName',
] as const;

/** How key size errors name the construct's props. */
export const KEY_LENGTH_LABELS = { hmac: 'hmacBytes (keyLengths.hmac)', master: 'masterBytes (keyLengths.master)' };

const PROPERTY_NAME = /^[A-Za-z_][A-Za-z0-9_.-]{0,199}$/;
const RESERVED_PROPERTIES = new Set(['token.encapsulated', 'service.pid', 'service.factoryPid', 'service.bundleLocation']);

function quote(value: string, property: string): string {
  // eslint-disable-next-line no-control-regex -- control characters are what this refuses
  if (/[\u0000-\u001f\u007f]/.test(value)) {
    throw new Error(`tokenHandlerProperties: "${property}" holds a control character (newline, tab, ...)`);
  }
  if (value.includes('{{')) {
    throw new Error(`tokenHandlerProperties: "${property}" holds "{{", which SSM would take for a parameter`);
  }
  // Felix's ConfigurationHandler ends a value at an unescaped space, = or " (readQuoted) and
  // escapes \ " space and = itself (writeQuoted): so does this.
  return `"${value.replace(/[\\" =]/g, (c) => `\\${c}`)}"`;
}

/**
 * The token handler's Felix `.config` file, one string per line (no trailing newline in the
 * strings; the installer ends each line with one). `token.encapsulated=B"true"` always comes
 * first, the other properties follow sorted by name: strings `"…"` (with `\`, `"`, space and `=` escaped),
 * integers `I"n"` (`L"n"` beyond 32 bits), booleans `B"true"`, string arrays `["a","b"]`.
 * The file replaces the whole configuration of the PID: properties left out go back to AEM's
 * defaults. Throws a clear error for a property name or value that cannot be rendered.
 */
export function renderTokenHandlerConfig(properties: TokenHandlerProperties = {}): string[] {
  const lines = ['token.encapsulated=B"true"'];
  for (const name of Object.keys(properties).sort()) {
    const value = properties[name];
    if (!PROPERTY_NAME.test(name)) {
      throw new Error(`tokenHandlerProperties: "${name}" is not a valid property name (letters, digits, _ . -; starting with a letter or _)`);
    }
    if (RESERVED_PROPERTIES.has(name)) {
      throw new Error(`tokenHandlerProperties: "${name}" is set by the installer and cannot be given`);
    }
    let rendered: string;
    if (typeof value === 'string') {
      rendered = quote(value, name);
    } else if (typeof value === 'boolean') {
      rendered = `B"${value}"`;
    } else if (typeof value === 'number') {
      if (!Number.isSafeInteger(value)) {
        throw new Error(`tokenHandlerProperties: "${name}" must be an integer (pass other numbers as strings)`);
      }
      rendered = value >= -2147483648 && value <= 2147483647 ? `I"${value}"` : `L"${value}"`;
    } else if (Array.isArray(value) && value.every((v) => typeof v === 'string')) {
      rendered = `[${value.map((v) => quote(v, name)).join(',')}]`;
    } else {
      throw new Error(`tokenHandlerProperties: "${name}" must be a string, an integer, a boolean or an array of strings`);
    }
    lines.push(`${name}=${rendered}`);
  }
  return lines;
}

/** What the document's parameters say in the console (HmacBytes and MasterBytes: keySizeParameters). */
const DESCRIPTIONS: Record<Exclude<typeof INSTALLER_PARAMETER_NAMES[number], 'HmacBytes' | 'MasterBytes'>, string> = {
  SecretId: 'ARN of the secret holding {"hmac","master"} (base64).',
  QuickstartDir: 'The crx-quickstart folder (absolute path).',
  AemUser: 'User that runs AEM and owns the files.',
  EncapsulatedToken: 'true: write the token handler config (token.encapsulated=true) into <QuickstartDir>/install.',
  Mode: 'install: put the keys in place. verify: change nothing, exit 0 only if the keys match and storage=Bundle.',
  OnKeyMismatch: 'When the instance has other keys: replace (after a backup), fail, or replace-fresh (only keys younger than FreshKeyMinutes).',
  Restart: 'How a running AEM picks up new keys: none, service (systemctl restart) or bundles (Web Console; needs AdminSecretId).',
  ServiceName: 'The systemd unit that runs AEM.',
  StartAfterInstall: 'Start the service after the install if it is not running.',
  AdminSecretId: 'ARN of a secret holding an AEM admin\'s {"username","password"}, for Restart=bundles.',
  AemPort: 'AEM\'s HTTP port on 127.0.0.1, for Restart=bundles.',
  FreshKeyMinutes: 'For replace-fresh: key files younger than this (minutes) are first-start keys.',
  LogGroupName: 'Log group for the installer\'s own output (tag associations); empty: none.',
};

/** The document's parameters, in the order of the script's data block (INSTALLER_PARAMETER_NAMES). */
function installerParameters(props: InstallerDocumentProps): Record<typeof INSTALLER_PARAMETER_NAMES[number], ScriptParameter> {
  const parameter = (name: keyof typeof DESCRIPTIONS, defaultValue: string): ScriptParameter =>
    ({ description: DESCRIPTIONS[name], default: defaultValue, ...ssmConstraint(name) });
  return {
    SecretId: parameter('SecretId', props.secret.secretArn),
    QuickstartDir: parameter('QuickstartDir', INSTALLER_DEFAULTS.QuickstartDir),
    AemUser: parameter('AemUser', INSTALLER_DEFAULTS.AemUser),
    EncapsulatedToken: parameter('EncapsulatedToken', INSTALLER_DEFAULTS.EncapsulatedToken),
    Mode: parameter('Mode', INSTALLER_DEFAULTS.Mode),
    OnKeyMismatch: parameter('OnKeyMismatch', INSTALLER_DEFAULTS.OnKeyMismatch),
    Restart: parameter('Restart', INSTALLER_DEFAULTS.Restart),
    ServiceName: parameter('ServiceName', INSTALLER_DEFAULTS.ServiceName),
    StartAfterInstall: parameter('StartAfterInstall', INSTALLER_DEFAULTS.StartAfterInstall),
    AdminSecretId: parameter('AdminSecretId', INSTALLER_DEFAULTS.AdminSecretId),
    AemPort: parameter('AemPort', INSTALLER_DEFAULTS.AemPort),
    FreshKeyMinutes: parameter('FreshKeyMinutes', INSTALLER_DEFAULTS.FreshKeyMinutes),
    ...keySizeParameters({ hmac: props.hmacBytes, master: props.masterBytes }, KEY_LENGTH_LABELS),
    LogGroupName: parameter('LogGroupName', ''),
  };
}

/**
 * The SSM Command document that installs a key set on an AEM instance (README: Installer document).
 *
 * The on-instance logic is `scripts/install-keys.sh` (with `aem-keys-common.sh` inlined),
 * embedded at synth time; parameter values travel in a data block the script reads back and
 * validates, so no value is ever parsed as shell code.
 */
export class InstallerDocument extends Construct {
  /** The document's name. */
  public readonly documentName: string;

  /** The `runCommand` lines of the document's single step. */
  public readonly runCommand: string[];

  constructor(scope: Construct, id: string, props: InstallerDocumentProps) {
    super(scope, id);
    const tokenConfig = renderTokenHandlerConfig(tokenHandlerRecord(props.tokenHandlerProperties));
    const parameters = installerParameters(props);

    const { document, runCommand } = createShellScriptDocument(this, {
      description: 'Installs the shared AEM crypto keys (hmac, master), storage=Bundle and the token handler config on an AEM instance.',
      stepName: 'installKeys',
      scriptFile: 'install-keys.sh',
      parameters,
      // Also the bound of a gated group's commandTimeout (checked at synthesis).
      timeoutSeconds: INSTALLER_TIMEOUT_SECONDS,
      staticSections: { 'token-config': tokenConfig },
    });
    this.runCommand = runCommand;
    this.documentName = document.ref;
  }
}
