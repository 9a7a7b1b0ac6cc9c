//! P1 and P2: CheckAccess on a practice with 1,000 organisations and 500 staff, ten
//! organisations each, seeded through the API.
//!
//! P1 asks a fixed set of 1,000 questions over and over (warm), 16 in flight, against the
//! grpc.health.v1 Check RPC of the same org-access server (same tower layers) as the echo
//! baseline. P2 asks, one at a time, questions about (user, organisation) pairs never asked
//! before in the run.

use std::sync::Arc;
use std::time::{Duration, Instant};

use anyhow::Context;
use futures::{StreamExt, TryStreamExt, stream};
use ps_proto::orgaccess::v1 as org;
use tonic_health::pb::HealthCheckRequest;
use tonic_health::pb::health_client::HealthClient;

use crate::harness::{Backend, Product};
use crate::stats::{self, Figure, millis, percentile};
use crate::{Settings, load};

const ROLES: [&str; 3] = ["Viewer", "Editor", "Billing Manager"];
const ASKED: [&str; 6] = [
    "calendar.view",
    "calendar.create",
    "billing.refund",
    "workflow.edit",
    "clinical.write_notes",
    "organisation.view",
];
const IN_FLIGHT: usize = 16;

/// The seeded practice.
pub(crate) struct World {
    pub product: Product,
    pub users: Vec<String>,
    pub organisations: Vec<String>,
    orgs_each: usize,
}

impl World {
    /// The organisations member `i` works in, with which role.
    fn grants(&self, i: usize) -> Vec<(usize, &'static str)> {
        grants(i, self.orgs_each, self.organisations.len())
    }
}

fn grants(i: usize, each: usize, organisations: usize) -> Vec<(usize, &'static str)> {
    (0..each)
        .map(|k| {
            (
                (i * 7 + k * 131) % organisations,
                ROLES[(i + k) % ROLES.len()],
            )
        })
        .collect()
}

pub(crate) async fn seed(settings: &Settings) -> anyhow::Result<World> {
    let started = Instant::now();
    let product = Product::start(
        &Backend::Embedded,
        ps_identity::passwords::HashingSettings {
            // Seeding accepts hundreds of invitations; hashing is not what P1/P2 measure.
            memory_kib: 1024,
            iterations: 1,
            max_queued: 1024,
            ..Default::default()
        },
    )
    .await?;
    let owner = product.practice_with_owner("Big Partner").await?;
    let organisations = product
        .organisations(&owner, "Organisation", settings.organisations)
        .await?;
    let emails: Vec<String> = (0..settings.staff)
        .map(|i| format!("person{i}@big.bench.test"))
        .collect();
    let people = product.staff(&owner, &emails).await?;
    let users: Vec<String> = people.iter().map(|(u, _)| u.clone()).collect();
    product.wait_for_roster(&users, &organisations[0]).await?;
    let mut role_ids = std::collections::HashMap::new();
    for name in ROLES {
        role_ids.insert(name, product.role_id(&owner, name).await?);
    }
    let viewer = role_ids["Viewer"].clone();
    let orgs_each = 10.min(settings.organisations);
    let orgs = product.org_access_as(&owner).await?;
    stream::iter(people.iter().enumerate())
        .map(|(i, (_, staff_id))| {
            let mut orgs = orgs.clone();
            let request = org::SetStaffAccessRequest {
                request_id: format!("seed-{i}"),
                staff_id: staff_id.clone(),
                default_role_id: viewer.clone(),
                entries: grants(i, orgs_each, organisations.len())
                    .into_iter()
                    .map(|(o, role)| org::AccessEntry {
                        organisation_id: organisations[o].clone(),
                        role_id: role_ids[role].clone(),
                        ..Default::default()
                    })
                    .collect(),
                preview: false,
            };
            async move { orgs.set_staff_access(request).await.map(|_| ()) }
        })
        .buffer_unordered(IN_FLIGHT)
        .try_collect::<Vec<()>>()
        .await
        .context("SetStaffAccess")?;
    println!(
        "  seeded {} organisations, {} staff with {orgs_each} organisations each in {:.1} s",
        organisations.len(),
        users.len(),
        started.elapsed().as_secs_f64()
    );
    Ok(World {
        product,
        users,
        organisations,
        orgs_each,
    })
}

/// Users whose questions make up P1's warm set; the rest are kept cold for P2.
fn warm_users(world: &World) -> usize {
    (world.users.len() / 5).max(1)
}

pub(crate) async fn p1(settings: &Settings, world: &World) -> anyhow::Result<()> {
    println!(
        "P1 CheckAccess warm, {IN_FLIGHT} in flight, vs grpc.health.v1 Check on the same server"
    );
    let mut queries = Vec::new();
    for i in 0..warm_users(world) {
        for (k, (o, _)) in world.grants(i).into_iter().enumerate() {
            queries.push(org::CheckAccessRequest {
                user_id: world.users[i].clone(),
                organisation_id: world.organisations[o].clone(),
                permission: ASKED[(i + k) % ASKED.len()].into(),
                location_id: String::new(),
            });
        }
    }
    let queries = Arc::new(queries);
    let authorization = world.product.authorization().await?;
    let health = HealthClient::new(Product::channel(world.product.addresses.org_access).await?);
    let check = |duration: Duration| {
        let queries = queries.clone();
        let authorization = authorization.clone();
        load::closed_loop(IN_FLIGHT, duration, move |n| {
            let mut client = authorization.clone();
            let query = queries[n as usize % queries.len()].clone();
            async move { client.check_access(query).await.map(|_| ()) }
        })
    };
    let echo = |duration: Duration| {
        let health = health.clone();
        load::closed_loop(IN_FLIGHT, duration, move |_| {
            let mut client = health.clone();
            async move {
                client
                    .check(HealthCheckRequest {
                        service: String::new(),
                    })
                    .await
                    .map(|_| ())
            }
        })
    };
    check(settings.warmup).await;
    echo(settings.warmup).await;
    let (mut check_rate, mut echo_rate, mut rate_ratio) =
        (Figure::default(), Figure::default(), Figure::default());
    let (mut check_p99, mut echo_p99, mut p99_ratio) =
        (Figure::default(), Figure::default(), Figure::default());
    let mut failures = 0;
    for block in 0..settings.blocks {
        // Alternate which goes first so neither always runs on a warmer machine.
        let (c, e) = if block % 2 == 0 {
            let c = check(settings.block).await;
            (c, echo(settings.block).await)
        } else {
            let e = echo(settings.block).await;
            (check(settings.block).await, e)
        };
        failures += c.failed + e.failed;
        check_rate.push(c.per_second());
        echo_rate.push(e.per_second());
        rate_ratio.push(c.per_second() / e.per_second());
        check_p99.push(c.p99_ms());
        echo_p99.push(e.p99_ms());
        p99_ratio.push(c.p99_ms() / e.p99_ms());
    }
    stats::print("CheckAccess throughput", &check_rate, "calls/s");
    stats::print("echo (health Check) throughput", &echo_rate, "calls/s");
    stats::print("throughput ratio CheckAccess / echo", &rate_ratio, "×");
    stats::print("CheckAccess p99", &check_p99, "ms");
    stats::print("echo p99", &echo_p99, "ms");
    stats::print("p99 ratio CheckAccess / echo", &p99_ratio, "×");
    if failures > 0 {
        println!("  {failures} calls failed");
    }
    stats::verdict("P1", "throughput ≥ 0.8× echo", rate_ratio.median() >= 0.8);
    stats::verdict("P1", "p99 ≤ 1.5× echo p99", p99_ratio.median() <= 1.5);
    Ok(())
}

pub(crate) async fn p2(settings: &Settings, world: &World) -> anyhow::Result<()> {
    println!("P2 CheckAccess on data not asked before, one at a time");
    let mut authorization = world.product.authorization().await?;
    let cold_users: Vec<usize> = (warm_users(world)..world.users.len()).collect();
    let cold_users = if cold_users.is_empty() {
        vec![0]
    } else {
        cold_users
    };
    let per_block = settings.cold_samples;
    let mut next = 0usize;
    let mut ask = async |count: usize| -> anyhow::Result<Vec<Duration>> {
        let mut latencies = Vec::with_capacity(count);
        for _ in 0..count {
            // Each pair (user, organisation) at most once in the run.
            let u = cold_users[next % cold_users.len()];
            let o = (next / cold_users.len() + u * 7) % world.organisations.len();
            next += 1;
            let request = org::CheckAccessRequest {
                user_id: world.users[u].clone(),
                organisation_id: world.organisations[o].clone(),
                permission: "organisation.view".into(),
                location_id: String::new(),
            };
            let sent = Instant::now();
            authorization.check_access(request).await?;
            latencies.push(sent.elapsed());
        }
        latencies.sort_unstable();
        Ok(latencies)
    };
    ask(per_block / 4 + 1).await?;
    let (mut p50, mut p99) = (Figure::default(), Figure::default());
    for _ in 0..settings.blocks {
        let latencies = ask(per_block).await?;
        p50.push(millis(percentile(&latencies, 50.0)));
        p99.push(millis(percentile(&latencies, 99.0)));
    }
    println!("  {per_block} never-asked (user, organisation) pairs per block");
    stats::print("CheckAccess cold p50", &p50, "ms");
    stats::print("CheckAccess cold p99", &p99, "ms");
    stats::verdict("P2", "p99 ≤ 1 ms", p99.median() <= 1.0);
    Ok(())
}
