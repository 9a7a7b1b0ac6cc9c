//! Notification's gRPC edge: each handler takes the caller, checks the request into domain
//! values ([`crate::convert`]), calls the use case and converts the result back.

use ps_auth::Caller;
use ps_proto::notification::v1 as pb;
use ps_proto::notification::v1::notification_service_server::NotificationService;
use tonic::{Request, Response, Status};

use crate::app::Notifications;
use crate::convert::{delivery, delivery_id, delivery_query};
use crate::error::Error;

/// `notification.v1.NotificationService`.
pub struct Api {
    pub notifications: Notifications,
}

#[tonic::async_trait]
impl NotificationService for Api {
    async fn list_deliveries(
        &self,
        request: Request<pb::ListDeliveriesRequest>,
    ) -> Result<Response<pb::ListDeliveriesResponse>, Status> {
        let caller = Caller::user_of(&request)?;
        let query = delivery_query(request.get_ref()).map_err(Error::from)?;
        let found = self
            .notifications
            .list_deliveries(&caller, query.recipient, query.page)
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
        let id = delivery_id(request.get_ref()).map_err(Error::from)?;
        Ok(Response::new(delivery(
            self.notifications.get_delivery(&caller, id).await?,
        )))
    }
}
