//! P5: a sign-in storm. Many clients sign in at once, each pausing after a refusal for the
//! delay the refusal names (google.rpc.RetryInfo; 10 ms if none); the successful sign-ins per
//! second are compared with raw argon2id verification at the same parameters, on as many
//! threads as identity hashes at once, in the same process. Meanwhile CheckAccess runs at a
//! steady 1,000 calls a second; its p99 is compared with the same load on an idle system.

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::time::{Duration, Instant};

use argon2::password_hash::{PasswordHash, PasswordHasher as _, PasswordVerifier as _, SaltString};
use argon2::{Algorithm, Argon2, Params, Version};
use ps_identity::passwords::HashingSettings;
use ps_proto::identity::v1 as identity;
use ps_proto::identity::v1::identity_service_client::IdentityServiceClient;
use ps_proto::orgaccess::v1 as org;
use tonic::transport::Channel;
use tonic_types::StatusExt;

use crate::Settings;
use crate::harness::{Backend, PASSWORD, Product};
use crate::load;
use crate::stats::{self, Figure, Load};

const STORM: usize = 128;
/// CheckAccess calls started per second throughout (open loop: a steady authorisation load,
/// which leaves the rest of the CPU to the storm; a closed loop would take every cycle the
/// hashes leave and so measure the split of the CPU rather than the latency).
const CHECKS_PER_SECOND: f64 = 1000.0;

pub(crate) async fn p5(settings: &Settings) -> anyhow::Result<()> {
    let hashing = HashingSettings::default();
    println!(
        "P5 sign-in storm ({STORM} clients) with identity's default hashing: argon2id m={} KiB t={} p={}, {} at once, {} queued",
        hashing.memory_kib,
        hashing.iterations,
        hashing.parallelism,
        hashing.max_concurrent,
        hashing.max_queued
    );
    let product = Product::start(&Backend::Embedded, hashing).await?;
    let result = run(settings, &product, hashing).await;
    product.stop().await;
    result
}

async fn run(
    settings: &Settings,
    product: &Product,
    hashing: HashingSettings,
) -> anyhow::Result<()> {
    let owner = product.practice_with_owner("Storm Practice").await?;
    let organisation = product
        .organisations(&owner, "Storm Clinic", 1)
        .await?
        .remove(0);
    let email = "owner@storm-practice.bench.test".to_owned();
    let authorization = product.authorization().await?;
    let identity_client = product.identity().await?;
    let check = {
        let user = owner.user_id.clone();
        move |duration: Duration| {
            let authorization = authorization.clone();
            let request = org::CheckAccessRequest {
                user_id: user.clone(),
                organisation_id: organisation.clone(),
                permission: "organisation.view".into(),
                location_id: String::new(),
            };
            load::open_loop(CHECKS_PER_SECOND, duration, move |_| {
                let mut client = authorization.clone();
                let request = request.clone();
                async move { client.check_access(request).await.map(|_| ()) }
            })
        }
    };
    let storm = move |duration: Duration| {
        let identity_client = identity_client.clone();
        let email = email.clone();
        load::closed_loop(STORM, duration, move |_| {
            let request = identity::SignInRequest {
                email: email.clone(),
                password: PASSWORD.into(),
                practice_id: String::new(),
            };
            sign_in(identity_client.clone(), request)
        })
    };

    raw_verify(hashing, settings.warmup).await?;
    check(settings.warmup).await;
    storm(settings.warmup).await;
    let mut figures = Figures::default();
    for _ in 0..settings.blocks {
        let raw_rate = raw_verify(hashing, settings.block).await?;
        let idle = check(settings.block).await;
        let (storming, during): (Load, Load) =
            tokio::join!(storm(settings.block), check(settings.block));
        figures.record(raw_rate, &idle, &storming, &during);
    }
    figures.print();
    Ok(())
}

/// One sign-in of the storm. Refused for now (RESOURCE_EXHAUSTED), it comes back when the
/// server said (RetryInfo), as a well-behaved client does; 10 ms if it named no delay.
async fn sign_in(
    mut client: IdentityServiceClient<Channel>,
    request: identity::SignInRequest,
) -> Result<(), tonic::Status> {
    match client.sign_in(request).await {
        Ok(_) => Ok(()),
        Err(status) => {
            if status.code() == tonic::Code::ResourceExhausted {
                let delay = status
                    .get_details_retry_info()
                    .and_then(|info| info.retry_delay)
                    .unwrap_or(Duration::from_millis(10));
                tokio::time::sleep(delay).await;
            }
            Err(status)
        }
    }
}

/// P5's figures over the blocks.
#[derive(Default)]
struct Figures {
    raw: Figure,
    signed_in: Figure,
    ratio: Figure,
    idle_p99: Figure,
    storm_p99: Figure,
    p99_ratio: Figure,
    /// Sign-ins refused per second.
    refused: Figure,
    /// Calls that failed with another code than RESOURCE_EXHAUSTED.
    failed: u64,
}

impl Figures {
    /// One block: the raw verification rate, CheckAccess alone (`idle`), and the storm with
    /// the CheckAccess load `during` it.
    fn record(&mut self, raw_rate: f64, idle: &Load, storming: &Load, during: &Load) {
        self.failed += storming.failed + during.failed;
        self.raw.push(raw_rate);
        self.signed_in.push(storming.per_second());
        self.ratio.push(storming.per_second() / raw_rate);
        self.idle_p99.push(idle.p99_ms());
        self.storm_p99.push(during.p99_ms());
        self.p99_ratio.push(during.p99_ms() / idle.p99_ms());
        self.refused
            .push(storming.refused as f64 / storming.elapsed.as_secs_f64());
    }

    /// The figures and the verdicts.
    fn print(&self) {
        stats::print("raw argon2id verifications", &self.raw, "/s");
        stats::print(
            "successful sign-ins during the storm",
            &self.signed_in,
            "/s",
        );
        stats::print("ratio sign-ins / raw", &self.ratio, "×");
        stats::print(
            "sign-ins refused with RESOURCE_EXHAUSTED",
            &self.refused,
            "/s",
        );
        stats::print("CheckAccess p99, idle", &self.idle_p99, "ms");
        stats::print("CheckAccess p99, during the storm", &self.storm_p99, "ms");
        stats::print("p99 ratio storm / idle", &self.p99_ratio, "×");
        if self.failed > 0 {
            println!("  {} calls failed with another code", self.failed);
        }
        stats::verdict(
            "P5",
            "sign-ins ≥ 0.9× raw hash rate",
            self.ratio.median() >= 0.9,
        );
        stats::verdict(
            "P5",
            "CheckAccess p99 during the storm ≤ 2× idle",
            self.p99_ratio.median() <= 2.0,
        );
        stats::verdict(
            "P5",
            "excess sign-ins refused with RESOURCE_EXHAUSTED",
            self.refused.min() > 0.0,
        );
    }
}

/// argon2id verifications per second on `max_concurrent` blocking threads for `duration`.
async fn raw_verify(hashing: HashingSettings, duration: Duration) -> anyhow::Result<f64> {
    let params = Params::new(
        hashing.memory_kib,
        hashing.iterations,
        hashing.parallelism,
        None,
    )
    .map_err(|e| anyhow::anyhow!("{e}"))?;
    let argon2 = Argon2::new(Algorithm::Argon2id, Version::V0x13, params);
    let salt = SaltString::encode_b64(b"bench-salt-bytes").map_err(|e| anyhow::anyhow!("{e}"))?;
    let stored = argon2
        .hash_password(PASSWORD.as_bytes(), &salt)
        .map_err(|e| anyhow::anyhow!("{e}"))?
        .to_string();
    let done = Arc::new(AtomicU64::new(0));
    let stop = Arc::new(AtomicBool::new(false));
    let started = Instant::now();
    let threads: Vec<_> = (0..hashing.max_concurrent.max(1))
        .map(|_| {
            let (argon2, stored, done, stop) =
                (argon2.clone(), stored.clone(), done.clone(), stop.clone());
            tokio::task::spawn_blocking(move || {
                let parsed = PasswordHash::new(&stored).ok();
                while !stop.load(Ordering::Relaxed) {
                    if let Some(parsed) = &parsed
                        && argon2.verify_password(PASSWORD.as_bytes(), parsed).is_ok()
                    {
                        done.fetch_add(1, Ordering::Relaxed);
                    }
                }
            })
        })
        .collect();
    tokio::time::sleep(duration).await;
    stop.store(true, Ordering::Relaxed);
    for thread in threads {
        let _ = thread.await;
    }
    Ok(done.load(Ordering::Relaxed) as f64 / started.elapsed().as_secs_f64())
}
