import { expect, test } from "@playwright/test";
import { execFileSync } from "node:child_process";
import { dataDir, ROOT_TOKEN } from "../playwright.config";

const PASSWORD = "correct horse battery staple";
const shots = "../docs/screenshots";

test("an admin signs in on first run, disables, enables and rotates a key, provisions a customer, generates and downloads invoices, signs out; a wrong password and a viewer's rotate are refused", async ({ page }) => {
  const errors: string[] = [];
  page.on("pageerror", (e) => errors.push(e.message));
  page.on("console", (m) => {
    if (m.type() === "error") errors.push(m.text());
  });

  // A customer exists before anyone signs in.
  const provisioned = await page.request.post("/api/provision", {
    headers: { Authorization: `Bearer ${ROOT_TOKEN}` },
    data: { user_id: "acme", integration: "files", project_id: "jt", tier: "pro" },
  });
  expect(provisioned.status()).toBe(201);

  // The dashboard sends a stranger to the sign-in page, which offers the first-run form.
  await page.goto("/admin/cache-keys");
  await expect(page).toHaveURL(/\/admin\/sign-in$/);
  await expect(page.getByRole("heading", { name: "Sign in to keyward" })).toBeVisible();
  await expect(page.getByRole("heading", { name: /First run/ })).toBeVisible();
  await page.screenshot({ path: `${shots}/sign-in.png`, fullPage: true });

  await page.getByLabel("Root token").fill(ROOT_TOKEN);
  await page.locator("#first_email").fill("ops@example.com");
  await page.locator("#first_password").fill(PASSWORD);
  await page.getByRole("button", { name: "Create admin and sign in" }).click();

  await expect(page).toHaveURL(/\/admin\/cache-keys$/);
  await expect(page.getByRole("heading", { name: "Customers" })).toBeVisible();
  await expect(page.getByText("ops@example.com (admin)")).toBeVisible();
  const row = page.locator('tr[data-tenant="acme"]');
  await expect(row).toBeVisible();
  await expect(row.getByRole("cell").nth(1)).toHaveText("pro");
  await expect(row.locator(".badge").first()).toHaveText("active");
  await page.screenshot({ path: `${shots}/cache-keys.png`, fullPage: true });

  // Disable acme's key from the page (after confirming), and the API refuses it at once.
  const key = (await provisioned.json()).api_key as string;
  const verify = async () =>
    (await (await page.request.post("/api/keys/verify", { data: { key, namespace: "jt_acme" } })).json()).code;
  expect(await verify()).toBe("VALID");
  await row.getByLabel("Confirm disable").check();
  await row.getByRole("button", { name: "Disable" }).click();
  await expect(page.getByRole("status")).toContainText("is disabled");
  await expect(page.locator('tr[data-tenant="acme"] .keys .badge')).toHaveText("disabled");
  expect(await verify()).toBe("DISABLED");
  await page.locator('tr[data-tenant="acme"]').getByRole("button", { name: "Enable" }).click();
  await expect(page.getByRole("status")).toContainText("is enabled again");
  expect(await verify()).toBe("VALID");

  // Rotate: the new secret is shown once; the old one keeps working during the grace period.
  await page.locator('tr[data-tenant="acme"]').getByLabel("Confirm rotate").check();
  await page.locator('tr[data-tenant="acme"]').getByRole("button", { name: "Rotate" }).click();
  await expect(page.getByText("Copy it now: you will not see this again.")).toBeVisible();
  const secret = await page.locator("code.secret-value").innerText();
  expect(secret).not.toBe(key);
  // The copy button's handler is in the wasm bundle (no inline script): it
  // works only once the page has hydrated.
  await page.context().grantPermissions(["clipboard-read", "clipboard-write"]);
  // Clicked until hydration has attached the handler (a click before it does nothing).
  await expect(async () => {
    await page.locator("section.secret button.copy").click();
    await expect(page.getByRole("button", { name: "Copied" })).toBeVisible({ timeout: 500 });
  }).toPass({ timeout: 15_000 });
  expect(await page.evaluate(() => navigator.clipboard.readText())).toBe(secret);
  await page.screenshot({ path: `${shots}/rotated.png`, fullPage: true });
  expect(await verify()).toBe("VALID");
  const fresh = await page.request.post("/api/keys/verify", { data: { key: secret, namespace: "jt_acme" } });
  expect((await fresh.json()).code).toBe("VALID");
  await page.reload();
  await expect(page.getByRole("heading", { name: "Customers" })).toBeVisible();
  await expect(page.locator("code.secret-value")).toHaveCount(0);

  // Provision a customer from the page: its key is shown once.
  await page.getByText("Provision a customer").click();
  await page.locator("#p-user").fill("initech");
  await page.locator("#p-tier").selectOption("enterprise");
  await page.getByRole("button", { name: "Provision", exact: true }).click();
  await expect(page.getByRole("status")).toContainText("Customer provisioned");
  const provisionedKey = await page.locator("code.secret-value").innerText();
  const check = await page.request.post("/api/keys/verify", { data: { key: provisionedKey, namespace: "jt_initech" } });
  expect((await check.json()).code).toBe("VALID");
  await expect(page.locator('tr[data-tenant="initech"]')).toBeVisible();

  // Invoices: last month's usage becomes an invoice; the CSV download is what the API exports.
  const month = new Date();
  month.setUTCDate(1);
  month.setUTCMonth(month.getUTCMonth() - 1);
  const period = month.toISOString().slice(0, 7);
  const ingested = await page.request.post("/api/usage/events", {
    headers: { Authorization: `Bearer ${ROOT_TOKEN}` },
    data: [{ event_id: "e2e-1", trace_id: "t", tenant_id: "acme", user_id: "u1", service: "openai", operation: "chat",
             units: { tokens_in: 1000000 }, duration_ms: 100, timestamp: `${period}-05T10:00:00Z` }],
  });
  expect(ingested.status()).toBe(200);
  await page.getByRole("navigation", { name: "Admin pages" }).getByRole("link", { name: "Invoices" }).click();
  await expect(page.getByRole("heading", { name: `Invoices ${period}` })).toBeVisible();
  await page.getByRole("button", { name: `Generate invoices for ${period}` }).click();
  await expect(page.getByRole("status")).toContainText("1 draft invoices generated");
  const number = `KW-${period.replace("-", "")}-ACME`;
  await expect(page.locator(`tr[data-invoice="${number}"]`)).toContainText("2.88 USD");
  await page.screenshot({ path: `${shots}/invoices.png`, fullPage: true });
  const [download] = await Promise.all([
    page.waitForEvent("download"),
    page.getByRole("link", { name: "Download Xero CSV" }).click(),
  ]);
  const fs = await import("node:fs");
  const downloaded = fs.readFileSync(await download.path(), "utf8");
  const api = await page.request.get(`/api/xero/export?period=${period}&format=csv`, {
    headers: { Authorization: `Bearer ${ROOT_TOKEN}` },
  });
  expect(downloaded).toBe(await api.text());
  await page.getByRole("navigation", { name: "Admin pages" }).getByRole("link", { name: "Customers" }).click();
  await expect(page.getByRole("heading", { name: "Customers" })).toBeVisible();

  // Sign out (the form carries the session's CSRF token), then the dashboard is closed again.
  await page.getByRole("button", { name: "Sign out" }).click();
  await expect(page).toHaveURL(/\/admin\/sign-in\?signed_out=1$/);
  await expect(page.getByRole("status")).toHaveText("You are signed out.");
  await page.goto("/admin/cache-keys");
  await expect(page).toHaveURL(/\/admin\/sign-in$/);

  // A wrong password is refused with a message; the right one signs in.
  await page.locator("#email").fill("ops@example.com");
  await page.locator("#password").fill("not the password at all");
  await page.getByRole("button", { name: "Sign in", exact: true }).click();
  await expect(page.getByRole("alert")).toHaveText("The email or the password is wrong.");
  await page.locator("#email").fill("ops@example.com");
  await page.locator("#password").fill(PASSWORD);
  await page.getByRole("button", { name: "Sign in", exact: true }).click();
  await expect(page.getByRole("heading", { name: "Customers" })).toBeVisible();

  // A viewer (added with the CLI over the same data directory) sees the table, but its rotate is refused.
  execFileSync("../target/debug/keyward", ["admin", "add-user", "viewer@example.com", "--role", "viewer"], {
    env: { PATH: process.env.PATH ?? "", KEYWARD_DATA_DIR: dataDir },
    input: `${PASSWORD}\n`,
  });
  await page.getByRole("button", { name: "Sign out" }).click();
  await page.locator("#email").fill("viewer@example.com");
  await page.locator("#password").fill(PASSWORD);
  await page.getByRole("button", { name: "Sign in", exact: true }).click();
  await expect(page.getByText("viewer@example.com (viewer)")).toBeVisible();
  const rotations = async () =>
    (await (await page.request.get("/api/audit?action=key.rotate", { headers: { Authorization: `Bearer ${ROOT_TOKEN}` } })).json()).entries.length;
  const before = await rotations();
  await page.locator('tr[data-tenant="acme"]').getByLabel("Confirm rotate").check();
  await page.locator('tr[data-tenant="acme"]').getByRole("button", { name: "Rotate" }).click();
  await expect(page.getByRole("alert")).toHaveText("Viewers can see everything and change nothing.");
  await expect(page.locator("code.secret-value")).toHaveCount(0);
  const still = await page.request.post("/api/keys/verify", { data: { key: secret, namespace: "jt_acme" } });
  expect((await still.json()).code).toBe("VALID");
  expect(await rotations()).toBe(before);

  expect(errors).toEqual([]);
});
