//! Identity's gRPC edge: each handler takes the caller, converts the request ([`crate::convert`]),
//! calls the use case and converts the result back. [`service_accounts`] holds the
//! service-account RPCs.

mod service_accounts;

use ps_auth::Caller;
use ps_proto::identity::v1 as pb;
use ps_proto::identity::v1::identity_internal_service_server::IdentityInternalService;
use ps_proto::identity::v1::identity_operator_service_server::IdentityOperatorService;
use ps_proto::identity::v1::identity_service_server::IdentityService;
use tonic::{Request, Response, Status};

use crate::app::Identity;
use crate::convert;

pub struct Api {
    pub identity: Identity,
}

#[tonic::async_trait]
impl IdentityService for Api {
    async fn sign_in(
        &self,
        request: Request<pb::SignInRequest>,
    ) -> Result<Response<pb::SignInResponse>, Status> {
        let signed = self
            .identity
            .sign_in(request.into_inner().try_into()?)
            .await?;
        Ok(Response::new(convert::signed_in(signed)))
    }

    async fn refresh(
        &self,
        request: Request<pb::RefreshRequest>,
    ) -> Result<Response<pb::SignInResponse>, Status> {
        let token = convert::refresh_token(&request.get_ref().refresh_token)?;
        let signed = self.identity.refresh(&token).await?;
        Ok(Response::new(convert::signed_in(signed)))
    }

    async fn sign_out(
        &self,
        request: Request<pb::SignOutRequest>,
    ) -> Result<Response<pb::SignOutResponse>, Status> {
        let caller = Caller::user_of(&request)?;
        self.identity.sign_out(&caller).await?;
        Ok(Response::new(pb::SignOutResponse {}))
    }

    async fn get_invitation(
        &self,
        request: Request<pb::GetInvitationRequest>,
    ) -> Result<Response<pb::Invitation>, Status> {
        let token = convert::token("token", &request.get_ref().token)?;
        let view = self.identity.get_invitation(&token).await?;
        Ok(Response::new(convert::invitation(view)))
    }

    async fn accept_invitation(
        &self,
        request: Request<pb::AcceptInvitationRequest>,
    ) -> Result<Response<pb::AcceptInvitationResponse>, Status> {
        let accept = request.into_inner().try_into()?;
        let accepted = self.identity.accept_invitation(accept).await?;
        Ok(Response::new(convert::accepted(accepted)))
    }

    async fn decline_invitation(
        &self,
        request: Request<pb::DeclineInvitationRequest>,
    ) -> Result<Response<pb::DeclineInvitationResponse>, Status> {
        let token = convert::token("token", &request.get_ref().token)?;
        self.identity.decline_invitation(&token).await?;
        Ok(Response::new(pb::DeclineInvitationResponse {}))
    }

    async fn request_password_reset(
        &self,
        request: Request<pb::RequestPasswordResetRequest>,
    ) -> Result<Response<pb::RequestPasswordResetResponse>, Status> {
        let email = convert::email(&request.get_ref().email)?;
        self.identity.request_password_reset(&email).await?;
        Ok(Response::new(pb::RequestPasswordResetResponse {}))
    }

    async fn reset_password(
        &self,
        request: Request<pb::ResetPasswordRequest>,
    ) -> Result<Response<pb::ResetPasswordResponse>, Status> {
        let req = request.into_inner();
        let token = convert::token("token", &req.token)?;
        // The new password is checked by the use case, after the token's shape.
        self.identity
            .reset_password(&token, &req.new_password)
            .await?;
        Ok(Response::new(pb::ResetPasswordResponse {}))
    }

    async fn list_my_practices(
        &self,
        request: Request<pb::ListMyPracticesRequest>,
    ) -> Result<Response<pb::ListMyPracticesResponse>, Status> {
        let caller = Caller::user_of(&request)?;
        let practices = self.identity.list_my_practices(&caller).await?;
        Ok(Response::new(pb::ListMyPracticesResponse {
            practices: practices.into_iter().map(convert::my_practice).collect(),
        }))
    }

    async fn switch_practice(
        &self,
        request: Request<pb::SwitchPracticeRequest>,
    ) -> Result<Response<pb::SignInResponse>, Status> {
        let caller = Caller::user_of(&request)?;
        let practice = convert::practice_id(&request.get_ref().practice_id)?;
        let signed = self.identity.switch_practice(&caller, practice).await?;
        Ok(Response::new(convert::signed_in(signed)))
    }

    async fn issue_service_token(
        &self,
        request: Request<pb::IssueServiceTokenRequest>,
    ) -> Result<Response<pb::IssueServiceTokenResponse>, Status> {
        let asked = request.into_inner().try_into()?;
        let issued = self.identity.issue_service_token(asked).await?;
        Ok(Response::new(convert::service_token(issued)))
    }

    async fn get_jwks(
        &self,
        _request: Request<pb::GetJwksRequest>,
    ) -> Result<Response<pb::GetJwksResponse>, Status> {
        let keys = self.identity.published_keys().await?;
        Ok(Response::new(convert::jwks(keys)))
    }
}

#[tonic::async_trait]
impl IdentityInternalService for Api {
    async fn issue_invitation_link(
        &self,
        request: Request<pb::IssueInvitationLinkRequest>,
    ) -> Result<Response<pb::IssueInvitationLinkResponse>, Status> {
        let invitation = request.into_inner().try_into()?;
        let issued = self.identity.issue_invitation_link(invitation).await?;
        Ok(Response::new(convert::invitation_link(issued)))
    }

    async fn issue_password_reset_link(
        &self,
        request: Request<pb::IssuePasswordResetLinkRequest>,
    ) -> Result<Response<pb::IssuePasswordResetLinkResponse>, Status> {
        let user = convert::user_id(&request.get_ref().user_id)?;
        let issued = self.identity.issue_password_reset_link(user).await?;
        Ok(Response::new(convert::reset_link(issued)))
    }

    async fn void_link(
        &self,
        request: Request<pb::VoidLinkRequest>,
    ) -> Result<Response<pb::VoidLinkResponse>, Status> {
        let id = convert::link_id(&request.get_ref().link_id)?;
        let voided = self.identity.void_link(id).await?;
        Ok(Response::new(pb::VoidLinkResponse { voided }))
    }
}

#[tonic::async_trait]
impl IdentityOperatorService for Api {
    async fn rotate_signing_key(
        &self,
        _request: Request<pb::RotateSigningKeyRequest>,
    ) -> Result<Response<pb::RotateSigningKeyResponse>, Status> {
        let rotated = self.identity.rotate_signing_key().await?;
        tracing::info!(caller = "operator", kid = %rotated.kid, "signing key rotation requested");
        Ok(Response::new(convert::rotated(rotated)))
    }
}
