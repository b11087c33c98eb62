/**
 * The dependency graph of a synthesized template: which logical IDs a resource refers to
 * (Ref, Fn::GetAtt, ${} in Fn::Sub, DependsOn), whether one resource waits for another, and
 * dependency cycles.
 */

/** Every logical ID a CloudFormation value refers to (Ref, GetAtt, ${} in Sub, DependsOn). */
export function references(value: any, out = new Set<string>()): Set<string> {
  if (Array.isArray(value)) {
    value.forEach((v) => references(v, out));
  } else if (value && typeof value === 'object') {
    for (const [k, v] of Object.entries(value)) {
      if (k === 'Ref' && typeof v === 'string') out.add(v);
      else if (k === 'Fn::GetAtt') out.add(Array.isArray(v) ? String(v[0]) : String(v).split('.')[0]);
      else if (k === 'Fn::Sub') {
        const text = Array.isArray(v) ? v[0] : v;
        for (const m of String(text).matchAll(/\$\{([A-Za-z0-9]+)[.}]/g)) out.add(m[1]);
        if (Array.isArray(v)) references(v[1], out);
      } else if (k === 'DependsOn') [].concat(v as any).forEach((d) => out.add(d));
      else references(v, out);
    }
  }
  return out;
}

/** True when CloudFormation creates `to` before `from` (a path of references from `from` to `to`). */
export function waitsFor(resources: Record<string, any>, from: string, to: string): boolean {
  const seen = new Set<string>();
  const todo = [from];
  while (todo.length > 0) {
    const id = todo.pop()!;
    for (const next of references(resources[id])) {
      if (next === to) return true;
      if (next in resources && !seen.has(next)) {
        seen.add(next);
        todo.push(next);
      }
    }
  }
  return false;
}

/** A dependency cycle among the resources, if any (DFS over Ref/GetAtt/Sub/DependsOn edges). */
export function findCycle(resources: Record<string, any>): string[] | undefined {
  const state = new Map<string, 'visiting' | 'done'>();
  const visit = (id: string, stack: string[]): string[] | undefined => {
    if (state.get(id) === 'done') return undefined;
    if (state.get(id) === 'visiting') return [...stack, id];
    state.set(id, 'visiting');
    for (const next of references(resources[id])) {
      if (next in resources && next !== id) {
        const cycle = visit(next, [...stack, id]);
        if (cycle) return cycle;
      }
    }
    state.set(id, 'done');
    return undefined;
  };
  for (const id of Object.keys(resources)) {
    const cycle = visit(id, []);
    if (cycle) return cycle;
  }
  return undefined;
}

/** Logical IDs of the resources of `type`, optionally only those whose construct path holds `pathPart`. */
export function idsOf(resources: Record<string, any>, type: string, pathPart = ''): string[] {
  return Object.entries(resources)
    .filter(([, r]) => r.Type === type && (r.Metadata?.['aws:cdk:path'] ?? '').includes(pathPart))
    .map(([id]) => id);
}
