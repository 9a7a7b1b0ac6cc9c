// The signed-in session, kept in sessionStorage (this tab only, gone when it closes; never in
// URLs or logs). Access tokens live 15 minutes: they are refreshed a minute before they expire,
// and once more when a service answers UNAUTHENTICATED.
import { Code, ConnectError } from "@connectrpc/connect";
import { PracticeRole } from "../gen/common/v1/common_pb";
import { PracticeChoicesSchema } from "../gen/identity/v1/identity_pb";

export interface PracticeChoice {
  practiceId: string;
  practiceName: string;
  staffId: string;
  role: PracticeRole;
}

export interface Session {
  accessToken: string;
  /** Epoch milliseconds. */
  accessExpiresAt: number;
  refreshToken: string;
  refreshExpiresAt: number;
  userId: string;
  practiceId: string;
  role: PracticeRole;
  staffId: string;
  practiceName: string;
  personName: string;
  email: string;
  practices: PracticeChoice[];
}

export interface TokenGrant {
  accessToken: string;
  accessExpiresAt: number;
  refreshToken: string;
  refreshExpiresAt: number;
  userId: string;
  practiceId: string;
  role: PracticeRole;
}

export const REFRESH_MARGIN_MS = 60_000;

/** Whether the access token should be renewed before use. */
export function needsRefresh(s: Pick<Session, "accessExpiresAt">, now: number, margin = REFRESH_MARGIN_MS): boolean {
  return s.accessExpiresAt - now <= margin;
}

/** Milliseconds until the refresh timer should fire (never negative). */
export function refreshDelay(s: Pick<Session, "accessExpiresAt">, now: number, margin = REFRESH_MARGIN_MS): number {
  return Math.max(0, s.accessExpiresAt - margin - now);
}

/** A session with new tokens; the practice details stay unless the practice changed. */
export function withGrant(previous: Session | null, grant: TokenGrant): Session {
  const samePractice = previous !== null && previous.practiceId === grant.practiceId;
  const choice = previous?.practices.find((p) => p.practiceId === grant.practiceId);
  return {
    personName: "",
    email: "",
    practices: [],
    ...(previous ?? {}),
    ...grant,
    staffId: samePractice ? previous.staffId : (choice?.staffId ?? ""),
    practiceName: samePractice ? previous.practiceName : (choice?.practiceName ?? ""),
  };
}

function isSession(value: unknown): value is Session {
  if (!value || typeof value !== "object") return false;
  const v = value as Record<string, unknown>;
  return typeof v.accessToken === "string" && typeof v.refreshToken === "string" && typeof v.accessExpiresAt === "number";
}

export class SessionStore {
  private listeners = new Set<(s: Session | null) => void>();
  private value: Session | null;

  constructor(
    private storage: Pick<Storage, "getItem" | "setItem" | "removeItem">,
    private key = "ps.session",
  ) {
    this.value = this.read();
  }

  private read(): Session | null {
    try {
      const raw = this.storage.getItem(this.key);
      if (!raw) return null;
      const parsed: unknown = JSON.parse(raw);
      if (!isSession(parsed)) return null;
      if (parsed.refreshExpiresAt && parsed.refreshExpiresAt < Date.now()) return null;
      return parsed;
    } catch {
      return null;
    }
  }

  get(): Session | null {
    return this.value;
  }

  set(value: Session): void {
    this.value = value;
    this.storage.setItem(this.key, JSON.stringify(value));
    this.emit();
  }

  update(patch: Partial<Session>): void {
    if (!this.value) return;
    this.set({ ...this.value, ...patch });
  }

  clear(): void {
    this.value = null;
    this.storage.removeItem(this.key);
    this.emit();
  }

  subscribe(fn: (s: Session | null) => void): () => void {
    this.listeners.add(fn);
    return () => this.listeners.delete(fn);
  }

  private emit(): void {
    for (const fn of this.listeners) fn(this.value);
  }
}

/**
 * The practices to choose from when identity refused a sign-in because the person is active in
 * several and it named none: an InvalidArgument carrying identity.v1.PracticeChoices (sent only
 * once the password was right). Null for every other refusal.
 */
export function practiceChoices(err: unknown): PracticeChoice[] | null {
  const e = ConnectError.from(err);
  if (e.code !== Code.InvalidArgument) return null;
  const detail = e.findDetails(PracticeChoicesSchema)[0];
  if (!detail || detail.practices.length === 0) return null;
  return detail.practices.map((p) => ({ practiceId: p.practiceId, practiceName: p.practiceName, staffId: p.staffId, role: p.practiceRole }));
}
