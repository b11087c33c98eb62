import { spawnSync } from 'child_process';
import * as fs from 'fs';
import * as path from 'path';
import { embedShellScript } from '../lib/private/shell-script-document';
import { describeWithTools } from './support/tools';

const SCRIPTS = path.join(__dirname, '..', 'lib', 'scripts');
const MAIN_SCRIPTS = ['install-keys.sh', 'export-keys.sh', 'migrate-jcr-keys.sh'];
const code = (file: string) => fs.readFileSync(path.join(SCRIPTS, file), 'utf8')
  .split('\n').filter((l) => !l.trim().startsWith('#')).join('\n');

describe('on-instance scripts', () => {
  test.each(fs.readdirSync(SCRIPTS))('%s parses with bash -n and uses only bash, coreutils and the AWS CLI', (file) => {
    const r = spawnSync('bash', ['-n', path.join(SCRIPTS, file)], { encoding: 'utf8' });
    expect(r.stderr).toBe('');
    expect(r.status).toBe(0);
    expect(code(file)).not.toMatch(/\b(curl|wget|jq|grep|egrep|sed|awk|python3?|perl|openssl|xxd)\b/);
    expect(code(file)).not.toContain('{{');
  });

  test.each(MAIN_SCRIPTS)('%s: embedded with the shared functions, ending in exit before the data block', (file) => {
    const lines = embedShellScript(file, ['A']);
    expect(lines[0]).toBe('#!/bin/bash');
    expect(lines).toContain('aemkeys_fail() {');
    expect(lines.filter((l) => l.startsWith('. "${BASH_SOURCE[0]%/*}/aem-keys-common.sh"'))).toEqual([]);
    expect(lines.slice(-5)).toEqual(['exit $?', '#@aem-crypto-keys-data 1', '#@param A', '{{ A }}', '#@end']);
  });

  test('a script without the inlining markers is refused at synth time', () => {
    expect(() => embedShellScript('aem-keys-common.sh', [])).toThrow(/missing the "# >>> aem-keys-common.sh"/);
  });
});

describeWithTools(['shellcheck'], 'shellcheck', () => {
  // SC2034/SC2154: the scripts set and read variables by computed names (printf -v, ${!name}),
  // which shellcheck cannot follow.
  test('no warning or error in any script', () => {
    const files = fs.readdirSync(SCRIPTS).map((f) => path.join(SCRIPTS, f));
    const r = spawnSync('shellcheck', ['-s', 'bash', '-S', 'warning', '-e', 'SC2034,SC2154', ...files], { encoding: 'utf8' });
    expect(r.stdout).toBe('');
    expect(r.status).toBe(0);
  });
});
