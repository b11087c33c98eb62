import * as fs from 'fs';
import * as path from 'path';
import * as ssm from 'aws-cdk-lib/aws-ssm';
import { Construct } from 'constructs';
import { checkDocumentSize } from './document-size';
import { HMAC_BYTES, MASTER_BYTES } from './key-set';
import { PARAMETER_PATTERNS } from './parameter-patterns';
import { compactShell, usedFunctions } from './shell-compact';

/**
 * What the three on-instance documents (installer, export, JCR migration) share: a shell script
 * from `scripts/` (beside this module) embedded at synth time into a Linux Command document, its
 * parameters carried in a data block that the script reads back by name and validates (never
 * executes).
 */

/** One parameter of a shell-script Command document. SSM checks its pattern; the script checks the value again. */
export interface ScriptParameter {
  /** What the parameter means. */
  readonly description: string;
  /**
   * The value used when the caller passes none.
   * @default - the caller must pass a value
   */
  readonly default?: string;
  /**
   * Regular expression SSM checks the value against.
   * @default - none (then `allowedValues` is given)
   */
  readonly allowedPattern?: string;
  /**
   * The only values SSM accepts.
   * @default - any value matching `allowedPattern`
   */
  readonly allowedValues?: string[];
}

export { PARAMETER_PATTERNS, SECRET_ARN_PATTERN } from './parameter-patterns';

/**
 * The `HmacBytes` and `MasterBytes` parameters (expected key sizes), with defaults from the given
 * sizes. Throws unless each is an integer from 1 to 4096; `label` names the prop in the error.
 */
export function keySizeParameters(
  sizes: { hmac?: number; master?: number }, label: { hmac: string; master: string },
): Record<'HmacBytes' | 'MasterBytes', ScriptParameter> {
  return {
    HmacBytes: { description: 'Expected size of hmac in bytes.', default: checkKeyBytes(label.hmac, sizes.hmac, HMAC_BYTES), allowedPattern: PARAMETER_PATTERNS.bytes },
    MasterBytes: { description: 'Expected size of master in bytes.', default: checkKeyBytes(label.master, sizes.master, MASTER_BYTES), allowedPattern: PARAMETER_PATTERNS.bytes },
  };
}

function checkKeyBytes(name: string, value: number | undefined, fallback: number): string {
  const v = value ?? fallback;
  if (!Number.isInteger(v) || v < 1 || v > 4096) {
    throw new Error(`${name} must be an integer from 1 to 4096, got ${v}`);
  }
  return String(v);
}

/** The data block's first line; the script finds its parameters after it. */
export const DATA_BLOCK_MARKER = '#@aem-crypto-keys-data 3';

/** The longest line of a script, in `scripts/` and embedded (the package's tests check it). */
export const SCRIPT_LINE_MAX = 150;

/**
 * Whether the embedded scripts keep the sources' indentation. They do not: it would add about
 * 3.9 KB to the installer document (measured: 66.0 KB instead of 62.1 KB as synthesized, 68.9 KB
 * with the longest parameter values, over the 65,536 bytes SSM accepts). Every line still reads as
 * in its source, only flush left.
 */
const KEEP_INDENTATION = false;

const SCRIPTS_DIR = path.join(__dirname, '..', 'scripts');
const MODULES_BEGIN = '# >>> modules';
const MODULES_END = '# <<< modules';
/** How a script sources a module in its `# >>> modules` block (comment lines may come between). */
const SOURCE_LINE = /^\. "\$\{BASH_SOURCE\[0\]%\/\*\}\/([a-z0-9-]+\.sh)"$/;

/**
 * The lines of an on-instance script as a document's `runCommand`: `scripts/<scriptFile>`
 * with the functions of the modules it sources (`aem-keys-common.sh` and the modules that one
 * sources, see `modules`) it uses inlined in place of its `# >>> modules` / `# <<< modules`
 * block, without comments and blank lines (see `compactShell`), names and lines as in the
 * sources; its `#!` line followed by a comment naming it (`embeddedHeader`), then the data block:
 * one `#@Name={{ Name }}` line per parameter, in order (SSM substitutes the value there; the
 * script reads it back by name from its own file and never executes it), then each static
 * section's lines, then `#@end`.
 *
 * Throws when the script holds `{{` outside the data block (SSM would substitute it).
 */
export function embedShellScript(scriptFile: string, parameterNames: readonly string[], staticSections: Record<string, string[]> = {}): string[] {
  const body = inlineCommon(scriptFile);
  if (body.some((l) => l.includes('{{'))) {
    throw new Error(`${scriptFile}: the script contains "{{", which SSM would take for a parameter`);
  }
  if (body.some((l) => l === DATA_BLOCK_MARKER)) {
    throw new Error(`${scriptFile}: the script contains the data block marker as a line`);
  }
  return [...body, ...dataBlock(parameterNames, staticSections)];
}

/**
 * `lines` split at its `# >>> modules` / `# <<< modules` block: the lines before and after it,
 * and the files it sources (see `SOURCE_LINE`). Throws unless there is exactly one such block,
 * holding only comments and such lines.
 */
function splitModulesBlock(file: string, lines: readonly string[]): { head: string[]; tail: string[]; sources: string[] } {
  const begin = lines.indexOf(MODULES_BEGIN);
  const end = lines.indexOf(MODULES_END);
  if (begin < 0 || end < begin || lines.lastIndexOf(MODULES_BEGIN) !== begin) {
    throw new Error(`${file}: missing the "${MODULES_BEGIN}" / "${MODULES_END}" markers`);
  }
  const sources = lines.slice(begin + 1, end).filter((l) => !l.startsWith('#')).map((l) => {
    const m = SOURCE_LINE.exec(l);
    if (!m) throw new Error(`${file}: a line of the modules block sources no module: ${l}`);
    return m[1];
  });
  return { head: lines.slice(0, begin), tail: lines.slice(end + 1), sources };
}

/** The modules `file` sources, each followed by the modules it sources in turn; each once. */
function modules(file: string, seen = new Set<string>()): Array<{ file: string; lines: string[] }> {
  const out: Array<{ file: string; lines: string[] }> = [];
  for (const source of splitModulesBlock(file, readScript(file)).sources) {
    if (seen.has(source)) continue;
    seen.add(source);
    const lines = readScript(source);
    if (!lines.includes(MODULES_BEGIN)) {
      out.push({ file: source, lines });
      continue;
    }
    const { head, tail } = splitModulesBlock(source, lines);
    out.push({ file: source, lines: [...head, ...tail] }, ...modules(source, seen));
  }
  return out;
}

/**
 * What `inlineCommon` made of each script, once per process: the scripts ship with the package and
 * do not change while it runs, and compacting the installer takes about 16 ms, once for each key set
 * and replica region of an app otherwise.
 */
const inlined = new Map<string, readonly string[]>();

function inlineCommon(scriptFile: string): readonly string[] {
  let body = inlined.get(scriptFile);
  if (body === undefined) {
    body = compactWithModules(scriptFile);
    inlined.set(scriptFile, body);
  }
  return body;
}

function compactWithModules(scriptFile: string): string[] {
  const lines = readScript(scriptFile);
  const { head: before, tail: after } = splitModulesBlock(scriptFile, lines);
  if (!lines[0].startsWith('#!') || !lines[1]?.startsWith(`# ${scriptFile}:`)) {
    throw new Error(`${scriptFile}: must start with a "#!" line and a "# ${scriptFile}: ..." comment`);
  }
  const head = compactShell(before.slice(2), scriptFile, KEEP_INDENTATION);
  const tail = compactShell(after, scriptFile, KEEP_INDENTATION);
  const common = usedFunctions([...head, ...tail], modules(scriptFile), KEEP_INDENTATION);
  return [lines[0], embeddedHeader(scriptFile), ...head, ...common, ...tail];
}

/** The embedded script's second line: where it comes from. */
export function embeddedHeader(scriptFile: string): string {
  return `# ${scriptFile} of cdk-aem-crypto-keys, without comments and unused functions`;
}

function readScript(file: string): string[] {
  return fs.readFileSync(path.join(SCRIPTS_DIR, file), 'utf8').replace(/\n$/, '').split('\n');
}

function dataBlock(parameterNames: readonly string[], staticSections: Record<string, string[]>): string[] {
  const data = [DATA_BLOCK_MARKER];
  for (const name of parameterNames) {
    if (!/^[A-Z][A-Za-z0-9]{0,63}$/.test(name)) throw new Error(`bad parameter name ${name}`);
    data.push(`#@${name}={{ ${name} }}`);
  }
  for (const [section, sectionLines] of Object.entries(staticSections)) {
    if (!/^[a-z][a-z0-9-]{0,40}$/.test(section)) throw new Error(`bad static section name ${section}`);
    data.push(`#@static ${section}`);
    for (const l of sectionLines) {
      if (/[\r\n]/.test(l) || l.includes('{{')) throw new Error(`static section ${section}: a line holds a newline or "{{"`);
      data.push(`#@|${l}`);
    }
  }
  data.push('#@end');
  return data;
}

/** What a shell-script Command document is made of. */
export interface ShellScriptDocumentOptions {
  /** The document's description. */
  readonly description: string;
  /** The name of its single `aws:runShellScript` step. */
  readonly stepName: string;
  /** The script in `scripts/` (beside this module). */
  readonly scriptFile: string;
  /** The parameters, in the order of the script's data block. */
  readonly parameters: Record<string, ScriptParameter>;
  /** How long the step may run. */
  readonly timeoutSeconds: number;
  /**
   * Lines rendered at synth time that the script reads from its data block.
   * @default - none
   */
  readonly staticSections?: Record<string, string[]>;
}

/**
 * An `AWS::SSM::Document` (Command, schemaVersion 2.2, Linux, one `aws:runShellScript` step)
 * running `scriptFile`, created as `scope`'s `Resource` child.
 */
export function createShellScriptDocument(
  scope: Construct,
  options: ShellScriptDocumentOptions,
): { document: ssm.CfnDocument; runCommand: string[] } {
  const runCommand = embedShellScript(options.scriptFile, Object.keys(options.parameters), options.staticSections);
  const parameters = Object.fromEntries(Object.entries(options.parameters).map(([name, p]) => [name, {
    type: 'String',
    description: p.description,
    ...(p.default !== undefined ? { default: p.default } : {}),
    ...(p.allowedPattern ? { allowedPattern: p.allowedPattern } : {}),
    ...(p.allowedValues ? { allowedValues: p.allowedValues } : {}),
  }]));
  const content = {
    schemaVersion: '2.2',
    description: options.description,
    parameters,
    mainSteps: [{
      action: 'aws:runShellScript',
      name: options.stepName,
      precondition: { StringEquals: ['platformType', 'Linux'] },
      inputs: { timeoutSeconds: String(options.timeoutSeconds), runCommand },
    }],
  };
  checkDocumentSize(content, `${scope.node.path} (${options.scriptFile})`);
  const document = new ssm.CfnDocument(scope, 'Resource', {
    documentType: 'Command',
    content,
    // A changed content becomes a new version of the same document (its name stays), which
    // becomes the default version: see README, "Upgrades".
    updateMethod: 'NewVersion',
  });
  return { document, runCommand };
}
