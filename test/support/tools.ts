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

/**
 * `describe` when every tool is present; otherwise `describe.skip` with a message naming what is
 * missing. The skip reporter turns such a skip into a failure under CI=true.
 */
export function describeWithTools(tools: string[], name: string, body: () => void): void {
  const missing = tools.filter((t) => !hasCommand(t));
  if (missing.length === 0) {
    describe(name, body);
    return;
  }
  // eslint-disable-next-line no-console
  console.warn(`skipping "${name}": missing ${missing.join(', ')} (see README: Tests)`);
  describe.skip(`${name} [needs ${missing.join(', ')}]`, body);
}
