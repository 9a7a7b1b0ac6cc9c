//! Process signals for binaries: the first SIGTERM or SIGINT starts a graceful drain, a second
//! one exits at once.

use ps_core::ShutdownTrigger;
use tracing::{info, warn};

async fn terminate_or_interrupt() {
    #[cfg(unix)]
    {
        use tokio::signal::unix::{SignalKind, signal};
        match signal(SignalKind::terminate()) {
            Ok(mut term) => {
                tokio::select! {
                    _ = term.recv() => {}
                    _ = tokio::signal::ctrl_c() => {}
                }
            }
            Err(_) => {
                let _ = tokio::signal::ctrl_c().await;
            }
        }
    }
    #[cfg(not(unix))]
    {
        let _ = tokio::signal::ctrl_c().await;
    }
}

/// Triggers `trigger` on the first signal and exits the process with status 130 on a second.
pub fn install(trigger: ShutdownTrigger) {
    tokio::spawn(async move {
        terminate_or_interrupt().await;
        info!("shutdown signal received; draining (signal again to exit now)");
        trigger.trigger();
        terminate_or_interrupt().await;
        warn!("second signal; exiting without draining");
        std::process::exit(130);
    });
}
