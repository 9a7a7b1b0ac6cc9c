// Organisation access changesets: the form's rows → SetStaffAccess / SetOrganisationAccess
// entries, and the preview's changes → lines a person reads.
import type { MessageInitShape } from "@bufbuild/protobuf";
import { MembershipStatus, type AccessChange, type AccessEntrySchema, type Membership } from "../gen/orgaccess/v1/orgaccess_pb";
import { membershipStatusLabel } from "./format";
import type { NameResolver } from "./diff";

export type AccessKind = "staff" | "organisation";
export type Mode = "same" | "per";

export interface RowState {
  checked: boolean;
  roleId: string;
  locationIds: string[];
}

export interface AccessRow {
  /** The organisation (kind "staff": one member into many organisations) or the member. */
  key: string;
  current?: Membership | undefined;
}

type EntryInit = MessageInitShape<typeof AccessEntrySchema>;

export function holds(m: Membership | undefined): boolean {
  return !!m && (m.status === MembershipStatus.ACTIVE || m.status === MembershipStatus.INVITED);
}

/** The form as it starts: checked where access is held, with its role and limits. */
export function initialState(rows: AccessRow[], defaultRoleId: string): { mode: Mode; defaultRoleId: string; states: Record<string, RowState> } {
  const states: Record<string, RowState> = {};
  const held = rows.filter((r) => holds(r.current));
  const roles = new Set(held.map((r) => r.current!.roleId));
  const only = roles.size === 1 ? [...roles][0]! : "";
  for (const r of rows) {
    states[r.key] = holds(r.current)
      ? { checked: true, roleId: r.current!.roleId, locationIds: [...r.current!.locationIds] }
      : { checked: false, roleId: only || defaultRoleId, locationIds: [] };
  }
  return { mode: roles.size > 1 ? "per" : "same", defaultRoleId: only || defaultRoleId, states };
}

/**
 * The changeset's entries: every checked row (its own role only in per-row mode), and a
 * removal for every unchecked row that holds access. `index[i]` is the row of `entries[i]`,
 * for the service's `entries[i]…` field violations.
 */
export function buildEntries(kind: AccessKind, rows: AccessRow[], states: Record<string, RowState>, mode: Mode): { entries: EntryInit[]; index: string[] } {
  const entries: EntryInit[] = [];
  const index: string[] = [];
  for (const r of rows) {
    const s = states[r.key];
    if (!s) continue;
    const target = kind === "staff" ? { organisationId: r.key } : { staffId: r.key };
    if (s.checked) {
      entries.push({ ...target, roleId: mode === "per" ? s.roleId : "", locationIds: [...s.locationIds] });
      index.push(r.key);
    } else if (holds(r.current)) {
      entries.push({ ...target, remove: true });
      index.push(r.key);
    }
  }
  return { entries, index };
}

/** Violations of `entries[i]…` by row key. */
export function violationsByRow(fields: Record<string, string>, index: string[]): Record<string, string> {
  const out: Record<string, string> = {};
  for (const [path, description] of Object.entries(fields)) {
    const m = /^entries\[(\d+)\]\.?(.*)$/.exec(path);
    if (!m) continue;
    const key = index[Number(m[1])];
    if (!key) continue;
    const what = m[2] ? `${m[2].replace(/_ids?$/, "").replace(/_/g, " ")} ` : "";
    const text = `${what}${description}`.trim();
    out[key] = out[key] ? `${out[key]}; ${text}` : text;
  }
  return out;
}

export interface ChangeLine {
  organisation: string;
  member: string;
  role: string;
  locations: string;
  status: string;
}

function arrow(before: string, after: string): string {
  return before === after ? after : `${before} → ${after}`;
}

function names(ids: string[], lookup: (id: string) => string | undefined): string {
  return ids.length ? ids.map((id) => lookup(id) ?? "(unknown location)").join(", ") : "All locations";
}

/** One change of a preview or result, every id a name. */
export function describeChange(c: AccessChange, kind: "added" | "changed" | "removed", r: NameResolver): ChangeLine {
  const role = (id: string) => (id ? (r.role(id) ?? "(unknown role)") : "—");
  const locBefore = names(c.locationIdsBefore, r.location);
  const locAfter = names(c.locationIdsAfter, r.location);
  const status = (s: MembershipStatus) => (s === MembershipStatus.UNSPECIFIED ? "No access" : membershipStatusLabel(s));
  return {
    organisation: r.organisation(c.organisationId) ?? "(unknown organisation)",
    member: r.staff(c.staffId) ?? "(unknown member)",
    role: kind === "added" ? role(c.roleIdAfter) : kind === "removed" ? role(c.roleIdBefore) : arrow(role(c.roleIdBefore), role(c.roleIdAfter)),
    locations: kind === "added" ? locAfter : kind === "removed" ? locBefore : arrow(locBefore, locAfter),
    status: kind === "removed" ? `${status(c.statusBefore)} → Revoked` : arrow(status(c.statusBefore), status(c.statusAfter)),
  };
}
