//! The service-account RPCs at the edge. Each first finds who manages (so a caller who may not
//! manage is refused before their request is judged), then converts the request
//! ([`crate::convert`], every field violation at once), calls the use case and converts back.

use ps_auth::Caller;
use ps_proto::identity::v1 as pb;
use ps_proto::identity::v1::service_account_service_server::ServiceAccountService;
use tonic::{Request, Response, Status};

use super::Api;
use crate::convert::{self, account, account_id};
use crate::domain::service_accounts::Manager;

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
        let changed = self
            .identity
            .set_service_account_enabled(&manager, id, enabled)
            .await?;
        Ok(Response::new(account(changed)))
    }

    /// Who manages service accounts in this request: the operator, or the practice's Account
    /// Owner (anyone else is refused).
    async fn manager<T>(&self, request: &Request<T>) -> Result<Manager, Status> {
        Ok(self
            .identity
            .service_account_manager(&Caller::of(request)?)
            .await?)
    }
}

#[tonic::async_trait]
impl ServiceAccountService for Api {
    async fn create_service_account(
        &self,
        request: Request<pb::CreateServiceAccountRequest>,
    ) -> Result<Response<pb::CreateServiceAccountResponse>, Status> {
        let manager = self.manager(&request).await?;
        let new = request.into_inner().try_into()?;
        let (created, secret) = self.identity.create_service_account(&manager, new).await?;
        Ok(Response::new(convert::created(created, secret)))
    }

    async fn list_service_accounts(
        &self,
        request: Request<pb::ListServiceAccountsRequest>,
    ) -> Result<Response<pb::ListServiceAccountsResponse>, Status> {
        let manager = self.manager(&request).await?;
        let listing = request.into_inner().try_into()?;
        let listed = self
            .identity
            .list_service_accounts(&manager, listing)
            .await?;
        Ok(Response::new(convert::listed(listed)))
    }

    async fn get_service_account(
        &self,
        request: Request<pb::GetServiceAccountRequest>,
    ) -> Result<Response<pb::GetServiceAccountResponse>, Status> {
        let manager = self.manager(&request).await?;
        let id = account_id(&request.get_ref().service_account_id)?;
        let (found, entries) = self.identity.get_service_account(&manager, id).await?;
        Ok(Response::new(convert::found(found, entries)))
    }

    async fn rotate_service_account_secret(
        &self,
        request: Request<pb::RotateServiceAccountSecretRequest>,
    ) -> Result<Response<pb::RotateServiceAccountSecretResponse>, Status> {
        let manager = self.manager(&request).await?;
        let rotation = request.into_inner().try_into()?;
        let (rotated, secret, until) = self
            .identity
            .rotate_service_account_secret(&manager, rotation)
            .await?;
        Ok(Response::new(convert::secret_rotated(
            rotated, &secret, until,
        )))
    }

    async fn register_service_account_key(
        &self,
        request: Request<pb::RegisterServiceAccountKeyRequest>,
    ) -> Result<Response<pb::RegisterServiceAccountKeyResponse>, Status> {
        let manager = self.manager(&request).await?;
        let req = request.into_inner();
        let id = account_id(&req.service_account_id)?;
        // The key's shape is checked by the use case, which gives it its id.
        let (updated, key_id) = self
            .identity
            .register_service_account_key(&manager, id, req.public_key.trim().to_owned())
            .await?;
        Ok(Response::new(convert::key_registered(updated, key_id)))
    }

    async fn remove_service_account_key(
        &self,
        request: Request<pb::RemoveServiceAccountKeyRequest>,
    ) -> Result<Response<pb::ServiceAccount>, Status> {
        let manager = self.manager(&request).await?;
        let removal = request.into_inner().try_into()?;
        let changed = self
            .identity
            .remove_service_account_key(&manager, removal)
            .await?;
        Ok(Response::new(account(changed)))
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
