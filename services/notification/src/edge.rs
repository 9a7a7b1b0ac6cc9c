//! Notification's gRPC edge.

use ps_auth::Caller;
use ps_core::{Email, ids::parse_uuid};
use ps_proto::convert::{optional_timestamp, page_request, timestamp};
use ps_proto::notification::v1 as pb;
use ps_proto::notification::v1::notification_service_server::NotificationService;
use tonic::{Request, Response, Status};

use crate::app::{Delivery, Notifications, status};
use crate::error::Error;

pub struct Api {
    pub notifications: Notifications,
}

fn delivery(d: Delivery) -> pb::Delivery {
    let status = match d.status.as_str() {
        status::QUEUED => pb::DeliveryStatus::Queued,
        status::SENT => pb::DeliveryStatus::Sent,
        status::FAILED => pb::DeliveryStatus::Failed,
        _ => pb::DeliveryStatus::Unspecified,
    };
    pb::Delivery {
        id: d.id.to_string(),
        practice_id: d.practice_id.map(|p| p.to_string()).unwrap_or_default(),
        event_id: d.event_id.to_string(),
        template: d.template,
        recipient: d.recipient,
        subject: d.subject,
        status: status as i32,
        attempts: d.attempts,
        last_error: d.last_error,
        created_at: Some(timestamp(d.created_at)),
        sent_at: optional_timestamp(d.sent_at),
        link_voided_at: optional_timestamp(d.link_voided_at),
    }
}

#[tonic::async_trait]
impl NotificationService for Api {
    async fn list_deliveries(
        &self,
        request: Request<pb::ListDeliveriesRequest>,
    ) -> Result<Response<pb::ListDeliveriesResponse>, Status> {
        let caller = Caller::user_of(&request)?;
        let req = request.into_inner();
        let page = page_request("page", req.page.as_ref()).map_err(Error::from)?;
        let recipient = if req.recipient.trim().is_empty() {
            None
        } else {
            Some(
                Email::parse("recipient", &req.recipient)
                    .map_err(|v| Error::Invalid(v.into()))?
                    .to_string(),
            )
        };
        let found = self
            .notifications
            .list_deliveries(&caller, recipient, page)
            .await?;
        Ok(Response::new(pb::ListDeliveriesResponse {
            deliveries: found.items.into_iter().map(delivery).collect(),
            next_page_token: found.next_page_token,
        }))
    }

    async fn get_delivery(
        &self,
        request: Request<pb::GetDeliveryRequest>,
    ) -> Result<Response<pb::Delivery>, Status> {
        let caller = Caller::user_of(&request)?;
        let id = parse_uuid("delivery_id", &request.get_ref().delivery_id)
            .map_err(|v| Error::Invalid(v.into()))?;
        Ok(Response::new(delivery(
            self.notifications.get_delivery(&caller, id).await?,
        )))
    }
}
