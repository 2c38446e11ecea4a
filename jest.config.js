/**
 * Two projects so CI can report unit and end-to-end separately; `npm test` runs both.
 * ts-jest in isolated (transpile-only) mode: type errors are caught by `npm run build`
 * and lint, which keeps the test loop fast on 2 cores.
 */
const transform = {
  '^.+\\.ts$': ['ts-jest', { tsconfig: '<rootDir>/tsconfig.json', diagnostics: false }],
};
module.exports = {
  projects: [
    {
      displayName: 'unit',
      rootDir: __dirname,
      testEnvironment: 'node',
      transform,
      testMatch: ['<rootDir>/libs/**/*.spec.ts', '<rootDir>/apps/**/*.spec.ts'],
      setupFiles: ['reflect-metadata'],
      // The SIMD helpers' binaries (dist/wasm/), assembled when missing or stale.
      globalSetup: '<rootDir>/test/support/build-wasm.ts',
    },
    {
      displayName: 'e2e',
      rootDir: __dirname,
      testEnvironment: 'node',
      transform,
      testMatch: ['<rootDir>/test/**/*.e2e-spec.ts'],
      setupFiles: ['reflect-metadata'],
      // Suites that start `phcc-fed` processes run dist/: build it when missing or stale, never skip.
      globalSetup: '<rootDir>/test/support/build-dist.ts',
    },
  ],
};
