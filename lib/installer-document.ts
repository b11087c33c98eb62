import * as fs from 'fs';
import * as path from 'path';
import * as secretsmanager from 'aws-cdk-lib/aws-secretsmanager';
import * as ssm from 'aws-cdk-lib/aws-ssm';
import { Construct } from 'constructs';
import { HMAC_BYTES, MASTER_BYTES } from './key-set';

/** Properties of an `InstallerDocument`. */
export interface InstallerDocumentProps {
  /** The secret whose keys the document installs (the `SecretId` default). */
  readonly secret: secretsmanager.ISecret;
  /**
   * Token handler properties besides `token.encapsulated`.
   * @default - none
   */
  readonly tokenHandlerProperties?: TokenHandlerProperties;
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

/** OSGi configuration values of the token handler, rendered into a Felix `.config` file. */
export type TokenHandlerProperties = Record<string, string | number | boolean | string[]>;

/** The OSGi PID of AEM's token authentication handler. */
export const TOKEN_HANDLER_PID = 'com.day.crx.security.token.impl.impl.TokenAuthenticationHandler';

/** Secrets Manager secret ARN, in every partition. Same expression as AEMKEYS_ARN_RE in the script. */
export const SECRET_ARN_PATTERN =
  '^arn:(aws|aws-cn|aws-us-gov|aws-iso|aws-iso-b):secretsmanager:([a-z]{2}(-[a-z]+)+-[0-9]+):([0-9]{12}):secret:([A-Za-z0-9/_+=.@-]{1,512})$';

/** Installer document parameters, in the order of the script's data block. */
export const INSTALLER_PARAMETER_NAMES = [
  'SecretId', 'QuickstartDir', 'AemUser', 'EncapsulatedToken', 'Mode', 'OnKeyMismatch', 'Restart',
  'ServiceName', 'StartAfterInstall', 'AdminSecretId', 'AemPort', 'HmacBytes', 'MasterBytes',
] as const;

/** The data block's first line; the script finds its parameters after it. */
export const DATA_BLOCK_MARKER = '#@aem-crypto-keys-data 1';

const SCRIPTS_DIR = path.join(__dirname, 'scripts');
const COMMON_BEGIN = '# >>> aem-keys-common.sh';
const COMMON_END = '# <<< aem-keys-common.sh';
/** SSM's limit for a Command document's content is 64 KB; keep a margin for the JSON around the script. */
const MAX_SCRIPT_BYTES = 60 * 1024;

/**
 * The lines of an on-instance script as a document's `runCommand`: `lib/scripts/<scriptFile>`
 * with `aem-keys-common.sh` inlined between its `# >>> aem-keys-common.sh` / `# <<< ...` markers,
 * followed by the data block: one `#@param Name` line and one `{{ Name }}` line per parameter
 * (SSM substitutes the value there; the script reads it back from its own file and never
 * executes it), then each static section's lines, then `#@end`.
 *
 * Throws when the script holds `{{` outside the data block (SSM would substitute it).
 */
export function embedShellScript(scriptFile: string, parameterNames: readonly string[], staticSections: Record<string, string[]> = {}): string[] {
  const script = fs.readFileSync(path.join(SCRIPTS_DIR, scriptFile), 'utf8');
  const common = fs.readFileSync(path.join(SCRIPTS_DIR, 'aem-keys-common.sh'), 'utf8');
  const lines = script.replace(/\n$/, '').split('\n');
  const begin = lines.indexOf(COMMON_BEGIN);
  const end = lines.indexOf(COMMON_END);
  if (begin < 0 || end < begin) {
    throw new Error(`${scriptFile}: missing the "${COMMON_BEGIN}" / "${COMMON_END}" markers`);
  }
  const body = [...lines.slice(0, begin + 1), ...common.replace(/\n$/, '').split('\n'), ...lines.slice(end)];
  if (body.some((l) => l.includes('{{'))) {
    throw new Error(`${scriptFile}: the script contains "{{", which SSM would take for a parameter`);
  }
  if (body.some((l) => l === DATA_BLOCK_MARKER)) {
    throw new Error(`${scriptFile}: the script contains the data block marker as a line`);
  }
  const data = [DATA_BLOCK_MARKER];
  for (const name of parameterNames) {
    data.push(`#@param ${name}`, `{{ ${name} }}`);
  }
  for (const [section, sectionLines] of Object.entries(staticSections)) {
    if (!/^[a-z][a-z0-9-]{0,40}$/.test(section)) throw new Error(`bad static section name ${section}`);
    data.push(`#@static ${section}`);
    for (const l of sectionLines) {
      if (/[\r\n]/.test(l) || l.includes('{{')) throw new Error(`static section ${section}: a line holds a newline or "{{"`);
      data.push(`#@|${l}`);
    }
  }
  data.push('#@end');
  const all = [...body, ...data];
  const size = Buffer.byteLength(all.join('\n'));
  if (size > MAX_SCRIPT_BYTES) {
    throw new Error(`${scriptFile}: the embedded script is ${size} bytes, over the ${MAX_SCRIPT_BYTES} bytes that fit an SSM document`);
  }
  return all;
}

const PROPERTY_NAME = /^[A-Za-z_][A-Za-z0-9_.-]{0,199}$/;
const RESERVED_PROPERTIES = new Set(['token.encapsulated', 'service.pid', 'service.factoryPid', 'service.bundleLocation']);

function quote(value: string, property: string): string {
  if (/[\u0000-\u001f\u007f]/.test(value)) {
    throw new Error(`tokenHandlerProperties: "${property}" holds a control character (newline, tab, ...)`);
  }
  if (value.includes('{{')) {
    throw new Error(`tokenHandlerProperties: "${property}" holds "{{", which SSM would take for a parameter`);
  }
  return `"${value.replace(/\\/g, '\\\\').replace(/"/g, '\\"')}"`;
}

/**
 * The token handler's Felix `.config` file, one string per line (no trailing newline in the
 * strings; the installer ends each line with one). `token.encapsulated=B"true"` always comes
 * first, the other properties follow sorted by name: strings `"…"` (with `\` and `"` escaped),
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

function checkKeyBytes(name: string, value: number | undefined, fallback: number): string {
  const v = value ?? fallback;
  if (!Number.isInteger(v) || v < 1 || v > 4096) {
    throw new Error(`${name} must be an integer from 1 to 4096, got ${v}`);
  }
  return String(v);
}

const ALLOWED = {
  path: '^/[-A-Za-z0-9_./ @+,:=~]*$',
  user: '^[a-z_][a-z0-9_-]{0,31}$',
  unit: '^[A-Za-z0-9_][A-Za-z0-9:_.@-]{0,254}$',
  port: '^[1-9][0-9]{0,4}$',
  bytes: '^[1-9][0-9]{0,3}$',
};

/**
 * The SSM Command document that installs a key set on an AEM instance (docs/installer.md).
 *
 * The on-instance logic is `lib/scripts/install-keys.sh` (with `aem-keys-common.sh` inlined),
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
    const hmacBytes = checkKeyBytes('hmacBytes (keyLengths.hmac)', props.hmacBytes, HMAC_BYTES);
    const masterBytes = checkKeyBytes('masterBytes (keyLengths.master)', props.masterBytes, MASTER_BYTES);
    const tokenConfig = renderTokenHandlerConfig(props.tokenHandlerProperties);
    this.runCommand = embedShellScript('install-keys.sh', INSTALLER_PARAMETER_NAMES, { 'token-config': tokenConfig });

    const parameters: Record<string, Record<string, unknown>> = {
      SecretId: {
        type: 'String',
        description: 'ARN of the secret holding {"hmac","master"} (base64). The region is taken from the ARN.',
        default: props.secret.secretArn,
        allowedPattern: SECRET_ARN_PATTERN,
      },
      QuickstartDir: {
        type: 'String',
        description: 'The instance\'s crx-quickstart folder (absolute path).',
        default: '/opt/aem/crx-quickstart',
        allowedPattern: ALLOWED.path,
      },
      AemUser: {
        type: 'String',
        description: 'User that runs AEM and owns the files written.',
        default: 'aem',
        allowedPattern: ALLOWED.user,
      },
      EncapsulatedToken: {
        type: 'String',
        description: `Write ${TOKEN_HANDLER_PID}.config (token.encapsulated=B"true") into <QuickstartDir>/install. It replaces the whole configuration of that PID.`,
        default: 'true',
        allowedValues: ['true', 'false'],
      },
      Mode: {
        type: 'String',
        description: 'install: put the keys in place. verify: change nothing, print the same summary, exit 0 only when hmac and master equal the secret and storage is Bundle.',
        default: 'install',
        allowedValues: ['install', 'verify'],
      },
      OnKeyMismatch: {
        type: 'String',
        description: 'When the instance already has other keys: replace (after a backup under <QuickstartDir>/crypto-key-backups) or fail (change nothing).',
        default: 'replace',
        allowedValues: ['replace', 'fail'],
      },
      Restart: {
        type: 'String',
        description: 'How a running AEM picks up changed key files: none, service (systemctl restart) or bundles (Web Console refresh on localhost, needs AdminSecretId).',
        default: 'service',
        allowedValues: ['none', 'service', 'bundles'],
      },
      ServiceName: {
        type: 'String',
        description: 'The systemd unit that runs AEM.',
        default: 'aem',
        allowedPattern: ALLOWED.unit,
      },
      StartAfterInstall: {
        type: 'String',
        description: 'Start the service when it is not running, after a successful install.',
        default: 'false',
        allowedValues: ['true', 'false'],
      },
      AdminSecretId: {
        type: 'String',
        description: 'ARN of a secret holding an AEM admin\'s {"username","password"}; only for Restart=bundles.',
        default: '',
        allowedPattern: `^(${SECRET_ARN_PATTERN.slice(1, -1)})?$`,
      },
      AemPort: {
        type: 'String',
        description: 'AEM\'s HTTP port on 127.0.0.1, for Restart=bundles.',
        default: '4502',
        allowedPattern: ALLOWED.port,
      },
      HmacBytes: {
        type: 'String',
        description: 'Expected size of hmac in bytes.',
        default: hmacBytes,
        allowedPattern: ALLOWED.bytes,
      },
      MasterBytes: {
        type: 'String',
        description: 'Expected size of master in bytes.',
        default: masterBytes,
        allowedPattern: ALLOWED.bytes,
      },
    };

    const doc = new ssm.CfnDocument(this, 'Resource', {
      documentType: 'Command',
      content: {
        schemaVersion: '2.2',
        description: 'Installs the shared AEM crypto keys (hmac, master), storage=Bundle and the encapsulated token config on an AEM instance.',
        parameters,
        mainSteps: [{
          action: 'aws:runShellScript',
          name: 'installKeys',
          precondition: { StringEquals: ['platformType', 'Linux'] },
          inputs: { timeoutSeconds: '900', runCommand: this.runCommand },
        }],
      },
    });
    this.documentName = doc.ref;
  }
}
