//! The edge's conversions: requests (and their fields) into domain values, reporting every
//! field violation at once, and domain values into `staff.v1` messages. The handlers in
//! [`crate::edge`] call these and the use cases, nothing else.

use ps_core::{
    FieldViolation, Invalid, LocationId, PersonName, StaffId, Violations, validation::checked,
};
use ps_proto::convert::{
    existing_access_to_wire, from_timestamp, optional_timestamp, role_from_wire, role_to_wire,
    timestamp,
};
use ps_proto::staff::v1 as pb;
use tonic::Status;

use crate::domain::{
    AuditEvent, CertificationRecord, CertificationStatus, Location, Npi, Offboarding,
    OffboardingStatus, Practice, StaffChanges, StaffFilter, StaffMember, StaffStatus, TaxonomyCode,
    parse_bio, parse_capacity, parse_certificate_number, parse_scheduling_step,
};
use crate::error::Error;

pub(crate) fn invalid(violation: FieldViolation) -> Status {
    Error::Invalid(violation.into()).into()
}

pub(crate) fn staff_id(field: &str, raw: &str) -> Result<StaffId, Status> {
    StaffId::parse_field(field, raw).map_err(invalid)
}

pub(crate) fn location_id(field: &str, raw: &str) -> Result<LocationId, Status> {
    LocationId::parse_field(field, raw).map_err(invalid)
}

pub(crate) fn practice(p: Practice) -> pb::Practice {
    pb::Practice {
        id: p.id.to_string(),
        name: p.name,
        created_at: Some(timestamp(p.created_at)),
        settings: Some(pb::PracticeSettings {
            require_location_for_invites: p.settings.require_location_for_invites,
        }),
    }
}

pub(crate) fn status_to_wire(s: StaffStatus) -> pb::StaffStatus {
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

pub(crate) fn offboarding(o: Offboarding) -> pb::Offboarding {
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

pub(crate) fn certification_to_wire(s: CertificationStatus) -> pb::CertificationStatus {
    match s {
        CertificationStatus::NotCertified => pb::CertificationStatus::NotCertified,
        CertificationStatus::Invited => pb::CertificationStatus::Invited,
        CertificationStatus::Certified => pb::CertificationStatus::Certified,
    }
}

pub(crate) fn staff(m: StaffMember) -> pb::StaffMember {
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

pub(crate) fn location(l: Location) -> pb::Location {
    pb::Location {
        id: l.id.to_string(),
        practice_id: l.practice_id.to_string(),
        name: l.name,
        archived: l.archived,
        created_at: Some(timestamp(l.created_at)),
    }
}

pub(crate) fn audit_event(e: AuditEvent) -> pb::AuditEvent {
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
pub(crate) fn each<T>(
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

pub(crate) fn staff_filter(req: &pb::ListStaffRequest) -> Result<StaffFilter, Invalid> {
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
pub(crate) fn staff_changes(req: &pb::UpdateStaffRequest) -> Result<StaffChanges, Invalid> {
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

pub(crate) fn certification_record(
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
