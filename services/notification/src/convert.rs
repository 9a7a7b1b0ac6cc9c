//! The edge's conversions: requests (and their fields) into domain values, reporting every
//! field violation at once, and domain values into `notification.v1` messages. The handlers in
//! [`crate::edge`] call these and the use cases, nothing else.

use ps_core::ids::parse_uuid;
use ps_core::validation::checked;
use ps_core::{Email, Invalid, PageRequest, Violations};
use ps_proto::convert::{optional_timestamp, page_request, timestamp};
use ps_proto::notification::v1 as pb;
use uuid::Uuid;

use crate::domain::{Delivery, DeliveryStatus};

/// What ListDeliveries asks for: only the e-mails to `recipient` when it is given.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct DeliveryQuery {
    pub recipient: Option<Email>,
    pub page: PageRequest,
}

/// ListDeliveries' request checked: the page and the recipient (empty means everyone).
pub(crate) fn delivery_query(req: &pb::ListDeliveriesRequest) -> Result<DeliveryQuery, Invalid> {
    let mut v = Violations::default();
    let page = v.check_all(page_request("page", req.page.as_ref()));
    let recipient = if req.recipient.trim().is_empty() {
        Some(None)
    } else {
        v.check(Email::parse("recipient", &req.recipient)).map(Some)
    };
    v.finish()?;
    Ok(DeliveryQuery {
        recipient: checked(recipient),
        page: checked(page),
    })
}

/// GetDelivery's `delivery_id`.
pub(crate) fn delivery_id(req: &pb::GetDeliveryRequest) -> Result<Uuid, Invalid> {
    Ok(parse_uuid("delivery_id", &req.delivery_id)?)
}

/// The status as the wire says it.
pub(crate) fn status_to_wire(status: DeliveryStatus) -> pb::DeliveryStatus {
    match status {
        DeliveryStatus::Queued => pb::DeliveryStatus::Queued,
        DeliveryStatus::Sent => pb::DeliveryStatus::Sent,
        DeliveryStatus::Failed => pb::DeliveryStatus::Failed,
    }
}

/// A delivery as the log's message.
pub(crate) fn delivery(d: Delivery) -> pb::Delivery {
    pb::Delivery {
        id: d.id.to_string(),
        practice_id: d.practice_id.map(|p| p.to_string()).unwrap_or_default(),
        event_id: d.event_id.to_string(),
        template: d.template,
        recipient: d.recipient,
        subject: d.subject,
        status: status_to_wire(d.status) as i32,
        attempts: d.attempts,
        last_error: d.last_error,
        created_at: Some(timestamp(d.created_at)),
        sent_at: optional_timestamp(d.sent_at),
        link_voided_at: optional_timestamp(d.link_voided_at),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_violation_of_a_list_request_is_reported_at_once() {
        let req = pb::ListDeliveriesRequest {
            recipient: "not an address".into(),
            page: Some(ps_proto::common::v1::PageRequest {
                page_size: 0,
                page_token: "not a token".into(),
            }),
        };
        let invalid = delivery_query(&req).unwrap_err();
        let fields: Vec<&str> = invalid
            .violations
            .iter()
            .map(|v| v.field.as_str())
            .collect();
        assert!(fields.contains(&"recipient"), "{fields:?}");
        assert!(fields.iter().any(|f| f.starts_with("page")), "{fields:?}");
    }

    #[test]
    fn an_empty_recipient_lists_everyone() {
        let everyone = delivery_query(&pb::ListDeliveriesRequest {
            recipient: "  ".into(),
            page: None,
        })
        .unwrap();
        assert_eq!(everyone.recipient, None);
        let one = delivery_query(&pb::ListDeliveriesRequest {
            recipient: "ada@example.test".into(),
            page: None,
        })
        .unwrap();
        assert_eq!(
            one.recipient.map(|e| e.to_string()).as_deref(),
            Some("ada@example.test")
        );
    }

    #[test]
    fn a_delivery_id_must_be_a_uuid() {
        for raw in ["", "nope"] {
            let req = pb::GetDeliveryRequest {
                delivery_id: raw.into(),
            };
            let invalid = delivery_id(&req).unwrap_err();
            assert_eq!(invalid.violations[0].field, "delivery_id");
        }
    }
}
