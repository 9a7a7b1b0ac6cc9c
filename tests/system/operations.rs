//! What an operator does: look at dead letters and hand them back once the cause is fixed;
//! rotate the key that signs access tokens without refusing a single token.

use base64::Engine;
use ps_auth::credentials::Credential;
use ps_proto::common::v1::PracticeRole;
use ps_proto::identity::v1 as identity;
use ps_proto::ops::v1 as ops;
use ps_proto::staff::v1 as staff;
use sea_orm::{ActiveModelTrait, Set};
use system_tests::{
    Backend, Code, OPERATOR_TOKEN, Person, TestSystem, eventually, on_every_backend,
};

on_every_backend!(dead_letters_say_why_and_are_redriven_once_the_cause_is_fixed,);

async fn operations(
    addr: std::net::SocketAddr,
    token: &str,
) -> ops::event_operations_client::EventOperationsClient<
    tonic::service::interceptor::InterceptedService<tonic::transport::Channel, Credential>,
> {
    let channel = tonic::transport::Channel::from_shared(format!("http://{addr}"))
        .expect("address")
        .connect()
        .await
        .expect("reachable");
    ops::event_operations_client::EventOperationsClient::with_interceptor(
        channel,
        Credential::operator(token).expect("ascii"),
    )
}

/// A real event notification would handle, as a dead letter with a reason: in its dead-letter
/// queue behind RabbitMQ, in its `dead_letters` table on the embedded default.
async fn dead_letter(system: &TestSystem, event: &ps_events::Event, reason: &str) {
    let payload = ps_events::codec::encode(event);
    match system.rabbit() {
        Some(rabbit) => {
            let connection =
                lapin::Connection::connect(&rabbit.url, lapin::ConnectionProperties::default())
                    .await
                    .expect("RabbitMQ reachable");
            let channel = connection.create_channel().await.expect("channel");
            let mut headers = lapin::types::FieldTable::default();
            headers.insert(
                ps_events::rabbit::DEAD_REASON.into(),
                lapin::types::AMQPValue::LongString(reason.into()),
            );
            headers.insert(
                ps_events::rabbit::DEAD_AT.into(),
                lapin::types::AMQPValue::LongString(chrono::Utc::now().to_rfc3339().into()),
            );
            let dead = rabbit
                .names()
                .dead_letter_queue(ps_events::ConsumerName::Notification);
            channel
                .basic_publish(
                    "".into(),
                    dead.as_str().into(),
                    Default::default(),
                    &payload,
                    lapin::BasicProperties::default()
                        .with_delivery_mode(2)
                        .with_headers(headers)
                        .with_message_id(event.id.to_string().into())
                        .with_type(event.event_type().into()),
                )
                .await
                .expect("publish")
                .await
                .expect("stored");
            let _ = connection.close(200, "bye".into()).await;
        }
        None => {
            let db = system.database(&system.databases.notification).await;
            ps_events::dead_letter::entity::ActiveModel {
                id: Set(uuid::Uuid::now_v7()),
                consumer: Set("notification".into()),
                event_type: Set(event.event_type().into()),
                payload: Set(payload),
                reason: Set(reason.into()),
                dead_at: Set(chrono::Utc::now()),
            }
            .insert(&db)
            .await
            .expect("dead letter stored");
        }
    }
}

async fn dead_letters_say_why_and_are_redriven_once_the_cause_is_fixed(backend: Backend) {
    let system = TestSystem::start(&backend).await;
    let owner = system.practice_with_owner("Dead Letter Practice").await;
    let member = system
        .member(&owner, "certify@dead.test", PracticeRole::Member)
        .await;
    let row = system.staff_member(&owner, &member.email).await;
    let event = ps_events::Event::new(
        ps_core::PracticeId::parse_field("p", &owner.practice_id).expect("a practice id"),
        ps_events::Actor::user(
            ps_core::UserId::parse_field("u", &owner.user_id).expect("a user id"),
            "Owner of Dead Letter Practice",
        ),
        chrono::Utc::now(),
        ps_events::Payload::CertificationInvited(ps_events::event::CertificationInvited {
            staff_id: ps_core::StaffId::parse_field("s", &row.id).expect("a staff id"),
            email: ps_core::Email::parse("email", &member.email).expect("an e-mail"),
            name: ps_core::PersonName::parse("name", &row.name).expect("a name"),
            practice_name: "Dead Letter Practice".into(),
            inviter_name: "Owner of Dead Letter Practice".into(),
        }),
    );
    dead_letter(&system, &event, "gave up after 7 attempts: mail relay down").await;

    // Only the operator may look.
    let refused = operations(system.addresses.notification, "not-the-operator")
        .await
        .list_dead_letters(ops::ListDeadLettersRequest::default())
        .await
        .unwrap_err();
    assert_eq!(refused.code(), Code::Unauthenticated);
    let mut notification = operations(system.addresses.notification, OPERATOR_TOKEN).await;
    let listed = eventually("the dead letter listed", || {
        let mut notification = notification.clone();
        async move {
            let found = notification
                .list_dead_letters(ops::ListDeadLettersRequest::default())
                .await
                .ok()?
                .into_inner()
                .dead_letters;
            (!found.is_empty()).then_some(found)
        }
    })
    .await;
    assert_eq!(listed.len(), 1);
    assert_eq!(listed[0].event_id, event.id.to_string());
    assert_eq!(listed[0].event_type, "staff.certification_invited");
    assert_eq!(listed[0].consumer, "notification");
    assert!(
        listed[0].reason.contains("mail relay down"),
        "{:?}",
        listed[0]
    );
    assert!(listed[0].dead_at.is_some());
    assert!(
        system
            .mails_to(&member.email)
            .iter()
            .all(|m| !m.subject().contains("certified"))
    );

    let redriven = notification
        .redrive_dead_letters(ops::RedriveDeadLettersRequest::default())
        .await
        .expect("RedriveDeadLetters")
        .into_inner();
    assert_eq!(redriven.redriven, 1);
    assert_eq!(redriven.failed_again, 0);
    eventually("the redriven e-mail", || async {
        system
            .mails_to(&member.email)
            .into_iter()
            .find(|m| m.subject().contains("get certified"))
    })
    .await;
    let left = notification
        .list_dead_letters(ops::ListDeadLettersRequest::default())
        .await
        .expect("ListDeadLetters")
        .into_inner()
        .dead_letters;
    assert!(left.is_empty(), "{left:?}");
    // A service without anything dead answers an empty list.
    let none = operations(system.addresses.identity, OPERATOR_TOKEN)
        .await
        .list_dead_letters(ops::ListDeadLettersRequest::default())
        .await
        .expect("identity answers too")
        .into_inner()
        .dead_letters;
    assert!(none.is_empty());
}

/// The `kid` in an access token's header.
fn kid_of(token: &str) -> String {
    let header = token.split('.').next().expect("a JWT");
    let json = base64::engine::general_purpose::URL_SAFE_NO_PAD
        .decode(header)
        .expect("base64url");
    let header: serde_json::Value = serde_json::from_slice(&json).expect("a JSON header");
    header["kid"].as_str().expect("a kid").to_owned()
}

async fn jwks(system: &TestSystem) -> Vec<String> {
    let mut kids: Vec<String> = system
        .identity()
        .await
        .get_jwks(identity::GetJwksRequest {})
        .await
        .expect("GetJwks")
        .into_inner()
        .keys
        .into_iter()
        .map(|k| k.kid)
        .collect();
    kids.sort();
    kids
}

/// Every service answers `person` (a call each may make).
async fn accepted_everywhere(system: &TestSystem, person: &Person) -> bool {
    let staff = system
        .staff_as(person)
        .await
        .get_practice(staff::GetPracticeRequest {})
        .await
        .is_ok();
    let orgs = system
        .org_access_as(person)
        .await
        .list_roles(ps_proto::orgaccess::v1::ListRolesRequest {})
        .await
        .is_ok();
    let log = system
        .notification_as(person)
        .await
        .list_deliveries(ps_proto::notification::v1::ListDeliveriesRequest::default())
        .await
        .is_ok();
    let me = system
        .identity_as(person)
        .await
        .list_my_practices(identity::ListMyPracticesRequest {})
        .await
        .is_ok();
    staff && orgs && log && me
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_signing_key_rotates_without_refusing_a_token() {
    let mut system = TestSystem::start(&Backend::Embedded).await;
    let owner = system.practice_with_owner("Rotation Practice").await;
    let old_kid = kid_of(&owner.access_token);
    assert_eq!(jwks(&system).await, std::slice::from_ref(&old_kid));
    eventually("every service to know the owner", || async {
        accepted_everywhere(&system, &owner).await.then_some(())
    })
    .await;

    let channel =
        tonic::transport::Channel::from_shared(format!("http://{}", system.addresses.identity))
            .expect("address")
            .connect()
            .await
            .expect("reachable");
    let mut operator =
        identity::identity_operator_service_client::IdentityOperatorServiceClient::with_interceptor(
            channel.clone(),
            Credential::operator(OPERATOR_TOKEN).expect("ascii"),
        );
    let refused = identity::identity_operator_service_client::IdentityOperatorServiceClient::with_interceptor(
        channel,
        Credential::bearer(&owner.access_token).expect("ascii"),
    )
    .rotate_signing_key(identity::RotateSigningKeyRequest {})
    .await
    .unwrap_err();
    assert_eq!(
        refused.code(),
        Code::Unauthenticated,
        "a user token is not the operator's"
    );
    let rotated = operator
        .rotate_signing_key(identity::RotateSigningKeyRequest {})
        .await
        .expect("RotateSigningKey")
        .into_inner();
    assert_eq!(rotated.retiring_kids, std::slice::from_ref(&old_kid));
    let mut both = vec![old_kid.clone(), rotated.kid.clone()];
    both.sort();
    assert_eq!(
        jwks(&system).await,
        both,
        "the new key is published at once"
    );
    let before = system
        .sign_in(&owner.email, &owner.password)
        .await
        .expect("sign in");
    assert_eq!(
        kid_of(&before.access_token),
        old_kid,
        "not signing before activation"
    );

    // Past the activation delay, every sign-in gets the new key, which every service accepts
    // (an unknown key id makes them fetch the keys again) — and the old tokens still work.
    system.clock.advance(chrono::Duration::seconds(3));
    let after = eventually("tokens signed with the new key", || async {
        let person = system.sign_in(&owner.email, &owner.password).await.ok()?;
        (kid_of(&person.access_token) == rotated.kid).then_some(person)
    })
    .await;
    // A verifier fetches keys on an unknown key id at most once a second; the activation
    // delay (wall-clock in production) covers that, the moved test clock does not, hence the
    // wait here.
    eventually("the new key's token accepted everywhere", || async {
        accepted_everywhere(&system, &after).await.then_some(())
    })
    .await;
    assert!(
        accepted_everywhere(&system, &owner).await,
        "the old key's token"
    );

    // Once every token of the old key has expired, the old key is no longer published.
    system.clock.advance(chrono::Duration::minutes(17));
    assert_eq!(jwks(&system).await, std::slice::from_ref(&rotated.kid));

    // At rest, every private key is sealed; with another key-encryption key identity refuses
    // to start rather than sign with a key it cannot read.
    let db = system.database(&system.databases.identity).await;
    let clear = system_tests::count(
        &db,
        "SELECT count(*) AS n FROM signing_keys WHERE key_format <> 'sealed-v1'",
    )
    .await;
    assert_eq!(clear, 0);
    let _ = db.close().await;
    system.stop_services().await;
    let wrong = ps_identity::Config {
        common: ps_service::CommonConfig {
            database: system.databases.identity.clone(),
            ..ps_service::CommonConfig::defaults("identity", 0, 0)
        },
        signing: ps_identity::config::SigningSettings {
            key_encryption_key: ps_config::Secret::new(ps_identity::app::keyring::Kek::generate()),
            ..Default::default()
        },
        ..Default::default()
    };
    let (_trigger, shutdown) = ps_core::Shutdown::new();
    let refused = ps_identity::start(
        wrong,
        ps_service::Environment {
            clock: system.clock.clone(),
            events: ps_events::EventTransport::InProcess(Default::default()),
            shutdown,
        },
        tokio::net::TcpListener::bind("127.0.0.1:0")
            .await
            .expect("a port"),
    )
    .await;
    let message = refused.err().map(|e| e.to_string()).unwrap_or_default();
    assert!(message.contains("key-encryption key"), "{message}");
}
