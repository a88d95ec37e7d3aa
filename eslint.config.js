// Lint: typescript-eslint (strict, type-checked), function and file size limits, and the layering
// rules of README "Architecture". `npm run lint` runs this, `prettier --check` and tsc; CI runs it.
import eslint from '@eslint/js';
import tseslint from 'typescript-eslint';
import comments from '@eslint-community/eslint-plugin-eslint-comments/configs';

/** Only src/sandbox/, the composition root, test/ and bench/ may import the simulators. */
const NO_SIMULATORS = {
  regex: '(^|/)sandbox/',
  message:
    'only src/sandbox/, src/service.ts (the composition root), test/ and bench/ may import the simulators (src/sandbox/)',
};

export default tseslint.config(
  { ignores: ['node_modules/**', 'coverage/**', '**/*.cjs', '**/*.mjs', 'eslint.config.js'] },
  eslint.configs.recommended,
  tseslint.configs.strictTypeChecked,
  comments.recommended,
  {
    languageOptions: {
      parserOptions: { projectService: true, tsconfigRootDir: import.meta.dirname },
    },
    linterOptions: { reportUnusedDisableDirectives: 'error' },
    rules: {
      // A disabled rule must say why, on the same comment.
      '@eslint-community/eslint-comments/require-description': ['error', { ignore: [] }],
      '@eslint-community/eslint-comments/disable-enable-pair': ['error', { allowWholeFile: true }],
      'max-lines-per-function': ['error', { max: 80, skipBlankLines: true, skipComments: true, IIFEs: true }],
      'max-lines': ['error', { max: 400, skipBlankLines: false, skipComments: false }],
      '@typescript-eslint/restrict-template-expressions': ['error', { allowNumber: true, allowBoolean: true }],
      '@typescript-eslint/no-unused-vars': [
        'error',
        { argsIgnorePattern: '^_', varsIgnorePattern: '^_', caughtErrors: 'none' },
      ],
    },
  },
  // Layering (README "Architecture"). Each rule says which direction of dependency it forbids and
  // why. ESLint keeps only the last options of a rule per file, so the stricter block repeats the
  // general one's pattern.
  {
    // Production code never depends on the simulators: a vendor's sandbox wiring lives under
    // src/sandbox/<vendor>/ and only the composition root (src/service.ts) plugs it in. Tests and
    // benchmarks may use them. (src/cli/main.ts starts `erasure sandbox` through a dynamic import.)
    files: ['src/**', 'jobs/**', 'queues/**'],
    ignores: ['src/sandbox/**', 'src/service.ts'],
    rules: { 'no-restricted-imports': ['error', { patterns: [NO_SIMULATORS] }] },
  },
  {
    // The HTTP surfaces and operator operations talk to the ledger, the queues and breakers
    // (src/infrastructure/) and the processor contracts (src/connectors/processor-contract.ts),
    // never to job processors or worker internals: workers alone run those, so changing them
    // cannot break the API.
    files: ['src/api/**', 'src/dashboard/**', 'src/opendsr/**', 'src/operations/**'],
    rules: {
      'no-restricted-imports': [
        'error',
        {
          patterns: [
            NO_SIMULATORS,
            {
              regex: '(^|/)jobs/',
              message:
                'api, dashboard, opendsr and operations may not import job processors (jobs/); the contracts are in src/connectors/processor-contract.ts',
            },
            {
              regex: '(^|/)workers/',
              message:
                'api, dashboard, opendsr and operations may not import worker internals (src/workers/); queues and breakers are in src/infrastructure/',
            },
          ],
        },
      ],
    },
  },
  {
    // The simulators imitate whole vendor APIs; their files may be long (issue 18 acceptance 5),
    // and so may their route tables. Their checks guard hostile request bodies whose declared
    // types claim more than arrives, so a condition the types call unnecessary is the guard.
    files: ['src/sandbox/**'],
    rules: {
      'max-lines': 'off',
      'max-lines-per-function': 'off',
      '@typescript-eslint/no-unnecessary-condition': 'off',
    },
  },
  {
    // Tests: describe() blocks are long by nature, and fakes may be loosely typed.
    files: ['test/**', 'bench/**'],
    rules: {
      'max-lines-per-function': 'off',
      'max-lines': 'off',
      '@typescript-eslint/no-explicit-any': 'off',
      '@typescript-eslint/no-non-null-assertion': 'off',
      '@typescript-eslint/no-unsafe-assignment': 'off',
      '@typescript-eslint/no-unsafe-member-access': 'off',
      '@typescript-eslint/no-unsafe-call': 'off',
      '@typescript-eslint/no-unsafe-argument': 'off',
      '@typescript-eslint/no-unused-expressions': 'off',
      '@typescript-eslint/no-floating-promises': 'off',
      // Fakes implement async interfaces (a ledger, a client) without awaiting anything.
      '@typescript-eslint/require-await': 'off',
      // Tests check what the types promise (a field present, a hostile answer's leftovers), so a
      // condition the types call unnecessary is often the assertion itself.
      '@typescript-eslint/no-unnecessary-condition': 'off',
      // Fakes return loosely typed doubles and parsed JSON bodies from helpers.
      '@typescript-eslint/no-unsafe-return': 'off',
      // A test casts a caught error to the class it has just asserted it is, to read its fields.
      '@typescript-eslint/no-unsafe-class-instance-assignment': 'off',
      // `.catch((err: Error) => err)` captures the error a test then asserts on.
      '@typescript-eslint/use-unknown-in-catch-callback-variable': 'off',
    },
  },
);
