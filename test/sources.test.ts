import * as fs from 'fs';
import * as path from 'path';
import * as ts from 'typescript';

const root = path.join(__dirname, '..');

function walk(dir: string): string[] {
  return fs.readdirSync(dir, { withFileTypes: true }).flatMap((e) => {
    const p = path.join(dir, e.name);
    return e.isDirectory() ? walk(p) : [p];
  });
}

function readConfig(file: string): ts.CompilerOptions {
  const parsed = ts.getParsedCommandLineOfConfigFile(path.join(root, file), {}, { ...ts.sys, onUnRecoverableConfigFileDiagnostic: () => undefined });
  return parsed!.options;
}

describe('tests run the TypeScript sources, never compiled output', () => {
  test('a .ts module wins over a stale .js beside it', () => {
    const dir = fs.mkdtempSync(path.join(__dirname, '.stale-probe-'));
    try {
      fs.writeFileSync(path.join(dir, 'probe.ts'), "export const from = 'ts';\n");
      fs.writeFileSync(path.join(dir, 'probe.js'), "exports.from = 'js';\n");
      // eslint-disable-next-line @typescript-eslint/no-require-imports -- the point: how require() resolves
      expect(require(path.join(dir, 'probe')).from).toBe('ts');
    } finally {
      fs.rmSync(dir, { recursive: true, force: true });
    }
  });

  test('plain `tsc` emits nothing', () => {
    expect(readConfig('tsconfig.json').noEmit).toBe(true);
  });

  test('the build writes dist/ only, without source maps', () => {
    const build = readConfig('tsconfig.build.json');
    expect(build.noEmit).toBeFalsy();
    expect(path.relative(root, build.outDir!)).toBe('dist');
    expect(path.relative(root, build.rootDir!)).toBe('lib');
    expect([build.sourceMap, build.inlineSourceMap, build.declarationMap]).toEqual([false, false, false]);
  });

  test('no compiled .js or .d.ts lies next to a .ts source', () => {
    const sources = ['lib', 'bin', 'test', 'scripts'].flatMap((d) => walk(path.join(root, d))).filter((f) => /(?<!\.d)\.ts$/.test(f));
    const stale = sources.flatMap((f) => [f.replace(/\.ts$/, '.js'), f.replace(/\.ts$/, '.d.ts')]).filter((f) => fs.existsSync(f));
    expect(stale.map((f) => path.relative(root, f))).toEqual([]);
  });
});
