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
 * strace options that make a traced run cheap: with seccomp-bpf the kernel stops the traced
 * processes only at the system calls asked for (-e trace=...), instead of at every one, which
 * made every traced AWS CLI start (tens of thousands of system calls) several times slower. The
 * trace is the same. It sets no_new_privs on the traced processes (no setuid programs take part
 * in these runs: the scripts drop privileges with setpriv, which needs none).
 */
export const STRACE_FAST = ['--seccomp-bpf'];
