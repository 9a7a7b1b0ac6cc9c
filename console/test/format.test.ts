import { describe, expect, it } from "vitest";
import { timestampFromDate } from "@bufbuild/protobuf/wkt";
import { create } from "@bufbuild/protobuf";
import { TimestampSchema } from "@bufbuild/protobuf/wkt";
import { PracticeRole } from "../src/gen/common/v1/common_pb";
import { StaffStatus, CertificationStatus, OffboardingStatus } from "../src/gen/staff/v1/staff_pb";
import {
  actionLabel,
  certificationLabel,
  formatDate,
  formatDateTime,
  formatDuration,
  formatRelative,
  humaniseKey,
  listWords,
  offboardingStatusLabel,
  permissionLabel,
  roleLabel,
  sentence,
  staffStatusLabel,
  staffStatusTone,
  STAFF_STATUSES,
} from "../src/lib/format";

const utc = { locale: "en-GB", timeZone: "UTC" };

describe("dates", () => {
  const ts = timestampFromDate(new Date(Date.UTC(2026, 11, 1, 20, 19, 37)));
  it("reads as a local day, month and time", () => {
    expect(formatDateTime(ts, utc)).toBe("1 Dec 2026, 20:19");
    expect(formatDate(ts, utc)).toBe("1 Dec 2026");
    expect(formatDateTime(ts, { locale: "en-GB", timeZone: "Asia/Tokyo" })).toBe("2 Dec 2026, 05:19");
  });
  it("shows a dash for unset and zero timestamps", () => {
    expect(formatDateTime(undefined)).toBe("—");
    expect(formatDate(create(TimestampSchema, {}))).toBe("—");
  });
  it("says how long ago or how soon", () => {
    const now = new Date(Date.UTC(2026, 11, 1, 21, 0, 0));
    expect(formatRelative(new Date(now.getTime() - 10_000), now)).toBe("just now");
    expect(formatRelative(new Date(now.getTime() - 5 * 60_000), now)).toBe("5 minutes ago");
    expect(formatRelative(new Date(now.getTime() + 2 * 3600_000), now)).toBe("in 2 hours");
  });
  it("puts waits in words", () => {
    expect(formatDuration(1)).toBe("1 second");
    expect(formatDuration(45)).toBe("45 seconds");
    expect(formatDuration(61)).toBe("2 minutes");
    expect(formatDuration(3600)).toBe("1 hour");
    expect(formatDuration(3900)).toBe("1 hour 5 minutes");
    expect(formatDuration(3 * 86400)).toBe("3 days");
  });
});

describe("labels", () => {
  it("names every staff status", () => {
    expect(STAFF_STATUSES.map(staffStatusLabel)).toEqual(["Pending", "Active", "Declined", "Deactivated", "Removed", "Offboarding", "Offboarded"]);
    expect(staffStatusTone(StaffStatus.ACTIVE)).toBe("good");
    expect(staffStatusTone(StaffStatus.DEACTIVATED)).toBe("warn");
  });
  it("names roles, certifications and offboardings", () => {
    expect(roleLabel(PracticeRole.ACCOUNT_OWNER)).toBe("Account Owner");
    expect(roleLabel(PracticeRole.USER_MANAGER)).toBe("User Manager");
    expect(certificationLabel(CertificationStatus.UNSPECIFIED)).toBe("Not certified");
    expect(certificationLabel(CertificationStatus.CERTIFIED)).toBe("Certified");
    expect(offboardingStatusLabel(OffboardingStatus.REQUESTED)).toBe("In progress");
  });
  it("reads audit actions, known or not", () => {
    expect(actionLabel("staff.role_changed")).toBe("Role changed");
    expect(actionLabel("membership.added")).toBe("Access granted");
    expect(actionLabel("widget.turned_blue")).toBe("Widget turned blue");
  });
  it("reads field keys and permissions", () => {
    expect(humaniseKey("role_id")).toBe("Role");
    expect(humaniseKey("certification_status")).toBe("Certification status");
    expect(humaniseKey("leaver_id")).toBe("Leaver");
    expect(permissionLabel("billing.view_reports")).toBe("View reports");
  });
  it("makes sentences and lists", () => {
    expect(sentence("changing a practice role needs the Account Owner role")).toBe("Changing a practice role needs the Account Owner role.");
    expect(sentence("Done!")).toBe("Done!");
    expect(listWords(["a"])).toBe("a");
    expect(listWords(["a", "b", "c"])).toBe("a, b and c");
  });
});
