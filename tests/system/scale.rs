//! CheckAccess on a practice of realistic size, seeded through the API: 1,000 organisations,
//! 500 staff with ten organisations each, checked against a model of what was granted.

use std::collections::HashMap;

use futures::{StreamExt, stream};
use ps_proto::common::v1::PracticeRole;
use ps_proto::orgaccess::v1 as org;
use ps_proto::staff::v1 as staff;
use system_tests::{Backend, TestSystem, eventually, on_every_backend};

on_every_backend!(check_access_on_a_thousand_organisations_and_five_hundred_staff);

const ORGANISATIONS: usize = 1000;
const STAFF: usize = 500;
const ORGS_EACH: usize = 10;
const IN_FLIGHT: usize = 16;

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
    let tokens = eventually("every invitation e-mail", || async {
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
    eventually("org-access to know all 500 members", || {
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
