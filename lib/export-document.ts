import * as secretsmanager from 'aws-cdk-lib/aws-secretsmanager';
import { Construct } from 'constructs';
import { KEY_LENGTH_LABELS } from './installer-document';
import { INSTALLER_DEFAULTS } from './private/installer-parameters';
import { createShellScriptDocument, keySizeParameters, PARAMETER_PATTERNS, ScriptParameter } from './private/shell-script-document';

/** Properties of an `ExportDocument`. */
export interface ExportDocumentProps {
  /** The key set's secret (the `SecretId` default). */
  readonly secret: secretsmanager.ISecret;
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

/** Export document parameters, in the order of the script's data block. */
export const EXPORT_PARAMETER_NAMES = ['SecretId', 'QuickstartDir', 'AemUser', 'Force', 'HmacBytes', 'MasterBytes'] as const;

/**
 * SSM Command document that copies the keys of a reference AEM instance (usually the author)
 * into the key set's secret (`scripts/export-keys.sh`): it reads `hmac` and `master` from the
 * instance's `com.adobe.granite.crypto.file` data folder (the installer's bundle lookup) and calls
 * `PutSecretValue` from the instance. Key material never appears in a parameter, an argument or
 * the command's output. The instance's role needs `AemCryptoKeys.grantWrite`. A secret that
 * already holds different keys is left alone unless `Force=true`.
 */
export class ExportDocument extends Construct {
  /** The document's name. */
  public readonly documentName: string;

  /** The `runCommand` lines of the document's single step. */
  public readonly runCommand: string[];

  constructor(scope: Construct, id: string, props: ExportDocumentProps) {
    super(scope, id);
    const parameters: Record<typeof EXPORT_PARAMETER_NAMES[number], ScriptParameter> = {
      SecretId: {
        description: 'ARN of the key set\'s secret the keys are written to. The region is taken from the ARN.',
        default: props.secret.secretArn,
        allowedPattern: PARAMETER_PATTERNS.secretArn,
      },
      QuickstartDir: {
        description: 'The reference instance\'s crx-quickstart folder (absolute path).',
        default: INSTALLER_DEFAULTS.QuickstartDir,
        allowedPattern: PARAMETER_PATTERNS.path,
      },
      AemUser: {
        description: 'User that runs AEM and owns the tree: the key files are read as this user, never as root.',
        default: INSTALLER_DEFAULTS.AemUser,
        allowedPattern: PARAMETER_PATTERNS.user,
      },
      Force: {
        description: 'true: replace different keys (or another value) already in the secret. false: refuse and change nothing.',
        default: 'false',
        allowedValues: ['true', 'false'],
      },
      ...keySizeParameters({ hmac: props.hmacBytes, master: props.masterBytes }, KEY_LENGTH_LABELS),
    };
    const { document, runCommand } = createShellScriptDocument(this, {
      description: 'Exports the AEM crypto keys (hmac, master) of this instance into the key set\'s secret.',
      stepName: 'exportKeys',
      scriptFile: 'export-keys.sh',
      parameters,
      timeoutSeconds: 600,
    });
    this.runCommand = runCommand;
    this.documentName = document.ref;
  }
}
