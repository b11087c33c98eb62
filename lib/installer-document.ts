import * as fs from 'fs';
import * as path from 'path';
import * as secretsmanager from 'aws-cdk-lib/aws-secretsmanager';
import * as ssm from 'aws-cdk-lib/aws-ssm';
import { Construct } from 'constructs';

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

/**
 * The SSM Command document that installs a key set on an AEM instance.
 * PLACEHOLDER until issue 3 lands: the script is embedded as is.
 */
export class InstallerDocument extends Construct {
  /** The document's name. */
  public readonly documentName: string;

  constructor(scope: Construct, id: string, props: InstallerDocumentProps) {
    super(scope, id);
    const script = fs.readFileSync(path.join(__dirname, 'scripts', 'install-keys.sh'), 'utf8');
    const doc = new ssm.CfnDocument(this, 'Resource', {
      documentType: 'Command',
      content: {
        schemaVersion: '2.2',
        description: 'Installs the AEM crypto keys',
        parameters: { SecretId: { type: 'String', default: props.secret.secretArn } },
        mainSteps: [{ action: 'aws:runShellScript', name: 'installKeys', inputs: { runCommand: script.split('\n') } }],
      },
    });
    this.documentName = doc.ref;
  }
}
