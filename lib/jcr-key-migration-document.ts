import * as secretsmanager from 'aws-cdk-lib/aws-secretsmanager';
import { Construct } from 'constructs';
import { INSTALLER_DEFAULTS } from './private/installer-parameters';
import { createShellScriptDocument, keySizeParameters, PARAMETER_PATTERNS, ScriptParameter } from './private/shell-script-document';

/** Properties of a `JcrKeyMigrationDocument`. */
export interface JcrKeyMigrationDocumentProps {
  /**
   * Secret holding `{"username","password"}` of an AEM admin (the `AdminSecretId` default).
   * The instance's role needs read access to it.
   * @default - no default: every run passes AdminSecretId
   */
  readonly adminSecret?: secretsmanager.ISecret;
  /**
   * How long to wait for AEM to come back after the restart, in seconds.
   * @default 900
   */
  readonly healthTimeoutSeconds?: number;
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

/** Migration document parameters, in the order of the script's data block. */
export const MIGRATION_PARAMETER_NAMES = [
  'QuickstartDir', 'AemUser', 'ServiceName', 'AdminSecretId', 'AemPort', 'HealthTimeoutSeconds', 'HmacBytes', 'MasterBytes',
] as const;

/**
 * SSM Command document for instances upgraded from AEM 6.2 or older whose keys are still the
 * `hmac`/`master` properties of `/etc/key` (Adobe KB KA-23909), from
 * `scripts/migrate-jcr-keys.sh`. It reads them over HTTP from the running AEM on 127.0.0.1
 * (admin credentials from a secret), writes them into the `com.adobe.granite.crypto.file` data
 * folder, sets `storage` to `Bundle`, restarts AEM, waits until both crypto bundles are active,
 * verifies files and `/etc/key` agree (checksums), and only then removes the two properties.
 * Any failure before that leaves `/etc/key` untouched.
 */
export class JcrKeyMigrationDocument extends Construct {
  /** The document's name. */
  public readonly documentName: string;

  /** The `runCommand` lines of the document's single step. */
  public readonly runCommand: string[];

  constructor(scope: Construct, id: string, props: JcrKeyMigrationDocumentProps = {}) {
    super(scope, id);
    const healthTimeout = props.healthTimeoutSeconds ?? 900;
    if (!Number.isInteger(healthTimeout) || healthTimeout < 1 || healthTimeout > 3000) {
      throw new Error(`healthTimeoutSeconds must be an integer from 1 to 3000 (the document's step runs at most 3600 s), got ${healthTimeout}`);
    }
    const parameters: Record<typeof MIGRATION_PARAMETER_NAMES[number], ScriptParameter> = {
      QuickstartDir: {
        description: 'The instance\'s crx-quickstart folder (absolute path).',
        default: INSTALLER_DEFAULTS.QuickstartDir,
        allowedPattern: PARAMETER_PATTERNS.path,
      },
      AemUser: {
        description: 'User that runs AEM and owns the files written.',
        default: INSTALLER_DEFAULTS.AemUser,
        allowedPattern: PARAMETER_PATTERNS.user,
      },
      ServiceName: {
        description: 'The systemd unit that runs AEM (restarted once, when the files change).',
        default: INSTALLER_DEFAULTS.ServiceName,
        allowedPattern: PARAMETER_PATTERNS.unit,
      },
      AdminSecretId: {
        description: 'ARN of a secret holding an AEM admin\'s {"username","password"}.',
        default: props.adminSecret?.secretArn,
        allowedPattern: PARAMETER_PATTERNS.secretArn,
      },
      AemPort: {
        description: 'AEM\'s HTTP port on 127.0.0.1.',
        default: INSTALLER_DEFAULTS.AemPort,
        allowedPattern: PARAMETER_PATTERNS.port,
      },
      HealthTimeoutSeconds: {
        description: 'How long to wait, after the restart, for both crypto bundles to be active and /etc/key to be served.',
        default: String(healthTimeout),
        allowedPattern: PARAMETER_PATTERNS.seconds,
      },
      ...keySizeParameters({ hmac: props.hmacBytes, master: props.masterBytes }, { hmac: 'hmacBytes', master: 'masterBytes' }),
    };
    const { document, runCommand } = createShellScriptDocument(this, {
      description: 'Moves the AEM crypto keys from /etc/key (JCR) into the com.adobe.granite.crypto.file data folder (Adobe KB KA-23909).',
      stepName: 'migrateJcrKeys',
      scriptFile: 'migrate-jcr-keys.sh',
      parameters,
      timeoutSeconds: 3600,
    });
    this.runCommand = runCommand;
    this.documentName = document.ref;
  }
}
