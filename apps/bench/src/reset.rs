//! P7: password reset requests for a known and for an unknown e-mail take the same time
//! (RequestPasswordReset queues one row whatever the address; the queue is applied later).
//! Requests alternate between the two kinds, one at a time, so both meet the same machine;
//! each block compares the kinds' median latencies.

use std::time::{Duration, Instant};

use ps_identity::passwords::HashingSettings;
use ps_proto::identity::v1 as identity;

use crate::Settings;
use crate::harness::{Backend, Product};
use crate::stats::{self, Figure};

pub(crate) async fn p7(settings: &Settings) -> anyhow::Result<()> {
    println!("P7 password reset requests: a known e-mail against an unknown one");
    let product = Product::start(&Backend::Embedded, HashingSettings::default()).await?;
    let result = run(settings, &product).await;
    product.stop().await;
    result
}

fn median(mut samples: Vec<Duration>) -> f64 {
    samples.sort();
    stats::millis(stats::percentile(&samples, 50.0))
}

async fn run(settings: &Settings, product: &Product) -> anyhow::Result<()> {
    // The owner has an account with a password: a known e-mail.
    product.practice_with_owner("Reset Practice").await?;
    let known = "owner@reset-practice.bench.test".to_owned();
    let client = product.identity().await?;
    let mut ratio = Figure::default();
    let mut known_ms = Figure::default();
    let mut unknown_ms = Figure::default();
    let request = |email: String| {
        let mut client = client.clone();
        async move {
            let began = Instant::now();
            client
                .request_password_reset(identity::RequestPasswordResetRequest { email })
                .await?;
            Ok::<_, tonic::Status>(began.elapsed())
        }
    };
    // Warm-up.
    let warmup_until = Instant::now() + settings.warmup;
    let mut i = 0u64;
    while Instant::now() < warmup_until {
        request(known.clone()).await?;
        request(format!("nobody{i}@reset.bench.test")).await?;
        i += 1;
    }
    for _ in 0..settings.blocks {
        let (mut k, mut u) = (Vec::new(), Vec::new());
        let until = Instant::now() + settings.block;
        while Instant::now() < until {
            k.push(request(known.clone()).await?);
            u.push(request(format!("nobody{i}@reset.bench.test")).await?);
            i += 1;
        }
        let (km, um) = (median(k), median(u));
        known_ms.push(km);
        unknown_ms.push(um);
        ratio.push(km / um);
    }
    stats::print("known e-mail, median latency", &known_ms, "ms");
    stats::print("unknown e-mail, median latency", &unknown_ms, "ms");
    stats::print("known / unknown", &ratio, "×");
    let r = ratio.median();
    stats::verdict(
        "P7",
        "known and unknown e-mails within 10 % (0.9–1.1×)",
        (0.9..=1.1).contains(&r),
    );
    Ok(())
}
