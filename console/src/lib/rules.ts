// Who may do what (README, "Rules worth knowing"), so the console offers a role only what the
// services would allow. The services still decide; these only hide what would be refused.
import { PracticeRole } from "../gen/common/v1/common_pb";
import { StaffStatus } from "../gen/staff/v1/staff_pb";

const rank = (r: PracticeRole): number =>
  r === PracticeRole.ACCOUNT_OWNER ? 0 : r === PracticeRole.ACCOUNT_MANAGER ? 1 : r === PracticeRole.USER_MANAGER ? 2 : r === PracticeRole.MEMBER ? 3 : 9;

export const isOwner = (r: PracticeRole) => r === PracticeRole.ACCOUNT_OWNER;
export const isOwnerOrManager = (r: PracticeRole) =>
  r === PracticeRole.ACCOUNT_OWNER || r === PracticeRole.ACCOUNT_MANAGER;
/** Account Owner, Account Manager and User Manager. */
export const isStaffManager = (r: PracticeRole) => rank(r) <= 2;

/** Never a role above one's own, and only staff managers grant any. */
export function mayGrant(caller: PracticeRole, target: PracticeRole): boolean {
  return isStaffManager(caller) && rank(caller) <= rank(target) && rank(target) <= 3;
}

export function invitableRoles(caller: PracticeRole): PracticeRole[] {
  return [PracticeRole.ACCOUNT_OWNER, PracticeRole.ACCOUNT_MANAGER, PracticeRole.USER_MANAGER, PracticeRole.MEMBER].filter(
    (r) => mayGrant(caller, r),
  );
}

export interface Target {
  id: string;
  practiceRole: PracticeRole;
  status: StaffStatus;
}

export const can = {
  invite: isStaffManager,
  reinvite: (caller: PracticeRole, t: Target) => t.status === StaffStatus.PENDING && mayGrant(caller, t.practiceRole),
  changeRole: (caller: PracticeRole, t: Target, self: string | undefined) =>
    isOwner(caller) && t.id !== self && (t.status === StaffStatus.ACTIVE || t.status === StaffStatus.PENDING || t.status === StaffStatus.DEACTIVATED),
  remove: (caller: PracticeRole, t: Target, self: string | undefined) =>
    isOwner(caller) && t.id !== self && t.status !== StaffStatus.REMOVED && t.status !== StaffStatus.OFFBOARDING,
  deactivate: (caller: PracticeRole, t: Target, self: string | undefined) =>
    isOwnerOrManager(caller) && t.id !== self && t.status === StaffStatus.ACTIVE && rank(caller) <= rank(t.practiceRole),
  reactivate: (caller: PracticeRole, t: Target) =>
    isOwnerOrManager(caller) && t.status === StaffStatus.DEACTIVATED && rank(caller) <= rank(t.practiceRole),
  editProfile: (caller: PracticeRole, t: Target, self: string | undefined) =>
    t.status !== StaffStatus.REMOVED && (isStaffManager(caller) || t.id === self),
  markExternalAgent: isStaffManager,
  setLocations: isStaffManager,
  inviteToCertification: (caller: PracticeRole, t: Target) =>
    isStaffManager(caller) && (t.status === StaffStatus.ACTIVE || t.status === StaffStatus.PENDING),
  recordCertification: isOwner,
  downloadCertificate: (caller: PracticeRole, t: Target, self: string | undefined) => isStaffManager(caller) || t.id === self,
  offboard: (caller: PracticeRole, t: Target, self: string | undefined) =>
    isStaffManager(caller) &&
    t.id !== self &&
    (t.status === StaffStatus.ACTIVE || t.status === StaffStatus.DEACTIVATED || t.status === StaffStatus.PENDING) &&
    rank(caller) <= rank(t.practiceRole),
  manageOrganisations: isStaffManager,
  manageAccess: isStaffManager,
  seeOthersAccess: isStaffManager,
  manageRoles: isOwnerOrManager,
  accessSettings: isOwnerOrManager,
  manageLocations: isOwnerOrManager,
  readAudit: isOwnerOrManager,
  readAccessAudit: isStaffManager,
  practiceSettings: isOwner,
  readDeliveries: isStaffManager,
  followOffboardings: isStaffManager,
};
