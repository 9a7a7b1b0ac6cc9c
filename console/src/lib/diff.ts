// Audit entries carry JSON objects of the changed fields before and after. This turns them into
// rows a person reads: field label, old value, new value, every id resolved to a name.
import { capitalise, humaniseKey, actionLabel, permissionLabel, formatDateTime } from "./format";

export interface NameResolver {
  staff(id: string): string | undefined;
  location(id: string): string | undefined;
  organisation(id: string): string | undefined;
  role(id: string): string | undefined;
}

export interface DiffRow {
  key: string;
  label: string;
  before: string;
  after: string;
  changed: boolean;
}

type Json = null | boolean | number | string | Json[] | { [key: string]: Json };

/** Parses one side of an audit entry; empty text and "null" are no object. */
export function parseSide(text: string): Record<string, Json> | null {
  const t = text.trim();
  if (!t || t === "null") return null;
  try {
    const value = JSON.parse(t) as Json;
    if (value && typeof value === "object" && !Array.isArray(value)) return value;
    return { value };
  } catch {
    return { value: t };
  }
}

const PRACTICE_ROLE_WORDS: Record<string, string> = {
  account_owner: "Account Owner",
  account_manager: "Account Manager",
  user_manager: "User Manager",
  member: "Member",
};

const HIDDEN_KEYS = new Set(["workflow_id", "step_id", "offboarding_id", "membership_id", "invitation_id"]);

const EXISTING_ACCESS_WORDS: Record<string, string> = {
  keep_replacement_role: "The replacement keeps their own role",
  use_leaver_role: "The replacement takes the leaver's role",
};

/** Keys whose value is a staff member's id. */
function isStaffKey(k: string): boolean {
  return k === "approver" || k === "member" || /(^|_)(staff|replacement|leaver|approver|member)_id$/.test(k);
}

function unknownName(kind: string): string {
  return `(unknown ${kind})`;
}

function names(ids: Json[], lookup: (id: string) => string | undefined, kind: string): string[] {
  return ids.map((id) => (typeof id === "string" ? (lookup(id) ?? unknownName(kind)) : String(id)));
}

/** One value in words. `membership` changes how an empty location list reads. */
export function formatValue(
  key: string,
  value: Json | undefined,
  resolve: NameResolver,
  membership = false,
): string {
  if (value === undefined || value === null) return "—";
  if (typeof value === "boolean") return value ? "Yes" : "No";
  const k = key.toLowerCase();
  if (k === "role" && typeof value === "string") return PRACTICE_ROLE_WORDS[value] ?? capitalise(value);
  if (k === "existing_access" && typeof value === "string") return EXISTING_ACCESS_WORDS[value] ?? capitalise(value.replace(/_/g, " "));
  if ((k === "status" || k.endsWith("_status")) && typeof value === "string") {
    return capitalise(value.replace(/_/g, " "));
  }
  if (k === "cause" && typeof value === "string") {
    return value.includes(".") ? actionLabel(value) : capitalise(value.replace(/_/g, " "));
  }
  if (k.endsWith("role_id") && typeof value === "string") {
    return resolve.role(value) ?? unknownName("role");
  }
  if (k.endsWith("location_id") && typeof value === "string") {
    return resolve.location(value) ?? unknownName("location");
  }
  if (k === "location_ids" && Array.isArray(value)) {
    if (value.length === 0) return membership ? "All locations" : "None";
    return names(value, (id) => resolve.location(id), "location").join(", ");
  }
  if (isStaffKey(k) && typeof value === "string") {
    return resolve.staff(value) ?? unknownName("member");
  }
  if ((k === "approvers" || k.endsWith("staff_ids")) && Array.isArray(value)) {
    return value.length ? names(value, (id) => resolve.staff(id), "member").join(", ") : "None";
  }
  if (k.endsWith("organisation_id") && typeof value === "string") {
    return resolve.organisation(value) ?? unknownName("organisation");
  }
  if (k === "permissions" && Array.isArray(value)) {
    return value.length ? value.map((p) => (typeof p === "string" ? permissionFull(p) : String(p))).join(", ") : "None";
  }
  if (k === "steps") {
    if (typeof value === "number") return `${value} step${value === 1 ? "" : "s"}`;
    if (Array.isArray(value)) {
      if (value.length === 0) return "No steps";
      return value
        .map((step, i) => {
          if (step && typeof step === "object" && !Array.isArray(step)) {
            const approvers = Array.isArray(step.approvers)
              ? names(step.approvers, (id) => resolve.staff(id), "member").join(", ")
              : "";
            const position = typeof step.position === "number" ? step.position : i + 1;
            const name = typeof step.name === "string" && step.name ? `${position}. ${step.name}` : `Step ${position}`;
            return `${name}${approvers ? ` (${approvers})` : ""}`;
          }
          return `${i + 1}. ${String(step)}`;
        })
        .join("; ");
    }
  }
  if ((k.endsWith("_at") || k.endsWith("_on")) && typeof value === "string" && !Number.isNaN(Date.parse(value))) {
    return formatDateTime(new Date(value));
  }
  if (Array.isArray(value)) return value.length ? value.map((v) => formatValue(key, v, resolve, membership)).join(", ") : "None";
  if (typeof value === "object") {
    return Object.entries(value)
      .map(([kk, vv]) => `${humaniseKey(kk)}: ${formatValue(kk, vv, resolve, membership)}`)
      .join("; ");
  }
  return String(value);
}

function permissionFull(name: string): string {
  const module = name.includes(".") ? name.slice(0, name.indexOf(".")) : "";
  return module ? `${capitalise(module)}: ${permissionLabel(name).toLowerCase()}` : permissionLabel(name);
}

/** The rows of one audit entry. Unchanged fields come along as context (changed = false). */
export function diffRows(action: string, beforeText: string, afterText: string, resolve: NameResolver): DiffRow[] {
  const before = parseSide(beforeText);
  const after = parseSide(afterText);
  const membership = action.startsWith("membership.");
  const keys: string[] = [];
  for (const side of [before, after]) {
    for (const key of Object.keys(side ?? {})) {
      if (!keys.includes(key) && !HIDDEN_KEYS.has(key)) keys.push(key);
    }
  }
  return keys.map((key) => {
    const b = before ? before[key] : undefined;
    const a = after ? after[key] : undefined;
    return {
      key,
      label: humaniseKey(key),
      before: formatValue(key, b, resolve, membership),
      after: formatValue(key, a, resolve, membership),
      changed: JSON.stringify(b ?? null) !== JSON.stringify(a ?? null),
    };
  });
}

/** A one-line summary: "Role: Member → Account Manager". */
export function diffSummary(rows: DiffRow[]): string {
  return rows
    .filter((r) => r.changed)
    .map((r) => (r.before === "—" ? `${r.label}: ${r.after}` : `${r.label}: ${r.before} → ${r.after}`))
    .join("; ");
}
