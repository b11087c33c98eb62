/**
 * A small evaluator of CloudWatch Logs filter patterns, for the subset the constructs use:
 * - text patterns: terms separated by spaces, each a "quoted phrase" or a bare word; an event
 *   matches when it contains every term (case-sensitive), as CloudWatch Logs documents;
 * - JSON patterns: `{ ... }` with `$.a.b = "value"` comparisons, `&&`, `||` and parentheses.
 * Anything else throws, so a pattern outside the subset cannot pass a test by accident.
 */
export function matches(pattern: string, event: string): boolean {
  const p = pattern.trim();
  return p.startsWith('{') ? matchesJson(p, event) : matchesText(p, event);
}

function matchesText(pattern: string, event: string): boolean {
  const terms: string[] = [];
  const re = /\s*(?:"((?:[^"\\]|\\.)*)"|([^\s"]+))/gy;
  let m: RegExpExecArray | null;
  let at = 0;
  while (at < pattern.length && (m = re.exec(pattern)) !== null) {
    terms.push(m[1] !== undefined ? m[1].replace(/\\(.)/g, '$1') : m[2]);
    at = re.lastIndex;
  }
  if (at < pattern.trimEnd().length || terms.length === 0) throw new Error(`unsupported text pattern: ${pattern}`);
  for (const t of terms) {
    if (/^[-?[\]]/.test(t)) throw new Error(`unsupported term ${t}`);
  }
  return terms.every((t) => event.includes(t));
}

function matchesJson(pattern: string, event: string): boolean {
  let doc: unknown;
  try {
    doc = JSON.parse(event);
  } catch {
    return false;
  }
  const tokens = pattern.slice(1, -1).match(/\(|\)|&&|\|\||=|"(?:[^"\\]|\\.)*"|\$[.\w-]+|\S+/g) ?? [];
  if (!pattern.endsWith('}')) throw new Error(`unsupported JSON pattern: ${pattern}`);
  let i = 0;
  const peek = () => tokens[i];
  const next = () => tokens[i++];
  const expect = (t: string) => {
    if (next() !== t) throw new Error(`expected ${t} in ${pattern}`);
  };
  const comparison = (): boolean => {
    if (peek() === '(') {
      next();
      const v = or();
      expect(')');
      return v;
    }
    const selector = next();
    if (!selector?.startsWith('$.')) throw new Error(`expected a selector in ${pattern}, got ${selector}`);
    expect('=');
    const literal = next();
    if (!literal?.startsWith('"')) throw new Error(`only string comparisons are supported: ${pattern}`);
    const value = JSON.parse(literal);
    let node: any = doc;
    for (const key of selector.slice(2).split('.')) node = node === null || typeof node !== 'object' ? undefined : node[key];
    return node === value;
  };
  const and = (): boolean => {
    let v = comparison();
    while (peek() === '&&') {
      next();
      v = comparison() && v;
    }
    return v;
  };
  const or = (): boolean => {
    let v = and();
    while (peek() === '||') {
      next();
      v = and() || v;
    }
    return v;
  };
  const result = or();
  if (i !== tokens.length) throw new Error(`trailing tokens in ${pattern}: ${tokens.slice(i).join(' ')}`);
  return result;
}

/** How many of `events` the filter pattern matches (what the metric filter would count). */
export function countMatches(pattern: string, events: string[]): number {
  return events.filter((e) => matches(pattern, e)).length;
}
