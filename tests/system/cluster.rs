//! Clustered production: the four services as processes of their own on PostgreSQL and a
//! private three-node RabbitMQ cluster with quorum queues (see `system_tests::cluster`), 1,000
//! invitations at a steady rate, and a node lost (SIGKILL) in the middle: first the node
//! leading notification's queue, then — after it came back and rejoined — another node.
//!
//! Each run asserts what the fault suite asserts (every InviteStaff answered OK, UNAVAILABLE
//! retried; every invitee exactly one e-mail; nothing left in an outbox, a queue or the mailer)
//! and that every queue is a quorum queue, and prints its figures (`--nocapture`), among them
//! the time from the node's loss to the first e-mail written after it and the longest pause
//! between two e-mails.

use std::time::{Duration, Instant, SystemTime};

use ps_events::ConsumerName;
use system_tests::cluster::{self, RabbitCluster};
use system_tests::processes::{InvitationLoad, ProcessOptions, ProcessSystem};
use system_tests::{ExternalInfrastructure, eventually_within};

const INVITATIONS: usize = 1_000;
const IN_FLIGHT: usize = 16;
const PACE: Duration = Duration::from_millis(10);
const PATIENCE: Duration = Duration::from_secs(240);

/// PostgreSQL from the environment and RabbitMQ's server installed, or `None` (the test does
/// nothing) — except under `PS_TEST_REQUIRE_EXTERNAL=1`, as in CI, where either missing fails.
fn prerequisites() -> Option<String> {
    let required = std::env::var("PS_TEST_REQUIRE_EXTERNAL").is_ok_and(|v| v == "1");
    let postgres = std::env::var("PS_TEST_POSTGRES_URL")
        .ok()
        .filter(|v| !v.is_empty());
    match (postgres, cluster::available()) {
        (Some(postgres), true) => Some(postgres),
        _ if required => panic!(
            "PS_TEST_REQUIRE_EXTERNAL=1 but PS_TEST_POSTGRES_URL is not set or rabbitmq-server \
             is not installed"
        ),
        _ => {
            eprintln!(
                "note: the RabbitMQ cluster test did not run (it needs PS_TEST_POSTGRES_URL and \
                 rabbitmq-server)"
            );
            None
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[cfg_attr(
    not(external_backends),
    ignore = "needs PostgreSQL and RabbitMQ: set PS_TEST_POSTGRES_URL and PS_TEST_AMQP_URL, as bash .ci/run does"
)]
async fn a_cluster_node_lost_under_load_loses_no_invitation() {
    let Some(postgres) = prerequisites() else {
        return;
    };
    let _turn = system_tests::processes::one_at_a_time().await;
    let began = Instant::now();
    let mut cluster = RabbitCluster::start(3).await;
    let formed = began.elapsed();
    println!("cluster: 3 nodes started and joined in {formed:.1?}");
    let first = lose_a_node_under_load(
        &mut cluster,
        &postgres,
        "the notification queue's leader",
        None,
    )
    .await;
    lose_a_node_under_load(&mut cluster, &postgres, "another node", Some(first)).await;
    drop(cluster);
    println!("cluster test: {:.1?} in all", began.elapsed());
}

/// One run: fresh databases and exchange on the cluster, the services with quorum queues, the
/// invitations, and a node lost a third of the way in (the leader of notification's queue, or
/// when `not` is given any node but that one, the leader if it qualifies). The node is started
/// again and waited for until it rejoined. Returns the node lost.
async fn lose_a_node_under_load(
    cluster: &mut RabbitCluster,
    postgres: &str,
    which: &str,
    not: Option<usize>,
) -> usize {
    let run = Instant::now();
    let infrastructure = ExternalInfrastructure::create(postgres, &cluster.url()).await;
    let mut system = ProcessSystem::start(
        infrastructure,
        ProcessOptions {
            binary: env!("CARGO_BIN_EXE_replica").into(),
            replicas: 1,
            proxied: false,
            env: vec![("PS_RABBITMQ__QUEUE_TYPE".into(), "quorum".into())],
        },
    )
    .await;
    let names = system.infrastructure.rabbit.names();
    let mut queues = Vec::new();
    for consumer in ConsumerName::ALL {
        queues.push(names.queue(consumer));
        queues.push(names.dead_letter_queue(consumer));
    }
    let types = cluster.queue_types(0).await;
    for queue in &queues {
        assert_eq!(
            types.get(queue).map(String::as_str),
            Some("quorum"),
            "{queue} is a quorum queue"
        );
    }

    let owner = system.practice_with_owner("Cluster", PATIENCE).await;
    let invitees: Vec<String> = (0..INVITATIONS)
        .map(|i| format!("person{i:04}@cluster.example.test"))
        .collect();
    // The victim is chosen before the load starts: asking the cluster takes seconds, and the
    // load must still be running when the node goes.
    let notification_queue = names.queue(ConsumerName::Notification);
    let leader = cluster
        .leader_of(&notification_queue, not.map_or(0, |n| (n + 1) % 3))
        .await;
    let victim = match not {
        None => leader,
        Some(spared) if leader != spared => leader,
        Some(spared) => (spared + 1) % cluster.size(),
    };
    let load = InvitationLoad::start(system.staff_as(&owner), invitees.clone(), PACE, IN_FLIGHT);
    load.until_answered(INVITATIONS / 3, PATIENCE).await;
    let invited_before = load.answered_invitees().len();
    let lost_at = SystemTime::now();
    cluster.kill(victim);
    let lost = Instant::now();
    let survivor = (victim + 1) % cluster.size();
    let new_leader = cluster.leader_of(&notification_queue, survivor).await;

    load.until_answered(INVITATIONS, PATIENCE).await;
    let invited_after: Vec<String> = load.answered_invitees().split_off(invited_before);
    let report = load.finish().await;
    assert!(
        report.failures.is_empty(),
        "RPCs answered something other than OK or UNAVAILABLE: {:#?}",
        report.failures
    );
    let settled = system.settle(&invitees, PATIENCE).await;
    let settled_after = lost.elapsed();
    for process in &system.processes {
        eventually_within(
            Duration::from_secs(30),
            &format!("{} reporting events serving", process.service),
            || async { (process.health("events").await == Some(true)).then_some(()) },
        )
        .await;
    }
    let timing = mail_timing(&system.mail_dir, lost_at, &invited_after);
    // The loss was felt: processes connected to the node lost it and moved to another.
    let moved: Vec<String> = system
        .processes
        .iter()
        .filter(|p| {
            std::fs::read_to_string(&p.log).is_ok_and(|log| {
                log.contains("publisher reconnected") || log.contains("consumer resubscribed")
            })
        })
        .map(|p| p.service.to_owned())
        .collect();
    system.stop().await;

    let back = Instant::now();
    cluster.restart(victim).await;
    let rejoined = back.elapsed();
    println!(
        "cluster «{which}»: lost {} ({}; leader of {notification_queue} before: {}, after: {}); \
         processes that moved to another node: {moved:?}; {} invitations, {} answered ({} \
         UNAVAILABLE retried), {} e-mails (owner included), {} duplicates, {} lost, {} staff \
         without an e-mail; after the loss: first e-mail {}, first e-mail of an invitation made \
         after it {}, longest pause between e-mails {:.2?}; settled {settled_after:.1?} after \
         the loss; node back and rejoined in {rejoined:.1?}; run {:.1?}",
        cluster.name(victim),
        if victim == leader {
            "the leader"
        } else {
            "not the leader"
        },
        cluster.name(leader),
        cluster.name(new_leader),
        INVITATIONS,
        report.answered,
        report.unavailable,
        settled.emails,
        settled.duplicates,
        settled.lost.len(),
        settled.staff_without_email.len(),
        shown(timing.first),
        shown(timing.first_of_later_invitation),
        timing.longest_pause,
        run.elapsed(),
    );
    assert_ne!(new_leader, victim, "a surviving node leads the queue");
    assert_eq!(report.answered, INVITATIONS);
    assert!(
        settled.lost.is_empty(),
        "invitees without an e-mail: {:?}",
        settled.lost
    );
    assert_eq!(settled.duplicates, 0, "duplicate e-mails");
    assert!(
        settled.staff_without_email.is_empty(),
        "staff without an e-mail: {:?}",
        settled.staff_without_email
    );
    assert_eq!(settled.emails, INVITATIONS + 1);
    assert!(
        timing.first_of_later_invitation.is_some(),
        "invitations made after the loss were e-mailed"
    );
    assert!(
        !moved.is_empty(),
        "some process was connected to the lost node and moved"
    );
    victim
}

fn shown(elapsed: Option<Duration>) -> String {
    elapsed.map_or("never".to_owned(), |d| format!("{d:.2?}"))
}

/// When e-mails were written around a node's loss.
struct MailTiming {
    /// From the loss to the first e-mail written after it.
    first: Option<Duration>,
    /// From the loss to the first e-mail of an invitation made after it (whose event went
    /// through the cluster after the loss).
    first_of_later_invitation: Option<Duration>,
    /// The longest pause between two consecutive e-mails, from a second before the loss on.
    longest_pause: Duration,
}

fn mail_timing(dir: &std::path::Path, since: SystemTime, later: &[String]) -> MailTiming {
    let mut written: Vec<(SystemTime, String)> = std::fs::read_dir(dir)
        .expect("mail folder")
        .filter_map(Result::ok)
        .map(|e| e.path())
        .filter(|p| p.extension().is_some_and(|x| x == "eml"))
        .filter_map(|path| {
            let modified = std::fs::metadata(&path).and_then(|m| m.modified()).ok()?;
            let raw = std::fs::read_to_string(&path).ok()?;
            let to = raw.lines().find_map(|l| l.strip_prefix("To: "))?;
            let to = to
                .rsplit_once('<')
                .map_or(to, |(_, a)| a.trim_end_matches('>'));
            Some((modified, to.trim().to_owned()))
        })
        .collect();
    written.sort();
    let after = |t: &SystemTime| t.duration_since(since).ok();
    let first = written
        .iter()
        .find(|(t, _)| *t > since)
        .and_then(|(t, _)| after(t));
    let later: std::collections::HashSet<&str> = later.iter().map(String::as_str).collect();
    let first_of_later_invitation = written
        .iter()
        .find(|(_, to)| later.contains(to.as_str()))
        .and_then(|(t, _)| after(t));
    let from = since - Duration::from_secs(1);
    let recent: Vec<SystemTime> = written
        .iter()
        .map(|(t, _)| *t)
        .filter(|t| *t >= from)
        .collect();
    let longest_pause = recent
        .windows(2)
        .filter_map(|pair| pair[1].duration_since(pair[0]).ok())
        .max()
        .unwrap_or_default();
    MailTiming {
        first,
        first_of_later_invitation,
        longest_pause,
    }
}
