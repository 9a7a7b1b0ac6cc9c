// One grpc-web transport per service (addresses from the launcher's /config.json), clients
// generated from ../proto, and the bearer token on every call that needs one.
import { Code, ConnectError, createClient, type Client, type Interceptor } from "@connectrpc/connect";
import { createGrpcWebTransport } from "@connectrpc/connect-web";
import { timestampMs } from "@bufbuild/protobuf/wkt";
import { IdentityService, type SignInResponse } from "./gen/identity/v1/identity_pb";
import { StaffDirectoryService } from "./gen/staff/v1/staff_pb";
import { OrgAccessService } from "./gen/orgaccess/v1/orgaccess_pb";
import { NotificationService } from "./gen/notification/v1/notification_pb";
import { SessionStore, needsRefresh, refreshDelay, withGrant, type Session, type TokenGrant } from "./lib/session";

export interface ConsoleConfig {
  identityUrl: string;
  staffDirectoryUrl: string;
  orgAccessUrl: string;
  notificationUrl: string;
}

export async function loadConfig(): Promise<ConsoleConfig> {
  const res = await fetch("/config.json", { cache: "no-store" });
  if (!res.ok) throw new Error(`config.json answered ${res.status}`);
  const cfg = (await res.json()) as Partial<ConsoleConfig>;
  for (const k of ["identityUrl", "staffDirectoryUrl", "orgAccessUrl", "notificationUrl"] as const) {
    if (typeof cfg[k] !== "string") throw new Error(`config.json lacks ${k}`);
  }
  return cfg as ConsoleConfig;
}

/** Identity RPCs that take no access token. */
const PUBLIC_METHODS = new Set([
  "SignIn",
  "Refresh",
  "GetInvitation",
  "AcceptInvitation",
  "DeclineInvitation",
  "GetJwks",
  "RequestPasswordReset",
  "ResetPassword",
]);

export function grantFrom(res: SignInResponse): TokenGrant {
  return {
    accessToken: res.accessToken,
    accessExpiresAt: res.accessTokenExpiresAt ? timestampMs(res.accessTokenExpiresAt) : Date.now() + 15 * 60_000,
    refreshToken: res.refreshToken,
    refreshExpiresAt: res.refreshTokenExpiresAt ? timestampMs(res.refreshTokenExpiresAt) : 0,
    userId: res.userId,
    practiceId: res.practiceId,
    role: res.practiceRole,
  };
}

export class Api {
  readonly identity: Client<typeof IdentityService>;
  readonly staff: Client<typeof StaffDirectoryService>;
  readonly org: Client<typeof OrgAccessService>;
  readonly notification: Client<typeof NotificationService>;
  readonly session: SessionStore;
  /** Called when the session ended (refresh refused): the app goes to sign-in. */
  onSessionEnded: () => void = () => {};

  private publicIdentity: Client<typeof IdentityService>;
  private refreshing: Promise<void> | null = null;
  private timer: ReturnType<typeof setTimeout> | undefined;

  constructor(config: ConsoleConfig, storage: Storage) {
    this.session = new SessionStore(storage);
    const auth: Interceptor = (next) => async (req) => {
      if (req.service.typeName === IdentityService.typeName && PUBLIC_METHODS.has(req.method.name)) {
        return next(req);
      }
      req.header.set("authorization", `Bearer ${await this.bearer()}`);
      try {
        return await next(req);
      } catch (err) {
        const e = ConnectError.from(err);
        if (e.code !== Code.Unauthenticated || !this.session.get()) throw err;
        // The access token may have been refused for age or a key change: one refresh, one retry.
        await this.refresh();
        req.header.set("authorization", `Bearer ${await this.bearer()}`);
        return await next(req);
      }
    };
    const transport = (baseUrl: string) => createGrpcWebTransport({ baseUrl, interceptors: [auth] });
    this.identity = createClient(IdentityService, transport(config.identityUrl));
    this.publicIdentity = createClient(IdentityService, createGrpcWebTransport({ baseUrl: config.identityUrl }));
    this.staff = createClient(StaffDirectoryService, transport(config.staffDirectoryUrl));
    this.org = createClient(OrgAccessService, transport(config.orgAccessUrl));
    this.notification = createClient(NotificationService, transport(config.notificationUrl));
    this.session.subscribe(() => this.schedule());
    this.schedule();
  }

  private async bearer(): Promise<string> {
    const s = this.session.get();
    if (!s) throw new ConnectError("Please sign in.", Code.Unauthenticated);
    if (needsRefresh(s, Date.now())) await this.refresh();
    const now = this.session.get();
    if (!now) throw new ConnectError("Your session has ended. Please sign in again.", Code.Unauthenticated);
    return now.accessToken;
  }

  /** Exchanges the refresh token (once at a time: each one works once). */
  refresh(): Promise<void> {
    if (this.refreshing) return this.refreshing;
    const s = this.session.get();
    if (!s) return Promise.reject(new ConnectError("Please sign in.", Code.Unauthenticated));
    this.refreshing = (async () => {
      try {
        const res = await this.publicIdentity.refresh({ refreshToken: s.refreshToken });
        this.session.set(withGrant(this.session.get(), grantFrom(res)));
      } catch (err) {
        const e = ConnectError.from(err);
        if (e.code === Code.Unauthenticated || e.code === Code.PermissionDenied || e.code === Code.NotFound) {
          this.session.clear();
          this.onSessionEnded();
          throw new ConnectError("Your session has ended. Please sign in again.", Code.Unauthenticated);
        }
        throw err;
      } finally {
        this.refreshing = null;
      }
    })();
    return this.refreshing;
  }

  private schedule(): void {
    clearTimeout(this.timer);
    const s = this.session.get();
    if (!s) return;
    this.timer = setTimeout(() => {
      this.refresh().catch(() => {
        // A network failure: the next call tries again.
      });
    }, refreshDelay(s, Date.now()));
  }

  /**
   * Takes new tokens and fills in who and where: the practice list (names, roles, this
   * person's staff id in each) and the person's own name.
   */
  async adopt(res: SignInResponse, email?: string): Promise<Session> {
    const previous = this.session.get();
    const grant = grantFrom(res);
    const base = withGrant(previous && previous.userId === grant.userId ? previous : null, grant);
    if (email) base.email = email;
    this.session.set(base);
    const mine = await this.identity.listMyPractices({});
    const practices = mine.practices.map((p) => ({
      practiceId: p.practiceId,
      practiceName: p.practiceName,
      staffId: p.staffId,
      role: p.practiceRole,
    }));
    const current = practices.find((p) => p.practiceId === grant.practiceId);
    let personName = base.personName;
    let mail = base.email;
    if (current) {
      try {
        const me = await this.staff.getStaff({ staffId: current.staffId });
        personName = me.name;
        mail = me.email;
      } catch {
        // The header then shows the e-mail only.
      }
    }
    const next: Session = {
      ...this.session.get()!,
      practices,
      staffId: current?.staffId ?? "",
      practiceName: current?.practiceName ?? "",
      role: current?.role ?? grant.role,
      personName,
      email: mail,
    };
    this.session.set(next);
    return next;
  }

  async signOut(): Promise<void> {
    try {
      if (this.session.get()) await this.identity.signOut({});
    } catch {
      // Signing out locally is what matters; the session also ends when its tokens expire.
    } finally {
      this.session.clear();
    }
  }
}

/** A random id for idempotent changesets (request_id). */
export function requestId(): string {
  if (typeof crypto !== "undefined" && typeof crypto.randomUUID === "function") return crypto.randomUUID();
  const bytes = new Uint8Array(16);
  crypto.getRandomValues(bytes);
  return Array.from(bytes, (b) => b.toString(16).padStart(2, "0")).join("");
}
