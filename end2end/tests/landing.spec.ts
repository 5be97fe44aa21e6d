import { expect, test } from "@playwright/test";

test("the landing page renders, hydrates and links to the admin dashboard and API docs", async ({ page }) => {
  const errors: string[] = [];
  page.on("pageerror", (e) => errors.push(e.message));
  page.on("console", (m) => {
    if (m.type() === "error") errors.push(m.text());
  });
  const wasm = page.waitForResponse((r) => r.url().endsWith("/pkg/keyward.wasm"));

  await page.goto("/");
  await expect(page).toHaveTitle("keyward");
  await expect(page.getByRole("heading", { level: 1 })).toHaveText("keyward");
  await expect(page.getByRole("link", { name: /Admin dashboard/ })).toHaveAttribute("href", "/admin/cache-keys");
  expect((await wasm).status()).toBe(200);

  await page.getByRole("link", { name: /API documentation/ }).click();
  await expect(page).toHaveURL(/\/api\/openapi\.json$/);
  const doc = JSON.parse(await page.locator("body").innerText());
  expect(Object.keys(doc.paths)).toContain("/api/provision");
  expect(errors).toEqual([]);
});
