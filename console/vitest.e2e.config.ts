import { defineConfig } from "vitest/config";

// End-to-end: the built console (dist/) served by the launcher binary, driven in Debian's
// Chromium through playwright-core. One flow, in order, in one worker.
export default defineConfig({
  test: {
    include: ["e2e/**/*.e2e.ts"],
    environment: "node",
    testTimeout: 120_000,
    hookTimeout: 120_000,
    fileParallelism: false,
    sequence: { concurrent: false },
  },
});
