/*
 * Benchmark of the installer's local part (not a test). Run:
 *   npx ts-node -P tsconfig.json --transpile-only scripts/bench-installer.ts [--mb-per-bundle 0.45] [--runs 5]
 *
 * Builds a genuine Felix cache of 650 filler bundles plus AEM's crypto bundles and decoys, each
 * jar padded with incompressible bytes (a few hundred MB in all), then times, in the same run:
 *   - the installer extracted from the synthesized document, with a stub `aws` on the PATH that
 *     prints a fixed secret (so the AWS call is excluded): a first run that installs, and repeat
 *     runs that find nothing to do;
 *   - a naive lookup: `grep -rl com.adobe.granite.crypto.file <QuickstartDir>/launchpad/felix`;
 *   - the manifest fallback: the same cache with crypto.file's location renamed in its bundle.info
 *     (`slinginstall:cq-crypto-file-renamed.jar`), so no location names it and the lookup reads
 *     Bundle-SymbolicName from every bundle's cached jar; the lookup alone and a repeat run;
 *   - separately, when moto_server is on the PATH, the real AWS CLI get-secret-value call.
 * The page cache is warm for both (each is run once before timing). Prints medians and the ratio.
 */
import { spawnSync } from 'child_process';
import { randomBytes } from 'crypto';
import * as fs from 'fs';
import * as path from 'path';
import { aemBundles, bundleDir, CRYPTO_FILE, felixCache } from '../test/support/felix';
import { makeInstance, removeRecords, renderScript, runScript, stubAws, synthInstaller, testUser } from '../test/support/installer-harness';

function arg(name: string, fallback: number): number {
  const i = process.argv.indexOf(`--${name}`);
  return i >= 0 ? Number(process.argv[i + 1]) : fallback;
}

const median = (xs: number[]) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)];
const ms = (ns: bigint) => Number(ns) / 1e6;

function timed(fn: () => void): number {
  const t0 = process.hrtime.bigint();
  fn();
  return ms(process.hrtime.bigint() - t0);
}

async function main() {
  const padBytes = Math.round(arg('mb-per-bundle', 0.45) * 1024 * 1024);
  const runs = arg('runs', 5);
  const tBuild = timed(() => felixCache(aemBundles({ fillers: 650, padBytes })));
  const cache = felixCache(aemBundles({ fillers: 650, padBytes }));
  const du = spawnSync('du', ['-sb', cache.dir], { encoding: 'utf8' }).stdout.split('\t')[0];
  const user = testUser();
  const doc = synthInstaller();
  const inst = makeInstance(cache, user);
  let renamedRoot = '';
  try {
    const secret = path.join(inst.root, 'secret.json');
    fs.writeFileSync(secret, JSON.stringify({ hmac: randomBytes(32).toString('base64'), master: randomBytes(16).toString('base64') }));
    stubAws(inst.stubs, secret);
    const script = renderScript(doc, {
      SecretId: 'arn:aws:secretsmanager:us-east-1:123456789012:secret:aem-keys-AbCdEf', QuickstartDir: inst.quickstart, AemUser: user.name, Restart: 'none',
    });
    const grep = () => spawnSync('grep', ['-rl', 'com.adobe.granite.crypto.file', inst.felix], { encoding: 'utf8', maxBuffer: 1 << 26 });
    grep(); // warm the page cache

    const install = timed(() => {
      const r = runScript(inst, script, {});
      if (r.status !== 0) throw new Error(`installer failed: ${r.stderr}`);
    });
    const common = path.join(__dirname, '..', 'lib', 'scripts', 'aem-keys-common.sh');
    const lookupScript = `. '${common}'; aemkeys_user_init "$2"; aemkeys_scan_bundles "$1"; aemkeys_find_bundle com.adobe.granite.crypto.file; printf '%s\\n' "$AEMKEYS_BUNDLE_DIR"`;
    const lookup = () => {
      const r = spawnSync('bash', ['-c', lookupScript, 'lookup', inst.felix, user.name], { encoding: 'utf8' });
      if (r.status !== 0) throw new Error(`lookup failed: ${r.stderr}`);
    };
    // The manifest fallback: a second instance where no location names crypto.file.
    const renamed = makeInstance(cache, user);
    renamedRoot = renamed.root;
    stubAws(renamed.stubs, secret);
    const info = path.join(bundleDir(cache, renamed.felix, CRYPTO_FILE), 'bundle.info');
    const infoLines = fs.readFileSync(info, 'utf8').split('\n');
    infoLines[1] = 'slinginstall:cq-crypto-file-renamed.jar';
    fs.writeFileSync(info, infoLines.join('\n'));
    const renamedScript = renderScript(doc, {
      SecretId: 'arn:aws:secretsmanager:us-east-1:123456789012:secret:aem-keys-AbCdEf', QuickstartDir: renamed.quickstart, AemUser: user.name, Restart: 'none',
    });
    if (runScript(renamed, renamedScript, {}).status !== 0) throw new Error('installer on the renamed cache failed');
    const fallback = () => {
      const r = spawnSync('bash', ['-c', lookupScript, 'lookup', renamed.felix, user.name], { encoding: 'utf8' });
      if (r.status !== 0 || r.stdout.trim() !== bundleDir(cache, renamed.felix, CRYPTO_FILE)) throw new Error(`fallback lookup failed: ${r.stderr}`);
    };

    const repeat: number[] = [];
    const naive: number[] = [];
    const lookups: number[] = [];
    const fallbacks: number[] = [];
    const fallbackRepeat: number[] = [];
    let grepHits = 0;
    for (let i = 0; i < runs; i++) {
      repeat.push(timed(() => {
        const r = runScript(inst, script, {});
        if (r.status !== 0 || !r.stdout.includes('result: unchanged')) throw new Error(`repeat run failed: ${r.stderr}`);
      }));
      naive.push(timed(() => { grepHits = grep().stdout.trim().split('\n').length; }));
      lookups.push(timed(lookup));
      fallbacks.push(timed(fallback));
      fallbackRepeat.push(timed(() => {
        const r = runScript(renamed, renamedScript, {});
        if (r.status !== 0 || !r.stdout.includes('result: unchanged')) throw new Error(`repeat run (renamed) failed: ${r.stderr}`);
      }));
    }

    // Cold page cache: drop this cache's pages (dd iflag=nocache, file by file; no global drop).
    const dropCache = () => spawnSync('find', [inst.felix, '-type', 'f', '-exec', 'sh', '-c', 'for f; do dd if="$f" iflag=nocache count=0 status=none; done', 'drop', '{}', '+']);
    dropCache();
    const coldGrep = timed(() => grep());
    dropCache();
    const coldLookup = timed(lookup);

    let awsCall = 'skipped (no moto_server)';
    if (spawnSync('bash', ['-c', 'command -v moto_server'], { stdio: 'ignore' }).status === 0) {
      const { startMoto } = await import('../test/support/moto');
      const moto = await startMoto();
      try {
        const env = { ...process.env, ...moto.env };
        const created = spawnSync('aws', ['secretsmanager', 'create-secret', '--name', 'bench', '--secret-string', '{"hmac":"x"}', '--query', 'ARN', '--output', 'text'], { env, encoding: 'utf8' });
        const arn = created.stdout.trim();
        const calls = Array.from({ length: 3 }, () => timed(() => {
          spawnSync('aws', ['secretsmanager', 'get-secret-value', '--secret-id', arn, '--region', 'us-east-1', '--query', 'SecretString', '--output', 'text'], { env });
        }));
        awsCall = `${median(calls).toFixed(0)} ms (median of 3, AWS CLI against moto_server on 127.0.0.1)`;
      } finally {
        await moto.stop();
      }
    }

    const lines = [
      `bench-installer: ${cache.bundles.length} bundles, ${(Number(du) / 1024 / 1024).toFixed(0)} MiB Felix cache (built in ${(tBuild / 1000).toFixed(1)} s, cached between runs)`,
      `installer, first run (installs; stub aws):        ${install.toFixed(0)} ms`,
      `installer, repeat run (nothing to do; stub aws):  ${median(repeat).toFixed(0)} ms (median of ${runs})`,
      `bundle lookup alone (bundle.info, bash):          ${median(lookups).toFixed(0)} ms (median of ${runs})`,
      `naive grep -rl (finds ${String(grepHits).padEnd(2)} files):             ${median(naive).toFixed(0)} ms (median of ${runs}, warm page cache)`,
      `ratio grep / installer repeat run:                ${(median(naive) / median(repeat)).toFixed(1)}x`,
      `ratio grep / bundle lookup:                       ${(median(naive) / median(lookups)).toFixed(1)}x`,
      `manifest fallback lookup (no location names it):  ${median(fallbacks).toFixed(0)} ms (median of ${runs}; ${cache.bundles.length} manifests read, ${(median(fallbacks) / cache.bundles.length).toFixed(1)} ms each)`,
      `installer repeat run with the fallback:           ${median(fallbackRepeat).toFixed(0)} ms (median of ${runs})`,
      `after dd iflag=nocache (eviction not guaranteed on a VM): grep ${coldGrep.toFixed(0)} ms, bundle lookup ${coldLookup.toFixed(0)} ms, ratio ${(coldGrep / coldLookup).toFixed(1)}x`,
      `AWS call alone:                                   ${awsCall}`,
    ];
    process.stdout.write(lines.join('\n') + '\n');
  } finally {
    fs.rmSync(inst.root, { recursive: true, force: true });
    if (renamedRoot) fs.rmSync(renamedRoot, { recursive: true, force: true });
    // The installer's records of these runs (root-only files outside the trees); jest's afterAll
    // does this for the tests.
    removeRecords();
  }
}

main().catch((e) => {
  process.stderr.write(`${e.stack ?? e}\n`);
  process.exit(1);
});
