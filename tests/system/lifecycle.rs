//! Staff lifecycle: practice roles and the last owner, removal, deactivation and reactivation,
//! reinvitations and their limit, and the audit trail of it all.

use ps_proto::common::v1::PracticeRole;
use ps_proto::identity::v1 as identity;
use ps_proto::notification::v1 as notification;
use ps_proto::orgaccess::v1 as orgaccess;
use ps_proto::staff::v1 as staff;
use system_tests::{
    Backend, Code, Person, TestSystem, eventually, on_every_backend, violated_fields,
};

on_every_backend!(
    only_owners_change_roles_and_a_practice_keeps_an_owner,
    deactivation_and_removal_take_effect_everywhere,
    reinvitations_replace_links_and_are_limited,
    every_change_is_audited,
);

async fn change_role(
    system: &TestSystem,
    by: &Person,
    staff_id: &str,
    role: PracticeRole,
) -> Result<staff::StaffMember, tonic::Status> {
    system
        .staff_as(by)
        .await
        .change_practice_role(staff::ChangePracticeRoleRequest {
            staff_id: staff_id.into(),
            practice_role: role as i32,
        })
        .await
        .map(tonic::Response::into_inner)
}

async fn only_owners_change_roles_and_a_practice_keeps_an_owner(backend: Backend) {
    let system = TestSystem::start(&backend).await;
    let owner = system.practice_with_owner("Role Practice").await;
    let member = system
        .member(&owner, "member@role.test", PracticeRole::Member)
        .await;
    let manager = system
        .member(&owner, "manager@role.test", PracticeRole::AccountManager)
        .await;
    let owner_id = system.staff_member(&owner, &owner.email).await.id;
    let member_id = system.staff_member(&owner, &member.email).await.id;

    let denied = change_role(&system, &manager, &member_id, PracticeRole::UserManager)
        .await
        .unwrap_err();
    assert_eq!(denied.code(), Code::PermissionDenied);
    assert_eq!(
        denied.message(),
        "changing a practice role needs the Account Owner role"
    );

    // The only owner can neither step down nor leave.
    let last = change_role(&system, &owner, &owner_id, PracticeRole::Member)
        .await
        .unwrap_err();
    assert_eq!(last.code(), Code::FailedPrecondition);
    assert!(
        last.message().contains("at least one active Account Owner"),
        "{}",
        last.message()
    );
    for refused in [
        system
            .staff_as(&owner)
            .await
            .remove_staff(staff::RemoveStaffRequest {
                staff_id: owner_id.clone(),
            })
            .await
            .unwrap_err(),
        system
            .staff_as(&owner)
            .await
            .deactivate_staff(staff::DeactivateStaffRequest {
                staff_id: owner_id.clone(),
            })
            .await
            .unwrap_err(),
    ] {
        assert_eq!(refused.code(), Code::FailedPrecondition, "{refused:?}");
    }

    let invalid = change_role(&system, &owner, &member_id, PracticeRole::Unspecified)
        .await
        .unwrap_err();
    assert_eq!(violated_fields(&invalid), ["practice_role"]);

    // Handing over: a second owner first, then the first steps down.
    let promoted = change_role(&system, &owner, &member_id, PracticeRole::AccountOwner)
        .await
        .expect("promote");
    assert_eq!(promoted.practice_role, PracticeRole::AccountOwner as i32);
    change_role(&system, &owner, &owner_id, PracticeRole::AccountManager)
        .await
        .expect("the first owner steps down once there is another");
    change_role(&system, &member, &owner_id, PracticeRole::Member)
        .await
        .expect("the new owner acts at once, with the token they already had");
    let old_owner = change_role(&system, &owner, &member_id, PracticeRole::Member)
        .await
        .unwrap_err();
    assert_eq!(
        old_owner.code(),
        Code::PermissionDenied,
        "the former owner no longer may"
    );

    // Identity and org-access follow through events.
    eventually(
        "identity to sign the new owner in as Account Owner",
        || async {
            let signed = system.sign_in(&member.email, &member.password).await.ok()?;
            let reply = system
                .identity()
                .await
                .refresh(identity::RefreshRequest {
                    refresh_token: signed.refresh_token,
                })
                .await
                .ok()?
                .into_inner();
            (reply.practice_role == PracticeRole::AccountOwner as i32).then_some(())
        },
    )
    .await;
    let orgs = system.org_access_as(&member).await;
    eventually("org-access to let the new owner add organisations", || {
        let mut orgs = orgs.clone();
        async move {
            orgs.create_organisation(orgaccess::CreateOrganisationRequest {
                request_id: String::new(),
                name: "Owned Client".into(),
            })
            .await
            .ok()
        }
    })
    .await;

    // Another practice's owner cannot touch these members.
    let stranger = system.practice_with_owner("Other Role Practice").await;
    let foreign = change_role(&system, &stranger, &member_id, PracticeRole::Member)
        .await
        .unwrap_err();
    assert_eq!(foreign.code(), Code::NotFound);
}

async fn deactivation_and_removal_take_effect_everywhere(backend: Backend) {
    let system = TestSystem::start(&backend).await;
    let owner = system.practice_with_owner("Leaving Practice").await;
    let leaver = system
        .member(&owner, "leaver@leave.test", PracticeRole::UserManager)
        .await;
    let manager = system
        .member(&owner, "manager@leave.test", PracticeRole::AccountManager)
        .await;
    let leaver_id = system.staff_member(&owner, &leaver.email).await.id;
    let owner_id = system.staff_member(&owner, &owner.email).await.id;

    let too_low = system
        .staff_as(&leaver)
        .await
        .deactivate_staff(staff::DeactivateStaffRequest {
            staff_id: owner_id.clone(),
        })
        .await
        .unwrap_err();
    assert_eq!(
        too_low.message(),
        "deactivating staff needs the Account Owner or Account Manager role"
    );
    let above = system
        .staff_as(&manager)
        .await
        .deactivate_staff(staff::DeactivateStaffRequest {
            staff_id: owner_id.clone(),
        })
        .await
        .unwrap_err();
    assert_eq!(above.code(), Code::PermissionDenied);
    assert!(
        above.message().contains("Account Owner"),
        "{}",
        above.message()
    );

    // The leaver can act before…
    system
        .notification_as(&leaver)
        .await
        .list_deliveries(notification::ListDeliveriesRequest::default())
        .await
        .expect("a User Manager reads the delivery log");
    let deactivated = system
        .staff_as(&manager)
        .await
        .deactivate_staff(staff::DeactivateStaffRequest {
            staff_id: leaver_id.clone(),
        })
        .await
        .expect("deactivate")
        .into_inner();
    assert_eq!(deactivated.status, staff::StaffStatus::Deactivated as i32);
    assert_eq!(
        deactivated.practice_role,
        PracticeRole::UserManager as i32,
        "the role is kept"
    );

    // …and not after: the same, unexpired access token is refused wherever it needs the practice.
    let refused = system
        .staff_as(&leaver)
        .await
        .list_staff(staff::ListStaffRequest::default())
        .await
        .unwrap_err();
    // Refused as no longer active here, or (once identity ended the session) as signed out.
    assert!(refusal(&refused), "{refused:?}");
    let log = system.notification_as(&leaver).await;
    eventually("notification to refuse the deactivated manager", || {
        let mut log = log.clone();
        async move {
            let err = log
                .list_deliveries(notification::ListDeliveriesRequest::default())
                .await
                .err()?;
            refusal(&err).then_some(())
        }
    })
    .await;
    let orgs = system.org_access_as(&leaver).await;
    eventually("org-access to refuse the deactivated member", || {
        let mut orgs = orgs.clone();
        async move {
            let err = orgs
                .list_organisations(orgaccess::ListOrganisationsRequest::default())
                .await
                .err()?;
            refusal(&err).then_some(())
        }
    })
    .await;
    // Their session in the practice ends, and they cannot sign in to it.
    eventually("the leaver's session to end", || async {
        let err = system
            .identity()
            .await
            .refresh(identity::RefreshRequest {
                refresh_token: leaver.refresh_token.clone(),
            })
            .await
            .err()?;
        (err.code() == Code::Unauthenticated).then_some(())
    })
    .await;
    let sign_in = system
        .sign_in(&leaver.email, &leaver.password)
        .await
        .unwrap_err();
    assert_eq!(sign_in.code(), Code::PermissionDenied);

    let again = system
        .staff_as(&owner)
        .await
        .deactivate_staff(staff::DeactivateStaffRequest {
            staff_id: leaver_id.clone(),
        })
        .await
        .unwrap_err();
    assert_eq!(again.code(), Code::FailedPrecondition);

    // Reactivation restores the role they had.
    let back = system
        .staff_as(&owner)
        .await
        .reactivate_staff(staff::ReactivateStaffRequest {
            staff_id: leaver_id.clone(),
        })
        .await
        .expect("reactivate")
        .into_inner();
    assert_eq!(back.status, staff::StaffStatus::Active as i32);
    assert_eq!(back.practice_role, PracticeRole::UserManager as i32);
    let returned = eventually("the reactivated member to sign in again", || async {
        system.sign_in(&leaver.email, &leaver.password).await.ok()
    })
    .await;
    system
        .staff_as(&returned)
        .await
        .invite_staff(staff::InviteStaffRequest {
            email: "new@leave.test".into(),
            name: "New".into(),
            practice_role: PracticeRole::Member as i32,
            ..Default::default()
        })
        .await
        .expect("acting with the restored role");

    // Removal keeps the record; a removed person can be invited again into the same record.
    let not_owner = system
        .staff_as(&manager)
        .await
        .remove_staff(staff::RemoveStaffRequest {
            staff_id: leaver_id.clone(),
        })
        .await
        .unwrap_err();
    assert_eq!(
        not_owner.message(),
        "removing staff needs the Account Owner role"
    );
    let removed = system
        .staff_as(&owner)
        .await
        .remove_staff(staff::RemoveStaffRequest {
            staff_id: leaver_id.clone(),
        })
        .await
        .expect("remove")
        .into_inner();
    assert_eq!(removed.status, staff::StaffStatus::Removed as i32);
    let listed = system.staff_member(&owner, &leaver.email).await;
    assert_eq!(
        listed.status,
        staff::StaffStatus::Removed as i32,
        "the record stays"
    );
    eventually("the removed member to be refused at sign-in", || async {
        let err = system
            .sign_in(&leaver.email, &leaver.password)
            .await
            .err()?;
        (err.code() == Code::PermissionDenied).then_some(())
    })
    .await;
    let invited_again = system
        .invite(&owner, &leaver.email, PracticeRole::Member)
        .await;
    assert_eq!(invited_again.id, leaver_id, "the same member record");
    assert_eq!(invited_again.status, staff::StaffStatus::Pending as i32);
    assert_eq!(invited_again.invitation_count, 2);
}

async fn reinvitations_replace_links_and_are_limited(backend: Backend) {
    let system = TestSystem::start(&backend).await;
    let owner = system.practice_with_owner("Reinvite Practice").await;
    let invited = system
        .invite(&owner, "slow@reinvite.test", PracticeRole::Member)
        .await;
    let first = system.wait_for_mail("slow@reinvite.test", 1).await;
    let mut client = system.staff_as(&owner).await;

    system.clock.advance(chrono::Duration::minutes(5));
    let again = client
        .reinvite_staff(staff::ReinviteStaffRequest {
            request_id: String::new(),
            staff_id: invited.id.clone(),
        })
        .await
        .expect("reinvite")
        .into_inner();
    assert_eq!(again.invitation_count, 2);
    let seconds = |m: &staff::StaffMember| m.last_invited_at.as_ref().map(|t| t.seconds);
    assert_eq!(
        seconds(&again),
        seconds(&invited).map(|s| s + 300),
        "the last invitation is the new one"
    );
    assert_eq!(again.id, invited.id, "no duplicate member");
    let second = system.wait_for_mail("slow@reinvite.test", 2).await;
    assert!(
        second.subject().starts_with("Reminder: "),
        "{}",
        second.subject()
    );
    // The reminder's link works; the first one was voided by it.
    eventually("the first link to be replaced", || async {
        let err = system
            .identity()
            .await
            .get_invitation(identity::GetInvitationRequest {
                token: first.token.clone(),
            })
            .await
            .err()?;
        (err.code() == Code::FailedPrecondition).then_some(err)
    })
    .await;
    let old = system
        .accept(&first.token, "slow person password")
        .await
        .unwrap_err();
    assert!(old.message().contains("newer"), "{}", old.message());
    system
        .accept(&second.token, "slow person password")
        .await
        .expect("the newest link works");
    system
        .wait_for_status(&owner, "slow@reinvite.test", staff::StaffStatus::Active)
        .await;
    let active = client
        .reinvite_staff(staff::ReinviteStaffRequest {
            request_id: String::new(),
            staff_id: invited.id.clone(),
        })
        .await
        .unwrap_err();
    assert_eq!(active.code(), Code::FailedPrecondition);
    assert!(
        active.message().contains("only Pending members"),
        "{}",
        active.message()
    );

    // At most three reinvites per member per hour.
    let pending = system
        .invite(&owner, "busy@reinvite.test", PracticeRole::Member)
        .await;
    for _ in 0..3 {
        client
            .reinvite_staff(staff::ReinviteStaffRequest {
                request_id: String::new(),
                staff_id: pending.id.clone(),
            })
            .await
            .expect("within the limit");
    }
    let limited = client
        .reinvite_staff(staff::ReinviteStaffRequest {
            request_id: String::new(),
            staff_id: pending.id.clone(),
        })
        .await
        .unwrap_err();
    assert_eq!(limited.code(), Code::ResourceExhausted);
    assert!(
        limited.message().contains("retry in 60 minutes"),
        "{}",
        limited.message()
    );
    {
        use tonic_types::StatusExt;
        let retry = limited.get_details_retry_info().expect("RetryInfo details");
        assert_eq!(retry.retry_delay.map(|d| d.as_secs()), Some(3600));
    }
    system.clock.advance(chrono::Duration::minutes(61));
    let owner = system
        .sign_in(&owner.email, &owner.password)
        .await
        .expect("sign in again");
    let mut client = system.staff_as(&owner).await;
    client
        .reinvite_staff(staff::ReinviteStaffRequest {
            request_id: String::new(),
            staff_id: pending.id.clone(),
        })
        .await
        .expect("a new hour, a new allowance");
    system.wait_for_mail("busy@reinvite.test", 5).await;

    // Duplicates and strangers.
    let duplicate = client
        .invite_staff(staff::InviteStaffRequest {
            email: "busy@reinvite.test".into(),
            name: "Busy Again".into(),
            practice_role: PracticeRole::Member as i32,
            ..Default::default()
        })
        .await
        .unwrap_err();
    assert_eq!(duplicate.code(), Code::AlreadyExists);
    assert!(
        duplicate.message().contains(&pending.id),
        "points at the member: {}",
        duplicate.message()
    );
    let member = system
        .member(&owner, "plain@reinvite.test", PracticeRole::Member)
        .await;
    let not_allowed = system
        .staff_as(&member)
        .await
        .reinvite_staff(staff::ReinviteStaffRequest {
            request_id: String::new(),
            staff_id: pending.id.clone(),
        })
        .await
        .unwrap_err();
    assert_eq!(not_allowed.code(), Code::PermissionDenied);
    let stranger = system.practice_with_owner("Stranger Practice").await;
    let foreign = system
        .staff_as(&stranger)
        .await
        .reinvite_staff(staff::ReinviteStaffRequest {
            request_id: String::new(),
            staff_id: pending.id.clone(),
        })
        .await
        .unwrap_err();
    assert_eq!(foreign.code(), Code::NotFound);
}

async fn every_change_is_audited(backend: Backend) {
    let system = TestSystem::start(&backend).await;
    let owner = system.practice_with_owner("Audit Practice").await;
    let member = system
        .member(&owner, "audited@audit.test", PracticeRole::Member)
        .await;
    let member_id = system.staff_member(&owner, &member.email).await.id;
    change_role(&system, &owner, &member_id, PracticeRole::UserManager)
        .await
        .expect("role");
    system
        .staff_as(&owner)
        .await
        .create_location(staff::CreateLocationRequest {
            request_id: String::new(),
            name: "Harbour".into(),
        })
        .await
        .expect("location");

    let mut client = system.staff_as(&owner).await;
    let all = client
        .list_audit_events(staff::ListAuditEventsRequest::default())
        .await
        .expect("ListAuditEvents")
        .into_inner()
        .events;
    let actions: Vec<&str> = all.iter().map(|e| e.action.as_str()).collect();
    assert_eq!(
        actions.first(),
        Some(&"location.created"),
        "newest first: {actions:?}"
    );
    for expected in [
        "practice.created",
        "staff.invited",
        "invitation.accepted",
        "staff.role_changed",
    ] {
        assert!(actions.contains(&expected), "{expected} in {actions:?}");
    }
    let role_change = all
        .iter()
        .find(|e| e.action == "staff.role_changed")
        .expect("role change");
    assert_eq!(role_change.actor_name, "Owner of Audit Practice");
    assert_eq!(role_change.actor_id, owner.user_id);
    assert_eq!(role_change.target_staff_id, member_id);
    assert_eq!(role_change.before, r#"{"role":"member"}"#);
    assert_eq!(role_change.after, r#"{"role":"user_manager"}"#);
    let accepted = all
        .iter()
        .find(|e| e.action == "invitation.accepted" && e.target_staff_id == member_id)
        .expect("the invitee's acceptance");
    assert_eq!(
        accepted.actor_id, member.user_id,
        "the invitee is the actor"
    );

    let about_member = client
        .list_audit_events(staff::ListAuditEventsRequest {
            staff_id: member_id.clone(),
            ..Default::default()
        })
        .await
        .expect("filtered")
        .into_inner()
        .events;
    assert!(about_member.iter().all(|e| e.target_staff_id == member_id));
    assert_eq!(about_member.len(), 3, "invited, accepted, role changed");

    let refused = system
        .staff_as(&member)
        .await
        .list_audit_events(staff::ListAuditEventsRequest::default())
        .await
        .unwrap_err();
    assert_eq!(refused.code(), Code::PermissionDenied);
    assert_eq!(
        refused.message(),
        "reading the audit log needs the Account Owner or Account Manager role"
    );
}

/// A deactivated or offboarded member's unexpired token is refused: as no longer active in the
/// practice (the service's own roster), or as an ended session (identity's SessionsEnded),
/// whichever reaches the service first.
pub(crate) fn refusal(status: &tonic::Status) -> bool {
    matches!(
        status.code(),
        Code::PermissionDenied | Code::Unauthenticated
    )
}
