//! Identity's internal RPCs behind the [`LinkIssuer`] port: the one place notification speaks
//! tonic as a client.

use std::time::Duration;

use async_trait::async_trait;
use ps_auth::credentials::WithServiceToken;
use ps_auth::{ServiceCredentialSettings, ServiceCredentials, TokenSettings};
use ps_proto::identity::v1 as identity;
use ps_proto::identity::v1::identity_internal_service_client::IdentityInternalServiceClient;
use tonic::Code;
use tower::Layer;
use uuid::Uuid;

use crate::links::{LinkError, LinkIssuer, LinkMail, MintedLink};

type Client = IdentityInternalServiceClient<WithServiceToken<ps_grpc::client::UnsentIsUnavailable>>;

/// Links from identity over gRPC, with notification's own service account (scopes
/// `identity.invitation_links`, `identity.reset_links`, `identity.void_links`, nothing else).
#[derive(Clone)]
pub struct IdentityLinks {
    client: Client,
}

impl IdentityLinks {
    /// Connects lazily, so notification can start before identity answers.
    pub fn new(
        identity_url: &str,
        tls: &ps_auth::ClientTlsSettings,
        credentials: &ServiceCredentialSettings,
        tokens: &TokenSettings,
    ) -> Result<Self, String> {
        let endpoint = ps_auth::tls::endpoint(identity_url, tls)
            .map_err(|e| format!("identity_url: {e}"))?
            .timeout(Duration::from_secs(10));
        let credentials = ServiceCredentials::new(endpoint.connect_lazy(), credentials, tokens)
            .map_err(|e| format!("credentials: {e}"))?;
        let channel = credentials.layer().layer(ps_grpc::client::lazy(endpoint));
        Ok(Self {
            client: IdentityInternalServiceClient::new(channel),
        })
    }
}

/// A refusal a retry will not change is permanent. Anything else (identity down, slow,
/// restarting) is worth retrying, and so is a refused credential: that is notification's
/// configuration, not the e-mail's fault, and once fixed the e-mail goes out.
fn refusal(status: tonic::Status) -> LinkError {
    let described = format!("{:?}: {}", status.code(), status.message());
    match status.code() {
        Code::InvalidArgument | Code::NotFound | Code::AlreadyExists | Code::FailedPrecondition => {
            LinkError::Refused(described)
        }
        Code::PermissionDenied | Code::Unauthenticated => LinkError::Unavailable(format!(
            "notification's service credential was refused ({described}); check PS_CREDENTIALS__*"
        )),
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
