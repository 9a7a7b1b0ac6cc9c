//! Staff-directory's gRPC edge.

use ps_auth::Caller;
use ps_core::{Email, Invalid, PersonName, StaffId, TitleText, Violations, validation::checked};
use ps_proto::convert::{page_request, role_from_wire, role_to_wire, timestamp};
use ps_proto::staff::v1 as pb;
use ps_proto::staff::v1::staff_directory_service_server::StaffDirectoryService;
use tonic::{Request, Response, Status};

use crate::app::Directory;
use crate::domain::{Invitation, NewPractice, Practice, StaffFilter, StaffMember, StaffStatus};
use crate::error::Error;

pub struct Api {
    pub directory: Directory,
}

fn practice(p: Practice) -> pb::Practice {
    pb::Practice {
        id: p.id.to_string(),
        name: p.name,
        created_at: Some(timestamp(p.created_at)),
    }
}

fn status(s: StaffStatus) -> pb::StaffStatus {
    match s {
        StaffStatus::Pending => pb::StaffStatus::Pending,
        StaffStatus::Active => pb::StaffStatus::Active,
        StaffStatus::Declined => pb::StaffStatus::Declined,
    }
}

fn staff(m: StaffMember) -> pb::StaffMember {
    pb::StaffMember {
        id: m.id.to_string(),
        practice_id: m.practice_id.to_string(),
        email: m.email.to_string(),
        name: m.name,
        practice_role: role_to_wire(m.role),
        status: status(m.status) as i32,
        user_id: m.user_id.map(|u| u.to_string()).unwrap_or_default(),
        invited_at: Some(timestamp(m.invited_at)),
        invited_by_name: m.invited_by_name,
        status_changed_at: Some(timestamp(m.status_changed_at)),
    }
}

fn status_filter(values: &[i32]) -> Result<StaffFilter, Invalid> {
    let mut v = Violations::default();
    let statuses = values
        .iter()
        .filter_map(|value| {
            v.check(match pb::StaffStatus::try_from(*value) {
                Ok(pb::StaffStatus::Pending) => Ok(StaffStatus::Pending),
                Ok(pb::StaffStatus::Active) => Ok(StaffStatus::Active),
                Ok(pb::StaffStatus::Declined) => Ok(StaffStatus::Declined),
                _ => Err(ps_core::FieldViolation::new(
                    "statuses",
                    format!("{value} is not a staff status"),
                )),
            })
        })
        .collect();
    v.finish()?;
    Ok(StaffFilter { statuses })
}

#[tonic::async_trait]
impl StaffDirectoryService for Api {
    async fn create_practice(
        &self,
        request: Request<pb::CreatePracticeRequest>,
    ) -> Result<Response<pb::CreatePracticeResponse>, Status> {
        let req = request.into_inner();
        let mut v = Violations::default();
        let name = v.check(TitleText::parse("name", &req.name));
        let owner_email = v.check(Email::parse("owner_email", &req.owner_email));
        let owner_name = v.check(PersonName::parse("owner_name", &req.owner_name));
        v.finish().map_err(Error::from)?;
        let (created, owner) = self
            .directory
            .create_practice(NewPractice {
                name: checked(name),
                owner_email: checked(owner_email),
                owner_name: checked(owner_name),
            })
            .await?;
        Ok(Response::new(pb::CreatePracticeResponse {
            practice: Some(practice(created)),
            owner: Some(staff(owner)),
        }))
    }

    async fn get_practice(
        &self,
        request: Request<pb::GetPracticeRequest>,
    ) -> Result<Response<pb::Practice>, Status> {
        let caller = Caller::user_of(&request)?;
        Ok(Response::new(practice(
            self.directory.get_practice(&caller).await?,
        )))
    }

    async fn invite_staff(
        &self,
        request: Request<pb::InviteStaffRequest>,
    ) -> Result<Response<pb::StaffMember>, Status> {
        let caller = Caller::user_of(&request)?;
        let req = request.into_inner();
        let mut v = Violations::default();
        let email = v.check(Email::parse("email", &req.email));
        let name = v.check(PersonName::parse("name", &req.name));
        let role = v.check(role_from_wire("practice_role", req.practice_role));
        v.finish().map_err(Error::from)?;
        let invited = self
            .directory
            .invite_staff(
                &caller,
                Invitation {
                    email: checked(email),
                    name: checked(name),
                    role: checked(role),
                },
            )
            .await?;
        Ok(Response::new(staff(invited)))
    }

    async fn list_staff(
        &self,
        request: Request<pb::ListStaffRequest>,
    ) -> Result<Response<pb::ListStaffResponse>, Status> {
        let caller = Caller::user_of(&request)?;
        let req = request.into_inner();
        let page = page_request("page", req.page.as_ref()).map_err(Error::from)?;
        let filter = status_filter(&req.statuses).map_err(Error::from)?;
        let found = self.directory.list_staff(&caller, filter, page).await?;
        Ok(Response::new(pb::ListStaffResponse {
            staff: found.items.into_iter().map(staff).collect(),
            next_page_token: found.next_page_token,
        }))
    }

    async fn get_staff(
        &self,
        request: Request<pb::GetStaffRequest>,
    ) -> Result<Response<pb::StaffMember>, Status> {
        let caller = Caller::user_of(&request)?;
        let id = StaffId::parse_field("staff_id", &request.get_ref().staff_id)
            .map_err(|v| Error::Invalid(v.into()))?;
        Ok(Response::new(staff(
            self.directory.get_staff(&caller, id).await?,
        )))
    }
}
