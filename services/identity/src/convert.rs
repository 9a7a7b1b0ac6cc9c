//! The edge's conversions: requests (and their fields) into domain values, reporting every
//! field violation at once, and domain values into `identity.v1` messages. The handlers in
//! [`crate::edge`] call these and the use cases, nothing else.

use chrono::{DateTime, Utc};
use ps_auth::PublicJwk;
use ps_core::{
    Email, FieldViolation, Page, PersonName, PracticeId, ServiceAccountId, StaffId, UserId,
    Violations, validation::checked,
};
use ps_proto::convert::{page_request, role_from_wire, role_to_wire, timestamp};
use ps_proto::identity::v1 as pb;
use tonic::Status;
use uuid::Uuid;

use crate::app::keyring::Rotated;
use crate::domain::service_accounts::{
    self as rules, AccountListing, AccountName, HistoryEntry, IssuedToken, KeyRemoval,
    NewServiceAccount, Proof, SecretRotation, ServiceAccount, TokenRequest,
};
use crate::domain::{
    AcceptInvitation, Accepted, InvitationView, IssueInvitation, IssuedLink, IssuedResetLink,
    MyPractice, Password, RefreshToken, SecretToken, SignIn, SignedIn,
};
use crate::error::Error;

pub(crate) fn invalid(violation: FieldViolation) -> Status {
    Error::from(violation).into()
}

/// A link token the caller presents.
pub(crate) fn token(field: &str, raw: &str) -> Result<SecretToken, Status> {
    SecretToken::presented(field, raw).map_err(invalid)
}

pub(crate) fn refresh_token(raw: &str) -> Result<RefreshToken, Status> {
    RefreshToken::parse("refresh_token", raw).map_err(invalid)
}

pub(crate) fn email(raw: &str) -> Result<Email, Status> {
    Email::parse("email", raw).map_err(invalid)
}

pub(crate) fn practice_id(raw: &str) -> Result<PracticeId, Status> {
    PracticeId::parse_field("practice_id", raw).map_err(invalid)
}

pub(crate) fn user_id(raw: &str) -> Result<UserId, Status> {
    UserId::parse_field("user_id", raw).map_err(invalid)
}

pub(crate) fn link_id(raw: &str) -> Result<Uuid, Status> {
    ps_core::ids::parse_uuid("link_id", raw).map_err(invalid)
}

pub(crate) fn account_id(raw: &str) -> Result<ServiceAccountId, Status> {
    ServiceAccountId::parse_field("service_account_id", raw).map_err(invalid)
}

/// An optional practice id: empty means none.
fn optional_practice(v: &mut Violations, raw: &str) -> Option<PracticeId> {
    if raw.trim().is_empty() {
        None
    } else {
        v.check(PracticeId::parse_field("practice_id", raw))
    }
}

impl TryFrom<pb::SignInRequest> for SignIn {
    type Error = Error;

    fn try_from(req: pb::SignInRequest) -> Result<Self, Error> {
        let mut v = Violations::default();
        let email = v.check(Email::parse("email", &req.email));
        let password = v.check(Password::presented("password", &req.password));
        let practice = optional_practice(&mut v, &req.practice_id);
        v.finish()?;
        Ok(SignIn {
            email: checked(email),
            password: checked(password),
            practice,
        })
    }
}

impl TryFrom<pb::AcceptInvitationRequest> for AcceptInvitation {
    type Error = Error;

    fn try_from(req: pb::AcceptInvitationRequest) -> Result<Self, Error> {
        let mut v = Violations::default();
        let token = v.check(SecretToken::presented("token", &req.token));
        let password = v.check(Password::presented("password", &req.password));
        v.finish()?;
        Ok(AcceptInvitation {
            token: checked(token),
            password: checked(password),
        })
    }
}

impl TryFrom<pb::IssueInvitationLinkRequest> for IssueInvitation {
    type Error = Error;

    fn try_from(req: pb::IssueInvitationLinkRequest) -> Result<Self, Error> {
        let mut v = Violations::default();
        let email = v.check(Email::parse("email", &req.email));
        let invitee_name = v.check(PersonName::parse("invitee_name", &req.invitee_name));
        let practice_id = v.check(PracticeId::parse_field("practice_id", &req.practice_id));
        let staff_id = v.check(StaffId::parse_field("staff_id", &req.staff_id));
        let role = v.check(role_from_wire("practice_role", req.practice_role));
        v.finish()?;
        Ok(IssueInvitation {
            email: checked(email),
            invitee_name: checked(invitee_name),
            practice_id: checked(practice_id),
            practice_name: req.practice_name,
            staff_id: checked(staff_id),
            inviter_name: req.inviter_name,
            role: checked(role),
        })
    }
}

/// IssueServiceToken's proof: exactly one of a secret and an assertion.
fn proof(v: &mut Violations, secret: &str, assertion: &str) -> Option<Proof> {
    let (secret, assertion) = (secret.trim(), assertion.trim());
    match (secret.is_empty(), assertion.is_empty()) {
        (false, true) => v
            .check(SecretToken::presented("client_secret", secret))
            .map(Proof::Secret),
        (true, false) => Some(Proof::Assertion(assertion.to_owned())),
        (true, true) => {
            v.push(FieldViolation::new(
                "client_secret",
                "is required (or a client_assertion)",
            ));
            None
        }
        (false, false) => {
            v.push(FieldViolation::new(
                "client_assertion",
                "give a client_secret or a client_assertion, not both",
            ));
            None
        }
    }
}

impl TryFrom<pb::IssueServiceTokenRequest> for TokenRequest {
    type Error = Error;

    fn try_from(req: pb::IssueServiceTokenRequest) -> Result<Self, Error> {
        let mut v = Violations::default();
        let client = v.check(ServiceAccountId::parse_field("client_id", &req.client_id));
        let proof = proof(&mut v, &req.client_secret, &req.client_assertion);
        let scopes = v.check(rules::scopes("scopes", &req.scopes, false));
        v.finish()?;
        Ok(TokenRequest {
            client_id: checked(client),
            proof: checked(proof),
            scopes: checked(scopes),
        })
    }
}

impl TryFrom<pb::CreateServiceAccountRequest> for NewServiceAccount {
    type Error = Error;

    fn try_from(req: pb::CreateServiceAccountRequest) -> Result<Self, Error> {
        let mut v = Violations::default();
        let name = v.check(AccountName::parse("name", &req.name));
        let description = v.check(rules::description("description", &req.description));
        let scopes = v.check(rules::scopes("scopes", &req.scopes, true));
        let practice = optional_practice(&mut v, &req.practice_id);
        v.finish()?;
        Ok(NewServiceAccount {
            name: checked(name),
            description: checked(description),
            scopes: checked(scopes),
            practice,
            with_secret: !req.without_secret,
        })
    }
}

impl TryFrom<pb::ListServiceAccountsRequest> for AccountListing {
    type Error = Error;

    fn try_from(req: pb::ListServiceAccountsRequest) -> Result<Self, Error> {
        let mut v = Violations::default();
        let page = v.check_all(page_request("page", req.page.as_ref()));
        let practice = optional_practice(&mut v, &req.practice_id);
        v.finish()?;
        Ok(AccountListing {
            practice,
            page: checked(page),
        })
    }
}

impl TryFrom<pb::RotateServiceAccountSecretRequest> for SecretRotation {
    type Error = Error;

    fn try_from(req: pb::RotateServiceAccountSecretRequest) -> Result<Self, Error> {
        let mut v = Violations::default();
        let account = v.check(ServiceAccountId::parse_field(
            "service_account_id",
            &req.service_account_id,
        ));
        let grace = v.check(rules::grace(req.grace_seconds, req.end_previous_now));
        v.finish()?;
        Ok(SecretRotation {
            account: checked(account),
            grace: checked(grace),
        })
    }
}

impl TryFrom<pb::RemoveServiceAccountKeyRequest> for KeyRemoval {
    type Error = Error;

    fn try_from(req: pb::RemoveServiceAccountKeyRequest) -> Result<Self, Error> {
        let mut v = Violations::default();
        let account = v.check(ServiceAccountId::parse_field(
            "service_account_id",
            &req.service_account_id,
        ));
        let key_id = v.check(ps_core::ids::parse_uuid("key_id", &req.key_id));
        v.finish()?;
        Ok(KeyRemoval {
            account: checked(account),
            key_id: checked(key_id),
        })
    }
}

pub(crate) fn signed_in(s: SignedIn) -> pb::SignInResponse {
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

pub(crate) fn invitation(view: InvitationView) -> pb::Invitation {
    pb::Invitation {
        practice_id: view.practice_id.to_string(),
        practice_name: view.practice_name,
        inviter_name: view.inviter_name,
        email: view.email.to_string(),
        invitee_name: view.invitee_name,
        practice_role: role_to_wire(view.role),
        expires_at: Some(timestamp(view.expires_at)),
        existing_account: view.existing_account,
    }
}

pub(crate) fn accepted(a: Accepted) -> pb::AcceptInvitationResponse {
    pb::AcceptInvitationResponse {
        user_id: a.user_id.to_string(),
        practice_id: a.practice_id.to_string(),
        staff_id: a.staff_id.to_string(),
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

pub(crate) fn jwks(keys: Vec<PublicJwk>) -> pb::GetJwksResponse {
    pb::GetJwksResponse {
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
    }
}

pub(crate) fn invitation_link(issued: IssuedLink) -> pb::IssueInvitationLinkResponse {
    pb::IssueInvitationLinkResponse {
        token: issued.token.as_str().to_owned(),
        url: issued.url,
        expires_at: Some(timestamp(issued.expires_at)),
        user_id: issued.user_id.to_string(),
        link_id: issued.id.to_string(),
    }
}

pub(crate) fn reset_link(issued: IssuedResetLink) -> pb::IssuePasswordResetLinkResponse {
    pb::IssuePasswordResetLinkResponse {
        token: issued.token.as_str().to_owned(),
        url: issued.url,
        expires_at: Some(timestamp(issued.expires_at)),
        link_id: issued.id.to_string(),
    }
}

pub(crate) fn rotated(r: Rotated) -> pb::RotateSigningKeyResponse {
    pb::RotateSigningKeyResponse {
        kid: r.kid,
        activates_at: Some(timestamp(r.activates_at)),
        retiring_kids: r.retiring,
        retires_at: Some(timestamp(r.retires_at)),
    }
}

pub(crate) fn account(a: ServiceAccount) -> pb::ServiceAccount {
    pb::ServiceAccount {
        id: a.id.to_string(),
        name: a.name,
        description: a.description,
        scopes: a.scopes.iter().map(|s| s.as_str().to_owned()).collect(),
        practice_id: a.practice.map(|p| p.to_string()).unwrap_or_default(),
        practice_name: a.practice_name,
        status: if a.active {
            pb::ServiceAccountStatus::Active
        } else {
            pb::ServiceAccountStatus::Disabled
        } as i32,
        created_at: Some(timestamp(a.created_at)),
        rotated_at: a.rotated_at.map(timestamp),
        last_used_at: a.last_used_at.map(timestamp),
        keys: a
            .keys
            .into_iter()
            .map(|k| pb::ServiceAccountKey {
                key_id: k.key_id.to_string(),
                public_key: k.public_key,
                created_at: Some(timestamp(k.created_at)),
            })
            .collect(),
        previous_secrets_expire_at: a
            .previous_secrets_expire_at
            .into_iter()
            .map(timestamp)
            .collect(),
        created_by: a.created_by,
        has_secret: a.has_secret,
    }
}

fn history(entry: HistoryEntry) -> pb::ServiceAccountEvent {
    pb::ServiceAccountEvent {
        action: entry.action,
        actor_name: entry.actor_name,
        occurred_at: Some(timestamp(entry.occurred_at)),
        detail: entry.detail,
    }
}

pub(crate) fn created(
    created: ServiceAccount,
    secret: Option<SecretToken>,
) -> pb::CreateServiceAccountResponse {
    pb::CreateServiceAccountResponse {
        service_account: Some(account(created)),
        client_secret: secret.map(|s| s.as_str().to_owned()).unwrap_or_default(),
    }
}

pub(crate) fn listed(page: Page<ServiceAccount>) -> pb::ListServiceAccountsResponse {
    pb::ListServiceAccountsResponse {
        next_page_token: page.next_page_token,
        service_accounts: page.items.into_iter().map(account).collect(),
    }
}

pub(crate) fn found(
    found: ServiceAccount,
    entries: Vec<HistoryEntry>,
) -> pb::GetServiceAccountResponse {
    pb::GetServiceAccountResponse {
        service_account: Some(account(found)),
        history: entries.into_iter().map(history).collect(),
    }
}

pub(crate) fn secret_rotated(
    rotated: ServiceAccount,
    secret: &SecretToken,
    previous_until: DateTime<Utc>,
) -> pb::RotateServiceAccountSecretResponse {
    pb::RotateServiceAccountSecretResponse {
        service_account: Some(account(rotated)),
        client_secret: secret.as_str().to_owned(),
        previous_secret_expires_at: Some(timestamp(previous_until)),
    }
}

pub(crate) fn key_registered(
    updated: ServiceAccount,
    key_id: Uuid,
) -> pb::RegisterServiceAccountKeyResponse {
    pb::RegisterServiceAccountKeyResponse {
        service_account: Some(account(updated)),
        key_id: key_id.to_string(),
    }
}

pub(crate) fn service_token(issued: IssuedToken) -> pb::IssueServiceTokenResponse {
    pb::IssueServiceTokenResponse {
        access_token: issued.token,
        expires_at: Some(timestamp(issued.expires_at)),
        scopes: issued
            .scopes
            .iter()
            .map(|s| s.as_str().to_owned())
            .collect(),
        service_account_id: issued.account_id.to_string(),
        expires_in: u32::try_from(issued.lifetime.as_secs()).unwrap_or(u32::MAX),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn fields(err: Error) -> Vec<String> {
        match err {
            Error::Invalid(invalid) => invalid.violations.into_iter().map(|v| v.field).collect(),
            other => panic!("not invalid: {other:?}"),
        }
    }

    #[test]
    fn a_sign_in_reports_every_bad_field_at_once() {
        let err = SignIn::try_from(pb::SignInRequest {
            email: "not an e-mail".into(),
            password: String::new(),
            practice_id: "nope".into(),
        })
        .unwrap_err();
        assert_eq!(fields(err), ["email", "password", "practice_id"]);
        let ok = SignIn::try_from(pb::SignInRequest {
            email: "pat@example.com".into(),
            password: "whatever it is".into(),
            practice_id: " ".into(),
        })
        .unwrap();
        assert_eq!(ok.practice, None);
    }

    #[test]
    fn a_service_token_request_needs_exactly_one_proof() {
        let request = |secret: &str, assertion: &str| pb::IssueServiceTokenRequest {
            client_id: Uuid::now_v7().to_string(),
            client_secret: secret.into(),
            client_assertion: assertion.into(),
            ..Default::default()
        };
        assert_eq!(
            fields(TokenRequest::try_from(request("", "")).unwrap_err()),
            ["client_secret"]
        );
        assert_eq!(
            fields(TokenRequest::try_from(request("s", "a")).unwrap_err()),
            ["client_assertion"]
        );
        let secret = SecretToken::generate();
        let ok = TokenRequest::try_from(request(secret.as_str(), "")).unwrap();
        assert!(matches!(ok.proof, Proof::Secret(_)));
    }
}
