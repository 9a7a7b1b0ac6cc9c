// The console end to end: the launcher binary serving console/dist, driven in Chromium. One
// practice's life in order; each step asserts what the page shows.
import { afterAll, afterEach, beforeAll, describe, expect, it } from "vitest";
import { mkdirSync, readFileSync, rmSync } from "node:fs";
import { join, resolve } from "node:path";
import { createClient } from "@connectrpc/connect";
import { createGrpcWebTransport } from "@connectrpc/connect-web";
import type { BrowserContext, Page } from "playwright-core";
import { StaffDirectoryService } from "../src/gen/staff/v1/staff_pb";
import { Launcher, expectText, launchBrowser, linkIn, mails, newestMail, notSee, requirePrerequisites, see, sleep } from "./harness";

const PRACTICE = "Harbour Physiotherapy";
const OWNER = { email: "olive@harbour.test", name: "Olive Owner", password: "olive-secret-1" };
const BEA = { email: "bea@harbour.test", name: "Bea Member", password: "bea-secret-12" };
const FINN = { email: "finn@harbour.test", name: "Finn Fielding", password: "finn-secret-12" };
const GINA = { email: "gina@harbour.test", name: "Gina Grey", password: "gina-secret-12" };
const CARL = { email: "carl@harbour.test", name: "Carl Carter" };
const DANA = { email: "dana@harbour.test", name: "Dana Diaz" };

const launcher = new Launcher();
let context: BrowserContext;
let userDataDir = "";
let owner: Page;
let bea: Page;
const shots = process.env.SCREENSHOT_DIR ? resolve(process.cwd(), process.env.SCREENSHOT_DIR) : "";
const failures = resolve(process.cwd(), "test-results");

async function screenshot(page: Page, name: string): Promise<void> {
  if (!shots) return;
  mkdirSync(shots, { recursive: true });
  await page.mouse.move(0, 0);
  await page.screenshot({ path: join(shots, name), fullPage: true });
}

let front: Page | undefined;
/**
 * Puts a person's page in front before acting on it: Chromium throttles animation frames in
 * background tabs, and every Playwright action waits for two of them.
 */
async function focus(page: Page): Promise<Page> {
  if (front !== page) {
    await page.bringToFront();
    front = page;
  }
  return page;
}

async function newPerson(): Promise<Page> {
  const page = await context.newPage();
  front = page;
  return page;
}

/** More pages, for looking at by hand (E2E_EXTRA_SHOTS=<folder>); not part of the docs. */
async function extra(page: Page, name: string): Promise<void> {
  const dir = process.env.E2E_EXTRA_SHOTS;
  if (!dir) return;
  mkdirSync(dir, { recursive: true });
  await page.screenshot({ path: join(dir, `${name}.png`), fullPage: true });
}

async function nav(page: Page, label: string): Promise<void> {
  await page.getByRole("navigation", { name: "Main" }).getByRole("link", { name: label, exact: true }).click();
}

function staffRow(page: Page, email: string) {
  return page.locator(`table[aria-label="Practice staff"] tr[data-member="${email}"]`);
}

/** Opens an invitation link, chooses a password (twice), accepts, and signs in. */
async function acceptAndSignIn(page: Page, link: string, who: { email: string; password: string }, role: string): Promise<void> {
  await page.goto(link);
  await see(page, `Join ${PRACTICE}`);
  expect(page.url()).not.toContain("token=");
  await extra(page, `invitation-${who.email}`);
  await expectText(page.locator(".facts"), role);
  await page.getByLabel("Password", { exact: true }).fill(who.password);
  await page.getByLabel("Repeat the password").fill(who.password);
  await page.getByRole("button", { name: "Accept invitation" }).click();
  await see(page, `You have joined ${PRACTICE} as ${role}.`);
  await page.getByRole("button", { name: "Continue to sign in" }).click();
  await page.getByRole("heading", { name: "Sign in" }).waitFor();
  expect(await page.getByLabel("E-mail").inputValue()).toBe(who.email);
  await page.getByLabel("Password").fill(who.password);
  await page.getByRole("button", { name: "Sign in" }).click();
  await page.getByRole("heading", { name: "Practice Staff" }).waitFor();
  await expectText(page.locator(".topbar"), PRACTICE);
}

async function addUser(page: Page, u: { email: string; name: string }, role: string, location?: string): Promise<void> {
  await page.getByRole("button", { name: "Add user" }).click();
  const dialog = page.getByRole("dialog", { name: "Add user" });
  await dialog.getByLabel("E-mail").fill(u.email);
  await dialog.getByLabel("Name").fill(u.name);
  await dialog.getByLabel("Role").selectOption({ label: role });
  if (location) await dialog.getByLabel("Primary location").selectOption({ label: location });
  await dialog.getByRole("button", { name: "Send invitation" }).click();
  await see(page, `${u.name} was invited as ${role}`);
  await staffRow(page, u.email).waitFor();
}

async function rowAction(page: Page, email: string, item: string): Promise<void> {
  await staffRow(page, email).getByRole("button", { name: /Actions/ }).click();
  await page.getByRole("menuitem", { name: item }).click();
}

/**
 * The steps depend on each other: after a failure (or a failed set-up: no Chromium, no
 * launcher, no dist/) every later step fails too, naming the cause. Nothing is ever skipped.
 */
let broken: string | undefined;
function step(name: string, fn: () => Promise<void>): void {
  it(name, async () => {
    if (broken) throw new Error(`not run: ${broken}`);
    try {
      await fn();
    } catch (err) {
      broken = `the step "${name}" failed`;
      throw err;
    }
  });
}

describe("console", () => {
  beforeAll(async () => {
    try {
      requirePrerequisites();
      await launcher.start();
      ({ context, userDataDir } = await launchBrowser());
    } catch (err) {
      broken = `set-up failed: ${err instanceof Error ? err.message : String(err)}`;
    }
  });

  afterEach(async (ctx) => {
    if (ctx.task.result?.state !== "fail") return;
    mkdirSync(failures, { recursive: true });
    for (const [i, p] of (context?.pages() ?? []).entries()) {
      await p.screenshot({ path: join(failures, `failure-${ctx.task.name.replace(/\W+/g, "-")}-${i}.png`), fullPage: true }).catch(() => {});
    }
  });

  afterAll(async () => {
    await context?.close().catch(() => {});
    await launcher.stop();
    launcher.cleanup();
    if (userDataDir) rmSync(userDataDir, { recursive: true, force: true });
  });

  step("bootstraps a practice through the API and the owner accepts in the browser", async () => {
    const staff = createClient(StaffDirectoryService, createGrpcWebTransport({ baseUrl: launcher.config!.staffDirectoryUrl }));
    const created = await staff.createPractice(
      { name: PRACTICE, ownerEmail: OWNER.email, ownerName: OWNER.name },
      { headers: { "x-operator-token": launcher.operatorToken() } },
    );
    expect(created.practice?.name).toBe(PRACTICE);
    const mail = await newestMail(launcher.dataDir, OWNER.email, "/invitation?token=");
    owner = await newPerson();
    await owner.goto(`${launcher.consoleUrl}/staff`);
    await owner.getByRole("heading", { name: "Sign in" }).waitFor();
    await acceptAndSignIn(owner, linkIn(mail, "/invitation?token="), OWNER, "Account Owner");
    await expectText(owner.locator(".topbar"), OWNER.name);
    await expectText(staffRow(owner, OWNER.email), "Active");
  });

  step("sets up locations, organisations and the acceptance setting", async () => {
    await nav(owner, "Locations");
    for (const name of ["North Clinic", "South Clinic"]) {
      await owner.getByRole("button", { name: "Add location" }).click();
      await owner.getByRole("dialog").getByLabel("Name").fill(name);
      await owner.getByRole("dialog").getByRole("button", { name: "Add location" }).click();
      await see(owner, `${name} was added.`);
    }
    await owner.locator('tr[data-location="South Clinic"]').getByRole("button", { name: "Rename" }).click();
    await owner.getByRole("dialog").getByLabel("New name").fill("South Harbour Clinic");
    await owner.getByRole("dialog").getByRole("button", { name: "Rename" }).click();
    await see(owner, "South Clinic is now called South Harbour Clinic.");

    await nav(owner, "Settings");
    await owner.getByLabel("Members must accept new organisation access").check();
    await see(owner, "Members now accept new organisation access before it is active.");

    await nav(owner, "Organisations");
    for (const name of ["Client One", "Client Two", "Client Three"]) {
      await owner.getByRole("button", { name: "Add organisation" }).click();
      await owner.getByRole("dialog").getByLabel("Name").fill(name);
      await owner.getByRole("dialog").getByRole("button", { name: "Add organisation" }).click();
      await see(owner, `${name} was added.`);
    }
    await owner.getByLabel("Search organisations").fill("two");
    await expectText(owner.getByRole("table", { name: "Organisations" }), /^(?!.*Client One).*Client Two/);
    await owner.getByLabel("Search organisations").fill("");
  });

  step("adds users, reinvites a pending one, and the invitee accepts the newest link", async () => {
    await nav(owner, "Practice Staff");
    await addUser(owner, BEA, "Member", "North Clinic");
    await addUser(owner, FINN, "Member");
    await addUser(owner, GINA, "Member", "South Harbour Clinic");
    await addUser(owner, CARL, "User Manager");
    await addUser(owner, DANA, "Member");
    const row = staffRow(owner, BEA.email);
    await expectText(row, "Pending");
    await expectText(row, "Sent 1 time");
    await expectText(row, "North Clinic (primary)");
    const first = await newestMail(launcher.dataDir, BEA.email, "/invitation?token=");
    await row.getByRole("button", { name: "Reinvite" }).click();
    await see(owner, `A new invitation was sent to ${BEA.name} (2 sent so far).`);
    await expectText(row, "Sent 2 times");
    const second = await newestMail(launcher.dataDir, BEA.email, "/invitation?token=", 2);
    expect(linkIn(second, "/invitation?token=")).not.toBe(linkIn(first, "/invitation?token="));

    bea = await newPerson();
    await bea.goto(linkIn(first, "/invitation?token="));
    await see(bea, "This invitation link cannot be used");
    await acceptAndSignIn(bea, linkIn(second, "/invitation?token="), BEA, "Member");
    await expectText(bea.locator(".topbar"), BEA.name);

    const other = await newPerson();
    await acceptAndSignIn(other, linkIn(await newestMail(launcher.dataDir, FINN.email, "/invitation?token="), "/invitation?token="), FINN, "Member");
    await acceptAndSignIn(other, linkIn(await newestMail(launcher.dataDir, GINA.email, "/invitation?token="), "/invitation?token="), GINA, "Member");
    await other.goto(linkIn(await newestMail(launcher.dataDir, DANA.email, "/invitation?token="), "/invitation?token="));
    await see(other, `Join ${PRACTICE}`);
    await other.getByRole("button", { name: "Decline" }).click();
    await other.getByRole("dialog").getByRole("button", { name: "Decline invitation" }).click();
    await see(other, `You declined the invitation to join ${PRACTICE}.`);
    await other.close();

    await focus(owner);
    await owner.reload();
    await expectText(staffRow(owner, BEA.email), "Active");
    await expectText(staffRow(owner, DANA.email), "Declined");
    await owner.getByLabel("Status").selectOption({ label: "Pending" });
    await expectText(owner.getByRole("table", { name: "Practice staff" }), /^(?!.*Bea Member).*Carl Carter/);
    await owner.getByLabel("Status").selectOption({ label: "All statuses" });
    await owner.getByLabel("Search by name or e-mail").fill("finn");
    await expectText(owner.getByRole("table", { name: "Practice staff" }), /^(?!.*Bea Member).*Finn Fielding/);
    await owner.getByLabel("Search by name or e-mail").fill("");
  });

  step("refreshes a refused or expiring access token with the refresh token", async () => {
    await focus(bea);
    const read = () => bea.evaluate(() => JSON.parse(sessionStorage.getItem("ps.session") ?? "null") as { accessToken: string; refreshToken: string; accessExpiresAt: number } | null);
    const before = (await read())!;
    // A token the services refuse (UNAUTHENTICATED): one refresh, one retry, the page loads.
    await bea.evaluate(() => {
      const s = JSON.parse(sessionStorage.getItem("ps.session")!);
      s.accessToken = "not-a-valid-token";
      sessionStorage.setItem("ps.session", JSON.stringify(s));
    });
    await bea.reload();
    await staffRow(bea, OWNER.email).waitFor();
    const after = (await read())!;
    expect(after.accessToken).not.toBe("not-a-valid-token");
    expect(after.refreshToken).not.toBe(before.refreshToken);
    // A token about to expire: renewed before the call.
    await bea.evaluate(() => {
      const s = JSON.parse(sessionStorage.getItem("ps.session")!);
      s.accessExpiresAt = Date.now() + 5_000;
      sessionStorage.setItem("ps.session", JSON.stringify(s));
    });
    await bea.reload();
    await staffRow(bea, OWNER.email).waitFor();
    const renewed = (await read())!;
    expect(renewed.refreshToken).not.toBe(after.refreshToken);
    expect(renewed.accessExpiresAt).toBeGreaterThan(Date.now() + 10 * 60_000);
  });

  step("offers a Member no manager action", async () => {
    await focus(bea);
    await bea.reload();
    await staffRow(bea, OWNER.email).waitFor();
    await notSee(bea, bea.getByRole("button", { name: "Add user" }));
    await notSee(bea, bea.getByRole("table", { name: "Practice staff" }).getByRole("combobox"));
    await notSee(bea, bea.getByRole("table", { name: "Practice staff" }).getByRole("button", { name: "Reinvite" }));
    await staffRow(bea, FINN.email).getByRole("button", { name: /Actions/ }).click();
    const items = await bea.getByRole("menuitem").allInnerTexts();
    expect(items).toEqual(["View details"]);
    await bea.keyboard.press("Escape");
    const nav = await bea.getByRole("navigation", { name: "Main" }).innerText();
    expect(nav).not.toContain("Audit log");
    expect(nav).not.toContain("Offboardings");
    expect(nav).not.toContain("E-mail log");
  });

  step("the owner changes a role", async () => {
    await focus(owner);
    await owner.reload();
    await staffRow(owner, FINN.email).getByLabel(`Role of ${FINN.name}`).selectOption({ label: "User Manager" });
    await see(owner, `${FINN.name} is now User Manager.`);
    await owner.reload();
    expect(await staffRow(owner, FINN.email).getByLabel(`Role of ${FINN.name}`).inputValue()).toBe("3");
  });

  step("shows a field violation next to its field, then saves the provider profile", async () => {
    await focus(owner);
    await staffRow(owner, BEA.email).getByRole("link", { name: BEA.name }).click();
    await owner.getByRole("heading", { name: BEA.name }).waitFor();
    await owner.getByLabel("NPI").fill("1234567890");
    await owner.getByLabel("Capacity").fill("4");
    await owner.getByRole("button", { name: "Save profile" }).click();
    const npiField = owner.locator(".field", { has: owner.getByLabel("NPI") });
    await expectText(npiField.locator(".field-error"), "wrong check digit");
    await extra(owner, "field-violation");
    await notSee(owner, owner.locator(".field", { has: owner.getByLabel("Capacity") }).locator(".field-error"));
    await owner.getByLabel("NPI").fill("1234567893");
    await owner.getByLabel("Scheduling step (minutes)").fill("7");
    await owner.getByRole("button", { name: "Save profile" }).click();
    await expectText(owner.locator(".field", { has: owner.getByLabel("Scheduling step (minutes)") }).locator(".field-error"), /15/);
    await owner.getByLabel("Scheduling step (minutes)").fill("30");
    await owner.getByRole("button", { name: "Save profile" }).click();
    await see(owner, "The profile was saved.");
    await extra(owner, "member-detail");
    expect(await owner.getByLabel("NPI").inputValue()).toBe("1234567893");
  });

  step("manages organisation access for a member: two organisations, different roles, preview then update", async () => {
    await focus(owner);
    await owner.getByRole("button", { name: "Manage organisation access" }).click();
    await owner.getByRole("heading", { name: "Manage Organisation access" }).waitFor();
    await see(owner, "Client Three");
    await owner.getByText("A role per organisation").click();
    await owner.getByLabel("Access to Client One").check();
    await owner.getByLabel("Access to Client Two").check();
    await owner.getByLabel("Role in Client One").selectOption({ label: "Approver" });
    await owner.getByLabel("Role in Client Two").selectOption({ label: "Viewer" });
    await owner.getByLabel("Location limits in Client Two").click();
    await owner.locator(".popover-body").getByLabel("North Clinic").check();
    await owner.getByRole("heading", { name: "Manage Organisation access" }).click();
    await owner.getByRole("button", { name: "Preview changes" }).click();
    const preview = owner.getByRole("region", { name: "Preview: nothing is changed yet" });
    await expectText(preview, "Added (2)");
    await expectText(preview.locator("tr", { hasText: "Client One" }), /Approver.*All locations.*No access → Invited/);
    await expectText(preview.locator("tr", { hasText: "Client Two" }), /Viewer.*North Clinic/);
    const text = await preview.innerText();
    expect(text).not.toMatch(/[0-9a-f]{8}-[0-9a-f]{4}-/);
    await screenshot(owner, "console-org-access.png");
    await owner.getByRole("button", { name: "Update" }).click();
    await see(owner, "Saved. 2 added.");
    await expectText(owner.locator('tr[data-row="Client One"]'), /Invited\s*Approver/);
  });

  step("the mirror: many members into one organisation", async () => {
    await focus(owner);
    await nav(owner, "Organisations");
    await owner.locator('tr[data-organisation="Client Three"]').getByRole("button", { name: "Manage access" }).click();
    await owner.getByRole("heading", { name: "Manage Organisation access" }).waitFor();
    await owner.getByLabel("Role for all", { exact: true }).selectOption({ label: "Editor" });
    await owner.getByLabel(`Access to ${BEA.name}`).check();
    await owner.getByLabel(`Access to ${GINA.name}`).check();
    await owner.getByRole("button", { name: "Preview changes" }).click();
    const preview = owner.getByRole("region", { name: "Preview: nothing is changed yet" });
    await expectText(preview.locator("tr", { hasText: BEA.name }), "Editor");
    await expectText(preview.locator("tr", { hasText: GINA.name }), "Editor");
    await owner.getByRole("button", { name: "Update" }).click();
    await see(owner, "Saved. 2 added.");
  });

  step("the member accepts one organisation and declines another on their organisation invitations page", async () => {
    await focus(bea);
    const mail = await newestMail(launcher.dataDir, BEA.email, "/organisation-invitations");
    await bea.goto(linkIn(mail, "/organisation-invitations"));
    await bea.getByRole("heading", { name: "My organisation invitations" }).waitFor();
    const table = bea.getByRole("table", { name: "Organisation invitations" });
    await expectText(table.locator('tr[data-org="Client One"]'), "Approver");
    await expectText(table.locator('tr[data-org="Client Two"]'), /Viewer\s*North Clinic/);
    await table.locator('tr[data-org="Client One"]').getByRole("button", { name: "Accept" }).click();
    await see(bea, "You can now act in Client One as Approver.");
    await table.locator('tr[data-org="Client Two"]').getByRole("button", { name: "Decline" }).click();
    await see(bea, "You declined access to Client Two.");
    await expectText(table.locator('tr[data-org="Client One"]'), "Active");
    await expectText(table.locator('tr[data-org="Client Two"]'), "Declined");
    await extra(bea, "org-invitations");
    await expectText(bea.locator("section", { hasText: "My organisations" }), /Client One — Approver\s*Active/);
  });

  step("adds a workflow whose step the member approves", async () => {
    await focus(owner);
    await nav(owner, "Organisations");
    await owner.getByRole("link", { name: "Client One" }).click();
    await owner.getByRole("heading", { name: "Client One" }).waitFor();
    await expectText(owner.getByRole("table", { name: "Members of the organisation" }), /Bea Member\s*Approver\s*Active/);
    await owner.getByRole("button", { name: "Add workflow" }).click();
    const dialog = owner.getByRole("dialog");
    await dialog.getByLabel("Workflow name").fill("Invoice approval");
    await dialog.getByLabel("Step name").fill("Review");
    await dialog.getByLabel(BEA.name).check();
    await dialog.getByRole("button", { name: "Save workflow" }).click();
    await see(owner, "The workflow Invoice approval was saved.");
    await expectText(owner.locator('[data-workflow="Invoice approval"]'), `Review approved by ${BEA.name}`);
  });

  step("invites to certification, records it and downloads the certificate", async () => {
    await focus(owner);
    await nav(owner, "Practice Staff");
    await staffRow(owner, BEA.email).getByRole("link", { name: BEA.name }).click();
    await owner.getByRole("button", { name: "Send invitation to certification" }).click();
    await see(owner, `${BEA.name} was e-mailed an invitation to certify.`);
    const certSection = owner.locator("section", { has: owner.getByRole("heading", { name: "Certification" }) });
    await expectText(certSection, "Invited");
    const mail = await newestMail(launcher.dataDir, BEA.email, "/certification");
    await focus(bea);
    await bea.goto(linkIn(mail, "/certification"));
    await expectText(bea.locator(".content"), "You were invited to certify");

    await focus(owner);
    await owner.getByRole("button", { name: "Record certification" }).click();
    const dialog = owner.getByRole("dialog");
    await dialog.getByLabel("Certificate number").fill("HP-2041");
    await dialog.getByRole("button", { name: "Record certification" }).click();
    await see(owner, `The certification of ${BEA.name} was recorded.`);
    await expectText(certSection, /Certified.*HP-2041/);
    const [download] = await Promise.all([owner.waitForEvent("download"), owner.getByRole("button", { name: "Download certificate" }).click()]);
    const file = await download.path();
    expect(readFileSync(file).subarray(0, 5).toString("latin1")).toBe("%PDF-");
    expect(download.suggestedFilename()).toMatch(/\.pdf$/);

    await focus(bea);
    await bea.reload();
    await expectText(bea.locator(".content"), "You were certified on");
    const [mine] = await Promise.all([bea.waitForEvent("download"), bea.getByRole("button", { name: "Download certificate" }).click()]);
    expect(readFileSync(await mine.path()).subarray(0, 5).toString("latin1")).toBe("%PDF-");
  });

  step("deactivates and reactivates a member", async () => {
    await focus(owner);
    await nav(owner, "Practice Staff");
    await rowAction(owner, GINA.email, "Deactivate");
    await owner.getByRole("dialog").getByRole("button", { name: "Deactivate" }).click();
    await see(owner, `${GINA.name} was deactivated.`);
    await expectText(staffRow(owner, GINA.email), "Deactivated");
    await rowAction(owner, GINA.email, "Reactivate");
    await see(owner, `${GINA.name} is active again.`);
    await expectText(staffRow(owner, GINA.email), "Active");
  });

  step("resets a forgotten password through the e-mailed link, and signs out", async () => {
    const page = await newPerson();
    await page.goto(`${launcher.consoleUrl}/sign-in`);
    await page.getByRole("link", { name: "Forgot your password?" }).click();
    await page.getByLabel("E-mail").fill(GINA.email);
    await page.getByRole("button", { name: "Send the link" }).click();
    await see(page, `If an account exists for ${GINA.email}`);
    const mail = await newestMail(launcher.dataDir, GINA.email, "/reset-password?token=");
    await page.goto(linkIn(mail, "/reset-password?token="));
    await page.getByRole("heading", { name: "Choose a new password" }).waitFor();
    expect(page.url()).not.toContain("token=");
    await page.getByLabel("New password").fill("short");
    await page.getByLabel("Repeat the password").fill("short");
    await page.getByRole("button", { name: "Change password" }).click();
    await see(page, "Use at least 10 characters.");
    GINA.password = "gina-new-secret-9";
    await page.getByLabel("New password").fill(GINA.password);
    await page.getByLabel("Repeat the password").fill(GINA.password);
    await page.getByRole("button", { name: "Change password" }).click();
    await see(page, "Your password was changed");
    await page.getByRole("button", { name: "Sign in" }).click();
    await page.getByLabel("E-mail").fill(GINA.email);
    await page.getByLabel("Password").fill("gina-secret-12");
    await page.getByRole("button", { name: "Sign in" }).click();
    await see(page, /wrong e-mail or password|invalid/i);
    await page.getByLabel("Password").fill(GINA.password);
    await page.getByRole("button", { name: "Sign in" }).click();
    await page.getByRole("heading", { name: "Practice Staff" }).waitFor();
    await expectText(page.locator(".topbar"), GINA.name);
    await page.getByRole("button", { name: "Sign out" }).click();
    await page.getByRole("heading", { name: "Sign in" }).waitFor();
    expect(await page.evaluate(() => sessionStorage.getItem("ps.session"))).toBeNull();
    await page.goto(`${launcher.consoleUrl}/organisations`);
    await page.getByRole("heading", { name: "Sign in" }).waitFor();
    await page.close();
  });

  step("offboards a member to a replacement: the plan by name, Done, and it completes", async () => {
    await focus(owner);
    await rowAction(owner, BEA.email, "Offboard…");
    await owner.getByRole("heading", { name: `Offboard ${BEA.name}` }).waitFor();
    await owner.getByLabel("Replacement", { exact: true }).selectOption({ label: `${FINN.name} — User Manager` });
    await owner.getByRole("button", { name: "Preview plan" }).click();
    const plan = owner.getByRole("region", { name: "Offboarding plan" });
    await expectText(plan, `The plan: ${BEA.name} → ${FINN.name}`);
    await expectText(plan.locator("tr", { hasText: "Client One" }).first(), /Approver.*No access.*Approver.*New access with the leaver's role/);
    await expectText(plan.locator("tr", { hasText: "Invoice approval" }), /Client One.*1\. Review.*Finn Fielding/);
    await expectText(plan, /Organisation invitations withdrawn \(1\)\s*Client Three as Editor/);
    const text = await plan.innerText();
    expect(text).not.toMatch(/[0-9a-f]{8}-[0-9a-f]{4}-/);
    await screenshot(owner, "console-offboarding-plan.png");
    await owner.getByRole("button", { name: "Done" }).click();
    await owner.getByRole("heading", { name: `Offboarding of ${BEA.name}` }).waitFor();
    await expectText(owner.locator(".content"), /Completed.*Bea Member's work went to Finn Fielding/, 60_000);
    await extra(owner, "offboarding-done");

    await nav(owner, "Offboardings");
    await expectText(owner.getByRole("table", { name: "Offboardings" }), /Bea Member\s*Finn Fielding.*Completed/);
    await nav(owner, "Practice Staff");
    await expectText(staffRow(owner, BEA.email), "Offboarded");
  });

  step("a person active in two practices picks one at sign-in and switches between them", async () => {
    const staff = createClient(StaffDirectoryService, createGrpcWebTransport({ baseUrl: launcher.config!.staffDirectoryUrl }));
    await staff.createPractice(
      { name: "Bayside Clinic", ownerEmail: FINN.email, ownerName: FINN.name },
      { headers: { "x-operator-token": launcher.operatorToken() } },
    );
    const mail = await newestMail(launcher.dataDir, FINN.email, "join Bayside Clinic");
    const page = await newPerson();
    await page.goto(linkIn(mail, "/invitation?token="));
    await see(page, "Join Bayside Clinic");
    await see(page, "You already have a Practice Staff account");
    await page.getByLabel("Your current password").fill(FINN.password);
    await page.getByRole("button", { name: "Accept invitation" }).click();
    await see(page, "You have joined Bayside Clinic as Account Owner.");
    await page.getByRole("button", { name: "Continue to sign in" }).click();
    await page.getByLabel("Password").fill(FINN.password);
    await page.getByRole("button", { name: "Sign in" }).click();
    await page.getByRole("heading", { name: "Choose a practice" }).waitFor();
    await extra(page, "practice-picker");
    await page.getByLabel(/Harbour Physiotherapy/).check();
    await page.getByRole("button", { name: "Continue" }).click();
    await page.getByRole("heading", { name: "Practice Staff" }).waitFor();
    const switcher = page.getByLabel("Practice", { exact: true });
    expect(await switcher.locator("option:checked").innerText()).toBe(PRACTICE);
    await expectText(page.locator(".me-role"), "User Manager");
    await staffRow(page, OWNER.email).waitFor();
    await switcher.selectOption({ label: "Bayside Clinic" });
    await expectText(page.locator(".me-role"), "Account Owner");
    await expectText(page.getByRole("table", { name: "Practice staff" }), /^(?!.*Olive Owner).*Finn Fielding/);
    await page.close();
  });

  step("shows the wait when reinvitations are over the hourly limit", async () => {
    await focus(owner);
    await nav(owner, "Practice Staff");
    const row = staffRow(owner, CARL.email);
    let refused = "";
    for (let i = 0; i < 5 && !refused; i++) {
      await row.getByRole("button", { name: "Reinvite" }).click();
      await owner.locator('.banner[role="status"], .banner[role="alert"]').first().waitFor();
      await sleep(100);
      refused = (await owner.locator('.banner[role="alert"]').allInnerTexts()).join(" ");
    }
    expect(refused).toMatch(/Try again in \d+ (second|minute|hour)s?\./);
  });

  step("adds a custom role, toggles a permission, and archives an organisation", async () => {
    await focus(owner);
    await nav(owner, "Roles");
    await owner.getByRole("button", { name: "Add role" }).click();
    const dialog = owner.getByRole("dialog");
    await dialog.getByLabel("Name").fill("Night Desk");
    await dialog.locator('input[name="new-calendar.view"]').check();
    await dialog.locator('input[name="new-calendar.create"]').check();
    await dialog.getByRole("button", { name: "Add role" }).click();
    await see(owner, "The role Night Desk was added.");
    const card = owner.locator('[data-role="Night Desk"]');
    await card.locator('input[name$="-calendar.delete"]').check();
    await card.getByRole("button", { name: "Save permissions" }).click();
    await see(owner, "The permissions of Night Desk were saved");
    await nav(owner, "Organisations");
    await owner.locator('tr[data-organisation="Client Two"]').getByRole("button", { name: "Archive" }).click();
    await owner.getByRole("dialog").getByRole("button", { name: "Archive" }).click();
    await see(owner, "Client Two was archived.");
    await expectText(owner.getByRole("table", { name: "Organisations" }), /^(?!.*Client Two).*Client Three/);
  });

  step("reads the audit logs and the e-mail log by name", async () => {
    await focus(owner);
    await nav(owner, "Audit log");
    const staffLog = owner.getByRole("table", { name: "Staff audit log" });
    await expectText(staffLog.locator("tr", { hasText: "Role changed" }), /Olive Owner.*Finn Fielding.*Role: Member → User Manager/);
    await expectText(staffLog.locator("tr", { hasText: "Profile updated" }).first(), /NPI/);
    await owner.getByRole("tab", { name: "Organisation access" }).click();
    const accessLog = owner.getByRole("table", { name: "Access audit log" });
    await expectText(accessLog, /Access granted.*Client One.*Bea Member.*Role: Approver/);
    await extra(owner, "audit-access");
    await owner.getByRole("tab", { name: "Staff and practice" }).click();
    await extra(owner, "audit-staff");
    await owner.getByRole("tab", { name: "Organisation access" }).click();
    expect(await accessLog.innerText()).not.toMatch(/[0-9a-f]{8}-[0-9a-f]{4}-/);
    await nav(owner, "E-mail log");
    await expectText(owner.getByRole("table", { name: "E-mail deliveries" }), BEA.email);
    await extra(owner, "deliveries");
    await nav(owner, "Roles");
    await owner.locator('[data-role="Administrator"]').waitFor();
    await extra(owner, "roles");
    await nav(owner, "Organisations");
    await owner.getByRole("link", { name: "Client One" }).click();
    await owner.getByRole("heading", { name: "Workflows" }).waitFor();
    await extra(owner, "organisation");
  });

  step("shows several members with different statuses on the Practice Staff page", async () => {
    await focus(owner);
    await nav(owner, "Practice Staff");
    await rowAction(owner, GINA.email, "Deactivate");
    await owner.getByRole("dialog").getByRole("button", { name: "Deactivate" }).click();
    await see(owner, `${GINA.name} was deactivated.`);
    const table = owner.getByRole("table", { name: "Practice staff" });
    for (const s of ["Active", "Pending", "Declined", "Deactivated", "Offboarded"]) await expectText(table, s);
    expect(await table.innerText()).not.toMatch(/[0-9a-f]{8}-[0-9a-f]{4}-/);
    await owner.reload();
    await expectText(staffRow(owner, GINA.email), "Deactivated");
    await screenshot(owner, "console-staff.png");
    // Every e-mail the run produced carries links into this console.
    expect(mails(launcher.dataDir).every((m) => m.links.every((l) => l.startsWith(launcher.consoleUrl)))).toBe(true);
  });
});
