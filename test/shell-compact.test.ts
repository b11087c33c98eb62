import { spawnSync } from 'child_process';
import * as fs from 'fs';
import * as path from 'path';
import { compactShell, usedFunctions } from '../lib/private/shell-compact';
import { DATA_BLOCK_MARKER, embeddedHeader, embedShellScript, SCRIPT_LINE_MAX } from '../lib/private/shell-script-document';

const SCRIPTS = path.join(__dirname, '..', 'lib', 'scripts');
/** The modules' source lines (every aem-keys-*.sh), as one list. */
const moduleSources = () => fs.readdirSync(SCRIPTS).filter((f) => f.startsWith('aem-keys-'))
  .flatMap((f) => fs.readFileSync(path.join(SCRIPTS, f), 'utf8').split('\n'));
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
    "C_CONST='kept when named'",
    'C_LIST=(one)',
    'C_LIST+=(two)',
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

  const modules = [{ file: 'common.sh', lines: common }];

  test('keeps the functions the script reaches, directly or through others', () => {
    const out = usedFunctions(['a x'], modules);
    expect(out).toEqual(['a() {', 'b "$@"', '}', 'b() {', 'echo "b $*"', '}']);
    expect(bash([...out, 'a x'].join('\n')).stdout).toBe('b x\n');
  });

  test('a name built at run time keeps every function with that prefix', () => {
    const out = usedFunctions(['kind=one', '"dyn_$kind"'], modules);
    expect(out).toContain('dyn_one() {');
    expect(out).not.toContain('unused() {');
  });

  test('a name mentioned only in a comment does not count', () => {
    expect(usedFunctions(compactShell(['# unused is not called', 'true'], 's'), modules)).not.toContain('unused() {');
  });

  test('a top-level assignment is kept when the script or a kept function names its variable, with every line assigning it', () => {
    expect(usedFunctions(['echo "${C_LIST[@]}"'], modules)).toEqual(['C_LIST=(one)', 'C_LIST+=(two)']);
    expect(usedFunctions(['echo "$C_CONST"'], modules)).toEqual(["C_CONST='kept when named'"]);
    expect(usedFunctions(['true'], modules)).toEqual([]);
  });

  test('functions from several modules, in the modules\' order', () => {
    const two = [{ file: 'one.sh', lines: ['x() {', '  y', '}'] }, { file: 'two.sh', lines: ['y() {', '  echo y', '}'] }];
    expect(usedFunctions(['x'], two)).toEqual(['x() {', 'y', '}', 'y() {', 'echo y', '}']);
  });
});

describe('compactShell: comments and blank lines only', () => {
  test('a trailing comment is dropped from a line of code, not from a string', () => {
    expect(compactShell(['x=1   # set x', 'echo "a # b" # c', "echo '#' x#y"], 't')).toEqual(['x=1', 'echo "a # b"', "echo '#' x#y"]);
  });

  test('lines are never joined; indentation goes unless kept', () => {
    const script = ['f() {', '  local a=1', '', '  # note', '  echo "$a"', '}'];
    expect(compactShell(script, 't')).toEqual(['f() {', 'local a=1', 'echo "$a"', '}']);
    expect(compactShell(script, 't', true)).toEqual(['f() {', '  local a=1', '  echo "$a"', '}']);
  });
});

describe.each(MAIN_SCRIPTS)('embedded %s', (file) => {
  const lines = embedShellScript(file, ['A']);
  const data = lines.indexOf(DATA_BLOCK_MARKER);
  const code = lines.slice(2, data);
  const defined = new Set(code.map((l) => /^([a-z_][a-z0-9_]*)\(\) \{$/.exec(l)?.[1]).filter((n): n is string => n !== undefined));

  test('every function it calls from the modules is defined in it, and every function defined is called', () => {
    const text = code.filter((l) => !/^[a-z_][a-z0-9_]*\(\) \{$/.test(l)).join('\n');
    const called = new Set(text.match(/(?<![A-Za-z0-9_])aemkeys_[a-z][a-z0-9_]*(?=[\s;)]|$)/gm) ?? []);
    expect(called.size).toBeGreaterThan(10);
    // aemkeys_u_* and aemkeys_u8_* run in the worker (aemkeys_user_init ships them by prefix).
    expect([...called].filter((n) => !defined.has(n) && !/^aemkeys_u8?_$/.test(n))).toEqual([]);
    // Called by name, or by a name built at run time ("aemkeys_check_$check").
    const prefixes = [...text.matchAll(/([A-Za-z_][A-Za-z0-9_]*)\$\{?[A-Za-z_]/g)].map((m) => m[1]);
    expect([...defined].filter((n) => !new RegExp(`(^|[^A-Za-z0-9_])${n}([^A-Za-z0-9_]|$)`, 'm').test(text)
      && !prefixes.some((p) => n.startsWith(p)))).toEqual([]);
  });

  test('keeps the #! line, then a comment naming the script; no other comment line, blank line or indentation', () => {
    expect(lines[0]).toBe('#!/bin/bash');
    expect(lines[1]).toBe(embeddedHeader(file));
    expect(lines[1]).toMatch(new RegExp(`^# ${file.replace('.', '\\.')} of cdk-aem-crypto-keys, `));
    expect(code.filter((l) => l.trim() === '' || l.trimStart().startsWith('#'))).toEqual([]);
    // Indentation stays only on a line continuing one that ends in a backslash without a space.
    expect(code.filter((l, i) => /^\s/.test(l) && !/[^ \t]\\$/.test(code[i - 1]))).toEqual([]);
  });

  test('names and lines as in the sources: every embedded line is a line of a source, flush left', () => {
    // A line with a trailing comment is embedded without it.
    const sources = [...moduleSources(), ...fs.readFileSync(path.join(SCRIPTS, file), 'utf8').split('\n')].map((l) => l.trim());
    const exact = new Set(sources);
    expect(code.filter((l) => !exact.has(l) && !sources.some((s) => s.startsWith(`${l} `) && /^\s*#/.test(s.slice(l.length))))).toEqual([]);
    expect(code.join('\n')).not.toMatch(/(^|[^A-Za-z0-9_])_[a-z]+\(\) \{/m);
    expect(code).toContain('aemkeys_fail() {');
  });

  test(`no line over ${SCRIPT_LINE_MAX} characters`, () => {
    expect(code.filter((l) => l.length > SCRIPT_LINE_MAX)).toEqual([]);
  });

  // bash prints a function as it parsed it (declare -f): equal output means equal code, whatever
  // the compactor dropped or joined.
  test('bash parses every embedded function and constant exactly as in the sources', () => {
    const source = fs.readFileSync(path.join(SCRIPTS, file), 'utf8').replace(/\n$/, '').split('\n');
    expect(source.slice(-2)).toEqual([expect.stringMatching(/^aemkeys_[a-z]+_main "\$\{BASH_SOURCE\[0\]:-\$0\}"$/), 'exit $?']);
    expect(code.slice(-2)).toEqual([source[source.length - 2], 'exit $?']);
    const sourceDefs = [...moduleSources(), ...source.slice(0, -2)].filter((l) => !l.startsWith('. "${BASH_SOURCE[0]%/*}/')).join('\n');
    const functions = [...defined];
    let inFunction = false;
    const constants = code.flatMap((l) => {
      if (/^[a-z_][a-z0-9_]*\(\) \{$/.test(l)) inFunction = true;
      else if (l === '}') inFunction = false;
      const m = inFunction ? null : /^([A-Za-z_][A-Za-z0-9_]*)=/.exec(l);
      return m ? [m[1]] : [];
    });
    expect(functions.length).toBeGreaterThan(10);
    expect(constants.length).toBeGreaterThan(5);
    const show = (defs: string) => bash(`${defs}\ndeclare -f ${functions.join(' ')}; declare -p ${constants.join(' ')}`);
    const embedded = show(code.slice(0, -2).join('\n'));
    const fromSource = show(sourceDefs);
    expect(embedded.status).toBe(0);
    expect(fromSource.status).toBe(0);
    expect(embedded.stdout).toBe(fromSource.stdout);
  });

  test('the source file keeps its comments; the embedded form is much smaller', () => {
    const source = [fs.readFileSync(path.join(SCRIPTS, file), 'utf8'), ...moduleSources()].join('\n');
    expect(source.split('\n').filter((l) => l.trimStart().startsWith('# ')).length).toBeGreaterThan(50);
    expect(Buffer.byteLength(lines.join('\n'))).toBeLessThan(0.8 * Buffer.byteLength(source));
  });

  test('parses with bash -n', () => {
    const r = spawnSync('bash', ['-n'], { input: lines.join('\n'), encoding: 'utf8' });
    expect(r.stderr).toBe('');
    expect(r.status).toBe(0);
  });
});
