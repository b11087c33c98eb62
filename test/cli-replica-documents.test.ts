import { execFileSync } from 'child_process';
import { CreateSecretCommand, SecretsManagerClient } from '@aws-sdk/client-secrets-manager';
import { CreateDocumentCommand, ListCommandsCommand, SSMClient } from '@aws-sdk/client-ssm';
import { INSTALLER_DOCUMENT_TAG, serializeKeySet } from '../lib/private/key-set';
import { runCli } from './support/cli-run';
import { Moto, MOTO_REGION, startMoto } from './support/moto';
import { describeWithTools } from './support/tools';

// A replica region's key set (KeySource.fromReplica({ secretName })) knows its secret only by a
// partial ARN (no 6-character suffix) and tags its documents with it; the CLI, given the full ARN,
// still finds them.

const run = runCli;

describeWithTools(['moto_server', 'aws'], 'documents tagged with a partial secret ARN (moto_server)', () => {
  let moto: Moto;
  const saved = { ...process.env };
  beforeAll(async () => {
    moto = await startMoto();
    Object.assign(process.env, moto.env);
    execFileSync('aws', ['ec2', 'run-instances', '--image-id', 'ami-12c6146b', '--count', '1',
      '--tag-specifications', 'ResourceType=instance,Tags=[{Key=aem-role,Value=publish}]'], { env: { ...process.env, ...moto.env } });
  });
  afterAll(async () => {
    process.env = saved;
    await moto?.stop();
  });

  test('rollout --secret FULL_ARN uses the document tagged with the partial ARN', async () => {
    const sm = new SecretsManagerClient({ region: MOTO_REGION, endpoint: moto.endpoint });
    const ssm = new SSMClient({ region: MOTO_REGION, endpoint: moto.endpoint });
    const arn = (await sm.send(new CreateSecretCommand({
      Name: 'aem/replica-keys', SecretString: serializeKeySet({ hmac: Buffer.alloc(32, 1), master: Buffer.alloc(16, 2) }),
    }))).ARN!;
    const partial = arn.replace(/-[A-Za-z0-9]{6}$/, '');
    expect(partial).not.toBe(arn);
    const content = { schemaVersion: '2.2', description: 'x', mainSteps: [{ action: 'aws:runShellScript', name: 'run', inputs: { runCommand: ['true'] } }] };
    await ssm.send(new CreateDocumentCommand({
      Name: 'Replica-Installer', DocumentType: 'Command', Content: JSON.stringify(content),
      Tags: [{ Key: INSTALLER_DOCUMENT_TAG, Value: partial }],
    }));
    await ssm.send(new CreateDocumentCommand({
      Name: 'Unrelated-Installer', DocumentType: 'Command', Content: JSON.stringify(content),
      Tags: [{ Key: INSTALLER_DOCUMENT_TAG, Value: `${partial}-other` }],
    }));
    const r = await run(['rollout', '--secret', arn, '--targets', 'tag:aem-role=publish', '--param', 'QuickstartDir=/opt/aem/publish/crx-quickstart']);
    expect(r.stderr).not.toMatch(/tagged/);
    const commands = (await ssm.send(new ListCommandsCommand({}))).Commands!;
    expect(commands.map((c) => c.DocumentName)).toEqual(['Replica-Installer']);
    sm.destroy();
    ssm.destroy();
  });
});
