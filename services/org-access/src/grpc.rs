//! Org-access's gRPC edge.

use ps_auth::Caller;
use ps_core::{TitleText, ids::parse_uuid};
use ps_proto::convert::{page_request, timestamp};
use ps_proto::orgaccess::v1 as pb;
use ps_proto::orgaccess::v1::org_access_service_server::OrgAccessService;
use tonic::{Request, Response, Status};

use crate::app::{OrgAccess, Organisation};
use crate::error::Error;

pub struct Api {
    pub org_access: OrgAccess,
}

fn organisation(o: Organisation) -> pb::Organisation {
    pb::Organisation {
        id: o.id.to_string(),
        practice_id: o.practice_id.to_string(),
        name: o.name,
        created_at: Some(timestamp(o.created_at)),
    }
}

#[tonic::async_trait]
impl OrgAccessService for Api {
    async fn create_organisation(
        &self,
        request: Request<pb::CreateOrganisationRequest>,
    ) -> Result<Response<pb::Organisation>, Status> {
        let caller = Caller::user_of(&request)?;
        let name = TitleText::parse("name", &request.get_ref().name)
            .map_err(|v| Error::Invalid(v.into()))?;
        Ok(Response::new(organisation(
            self.org_access.create_organisation(&caller, name).await?,
        )))
    }

    async fn get_organisation(
        &self,
        request: Request<pb::GetOrganisationRequest>,
    ) -> Result<Response<pb::Organisation>, Status> {
        let caller = Caller::user_of(&request)?;
        let id = parse_uuid("organisation_id", &request.get_ref().organisation_id)
            .map_err(|v| Error::Invalid(v.into()))?;
        Ok(Response::new(organisation(
            self.org_access.get_organisation(&caller, id).await?,
        )))
    }

    async fn list_organisations(
        &self,
        request: Request<pb::ListOrganisationsRequest>,
    ) -> Result<Response<pb::ListOrganisationsResponse>, Status> {
        let caller = Caller::user_of(&request)?;
        let page = page_request("page", request.get_ref().page.as_ref()).map_err(Error::from)?;
        let found = self.org_access.list_organisations(&caller, page).await?;
        Ok(Response::new(pb::ListOrganisationsResponse {
            organisations: found.items.into_iter().map(organisation).collect(),
            next_page_token: found.next_page_token,
        }))
    }
}
