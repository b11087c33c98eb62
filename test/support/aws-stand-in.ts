import { execFileSync } from 'child_process';
import * as fs from 'fs';
import * as os from 'os';
import * as path from 'path';

const SOURCE = path.join(__dirname, 'aws-stand-in', 'aws.py');
let made: string | undefined;

let real: string | undefined;

/**
 * The real AWS CLI on the PATH (absolute). When that is a pyenv shim (a bash script that works out
 * the Python version, then runs the CLI: about 80 ms more per call), the CLI it runs.
 */
export function realAws(): string {
  if (real !== undefined) return real;
  const found = execFileSync('bash', ['-c', 'command -v aws'], { encoding: 'utf8' }).trim();
  const shim = /\bexec "[^"]*\/pyenv" exec /.test(fs.readFileSync(found, 'latin1').slice(0, 4096));
  real = shim ? execFileSync('pyenv', ['which', 'aws'], { encoding: 'utf8' }).trim() : found;
  return real;
}

/**
 * The system's python3 when there is one (a version manager's shim starts slower and, run many times
 * at once, can print its own errors), else the one on the PATH.
 */
export function plainPython(): string {
  return fs.existsSync('/usr/bin/python3') ? '/usr/bin/python3'
    : execFileSync('bash', ['-c', 'command -v python3'], { encoding: 'utf8' }).trim();
}

/**
 * A folder holding `aws`: the fast stand-in of test/support/aws-stand-in/aws.py, which answers
 * the scripts' own Secrets Manager calls to moto_server and runs the real CLI for anything else
 * (its contract: test/aws-stand-in.test.ts). Made once per process, in the temp folder.
 */
export function awsStandInDir(): string {
  if (made && fs.existsSync(path.join(made, 'aws'))) return made;
  const python = plainPython();
  const code = fs.readFileSync(SOURCE, 'utf8')
    .replace("REAL_AWS = os.environ.get('AEM_KEYS_REAL_AWS', '')", `REAL_AWS = ${JSON.stringify(realAws())}`);
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'aem-keys-aws-stand-in-'));
  fs.chmodSync(dir, 0o755);
  fs.writeFileSync(path.join(dir, 'aws'), `#!${python} -IS\n${code}`, { mode: 0o755 });
  made = dir;
  return dir;
}
