//! Closed-loop load: a fixed number of calls in flight for a fixed time.

use std::future::Future;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use crate::stats::Load;

/// Runs `call(n)` from `in_flight` tasks until `duration` has passed; `n` counts calls across
/// all tasks, so callers can pick a different query per call.
pub async fn closed_loop<F, Fut>(in_flight: usize, duration: Duration, call: F) -> Load
where
    F: Fn(u64) -> Fut + Send + Sync + 'static,
    Fut: Future<Output = Result<(), tonic::Status>> + Send + 'static,
{
    let call = Arc::new(call);
    let counter = Arc::new(AtomicU64::new(0));
    let started = Instant::now();
    let deadline = started + duration;
    let tasks: Vec<_> = (0..in_flight)
        .map(|_| {
            let call = call.clone();
            let counter = counter.clone();
            tokio::spawn(async move {
                let mut latencies = Vec::new();
                let (mut refused, mut failed) = (0u64, 0u64);
                while Instant::now() < deadline {
                    let n = counter.fetch_add(1, Ordering::Relaxed);
                    let sent = Instant::now();
                    match call(n).await {
                        Ok(()) => latencies.push(sent.elapsed()),
                        Err(s) if s.code() == tonic::Code::ResourceExhausted => refused += 1,
                        Err(s) => {
                            if failed == 0 {
                                eprintln!("bench: call failed: {s}");
                            }
                            failed += 1;
                        }
                    }
                }
                (latencies, refused, failed)
            })
        })
        .collect();
    let mut load = Load::default();
    for task in tasks {
        if let Ok((latencies, refused, failed)) = task.await {
            load.latencies.extend(latencies);
            load.refused += refused;
            load.failed += failed;
        }
    }
    load.elapsed = started.elapsed();
    load.ok = load.latencies.len() as u64;
    load.latencies.sort_unstable();
    load
}
