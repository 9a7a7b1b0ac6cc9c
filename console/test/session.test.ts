import { describe, expect, it } from "vitest";
import { create, toBinary } from "@bufbuild/protobuf";
import { Code, ConnectError } from "@connectrpc/connect";
import { PracticeRole } from "../src/gen/common/v1/common_pb";
import { PracticeChoicesSchema } from "../src/gen/identity/v1/identity_pb";
import { SessionStore, practiceChoices, needsRefresh, refreshDelay, withGrant, type Session, type TokenGrant } from "../src/lib/session";
import { checkNewPassword, safeNext } from "../src/lib/passwords";

class MemoryStorage {
  data = new Map<string, string>();
  getItem(k: string) {
    return this.data.get(k) ?? null;
  }
  setItem(k: string, v: string) {
    this.data.set(k, v);
  }
  removeItem(k: string) {
    this.data.delete(k);
  }
}

const grant = (over: Partial<TokenGrant> = {}): TokenGrant => ({
  accessToken: "a1",
  accessExpiresAt: 1_000_000,
  refreshToken: "r1",
  refreshExpiresAt: Date.now() + 86_400_000,
  userId: "u1",
  practiceId: "p1",
  role: PracticeRole.MEMBER,
  ...over,
});

describe("token refresh timing", () => {
  it("refreshes a minute before expiry", () => {
    expect(needsRefresh({ accessExpiresAt: 1_000_000 }, 900_000)).toBe(false);
    expect(needsRefresh({ accessExpiresAt: 1_000_000 }, 940_000)).toBe(true);
    expect(refreshDelay({ accessExpiresAt: 1_000_000 }, 900_000)).toBe(40_000);
    expect(refreshDelay({ accessExpiresAt: 1_000_000 }, 990_000)).toBe(0);
  });
});

describe("session store", () => {
  it("keeps the session in the given storage and tells subscribers", () => {
    const storage = new MemoryStorage();
    const store = new SessionStore(storage);
    const seen: (Session | null)[] = [];
    store.subscribe((s) => seen.push(s));
    store.set(withGrant(null, grant()));
    expect(new SessionStore(storage).get()?.accessToken).toBe("a1");
    store.clear();
    expect(storage.data.size).toBe(0);
    expect(seen.map((s) => s?.accessToken ?? null)).toEqual(["a1", null]);
  });
  it("drops a stored session whose refresh token expired, or that is not a session", () => {
    const storage = new MemoryStorage();
    storage.setItem("ps.session", JSON.stringify(withGrant(null, grant({ refreshExpiresAt: Date.now() - 1 }))));
    expect(new SessionStore(storage).get()).toBeNull();
    storage.setItem("ps.session", "{not json");
    expect(new SessionStore(storage).get()).toBeNull();
  });
  it("keeps who and where on refresh, and takes the new practice's details on a switch", () => {
    const first: Session = {
      ...withGrant(null, grant()),
      staffId: "s1",
      practiceName: "Harbour",
      personName: "Bea",
      email: "bea@x",
      practices: [
        { practiceId: "p1", practiceName: "Harbour", staffId: "s1", role: PracticeRole.MEMBER },
        { practiceId: "p2", practiceName: "Bay", staffId: "s9", role: PracticeRole.USER_MANAGER },
      ],
    };
    const refreshed = withGrant(first, grant({ accessToken: "a2", refreshToken: "r2" }));
    expect([refreshed.accessToken, refreshed.refreshToken, refreshed.staffId, refreshed.practiceName, refreshed.personName]).toEqual(["a2", "r2", "s1", "Harbour", "Bea"]);
    const switched = withGrant(first, grant({ practiceId: "p2", role: PracticeRole.USER_MANAGER }));
    expect([switched.staffId, switched.practiceName, switched.role]).toEqual(["s9", "Bay", PracticeRole.USER_MANAGER]);
  });
});

describe("practice choices at sign-in", () => {
  const refusal = (code: Code, practices: { practiceId: string; practiceName: string }[] | null) => {
    const err = new ConnectError("invalid input: practice_id is required", code);
    if (practices) {
      const detail = create(PracticeChoicesSchema, {
        practices: practices.map((p) => ({ ...p, staffId: `s-${p.practiceId}`, practiceRole: PracticeRole.MEMBER })),
      });
      // As the wire delivers it: the detail's type name and its bytes (grpc-status-details-bin).
      err.details.push({ type: PracticeChoicesSchema.typeName, value: toBinary(PracticeChoicesSchema, detail) });
    }
    return err;
  };
  it("offers the practices identity named, by name and role", () => {
    const offered = practiceChoices(refusal(Code.InvalidArgument, [
      { practiceId: "p2", practiceName: "Bay" },
      { practiceId: "p1", practiceName: "Harbour" },
    ]));
    expect(offered).toEqual([
      { practiceId: "p2", practiceName: "Bay", staffId: "s-p2", role: PracticeRole.MEMBER },
      { practiceId: "p1", practiceName: "Harbour", staffId: "s-p1", role: PracticeRole.MEMBER },
    ]);
  });
  it("offers nothing for other refusals", () => {
    expect(practiceChoices(refusal(Code.InvalidArgument, null))).toBeNull();
    expect(practiceChoices(refusal(Code.InvalidArgument, []))).toBeNull();
    expect(practiceChoices(refusal(Code.Unauthenticated, [{ practiceId: "p1", practiceName: "Harbour" }]))).toBeNull();
    expect(practiceChoices(new Error("network down"))).toBeNull();
  });
});

describe("passwords and redirects", () => {
  it("asks for 10 characters and the same password twice", () => {
    expect(checkNewPassword("short", "short").password).toMatch(/10/);
    expect(checkNewPassword("long-enough-1", "long-enough-2").confirm).toMatch(/differ/);
    expect(checkNewPassword("long-enough-1", "long-enough-1")).toEqual({});
  });
  it("follows only in-app paths after sign-in", () => {
    expect(safeNext("/organisation-invitations")).toBe("/organisation-invitations");
    expect(safeNext("//evil.example")).toBe("/staff");
    expect(safeNext("https://evil.example")).toBe("/staff");
    expect(safeNext("/invitation?token=x")).toBe("/staff");
    expect(safeNext(null)).toBe("/staff");
  });
});
