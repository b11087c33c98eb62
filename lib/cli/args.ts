/**
 * Plain argument parsing for `aem-keys` (no dependencies).
 *
 * Every problem with the command line is a `UsageError`: the CLI prints its message as one line
 * on stderr and exits 2.
 */

/** A bad command line. */
export class UsageError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'UsageError';
  }
}

/** One option a command accepts. */
export interface OptionSpec {
  /** Long name without the dashes, e.g. `secret`. */
  readonly name: string;
  /** `string` takes a value (`--x v` or `--x=v`); `boolean` takes none. */
  readonly type: 'string' | 'boolean';
  /** The value's placeholder in help, e.g. `ARN`. */
  readonly metavar?: string;
  readonly required?: boolean;
  /** May be given more than once (values collected in order). */
  readonly repeatable?: boolean;
  readonly help: string;
}

/** Parsed options: strings, string lists (repeatable) or booleans. */
export type ParsedOptions = Record<string, string | string[] | boolean | undefined>;

/** Options every command accepts. */
export const GLOBAL_OPTIONS: OptionSpec[] = [
  { name: 'region', type: 'string', metavar: 'REGION', help: 'AWS region (default: the secret ARN\'s region, then AWS_REGION / the profile)' },
  { name: 'endpoint-url', type: 'string', metavar: 'URL', help: 'Send AWS API calls to this endpoint (default: AWS_ENDPOINT_URL, else AWS)' },
  { name: 'json', type: 'boolean', help: 'Print the result as one JSON document on stdout' },
  { name: 'help', type: 'boolean', help: 'Show help' },
];

/**
 * Parses `argv` (after the command name) against `specs`. Unknown options, missing values,
 * repeated single options and stray positional arguments are usage errors.
 */
export function parseOptions(argv: string[], specs: OptionSpec[], command: string): ParsedOptions {
  const byName = new Map(specs.map((s) => [s.name, s]));
  const out: ParsedOptions = {};
  for (let i = 0; i < argv.length; i++) {
    const arg = argv[i];
    if (arg === '-h') {
      out.help = true;
      continue;
    }
    if (!arg.startsWith('--') || arg === '--') {
      throw new UsageError(`${command}: unexpected argument "${printable(arg)}" (options start with --; see aem-keys ${command} --help)`);
    }
    const eq = arg.indexOf('=');
    const name = eq >= 0 ? arg.slice(2, eq) : arg.slice(2);
    const spec = byName.get(name);
    if (!spec) {
      throw new UsageError(`${command}: unknown option --${printable(name)} (see aem-keys ${command} --help)`);
    }
    let value: string | boolean;
    if (spec.type === 'boolean') {
      if (eq >= 0) {
        const v = arg.slice(eq + 1);
        if (v !== 'true' && v !== 'false') throw new UsageError(`${command}: --${name} takes no value (or =true/=false)`);
        value = v === 'true';
      } else {
        value = true;
      }
    } else if (eq >= 0) {
      value = arg.slice(eq + 1);
    } else {
      if (i + 1 >= argv.length || (argv[i + 1].startsWith('--') && argv[i + 1].length > 2)) {
        throw new UsageError(`${command}: --${name} needs a value (${spec.metavar ?? 'VALUE'})`);
      }
      value = argv[++i];
    }
    if (typeof value === 'string' && value === '') {
      throw new UsageError(`${command}: --${name} must not be empty`);
    }
    if (spec.repeatable) {
      const list = (out[name] as string[] | undefined) ?? [];
      list.push(value as string);
      out[name] = list;
    } else {
      if (out[name] !== undefined) throw new UsageError(`${command}: --${name} given more than once`);
      out[name] = value;
    }
  }
  if (!out.help) {
    for (const spec of specs) {
      if (spec.required && out[spec.name] === undefined) {
        throw new UsageError(`${command}: missing --${spec.name} ${spec.metavar ?? ''}`.trimEnd() + ` (see aem-keys ${command} --help)`);
      }
    }
  }
  return out;
}

/** Formats the option list of a help text. */
export function formatOptions(specs: OptionSpec[]): string {
  const rows = specs.map((s) => {
    const left = `  --${s.name}${s.type === 'string' ? ` ${s.metavar ?? 'VALUE'}` : ''}`;
    const flags = [s.required ? 'required' : '', s.repeatable ? 'repeatable' : ''].filter(Boolean).join(', ');
    return [left, s.help + (flags ? ` [${flags}]` : '')];
  });
  const width = Math.max(...rows.map(([l]) => l.length)) + 2;
  return rows.map(([l, r]) => l.padEnd(width) + r).join('\n');
}

/** Keeps control characters of user input out of one-line messages. */
export function printable(s: string): string {
  // eslint-disable-next-line no-control-regex
  return s.replace(/[\x00-\x1f\x7f]/g, '?').slice(0, 200);
}

/** `arn:aws:secretsmanager:REGION:ACCOUNT:secret:NAME` (any partition), or a plain secret name. */
export function validateSecretId(value: string, command: string): { id: string; region?: string } {
  const arn = /^arn:aws[a-z-]*:secretsmanager:([a-z0-9-]+):\d{12}:secret:[A-Za-z0-9/_+=.@-]+$/.exec(value);
  if (arn) return { id: value, region: arn[1] };
  if (/^[A-Za-z0-9/_+=.@-]{1,512}$/.test(value)) return { id: value };
  throw new UsageError(`${command}: --secret must be a Secrets Manager ARN or name, got "${printable(value)}"`);
}

/** `tag:KEY=VALUE` → an SSM target. */
export function parseTargets(value: string, command: string): { Key: string; Values: string[] } {
  const m = /^tag:([^=]{1,128})=(.{1,256})$/.exec(value);
  if (!m) {
    throw new UsageError(`${command}: --targets must look like tag:KEY=VALUE, got "${printable(value)}"`);
  }
  return { Key: `tag:${m[1]}`, Values: [m[2]] };
}

/** SSM rate control: a positive count (`10`) or percentage (`10%`); `allowZero` for max errors. */
export function validateRate(value: string, option: string, command: string, allowZero: boolean): string {
  const m = /^(\d{1,7})(%?)$/.exec(value);
  const n = m ? Number(m[1]) : NaN;
  const ok = m !== null && (allowZero ? n >= 0 : n >= 1) && (m[2] !== '%' || n <= 100);
  if (!ok) {
    throw new UsageError(`${command}: --${option} must be a number or a percentage like 10%${allowZero ? '' : ' (at least 1)'}, got "${printable(value)}"`);
  }
  return value;
}

/** An EC2 instance ID (or a managed instance `mi-…`). */
export function validateInstanceId(value: string, command: string): string {
  if (!/^(i|mi)-[0-9a-f]{8,17}$/.test(value)) {
    throw new UsageError(`${command}: --instance must be an instance ID like i-0123456789abcdef0, got "${printable(value)}"`);
  }
  return value;
}

/** A positive integer option. */
export function positiveInt(value: string | undefined, option: string, command: string, fallback: number): number {
  if (value === undefined) return fallback;
  if (!/^\d{1,9}$/.test(value) || Number(value) < 1) {
    throw new UsageError(`${command}: --${option} must be a positive whole number, got "${printable(value)}"`);
  }
  return Number(value);
}

/** `Name=Value` document parameters passed through (`--param QuickstartDir=/opt/aem/publish/crx-quickstart`). */
export function parseParams(values: string[] | undefined, reserved: string[], command: string): Record<string, string[]> {
  const out: Record<string, string[]> = {};
  for (const v of values ?? []) {
    const m = /^([A-Za-z][A-Za-z0-9]{0,63})=(.*)$/s.exec(v);
    if (!m) throw new UsageError(`${command}: --param must look like Name=Value, got "${printable(v)}"`);
    if (reserved.includes(m[1])) throw new UsageError(`${command}: --param ${m[1]} is set by the command itself`);
    if (out[m[1]]) throw new UsageError(`${command}: --param ${m[1]} given more than once`);
    out[m[1]] = [m[2]];
  }
  return out;
}
