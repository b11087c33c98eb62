import { spawnSync } from 'child_process';
import * as fs from 'fs';
import * as path from 'path';
import { DATA_BLOCK_MARKER, embedShellScript, SCRIPT_LINE_MAX } from '../lib/private/shell-script-document';
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

  test.each(MAIN_SCRIPTS)('%s: embedded with the modules\' functions, ending in exit before the data block', (file) => {
    const lines = embedShellScript(file, ['A']);
    expect(lines[0]).toBe('#!/bin/bash');
    expect(lines).toContain('aemkeys_fail() {');
    expect(lines.filter((l) => l.startsWith('. "${BASH_SOURCE[0]%/*}/'))).toEqual([]);
    expect(lines.slice(-4)).toEqual(['exit $?', DATA_BLOCK_MARKER, '#@A={{ A }}', '#@end']);
  });

  test('a function only the installer calls is not embedded in the export and migration scripts', () => {
    const defined = (file: string) => embedShellScript(file, ['A']).filter((l) => /^aemkeys_(require|u)_writable\(\)/.test(l));
    expect(defined('install-keys.sh').sort()).toEqual(['aemkeys_require_writable() {', 'aemkeys_u_writable() {']);
    expect(defined('export-keys.sh')).toEqual([]);
    expect(defined('migrate-jcr-keys.sh')).toEqual([]);
  });

  test('aemkeys_json_unescape decodes every escape, \\u to UTF-8 of 1 to 4 bytes, and refuses broken ones', () => {
    const unescape = (raw: string) => spawnSync('bash', ['-c', `. '${path.join(SCRIPTS, 'aem-keys-common.sh')}'; aemkeys_json_unescape "$1" || exit 9; printf '%s' "$AEMKEYS_REPLY" | od -An -v -tx1`, 'x', raw], { encoding: 'utf8' });
    const hex = (raw: string) => unescape(raw).stdout.replace(/\s+/g, '');
    expect(hex(String.raw`A\u0041\"\\\/\b\f\n\r\t`)).toBe(Buffer.from('AA"\\/\b\f\n\r\t').toString('hex'));
    const chars = ['\u007f', '\u0080', '\u00e4', '\u07ff', '\u0800', '\u20ac', '\uffff', '\u{1F600}', '\u{10FFFF}'];
    const escaped = String.raw`\u007f\u0080\u00E4\u07ff\u0800\u20ac\uffff\ud83d\ude00\udbff\udfff`;
    expect(hex(escaped)).toBe(Buffer.from(chars.join(''), 'utf8').toString('hex'));
    for (const bad of [String.raw`\u12`, String.raw`\ud83d`, String.raw`\ude00`, String.raw`\x`]) expect(unescape(bad).status).toBe(9);
  });

  test('aemkeys_u_inflate_all, its step failed and redone jar by jar, leaves its caller\'s j (the jar it adds next) as it was', () => {
    const r = spawnSync('bash', ['-c', `. '${path.join(SCRIPTS, 'aem-keys-common.sh')}'
aemkeys_u_inflate() { (( $# == 1 )) && [[ $1 != 1 ]] && printf '%s ' "$1"; }
caller() { local j=7; aemkeys_u_inflate_all 0 1 2; printf 'j=%s' "$j"; }
caller`], { encoding: 'utf8' });
    expect(r.stderr).toBe('');
    expect(r.stdout).toBe('0 2 j=7');
  });

  describe('aemkeys_worker_read: a worker answer of LEN bytes, within SECONDS', () => {
    /** Runs aemkeys_worker_read LEN SECONDS on what `writer` (bash) prints; its status, the bytes read in hex, its duration. */
    const readFrom = (writer: string, len: number, seconds: number) => {
      const t0 = Date.now();
      const r = spawnSync('bash', ['-c', `. '${path.join(SCRIPTS, 'aem-keys-common.sh')}'
exec {AEMKEYS_WR}< <(${writer})
writer=$!
aemkeys_worker_read ${len} ${seconds}
rc=$?
kill "$writer" 2>/dev/null
printf '%s %s' "$rc" "$(printf '%s' "$AEMKEYS_OUT" | od -An -v -tx1 | tr -d ' \n')"`], { encoding: 'utf8' });
      const [status, hex] = r.stdout.split(' ');
      return { status: Number(status), bytes: Buffer.from(hex ?? '', 'hex'), ms: Date.now() - t0, stderr: r.stderr };
    };
    /** The writer then keeps its end of the pipe open, writing nothing more. */
    const hang = 'exec sleep 20 2>/dev/null';

    test.each([100, 60_000])('%s bytes ending in newlines arrive whole, the newlines kept, nothing more', (len) => {
      const r = readFrom(`head -c ${len - 3} /dev/zero | tr '\\0' a; printf '\\n\\n\\nnext'; ${hang}`, len, 5);
      expect(r).toMatchObject({ status: 0, stderr: '' });
      expect(r.bytes.toString()).toBe(`${'a'.repeat(len - 3)}\n\n\n`);
    });

    test.each([100, 60_000])('%s bytes, of which only some come: fails after SECONDS', (len) => {
      const r = readFrom(`printf abc; ${hang}`, len, 1);
      expect(r.status).toBe(1);
      expect(r.ms).toBeLessThan(10_000);
      expect(r.stderr).toBe('');
    });

    test('a long answer cut short: the bytes that came (the caller checks the length)', () => {
      const r = readFrom('printf "%05000d" 0', 60_000, 5);
      expect(r.status).toBe(0);
      expect(r.bytes.length).toBe(5000);
    });
  });

  test('aemkeys_scan_bundles keeps folders bundle<1 to 19 digits> with a numeric id, not uninstalled, and names them by location', () => {
    const records = [
      ['bundle1', '1', 'launchpad:resources/install/0/com.adobe.granite.crypto.file-1.0.18.jar', '32'],
      ['bundle22', '22', 'slinginstall:com.adobe.granite.crypto-3.0.4.CQ650-B0002.jar', '4'],
      ['bundle3', '3', 'jcrinstall:/libs/x/install/org.example.no-version.jar', '32'],
      ['bundle4', '4', 'slinginstall:org.example.gone-1.0.jar', '1'],
      [`bundle${'9'.repeat(19)}`, '5', 'slinginstall:org.example.long-1.0.jar', '32'],
      [`bundle${'9'.repeat(20)}`, '6', 'slinginstall:org.example.toolong-1.0.jar', '32'],
      ['bundle', '7', 'slinginstall:org.example.noid-1.0.jar', '32'],
      ['bundle8x', '8', 'slinginstall:org.example.letter-1.0.jar', '32'],
      ['Bundle9', '9', 'slinginstall:org.example.case-1.0.jar', '32'],
      ['bundle10', '1O', 'slinginstall:org.example.badid-1.0.jar', '32'],
      ['bundle11', '', 'slinginstall:org.example.noid-1.0.jar', '32'],
    ].map((r) => r.join('\x1f')).join('\n');
    const r = spawnSync('bash', ['-c', `. '${path.join(SCRIPTS, 'aem-keys-common.sh')}'
aemkeys_user_out() { AEMKEYS_RC=0 AEMKEYS_OUT=$1; }
AEMKEYS_OUT=''
aemkeys_user_out "$(printf '${records}')"
out=$AEMKEYS_OUT
aemkeys_user_out() { AEMKEYS_RC=0 AEMKEYS_OUT=$out; }
aemkeys_scan_bundles /felix
for i in "\${!AEMKEYS_B_DIR[@]}"; do printf '%s %s %s %s\\n' "\${AEMKEYS_B_DIR[i]}" "\${AEMKEYS_B_ID[i]}" "\${AEMKEYS_B_STATE[i]}" "\${AEMKEYS_B_NAME[i]}"; done`],
    { encoding: 'utf8' });
    expect(r.stderr).toBe('');
    expect(r.stdout.trim().split('\n')).toEqual([
      '/felix/bundle1 1 32 com.adobe.granite.crypto.file',
      '/felix/bundle22 22 4 com.adobe.granite.crypto',
      '/felix/bundle3 3 32 org.example.no-version',
      `/felix/bundle${'9'.repeat(19)} 5 32 org.example.long`,
    ]);
  });

  test('a script without the modules markers is refused at synth time', () => {
    expect(() => embedShellScript('aem-keys-json.sh', [])).toThrow(/ENOENT/);
    expect(() => embedShellScript('aem-keys-http.sh', [])).toThrow(/aem-keys-http.sh: missing the "# >>> modules" \/ "# <<< modules" markers/);
  });

  // Issue 20: bash in small modules, short functions, short lines.
  test.each(fs.readdirSync(SCRIPTS))(`%s: at most 500 lines, none over ${SCRIPT_LINE_MAX} characters, no function over 80 lines`, (file) => {
    const lines = fs.readFileSync(path.join(SCRIPTS, file), 'utf8').split('\n');
    expect(lines.length).toBeLessThanOrEqual(500);
    expect(lines.filter((l) => l.length > SCRIPT_LINE_MAX)).toEqual([]);
    const long: string[] = [];
    let start = -1;
    lines.forEach((l, i) => {
      if (/^[A-Za-z_][A-Za-z0-9_]*\(\) \{$/.test(l)) start = i;
      if (l === '}' && start >= 0) {
        if (i - start + 1 > 80) long.push(`${lines[start]} ${i - start + 1} lines`);
        start = -1;
      }
    });
    expect(long).toEqual([]);
  });

  test('one lookup of the crypto bundles for all three scripts', () => {
    for (const file of MAIN_SCRIPTS) {
      const text = code(file);
      expect({ file, locates: text.includes('aemkeys_locate_crypto_bundles ') }).toEqual({ file, locates: true });
      expect({ file, finds: /aemkeys_(find_bundle|scan_bundles|felix_dir) /.test(text) }).toEqual({ file, finds: false });
    }
  });
});

describeWithTools(['shellcheck'], 'shellcheck', () => {
  // Every file, following the modules each sources (-x; `# shellcheck source=` directives), with no
  // check switched off but on single lines, each with its reason.
  test('no warning or error in any script', () => {
    const files = fs.readdirSync(SCRIPTS).map((f) => path.join(SCRIPTS, f));
    const r = spawnSync('shellcheck', ['-s', 'bash', '-S', 'warning', '-x', ...files], { encoding: 'utf8' });
    expect(r.stdout).toBe('');
    expect(r.status).toBe(0);
  });

  test('every check switched off is switched off on one line, with its reason', () => {
    const disables = fs.readdirSync(SCRIPTS).flatMap((f) => fs.readFileSync(path.join(SCRIPTS, f), 'utf8').split('\n'))
      .filter((l) => /shellcheck\s+disable=/.test(l));
    expect(disables.length).toBeGreaterThan(0);
    expect(disables.filter((l) => !/^\s*# shellcheck disable=SC\d{4} # \S/.test(l))).toEqual([]);
  });
});
