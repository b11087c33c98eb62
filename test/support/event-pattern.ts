/**
 * EventBridge event pattern matching, for the filters this library's rules use and the common
 * others (EventBridge User Guide, "Event patterns" and "Content filtering"): a field matches when
 * the event's value (or any element of an event array) equals one of the pattern's values or
 * satisfies one of its filters: `prefix`, `suffix`, `anything-but` (value, list or `prefix`),
 * `exists`, `numeric`, `equals-ignore-case`, `wildcard`. Nested objects match field by field;
 * every field of the pattern must match. A filter it does not know throws, so a new one cannot
 * silently match nothing.
 */
export function matchesPattern(pattern: any, event: any): boolean {
  return Object.entries(pattern).every(([field, expected]) => matchField(expected, event?.[field]));
}

function matchField(expected: any, actual: any): boolean {
  if (Array.isArray(expected)) {
    const values = actual === undefined ? [] : [].concat(actual);
    return expected.some((filter) => (isExists(filter) ? filter.exists === (actual !== undefined) : values.some((v) => matchValue(filter, v))));
  }
  if (expected && typeof expected === 'object') return actual !== null && typeof actual === 'object' && matchesPattern(expected, actual);
  throw new Error(`event pattern: a field's value must be an array or an object, got ${JSON.stringify(expected)}`);
}

function isExists(filter: any): filter is { exists: boolean } {
  return filter !== null && typeof filter === 'object' && 'exists' in filter;
}

function matchValue(filter: any, value: any): boolean {
  if (filter === null || typeof filter !== 'object') return filter === value;
  const [kind, arg] = Object.entries(filter)[0] as [string, any];
  const text = typeof value === 'string' ? value : undefined;
  switch (kind) {
    case 'prefix': return text !== undefined && text.startsWith(arg);
    case 'suffix': return text !== undefined && text.endsWith(arg);
    case 'equals-ignore-case': return text !== undefined && text.toLowerCase() === String(arg).toLowerCase();
    case 'wildcard': return text !== undefined && new RegExp(`^${String(arg).split('*').map(escape).join('.*')}$`).test(text);
    case 'anything-but':
      if (arg && typeof arg === 'object' && !Array.isArray(arg)) return !matchValue(arg, value);
      return ![].concat(arg).includes(value as never);
    case 'numeric': return typeof value === 'number' && numeric(arg, value);
    default: throw new Error(`event pattern: unknown filter ${kind}`);
  }
}

function numeric(conditions: any[], value: number): boolean {
  for (let i = 0; i < conditions.length; i += 2) {
    const [op, bound] = [conditions[i], conditions[i + 1]];
    const ok = op === '<' ? value < bound : op === '<=' ? value <= bound : op === '>' ? value > bound
      : op === '>=' ? value >= bound : op === '=' ? value === bound : false;
    if (!ok) return false;
  }
  return true;
}

function escape(text: string): string {
  return text.replace(/[.*+?^${}()|[\]\\]/g, '\\$&');
}
