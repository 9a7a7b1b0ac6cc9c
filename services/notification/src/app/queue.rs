//! Turning an event into queued deliveries (and the roster change it carries).

use ps_events::{Event, HandleError};
use tracing::info;
use uuid::Uuid;

use super::Notifications;
use crate::domain::{NewDelivery, mails_for};

impl Notifications {
    /// Applies an event: the roster change and the e-mails it causes, queued in the
    /// transaction that records the event id.
    pub async fn handle(&self, event: &Event) -> Result<(), HandleError> {
        let mails = mails_for(event, &self.0.urls)
            .map_err(|refused| HandleError::Permanent(refused.to_string()))?;
        let queued: Vec<NewDelivery> = mails
            .into_iter()
            .map(|mail| NewDelivery {
                id: Uuid::now_v7(),
                mail,
            })
            .collect();
        let logged: Vec<(Uuid, &'static str)> =
            queued.iter().map(|d| (d.id, d.mail.template)).collect();
        let now = self.0.clock.now();
        let trace = ps_telemetry::TraceContext::current();
        let traceparent = (!trace.is_empty()).then_some(trace.traceparent);
        let applied = self
            .0
            .store
            .apply_event(event, queued, now, traceparent)
            .await?;
        if applied && !logged.is_empty() {
            self.0.queued.notify_one();
            for (delivery_id, template) in logged {
                info!(%delivery_id, event_id = %event.id, template, "e-mail queued");
            }
        }
        Ok(())
    }
}
