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
  return new PatternBound(pattern).bytes();
}

/**
 * The most bytes one character can take in JSON: a control character (\u00XX), which also covers
 * multi-byte UTF-8 (plain ASCII takes 1, `"` and `\` take 2).
 */
const ANY_CHAR_BYTES = 6;

/** A recursive-descent reading of one pattern: each method reads one part at `i` and returns the bytes of its longest value. */
class PatternBound {
  private i = 0;

  constructor(private readonly pattern: string) {}

  public bytes(): number {
    const n = this.alternation();
    if (this.i !== this.pattern.length) this.fail('unbalanced parenthesis');
    return n;
  }

  private fail(why: string): never {
    throw new Error(`pattern ${this.pattern}: ${why}`);
  }

  /** `a|b|c`: the longest branch. */
  private alternation(): number {
    let best = this.sequence();
    while (this.pattern[this.i] === '|') {
      this.i++;
      best = Math.max(best, this.sequence());
    }
    return best;
  }

  /** Quantified atoms up to `|`, `)` or the end; anchors take no bytes. */
  private sequence(): number {
    const p = this.pattern;
    let total = 0;
    while (this.i < p.length && p[this.i] !== '|' && p[this.i] !== ')') {
      if (p[this.i] === '^' || p[this.i] === '$') {
        this.i++;
        continue;
      }
      total += this.quantified(this.atom());
    }
    return total;
  }

  /** `n` bytes repeated as the quantifier after them allows at most. */
  private quantified(n: number): number {
    const c = this.pattern[this.i];
    if (c === '*' || c === '+') this.fail('unbounded repetition (give it a maximum, e.g. {0,255})');
    if (c === '?') {
      this.i++;
      return n;
    }
    if (c !== '{') return n;
    const m = /^\{(\d+)(,(\d*))?\}/.exec(this.pattern.slice(this.i));
    if (!m) return n;
    if (m[2] !== undefined && m[3] === '') this.fail('unbounded repetition (give it a maximum, e.g. {0,255})');
    this.i += m[0].length;
    return n * Number(m[3] ?? m[1]);
  }

  /** A group, a class, an escape or one character. */
  private atom(): number {
    const c = this.pattern[this.i];
    if (c === '(') return this.group();
    if (c === '[') return this.characterClass();
    if (c === '\\') {
      const e = this.pattern[this.i + 1];
      this.i += 2;
      return /[DWS]/.test(e) ? ANY_CHAR_BYTES : e === '"' || e === '\\' ? 2 : 1;
    }
    this.i++;
    if (c === '.') return ANY_CHAR_BYTES;
    return c === '"' ? 2 : 1;
  }

  private group(): number {
    this.i++; // (
    if (this.pattern.startsWith('?:', this.i)) this.i += 2;
    const n = this.alternation();
    if (this.pattern[this.i] !== ')') this.fail('unbalanced parenthesis');
    this.i++;
    return n;
  }

  /** `[...]`: the bytes of its longest character; a negated class may hold anything. */
  private characterClass(): number {
    const p = this.pattern;
    this.i++; // [
    const negated = p[this.i] === '^';
    if (negated) this.i++;
    let chars = '';
    let first = true;
    while (this.i < p.length && (p[this.i] !== ']' || first)) {
      if (p[this.i] === '\\') {
        const e = p[this.i + 1];
        chars += /[dwsDWS]/.test(e) ? (/[DWS]/.test(e) ? '\u0000' : '') : e;
        this.i += 2;
      } else {
        chars += p[this.i++];
      }
      first = false;
    }
    if (p[this.i] !== ']') this.fail('unterminated character class');
    this.i++;
    // eslint-disable-next-line no-control-regex -- a class with control characters is escaped longer
    if (negated || /[\u0000-\u001f]/.test(chars)) return ANY_CHAR_BYTES;
    return /["\\]/.test(chars) ? 2 : 1;
  }
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
