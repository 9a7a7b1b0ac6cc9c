//! Identity's internal RPCs behind the [`LinkIssuer`] port: the one place notification speaks
//! tonic as a client.

use std::time::Duration;

use async_trait::async_trait;
use ps_auth::credentials::Credential;
use ps_proto::identity::v1 as identity;
use ps_proto::identity::v1::identity_internal_service_client::IdentityInternalServiceClient;
use tonic::Code;
use tonic::service::interceptor::InterceptedService;
use uuid::Uuid;

use crate::links::{LinkError, LinkIssuer, LinkMail, MintedLink};

type Client = IdentityInternalServiceClient<
    InterceptedService<ps_grpc::client::UnsentIsUnavailable, Credential>,
>;

/// Links from identity over gRPC, with the internal service credential.
#[derive(Clone)]
pub struct IdentityLinks {
    client: Client,
}

impl IdentityLinks {
    /// Connects lazily, so notification can start before identity answers.
    pub fn new(identity_url: &str, internal_token: &str) -> Result<Self, String> {
        let channel = ps_grpc::client::lazy(
            tonic::transport::Endpoint::from_shared(identity_url.to_owned())
                .map_err(|e| format!("identity_url: {e}"))?
                .connect_timeout(Duration::from_secs(5))
                .timeout(Duration::from_secs(10)),
        );
        let credential = Credential::service(internal_token).map_err(|e| e.to_string())?;
        Ok(Self {
            client: IdentityInternalServiceClient::with_interceptor(channel, credential),
        })
    }
}

/// A refusal a retry will not change is permanent; anything else (identity down, slow,
/// restarting) is worth retrying.
fn refusal(status: tonic::Status) -> LinkError {
    let described = format!("{:?}: {}", status.code(), status.message());
    match status.code() {
        Code::InvalidArgument
        | Code::NotFound
        | Code::AlreadyExists
        | Code::FailedPrecondition
        | Code::PermissionDenied
        | Code::Unauthenticated => LinkError::Refused(described),
        _ => LinkError::Unavailable(described),
    }
}

fn minted(
    id: &str,
    url: String,
    expires_at: Option<prost_types::Timestamp>,
) -> Result<MintedLink, LinkError> {
    let id = Uuid::parse_str(id)
        .map_err(|_| LinkError::Refused("identity returned a link without an id".into()))?;
    let expires_at = expires_at
        .as_ref()
        .and_then(ps_proto::convert::from_timestamp)
        .ok_or_else(|| LinkError::Refused("identity returned a link without expiry".into()))?;
    Ok(MintedLink {
        id,
        url,
        expires_at,
    })
}

#[async_trait]
impl LinkIssuer for IdentityLinks {
    async fn mint(&self, mail: &LinkMail) -> Result<MintedLink, LinkError> {
        let mut client = self.client.clone();
        match mail {
            LinkMail::Invitation {
                staff_id,
                practice_id,
                email,
                name,
                role,
                practice_name,
                inviter_name,
                ..
            } => {
                let role = ps_core::PracticeRole::parse(role)
                    .ok_or_else(|| LinkError::Refused(format!("unknown role {role}")))?;
                let link = client
                    .issue_invitation_link(identity::IssueInvitationLinkRequest {
                        email: email.clone(),
                        invitee_name: name.clone(),
                        practice_id: practice_id.to_string(),
                        practice_name: practice_name.clone(),
                        staff_id: staff_id.to_string(),
                        inviter_name: inviter_name.clone(),
                        practice_role: ps_proto::convert::role_to_wire(role),
                    })
                    .await
                    .map_err(refusal)?
                    .into_inner();
                minted(&link.link_id, link.url, link.expires_at)
            }
            LinkMail::PasswordReset { user_id, .. } => {
                let link = client
                    .issue_password_reset_link(identity::IssuePasswordResetLinkRequest {
                        user_id: user_id.to_string(),
                    })
                    .await
                    .map_err(refusal)?
                    .into_inner();
                minted(&link.link_id, link.url, link.expires_at)
            }
        }
    }

    async fn void(&self, link: Uuid) -> Result<(), LinkError> {
        self.client
            .clone()
            .void_link(identity::VoidLinkRequest {
                link_id: link.to_string(),
            })
            .await
            .map_err(refusal)?;
        Ok(())
    }
}
