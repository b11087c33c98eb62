// `npm run lint` (eslint over lib/, bin/, test/, scripts/ and the root configs; `npm run lint -- --fix`
// rewrites what can be rewritten). Syntax rules only (no type information): a lint of the whole tree
// takes seconds, and `tsc --noEmit` (run by `npm test`) already checks the types.
// The layout rules follow what the code already did: 2-space indent, single quotes, semicolons,
// trailing commas on multi-line lists, imports builtin -> external -> ours, each alphabetical.
import js from '@eslint/js';
import stylistic from '@stylistic/eslint-plugin';
import { defineConfig } from 'eslint/config';
import { importX } from 'eslint-plugin-import-x';
import globals from 'globals';
import tseslint from 'typescript-eslint';

export default defineConfig(
  {
    ignores: [
      '**/node_modules/',
      'dist/', // npm run build
      'dist-pacmak/', // npm run pacmak
      'assets/', // prebuilt handler bundles (npm run build:handlers)
      '**/cdk.out/',
      '.bench/',
      'coverage/',
      '**/*.d.ts',
      '**/__snapshots__/',
    ],
  },
  js.configs.recommended,
  tseslint.configs.recommended,
  {
    files: ['**/*.{ts,js,mjs,cjs}'],
    plugins: { '@stylistic': stylistic, 'import-x': importX },
    languageOptions: {
      ecmaVersion: 2022,
      globals: { ...globals.node },
    },
    linterOptions: { reportUnusedDisableDirectives: 'error' },
    rules: {
      // As projen sets it up for CDK construct libraries: 150, and a line may run long only for a
      // string, a template literal or a regular expression (a message or a test name stays one
      // piece that grep finds). Comments count.
      '@stylistic/max-len': ['error', {
        code: 150,
        ignoreUrls: true,
        ignoreRegExpLiterals: true,
        ignoreStrings: true,
        ignoreTemplateLiterals: true,
      }],
      '@stylistic/indent': ['error', 2, { SwitchCase: 1, ignoredNodes: ['TemplateLiteral *'] }],
      '@stylistic/quotes': ['error', 'single', { avoidEscape: true, allowTemplateLiterals: 'always' }],
      '@stylistic/semi': ['error', 'always'],
      '@stylistic/comma-dangle': ['error', 'always-multiline'],
      '@stylistic/eol-last': ['error', 'always'],
      '@stylistic/no-trailing-spaces': 'error',
      '@stylistic/no-multiple-empty-lines': ['error', { max: 1, maxEOF: 0, maxBOF: 0 }],
      '@stylistic/no-tabs': 'error',
      '@stylistic/keyword-spacing': 'error',
      '@stylistic/space-before-blocks': 'error',
      '@stylistic/space-infix-ops': 'error',
      '@stylistic/comma-spacing': 'error',
      '@stylistic/key-spacing': 'error',
      '@stylistic/object-curly-spacing': ['error', 'always'],
      '@stylistic/array-bracket-spacing': ['error', 'never'],
      '@stylistic/member-delimiter-style': 'error',
      '@stylistic/type-annotation-spacing': 'error',
      'import-x/order': ['error', {
        groups: ['builtin', 'external', ['internal', 'parent', 'sibling', 'index']],
        'newlines-between': 'never',
        alphabetize: { order: 'asc', caseInsensitive: true },
      }],
      'import-x/no-duplicates': 'error',
      'import-x/first': 'error',
      'import-x/newline-after-import': 'error',
      // Output goes through the streams a module is given (the CLI's io, a test's capture); a
      // deliberate console line says so with a disable comment.
      'no-console': 'error',
    },
  },
  {
    // `any` here is JSON: synthesized templates, SSM document trees, AWS replies (the tests and
    // benches read them; lib/ builds documents as Record<string, any>). tsc's strict mode checks
    // everything else.
    rules: { '@typescript-eslint/no-explicit-any': 'off' },
  },
  {
    // Build and bench scripts and the example apps report on the console.
    files: ['scripts/**', 'bin/**', 'eslint.config.mjs'],
    rules: { 'no-console': 'off' },
  },
  {
    // CommonJS: the build/test scripts, jest's config and helpers, the CLI launcher.
    files: ['**/*.js', '**/*.cjs'],
    languageOptions: { sourceType: 'commonjs' },
    rules: { '@typescript-eslint/no-require-imports': 'off' },
  },
);
