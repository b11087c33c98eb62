import { randomBytes } from 'crypto';
import * as fs from 'fs';
import * as path from 'path';
import { aemBundles, felixCache } from './support/felix';
import {
  Instance, makeInstance, plant, plantGeneratedKeys, renderScript, runScriptAsync, snapshotTree, spawnScript, stubAws, synthInstaller, testUser,
} from './support/installer-harness';
import { describeWithTools, strace } from './support/tools';

const TRIALS = 40;
/** Trials running at once (even: as many slowed as at full speed). */
const CONCURRENT = 8;
const ARN = 'arn:aws:secretsmanager:us-east-1:123456789012:secret:aem-keys-AbCdEf';

/**
 * kill -9 (the whole process group) at random moments of an install that replaces AEM's
 * generated keys and storage=JCR: every file must hold its old or its new bytes, never a mix,
 * every finished backup must be whole, and the next run must complete the job.
 * The secret comes from a stub `aws` here so the run is short and the kills land in the writes.
 */
describeWithTools(['java', 'strace'], 'installer killed with SIGKILL at random moments', () => {
  const user = testUser();
  const doc = synthInstaller({ tokenHandlerProperties: { 'token.samesite.cookie.attr': 'Lax' } });
  const keys = { hmac: randomBytes(32), master: randomBytes(16) };
  const roots: string[] = [];
  afterAll(() => roots.forEach((r) => fs.rmSync(r, { recursive: true, force: true })));

  function prepare(cache: ReturnType<typeof felixCache>) {
    const inst = makeInstance(cache, user, { running: false });
    roots.push(inst.root);
    const old = plantGeneratedKeys(inst, user);
    plant(path.join(inst.storageDir, 'storage'), 'JCR', user);
    const secret = path.join(inst.root, 'secret.json');
    fs.writeFileSync(secret, JSON.stringify({ hmac: keys.hmac.toString('base64'), master: keys.master.toString('base64') }));
    stubAws(inst.stubs, secret);
    const script = renderScript(doc, { SecretId: ARN, QuickstartDir: inst.quickstart, AemUser: user.name, StartAfterInstall: 'true' });
    return { inst, old, script };
  }

  const files = (inst: Instance) => ({
    hmac: path.join(inst.keyDir, 'hmac'),
    master: path.join(inst.keyDir, 'master'),
    storage: path.join(inst.storageDir, 'storage'),
    token: inst.tokenFile,
  });
  const content = (f: string) => (fs.existsSync(f) ? fs.readFileSync(f) : undefined);

  test(`${TRIALS} trials: never a torn file, and a re-run always completes`, async () => {
    const cache = felixCache(aemBundles({ fillers: 40 }));
    // Half the trials run at full speed; the other half under strace with every write(2) delayed
    // by 10 ms, which widens any window in which a file is truncated but not yet rewritten (a
    // non-atomic write is then caught reliably, not only by luck).
    const slow = strace('/dev/null', 'write', ['-e', 'inject=write:delay_enter=10000']);
    // Trials run CONCURRENT at a time, half at full speed and half slowed (a slowed run mostly
    // waits, so the others' work fills its waits); the durations that spread the kills are
    // measured the same way.
    const probes = await Promise.all(Array.from({ length: CONCURRENT }, async (_, i) => {
      // How long a whole run takes, to spread the kills over it.
      const probe = prepare(cache);
      const t0 = Date.now();
      const child = spawnScript(probe.inst, probe.script, {}, i % 2 ? slow : []);
      const code = await new Promise<number | null>((resolve) => child.on('exit', resolve));
      expect(code).toBe(0);
      return { mode: i % 2, ms: Math.max(Date.now() - t0, 20), token: fs.readFileSync(probe.inst.tokenFile) };
    }));
    /** The longest probe of each mode (index 0: full speed, 1: slowed). */
    const durations = [0, 1].map((mode) => Math.max(...probes.filter((p) => p.mode === mode).map((p) => p.ms)));
    const tokenText = probes[0].token;
    for (const p of probes) expect(p.token).toEqual(tokenText);

    /** One trial: kill a run at a random moment, check every file, re-run; returns the outcome. */
    async function trial(n: number): Promise<'untouched' | 'partial' | 'complete'> {
      const { inst, old, script } = prepare(cache);
      const mode = n % 2;
      const child = spawnScript(inst, script, {}, mode ? slow : []);
      const exited = new Promise<void>((resolve) => child.on('exit', () => resolve()));
      await new Promise((r) => setTimeout(r, Math.random() * durations[mode] * 1.1));
      try {
        process.kill(-child.pid!, 'SIGKILL');
      } catch {
        // already finished
      }
      await exited;

      const f = files(inst);
      const allowed: Record<string, Array<Buffer | undefined>> = {
        hmac: [old.hmac, keys.hmac],
        master: [old.master, keys.master],
        storage: [Buffer.from('JCR'), Buffer.from('Bundle')],
        token: [undefined, tokenText],
      };
      let newCount = 0;
      for (const [name, file] of Object.entries(f)) {
        const now = content(file);
        const match = allowed[name].findIndex((a) => (a === undefined ? now === undefined : now !== undefined && now.equals(a)));
        if (match < 0) throw new Error(`trial ${n}: ${name} is torn (${now?.length} bytes)`);
        if (match === 1) newCount++;
      }
      // A finished backup is always whole: the old bytes of what it holds.
      const backupRoot = path.join(inst.quickstart, 'crypto-key-backups');
      for (const b of fs.existsSync(backupRoot) ? fs.readdirSync(backupRoot).filter((d) => !d.startsWith('.')) : []) {
        const dir = path.join(backupRoot, b);
        expect(fs.readdirSync(dir).sort()).toEqual(['hmac', 'master', 'storage']);
        expect(fs.readFileSync(path.join(dir, 'hmac'))).toEqual(old.hmac);
        expect(fs.readFileSync(path.join(dir, 'master'))).toEqual(old.master);
        expect(fs.readFileSync(path.join(dir, 'storage'))).toEqual(Buffer.from('JCR'));
      }

      // The next run completes the install and leaves no staging file behind.
      const again = await runScriptAsync(inst, script, {});
      expect(again.stderr).toBe('');
      expect(again.status).toBe(0);
      expect(content(f.hmac)).toEqual(keys.hmac);
      expect(content(f.master)).toEqual(keys.master);
      expect(content(f.storage)).toEqual(Buffer.from('Bundle'));
      expect(content(f.token)).toEqual(tokenText);
      const leftovers = Object.keys(snapshotTree(inst.quickstart)).filter((p) => p.includes('.aem-crypto-keys.') || p.includes('.incomplete-'));
      expect(leftovers).toEqual([]);
      fs.rmSync(inst.root, { recursive: true, force: true });
      return newCount === 0 ? 'untouched' : newCount === 4 ? 'complete' : 'partial';
    }

    const outcomes = { untouched: 0, partial: 0, complete: 0 };
    // CONCURRENT lanes, each running its trials one after the other (lane i: trials i, i +
    // CONCURRENT, ...; all of one mode, as the mode is n % 2).
    await Promise.all(Array.from({ length: CONCURRENT }, async (_, lane) => {
      for (let n = lane; n < TRIALS; n += CONCURRENT) outcomes[await trial(n)]++;
    }));
    // eslint-disable-next-line no-console
    console.log(`kill -9 trials over runs of ${durations.join(' / ')} ms (plain / slowed writes): ${JSON.stringify(outcomes)}`);
    expect(outcomes.untouched + outcomes.partial + outcomes.complete).toBe(TRIALS);
    // The kills really landed inside the writes, not only before or after them.
    expect(outcomes.partial + outcomes.complete).toBeGreaterThan(0);
    expect(outcomes.untouched + outcomes.partial).toBeGreaterThan(0);
  }, 240000);
});
