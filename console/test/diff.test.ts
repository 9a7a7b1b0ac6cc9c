import { describe, expect, it } from "vitest";
import { diffRows, diffSummary, formatValue, parseSide, type NameResolver } from "../src/lib/diff";

const names: Record<string, string> = {
  s1: "Bea Member",
  s2: "Finn Fielding",
  l1: "North Clinic",
  l2: "South Clinic",
  o1: "Client One",
  r1: "Approver",
  r2: "Viewer",
};
const resolve: NameResolver = {
  staff: (id) => (id.startsWith("s") ? names[id] : undefined),
  location: (id) => (id.startsWith("l") ? names[id] : undefined),
  organisation: (id) => (id.startsWith("o") ? names[id] : undefined),
  role: (id) => (id.startsWith("r") ? names[id] : undefined),
};

describe("audit before/after", () => {
  it("shows a role change in words", () => {
    const rows = diffRows("staff.role_changed", '{"role":"member"}', '{"role":"account_manager"}', resolve);
    expect(rows).toEqual([{ key: "role", label: "Role", before: "Member", after: "Account Manager", changed: true }]);
    expect(diffSummary(rows)).toBe("Role: Member → Account Manager");
  });
  it("resolves ids to names and keeps unchanged fields as context", () => {
    const rows = diffRows(
      "membership.revoked",
      '{"role_id":"r1","status":"active"}',
      '{"role_id":"r1","status":"revoked","cause":"offboarding","replacement_id":"s2"}',
      resolve,
    );
    expect(rows.map((r) => [r.label, r.before, r.after, r.changed])).toEqual([
      ["Role", "Approver", "Approver", false],
      ["Status", "Active", "Revoked", true],
      ["Cause", "—", "Offboarding", true],
      ["Replacement", "—", "Finn Fielding", true],
    ]);
  });
  it("reads creations, location lists and steps", () => {
    const rows = diffRows("workflow.created", "null", '{"workflow_id":"w1","name":"Invoices","steps":[{"name":"Check","approvers":["s1","s2"]}]}', resolve);
    expect(rows.map((r) => r.key)).toEqual(["name", "steps"]);
    expect(rows[1]!.after).toBe("1. Check (Bea Member, Finn Fielding)");
    expect(formatValue("location_ids", ["l1", "l2"], resolve)).toBe("North Clinic, South Clinic");
    expect(formatValue("location_ids", [], resolve, true)).toBe("All locations");
    expect(formatValue("location_ids", [], resolve)).toBe("None");
    expect(formatValue("steps", 3, resolve)).toBe("3 steps");
    expect(formatValue("steps", [{ step_id: "x", position: 2, approvers: ["s2"] }], resolve)).toBe("Step 2 (Finn Fielding)");
    expect(formatValue("leaver_id", "s1", resolve)).toBe("Bea Member");
  });
  it("never shows a raw id, nor raw JSON", () => {
    expect(formatValue("staff_id", "0190-unknown", resolve)).toBe("(unknown member)");
    expect(formatValue("permissions", ["billing.refund", "workflow.view"], resolve)).toBe("Billing: refund, Workflow: view");
    expect(formatValue("require_acceptance", true, resolve)).toBe("Yes");
    expect(formatValue("certification_status", "not_certified", resolve)).toBe("Not certified");
    const offboarding = diffRows("staff.offboarding_requested", '{"status":"active"}', '{"status":"offboarding","offboarding_id":"0190-x","existing_access":"keep_replacement_role","replacement_id":"s2"}', resolve);
    expect(offboarding.map((r) => `${r.label}: ${r.after}`)).toEqual([
      "Status: Offboarding",
      "Existing access: The replacement keeps their own role",
      "Replacement: Finn Fielding",
    ]);
    expect(parseSide("")).toBeNull();
    expect(parseSide("not json")).toEqual({ value: "not json" });
  });
});
