/**
 * The embedded form of an on-instance script, as it travels in an SSM document: its comments and
 * blank lines removed, and of the modules' functions only those the script calls (directly or
 * through other functions). Nothing else changes: names, lines and their order stay as in the
 * sources (`scripts/` beside this module), so what runs on an instance greps back to them.
 * Leading whitespace is removed too when `indent` is false (the documents' size, see
 * shell-script-document.ts).
 *
 * Lines inside a multi-line quoted string, a here-document body, or after a line continuation are
 * kept byte for byte, so compacting never changes what bash executes.
 */

/** Where a line starts, for the compactor: plain code, or inside something that must stay verbatim. */
interface ScanState {
  /** Open quoting contexts, innermost last: `'` single, `"` double, `$'` ANSI-C, `(` a `$(…)` in code. */
  readonly stack: string[];
  /** Paren depth of each open `$(…)` context (same length as the count of `(` in `stack`), plus the top level. */
  readonly depth: number[];
  /** Here-document terminators still to come (`-` prefix: `<<-`, leading tabs allowed). */
  readonly heredocs: string[];
  /** The previous line ended in a backslash continuation. */
  continued: boolean;
  /** Where a comment starts on the line last scanned, or -1. */
  commentAt: number;
}

function freshState(): ScanState {
  return { stack: [], depth: [0], heredocs: [], continued: false, commentAt: -1 };
}

const WORD_START = /[\s;&|()]/;
const HEREDOC = /^<<(-?)[ \t]*(?:'([A-Za-z_][A-Za-z0-9_]*)'|"([A-Za-z_][A-Za-z0-9_]*)"|\\?([A-Za-z_][A-Za-z0-9_]*))/;

/** Updates `state` with one line of shell (not a here-document body line). */
function scanLine(line: string, state: ScanState): void {
  const { stack, depth } = state;
  const top = () => stack[stack.length - 1];
  let i = 0;
  state.continued = false;
  state.commentAt = -1;
  while (i < line.length) {
    const c = line[i];
    const ctx = top();
    if (ctx === "'") {
      if (c === "'") stack.pop();
      i++;
      continue;
    }
    if (ctx === "$'") {
      if (c === '\\') { i += 2; continue; }
      if (c === "'") stack.pop();
      i++;
      continue;
    }
    if (c === '\\') {
      if (i === line.length - 1 && ctx !== '"') state.continued = true;
      i += 2;
      continue;
    }
    if (ctx === '"') {
      if (c === '"') stack.pop();
      else if (c === '$' && line[i + 1] === '(') { stack.push('('); depth.push(0); i += 2; continue; }
      i++;
      continue;
    }
    // Code: the top level or inside $(…).
    if (c === '#' && (i === 0 || WORD_START.test(line[i - 1]))) { state.commentAt = i; return; } // a comment: the rest of the line is not code
    if (c === "'") { stack.push("'"); i++; continue; }
    if (c === '"') { stack.push('"'); i++; continue; }
    if (c === '$' && line[i + 1] === "'") { stack.push("$'"); i += 2; continue; }
    if (c === '$' && line[i + 1] === '(') { stack.push('('); depth.push(0); i += 2; continue; }
    if (c === '(') { depth[depth.length - 1]++; i++; continue; }
    if (c === ')') {
      if (depth[depth.length - 1] > 0) depth[depth.length - 1]--;
      else if (ctx === '(') { stack.pop(); depth.pop(); }
      i++;
      continue;
    }
    if (c === '<' && line[i + 1] === '<' && line[i + 2] !== '<' && (i === 0 || line[i - 1] !== '<')) {
      const m = HEREDOC.exec(line.slice(i));
      if (m) {
        const word = m[2] ?? m[3] ?? m[4];
        state.heredocs.push(`${m[1]}${word}`);
        i += m[0].length;
        continue;
      }
    }
    i++;
  }
}

function endsHeredoc(line: string, terminator: string): boolean {
  return terminator.startsWith('-') ? line.replace(/^\t+/, '') === terminator.slice(1) : line === terminator;
}

/**
 * `lines` without full-line comments, trailing comments, blank lines and trailing whitespace, and
 * without indentation unless `indent`, except where that could change the script (inside strings
 * and here-documents, after continuations). Throws when the lines end inside a string or a
 * here-document (`what` names the script in the error).
 */
export function compactShell(lines: readonly string[], what: string, indent = false): string[] {
  const out: string[] = [];
  const state = freshState();
  let heredoc: string | undefined;
  let previous = '';
  for (const line of lines) {
    if (heredoc !== undefined) {
      out.push(line);
      if (endsHeredoc(line, heredoc)) heredoc = state.heredocs.shift();
      continue;
    }
    // Inside a quoted string (not in a `$(...)` within one, which is code again).
    const innermost = state.stack[state.stack.length - 1];
    const inString = innermost !== undefined && innermost !== '(';
    const continued = state.continued;
    scanLine(line, state);
    if (inString) {
      out.push(line);
    } else if (continued) {
      // After "word \" the indentation only separates words: one space is as good. A blank or
      // comment line here ends the command, so it stays.
      const code = indent ? line.trimEnd() : line.trim();
      out.push(/[ \t]\\$/.test(previous) && code.trim() !== '' && !code.trim().startsWith('#') ? code : line);
    } else {
      // A trailing comment goes too (the scanner found where it starts, outside any string).
      const kept = state.commentAt >= 0 ? line.slice(0, state.commentAt) : line;
      const code = indent ? kept.trimEnd() : kept.trim();
      if (code.trim() === '') continue;
      out.push(code);
    }
    previous = line;
    heredoc = state.heredocs.shift();
  }
  if (heredoc !== undefined || state.stack.length > 0 || state.continued) {
    throw new Error(`${what}: cannot compact the script: it ends inside a string, a $(...), a here-document or a continued line`);
  }
  return out;
}

/** A top-level piece of the shared functions file: one function definition, or other lines. */
interface Block {
  readonly name?: string;
  readonly lines: string[];
}

const FUNCTION_START = /^([A-Za-z_][A-Za-z0-9_]*)\(\)\s*\{\s*$/;

/** Splits a functions file into function definitions (`name() {` … `}` at column 0) and the rest. */
function splitFunctions(lines: readonly string[], what: string): Block[] {
  const blocks: Block[] = [];
  let other: string[] = [];
  for (let i = 0; i < lines.length; i++) {
    const m = FUNCTION_START.exec(lines[i]);
    if (!m) { other.push(lines[i]); continue; }
    const end = lines.indexOf('}', i + 1);
    if (end < 0) throw new Error(`${what}: function ${m[1]} has no closing "}" at column 0`);
    if (other.length > 0) blocks.push({ lines: other });
    other = [];
    blocks.push({ name: m[1], lines: lines.slice(i, end + 1) });
    i = end;
  }
  if (other.length > 0) blocks.push({ lines: other });
  return blocks;
}

function mentions(text: string, name: string): boolean {
  return new RegExp(`(^|[^A-Za-z0-9_])${name}([^A-Za-z0-9_]|$)`, 'm').test(text);
}

/** Names built at run time (`prefix_$x`): every function starting with such a prefix counts as used. */
function dynamicPrefixes(text: string): string[] {
  return [...text.matchAll(/([A-Za-z_][A-Za-z0-9_]*)\$\{?[A-Za-z_]/g)].map((m) => m[1]);
}

/** A top-level line assigning a variable (`NAME=…` or `NAME+=…`): the name. */
const ASSIGNMENT = /^([A-Za-z_][A-Za-z0-9_]*)\+?=/;

/**
 * The compacted functions and constants of the modules `common` (each file's lines, in order)
 * that `script` needs (`indent`: see `compactShell`): each function the script (or a needed function) names, and each top-level
 * assignment of a variable named there (its other top-level lines always), in the modules' order.
 */
export function usedFunctions(
  script: readonly string[], common: ReadonlyArray<{ file: string; lines: readonly string[] }>, indent = false,
): string[] {
  const blocks = common.flatMap(({ file, lines }) => splitFunctions(lines, file).flatMap((b) => {
    const code = compactShell(b.lines, `${file}: ${b.name ?? 'top level'}`, indent);
    if (b.name !== undefined) return [{ name: b.name, isFunction: true, code }];
    // Top level: one block per line, named after the variable it assigns (if it does).
    return code.map((l) => ({ name: ASSIGNMENT.exec(l)?.[1], isFunction: false, code: [l] }));
  }));
  const needed = new Set<string>();
  const queue = [script.join('\n'), ...blocks.filter((b) => b.name === undefined).map((b) => b.code.join('\n'))];
  while (queue.length > 0) {
    const text = queue.pop()!;
    const prefixes = dynamicPrefixes(text);
    for (const b of blocks) {
      if (b.name === undefined || needed.has(b.name)) continue;
      if (mentions(text, b.name) || (b.isFunction && prefixes.some((p) => b.name!.startsWith(p)))) {
        needed.add(b.name);
        queue.push(blocks.filter((o) => o.name === b.name).flatMap((o) => o.code).join('\n'));
      }
    }
  }
  return blocks.filter((b) => b.name === undefined || needed.has(b.name)).flatMap((b) => b.code);
}
