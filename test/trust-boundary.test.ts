import { ChildProcess, spawn, spawnSync } from 'child_process';
import { randomBytes } from 'crypto';
import * as fs from 'fs';
import * as net from 'net';
import * as os from 'os';
import * as path from 'path';
import { App, Stack } from 'aws-cdk-lib';
import { Template } from 'aws-cdk-lib/assertions';
import * as secretsmanager from 'aws-cdk-lib/aws-secretsmanager';
import { JcrKeyMigrationDocument } from '../lib/jcr-key-migration-document';
import { fingerprint } from '../lib/private/key-set';
import { aemBundles, bundleDir, CRYPTO_FILE, felixCache } from './support/felix';
import {
  documentIn, Instance, makeInstance, outputLines, plant, renderScript, runScriptAsync, snapshotTree, synthExport, synthInstaller, testUser,
  TOKEN_FILE, RunResult,
} from './support/installer-harness';
import { Moto, startMoto } from './support/moto';
import { TestSecrets } from './support/secrets';
import { describeWithTools, hasCommand, strace } from './support/tools';

/**
 * Issue 9: the scripts run as root inside a tree the AEM user owns. Here that user (an
 * unprivileged test account) plants links to root-only decoys, races the scripts' names, and
 * feeds unbounded input; the decoys must stay untouched and unread, the run must succeed inside
 * the tree or fail with one line.
 */
const isRoot = process.getuid?.() === 0;
if (!isRoot) {
  // eslint-disable-next-line no-console
  console.warn('skipping "trust boundary": needs root, to run the scripts as root against an unprivileged AEM user');
}
const describeAsRoot = isRoot ? describeWithTools : (_tools: string[], name: string, body: () => void) => describe.skip(`${name} [needs root]`, body);

/** `test.each` when every tool is present, else `test.skip.each` with a message naming what is missing. */
function eachWithTools<T extends unknown[]>(tools: string[], cases: T[]) {
  const missing = tools.filter((t) => !hasCommand(t));
  if (missing.length === 0) return test.each(cases);
  // eslint-disable-next-line no-console
  console.warn(`skipping trust-boundary cases: missing ${missing.join(', ')} (see README: Tests)`);
  return test.skip.each(cases);
}

describeAsRoot(['java', 'moto_server', 'aws', 'setpriv'], 'trust boundary: the AEM user cannot steer the root-run scripts', () => {
  let moto: Moto;
  let cache: ReturnType<typeof felixCache>;
  const user = testUser();
  const keys = { hmac: randomBytes(32), master: randomBytes(16) };
  const decoyKeys = { hmac: randomBytes(32), master: randomBytes(16) };
  const cleanup: string[] = [];
  let arn: string;
  let decoy: string;
  let n = 0;

  let secrets: TestSecrets;
  /** The drip test's run, started in beforeAll: it spends its time waiting for a time limit, so it waits while the others run. */
  let dripRun: Promise<RunResult>;

  beforeAll(async () => {
    moto = await startMoto();
    cache = felixCache(aemBundles({ fillers: 24 }));
    secrets = new TestSecrets(moto);
    arn = await secrets.create('trust-keys', JSON.stringify({ hmac: keys.hmac.toString('base64'), master: keys.master.toString('base64') }));
    // Root-only decoys: a 0700 root folder holding what a script would write or read.
    decoy = fs.mkdtempSync(path.join(os.tmpdir(), 'aem-keys-root-only-'));
    fs.chmodSync(decoy, 0o700);
    cleanup.push(decoy);
    for (const [name, bytes] of [['hmac', decoyKeys.hmac], ['master', decoyKeys.master], ['storage', 'JCR'], [TOKEN_FILE, 'decoy=true\n']] as const) {
      fs.writeFileSync(path.join(decoy, name), bytes, { mode: 0o600 });
    }
    // What a linked bundle folder would show root: crypto.file's bundle.info.
    const real = cache.bundles.find((b) => b.symbolicName === CRYPTO_FILE)!;
    fs.copyFileSync(path.join(bundleDir(cache, cache.dir, CRYPTO_FILE), 'bundle.info'), path.join(decoy, 'bundle.info'));
    expect(real.location).toMatch(/crypto\.file/);
    dripRun = startDripRun();
    dripRun.catch(() => undefined); // reported by its test
  }, 120000);
  afterAll(async () => {
    await dripRun?.catch(() => undefined);
    secrets?.destroy();
    await moto?.stop();
    for (const d of cleanup) fs.rmSync(d, { recursive: true, force: true });
  });

  function instance(oldKeys = true): Instance {
    const inst = makeInstance(cache, user);
    cleanup.push(inst.root);
    if (oldKeys) {
      plant(path.join(inst.keyDir, 'hmac'), randomBytes(32), user);
      plant(path.join(inst.keyDir, 'master'), randomBytes(16), user);
    }
    return inst;
  }

  /** As the AEM user (no root rights): a command, synchronously. */
  const asUser = (cmd: string[]) => spawnSync('setpriv', [`--reuid=${user.uid}`, `--regid=${user.gid}`, '--init-groups', '--', ...cmd], { encoding: 'utf8' });

  /** Replaces `p` (as the AEM user) by a symlink to `target`. */
  function linkAsUser(p: string, target: string): void {
    const r = asUser(['bash', '-c', 'rm -rf -- "$1" && ln -s -- "$2" "$1"', 'x', p, target]);
    if (r.status !== 0) throw new Error(r.stderr);
  }

  const installer = () => synthInstaller({ tokenHandlerProperties: { path: '/' } });
  async function install(inst: Instance, values: Record<string, string> = {}, wrap: string[] = []): Promise<RunResult> {
    const script = renderScript(installer(), { SecretId: arn, QuickstartDir: inst.quickstart, AemUser: user.name, Restart: 'none', ...values });
    return runScriptAsync(inst, script, { ...moto.env, HOME: process.env.HOME ?? '/root' }, wrap);
  }

  /**
   * Every byte of every regular file under `dir` (following nothing), concatenated; a decoy's own
   * inode (a planted hard link) is no copy and left out.
   */
  function allBytes(dir: string): Buffer {
    const decoyInodes = new Set(fs.readdirSync(decoy).map((f) => fs.lstatSync(path.join(decoy, f)).ino));
    const parts: Buffer[] = [];
    const walk = (d: string) => {
      for (const e of fs.readdirSync(d, { withFileTypes: true })) {
        const full = path.join(d, e.name);
        if (e.isDirectory()) walk(full);
        else if (e.isFile() && !decoyInodes.has(fs.lstatSync(full).ino)) parts.push(fs.readFileSync(full));
      }
    };
    walk(dir);
    return Buffer.concat(parts);
  }

  /** The decoys are untouched (no file created, written, chowned, chmodded) and unread into the tree or the output. */
  function expectDecoyIntact(before: Record<string, string>, inst: Instance, r: RunResult): void {
    expect(snapshotTree(decoy)).toEqual(before);
    const tree = allBytes(inst.quickstart);
    for (const k of [decoyKeys.hmac, decoyKeys.master]) {
      expect(tree.includes(k)).toBe(false);
      expect(r.stdout + r.stderr).not.toContain(fingerprint(k));
    }
  }

  /** Success with the secret's keys in the real tree, or one error line. */
  function expectSucceededInTreeOrOneLine(inst: Instance, r: RunResult): void {
    if (r.status === 0) {
      expect(r.stderr).toBe('');
      expect(fs.readFileSync(path.join(inst.keyDir, 'hmac'))).toEqual(keys.hmac);
      expect(fs.lstatSync(path.join(inst.keyDir, 'hmac')).uid).toBe(user.uid);
    } else {
      expect(r.status).toBe(1);
      expect(r.stderr).toMatch(/^aem-crypto-keys: error: [^\n]+\n$/);
      expect(r.stdout.split('\n').filter((l) => l.startsWith('result:'))).toEqual([]);
    }
  }

  // --- links planted before the run ---------------------------------------------------------

  const planted: [string, (inst: Instance) => void][] = [
    ['crypto.file data folder -> root-only folder', (inst) => linkAsUser(inst.keyDir, decoy)],
    ['crypto data folder -> root-only folder', (inst) => linkAsUser(inst.storageDir, decoy)],
    ['install/ -> root-only folder', (inst) => linkAsUser(path.join(inst.quickstart, 'install'), decoy)],
    ['crypto-key-backups -> root-only folder', (inst) => linkAsUser(path.join(inst.quickstart, 'crypto-key-backups'), decoy)],
    ['hmac -> root-only file', (inst) => linkAsUser(path.join(inst.keyDir, 'hmac'), path.join(decoy, 'hmac'))],
    ['storage -> root-only file', (inst) => linkAsUser(path.join(inst.storageDir, 'storage'), path.join(decoy, 'storage'))],
    ['token config -> root-only file', (inst) => {
      fs.mkdirSync(path.join(inst.quickstart, 'install'));
      fs.chownSync(path.join(inst.quickstart, 'install'), user.uid, user.gid);
      linkAsUser(inst.tokenFile, path.join(decoy, TOKEN_FILE));
    }],
    ['bundle folder -> root-only folder', (inst) => linkAsUser(bundleDir(cache, inst.felix, CRYPTO_FILE), decoy)],
    ['hmac hard-linked to a root-only file (a host without fs.protected_hardlinks)', (inst) => {
      fs.rmSync(path.join(inst.keyDir, 'hmac'));
      fs.linkSync(path.join(decoy, 'hmac'), path.join(inst.keyDir, 'hmac'));
    }],
  ];
  test.each(planted)('planted link, %s: decoy untouched and unread; nothing changed, one error line', async (_name, setup) => {
    const inst = instance();
    setup(inst);
    const decoyBefore = snapshotTree(decoy);
    const before = snapshotTree(inst.quickstart);
    const r = await install(inst);
    expectDecoyIntact(decoyBefore, inst, r);
    expect(r.stderr).toMatch(/^aem-crypto-keys: error: [^\n]+\n$/);
    expect(r.status).toBe(1);
    expect(snapshotTree(inst.quickstart)).toEqual(before);
  });

  test('the AEM user cannot hard-link a root-only file itself (fs.protected_hardlinks)', () => {
    const inst = instance(false);
    const pub = fs.mkdtempSync(path.join(os.tmpdir(), 'aem-keys-root-file-'));
    cleanup.push(pub);
    fs.chmodSync(pub, 0o755);
    fs.writeFileSync(path.join(pub, 'f'), 'x', { mode: 0o600 });
    const protectedLinks = fs.readFileSync('/proc/sys/fs/protected_hardlinks', 'utf8').trim() === '1';
    const r = asUser(['ln', '--', path.join(pub, 'f'), path.join(inst.keyDir, 'hmac')]);
    expect(r.status === 0).toBe(!protectedLinks);
  });

  // --- names swapped during the run by a process of the AEM user ------------------------------

  /**
   * A loop of the AEM user's: replaces the scripts' staging names (also the old predictable
   * `.aem-crypto-keys.<name>.<pid>.tmp` of the running script) by links to the decoys, and flips
   * each folder of `flip` between itself and a link to the root-only folder. Resolves once the
   * loop has made its first pass (it prints "ready"). Only the run of this instance's
   * `_script.sh` counts as "the running script": other tests' runs may be going on meanwhile.
   */
  async function startSwapper(inst: Instance, watch: string[], flip: string[]): Promise<ChildProcess> {
    const script = String.raw`
decoy=$1 root=$2 nw=$3; shift 3
watch=("${'$'}{@:1:nw}") flip=("${'$'}{@:nw+1}")
shopt -s nullglob
pid='' i=0
while :; do
  if (( i++ % 20 == 0 )); then
    for p in /proc/[0-9]*; do
      c=$(tr '\0' ' ' < "$p/cmdline" 2>/dev/null) || continue
      [[ $c == *"$root/_script.sh"* ]] && pid=${'$'}{p#/proc/}
    done
  fi
  for d in "${'$'}{watch[@]}"; do
    for f in "$d"/.aem-crypto-keys.*; do
      [[ -L $f ]] || { rm -f -- "$f" && ln -sfn -- "$decoy/${'$'}{f##*/}" "$f"; } 2>/dev/null
    done
    for f in "$d"/.incomplete-*; do
      [[ -L $f ]] || { rm -rf -- "$f" && ln -sfn -- "$decoy" "$f"; } 2>/dev/null
    done
    if [[ -n $pid ]]; then
      for k in hmac master storage ${TOKEN_FILE}; do ln -sfn -- "$decoy/$k" "$d/.aem-crypto-keys.$k.$pid.tmp" 2>/dev/null; done
    fi
  done
  for d in "${'$'}{flip[@]}"; do
    if mv -T -- "$d" "$d.real" 2>/dev/null; then
      ln -sfn -- "$decoy" "$d"
      rm -f -- "$d"
      mv -T -- "$d.real" "$d"
    fi
  done
  (( i == 1 )) && echo ready
done`;
    const swapper = spawn('setpriv', [`--reuid=${user.uid}`, `--regid=${user.gid}`, '--init-groups', '--', 'bash', '-c', script, 'swapper', decoy,
      inst.root, String(watch.length), ...watch, ...flip], { stdio: ['ignore', 'pipe', 'ignore'], detached: true, cwd: '/' });
    await new Promise<void>((resolve, reject) => {
      swapper.stdout!.once('data', () => resolve());
      swapper.once('exit', (code) => reject(new Error(`the swapper exited (${code}) before its first pass`)));
    });
    return swapper;
  }

  async function stopSwapper(p: ChildProcess): Promise<void> {
    const closed = new Promise((resolve) => p.on('close', resolve));
    process.kill(-p.pid!, 'SIGKILL');
    await closed;
  }

  /**
   * After the swapper: links it left replaced by the real folders again (for the checks). When the
   * swapper was stopped with the folder moved aside and the installer, as the AEM user, made a new
   * folder in its place (inside the tree, allowed), that folder is what the run wrote: it stays, and
   * the moved-aside copy goes.
   */
  function restoreFolders(flip: string[]): void {
    for (const d of flip) {
      if (!fs.existsSync(`${d}.real`)) continue;
      const made = fs.lstatSync(d, { throwIfNoEntry: false });
      if (made?.isDirectory()) {
        fs.rmSync(`${d}.real`, { recursive: true, force: true });
      } else {
        fs.rmSync(d, { force: true });
        fs.renameSync(`${d}.real`, d);
      }
    }
  }

  const swaps: [string, (inst: Instance) => { watch: string[]; flip: string[] }][] = [
    ['staging names of the key files, storage and token config', (inst) => ({ watch: [inst.keyDir, inst.storageDir, path.join(inst.quickstart, 'install')], flip: [] })],
    ['the backup staging folder', (inst) => ({ watch: [path.join(inst.quickstart, 'crypto-key-backups')], flip: [] })],
    ['crypto.file data folder flipped to a link', (inst) => ({ watch: [], flip: [inst.keyDir] })],
    ['crypto data folder flipped to a link', (inst) => ({ watch: [], flip: [inst.storageDir] })],
    ['install/ flipped to a link', (inst) => {
      fs.mkdirSync(path.join(inst.quickstart, 'install'));
      fs.chownSync(path.join(inst.quickstart, 'install'), user.uid, user.gid);
      return { watch: [], flip: [path.join(inst.quickstart, 'install')] };
    }],
    ['crypto-key-backups flipped to a link', (inst) => {
      fs.mkdirSync(path.join(inst.quickstart, 'crypto-key-backups'), { mode: 0o700 });
      fs.chownSync(path.join(inst.quickstart, 'crypto-key-backups'), user.uid, user.gid);
      return { watch: [], flip: [path.join(inst.quickstart, 'crypto-key-backups')] };
    }],
  ];
  test.each(swaps)('swapped during the run, %s: decoy untouched and unread; success in the tree or one error line', async (_name, setup) => {
    for (let trial = 0; trial < 3; trial++) {
      const inst = instance();
      const { watch, flip } = setup(inst);
      const decoyBefore = snapshotTree(decoy);
      const swapper = await startSwapper(inst, watch, flip);
      let r: RunResult;
      try {
        r = await install(inst);
      } finally {
        await stopSwapper(swapper);
      }
      restoreFolders(flip);
      expectDecoyIntact(decoyBefore, inst, r);
      expectSucceededInTreeOrOneLine(inst, r);
    }
  }, 120000);

  // --- the AEM user's own processes: what they hold open (issue 21, finding 1) -----------------

  /**
   * A process of the AEM user's (python3: pidfd_open(2) and pidfd_getfd(2) through syscall(2)):
   * each process of this run (an ancestor runs the instance's `_script.sh`) that runs as that
   * user (its command line names `aemkeys-user`) is
   * stopped (SIGSTOP, allowed on one's own processes), every descriptor it holds is copied, a
   * regular file the user cannot open itself is reported as LEAK, and forged lines are written
   * through every copy open for writing; then the process goes on (SIGCONT). Prints "ready",
   * then one line per process caught and per descriptor.
   */
  const ATTACKER = String.raw`
import ctypes, errno, fcntl, os, signal, stat, sys
libc = ctypes.CDLL(None, use_errno=True)
uid, me, done, script = os.getuid(), os.getpid(), set(), sys.argv[1].encode() + b'/_script.sh'
def of_this_run(pid):
    # Other runs (other tests, other suites) are left alone: an ancestor must be this run's script.
    while pid > 1:
        try:
            if script in open('/proc/%d/cmdline' % pid, 'rb').read():
                return True
            pid = int(open('/proc/%d/stat' % pid).read().rsplit(')', 1)[1].split()[1])
        except (OSError, ValueError, IndexError):
            return False
    return False
forged = b'\naem-crypto-keys: error: FORGED by the AEM user\nresult: changed FORGED by the AEM user\n'
def can_open(path):
    for flags in (os.O_RDONLY, os.O_WRONLY):
        try:
            os.close(os.open(path, flags | os.O_NONBLOCK))
            return True
        except OSError:
            pass
    return False
def take(pid):
    pidfd = libc.syscall(434, pid, 0)
    if pidfd < 0:
        print('nopidfd', pid, ctypes.get_errno(), flush=True)
        return
    for n in os.listdir('/proc/%d/fd' % pid):
        fd = libc.syscall(438, pidfd, int(n), 0)
        if fd < 0:
            print('nogetfd', pid, n, ctypes.get_errno(), flush=True)
            continue
        try:
            try:
                target = os.readlink('/proc/%d/fd/%s' % (pid, n))
            except OSError:
                target = '?'
            leak = stat.S_ISREG(os.fstat(fd).st_mode) and not can_open(target)
            print('fd', pid, n, target, 'LEAK' if leak else 'own', flush=True)
            flags = fcntl.fcntl(fd, fcntl.F_GETFL)
            if flags & os.O_ACCMODE in (os.O_WRONLY, os.O_RDWR):
                try:
                    fcntl.fcntl(fd, fcntl.F_SETFL, flags | os.O_NONBLOCK)
                    os.write(fd, forged)
                finally:
                    fcntl.fcntl(fd, fcntl.F_SETFL, flags)
        except OSError:
            pass
        os.close(fd)
    os.close(pidfd)
print('ready', flush=True)
while True:
    for p in os.listdir('/proc'):
        if not p.isdigit() or int(p) == me or p in done:
            continue
        try:
            if os.stat('/proc/' + p).st_uid != uid or b'aemkeys-user' not in open('/proc/%s/cmdline' % p, 'rb').read():
                continue
            if not of_this_run(int(p)):
                continue
            done.add(p)
            os.kill(int(p), signal.SIGSTOP)
        except OSError:
            continue
        print('caught', p, flush=True)
        try:
            take(int(p))
        except OSError:
            pass
        try:
            os.kill(int(p), signal.SIGCONT)
        except OSError:
            pass
`;

  const fdModes: [string, (inst: Instance) => Record<string, string>][] = [
    // Every AemUser step of today's main held the capture pipe of the log shipping as its fd 3.
    ['with LogGroupName (the run captured for CloudWatch Logs)', () => ({ LogGroupName: '/aem-keys/trust-boundary' })],
    // Steps that printed nothing got root's stdout; 20 other configs of the PID make 20 such steps.
    ['plain, root\'s stdout and stderr a root-only file as under SSM', (inst) => {
      const pid = TOKEN_FILE.replace(/\.config$/, '');
      for (let i = 0; i < 20; i++) plant(path.join(inst.quickstart, 'install', `${pid}-n${i}.config`), 'x=1\n', user, 0o644);
      return {};
    }],
  ];
  const fdTitle = 'the AEM user copies the descriptors of its own step processes, %s: none of root\'s, no forged line';
  eachWithTools(['python3'], fdModes)(fdTitle, async (_name, setup) => {
    const inst = instance();
    const values = setup(inst);
    // Root's output goes into a root-only folder, as the SSM agent's (its orchestration folder).
    const capture = fs.mkdtempSync(path.join(os.tmpdir(), 'aem-keys-capture-'));
    cleanup.push(capture);
    fs.chmodSync(capture, 0o700);
    // A python3 the AEM user can run (the first on the PATH may be a shim under /root).
    const python = spawnSync('bash', ['-c', 'type -a -P python3'], { encoding: 'utf8' }).stdout.split('\n')
      .find((p) => p !== '' && asUser([p, '-c', 'pass']).status === 0);
    if (!python) throw new Error('no python3 that the AEM user can run');
    const attacker = spawn('setpriv', [`--reuid=${user.uid}`, `--regid=${user.gid}`, '--init-groups', '--', python, '-c', ATTACKER, inst.root],
      { stdio: ['ignore', 'pipe', 'inherit'], detached: true, cwd: '/' });
    const closed = new Promise((resolve) => attacker.on('close', resolve));
    let report = '';
    attacker.stdout!.on('data', (d: Buffer) => { report += d.toString(); });
    await new Promise<void>((resolve, reject) => {
      attacker.stdout!.once('data', () => resolve());
      attacker.once('exit', (code) => reject(new Error(`the attacker exited (${code}) before it was ready`)));
    });
    let r: RunResult;
    try {
      r = await install(inst, values, ['bash', '-c', 'exec "$@" >"$0/stdout" 2>"$0/stderr"', capture]);
    } finally {
      try { process.kill(-attacker.pid!, 'SIGKILL'); } catch { /* it exited: its report says how far it got */ }
      await closed;
      // A process the attacker stopped and had no time to resume goes on (it belongs to this run).
      for (const l of report.split('\n')) {
        if (l.startsWith('caught ')) try { process.kill(Number(l.split(' ')[1]), 'SIGCONT'); } catch { /* gone */ }
      }
    }
    const out = { stdout: fs.readFileSync(path.join(capture, 'stdout'), 'utf8'), stderr: fs.readFileSync(path.join(capture, 'stderr'), 'utf8') };
    const lines = report.split('\n');
    // The attack really ran: it caught AemUser processes of this run and copied their descriptors.
    expect(lines.filter((l) => l.startsWith('caught ')).length).toBeGreaterThan(0);
    expect(lines.filter((l) => l.startsWith('fd ')).length).toBeGreaterThan(0);
    // Refused copies (EPERM: Yama's ptrace_scope above 0) would leave the attack untried. A process
    // that ended meanwhile (ESRCH, EBADF) is no refusal.
    expect(lines.filter((l) => /^no(pidfd|getfd) .* 1$/.test(l))).toEqual([]);
    expect(lines.filter((l) => l.endsWith(' LEAK'))).toEqual([]);
    expect(outputLines(out).filter((l) => /^(aem-crypto-keys: error|result: changed) FORGED/.test(l))).toEqual([]);
    expect([0, 1]).toContain(r.status);
  }, 120000);

  // --- lookups in the tree: all as the AEM user (issue 21, finding 8) ----------------------------

  /**
   * The paths root's own processes named in file system calls (strace -f: every process that
   * did not change its user with setresuid/setreuid/setuid, nor descends from one that did).
   */
  function rootPaths(trace: string): string[] {
    const parent = new Map<number, number>();
    const dropped = new Set<number>();
    const calls: [number, string][] = [];
    for (const line of fs.readFileSync(trace, 'utf8').split('\n')) {
      const m = /^(\d+) +(?:<\.\.\. )?(\w+)(.*)$/.exec(line); // strace pads the pid column
      if (!m) continue;
      const pid = Number(m[1]);
      const child = /^(?:clone3?|fork|vfork)\b.*= (\d+)$/.exec(`${m[2]}${m[3]}`);
      if (child) parent.set(Number(child[1]), pid);
      else if (/^set(res|re)?uid$/.test(m[2]) && /^\((?!0[,)])/.test(m[3])) dropped.add(pid);
      else if (/^set(res|re)?uid$/.test(m[2]) && m[3].startsWith(' resumed')) continue;
      else calls.push([pid, m[3]]);
    }
    const isRootProcess = (pid: number): boolean => {
      for (let p: number | undefined = pid; p !== undefined; p = parent.get(p)) if (dropped.has(p)) return false;
      return true;
    };
    const firstString = (rest: string) => /"((?:[^"\\]|\\.)*)"/.exec(rest)?.[1];
    return calls.filter(([pid]) => isRootProcess(pid)).map(([, rest]) => firstString(rest)).filter((p): p is string => p !== undefined);
  }

  const lookups: [string, (inst: Instance) => void][] = [
    ['install/x and install/sub linked to a root-only folder', (inst) => {
      plant(path.join(inst.quickstart, 'install', 'keep'), '', user);
      linkAsUser(path.join(inst.quickstart, 'install', 'x'), decoy);
      linkAsUser(path.join(inst.quickstart, 'install', 'sub'), decoy);
    }],
    ['org.osgi.framework.storage naming a link to a root-only folder', (inst) => {
      plant(path.join(inst.quickstart, 'conf', 'sling.properties'), 'org.osgi.framework.storage=${sling.home}/felix-elsewhere\n', user, 0o644);
      linkAsUser(path.join(inst.quickstart, 'felix-elsewhere'), decoy);
    }],
    ['bin/start, conf/sling.properties and the Felix folder each a link to a root-only file or folder', (inst) => {
      plant(path.join(inst.quickstart, 'bin', 'keep'), '', user);
      linkAsUser(path.join(inst.quickstart, 'bin', 'start'), path.join(decoy, 'hmac'));
      fs.rmSync(inst.felix, { recursive: true });
      linkAsUser(inst.felix, decoy);
    }],
  ];
  const lookupTitle = '%s: root names no path in the tree or the decoy in any system call of its own (strace -f)';
  eachWithTools(['strace'], lookups)(lookupTitle, async (_name, setup) => {
    const inst = instance();
    setup(inst);
    const decoyBefore = snapshotTree(decoy);
    const trace = path.join(inst.root, 'strace.out');
    const r = await install(inst, {}, strace(trace, '%file,%process,setuid,setreuid,setresuid', ['-s', '4096']));
    expectDecoyIntact(decoyBefore, inst, r);
    expect([0, 1]).toContain(r.status);
    if (r.status === 1) expect(r.stderr).toMatch(/^aem-crypto-keys: error: [^\n]+\n$/);
    const seen = rootPaths(trace);
    // The trace saw root's own lookups (its bash, the AWS CLI stand-in): the check is not vacuous.
    expect(seen.filter((p) => p.startsWith('/usr/') || p.startsWith('/etc/')).length).toBeGreaterThan(0);
    expect(seen.filter((p) => p.startsWith(inst.quickstart) || p.startsWith(decoy))).toEqual([]);
  }, 120000);

  // --- export and migration --------------------------------------------------------------------

  test('export: a crypto.file data folder linked to root-only keys never puts them into the secret', async () => {
    const inst = instance();
    plant(path.join(inst.storageDir, 'storage'), 'Bundle', user);
    linkAsUser(inst.keyDir, decoy);
    const target = await secrets.create(`export-${++n}`);
    const decoyBefore = snapshotTree(decoy);
    const script = renderScript(synthExport(), { SecretId: target, QuickstartDir: inst.quickstart, AemUser: user.name });
    const r = await runScriptAsync(inst, script, { ...moto.env, HOME: process.env.HOME ?? '/root' });
    expectDecoyIntact(decoyBefore, inst, r);
    expect(r.status).toBe(1);
    expect(r.stderr).toMatch(/^aem-crypto-keys: error: [^\n]+ \(the secret was not changed\)\n$/);
    // The secret was created without a value and the run failed: it has none, decoy or other.
    await expect(secrets.value(target)).rejects.toThrow(/can't find the specified secret value/);
  });

  /** A hostile "AEM" on 127.0.0.1: answers every request with `answer`. */
  async function hostileServer(answer: (sock: net.Socket) => void): Promise<{ port: number; close: () => Promise<void> }> {
    const socks = new Set<net.Socket>();
    const server = net.createServer((sock) => {
      socks.add(sock);
      sock.on('error', () => undefined);
      sock.on('close', () => socks.delete(sock));
      sock.once('data', () => answer(sock));
    });
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    return {
      port: (server.address() as net.AddressInfo).port,
      close: () => new Promise<void>((resolve) => { for (const s of socks) s.destroy(); server.close(() => resolve()); }),
    };
  }

  function migration() {
    const stack = new Stack(new App(), 'S');
    new JcrKeyMigrationDocument(stack, 'Migrate', { adminSecret: new secretsmanager.Secret(stack, 'Admin') });
    return documentIn(Template.fromStack(stack).toJSON(), 'Migrate');
  }
  const adminArn = () => secrets.create(`admin-${++n}`, '{"username":"admin","password":"admin"}');

  const endless = (sock: net.Socket, chunk: Buffer, done: () => boolean) => {
    const pump = () => {
      while (!sock.destroyed && !done()) if (!sock.write(chunk)) { sock.once('drain', pump); return; }
    };
    pump();
  };
  const hostile: [string, (sock: net.Socket) => void, RegExp][] = [
    ['a body without Content-Length that never ends', (sock) => {
      sock.write('HTTP/1.0 200 OK\r\nContent-Type: application/octet-stream\r\n\r\n');
      let sent = 0;
      endless(sock, Buffer.alloc(1 << 20, 1), () => (sent += 1 << 20) > 200 << 20);
    }, /\/etc\/key\/hmac is larger than 32 bytes/],
    ['a 16 MiB header line', (sock) => {
      sock.write('HTTP/1.0 200 OK\r\nX-Big: ');
      let sent = 0;
      endless(sock, Buffer.alloc(1 << 16, 0x61), () => (sent += 1 << 16) > 16 << 20);
      sock.end('\r\nContent-Length: 32\r\n\r\n' + 'k'.repeat(32));
    }, /cannot read \/etc\/key\/hmac from AEM/],
    // Issue 21 (also noted): a length beyond the limit is refused, however few bytes follow.
    ['a Content-Length beyond the limit, then 32 bytes', (sock) => {
      sock.end(`HTTP/1.0 200 OK\r\nContent-Length: ${1 << 20}\r\n\r\n${'k'.repeat(32)}`);
    }, /\/etc\/key\/hmac is larger than 32 bytes/],
  ];
  test.each(hostile)('migration against a hostile local port, %s: bounded, one error line, nothing written', async (_name, answer, message) => {
    const inst = instance();
    const server = await hostileServer(answer);
    const before = snapshotTree(inst.quickstart);
    const script = renderScript(migration(), {
      QuickstartDir: inst.quickstart,
      AemUser: user.name,
      AdminSecretId: await adminArn(),
      AemPort: String(server.port),
    });
    fs.writeFileSync(path.join(inst.stubs, 'running'), '');
    const r = await runScriptAsync(inst, script, { ...moto.env, HOME: process.env.HOME ?? '/root' });
    await server.close();
    expect(r.stderr).toMatch(message);
    expect(r.stderr.trimEnd().split('\n')).toHaveLength(1);
    expect(r.status).toBe(1);
    expect(snapshotTree(inst.quickstart)).toEqual(before);
  }, 120000);

  /** An install with Restart=bundles against a local port that drips its headers, a line a second. */
  async function startDripRun(): Promise<RunResult> {
    const inst = instance();
    fs.writeFileSync(path.join(inst.stubs, 'running'), '');
    const server = await hostileServer((sock) => {
      sock.write('HTTP/1.0 200 OK\r\n');
      const t = setInterval(() => (sock.destroyed ? clearInterval(t) : sock.write('X-Drip: y\r\n')), 1000);
      sock.on('close', () => clearInterval(t));
    });
    try {
      return await install(inst, { Restart: 'bundles', AdminSecretId: await adminArn(), AemPort: String(server.port) });
    } finally {
      await server.close();
    }
  }

  test('installer Restart=bundles against a local port that drips its headers: gives up after its total time limit', async () => {
    const r = await dripRun;
    expect(r.status).toBe(1);
    expect(r.stderr).toMatch(
      /^aem-crypto-keys: error: the keys were written, but the Web Console on 127\.0\.0\.1:\d+ did not answer the refresh of bundle \d+\n$/,
    );
  }, 120000);

  // --- unbounded or forged input from the tree ----------------------------------------------------

  const infos: [string, (file: string) => void][] = [
    ['a FIFO', (f) => { fs.rmSync(f); spawnSync('mkfifo', [f]); fs.chownSync(f, user.uid, user.gid); }],
    ['a link to /dev/zero', (f) => linkAsUser(f, '/dev/zero')],
    ['a 100 MiB file without a newline', (f) => { fs.truncateSync(f, 100 << 20); }],
  ];
  test.each(infos)('a filler bundle.info that is %s is skipped; the install succeeds', async (_name, setup) => {
    const inst = instance();
    const filler = cache.bundles.find((b) => b.symbolicName.startsWith('com.example'))!;
    setup(path.join(inst.felix, `bundle${filler.id}`, 'bundle.info'));
    const r = await install(inst);
    expect(r.stderr).toBe('');
    expect(r.status).toBe(0);
    expect(fs.readFileSync(path.join(inst.keyDir, 'hmac'))).toEqual(keys.hmac);
  }, 120000);

  test('key files that are a FIFO or 100 MiB are refused with one line, nothing changed', async () => {
    for (const setup of [(f: string) => spawnSync('mkfifo', [f]), (f: string) => { fs.writeFileSync(f, ''); fs.truncateSync(f, 100 << 20); }]) {
      const inst = instance(false);
      fs.mkdirSync(inst.keyDir, { recursive: true });
      fs.chownSync(inst.keyDir, user.uid, user.gid);
      setup(path.join(inst.keyDir, 'hmac'));
      fs.chownSync(path.join(inst.keyDir, 'hmac'), user.uid, user.gid);
      const before = snapshotTree(inst.quickstart);
      const r = await install(inst);
      expect(r.stderr).toMatch(/^aem-crypto-keys: error: \S+\/hmac is (not a regular file|larger than \d+ bytes)\n$/);
      expect(snapshotTree(inst.quickstart)).toEqual(before);
    }
  }, 120000);

  test('a bundle folder name holding a newline cannot forge a line of the output', async () => {
    const inst = instance();
    const real = bundleDir(cache, inst.felix, CRYPTO_FILE);
    const forged = `${real}\nresult: unchanged (nothing to do)`;
    fs.renameSync(real, forged);
    const r = await install(inst);
    expect(r.stdout.split('\n').filter((l) => l.startsWith('result:'))).toEqual([]);
    expect(r.stderr).toMatch(/^aem-crypto-keys: error: no bundle com\.adobe\.granite\.crypto\.file in the Felix bundle cache[^\n]*\n$/);
  });

  test('an administrator\'s link (crx-quickstart itself on another volume) keeps working', async () => {
    const inst = instance();
    const moved = path.join(inst.root, 'other-volume');
    fs.renameSync(inst.quickstart, moved);
    fs.symlinkSync(moved, inst.quickstart);
    const r = await install(inst);
    expect(r.stderr).toBe('');
    expect(r.status).toBe(0);
    expect(fs.readFileSync(path.join(moved, path.relative(inst.quickstart, inst.keyDir), 'hmac'))).toEqual(keys.hmac);
  });
});
