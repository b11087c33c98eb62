import { execFileSync } from 'child_process';

/** True when `cmd` is on the PATH. */
export function hasCommand(cmd: string): boolean {
  try {
    execFileSync('bash', ['-c', `command -v ${cmd}`], { stdio: 'ignore' });
    return true;
  } catch {
    return false;
  }
}

/** Tools quick enough for the fast run (`npm run test:fast`); blocks needing any other skip there. */
const FAST_TOOLS = ['bash', 'shellcheck'];

/**
 * `describe` when every tool is present; otherwise `describe.skip` with a message naming what is
 * missing. The skip reporter turns such a skip into a failure under CI=true. In the fast run
 * (AEM_KEYS_TESTS=fast, `npm run test:fast`) a block that needs a slow tool skips as well.
 */
export function describeWithTools(tools: string[], name: string, body: () => void): void {
  const slow = process.env.AEM_KEYS_TESTS === 'fast' ? tools.filter((t) => !FAST_TOOLS.includes(t)) : [];
  if (slow.length > 0) {
    describe.skip(`${name} [full suite: needs ${slow.join(', ')}]`, body);
    return;
  }
  const missing = tools.filter((t) => !hasCommand(t));
  if (missing.length === 0) {
    describe(name, body);
    return;
  }
  // eslint-disable-next-line no-console
  console.warn(`skipping "${name}": missing ${missing.join(', ')} (see README: Tests)`);
  describe.skip(`${name} [needs ${missing.join(', ')}]`, body);
}

/**
 * The command line of an strace that follows every process (`-f`), quiet, writes to `out` and
 * stops only at `syscalls` (a `-e trace=` set) and getpid, then runs what follows it (the
 * traced command). Two things make it cheap, and the trace is the same:
 * - --seccomp-bpf: the kernel stops the traced processes only at the system calls asked for,
 *   instead of at every one, which made every traced AWS CLI start (tens of thousands of system
 *   calls) several times slower. It sets no_new_privs on the traced processes (no setuid program
 *   takes part in these runs: the scripts drop privileges with setpriv, which needs none).
 * - getpid: under --seccomp-bpf, strace (6.1) stops a forked child that has not executed a program
 *   yet at every system call until its first traced one. bash calls getpid in each child it forks,
 *   so its subshells leave that mode at once. Measured: a subshell doing 5,000 redirections took
 *   6.6 s traced for execve alone and 0.06 s with getpid too; an export run, 3.6 s and 0.2 s.
 *   getpid lines carry no string and no path.
 */
export function strace(out: string, syscalls: string, options: readonly string[] = []): string[] {
  return ['strace', '--seccomp-bpf', '-f', '-qq', '-e', `trace=${syscalls},getpid`, ...options, '-o', out];
}
