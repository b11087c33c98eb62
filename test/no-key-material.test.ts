import * as fs from 'fs';
import * as path from 'path';
import { generateKeySet, serializeKeySet } from '../lib/private/key-set';
import { scanDirectory } from './support/key-scan';
import { synthExample } from './support/synth';

describe('nothing key-like is synthesized', () => {
  const { outdir } = synthExample();

  test('the cloud assembly (templates, assets, manifests) holds no key-like material', () => {
    expect(fs.readdirSync(outdir).some((f) => f.startsWith('asset.'))).toBe(true);
    expect(scanDirectory(outdir)).toEqual([]);
  });

  test('the scanner finds a key set planted into a copy of the assembly', () => {
    const keys = generateKeySet();
    const planted = path.join(outdir, 'planted.json');
    fs.writeFileSync(planted, serializeKeySet(keys));
    try {
      const findings = scanDirectory(outdir, [keys.hmac, keys.master]).map((f) => f.what);
      expect(findings).toEqual(expect.arrayContaining([
        'a JSON "hmac"/"master" field with a base64 value',
        'base64 of exactly 32 bytes (an hmac key)',
        'base64 of exactly 16 bytes (a master key)',
        'a known key, in base64 or hex',
      ]));
    } finally {
      fs.unlinkSync(planted);
    }
  });
});
