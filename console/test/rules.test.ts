import { describe, expect, it } from "vitest";
import { PracticeRole } from "../src/gen/common/v1/common_pb";
import { StaffStatus } from "../src/gen/staff/v1/staff_pb";
import { can, invitableRoles, mayGrant } from "../src/lib/rules";

const { ACCOUNT_OWNER: AO, ACCOUNT_MANAGER: AM, USER_MANAGER: UM, MEMBER: M } = PracticeRole;
const member = (practiceRole: PracticeRole, status = StaffStatus.ACTIVE, id = "t") => ({ id, practiceRole, status });

describe("who may do what", () => {
  it("never grants a role above one's own", () => {
    expect(mayGrant(AO, AO)).toBe(true);
    expect(mayGrant(AM, AO)).toBe(false);
    expect(mayGrant(UM, M)).toBe(true);
    expect(mayGrant(M, M)).toBe(false);
    expect(invitableRoles(UM)).toEqual([UM, M]);
    expect(invitableRoles(M)).toEqual([]);
  });
  it("reinvites Pending members only", () => {
    expect(can.reinvite(UM, member(M, StaffStatus.PENDING))).toBe(true);
    expect(can.reinvite(UM, member(M, StaffStatus.ACTIVE))).toBe(false);
    expect(can.reinvite(UM, member(AM, StaffStatus.PENDING))).toBe(false);
  });
  it("leaves roles and removal to the Account Owner, not on themselves", () => {
    expect(can.changeRole(AO, member(M), "me")).toBe(true);
    expect(can.changeRole(AM, member(M), "me")).toBe(false);
    expect(can.changeRole(AO, member(AO, StaffStatus.ACTIVE, "me"), "me")).toBe(false);
    expect(can.remove(AO, member(M), "me")).toBe(true);
    expect(can.remove(AM, member(M), "me")).toBe(false);
  });
  it("deactivates with Account Owner or Manager, not someone above", () => {
    expect(can.deactivate(AM, member(UM), "me")).toBe(true);
    expect(can.deactivate(AM, member(AO), "me")).toBe(false);
    expect(can.deactivate(UM, member(M), "me")).toBe(false);
    expect(can.reactivate(AO, member(M, StaffStatus.DEACTIVATED))).toBe(true);
  });
  it("offboards Active, Deactivated or Pending members under staff managers", () => {
    expect(can.offboard(UM, member(M, StaffStatus.DEACTIVATED), "me")).toBe(true);
    expect(can.offboard(UM, member(AM), "me")).toBe(false);
    expect(can.offboard(AO, member(M, StaffStatus.OFFBOARDED), "me")).toBe(false);
    expect(can.offboard(M, member(M), "me")).toBe(false);
  });
  it("keeps audit, locations and settings to the right roles", () => {
    expect([AO, AM, UM, M].map((r) => can.readAudit(r))).toEqual([true, true, false, false]);
    expect([AO, AM, UM, M].map((r) => can.manageAccess(r))).toEqual([true, true, true, false]);
    expect([AO, AM, UM, M].map((r) => can.recordCertification(r))).toEqual([true, false, false, false]);
    expect(can.downloadCertificate(M, member(M, StaffStatus.ACTIVE, "me"), "me")).toBe(true);
    expect(can.downloadCertificate(M, member(M), "me")).toBe(false);
  });
});
