/** @type {import('jest').Config} */
module.exports = {
  testEnvironment: 'node',
  roots: ['<rootDir>/test'],
  testMatch: ['**/*.test.ts'],
  transform: { '^.+\\.tsx?$': 'ts-jest' },
  // Tests always run the TypeScript sources: a .ts file wins over a .js beside it, and the built
  // package (dist/) is invisible to jest.
  moduleFileExtensions: ['ts', 'tsx', 'js', 'json', 'node'],
  modulePathIgnorePatterns: ['<rootDir>/dist/'],
  globalSetup: '<rootDir>/test/support/global-setup.js',
  globalTeardown: '<rootDir>/test/support/global-teardown.js',
  setupFiles: ['<rootDir>/test/support/jest-setup.js'],
  testTimeout: 120000,
  reporters: ['default', '<rootDir>/test/support/skip-reporter.js'],
};
