//! Staff-directory's gRPC edge: requests become domain values here, results become messages.

use ps_auth::{Caller, ServiceCaller};
use ps_core::{
    Email, FieldViolation, Invalid, LocationId, PersonName, PracticeId, StaffId, TitleText,
    Violations, ids::parse_uuid, validation::checked,
};
use ps_proto::convert::{existing_access_from_wire, page_request, role_from_wire};
use ps_proto::staff::v1 as pb;
use ps_proto::staff::v1::staff_directory_internal_service_server::StaffDirectoryInternalService;
use ps_proto::staff::v1::staff_directory_service_server::StaffDirectoryService;
use tonic::{Request, Response, Status};

use crate::app::{Directory, Recorder};
use crate::convert::{
    audit_event, certification_record, invalid, location, location_id, offboarding, practice,
    staff, staff_changes, staff_filter, staff_id,
};
use crate::domain::{Invitation, NewPractice, PracticeSettings};
use crate::error::Error;

pub struct Api {
    pub directory: Directory,
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
        let key = ps_grpc::idempotency::checked_request_key(&mut v, &req, &req.request_id, |r| {
            r.request_id.clear()
        });
        v.finish().map_err(Error::from)?;
        let (created, owner) = self
            .directory
            .create_practice(
                NewPractice {
                    name: checked(name),
                    owner_email: checked(owner_email),
                    owner_name: checked(owner_name),
                },
                key,
            )
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

    async fn update_practice_settings(
        &self,
        request: Request<pb::UpdatePracticeSettingsRequest>,
    ) -> Result<Response<pb::Practice>, Status> {
        let caller = Caller::user_of(&request)?;
        let settings = request
            .into_inner()
            .settings
            .ok_or_else(|| invalid(FieldViolation::new("settings", "is required")))?;
        let updated = self
            .directory
            .update_practice_settings(
                &caller,
                PracticeSettings {
                    require_location_for_invites: settings.require_location_for_invites,
                },
            )
            .await?;
        Ok(Response::new(practice(updated)))
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
        let primary_location = if req.primary_location_id.is_empty() {
            None
        } else {
            v.check(LocationId::parse_field(
                "primary_location_id",
                &req.primary_location_id,
            ))
        };
        let locations: Vec<LocationId> = req
            .location_ids
            .iter()
            .enumerate()
            .filter_map(|(i, id)| {
                v.check(LocationId::parse_field(&format!("location_ids[{i}]"), id))
            })
            .collect();
        let key = ps_grpc::idempotency::checked_request_key(&mut v, &req, &req.request_id, |r| {
            r.request_id.clear()
        });
        v.finish().map_err(Error::from)?;
        let invited = self
            .directory
            .invite_staff(
                &caller,
                Invitation {
                    email: checked(email),
                    name: checked(name),
                    role: checked(role),
                    primary_location,
                    locations,
                    external_agent: req.external_agent,
                },
                key,
            )
            .await?;
        Ok(Response::new(staff(invited)))
    }

    async fn reinvite_staff(
        &self,
        request: Request<pb::ReinviteStaffRequest>,
    ) -> Result<Response<pb::StaffMember>, Status> {
        let caller = Caller::user_of(&request)?;
        let req = request.into_inner();
        let mut v = Violations::default();
        let id = v.check(StaffId::parse_field("staff_id", &req.staff_id));
        let key = ps_grpc::idempotency::checked_request_key(&mut v, &req, &req.request_id, |r| {
            r.request_id.clear()
        });
        v.finish().map_err(Error::from)?;
        Ok(Response::new(staff(
            self.directory
                .reinvite_staff(&caller, checked(id), key)
                .await?,
        )))
    }

    async fn list_staff(
        &self,
        request: Request<pb::ListStaffRequest>,
    ) -> Result<Response<pb::ListStaffResponse>, Status> {
        let caller = Caller::user_of(&request)?;
        let req = request.into_inner();
        let mut v = Violations::default();
        let page = v.check_all(page_request("page", req.page.as_ref()));
        let filter = v.check_all(staff_filter(&req));
        v.finish().map_err(Error::from)?;
        let found = self
            .directory
            .list_staff(&caller, checked(filter), checked(page))
            .await?;
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
        let id = staff_id("staff_id", &request.get_ref().staff_id)?;
        Ok(Response::new(staff(
            self.directory.get_staff(&caller, id).await?,
        )))
    }

    async fn update_staff(
        &self,
        request: Request<pb::UpdateStaffRequest>,
    ) -> Result<Response<pb::StaffMember>, Status> {
        let caller = Caller::user_of(&request)?;
        let req = request.into_inner();
        let id = StaffId::parse_field("staff_id", &req.staff_id);
        let changes = staff_changes(&req);
        let (id, changes) = match (id, changes) {
            (Ok(id), Ok(changes)) => (id, changes),
            (id, changes) => {
                let mut violations: Vec<FieldViolation> = id.err().into_iter().collect();
                violations.extend(changes.err().into_iter().flat_map(|i| i.violations));
                return Err(Error::Invalid(Invalid { violations }).into());
            }
        };
        Ok(Response::new(staff(
            self.directory.update_staff(&caller, id, changes).await?,
        )))
    }

    async fn change_practice_role(
        &self,
        request: Request<pb::ChangePracticeRoleRequest>,
    ) -> Result<Response<pb::StaffMember>, Status> {
        let caller = Caller::user_of(&request)?;
        let req = request.into_inner();
        let mut v = Violations::default();
        let id = v.check(StaffId::parse_field("staff_id", &req.staff_id));
        let role = v.check(role_from_wire("practice_role", req.practice_role));
        v.finish().map_err(Error::from)?;
        Ok(Response::new(staff(
            self.directory
                .change_role(&caller, checked(id), checked(role))
                .await?,
        )))
    }

    async fn remove_staff(
        &self,
        request: Request<pb::RemoveStaffRequest>,
    ) -> Result<Response<pb::StaffMember>, Status> {
        let caller = Caller::user_of(&request)?;
        let id = staff_id("staff_id", &request.get_ref().staff_id)?;
        Ok(Response::new(staff(
            self.directory.remove_staff(&caller, id).await?,
        )))
    }

    async fn deactivate_staff(
        &self,
        request: Request<pb::DeactivateStaffRequest>,
    ) -> Result<Response<pb::StaffMember>, Status> {
        let caller = Caller::user_of(&request)?;
        let id = staff_id("staff_id", &request.get_ref().staff_id)?;
        Ok(Response::new(staff(
            self.directory.deactivate_staff(&caller, id).await?,
        )))
    }

    async fn reactivate_staff(
        &self,
        request: Request<pb::ReactivateStaffRequest>,
    ) -> Result<Response<pb::StaffMember>, Status> {
        let caller = Caller::user_of(&request)?;
        let id = staff_id("staff_id", &request.get_ref().staff_id)?;
        Ok(Response::new(staff(
            self.directory.reactivate_staff(&caller, id).await?,
        )))
    }

    async fn set_staff_locations(
        &self,
        request: Request<pb::SetStaffLocationsRequest>,
    ) -> Result<Response<pb::StaffMember>, Status> {
        let caller = Caller::user_of(&request)?;
        let req = request.into_inner();
        let mut v = Violations::default();
        let id = v.check(StaffId::parse_field("staff_id", &req.staff_id));
        let locations: Vec<LocationId> = req
            .location_ids
            .iter()
            .enumerate()
            .filter_map(|(i, id)| {
                v.check(LocationId::parse_field(&format!("location_ids[{i}]"), id))
            })
            .collect();
        v.finish().map_err(Error::from)?;
        Ok(Response::new(staff(
            self.directory
                .set_staff_locations(&caller, checked(id), locations)
                .await?,
        )))
    }

    async fn create_location(
        &self,
        request: Request<pb::CreateLocationRequest>,
    ) -> Result<Response<pb::Location>, Status> {
        let caller = Caller::user_of(&request)?;
        let req = request.into_inner();
        let mut v = Violations::default();
        let name = v.check(TitleText::parse("name", &req.name));
        let key = ps_grpc::idempotency::checked_request_key(&mut v, &req, &req.request_id, |r| {
            r.request_id.clear()
        });
        v.finish().map_err(Error::from)?;
        Ok(Response::new(location(
            self.directory
                .create_location(&caller, checked(name), key)
                .await?,
        )))
    }

    async fn rename_location(
        &self,
        request: Request<pb::RenameLocationRequest>,
    ) -> Result<Response<pb::Location>, Status> {
        let caller = Caller::user_of(&request)?;
        let req = request.into_inner();
        let mut v = Violations::default();
        let id = v.check(LocationId::parse_field("location_id", &req.location_id));
        let name = v.check(TitleText::parse("name", &req.name));
        v.finish().map_err(Error::from)?;
        Ok(Response::new(location(
            self.directory
                .rename_location(&caller, checked(id), checked(name))
                .await?,
        )))
    }

    async fn archive_location(
        &self,
        request: Request<pb::ArchiveLocationRequest>,
    ) -> Result<Response<pb::Location>, Status> {
        let caller = Caller::user_of(&request)?;
        let id = location_id("location_id", &request.get_ref().location_id)?;
        Ok(Response::new(location(
            self.directory.archive_location(&caller, id).await?,
        )))
    }

    async fn list_locations(
        &self,
        request: Request<pb::ListLocationsRequest>,
    ) -> Result<Response<pb::ListLocationsResponse>, Status> {
        let caller = Caller::user_of(&request)?;
        let found = self
            .directory
            .list_locations(&caller, request.get_ref().include_archived)
            .await?;
        Ok(Response::new(pb::ListLocationsResponse {
            locations: found.into_iter().map(location).collect(),
        }))
    }

    async fn invite_to_certification(
        &self,
        request: Request<pb::InviteToCertificationRequest>,
    ) -> Result<Response<pb::StaffMember>, Status> {
        let caller = Caller::user_of(&request)?;
        let req = request.into_inner();
        let mut v = Violations::default();
        let id = v.check(StaffId::parse_field("staff_id", &req.staff_id));
        let key = ps_grpc::idempotency::checked_request_key(&mut v, &req, &req.request_id, |r| {
            r.request_id.clear()
        });
        v.finish().map_err(Error::from)?;
        Ok(Response::new(staff(
            self.directory
                .invite_to_certification(&caller, checked(id), key)
                .await?,
        )))
    }

    async fn record_certification(
        &self,
        request: Request<pb::RecordCertificationRequest>,
    ) -> Result<Response<pb::StaffMember>, Status> {
        let caller = Caller::user_of(&request)?;
        let req = request.into_inner();
        let id = StaffId::parse_field("staff_id", &req.staff_id);
        let record = certification_record(req.certified_at.as_ref(), &req.certificate_number);
        let (id, record) = match (id, record) {
            (Ok(id), Ok(record)) => (id, record),
            (id, record) => {
                let mut violations: Vec<FieldViolation> = id.err().into_iter().collect();
                violations.extend(record.err().into_iter().flat_map(|i| i.violations));
                return Err(Error::Invalid(Invalid { violations }).into());
            }
        };
        let recorded = self
            .directory
            .record_certification(Recorder::User(&caller), id, record)
            .await?;
        Ok(Response::new(staff(recorded)))
    }

    async fn download_certificate(
        &self,
        request: Request<pb::DownloadCertificateRequest>,
    ) -> Result<Response<pb::Certificate>, Status> {
        let caller = Caller::user_of(&request)?;
        let id = staff_id("staff_id", &request.get_ref().staff_id)?;
        let file = self.directory.download_certificate(&caller, id).await?;
        Ok(Response::new(pb::Certificate {
            file_name: file.file_name,
            content_type: "application/pdf".into(),
            content: file.content,
        }))
    }

    async fn list_audit_events(
        &self,
        request: Request<pb::ListAuditEventsRequest>,
    ) -> Result<Response<pb::ListAuditEventsResponse>, Status> {
        let caller = Caller::user_of(&request)?;
        let req = request.into_inner();
        let mut v = Violations::default();
        let about = if req.staff_id.is_empty() {
            None
        } else {
            v.check(StaffId::parse_field("staff_id", &req.staff_id))
        };
        let page = v.check_all(page_request("page", req.page.as_ref()));
        v.finish().map_err(Error::from)?;
        let found = self
            .directory
            .list_audit_events(&caller, about, checked(page))
            .await?;
        Ok(Response::new(pb::ListAuditEventsResponse {
            events: found.items.into_iter().map(audit_event).collect(),
            next_page_token: found.next_page_token,
        }))
    }

    async fn offboard_staff(
        &self,
        request: Request<pb::OffboardStaffRequest>,
    ) -> Result<Response<pb::Offboarding>, Status> {
        let caller = Caller::user_of(&request)?;
        let req = request.into_inner();
        let mut v = Violations::default();
        let leaver = v.check(StaffId::parse_field("staff_id", &req.staff_id));
        let replacement = v.check(StaffId::parse_field("replacement_id", &req.replacement_id));
        let existing = v.check(existing_access_from_wire(
            "existing_access",
            req.existing_access,
        ));
        let key = ps_grpc::idempotency::checked_request_key(&mut v, &req, &req.request_id, |r| {
            r.request_id.clear()
        });
        v.finish().map_err(Error::from)?;
        let requested = self
            .directory
            .offboard_staff(
                &caller,
                checked(leaver),
                checked(replacement),
                checked(existing),
                key,
            )
            .await?;
        Ok(Response::new(offboarding(requested)))
    }

    async fn get_offboarding(
        &self,
        request: Request<pb::GetOffboardingRequest>,
    ) -> Result<Response<pb::Offboarding>, Status> {
        let caller = Caller::user_of(&request)?;
        let id =
            parse_uuid("offboarding_id", &request.get_ref().offboarding_id).map_err(invalid)?;
        Ok(Response::new(offboarding(
            self.directory.get_offboarding(&caller, id).await?,
        )))
    }

    async fn list_offboardings(
        &self,
        request: Request<pb::ListOffboardingsRequest>,
    ) -> Result<Response<pb::ListOffboardingsResponse>, Status> {
        let caller = Caller::user_of(&request)?;
        let req = request.into_inner();
        let mut v = Violations::default();
        let leaver = if req.staff_id.is_empty() {
            None
        } else {
            v.check(StaffId::parse_field("staff_id", &req.staff_id))
        };
        let page = v.check_all(page_request("page", req.page.as_ref()));
        v.finish().map_err(Error::from)?;
        let found = self
            .directory
            .list_offboardings(&caller, leaver, checked(page))
            .await?;
        Ok(Response::new(pb::ListOffboardingsResponse {
            offboardings: found.items.into_iter().map(offboarding).collect(),
            next_page_token: found.next_page_token,
        }))
    }
}

#[tonic::async_trait]
impl StaffDirectoryInternalService for Api {
    /// Recorded in the audit trail as the calling account, on behalf of `recorded_by`.
    async fn record_certification(
        &self,
        request: Request<pb::InternalRecordCertificationRequest>,
    ) -> Result<Response<pb::StaffMember>, Status> {
        let service = Caller::service_of(&request)?;
        let req = request.into_inner();
        let mut v = Violations::default();
        let practice = v.check(PracticeId::parse_field("practice_id", &req.practice_id));
        let id = v.check(StaffId::parse_field("staff_id", &req.staff_id));
        let recorded_by = v.check(PersonName::parse("recorded_by", &req.recorded_by));
        let record = v.check_all(certification_record(
            req.certified_at.as_ref(),
            &req.certificate_number,
        ));
        v.finish().map_err(Error::from)?;
        let practice = visible(&service, checked(practice))?;
        let recorded = self
            .directory
            .record_certification(
                Recorder::Service {
                    practice,
                    on_behalf_of: format!("{} via {}", checked(recorded_by), service.audit_name()),
                },
                checked(id),
                checked(record),
            )
            .await?;
        Ok(Response::new(staff(recorded)))
    }

    async fn list_staff(
        &self,
        request: Request<pb::InternalListStaffRequest>,
    ) -> Result<Response<pb::ListStaffResponse>, Status> {
        let service = Caller::service_of(&request)?;
        let req = request.into_inner();
        let filter_request = req.filter.unwrap_or_default();
        let mut v = Violations::default();
        let practice = v.check(PracticeId::parse_field("practice_id", &req.practice_id));
        let page = v.check_all(page_request("filter.page", filter_request.page.as_ref()));
        let filter =
            v.check_all(staff_filter(&filter_request).map_err(|invalid| invalid.within("filter")));
        v.finish().map_err(Error::from)?;
        let practice = visible(&service, checked(practice))?;
        let found = self
            .directory
            .list_practice_staff(practice, checked(filter), checked(page))
            .await?;
        Ok(Response::new(pb::ListStaffResponse {
            staff: found.items.into_iter().map(staff).collect(),
            next_page_token: found.next_page_token,
        }))
    }

    async fn get_staff(
        &self,
        request: Request<pb::InternalGetStaffRequest>,
    ) -> Result<Response<pb::StaffMember>, Status> {
        let service = Caller::service_of(&request)?;
        let req = request.into_inner();
        let mut v = Violations::default();
        let practice = v.check(PracticeId::parse_field("practice_id", &req.practice_id));
        let id = v.check(StaffId::parse_field("staff_id", &req.staff_id));
        v.finish().map_err(Error::from)?;
        let practice = visible(&service, checked(practice))?;
        Ok(Response::new(staff(
            self.directory
                .get_practice_staff(practice, checked(id))
                .await?,
        )))
    }
}

/// The practice, if the calling account may see it; NOT_FOUND as for a missing practice
/// otherwise.
fn visible(service: &ServiceCaller, practice: PracticeId) -> Result<PracticeId, Error> {
    if service.may_see(practice) {
        Ok(practice)
    } else {
        Err(Error::NotFound("practice"))
    }
}
