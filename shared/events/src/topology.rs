//! Who consumes which events, and the names of the exchanges and queues that carry them.
//!
//! This table is part of the contract between services. Every service declares the whole
//! topology when it connects to RabbitMQ, so an event published before its consumer first
//! started still waits in that consumer's durable queue: start order cannot lose events.

use crate::event::ROUTES;

/// A consuming service. Its name prefixes its queues and keys its processed-event records.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum ConsumerName {
    /// Identity: memberships follow staff changes and offboardings, ending their sessions.
    Identity,
    /// Staff-directory: invitation answers, offboarding outcomes, failed invitation e-mails.
    StaffDirectory,
    /// Org-access: its roster, locations and offboarding handovers.
    OrgAccess,
    /// Notification: the e-mails events call for.
    Notification,
}

impl ConsumerName {
    /// Every consumer.
    pub const ALL: [ConsumerName; 4] = [
        ConsumerName::Identity,
        ConsumerName::StaffDirectory,
        ConsumerName::OrgAccess,
        ConsumerName::Notification,
    ];

    /// The consumer's name (`staff-directory`), as its queues and inbox rows spell it.
    pub fn as_str(self) -> &'static str {
        match self {
            ConsumerName::Identity => "identity",
            ConsumerName::StaffDirectory => "staff-directory",
            ConsumerName::OrgAccess => "org-access",
            ConsumerName::Notification => "notification",
        }
    }

    /// The event types (routing keys) bound to this consumer's queue, from the table of
    /// events ([`crate::event::with_every_event`]).
    pub fn bindings(self) -> impl Iterator<Item = &'static str> {
        ROUTES
            .iter()
            .filter(move |(_, consumers)| consumers.contains(&self))
            .map(|(event_type, _)| *event_type)
    }

    /// Whether `event_type` is bound to this consumer's queue.
    pub fn receives(self, event_type: &str) -> bool {
        self.bindings().any(|bound| bound == event_type)
    }
}

/// Broker object names, all derived from the exchange name so a deployment (or a test) can
/// keep its own set apart by choosing another exchange name.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Names {
    exchange: String,
}

impl Names {
    /// The names derived from the topic exchange `exchange`.
    pub fn new(exchange: impl Into<String>) -> Self {
        Self {
            exchange: exchange.into(),
        }
    }

    /// Durable topic exchange every event is published to.
    pub fn exchange(&self) -> &str {
        &self.exchange
    }

    /// Direct exchange that routes rejected messages to each consumer's dead-letter queue.
    pub fn dead_letter_exchange(&self) -> String {
        format!("{}.dead-letter", self.exchange)
    }

    /// The consumer's durable queue (`{exchange}.{consumer}`).
    pub fn queue(&self, consumer: ConsumerName) -> String {
        format!("{}.{}", self.exchange, consumer.as_str())
    }

    /// The queue where the consumer's dead letters wait (`{exchange}.{consumer}.dead`).
    pub fn dead_letter_queue(&self, consumer: ConsumerName) -> String {
        format!("{}.{}.dead", self.exchange, consumer.as_str())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::event::types;

    #[test]
    fn every_event_type_has_a_consumer() {
        for event_type in types::ALL {
            assert!(
                ConsumerName::ALL.iter().any(|c| c.receives(event_type)),
                "{event_type} would be published to no queue"
            );
        }
    }

    #[test]
    fn names_derive_from_the_exchange() {
        let names = Names::new("t1.events");
        assert_eq!(
            names.queue(ConsumerName::Notification),
            "t1.events.notification"
        );
        assert_eq!(
            names.dead_letter_queue(ConsumerName::Notification),
            "t1.events.notification.dead"
        );
        assert_eq!(names.dead_letter_exchange(), "t1.events.dead-letter");
    }

    #[test]
    fn each_queue_is_bound_to_the_events_its_service_reacts_to() {
        let bound = |c: ConsumerName| c.bindings().collect::<Vec<_>>();
        assert_eq!(
            bound(ConsumerName::Identity),
            [
                types::STAFF_ROLE_CHANGED,
                types::STAFF_REMOVED,
                types::STAFF_DEACTIVATED,
                types::STAFF_REACTIVATED,
                types::OFFBOARDING_COMPLETED,
            ]
        );
        assert!(ConsumerName::OrgAccess.receives(types::LOCATION_CHANGED));
        assert!(!ConsumerName::Notification.receives(types::LOCATION_CHANGED));
        assert!(ConsumerName::Notification.receives(types::STAFF_REINVITED));
        assert!(!ConsumerName::OrgAccess.receives(types::STAFF_REINVITED));
        assert!(!ConsumerName::Identity.receives("staff.unknown"));
    }
}
