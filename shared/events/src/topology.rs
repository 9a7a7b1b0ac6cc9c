//! Who consumes which events, and the names of the exchanges and queues that carry them.
//!
//! This table is part of the contract between services. Every service declares the whole
//! topology when it connects to RabbitMQ, so an event published before its consumer first
//! started still waits in that consumer's durable queue: start order cannot lose events.

use crate::event::types;

/// A consuming service. Its name prefixes its queues and keys its processed-event records.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum ConsumerName {
    Identity,
    StaffDirectory,
    OrgAccess,
    Notification,
}

/// What keeps a roster (a local copy of who is staff where, with role, status and locations)
/// current; org-access and notification both keep one.
macro_rules! roster_events {
    ($($more:expr),* $(,)?) => {
        &[
            types::STAFF_INVITED,
            types::INVITATION_ACCEPTED,
            types::INVITATION_DECLINED,
            types::STAFF_ROLE_CHANGED,
            types::STAFF_REMOVED,
            types::STAFF_DEACTIVATED,
            types::STAFF_REACTIVATED,
            types::STAFF_LOCATIONS_CHANGED,
            types::STAFF_OFFBOARDING_REQUESTED,
            $($more),*
        ]
    };
}

impl ConsumerName {
    pub const ALL: [ConsumerName; 4] = [
        ConsumerName::Identity,
        ConsumerName::StaffDirectory,
        ConsumerName::OrgAccess,
        ConsumerName::Notification,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            ConsumerName::Identity => "identity",
            ConsumerName::StaffDirectory => "staff-directory",
            ConsumerName::OrgAccess => "org-access",
            ConsumerName::Notification => "notification",
        }
    }

    /// The event types (routing keys) bound to this consumer's queue.
    pub fn bindings(self) -> &'static [&'static str] {
        match self {
            ConsumerName::Identity => &[
                types::STAFF_ROLE_CHANGED,
                types::STAFF_REMOVED,
                types::STAFF_DEACTIVATED,
                types::STAFF_REACTIVATED,
                types::OFFBOARDING_COMPLETED,
            ],
            ConsumerName::StaffDirectory => &[
                types::INVITATION_ACCEPTED,
                types::INVITATION_DECLINED,
                types::OFFBOARDING_COMPLETED,
                types::OFFBOARDING_FAILED,
                types::DELIVERY_FAILED,
                types::SESSIONS_ENDED,
            ],
            ConsumerName::OrgAccess => {
                roster_events!(types::LOCATION_CHANGED, types::SESSIONS_ENDED)
            }
            ConsumerName::Notification => roster_events!(
                types::STAFF_REINVITED,
                types::CERTIFICATION_INVITED,
                types::CERTIFICATION_RECORDED,
                types::PASSWORD_RESET_REQUESTED,
                types::ORG_ACCESS_INVITED,
                types::OFFBOARDING_COMPLETED,
                types::OFFBOARDING_FAILED,
                types::SESSIONS_ENDED,
            ),
        }
    }

    pub fn receives(self, event_type: &str) -> bool {
        self.bindings().contains(&event_type)
    }
}

/// Broker object names, all derived from the exchange name so a deployment (or a test) can
/// keep its own set apart by choosing another exchange name.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Names {
    exchange: String,
}

impl Names {
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

    pub fn queue(&self, consumer: ConsumerName) -> String {
        format!("{}.{}", self.exchange, consumer.as_str())
    }

    pub fn dead_letter_queue(&self, consumer: ConsumerName) -> String {
        format!("{}.{}.dead", self.exchange, consumer.as_str())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

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
}
