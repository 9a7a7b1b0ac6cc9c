//! Offboarding: the preview, the handover through events, what it leaves behind, refusals,
//! a replayed request and a handover that fails.

use std::collections::BTreeSet;

use ps_core::Clock;
use ps_proto::common::v1::{ExistingAccess, PracticeRole};
use ps_proto::notification::v1 as notification;
use ps_proto::orgaccess::v1 as org;
use ps_proto::staff::v1 as staff;
use sea_orm::sea_query::Expr;
use sea_orm::{ColumnTrait, ConnectionTrait, EntityTrait, QueryFilter, Statement};
use system_tests::{
    Backend, Code, Person, TestSystem, eventually, on_every_backend, violated_fields,
};

on_every_backend!(
    offboarding_hands_everything_to_the_replacement,
    refused_offboardings_publish_nothing,
    a_replayed_request_changes_nothing,
    a_failed_handover_changes_nothing,
);

/// A practice with a leaver, a replacement and a colleague, each signed in.
struct Cast {
    owner: Person,
    leaver: Person,
    leaver_id: String,
    replacement: Person,
    replacement_id: String,
    colleague_id: String,
}

async fn cast(system: &TestSystem, practice: &str) -> Cast {
    let owner = system.practice_with_owner(practice).await;
    let domain = practice.to_lowercase().replace(' ', "-");
    let leaver = system
        .member(
            &owner,
            &format!("leaver@{domain}.test"),
            PracticeRole::Member,
        )
        .await;
    let replacement = system
        .member(
            &owner,
            &format!("replacement@{domain}.test"),
            PracticeRole::Member,
        )
        .await;
    let colleague = system
        .member(
            &owner,
            &format!("colleague@{domain}.test"),
            PracticeRole::Member,
        )
        .await;
    let leaver_id = system.staff_member(&owner, &leaver.email).await.id;
    let replacement_id = system.staff_member(&owner, &replacement.email).await.id;
    let colleague_id = system.staff_member(&owner, &colleague.email).await.id;
    Cast {
        owner,
        leaver,
        leaver_id,
        replacement,
        replacement_id,
        colleague_id,
    }
}

/// Gives `staff` access to `organisation` with `role`.
async fn grant(system: &TestSystem, owner: &Person, staff: &str, organisation: &str, role: &str) {
    system
        .org_access_as(owner)
        .await
        .set_staff_access(org::SetStaffAccessRequest {
            request_id: uuid::Uuid::now_v7().to_string(),
            staff_id: staff.into(),
            default_role_id: system.role_id(owner, role).await,
            entries: vec![org::AccessEntry {
                organisation_id: organisation.into(),
                ..Default::default()
            }],
            preview: false,
        })
        .await
        .expect("SetStaffAccess");
}

async fn set_acceptance(system: &TestSystem, owner: &Person, required: bool) {
    system
        .org_access_as(owner)
        .await
        .update_access_settings(org::UpdateAccessSettingsRequest {
            settings: Some(org::AccessSettings {
                require_acceptance: required,
            }),
        })
        .await
        .expect("UpdateAccessSettings");
}

async fn workflow(
    system: &TestSystem,
    owner: &Person,
    organisation: &str,
    name: &str,
    steps: &[&[&str]],
) -> org::Workflow {
    system
        .org_access_as(owner)
        .await
        .create_workflow(org::CreateWorkflowRequest {
            request_id: String::new(),
            organisation_id: organisation.into(),
            name: name.into(),
            steps: steps
                .iter()
                .enumerate()
                .map(|(i, approvers)| org::StepInput {
                    name: format!("Step {}", i + 1),
                    approver_staff_ids: approvers.iter().map(|a| (*a).to_owned()).collect(),
                })
                .collect(),
        })
        .await
        .expect("CreateWorkflow")
        .into_inner()
}

fn offboard_request(leaver: &str, replacement: &str) -> staff::OffboardStaffRequest {
    staff::OffboardStaffRequest {
        request_id: String::new(),
        staff_id: leaver.into(),
        replacement_id: replacement.into(),
        existing_access: ExistingAccess::Unspecified as i32,
    }
}

async fn preview(
    system: &TestSystem,
    manager: &Person,
    leaver: &str,
    replacement: &str,
    existing_access: ExistingAccess,
) -> Result<org::OffboardingPlan, tonic::Status> {
    system
        .org_access_as(manager)
        .await
        .preview_offboarding(org::PreviewOffboardingRequest {
            staff_id: leaver.into(),
            replacement_id: replacement.into(),
            existing_access: existing_access as i32,
        })
        .await
        .map(tonic::Response::into_inner)
}

/// Waits until the offboarding is no longer Requested.
async fn outcome(system: &TestSystem, manager: &Person, id: &str) -> staff::Offboarding {
    let client = system.staff_as(manager).await;
    eventually(&format!("offboarding {id} to finish"), || {
        let mut client = client.clone();
        async move {
            let found = client
                .get_offboarding(staff::GetOffboardingRequest {
                    offboarding_id: id.into(),
                })
                .await
                .ok()?
                .into_inner();
            (found.status != staff::OffboardingStatus::Requested as i32).then_some(found)
        }
    })
    .await
}

async fn access_of(system: &TestSystem, viewer: &Person, staff_id: &str) -> org::StaffAccess {
    system
        .org_access_as(viewer)
        .await
        .list_staff_access(org::ListStaffAccessRequest {
            staff_id: staff_id.into(),
            include_history: true,
        })
        .await
        .expect("ListStaffAccess")
        .into_inner()
}

async fn audit_for(
    system: &TestSystem,
    viewer: &Person,
    staff_id: &str,
) -> Vec<org::AccessAuditEvent> {
    let mut client = system.org_access_as(viewer).await;
    let mut events = Vec::new();
    let mut token = String::new();
    loop {
        let page = client
            .list_access_audit_events(org::ListAccessAuditEventsRequest {
                staff_id: staff_id.into(),
                page: Some(ps_proto::common::v1::PageRequest {
                    page_size: 500,
                    page_token: token,
                }),
                ..Default::default()
            })
            .await
            .expect("ListAccessAuditEvents")
            .into_inner();
        events.extend(page.events);
        if page.next_page_token.is_empty() {
            return events;
        }
        token = page.next_page_token;
    }
}

async fn deliveries(
    system: &TestSystem,
    viewer: &Person,
    template: &str,
) -> Vec<notification::Delivery> {
    system
        .notification_as(viewer)
        .await
        .list_deliveries(notification::ListDeliveriesRequest::default())
        .await
        .expect("ListDeliveries")
        .into_inner()
        .deliveries
        .into_iter()
        .filter(|d| d.template == template)
        .collect()
}

async fn sql_count(system: &TestSystem, db: &ps_db::DbSettings, sql: &str) -> i64 {
    let conn = system.database(db).await;
    conn.query_one_raw(Statement::from_string(
        conn.get_database_backend(),
        sql.to_owned(),
    ))
    .await
    .expect("query")
    .expect("a row")
    .try_get_by_index::<i64>(0)
    .expect("a count")
}

fn approvers(step: &org::WorkflowStep) -> BTreeSet<String> {
    step.approver_staff_ids.iter().cloned().collect()
}

async fn offboarding_hands_everything_to_the_replacement(backend: Backend) {
    let system = TestSystem::start(&backend).await;
    let c = cast(&system, "Handover Practice").await;
    let owner = &c.owner;
    let alpha = system.create_org(owner, "Alpha").await.id;
    let beta = system.create_org(owner, "Beta").await.id;
    let gamma = system.create_org(owner, "Gamma").await.id;
    let delta = system.create_org(owner, "Delta").await.id;
    // The leaver: Approver in Alpha, Editor in Beta, Viewer in Gamma, and an unanswered
    // invitation to Delta. The replacement: already Viewer in Beta, invited to Gamma.
    grant(&system, owner, &c.leaver_id, &alpha, "Approver").await;
    grant(&system, owner, &c.leaver_id, &beta, "Editor").await;
    grant(&system, owner, &c.leaver_id, &gamma, "Viewer").await;
    grant(&system, owner, &c.replacement_id, &beta, "Viewer").await;
    set_acceptance(&system, owner, true).await;
    grant(&system, owner, &c.leaver_id, &delta, "Viewer").await;
    grant(&system, owner, &c.replacement_id, &gamma, "Billing Manager").await;
    let bills = workflow(
        &system,
        owner,
        &alpha,
        "Bill approval",
        &[
            &[&c.leaver_id],
            &[&c.leaver_id, &c.colleague_id],
            &[&c.leaver_id, &c.replacement_id],
        ],
    )
    .await;
    let untouched = workflow(&system, owner, &beta, "Intake", &[&[&c.colleague_id]]).await;
    assert!(system.allowed(&c.leaver, &alpha, "workflow.approve").await);

    // The preview: every organisation, step and invitation, and the warnings.
    let plan = preview(
        &system,
        owner,
        &c.leaver_id,
        &c.replacement_id,
        ExistingAccess::Unspecified,
    )
    .await
    .expect("PreviewOffboarding");
    let handovers: Vec<(&str, &str, &str, i32)> = plan
        .organisations
        .iter()
        .map(|o| {
            (
                o.organisation_name.as_str(),
                o.leaver_role_name.as_str(),
                o.replacement_role_name_after.as_str(),
                o.action,
            )
        })
        .collect();
    assert_eq!(
        handovers,
        [
            (
                "Alpha",
                "Approver",
                "Approver",
                org::HandoverAction::Grant as i32
            ),
            ("Beta", "Editor", "Viewer", org::HandoverAction::Keep as i32),
            (
                "Gamma",
                "Viewer",
                "Billing Manager",
                org::HandoverAction::Activate as i32
            ),
        ]
    );
    assert_eq!(plan.withdrawn_invitations.len(), 1);
    assert_eq!(plan.withdrawn_invitations[0].organisation_name, "Delta");
    let step_actions: Vec<(u32, i32)> = plan.steps.iter().map(|s| (s.position, s.action)).collect();
    assert_eq!(
        step_actions,
        [
            (1, org::StepAction::Replace as i32),
            (2, org::StepAction::Replace as i32),
            (3, org::StepAction::DropLeaver as i32),
        ]
    );
    let codes: BTreeSet<&str> = plan.warnings.iter().map(|w| w.code.as_str()).collect();
    assert_eq!(
        codes,
        BTreeSet::from(["INVITATION_ACTIVATED", "ROLE_LACKS_PERMISSIONS"])
    );
    let counts = plan.counts.expect("counts");
    assert_eq!(
        (
            counts.organisations,
            counts.memberships_revoked,
            counts.memberships_granted,
            counts.memberships_changed,
            counts.invitations_withdrawn,
            counts.steps_reassigned
        ),
        (3, 3, 1, 1, 1, 3)
    );
    // The other option takes the leaver's role where the replacement already has access.
    let taking = preview(
        &system,
        owner,
        &c.leaver_id,
        &c.replacement_id,
        ExistingAccess::UseLeaverRole,
    )
    .await
    .expect("PreviewOffboarding");
    let beta_after = taking
        .organisations
        .iter()
        .find(|o| o.organisation_name == "Beta")
        .expect("Beta");
    assert_eq!(
        (
            beta_after.replacement_role_name_after.as_str(),
            beta_after.action
        ),
        ("Editor", org::HandoverAction::ChangeRole as i32)
    );
    // A preview changes nothing.
    assert!(system.allowed(&c.leaver, &alpha, "workflow.approve").await);

    // Offboard: Offboarding at once, then Completed with the previewed counts.
    let requested = system
        .staff_as(owner)
        .await
        .offboard_staff(offboard_request(&c.leaver_id, &c.replacement_id))
        .await
        .expect("OffboardStaff")
        .into_inner();
    assert_eq!(requested.status, staff::OffboardingStatus::Requested as i32);
    assert_eq!(
        requested.replacement_name,
        "Person replacement@handover-practice.test"
    );
    let done = outcome(&system, owner, &requested.id).await;
    assert_eq!(
        done.status,
        staff::OffboardingStatus::Completed as i32,
        "{done:?}"
    );
    assert_eq!(done.counts, Some(counts));
    assert!(done.finished_at.is_some());
    system
        .wait_for_status(owner, &c.leaver.email, staff::StaffStatus::Offboarded)
        .await;

    // The leaver holds nothing and approves nowhere.
    let left = access_of(&system, owner, &c.leaver_id).await;
    assert!(left.steps.is_empty(), "{:?}", left.steps);
    assert_eq!(left.memberships.len(), 4);
    assert!(
        left.memberships
            .iter()
            .all(|m| m.status == org::MembershipStatus::Revoked as i32)
    );
    let decision = system
        .explain_access(&c.leaver, &alpha, "workflow.approve", "")
        .await;
    assert_eq!(decision.reason, org::DecisionReason::StaffOffboarded as i32);

    // The replacement holds what the preview said, and every step.
    let holds = access_of(&system, owner, &c.replacement_id).await;
    let mut held: Vec<(String, String, i32)> = holds
        .memberships
        .iter()
        .map(|m| (m.organisation_name.clone(), m.role_name.clone(), m.status))
        .collect();
    held.sort();
    let active = org::MembershipStatus::Active as i32;
    assert_eq!(
        held,
        [
            ("Alpha".into(), "Approver".into(), active),
            ("Beta".into(), "Viewer".into(), active),
            ("Gamma".into(), "Billing Manager".into(), active),
        ]
    );
    assert_eq!(holds.steps.len(), 3);
    assert!(
        system
            .allowed(&c.replacement, &alpha, "workflow.approve")
            .await
    );
    let after = system
        .org_access_as(owner)
        .await
        .get_workflow(org::GetWorkflowRequest {
            workflow_id: bills.id.clone(),
        })
        .await
        .expect("GetWorkflow")
        .into_inner();
    for (step, planned) in after.steps.iter().zip(&plan.steps) {
        assert_eq!(
            step.approver_staff_ids.len(),
            approvers(step).len(),
            "no approver twice"
        );
        assert_eq!(
            approvers(step),
            planned.approver_staff_ids_after.iter().cloned().collect(),
            "step {} as previewed",
            step.position
        );
        assert!(!approvers(step).contains(&c.leaver_id));
    }
    let intake = system
        .org_access_as(owner)
        .await
        .get_workflow(org::GetWorkflowRequest {
            workflow_id: untouched.id.clone(),
        })
        .await
        .expect("GetWorkflow")
        .into_inner();
    assert_eq!(intake.steps, untouched.steps);

    // Audited in the owner's name, with the offboarding as the cause.
    let cause = format!("offboarding:{}", requested.id);
    let audit = audit_for(&system, owner, &c.leaver_id).await;
    let by_cause: Vec<&org::AccessAuditEvent> =
        audit.iter().filter(|e| e.request_id == cause).collect();
    // 3 memberships revoked, 1 invitation withdrawn, 1 workflow (3 steps).
    assert_eq!(by_cause.len(), 5, "{audit:?}");
    assert!(
        by_cause
            .iter()
            .all(|e| e.actor_name == "Owner of Handover Practice" && e.actor_id == owner.user_id),
        "{by_cause:?}"
    );

    // Both e-mails, recorded.
    let handover = eventually("the handover e-mail", || async {
        system
            .mails_to(&c.replacement.email)
            .into_iter()
            .find(|m| m.subject().contains("taking over"))
    })
    .await;
    assert!(handover.content.contains("Alpha"));
    let summary = eventually("the summary e-mail", || async {
        system
            .mails_to(&owner.email)
            .into_iter()
            .find(|m| m.subject().contains("was offboarded"))
    })
    .await;
    assert!(
        summary.content.contains("3 organisations"),
        "{}",
        summary.content
    );
    eventually("both deliveries to be logged", || async {
        let handovers = deliveries(&system, owner, "offboarding_handover").await;
        let summaries = deliveries(&system, owner, "offboarding_summary").await;
        (handovers.len() == 1 && summaries.len() == 1).then_some(())
    })
    .await;

    // The leaver can no longer act in the practice.
    let refused = system
        .staff_as(&c.leaver)
        .await
        .list_staff(staff::ListStaffRequest::default())
        .await
        .unwrap_err();
    assert!(crate::lifecycle::refusal(&refused), "{refused:?}");
    eventually("the leaver's sign-in to be refused", || async {
        let err = system
            .sign_in(&c.leaver.email, &c.leaver.password)
            .await
            .err()?;
        (err.code() == Code::PermissionDenied).then_some(())
    })
    .await;

    // Listed, and not twice.
    let listed = system
        .staff_as(owner)
        .await
        .list_offboardings(staff::ListOffboardingsRequest::default())
        .await
        .expect("ListOffboardings")
        .into_inner()
        .offboardings;
    assert_eq!(listed, [done]);
    let again = system
        .staff_as(owner)
        .await
        .offboard_staff(offboard_request(&c.leaver_id, &c.replacement_id))
        .await
        .unwrap_err();
    assert_eq!(again.code(), Code::FailedPrecondition);
}

async fn refused_offboardings_publish_nothing(backend: Backend) {
    let system = TestSystem::start(&backend).await;
    let c = cast(&system, "Refusal Practice").await;
    let owner = &c.owner;
    let alpha = system.create_org(owner, "Alpha").await.id;
    grant(&system, owner, &c.leaver_id, &alpha, "Approver").await;
    let stranger = system.practice_with_owner("Other Practice").await;
    let foreign = system.staff_member(&stranger, &stranger.email).await.id;
    let manager = system
        .member(
            owner,
            "manager@refusal-practice.test",
            PracticeRole::UserManager,
        )
        .await;
    let account_manager = system
        .member(
            owner,
            "account-manager@refusal-practice.test",
            PracticeRole::AccountManager,
        )
        .await;
    let account_manager_id = system.staff_member(owner, &account_manager.email).await.id;
    let owner_id = system.staff_member(owner, &owner.email).await.id;
    let mut directory = system.staff_as(owner).await;

    // Another practice's member is not found, by the preview and by the offboarding.
    let status = directory
        .offboard_staff(offboard_request(&c.leaver_id, &foreign))
        .await
        .unwrap_err();
    assert_eq!(status.code(), Code::NotFound, "{status:?}");
    let status = preview(
        &system,
        owner,
        &c.leaver_id,
        &foreign,
        ExistingAccess::Unspecified,
    )
    .await
    .unwrap_err();
    assert_eq!(status.code(), Code::NotFound);

    // Self-replacement.
    let status = directory
        .offboard_staff(offboard_request(&c.leaver_id, &c.leaver_id))
        .await
        .unwrap_err();
    assert_eq!(status.code(), Code::InvalidArgument);
    assert_eq!(violated_fields(&status), ["replacement_id"]);

    // A deactivated replacement.
    directory
        .deactivate_staff(staff::DeactivateStaffRequest {
            staff_id: c.replacement_id.clone(),
        })
        .await
        .expect("DeactivateStaff");
    let status = directory
        .offboard_staff(offboard_request(&c.leaver_id, &c.replacement_id))
        .await
        .unwrap_err();
    assert_eq!(status.code(), Code::FailedPrecondition);
    assert!(
        status.message().contains("deactivated"),
        "{}",
        status.message()
    );
    eventually("org-access to see the deactivation", || async {
        let status = preview(
            &system,
            owner,
            &c.leaver_id,
            &c.replacement_id,
            ExistingAccess::Unspecified,
        )
        .await
        .err()?;
        (status.code() == Code::FailedPrecondition).then_some(())
    })
    .await;

    // Not managers, and not above one's own rank; the last Account Owner stays.
    let status = system
        .staff_as(&c.leaver)
        .await
        .offboard_staff(offboard_request(&c.colleague_id, &c.leaver_id))
        .await
        .unwrap_err();
    assert_eq!(status.code(), Code::PermissionDenied);
    let status = preview(
        &system,
        &c.leaver,
        &c.colleague_id,
        &c.leaver_id,
        ExistingAccess::Unspecified,
    )
    .await
    .unwrap_err();
    assert_eq!(status.code(), Code::PermissionDenied);
    let status = system
        .staff_as(&manager)
        .await
        .offboard_staff(offboard_request(&account_manager_id, &c.colleague_id))
        .await
        .unwrap_err();
    assert_eq!(status.code(), Code::PermissionDenied);
    let status = directory
        .offboard_staff(offboard_request(&owner_id, &c.colleague_id))
        .await
        .unwrap_err();
    assert_eq!(status.code(), Code::FailedPrecondition);
    assert!(
        status.message().contains("Account Owner"),
        "{}",
        status.message()
    );

    // Bad input names its fields.
    let status = directory
        .offboard_staff(staff::OffboardStaffRequest {
            request_id: String::new(),
            staff_id: "nope".into(),
            replacement_id: String::new(),
            existing_access: 9,
        })
        .await
        .unwrap_err();
    assert_eq!(status.code(), Code::InvalidArgument);
    assert_eq!(
        violated_fields(&status),
        ["staff_id", "replacement_id", "existing_access"]
    );

    // Nothing was published or changed.
    let outbox = sql_count(
        &system,
        &system.databases.staff_directory,
        "SELECT COUNT(*) FROM outbox_events WHERE event_type = 'staff.offboarding_requested'",
    )
    .await;
    assert_eq!(outbox, 0);
    let listed = directory
        .list_offboardings(staff::ListOffboardingsRequest::default())
        .await
        .expect("ListOffboardings")
        .into_inner()
        .offboardings;
    assert!(listed.is_empty());
    system
        .wait_for_status(owner, &c.leaver.email, staff::StaffStatus::Active)
        .await;
    assert!(system.allowed(&c.leaver, &alpha, "workflow.approve").await);

    // An offboarded member cannot be offboarded again, nor be a replacement.
    directory
        .reactivate_staff(staff::ReactivateStaffRequest {
            staff_id: c.replacement_id.clone(),
        })
        .await
        .expect("ReactivateStaff");
    let first = directory
        .offboard_staff(offboard_request(&c.leaver_id, &c.replacement_id))
        .await
        .expect("OffboardStaff")
        .into_inner();
    assert_eq!(
        outcome(&system, owner, &first.id).await.status,
        staff::OffboardingStatus::Completed as i32
    );
    let status = directory
        .offboard_staff(offboard_request(&c.leaver_id, &c.colleague_id))
        .await
        .unwrap_err();
    assert_eq!(status.code(), Code::FailedPrecondition);
    assert!(
        status.message().contains("already offboarded"),
        "{}",
        status.message()
    );
    let status = directory
        .offboard_staff(offboard_request(&c.colleague_id, &c.leaver_id))
        .await
        .unwrap_err();
    assert_eq!(status.code(), Code::FailedPrecondition);
    let outbox = sql_count(
        &system,
        &system.databases.staff_directory,
        "SELECT COUNT(*) FROM outbox_events WHERE event_type = 'staff.offboarding_requested'",
    )
    .await;
    assert_eq!(outbox, 1);
}

async fn a_replayed_request_changes_nothing(backend: Backend) {
    let system = TestSystem::start_handling_events_in_order(&backend).await;
    let c = cast(&system, "Replay Offboarding").await;
    let owner = &c.owner;
    let alpha = system.create_org(owner, "Alpha").await.id;
    grant(&system, owner, &c.leaver_id, &alpha, "Approver").await;
    workflow(&system, owner, &alpha, "Bills", &[&[&c.leaver_id]]).await;
    let requested = system
        .staff_as(owner)
        .await
        .offboard_staff(offboard_request(&c.leaver_id, &c.replacement_id))
        .await
        .expect("OffboardStaff")
        .into_inner();
    let done = outcome(&system, owner, &requested.id).await;
    assert_eq!(done.status, staff::OffboardingStatus::Completed as i32);
    system.wait_for_mail(&c.replacement.email, 2).await;
    let audit_before = audit_for(&system, owner, &c.leaver_id).await;
    let replacement_before = access_of(&system, owner, &c.replacement_id).await;

    // As if staff-directory's relay had crashed after publishing the request but before
    // recording it: the same event (same id) goes out again.
    let conn = system.database(&system.databases.staff_directory).await;
    let replayed = conn
        .execute_raw(Statement::from_string(
            conn.get_database_backend(),
            "UPDATE outbox_events SET published_at = NULL WHERE event_type = 'staff.offboarding_requested'".to_owned(),
        ))
        .await
        .expect("reset")
        .rows_affected();
    assert_eq!(replayed, 1);
    // A later event from the same producer to the same consumer: once org-access knows the
    // new member, it has handled the replay before it.
    system
        .staff_as(owner)
        .await
        .invite_staff(staff::InviteStaffRequest {
            email: "sentinel@replay-offboarding.test".into(),
            name: "Sentinel".into(),
            practice_role: PracticeRole::Member as i32,
            ..Default::default()
        })
        .await
        .expect("InviteStaff");
    let sentinel = system
        .staff_member(owner, "sentinel@replay-offboarding.test")
        .await
        .id;
    eventually("org-access to know the sentinel", || async {
        preview(
            &system,
            owner,
            &sentinel,
            &c.colleague_id,
            ExistingAccess::Unspecified,
        )
        .await
        .ok()
    })
    .await;
    assert_eq!(
        sql_count(
            &system,
            &system.databases.staff_directory,
            "SELECT COUNT(*) FROM outbox_events WHERE published_at IS NULL",
        )
        .await,
        0
    );

    assert_eq!(audit_for(&system, owner, &c.leaver_id).await, audit_before);
    assert_eq!(
        access_of(&system, owner, &c.replacement_id).await,
        replacement_before
    );
    assert_eq!(
        sql_count(
            &system,
            &system.databases.org_access,
            "SELECT COUNT(*) FROM outbox_events WHERE event_type = 'orgaccess.offboarding_completed'",
        )
        .await,
        1
    );
    let still = outcome(&system, owner, &requested.id).await;
    assert_eq!(still, done);
    assert_eq!(
        system.mails_to(&c.replacement.email).len(),
        2,
        "one handover e-mail"
    );
    assert_eq!(
        deliveries(&system, owner, "offboarding_summary")
            .await
            .len(),
        1
    );
}

async fn a_failed_handover_changes_nothing(backend: Backend) {
    let system = TestSystem::start(&backend).await;
    let c = cast(&system, "Failing Practice").await;
    let owner = &c.owner;
    let alpha = system.create_org(owner, "Alpha").await.id;
    grant(&system, owner, &c.leaver_id, &alpha, "Approver").await;
    let bills = workflow(&system, owner, &alpha, "Bills", &[&[&c.leaver_id]]).await;
    let leaver_before = access_of(&system, owner, &c.leaver_id).await;

    // Org-access has seen the replacement deactivated after the moment the offboarding will
    // be asked for (as when a deactivation overtakes the request), while staff-directory
    // still has them Active and accepts the request.
    let later = system.clock.now() + chrono::Duration::hours(1);
    let changed = ps_roster::entity::Entity::update_many()
        .col_expr(
            ps_roster::entity::Column::Status,
            Expr::value("deactivated"),
        )
        .col_expr(ps_roster::entity::Column::ChangedAt, Expr::value(later))
        .filter(
            ps_roster::entity::Column::StaffId
                .eq(uuid::Uuid::parse_str(&c.replacement_id).expect("uuid")),
        )
        .exec(&system.database(&system.databases.org_access).await)
        .await
        .expect("update roster")
        .rows_affected;
    assert_eq!(changed, 1);

    let requested = system
        .staff_as(owner)
        .await
        .offboard_staff(offboard_request(&c.leaver_id, &c.replacement_id))
        .await
        .expect("OffboardStaff")
        .into_inner();
    let failed = outcome(&system, owner, &requested.id).await;
    assert_eq!(failed.status, staff::OffboardingStatus::Failed as i32);
    assert!(
        failed.failure_reason.contains("deactivated"),
        "{}",
        failed.failure_reason
    );
    assert!(failed.counts.is_none());

    // Nothing half-applied: the leaver is back, with every membership and step.
    system
        .wait_for_status(owner, &c.leaver.email, staff::StaffStatus::Active)
        .await;
    assert_eq!(access_of(&system, owner, &c.leaver_id).await, leaver_before);
    let after = system
        .org_access_as(owner)
        .await
        .get_workflow(org::GetWorkflowRequest {
            workflow_id: bills.id.clone(),
        })
        .await
        .expect("GetWorkflow")
        .into_inner();
    assert_eq!(after.steps, bills.steps);
    let cause = format!("offboarding:{}", requested.id);
    assert!(
        audit_for(&system, owner, &c.leaver_id)
            .await
            .iter()
            .all(|e| e.request_id != cause)
    );
    assert!(system.allowed(&c.leaver, &alpha, "workflow.approve").await);
    system
        .staff_as(&c.leaver)
        .await
        .list_staff(staff::ListStaffRequest::default())
        .await
        .expect("the leaver acts again");

    // The manager is told; the replacement is not.
    let told = eventually("the failure e-mail", || async {
        system
            .mails_to(&owner.email)
            .into_iter()
            .find(|m| m.subject().contains("did not happen"))
    })
    .await;
    assert!(told.content.contains("deactivated"), "{}", told.content);
    assert_eq!(system.mails_to(&c.replacement.email).len(), 1);
}
