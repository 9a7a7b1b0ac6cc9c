import { defineConfig } from "vite";

// The console is a static bundle: the launcher serves dist/ and answers /config.json with the
// services' grpc-web addresses.
export default defineConfig({
  oxc: {
    jsx: { runtime: "automatic", importSource: "preact" },
  },
  build: {
    outDir: "dist",
    emptyOutDir: true,
    sourcemap: true,
    chunkSizeWarningLimit: 1000,
  },
});
