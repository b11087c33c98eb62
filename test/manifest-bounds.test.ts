/**
 * Issue 21, findings 2 and 3: the manifest fallback (no bundle.info location names the crypto
 * bundle, so the jars' manifests are read) against jars the AEM user plants in its bundle cache.
 * A deflate bomb must not inflate into root's memory, and a central directory of thousands of
 * tiny entries must not cost root minutes of CPU: the AEM user's own step opens, parses and
 * inflates the jars, within bounds, and root reads one bounded answer. The runs are held to
 * limits (prlimit) instead of being allowed to eat GiBs or minutes.
 */
import { randomBytes } from 'crypto';
import * as fs from 'fs';
import * as path from 'path';
import * as zlib from 'zlib';
import { aemBundles, bundleDir, CRYPTO_FILE, felixCache } from './support/felix';
import { Instance, makeInstance, renderScript, runScript, RunResult, synthInstaller, testUser } from './support/installer-harness';
import { Moto, startMoto } from './support/moto';
import { TestSecrets } from './support/secrets';
import { describeWithTools } from './support/tools';

interface ZipEntry { name: string; method: 0 | 8; data: Buffer; crc: number; size: number }

/** A zip file (no extra fields, no comment) with exactly these entries, sizes and CRCs as given. */
function zip(entries: ZipEntry[]): Buffer {
  const locals: Buffer[] = [];
  const central: Buffer[] = [];
  let offset = 0;
  for (const e of entries) {
    const name = Buffer.from(e.name);
    const local = Buffer.alloc(30);
    local.writeUInt32LE(0x04034b50, 0);
    local.writeUInt16LE(20, 4);
    local.writeUInt16LE(e.method, 8);
    local.writeUInt32LE(e.crc >>> 0, 14);
    local.writeUInt32LE(e.data.length, 18);
    local.writeUInt32LE(e.size, 22);
    local.writeUInt16LE(name.length, 26);
    const cd = Buffer.alloc(46);
    cd.writeUInt32LE(0x02014b50, 0);
    cd.writeUInt16LE(20, 4);
    cd.writeUInt16LE(20, 6);
    cd.writeUInt16LE(e.method, 10);
    cd.writeUInt32LE(e.crc >>> 0, 16);
    cd.writeUInt32LE(e.data.length, 20);
    cd.writeUInt32LE(e.size, 24);
    cd.writeUInt16LE(name.length, 28);
    cd.writeUInt32LE(offset, 42);
    locals.push(local, name, e.data);
    central.push(cd, name);
    offset += 30 + name.length + e.data.length;
  }
  const cdBytes = Buffer.concat(central);
  const end = Buffer.alloc(22);
  end.writeUInt32LE(0x06054b50, 0);
  end.writeUInt16LE(entries.length, 8);
  end.writeUInt16LE(entries.length, 10);
  end.writeUInt32LE(cdBytes.length, 12);
  end.writeUInt32LE(offset, 16);
  return Buffer.concat([...locals, cdBytes, end]);
}

/** Raw deflate data that inflates to `mib` MiB of the letter A (64 MiB blocks, each ended by a full flush). */
function deflateBomb(mib: number): Buffer {
  const block = zlib.deflateRawSync(Buffer.alloc(64 * 1024 * 1024, 0x41), { level: 9, finishFlush: zlib.constants.Z_FULL_FLUSH });
  return Buffer.concat([...Array.from({ length: mib / 64 }, () => block), zlib.deflateRawSync(Buffer.alloc(0))]);
}

const MANIFEST = 'META-INF/MANIFEST.MF';

describeWithTools(['java', 'moto_server', 'aws', 'prlimit'], 'the manifest fallback against jars the AEM user planted', () => {
  let moto: Moto;
  let arn: string;
  const user = testUser();
  const keys = { hmac: randomBytes(32), master: randomBytes(16) };
  const roots: string[] = [];
  const cache = (fillers = 30) => felixCache(aemBundles({ fillers }));

  beforeAll(async () => {
    moto = await startMoto();
    const secrets = new TestSecrets(moto);
    arn = await secrets.create('manifest-bounds', JSON.stringify({ hmac: keys.hmac.toString('base64'), master: keys.master.toString('base64') }));
    secrets.destroy();
  }, 60000);

  afterAll(async () => {
    await moto?.stop();
    for (const r of roots) fs.rmSync(r, { recursive: true, force: true });
  });

  /**
   * An instance whose crypto.file location no longer names it (the manifests must), with `jars`
   * planted in filler bundles' folders and, when given, crypto.file's own jar replaced.
   */
  function instance(jars: Buffer[], cryptoFileJar?: Buffer, fillerCount?: number): Instance {
    const c = cache(fillerCount);
    const inst = makeInstance(c, user);
    roots.push(inst.root);
    const info = path.join(bundleDir(c, inst.felix, CRYPTO_FILE), 'bundle.info');
    const lines = fs.readFileSync(info, 'utf8').split('\n');
    lines[1] = 'slinginstall:cq-crypto-file-renamed.jar';
    fs.writeFileSync(info, lines.join('\n'));
    const fillers = c.bundles.filter((b) => b.symbolicName.startsWith('org.example.filler'));
    const plantJar = (dir: string, bytes: Buffer) => {
      const jar = path.join(dir, 'version0.0', 'bundle.jar');
      fs.writeFileSync(jar, bytes);
      fs.chownSync(jar, user.uid, user.gid);
    };
    jars.forEach((bytes, i) => plantJar(path.join(inst.felix, `bundle${fillers[i].id}`), bytes));
    if (cryptoFileJar) plantJar(bundleDir(c, inst.felix, CRYPTO_FILE), cryptoFileJar);
    return inst;
  }

  function run(inst: Instance, limits: string[]): RunResult {
    const script = renderScript(synthInstaller(), { SecretId: arn, QuickstartDir: inst.quickstart, AemUser: user.name });
    return runScript(inst, script, { ...moto.env, HOME: process.env.HOME ?? '/root' }, { wrap: ['prlimit', ...limits, '--'] });
  }

  const expectInstalled = (r: RunResult, inst: Instance) => {
    expect(r.stderr).toBe('');
    expect(r.status).toBe(0);
    expect(fs.readFileSync(path.join(inst.keyDir, 'hmac'))).toEqual(keys.hmac);
  };

  test('finding 2: a planted jar\'s manifest inflates to 1 GiB (declared 200 bytes): held to 384 MiB, the run finds crypto.file', () => {
    const bomb = zip([{ name: MANIFEST, method: 8, data: deflateBomb(1024), crc: 0x12345678, size: 200 }]);
    expect(bomb.length).toBeLessThan(2 * 1024 * 1024);
    const inst = instance([bomb]);
    expectInstalled(run(inst, [`--as=${384 * 1024 * 1024}`]), inst);
  }, 120000);

  test('finding 3: jars whose 64 KiB central directory is 1,390 tiny entries: held to 15 s of CPU a process, the run finds crypto.file', () => {
    const entry = (name: string, text = ''): ZipEntry => ({ name, method: 0, data: Buffer.from(text), crc: 0, size: text.length });
    const tiny = Array.from({ length: 1390 }, (_, i) => entry(String.fromCharCode(97 + (i % 26))));
    const sink = zip([...tiny, entry(MANIFEST, 'Manifest-Version: 1.0\r\nBundle-SymbolicName: x\r\n\r\n')]);
    const inst = instance([sink, sink, sink]);
    expectInstalled(run(inst, ['--cpu=15']), inst);
  }, 120000);

  // The jars are read many at a time: one head or tail -c of the same size from each, larger
  // windows in smaller steps. A jar whose directory alone is larger than most jars is read so too.
  const manifestEntry = (bsn: string): ZipEntry => {
    const text = Buffer.from(`Manifest-Version: 1.0\r\nBundle-SymbolicName: ${bsn};singleton:=true\r\n\r\n`);
    return { name: MANIFEST, method: 8, data: zlib.deflateRawSync(text), crc: zlib.crc32(text), size: text.length };
  };
  const stored = (name: string, data: Buffer): ZipEntry => ({ name, method: 0, data, crc: zlib.crc32(data), size: data.length });

  /**
   * An AEM-sized cache (656 bundles) whose first 20 fillers the script reads (bundle* in C order,
   * all before crypto.file's folder) have manifests of about 1 MB each (AEM's largest carry long
   * Import-Package lists): 18 MB, more than twice AEMKEYS_MANIFEST_BATCH (8 MiB), so the fallback
   * inflates in several steps before it reaches crypto.file's manifest.
   */
  function bigManifestsFirst(): { inst: Instance; jars: number } {
    const fillers = 650;
    const c = cache(fillers);
    const cryptoFolder = path.basename(bundleDir(c, '', CRYPTO_FILE));
    const first = c.bundles.filter((b) => /^(org\.example\.filler|com\.example\.aem\.bundle)\d+$/.test(b.symbolicName) && `bundle${b.id}` < cryptoFolder)
      .sort((a, b) => (`bundle${a.id}` < `bundle${b.id}` ? -1 : 1)).slice(0, 20);
    const jars = first.map((b) => {
      const text = Buffer.from(`Manifest-Version: 1.0\r\nBundle-SymbolicName: ${b.symbolicName}\r\n`
        + `Import-Package: ${'org.example.api.pkg;version="[1.0,2)",'.repeat(26_000)}org.example.end\r\n\r\n`);
      return zip([{ name: MANIFEST, method: 8, data: zlib.deflateRawSync(text), crc: zlib.crc32(text), size: text.length }]);
    });
    const inst = instance([], undefined, fillers);
    first.forEach((b, i) => fs.writeFileSync(path.join(inst.felix, `bundle${b.id}`, 'version0.0', 'bundle.jar'), jars[i]));
    return { inst, jars: jars.length };
  }

  test('manifests of more than 16 MiB in all before crypto.file\'s: inflated in several steps, the run finds crypto.file', () => {
    const { inst, jars } = bigManifestsFirst();
    expect(jars).toBe(20);
    expectInstalled(run(inst, []), inst);
  }, 120000);

  test('crypto.file\'s jar has a central directory over 128 KiB (3,000 entries): the run finds crypto.file', () => {
    const classes = Array.from({ length: 3000 }, (_, i) => stored(`c/C${String(i).padStart(4, '0')}.class`, Buffer.from('x')));
    const big = zip([manifestEntry(CRYPTO_FILE), ...classes]);
    expect(big.readUInt32LE(big.length - 22 + 12)).toBeGreaterThan(128 * 1024);
    const inst = instance([], big);
    expectInstalled(run(inst, []), inst);
  }, 120000);
});
