//! Retried creating requests (AIP-155 request ids): a retry with the same id answers with what
//! the first request created — never a duplicate, never ALREADY_EXISTS — even when copies race;
//! the same id with a different request is refused.

use ps_proto::common::v1::PracticeRole;
use ps_proto::notification::v1 as notification;
use ps_proto::orgaccess::v1 as orgaccess;
use ps_proto::staff::v1 as staff;
use system_tests::{Backend, Code, TestSystem, eventually, on_every_backend, violated_fields};

on_every_backend!(
    a_retried_invitation_answers_with_the_member_it_created,
    every_creating_rpc_answers_a_retry_with_what_it_created,
);

fn invitation(email: &str, request_id: &str) -> staff::InviteStaffRequest {
    staff::InviteStaffRequest {
        email: email.into(),
        name: "Ada Lovelace".into(),
        practice_role: PracticeRole::Member as i32,
        request_id: request_id.into(),
        ..Default::default()
    }
}

async fn a_retried_invitation_answers_with_the_member_it_created(backend: Backend) {
    let system = TestSystem::start(&backend).await;
    let owner = system.practice_with_owner("Retry Practice").await;
    let client = system.staff_as(&owner).await;

    let first = client
        .clone()
        .invite_staff(invitation("ada@retry.test", "invite-ada"))
        .await
        .expect("first InviteStaff")
        .into_inner();
    let retried = client
        .clone()
        .invite_staff(invitation("ada@retry.test", "invite-ada"))
        .await
        .expect("the retry answers, not ALREADY_EXISTS")
        .into_inner();
    assert_eq!(retried.id, first.id);
    assert_eq!(retried.invitation_count, 1, "invited once");

    // Copies racing (a client that retried before the first answer came back): all answer
    // with one member.
    let racing: Vec<_> = (0..8)
        .map(|_| {
            let mut client = client.clone();
            tokio::spawn(async move {
                client
                    .invite_staff(invitation("bo@retry.test", "invite-bo"))
                    .await
                    .map(|r| r.into_inner().id)
            })
        })
        .collect();
    let mut ids = Vec::new();
    for copy in racing {
        ids.push(copy.await.expect("task").expect("every copy answers OK"));
    }
    ids.dedup();
    assert_eq!(ids.len(), 1, "one member for eight copies: {ids:?}");

    // The same id for another request is a mistake, said so.
    let reused = client
        .clone()
        .invite_staff(invitation("cy@retry.test", "invite-ada"))
        .await
        .unwrap_err();
    assert_eq!(reused.code(), Code::FailedPrecondition);
    assert!(
        reused.message().contains("invite-ada"),
        "{}",
        reused.message()
    );
    // Without a request id a second invitation is still a duplicate.
    let duplicate = client
        .clone()
        .invite_staff(invitation("ada@retry.test", ""))
        .await
        .unwrap_err();
    assert_eq!(duplicate.code(), Code::AlreadyExists);
    let malformed = client
        .clone()
        .invite_staff(invitation("dee@retry.test", "not a valid id"))
        .await
        .unwrap_err();
    assert_eq!(violated_fields(&malformed), ["request_id"]);

    // One e-mail each, however many times they were asked for.
    for email in ["ada@retry.test", "bo@retry.test"] {
        system.wait_for_mail(email, 1).await;
    }
    let log = system.notification_as(&owner).await;
    for email in ["ada@retry.test", "bo@retry.test"] {
        let deliveries = eventually(&format!("{email}'s delivery logged"), || {
            let mut log = log.clone();
            async move {
                let found = log
                    .list_deliveries(notification::ListDeliveriesRequest {
                        recipient: email.into(),
                        ..Default::default()
                    })
                    .await
                    .ok()?
                    .into_inner()
                    .deliveries;
                (!found.is_empty()).then_some(found)
            }
        })
        .await;
        assert_eq!(deliveries.len(), 1, "{email}: one e-mail");
    }
    assert!(system.mails_to("cy@retry.test").is_empty());
}

async fn every_creating_rpc_answers_a_retry_with_what_it_created(backend: Backend) {
    let system = TestSystem::start(&backend).await;
    let operator = system.staff_as_operator().await;
    let practice = |request_id: &str| staff::CreatePracticeRequest {
        name: "Twice Practice".into(),
        owner_email: "owner@twice.test".into(),
        owner_name: "Olive Owner".into(),
        request_id: request_id.into(),
    };
    let first = operator
        .clone()
        .create_practice(practice("practice-twice"))
        .await
        .expect("CreatePractice")
        .into_inner();
    let again = operator
        .clone()
        .create_practice(practice("practice-twice"))
        .await
        .expect("retried CreatePractice")
        .into_inner();
    assert_eq!(
        again.practice.expect("practice").id,
        first.practice.expect("practice").id
    );
    assert_eq!(
        again.owner.expect("owner").id,
        first.owner.expect("owner").id
    );

    let owner = system.practice_with_owner("Retries").await;
    let staff = system.staff_as(&owner).await;
    let location = |request_id: &str| staff::CreateLocationRequest {
        name: "North Clinic".into(),
        request_id: request_id.into(),
    };
    let north = staff
        .clone()
        .create_location(location("north"))
        .await
        .expect("CreateLocation")
        .into_inner();
    let north_again = staff
        .clone()
        .create_location(location("north"))
        .await
        .expect("retried CreateLocation")
        .into_inner();
    assert_eq!(north_again.id, north.id);

    let pending = system
        .invite(&owner, "pending@retries.test", PracticeRole::Member)
        .await;
    let reinvite = |request_id: &str| staff::ReinviteStaffRequest {
        staff_id: pending.id.clone(),
        request_id: request_id.into(),
    };
    let reinvited = staff
        .clone()
        .reinvite_staff(reinvite("reinvite-1"))
        .await
        .expect("ReinviteStaff")
        .into_inner();
    let reinvited_again = staff
        .clone()
        .reinvite_staff(reinvite("reinvite-1"))
        .await
        .expect("retried ReinviteStaff")
        .into_inner();
    assert_eq!(reinvited.invitation_count, 2);
    assert_eq!(reinvited_again.invitation_count, 2, "reinvited once");

    let orgs = system.org_access_as(&owner).await;
    let organisation = |request_id: &str| orgaccess::CreateOrganisationRequest {
        name: "Client One".into(),
        request_id: request_id.into(),
    };
    let created = eventually("org-access to know the owner", || {
        let mut orgs = orgs.clone();
        async move {
            orgs.create_organisation(organisation("client-one"))
                .await
                .ok()
                .map(tonic::Response::into_inner)
        }
    })
    .await;
    let created_again = orgs
        .clone()
        .create_organisation(organisation("client-one"))
        .await
        .expect("retried CreateOrganisation")
        .into_inner();
    assert_eq!(created_again.id, created.id);
    let role = |request_id: &str| orgaccess::CreateRoleRequest {
        name: "Night Desk".into(),
        permissions: vec!["calendar.view".into()],
        request_id: request_id.into(),
    };
    let night = orgs
        .clone()
        .create_role(role("night-desk"))
        .await
        .expect("CreateRole")
        .into_inner();
    let night_again = orgs
        .clone()
        .create_role(role("night-desk"))
        .await
        .expect("retried CreateRole")
        .into_inner();
    assert_eq!(night_again.id, night.id);
    let approver = system.staff_member(&owner, &owner.email).await.id;
    let workflow = |request_id: &str| orgaccess::CreateWorkflowRequest {
        organisation_id: created.id.clone(),
        name: "Bills".into(),
        steps: vec![orgaccess::StepInput {
            name: "Check".into(),
            approver_staff_ids: vec![approver.clone()],
        }],
        request_id: request_id.into(),
    };
    let bills = orgs
        .clone()
        .create_workflow(workflow("bills"))
        .await
        .expect("CreateWorkflow")
        .into_inner();
    let bills_again = orgs
        .clone()
        .create_workflow(workflow("bills"))
        .await
        .expect("retried CreateWorkflow")
        .into_inner();
    assert_eq!(bills_again.id, bills.id);

    // Request ids are per practice: another practice's "north" is its own.
    let other = system.practice_with_owner("Other Retries").await;
    let theirs = system
        .staff_as(&other)
        .await
        .create_location(location("north"))
        .await
        .expect("another practice's CreateLocation")
        .into_inner();
    assert_ne!(theirs.id, north.id);
}
