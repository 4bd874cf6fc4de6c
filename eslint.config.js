// ESLint for the TypeScript (and the few .js/.mjs scripts) in src/, test/, bench/ and scripts/; run by `npm run lint`.
// Tuned to the house style: each rule turned off or adjusted says why in one line.
import js from '@eslint/js';
import globals from 'globals';
import tseslint from 'typescript-eslint';

export default tseslint.config(
  { ignores: ['dist/', 'build/', 'node_modules/'] },
  js.configs.recommended,
  ...tseslint.configs.recommended,
  {
    languageOptions: { ecmaVersion: 2023, sourceType: 'module', globals: { ...globals.node } },
    rules: {
      // A leading underscore marks a binding kept on purpose (a rest-omitted field, a callback's unused parameter).
      '@typescript-eslint/no-unused-vars': [
        'error',
        { argsIgnorePattern: '^_', varsIgnorePattern: '^_', caughtErrorsIgnorePattern: '^_', ignoreRestSiblings: true },
      ],
      // The house style gives a variable its default where it is declared, even when every branch then assigns it.
      'no-useless-assignment': 'off',
    },
  },
  {
    // Type tests: a value declared only so that its type is checked is the point there.
    files: ['test/types/**'],
    rules: { '@typescript-eslint/no-unused-vars': 'off' },
  },
);
