import { expect, test } from "@playwright/test";
import { execFileSync } from "node:child_process";
import { dataDir, ROOT_TOKEN } from "../playwright.config";

// Runs after admin.spec.ts on the same server (files run in name order, one
// worker); it brings its own admin, tenants and usage.
const PASSWORD = "correct horse battery staple";
const shots = "../docs/screenshots";
const root = { Authorization: `Bearer ${ROOT_TOKEN}` };

test("cost dashboards, the optimisation report and a customer page show server-drawn charts with the expected series", async ({ page }) => {
  const errors: string[] = [];
  page.on("pageerror", (e) => errors.push(e.message));
  page.on("console", (m) => {
    if (m.type() === "error") errors.push(m.text());
  });

  execFileSync("../target/debug/keyward", ["admin", "add-user", "analyst@example.com", "--role", "admin"], {
    env: { PATH: process.env.PATH ?? "", KEYWARD_DATA_DIR: dataDir },
    input: `${PASSWORD}\n`,
  });
  const tenants = ["globex", "umbrella", "hooli"];
  const keys: Record<string, string> = {};
  for (const [i, t] of tenants.entries()) {
    const res = await page.request.post("/api/provision", {
      headers: root,
      data: { user_id: t, integration: "files", project_id: "jt", tier: i === 2 ? "enterprise" : "pro" },
    });
    expect(res.status()).toBe(201);
    keys[t] = (await res.json()).api_key;
  }

  // Three weeks of AI usage: 3 tenants x 4 users, OpenAI, Anthropic and ElevenLabs.
  const events = [];
  const now = Date.now();
  for (let day = 0; day < 21; day++) {
    const at = new Date(now - day * 86_400_000 - 3_600_000).toISOString();
    for (const [ti, t] of tenants.entries()) {
      for (let u = 0; u < 4; u++) {
        const grow = 21 - day;
        events.push({ event_id: `d-${day}-${t}-${u}-o`, trace_id: "t", tenant_id: t, user_id: `u${u}`, service: "openai",
          operation: "chat", units: { tokens_in: 20_000 * grow * (ti + 1) * (u + 1) }, duration_ms: 300, timestamp: at });
        if (u < 2) {
          events.push({ event_id: `d-${day}-${t}-${u}-a`, trace_id: "t", tenant_id: t, user_id: `u${u}`, service: "anthropic",
            operation: "chat", units: { tokens_in: 30_000 * grow * (u + 1) }, duration_ms: 400, timestamp: at });
        }
        if (u === 0 && ti === 0) {
          events.push({ event_id: `d-${day}-${t}-${u}-e`, trace_id: "t", tenant_id: t, user_id: `u${u}`, service: "elevenlabs",
            operation: "speak", units: { characters: 2_000 * grow }, duration_ms: 900, timestamp: at });
        }
      }
    }
  }
  const ingested = await page.request.post("/api/usage/events", { headers: root, data: events });
  expect(ingested.status()).toBe(200);

  // Cache traffic for globex: one miss, a set, four hits.
  const ask = (path: string, extra: object) =>
    page.request.post(path, {
      headers: { Authorization: `Bearer ${keys.globex}` },
      data: { provider: "openai", model: "gpt-4o", namespace: "jt_globex", messages: [{ role: "user", content: "hi" }], ...extra },
    });
  expect((await (await ask("/api/cache/get", {})).json()).hit).toBe(false);
  expect((await ask("/api/cache/set", { response: { text: "hello" }, ttl: 600 })).ok()).toBe(true);
  for (let i = 0; i < 4; i++) expect((await (await ask("/api/cache/get", {})).json()).hit).toBe(true);
  expect((await page.request.post("/api/usage/flush", { headers: root })).ok()).toBe(true);

  await page.goto("/admin/sign-in");
  await page.locator("#email").fill("analyst@example.com");
  await page.locator("#password").fill(PASSWORD);
  await page.getByRole("button", { name: "Sign in", exact: true }).click();
  await expect(page.getByRole("heading", { name: "Customers" })).toBeVisible();

  // Costs across tenants: every chart drawn, with the expected series in its legend.
  await page.getByRole("navigation", { name: "Admin pages" }).getByRole("link", { name: "Costs" }).click();
  await expect(page.getByRole("heading", { name: "Costs across tenants" })).toBeVisible();
  await page.locator("#period").selectOption("last-30-days");
  await page.getByRole("button", { name: "Show" }).click();
  await expect(page).toHaveURL(/period=last-30-days/);
  const chart = (id: string) => page.locator(`figure[data-chart="${id}"]`);
  const daily = chart("daily-cost");
  await expect(daily.locator("svg")).toBeVisible();
  expect((await daily.getAttribute("data-series"))?.split("|")).toEqual(
    expect.arrayContaining(["anthropic", "elevenlabs", "openai", "keyward"]),
  );
  for (const name of ["anthropic", "elevenlabs", "openai"]) {
    await expect(daily.locator("svg text", { hasText: new RegExp(`^\\s*${name}\\s*$`) })).toHaveCount(1);
  }
  await expect(chart("tenant-ranking").locator("svg text", { hasText: /^\s*hooli\s*$/ })).toHaveCount(1);
  await expect(chart("user-distribution").locator("svg text", { hasText: /^\s*p95 \$/ })).toHaveCount(1);
  await expect(chart("user-distribution").locator("svg text", { hasText: /^\s*p99 \$/ })).toHaveCount(1);
  await expect(chart("hit-rate").locator("svg")).toBeVisible();
  await expect(chart("savings").locator("svg")).toBeVisible();
  await expect(chart("forecast").locator("svg text", { hasText: /revenue 95% band/ })).toHaveCount(1);
  await expect(page.locator('tr[data-service="openai"]')).toBeVisible();
  await page.screenshot({ path: `${shots}/costs.png`, fullPage: true });

  // One tenant's costs, from the profitability table.
  await page.locator('tr[data-tenant="globex"]').getByRole("link", { name: "globex" }).click();
  await expect(page.getByRole("heading", { name: "Costs of globex" })).toBeVisible();
  await expect(chart("tenant-ranking")).toHaveCount(0);
  await expect(chart("daily-cost").locator("svg")).toBeVisible();

  // The customer page: use over time, gauges, key versions, provider secrets, audit.
  await page.getByRole("link", { name: "customer page" }).click();
  await expect(page.getByRole("heading", { name: /^globex/ })).toBeVisible();
  await expect(chart("requests").locator("svg")).toBeVisible();
  await expect(chart("latency").locator("svg")).toBeVisible();
  await expect(page.getByLabel("Requests this month").first()).toBeVisible();
  await page.getByText("Rotate (or add) a provider secret").click();
  await page.locator("#s-service").selectOption("openai");
  await page.locator("#s-value").fill("sk-e2e-not-a-real-key-000");
  await page.locator("#s-validate").uncheck();
  await page.getByRole("button", { name: "Store new version" }).click();
  await expect(page.getByRole("status")).toContainText("The openai secret is now version 1.");
  await expect(page.locator('tr[data-secret="openai/managed"]')).toBeVisible();
  await expect(page.locator("body")).not.toContainText("sk-e2e-not-a-real-key-000");
  await expect(page.locator("table.audit")).toContainText("admin:analyst@example.com");
  await page.screenshot({ path: `${shots}/customer.png`, fullPage: true });

  // The weekly optimisation report.
  await page.getByRole("navigation", { name: "Admin pages" }).getByRole("link", { name: "Optimisation" }).click();
  await expect(page.getByRole("heading", { name: /Weekly optimisation/ })).toBeVisible();
  await expect(chart("service-use").locator("svg")).toBeVisible();
  await expect(page.locator('tr[data-service="elevenlabs"]')).toBeVisible();
  await page.screenshot({ path: `${shots}/optimize.png`, fullPage: true });

  expect(errors).toEqual([]);
});
