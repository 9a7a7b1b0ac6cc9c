//! Staff-directory's gRPC edge: requests become domain values here, results become messages.

use ps_auth::{Caller, ServiceCaller};
use ps_core::{
    Email, FieldViolation, Invalid, LocationId, PersonName, PracticeId, StaffId, TitleText,
    Violations, ids::parse_uuid, validation::checked,
};
use ps_proto::convert::{
    existing_access_from_wire, existing_access_to_wire, from_timestamp, optional_timestamp,
    page_request, role_from_wire, role_to_wire, timestamp,
};
use ps_proto::staff::v1 as pb;
use ps_proto::staff::v1::staff_directory_internal_service_server::StaffDirectoryInternalService;
use ps_proto::staff::v1::staff_directory_service_server::StaffDirectoryService;
use tonic::{Request, Response, Status};

use crate::app::{Directory, Recorder};
use crate::domain::{
    AuditEvent, CertificationRecord, CertificationStatus, Invitation, Location, NewPractice, Npi,
    Offboarding, OffboardingStatus, Practice, PracticeSettings, StaffChanges, StaffFilter,
    StaffMember, StaffStatus, TaxonomyCode, parse_bio, parse_capacity, parse_certificate_number,
    parse_scheduling_step,
};
use crate::error::Error;

pub struct Api {
    pub directory: Directory,
}

fn invalid(violation: FieldViolation) -> Status {
    Error::Invalid(violation.into()).into()
}

fn staff_id(field: &str, raw: &str) -> Result<StaffId, Status> {
    StaffId::parse_field(field, raw).map_err(invalid)
}

fn location_id(field: &str, raw: &str) -> Result<LocationId, Status> {
    LocationId::parse_field(field, raw).map_err(invalid)
}

fn practice(p: Practice) -> pb::Practice {
    pb::Practice {
        id: p.id.to_string(),
        name: p.name,
        created_at: Some(timestamp(p.created_at)),
        settings: Some(pb::PracticeSettings {
            require_location_for_invites: p.settings.require_location_for_invites,
        }),
    }
}

fn status_to_wire(s: StaffStatus) -> pb::StaffStatus {
    match s {
        StaffStatus::Pending => pb::StaffStatus::Pending,
        StaffStatus::Active => pb::StaffStatus::Active,
        StaffStatus::Declined => pb::StaffStatus::Declined,
        StaffStatus::Deactivated => pb::StaffStatus::Deactivated,
        StaffStatus::Removed => pb::StaffStatus::Removed,
        StaffStatus::Offboarding => pb::StaffStatus::Offboarding,
        StaffStatus::Offboarded => pb::StaffStatus::Offboarded,
    }
}

fn offboarding(o: Offboarding) -> pb::Offboarding {
    pb::Offboarding {
        id: o.id.to_string(),
        staff_id: o.leaver_id.to_string(),
        staff_name: o.leaver_name,
        replacement_id: o.replacement_id.to_string(),
        replacement_name: o.replacement_name,
        existing_access: existing_access_to_wire(o.existing_access),
        status: match o.status {
            OffboardingStatus::Requested => pb::OffboardingStatus::Requested,
            OffboardingStatus::Completed => pb::OffboardingStatus::Completed,
            OffboardingStatus::Failed => pb::OffboardingStatus::Failed,
        } as i32,
        requested_by_name: o.requested_by_name,
        requested_at: Some(timestamp(o.requested_at)),
        finished_at: optional_timestamp(o.finished_at),
        failure_reason: o.failure_reason.unwrap_or_default(),
        counts: (o.status == OffboardingStatus::Completed).then(|| o.counts.into()),
    }
}

fn certification_to_wire(s: CertificationStatus) -> pb::CertificationStatus {
    match s {
        CertificationStatus::NotCertified => pb::CertificationStatus::NotCertified,
        CertificationStatus::Invited => pb::CertificationStatus::Invited,
        CertificationStatus::Certified => pb::CertificationStatus::Certified,
    }
}

fn staff(m: StaffMember) -> pb::StaffMember {
    pb::StaffMember {
        id: m.id.to_string(),
        practice_id: m.practice_id.to_string(),
        email: m.email.to_string(),
        name: m.name,
        practice_role: role_to_wire(m.role),
        status: status_to_wire(m.status) as i32,
        user_id: m.user_id.map(|u| u.to_string()).unwrap_or_default(),
        invited_at: Some(timestamp(m.invited_at)),
        invited_by_name: m.invited_by_name,
        status_changed_at: Some(timestamp(m.status_changed_at)),
        invitation_count: m.invitation_count,
        last_invited_at: Some(timestamp(m.last_invited_at)),
        invitation_failed_at: m.invitation_failure.as_ref().map(|(at, _)| timestamp(*at)),
        invitation_failure: m
            .invitation_failure
            .map(|(_, reason)| reason)
            .unwrap_or_default(),
        external_agent: m.external_agent,
        primary_location_id: m
            .primary_location_id
            .map(|l| l.to_string())
            .unwrap_or_default(),
        location_ids: m.location_ids.iter().map(ToString::to_string).collect(),
        provider: Some(pb::ProviderProfile {
            npi: m
                .provider
                .npi
                .map(|n| n.as_str().to_owned())
                .unwrap_or_default(),
            taxonomy_code: m
                .provider
                .taxonomy_code
                .map(|t| t.as_str().to_owned())
                .unwrap_or_default(),
            bio: m.provider.bio.unwrap_or_default(),
            capacity: m.provider.capacity.unwrap_or_default(),
            scheduling_step_minutes: m.provider.scheduling_step_minutes.unwrap_or_default(),
        }),
        certification: Some(pb::Certification {
            status: certification_to_wire(m.certification.status) as i32,
            invited_at: optional_timestamp(m.certification.invited_at),
            certified_at: optional_timestamp(m.certification.certified_at),
            certificate_number: m.certification.certificate_number.unwrap_or_default(),
        }),
    }
}

fn location(l: Location) -> pb::Location {
    pb::Location {
        id: l.id.to_string(),
        practice_id: l.practice_id.to_string(),
        name: l.name,
        archived: l.archived,
        created_at: Some(timestamp(l.created_at)),
    }
}

fn audit_event(e: AuditEvent) -> pb::AuditEvent {
    pb::AuditEvent {
        id: e.id.to_string(),
        occurred_at: Some(timestamp(e.occurred_at)),
        actor_id: e.actor_id,
        actor_name: e.actor_name,
        action: e.action,
        target_staff_id: e.target_staff_id.map(|s| s.to_string()).unwrap_or_default(),
        target_location_id: e
            .target_location_id
            .map(|l| l.to_string())
            .unwrap_or_default(),
        before: e.before,
        after: e.after,
    }
}

/// Each element of a repeated enum field through `parse`, naming `field[i]` when unknown.
fn each<T>(
    v: &mut Violations,
    field: &str,
    values: &[i32],
    parse: impl Fn(i32) -> Option<T>,
) -> Vec<T> {
    values
        .iter()
        .enumerate()
        .filter_map(|(i, value)| {
            v.check(parse(*value).ok_or_else(|| {
                FieldViolation::new(format!("{field}[{i}]"), "is not a known value")
            }))
        })
        .collect()
}

fn staff_filter(req: &pb::ListStaffRequest) -> Result<StaffFilter, Invalid> {
    let mut v = Violations::default();
    let statuses = each(
        &mut v,
        "statuses",
        &req.statuses,
        |value| match pb::StaffStatus::try_from(value).ok()? {
            pb::StaffStatus::Unspecified => None,
            pb::StaffStatus::Pending => Some(StaffStatus::Pending),
            pb::StaffStatus::Active => Some(StaffStatus::Active),
            pb::StaffStatus::Declined => Some(StaffStatus::Declined),
            pb::StaffStatus::Deactivated => Some(StaffStatus::Deactivated),
            pb::StaffStatus::Removed => Some(StaffStatus::Removed),
            pb::StaffStatus::Offboarding => Some(StaffStatus::Offboarding),
            pb::StaffStatus::Offboarded => Some(StaffStatus::Offboarded),
        },
    );
    let roles = each(&mut v, "practice_roles", &req.practice_roles, |value| {
        role_from_wire("practice_roles", value).ok()
    });
    let certification = each(
        &mut v,
        "certification_statuses",
        &req.certification_statuses,
        |value| match pb::CertificationStatus::try_from(value).ok()? {
            pb::CertificationStatus::Unspecified => None,
            pb::CertificationStatus::NotCertified => Some(CertificationStatus::NotCertified),
            pb::CertificationStatus::Invited => Some(CertificationStatus::Invited),
            pb::CertificationStatus::Certified => Some(CertificationStatus::Certified),
        },
    );
    let location = if req.location_id.is_empty() {
        None
    } else {
        v.check(LocationId::parse_field("location_id", &req.location_id))
    };
    let external_agent = match pb::ExternalAgentFilter::try_from(req.external_agent) {
        Ok(pb::ExternalAgentFilter::Unspecified) => None,
        Ok(pb::ExternalAgentFilter::Only) => Some(true),
        Ok(pb::ExternalAgentFilter::Exclude) => Some(false),
        Err(_) => {
            v.push(FieldViolation::new(
                "external_agent",
                "is not a known value",
            ));
            None
        }
    };
    let query = req.query.trim().to_lowercase();
    if query.chars().count() > 200 {
        v.push(FieldViolation::new(
            "query",
            "must be at most 200 characters",
        ));
    }
    v.finish()?;
    Ok(StaffFilter {
        statuses,
        roles,
        location,
        certification,
        external_agent,
        query: (!query.is_empty()).then_some(query),
    })
}

/// UpdateStaff's field mask: only the named fields change; unknown paths are refused.
fn staff_changes(req: &pb::UpdateStaffRequest) -> Result<StaffChanges, Invalid> {
    let mut v = Violations::default();
    let Some(mask) = req.update_mask.as_ref().filter(|m| !m.paths.is_empty()) else {
        return Err(
            FieldViolation::new("update_mask", "is required: name the fields to change").into(),
        );
    };
    let empty = pb::StaffUpdate::default();
    let update = req.staff.as_ref().unwrap_or(&empty);
    let provider = update.provider.clone().unwrap_or_default();
    let mut changes = StaffChanges::default();
    for path in &mask.paths {
        match path.as_str() {
            "name" => changes.name = v.check(PersonName::parse("staff.name", &update.name)),
            "external_agent" => changes.external_agent = Some(update.external_agent),
            "provider.npi" => {
                changes.npi = match provider.npi.trim() {
                    "" => Some(None),
                    npi => v.check(Npi::parse("staff.provider.npi", npi)).map(Some),
                }
            }
            "provider.taxonomy_code" => {
                changes.taxonomy_code = match provider.taxonomy_code.trim() {
                    "" => Some(None),
                    code => v
                        .check(TaxonomyCode::parse("staff.provider.taxonomy_code", code))
                        .map(Some),
                }
            }
            "provider.bio" => {
                changes.bio = v
                    .check(parse_bio("staff.provider.bio", &provider.bio))
                    .map(|bio| (!bio.is_empty()).then_some(bio))
            }
            "provider.capacity" => {
                changes.capacity = match provider.capacity {
                    0 => Some(None),
                    n => v
                        .check(parse_capacity("staff.provider.capacity", n))
                        .map(Some),
                }
            }
            "provider.scheduling_step_minutes" => {
                changes.scheduling_step_minutes = match provider.scheduling_step_minutes {
                    0 => Some(None),
                    n => v
                        .check(parse_scheduling_step(
                            "staff.provider.scheduling_step_minutes",
                            n,
                        ))
                        .map(Some),
                }
            }
            unknown => v.push(FieldViolation::new(
                "update_mask",
                format!("{unknown} is not a field that can be updated"),
            )),
        }
    }
    v.finish()?;
    Ok(changes)
}

fn certification_record(
    certified_at: Option<&prost_types::Timestamp>,
    number: &str,
) -> Result<CertificationRecord, Invalid> {
    let mut v = Violations::default();
    let certified_at = match certified_at {
        None => None,
        Some(at) => v.check(
            from_timestamp(at)
                .ok_or_else(|| FieldViolation::new("certified_at", "is not a valid time")),
        ),
    };
    let number = v.check(parse_certificate_number("certificate_number", number));
    v.finish()?;
    Ok(CertificationRecord {
        certified_at,
        certificate_number: checked(number),
    })
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
