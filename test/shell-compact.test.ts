import { spawnSync } from 'child_process';
import * as fs from 'fs';
import * as path from 'path';
import { embedShellScript } from '../lib/private/shell-script-document';
import { compactShell, usedFunctions } from '../lib/private/shell-compact';

const SCRIPTS = path.join(__dirname, '..', 'lib', 'scripts');
const MAIN_SCRIPTS = ['install-keys.sh', 'export-keys.sh', 'migrate-jcr-keys.sh'];

function bash(script: string): { stdout: string; status: number | null } {
  const r = spawnSync('bash', ['-c', script], { encoding: 'utf8' });
  return { stdout: r.stdout + r.stderr, status: r.status };
}

// Everything the compactor must leave alone, and plenty it may drop.
const TRICKY = [
  '#!/bin/bash',
  '# a comment',
  'set -u',
  '   # an indented comment',
  '',
  'f() {',
  '  local x="a # not a comment"',
  "  printf '%s\\n' \"$x\" # don't (a trailing comment with a quote)",
  '}',
  'f',
  'multi="first line',
  '    # second line, inside the string',
  '    indented third"',
  'printf "[%s]\\n" "$multi"',
  "single='one",
  '  # two',
  "  three'",
  'printf "[%s]\\n" "$single"',
  'cat <<EOF',
  '  # heredoc line kept',
  '    indented $multi',
  'EOF',
  "cat <<'END' | cat",
  '  # quoted heredoc, $HOME not expanded',
  'END',
  'cat <<-TABS',
  '\t# tab-stripped heredoc',
  '\tTABS',
  'printf "%s\\n" a\\',
  '  b',
  'printf "%s\\n" c \\',
  '    d',
  'echo one \\',
  '  # a comment line that ends the continued command',
  'echo two',
  'arr=(1 2 3); echo "${#arr[@]} $(( 1 << 3 )) $(printf "%s" "$(echo "nested # x")")"',
  'case x in',
  '  x) echo "case #1" ;;',
  'esac',
  "echo $'ansi \\' # still in the string'",
];

describe('compactShell', () => {
  test('the compacted script prints exactly what the original prints', () => {
    const original = bash(TRICKY.join('\n'));
    const compacted = compactShell(TRICKY.slice(1), 'tricky');
    const after = bash([TRICKY[0], ...compacted].join('\n'));
    expect(original.status).toBe(0);
    expect(after).toEqual(original);
    expect(original.stdout).toContain('# heredoc line kept');
    expect(original.stdout).toContain('# second line, inside the string');
  });

  test('it drops comment lines, blank lines and indentation outside strings and here-documents', () => {
    const compacted = compactShell(TRICKY.slice(1), 'tricky');
    expect(compacted).not.toContain('# a comment');
    expect(compacted).not.toContain('   # an indented comment');
    expect(compacted).not.toContain('');
    expect(compacted).toContain('local x="a # not a comment"');
    expect(compacted).toContain('    # second line, inside the string');
    expect(compacted).toContain('  # heredoc line kept');
    expect(compacted).toContain('\t# tab-stripped heredoc');
    // After a continuation the line stays as it is (dropping it would join two commands).
    expect(compacted).toContain('  # a comment line that ends the continued command');
    expect(compacted).toContain('d');
    expect(compacted).toContain('  b');
  });

  test('a script ending inside a string or a here-document is refused', () => {
    expect(() => compactShell(['echo "open', 'still open'], 'bad.sh')).toThrow('bad.sh: cannot compact the script');
    expect(() => compactShell(['cat <<EOF', 'body'], 'bad.sh')).toThrow('bad.sh: cannot compact the script');
  });
});

describe('usedFunctions', () => {
  const common = [
    '# header',
    "C_CONST='kept always'",
    '# a: calls b',
    'a() {',
    '  b "$@"',
    '}',
    'b() {',
    '  echo "b $*"',
    '}',
    'unused() {',
    '  echo never',
    '}',
    'dyn_one() {',
    '  echo one',
    '}',
  ];

  test('keeps the top-level lines and the functions the script reaches, directly or through others', () => {
    const out = usedFunctions(['a x'], common, 'common.sh');
    expect(out).toEqual(["C_CONST='kept always'", 'a() {', 'b "$@"', '}', 'b() {', 'echo "b $*"', '}']);
    expect(bash([...out, 'a x'].join('\n')).stdout).toBe('b x\n');
  });

  test('a name built at run time keeps every function with that prefix', () => {
    const out = usedFunctions(['kind=one', '"dyn_$kind"'], common, 'common.sh');
    expect(out).toContain('dyn_one() {');
    expect(out).not.toContain('unused() {');
  });

  test('a name mentioned only in a comment does not count', () => {
    expect(usedFunctions(compactShell(['# unused is not called', 'true'], 's'), common, 'common.sh')).not.toContain('unused() {');
  });
});

describe.each(MAIN_SCRIPTS)('embedded %s', (file) => {
  const lines = embedShellScript(file, ['A']);
  const data = lines.indexOf('#@aem-crypto-keys-data 1');
  const code = lines.slice(2, data);
  const defined = new Set(code.map((l) => /^([a-z_][a-z0-9_]*)\(\) \{$/.exec(l)?.[1]).filter((n): n is string => n !== undefined));

  test('every shared function it calls is defined in it, and every function defined is called', () => {
    const text = code.filter((l) => !/^[a-z_][a-z0-9_]*\(\) \{$/.test(l)).join('\n');
    const called = new Set(text.match(/\baemkeys_[a-z0-9_]+/g) ?? []);
    expect([...called].filter((n) => !defined.has(n))).toEqual([]);
    expect([...defined].filter((n) => !new RegExp(`(^|[^A-Za-z0-9_])${n}([^A-Za-z0-9_]|$)`, 'm').test(text))).toEqual([]);
  });

  test('keeps the #! line and the naming comment; no other comment line, blank line or indentation', () => {
    expect(lines[0]).toBe('#!/bin/bash');
    expect(lines[1]).toMatch(new RegExp(`^# ${file.replace('.', '\\.')}: `));
    expect(code.filter((l) => l.trim() === '' || l.trimStart().startsWith('#'))).toEqual([]);
    // Indentation stays only on a line continuing one that ends in a backslash without a space.
    expect(code.filter((l, i) => /^\s/.test(l) && !/[^ \t]\\$/.test(code[i - 1]))).toEqual([]);
  });

  test('the source file keeps its comments; the embedded form is much smaller', () => {
    const source = fs.readFileSync(path.join(SCRIPTS, file), 'utf8') + fs.readFileSync(path.join(SCRIPTS, 'aem-keys-common.sh'), 'utf8');
    expect(source.split('\n').filter((l) => l.trimStart().startsWith('# ')).length).toBeGreaterThan(50);
    expect(Buffer.byteLength(lines.join('\n'))).toBeLessThan(0.8 * Buffer.byteLength(source));
  });

  test('parses with bash -n', () => {
    const r = spawnSync('bash', ['-n'], { input: lines.join('\n'), encoding: 'utf8' });
    expect(r.stderr).toBe('');
    expect(r.status).toBe(0);
  });
});
