//! `ops.v1.EventOperations`, which every service answers about its own consumer's dead
//! letters, for the operator credential only.

use ps_events::operations::{DeadLetterView, DeadLetters};
use ps_proto::ops::v1 as pb;
use tonic::{Request, Response, Status};
use tracing::info;

/// The `ops.v1.EventOperations` service of one service.
pub struct EventOperationsApi {
    /// The service's name (`staff-directory`), for logs.
    pub service: &'static str,
    /// The service's consumer's dead letters.
    pub dead_letters: DeadLetters,
}

fn limit(asked: u32, default: u32, most: u32) -> usize {
    let limit = if asked == 0 { default } else { asked.min(most) };
    usize::try_from(limit).unwrap_or(usize::MAX)
}

fn dead_letter(d: DeadLetterView) -> pb::DeadLetter {
    pb::DeadLetter {
        event_id: d.event_id,
        event_type: d.event_type,
        consumer: d.consumer.to_owned(),
        reason: d.reason,
        dead_at: d.dead_at.map(ps_proto::convert::timestamp),
    }
}

fn unavailable(error: String) -> Status {
    ps_grpc::status::unavailable("dead letters", &error)
}

#[tonic::async_trait]
impl pb::event_operations_server::EventOperations for EventOperationsApi {
    async fn list_dead_letters(
        &self,
        request: Request<pb::ListDeadLettersRequest>,
    ) -> Result<Response<pb::ListDeadLettersResponse>, Status> {
        let found = self
            .dead_letters
            .list(limit(request.get_ref().limit, 50, 500))
            .await
            .map_err(unavailable)?;
        Ok(Response::new(pb::ListDeadLettersResponse {
            dead_letters: found.into_iter().map(dead_letter).collect(),
        }))
    }

    async fn redrive_dead_letters(
        &self,
        request: Request<pb::RedriveDeadLettersRequest>,
    ) -> Result<Response<pb::RedriveDeadLettersResponse>, Status> {
        let done = self
            .dead_letters
            .redrive(limit(request.get_ref().limit, 100, 1000))
            .await
            .map_err(unavailable)?;
        info!(
            service = self.service,
            caller = "operator",
            redriven = done.redriven,
            failed_again = done.failed_again,
            "dead letters redriven"
        );
        Ok(Response::new(pb::RedriveDeadLettersResponse {
            redriven: u32::try_from(done.redriven).unwrap_or(u32::MAX),
            failed_again: u32::try_from(done.failed_again).unwrap_or(u32::MAX),
        }))
    }
}
