import { Tags } from 'aws-cdk-lib';
import * as secretsmanager from 'aws-cdk-lib/aws-secretsmanager';
import { Construct } from 'constructs';
import type { AemCryptoKeysProps } from '../aem-crypto-keys';
import { ExportDocument } from '../export-document';
import { InstallerDocument } from '../installer-document';
import { EXPORT_DOCUMENT_TAG, INSTALLER_DOCUMENT_TAG } from './key-set';

/** A key set's Command documents. */
export interface KeySetDocuments {
  /** The installer document. */
  readonly installerDocument: InstallerDocument;
  /**
   * The export document.
   * @default - none (`AemCryptoKeysProps.exportDocument`)
   */
  readonly exportDocument?: ExportDocument;
}

/**
 * The installer document and, when `withExport`, the export document of the key set `scope`,
 * each tagged with the secret's ARN: the aem-keys CLI finds the documents of a key set that way.
 */
export function createKeySetDocuments(scope: Construct, secret: secretsmanager.ISecret, props: AemCryptoKeysProps,
  withExport: boolean): KeySetDocuments {
  const secretArn = secret.secretFullArn ?? secret.secretArn;
  const installerDocument = new InstallerDocument(scope, 'InstallerDocument', {
    secret,
    tokenHandlerProperties: props.tokenHandlerProperties,
    hmacBytes: props.keyLengths?.hmac,
    masterBytes: props.keyLengths?.master,
  });
  Tags.of(installerDocument).add(INSTALLER_DOCUMENT_TAG, secretArn);
  if (!withExport) {
    return { installerDocument };
  }
  const exportDocument = new ExportDocument(scope, 'ExportDocument', {
    secret,
    hmacBytes: props.keyLengths?.hmac,
    masterBytes: props.keyLengths?.master,
  });
  Tags.of(exportDocument).add(EXPORT_DOCUMENT_TAG, secretArn);
  return { installerDocument, exportDocument };
}
