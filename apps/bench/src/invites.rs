//! P4: InviteStaff until the invitation e-mail is written, sustained, on PostgreSQL + RabbitMQ,
//! against raw confirmed publishing with lapin (256 in flight, persistent, to a durable queue)
//! on the same broker; then the invite-to-e-mail latency at half the sustained rate.
//!
//! An e-mail's delivery time is its file's modification time (the notification service writes
//! a temporary file and renames it, which keeps that time).

use std::collections::{HashMap, HashSet};
use std::path::Path;
use std::sync::Arc;
use std::time::{Duration, Instant, SystemTime};

use anyhow::{Context, anyhow};
use futures::StreamExt;
use futures::stream::FuturesUnordered;
use lapin::options::{
    BasicPublishOptions, ConfirmSelectOptions, QueueDeclareOptions, QueueDeleteOptions,
};
use lapin::types::FieldTable;
use lapin::{BasicProperties, Confirmation, Connection, ConnectionProperties};
use ps_proto::common::v1::PracticeRole;
use ps_proto::staff::v1 as staff;
use tokio::sync::Mutex;

use crate::Settings;
use crate::harness::{Backend, Product};
use crate::load;
use crate::stats::{self, Figure, millis, percentile};

const IN_FLIGHT: usize = 64;
const RAW_IN_FLIGHT: usize = 256;

pub(crate) async fn p4(settings: &Settings, backend: &Backend) -> anyhow::Result<()> {
    println!("P4 InviteStaff → e-mail written, on {}", backend.name());
    let product = Product::start(backend, Default::default()).await?;
    let result = run(settings, &product).await;
    product.stop().await;
    result
}

async fn run(settings: &Settings, product: &Product) -> anyhow::Result<()> {
    let owner = product.practice_with_owner("Busy Practice").await?;
    let staff_client = product.staff_as(&owner).await?;
    let publisher = RawPublisher::open(product).await?;

    let next = Arc::new(std::sync::atomic::AtomicU64::new(0));
    let invite = {
        let staff_client = staff_client.clone();
        let next = next.clone();
        move |duration: Duration| {
            let staff_client = staff_client.clone();
            let next = next.clone();
            load::closed_loop(IN_FLIGHT, duration, move |_| {
                let mut client = staff_client.clone();
                let n = next.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
                async move { client.invite_staff(invitation(n)).await.map(|_| ()) }
            })
        }
    };
    let mut mails = MailFolder::new(&product.mail_dir);
    mails.scan();

    // Warm-up.
    publisher.publish(settings.warmup).await?;
    let warm = invite(settings.warmup).await;
    mails
        .wait_for(warm.ok as usize, Duration::from_secs(120))
        .await?;

    let mut figures = Figures::default();
    let mark = crate::spans::mark();
    for _ in 0..settings.blocks {
        let raw = publisher.publish(settings.block).await?;
        let started = SystemTime::now();
        let sent = invite(settings.block).await;
        figures.failures += sent.failed + sent.refused;
        let delivered = mails
            .wait_for(sent.ok as usize, Duration::from_secs(300))
            .await?;
        let last = delivered.iter().map(|(_, at)| *at).max().unwrap_or(started);
        let took = last.duration_since(started).unwrap_or_default();
        let invites_per_second = sent.ok as f64 / took.as_secs_f64();
        figures.raw_rate.push(raw);
        figures.rate.push(invites_per_second);
        figures.ratio.push(invites_per_second / raw);

        // Latency at half the sustained rate, sent open-loop at a steady pace.
        let pace = invites_per_second / 2.0;
        let latencies = paced(&staff_client, &next, pace, settings.block, &mut mails).await?;
        figures.at_rate.push(pace);
        figures.p50.push(millis(percentile(&latencies, 50.0)));
        figures.p99.push(millis(percentile(&latencies, 99.0)));
    }
    publisher.close().await;
    figures.print(mark);
    Ok(())
}

/// P4's figures over the blocks.
#[derive(Default)]
struct Figures {
    /// The baseline: raw confirmed publishes per second.
    raw_rate: Figure,
    /// Invitations per second until their e-mails were written.
    rate: Figure,
    ratio: Figure,
    /// The pace of the latency measurement (half of `rate`), and its latencies.
    at_rate: Figure,
    p50: Figure,
    p99: Figure,
    /// Invitations refused or failed.
    failures: u64,
}

impl Figures {
    /// The figures, where the time went (consumers' handling since `mark`), and the verdicts.
    fn print(&self, mark: usize) {
        stats::print(
            "raw confirmed publish (lapin, 256 in flight)",
            &self.raw_rate,
            "msg/s",
        );
        stats::print(
            &format!("invites → e-mail written ({IN_FLIGHT} in flight)"),
            &self.rate,
            "invites/s",
        );
        stats::print("ratio invites / raw publish", &self.ratio, "×");
        stats::print(
            "paced at half the sustained rate",
            &self.at_rate,
            "invites/s",
        );
        stats::print("invite → e-mail p50 at that rate", &self.p50, "ms");
        stats::print("invite → e-mail p99 at that rate", &self.p99, "ms");
        if self.failures > 0 {
            println!("  {} invitations failed", self.failures);
        }
        // Where the time goes: each consumer's handling time per delivery (from its spans).
        for (service, handled, median) in crate::spans::per_service_since(mark) {
            println!(
                "  {service:<16} handled {handled:>6} deliveries, median {:.2} ms each",
                millis(median)
            );
        }
        stats::verdict("P4", "≥ 1,500 invites/s", self.rate.median() >= 1500.0);
        stats::verdict("P4", "≥ 0.2× raw publish rate", self.ratio.median() >= 0.2);
        stats::verdict(
            "P4",
            "p99 invite → e-mail ≤ 20 ms at half the rate",
            self.p99.median() <= 20.0,
        );
    }
}

/// The baseline's publisher: a connection to the product's broker, a channel in confirm mode
/// and a durable queue of the run's own.
struct RawPublisher {
    connection: Connection,
    channel: lapin::Channel,
    queue: String,
}

impl RawPublisher {
    async fn open(product: &Product) -> anyhow::Result<Self> {
        let amqp_url = product
            .rabbit()
            .map(|r| r.url.clone())
            .ok_or_else(|| anyhow!("P4 needs RabbitMQ"))?;
        let queue = format!(
            "{}-raw-publish",
            product
                .rabbit()
                .map(|r| r.exchange.clone())
                .unwrap_or_default()
        );
        let connection = Connection::connect(&amqp_url, ConnectionProperties::default()).await?;
        let channel = connection.create_channel().await?;
        channel
            .confirm_select(ConfirmSelectOptions::default())
            .await?;
        channel
            .queue_declare(
                queue.as_str().into(),
                QueueDeclareOptions {
                    durable: true,
                    ..QueueDeclareOptions::default()
                },
                FieldTable::default(),
            )
            .await?;
        Ok(Self {
            connection,
            channel,
            queue,
        })
    }

    /// See [`raw_publish`].
    async fn publish(&self, duration: Duration) -> anyhow::Result<f64> {
        raw_publish(&self.channel, &self.queue, duration).await
    }

    /// Removes the queue and closes the connection (best effort).
    async fn close(self) {
        let _ = self
            .channel
            .queue_delete(self.queue.as_str().into(), QueueDeleteOptions::default())
            .await;
        let _ = self.connection.close(200, "bye".into()).await;
    }
}

fn invitation(n: u64) -> staff::InviteStaffRequest {
    staff::InviteStaffRequest {
        email: format!("invitee{n}@busy.bench.test"),
        name: format!("Invitee {n}"),
        practice_role: PracticeRole::Member as i32,
        ..Default::default()
    }
}

/// Publishes for `duration` with [`RAW_IN_FLIGHT`] confirms outstanding; messages per second
/// confirmed.
async fn raw_publish(
    channel: &lapin::Channel,
    queue: &str,
    duration: Duration,
) -> anyhow::Result<f64> {
    // About the size of an encoded event envelope.
    let payload = vec![b'x'; 600];
    let started = Instant::now();
    let mut pending = FuturesUnordered::new();
    let mut confirmed = 0u64;
    while started.elapsed() < duration {
        while pending.len() < RAW_IN_FLIGHT {
            let confirm = channel
                .basic_publish(
                    "".into(),
                    queue.into(),
                    BasicPublishOptions {
                        mandatory: true,
                        ..BasicPublishOptions::default()
                    },
                    &payload,
                    BasicProperties::default()
                        .with_delivery_mode(2)
                        .with_content_type("application/x-protobuf".into()),
                )
                .await?;
            pending.push(confirm);
        }
        if let Some(result) = pending.next().await {
            match result? {
                Confirmation::Ack(None) => confirmed += 1,
                other => return Err(anyhow!("raw publish not confirmed: {other:?}")),
            }
        }
    }
    while let Some(result) = pending.next().await {
        if let Confirmation::Ack(None) = result? {
            confirmed += 1;
        }
    }
    let rate = confirmed as f64 / started.elapsed().as_secs_f64();
    channel
        .queue_purge(queue.into(), Default::default())
        .await
        .context("purging the raw queue")?;
    Ok(rate)
}

/// Sends invitations at `per_second` for `duration` without waiting for answers; the latency
/// of each from the request to its e-mail.
async fn paced(
    client: &ps_proto::staff::v1::staff_directory_service_client::StaffDirectoryServiceClient<
        crate::harness::Authed,
    >,
    next: &std::sync::atomic::AtomicU64,
    per_second: f64,
    duration: Duration,
    mails: &mut MailFolder,
) -> anyhow::Result<Vec<Duration>> {
    let interval = Duration::from_secs_f64(1.0 / per_second.max(1.0));
    let sent_at: Arc<Mutex<HashMap<String, SystemTime>>> = Arc::default();
    let started = Instant::now();
    let mut tick = tokio::time::interval(interval);
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Burst);
    let mut tasks = Vec::new();
    while started.elapsed() < duration {
        tick.tick().await;
        let n = next.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
        let mut client = client.clone();
        let sent_at = sent_at.clone();
        tasks.push(tokio::spawn(async move {
            let request = invitation(n);
            let email = request.email.clone();
            let at = SystemTime::now();
            let ok = client.invite_staff(request).await.is_ok();
            if ok {
                sent_at.lock().await.insert(email, at);
            }
            ok
        }));
    }
    let mut ok = 0;
    for task in tasks {
        if task.await.unwrap_or(false) {
            ok += 1;
        }
    }
    let delivered = mails.wait_for(ok, Duration::from_secs(120)).await?;
    let sent_at = sent_at.lock().await;
    let mut latencies: Vec<Duration> = delivered
        .iter()
        .filter_map(|(path, at)| {
            let (to, _) = crate::harness::read_mail(path)?;
            let sent = sent_at.get(&to)?;
            Some(at.duration_since(*sent).unwrap_or_default())
        })
        .collect();
    latencies.sort_unstable();
    Ok(latencies)
}

/// The mail folder, read incrementally: each file once.
struct MailFolder {
    dir: std::path::PathBuf,
    seen: HashSet<std::ffi::OsString>,
}

impl MailFolder {
    fn new(dir: &Path) -> Self {
        Self {
            dir: dir.to_owned(),
            seen: HashSet::new(),
        }
    }

    /// New e-mails since the last scan: (file, written at). Only the folder is read here, so
    /// the bench takes little CPU from the product while it waits.
    fn scan(&mut self) -> Vec<(std::path::PathBuf, SystemTime)> {
        let mut new = Vec::new();
        let Ok(entries) = std::fs::read_dir(&self.dir) else {
            return new;
        };
        for entry in entries.filter_map(Result::ok) {
            let name = entry.file_name();
            if !name.to_string_lossy().ends_with(".eml") || self.seen.contains(&name) {
                continue;
            }
            let Ok(at) = entry.metadata().and_then(|m| m.modified()) else {
                continue;
            };
            self.seen.insert(name);
            new.push((entry.path(), at));
        }
        new
    }

    /// Waits until `n` new e-mails have been written; returns them.
    async fn wait_for(
        &mut self,
        n: usize,
        patience: Duration,
    ) -> anyhow::Result<Vec<(std::path::PathBuf, SystemTime)>> {
        let deadline = Instant::now() + patience;
        let mut found = Vec::new();
        while found.len() < n {
            // Reading a folder of thousands of files blocks; let the runtime move the
            // product's tasks off this thread meanwhile.
            found.extend(tokio::task::block_in_place(|| self.scan()));
            if found.len() >= n {
                break;
            }
            if Instant::now() > deadline {
                return Err(anyhow!("{} of {n} e-mails arrived", found.len()));
            }
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
        Ok(found)
    }
}
