//! A practice of realistic size, seeded through the API: CheckAccess on 1,000 organisations and
//! 500 staff with ten organisations each, checked against a model of what was granted; and the
//! offboarding of a member present in 1,000 organisations and 10,000 workflow steps, with every
//! row checked afterwards.

use std::collections::HashMap;
use std::time::Instant;

use futures::{StreamExt, stream};
use ps_proto::common::v1::PracticeRole;
use ps_proto::orgaccess::v1 as org;
use ps_proto::staff::v1 as staff;
use system_tests::{Backend, TestSystem, eventually, eventually_within, on_every_backend};

on_every_backend!(
    check_access_on_a_thousand_organisations_and_five_hundred_staff,
    offboarding_a_member_of_a_thousand_organisations_and_ten_thousand_steps,
);

const ORGANISATIONS: usize = 1000;
const STAFF: usize = 500;
const ORGS_EACH: usize = 10;
const IN_FLIGHT: usize = 16;
/// Waits on 500 e-mails or roster rows: several scale tests share two cores in CI.
const BULK_PATIENCE: std::time::Duration = std::time::Duration::from_secs(90);

/// Permissions of the built-in roles used here, as documented.
fn permissions(role: &str) -> &'static [&'static str] {
    match role {
        "Viewer" => &[
            "calendar.view",
            "billing.view_reports",
            "clinical.view_charts",
            "workflow.view",
            "organisation.view",
        ],
        "Editor" => &[
            "workflow.view",
            "workflow.edit",
            "calendar.view",
            "calendar.create",
            "organisation.view",
        ],
        "Billing Manager" => &[
            "billing.view_reports",
            "billing.process_payments",
            "billing.refund",
            "calendar.view",
            "organisation.view",
        ],
        _ => &[],
    }
}

const ROLES: [&str; 3] = ["Viewer", "Editor", "Billing Manager"];
const ASKED: [&str; 6] = [
    "calendar.view",
    "calendar.create",
    "billing.refund",
    "workflow.edit",
    "clinical.write_notes",
    "organisation.view",
];

/// The organisations member `i` gets, and with which role.
fn grants(i: usize) -> Vec<(usize, &'static str)> {
    (0..ORGS_EACH)
        .map(|k| {
            (
                (i * 7 + k * 131) % ORGANISATIONS,
                ROLES[(i + k) % ROLES.len()],
            )
        })
        .collect()
}

async fn check_access_on_a_thousand_organisations_and_five_hundred_staff(backend: Backend) {
    let system = TestSystem::start_with_cheap_hashing(&backend).await;
    let owner = system.practice_with_owner("Big Partner").await;

    let orgs = system.org_access_as(&owner).await;
    system.create_org(&owner, "Organisation 0").await;
    let created: Vec<String> = stream::iter(1..ORGANISATIONS)
        .map(|n| {
            let mut orgs = orgs.clone();
            async move {
                orgs.create_organisation(org::CreateOrganisationRequest {
                    request_id: String::new(),
                    name: format!("Organisation {n}"),
                })
                .await
                .expect("CreateOrganisation")
                .into_inner()
            }
        })
        .buffered(IN_FLIGHT)
        .map(|o| o.id)
        .collect()
        .await;
    let mut organisation_ids = vec![String::new(); ORGANISATIONS];
    let listed = {
        let mut all = Vec::new();
        let mut token = String::new();
        loop {
            let page = orgs
                .clone()
                .list_organisations(org::ListOrganisationsRequest {
                    page: Some(ps_proto::common::v1::PageRequest {
                        page_size: 500,
                        page_token: token,
                    }),
                    ..Default::default()
                })
                .await
                .expect("ListOrganisations")
                .into_inner();
            all.extend(page.organisations);
            if page.next_page_token.is_empty() {
                break all;
            }
            token = page.next_page_token;
        }
    };
    assert_eq!(listed.len(), ORGANISATIONS);
    for o in listed {
        let n: usize = o
            .name
            .trim_start_matches("Organisation ")
            .parse()
            .expect("numbered");
        organisation_ids[n] = o.id;
    }
    assert!(created.iter().all(|id| organisation_ids.contains(id)));

    // 500 staff, invited and accepted through the API.
    let staff_client = system.staff_as(&owner).await;
    let emails: Vec<String> = (0..STAFF).map(|i| format!("person{i}@big.test")).collect();
    stream::iter(emails.clone())
        .for_each_concurrent(IN_FLIGHT, |email| {
            let mut client = staff_client.clone();
            async move {
                client
                    .invite_staff(staff::InviteStaffRequest {
                        email,
                        name: "Big Person".into(),
                        practice_role: PracticeRole::Member as i32,
                        ..Default::default()
                    })
                    .await
                    .expect("InviteStaff");
            }
        })
        .await;
    let tokens = eventually_within(BULK_PATIENCE, "every invitation e-mail", || async {
        let tokens = system.invitation_tokens();
        emails
            .iter()
            .all(|e| tokens.contains_key(e))
            .then_some(tokens)
    })
    .await;
    let people: Vec<(String, String)> = stream::iter(emails.iter().map(|e| tokens[e].clone()))
        .map(|token| {
            let system = &system;
            async move {
                let accepted = system
                    .accept(&token, "a big password")
                    .await
                    .expect("accept");
                (accepted.user_id, accepted.staff_id)
            }
        })
        .buffered(IN_FLIGHT)
        .collect()
        .await;

    // Ten organisations each, one changeset per member.
    let viewer_role = system.role_id(&owner, "Viewer").await;
    let role_ids: HashMap<&str, String> = {
        let mut ids = HashMap::new();
        for name in ROLES {
            ids.insert(name, system.role_id(&owner, name).await);
        }
        ids
    };
    let authorization = system.authorization().await;
    eventually_within(BULK_PATIENCE, "org-access to know all 500 members", || {
        let authorization = authorization.clone();
        let people = people.clone();
        let first_org = organisation_ids[0].clone();
        async move {
            let statuses: Vec<i32> = stream::iter(people)
                .map(|(user, _)| {
                    let mut authorization = authorization.clone();
                    let org = first_org.clone();
                    async move {
                        authorization
                            .explain_access(org::ExplainAccessRequest {
                                user_id: user,
                                organisation_id: org,
                                permission: "organisation.view".into(),
                                location_id: String::new(),
                            })
                            .await
                            .map(|d| d.into_inner().reason)
                            .unwrap_or_default()
                    }
                })
                .buffer_unordered(IN_FLIGHT)
                .collect()
                .await;
            statuses
                .iter()
                .all(|r| {
                    *r != org::DecisionReason::NotPracticeStaff as i32
                        && *r != org::DecisionReason::StaffNotActive as i32
                })
                .then_some(())
        }
    })
    .await;
    stream::iter(people.iter().enumerate())
        .for_each_concurrent(IN_FLIGHT, |(i, (_, staff_id))| {
            let mut orgs = orgs.clone();
            let request = org::SetStaffAccessRequest {
                request_id: format!("seed-{i}"),
                staff_id: staff_id.clone(),
                default_role_id: viewer_role.clone(),
                entries: grants(i)
                    .into_iter()
                    .map(|(o, role)| org::AccessEntry {
                        organisation_id: organisation_ids[o].clone(),
                        role_id: role_ids[role].clone(),
                        ..Default::default()
                    })
                    .collect(),
                preview: false,
            };
            async move {
                let result = orgs
                    .set_staff_access(request)
                    .await
                    .expect("SetStaffAccess")
                    .into_inner();
                assert_eq!(result.added.len(), ORGS_EACH);
            }
        })
        .await;

    // Every fifth member asks about their ten organisations and ten they lack, for six
    // permissions each: 120 answers per member, 12,000 in all, each against the model.
    let mut checked = 0;
    for (i, (user, _)) in people.iter().enumerate().step_by(5) {
        let granted: HashMap<usize, &str> = grants(i).into_iter().collect();
        let others = (0..ORGS_EACH)
            .map(|k| (i * 13 + k * 37 + 500) % ORGANISATIONS)
            .filter(|o| !granted.contains_key(o));
        let asked_orgs: Vec<usize> = granted.keys().copied().chain(others).collect();
        let queries: Vec<(usize, &str)> = asked_orgs
            .iter()
            .flat_map(|o| ASKED.iter().map(move |p| (*o, *p)))
            .collect();
        let answers = authorization
            .clone()
            .check_access_batch(org::CheckAccessBatchRequest {
                user_id: user.clone(),
                queries: queries
                    .iter()
                    .map(|(o, permission)| org::AccessQuery {
                        organisation_id: organisation_ids[*o].clone(),
                        permission: (*permission).into(),
                        location_id: String::new(),
                    })
                    .collect(),
            })
            .await
            .expect("CheckAccessBatch")
            .into_inner()
            .allowed;
        for ((o, permission), answer) in queries.iter().zip(answers) {
            let expected = granted
                .get(o)
                .is_some_and(|role| permissions(role).contains(permission));
            assert_eq!(
                answer, expected,
                "member {i}, organisation {o}, {permission}"
            );
            checked += 1;
        }
    }
    assert!(checked >= 10_000, "{checked} answers checked");
}

const WORKFLOWS_EACH: usize = 2;
const STEPS_EACH: usize = 5;
const LEAVER_ROLES: [&str; 3] = ["Approver", "Editor", "Viewer"];

/// Who approves step `k` of workflow `w` in organisation `n`, besides the leaver.
fn co_approvers(n: usize, w: usize, k: usize) -> (bool, bool) {
    let i = n * WORKFLOWS_EACH * STEPS_EACH + w * STEPS_EACH + k;
    (i.is_multiple_of(7), i.is_multiple_of(3))
}

/// The replacement already works in every fifth organisation, as a Viewer.
fn replacement_already_in(n: usize) -> bool {
    n.is_multiple_of(5)
}

async fn offboarding_a_member_of_a_thousand_organisations_and_ten_thousand_steps(backend: Backend) {
    let system = TestSystem::start(&backend).await;
    let owner = system.practice_with_owner("Large Handover").await;
    let leaver = system
        .member(&owner, "leaver@large.test", PracticeRole::Member)
        .await;
    let replacement = system
        .member(&owner, "replacement@large.test", PracticeRole::Member)
        .await;
    let colleague = system
        .member(&owner, "colleague@large.test", PracticeRole::Member)
        .await;
    let leaver_id = system.staff_member(&owner, &leaver.email).await.id;
    let replacement_id = system.staff_member(&owner, &replacement.email).await.id;
    let colleague_id = system.staff_member(&owner, &colleague.email).await.id;

    let orgs = system.org_access_as(&owner).await;
    system.create_org(&owner, "Client 0").await;
    let mut organisation_ids: Vec<String> = vec![String::new(); ORGANISATIONS];
    let created: Vec<(usize, String)> = stream::iter(1..ORGANISATIONS)
        .map(|n| {
            let mut orgs = orgs.clone();
            async move {
                let id = orgs
                    .create_organisation(org::CreateOrganisationRequest {
                        request_id: String::new(),
                        name: format!("Client {n}"),
                    })
                    .await
                    .expect("CreateOrganisation")
                    .into_inner()
                    .id;
                (n, id)
            }
        })
        .buffered(IN_FLIGHT)
        .collect()
        .await;
    for (n, id) in created {
        organisation_ids[n] = id;
    }
    organisation_ids[0] = orgs
        .clone()
        .list_organisations(org::ListOrganisationsRequest {
            query: "Client 0".into(),
            ..Default::default()
        })
        .await
        .expect("ListOrganisations")
        .into_inner()
        .organisations
        .into_iter()
        .find(|o| o.name == "Client 0")
        .expect("Client 0")
        .id;

    let role_ids: HashMap<&str, String> = {
        let mut ids = HashMap::new();
        for name in LEAVER_ROLES {
            ids.insert(name, system.role_id(&owner, name).await);
        }
        ids
    };
    let leaver_role = |n: usize| LEAVER_ROLES[n % LEAVER_ROLES.len()];
    let seeded = orgs
        .clone()
        .set_staff_access(org::SetStaffAccessRequest {
            request_id: "seed-leaver".into(),
            staff_id: leaver_id.clone(),
            default_role_id: String::new(),
            entries: (0..ORGANISATIONS)
                .map(|n| org::AccessEntry {
                    organisation_id: organisation_ids[n].clone(),
                    role_id: role_ids[leaver_role(n)].clone(),
                    ..Default::default()
                })
                .collect(),
            preview: false,
        })
        .await
        .expect("SetStaffAccess for the leaver")
        .into_inner();
    assert_eq!(seeded.added.len(), ORGANISATIONS);
    orgs.clone()
        .set_staff_access(org::SetStaffAccessRequest {
            request_id: "seed-replacement".into(),
            staff_id: replacement_id.clone(),
            default_role_id: role_ids["Viewer"].clone(),
            entries: (0..ORGANISATIONS)
                .filter(|n| replacement_already_in(*n))
                .map(|n| org::AccessEntry {
                    organisation_id: organisation_ids[n].clone(),
                    ..Default::default()
                })
                .collect(),
            preview: false,
        })
        .await
        .expect("SetStaffAccess for the replacement");

    // Two workflows of five steps in each organisation, the leaver approving in all 10,000.
    stream::iter((0..ORGANISATIONS).flat_map(|n| (0..WORKFLOWS_EACH).map(move |w| (n, w))))
        .for_each_concurrent(IN_FLIGHT, |(n, w)| {
            let mut orgs = orgs.clone();
            let request = org::CreateWorkflowRequest {
                request_id: String::new(),
                organisation_id: organisation_ids[n].clone(),
                name: format!("Process {w}"),
                steps: (0..STEPS_EACH)
                    .map(|k| {
                        let (with_replacement, with_colleague) = co_approvers(n, w, k);
                        let mut approvers = vec![leaver_id.clone()];
                        if with_replacement {
                            approvers.push(replacement_id.clone());
                        }
                        if with_colleague {
                            approvers.push(colleague_id.clone());
                        }
                        org::StepInput {
                            name: format!("Step {k}"),
                            approver_staff_ids: approvers,
                        }
                    })
                    .collect(),
            };
            async move {
                orgs.create_workflow(request).await.expect("CreateWorkflow");
            }
        })
        .await;
    let steps = ORGANISATIONS * WORKFLOWS_EACH * STEPS_EACH;
    let shared_steps = (0..ORGANISATIONS)
        .flat_map(|n| {
            (0..WORKFLOWS_EACH).flat_map(move |w| (0..STEPS_EACH).map(move |k| (n, w, k)))
        })
        .filter(|(n, w, k)| co_approvers(*n, *w, *k).0)
        .count();

    // The preview.
    let started = Instant::now();
    let plan = orgs
        .clone()
        .preview_offboarding(org::PreviewOffboardingRequest {
            staff_id: leaver_id.clone(),
            replacement_id: replacement_id.clone(),
            existing_access: 0,
        })
        .await
        .expect("PreviewOffboarding")
        .into_inner();
    let previewed_in = started.elapsed();
    let counts = plan.counts.expect("counts");
    let kept = (0..ORGANISATIONS)
        .filter(|n| replacement_already_in(*n))
        .count();
    assert_eq!(counts.organisations as usize, ORGANISATIONS);
    assert_eq!(counts.memberships_revoked as usize, ORGANISATIONS);
    assert_eq!(counts.memberships_granted as usize, ORGANISATIONS - kept);
    assert_eq!(counts.memberships_changed, 0);
    assert_eq!(counts.steps_reassigned as usize, steps);
    assert_eq!(plan.steps.len(), steps);
    assert_eq!(
        plan.steps
            .iter()
            .filter(|s| s.action == org::StepAction::DropLeaver as i32)
            .count(),
        shared_steps
    );

    // The offboarding, timed from the request to the completed result.
    let mut directory = system.staff_as(&owner).await;
    let started = Instant::now();
    let requested = directory
        .offboard_staff(staff::OffboardStaffRequest {
            request_id: String::new(),
            staff_id: leaver_id.clone(),
            replacement_id: replacement_id.clone(),
            existing_access: 0,
        })
        .await
        .expect("OffboardStaff")
        .into_inner();
    let done = eventually("the large offboarding to complete", || {
        let mut directory = directory.clone();
        let id = requested.id.clone();
        async move {
            let found = directory
                .get_offboarding(staff::GetOffboardingRequest { offboarding_id: id })
                .await
                .ok()?
                .into_inner();
            (found.status != staff::OffboardingStatus::Requested as i32).then_some(found)
        }
    })
    .await;
    let completed_in = started.elapsed();
    assert_eq!(
        done.status,
        staff::OffboardingStatus::Completed as i32,
        "{done:?}"
    );
    assert_eq!(done.counts, Some(counts));
    println!(
        "offboarding {ORGANISATIONS} organisations / {steps} steps on {}: preview {} ms, request to completed {} ms",
        backend.name(),
        previewed_in.as_millis(),
        completed_in.as_millis()
    );

    // Every row: the leaver holds nothing and approves nowhere.
    let access = |staff_id: String, history: bool| {
        let mut orgs = orgs.clone();
        async move {
            orgs.list_staff_access(org::ListStaffAccessRequest {
                staff_id,
                include_history: history,
            })
            .await
            .expect("ListStaffAccess")
            .into_inner()
        }
    };
    let left = access(leaver_id.clone(), true).await;
    assert_eq!(left.memberships.len(), ORGANISATIONS);
    assert!(
        left.memberships
            .iter()
            .all(|m| m.status == org::MembershipStatus::Revoked as i32)
    );
    assert!(left.steps.is_empty());

    // The replacement holds every organisation, with the leaver's role where they were new.
    let holds = access(replacement_id.clone(), false).await;
    assert_eq!(holds.memberships.len(), ORGANISATIONS);
    assert_eq!(holds.steps.len(), steps);
    let by_org: HashMap<&str, &org::Membership> = holds
        .memberships
        .iter()
        .map(|m| (m.organisation_id.as_str(), m))
        .collect();
    for (n, id) in organisation_ids.iter().enumerate() {
        let membership = by_org[id.as_str()];
        let expected = if replacement_already_in(n) {
            "Viewer"
        } else {
            leaver_role(n)
        };
        assert_eq!(membership.role_name, expected, "organisation {n}");
        assert_eq!(membership.status, org::MembershipStatus::Active as i32);
    }

    // Every step: the replacement exactly once, the leaver never, the colleague as before.
    let checked: usize = stream::iter(organisation_ids.iter().enumerate())
        .map(|(n, id)| {
            let mut orgs = orgs.clone();
            let (leaver_id, replacement_id, colleague_id) = (
                leaver_id.clone(),
                replacement_id.clone(),
                colleague_id.clone(),
            );
            async move {
                let workflows = orgs
                    .list_workflows(org::ListWorkflowsRequest {
                        organisation_id: id.clone(),
                    })
                    .await
                    .expect("ListWorkflows")
                    .into_inner()
                    .workflows;
                assert_eq!(workflows.len(), WORKFLOWS_EACH);
                let mut seen = 0;
                for workflow in workflows {
                    let w: usize = workflow
                        .name
                        .trim_start_matches("Process ")
                        .parse()
                        .expect("numbered");
                    for step in workflow.steps {
                        let k = step.position as usize - 1;
                        let approvers = &step.approver_staff_ids;
                        let count = |who: &str| approvers.iter().filter(|a| *a == who).count();
                        assert_eq!(count(&replacement_id), 1, "{n}/{w}/{k}: {approvers:?}");
                        assert_eq!(count(&leaver_id), 0, "{n}/{w}/{k}");
                        let with_colleague = co_approvers(n, w, k).1;
                        assert_eq!(count(&colleague_id), usize::from(with_colleague));
                        assert_eq!(approvers.len(), 1 + usize::from(with_colleague));
                        seen += 1;
                    }
                }
                seen
            }
        })
        .buffer_unordered(IN_FLIGHT)
        .fold(0, |total, seen| async move { total + seen })
        .await;
    assert_eq!(checked, steps);
}
