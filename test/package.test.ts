import { execFileSync, spawnSync } from 'child_process';
import * as fs from 'fs';
import * as os from 'os';
import * as path from 'path';
// eslint-disable-next-line @typescript-eslint/no-require-imports -- a CommonJS script of scripts/
const { isBuildCurrent } = require('../scripts/build-inputs');

/**
 * The package as a consumer gets it from the registry: `npm pack` (which builds first, with jsii,
 * unless the clone's build is current) in a copy of this clone's files (so a build never races
 * tests that read this clone's .jsii), the tarball unpacked into a scratch app's node_modules the
 * way `npm install` lays it out, and a plain JavaScript CDK app (no ts-node, no path into this
 * clone) that synthesizes through the public API. Its peer and runtime dependencies are the
 * clone's installed copies (linked, as npm would install the same versions): the lowest
 * aws-cdk-lib the peer range allows, which the devDependency pins. A second app gets the tarball
 * and the newest aws-cdk-lib from `npm install` (the npm registry; its cache when it has them), as
 * a consumer's fresh app does.
 *
 * @full-suite: npm pack builds the package with jsii (tens of seconds); not in `npm run test:fast`.
 */

const root = path.join(__dirname, '..');
const modules = path.join(root, 'node_modules');

interface Packed {
  readonly tarball: string;
  readonly files: string[];
  readonly app: string;
  readonly installed: string;
}

function linkDependency(app: string, name: string): void {
  const target = path.join(app, 'node_modules', name);
  fs.mkdirSync(path.dirname(target), { recursive: true });
  fs.symlinkSync(fs.realpathSync(path.join(modules, name)), target, 'dir');
}

/**
 * The clone's files as a fresh clone has them (tracked and not ignored), with its node_modules;
 * with `build`, also its dist/ and .jsii.
 */
function copyOfClone(work: string, build: boolean): string {
  const copy = path.join(work, 'src');
  const files = execFileSync('git', ['ls-files', '-z', '--cached', '--others', '--exclude-standard'], { cwd: root, encoding: 'utf8' })
    .split('\0').filter((f) => f && fs.existsSync(path.join(root, f)));
  for (const f of files) {
    fs.mkdirSync(path.dirname(path.join(copy, f)), { recursive: true });
    fs.copyFileSync(path.join(root, f), path.join(copy, f));
  }
  if (build) {
    fs.cpSync(path.join(root, 'dist'), path.join(copy, 'dist'), { recursive: true });
    fs.copyFileSync(path.join(root, '.jsii'), path.join(copy, '.jsii'));
  }
  fs.symlinkSync(modules, path.join(copy, 'node_modules'), 'dir');
  return copy;
}

/**
 * Packs once; installs the tarball into a fresh app; returns both. When the clone's build is
 * current (scripts/build-inputs.js; e.g. CI's `npm run build` just made it), the copy gets that
 * build and npm packs it as it is; otherwise npm's prepack builds in the copy.
 */
function packAndInstall(): Packed {
  const work = fs.mkdtempSync(path.join(os.tmpdir(), 'aem-keys-pack-'));
  const built = isBuildCurrent(root);
  const out = execFileSync('npm', ['pack', '--json', '--pack-destination', work, ...(built ? ['--ignore-scripts'] : [])],
    { cwd: copyOfClone(work, built), encoding: 'utf8', stdio: ['ignore', 'pipe', 'pipe'] });
  const [info] = JSON.parse(out);
  const tarball = path.join(work, info.filename);
  const app = path.join(work, 'app');
  const installed = path.join(app, 'node_modules', 'cdk-aem-crypto-keys');
  fs.mkdirSync(installed, { recursive: true });
  execFileSync('tar', ['-xzf', tarball, '-C', installed, '--strip-components=1']);
  const manifest = JSON.parse(fs.readFileSync(path.join(installed, 'package.json'), 'utf8'));
  for (const name of [...Object.keys(manifest.peerDependencies), ...Object.keys(manifest.dependencies ?? {})]) {
    linkDependency(app, name);
  }
  // What npm does for "bin": a link in node_modules/.bin to the launcher.
  fs.mkdirSync(path.join(app, 'node_modules', '.bin'));
  for (const [name, file] of Object.entries<string>(manifest.bin)) {
    fs.symlinkSync(path.join('..', 'cdk-aem-crypto-keys', file), path.join(app, 'node_modules', '.bin', name));
  }
  fs.writeFileSync(path.join(app, 'package.json'), JSON.stringify({ name: 'consumer', private: true, version: '1.0.0' }));
  return { tarball, files: info.files.map((f: { path: string }) => f.path), app, installed };
}

/** The peer range's lowest version: `^2.257.0` gives 2.257.0. */
function lowestAllowed(range: string): string {
  const m = /^\^(\d+\.\d+\.\d+)$/.exec(range);
  if (!m) throw new Error(`peer range ${range}: expected ^X.Y.Z`);
  return m[1];
}

function npm(args: string[], cwd: string): string {
  return execFileSync('npm', args, { cwd, encoding: 'utf8', stdio: ['ignore', 'pipe', 'pipe'] });
}

/**
 * A fresh app with the tarball and the newest aws-cdk-lib from `npm install`, the way a consumer
 * installs it (npm checks the peer range: a newest version outside it fails with ERESOLVE).
 */
function installWithNewest(tarball: string): { app: string; version: string } {
  const app = path.join(path.dirname(tarball), 'newest');
  fs.mkdirSync(app);
  fs.writeFileSync(path.join(app, 'package.json'), JSON.stringify({ name: 'consumer-newest', private: true, version: '1.0.0' }));
  const version = npm(['view', 'aws-cdk-lib', 'version'], app).trim();
  npm(['install', '--no-audit', '--no-fund', '--prefer-offline', tarball, `aws-cdk-lib@${version}`, 'constructs@^10'], app);
  return { app, version };
}

/** Runs a consumer app's source in `app`, aws-cdk-lib's built-in validation on or off. */
function runApp(app: string, source: string, outdir: string, validation: boolean) {
  const appFile = path.join(app, `app-${path.basename(outdir)}.js`);
  fs.writeFileSync(appFile, source);
  const env: NodeJS.ProcessEnv = { PATH: process.env.PATH, HOME: process.env.HOME };
  if (!validation) env.CDK_VALIDATION = 'false';
  return spawnSync(process.execPath, [appFile, outdir], { cwd: app, env, encoding: 'utf8' });
}

/** The built-in CloudFormation validation's findings in a synthesized assembly. */
function builtInViolations(outdir: string): string[] {
  const report = JSON.parse(fs.readFileSync(path.join(outdir, 'validation-report.json'), 'utf8'));
  return report.pluginReports.filter((r: any) => r.pluginName === 'CloudFormation Validate')
    .flatMap((r: any) => r.violations.map((v: any) => `${v.ruleName} ${v.severity}: ${v.description}`));
}

/**
 * The README's first TypeScript example ("Using it in your stack"), as a consumer pastes it: its
 * imports at the top, its body in a stack's constructor, the instances it names declared.
 */
function readmeUsageApp(): string {
  const readme = fs.readFileSync(path.join(root, 'README.md'), 'utf8');
  const section = readme.slice(readme.indexOf('## Using it in your stack'));
  const snippet = /```ts\n([\s\S]*?)```/.exec(section)![1];
  const imports = snippet.split('\n').filter((l) => l.startsWith('import '));
  const body = snippet.split('\n').filter((l) => !l.startsWith('import ')).join('\n    ');
  return [
    'import { App, Stack } from \'aws-cdk-lib\';',
    'import * as autoscaling from \'aws-cdk-lib/aws-autoscaling\';',
    'import * as ec2 from \'aws-cdk-lib/aws-ec2\';',
    ...imports,
    'declare const authorInstance: ec2.Instance;',
    'declare const publishAsg: autoscaling.AutoScalingGroup;',
    'export class UsageStack extends Stack {',
    '  constructor(app: App) {',
    '    super(app, \'Usage\');',
    `    ${body}`,
    '  }',
    '}',
    '',
  ].join('\n');
}

/** Type-checks the README's usage example in `app` (strict), against the installed package's .d.ts. */
function compileReadmeUsage(app: string) {
  fs.writeFileSync(path.join(app, 'usage.ts'), readmeUsageApp());
  return spawnSync(process.execPath, [require.resolve('typescript/bin/tsc'), '--noEmit', '--strict', '--skipLibCheck', '--target', 'es2022',
    '--module', 'commonjs', '--moduleResolution', 'node', 'usage.ts'], { cwd: app, encoding: 'utf8' });
}

const MALFORMED_APP = `
'use strict';
const { App, CfnResource, Stack } = require('aws-cdk-lib');
const app = new App({ outdir: process.argv[2] });
new CfnResource(new Stack(app, 'Bad'), 'Queue', { type: 'AWS::SQS::Queue', properties: { VisibilityTimeout: 'not-a-number' } });
app.synth();
`;

const CONSUMER_APP = `
'use strict';
const { App, Stack } = require('aws-cdk-lib');
const autoscaling = require('aws-cdk-lib/aws-autoscaling');
const ec2 = require('aws-cdk-lib/aws-ec2');
const iam = require('aws-cdk-lib/aws-iam');
const { AemCryptoKeys } = require('cdk-aem-crypto-keys');

const app = new App({ outdir: process.argv[2] });
const stack = new Stack(app, 'Consumer');
const vpc = new ec2.Vpc(stack, 'Vpc', { maxAzs: 1, natGateways: 0, subnetConfiguration: [{ name: 'app', subnetType: ec2.SubnetType.PRIVATE_ISOLATED }] });
const role = new iam.Role(stack, 'Role', { assumedBy: new iam.ServicePrincipal('ec2.amazonaws.com') });
const launchTemplate = new ec2.LaunchTemplate(stack, 'Template', {
  instanceType: new ec2.InstanceType('m6i.large'),
  machineImage: ec2.MachineImage.genericLinux({ 'eu-west-1': 'ami-12345678' }),
  role,
});
const publish = new autoscaling.AutoScalingGroup(stack, 'Publish', { vpc, launchTemplate });
const keys = new AemCryptoKeys(stack, 'Keys');
keys.addAutoScalingGroup(publish, { quickstartDir: '/opt/aem/publish/crx-quickstart', startAfterInstall: true });
keys.addInstancesByTag('aem-role', 'author', { quickstartDir: '/opt/aem/author/crx-quickstart' });
app.synth();
process.stdout.write(require.resolve('cdk-aem-crypto-keys') + '\\n');
`;

describe('the packed package', () => {
  let packed: Packed;
  beforeAll(() => {
    packed = packAndInstall();
  }, 600_000);
  afterAll(() => {
    if (packed) fs.rmSync(path.dirname(packed.tarball), { recursive: true, force: true });
  });

  test('holds what a consumer needs: compiled JS and .d.ts, the jsii assembly, scripts beside the code, handler, launcher, bundled CLI, README, API.md, LICENSE', () => {
    const { files } = packed;
    for (const f of ['package.json', 'README.md', 'API.md', 'LICENSE', '.jsii', 'bin/aem-keys.js', 'dist/index.js', 'dist/index.d.ts', 'dist/cli/aem-keys.js',
      'dist/private/shell-script-document.js', 'dist/scripts/aem-keys-common.sh', 'dist/scripts/install-keys.sh', 'dist/scripts/export-keys.sh',
      'dist/scripts/migrate-jcr-keys.sh', 'assets/handlers/generate-keys/index.js']) {
      expect(files).toContain(f);
    }
  });

  test('holds no tests, sources, source maps or tarballs', () => {
    const { files } = packed;
    expect(files.filter((f) => /^(test|lib|scripts|\.ci)\//.test(f) || /^bin\/example/.test(f))).toEqual([]);
    expect(files.filter((f) => f.endsWith('.ts') && !f.endsWith('.d.ts'))).toEqual([]);
    expect(files.filter((f) => f.endsWith('.map') || f.endsWith('.tgz'))).toEqual([]);
    const js = files.filter((f) => f.startsWith('dist/') && f.endsWith('.js'));
    expect(js.filter((f) => /sourceMappingURL/.test(fs.readFileSync(path.join(packed.installed, f), 'utf8')))).toEqual([]);
  });

  test('every compiled module has its declarations; the CLI is one bundle (with its AWS SDK clients), not API', () => {
    const { files } = packed;
    const js = files.filter((f) => f.startsWith('dist/') && f.endsWith('.js'));
    for (const f of js.filter((x) => x !== 'dist/cli/aem-keys.js')) expect(files).toContain(f.replace(/\.js$/, '.d.ts'));
  });

  test('no runtime dependencies (jsii requires each to be a jsii module)', () => {
    const manifest = JSON.parse(fs.readFileSync(path.join(packed.installed, 'package.json'), 'utf8'));
    expect(manifest.dependencies).toBeUndefined();
  });

  test('the jsii assembly is the API lib/index.ts exports, for five languages', () => {
    const assembly = JSON.parse(fs.readFileSync(path.join(packed.installed, '.jsii'), 'utf8'));
    expect(assembly.name).toBe('cdk-aem-crypto-keys');
    expect(assembly.types['cdk-aem-crypto-keys.AemCryptoKeys'].kind).toBe('class');
    expect(Object.keys(assembly.targets).sort()).toEqual(['dotnet', 'go', 'java', 'js', 'python']);
  });

  test('shipped code and docs refer to nothing outside the package', () => {
    const text = packed.files.filter((f) => /\.(js|ts|md|sh)$/.test(f))
      .map((f) => [f, fs.readFileSync(path.join(packed.installed, f), 'utf8')] as const);
    const outside = /CONTRACT\.md|AEM-FACTS|ARCHITECTURE\.md|\/work\/|shared\//;
    expect(text.filter(([, t]) => outside.test(t)).map(([f]) => f)).toEqual([]);
    // The compiled code's comments name files as they are in the package (no lib/, test/ or bin/example paths).
    const sourcePath = /(^|[^-\w])(lib|test)\/|bin\/example/;
    expect(text.filter(([f, t]) => f.startsWith('dist/') && !f.startsWith('dist/scripts/') && sourcePath.test(t)).map(([f]) => f)).toEqual([]);
  });

  test('the app\'s aws-cdk-lib is the lowest the peer range allows (the devDependency pins it)', () => {
    const manifest = JSON.parse(fs.readFileSync(path.join(packed.installed, 'package.json'), 'utf8'));
    const linked = JSON.parse(fs.readFileSync(path.join(packed.app, 'node_modules', 'aws-cdk-lib', 'package.json'), 'utf8'));
    expect(linked.version).toBe(lowestAllowed(manifest.peerDependencies['aws-cdk-lib']));
  });

  test('a plain JavaScript app synthesizes a gated group and a tag association through the public API', () => {
    const outdir = path.join(packed.app, 'cdk.out');
    const r = runApp(packed.app, CONSUMER_APP, outdir, false);
    expect(r.stderr).toBe('');
    expect(r.status).toBe(0);
    // The library came from the unpacked tarball, not from this clone.
    expect(fs.realpathSync(r.stdout.trim())).toBe(fs.realpathSync(path.join(packed.installed, 'dist', 'index.js')));
    expectConsumerTemplate(outdir);
  });

  test('every TypeScript example (README and @example) compiles with jsii-rosetta --strict, for the other languages\' docs', () => {
    const r = spawnSync(process.execPath, [path.join(modules, 'jsii-rosetta', 'bin', 'jsii-rosetta'), 'extract', '--strict', '--compile', '.jsii'],
      { cwd: path.join(path.dirname(packed.tarball), 'src'), encoding: 'utf8', env: { ...process.env, JSII_SILENCE_WARNING_END_OF_LIFE_NODE_VERSION: '20' } });
    expect((r.stdout + r.stderr).split('\n').filter((l) => /error|ERROR/.test(l))).toEqual([]);
    expect(r.status).toBe(0);
  }, 120_000);

  test('the README\'s usage example compiles (strict) against the package and the lowest aws-cdk-lib', () => {
    const r = compileReadmeUsage(packed.app);
    expect(r.stdout + r.stderr).toBe('');
    expect(r.status).toBe(0);
  });

  describe('in a fresh app with the newest aws-cdk-lib from npm', () => {
    let newest: { app: string; version: string };
    beforeAll(() => {
      newest = installWithNewest(packed.tarball);
    }, 600_000);

    test('npm installs it beside the newest aws-cdk-lib (the peer range allows it) and the same app synthesizes', () => {
      const installed = JSON.parse(fs.readFileSync(path.join(newest.app, 'node_modules', 'aws-cdk-lib', 'package.json'), 'utf8'));
      expect(installed.version).toBe(newest.version);
      const outdir = path.join(newest.app, 'cdk.out');
      const r = runApp(newest.app, CONSUMER_APP, outdir, true);
      expect(r.stderr).toBe('');
      expect(r.status).toBe(0);
      expectConsumerTemplate(outdir);
      // aws-cdk-lib's built-in CloudFormation validation (newer than the lowest supported version;
      // switched off elsewhere in the suite, see test/support/jest-setup.js) finds nothing.
      expect(builtInViolations(outdir)).toEqual([]);
    });

    test('the README\'s usage example compiles (strict) there too', () => {
      const r = compileReadmeUsage(newest.app);
      expect(r.stdout + r.stderr).toBe('');
      expect(r.status).toBe(0);
    });

    test('the built-in validation reports a malformed resource (the check above can fail)', () => {
      const outdir = path.join(newest.app, 'cdk.out.bad');
      const r = runApp(newest.app, MALFORMED_APP, outdir, true);
      expect(r.stderr).toContain('VisibilityTimeout: \'not-a-number\' is not of type \'integer\'');
      expect(builtInViolations(outdir)).toEqual([expect.stringMatching(/^F3012 warning: VisibilityTimeout: 'not-a-number' is not of type 'integer'/)]);
    });
  });

  test('the installed aem-keys command starts and prints its help', () => {
    const bin = path.join(packed.app, 'node_modules', '.bin', 'aem-keys');
    const r = spawnSync(bin, ['--help'], { cwd: packed.app, env: { PATH: process.env.PATH, HOME: process.env.HOME }, encoding: 'utf8' });
    expect(r.stderr).toBe('');
    expect(r.status).toBe(0);
    expect(r.stdout).toMatch(/aem-keys/);
    expect(r.stdout).toMatch(/rollout/);
  });
});

/** What the consumer app's stack holds: a gated group, a tag association, the handler asset. */
function expectConsumerTemplate(outdir: string): void {
  const template = JSON.parse(fs.readFileSync(path.join(outdir, 'Consumer.template.json'), 'utf8'));
  const resources = Object.values<any>(template.Resources);
  const ofType = (t: string) => resources.filter((x) => x.Type === t);
  const commands = ofType('AWS::SSM::Document').filter((d) => d.Properties.DocumentType === 'Command');
  expect(commands).toHaveLength(1);
  const runCommand: string[] = commands[0].Properties.Content.mainSteps[0].inputs.runCommand;
  expect(runCommand[0]).toBe('#!/bin/bash');
  expect(runCommand).toContain('aemkeys_locate_crypto_bundles() {');
  expect(ofType('AWS::SSM::Document').filter((d) => d.Properties.DocumentType === 'Automation')).toHaveLength(1);
  expect(ofType('AWS::SSM::Association')).toHaveLength(1);
  // The gated group's lifecycle rule, and the rule collecting failed association runs.
  expect(ofType('AWS::Events::Rule').map((r) => r.Properties.EventPattern.source[0]).sort()).toEqual(['aws.autoscaling', 'aws.ssm']);
  expect(ofType('AWS::AutoScaling::AutoScalingGroup')[0].Properties.LifecycleHookSpecificationList).toHaveLength(1);
  // The key generator's prebuilt handler is staged as an asset.
  const handler = ofType('AWS::Lambda::Function')[0];
  expect(handler).toBeDefined();
  const assets = fs.readdirSync(outdir).filter((d) => d.startsWith('asset.'));
  expect(assets.some((d) => fs.existsSync(path.join(outdir, d, 'index.js')))).toBe(true);
}
