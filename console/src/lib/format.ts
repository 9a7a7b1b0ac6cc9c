// Words and dates for people: every enum of the contracts gets a label, every timestamp a
// readable local date.
import { type Timestamp, timestampDate } from "@bufbuild/protobuf/wkt";
import { PracticeRole, ExistingAccess } from "../gen/common/v1/common_pb";
import { StaffStatus, CertificationStatus, OffboardingStatus } from "../gen/staff/v1/staff_pb";
import {
  MembershipStatus,
  HandoverAction,
  StepAction,
} from "../gen/orgaccess/v1/orgaccess_pb";
import { DeliveryStatus } from "../gen/notification/v1/notification_pb";

export type Tone = "neutral" | "good" | "warn" | "bad" | "info";

export interface FormatOptions {
  locale?: string;
  timeZone?: string;
}

type DateLike = Timestamp | Date | undefined | null;

function toDate(value: DateLike): Date | undefined {
  if (!value) return undefined;
  if (value instanceof Date) return value;
  // An unset proto3 timestamp arrives as undefined; a zero one means "never".
  if (value.seconds === 0n && value.nanos === 0) return undefined;
  return timestampDate(value);
}

/** "1 Dec 2026, 20:19" in the reader's locale; "—" when unset. */
export function formatDateTime(value: DateLike, opts: FormatOptions = {}): string {
  const date = toDate(value);
  if (!date) return "—";
  return new Intl.DateTimeFormat(opts.locale, {
    day: "numeric",
    month: "short",
    year: "numeric",
    hour: "2-digit",
    minute: "2-digit",
    timeZone: opts.timeZone,
  }).format(date);
}

/** "1 Dec 2026"; "—" when unset. */
export function formatDate(value: DateLike, opts: FormatOptions = {}): string {
  const date = toDate(value);
  if (!date) return "—";
  return new Intl.DateTimeFormat(opts.locale, {
    day: "numeric",
    month: "short",
    year: "numeric",
    timeZone: opts.timeZone,
  }).format(date);
}

/** "5 minutes ago", "in 2 hours", "just now". */
export function formatRelative(value: DateLike, now: Date = new Date()): string {
  const date = toDate(value);
  if (!date) return "—";
  const seconds = Math.round((date.getTime() - now.getTime()) / 1000);
  if (Math.abs(seconds) < 45) return "just now";
  const text = formatDuration(Math.abs(seconds));
  return seconds < 0 ? `${text} ago` : `in ${text}`;
}

/** A wait or an age in words: "45 seconds", "3 minutes", "1 hour 5 minutes", "2 days". */
export function formatDuration(totalSeconds: number): string {
  const s = Math.max(0, Math.round(totalSeconds));
  const plural = (n: number, word: string) => `${n} ${word}${n === 1 ? "" : "s"}`;
  if (s < 60) return plural(s, "second");
  const minutes = Math.floor(s / 60);
  if (minutes < 60) {
    // Round up, so "wait 59.5 s" never reads as "0 minutes".
    return plural(Math.ceil(s / 60), "minute");
  }
  const hours = Math.floor(minutes / 60);
  if (hours < 24) {
    const rest = minutes % 60;
    return rest ? `${plural(hours, "hour")} ${plural(rest, "minute")}` : plural(hours, "hour");
  }
  return plural(Math.floor(hours / 24), "day");
}

export const PRACTICE_ROLES: PracticeRole[] = [
  PracticeRole.ACCOUNT_OWNER,
  PracticeRole.ACCOUNT_MANAGER,
  PracticeRole.USER_MANAGER,
  PracticeRole.MEMBER,
];

export function roleLabel(role: PracticeRole): string {
  switch (role) {
    case PracticeRole.ACCOUNT_OWNER:
      return "Account Owner";
    case PracticeRole.ACCOUNT_MANAGER:
      return "Account Manager";
    case PracticeRole.USER_MANAGER:
      return "User Manager";
    case PracticeRole.MEMBER:
      return "Member";
    default:
      return "—";
  }
}

export const STAFF_STATUSES: StaffStatus[] = [
  StaffStatus.PENDING,
  StaffStatus.ACTIVE,
  StaffStatus.DECLINED,
  StaffStatus.DEACTIVATED,
  StaffStatus.REMOVED,
  StaffStatus.OFFBOARDING,
  StaffStatus.OFFBOARDED,
];

export function staffStatusLabel(status: StaffStatus): string {
  switch (status) {
    case StaffStatus.PENDING:
      return "Pending";
    case StaffStatus.ACTIVE:
      return "Active";
    case StaffStatus.DECLINED:
      return "Declined";
    case StaffStatus.DEACTIVATED:
      return "Deactivated";
    case StaffStatus.REMOVED:
      return "Removed";
    case StaffStatus.OFFBOARDING:
      return "Offboarding";
    case StaffStatus.OFFBOARDED:
      return "Offboarded";
    default:
      return "Unknown";
  }
}

export function staffStatusTone(status: StaffStatus): Tone {
  switch (status) {
    case StaffStatus.ACTIVE:
      return "good";
    case StaffStatus.PENDING:
    case StaffStatus.OFFBOARDING:
      return "info";
    case StaffStatus.DEACTIVATED:
    case StaffStatus.DECLINED:
      return "warn";
    case StaffStatus.REMOVED:
    case StaffStatus.OFFBOARDED:
      return "neutral";
    default:
      return "neutral";
  }
}

export function certificationLabel(status: CertificationStatus): string {
  switch (status) {
    case CertificationStatus.INVITED:
      return "Invited";
    case CertificationStatus.CERTIFIED:
      return "Certified";
    case CertificationStatus.NOT_CERTIFIED:
    default:
      return "Not certified";
  }
}

export function certificationTone(status: CertificationStatus): Tone {
  switch (status) {
    case CertificationStatus.CERTIFIED:
      return "good";
    case CertificationStatus.INVITED:
      return "info";
    default:
      return "neutral";
  }
}

export function membershipStatusLabel(status: MembershipStatus): string {
  switch (status) {
    case MembershipStatus.INVITED:
      return "Invited";
    case MembershipStatus.ACTIVE:
      return "Active";
    case MembershipStatus.DECLINED:
      return "Declined";
    case MembershipStatus.REVOKED:
      return "Revoked";
    default:
      return "No access";
  }
}

export function membershipStatusTone(status: MembershipStatus): Tone {
  switch (status) {
    case MembershipStatus.ACTIVE:
      return "good";
    case MembershipStatus.INVITED:
      return "info";
    case MembershipStatus.DECLINED:
      return "warn";
    default:
      return "neutral";
  }
}

export function offboardingStatusLabel(status: OffboardingStatus): string {
  switch (status) {
    case OffboardingStatus.REQUESTED:
      return "In progress";
    case OffboardingStatus.COMPLETED:
      return "Completed";
    case OffboardingStatus.FAILED:
      return "Failed";
    default:
      return "Unknown";
  }
}

export function offboardingStatusTone(status: OffboardingStatus): Tone {
  switch (status) {
    case OffboardingStatus.COMPLETED:
      return "good";
    case OffboardingStatus.FAILED:
      return "bad";
    default:
      return "info";
  }
}

export function deliveryStatusLabel(status: DeliveryStatus): string {
  switch (status) {
    case DeliveryStatus.QUEUED:
      return "Queued";
    case DeliveryStatus.SENT:
      return "Sent";
    case DeliveryStatus.FAILED:
      return "Failed";
    default:
      return "Unknown";
  }
}

export function deliveryStatusTone(status: DeliveryStatus): Tone {
  switch (status) {
    case DeliveryStatus.SENT:
      return "good";
    case DeliveryStatus.FAILED:
      return "bad";
    default:
      return "info";
  }
}

export function handoverActionLabel(action: HandoverAction): string {
  switch (action) {
    case HandoverAction.GRANT:
      return "New access with the leaver's role";
    case HandoverAction.KEEP:
      return "Already has access: keeps their role";
    case HandoverAction.CHANGE_ROLE:
      return "Already has access: takes the leaver's role";
    case HandoverAction.ACTIVATE:
      return "Pending invitation becomes active";
    default:
      return "—";
  }
}

export function stepActionLabel(action: StepAction): string {
  switch (action) {
    case StepAction.REPLACE:
      return "Replacement takes the leaver's place";
    case StepAction.DROP_LEAVER:
      return "Leaver dropped (replacement already approves)";
    default:
      return "—";
  }
}

export function existingAccessLabel(value: ExistingAccess): string {
  return value === ExistingAccess.USE_LEAVER_ROLE
    ? "The replacement takes the leaver's role"
    : "The replacement keeps their own role";
}

const ACTION_LABELS: Record<string, string> = {
  "practice.created": "Practice created",
  "practice.settings_changed": "Practice settings changed",
  "staff.invited": "Invited",
  "staff.reinvited": "Invitation sent again",
  "staff.accepted": "Invitation accepted",
  "staff.declined": "Invitation declined",
  "invitation.accepted": "Invitation accepted",
  "invitation.declined": "Invitation declined",
  "staff.updated": "Profile updated",
  "staff.role_changed": "Role changed",
  "staff.removed": "Removed",
  "staff.deactivated": "Deactivated",
  "staff.reactivated": "Reactivated",
  "staff.locations_changed": "Locations changed",
  "staff.offboarding_requested": "Offboarding requested",
  "staff.offboarded": "Offboarded",
  "staff.offboarding_failed": "Offboarding failed",
  "certification.invited": "Invited to certification",
  "certification.recorded": "Certification recorded",
  "location.created": "Location created",
  "location.renamed": "Location renamed",
  "location.archived": "Location archived",
  "organisation.created": "Organisation created",
  "organisation.renamed": "Organisation renamed",
  "organisation.archived": "Organisation archived",
  "membership.added": "Access granted",
  "membership.changed": "Access changed",
  "membership.revoked": "Access revoked",
  "membership.accepted": "Organisation invitation accepted",
  "membership.declined": "Organisation invitation declined",
  "role.created": "Role created",
  "role.updated": "Role changed",
  "role.deleted": "Role deleted",
  "workflow.created": "Workflow created",
  "workflow.updated": "Workflow changed",
  "workflow.deleted": "Workflow deleted",
  "workflow.approver_replaced": "Workflow approver replaced",
  "settings.changed": "Access settings changed",
};

/** "staff.role_changed" → "Role changed"; unknown actions are made readable. */
export function actionLabel(action: string): string {
  const known = ACTION_LABELS[action];
  if (known) return known;
  const [subject, verb] = action.includes(".") ? action.split(".", 2) : ["", action];
  return capitalise(`${subject ?? ""} ${(verb ?? "").replace(/_/g, " ")}`.trim());
}

/** "certification_status" → "Certification status". */
export function humaniseKey(key: string): string {
  const special: Record<string, string> = {
    role_id: "Role",
    location_ids: "Locations",
    npi: "NPI",
    taxonomy_code: "Taxonomy code",
    require_location_for_invites: "Location required for invitations",
    require_acceptance: "Members must accept organisation access",
    invitation_count: "Invitations sent",
    external_agent: "External agent",
    scheduling_step_minutes: "Scheduling step (minutes)",
    primary_location_id: "Primary location",
    replacement_id: "Replacement",
    leaver_id: "Leaver",
    workflow_id: "Workflow",
    approver_staff_ids: "Approvers",
    certificate_number: "Certificate number",
    certified_at: "Certified on",
  };
  if (special[key]) return special[key];
  return capitalise(key.replace(/_ids?$/, "").replace(/_/g, " "));
}

export function capitalise(text: string): string {
  return text ? text.charAt(0).toUpperCase() + text.slice(1) : text;
}

/** A sentence from a service's message: capital first letter, final full stop. */
export function sentence(text: string): string {
  const t = text.trim();
  if (!t) return t;
  const c = capitalise(t);
  return /[.!?]$/.test(c) ? c : `${c}.`;
}

/** "Alice, Bob and Carol". */
export function listWords(items: string[]): string {
  if (items.length === 0) return "";
  if (items.length === 1) return items[0]!;
  return `${items.slice(0, -1).join(", ")} and ${items[items.length - 1]}`;
}

/** Permission names by module, "billing.view_reports" → "View reports". */
export function permissionLabel(name: string): string {
  const action = name.includes(".") ? name.slice(name.indexOf(".") + 1) : name;
  return capitalise(action.replace(/_/g, " "));
}
