/** Unit specs sit beside the code; integration specs (real RabbitMQ and Redis) live in test/. */
const common = {
  preset: 'ts-jest',
  testEnvironment: 'node',
  moduleNameMapper: { '^@farm/common(|/.*)$': '<rootDir>/libs/common/src$1' },
  transform: { '^.+\\.ts$': ['ts-jest', { diagnostics: false, tsconfig: { isolatedModules: true } }] },
};
module.exports = {
  // Used with --coverage (scripts/coverage.js): V8 coverage of every app and library source file.
  coverageProvider: 'v8',
  collectCoverageFrom: ['{apps,libs}/**/*.ts', '!**/*.spec.ts', '!libs/common/src/testing/**'],
  projects: [
    { ...common, displayName: 'unit', testMatch: ['<rootDir>/{apps,libs}/**/*.spec.ts'] },
    {
      ...common,
      displayName: 'integration',
      testMatch: ['<rootDir>/test/**/*.int-spec.ts'],
      setupFilesAfterEnv: ['<rootDir>/test/support/timeout.ts'],
      globalSetup: '<rootDir>/test/global-setup.ts',
      globalTeardown: '<rootDir>/test/global-teardown.ts',
    },
  ],
};
