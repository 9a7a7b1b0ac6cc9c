//! Authentication, tenancy and input validation.

use std::time::Duration;

use ps_proto::common::v1::{PageRequest, PracticeRole};
use ps_proto::identity::v1 as identity;
use ps_proto::notification::v1 as notification;
use ps_proto::orgaccess::v1 as orgaccess;
use ps_proto::staff::v1 as staff;
use sea_orm::{ConnectionTrait, Statement};
use system_tests::{
    Backend, Code, Person, TestSystem, eventually, on_every_backend, violated_fields,
};
use tonic_types::StatusExt;

on_every_backend!(
    every_method_needs_its_credential,
    another_practice_is_invisible,
    invalid_input_changes_nothing,
    roles_limit_what_members_may_do,
);

async fn every_method_needs_its_credential(backend: Backend) {
    let system = TestSystem::start(&backend).await;
    let owner = system.practice_with_owner("Locked Practice").await;

    let no_token = system
        .staff()
        .await
        .list_staff(staff::ListStaffRequest::default())
        .await
        .unwrap_err();
    assert_eq!(no_token.code(), Code::Unauthenticated);

    let garbage = Person {
        access_token: "not.a.jwt".into(),
        ..owner.clone()
    };
    let refused = system
        .staff_as(&garbage)
        .await
        .list_staff(staff::ListStaffRequest::default())
        .await
        .unwrap_err();
    assert_eq!(refused.code(), Code::Unauthenticated);

    // A well-formed token signed by a key identity never published.
    let forger = ps_auth::SigningKey::generate();
    let now = ps_core::Clock::now(system.clock.as_ref()).timestamp();
    let forged = forger
        .sign(&ps_auth::AccessClaims {
            iss: "practice-staff/identity".into(),
            aud: "practice-staff".into(),
            sub: owner.user_id.clone(),
            pid: owner.practice_id.clone(),
            stf: uuid::Uuid::now_v7().to_string(),
            sid: uuid::Uuid::now_v7().to_string(),
            role: "account_owner".into(),
            typ: "access".into(),
            iat: now,
            nbf: now,
            exp: now + 600,
            jti: uuid::Uuid::now_v7().to_string(),
        })
        .expect("signing");
    let forged = Person {
        access_token: forged,
        ..owner.clone()
    };
    let refused = system
        .staff_as(&forged)
        .await
        .list_staff(staff::ListStaffRequest::default())
        .await
        .unwrap_err();
    assert_eq!(refused.code(), Code::Unauthenticated);

    // Operator RPCs need the operator credential, not a user token.
    let as_user = system
        .staff_as(&owner)
        .await
        .create_practice(staff::CreatePracticeRequest {
            request_id: String::new(),
            name: "Sneaky".into(),
            owner_email: "sneaky@example.test".into(),
            owner_name: "Sneaky".into(),
        })
        .await
        .unwrap_err();
    assert_eq!(as_user.code(), Code::Unauthenticated);

    let org = system
        .org_access_as(&garbage)
        .await
        .list_organisations(orgaccess::ListOrganisationsRequest::default())
        .await
        .unwrap_err();
    assert_eq!(org.code(), Code::Unauthenticated);
    let deliveries = system
        .notification_as(&garbage)
        .await
        .list_deliveries(notification::ListDeliveriesRequest::default())
        .await
        .unwrap_err();
    assert_eq!(deliveries.code(), Code::Unauthenticated);
    let sign_out = system
        .identity()
        .await
        .sign_out(identity::SignOutRequest {})
        .await
        .unwrap_err();
    assert_eq!(sign_out.code(), Code::Unauthenticated);
}

async fn another_practice_is_invisible(backend: Backend) {
    let system = TestSystem::start(&backend).await;
    let a = system.practice_with_owner("Practice A").await;
    let b = system.practice_with_owner("Practice B").await;

    let pending_in_a = system
        .staff_as(&a)
        .await
        .invite_staff(staff::InviteStaffRequest {
            email: "only-in-a@example.test".into(),
            name: "Only In A".into(),
            practice_role: PracticeRole::Member as i32,
            ..Default::default()
        })
        .await
        .expect("invite in A")
        .into_inner();
    system.wait_for_mail("only-in-a@example.test", 1).await;

    let mut b_staff = system.staff_as(&b).await;
    let listed = b_staff
        .list_staff(staff::ListStaffRequest::default())
        .await
        .expect("ListStaff")
        .into_inner();
    assert!(listed.staff.iter().all(|m| m.practice_id == b.practice_id));
    assert!(
        !listed
            .staff
            .iter()
            .any(|m| m.email == "only-in-a@example.test")
    );

    // Another practice's id answers exactly like an id that does not exist.
    let foreign = b_staff
        .get_staff(staff::GetStaffRequest {
            staff_id: pending_in_a.id.clone(),
        })
        .await
        .unwrap_err();
    let missing = b_staff
        .get_staff(staff::GetStaffRequest {
            staff_id: uuid::Uuid::now_v7().to_string(),
        })
        .await
        .unwrap_err();
    assert_eq!(foreign.code(), Code::NotFound);
    assert_eq!(
        (foreign.code(), foreign.message()),
        (missing.code(), missing.message())
    );

    // B inviting can only ever invite into B.
    let into_b = b_staff
        .invite_staff(staff::InviteStaffRequest {
            email: "only-in-a@example.test".into(),
            name: "Same Person".into(),
            practice_role: PracticeRole::Member as i32,
            ..Default::default()
        })
        .await
        .expect("the same e-mail may be invited by another practice")
        .into_inner();
    assert_eq!(into_b.practice_id, b.practice_id);

    // Organisations.
    let mut a_orgs = system.org_access_as(&a).await;
    let a_org = eventually("A's owner to be known to org-access", || {
        let mut a_orgs = a_orgs.clone();
        async move {
            a_orgs
                .create_organisation(orgaccess::CreateOrganisationRequest {
                    request_id: String::new(),
                    name: "Client of A".into(),
                })
                .await
                .ok()
                .map(|r| r.into_inner())
        }
    })
    .await;
    let mut b_orgs = system.org_access_as(&b).await;
    let foreign = eventually("B's owner to be known to org-access", || {
        let mut b_orgs = b_orgs.clone();
        let id = a_org.id.clone();
        async move {
            let err = b_orgs
                .get_organisation(orgaccess::GetOrganisationRequest {
                    organisation_id: id,
                })
                .await
                .unwrap_err();
            (err.code() != Code::PermissionDenied).then_some(err)
        }
    })
    .await;
    assert_eq!(foreign.code(), Code::NotFound);
    let b_list = b_orgs
        .list_organisations(orgaccess::ListOrganisationsRequest::default())
        .await
        .expect("ListOrganisations")
        .into_inner();
    assert!(b_list.organisations.is_empty());
    let a_list = a_orgs
        .list_organisations(orgaccess::ListOrganisationsRequest::default())
        .await
        .expect("ListOrganisations")
        .into_inner();
    assert_eq!(a_list.organisations.len(), 1);

    // Deliveries.
    let a_deliveries = system
        .notification_as(&a)
        .await
        .list_deliveries(notification::ListDeliveriesRequest::default())
        .await
        .expect("ListDeliveries")
        .into_inner();
    assert!(!a_deliveries.deliveries.is_empty());
    let mut b_notifications = system.notification_as(&b).await;
    let foreign = b_notifications
        .get_delivery(notification::GetDeliveryRequest {
            delivery_id: a_deliveries.deliveries[0].id.clone(),
        })
        .await
        .unwrap_err();
    assert_eq!(foreign.code(), Code::NotFound);
    let b_deliveries = b_notifications
        .list_deliveries(notification::ListDeliveriesRequest::default())
        .await
        .expect("ListDeliveries")
        .into_inner();
    assert!(
        b_deliveries
            .deliveries
            .iter()
            .all(|d| d.practice_id == b.practice_id)
    );
}

async fn count(system: &TestSystem, db: &ps_db::DbSettings, sql: &str) -> i64 {
    let conn = system.database(db).await;
    let row = conn
        .query_one_raw(Statement::from_string(
            conn.get_database_backend(),
            sql.to_owned(),
        ))
        .await
        .expect("count query")
        .expect("a row");
    row.try_get_by_index::<i64>(0).expect("a count")
}

async fn invalid_input_changes_nothing(backend: Backend) {
    let system = TestSystem::start(&backend).await;
    let owner = system.practice_with_owner("Strict Practice").await;
    let staff_db = system.databases.staff_directory.clone();
    let members_before = count(&system, &staff_db, "SELECT COUNT(*) FROM staff_members").await;
    let events_before = count(&system, &staff_db, "SELECT COUNT(*) FROM outbox_events").await;
    let practices_before = count(&system, &staff_db, "SELECT COUNT(*) FROM practices").await;
    let mut client = system.staff_as(&owner).await;

    let bad_email = client
        .invite_staff(staff::InviteStaffRequest {
            email: "not an e-mail".into(),
            name: "Someone".into(),
            practice_role: PracticeRole::Member as i32,
            ..Default::default()
        })
        .await
        .unwrap_err();
    assert_eq!(bad_email.code(), Code::InvalidArgument);
    assert_eq!(violated_fields(&bad_email), ["email"]);

    let several = client
        .invite_staff(staff::InviteStaffRequest {
            email: "fine@example.test".into(),
            name: "   ".into(),
            practice_role: 99,
            ..Default::default()
        })
        .await
        .unwrap_err();
    assert_eq!(several.code(), Code::InvalidArgument);
    assert_eq!(violated_fields(&several), ["name", "practice_role"]);

    let unspecified = client
        .invite_staff(staff::InviteStaffRequest {
            email: "fine@example.test".into(),
            name: "Fine".into(),
            practice_role: PracticeRole::Unspecified as i32,
            ..Default::default()
        })
        .await
        .unwrap_err();
    assert_eq!(violated_fields(&unspecified), ["practice_role"]);

    let bad_id = client
        .get_staff(staff::GetStaffRequest {
            staff_id: "not-a-uuid".into(),
        })
        .await
        .unwrap_err();
    assert_eq!(violated_fields(&bad_id), ["staff_id"]);

    let bad_page = client
        .list_staff(staff::ListStaffRequest {
            page: Some(PageRequest {
                page_size: 501,
                page_token: "garbage!".into(),
            }),
            statuses: vec![42],
            ..Default::default()
        })
        .await
        .unwrap_err();
    assert_eq!(
        violated_fields(&bad_page),
        ["page.page_size", "page.page_token", "statuses[0]"]
    );

    let bad_practice = system
        .staff_as_operator()
        .await
        .create_practice(staff::CreatePracticeRequest {
            request_id: String::new(),
            name: "".into(),
            owner_email: "@nowhere".into(),
            owner_name: "Someone".into(),
        })
        .await
        .unwrap_err();
    assert_eq!(violated_fields(&bad_practice), ["name", "owner_email"]);

    // A too-short password is refused and leaves the link usable.
    system
        .create_practice("Second Strict", "second@example.test")
        .await;
    let mail = system.wait_for_mail("second@example.test", 1).await;
    let short = system.accept(&mail.token, "short").await.unwrap_err();
    assert_eq!(violated_fields(&short), ["password"]);
    system
        .accept(&mail.token, "long enough now")
        .await
        .expect("the link still works");

    // Nothing was written by the refused calls (the second practice is the only change).
    assert_eq!(
        count(&system, &staff_db, "SELECT COUNT(*) FROM staff_members").await,
        members_before + 1
    );
    assert_eq!(
        count(&system, &staff_db, "SELECT COUNT(*) FROM outbox_events").await,
        events_before + 1
    );
    assert_eq!(
        count(&system, &staff_db, "SELECT COUNT(*) FROM practices").await,
        practices_before + 1
    );
    assert!(system.mails_to("fine@example.test").is_empty());
}

async fn roles_limit_what_members_may_do(backend: Backend) {
    let system = TestSystem::start(&backend).await;
    let owner = system.practice_with_owner("Roles Practice").await;
    let member = system
        .member(&owner, "member@example.test", PracticeRole::Member)
        .await;
    let manager = system
        .member(
            &owner,
            "usermanager@example.test",
            PracticeRole::UserManager,
        )
        .await;

    let denied = system
        .staff_as(&member)
        .await
        .invite_staff(staff::InviteStaffRequest {
            email: "friend@example.test".into(),
            name: "Friend".into(),
            practice_role: PracticeRole::Member as i32,
            ..Default::default()
        })
        .await
        .unwrap_err();
    assert_eq!(denied.code(), Code::PermissionDenied);
    assert!(
        denied
            .message()
            .contains("Account Owner, Account Manager or User Manager"),
        "{}",
        denied.message()
    );

    let escalation = system
        .staff_as(&manager)
        .await
        .invite_staff(staff::InviteStaffRequest {
            email: "boss@example.test".into(),
            name: "Boss".into(),
            practice_role: PracticeRole::AccountOwner as i32,
            ..Default::default()
        })
        .await
        .unwrap_err();
    assert_eq!(escalation.code(), Code::PermissionDenied);
    assert!(
        escalation.message().contains("Account Owner"),
        "{}",
        escalation.message()
    );
    system
        .staff_as(&manager)
        .await
        .invite_staff(staff::InviteStaffRequest {
            email: "junior@example.test".into(),
            name: "Junior".into(),
            practice_role: PracticeRole::Member as i32,
            ..Default::default()
        })
        .await
        .expect("a User Manager invites Members");

    let duplicate = system
        .staff_as(&owner)
        .await
        .invite_staff(staff::InviteStaffRequest {
            email: "MEMBER@example.test".into(),
            name: "Member Again".into(),
            practice_role: PracticeRole::Member as i32,
            ..Default::default()
        })
        .await
        .unwrap_err();
    assert_eq!(duplicate.code(), Code::AlreadyExists);
    assert!(
        duplicate.message().contains("member@example.test"),
        "{}",
        duplicate.message()
    );

    // Members see the staff list but not the delivery log, and cannot add organisations.
    system
        .staff_as(&member)
        .await
        .list_staff(staff::ListStaffRequest::default())
        .await
        .expect("members list staff");
    let log = system
        .notification_as(&member)
        .await
        .list_deliveries(notification::ListDeliveriesRequest::default())
        .await
        .unwrap_err();
    assert_eq!(log.code(), Code::PermissionDenied);
    let member_orgs = system.org_access_as(&member).await;
    let org = eventually("org-access to know the member", || {
        let mut member_orgs = member_orgs.clone();
        async move {
            let err = member_orgs
                .create_organisation(orgaccess::CreateOrganisationRequest {
                    request_id: String::new(),
                    name: "Not Mine".into(),
                })
                .await
                .unwrap_err();
            err.message().contains("needs").then_some(err)
        }
    })
    .await;
    assert_eq!(org.code(), Code::PermissionDenied);
}

/// A sign-in storm against a hasher that runs one hash and queues one more: every excess
/// sign-in is refused at once with RESOURCE_EXHAUSTED (for a known account and an unknown
/// address alike, so a refusal says nothing about who exists) with a RetryInfo delay, nothing
/// else fails, and sign-in works again once the storm is over.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_sign_in_storm_is_refused_with_resource_exhausted() {
    let system = TestSystem::start_with(
        &Backend::Embedded,
        ps_identity::passwords::HashingSettings {
            max_concurrent: 1,
            max_queued: 1,
            ..Default::default()
        },
    )
    .await;
    let owner = system.practice_with_owner("Storm Practice").await;
    let storm = |email: String, password: &'static str| {
        let system = &system;
        async move {
            let attempts = (0..16).map(|_| system.sign_in(&email, password));
            futures::future::join_all(attempts)
                .await
                .into_iter()
                .map(|reply| {
                    reply.map(|_| ()).map_err(|status| {
                        if status.code() == Code::ResourceExhausted {
                            // The refusal says when to come back (google.rpc.RetryInfo).
                            let delay = status
                                .get_details_retry_info()
                                .and_then(|info| info.retry_delay)
                                .expect("a refusal carries RetryInfo with a delay");
                            assert!(
                                delay >= Duration::from_millis(10)
                                    && delay <= Duration::from_secs(5),
                                "{delay:?}"
                            );
                        }
                        status.code()
                    })
                })
                .collect::<Vec<_>>()
        }
    };
    let known = storm(owner.email.clone(), "owner-password-1").await;
    let refused = known
        .iter()
        .filter(|r| **r == Err(Code::ResourceExhausted))
        .count();
    let signed_in = known.iter().filter(|r| r.is_ok()).count();
    assert_eq!(
        refused + signed_in,
        16,
        "only OK or RESOURCE_EXHAUSTED: {known:?}"
    );
    assert!(refused >= 1 && signed_in >= 1, "{known:?}");

    let unknown = storm("nobody@storm.test".into(), "whatever-password").await;
    assert!(
        unknown
            .iter()
            .all(|r| matches!(r, Err(Code::ResourceExhausted | Code::Unauthenticated))),
        "{unknown:?}"
    );
    assert!(
        unknown.contains(&Err(Code::ResourceExhausted)),
        "{unknown:?}"
    );

    system
        .sign_in(&owner.email, "owner-password-1")
        .await
        .expect("sign-in works after the storm");
}
