import * as fs from 'fs';
import * as path from 'path';

/** What a leaked AEM key would look like in text. */
const PATTERNS: Array<[string, RegExp]> = [
  ['a JSON "hmac"/"master" field with a base64 value', /"(hmac|master)"\s*:\s*"[A-Za-z0-9+/]{16,}={0,2}"/],
  ['base64 of exactly 32 bytes (an hmac key)', /(?<![A-Za-z0-9+/])[A-Za-z0-9+/]{43}=(?![A-Za-z0-9+/=])/],
  ['base64 of exactly 16 bytes (a master key)', /(?<![A-Za-z0-9+/])[A-Za-z0-9+/]{22}==(?![A-Za-z0-9+/=])/],
];

export interface Finding {
  readonly file: string;
  readonly what: string;
}

/** Lists every file under `dir`, recursively. */
export function listFiles(dir: string): string[] {
  return fs.readdirSync(dir, { withFileTypes: true }).flatMap((e) => {
    const full = path.join(dir, e.name);
    return e.isDirectory() ? listFiles(full) : [full];
  });
}

/** Scans text for key-like material; `known` raw keys are also searched for in base64 and hex. */
export function scanText(text: string, known: Buffer[] = []): string[] {
  const hits = PATTERNS.filter(([, re]) => re.test(text)).map(([what]) => what);
  for (const key of known) {
    if (text.includes(key.toString('base64')) || text.toLowerCase().includes(key.toString('hex'))) {
      hits.push('a known key, in base64 or hex');
    }
  }
  return hits;
}

/** Scans every file under `dir` (templates, asset folders, manifests). */
export function scanDirectory(dir: string, known: Buffer[] = []): Finding[] {
  return listFiles(dir).flatMap((file) => {
    const bytes = fs.readFileSync(file);
    const raw = known.some((k) => bytes.includes(k)) ? ['a known key, raw'] : [];
    return [...raw, ...scanText(bytes.toString('latin1'), known)].map((what) => ({ file: path.relative(dir, file), what }));
  });
}
