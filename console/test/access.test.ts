import { describe, expect, it } from "vitest";
import { create } from "@bufbuild/protobuf";
import { AccessChangeSchema, MembershipSchema, MembershipStatus } from "../src/gen/orgaccess/v1/orgaccess_pb";
import { buildEntries, describeChange, initialState, violationsByRow } from "../src/lib/access";
import type { NameResolver } from "../src/lib/diff";

const m = (org: string, role: string, status = MembershipStatus.ACTIVE, locationIds: string[] = []) =>
  create(MembershipSchema, { id: `m-${org}`, organisationId: org, roleId: role, status, locationIds });

const resolve: NameResolver = {
  staff: (id) => ({ s1: "Bea Member" })[id],
  location: (id) => ({ l1: "North Clinic" })[id],
  organisation: (id) => ({ o1: "Client One", o2: "Client Two" })[id],
  role: (id) => ({ r1: "Approver", r2: "Viewer" })[id],
};

describe("organisation access form", () => {
  it("starts from the access held: one role for all when it is the same everywhere", () => {
    const rows = [{ key: "o1", current: m("o1", "r1") }, { key: "o2", current: m("o2", "r1", MembershipStatus.INVITED) }, { key: "o3" }];
    const init = initialState(rows, "r2");
    expect(init.mode).toBe("same");
    expect(init.defaultRoleId).toBe("r1");
    expect(init.states.o3).toEqual({ checked: false, roleId: "r1", locationIds: [] });
  });
  it("starts per row when roles differ; declined access is not held", () => {
    const rows = [{ key: "o1", current: m("o1", "r1") }, { key: "o2", current: m("o2", "r2") }, { key: "o3", current: m("o3", "r1", MembershipStatus.DECLINED) }];
    const init = initialState(rows, "r2");
    expect(init.mode).toBe("per");
    expect(init.states.o3!.checked).toBe(false);
  });
  it("builds entries: roles only per row, removals for unchecked access, and the index of each", () => {
    const rows = [{ key: "o1", current: m("o1", "r1") }, { key: "o2" }, { key: "o3" }];
    const states = {
      o1: { checked: false, roleId: "r1", locationIds: [] },
      o2: { checked: true, roleId: "r2", locationIds: ["l1"] },
      o3: { checked: false, roleId: "r1", locationIds: [] },
    };
    expect(buildEntries("staff", rows, states, "per")).toEqual({
      entries: [
        { organisationId: "o1", remove: true },
        { organisationId: "o2", roleId: "r2", locationIds: ["l1"] },
      ],
      index: ["o1", "o2"],
    });
    expect(buildEntries("organisation", rows, states, "same").entries[1]).toEqual({ staffId: "o2", roleId: "", locationIds: ["l1"] });
  });
  it("puts entries[i] violations on their row", () => {
    expect(violationsByRow({ "entries[1].role_id": "is not a role of this practice", default_role_id: "is required" }, ["o1", "o2"])).toEqual({
      o2: "role is not a role of this practice",
    });
  });
  it("reads a preview change by name", () => {
    const added = create(AccessChangeSchema, { organisationId: "o1", staffId: "s1", roleIdAfter: "r1", statusAfter: MembershipStatus.INVITED });
    expect(describeChange(added, "added", resolve)).toEqual({
      organisation: "Client One",
      member: "Bea Member",
      role: "Approver",
      locations: "All locations",
      status: "No access → Invited",
    });
    const changed = create(AccessChangeSchema, {
      organisationId: "o2",
      staffId: "s1",
      roleIdBefore: "r2",
      roleIdAfter: "r1",
      locationIdsAfter: ["l1"],
      statusBefore: MembershipStatus.ACTIVE,
      statusAfter: MembershipStatus.ACTIVE,
    });
    expect(describeChange(changed, "changed", resolve)).toMatchObject({ role: "Viewer → Approver", locations: "All locations → North Clinic", status: "Active" });
  });
});
