import { expect, test } from "@playwright/test";
import { execFileSync } from "node:child_process";
import { dataDir } from "../playwright.config";

// A locked-down browser (no JavaScript at all) is not locked out: every page
// is rendered on the server and every action is a form that posts and
// re-renders.
test.use({ javaScriptEnabled: false });

const PASSWORD = "correct horse battery staple";

test("without JavaScript an admin signs in, provisions, rotates and disables a key, and reads the cost charts", async ({ page }) => {
  execFileSync("../target/debug/keyward", ["admin", "add-user", "nojs@example.com", "--role", "admin"], {
    env: { PATH: process.env.PATH ?? "", KEYWARD_DATA_DIR: dataDir },
    input: `${PASSWORD}\n`,
  });
  await page.goto("/admin/sign-in");
  await page.locator("#email").fill("nojs@example.com");
  await page.locator("#password").fill(PASSWORD);
  await page.getByRole("button", { name: "Sign in", exact: true }).click();
  await expect(page.getByRole("heading", { name: "Customers" })).toBeVisible();

  // Provision: the key is on the page that follows, once.
  await page.getByText("Provision a customer").click();
  await page.locator("#p-user").fill("plainco");
  await page.getByRole("button", { name: "Provision", exact: true }).click();
  await expect(page.getByRole("status")).toContainText("Customer provisioned");
  const key = await page.locator("code.secret-value").innerText();
  const verify = async (k: string) =>
    (await (await page.request.post("/api/keys/verify", { data: { key: k, namespace: "jt_plainco" } })).json()).code;
  expect(await verify(key)).toBe("VALID");

  // Rotate (confirmed) and disable (confirmed) from the customer page.
  await page.locator('tr[data-tenant="plainco"]').getByRole("link", { name: "plainco" }).click();
  await expect(page.getByRole("heading", { name: /^plainco/ })).toBeVisible();
  await page.getByLabel("Confirm rotate").check();
  await page.getByRole("button", { name: "Rotate" }).click();
  await expect(page.getByRole("status")).toContainText("is rotated");
  const fresh = await page.locator("code.secret-value").innerText();
  expect(await verify(fresh)).toBe("VALID");
  expect(await verify(key)).toBe("VALID"); // in its grace period
  await page.getByLabel("Confirm disable").check();
  await page.getByRole("button", { name: "Disable" }).click();
  await expect(page.getByRole("status")).toContainText("is disabled");
  expect(await verify(fresh)).toBe("DISABLED");

  // The cost dashboard's charts are in the HTML itself.
  await page.goto("/admin/costs?period=last-30-days");
  await expect(page.getByRole("heading", { name: "Costs across tenants" })).toBeVisible();
  await expect(page.locator('figure[data-chart="daily-cost"] svg')).toBeVisible();
});
