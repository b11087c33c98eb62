import { execFileSync } from 'child_process';
import { createHash } from 'crypto';
import * as fs from 'fs';
import * as os from 'os';
import * as path from 'path';

/** Debian's libfelix-framework-java (Apache Felix 4.6). */
export const FELIX_JAR = process.env.FELIX_JAR ?? '/usr/share/java/org.apache.felix.framework.jar';
const HARNESS = path.join(__dirname, 'felix', 'Harness.java');
const JAVA_OPENS = ['java.net', 'java.security', 'java.lang'].flatMap((p) => ['--add-opens', `java.base/${p}=ALL-UNNAMED`]);

/** One bundle the harness installs into a real Felix framework. */
export interface BundleSpec {
  readonly location: string;
  readonly symbolicName: string;
  readonly version: string;
  /** Started (persistent state 32 in bundle.info) or only installed (2). */
  readonly start: boolean;
  /** Incompressible bytes stored in the jar (for the benchmark). */
  readonly padBytes?: number;
  /** Ask Felix for the bundle's data folder (as AEM's crypto bundles do). */
  readonly data?: boolean;
  /** How the jar's manifest is written (see Harness.java). @default 'deflated' */
  readonly manifest?: 'deflated' | 'stored' | 'folded';
  /** Update the bundle to this jar after installing it (a second revision, version0.1/). */
  readonly updateTo?: { readonly symbolicName: string; readonly version: string };
}

/** One installed bundle: what the harness reports. */
export interface InstalledBundle {
  readonly id: number;
  readonly symbolicName: string;
  readonly location: string;
}

export const CRYPTO_FILE = 'com.adobe.granite.crypto.file';
export const CRYPTO = 'com.adobe.granite.crypto';

/**
 * AEM-like bundle list: `fillers` filler bundles around the two crypto bundles (with AEM's
 * locations) and the decoys whose names share the `com.adobe.granite.crypto` prefix.
 */
export function aemBundles(opts: { fillers?: number; padBytes?: number; cryptoFileStarted?: boolean; extra?: BundleSpec[] } = {}): BundleSpec[] {
  const fillers = opts.fillers ?? 650;
  const pad = opts.padBytes ?? 0;
  const filler = (i: number): BundleSpec => ({
    location: i % 3 === 0
      ? `launchpad:resources/install/${i % 30}/org.example.filler${i}-2.${i % 7}.${i}.jar`
      : `slinginstall:com.example.aem.bundle${i}-1.0.${i}.jar`,
    symbolicName: i % 3 === 0 ? `org.example.filler${i}` : `com.example.aem.bundle${i}`,
    version: `1.0.${i}`,
    start: i % 2 === 0,
    padBytes: pad,
  });
  const half = Math.floor(fillers / 2);
  return [
    ...Array.from({ length: half }, (_, i) => filler(i)),
    { location: 'launchpad:resources/install/0/com.adobe.granite.crypto.config-1.0.4.jar', symbolicName: 'com.adobe.granite.crypto.config', version: '1.0.4', start: true, data: true, padBytes: pad },
    { location: 'launchpad:resources/install/0/com.adobe.granite.crypto.file-1.0.18.jar', symbolicName: CRYPTO_FILE, version: '1.0.18', start: opts.cryptoFileStarted ?? true, data: true, padBytes: pad },
    { location: 'launchpad:resources/install/0/com.adobe.granite.crypto.extension-1.0.6.jar', symbolicName: 'com.adobe.granite.crypto.extension', version: '1.0.6', start: true, data: true, padBytes: pad },
    { location: 'slinginstall:com.adobe.granite.crypto-3.0.4.jar', symbolicName: CRYPTO, version: '3.0.4', start: true, data: true, padBytes: pad },
    { location: 'slinginstall:com.adobe.granite.crypto.jcr-1.0.2.jar', symbolicName: 'com.adobe.granite.crypto.jcr', version: '1.0.2', start: true, data: true, padBytes: pad },
    // The crypto.file name in the path, but another jar at its end.
    { location: 'jcrinstall:/libs/com.adobe.granite.crypto.file/install/com.adobe.granite.crypto.file.support-1.0.0.jar', symbolicName: 'com.adobe.granite.crypto.file.support', version: '1.0.0', start: true, data: true, padBytes: pad },
    ...(opts.extra ?? []),
    ...Array.from({ length: fillers - half }, (_, i) => filler(half + i)),
  ];
}

/**
 * A genuine Felix bundle cache (the `launchpad/felix` folder) built by starting Apache Felix with
 * org.osgi.framework.storage, installing and starting the bundles and stopping it. Built once per
 * spec and harness version under the OS temp folder; callers copy it (`cp -a`).
 */
export function felixCache(spec: BundleSpec[]): { dir: string; bundles: InstalledBundle[] } {
  const lines = spec.map((b) => [b.location, b.symbolicName, b.version, b.start ? 1 : 0, b.padBytes ?? 0, b.data ? 1 : 0,
    ...(b.manifest || b.updateTo ? [b.manifest ?? 'deflated', b.updateTo ? `${b.updateTo.symbolicName}@${b.updateTo.version}` : '-'] : [])].join('\t'));
  const hash = createHash('sha256').update(fs.readFileSync(HARNESS)).update(lines.join('\n')).digest('hex').slice(0, 16);
  // The suite's temp folder is per run (test/support/global-setup.js); the caches outlive it.
  const root = path.join(process.env.AEM_KEYS_FELIX_CACHE_DIR ?? os.tmpdir(), `aem-keys-felix-${hash}`);
  const done = path.join(root, 'bundles.tsv');
  if (!fs.existsSync(done)) {
    const work = `${root}.${process.pid}.partial`;
    fs.rmSync(work, { recursive: true, force: true });
    fs.mkdirSync(work, { recursive: true });
    fs.writeFileSync(path.join(work, 'spec.tsv'), lines.join('\n') + '\n');
    const out = execFileSync('java', [...JAVA_OPENS, '-cp', FELIX_JAR, HARNESS, path.join(work, 'felix'), path.join(work, 'spec.tsv')], {
      encoding: 'utf8', stdio: ['ignore', 'pipe', 'pipe'], maxBuffer: 64 * 1024 * 1024,
    });
    fs.rmSync(path.join(work, 'felix', 'cache.lock'), { force: true });
    fs.writeFileSync(path.join(work, 'bundles.tsv'), out);
    try {
      fs.renameSync(work, root);
    } catch {
      fs.rmSync(work, { recursive: true, force: true }); // another process built it first
    }
  }
  const bundles = fs.readFileSync(done, 'utf8').trim().split('\n').map((l) => {
    const [id, symbolicName, location] = l.split('\t');
    return { id: Number(id), symbolicName, location };
  });
  return { dir: path.join(root, 'felix'), bundles };
}

/** The bundle folder (`bundle<ID>`) of the first bundle with that symbolic name. */
export function bundleDir(cache: { bundles: InstalledBundle[] }, felixDir: string, symbolicName: string, nth = 0): string {
  const matches = cache.bundles.filter((b) => b.symbolicName === symbolicName);
  if (matches.length <= nth) throw new Error(`no bundle ${symbolicName} #${nth}`);
  return path.join(felixDir, `bundle${matches[nth].id}`);
}
