// Lint: type-aware rules from typescript-eslint, no import cycles, and the layers of src/ kept pointing one way.
import js from "@eslint/js";
import { createTypeScriptImportResolver } from "eslint-import-resolver-typescript";
import { importX } from "eslint-plugin-import-x";
import tseslint from "typescript-eslint";

/** What each folder of src/ may not import: routes -> chat -> db, with HTTP and observability beside them. */
const layers = {
  "src/lib/**": ["**/chat/**", "**/db/**", "**/http/**", "**/observability/**", "**/routes/**", "**/cli/**"],
  "src/db/**": ["**/chat/**", "**/http/**", "**/observability/**", "**/routes/**", "**/cli/**"],
  "src/chat/**": ["**/http/**", "**/observability/**", "**/routes/**", "**/cli/**", "**/app.js", "**/server.js", "**/config.js"],
  "src/http/**": ["**/routes/**", "**/observability/**", "**/cli/**", "**/app.js", "**/server.js"],
  "src/observability/**": ["**/routes/**", "**/cli/**", "**/app.js", "**/server.js"],
  "src/routes/**": ["**/cli/**", "**/app.js", "**/server.js"],
  // The terminal client shares one file of the domain: the username rule, which imports nothing.
  "src/cli/**": [
    "**/chat/**",
    "!**/chat/username.js",
    "**/db/**",
    "**/http/**",
    "**/observability/**",
    "**/routes/**",
    "**/app.js",
    "**/server.js",
  ],
};

export default tseslint.config(
  { ignores: ["dist/", "node_modules/", "coverage/", "reports/", ".stryker-tmp/", ".scratch/", "drizzle/", "web/dist/"] },
  js.configs.recommended,
  ...tseslint.configs.recommendedTypeChecked,
  {
    languageOptions: { parserOptions: { projectService: true, tsconfigRootDir: import.meta.dirname } },
    plugins: { "import-x": importX },
    settings: {
      ...importX.flatConfigs.typescript.settings,
      "import-x/resolver-next": [createTypeScriptImportResolver()],
    },
    rules: {
      "@typescript-eslint/no-floating-promises": "error",
      "@typescript-eslint/switch-exhaustiveness-check": ["error", { considerDefaultExhaustiveForUnions: true }],
      "@typescript-eslint/no-unused-vars": ["error", { argsIgnorePattern: "^_", varsIgnorePattern: "^_" }],
      "@typescript-eslint/only-throw-error": ["error", { allowThrowingUnknown: true }],
      "@typescript-eslint/restrict-template-expressions": ["error", { allowNumber: true, allowArray: true }],
      // Domain objects are closures, not classes: their methods never use `this`.
      "@typescript-eslint/unbound-method": "off",
      "import-x/no-cycle": ["error", { ignoreExternal: true }],
      "no-console": "error",
    },
  },
  ...Object.entries(layers).map(([folder, forbidden]) => ({
    files: [folder],
    rules: {
      "no-restricted-imports": [
        "error",
        {
          patterns: [
            { group: forbidden, message: `${folder.replace("/**", "")} may not import this layer (see Layout in the README)` },
          ],
        },
      ],
    },
  })),
  {
    // The terminal client, the start-up script and the tools print to the terminal by design.
    files: ["src/cli/**", "src/index.ts", "bench/**", "scripts/**", "test/**"],
    rules: { "no-console": "off" },
  },
  {
    // Tests read JSON bodies as loose data and hand app.request()'s Response | Promise<Response> to Promise.all.
    files: ["test/**"],
    rules: {
      "@typescript-eslint/no-unsafe-assignment": "off",
      "@typescript-eslint/no-unsafe-member-access": "off",
      "@typescript-eslint/no-unsafe-return": "off",
      "@typescript-eslint/no-unsafe-argument": "off",
      "@typescript-eslint/await-thenable": "off",
      "@typescript-eslint/require-await": "off",
      "@typescript-eslint/no-explicit-any": "off",
      "@typescript-eslint/prefer-promise-reject-errors": "off",
      "@typescript-eslint/no-misused-promises": ["error", { checksVoidReturn: false }],
    },
  },
  {
    files: ["**/*.js"],
    ...tseslint.configs.disableTypeChecked,
  },
  {
    // The web page's script runs in the browser, unbundled.
    files: ["src/web/**/*.js"],
    languageOptions: {
      sourceType: "module",
      globals: Object.fromEntries(
        ["document", "fetch", "EventSource", "FormData", "URLSearchParams", "setTimeout"].map((name) => [name, "readonly"]),
      ),
    },
  },
);
