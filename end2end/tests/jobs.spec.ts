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

test("an admin sees the scheduled jobs, runs one now, switches one off, and replays a webhook delivery from its log; a viewer cannot run jobs", async ({ page }) => {
  const errors: string[] = [];
  page.on("pageerror", (e) => errors.push(e.message));

  // The admin and the viewer were made by admin.spec.ts (same server).
  await signIn(page, "ops@example.com");
  await page.getByRole("link", { name: "Jobs" }).click();
  await expect(page.getByRole("heading", { name: "Scheduled jobs" })).toBeVisible();
  const invoices = page.locator('tr[data-job="generate-invoices"]');
  await expect(invoices.locator("input[name=schedule]")).toHaveValue("0 2 * * *");
  await expect(invoices).toContainText("generate_invoices");

  // Run the retention job now: the page says how it went and lists the run.
  await page.locator('tr[data-job="retention"]').getByRole("button", { name: "Run now" }).click();
  await expect(page.getByRole("status")).toHaveText("The job ran and succeeded.");
  await expect(page.locator('tr[data-job="retention"] .badge').last()).toHaveText("succeeded");
  await expect(page.locator('table[aria-labelledby="runs-h"]')).toContainText("retention");

  // The staging schedule from the README: weekly, Monday 3 AM UTC.
  await invoices.locator("input[name=schedule]").fill("0 3 * * MON");
  await invoices.getByRole("button", { name: "Save" }).click();
  await expect(page.getByRole("status")).toHaveText("Saved.");
  await expect(page.locator('tr[data-job="generate-invoices"] input[name=schedule]')).toHaveValue("0 3 * * MON");
  await expect(page.locator('tr[data-job="generate-invoices"]')).toContainText("Monday");
  await page.locator('tr[data-job="generate-invoices"] input[name=schedule]').fill("every day");
  await page.locator('tr[data-job="generate-invoices"]').getByRole("button", { name: "Save" }).click();
  await expect(page.getByRole("alert")).toContainText("Not saved");

  // Switch the budget check off, then on again.
  const budgets = page.locator('tr[data-job="check-budgets"]');
  await budgets.getByRole("button", { name: "Turn off" }).click();
  await expect(page.getByRole("status")).toHaveText("Saved.");
  await expect(page.locator('tr[data-job="check-budgets"]').getByRole("button", { name: "Turn on" })).toBeVisible();
  await page.screenshot({ path: `${shots}/jobs.png`, fullPage: true });
  await page.locator('tr[data-job="check-budgets"]').getByRole("button", { name: "Turn on" }).click();
  await expect(page.locator('tr[data-job="check-budgets"]').getByRole("button", { name: "Turn off" })).toBeVisible();

  // A webhook whose endpoint refuses connections: its test delivery is logged as failing.
  const auth = { Authorization: `Bearer ${ROOT_TOKEN}` };
  const made = await page.request.post("/api/webhooks", {
    headers: auth,
    data: { url: "http://127.0.0.1:9/hook", events: ["webhook.test"], description: "nowhere" },
  });
  expect(made.status()).toBe(201);
  const endpoint = await made.json();
  const queued = await page.request.post(`/api/webhooks/${endpoint.id}/test`, { headers: auth });
  expect(queued.status()).toBe(202);
  const delivery = (await queued.json()).id as string;
  await expect
    .poll(async () => (await (await page.request.get(`/api/webhooks/deliveries/${delivery}`, { headers: auth })).json()).delivery.attempts)
    .toBeGreaterThan(0);

  await page.getByRole("link", { name: "Webhooks" }).click();
  await expect(page.getByRole("heading", { name: "Webhooks" })).toBeVisible();
  await expect(page.getByText("http://127.0.0.1:9/hook")).toBeVisible();
  const row = page.locator(`tr[data-delivery="${delivery}"]`);
  await expect(row).toContainText("webhook.test");
  await expect(row).toContainText("could not connect");
  await page.screenshot({ path: `${shots}/webhooks.png`, fullPage: true });
  await row.getByRole("button", { name: "Replay" }).click();
  await expect(page.getByRole("status")).toHaveText("Queued again: it goes out within a second.");
  const audit = await page.request.get("/api/audit?action=webhook.replay", { headers: auth });
  expect((await audit.json()).entries.length).toBe(1);

  // A viewer sees the jobs but cannot run one.
  await page.getByRole("button", { name: "Sign out" }).click();
  await signIn(page, "viewer@example.com");
  await page.goto("/admin/jobs");
  await page.locator('tr[data-job="retention"]').getByRole("button", { name: "Run now" }).click();
  await expect(page.getByRole("alert")).toHaveText("Changing jobs needs the jobs:write permission.");
  expect(errors).toEqual([]);
});
