//! A shutdown signal handed to every long-running task; triggering it starts the drain.

use tokio::sync::watch;

/// Starts the shutdown; dropping it also does, so a task never outlives its owner by accident.
#[derive(Debug)]
pub struct ShutdownTrigger(watch::Sender<bool>);

/// Resolves once shutdown has started. Cheap to clone.
#[derive(Debug, Clone)]
pub struct Shutdown(watch::Receiver<bool>);

impl Shutdown {
    /// A trigger and the signal it starts.
    pub fn new() -> (ShutdownTrigger, Shutdown) {
        let (tx, rx) = watch::channel(false);
        (ShutdownTrigger(tx), Shutdown(rx))
    }

    /// Whether shutdown has been triggered (dropping the trigger does not count here).
    pub fn is_triggered(&self) -> bool {
        *self.0.borrow()
    }

    /// Resolves once the trigger fires or is dropped.
    pub async fn wait(mut self) {
        // An error means the trigger was dropped, which also means: stop.
        let _ = self.0.wait_for(|triggered| *triggered).await;
    }
}

impl ShutdownTrigger {
    /// Starts the shutdown; every [`Shutdown`] resolves.
    pub fn trigger(&self) {
        let _ = self.0.send(true);
    }

    /// Another signal for the same trigger.
    pub fn subscribe(&self) -> Shutdown {
        Shutdown(self.0.subscribe())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn waiting_ends_on_trigger_and_on_drop() {
        let (trigger, shutdown) = Shutdown::new();
        let waiter = tokio::spawn(shutdown.clone().wait());
        assert!(!shutdown.is_triggered());
        trigger.trigger();
        waiter.await.unwrap();
        assert!(shutdown.is_triggered());

        let (trigger, shutdown) = Shutdown::new();
        drop(trigger);
        shutdown.wait().await;
    }
}
