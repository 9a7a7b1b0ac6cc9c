//! How long each consumer took to handle each event, read from the product's own
//! `event.handle` spans: a tracing layer records every such span's wall time when it closes.

use std::sync::Mutex;
use std::time::{Duration, Instant};

use tracing::Subscriber;
use tracing::field::{Field, Visit};
use tracing::span::{Attributes, Id};
use tracing_subscriber::Layer;
use tracing_subscriber::layer::Context;
use tracing_subscriber::registry::LookupSpan;

/// One handled delivery.
#[derive(Debug, Clone)]
pub(crate) struct Handled {
    pub service: String,
    pub event_id: String,
    pub took: Duration,
}

static HANDLED: Mutex<Vec<Handled>> = Mutex::new(Vec::new());

/// Every delivery of `event_id` handled by `service` so far, in order.
pub(crate) fn handled(service: &str, event_id: &str) -> Vec<Handled> {
    HANDLED
        .lock()
        .map(|h| {
            h.iter()
                .filter(|x| x.service == service && x.event_id == event_id)
                .cloned()
                .collect()
        })
        .unwrap_or_default()
}

/// How many handlings were recorded so far (for [`per_service_since`]).
pub(crate) fn mark() -> usize {
    HANDLED.lock().map(|h| h.len()).unwrap_or_default()
}

/// Per consumer since `mark`: (service, deliveries handled, median handling time).
pub(crate) fn per_service_since(mark: usize) -> Vec<(String, usize, Duration)> {
    let Ok(handled) = HANDLED.lock() else {
        return Vec::new();
    };
    let mut by_service: std::collections::BTreeMap<&str, Vec<Duration>> = Default::default();
    for h in handled.iter().skip(mark) {
        by_service.entry(&h.service).or_default().push(h.took);
    }
    by_service
        .into_iter()
        .map(|(service, mut took)| {
            took.sort_unstable();
            (service.to_owned(), took.len(), took[took.len() / 2])
        })
        .collect()
}

/// Installs the recorder as the process's subscriber (only `event.handle` spans reach it).
pub(crate) fn install() {
    use tracing_subscriber::layer::SubscriberExt;
    use tracing_subscriber::util::SubscriberInitExt;
    let only_handling =
        tracing_subscriber::filter::filter_fn(|m| m.is_span() && m.name() == "event.handle");
    let _ = tracing_subscriber::registry()
        .with(Recorder.with_filter(only_handling))
        .try_init();
}

struct Recorder;

struct Open {
    started: Instant,
    fields: Fields,
}

#[derive(Default)]
struct Fields {
    service: String,
    event_id: String,
}

impl Visit for Fields {
    fn record_str(&mut self, field: &Field, value: &str) {
        self.set(field, value.to_owned());
    }
    fn record_debug(&mut self, field: &Field, value: &dyn std::fmt::Debug) {
        self.set(field, format!("{value:?}").trim_matches('"').to_owned());
    }
}

impl Fields {
    fn set(&mut self, field: &Field, value: String) {
        match field.name() {
            "ps.service" => self.service = value,
            "event.id" => self.event_id = value,
            _ => {}
        }
    }
}

impl<S> Layer<S> for Recorder
where
    S: Subscriber + for<'a> LookupSpan<'a>,
{
    fn on_new_span(&self, attrs: &Attributes<'_>, id: &Id, ctx: Context<'_, S>) {
        let mut fields = Fields::default();
        attrs.record(&mut fields);
        if let Some(span) = ctx.span(id) {
            span.extensions_mut().insert(Open {
                started: Instant::now(),
                fields,
            });
        }
    }

    fn on_close(&self, id: Id, ctx: Context<'_, S>) {
        let Some(span) = ctx.span(&id) else {
            return;
        };
        let Some(open) = span.extensions_mut().remove::<Open>() else {
            return;
        };
        if let Ok(mut handled) = HANDLED.lock() {
            handled.push(Handled {
                service: open.fields.service,
                event_id: open.fields.event_id,
                took: open.started.elapsed(),
            });
        }
    }
}
