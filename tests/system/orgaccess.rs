//! Organisation access: organisations, workflows, roles, changesets in both directions,
//! organisation invitations, reactions to staff events, CheckAccess and ExplainAccess.

use ps_proto::common::v1::PracticeRole;
use ps_proto::orgaccess::v1 as org;
use ps_proto::staff::v1 as staff;
use system_tests::{Backend, Code, TestSystem, eventually, on_every_backend, violated_fields};

on_every_backend!(
    organisations_workflows_and_roles,
    changesets_in_both_directions,
    organisation_invitations_are_answered_one_by_one,
    staff_events_and_location_limits_decide_access,
    concurrent_changesets_leave_one_membership,
    every_write_changes_the_next_decision,
);

fn grant(organisation: &str, role: &str) -> org::AccessEntry {
    org::AccessEntry {
        organisation_id: organisation.into(),
        role_id: role.into(),
        ..Default::default()
    }
}

fn member_entry(staff_id: &str, role: &str) -> org::AccessEntry {
    org::AccessEntry {
        staff_id: staff_id.into(),
        role_id: role.into(),
        ..Default::default()
    }
}

fn step(name: &str, approvers: &[&str]) -> org::StepInput {
    org::StepInput {
        name: name.into(),
        approver_staff_ids: approvers.iter().map(|a| (*a).to_owned()).collect(),
    }
}

async fn organisations_workflows_and_roles(backend: Backend) {
    let system = TestSystem::start(&backend).await;
    let owner = system.practice_with_owner("Catalogue Practice").await;
    let manager = system
        .member(&owner, "manager@catalogue.test", PracticeRole::UserManager)
        .await;
    let clerk = system
        .member(&owner, "clerk@catalogue.test", PracticeRole::Member)
        .await;
    let manager_id = system.staff_member(&owner, &manager.email).await.id;
    let clerk_id = system.staff_member(&owner, &clerk.email).await.id;
    let mut client = system.org_access_as(&owner).await;

    let alpha = system.create_org(&owner, "Alpha Holdings").await;
    let beta = system.create_org(&owner, "Beta Clinic").await;
    let gamma = system.create_org(&owner, "Gamma Clinic").await;
    let taken = client
        .create_organisation(org::CreateOrganisationRequest {
            request_id: String::new(),
            name: "alpha holdings".into(),
        })
        .await
        .unwrap_err();
    assert_eq!(taken.code(), Code::AlreadyExists);
    let renamed = client
        .rename_organisation(org::RenameOrganisationRequest {
            organisation_id: beta.id.clone(),
            name: "Beta Medical".into(),
        })
        .await
        .expect("rename")
        .into_inner();
    assert_eq!(renamed.name, "Beta Medical");
    client
        .archive_organisation(org::ArchiveOrganisationRequest {
            organisation_id: gamma.id.clone(),
        })
        .await
        .expect("archive");
    // Access to an archived organisation, and to one that does not exist, is refused with
    // the reason; another practice's organisation is not this user's practice's.
    let why = system
        .explain_access(&owner, &gamma.id, "organisation.view", "")
        .await;
    assert_eq!(why.reason, org::DecisionReason::OrganisationArchived as i32);
    assert!(!system.allowed(&owner, &gamma.id, "organisation.view").await);
    let nowhere = uuid::Uuid::now_v7().to_string();
    let why = system
        .explain_access(&owner, &nowhere, "organisation.view", "")
        .await;
    assert_eq!(why.reason, org::DecisionReason::UnknownOrganisation as i32);
    let elsewhere = system.practice_with_owner("Elsewhere Practice").await;
    let theirs = system.create_org(&elsewhere, "Theirs Ltd").await;
    let why = system
        .explain_access(&owner, &theirs.id, "organisation.view", "")
        .await;
    assert_eq!(why.reason, org::DecisionReason::NotPracticeStaff as i32);
    let search = |query: &str, include_archived: bool| org::ListOrganisationsRequest {
        query: query.into(),
        include_archived,
        ..Default::default()
    };
    let names = |list: org::ListOrganisationsResponse| {
        list.organisations
            .into_iter()
            .map(|o| o.name)
            .collect::<Vec<_>>()
    };
    assert_eq!(
        names(
            client
                .list_organisations(search("ALPHA", false))
                .await
                .unwrap()
                .into_inner()
        ),
        ["Alpha Holdings"]
    );
    assert_eq!(
        names(
            client
                .list_organisations(search("clinic", false))
                .await
                .unwrap()
                .into_inner()
        ),
        Vec::<String>::new()
    );
    assert_eq!(
        names(
            client
                .list_organisations(search("clinic", true))
                .await
                .unwrap()
                .into_inner()
        ),
        ["Gamma Clinic"]
    );
    let denied = system
        .org_access_as(&clerk)
        .await
        .create_organisation(org::CreateOrganisationRequest {
            request_id: String::new(),
            name: "Mine".into(),
        })
        .await
        .unwrap_err();
    assert_eq!(denied.code(), Code::PermissionDenied);

    // Workflows: ordered steps with staff approvers.
    let created = client
        .create_workflow(org::CreateWorkflowRequest {
            request_id: String::new(),
            organisation_id: alpha.id.clone(),
            name: "Bill approval".into(),
            steps: vec![
                step("Check", &[&manager_id]),
                step("Approve", &[&manager_id, &clerk_id]),
            ],
        })
        .await
        .expect("CreateWorkflow")
        .into_inner();
    assert_eq!(
        created.steps.iter().map(|s| s.position).collect::<Vec<_>>(),
        [1, 2]
    );
    let twice = client
        .create_workflow(org::CreateWorkflowRequest {
            request_id: String::new(),
            organisation_id: alpha.id.clone(),
            name: "Broken".into(),
            steps: vec![step("Twice", &[&manager_id, &manager_id])],
        })
        .await
        .unwrap_err();
    assert_eq!(violated_fields(&twice), ["steps[0].approver_staff_ids"]);
    let stranger_id = uuid::Uuid::now_v7().to_string();
    let unknown = client
        .create_workflow(org::CreateWorkflowRequest {
            request_id: String::new(),
            organisation_id: alpha.id.clone(),
            name: "Broken".into(),
            steps: vec![step("Nobody", &[&stranger_id])],
        })
        .await
        .unwrap_err();
    assert_eq!(unknown.code(), Code::NotFound);
    assert!(
        unknown.message().contains("steps[0].approver_staff_ids[0]"),
        "{}",
        unknown.message()
    );
    let clerk_steps = system
        .org_access_as(&clerk)
        .await
        .list_staff_access(org::ListStaffAccessRequest {
            staff_id: clerk_id.clone(),
            include_history: false,
        })
        .await
        .expect("a member sees their own access")
        .into_inner()
        .steps;
    assert_eq!(clerk_steps.len(), 1);
    assert_eq!(
        (
            clerk_steps[0].workflow_name.as_str(),
            clerk_steps[0].position
        ),
        ("Bill approval", 2)
    );
    let updated = client
        .update_workflow(org::UpdateWorkflowRequest {
            workflow_id: created.id.clone(),
            name: "Invoice approval".into(),
            replace_steps: true,
            steps: vec![step("Approve", &[&manager_id])],
        })
        .await
        .expect("UpdateWorkflow")
        .into_inner();
    assert_eq!(
        (updated.name.as_str(), updated.steps.len()),
        ("Invoice approval", 1)
    );
    let listed = client
        .list_workflows(org::ListWorkflowsRequest {
            organisation_id: alpha.id.clone(),
        })
        .await
        .expect("ListWorkflows")
        .into_inner()
        .workflows;
    assert_eq!(listed, std::slice::from_ref(&updated));
    client
        .delete_workflow(org::DeleteWorkflowRequest {
            workflow_id: created.id.clone(),
        })
        .await
        .expect("DeleteWorkflow");
    let gone = client
        .get_workflow(org::GetWorkflowRequest {
            workflow_id: created.id.clone(),
        })
        .await
        .unwrap_err();
    assert_eq!(gone.code(), Code::NotFound);

    // Roles: the catalogue, built-ins and custom roles.
    let catalogue = client
        .list_permissions(org::ListPermissionsRequest {})
        .await
        .expect("ListPermissions")
        .into_inner()
        .permissions;
    assert_eq!(catalogue.len(), 14);
    assert!(
        catalogue
            .iter()
            .any(|p| p.name == "billing.refund" && p.module == "billing")
    );
    let roles = client
        .list_roles(org::ListRolesRequest {})
        .await
        .expect("ListRoles")
        .into_inner()
        .roles;
    let built_in: Vec<&str> = roles
        .iter()
        .filter(|r| r.built_in)
        .map(|r| r.name.as_str())
        .collect();
    for expected in [
        "Administrator",
        "Approver",
        "Editor",
        "Viewer",
        "Provider",
        "Front Desk",
        "Billing Manager",
    ] {
        assert!(built_in.contains(&expected), "{expected} in {built_in:?}");
    }
    let bad = client
        .create_role(org::CreateRoleRequest {
            request_id: String::new(),
            name: "Auditor".into(),
            permissions: vec!["billing.view_reports".into(), "billing.steal".into()],
        })
        .await
        .unwrap_err();
    assert_eq!(violated_fields(&bad), ["permissions[1]"]);
    let auditor = client
        .create_role(org::CreateRoleRequest {
            request_id: String::new(),
            name: "Auditor".into(),
            permissions: vec!["workflow.view".into(), "billing.view_reports".into()],
        })
        .await
        .expect("CreateRole")
        .into_inner();
    assert_eq!(
        auditor.permissions,
        ["billing.view_reports", "workflow.view"]
    );
    let viewer = roles.iter().find(|r| r.name == "Viewer").expect("Viewer");
    let frozen = client
        .update_role(org::UpdateRoleRequest {
            role_id: viewer.id.clone(),
            replace_permissions: true,
            ..Default::default()
        })
        .await
        .unwrap_err();
    assert_eq!(frozen.code(), Code::FailedPrecondition);
    let not_admin = system
        .org_access_as(&manager)
        .await
        .create_role(org::CreateRoleRequest {
            request_id: String::new(),
            name: "Mine".into(),
            permissions: vec![],
        })
        .await
        .unwrap_err();
    assert_eq!(
        not_admin.message(),
        "managing roles needs the Account Owner or Account Manager role"
    );

    // A role in use cannot be deleted.
    client
        .set_staff_access(org::SetStaffAccessRequest {
            request_id: "use-auditor".into(),
            staff_id: clerk_id.clone(),
            entries: vec![grant(&alpha.id, &auditor.id)],
            ..Default::default()
        })
        .await
        .expect("grant");
    let in_use = client
        .delete_role(org::DeleteRoleRequest {
            role_id: auditor.id.clone(),
        })
        .await
        .unwrap_err();
    assert_eq!(in_use.code(), Code::FailedPrecondition);
    assert!(
        in_use.message().contains("used by 1 membership"),
        "{}",
        in_use.message()
    );

    // Another practice sees none of it.
    let stranger = system.practice_with_owner("Foreign Practice").await;
    let mut foreign = system.org_access_as(&stranger).await;
    system.create_org(&stranger, "Their Own").await;
    let hidden = foreign
        .get_organisation(org::GetOrganisationRequest {
            organisation_id: alpha.id.clone(),
        })
        .await
        .unwrap_err();
    assert_eq!(hidden.code(), Code::NotFound);
    let hidden = foreign
        .list_workflows(org::ListWorkflowsRequest {
            organisation_id: alpha.id.clone(),
        })
        .await
        .unwrap_err();
    assert_eq!(hidden.code(), Code::NotFound);
    let hidden = foreign
        .delete_role(org::DeleteRoleRequest {
            role_id: auditor.id.clone(),
        })
        .await
        .unwrap_err();
    assert_eq!(hidden.code(), Code::NotFound);
}

async fn changesets_in_both_directions(backend: Backend) {
    let system = TestSystem::start(&backend).await;
    let owner = system.practice_with_owner("Changeset Practice").await;
    let one = system
        .member(&owner, "one@changes.test", PracticeRole::Member)
        .await;
    let two = system
        .member(&owner, "two@changes.test", PracticeRole::Member)
        .await;
    let three = system
        .member(&owner, "three@changes.test", PracticeRole::Member)
        .await;
    let [one_id, two_id, three_id] = [&one, &two, &three].map(|p| p.email.clone());
    let one_id = system.staff_member(&owner, &one_id).await.id;
    let two_id = system.staff_member(&owner, &two_id).await.id;
    let three_id = system.staff_member(&owner, &three_id).await.id;
    let a = system.create_org(&owner, "Org A").await.id;
    let b = system.create_org(&owner, "Org B").await.id;
    let c = system.create_org(&owner, "Org C").await.id;
    let viewer = system.role_id(&owner, "Viewer").await;
    let editor = system.role_id(&owner, "Editor").await;
    let approver = system.role_id(&owner, "Approver").await;
    let billing = system.role_id(&owner, "Billing Manager").await;
    let mut client = system.org_access_as(&owner).await;

    // One member → many organisations: the default role and a role per organisation.
    let first = client
        .set_staff_access(org::SetStaffAccessRequest {
            request_id: "r1".into(),
            staff_id: one_id.clone(),
            default_role_id: viewer.clone(),
            entries: vec![grant(&a, ""), grant(&b, &editor)],
            preview: false,
        })
        .await
        .expect("SetStaffAccess")
        .into_inner();
    assert!(first.applied);
    assert_eq!(first.added.len(), 2);
    assert_eq!(first.added[0].role_id_after, viewer);
    assert_eq!(first.added[1].role_id_after, editor);
    assert!(
        first
            .added
            .iter()
            .all(|c| c.status_after == org::MembershipStatus::Active as i32)
    );

    // Preview and apply of the same changeset agree; the preview changes nothing.
    let second_request = |preview| org::SetStaffAccessRequest {
        request_id: "r2".into(),
        staff_id: one_id.clone(),
        default_role_id: viewer.clone(),
        entries: vec![
            grant(&a, &approver),
            org::AccessEntry {
                organisation_id: b.clone(),
                remove: true,
                ..Default::default()
            },
            grant(&c, ""),
        ],
        preview,
    };
    let preview = client
        .set_staff_access(second_request(true))
        .await
        .expect("preview")
        .into_inner();
    assert!(!preview.applied);
    assert!(
        system.allowed(&one, &b, "workflow.edit").await,
        "a preview writes nothing"
    );
    let applied = client
        .set_staff_access(second_request(false))
        .await
        .expect("apply")
        .into_inner();
    assert!(applied.applied);
    assert_eq!(
        (&preview.added, &preview.changed, &preview.removed),
        (&applied.added, &applied.changed, &applied.removed),
        "the preview is what applying did"
    );
    assert_eq!(
        (
            applied.added.len(),
            applied.changed.len(),
            applied.removed.len()
        ),
        (1, 1, 1)
    );
    assert_eq!(applied.changed[0].role_id_before, viewer);
    assert_eq!(applied.changed[0].role_id_after, approver);

    // A retry with the same id returns the first result and changes nothing.
    let audit_before = client
        .list_access_audit_events(org::ListAccessAuditEventsRequest {
            staff_id: one_id.clone(),
            ..Default::default()
        })
        .await
        .expect("audit")
        .into_inner()
        .events
        .len();
    let retried = client
        .set_staff_access(second_request(false))
        .await
        .expect("retry")
        .into_inner();
    assert_eq!(retried, applied);
    let audit = client
        .list_access_audit_events(org::ListAccessAuditEventsRequest {
            staff_id: one_id.clone(),
            ..Default::default()
        })
        .await
        .expect("audit")
        .into_inner()
        .events;
    assert_eq!(audit.len(), audit_before, "the retry wrote nothing");
    assert!(
        audit
            .iter()
            .all(|e| e.actor_name == "Owner of Changeset Practice")
    );
    let r2: Vec<&str> = audit
        .iter()
        .filter(|e| e.request_id == "r2")
        .map(|e| e.action.as_str())
        .collect();
    assert_eq!(r2.len(), 3, "{r2:?}");
    let reused = client
        .set_staff_access(org::SetStaffAccessRequest {
            entries: vec![grant(&c, &editor)],
            ..second_request(false)
        })
        .await
        .unwrap_err();
    assert_eq!(reused.code(), Code::FailedPrecondition);

    // Many members → one organisation.
    let into_a = client
        .set_organisation_access(org::SetOrganisationAccessRequest {
            request_id: "r3".into(),
            organisation_id: a.clone(),
            default_role_id: viewer.clone(),
            entries: vec![member_entry(&two_id, ""), member_entry(&three_id, &billing)],
            preview: false,
        })
        .await
        .expect("SetOrganisationAccess")
        .into_inner();
    assert_eq!(into_a.added.len(), 2);

    // All or nothing: one bad entry and nothing is applied, naming the entry.
    let members_of_b = |client: &mut org::org_access_service_client::OrgAccessServiceClient<
        system_tests::Authed,
    >| {
        let mut client = client.clone();
        let b = b.clone();
        async move {
            client
                .list_organisation_members(org::ListOrganisationMembersRequest {
                    organisation_id: b,
                    ..Default::default()
                })
                .await
                .expect("members")
                .into_inner()
                .memberships
                .len()
        }
    };
    let before = members_of_b(&mut client).await;
    let malformed = client
        .set_organisation_access(org::SetOrganisationAccessRequest {
            request_id: "r4".into(),
            organisation_id: b.clone(),
            default_role_id: viewer.clone(),
            entries: vec![
                member_entry(&two_id, ""),
                member_entry(&three_id, "not-a-role"),
            ],
            preview: false,
        })
        .await
        .unwrap_err();
    assert_eq!(violated_fields(&malformed), ["entries[1].role_id"]);
    let no_role = client
        .set_organisation_access(org::SetOrganisationAccessRequest {
            request_id: "r5".into(),
            organisation_id: b.clone(),
            default_role_id: String::new(),
            entries: vec![member_entry(&two_id, &viewer), member_entry(&three_id, "")],
            preview: false,
        })
        .await
        .unwrap_err();
    assert_eq!(violated_fields(&no_role), ["entries[1].role_id"]);
    let unknown_role = uuid::Uuid::now_v7().to_string();
    let missing = client
        .set_organisation_access(org::SetOrganisationAccessRequest {
            request_id: "r6".into(),
            organisation_id: b.clone(),
            default_role_id: viewer.clone(),
            entries: vec![
                member_entry(&two_id, ""),
                member_entry(&three_id, &unknown_role),
            ],
            preview: false,
        })
        .await
        .unwrap_err();
    assert_eq!(missing.code(), Code::NotFound);
    assert!(
        missing.message().starts_with("entries[1].role_id"),
        "{}",
        missing.message()
    );
    assert_eq!(
        members_of_b(&mut client).await,
        before,
        "nothing was applied"
    );

    // Managers only; another practice's ids are not found.
    let refused = system
        .org_access_as(&one)
        .await
        .set_staff_access(org::SetStaffAccessRequest {
            request_id: "r7".into(),
            staff_id: one_id.clone(),
            default_role_id: viewer.clone(),
            entries: vec![grant(&b, "")],
            preview: false,
        })
        .await
        .unwrap_err();
    assert_eq!(refused.code(), Code::PermissionDenied);
    assert_eq!(
        refused.message(),
        "managing access needs the Account Owner, Account Manager or User Manager role"
    );
    let stranger = system.practice_with_owner("Elsewhere").await;
    let foreign_org = system.create_org(&stranger, "Not Yours").await.id;
    let foreign = client
        .set_staff_access(org::SetStaffAccessRequest {
            request_id: "r8".into(),
            staff_id: one_id.clone(),
            default_role_id: viewer.clone(),
            entries: vec![grant(&foreign_org, "")],
            preview: false,
        })
        .await
        .unwrap_err();
    assert_eq!(foreign.code(), Code::NotFound);
    let stranger_staff = system.staff_member(&stranger, &stranger.email).await.id;
    let foreign = client
        .set_organisation_access(org::SetOrganisationAccessRequest {
            request_id: "r9".into(),
            organisation_id: a.clone(),
            default_role_id: viewer.clone(),
            entries: vec![member_entry(&stranger_staff, "")],
            preview: false,
        })
        .await
        .unwrap_err();
    assert_eq!(foreign.code(), Code::NotFound);

    // Who can access A, and what CheckAccess says.
    let members = client
        .list_organisation_members(org::ListOrganisationMembersRequest {
            organisation_id: a.clone(),
            ..Default::default()
        })
        .await
        .expect("members")
        .into_inner()
        .memberships;
    let mut roles: Vec<(String, String)> = members
        .iter()
        .map(|m| (m.staff_id.clone(), m.role_name.clone()))
        .collect();
    roles.sort();
    let mut expected = vec![
        (one_id.clone(), "Approver".to_owned()),
        (two_id.clone(), "Viewer".to_owned()),
        (three_id.clone(), "Billing Manager".to_owned()),
    ];
    expected.sort();
    assert_eq!(roles, expected);
    assert!(system.allowed(&one, &a, "workflow.approve").await);
    assert!(!system.allowed(&one, &b, "workflow.view").await, "revoked");
    assert!(system.allowed(&three, &a, "billing.refund").await);
    assert!(!system.allowed(&two, &a, "billing.refund").await);
    let batch = system
        .authorization()
        .await
        .check_access_batch(org::CheckAccessBatchRequest {
            user_id: one.user_id.clone(),
            queries: vec![
                org::AccessQuery {
                    organisation_id: a.clone(),
                    permission: "workflow.approve".into(),
                    location_id: String::new(),
                },
                org::AccessQuery {
                    organisation_id: b.clone(),
                    permission: "workflow.view".into(),
                    location_id: String::new(),
                },
                org::AccessQuery {
                    organisation_id: c.clone(),
                    permission: "calendar.view".into(),
                    location_id: String::new(),
                },
            ],
        })
        .await
        .expect("batch")
        .into_inner()
        .allowed;
    assert_eq!(batch, [true, false, true]);
    let why = system.explain_access(&one, &b, "workflow.view", "").await;
    assert_eq!(why.reason, org::DecisionReason::NoMembership as i32);
    let why = system.explain_access(&two, &a, "billing.refund", "").await;
    assert_eq!(why.reason, org::DecisionReason::PermissionNotInRole as i32);
    assert_eq!(why.role_name, "Viewer");
    let unknown_permission = system
        .authorization()
        .await
        .check_access(org::CheckAccessRequest {
            user_id: one.user_id.clone(),
            organisation_id: a.clone(),
            permission: "billing.steal".into(),
            location_id: String::new(),
        })
        .await
        .unwrap_err();
    assert_eq!(violated_fields(&unknown_permission), ["permission"]);

    // A role's permission change is in the very next check.
    let custom = client
        .create_role(org::CreateRoleRequest {
            request_id: String::new(),
            name: "Scheduler".into(),
            permissions: vec!["calendar.view".into()],
        })
        .await
        .expect("role")
        .into_inner();
    client
        .set_organisation_access(org::SetOrganisationAccessRequest {
            request_id: "r10".into(),
            organisation_id: c.clone(),
            default_role_id: custom.id.clone(),
            entries: vec![member_entry(&two_id, "")],
            preview: false,
        })
        .await
        .expect("grant the custom role");
    assert!(!system.allowed(&two, &c, "calendar.create").await);
    client
        .update_role(org::UpdateRoleRequest {
            role_id: custom.id.clone(),
            replace_permissions: true,
            permissions: vec!["calendar.view".into(), "calendar.create".into()],
            ..Default::default()
        })
        .await
        .expect("UpdateRole");
    assert!(system.allowed(&two, &c, "calendar.create").await);
}

async fn organisation_invitations_are_answered_one_by_one(backend: Backend) {
    let system = TestSystem::start(&backend).await;
    let owner = system.practice_with_owner("Invite Practice").await;
    let guest = system
        .member(&owner, "guest@orginvite.test", PracticeRole::Member)
        .await;
    let other = system
        .member(&owner, "other@orginvite.test", PracticeRole::Member)
        .await;
    let guest_id = system.staff_member(&owner, &guest.email).await.id;
    let orgs = [
        system.create_org(&owner, "First Org").await.id,
        system.create_org(&owner, "Second Org").await.id,
        system.create_org(&owner, "Third Org").await.id,
    ];
    let viewer = system.role_id(&owner, "Viewer").await;
    let mut client = system.org_access_as(&owner).await;

    let denied = system
        .org_access_as(&guest)
        .await
        .update_access_settings(org::UpdateAccessSettingsRequest {
            settings: Some(org::AccessSettings {
                require_acceptance: true,
            }),
        })
        .await
        .unwrap_err();
    assert_eq!(denied.code(), Code::PermissionDenied);
    client
        .update_access_settings(org::UpdateAccessSettingsRequest {
            settings: Some(org::AccessSettings {
                require_acceptance: true,
            }),
        })
        .await
        .expect("require acceptance");

    let offered = client
        .set_staff_access(org::SetStaffAccessRequest {
            request_id: "offer".into(),
            staff_id: guest_id.clone(),
            default_role_id: viewer.clone(),
            entries: orgs.iter().map(|o| grant(o, "")).collect(),
            preview: false,
        })
        .await
        .expect("offer")
        .into_inner();
    assert!(
        offered
            .added
            .iter()
            .all(|c| c.status_after == org::MembershipStatus::Invited as i32)
    );
    assert_eq!(
        offered.invitation_ids.len(),
        1,
        "one invitation for the whole changeset"
    );

    // One e-mail listing every organisation offered.
    let mail = system.wait_for_mail(&guest.email, 2).await;
    assert_eq!(
        mail.subject(),
        "Owner of Invite Practice gave you access to 3 organisations"
    );
    for name in ["First Org", "Second Org", "Third Org"] {
        assert!(mail.content.contains(name), "{name} in the e-mail");
    }
    assert_eq!(
        system
            .explain_access(&guest, &orgs[0], "organisation.view", "")
            .await
            .reason,
        org::DecisionReason::InvitationNotAccepted as i32
    );

    let mut own = system.org_access_as(&guest).await;
    let open = own
        .list_my_org_invitations(org::ListMyOrgInvitationsRequest {})
        .await
        .expect("my invitations")
        .into_inner()
        .memberships;
    assert_eq!(open.len(), 3);
    let membership_of = |org_id: &str| {
        open.iter()
            .find(|m| m.organisation_id == org_id)
            .expect("offered")
            .id
            .clone()
    };
    let accepted = own
        .accept_org_invitation(org::AnswerOrgInvitationRequest {
            membership_id: membership_of(&orgs[0]),
        })
        .await
        .expect("accept")
        .into_inner();
    assert_eq!(accepted.status, org::MembershipStatus::Active as i32);
    own.decline_org_invitation(org::AnswerOrgInvitationRequest {
        membership_id: membership_of(&orgs[1]),
    })
    .await
    .expect("decline");
    let again = own
        .accept_org_invitation(org::AnswerOrgInvitationRequest {
            membership_id: membership_of(&orgs[1]),
        })
        .await
        .unwrap_err();
    assert_eq!(again.code(), Code::FailedPrecondition);
    let not_theirs = system
        .org_access_as(&other)
        .await
        .accept_org_invitation(org::AnswerOrgInvitationRequest {
            membership_id: membership_of(&orgs[2]),
        })
        .await
        .unwrap_err();
    assert_eq!(not_theirs.code(), Code::NotFound);

    assert!(system.allowed(&guest, &orgs[0], "organisation.view").await);
    assert_eq!(
        system
            .explain_access(&guest, &orgs[1], "organisation.view", "")
            .await
            .reason,
        org::DecisionReason::NoMembership as i32
    );
    assert_eq!(
        system
            .explain_access(&guest, &orgs[2], "organisation.view", "")
            .await
            .reason,
        org::DecisionReason::InvitationNotAccepted as i32
    );
    let history = client
        .list_organisation_members(org::ListOrganisationMembersRequest {
            organisation_id: orgs[1].clone(),
            include_history: true,
            ..Default::default()
        })
        .await
        .expect("history")
        .into_inner()
        .memberships;
    assert_eq!(history.len(), 1);
    assert_eq!(
        history[0].status,
        org::MembershipStatus::Declined as i32,
        "declined is kept as history"
    );
}

async fn staff_events_and_location_limits_decide_access(backend: Backend) {
    let system = TestSystem::start(&backend).await;
    let owner = system.practice_with_owner("Event Practice").await;
    let nurse = system
        .member(&owner, "nurse@events.test", PracticeRole::Member)
        .await;
    let porter = system
        .member(&owner, "porter@events.test", PracticeRole::Member)
        .await;
    let leaver = system
        .member(&owner, "leaver@events.test", PracticeRole::Member)
        .await;
    let nurse_id = system.staff_member(&owner, &nurse.email).await.id;
    let porter_id = system.staff_member(&owner, &porter.email).await.id;
    let leaver_id = system.staff_member(&owner, &leaver.email).await.id;
    let clinic = system.create_org(&owner, "Clinic").await.id;
    let provider = system.role_id(&owner, "Provider").await;
    let mut staff_client = system.staff_as(&owner).await;
    let create_location = |name: &str| {
        let mut client = staff_client.clone();
        let name = name.to_owned();
        async move {
            client
                .create_location(staff::CreateLocationRequest {
                    request_id: String::new(),
                    name,
                })
                .await
                .expect("location")
                .into_inner()
                .id
        }
    };
    let north = create_location("North").await;
    let south = create_location("South").await;
    let mut client = system.org_access_as(&owner).await;

    // A membership limited to one location (once org-access knows the locations).
    eventually("org-access to know the locations", || {
        let mut client = client.clone();
        let request = org::SetOrganisationAccessRequest {
            request_id: "limited".into(),
            organisation_id: clinic.clone(),
            default_role_id: provider.clone(),
            entries: vec![
                org::AccessEntry {
                    staff_id: nurse_id.clone(),
                    location_ids: vec![north.clone()],
                    ..Default::default()
                },
                member_entry(&porter_id, ""),
                member_entry(&leaver_id, ""),
            ],
            preview: false,
        };
        async move { client.set_organisation_access(request).await.ok() }
    })
    .await;
    let unknown = client
        .set_staff_access(org::SetStaffAccessRequest {
            request_id: "unknown-location".into(),
            staff_id: porter_id.clone(),
            default_role_id: provider.clone(),
            entries: vec![org::AccessEntry {
                organisation_id: clinic.clone(),
                location_ids: vec![uuid::Uuid::now_v7().to_string()],
                ..Default::default()
            }],
            preview: false,
        })
        .await
        .unwrap_err();
    assert_eq!(unknown.code(), Code::NotFound);
    assert_eq!(
        system
            .explain_access(&nurse, &clinic, "calendar.create", &north)
            .await
            .reason,
        org::DecisionReason::Allowed as i32
    );
    assert_eq!(
        system
            .explain_access(&nurse, &clinic, "calendar.create", &south)
            .await
            .reason,
        org::DecisionReason::LocationNotAllowed as i32
    );
    assert!(
        system.allowed(&nurse, &clinic, "calendar.create").await,
        "organisation-wide actions are not limited"
    );

    // The member's own practice locations limit them too.
    staff_client
        .set_staff_locations(staff::SetStaffLocationsRequest {
            staff_id: porter_id.clone(),
            location_ids: vec![south.clone()],
        })
        .await
        .expect("porter works at South");
    eventually("org-access to limit the porter to South", || async {
        (system
            .explain_access(&porter, &clinic, "calendar.view", &north)
            .await
            .reason
            == org::DecisionReason::LocationNotAllowed as i32)
            .then_some(())
    })
    .await;
    assert!(
        system
            .explain_access(&porter, &clinic, "calendar.view", &south)
            .await
            .allowed
    );

    // Deactivation denies everywhere; reactivation restores the same memberships.
    staff_client
        .deactivate_staff(staff::DeactivateStaffRequest {
            staff_id: nurse_id.clone(),
        })
        .await
        .expect("deactivate");
    eventually("the deactivated nurse to be denied", || async {
        (system
            .explain_access(&nurse, &clinic, "calendar.view", "")
            .await
            .reason
            == org::DecisionReason::StaffDeactivated as i32)
            .then_some(())
    })
    .await;
    staff_client
        .reactivate_staff(staff::ReactivateStaffRequest {
            staff_id: nurse_id.clone(),
        })
        .await
        .expect("reactivate");
    eventually("the reactivated nurse to be allowed again", || async {
        system
            .explain_access(&nurse, &clinic, "calendar.create", &north)
            .await
            .allowed
            .then_some(())
    })
    .await;

    // Removal revokes memberships, kept as history, in the name of the person who removed them.
    staff_client
        .remove_staff(staff::RemoveStaffRequest {
            staff_id: leaver_id.clone(),
        })
        .await
        .expect("remove");
    eventually("the removed member to be denied", || async {
        (system
            .explain_access(&leaver, &clinic, "calendar.view", "")
            .await
            .reason
            == org::DecisionReason::StaffRemoved as i32)
            .then_some(())
    })
    .await;
    let history = eventually("the memberships to be revoked", || {
        let mut client = client.clone();
        let leaver_id = leaver_id.clone();
        async move {
            let access = client
                .list_staff_access(org::ListStaffAccessRequest {
                    staff_id: leaver_id,
                    include_history: true,
                })
                .await
                .ok()?
                .into_inner();
            access
                .memberships
                .iter()
                .all(|m| m.status == org::MembershipStatus::Revoked as i32)
                .then_some(access.memberships)
        }
    })
    .await;
    assert_eq!(history.len(), 1);
    // A removed member cannot approve, and the refusal names them as people read them.
    let refused = client
        .create_workflow(org::CreateWorkflowRequest {
            request_id: String::new(),
            organisation_id: clinic.clone(),
            name: "Sign-off".into(),
            steps: vec![step("Check", &[&leaver_id])],
        })
        .await
        .unwrap_err();
    assert_eq!(refused.code(), Code::FailedPrecondition);
    assert!(
        refused.message().contains(&format!(
            "Person {} <{}> is removed",
            leaver.email, leaver.email
        )),
        "{}",
        refused.message()
    );
    assert!(
        !refused.message().contains(&leaver_id),
        "{}",
        refused.message()
    );
    let audit = client
        .list_access_audit_events(org::ListAccessAuditEventsRequest {
            staff_id: leaver_id.clone(),
            ..Default::default()
        })
        .await
        .expect("audit")
        .into_inner()
        .events;
    let revoked = audit
        .iter()
        .find(|e| e.action == "membership.revoked")
        .expect("revocation audited");
    assert_eq!(revoked.actor_name, "Owner of Event Practice");
    assert!(
        revoked.request_id.starts_with("event:"),
        "{}",
        revoked.request_id
    );
}

async fn concurrent_changesets_leave_one_membership(backend: Backend) {
    let system = TestSystem::start(&backend).await;
    let owner = system.practice_with_owner("Race Practice").await;
    let racer = system
        .member(&owner, "racer@race.test", PracticeRole::Member)
        .await;
    let racer_id = system.staff_member(&owner, &racer.email).await.id;
    let organisation = system.create_org(&owner, "Contested").await.id;
    let viewer = system.role_id(&owner, "Viewer").await;
    let editor = system.role_id(&owner, "Editor").await;
    let second = system.create_org(&owner, "Second").await.id;
    let request = |request_id: String, organisation: &str, role: &str| org::SetStaffAccessRequest {
        request_id,
        staff_id: racer_id.clone(),
        default_role_id: role.to_owned(),
        entries: vec![grant(organisation, "")],
        preview: false,
    };

    // Eight managers' changesets for the same pair at once: each either applies or is told
    // to retry (ABORTED), and the pair ends with exactly one membership.
    let attempts = (0..8).map(|i| {
        let role = if i % 2 == 0 { &viewer } else { &editor };
        let request = request(format!("race-{i}"), &organisation, role);
        let system = &system;
        let owner = &owner;
        async move {
            system
                .org_access_as(owner)
                .await
                .set_staff_access(request)
                .await
        }
    });
    let results = futures::future::join_all(attempts).await;
    let mut applied = 0;
    for result in results {
        match result {
            Ok(reply) => {
                assert!(reply.get_ref().applied);
                applied += 1;
            }
            Err(status) => assert_eq!(status.code(), Code::Aborted, "{status:?}"),
        }
    }
    assert!(applied >= 1);
    let mut client = system.org_access_as(&owner).await;
    let access = client
        .list_staff_access(org::ListStaffAccessRequest {
            staff_id: racer_id.clone(),
            include_history: true,
        })
        .await
        .expect("ListStaffAccess")
        .into_inner()
        .memberships;
    let contested: Vec<_> = access
        .iter()
        .filter(|m| m.organisation_id == organisation)
        .collect();
    assert_eq!(contested.len(), 1, "{access:?}");
    assert_eq!(contested[0].status, org::MembershipStatus::Active as i32);

    // The same request id sent four times at once is applied once: every answer is the
    // first one's, and the audit log holds one change for it.
    let same = (0..4).map(|_| {
        let request = request("same-request".into(), &second, &viewer);
        let system = &system;
        let owner = &owner;
        async move {
            system
                .org_access_as(owner)
                .await
                .set_staff_access(request)
                .await
                .map(tonic::Response::into_inner)
        }
    });
    let replies: Vec<org::AccessChangeResult> = futures::future::join_all(same)
        .await
        .into_iter()
        .map(|r| r.expect("a retry by request id is answered, not refused"))
        .collect();
    assert_eq!(replies[0].added.len(), 1);
    assert!(replies.iter().all(|r| *r == replies[0]), "{replies:?}");
    let audit = client
        .list_access_audit_events(org::ListAccessAuditEventsRequest {
            staff_id: racer_id.clone(),
            ..Default::default()
        })
        .await
        .expect("audit")
        .into_inner()
        .events;
    let for_same = audit
        .iter()
        .filter(|e| e.request_id == "same-request")
        .count();
    assert_eq!(for_same, 1, "{audit:?}");
}

/// A decision asked again and again (remembered by org-access on SQLite) follows each write
/// that changes it at once: a role losing and regaining the permission, the access revoked
/// and granted again, the organisation archived; and a staff event as soon as it is applied.
async fn every_write_changes_the_next_decision(backend: Backend) {
    let system = TestSystem::start(&backend).await;
    let owner = system.practice_with_owner("Decision Practice").await;
    let clerk = system
        .member(&owner, "clerk@decisions.test", PracticeRole::Member)
        .await;
    let clerk_id = system.staff_member(&owner, &clerk.email).await.id;
    let books = system.create_org(&owner, "Books").await.id;
    let mut client = system.org_access_as(&owner).await;
    let reader = client
        .create_role(org::CreateRoleRequest {
            request_id: String::new(),
            name: "Reader".into(),
            permissions: vec!["organisation.view".into()],
        })
        .await
        .expect("role")
        .into_inner()
        .id;
    let set_access = |request_id: &str, remove: bool| {
        let mut client = client.clone();
        let request = org::SetStaffAccessRequest {
            request_id: request_id.into(),
            staff_id: clerk_id.clone(),
            entries: vec![org::AccessEntry {
                remove,
                ..grant(&books, &reader)
            }],
            ..Default::default()
        };
        async move {
            client.set_staff_access(request).await.expect("access");
        }
    };
    let set_permissions = |permissions: &[&str]| {
        let mut client = client.clone();
        let request = org::UpdateRoleRequest {
            role_id: reader.clone(),
            replace_permissions: true,
            permissions: permissions.iter().map(|p| (*p).to_owned()).collect(),
            ..Default::default()
        };
        async move {
            client.update_role(request).await.expect("update role");
        }
    };
    let asked_twice = || async {
        let first = system.allowed(&clerk, &books, "organisation.view").await;
        let second = system.allowed(&clerk, &books, "organisation.view").await;
        assert_eq!(first, second, "the same question, nothing written between");
        first
    };

    set_access("grant", false).await;
    assert!(asked_twice().await);
    set_permissions(&["calendar.create"]).await;
    assert!(!asked_twice().await, "the role lost the permission");
    set_permissions(&["organisation.view"]).await;
    assert!(asked_twice().await, "the role has it again");
    set_access("revoke", true).await;
    assert!(!asked_twice().await, "access revoked");
    set_access("grant-again", false).await;
    assert!(asked_twice().await, "access granted again");

    system
        .staff_as(&owner)
        .await
        .deactivate_staff(staff::DeactivateStaffRequest {
            staff_id: clerk_id.clone(),
        })
        .await
        .expect("deactivate");
    eventually("the deactivation to reach org-access", || async {
        (!system.allowed(&clerk, &books, "organisation.view").await).then_some(())
    })
    .await;
    assert!(!asked_twice().await, "deactivated stays refused");
    system
        .staff_as(&owner)
        .await
        .reactivate_staff(staff::ReactivateStaffRequest {
            staff_id: clerk_id.clone(),
        })
        .await
        .expect("reactivate");
    eventually("the reactivation to reach org-access", || async {
        system
            .allowed(&clerk, &books, "organisation.view")
            .await
            .then_some(())
    })
    .await;

    client
        .archive_organisation(org::ArchiveOrganisationRequest {
            organisation_id: books.clone(),
        })
        .await
        .expect("archive");
    assert!(!asked_twice().await, "the organisation is archived");
    assert_eq!(
        system
            .explain_access(&clerk, &books, "organisation.view", "")
            .await
            .reason,
        org::DecisionReason::OrganisationArchived as i32
    );
}
