import js from '@eslint/js';
import tseslint from 'typescript-eslint';
import prettier from 'eslint-config-prettier';

export default tseslint.config(
  { ignores: ['dist/**', 'node_modules/**', 'runs/**', 'coverage/**', '**/*.js', '**/*.mjs'] },
  js.configs.recommended,
  ...tseslint.configs.recommended,
  prettier,
  {
    rules: {
      '@typescript-eslint/no-unused-vars': ['error', { argsIgnorePattern: '^_', varsIgnorePattern: '^_' }],
      '@typescript-eslint/no-explicit-any': 'error',
      'no-console': 'off',
    },
  },
  // Library boundaries, enforced here rather than by comments. The coordinator and the libraries it
  // loads (libs/common, weights, protocol, metrics, federated: every one it imports) never load
  // TensorFlow.js (a coordinator host needs no compute engine); libs/weights is the codec alone.
  // Paths are matched on the import specifier, so every relative depth is covered.
  {
    files: [
      'libs/common/**/*.ts',
      'libs/weights/**/*.ts',
      'libs/protocol/**/*.ts',
      'libs/metrics/**/*.ts',
      'libs/federated/**/*.ts',
      'apps/coordinator/**/*.ts',
    ],
    ignores: ['libs/federated/src/proximal-tf.ts', 'libs/federated/src/**/*.spec.ts'],
    rules: {
      'no-restricted-imports': [
        'error',
        {
          patterns: [
            {
              group: ['@tensorflow/*'],
              message: 'this code must not load TensorFlow.js (see docs/ARCHITECTURE.md).',
            },
            {
              group: ['**/model/src', '**/model/src/*', '**/compute/src', '**/compute/src/*'],
              message: 'libs/model and libs/compute load TensorFlow.js: use libs/weights for the codec.',
            },
          ],
        },
      ],
    },
  },
  {
    files: ['libs/weights/**/*.ts'],
    rules: {
      'no-restricted-imports': [
        'error',
        {
          patterns: [
            { group: ['@tensorflow/*'], message: 'libs/weights is the codec alone: no TensorFlow.js.' },
            {
              group: [
                '**/model/src*',
                '**/compute/src*',
                '**/federated/src*',
                '**/protocol/src*',
                '**/imaging/src*',
              ],
              message: 'libs/weights depends on libs/common only.',
            },
          ],
        },
      ],
    },
  },
  // The compute engine (backends, wasm kernels, workers) knows no network, federation or imaging:
  // libs/model builds on it, never the reverse. Specs included, so a test cannot smuggle the
  // dependency back in.
  {
    files: ['libs/compute/**/*.ts'],
    rules: {
      'no-restricted-imports': [
        'error',
        {
          patterns: [
            {
              group: [
                '**/model/src*',
                '**/federated/src*',
                '**/imaging/src*',
                '**/protocol/src*',
                '**/metrics/src*',
                '**/apps/*',
              ],
              message:
                'libs/compute depends on libs/common, libs/weights and TensorFlow.js only (docs/BACKENDS.md).',
            },
          ],
        },
      ],
    },
  },
);
