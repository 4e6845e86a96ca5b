// @ts-check
import eslint from '@eslint/js';
import globals from 'globals';
import tseslint from 'typescript-eslint';

export default tseslint.config(
  { ignores: ['dist/**', 'coverage/**', '.data/**', '**/node_modules/**', 'bench/results/**'] },
  eslint.configs.recommended,
  // TypeScript with type information: the rules that catch a floating promise or an unchecked `any` in a queue.
  {
    files: ['**/*.ts'],
    extends: [...tseslint.configs.recommendedTypeChecked],
    languageOptions: { parserOptions: { projectService: true, tsconfigRootDir: import.meta.dirname } },
  },
  // Tests read untyped JSON (HTTP bodies, rows, metrics text) and fake async interfaces with plain functions: the
  // `any` rules would only add casts that prove nothing there.
  {
    files: ['test/**/*.ts', '**/*.spec.ts'],
    rules: {
      '@typescript-eslint/no-explicit-any': 'off',
      '@typescript-eslint/no-unsafe-argument': 'off',
      '@typescript-eslint/no-unsafe-assignment': 'off',
      '@typescript-eslint/no-unsafe-call': 'off',
      '@typescript-eslint/no-unsafe-member-access': 'off',
      '@typescript-eslint/no-unsafe-return': 'off',
      '@typescript-eslint/require-await': 'off',
      '@typescript-eslint/unbound-method': 'off',
    },
  },
  // The library is reached through its entries only: the sample app through the public one, the tests also through
  // the internal one (`libs/job-queue/src/internal.ts`), never by deep imports that tie them to its file layout.
  {
    files: ['apps/**/*.ts'],
    rules: {
      'no-restricted-imports': [
        'error',
        { patterns: [{ group: ['@app/job-queue/*'], message: 'The sample app uses the public API: @app/job-queue.' }] },
      ],
    },
  },
  {
    files: ['test/**/*.ts'],
    rules: {
      'no-restricted-imports': [
        'error',
        {
          patterns: [
            {
              group: ['@app/job-queue/*', '!@app/job-queue/internal'],
              message: 'Tests import @app/job-queue or @app/job-queue/internal (add what they need there).',
            },
          ],
        },
      ],
    },
  },
  // Plain Node scripts (CommonJS): the start script, the bench harness, build configs.
  {
    files: ['**/*.js', '**/*.cjs'],
    languageOptions: { sourceType: 'commonjs', globals: { ...globals.node } },
  },
  { files: ['**/*.mjs'], languageOptions: { globals: { ...globals.node } } },
);
