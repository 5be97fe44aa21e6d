import { expect, test } from "@playwright/test";
import { ROOT_TOKEN } from "../playwright.config";

const PASSWORD = "correct horse battery staple";
const shots = "../docs/screenshots";

async function signIn(page, email: string) {
  await page.goto("/admin/sign-in");
  await page.locator("#email").fill(email);
  await page.locator("#password").fill(PASSWORD);
  await page.getByRole("button", { name: "Sign in", exact: true }).click();
  await expect(page.getByText(`${email} (`)).toBeVisible();
}

test("an admin creates least-privilege operator tokens, sees wildcard secret access flagged, turns the root token off and on, and revokes a token; a viewer cannot manage tokens", async ({ page }) => {
  const errors: string[] = [];
  page.on("pageerror", (e) => errors.push(e.message));

  // The admin and the viewer were made by admin.spec.ts (same server).
  await signIn(page, "ops@example.com");
  await page.getByRole("link", { name: "Tokens" }).click();
  await expect(page.getByRole("heading", { name: "Operator tokens" })).toBeVisible();

  // A provisioning backend's token: tenants:write and keys:write only.
  await page.locator("#token-name").fill("provisioning backend");
  await page.getByLabel("tenants:write", { exact: true }).check();
  await page.getByLabel("keys:write", { exact: true }).check();
  await page.getByRole("button", { name: "Create token" }).click();
  await expect(page.getByRole("status")).toHaveText("Token created.");
  await expect(page.getByText("Copy it now: you will not see this again.")).toBeVisible();
  const token = await page.locator("code.secret-value").innerText();
  expect(token).toMatch(/^kwt_[A-Za-z0-9]{40}$/);
  const row = page.locator("tr", { hasText: "provisioning backend" });
  await expect(row).toContainText("tenants:write, keys:write");
  await expect(row).toContainText("every tenant");
  await page.screenshot({ path: `${shots}/tokens.png`, fullPage: true });

  const auth = { Authorization: `Bearer ${token}` };
  const made = await page.request.post("/api/provision", {
    headers: auth,
    data: { user_id: "tokens-e2e", integration: "files", project_id: "jt" },
  });
  expect(made.status()).toBe(201);
  const read = await page.request.get("/api/keys", { headers: auth });
  expect(read.status()).toBe(403);
  expect((await read.json()).error.code).toBe("PERMISSION_DENIED");

  // The token is shown once: a reload no longer shows it.
  await page.reload();
  await expect(page.locator("code.secret-value")).toHaveCount(0);

  // secrets:read over every tenant is refused unless asked for by name, then flagged.
  await page.locator("#token-name").fill("secret reader");
  await page.getByLabel("secrets:read", { exact: true }).check();
  await page.getByRole("button", { name: "Create token" }).click();
  await expect(page.getByRole("alert")).toContainText("secrets:read without a scope");
  await page.locator("#token-name").fill("secret reader");
  await page.getByLabel("secrets:read", { exact: true }).check();
  await page.locator("#token-all-secrets").check();
  await page.getByRole("button", { name: "Create token" }).click();
  await expect(page.locator("tr", { hasText: "secret reader" })).toContainText("reads every tenant's secrets");

  // A tenant-restricted token shows its scope.
  await page.locator("#token-name").fill("acme only");
  await page.getByLabel("keys:read", { exact: true }).check();
  await page.locator("#token-scope").fill("acme");
  await page.getByRole("button", { name: "Create token" }).click();
  await expect(page.locator("tr", { hasText: "acme only" }).getByRole("cell").nth(2)).toHaveText("acme");

  // The root token turns off only once a token can manage tokens.
  const rootCall = async () =>
    (await page.request.get("/api/plans", { headers: { Authorization: `Bearer ${ROOT_TOKEN}` } })).status();
  await page.getByRole("button", { name: "Turn the root token off" }).click();
  await expect(page.getByRole("alert")).toContainText("before turning the root token off");
  expect(await rootCall()).toBe(200);
  await page.locator("#token-name").fill("token admin");
  await page.getByLabel("tokens:write", { exact: true }).check();
  await page.getByRole("button", { name: "Create token" }).click();
  await page.getByRole("button", { name: "Turn the root token off" }).click();
  await expect(page.getByRole("status")).toHaveText("The root token is turned off.");
  await expect(page.locator("[data-root-token]")).toHaveText("off");
  expect(await rootCall()).toBe(401);
  await page.getByRole("button", { name: "Turn the root token on" }).click();
  await expect(page.getByRole("status")).toHaveText("The root token is turned on.");
  expect(await rootCall()).toBe(200);

  // Revoke the provisioning token: refused from its next request.
  const backend = page.locator("tr", { hasText: "provisioning backend" });
  await backend.getByLabel("Confirm revoke").check();
  await backend.getByRole("button", { name: "Revoke" }).click();
  await expect(page.getByRole("status")).toContainText("Token revoked");
  await expect(page.locator("tr", { hasText: "provisioning backend" }).locator(".badge").first()).toHaveText("revoked");
  const after = await page.request.post("/api/provision", {
    headers: auth,
    data: { user_id: "tokens-e2e-2", integration: "files", project_id: "jt" },
  });
  expect(after.status()).toBe(401);

  // A viewer holds only read permissions: no tokens, and a forged post is refused.
  await page.getByRole("button", { name: "Sign out" }).click();
  await signIn(page, "viewer@example.com");
  await page.goto("/admin/tokens");
  await expect(page.getByRole("alert")).toHaveText("Managing tokens needs the tokens:write permission.");
  await expect(page.locator("table.tokens")).toHaveCount(0);

  expect(errors).toEqual([]);
});
