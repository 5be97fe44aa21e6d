import { expect, test } from "@playwright/test";
import { ROOT_TOKEN } from "../playwright.config";

const PASSWORD = "correct horse battery staple";
const root = { Authorization: `Bearer ${ROOT_TOKEN}` };

test("an admin provisions a pooled key with scopes, changes a customer's plan, suspends and resumes it, manages its namespaces, and erases it after typing its id", async ({ page }) => {
  const errors: string[] = [];
  page.on("pageerror", (e) => errors.push(e.message));

  // The admin was made by admin.spec.ts (same server).
  await page.goto("/admin/sign-in");
  await page.locator("#email").fill("ops@example.com");
  await page.locator("#password").fill(PASSWORD);
  await page.getByRole("button", { name: "Sign in", exact: true }).click();
  await expect(page.getByRole("heading", { name: "Customers" })).toBeVisible();

  // A pooled key over customers' namespaces, from the provisioning form.
  await page.getByText("Provision a customer").click();
  await page.locator("#p-user").fill("platform-pool");
  await page.locator("#p-scopes").fill("jt_customer_*");
  await page.getByRole("button", { name: "Provision" }).click();
  await expect(page.getByText("Copy it now: you will not see this again.")).toBeVisible();
  const pooled = await (await page.request.get("/api/keys?tenant_id=platform-pool", { headers: root })).json();
  expect(pooled.keys[0].scopes).toContain("jt_customer_*");

  // A customer to manage.
  const made = await page.request.post("/api/provision", {
    headers: root,
    data: { user_id: "erase-me", integration: "files", project_id: "jt", tier: "pro" },
  });
  expect(made.status()).toBe(201);
  const key = (await made.json()).api_key as string;
  const verify = async () =>
    (await (await page.request.post("/api/keys/verify", { data: { key } })).json()).code;

  await page.goto("/admin/customers/erase-me");
  await expect(page.getByRole("heading", { name: "Manage the customer" })).toBeVisible();

  await page.locator("#plan-select").selectOption("enterprise");
  await page.getByRole("button", { name: "Change plan" }).click();
  await expect(page.getByRole("status")).toHaveText("Now on the enterprise plan, active.");

  await page.getByLabel("Confirm suspend").check();
  await page.getByRole("button", { name: "Suspend" }).click();
  await expect(page.getByRole("status")).toHaveText("Now on the enterprise plan, suspended.");
  expect(await verify()).toBe("DISABLED");
  await page.getByRole("button", { name: "Resume" }).click();
  await expect(page.getByRole("status")).toHaveText("Now on the enterprise plan, active.");
  expect(await verify()).toBe("VALID");

  await page.locator("#new-namespace").fill("jt_erase_me_eu");
  await page.getByRole("button", { name: "Create namespace" }).click();
  await expect(page.getByRole("status")).toHaveText("Namespace jt_erase_me_eu created.");
  const eu = page.locator('li[data-namespace="jt_erase_me_eu"]');
  await eu.getByLabel(/Confirm delete/).check();
  await eu.getByRole("button", { name: "Delete" }).click();
  await expect(page.getByRole("status")).toHaveText("Namespace jt_erase_me_eu deleted with its cached responses.");
  await expect(page.locator('li[data-namespace="jt_erase_me_eu"]')).toHaveCount(0);

  // Erase: a wrong id changes nothing; the right one erases.
  await page.locator("#erase-confirm").fill("erase-you");
  await page.getByRole("button", { name: "Erase customer" }).click();
  await expect(page.getByRole("alert")).toHaveText("Not erased: type the customer's id exactly to confirm.");
  expect(await verify()).toBe("VALID");
  await page.locator("#erase-confirm").fill("erase-me");
  await page.getByRole("button", { name: "Erase customer" }).click();
  await expect(page).toHaveURL(/\/admin\/cache-keys\?notice=erased/);
  await expect(page.getByRole("status")).toContainText("Customer erase-me erased");
  expect(await verify()).toBe("NOT_FOUND");
  expect((await page.request.get("/api/tenants/erase-me", { headers: root })).status()).toBe(404);

  // Pushing to Xero without Xero configured says so, and changes nothing.
  await page.goto("/admin/invoices");
  await page.getByRole("button", { name: "Push drafts to Xero" }).click();
  await expect(page.getByRole("alert")).toContainText("Xero is not configured");

  expect(errors).toEqual([]);
});
