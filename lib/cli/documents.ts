import { DescribeSecretCommand, SecretsManagerClient } from '@aws-sdk/client-secrets-manager';
import { ListDocumentsCommand, SSMClient } from '@aws-sdk/client-ssm';
import { printable, UsageError } from './args';
import { OperationError } from './import-keys';

/** The AWS clients a command uses, made on first use. */
export interface AwsClients {
  sm(): SecretsManagerClient;
  ssm(): SSMClient;
}

/** `--document`, else the document named by the secret's tag. */
export async function resolveDocument(
  ctx: AwsClients,
  command: string,
  secretId: string,
  flag: string | undefined,
  tag: string,
): Promise<{ name: string; secretArn: string }> {
  let described;
  try {
    described = await ctx.sm().send(new DescribeSecretCommand({ SecretId: secretId }));
  } catch (e) {
    if ((e as Error).name === 'ResourceNotFoundException')
      throw new OperationError(`secret ${secretId} does not exist (or is not visible to these credentials)`);
    throw e;
  }
  const secretArn = described.ARN ?? secretId;
  if (flag !== undefined) {
    if (!/^[A-Za-z0-9_.:/-]{3,200}$/.test(flag))
      throw new UsageError(`${command}: --document is not a valid SSM document name: "${printable(flag)}"`);
    return { name: flag, secretArn };
  }
  // A key set that names its secret without the 6-character suffix (e.g. a replica region's,
  // KeySource.fromReplica({ secretName })) tags its documents with that partial ARN.
  const names = await documentsTagged(ctx.ssm(), tag, [secretArn, secretArn.replace(/-[A-Za-z0-9]{6}$/, '')]);
  if (names.length !== 1) {
    const found = names.length === 0 ? 'no SSM document of this account is' : `${names.length} SSM documents (${names.join(', ')}) are`;
    throw new OperationError(`${command}: ${found} tagged ${tag}=${secretArn}; pass --document NAME (the key set's document name, a stack output)`);
  }
  return { name: names[0], secretArn };
}

/** Names of this account's documents tagged `tag` = one of `values` (AemCryptoKeys tags its documents with its secret's ARN). */
async function documentsTagged(ssm: SSMClient, tag: string, values: string[]): Promise<string[]> {
  const names: string[] = [];
  let token: string | undefined;
  do {
    const page = await ssm.send(new ListDocumentsCommand({
      Filters: [{ Key: 'Owner', Values: ['Self'] }, { Key: `tag:${tag}`, Values: [...new Set(values)] }],
      NextToken: token,
    }));
    // The tags are checked here too: not every endpoint (e.g. a local emulator) applies tag filters.
    for (const d of page.DocumentIdentifiers ?? []) {
      if (d.Name && d.Tags?.some((t) => t.Key === tag && values.includes(t.Value ?? ''))) names.push(d.Name);
    }
    token = page.NextToken;
  } while (token);
  return names;
}
