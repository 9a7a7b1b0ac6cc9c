//! The service-account RPCs at the edge: requests become domain values here (every field
//! violation at once), results become messages here.

use ps_auth::{Caller, Scope};
use ps_core::{PracticeId, ServiceAccountId, Violations, validation::checked};
use ps_proto::convert::{page_request, timestamp};
use ps_proto::identity::v1 as pb;
use ps_proto::identity::v1::service_account_service_server::ServiceAccountService;
use tonic::{Request, Response, Status};

use super::Api;
use crate::domain::SecretToken;
use crate::domain::service_accounts::{
    self as rules, AccountName, HistoryEntry, Manager, NewServiceAccount, Proof, ServiceAccount,
};
use crate::error::Error;

fn account(a: ServiceAccount) -> pb::ServiceAccount {
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

fn account_id(raw: &str) -> Result<ServiceAccountId, Status> {
    ServiceAccountId::parse_field("service_account_id", raw)
        .map_err(|v| Status::from(Error::from(v)))
}

fn optional_practice(v: &mut Violations, raw: &str) -> Option<PracticeId> {
    if raw.trim().is_empty() {
        None
    } else {
        v.check(PracticeId::parse_field("practice_id", raw))
    }
}

impl Api {
    /// Disable and Enable: the same request but for the state asked for.
    async fn set_enabled<T>(
        &self,
        request: &Request<T>,
        id: &str,
        enabled: bool,
    ) -> Result<Response<pb::ServiceAccount>, Status> {
        let manager = self.manager(request).await?;
        let id = account_id(id)?;
        Ok(Response::new(account(
            self.identity
                .set_service_account_enabled(&manager, id, enabled)
                .await?,
        )))
    }

    /// Who manages service accounts in this request: the operator, or the practice's Account
    /// Owner (anyone else is refused).
    async fn manager<T>(&self, request: &Request<T>) -> Result<Manager, Status> {
        Ok(self
            .identity
            .service_account_manager(&Caller::of(request)?)
            .await?)
    }

    /// IssueServiceToken: exactly one of a secret and an assertion.
    pub(super) async fn issue_service_token_edge(
        &self,
        req: pb::IssueServiceTokenRequest,
    ) -> Result<pb::IssueServiceTokenResponse, Status> {
        let mut v = Violations::default();
        let client = v.check(ServiceAccountId::parse_field("client_id", &req.client_id));
        let secret = req.client_secret.trim();
        let assertion = req.client_assertion.trim();
        let proof = match (secret.is_empty(), assertion.is_empty()) {
            (false, true) => v
                .check(SecretToken::presented("client_secret", secret))
                .map(Proof::Secret),
            (true, false) => Some(Proof::Assertion(assertion.to_owned())),
            (true, true) => {
                v.push(ps_core::FieldViolation::new(
                    "client_secret",
                    "is required (or a client_assertion)",
                ));
                None
            }
            (false, false) => {
                v.push(ps_core::FieldViolation::new(
                    "client_assertion",
                    "give a client_secret or a client_assertion, not both",
                ));
                None
            }
        };
        let scopes: Option<Vec<Scope>> = v.check(rules::scopes("scopes", &req.scopes, false));
        v.finish().map_err(Error::from)?;
        let issued = self
            .identity
            .issue_service_token(checked(client), checked(proof), checked(scopes))
            .await?;
        Ok(pb::IssueServiceTokenResponse {
            access_token: issued.token,
            expires_at: Some(timestamp(issued.expires_at)),
            scopes: issued
                .scopes
                .iter()
                .map(|s| s.as_str().to_owned())
                .collect(),
            service_account_id: issued.account_id.to_string(),
            expires_in: u32::try_from(issued.lifetime.as_secs()).unwrap_or(u32::MAX),
        })
    }
}

#[tonic::async_trait]
impl ServiceAccountService for Api {
    async fn create_service_account(
        &self,
        request: Request<pb::CreateServiceAccountRequest>,
    ) -> Result<Response<pb::CreateServiceAccountResponse>, Status> {
        let manager = self.manager(&request).await?;
        let req = request.into_inner();
        let mut v = Violations::default();
        let name = v.check(AccountName::parse("name", &req.name));
        let description = v.check(rules::description("description", &req.description));
        let scopes = v.check(rules::scopes("scopes", &req.scopes, true));
        let practice = optional_practice(&mut v, &req.practice_id);
        v.finish().map_err(Error::from)?;
        let (created, secret) = self
            .identity
            .create_service_account(
                &manager,
                NewServiceAccount {
                    name: checked(name),
                    description: checked(description),
                    scopes: checked(scopes),
                    practice,
                    with_secret: !req.without_secret,
                },
            )
            .await?;
        Ok(Response::new(pb::CreateServiceAccountResponse {
            service_account: Some(account(created)),
            client_secret: secret.map(|s| s.as_str().to_owned()).unwrap_or_default(),
        }))
    }

    async fn list_service_accounts(
        &self,
        request: Request<pb::ListServiceAccountsRequest>,
    ) -> Result<Response<pb::ListServiceAccountsResponse>, Status> {
        let manager = self.manager(&request).await?;
        let req = request.into_inner();
        let mut v = Violations::default();
        let page = v.check_all(page_request("page", req.page.as_ref()));
        let practice = optional_practice(&mut v, &req.practice_id);
        v.finish().map_err(Error::from)?;
        let listed = self
            .identity
            .list_service_accounts(&manager, practice, checked(page))
            .await?;
        Ok(Response::new(pb::ListServiceAccountsResponse {
            next_page_token: listed.next_page_token.clone(),
            service_accounts: listed.items.into_iter().map(account).collect(),
        }))
    }

    async fn get_service_account(
        &self,
        request: Request<pb::GetServiceAccountRequest>,
    ) -> Result<Response<pb::GetServiceAccountResponse>, Status> {
        let manager = self.manager(&request).await?;
        let id = account_id(&request.get_ref().service_account_id)?;
        let (found, entries) = self.identity.get_service_account(&manager, id).await?;
        Ok(Response::new(pb::GetServiceAccountResponse {
            service_account: Some(account(found)),
            history: entries.into_iter().map(history).collect(),
        }))
    }

    async fn rotate_service_account_secret(
        &self,
        request: Request<pb::RotateServiceAccountSecretRequest>,
    ) -> Result<Response<pb::RotateServiceAccountSecretResponse>, Status> {
        let manager = self.manager(&request).await?;
        let req = request.into_inner();
        let mut v = Violations::default();
        let id = v.check(ServiceAccountId::parse_field(
            "service_account_id",
            &req.service_account_id,
        ));
        let grace = v.check(rules::grace(req.grace_seconds, req.end_previous_now));
        v.finish().map_err(Error::from)?;
        let (rotated, secret, until) = self
            .identity
            .rotate_service_account_secret(&manager, checked(id), checked(grace))
            .await?;
        Ok(Response::new(pb::RotateServiceAccountSecretResponse {
            service_account: Some(account(rotated)),
            client_secret: secret.as_str().to_owned(),
            previous_secret_expires_at: Some(timestamp(until)),
        }))
    }

    async fn register_service_account_key(
        &self,
        request: Request<pb::RegisterServiceAccountKeyRequest>,
    ) -> Result<Response<pb::RegisterServiceAccountKeyResponse>, Status> {
        let manager = self.manager(&request).await?;
        let req = request.into_inner();
        let id = account_id(&req.service_account_id)?;
        let (updated, key_id) = self
            .identity
            .register_service_account_key(&manager, id, req.public_key.trim().to_owned())
            .await?;
        Ok(Response::new(pb::RegisterServiceAccountKeyResponse {
            service_account: Some(account(updated)),
            key_id: key_id.to_string(),
        }))
    }

    async fn remove_service_account_key(
        &self,
        request: Request<pb::RemoveServiceAccountKeyRequest>,
    ) -> Result<Response<pb::ServiceAccount>, Status> {
        let manager = self.manager(&request).await?;
        let req = request.into_inner();
        let mut v = Violations::default();
        let id = v.check(ServiceAccountId::parse_field(
            "service_account_id",
            &req.service_account_id,
        ));
        let key = v.check(ps_core::ids::parse_uuid("key_id", &req.key_id));
        v.finish().map_err(Error::from)?;
        Ok(Response::new(account(
            self.identity
                .remove_service_account_key(&manager, checked(id), checked(key))
                .await?,
        )))
    }

    async fn disable_service_account(
        &self,
        request: Request<pb::DisableServiceAccountRequest>,
    ) -> Result<Response<pb::ServiceAccount>, Status> {
        let id = request.get_ref().service_account_id.clone();
        self.set_enabled(&request, &id, false).await
    }

    async fn enable_service_account(
        &self,
        request: Request<pb::EnableServiceAccountRequest>,
    ) -> Result<Response<pb::ServiceAccount>, Status> {
        let id = request.get_ref().service_account_id.clone();
        self.set_enabled(&request, &id, true).await
    }
}
