//! Notification's values and rules, free of gRPC and storage types.
//!
//! - [`delivery`]: a delivery as the log shows it ([`Delivery`], [`DeliveryStatus`]) and as the
//!   mailer holds it while sending ([`ClaimedDelivery`]), with the event that reports a
//!   delivery given up on.
//! - [`mails`]: which e-mails an event causes ([`mails_for`]), rendered or to be rendered
//!   around a link minted at send time.
//! - [`attempt`]: how a sending attempt went ([`Attempt`]) and what follows from it
//!   ([`RetryPolicy::decide`]: sent, wait for identity, retry after a backoff, or give up).

pub mod attempt;
pub mod delivery;
pub mod mails;

pub use attempt::{Attempt, IDENTITY_RETRY, Outcome, RetryPolicy};
pub use delivery::{ClaimedDelivery, Delivery, DeliveryStatus, NewDelivery};
pub use mails::{Body, Mail, MailUrls, WithoutPractice, mails_for};
