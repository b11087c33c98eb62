import { Token } from 'aws-cdk-lib';

/** SSM's limit for a document's content, runtime parameter values included. */
export const SSM_DOCUMENT_MAX_BYTES = 65_536;

/** What the size bound needs to know of one document parameter. */
export interface SizedParameter {
  readonly default?: unknown;
  readonly allowedPattern?: string;
  readonly allowedValues?: string[];
}

/**
 * The most bytes one value matching the regular expression `pattern` can take in JSON (escaped,
 * UTF-8). Supports what document patterns use: anchors, groups, alternation, classes, escapes and
 * bounded quantifiers. Throws for a pattern that allows unbounded values (`*`, `+`, `{n,}`).
 */
export function maxJsonBytes(pattern: string): number {
  let i = 0;
  const fail = (why: string): never => {
    throw new Error(`pattern ${pattern}: ${why}`);
  };
  // Bytes one character can take in JSON: 1 for plain ASCII, 2 for " and \, 6 for control
  // characters (\u00XX), which also covers multi-byte UTF-8.
  const charBytes = (chars: string, negated: boolean): number => {
    if (negated) return 6;
    return /["\\]/.test(chars) ? 2 : 1;
  };
  const classAt = (): number => {
    i++; // [
    const negated = pattern[i] === '^';
    if (negated) i++;
    let chars = '';
    let first = true;
    while (i < pattern.length && (pattern[i] !== ']' || first)) {
      if (pattern[i] === '\\') {
        const e = pattern[i + 1];
        chars += /[dwsDWS]/.test(e) ? (/[DWS]/.test(e) ? '\u0000' : '') : e;
        i += 2;
      } else {
        chars += pattern[i++];
      }
      first = false;
    }
    if (pattern[i] !== ']') fail('unterminated character class');
    i++;
    // eslint-disable-next-line no-control-regex -- a class with control characters is escaped longer
    return /[\u0000-\u001f]/.test(chars) ? 6 : charBytes(chars, negated);
  };
  const atom = (): number => {
    const c = pattern[i];
    if (c === '(') {
      i++;
      if (pattern.startsWith('?:', i)) i += 2;
      const n = alternation();
      if (pattern[i] !== ')') fail('unbalanced parenthesis');
      i++;
      return n;
    }
    if (c === '[') return classAt();
    if (c === '\\') {
      const e = pattern[i + 1];
      i += 2;
      return /[DWS]/.test(e) ? 6 : e === '"' || e === '\\' ? 2 : 1;
    }
    i++;
    if (c === '.') return 6;
    return c === '"' ? 2 : 1;
  };
  const quantified = (n: number): number => {
    const c = pattern[i];
    if (c === '*' || c === '+') fail('unbounded repetition (give it a maximum, e.g. {0,255})');
    if (c === '?') { i++; return n; }
    if (c === '{') {
      const m = /^\{(\d+)(,(\d*))?\}/.exec(pattern.slice(i));
      if (!m) return n;
      if (m[2] !== undefined && m[3] === '') fail('unbounded repetition (give it a maximum, e.g. {0,255})');
      i += m[0].length;
      return n * Number(m[3] ?? m[1]);
    }
    return n;
  };
  const sequence = (): number => {
    let total = 0;
    while (i < pattern.length && pattern[i] !== '|' && pattern[i] !== ')') {
      if (pattern[i] === '^' || pattern[i] === '$') { i++; continue; }
      total += quantified(atom());
    }
    return total;
  };
  function alternation(): number {
    let best = sequence();
    while (pattern[i] === '|') {
      i++;
      best = Math.max(best, sequence());
    }
    return best;
  }
  const n = alternation();
  if (i !== pattern.length) fail('unbalanced parenthesis');
  return n;
}

function maxValueBytes(name: string, p: SizedParameter): number {
  if (p.allowedValues) return Math.max(...p.allowedValues.map((v) => Buffer.byteLength(JSON.stringify(v)) - 2));
  if (p.allowedPattern) return maxJsonBytes(p.allowedPattern);
  throw new Error(`parameter ${name} has neither allowedPattern nor allowedValues, so its values are unbounded`);
}

/**
 * Whether a parameter's default is only known at deploy time: a token, or (in a synthesized
 * template) the CloudFormation intrinsic it became, e.g. `{ "Ref": "KeysSecret…" }`.
 */
function isDeployTime(value: unknown): boolean {
  return Token.isUnresolved(value) || (typeof value === 'object' && value !== null);
}

/**
 * The most bytes `content` can take when SSM runs it: the JSON of the whole content, with each
 * deploy-time default (see `isDeployTime`) and each `{{ Name }}` reference counted at the longest
 * value the parameter's pattern or values allow. The same for the content a construct builds and
 * for that content read back from the synthesized template.
 */
export function documentContentBound(content: Record<string, any>): number {
  const parameters: Record<string, SizedParameter> = content.parameters ?? {};
  const longest = Object.fromEntries(Object.entries(parameters).map(([name, p]) => [name, maxValueBytes(name, p)]));
  const measured = {
    ...content,
    parameters: Object.fromEntries(Object.entries(parameters).map(([name, p]) => [name,
      isDeployTime(p.default) ? { ...p, default: 'x'.repeat(longest[name]) } : p])),
  };
  const text = JSON.stringify(measured);
  let bytes = Buffer.byteLength(text);
  for (const m of text.matchAll(/\{\{ *([A-Za-z0-9_]+) *\}\}/g)) {
    if (m[1] in longest) bytes += longest[m[1]] - m[0].length;
  }
  return bytes;
}

/** Throws when `content` can exceed SSM's 65,536 bytes (see `documentContentBound`); `what` names the document. */
export function checkDocumentSize(content: Record<string, any>, what: string): number {
  const bytes = documentContentBound(content);
  if (bytes > SSM_DOCUMENT_MAX_BYTES) {
    throw new Error(`${what}: the document's content can reach ${bytes} bytes with the longest parameter values its patterns allow, `
      + `over the ${SSM_DOCUMENT_MAX_BYTES} bytes SSM accepts (shorten the script, tokenHandlerProperties or the parameter patterns)`);
  }
  return bytes;
}
