//! Account security and people in several practices.

use ps_proto::common::v1::PracticeRole;
use ps_proto::identity::v1 as identity;
use ps_proto::notification::v1 as notification;
use ps_proto::staff::v1 as staff;
use system_tests::{
    Backend, Code, TestSystem, count, eventually, on_every_backend, practice_choices,
    violated_fields,
};

on_every_backend!(
    password_resets_are_single_use_and_end_every_session,
    repeated_failures_lock_sign_in,
    one_person_acts_in_each_practice_with_its_own_role,
);

async fn request_reset(system: &TestSystem, email: &str) {
    system
        .identity()
        .await
        .request_password_reset(identity::RequestPasswordResetRequest {
            email: email.into(),
        })
        .await
        .expect("RequestPasswordReset answers OK");
}

async fn reset(system: &TestSystem, token: &str, password: &str) -> Result<(), tonic::Status> {
    system
        .identity()
        .await
        .reset_password(identity::ResetPasswordRequest {
            token: token.into(),
            new_password: password.into(),
        })
        .await
        .map(drop)
}

async fn password_resets_are_single_use_and_end_every_session(backend: Backend) {
    let system = TestSystem::start(&backend).await;
    let owner = system.practice_with_owner("Reset Practice").await;
    let second_session = system
        .sign_in(&owner.email, &owner.password)
        .await
        .expect("a second session");

    // Unknown addresses get the same answer and no e-mail.
    request_reset(&system, "nobody@reset.test").await;
    request_reset(&system, &owner.email).await;
    let mail = system.wait_for_mail(&owner.email, 2).await;
    assert_eq!(mail.subject(), "Reset your Practice Staff password");
    assert!(mail.content.contains("https://") || mail.content.contains("http://"));
    assert!(system.mails_to("nobody@reset.test").is_empty());
    // A personal e-mail: no practice's delivery log shows it.
    let log = system
        .notification_as(&owner)
        .await
        .list_deliveries(notification::ListDeliveriesRequest::default())
        .await
        .expect("ListDeliveries")
        .into_inner()
        .deliveries;
    assert!(log.iter().all(|d| d.template != "password_reset"));

    let short = reset(&system, &mail.token, "short").await.unwrap_err();
    assert_eq!(violated_fields(&short), ["new_password"]);
    reset(&system, &mail.token, "a brand new password")
        .await
        .expect("reset");
    let reused = reset(&system, &mail.token, "yet another password")
        .await
        .unwrap_err();
    assert_eq!(reused.code(), Code::FailedPrecondition);

    // Every session ended; only the new password signs in.
    for session in [&owner, &second_session] {
        let ended = system
            .identity()
            .await
            .refresh(identity::RefreshRequest {
                refresh_token: session.refresh_token.clone(),
            })
            .await
            .unwrap_err();
        assert_eq!(ended.code(), Code::Unauthenticated);
    }
    assert_eq!(
        system
            .sign_in(&owner.email, &owner.password)
            .await
            .unwrap_err()
            .code(),
        Code::Unauthenticated
    );
    system
        .sign_in(&owner.email, "a brand new password")
        .await
        .expect("the new password works");

    let unknown = reset(&system, &"x".repeat(43), "whatever password")
        .await
        .unwrap_err();
    assert_eq!(unknown.code(), Code::NotFound);

    // At most three reset e-mails an hour (one was sent above); further requests are answered
    // alike and send nothing.
    let owner = system
        .sign_in(&owner.email, "a brand new password")
        .await
        .expect("sign in");
    let colleague = system
        .member(&owner, "colleague@reset.test", PracticeRole::Member)
        .await;
    for _ in 0..3 {
        request_reset(&system, &owner.email).await;
    }
    request_reset(&system, &colleague.email).await;
    system.wait_for_mail(&colleague.email, 2).await;
    // Consumers handle events concurrently, so the colleague's e-mail says nothing about the
    // owner's: wait until notification handled every reset event identity wrote (the outbox
    // rows exist once the requests were answered) and sent every e-mail, then count.
    let identity_db = system.database(&system.databases.identity).await;
    let notification_db = system.database(&system.databases.notification).await;
    let written = count(
        &identity_db,
        "SELECT count(*) AS n FROM outbox_events WHERE event_type = 'identity.password_reset_requested'",
    )
    .await;
    eventually("every reset event handled and its e-mail sent", || async {
        let handled = count(
            &notification_db,
            "SELECT count(*) AS n FROM processed_events WHERE event_type = 'identity.password_reset_requested'",
        )
        .await;
        let unsent = count(
            &notification_db,
            "SELECT count(*) AS n FROM deliveries WHERE sent_at IS NULL",
        )
        .await;
        (handled == written && unsent == 0).then_some(())
    })
    .await;
    let resets = system
        .mails_to(&owner.email)
        .iter()
        .filter(|m| m.subject() == "Reset your Practice Staff password")
        .count();
    assert_eq!(resets, 3, "the limit is three an hour");
}

async fn repeated_failures_lock_sign_in(backend: Backend) {
    let system = TestSystem::start(&backend).await;
    let owner = system.practice_with_owner("Lock Practice").await;
    for _ in 0..5 {
        let wrong = system
            .sign_in(&owner.email, "not the password")
            .await
            .unwrap_err();
        assert_eq!(wrong.code(), Code::Unauthenticated);
    }
    let locked = system
        .sign_in(&owner.email, &owner.password)
        .await
        .unwrap_err();
    assert_eq!(
        locked.code(),
        Code::Unauthenticated,
        "locked: even the right password"
    );
    assert_eq!(
        locked.message(),
        "invalid e-mail or password",
        "the same answer as a wrong one"
    );
    system.clock.advance(chrono::Duration::minutes(16));
    system
        .sign_in(&owner.email, &owner.password)
        .await
        .expect("the lock lifts after 15 minutes");
    // A success resets the count: four more failures do not lock.
    for _ in 0..4 {
        let _ = system.sign_in(&owner.email, "not the password").await;
    }
    system
        .sign_in(&owner.email, &owner.password)
        .await
        .expect("not locked");
}

async fn one_person_acts_in_each_practice_with_its_own_role(backend: Backend) {
    let system = TestSystem::start(&backend).await;
    let a = system.practice_with_owner("Agency A").await;
    let b = system.practice_with_owner("Agency B").await;
    let agent_email = "agent@agents.test";
    system
        .staff_as(&a)
        .await
        .invite_staff(staff::InviteStaffRequest {
            email: agent_email.into(),
            name: "Remote Agent".into(),
            practice_role: PracticeRole::Member as i32,
            external_agent: true,
            ..Default::default()
        })
        .await
        .expect("invite into A");
    system
        .invite(&b, agent_email, PracticeRole::UserManager)
        .await;
    let into_a = system.wait_for_mail(agent_email, 1).await;
    let into_b = system.wait_for_mail(agent_email, 2).await;
    let (into_a, into_b) = if into_a.subject().contains("Agency A") {
        (into_a, into_b)
    } else {
        (into_b, into_a)
    };
    system
        .accept(&into_a.token, "agent's password")
        .await
        .expect("accept A");

    // The second invitation is for the same account: it asks for the existing password.
    let shown = system
        .identity()
        .await
        .get_invitation(identity::GetInvitationRequest {
            token: into_b.token.clone(),
        })
        .await
        .expect("GetInvitation")
        .into_inner();
    assert!(shown.existing_account);
    let wrong = system
        .accept(&into_b.token, "a different password")
        .await
        .unwrap_err();
    assert_eq!(wrong.code(), Code::Unauthenticated);
    system
        .accept(&into_b.token, "agent's password")
        .await
        .expect("accept B with the same password");

    let ambiguous = system
        .sign_in(agent_email, "agent's password")
        .await
        .unwrap_err();
    assert_eq!(violated_fields(&ambiguous), ["practice_id"]);
    // Once the password is right, the refusal names the practices to choose from.
    assert_eq!(
        practice_choices(&ambiguous),
        [
            ("Agency A".to_owned(), PracticeRole::Member as i32),
            ("Agency B".to_owned(), PracticeRole::UserManager as i32),
        ]
    );
    // A wrong password names none: the refusal is the same as for any other account.
    let wrong = system
        .sign_in(agent_email, "not the agent's password")
        .await
        .unwrap_err();
    assert_eq!(wrong.code(), Code::Unauthenticated);
    assert!(practice_choices(&wrong).is_empty());
    let in_a = system
        .sign_in_to(agent_email, "agent's password", &a.practice_id)
        .await
        .expect("sign in to A");
    system
        .wait_for_status(&a, agent_email, staff::StaffStatus::Active)
        .await;
    system
        .wait_for_status(&b, agent_email, staff::StaffStatus::Active)
        .await;

    let practices = system
        .identity_as(&in_a)
        .await
        .list_my_practices(identity::ListMyPracticesRequest {})
        .await
        .expect("ListMyPractices")
        .into_inner()
        .practices;
    let summary: Vec<(String, i32, bool)> = practices
        .iter()
        .map(|p| (p.practice_name.clone(), p.practice_role, p.current))
        .collect();
    assert_eq!(
        summary,
        [
            ("Agency A".to_owned(), PracticeRole::Member as i32, true),
            (
                "Agency B".to_owned(),
                PracticeRole::UserManager as i32,
                false
            ),
        ]
    );

    // In A the agent is a Member and may not invite, whatever they are elsewhere.
    let refused = system
        .staff_as(&in_a)
        .await
        .invite_staff(staff::InviteStaffRequest {
            email: "someone@agents.test".into(),
            name: "Someone".into(),
            practice_role: PracticeRole::Member as i32,
            ..Default::default()
        })
        .await
        .unwrap_err();
    assert_eq!(refused.code(), Code::PermissionDenied);
    assert!(system.staff_member(&a, agent_email).await.external_agent);

    // Switching to B gives B's role there.
    let switched = system
        .identity_as(&in_a)
        .await
        .switch_practice(identity::SwitchPracticeRequest {
            practice_id: b.practice_id.clone(),
        })
        .await
        .expect("switch to B")
        .into_inner();
    assert_eq!(switched.practice_role, PracticeRole::UserManager as i32);
    let in_b = system_tests::Person::from_sign_in(agent_email, "agent's password", switched);
    system
        .staff_as(&in_b)
        .await
        .invite_staff(staff::InviteStaffRequest {
            email: "someone@agents.test".into(),
            name: "Someone".into(),
            practice_role: PracticeRole::Member as i32,
            ..Default::default()
        })
        .await
        .expect("in B the agent is a User Manager");
    let nowhere = system
        .identity_as(&in_a)
        .await
        .switch_practice(identity::SwitchPracticeRequest {
            practice_id: uuid::Uuid::now_v7().to_string(),
        })
        .await
        .unwrap_err();
    assert_eq!(nowhere.code(), Code::PermissionDenied);

    // Deactivated in A, the agent's A session ends while the B session goes on.
    let agent_in_a = system.staff_member(&a, agent_email).await.id;
    system
        .staff_as(&a)
        .await
        .deactivate_staff(staff::DeactivateStaffRequest {
            staff_id: agent_in_a,
        })
        .await
        .expect("deactivate in A");
    eventually("the A session to end", || async {
        let err = system
            .identity()
            .await
            .refresh(identity::RefreshRequest {
                refresh_token: in_a.refresh_token.clone(),
            })
            .await
            .err()?;
        (err.code() == Code::Unauthenticated).then_some(())
    })
    .await;
    system
        .identity()
        .await
        .refresh(identity::RefreshRequest {
            refresh_token: in_b.refresh_token.clone(),
        })
        .await
        .expect("the B session is untouched");
}
