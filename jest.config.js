/** Unit specs sit beside the code; integration specs (real RabbitMQ and Redis) live in test/. */
const common = {
  preset: 'ts-jest',
  testEnvironment: 'node',
  moduleNameMapper: { '^@farm/common(|/.*)$': '<rootDir>/libs/common/src$1' },
  transform: {
    '^.+\\.ts$': ['ts-jest', { diagnostics: false, tsconfig: { isolatedModules: true } }],
    // NestJS 12 ships ES modules only. Node 20 loads them with require(esm); jest's own module
    // loader does so only from Node 24.9 on, so on older Node jest compiles them to CommonJS.
    // The OpenAPI validator the tests use is an ES module too.
    '^.+/node_modules/(@nestjs|@seriousme)/.+\\.js$': '<rootDir>/test/support/esm-transform.js',
  },
  transformIgnorePatterns: ['/node_modules/(?!@nestjs/|@seriousme/)'],
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
