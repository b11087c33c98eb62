import * as fs from 'fs';
import * as os from 'os';
import * as path from 'path';
import { App } from 'aws-cdk-lib';
import { ExampleAemStack, ExampleAemStackProps } from '../../bin/example-stack';
import { DATA_BLOCK_MARKER } from '../../lib/private/shell-script-document';

/** The context of the repository's cdk.json (the feature flags of a new `cdk init` app): what `cdk synth` of the examples sees. */
export function exampleContext(): Record<string, unknown> {
  return JSON.parse(fs.readFileSync(path.join(__dirname, '..', '..', 'cdk.json'), 'utf8')).context ?? {};
}

/** Synthesizes the example stack, with cdk.json's context, into a fresh temporary cloud assembly folder. */
export function synthExample(props: ExampleAemStackProps = {}, aspects?: (app: App, stack: ExampleAemStack) => void) {
  const outdir = fs.mkdtempSync(path.join(os.tmpdir(), 'aem-keys-cdk-out-'));
  const app = new App({ outdir, context: exampleContext() });
  const stack = new ExampleAemStack(app, 'AemCryptoKeysExample', props);
  aspects?.(app, stack);
  const assembly = app.synth();
  return { app, stack, outdir, assembly, template: assembly.getStackByName(stack.stackName).template };
}

/**
 * Replaces asset hashes (S3 keys, asset paths, hashes in metadata) with stable placeholders, the
 * way cdk-monitoring-constructs' StableTestKeys does, and the body of each embedded on-instance
 * script with one line naming it (the scripts have tests of their own; the data block, the
 * document's interface, stays), so snapshots change only when the infrastructure does, not when
 * a bundled script or handler changes by a byte.
 */
export function stableTemplate(template: unknown): unknown {
  const text = JSON.stringify(template)
    .replace(/[0-9a-f]{64}(\.zip|\.json)?/g, (_m, ext) => `ASSET_HASH${ext ?? ''}`);
  return JSON.parse(text, (key, value) => (key === 'runCommand' && Array.isArray(value) ? stableRunCommand(value) : value));
}

function stableRunCommand(lines: string[]): string[] {
  const data = lines.indexOf(DATA_BLOCK_MARKER);
  if (lines[0] !== '#!/bin/bash' || data < 0) return lines;
  const name = /^# ([\w.-]+\.sh)[: ]/.exec(lines[1] ?? '')?.[1] ?? 'script';
  return [`EMBEDDED_SCRIPT ${name}`, ...lines.slice(data)];
}
