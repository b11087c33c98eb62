import { spawn, spawnSync, SpawnSyncReturns } from 'child_process';
import { createHash, randomBytes } from 'crypto';
import * as fs from 'fs';
import * as os from 'os';
import * as path from 'path';
import { App, Stack } from 'aws-cdk-lib';
import { AemCryptoKeys } from '../../lib/aem-crypto-keys';
import { TokenHandlerProperties } from '../../lib/installer-document';
import { awsStandInDir } from './aws-stand-in';
import { bundleDir, CRYPTO, CRYPTO_FILE, InstalledBundle } from './felix';
import { tokenProperties } from './token-properties';

/** An SSM document as synthesized: its single step's lines and its parameters. */
export interface SynthesizedDocument {
  readonly runCommand: string[];
  readonly parameters: Record<string, { type: string; default?: unknown; allowedPattern?: string; allowedValues?: string[] }>;
  readonly content: Record<string, any>;
  readonly template: Record<string, any>;
}

const synthCache = new Map<string, Record<string, any>>();

/** Synthesizes a stack with `AemCryptoKeys` (id `Keys`), once per set of props; returns its template. */
function synthKeys(props: {
  tokenHandlerProperties?: TokenHandlerProperties;
  keyLengths?: { hmac?: number; master?: number };
  exportDocument?: boolean;
}): Record<string, any> {
  const key = JSON.stringify(props);
  const cached = synthCache.get(key);
  if (cached) return cached;
  const app = new App({ outdir: fs.mkdtempSync(path.join(os.tmpdir(), 'aem-keys-installer-out-')) });
  const stack = new Stack(app, 'InstallerTest');
  new AemCryptoKeys(stack, 'Keys', {
    ...props,
    tokenHandlerProperties: props.tokenHandlerProperties && tokenProperties(props.tokenHandlerProperties),
  });
  const template = app.synth().getStackByName(stack.stackName).template;
  synthCache.set(key, template);
  return template;
}

/** The one SSM document of `template` whose logical ID starts with `prefix`. */
export function documentIn(template: Record<string, any>, prefix: string): SynthesizedDocument {
  const docs = Object.entries(template.Resources as Record<string, any>)
    .filter(([id, r]) => r.Type === 'AWS::SSM::Document' && id.startsWith(prefix));
  if (docs.length !== 1) throw new Error(`expected one SSM document ${prefix}*, found ${docs.length}`);
  const content = docs[0][1].Properties.Content;
  return { runCommand: content.mainSteps[0].inputs.runCommand, parameters: content.parameters, content, template };
}

/** Synthesizes a stack with `AemCryptoKeys` and returns its installer document's content. */
export function synthInstaller(
  props: { tokenHandlerProperties?: TokenHandlerProperties; keyLengths?: { hmac?: number; master?: number } } = {},
): SynthesizedDocument {
  return documentIn(synthKeys(props), 'KeysInstallerDocument');
}

/** Synthesizes a stack with `AemCryptoKeys` and returns its export document's content. */
export function synthExport(props: { keyLengths?: { hmac?: number; master?: number } } = {}): SynthesizedDocument {
  return documentIn(synthKeys({ ...props, exportDocument: true }), 'KeysExportDocument');
}

/** Where the installer records which secret installed the keys of `quickstart` (lib/scripts/install-keys.sh). */
export const RECORD_DIR = '/var/lib/aem-crypto-keys';

/**
 * The installer's record file for the QuickstartDir value `quickstart`: named by the sha256 of
 * the path as the installer checked it (trailing slashes dropped).
 */
export function recordFile(quickstart: string): string {
  const checked = quickstart.replace(/(?<=.)\/+$/, '');
  return path.join(RECORD_DIR, createHash('sha256').update(checked).digest('hex'));
}

/** Every QuickstartDir a script of this test file was rendered with: each run may have left a record. */
const renderedQuickstarts = new Set<string>();

/**
 * Removes the installer's record and lock files of every QuickstartDir rendered so far in this test
 * file, or of `only` of them (root-only files outside the instance's tree, which removing the tree
 * leaves behind). Runs by itself after each test file that imports the harness; returns the files
 * it removed.
 */
export function removeRecords(only?: string[]): string[] {
  const removed: string[] = [];
  for (const quickstart of only ?? [...renderedQuickstarts]) {
    renderedQuickstarts.delete(quickstart);
    for (const file of [recordFile(quickstart), `${recordFile(quickstart)}.lock`]) {
      if (fs.existsSync(file)) {
        fs.rmSync(file, { force: true });
        removed.push(file);
      }
    }
  }
  return removed;
}

// After each test file (jest's afterAll, registered as the file imports the harness; the bench runs
// outside jest and has none).
if (typeof afterAll === 'function') afterAll(() => { removeRecords(); });

/**
 * The script file SSM would write: every `{{ Name }}` of a declared parameter replaced by its
 * value (the given one, else the document's default), textually, as SSM does.
 */
export function renderScript(doc: SynthesizedDocument, values: Record<string, string>): string {
  if (values.QuickstartDir !== undefined) renderedQuickstarts.add(values.QuickstartDir);
  const all: Record<string, string> = {};
  for (const [name, p] of Object.entries(doc.parameters)) {
    if (typeof p.default === 'string') all[name] = p.default;
  }
  Object.assign(all, values);
  for (const name of Object.keys(values)) {
    if (!(name in doc.parameters)) throw new Error(`unknown parameter ${name}`);
  }
  return doc.runCommand.map((line) => line.replace(/\{\{\s*(\w+)\s*\}\}/g, (m, name: string) => (name in all ? all[name] : m))).join('\n') + '\n';
}

/** Owner for the files the installer writes: a dedicated test user when root, else the current user. */
export function testUser(): { name: string; uid: number; gid: number } {
  if (process.getuid?.() === 0) {
    const name = 'aemkeystest';
    if (spawnSync('id', ['-u', name]).status !== 0) {
      spawnSync('useradd', ['--system', '--no-create-home', '--shell', '/usr/sbin/nologin', name], { stdio: 'ignore' });
    }
    const uid = spawnSync('id', ['-u', name], { encoding: 'utf8' });
    if (uid.status === 0) {
      return { name, uid: Number(uid.stdout.trim()), gid: Number(spawnSync('id', ['-g', name], { encoding: 'utf8' }).stdout.trim()) };
    }
  }
  const info = os.userInfo();
  return { name: info.username, uid: info.uid, gid: info.gid };
}

/** A copy of a genuine Felix cache laid out as an AEM instance. */
export interface Instance {
  readonly root: string;
  readonly quickstart: string;
  readonly felix: string;
  readonly keyDir: string;
  readonly storageDir: string;
  readonly tokenFile: string;
  readonly stubs: string;
  readonly systemctlLog: string;
}

export const TOKEN_FILE = 'com.day.crx.security.token.impl.impl.TokenAuthenticationHandler.config';

/**
 * Copies the cache into `<root>/<dirName>/launchpad/felix` (cp -a), chowns it to `owner`, and
 * writes a `systemctl` stub (logs its arguments; `is-active` answers from a `running` file that
 * start/restart create and stop removes; `show` prints LoadState (not-found when there is a file
 * `no-unit`, else loaded) and ActiveState (activating when there is a file `activating`, else
 * active or inactive as `running` says), then the file `show` when there is one; the verb
 * `systemctlFailsOn` exits 1).
 */
export function makeInstance(cache: { dir: string; bundles: InstalledBundle[] }, owner: { uid: number; gid: number },
  opts: { dirName?: string; running?: boolean; root?: string; systemctlFailsOn?: string } = {}): Instance {
  const root = opts.root ?? fs.mkdtempSync(path.join(os.tmpdir(), 'aem-keys-instance-'));
  fs.chmodSync(root, 0o755); // the AEM user reaches its tree (every file step runs as that user)
  const quickstart = path.join(root, opts.dirName ?? 'crx-quickstart');
  fs.mkdirSync(path.join(quickstart, 'launchpad'), { recursive: true });
  const felix = path.join(quickstart, 'launchpad', 'felix');
  const cp = spawnSync('cp', ['-a', cache.dir, felix]);
  if (cp.status !== 0) throw new Error(`cp -a failed: ${cp.stderr}`);
  spawnSync('chown', ['-R', `${owner.uid}:${owner.gid}`, quickstart]);
  const stubs = path.join(root, 'stubs');
  fs.mkdirSync(stubs);
  const systemctlLog = path.join(stubs, 'systemctl.log');
  fs.writeFileSync(path.join(stubs, 'systemctl'), [
    '#!/bin/bash',
    `printf '%s\\n' "$*" >> '${systemctlLog}'`,
    `[ "$1" = '${opts.systemctlFailsOn ?? '-'}' ] && exit 1`,
    `case $1 in is-active) [ -e '${stubs}/running' ] && exit 0; exit 3 ;; start|restart) touch '${stubs}/running' ;; stop) rm -f '${stubs}/running' ;; show)`,
    `  if [ -e '${stubs}/no-unit' ]; then echo LoadState=not-found; else echo LoadState=loaded; fi`,
    `  if [ -e '${stubs}/activating' ]; then echo ActiveState=activating; elif [ -e '${stubs}/running' ]; then echo ActiveState=active; else echo ActiveState=inactive; fi`,
    `  [ -e '${stubs}/show' ] && cat '${stubs}/show' ;;`,
    'esac',
    'exit 0',
  ].join('\n') + '\n', { mode: 0o755 });
  if (opts.running) fs.writeFileSync(path.join(stubs, 'running'), '');
  return {
    root, quickstart, felix, stubs, systemctlLog,
    keyDir: path.join(bundleDir(cache, felix, CRYPTO_FILE), 'data'),
    storageDir: path.join(bundleDir(cache, felix, CRYPTO), 'data'),
    tokenFile: path.join(quickstart, 'install', TOKEN_FILE),
  };
}

/** Writes a file as AEM would have: owned by `owner`, mode 0600 unless given. */
export function plant(file: string, bytes: Buffer | string, owner: { uid: number; gid: number }, mode = 0o600): void {
  // Folders created on the way belong to the AEM user too, as AEM would have made them.
  const first = fs.mkdirSync(path.dirname(file), { recursive: true });
  for (let dir = path.dirname(file); first && dir.length >= first.length; dir = path.dirname(dir)) {
    fs.chownSync(dir, owner.uid, owner.gid);
  }
  fs.writeFileSync(file, bytes, { mode });
  fs.chmodSync(file, mode);
  fs.chownSync(file, owner.uid, owner.gid);
}

/** AEM's auto-generated keys of a fresh start: random hmac/master in crypto.file's data folder. */
export function plantGeneratedKeys(inst: Instance, owner: { uid: number; gid: number }): { hmac: Buffer; master: Buffer } {
  const keys = { hmac: randomBytes(32), master: randomBytes(16) };
  plant(path.join(inst.keyDir, 'hmac'), keys.hmac, owner);
  plant(path.join(inst.keyDir, 'master'), keys.master, owner);
  return keys;
}

export interface RunResult {
  readonly status: number | null;
  readonly stdout: string;
  readonly stderr: string;
}

/** A run's output as the SSM agent streams it (and the installer sends it): its non-empty lines, stdout first. */
export function outputLines(r: { stdout: string; stderr: string }): string[] {
  return [...r.stdout.split('\n'), ...r.stderr.split('\n')].filter((l) => l !== '');
}

/**
 * The PATH a script run gets: the instance's stubs (systemctl, sometimes aws), then the fast AWS
 * CLI stand-in (test/support/aws-stand-in.ts; it answers the scripts' Secrets Manager calls to
 * moto_server exactly as the real CLI does, test/aws-stand-in.test.ts), then the system's.
 */
function scriptPath(inst: Instance): string {
  return `${inst.stubs}:${awsStandInDir()}:${process.env.PATH}`;
}

/** Writes `_script.sh` and runs it the way the SSM agent does: `sh -c <file>`. */
export function runScript(inst: Instance, script: string, env: Record<string, string>, extraArgs: { wrap?: string[] } = {}): RunResult {
  const file = path.join(inst.root, '_script.sh');
  fs.writeFileSync(file, script, { mode: 0o700 });
  const cmd = [...(extraArgs.wrap ?? []), 'sh', '-c', file];
  const r: SpawnSyncReturns<string> = spawnSync(cmd[0], cmd.slice(1), {
    encoding: 'utf8',
    env: { ...env, PATH: scriptPath(inst) },
    cwd: inst.root,
    timeout: 120000,
  });
  return { status: r.status, stdout: r.stdout, stderr: r.stderr };
}

/** Starts the script like runScript, without waiting. */
export function spawnScript(inst: Instance, script: string, env: Record<string, string>, wrap: string[] = []) {
  const file = path.join(inst.root, '_script.sh');
  fs.writeFileSync(file, script, { mode: 0o700 });
  const cmd = [...wrap, 'sh', '-c', file];
  return spawn(cmd[0], cmd.slice(1), { env: { ...env, PATH: scriptPath(inst) }, cwd: inst.root, stdio: 'ignore', detached: true });
}

/**
 * Runs the script like runScript, without blocking the event loop (for servers in this process);
 * `name`: the script file's name in the instance's root (runs at once need one each).
 */
export function runScriptAsync(inst: Instance, script: string, env: Record<string, string>, wrap: string[] = [],
  name = '_script.sh'): Promise<RunResult> {
  const file = path.join(inst.root, name);
  fs.writeFileSync(file, script, { mode: 0o700 });
  const cmd = [...wrap, 'sh', '-c', file];
  const child = spawn(cmd[0], cmd.slice(1), { env: { ...env, PATH: scriptPath(inst) }, cwd: inst.root, stdio: ['ignore', 'pipe', 'pipe'] });
  let stdout = '';
  let stderr = '';
  child.stdout.on('data', (d: Buffer) => { stdout += d.toString('utf8'); });
  child.stderr.on('data', (d: Buffer) => { stderr += d.toString('utf8'); });
  const timer = setTimeout(() => child.kill('SIGKILL'), 120000);
  return new Promise((resolve) => child.on('close', (status) => {
    clearTimeout(timer);
    resolve({ status, stdout, stderr });
  }));
}

/** Every file and folder under `dir` with its type, mode, owner and content hash (or link target). */
export function snapshotTree(dir: string): Record<string, string> {
  const out: Record<string, string> = {};
  // Relative names built by concatenation (path.relative per entry was a third of the cost).
  const walk = (d: string, rel: string) => {
    for (const name of fs.readdirSync(d)) {
      const full = `${d}/${name}`;
      const key = rel ? `${rel}/${name}` : name;
      const st = fs.lstatSync(full);
      const meta = `${(st.mode & 0o7777).toString(8)} ${st.uid}:${st.gid}`;
      if (st.isSymbolicLink()) out[key] = `link ${fs.readlinkSync(full)}`;
      else if (st.isDirectory()) { out[key] = `dir ${meta}`; walk(full, key); }
      else if (!st.isFile()) out[key] = `special ${meta} ${st.ino}`; // a FIFO or device: never opened
      else out[key] = `file ${meta} ${st.size} ${createHash('sha256').update(fs.readFileSync(full)).digest('hex')} ${st.mtimeMs} ${st.ino}`;
    }
  };
  walk(path.resolve(dir), '');
  return out;
}

/** A stub `aws` that prints the content of `jsonFile` for get-secret-value (for the kill and bench runs). */
export function stubAws(dir: string, jsonFile: string): void {
  fs.writeFileSync(path.join(dir, 'aws'), `#!/bin/bash\ncat '${jsonFile}'\n`, { mode: 0o755 });
}
