import { randomBytes } from 'crypto';
import * as fs from 'fs';
import { aemBundles, felixCache } from './felix';
import { Instance, makeInstance, plantGeneratedKeys, renderScript, RunResult, runScript, synthInstaller, testUser } from './installer-harness';
import { Moto, startMoto } from './moto';
import { keySetSecrets } from './secrets';

/** What `keySetInstance` sets up (the fields are there from `beforeAll` on). */
export interface KeySetInstance {
  readonly user: ReturnType<typeof testUser>;
  /** The key set's keys (what `good` holds). */
  readonly keys: { hmac: Buffer; master: Buffer };
  moto: Moto;
  /** The key set's secret, and one with an hmac a byte short (every installer run on it fails). */
  good: string;
  short: string;
  /** An instance on the full genuine AEM cache, holding AEM's own generated keys at first. */
  inst: Instance;
  /** Runs the installer of the synthesized document on `inst` with these parameter values. */
  run(values: Record<string, string>): RunResult;
}

/**
 * For a describe block: moto_server, a key set's two secrets (`keySetSecrets`, named from
 * `prefix`) and one instance, made in `beforeAll` and removed in `afterAll`. `env` adds to the
 * installer's environment (moto's, and HOME).
 */
export function keySetInstance(prefix: string, env: () => Record<string, string> = () => ({})): KeySetInstance {
  const fx = {
    user: testUser(),
    keys: { hmac: randomBytes(32), master: randomBytes(16) },
    run: (values: Record<string, string>) =>
      runScript(fx.inst, renderScript(synthInstaller(), { QuickstartDir: fx.inst.quickstart, AemUser: fx.user.name, ...values }), {
        ...fx.moto.env,
        HOME: process.env.HOME ?? '/root',
        ...env(),
      }),
  } as KeySetInstance;
  beforeAll(async () => {
    fx.moto = await startMoto();
    ({ good: fx.good, short: fx.short } = await keySetSecrets(fx.moto, prefix, fx.keys));
    fx.inst = makeInstance(felixCache(aemBundles()), fx.user);
    plantGeneratedKeys(fx.inst, fx.user);
  }, 120000);
  afterAll(async () => {
    await fx.moto?.stop();
    if (fx.inst) fs.rmSync(fx.inst.root, { recursive: true, force: true });
  });
  return fx;
}
