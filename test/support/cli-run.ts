import { spawnSync } from 'child_process';
import * as path from 'path';
import { CliIo, main } from '../../lib/cli/main';

/** How an in-process CLI run ended and what it wrote. */
export interface CliRun {
  readonly code: number;
  readonly stdout: string;
  readonly stderr: string;
}

/** The test overrides of a run: poll interval, clock, clients (see CliIo). */
export type CliOverrides = Omit<CliIo, 'stdout' | 'stderr'>;

/**
 * Runs the aem-keys CLI in-process (non-TTY output, 10 ms polls unless `overrides` say otherwise)
 * and returns its exit code and output.
 */
export async function runCli(args: string[], overrides: CliOverrides = {}): Promise<CliRun> {
  const stdout = capture();
  const stderr = capture();
  const code = await main(args, { pollMs: 10, ...overrides, stdout, stderr });
  return { code, stdout: stdout.text(), stderr: stderr.text() };
}

/** An output stream for the CLI (or its Progress) that keeps what is written; text() returns it. */
export function capture(isTTY = false) {
  const chunks: string[] = [];
  return { isTTY, write: (s: string) => { chunks.push(s); return true; }, text: () => chunks.join('') };
}

/** The real launcher, bin/aem-keys.js, as `npx aem-keys` runs it. */
export const LAUNCHER = path.join(__dirname, '..', '..', 'bin', 'aem-keys.js');

/** Runs the real launcher in a child Node process (errors from Node itself, outside jest), with `env` added. */
export function launchCli(args: string[], env: Record<string, string> = {}): { code: number | null; stdout: string; stderr: string } {
  const r = spawnSync(process.execPath, [LAUNCHER, ...args], { encoding: 'utf8', env: { ...process.env, ...env }, timeout: 60_000 });
  return { code: r.status, stdout: r.stdout, stderr: r.stderr };
}
