//! Access ends at once: when a session ends (sign-out, deactivation, a password reset), every
//! service refuses its still unexpired access token within a second, not when it expires.

use std::time::{Duration, Instant};

use ps_proto::common::v1::PracticeRole;
use ps_proto::identity::v1 as identity;
use ps_proto::notification::v1 as notification;
use ps_proto::orgaccess::v1 as orgaccess;
use ps_proto::staff::v1 as staff;
use system_tests::{Backend, Code, Person, TestSystem, eventually_within, on_every_backend};

on_every_backend!(
    a_signed_out_session_is_refused_by_every_service_within_a_second,
    deactivation_and_password_reset_end_the_tokens_they_leave_behind,
);

/// What each service answers `person`'s token, with a call the person may make.
async fn answers(system: &TestSystem, person: &Person) -> [Result<(), Code>; 4] {
    let code = |r: Result<(), tonic::Status>| r.map_err(|s| s.code());
    [
        code(
            system
                .identity_as(person)
                .await
                .list_my_practices(identity::ListMyPracticesRequest {})
                .await
                .map(drop),
        ),
        code(
            system
                .staff_as(person)
                .await
                .get_practice(staff::GetPracticeRequest {})
                .await
                .map(drop),
        ),
        code(
            system
                .org_access_as(person)
                .await
                .list_roles(orgaccess::ListRolesRequest {})
                .await
                .map(drop),
        ),
        code(
            system
                .notification_as(person)
                .await
                .list_deliveries(notification::ListDeliveriesRequest::default())
                .await
                .map(drop),
        ),
    ]
}

/// Waits at most a second for every service to refuse `person`'s token as an ended session;
/// how long it took.
async fn refused_everywhere_within_a_second(system: &TestSystem, person: &Person) -> Duration {
    let began = Instant::now();
    eventually_within(
        Duration::from_secs(1),
        "every service to refuse the ended session's token",
        || async {
            answers(system, person)
                .await
                .iter()
                .all(|a| *a == Err(Code::Unauthenticated))
                .then_some(())
        },
    )
    .await;
    began.elapsed()
}

async fn a_signed_out_session_is_refused_by_every_service_within_a_second(backend: Backend) {
    let system = TestSystem::start(&backend).await;
    let owner = system.practice_with_owner("Session Practice").await;
    // The roster of every service knows the owner: every call answers.
    eventually_within(
        Duration::from_secs(20),
        "every service to know the owner",
        || async {
            answers(&system, &owner)
                .await
                .iter()
                .all(Result::is_ok)
                .then_some(())
        },
    )
    .await;
    let other_session = system
        .sign_in(&owner.email, &owner.password)
        .await
        .expect("a second session");

    system
        .identity_as(&owner)
        .await
        .sign_out(identity::SignOutRequest {})
        .await
        .expect("SignOut");
    let took = refused_everywhere_within_a_second(&system, &owner).await;
    println!(
        "signed-out token refused by all four services after {} ms ({})",
        took.as_millis(),
        backend.name()
    );
    // The person's other session goes on.
    assert!(
        answers(&system, &other_session)
            .await
            .iter()
            .all(Result::is_ok)
    );
    // Refreshing the ended session fails too.
    let refreshed = system
        .identity()
        .await
        .refresh(identity::RefreshRequest {
            refresh_token: owner.refresh_token.clone(),
        })
        .await
        .unwrap_err();
    assert_eq!(refreshed.code(), Code::Unauthenticated);
}

async fn deactivation_and_password_reset_end_the_tokens_they_leave_behind(backend: Backend) {
    let system = TestSystem::start(&backend).await;
    let owner = system.practice_with_owner("Ending Practice").await;
    let member = system
        .member(&owner, "manager@ending.test", PracticeRole::AccountManager)
        .await;
    eventually_within(
        Duration::from_secs(20),
        "every service to know the manager",
        || async {
            answers(&system, &member)
                .await
                .iter()
                .all(Result::is_ok)
                .then_some(())
        },
    )
    .await;
    let member_row = system.staff_member(&owner, &member.email).await;
    let staff = system.staff_as(&owner).await;
    staff
        .clone()
        .deactivate_staff(staff::DeactivateStaffRequest {
            staff_id: member_row.id.clone(),
        })
        .await
        .expect("deactivate");
    staff
        .clone()
        .reactivate_staff(staff::ReactivateStaffRequest {
            staff_id: member_row.id.clone(),
        })
        .await
        .expect("reactivate");
    // Active again, but the token of the session deactivation ended stays refused.
    eventually_within(
        Duration::from_secs(5),
        "the deactivated session's token refused everywhere",
        || async {
            answers(&system, &member)
                .await
                .iter()
                .all(|a| *a == Err(Code::Unauthenticated))
                .then_some(())
        },
    )
    .await;
    let back = eventually_within(Duration::from_secs(20), "a new sign-in", || async {
        system.sign_in(&member.email, &member.password).await.ok()
    })
    .await;
    eventually_within(
        Duration::from_secs(20),
        "the new session to work",
        || async {
            answers(&system, &back)
                .await
                .iter()
                .all(Result::is_ok)
                .then_some(())
        },
    )
    .await;

    // A password reset ends every session of the person.
    system
        .identity()
        .await
        .request_password_reset(identity::RequestPasswordResetRequest {
            email: member.email.clone(),
        })
        .await
        .expect("RequestPasswordReset");
    let reset = eventually_within(Duration::from_secs(20), "the reset e-mail", || async {
        system
            .mails_to(&member.email)
            .into_iter()
            .find(|m| m.content.contains("reset-password"))
    })
    .await;
    system
        .identity()
        .await
        .reset_password(identity::ResetPasswordRequest {
            token: reset.token,
            new_password: "a brand new password".into(),
        })
        .await
        .expect("ResetPassword");
    let took = refused_everywhere_within_a_second(&system, &back).await;
    println!(
        "token of a session a password reset ended refused after {} ms ({})",
        took.as_millis(),
        backend.name()
    );
}
