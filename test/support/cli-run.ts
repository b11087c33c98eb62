import { main } from '../../lib/cli/main';

/** Runs the aem-keys CLI in-process (non-TTY, 10 ms polls) and returns its exit code and output. */
export async function runCli(args: string[]): Promise<{ code: number; stdout: string; stderr: string }> {
  const out: string[] = [];
  const err: string[] = [];
  const code = await main(args, {
    stdout: { isTTY: false, write: (s: string) => { out.push(s); return true; } },
    stderr: { isTTY: false, write: (s: string) => { err.push(s); return true; } },
    pollMs: 10,
  } as any);
  return { code, stdout: out.join(''), stderr: err.join('') };
}
