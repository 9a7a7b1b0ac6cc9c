//! Event delivery: republished events change nothing, a restart loses nothing, and an event no
//! consumer can read is dead-lettered without blocking the ones behind it.

use std::time::Duration;

use ps_proto::common::v1::PracticeRole;
use ps_proto::notification::v1 as notification;
use ps_proto::staff::v1 as staff;
use sea_orm::{ActiveModelTrait, ConnectionTrait, Set, Statement};
use system_tests::{Backend, Person, TestSystem, eventually, on_every_backend};

on_every_backend!(
    republished_events_change_nothing,
    a_restart_loses_no_event_and_sends_no_second_email,
    an_unreadable_event_is_dead_lettered_and_others_flow,
);

async fn invite(system: &TestSystem, inviter: &Person, email: &str) {
    system
        .staff_as(inviter)
        .await
        .invite_staff(staff::InviteStaffRequest {
            email: email.into(),
            name: format!("Person {email}"),
            practice_role: PracticeRole::Member as i32,
            ..Default::default()
        })
        .await
        .expect("InviteStaff");
}

async fn execute(system: &TestSystem, db: &ps_db::DbSettings, sql: &str) -> u64 {
    let conn = system.database(db).await;
    conn.execute_raw(Statement::from_string(
        conn.get_database_backend(),
        sql.to_owned(),
    ))
    .await
    .expect("statement")
    .rows_affected()
}

async fn deliveries_to(
    system: &TestSystem,
    viewer: &Person,
    email: &str,
) -> Vec<notification::Delivery> {
    system
        .notification_as(viewer)
        .await
        .list_deliveries(notification::ListDeliveriesRequest {
            recipient: email.into(),
            ..Default::default()
        })
        .await
        .expect("ListDeliveries")
        .into_inner()
        .deliveries
}

async fn republished_events_change_nothing(backend: Backend) {
    let system = TestSystem::start_handling_events_in_order(&backend).await;
    let owner = system.practice_with_owner("Replay Practice").await;
    let joined = system
        .member(&owner, "joined@example.test", PracticeRole::Member)
        .await;
    invite(&system, &owner, "pending@example.test").await;
    system.wait_for_mail("pending@example.test", 1).await;

    // As if every relay had crashed after publishing but before recording it: every event goes
    // out again, with the same ids.
    let republished = execute(
        &system,
        &system.databases.staff_directory,
        "UPDATE outbox_events SET published_at = NULL",
    )
    .await
        + execute(
            &system,
            &system.databases.identity,
            "UPDATE outbox_events SET published_at = NULL",
        )
        .await;
    assert!(
        republished >= 5,
        "invitations and acceptances were in the outboxes ({republished})"
    );

    // Consumers take events in order, so once a later event has its effect the replays have
    // been handled too.
    invite(&system, &owner, "sentinel@example.test").await;
    system.wait_for_mail("sentinel@example.test", 1).await;
    eventually("every replayed event to be published again", || async {
        let conn = system.database(&system.databases.staff_directory).await;
        let row = conn
            .query_one_raw(Statement::from_string(
                conn.get_database_backend(),
                "SELECT COUNT(*) FROM outbox_events WHERE published_at IS NULL".to_owned(),
            ))
            .await
            .ok()??;
        (row.try_get_by_index::<i64>(0).ok()? == 0).then_some(())
    })
    .await;

    for email in [
        owner.email.as_str(),
        "joined@example.test",
        "pending@example.test",
    ] {
        assert_eq!(system.mails_to(email).len(), 1, "one e-mail to {email}");
        assert_eq!(
            deliveries_to(&system, &owner, email).await.len(),
            1,
            "one delivery to {email}"
        );
    }
    let member = system
        .wait_for_status(&owner, "joined@example.test", staff::StaffStatus::Active)
        .await;
    assert_eq!(member.user_id, joined.user_id);
    system
        .wait_for_status(&owner, "pending@example.test", staff::StaffStatus::Pending)
        .await;
}

async fn a_restart_loses_no_event_and_sends_no_second_email(backend: Backend) {
    let mut system = TestSystem::start(&backend).await;
    let owner = system.practice_with_owner("Restart Practice").await;

    // Stop at once: the event may or may not have left the outbox yet.
    invite(&system, &owner, "mid-flight@example.test").await;
    system.stop_services().await;
    system.restart().await;

    let mail = system.wait_for_mail("mid-flight@example.test", 1).await;
    let owner = system
        .sign_in(&owner.email, &owner.password)
        .await
        .expect("sign in after restart");
    invite(&system, &owner, "after-restart@example.test").await;
    system.wait_for_mail("after-restart@example.test", 1).await;
    assert_eq!(system.mails_to("mid-flight@example.test").len(), 1);
    system
        .accept(&mail.token, "survived a restart")
        .await
        .expect("the link works");
    system
        .wait_for_status(
            &owner,
            "mid-flight@example.test",
            staff::StaffStatus::Active,
        )
        .await;
}

async fn an_unreadable_event_is_dead_lettered_and_others_flow(backend: Backend) {
    let system = TestSystem::start(&backend).await;
    let owner = system.practice_with_owner("Poison Practice").await;

    // An event no consumer can decode, as a buggy producer might write it.
    let conn = system.database(&system.databases.staff_directory).await;
    ps_events::outbox::entity::ActiveModel {
        id: Set(uuid::Uuid::now_v7()),
        event_type: Set("staff.invited".into()),
        payload: Set(b"\xff\xfe not protobuf".to_vec()),
        created_at: Set(chrono::Utc::now()),
        published_at: Set(None),
        attempts: Set(0),
        next_attempt_at: Set(chrono::Utc::now()),
        claimed_until: Set(None),
        last_error: Set(None),
    }
    .insert(&conn)
    .await
    .expect("poison row");

    invite(&system, &owner, "after-poison@example.test").await;
    system.wait_for_mail("after-poison@example.test", 1).await;

    match system.rabbit() {
        None => {
            let dead = eventually("the poison event in notification's dead letters", || async {
                let conn = system.database(&system.databases.notification).await;
                let row = conn
                    .query_one_raw(Statement::from_string(
                        conn.get_database_backend(),
                        "SELECT COUNT(*) FROM dead_letters WHERE consumer = 'notification' AND event_type = 'staff.invited'"
                            .to_owned(),
                    ))
                    .await
                    .ok()??;
                let n = row.try_get_by_index::<i64>(0).ok()?;
                (n > 0).then_some(n)
            })
            .await;
            assert_eq!(dead, 1);
        }
        Some(rabbit) => {
            use lapin::options::BasicGetOptions;
            let connection =
                lapin::Connection::connect(&rabbit.url, lapin::ConnectionProperties::default())
                    .await
                    .expect("RabbitMQ reachable");
            let channel = connection.create_channel().await.expect("channel");
            let queue = rabbit
                .names()
                .dead_letter_queue(ps_events::ConsumerName::Notification);
            let message = eventually(
                "the poison event in notification's dead-letter queue",
                || {
                    let channel = channel.clone();
                    let queue = queue.clone();
                    async move {
                        channel
                            .basic_get(queue.as_str().into(), BasicGetOptions { no_ack: true })
                            .await
                            .ok()?
                    }
                },
            )
            .await;
            assert!(message.delivery.data.starts_with(b"\xff\xfe"));
            let _ =
                tokio::time::timeout(Duration::from_secs(2), connection.close(200, "bye".into()))
                    .await;
        }
    }
}

/// Handles every delivery by waiting, for up to two seconds, until `expected` handlers are
/// inside at once; records the most it saw.
struct Gate {
    expected: usize,
    inside: std::sync::atomic::AtomicUsize,
    most: std::sync::atomic::AtomicUsize,
    handled: std::sync::atomic::AtomicUsize,
}

#[async_trait::async_trait]
impl ps_events::EventHandler for Gate {
    fn consumer(&self) -> ps_events::ConsumerName {
        ps_events::ConsumerName::Notification
    }

    async fn handle(&self, _event: ps_events::Event) -> Result<(), ps_events::HandleError> {
        use std::sync::atomic::Ordering::SeqCst;
        let now = self.inside.fetch_add(1, SeqCst) + 1;
        self.most.fetch_max(now, SeqCst);
        let until = tokio::time::Instant::now() + Duration::from_secs(2);
        while self.inside.load(SeqCst) < self.expected && tokio::time::Instant::now() < until {
            tokio::time::sleep(Duration::from_millis(5)).await;
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
        self.inside.fetch_sub(1, SeqCst);
        self.handled.fetch_add(1, SeqCst);
        Ok(())
    }
}

/// A RabbitMQ consumer handles up to `concurrency` deliveries at once, and never more: a
/// slow event does not hold up the queue behind it.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[cfg_attr(
    not(external_backends),
    ignore = "needs PostgreSQL and RabbitMQ: set PS_TEST_POSTGRES_URL and PS_TEST_AMQP_URL, as bash .ci/run does"
)]
async fn a_rabbitmq_consumer_handles_deliveries_concurrently() {
    use ps_events::rabbit::{RabbitConsumer, RabbitPublisher};
    use ps_events::relay::OutgoingEvent;
    use std::sync::atomic::Ordering::SeqCst;
    let Some(infrastructure) = system_tests::ExternalInfrastructure::from_env().await else {
        return;
    };
    let mut settings = infrastructure.rabbit.clone();
    settings.concurrency = 4;
    let gate = std::sync::Arc::new(Gate {
        expected: 4,
        inside: Default::default(),
        most: Default::default(),
        handled: Default::default(),
    });
    let (stop, shutdown) = ps_core::Shutdown::new();
    let consuming = RabbitConsumer::start(
        settings.clone(),
        ps_events::consumer::ConsumerRunner::new(gate.clone(), Default::default()),
        ps_events::EventsStatus::new(true),
        shutdown.clone(),
    )
    .await
    .expect("consumer subscribes");
    let publisher = RabbitPublisher::connect(settings, "test")
        .await
        .expect("publisher connects");
    let events: Vec<OutgoingEvent> = (0..12)
        .map(|i| {
            let event = ps_events::Event::new(
                ps_core::PracticeId::generate(),
                ps_events::Actor::operator("test"),
                chrono::Utc::now(),
                ps_events::Payload::StaffInvited(ps_events::event::StaffInvited {
                    staff_id: ps_core::StaffId::generate(),
                    email: ps_core::Email::parse("email", &format!("p{i}@example.test"))
                        .expect("valid"),
                    name: ps_core::PersonName::parse("name", "Person").expect("valid"),
                    role: ps_core::PracticeRole::Member,
                    practice_name: "Practice".into(),
                    inviter_name: "test".into(),
                    location_ids: Vec::new(),
                }),
            );
            OutgoingEvent {
                id: event.id.as_uuid(),
                event_type: event.event_type().to_owned(),
                payload: ps_events::codec::encode(&event),
                trace: Default::default(),
            }
        })
        .collect();
    for published in ps_events::Publisher::publish(&publisher, &events, &shutdown).await {
        published.expect("the broker confirms");
    }
    eventually("twelve events handled", || async {
        (gate.handled.load(SeqCst) == 12).then_some(())
    })
    .await;
    stop.trigger();
    consuming.await.expect("consumer stops");
    assert_eq!(
        gate.most.load(SeqCst),
        4,
        "deliveries handled at once (concurrency 4)"
    );
}

/// Switching an existing deployment's queue type is refused by the broker, by name, rather
/// than silently keeping the old type (deploy/README.md, "Switching the queue type"); a fresh
/// exchange takes either type.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[cfg_attr(
    not(external_backends),
    ignore = "needs PostgreSQL and RabbitMQ: set PS_TEST_POSTGRES_URL and PS_TEST_AMQP_URL, as bash .ci/run does"
)]
async fn a_queue_cannot_change_type_in_place() {
    use ps_events::rabbit::{QueueType, connect, declare_topology};
    let Some(infrastructure) = system_tests::ExternalInfrastructure::from_env().await else {
        return;
    };
    let classic = infrastructure.rabbit.clone();
    let mut quorum = classic.clone();
    quorum.queue_type = QueueType::Quorum;
    let connection = connect(&classic, "test-queue-type")
        .await
        .expect("RabbitMQ reachable");
    let channel = connection.create_channel().await.expect("channel");
    declare_topology(&channel, &classic)
        .await
        .expect("classic queues declared");
    declare_topology(&channel, &classic)
        .await
        .expect("declaring again changes nothing");
    let refused = declare_topology(&channel, &quorum)
        .await
        .expect_err("a classic queue cannot become a quorum queue");
    assert!(
        refused
            .to_string()
            .contains("PRECONDITION_FAILED - inequivalent arg"),
        "the refusal names the argument: {refused}"
    );
    let _ = connection.close(200, "bye".into()).await;

    // A new exchange name gets new queues, of the new type.
    quorum.exchange = format!("{}-quorum", classic.exchange);
    let connection = connect(&quorum, "test-queue-type")
        .await
        .expect("RabbitMQ reachable");
    let channel = connection.create_channel().await.expect("channel");
    declare_topology(&channel, &quorum)
        .await
        .expect("quorum queues declared under a new exchange");
    let _ = connection.close(200, "bye".into()).await;
    ps_scratch::delete_topology(&quorum).await;
}
