import {
  CreateSecretCommand,
  DeleteSecretCommand,
  DescribeSecretCommand,
  GetSecretValueCommand,
  PutSecretValueCommand,
  SecretsManagerClient,
  StatusType,
} from '@aws-sdk/client-secrets-manager';
import { mockClient } from 'aws-sdk-client-mock';
import { GenerateKeysEvent, handler, useClient, usePollInterval } from '../lib/handlers/generate-keys';
import { parseKeySet, serializeKeySet } from '../lib/private/key-set';
import { startMoto, Moto } from './support/moto';
import { describeWithTools } from './support/tools';

const SECRET = 'arn:aws:secretsmanager:us-east-1:123456789012:secret:aem-keys-AbCdEf';

function event(type: GenerateKeysEvent['RequestType'], secretId = SECRET, requestId = '6f1e1e2a-1111-2222-3333-444455556666'): GenerateKeysEvent {
  return {
    RequestType: type, RequestId: requestId, PhysicalResourceId: type === 'Create' ? undefined : secretId, ResourceProperties: { SecretId: secretId },
  };
}

describe('generate-keys handler (mocked SDK)', () => {
  const sm = mockClient(SecretsManagerClient);
  beforeEach(() => {
    sm.reset();
    useClient(new SecretsManagerClient({ region: 'us-east-1' }));
  });
  afterAll(() => sm.restore());

  describe('Create on an empty secret', () => {
    // Each test makes the call (the mocks are reset before each).
    const create = async () => {
      sm.on(DescribeSecretCommand).resolves({ VersionIdsToStages: {} });
      sm.on(PutSecretValueCommand).resolves({});
      const result = await handler(event('Create'));
      return { result, put: sm.commandCalls(PutSecretValueCommand)[0].args[0].input };
    };

    test('writes the secret and reports it generated', async () => {
      const { result, put } = await create();
      expect(result).toEqual({ PhysicalResourceId: SECRET, Data: { Generated: 'true' } });
      expect(put.SecretId).toBe(SECRET);
    });

    test('idempotent by request id', async () => {
      const { put } = await create();
      expect(put.ClientRequestToken).toBe('6f1e1e2a-1111-2222-3333-444455556666');
    });

    test('32 + 16 random bytes', async () => {
      const { put } = await create();
      const keys = parseKeySet(put.SecretString!);
      expect(keys.hmac).toHaveLength(32);
      expect(keys.master).toHaveLength(16);
    });
  });

  test('two Creates produce different keys (CSPRNG, not a constant)', async () => {
    sm.on(DescribeSecretCommand).resolves({ VersionIdsToStages: {} });
    await handler(event('Create'));
    await handler(event('Create'));
    const [a, b] = sm.commandCalls(PutSecretValueCommand).map((c) => c.args[0].input.SecretString);
    expect(a).not.toEqual(b);
  });

  test('Update with a valid key set keeps it: nothing written', async () => {
    sm.on(DescribeSecretCommand).resolves({ VersionIdsToStages: { v1: ['AWSCURRENT'] } });
    sm.on(GetSecretValueCommand).resolves({ SecretString: serializeKeySet({ hmac: Buffer.alloc(32, 1), master: Buffer.alloc(16, 2) }) });
    const result = await handler(event('Update'));
    expect(result.Data.Generated).toBe('false');
    expect(sm.commandCalls(PutSecretValueCommand)).toHaveLength(0);
  });

  test('a secret holding something else is refused, not overwritten, and the value is not echoed', async () => {
    sm.on(DescribeSecretCommand).resolves({ VersionIdsToStages: { v1: ['AWSCURRENT'] } });
    sm.on(GetSecretValueCommand).resolves({ SecretString: 'hunter2-not-json' });
    await expect(handler(event('Create'))).rejects.toThrow(/not an AEM key set \(the secret is not JSON\); refusing/);
    await expect(handler(event('Create'))).rejects.not.toThrow(/hunter2/);
    expect(sm.commandCalls(PutSecretValueCommand)).toHaveLength(0);
  });

  test('an Update that moved to a new, empty secret refuses to generate (the old keys would be lost)', async () => {
    sm.on(DescribeSecretCommand).resolves({ VersionIdsToStages: {} });
    const other = `${SECRET}-new`;
    await expect(handler({ ...event('Update', other), OldResourceProperties: { SecretId: SECRET } }))
      .rejects.toThrow(`the key set's secret was replaced (${SECRET} -> ${other}); refusing to generate new keys`);
    expect(sm.commandCalls(PutSecretValueCommand)).toHaveLength(0);
  });

  test('an Update of the same, still empty secret (e.g. a failed first fill) does generate', async () => {
    sm.on(DescribeSecretCommand).resolves({ VersionIdsToStages: {} });
    await handler({ ...event('Update'), OldResourceProperties: { SecretId: SECRET } });
    expect(sm.commandCalls(PutSecretValueCommand)).toHaveLength(1);
  });

  describe('a replicated secret: the deploy goes on only when every replica holds the keys', () => {
    const replicated = (type: GenerateKeysEvent['RequestType'], wait = '1'): GenerateKeysEvent =>
      ({ ...event(type), ResourceProperties: { SecretId: SECRET, ReplicaRegions: ['eu-west-1', 'ap-southeast-2'], ReplicaWaitSeconds: wait } });
    const status = (eu: StatusType, ap: StatusType, message?: string) => ({
      ReplicationStatus: [
        { Region: 'eu-west-1', KmsKeyId: 'alias/aem-keys-eu', Status: eu, StatusMessage: message },
        { Region: 'ap-southeast-2', Status: ap },
      ],
    });
    beforeEach(() => usePollInterval(10));

    test('waits while a replica is InProgress, done when all are InSync', async () => {
      sm.on(DescribeSecretCommand)
        .resolvesOnce({ VersionIdsToStages: {} })
        .resolvesOnce(status('InProgress', 'InSync'))
        .resolvesOnce(status('InProgress', 'InSync'))
        .resolves(status('InSync', 'InSync'));
      await expect(handler(replicated('Create'))).resolves.toMatchObject({ Data: { Generated: 'true' } });
      expect(sm.commandCalls(PutSecretValueCommand)).toHaveLength(1);
      expect(sm.commandCalls(DescribeSecretCommand)).toHaveLength(4);
    });

    test('a Failed replica fails the deploy at once, naming the region, the key and the likely cause', async () => {
      sm.on(DescribeSecretCommand).resolvesOnce({ VersionIdsToStages: {} })
        .resolves(status('Failed', 'InSync', 'Access to KMS is not allowed'));
      const error = handler(replicated('Create', '300'));
      await expect(error).rejects.toThrow(`the replica of ${SECRET} in eu-west-1 failed to replicate (Access to KMS is not allowed). `
        + 'Likely cause: the writer (this generator\'s role) may not use the replica\'s KMS key alias/aem-keys-eu in eu-west-1 '
        + '(kms:GenerateDataKey and kms:Encrypt');
    });

    test('a replica still InProgress after the wait fails the deploy; a missing replica (removed) fails at once', async () => {
      sm.on(DescribeSecretCommand).resolvesOnce({ VersionIdsToStages: {} }).resolves(status('InSync', 'InProgress'));
      await expect(handler(replicated('Create', '0'))).rejects.toThrow(/in ap-southeast-2 is still InProgress after 0 s/);
      sm.reset();
      sm.on(DescribeSecretCommand).resolvesOnce({ VersionIdsToStages: {} })
        .resolves({ ReplicationStatus: [{ Region: 'ap-southeast-2', Status: 'InSync' }] });
      await expect(handler(replicated('Create')))
        .rejects.toThrow(/in eu-west-1 is missing \(Secrets Manager removes a replica left without a usable version\)/);
    });

    test('an existing value is kept, and its replicas are checked too (a region added later, or a failed one)', async () => {
      sm.on(DescribeSecretCommand).resolvesOnce({ VersionIdsToStages: { v1: ['AWSCURRENT'] } })
        .resolves(status('Failed', 'InSync'));
      sm.on(GetSecretValueCommand).resolves({ SecretString: serializeKeySet({ hmac: Buffer.alloc(32, 1), master: Buffer.alloc(16, 2) }) });
      await expect(handler(replicated('Update'))).rejects.toThrow(/in eu-west-1 failed to replicate/);
      expect(sm.commandCalls(PutSecretValueCommand)).toHaveLength(0);
    });
  });

  test('Delete touches nothing', async () => {
    const result = await handler(event('Delete'));
    expect(result.PhysicalResourceId).toBe(SECRET);
    expect(sm.calls()).toHaveLength(0);
  });

  test('missing SecretId is an error', async () => {
    await expect(handler({ RequestType: 'Create', RequestId: 'x', ResourceProperties: {} })).rejects.toThrow('SecretId is required');
  });
});

describeWithTools(['moto_server'], 'generate-keys handler against moto_server (real SDK)', () => {
  let moto: Moto;
  let client: SecretsManagerClient;
  beforeAll(async () => {
    moto = await startMoto();
    client = new SecretsManagerClient({ region: 'us-east-1', endpoint: moto.endpoint, credentials: { accessKeyId: 'testing', secretAccessKey: 'testing' } });
    useClient(client);
  });
  afterAll(async () => {
    client?.destroy();
    await moto?.stop();
  });

  async function emptySecret(name: string): Promise<string> {
    return (await client.send(new CreateSecretCommand({ Name: name }))).ARN!;
  }
  async function current(arn: string): Promise<string> {
    return (await client.send(new GetSecretValueCommand({ SecretId: arn }))).SecretString!;
  }

  test('create fills an empty secret; update and a repeated create keep the same value', async () => {
    const arn = await emptySecret('generated');
    await handler(event('Create', arn));
    const first = await current(arn);
    expect(parseKeySet(first).hmac).toHaveLength(32);
    await handler(event('Update', arn, 'aaaaaaaa-1111-2222-3333-444455556666'));
    await handler(event('Create', arn, 'bbbbbbbb-1111-2222-3333-444455556666'));
    expect(await current(arn)).toBe(first);
  });

  test('delete leaves the secret and its value (retain semantics)', async () => {
    const arn = await emptySecret('retained');
    await handler(event('Create', arn));
    const value = await current(arn);
    await handler(event('Delete', arn));
    expect(await current(arn)).toBe(value);
  });

  test('an unknown secret fails clearly', async () => {
    await expect(handler(event('Create', 'arn:aws:secretsmanager:us-east-1:123456789012:secret:nope-AbCdEf'))).rejects.toThrow(/can't find|not found|ResourceNotFound/i);
  });

  test('a secret with a 31-byte hmac is refused and left as it was', async () => {
    const arn = (await client.send(new CreateSecretCommand({
      Name: 'short', SecretString: JSON.stringify({ hmac: Buffer.alloc(31).toString('base64'), master: Buffer.alloc(16).toString('base64') }),
    }))).ARN!;
    const before = await current(arn);
    await expect(handler(event('Update', arn))).rejects.toThrow('"hmac" is 31 bytes, expected 32');
    expect(await current(arn)).toBe(before);
  });

  describe('configured sizes (HmacBytes 64, MasterBytes 32)', () => {
    let arn: string;
    let value: string;
    const sized = (type: GenerateKeysEvent['RequestType'], hmac: string, master: string, id?: string): GenerateKeysEvent =>
      ({ ...event(type, arn, id), ResourceProperties: { SecretId: arn, HmacBytes: hmac, MasterBytes: master } });
    beforeAll(async () => {
      arn = await emptySecret('sized');
      await handler(sized('Create', '64', '32'));
      value = await current(arn);
    });

    test('are written', () => {
      const keys = parseKeySet(value, { hmac: 64, master: 32 });
      expect(keys.hmac).toHaveLength(64);
      expect(keys.master).toHaveLength(32);
    });

    test('the same sizes again: kept', async () => {
      await expect(handler(sized('Update', '64', '32', 'cccccccc-1111-2222-3333-444455556666'))).resolves.toMatchObject({ Data: { Generated: 'false' } });
    });

    test('other sizes (e.g. keyLengths changed after the fact): refused, nothing written', async () => {
      await expect(handler(sized('Update', '32', '16', 'dddddddd-1111-2222-3333-444455556666'))).rejects.toThrow('"hmac" is 64 bytes, expected 32');
      expect(await current(arn)).toBe(value);
    });
  });

  test('default-sized keys are refused by a key set configured for other sizes', async () => {
    const arn = await emptySecret('default-sized');
    await handler(event('Create', arn));
    const value = await current(arn);
    await expect(handler({ ...event('Update', arn, 'eeeeeeee-1111-2222-3333-444455556666'), ResourceProperties: { SecretId: arn, HmacBytes: '32', MasterBytes: '24' } }))
      .rejects.toThrow('"master" is 16 bytes, expected 24');
    expect(await current(arn)).toBe(value);
  });

  test('bad sizes fail before anything is written', async () => {
    const arn = await emptySecret('bad-size');
    for (const bad of ['0', '4097', '-1', '12.5', 'abc']) {
      await expect(handler({ ...event('Create', arn), ResourceProperties: { SecretId: arn, HmacBytes: bad } })).rejects.toThrow(`HmacBytes must be an integer from 1 to 4096, got "${bad}"`);
    }
    const description = await client.send(new DescribeSecretCommand({ SecretId: arn }));
    expect(Object.values(description.VersionIdsToStages ?? {}).flat()).not.toContain('AWSCURRENT');
  });

  // In order on one secret replicated to eu-west-1.
  describe('a secret replicated to another region', () => {
    let arn: string;
    const replicated = (regions: string[]) => ({
      ...event('Create', arn), ResourceProperties: { SecretId: arn, ReplicaRegions: regions, ReplicaWaitSeconds: '5' },
    });
    beforeAll(async () => {
      arn = (await client.send(new CreateSecretCommand({ Name: 'replicated', AddReplicaRegions: [{ Region: 'eu-west-1' }] }))).ARN!;
      usePollInterval(10);
    });

    test('filled, and the replica reported InSync', async () => {
      await expect(handler(replicated(['eu-west-1']))).resolves.toMatchObject({ Data: { Generated: 'true' } });
    });

    test('a replica region the secret lacks: fails, naming it', async () => {
      await expect(handler(replicated(['eu-west-1', 'eu-central-1']))).rejects.toThrow(/in eu-central-1 is missing/);
    });
  });

  test('a deleted (scheduled) secret is not recreated', async () => {
    const arn = await emptySecret('deleted');
    await client.send(new DeleteSecretCommand({ SecretId: arn, RecoveryWindowInDays: 7 }));
    await expect(handler(event('Create', arn))).rejects.toThrow(/scheduled for deletion/);
  });
});
