//! Identity's gRPC edge: requests become domain values here, results become messages here.
//! [`service_accounts`] holds the service-account RPCs.

mod service_accounts;

use ps_auth::{Caller, PublicJwk};
use ps_core::{Email, PersonName, PracticeId, StaffId, UserId, Violations, validation::checked};
use ps_proto::convert::{role_from_wire, role_to_wire, timestamp};
use ps_proto::identity::v1 as pb;
use ps_proto::identity::v1::identity_internal_service_server::IdentityInternalService;
use ps_proto::identity::v1::identity_service_server::IdentityService;
use tonic::{Request, Response, Status};

use crate::app::Identity;
use crate::domain::{IssueInvitation, MyPractice, Password, RefreshToken, SecretToken, SignedIn};
use crate::error::Error;

pub struct Api {
    pub identity: Identity,
}

fn token(field: &str, raw: &str) -> Result<SecretToken, Status> {
    SecretToken::presented(field, raw).map_err(|v| Error::Invalid(v.into()).into())
}

fn signed_in(s: SignedIn) -> pb::SignInResponse {
    pb::SignInResponse {
        access_token: s.access_token,
        access_token_expires_at: Some(timestamp(s.access_expires_at)),
        refresh_token: s.refresh_token.encode(),
        refresh_token_expires_at: Some(timestamp(s.refresh_expires_at)),
        user_id: s.user_id.to_string(),
        practice_id: s.practice_id.to_string(),
        practice_role: role_to_wire(s.role),
    }
}

#[tonic::async_trait]
impl IdentityService for Api {
    async fn sign_in(
        &self,
        request: Request<pb::SignInRequest>,
    ) -> Result<Response<pb::SignInResponse>, Status> {
        let req = request.into_inner();
        let mut v = Violations::default();
        let email = v.check(Email::parse("email", &req.email));
        let password = v.check(Password::presented("password", &req.password));
        let practice = if req.practice_id.trim().is_empty() {
            None
        } else {
            v.check(PracticeId::parse_field("practice_id", &req.practice_id))
        };
        v.finish().map_err(Error::from)?;
        let signed = self
            .identity
            .sign_in(&checked(email), checked(password), practice)
            .await?;
        Ok(Response::new(signed_in(signed)))
    }

    async fn refresh(
        &self,
        request: Request<pb::RefreshRequest>,
    ) -> Result<Response<pb::SignInResponse>, Status> {
        let token = RefreshToken::parse("refresh_token", &request.into_inner().refresh_token)
            .map_err(|v| Status::from(Error::Invalid(v.into())))?;
        Ok(Response::new(signed_in(
            self.identity.refresh(&token).await?,
        )))
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
        let token = token("token", &request.into_inner().token)?;
        let view = self.identity.get_invitation(&token).await?;
        Ok(Response::new(pb::Invitation {
            practice_id: view.practice_id.to_string(),
            practice_name: view.practice_name,
            inviter_name: view.inviter_name,
            email: view.email.to_string(),
            invitee_name: view.invitee_name,
            practice_role: role_to_wire(view.role),
            expires_at: Some(timestamp(view.expires_at)),
            existing_account: view.existing_account,
        }))
    }

    async fn accept_invitation(
        &self,
        request: Request<pb::AcceptInvitationRequest>,
    ) -> Result<Response<pb::AcceptInvitationResponse>, Status> {
        let req = request.into_inner();
        let mut v = Violations::default();
        let token = v.check(SecretToken::presented("token", &req.token));
        let password = v.check(Password::presented("password", &req.password));
        v.finish().map_err(Error::from)?;
        let accepted = self
            .identity
            .accept_invitation(&checked(token), checked(password))
            .await?;
        Ok(Response::new(pb::AcceptInvitationResponse {
            user_id: accepted.user_id.to_string(),
            practice_id: accepted.practice_id.to_string(),
            staff_id: accepted.staff_id.to_string(),
        }))
    }

    async fn decline_invitation(
        &self,
        request: Request<pb::DeclineInvitationRequest>,
    ) -> Result<Response<pb::DeclineInvitationResponse>, Status> {
        let token = token("token", &request.into_inner().token)?;
        self.identity.decline_invitation(&token).await?;
        Ok(Response::new(pb::DeclineInvitationResponse {}))
    }

    async fn request_password_reset(
        &self,
        request: Request<pb::RequestPasswordResetRequest>,
    ) -> Result<Response<pb::RequestPasswordResetResponse>, Status> {
        let email = Email::parse("email", &request.get_ref().email)
            .map_err(|v| Status::from(Error::Invalid(v.into())))?;
        self.identity.request_password_reset(&email).await?;
        Ok(Response::new(pb::RequestPasswordResetResponse {}))
    }

    async fn reset_password(
        &self,
        request: Request<pb::ResetPasswordRequest>,
    ) -> Result<Response<pb::ResetPasswordResponse>, Status> {
        let req = request.into_inner();
        let token = token("token", &req.token)?;
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
            practices: practices.into_iter().map(my_practice).collect(),
        }))
    }

    async fn switch_practice(
        &self,
        request: Request<pb::SwitchPracticeRequest>,
    ) -> Result<Response<pb::SignInResponse>, Status> {
        let caller = Caller::user_of(&request)?;
        let practice = PracticeId::parse_field("practice_id", &request.get_ref().practice_id)
            .map_err(|v| Status::from(Error::Invalid(v.into())))?;
        Ok(Response::new(signed_in(
            self.identity.switch_practice(&caller, practice).await?,
        )))
    }

    async fn issue_service_token(
        &self,
        request: Request<pb::IssueServiceTokenRequest>,
    ) -> Result<Response<pb::IssueServiceTokenResponse>, Status> {
        Ok(Response::new(
            self.issue_service_token_edge(request.into_inner()).await?,
        ))
    }

    async fn get_jwks(
        &self,
        _request: Request<pb::GetJwksRequest>,
    ) -> Result<Response<pb::GetJwksResponse>, Status> {
        let keys = self.identity.published_keys().await?;
        Ok(Response::new(pb::GetJwksResponse {
            keys: keys
                .into_iter()
                .map(|k| pb::Jwk {
                    kid: k.kid,
                    kty: PublicJwk::KTY.into(),
                    crv: PublicJwk::CRV.into(),
                    x: k.x,
                    alg: PublicJwk::ALG.into(),
                })
                .collect(),
        }))
    }
}

#[tonic::async_trait]
impl IdentityInternalService for Api {
    async fn issue_invitation_link(
        &self,
        request: Request<pb::IssueInvitationLinkRequest>,
    ) -> Result<Response<pb::IssueInvitationLinkResponse>, Status> {
        let req = request.into_inner();
        let mut v = Violations::default();
        let email = v.check(Email::parse("email", &req.email));
        let invitee_name = v.check(PersonName::parse("invitee_name", &req.invitee_name));
        let practice_id = v.check(PracticeId::parse_field("practice_id", &req.practice_id));
        let staff_id = v.check(StaffId::parse_field("staff_id", &req.staff_id));
        let role = v.check(role_from_wire("practice_role", req.practice_role));
        v.finish().map_err(Error::from)?;
        let issued = self
            .identity
            .issue_invitation_link(IssueInvitation {
                email: checked(email),
                invitee_name: checked(invitee_name),
                practice_id: checked(practice_id),
                practice_name: req.practice_name,
                staff_id: checked(staff_id),
                inviter_name: req.inviter_name,
                role: checked(role),
            })
            .await?;
        Ok(Response::new(pb::IssueInvitationLinkResponse {
            token: issued.token.as_str().to_owned(),
            url: issued.url,
            expires_at: Some(timestamp(issued.expires_at)),
            user_id: issued.user_id.to_string(),
            link_id: issued.id.to_string(),
        }))
    }

    async fn issue_password_reset_link(
        &self,
        request: Request<pb::IssuePasswordResetLinkRequest>,
    ) -> Result<Response<pb::IssuePasswordResetLinkResponse>, Status> {
        let user = UserId::parse_field("user_id", &request.get_ref().user_id)
            .map_err(|v| Status::from(Error::Invalid(v.into())))?;
        let issued = self.identity.issue_password_reset_link(user).await?;
        Ok(Response::new(pb::IssuePasswordResetLinkResponse {
            token: issued.token.as_str().to_owned(),
            url: issued.url,
            expires_at: Some(timestamp(issued.expires_at)),
            link_id: issued.id.to_string(),
        }))
    }

    async fn void_link(
        &self,
        request: Request<pb::VoidLinkRequest>,
    ) -> Result<Response<pb::VoidLinkResponse>, Status> {
        let id = ps_core::ids::parse_uuid("link_id", &request.get_ref().link_id)
            .map_err(|v| Status::from(Error::Invalid(v.into())))?;
        let voided = self.identity.void_link(id).await?;
        Ok(Response::new(pb::VoidLinkResponse { voided }))
    }
}

#[tonic::async_trait]
impl ps_proto::identity::v1::identity_operator_service_server::IdentityOperatorService for Api {
    async fn rotate_signing_key(
        &self,
        _request: Request<pb::RotateSigningKeyRequest>,
    ) -> Result<Response<pb::RotateSigningKeyResponse>, Status> {
        let rotated = self.identity.rotate_signing_key().await?;
        tracing::info!(caller = "operator", kid = %rotated.kid, "signing key rotation requested");
        Ok(Response::new(pb::RotateSigningKeyResponse {
            kid: rotated.kid,
            activates_at: Some(timestamp(rotated.activates_at)),
            retiring_kids: rotated.retiring,
            retires_at: Some(timestamp(rotated.retires_at)),
        }))
    }
}

/// One of the practices a person is active in, on the wire.
pub(crate) fn my_practice(p: MyPractice) -> pb::MyPractice {
    pb::MyPractice {
        practice_id: p.practice_id.to_string(),
        practice_name: p.practice_name,
        staff_id: p.staff_id.to_string(),
        practice_role: role_to_wire(p.role),
        current: p.current,
    }
}
