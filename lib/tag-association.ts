import { Construct } from 'constructs';
import { InstallerOptions } from './installer-options';

/** Options of `AemCryptoKeys.addInstancesByTag` (issue 4 owns this file). */
export interface InstancesByTagOptions extends InstallerOptions {}

/** Properties of a `TagAssociation`. */
export interface TagAssociationProps extends InstancesByTagOptions {
  /** Name of the installer document. */
  readonly installerDocumentName: string;
  /** ARN of the key set's secret. */
  readonly secretArn: string;
  /** Tag key of the target instances. */
  readonly tagKey: string;
  /** Tag value of the target instances. */
  readonly tagValue: string;
}

/** State Manager association running the installer on tagged instances. */
export class TagAssociation extends Construct {
  constructor(scope: Construct, id: string, _props: TagAssociationProps) {
    super(scope, id);
    throw new Error('addInstancesByTag: not built yet (issue 4)');
  }
}
