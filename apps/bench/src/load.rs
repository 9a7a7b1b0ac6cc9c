//! Load: closed (a fixed number of calls in flight) or open (calls started at a fixed rate),
//! for a fixed time.

use std::future::Future;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use crate::stats::Load;

/// Runs `call(n)` from `in_flight` tasks until `duration` has passed; `n` counts calls across
/// all tasks, so callers can pick a different query per call.
pub(crate) async fn closed_loop<F, Fut>(in_flight: usize, duration: Duration, call: F) -> Load
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

/// Starts `call(n)` `per_second` times a second for `duration`, whether or not earlier calls
/// have answered, so a server that falls behind faces the same load instead of a lower one.
/// Each latency runs from the moment the call started (the timer's own millisecond lateness
/// is not the server's).
pub(crate) async fn open_loop<F, Fut>(per_second: f64, duration: Duration, call: F) -> Load
where
    F: Fn(u64) -> Fut + Send + Sync + 'static,
    Fut: Future<Output = Result<(), tonic::Status>> + Send + 'static,
{
    let call = Arc::new(call);
    let started = Instant::now();
    let mut tick = tokio::time::interval(Duration::from_secs_f64(1.0 / per_second.max(1.0)));
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Burst);
    let mut tasks = Vec::new();
    let mut n = 0;
    while started.elapsed() < duration {
        tick.tick().await;
        let call = call.clone();
        tasks.push(tokio::spawn(async move {
            let started = Instant::now();
            (call(n).await, started.elapsed())
        }));
        n += 1;
    }
    let mut load = Load::default();
    for task in tasks {
        match task.await {
            Ok((Ok(()), latency)) => load.latencies.push(latency),
            Ok((Err(s), _)) if s.code() == tonic::Code::ResourceExhausted => load.refused += 1,
            Ok((Err(s), _)) => {
                if load.failed == 0 {
                    eprintln!("bench: call failed: {s}");
                }
                load.failed += 1;
            }
            Err(_) => load.failed += 1,
        }
    }
    load.elapsed = started.elapsed();
    load.ok = load.latencies.len() as u64;
    load.latencies.sort_unstable();
    load
}
