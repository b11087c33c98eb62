#!/usr/bin/env -S npx ts-node
/**
 * `npm run integ`: the integration tests' snapshot check, offline and without credentials.
 *
 * Each `test/integ/integ.<name>.ts` is an integ-runner test (@aws-cdk/integ-tests-alpha) whose
 * snapshot lives in integ-runner's layout, `test/integ/integ.<name>.ts.snapshot/`. When
 * @aws-cdk/integ-runner can read the cloud assembly aws-cdk-lib writes, integ-runner itself checks
 * the snapshots (and, as integ-runner does, deploys only a test whose snapshot changed). When it
 * cannot (integ-runner 2.197.10 reads cloud assembly schema 53 at most; aws-cdk-lib 2.260 and later
 * write 54 and up), this script does the snapshot check itself: it synthesizes the app and
 * compares every template, the test manifest (integ.json) and the asset manifests with the
 * snapshot, asset hashes aside (integ-runner's `diffAssets: false`).
 *
 *   npm run integ                 check (exit 1 on a difference)
 *   npm run integ -- --update     write the snapshots (after reviewing the difference)
 *
 * Deploying against an account: scripts/integ-deploy.sh (README, "Integration test").
 */
import { spawnSync } from 'child_process';
import * as fs from 'fs';
import * as os from 'os';
import * as path from 'path';
import * as cxapi from 'aws-cdk-lib/cx-api';

const ROOT = path.join(__dirname, '..');
const INTEG_DIR = path.join(ROOT, 'test', 'integ');
/** Files of the assembly the snapshot keeps (asset folders are left out: the bundled handler is 2 MB). */
const KEPT = /^(manifest\.json|integ\.json|tree\.json|cdk\.out|.*\.template\.json|.*\.assets\.json|.*\.metadata\.json)$/;
/** Files that are compared (tree.json and manifest.json carry paths and metadata only). */
const COMPARED = /^(integ\.json|.*\.template\.json|.*\.assets\.json)$/;

/** The integ test files (`integ.<name>.ts`). */
export function integTests(): string[] {
  return fs.readdirSync(INTEG_DIR).filter((f) => /^integ\..+\.ts$/.test(f) && !f.endsWith('.d.ts')).sort();
}

/**
 * The context integ-runner synthesizes with: the currently recommended feature flags (integ-runner
 * passes its own copy of the list; aws-cdk-lib's gives the same templates here).
 */
export function integContext(): Record<string, unknown> {
  return { ...cxapi.CURRENTLY_RECOMMENDED_FLAGS };
}

/** Synthesizes one integ app into a new folder (the CDK's CDK_OUTDIR), with ts-node and the context integ-runner uses. */
export function synthIntegApp(testFile: string): string {
  const outdir = fs.mkdtempSync(path.join(os.tmpdir(), 'aem-keys-integ-'));
  const r = spawnSync(process.execPath, ['-r', 'ts-node/register/transpile-only', path.join(INTEG_DIR, testFile)], {
    cwd: ROOT,
    encoding: 'utf8',
    env: { ...process.env, CDK_OUTDIR: outdir, CDK_CONTEXT_JSON: JSON.stringify(integContext()), TS_NODE_PROJECT: path.join(ROOT, 'tsconfig.json') },
  });
  if (r.status !== 0) throw new Error(`synthesizing ${testFile} failed:\n${r.stderr}`);
  return outdir;
}

/**
 * Asset hashes normalized (integ-runner's `diffAssets: false` ignores them), and the assertions'
 * `salt` (the time of synthesis, so that each deployment runs them again).
 */
export function normalized(text: string): string {
  return text.replace(/\b[0-9a-f]{64}\b/g, '<hash>').replace(/"salt": "\d+"/g, '"salt": "<time>"')
    .replace(/(current_account-current_region)-[0-9a-f]{8}/g, '$1-<hash>');
}

/** The differences between an assembly and a snapshot folder, one line each (empty: the same). */
export function snapshotDifferences(outdir: string, snapshotDir: string): string[] {
  if (!fs.existsSync(snapshotDir)) return [`${path.basename(snapshotDir)}: no snapshot (npm run integ -- --update)`];
  const files = (dir: string) => fs.readdirSync(dir).filter((f) => COMPARED.test(f)).sort();
  const fresh = files(outdir);
  const kept = files(snapshotDir);
  const problems: string[] = [];
  for (const f of new Set([...fresh, ...kept])) {
    if (!fresh.includes(f)) problems.push(`${f}: in the snapshot, no longer synthesized`);
    else if (!kept.includes(f)) problems.push(`${f}: synthesized, not in the snapshot`);
    else if (normalized(fs.readFileSync(path.join(outdir, f), 'utf8')) !== normalized(fs.readFileSync(path.join(snapshotDir, f), 'utf8'))) {
      problems.push(`${f}: differs from the snapshot`);
    }
  }
  return problems;
}

/** Replaces the snapshot folder with the assembly's kept files. */
export function writeSnapshot(outdir: string, snapshotDir: string): void {
  fs.rmSync(snapshotDir, { recursive: true, force: true });
  fs.mkdirSync(snapshotDir);
  for (const f of fs.readdirSync(outdir).filter((x) => KEPT.test(x))) fs.copyFileSync(path.join(outdir, f), path.join(snapshotDir, f));
}

/** The snapshot's metadata without this machine's paths (the construct traces name the source files). */
export function relativizePaths(snapshotDir: string): void {
  for (const f of fs.readdirSync(snapshotDir).filter((x) => x.endsWith('.metadata.json'))) {
    const file = path.join(snapshotDir, f);
    fs.writeFileSync(file, fs.readFileSync(file, 'utf8').split(`${ROOT}/`).join(''));
  }
}

/** The cloud assembly schema's major version in an assembly folder. */
export function schemaMajor(outdir: string): number {
  return Number(JSON.parse(fs.readFileSync(path.join(outdir, 'manifest.json'), 'utf8')).version.split('.')[0]);
}

/** The newest schema major the installed integ-runner reads (`revision` of its bundled cloud-assembly-schema version.json). */
export function integRunnerSchemaMajor(): number | undefined {
  try {
    const bundle = fs.readFileSync(require.resolve('@aws-cdk/integ-runner/lib/workers/extract/index.js'), 'utf8');
    const m = /cloud-assembly-schema\/schema\/version\.json[\s\S]{0,400}?revision:\s*(\d+)/.exec(bundle);
    return m ? Number(m[1]) : undefined;
  } catch {
    return undefined;
  }
}

function main(): void {
  const update = process.argv.includes('--update');
  let failed = false;
  for (const test of integTests()) {
    const outdir = synthIntegApp(test);
    const snapshotDir = path.join(INTEG_DIR, `${test}.snapshot`);
    const schema = schemaMajor(outdir);
    const readable = integRunnerSchemaMajor();
    if (readable !== undefined && schema <= readable) {
      // integ-runner can read it: let it check (and, for a changed snapshot, deploy) as it does, or
      // write the snapshot without deploying (--dry-run); the asset folders are left out.
      const args = update ? ['--dry-run', '--update-on-failed', '--force'] : [];
      // integ-runner reads the old snapshot first, and stops at one it cannot read (another schema).
      if (update) fs.rmSync(snapshotDir, { recursive: true, force: true });
      const r = spawnSync('npx', ['integ-runner', '--directory', INTEG_DIR, '--language', 'typescript', ...args, test], { cwd: ROOT, stdio: 'inherit' });
      failed ||= r.status !== 0;
      if (update && r.status === 0) {
        for (const f of fs.readdirSync(snapshotDir).filter((x) => x.startsWith('asset.'))) fs.rmSync(path.join(snapshotDir, f), { recursive: true });
        relativizePaths(snapshotDir);
      }
      fs.rmSync(outdir, { recursive: true, force: true });
      continue;
    }
    if (update) {
      writeSnapshot(outdir, snapshotDir);
      relativizePaths(snapshotDir);
      console.log(`integ ${test}: snapshot written (${path.relative(ROOT, snapshotDir)})`);
      continue;
    }
    const problems = snapshotDifferences(outdir, snapshotDir);
    const why = `cloud assembly schema ${schema}; integ-runner reads ${readable ?? 'unknown'} at most, so this script compared the snapshot`;
    if (problems.length) {
      failed = true;
      console.error(`integ ${test}: the snapshot changed (${why}):\n  ${problems.join('\n  ')}\n`
        + 'Deploy it against an account (scripts/integ-deploy.sh), then npm run integ -- --update.');
    } else {
      console.log(`integ ${test}: snapshot unchanged (${why})`);
    }
    fs.rmSync(outdir, { recursive: true, force: true });
  }
  process.exit(failed ? 1 : 0);
}

if (require.main === module) main();
