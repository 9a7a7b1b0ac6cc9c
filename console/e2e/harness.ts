// The e2e harness: the launcher binary on free ports with a fresh data directory, the e-mails
// it writes, and Debian's Chromium through playwright-core. Nothing here builds or downloads:
// a missing browser or launcher fails the run.
import { spawn, type ChildProcess } from "node:child_process";
import { existsSync, mkdtempSync, readdirSync, readFileSync, createWriteStream, rmSync, statSync } from "node:fs";
import { createServer } from "node:net";
import { tmpdir } from "node:os";
import { join, resolve } from "node:path";
import { fileURLToPath } from "node:url";
import { chromium, type BrowserContext, type Locator, type Page } from "playwright-core";

export const CONSOLE_DIR = fileURLToPath(new URL("..", import.meta.url));
export const CHROMIUM = process.env.PS_CHROMIUM ?? "/usr/bin/chromium";
/** PS_LAUNCHER_BIN (relative to the working directory), else ../target/debug/practice-staff from console/. */
export const LAUNCHER = process.env.PS_LAUNCHER_BIN
  ? resolve(process.cwd(), process.env.PS_LAUNCHER_BIN)
  : resolve(CONSOLE_DIR, "../target/debug/practice-staff");

export function requirePrerequisites(): void {
  if (!existsSync(CHROMIUM)) {
    throw new Error(`Chromium is missing at ${CHROMIUM}: install Debian's package (apt-get install -y chromium).`);
  }
  if (!existsSync(LAUNCHER)) {
    throw new Error(`The launcher binary is missing at ${LAUNCHER}: build it (cargo build -p practice-staff) or set PS_LAUNCHER_BIN.`);
  }
  if (!existsSync(join(CONSOLE_DIR, "dist", "index.html"))) {
    throw new Error("console/dist is missing: run `npm --prefix console run build` first.");
  }
}

function freePort(): Promise<number> {
  return new Promise((ok, fail) => {
    const srv = createServer();
    srv.unref();
    srv.on("error", fail);
    srv.listen(0, "127.0.0.1", () => {
      const addr = srv.address();
      const port = typeof addr === "object" && addr ? addr.port : 0;
      srv.close(() => ok(port));
    });
  });
}

export interface ServiceUrls {
  identityUrl: string;
  staffDirectoryUrl: string;
  orgAccessUrl: string;
  notificationUrl: string;
}

export class Launcher {
  private child: ChildProcess | undefined;
  private exited: Promise<void> | undefined;
  dataDir = "";
  consoleUrl = "";
  config: ServiceUrls | undefined;

  async start(): Promise<void> {
    const ports: number[] = [];
    while (ports.length < 6) {
      const p = await freePort();
      if (!ports.includes(p)) ports.push(p);
    }
    const [identity, staff, org, notification, admin, consolePort] = ports as [number, number, number, number, number, number];
    this.dataDir = mkdtempSync(join(tmpdir(), "ps-e2e-data-"));
    this.consoleUrl = `http://localhost:${consolePort}`;
    const args = [
      "--data-dir", this.dataDir,
      "--bind", "127.0.0.1",
      "--identity-port", String(identity),
      "--staff-directory-port", String(staff),
      "--org-access-port", String(org),
      "--notification-port", String(notification),
      "--admin-port", String(admin),
      "--console-port", String(consolePort),
      "--console-dir", join(CONSOLE_DIR, "dist"),
      "--public-url", this.consoleUrl,
    ];
    const log = createWriteStream(join(this.dataDir, "launcher.log"));
    const child = spawn(LAUNCHER, args, { stdio: ["ignore", "pipe", "pipe"], env: { ...process.env, NO_COLOR: "1" } });
    this.child = child;
    child.stdout?.pipe(log);
    child.stderr?.pipe(log);
    let exitCode: number | null | undefined;
    this.exited = new Promise((ok) =>
      child.on("exit", (code) => {
        exitCode = code;
        ok();
      }),
    );
    const deadline = Date.now() + 60_000;
    for (;;) {
      if (exitCode !== undefined) throw new Error(`the launcher exited (${exitCode}); see ${join(this.dataDir, "launcher.log")}`);
      try {
        const res = await fetch(`http://127.0.0.1:${consolePort}/config.json`);
        if (res.ok) {
          this.config = (await res.json()) as ServiceUrls;
          return;
        }
      } catch {
        // not listening yet
      }
      if (Date.now() > deadline) throw new Error("the launcher did not answer /config.json within 60 s");
      await sleep(200);
    }
  }

  operatorToken(): string {
    return readFileSync(join(this.dataDir, "operator-token"), "utf8").trim();
  }

  async stop(): Promise<void> {
    const child = this.child;
    if (!child || child.exitCode !== null) return;
    child.kill("SIGTERM");
    const killed = await Promise.race([this.exited!.then(() => true), sleep(10_000).then(() => false)]);
    if (!killed) {
      child.kill("SIGKILL");
      await this.exited;
    }
  }

  cleanup(): void {
    if (this.dataDir && !process.env.PS_E2E_KEEP) rmSync(this.dataDir, { recursive: true, force: true });
  }
}

export function sleep(ms: number): Promise<void> {
  return new Promise((ok) => setTimeout(ok, ms));
}

// ---- e-mails ------------------------------------------------------------------------------

export interface Mail {
  file: string;
  to: string;
  subject: string;
  text: string;
  links: string[];
  mtime: number;
}

/** Quoted-printable: soft line breaks (=\n) and =XX escapes, as UTF-8. */
export function decodeQuotedPrintable(body: string): string {
  const joined = body.replace(/=\r?\n/g, "");
  const bytes: number[] = [];
  for (let i = 0; i < joined.length; i++) {
    const c = joined[i]!;
    if (c === "=" && /^[0-9A-Fa-f]{2}$/.test(joined.slice(i + 1, i + 3))) {
      bytes.push(parseInt(joined.slice(i + 1, i + 3), 16));
      i += 2;
    } else {
      for (const b of Buffer.from(c, "utf8")) bytes.push(b);
    }
  }
  return Buffer.from(bytes).toString("utf8");
}

export function parseMail(file: string, raw: string): Mail {
  const headerEnd = raw.search(/\r?\n\r?\n/);
  const headers = raw.slice(0, headerEnd).replace(/\r?\n[ \t]+/g, " ");
  const header = (name: string) => new RegExp(`^${name}:\\s*(.*)$`, "im").exec(headers)?.[1]?.trim() ?? "";
  const text = decodeQuotedPrintable(raw.slice(headerEnd));
  const links = [...new Set(text.match(/https?:\/\/[^\s"'<>]+/g) ?? [])];
  const to = /<([^>]+)>/.exec(header("To"))?.[1] ?? header("To");
  return { file, to: to.toLowerCase(), subject: header("Subject"), text, links, mtime: statSync(file).mtimeMs };
}

export function mails(dataDir: string): Mail[] {
  const dir = join(dataDir, "mail");
  if (!existsSync(dir)) return [];
  return readdirSync(dir)
    .filter((f) => f.endsWith(".eml"))
    .sort()
    .map((f) => parseMail(join(dir, f), readFileSync(join(dir, f), "utf8")));
}

/** Waits for the `count`-th e-mail to `to` whose text has `contains`, and returns the newest. */
export async function newestMail(dataDir: string, to: string, contains: string, count = 1, timeout = 20_000): Promise<Mail> {
  const deadline = Date.now() + timeout;
  for (;;) {
    const found = mails(dataDir).filter((m) => m.to === to.toLowerCase() && m.text.includes(contains));
    if (found.length >= count) return found[found.length - 1]!;
    if (Date.now() > deadline) throw new Error(`no e-mail #${count} to ${to} containing ${contains} (have ${found.length})`);
    await sleep(200);
  }
}

export function linkIn(mail: Mail, path: string): string {
  const link = mail.links.find((l) => l.includes(path));
  if (!link) throw new Error(`no ${path} link in ${mail.file}: ${mail.links.join(", ")}`);
  return link;
}

// ---- browser -------------------------------------------------------------------------------

export async function launchBrowser(): Promise<{ context: BrowserContext; userDataDir: string }> {
  const userDataDir = mkdtempSync(join(tmpdir(), "ps-e2e-chromium-"));
  const context = await chromium.launchPersistentContext(userDataDir, {
    executablePath: CHROMIUM,
    headless: true,
    args: [
      "--headless",
      "--no-sandbox",
      "--disable-gpu",
      "--disable-quic",
      "--no-first-run",
      "--disable-background-networking",
      "--disable-component-update",
      "--disable-sync",
      // Several pages (owner, member) share the browser: keep background ones rendering at full
      // speed, or each action waits for a throttled animation frame.
      "--disable-renderer-backgrounding",
      "--disable-background-timer-throttling",
      "--disable-backgrounding-occluded-windows",
    ],
    viewport: { width: 1440, height: 900 },
    acceptDownloads: true,
    locale: "en-GB",
    timezoneId: "UTC",
  });
  context.setDefaultTimeout(15_000);
  return { context, userDataDir };
}

/** Waits until the locator's text matches. */
export async function expectText(locator: Locator, expected: string | RegExp, timeout = 15_000): Promise<string> {
  const deadline = Date.now() + timeout;
  let last = "";
  for (;;) {
    try {
      last = (await locator.first().innerText({ timeout: 1000 })).replace(/\s+/g, " ");
      if (typeof expected === "string" ? last.includes(expected) : expected.test(last)) {
        if (process.env.E2E_TRACE && Date.now() - (deadline - timeout) > 1500) console.log(`slow expectText ${String(expected)} ${Date.now() - (deadline - timeout)}ms`);
        return last;
      }
    } catch {
      // not there yet
    }
    if (Date.now() > deadline) throw new Error(`expected ${String(expected)} in ${locator.toString()}, saw: ${last.slice(0, 400)}`);
    await sleep(150);
  }
}

/** Waits until text is visible anywhere on the page. */
export async function see(page: Page, text: string | RegExp, timeout = 15_000): Promise<void> {
  const t0 = Date.now();
  await page.getByText(text).first().waitFor({ state: "visible", timeout });
  if (process.env.E2E_TRACE && Date.now() - t0 > 1500) console.log(`slow see ${String(text)} ${Date.now() - t0}ms`);
}

export async function notSee(page: Page, locator: Locator): Promise<void> {
  const n = await locator.count();
  if (n !== 0) throw new Error(`expected nothing for ${locator.toString()} on ${page.url()}, found ${n}`);
}
