import { ChildProcess, spawn } from 'child_process';
import * as fs from 'fs';
import * as http from 'http';
import * as net from 'net';
import * as path from 'path';

/** A moto_server (local AWS API emulator) on 127.0.0.1. */
export interface Moto {
  /** e.g. http://127.0.0.1:45123 */
  readonly endpoint: string;
  /** Environment for the AWS CLI / SDK pointing at this emulator with dummy credentials. */
  readonly env: Record<string, string>;
  stop(): Promise<void>;
}

export const MOTO_REGION = 'us-east-1';

async function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const server = net.createServer();
    server.listen(0, '127.0.0.1', () => {
      const port = (server.address() as net.AddressInfo).port;
      server.close(() => resolve(port));
    });
    server.on('error', reject);
  });
}

async function waitForPort(port: number, child: ChildProcess, timeoutMs: number): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (Date.now() < deadline) {
    if (child.exitCode !== null) throw new Error(`moto_server exited with ${child.exitCode}`);
    const ok = await new Promise<boolean>((resolve) => {
      const socket = net.connect(port, '127.0.0.1', () => { socket.end(); resolve(true); });
      socket.on('error', () => resolve(false));
    });
    if (ok) return;
    await new Promise((r) => setTimeout(r, 100));
  }
  throw new Error(`moto_server did not listen on 127.0.0.1:${port} within ${timeoutMs} ms`);
}

function motoEnv(endpoint: string): Record<string, string> {
  return {
    AWS_ENDPOINT_URL: endpoint,
    AWS_ACCESS_KEY_ID: 'testing',
    AWS_SECRET_ACCESS_KEY: 'testing',
    AWS_DEFAULT_REGION: MOTO_REGION,
    AWS_REGION: MOTO_REGION,
    AWS_EC2_METADATA_DISABLED: 'true',
  };
}

/** Asks moto_server to forget everything (all services, all regions): a fresh emulator. */
async function resetMoto(port: number): Promise<void> {
  await new Promise<void>((resolve, reject) => {
    const req = http.request({ host: '127.0.0.1', port, method: 'POST', path: '/moto-api/reset' }, (res) => {
      res.resume();
      res.on('end', () => (res.statusCode === 200 ? resolve() : reject(new Error(`moto reset: HTTP ${res.statusCode}`))));
    });
    req.on('error', reject);
    req.end();
  });
}

/**
 * Starts moto_server on a free loopback port and waits until it answers.
 *
 * Under jest (test/support/global-setup.js sets AEM_KEYS_MOTO_DIR) each worker keeps one
 * moto_server for all the test files it runs, one after the other: the first file starts it,
 * each later one gets it reset to empty, as good as new (a worker runs one file at a time, so
 * no two files ever share its state). stop() then leaves it running; global-teardown.js stops it.
 */
export async function startMoto(): Promise<Moto> {
  const dir = process.env.AEM_KEYS_MOTO_DIR;
  const worker = process.env.JEST_WORKER_ID;
  if (dir && worker && fs.existsSync(dir)) return workerMoto(path.join(dir, `worker-${worker}.json`));
  const { port, child } = await spawnMoto(false);
  const endpoint = `http://127.0.0.1:${port}`;
  return {
    endpoint,
    env: motoEnv(endpoint),
    stop: () => new Promise((resolve) => {
      if (child.exitCode !== null) return resolve();
      child.once('exit', () => resolve());
      child.kill('SIGTERM');
    }),
  };
}

async function spawnMoto(detached: boolean): Promise<{ port: number; child: ChildProcess }> {
  const port = await freePort();
  const child = spawn('moto_server', ['-H', '127.0.0.1', '-p', String(port)], { stdio: 'ignore', detached });
  await waitForPort(port, child, 30000);
  return { port, child };
}

async function workerMoto(record: string): Promise<Moto> {
  let port: number | undefined;
  if (fs.existsSync(record)) {
    const saved = JSON.parse(fs.readFileSync(record, 'utf8')) as { port: number; pid: number };
    try {
      process.kill(saved.pid, 0);
      await resetMoto(saved.port);
      port = saved.port;
    } catch {
      // gone: start another one
    }
  }
  if (port === undefined) {
    const started = await spawnMoto(true);
    started.child.unref();
    port = started.port;
    fs.writeFileSync(record, JSON.stringify({ port, pid: started.child.pid }));
  }
  const endpoint = `http://127.0.0.1:${port}`;
  return { endpoint, env: motoEnv(endpoint), stop: async () => undefined };
}
