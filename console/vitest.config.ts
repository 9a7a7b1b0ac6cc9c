import { defineConfig } from "vitest/config";

// Unit tests: formatting and state helpers, no browser, no services.
export default defineConfig({
  oxc: {
    jsx: { runtime: "automatic", importSource: "preact" },
  },
  test: {
    include: ["test/**/*.test.ts"],
    environment: "node",
  },
});
