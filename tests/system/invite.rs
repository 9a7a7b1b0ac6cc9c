//! The invite flow end to end, and the rules of invitation links.

use ps_proto::common::v1::PracticeRole;
use ps_proto::identity::v1 as identity;
use ps_proto::notification::v1 as notification;
use ps_proto::staff::v1 as staff;
use system_tests::{Backend, Code, TestSystem, eventually, on_every_backend};

on_every_backend!(
    invite_flow_end_to_end,
    declining_marks_the_member_declined,
    sixteen_concurrent_accepts_one_wins,
    invitations_expire,
    a_newer_link_voids_the_older_one,
    refresh_rotates_and_sign_out_ends_the_session,
);

async fn invite_flow_end_to_end(backend: Backend) {
    let system = TestSystem::start(&backend).await;
    let owner = system.practice_with_owner("Acme Accounting").await;

    let invited = system
        .staff_as(&owner)
        .await
        .invite_staff(staff::InviteStaffRequest {
            email: "Bea.Member@Example.test".into(),
            name: "Bea Member".into(),
            practice_role: PracticeRole::Member as i32,
            ..Default::default()
        })
        .await
        .expect("InviteStaff")
        .into_inner();
    assert_eq!(
        invited.email, "bea.member@example.test",
        "e-mails are normalised"
    );
    assert_eq!(invited.status, staff::StaffStatus::Pending as i32);
    assert_eq!(invited.invited_by_name, "Owner of Acme Accounting");

    // The e-mail names the practice and the inviter and carries a link.
    let mail = system.wait_for_mail("bea.member@example.test", 1).await;
    assert!(
        mail.content
            .contains("Subject: Owner of Acme Accounting invited you to join Acme Accounting")
    );
    assert!(
        mail.content
            .contains("https://app.example.test/invitation?token=")
    );
    assert!(mail.content.contains("Content-Type: text/html"));
    assert_eq!(mail.token.len(), 43, "256-bit token");

    // The delivery is logged.
    let mut notifications = system.notification_as(&owner).await;
    let delivery = eventually("the delivery to be sent", || {
        let mut notifications = notifications.clone();
        async move {
            let listed = notifications
                .list_deliveries(notification::ListDeliveriesRequest {
                    recipient: "bea.member@example.test".into(),
                    ..Default::default()
                })
                .await
                .ok()?
                .into_inner();
            listed
                .deliveries
                .into_iter()
                .find(|d| d.status == notification::DeliveryStatus::Sent as i32)
        }
    })
    .await;
    assert_eq!(delivery.template, "staff_invitation");
    let fetched = notifications
        .get_delivery(notification::GetDeliveryRequest {
            delivery_id: delivery.id.clone(),
        })
        .await
        .expect("GetDelivery")
        .into_inner();
    assert_eq!(fetched.recipient, "bea.member@example.test");
    assert!(
        mail.path.ends_with(format!("{}.eml", delivery.id)),
        "file named by delivery id"
    );

    // What the invitee sees before answering.
    let invitation = system
        .identity()
        .await
        .get_invitation(identity::GetInvitationRequest {
            token: mail.token.clone(),
        })
        .await
        .expect("GetInvitation")
        .into_inner();
    assert_eq!(invitation.practice_name, "Acme Accounting");
    assert_eq!(invitation.inviter_name, "Owner of Acme Accounting");
    assert_eq!(invitation.practice_role, PracticeRole::Member as i32);
    assert!(!invitation.existing_account);

    // Accept, become Active, sign in.
    let accepted = system
        .accept(&mail.token, "bea's long password")
        .await
        .expect("accept");
    assert_eq!(accepted.staff_id, invited.id);
    let active = system
        .wait_for_status(
            &owner,
            "bea.member@example.test",
            staff::StaffStatus::Active,
        )
        .await;
    assert_eq!(active.user_id, accepted.user_id);
    let bea = system
        .sign_in("bea.member@example.test", "bea's long password")
        .await
        .expect("the new member signs in");
    assert_eq!(bea.practice_id, owner.practice_id);
    let wrong = system
        .sign_in("bea.member@example.test", "not her password")
        .await
        .unwrap_err();
    assert_eq!(wrong.code(), Code::Unauthenticated);

    // The link is single use.
    let again = system
        .accept(&mail.token, "bea's long password")
        .await
        .unwrap_err();
    assert_eq!(again.code(), Code::FailedPrecondition);
    let shown = system
        .identity()
        .await
        .get_invitation(identity::GetInvitationRequest { token: mail.token })
        .await
        .unwrap_err();
    assert_eq!(shown.code(), Code::FailedPrecondition);

    // Exactly one e-mail per invitation.
    assert_eq!(system.mails_to("bea.member@example.test").len(), 1);
}

async fn declining_marks_the_member_declined(backend: Backend) {
    let system = TestSystem::start(&backend).await;
    let owner = system.practice_with_owner("Decline Practice").await;
    system
        .staff_as(&owner)
        .await
        .invite_staff(staff::InviteStaffRequest {
            email: "dan@example.test".into(),
            name: "Dan".into(),
            practice_role: PracticeRole::Member as i32,
            ..Default::default()
        })
        .await
        .expect("InviteStaff");
    let mail = system.wait_for_mail("dan@example.test", 1).await;
    system
        .identity()
        .await
        .decline_invitation(identity::DeclineInvitationRequest {
            token: mail.token.clone(),
        })
        .await
        .expect("decline");
    system
        .wait_for_status(&owner, "dan@example.test", staff::StaffStatus::Declined)
        .await;

    let accept_after = system
        .accept(&mail.token, "dan's password!")
        .await
        .unwrap_err();
    assert_eq!(accept_after.code(), Code::FailedPrecondition);
    let sign_in = system
        .sign_in("dan@example.test", "dan's password!")
        .await
        .unwrap_err();
    assert_eq!(sign_in.code(), Code::Unauthenticated);

    // Filtering by status.
    let declined = system
        .staff_as(&owner)
        .await
        .list_staff(staff::ListStaffRequest {
            statuses: vec![staff::StaffStatus::Declined as i32],
            ..Default::default()
        })
        .await
        .expect("ListStaff")
        .into_inner();
    assert_eq!(declined.staff.len(), 1);
    assert_eq!(declined.staff[0].email, "dan@example.test");
}

async fn sixteen_concurrent_accepts_one_wins(backend: Backend) {
    let system = TestSystem::start(&backend).await;
    system
        .create_practice("Race Practice", "racer@example.test")
        .await;
    let mail = system.wait_for_mail("racer@example.test", 1).await;

    let attempts = (0..16).map(|i| {
        let token = mail.token.clone();
        let system = &system;
        async move { system.accept(&token, &format!("racing password {i}")).await }
    });
    let results = futures::future::join_all(attempts).await;
    let winners = results.iter().filter(|r| r.is_ok()).count();
    assert_eq!(winners, 1, "exactly one accept succeeds: {results:?}");
    for failure in results.iter().filter_map(|r| r.as_ref().err()) {
        assert_eq!(failure.code(), Code::FailedPrecondition, "{failure:?}");
    }
    // The winner's password is the one that works.
    let winner = results.iter().position(Result::is_ok).expect("a winner");
    system
        .sign_in("racer@example.test", &format!("racing password {winner}"))
        .await
        .expect("the winning password signs in");
}

async fn invitations_expire(backend: Backend) {
    let system = TestSystem::start(&backend).await;
    system
        .create_practice("Slow Practice", "late@example.test")
        .await;
    let mail = system.wait_for_mail("late@example.test", 1).await;

    system
        .clock
        .advance(chrono::Duration::days(7) - chrono::Duration::seconds(1));
    system
        .identity()
        .await
        .get_invitation(identity::GetInvitationRequest {
            token: mail.token.clone(),
        })
        .await
        .expect("still valid just before seven days");

    system.clock.advance(chrono::Duration::seconds(2));
    let expired = system
        .accept(&mail.token, "too late password")
        .await
        .unwrap_err();
    assert_eq!(expired.code(), Code::FailedPrecondition);
    assert!(
        expired.message().contains("expired"),
        "{}",
        expired.message()
    );
}

async fn a_newer_link_voids_the_older_one(backend: Backend) {
    let system = TestSystem::start(&backend).await;
    let (practice, owner) = system
        .create_practice("Relink Practice", "relink@example.test")
        .await;
    let first = system.wait_for_mail("relink@example.test", 1).await;

    let mut internal = system.identity_internal().await;
    let second = internal
        .issue_invitation_link(identity::IssueInvitationLinkRequest {
            email: "relink@example.test".into(),
            invitee_name: owner.name.clone(),
            practice_id: practice.id.clone(),
            practice_name: practice.name.clone(),
            staff_id: owner.id.clone(),
            inviter_name: "Support".into(),
            practice_role: PracticeRole::AccountOwner as i32,
        })
        .await
        .expect("IssueInvitationLink")
        .into_inner();
    assert!(second.url.contains(&second.token));

    let old = system
        .accept(&first.token, "relink password")
        .await
        .unwrap_err();
    assert_eq!(old.code(), Code::FailedPrecondition);
    assert!(old.message().contains("newer"), "{}", old.message());
    system
        .accept(&second.token, "relink password")
        .await
        .expect("the newest link works");

    // Internal RPCs refuse a person's token: only a service token with the scope mints links.
    let person = system.practice_with_owner("Other Relink Practice").await;
    let refused = identity::identity_internal_service_client::IdentityInternalServiceClient::with_interceptor(
        TestSystem::channel(system.addresses.identity).await,
        system_tests::bearer(&person.access_token),
    )
    .issue_invitation_link(identity::IssueInvitationLinkRequest::default())
    .await
    .unwrap_err();
    assert_eq!(refused.code(), Code::PermissionDenied);
}

async fn refresh_rotates_and_sign_out_ends_the_session(backend: Backend) {
    let system = TestSystem::start(&backend).await;
    let owner = system.practice_with_owner("Session Practice").await;
    let mut identity = system.identity().await;
    let refresh = |token: &str| identity::RefreshRequest {
        refresh_token: token.to_owned(),
    };

    let first = identity
        .refresh(refresh(&owner.refresh_token))
        .await
        .expect("refresh")
        .into_inner();
    assert_ne!(first.refresh_token, owner.refresh_token);

    // Access tokens expire by the (injected) clock; the refresh token outlives them.
    system.clock.advance(chrono::Duration::minutes(16));
    let expired = system
        .staff_as(&owner)
        .await
        .list_staff(staff::ListStaffRequest::default())
        .await
        .unwrap_err();
    assert_eq!(expired.code(), Code::Unauthenticated);
    let second = identity
        .refresh(refresh(&first.refresh_token))
        .await
        .expect("a refresh token outlives the access token")
        .into_inner();
    let current = system_tests::Person {
        access_token: second.access_token.clone(),
        refresh_token: second.refresh_token.clone(),
        ..owner.clone()
    };
    system
        .staff_as(&current)
        .await
        .list_staff(staff::ListStaffRequest::default())
        .await
        .expect("a fresh access token works");

    // Replaying a spent refresh token revokes the whole session: the newest one dies too.
    let replay = identity
        .refresh(refresh(&owner.refresh_token))
        .await
        .unwrap_err();
    assert_eq!(replay.code(), Code::Unauthenticated);
    let after_replay = identity
        .refresh(refresh(&second.refresh_token))
        .await
        .unwrap_err();
    assert_eq!(
        after_replay.code(),
        Code::Unauthenticated,
        "the session was revoked"
    );

    // Signing out ends a session.
    let again = system
        .sign_in(&owner.email, &owner.password)
        .await
        .expect("sign in again");
    system
        .identity_as(&again)
        .await
        .sign_out(identity::SignOutRequest {})
        .await
        .expect("sign out");
    let after = identity
        .refresh(refresh(&again.refresh_token))
        .await
        .unwrap_err();
    assert_eq!(after.code(), Code::Unauthenticated);
}
