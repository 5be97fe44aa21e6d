import { defineConfig } from "@playwright/test";
import * as fs from "node:fs";
import * as os from "node:os";
import * as path from "node:path";

// Debian's Chromium, never a downloaded browser (this machine cannot fetch one).
const chromium = process.env.CHROMIUM_PATH ?? "/usr/bin/chromium";
const port = Number(process.env.E2E_PORT ?? 3456);
const bin = process.env.KEYWARD_BIN ?? "target/debug/keyward";
// Made once by the runner; its workers (which load this file again) inherit it.
process.env.KEYWARD_E2E_DATA_DIR ??= fs.mkdtempSync(path.join(os.tmpdir(), "keyward-e2e-"));
export const dataDir = process.env.KEYWARD_E2E_DATA_DIR;
export const ROOT_TOKEN = "e2e-root-token-0123456789";

export default defineConfig({
  testDir: "./tests",
  timeout: 30_000,
  retries: 0,
  workers: 1,
  reporter: [["list"]],
  use: {
    baseURL: `http://127.0.0.1:${port}`,
    launchOptions: {
      executablePath: chromium,
      args: [
        "--headless",
        "--no-sandbox",
        "--disable-gpu",
        "--disable-quic",
        "--no-first-run",
        "--disable-background-networking",
        "--disable-component-update",
        "--disable-sync",
      ],
    },
  },
  webServer: {
    command: bin,
    cwd: "..",
    url: `http://127.0.0.1:${port}/healthz`,
    reuseExistingServer: false,
    timeout: 120_000,
    env: {
      KEYWARD_ADDR: `127.0.0.1:${port}`,
      KEYWARD_DATA_DIR: dataDir,
      KEYWARD_ROOT_TOKEN: ROOT_TOKEN,
      LEPTOS_SITE_ROOT: "target/site",
      RUST_LOG: "warn",
      // jobs.spec.ts registers a webhook at 127.0.0.1:9 (refusing connections).
      KEYWARD_WEBHOOK_TARGETS: "any",
    },
  },
});
