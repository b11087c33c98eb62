import * as fs from 'fs';
import * as path from 'path';
import { SecretsManagerClient } from '@aws-sdk/client-secrets-manager';
import { SSMClient, SendCommandCommandInput } from '@aws-sdk/client-ssm';
import { EXPORT_DOCUMENT_TAG, HMAC_BYTES, INSTALLER_DOCUMENT_TAG, MASTER_BYTES } from '../private/key-set';
import {
  formatOptions,
  GLOBAL_OPTIONS,
  OptionSpec,
  ParsedOptions,
  parseOptions,
  parseParams,
  parseTargets,
  positiveInt,
  printable,
  UsageError,
  validateInstanceId,
  validateRate,
  validateSecretId,
} from './args';
import { AwsClients, resolveDocument } from './documents';
import { importKeys, OperationError, readKeyFile } from './import-keys';
import { checkInstallerParams, installerParamsFor } from './installer-parameters';
import { formatAge, knownStatus } from './known-status';
import { explainNetworkErrors } from './network-errors';
import { Output, Progress } from './progress';
import { sendAndWait } from './run-command';
import { jsonResult, knownTable, table } from './tables';

/** Exit codes. */
export const EXIT_OK = 0;
export const EXIT_FAILED = 1;
export const EXIT_USAGE = 2;

/** Where the CLI writes, and its environment. */
export interface CliIo {
  readonly stdout: Output;
  readonly stderr: Output;
  /** Overrides for tests (poll interval, clock). */
  readonly pollMs?: number;
  readonly sleep?: (ms: number) => Promise<void>;
  readonly now?: () => number;
  readonly ssm?: SSMClient;
  readonly secretsManager?: SecretsManagerClient;
}

interface CommandDef {
  readonly summary: string;
  readonly usage: string;
  readonly options: OptionSpec[];
  readonly details: string;
  run(opts: ParsedOptions, ctx: Context): Promise<number>;
}

interface Context extends AwsClients {
  readonly io: CliIo;
  readonly json: boolean;
  readonly region?: string;
  readonly endpoint?: string;
}

const SECRET: OptionSpec = { name: 'secret', type: 'string', metavar: 'ARN', required: true, help: 'The key set\'s Secrets Manager secret (ARN or name)' };
const DOCUMENT = (tag: string): OptionSpec => ({
  name: 'document', type: 'string', metavar: 'NAME',
  help: `SSM document to run (default: this account's document tagged ${tag}=<secret ARN>)`,
});
const TIMEOUT: OptionSpec = { name: 'timeout', type: 'string', metavar: 'SECONDS', help: 'Stop waiting after this long (default 900; the command keeps running)' };
const PARAM: OptionSpec = {
  name: 'param', type: 'string', metavar: 'NAME=VALUE', repeatable: true,
  help: 'Another document parameter, e.g. QuickstartDir=/opt/aem/publish/crx-quickstart',
};
const LOG_GROUP: OptionSpec = {
  name: 'log-group', type: 'string', metavar: 'NAME',
  help: 'Also stream the command output to this CloudWatch Logs group (the key set\'s: stack output; instances need AemCryptoKeys.grantLogWrite)',
};
const TARGETS: OptionSpec = { name: 'targets', type: 'string', metavar: 'tag:KEY=VALUE', required: true, help: 'The instances: every managed instance carrying this tag' };

const COMMANDS: Record<string, CommandDef> = {
  import: {
    summary: 'Put raw hmac/master key files into the secret',
    usage: 'aem-keys import --secret ARN --hmac FILE --master FILE [--force]',
    options: [
      SECRET,
      { name: 'hmac', type: 'string', metavar: 'FILE', required: true, help: 'Raw hmac file (32 bytes), e.g. copied from the crypto.file bundle\'s data folder' },
      { name: 'master', type: 'string', metavar: 'FILE', required: true, help: 'Raw master file (16 bytes)' },
      { name: 'force', type: 'boolean', help: 'Replace keys the secret already holds when they differ' },
      { name: 'hmac-bytes', type: 'string', metavar: 'N', help: `Expected hmac size (default ${HMAC_BYTES})` },
      { name: 'master-bytes', type: 'string', metavar: 'N', help: `Expected master size (default ${MASTER_BYTES})` },
    ],
    details: 'Fills an empty secret, does nothing when it already holds the same keys, and refuses to\n' +
      'replace different keys unless --force. Prints fingerprints (first 12 hex digits of SHA-256),\nnever key material.',
    run: runImport,
  },
  export: {
    summary: 'Run the export document on a reference instance: its keys go into the secret',
    usage: 'aem-keys export --secret ARN --instance ID [--document NAME] [--force]',
    options: [
      SECRET,
      { name: 'instance', type: 'string', metavar: 'ID', required: true, help: 'The reference instance (usually the author)' },
      DOCUMENT(EXPORT_DOCUMENT_TAG),
      { name: 'force', type: 'boolean', help: 'Let the export replace different keys already in the secret' },
      PARAM, TIMEOUT, LOG_GROUP,
    ],
    details: 'The instance reads hmac/master from its com.adobe.granite.crypto.file data folder and writes\n' +
      'them with PutSecretValue itself (its role needs AemCryptoKeys.grantWrite). Key material never\npasses through this CLI.',
    run: runExport,
  },
  status: {
    summary: 'What is known of every targeted instance\'s keys (last association run or installer run); --verify checks them now',
    usage: 'aem-keys status --secret ARN --targets tag:KEY=VALUE [--verify] [--document NAME]',
    options: [
      SECRET, TARGETS,
      { name: 'verify', type: 'boolean', help: 'Run the installer with Mode=verify on every target now (slower; a fresh answer)' },
      DOCUMENT(INSTALLER_DOCUMENT_TAG), PARAM, TIMEOUT, LOG_GROUP,
    ],
    details: 'Without --verify nothing runs on the instances: for each managed instance carrying the tag it\n' +
      'reads the installer association\'s last run (State Manager), else the last run of the installer\n' +
      'document (a gated launch, a rollout, a verify), and prints instance, source, result, age, detail.\n' +
      'With --verify: instance, match (yes/no), fingerprints, error. Changes nothing either way.\n' +
      'Exits 1 when any instance failed, does not match, has no known result (or did not answer), or\n' +
      'when no instance matched the tag.',
    run: (opts, ctx) => (opts.verify === true ? runInstaller('status', opts, ctx) : runKnownStatus(opts, ctx)),
  },
  rollout: {
    summary: 'Install the keys on every targeted instance, with rate control',
    usage: 'aem-keys rollout --secret ARN --targets tag:KEY=VALUE [--max-concurrency 10%] [--max-errors 1] [--document NAME]',
    options: [
      SECRET, TARGETS,
      { name: 'max-concurrency', type: 'string', metavar: 'N|N%', help: 'Instances at a time (default 10%)' },
      { name: 'max-errors', type: 'string', metavar: 'N|N%', help: 'Stop sending to more instances after this many failures (default 1)' },
      DOCUMENT(INSTALLER_DOCUMENT_TAG), PARAM, TIMEOUT, LOG_GROUP,
    ],
    details: 'Follows progress, then names every instance that failed and exits 1 when any did.',
    run: (opts, ctx) => runInstaller('rollout', opts, ctx),
  },
};

const GLOBAL_HELP = `aem-keys: manage the shared AEM crypto keys (hmac, master) of an AemCryptoKeys key set

Usage: aem-keys <command> [options]

Commands:
${Object.entries(COMMANDS).map(([n, c]) => `  ${n.padEnd(9)}${c.summary}`).join('\n')}

Options for every command:
${formatOptions(GLOBAL_OPTIONS)}

Run "aem-keys <command> --help" for a command's options. Exit codes: 0 success, 1 failure or
refusal, 2 bad command line. Guide: README, "Adopting an existing AEM estate"
`;

function commandHelp(_name: string, c: CommandDef): string {
  return `${c.summary}\n\nUsage: ${c.usage}\n\n${c.details}\n\nOptions:\n${formatOptions([...c.options, ...GLOBAL_OPTIONS])}\n`;
}

/** The package's version, from its package.json (two folders up from lib/cli/ and from dist/cli/). */
function version(): string {
  return (JSON.parse(fs.readFileSync(path.join(__dirname, '..', '..', 'package.json'), 'utf8')) as { version: string }).version;
}

/**
 * The region as the AWS CLI picks it: --region, else AWS_REGION, else AWS_DEFAULT_REGION (the
 * AWS SDK for JavaScript reads only AWS_REGION), else the profile's (left to the SDK). A secret
 * ARN names its region: a --region that disagrees is a mistake; the ARN wins over the environment.
 */
function pickRegion(command: string, flag: string | undefined, arnRegion: string | undefined): string | undefined {
  if (flag !== undefined && !/^[a-z]{2}(-[a-z]+)+-\d$/.test(flag)) {
    throw new UsageError(`${command}: --region must look like eu-west-1, got "${printable(flag)}"`);
  }
  if (flag !== undefined && arnRegion !== undefined && flag !== arnRegion) {
    throw new UsageError(`${command}: --region ${flag} disagrees with the secret ARN, which is in ${arnRegion}; leave --region out or name the secret in ${flag}`);
  }
  return flag ?? arnRegion ?? (process.env.AWS_REGION || process.env.AWS_DEFAULT_REGION || undefined);
}

/** Runs the CLI; resolves to the exit code. Never throws. */
export async function main(argv: string[], io: CliIo): Promise<number> {
  const json = argv.includes('--json');
  try {
    const [name, ...rest] = argv;
    if (name === '--version' || name === '-V') {
      io.stdout.write(`aem-keys ${version()} (cdk-aem-crypto-keys)\n`);
      return EXIT_OK;
    }
    if (name === undefined) {
      io.stderr.write(GLOBAL_HELP);
      return EXIT_USAGE;
    }
    if (name === '--help' || name === '-h' || name === 'help') {
      if (name === 'help' && rest[0] && COMMANDS[rest[0]]) {
        io.stdout.write(commandHelp(rest[0], COMMANDS[rest[0]]));
      } else {
        io.stdout.write(GLOBAL_HELP);
      }
      return EXIT_OK;
    }
    const command = COMMANDS[name];
    if (!command) {
      throw new UsageError(`unknown command "${printable(name)}" (commands: ${Object.keys(COMMANDS).join(', ')}; see aem-keys --help)`);
    }
    const opts = parseOptions(rest, [...command.options, ...GLOBAL_OPTIONS], name);
    if (opts.help) {
      io.stdout.write(commandHelp(name, command));
      return EXIT_OK;
    }
    const secret = validateSecretId(opts.secret as string, name);
    const region = pickRegion(name, opts.region as string | undefined, secret.region);
    const endpoint = opts['endpoint-url'] as string | undefined;
    if (endpoint !== undefined && !/^https?:\/\/[^\s]+$/.test(endpoint)) {
      throw new UsageError(`${name}: --endpoint-url must be an http(s) URL, got "${printable(endpoint)}"`);
    }
    let sm = io.secretsManager;
    let ssm = io.ssm;
    const config = { ...(region ? { region } : {}), ...(endpoint ? { endpoint } : {}) };
    const ctx: Context = {
      io,
      json: opts.json === true,
      region,
      endpoint,
      sm: () => explainNetworkErrors(sm ??= new SecretsManagerClient(config), endpoint ? undefined : endpointVariable('SECRETS_MANAGER')),
      ssm: () => explainNetworkErrors(ssm ??= new SSMClient(config), endpoint ? undefined : endpointVariable('SSM')),
    };
    return await command.run(opts, ctx);
  } catch (e) {
    const err = e as Error;
    const usage = err instanceof UsageError;
    const message = usage ? err.message : oneLine(err);
    io.stderr.write(`aem-keys: ${message}\n`);
    const code = usage ? EXIT_USAGE : EXIT_FAILED;
    // --json: a script reading stdout gets a JSON answer on failure too.
    if (json) io.stdout.write(JSON.stringify({ error: message, exitCode: code }) + '\n');
    return code;
  }
}

/** The environment variable that sets the service's endpoint (as the AWS SDKs and CLI read them), when set. */
function endpointVariable(service: string): string | undefined {
  return [`AWS_ENDPOINT_URL_${service}`, 'AWS_ENDPOINT_URL'].find((v) => process.env[v]);
}

function oneLine(err: Error): string {
  if (err instanceof OperationError) return err.message;
  const name = err.name && err.name !== 'Error' ? `${err.name}: ` : '';
  if (err.name === 'CredentialsProviderError') return 'no AWS credentials found (set AWS_PROFILE or the AWS_* variables)';
  return (name + (err.message || String(err))).split('\n')[0].slice(0, 500);
}

async function runImport(opts: ParsedOptions, ctx: Context): Promise<number> {
  const sizes = {
    hmac: positiveInt(opts['hmac-bytes'] as string | undefined, 'hmac-bytes', 'import', HMAC_BYTES),
    master: positiveInt(opts['master-bytes'] as string | undefined, 'master-bytes', 'import', MASTER_BYTES),
  };
  const keys = {
    hmac: readKeyFile(opts.hmac as string, 'hmac', sizes.hmac),
    master: readKeyFile(opts.master as string, 'master', sizes.master),
  };
  const result = await importKeys(ctx.sm(), opts.secret as string, keys, opts.force === true, sizes);
  if (ctx.json) {
    ctx.io.stdout.write(JSON.stringify(result, null, 2) + '\n');
  } else {
    const verb = { filled: 'filled', unchanged: 'unchanged (already holds these keys)', replaced: 'replaced (--force)' }[result.action];
    ctx.io.stdout.write(`secret ${result.secret}: ${verb}\n  hmac   ${result.hmac}\n  master ${result.master}\n`);
    if (result.previous?.hmac) {
      ctx.io.stdout.write(`  previous hmac ${result.previous.hmac}, master ${result.previous.master}\n`);
    }
  }
  return EXIT_OK;
}

function timeoutMs(opts: ParsedOptions, command: string): number {
  return positiveInt(opts.timeout as string | undefined, 'timeout', command, 900) * 1000;
}

async function runExport(opts: ParsedOptions, ctx: Context): Promise<number> {
  const instance = validateInstanceId(opts.instance as string, 'export');
  const params = parseParams(opts.param as string[] | undefined, ['SecretId', 'Force'], 'export');
  const wait = timeoutMs(opts, 'export');
  const doc = await resolveDocument(ctx, 'export', opts.secret as string, opts.document as string | undefined, EXPORT_DOCUMENT_TAG);
  const progress = new Progress(ctx.io.stderr);
  const result = await sendAndWait(ctx.ssm(), {
    DocumentName: doc.name,
    InstanceIds: [instance],
    Parameters: { ...params, SecretId: [doc.secretArn], Force: [opts.force === true ? 'true' : 'false'] },
    Comment: 'aem-keys export',
    ...cloudWatchOutput(opts, 'export'),
  }, { timeoutMs: wait, pollMs: ctx.io.pollMs ?? 3000, progress, sleep: ctx.io.sleep, now: ctx.io.now });
  progress.done(`command ${result.commandId}: ${result.status}`);
  const inv = result.instances.find((i) => i.instanceId === instance);
  const ok = result.status === 'Success' && inv?.status === 'Success';
  if (ctx.json) {
    ctx.io.stdout.write(JSON.stringify({ ...jsonResult(result), ok }, null, 2) + '\n');
  } else {
    ctx.io.stdout.write(inv?.output ? inv.output.replace(/\n?$/, '\n') : '');
    ctx.io.stdout.write(ok
      ? `export from ${instance} into ${doc.secretArn}: done (hmac ${inv.hmac ?? '?'}, master ${inv.master ?? '?'})\n`
      : `export from ${instance} failed: ${inv?.error ?? result.status}\n`);
  }
  return ok ? EXIT_OK : EXIT_FAILED;
}

async function runInstaller(command: 'status' | 'rollout', opts: ParsedOptions, ctx: Context): Promise<number> {
  const target = parseTargets(opts.targets as string, command);
  const given = parseParams(opts.param as string[] | undefined, ['SecretId', 'Mode'], command);
  checkInstallerParams(given, command);
  const wait = timeoutMs(opts, command);
  const input: Partial<SendCommandCommandInput> = { Targets: [target] };
  if (command === 'rollout') {
    input.MaxConcurrency = validateRate((opts['max-concurrency'] as string | undefined) ?? '10%', 'max-concurrency', command, false);
    input.MaxErrors = validateRate((opts['max-errors'] as string | undefined) ?? '1', 'max-errors', command, true);
  } else {
    // A read-only check: as wide as SSM allows, and never stopped early by mismatches.
    input.MaxConcurrency = '100%';
    input.MaxErrors = '100%';
  }
  const doc = await resolveDocument(ctx, command, opts.secret as string, opts.document as string | undefined, INSTALLER_DOCUMENT_TAG);
  const params = await installerParamsFor(ctx.ssm(), doc.name, target, given, command);
  const progress = new Progress(ctx.io.stderr);
  const result = await sendAndWait(ctx.ssm(), {
    ...input,
    DocumentName: doc.name,
    Parameters: { ...params, SecretId: [doc.secretArn], Mode: [command === 'status' ? 'verify' : 'install'] },
    Comment: `aem-keys ${command}`,
    ...cloudWatchOutput(opts, command),
  }, { timeoutMs: wait, pollMs: ctx.io.pollMs ?? 5000, progress, sleep: ctx.io.sleep, now: ctx.io.now });
  progress.done(`command ${result.commandId}: ${result.status}, ${result.completedCount}/${result.targetCount} done, ${result.errorCount} failed; ${result.instances.length} instance(s)`);

  const failed = result.instances.filter((i) => i.status !== 'Success');
  const noTargets = result.instances.length === 0;
  const ok = !noTargets && failed.length === 0 && result.status === 'Success';
  if (ctx.json) {
    ctx.io.stdout.write(JSON.stringify({ ...jsonResult(result, command === 'status'), ok, failed: failed.map((i) => i.instanceId) }, null, 2) + '\n');
  } else {
    if (!noTargets) ctx.io.stdout.write(table(result.instances, command === 'status'));
    if (noTargets) {
      ctx.io.stdout.write(`no instance carries ${target.Key}=${target.Values[0]} (or none could be reached)\n`);
    } else if (failed.length > 0) {
      ctx.io.stdout.write(`${command === 'status' ? 'not matching' : 'failed'} on ${failed.length} of ${result.instances.length}: ${failed.map((i) => i.instanceId).join(', ')}\n`);
    } else if (result.status !== 'Success') {
      ctx.io.stdout.write(`command ${result.commandId} ended ${result.status}\n`);
    } else {
      ctx.io.stdout.write(command === 'status'
        ? `all ${result.instances.length} instance(s) hold the secret's keys\n`
        : `installed on all ${result.instances.length} instance(s)\n`);
    }
  }
  return ok ? EXIT_OK : EXIT_FAILED;
}

/** `CloudWatchOutputConfig` for `--log-group`. */
function cloudWatchOutput(opts: ParsedOptions, command: string): Partial<SendCommandCommandInput> {
  const name = opts['log-group'] as string | undefined;
  if (name === undefined) return {};
  if (!/^[A-Za-z0-9_\-/.#]{1,512}$/.test(name)) throw new UsageError(`${command}: --log-group is not a valid log group name: "${printable(name)}"`);
  return { CloudWatchOutputConfig: { CloudWatchOutputEnabled: true, CloudWatchLogGroupName: name } };
}

async function runKnownStatus(opts: ParsedOptions, ctx: Context): Promise<number> {
  const target = parseTargets(opts.targets as string, 'status');
  if (opts.param !== undefined) throw new UsageError('status: --param applies to --verify only');
  if (opts.timeout !== undefined) throw new UsageError('status: --timeout applies to --verify only');
  if (opts['log-group'] !== undefined) throw new UsageError('status: --log-group applies to --verify only');
  const doc = await resolveDocument(ctx, 'status', opts.secret as string, opts.document as string | undefined, INSTALLER_DOCUMENT_TAG);
  const now = (ctx.io.now ?? Date.now)();
  const instances = await knownStatus(ctx.ssm(), target, doc.name, now);
  const bad = instances.filter((i) => i.status !== 'Success');
  const ok = instances.length > 0 && bad.length === 0;
  if (ctx.json) {
    ctx.io.stdout.write(JSON.stringify({
      documentName: doc.name, verified: false, instances, ok, notOk: bad.map((i) => i.instanceId),
    }, null, 2) + '\n');
    return ok ? EXIT_OK : EXIT_FAILED;
  }
  if (instances.length === 0) {
    ctx.io.stdout.write(`no managed instance carries ${target.Key}=${target.Values[0]}\n`);
    return EXIT_FAILED;
  }
  ctx.io.stdout.write(knownTable(instances));
  const oldest = Math.max(...instances.map((i) => i.ageSeconds ?? 0));
  ctx.io.stdout.write(bad.length > 0
    ? `not ok on ${bad.length} of ${instances.length}: ${bad.map((i) => i.instanceId).join(', ')} (run with --verify for a fresh answer)\n`
    : `all ${instances.length} instance(s) had the keys at their last run (oldest answer ${formatAge(oldest)} old; --verify checks now)\n`);
  return ok ? EXIT_OK : EXIT_FAILED;
}
