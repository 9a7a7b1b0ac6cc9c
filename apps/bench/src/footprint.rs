//! P6: the `practice-staff` binary (all four services in one process) started on a data
//! directory migrated by an earlier run: time from spawning the process until all four answer
//! SERVING on grpc.health.v1, and its resident memory (VmRSS) once idle after start-up.

use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use anyhow::{Context, anyhow};
use tonic_health::pb::HealthCheckRequest;
use tonic_health::pb::health_check_response::ServingStatus;
use tonic_health::pb::health_client::HealthClient;

use crate::Settings;
use crate::stats::{self, Figure, millis};

pub(crate) async fn p6(settings: &Settings, binary: &Path) -> anyhow::Result<()> {
    println!("P6 footprint of {}", binary.display());
    if !binary.exists() {
        return Err(anyhow!(
            "{} not found: build it first (cargo build --release -p practice-staff)",
            binary.display()
        ));
    }
    let data = tempfile::tempdir()?;
    // The first start migrates the databases; the measured starts find them ready.
    let first = start(binary, data.path())?;
    first.wait_serving().await?;
    first.stop()?;
    let (mut ready, mut rss) = (Figure::default(), Figure::default());
    for _ in 0..settings.blocks {
        let process = start(binary, data.path())?;
        let took = process.wait_serving().await?;
        tokio::time::sleep(settings.idle).await;
        let kib = process.rss_kib()?;
        process.stop()?;
        ready.push(millis(took));
        rss.push(kib as f64 / 1024.0);
    }
    println!(
        "  idle for {:.1} s after SERVING before reading VmRSS",
        settings.idle.as_secs_f64()
    );
    stats::print("process start → all four SERVING", &ready, "ms");
    stats::print("resident memory (VmRSS) when idle", &rss, "MiB");
    stats::verdict("P6", "≤ 60 MiB RSS idle", rss.median() <= 60.0);
    stats::verdict("P6", "≤ 1 s to all SERVING", ready.median() <= 1000.0);
    Ok(())
}

struct Process {
    child: Child,
    started: Instant,
    ports: Vec<u16>,
}

fn free_ports(n: usize) -> anyhow::Result<Vec<u16>> {
    let listeners: Vec<std::net::TcpListener> = (0..n)
        .map(|_| std::net::TcpListener::bind("127.0.0.1:0"))
        .collect::<Result<_, _>>()?;
    listeners
        .iter()
        .map(|l| Ok(l.local_addr()?.port()))
        .collect()
}

fn start(binary: &Path, data: &Path) -> anyhow::Result<Process> {
    let ports = free_ports(5)?;
    let started = Instant::now();
    let child = Command::new(binary)
        .arg("--data-dir")
        .arg(data)
        .args(["--identity-port", &ports[0].to_string()])
        .args(["--staff-directory-port", &ports[1].to_string()])
        .args(["--org-access-port", &ports[2].to_string()])
        .args(["--notification-port", &ports[3].to_string()])
        .args(["--admin-port", &ports[4].to_string()])
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .with_context(|| format!("starting {}", binary.display()))?;
    Ok(Process {
        child,
        started,
        ports: ports[..4].to_vec(),
    })
}

impl Process {
    /// Time from spawning until every service says SERVING.
    async fn wait_serving(&self) -> anyhow::Result<Duration> {
        let deadline = self.started + Duration::from_secs(30);
        for port in &self.ports {
            let endpoint =
                tonic::transport::Endpoint::from_shared(format!("http://127.0.0.1:{port}"))?;
            loop {
                if Instant::now() > deadline {
                    return Err(anyhow!("port {port} not SERVING within 30 s"));
                }
                if let Ok(channel) = endpoint.connect().await {
                    let mut health = HealthClient::new(channel);
                    let serving = health
                        .check(HealthCheckRequest {
                            service: String::new(),
                        })
                        .await
                        .is_ok_and(|r| r.into_inner().status == ServingStatus::Serving as i32);
                    if serving {
                        break;
                    }
                }
                tokio::time::sleep(Duration::from_millis(2)).await;
            }
        }
        Ok(self.started.elapsed())
    }

    fn rss_kib(&self) -> anyhow::Result<u64> {
        let status = std::fs::read_to_string(format!("/proc/{}/status", self.child.id()))?;
        status
            .lines()
            .find_map(|l| l.strip_prefix("VmRSS:"))
            .and_then(|v| v.trim().trim_end_matches("kB").trim().parse().ok())
            .ok_or_else(|| anyhow!("no VmRSS in /proc status"))
    }

    /// SIGTERM (a graceful drain), then waits for the exit.
    fn stop(mut self) -> anyhow::Result<()> {
        let _ = Command::new("kill")
            .args(["-TERM", &self.child.id().to_string()])
            .status();
        let deadline = Instant::now() + Duration::from_secs(20);
        loop {
            if self.child.try_wait()?.is_some() {
                return Ok(());
            }
            if Instant::now() > deadline {
                self.child.kill()?;
                self.child.wait()?;
                return Err(anyhow!(
                    "practice-staff did not stop within 20 s of SIGTERM"
                ));
            }
            std::thread::sleep(Duration::from_millis(10));
        }
    }
}

/// `practice-staff` beside the bench's own executable (same profile).
pub(crate) fn default_binary() -> PathBuf {
    std::env::current_exe()
        .ok()
        .and_then(|p| p.parent().map(|d| d.join("practice-staff")))
        .unwrap_or_else(|| PathBuf::from("practice-staff"))
}
