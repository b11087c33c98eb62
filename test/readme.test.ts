import * as fs from 'fs';
import * as path from 'path';

// Issue 20 item 5: the README is for the person installing the package, at most 32 KiB; the
// details live in docs/, which the package ships, and every relative link resolves.

const root = path.join(__dirname, '..');
const readme = fs.readFileSync(path.join(root, 'README.md'), 'utf8');
const shipped: string[] = JSON.parse(fs.readFileSync(path.join(root, 'package.json'), 'utf8')).files;

test('README.md is at most 32 KiB', () => {
  expect(Buffer.byteLength(readme)).toBeLessThanOrEqual(32 * 1024);
});

test('README.md starts the reader at npm install', () => {
  const install = readme.indexOf('npm install cdk-aem-crypto-keys');
  expect(install).toBeGreaterThan(0);
  expect(install).toBeLessThan(readme.indexOf('## Using it in your stack'));
});

test('README.md gives a newcomer on a fresh clone the two set-up commands', () => {
  expect(readme).toContain('npm ci && npx cdk synth');
  expect(readme).toContain('\nnpm test\n');
});

test('relative links in README.md and docs/ point at files the package ships', () => {
  const files = ['README.md', ...fs.readdirSync(path.join(root, 'docs')).map((f) => `docs/${f}`)];
  const broken: string[] = [];
  for (const f of files) {
    const text = fs.readFileSync(path.join(root, f), 'utf8');
    for (const [, target] of text.matchAll(/\]\(([^)#:]+)(#[^)]*)?\)/g)) {
      const resolved = path.normalize(path.join(path.dirname(f), target));
      const inPackage = shipped.some((pattern) => pattern === resolved || (pattern === 'docs/*.md' && /^docs\/[^/]+\.md$/.test(resolved)));
      if (!fs.existsSync(path.join(root, resolved)) || !inPackage) broken.push(`${f}: ${target}`);
    }
  }
  expect(broken).toEqual([]);
});
