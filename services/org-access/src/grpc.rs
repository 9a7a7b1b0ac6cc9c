//! Org-access's gRPC edge: requests become domain values here, results become messages.

use std::collections::BTreeSet;

use ps_auth::{Caller, ServiceCaller};
use ps_core::{
    FieldViolation, Invalid, LocationId, StaffId, TitleText, UserId, Violations, ids::parse_uuid,
    validation::checked,
};
use ps_proto::convert::{
    existing_access_from_wire, existing_access_to_wire, page_request, timestamp,
};
use ps_proto::orgaccess::v1 as pb;
use ps_proto::orgaccess::v1::org_access_authorization_service_server::OrgAccessAuthorizationService;
use ps_proto::orgaccess::v1::org_access_service_server::OrgAccessService;
use tonic::{Request, Response, Status};
use uuid::Uuid;

use crate::app::{OrgAccess, entry};
use crate::domain::{
    AccessAuditEvent, AccessChange, AccessChangeResult, AccessQuery, CATALOGUE, Changeset,
    Decision, DecisionReason, HandoverAction, Membership, MembershipStatus, OffboardingPlan,
    Organisation, Role, StepAction, StepInput, Workflow, parse_permission, parse_request_id,
};
use crate::error::Error;

pub struct Api {
    pub org_access: OrgAccess,
}

fn id(field: &str, raw: &str) -> Result<Uuid, Status> {
    parse_uuid(field, raw).map_err(|v| Error::from(v).into())
}

fn optional_id(v: &mut Violations, field: &str, raw: &str) -> Option<Uuid> {
    if raw.trim().is_empty() {
        None
    } else {
        v.check(parse_uuid(field, raw))
    }
}

fn strings<T: ToString>(values: &[T]) -> Vec<String> {
    values.iter().map(ToString::to_string).collect()
}

fn organisation(o: Organisation) -> pb::Organisation {
    pb::Organisation {
        id: o.id.to_string(),
        practice_id: o.practice_id.to_string(),
        name: o.name,
        created_at: Some(timestamp(o.created_at)),
        archived: o.archived,
    }
}

fn workflow(w: Workflow) -> pb::Workflow {
    pb::Workflow {
        id: w.id.to_string(),
        organisation_id: w.organisation_id.to_string(),
        name: w.name,
        steps: w
            .steps
            .into_iter()
            .map(|s| pb::WorkflowStep {
                id: s.id.to_string(),
                position: s.position,
                name: s.name,
                approver_staff_ids: strings(&s.approvers),
            })
            .collect(),
        created_at: Some(timestamp(w.created_at)),
    }
}

fn role(r: Role) -> pb::Role {
    pb::Role {
        id: r.id.to_string(),
        name: r.name,
        built_in: r.built_in,
        permissions: r.permissions,
        memberships: u32::try_from(r.memberships).unwrap_or(u32::MAX),
    }
}

fn status(s: MembershipStatus) -> pb::MembershipStatus {
    match s {
        MembershipStatus::Invited => pb::MembershipStatus::Invited,
        MembershipStatus::Active => pb::MembershipStatus::Active,
        MembershipStatus::Declined => pb::MembershipStatus::Declined,
        MembershipStatus::Revoked => pb::MembershipStatus::Revoked,
    }
}

fn optional_status(s: Option<MembershipStatus>) -> i32 {
    s.map_or(pb::MembershipStatus::Unspecified, status) as i32
}

fn offboarding_plan(plan: OffboardingPlan) -> pb::OffboardingPlan {
    pb::OffboardingPlan {
        staff_id: plan.leaver.to_string(),
        replacement_id: plan.replacement.to_string(),
        existing_access: existing_access_to_wire(plan.existing_access),
        organisations: plan
            .organisations
            .into_iter()
            .map(|o| {
                let (role_before, status_before) = match o.replacement_before {
                    Some((_, role, s)) => (Some(role), Some(s)),
                    None => (None, None),
                };
                pb::OrganisationHandover {
                    organisation_id: o.organisation_id.to_string(),
                    organisation_name: o.organisation_name,
                    leaver_role_id: o.leaver_role.id.to_string(),
                    leaver_role_name: o.leaver_role.name,
                    replacement_role_id_before: role_before
                        .as_ref()
                        .map(|r| r.id.to_string())
                        .unwrap_or_default(),
                    replacement_role_name_before: role_before.map(|r| r.name).unwrap_or_default(),
                    replacement_status_before: optional_status(status_before),
                    replacement_role_id_after: o.replacement_role_after.id.to_string(),
                    replacement_role_name_after: o.replacement_role_after.name,
                    action: match o.action {
                        HandoverAction::Grant => pb::HandoverAction::Grant,
                        HandoverAction::Keep => pb::HandoverAction::Keep,
                        HandoverAction::ChangeRole => pb::HandoverAction::ChangeRole,
                        HandoverAction::Activate => pb::HandoverAction::Activate,
                    } as i32,
                    location_ids: strings(&o.location_ids),
                }
            })
            .collect(),
        steps: plan
            .steps
            .into_iter()
            .map(|s| pb::StepHandover {
                workflow_id: s.workflow_id.to_string(),
                workflow_name: s.workflow_name,
                organisation_id: s.organisation_id.to_string(),
                step_id: s.step_id.to_string(),
                position: s.position,
                step_name: s.step_name,
                action: match s.action {
                    StepAction::Replace => pb::StepAction::Replace,
                    StepAction::DropLeaver => pb::StepAction::DropLeaver,
                } as i32,
                approver_staff_ids_after: strings(&s.approvers_after),
            })
            .collect(),
        withdrawn_invitations: plan
            .withdrawn
            .into_iter()
            .map(|w| pb::WithdrawnInvitation {
                membership_id: w.membership_id.to_string(),
                organisation_id: w.organisation_id.to_string(),
                organisation_name: w.organisation_name,
                role_name: w.role_name,
            })
            .collect(),
        warnings: plan
            .warnings
            .into_iter()
            .map(|w| pb::OffboardingWarning {
                code: w.code.to_owned(),
                message: w.message,
                organisation_id: w
                    .organisation_id
                    .map(|id| id.to_string())
                    .unwrap_or_default(),
                step_id: w.step_id.map(|id| id.to_string()).unwrap_or_default(),
            })
            .collect(),
        counts: Some(plan.counts.into()),
    }
}

fn membership(m: Membership) -> pb::Membership {
    pb::Membership {
        id: m.id.to_string(),
        organisation_id: m.organisation_id.to_string(),
        staff_id: m.staff_id.to_string(),
        role_id: m.role_id.to_string(),
        status: status(m.status) as i32,
        location_ids: strings(&m.location_ids),
        created_at: Some(timestamp(m.created_at)),
        status_changed_at: Some(timestamp(m.status_changed_at)),
        invitation_id: m.invitation_id.map(|i| i.to_string()).unwrap_or_default(),
        organisation_name: m.organisation_name,
        role_name: m.role_name,
    }
}

fn change(c: AccessChange) -> pb::AccessChange {
    let opt = |id: Option<Uuid>| id.map(|i| i.to_string()).unwrap_or_default();
    pb::AccessChange {
        organisation_id: c.organisation_id.to_string(),
        staff_id: c.staff_id.to_string(),
        role_id_before: opt(c.role_before),
        role_id_after: opt(c.role_after),
        location_ids_before: strings(&c.locations_before),
        location_ids_after: strings(&c.locations_after),
        status_before: optional_status(c.status_before),
        status_after: optional_status(c.status_after),
    }
}

fn result(r: AccessChangeResult) -> pb::AccessChangeResult {
    pb::AccessChangeResult {
        request_id: r.request_id,
        applied: r.applied,
        added: r.added.into_iter().map(change).collect(),
        changed: r.changed.into_iter().map(change).collect(),
        removed: r.removed.into_iter().map(change).collect(),
        unchanged: r.unchanged,
        invitation_ids: strings(&r.invitation_ids),
    }
}

fn decision(d: Decision) -> pb::AccessDecision {
    use DecisionReason::*;
    let reason = match d.reason {
        Allowed => pb::DecisionReason::Allowed,
        UnknownOrganisation => pb::DecisionReason::UnknownOrganisation,
        OrganisationArchived => pb::DecisionReason::OrganisationArchived,
        NotPracticeStaff => pb::DecisionReason::NotPracticeStaff,
        StaffNotActive => pb::DecisionReason::StaffNotActive,
        StaffDeactivated => pb::DecisionReason::StaffDeactivated,
        StaffRemoved => pb::DecisionReason::StaffRemoved,
        StaffOffboarded => pb::DecisionReason::StaffOffboarded,
        NoMembership => pb::DecisionReason::NoMembership,
        InvitationNotAccepted => pb::DecisionReason::InvitationNotAccepted,
        PermissionNotInRole => pb::DecisionReason::PermissionNotInRole,
        LocationNotAllowed => pb::DecisionReason::LocationNotAllowed,
    };
    pb::AccessDecision {
        allowed: d.allowed(),
        reason: reason as i32,
        explanation: d.explanation,
        staff_id: d.staff_id.map(|s| s.to_string()).unwrap_or_default(),
        membership_id: d.membership_id.map(|m| m.to_string()).unwrap_or_default(),
        role_id: d.role_id.map(|r| r.to_string()).unwrap_or_default(),
        role_name: d.role_name.unwrap_or_default(),
    }
}

fn audit_event(e: AccessAuditEvent) -> pb::AccessAuditEvent {
    pb::AccessAuditEvent {
        id: e.id.to_string(),
        occurred_at: Some(timestamp(e.occurred_at)),
        actor_id: e.actor_id,
        actor_name: e.actor_name,
        action: e.action,
        organisation_id: e.organisation_id.map(|o| o.to_string()).unwrap_or_default(),
        staff_id: e.staff_id.map(|s| s.to_string()).unwrap_or_default(),
        request_id: e.request_id.unwrap_or_default(),
        before: e.before,
        after: e.after,
    }
}

fn steps(v: &mut Violations, inputs: &[pb::StepInput]) -> Vec<StepInput> {
    inputs
        .iter()
        .enumerate()
        .filter_map(|(i, step)| {
            let name = v.check(TitleText::parse(&format!("steps[{i}].name"), &step.name));
            let approvers: Vec<StaffId> = step
                .approver_staff_ids
                .iter()
                .enumerate()
                .filter_map(|(j, raw)| {
                    v.check(StaffId::parse_field(
                        &format!("steps[{i}].approver_staff_ids[{j}]"),
                        raw,
                    ))
                })
                .collect();
            Some(StepInput {
                name: name?,
                approvers,
            })
        })
        .collect()
}

fn permissions(v: &mut Violations, raw: &[String]) -> BTreeSet<String> {
    raw.iter()
        .enumerate()
        .filter_map(|(i, p)| v.check(parse_permission(&format!("permissions[{i}]"), p)))
        .collect()
}

fn locations(v: &mut Violations, field: &str, raw: &[String]) -> Vec<LocationId> {
    raw.iter()
        .enumerate()
        .filter_map(|(j, l)| {
            v.check(LocationId::parse_field(
                &format!("{field}.location_ids[{j}]"),
                l,
            ))
        })
        .collect()
}

/// Both directions become the same changeset of (organisation, member) pairs.
fn changeset(
    kind: &'static str,
    request_id: &str,
    default_role_id: &str,
    preview: bool,
    entries: &[pb::AccessEntry],
    pair: impl Fn(&mut Violations, &str, &pb::AccessEntry) -> Option<(Uuid, StaffId)>,
) -> Result<Changeset, Invalid> {
    let mut v = Violations::default();
    let request_id = v.check(parse_request_id("request_id", request_id));
    let default_role_id = optional_id(&mut v, "default_role_id", default_role_id);
    if entries.is_empty() {
        v.push(FieldViolation::new("entries", "needs at least one entry"));
    }
    let entries: Vec<_> = entries
        .iter()
        .enumerate()
        .filter_map(|(i, e)| {
            let field = format!("entries[{i}]");
            let pair = pair(&mut v, &field, e);
            let role = optional_id(&mut v, &format!("{field}.role_id"), &e.role_id);
            let location_ids = locations(&mut v, &field, &e.location_ids);
            let (organisation, staff) = pair?;
            Some(entry(
                field,
                organisation,
                staff,
                role,
                location_ids,
                e.remove,
            ))
        })
        .collect();
    v.finish()?;
    Ok(Changeset {
        request_id: checked(request_id),
        kind,
        default_role_id,
        entries,
        preview,
    })
}

fn access_query(
    v: &mut Violations,
    organisation: &str,
    permission: &str,
    location: &str,
    prefix: &str,
) -> Option<AccessQuery> {
    let organisation_id = v.check(parse_uuid(
        &format!("{prefix}organisation_id"),
        organisation,
    ));
    let permission = v.check(parse_permission(&format!("{prefix}permission"), permission));
    let location_id = if location.trim().is_empty() {
        None
    } else {
        v.check(LocationId::parse_field(
            &format!("{prefix}location_id"),
            location,
        ))
    };
    Some(AccessQuery {
        organisation_id: organisation_id?,
        permission: permission?,
        location_id,
    })
}

fn explain_request(req: &pb::ExplainAccessRequest) -> Result<(UserId, AccessQuery), Invalid> {
    let mut v = Violations::default();
    let user = v.check(UserId::parse_field("user_id", &req.user_id));
    let query = access_query(
        &mut v,
        &req.organisation_id,
        &req.permission,
        &req.location_id,
        "",
    );
    v.finish()?;
    Ok((checked(user), checked(query)))
}

#[tonic::async_trait]
impl OrgAccessService for Api {
    async fn create_organisation(
        &self,
        request: Request<pb::CreateOrganisationRequest>,
    ) -> Result<Response<pb::Organisation>, Status> {
        let caller = Caller::user_of(&request)?;
        let req = request.into_inner();
        let mut v = Violations::default();
        let name = v.check(TitleText::parse("name", &req.name));
        let key = ps_grpc::idempotency::checked_request_key(&mut v, &req, &req.request_id, |r| {
            r.request_id.clear()
        });
        v.finish().map_err(Error::from)?;
        Ok(Response::new(organisation(
            self.org_access
                .create_organisation(&caller, checked(name), key)
                .await?,
        )))
    }

    async fn rename_organisation(
        &self,
        request: Request<pb::RenameOrganisationRequest>,
    ) -> Result<Response<pb::Organisation>, Status> {
        let caller = Caller::user_of(&request)?;
        let req = request.into_inner();
        let mut v = Violations::default();
        let organisation_id = v.check(parse_uuid("organisation_id", &req.organisation_id));
        let name = v.check(TitleText::parse("name", &req.name));
        v.finish().map_err(Error::from)?;
        let renamed = self
            .org_access
            .rename_organisation(&caller, checked(organisation_id), checked(name))
            .await?;
        Ok(Response::new(organisation(renamed)))
    }

    async fn archive_organisation(
        &self,
        request: Request<pb::ArchiveOrganisationRequest>,
    ) -> Result<Response<pb::Organisation>, Status> {
        let caller = Caller::user_of(&request)?;
        let organisation_id = id("organisation_id", &request.get_ref().organisation_id)?;
        Ok(Response::new(organisation(
            self.org_access
                .archive_organisation(&caller, organisation_id)
                .await?,
        )))
    }

    async fn get_organisation(
        &self,
        request: Request<pb::GetOrganisationRequest>,
    ) -> Result<Response<pb::Organisation>, Status> {
        let caller = Caller::user_of(&request)?;
        let organisation_id = id("organisation_id", &request.get_ref().organisation_id)?;
        Ok(Response::new(organisation(
            self.org_access
                .get_organisation(&caller, organisation_id)
                .await?,
        )))
    }

    async fn list_organisations(
        &self,
        request: Request<pb::ListOrganisationsRequest>,
    ) -> Result<Response<pb::ListOrganisationsResponse>, Status> {
        let caller = Caller::user_of(&request)?;
        let req = request.into_inner();
        let page = page_request("page", req.page.as_ref()).map_err(Error::from)?;
        let query = req.query.trim().to_lowercase();
        let found = self
            .org_access
            .list_organisations(
                &caller,
                (!query.is_empty()).then_some(query),
                req.include_archived,
                page,
            )
            .await?;
        Ok(Response::new(pb::ListOrganisationsResponse {
            organisations: found.items.into_iter().map(organisation).collect(),
            next_page_token: found.next_page_token,
        }))
    }

    async fn create_workflow(
        &self,
        request: Request<pb::CreateWorkflowRequest>,
    ) -> Result<Response<pb::Workflow>, Status> {
        let caller = Caller::user_of(&request)?;
        let req = request.into_inner();
        let mut v = Violations::default();
        let organisation_id = v.check(parse_uuid("organisation_id", &req.organisation_id));
        let name = v.check(TitleText::parse("name", &req.name));
        let steps = steps(&mut v, &req.steps);
        let key = ps_grpc::idempotency::checked_request_key(&mut v, &req, &req.request_id, |r| {
            r.request_id.clear()
        });
        v.finish().map_err(Error::from)?;
        let created = self
            .org_access
            .create_workflow(&caller, checked(organisation_id), checked(name), steps, key)
            .await?;
        Ok(Response::new(workflow(created)))
    }

    async fn get_workflow(
        &self,
        request: Request<pb::GetWorkflowRequest>,
    ) -> Result<Response<pb::Workflow>, Status> {
        let caller = Caller::user_of(&request)?;
        let workflow_id = id("workflow_id", &request.get_ref().workflow_id)?;
        Ok(Response::new(workflow(
            self.org_access.get_workflow(&caller, workflow_id).await?,
        )))
    }

    async fn list_workflows(
        &self,
        request: Request<pb::ListWorkflowsRequest>,
    ) -> Result<Response<pb::ListWorkflowsResponse>, Status> {
        let caller = Caller::user_of(&request)?;
        let organisation_id = id("organisation_id", &request.get_ref().organisation_id)?;
        let found = self
            .org_access
            .list_workflows(&caller, organisation_id)
            .await?;
        Ok(Response::new(pb::ListWorkflowsResponse {
            workflows: found.into_iter().map(workflow).collect(),
        }))
    }

    async fn update_workflow(
        &self,
        request: Request<pb::UpdateWorkflowRequest>,
    ) -> Result<Response<pb::Workflow>, Status> {
        let caller = Caller::user_of(&request)?;
        let req = request.into_inner();
        let mut v = Violations::default();
        let workflow_id = v.check(parse_uuid("workflow_id", &req.workflow_id));
        let name = if req.name.trim().is_empty() {
            None
        } else {
            v.check(TitleText::parse("name", &req.name))
        };
        let new_steps = req.replace_steps.then(|| steps(&mut v, &req.steps));
        v.finish().map_err(Error::from)?;
        let updated = self
            .org_access
            .update_workflow(&caller, checked(workflow_id), name, new_steps)
            .await?;
        Ok(Response::new(workflow(updated)))
    }

    async fn delete_workflow(
        &self,
        request: Request<pb::DeleteWorkflowRequest>,
    ) -> Result<Response<pb::DeleteWorkflowResponse>, Status> {
        let caller = Caller::user_of(&request)?;
        let workflow_id = id("workflow_id", &request.get_ref().workflow_id)?;
        self.org_access
            .delete_workflow(&caller, workflow_id)
            .await?;
        Ok(Response::new(pb::DeleteWorkflowResponse {}))
    }

    async fn list_permissions(
        &self,
        request: Request<pb::ListPermissionsRequest>,
    ) -> Result<Response<pb::ListPermissionsResponse>, Status> {
        Caller::user_of(&request)?;
        Ok(Response::new(pb::ListPermissionsResponse {
            permissions: CATALOGUE
                .iter()
                .map(|p| pb::Permission {
                    name: p.name.into(),
                    module: p.module().into(),
                    description: p.description.into(),
                })
                .collect(),
        }))
    }

    async fn list_roles(
        &self,
        request: Request<pb::ListRolesRequest>,
    ) -> Result<Response<pb::ListRolesResponse>, Status> {
        let caller = Caller::user_of(&request)?;
        let roles = self.org_access.list_roles(&caller).await?;
        Ok(Response::new(pb::ListRolesResponse {
            roles: roles.into_iter().map(role).collect(),
        }))
    }

    async fn create_role(
        &self,
        request: Request<pb::CreateRoleRequest>,
    ) -> Result<Response<pb::Role>, Status> {
        let caller = Caller::user_of(&request)?;
        let req = request.into_inner();
        let mut v = Violations::default();
        let name = v.check(TitleText::parse("name", &req.name));
        let permissions = permissions(&mut v, &req.permissions);
        let key = ps_grpc::idempotency::checked_request_key(&mut v, &req, &req.request_id, |r| {
            r.request_id.clear()
        });
        v.finish().map_err(Error::from)?;
        Ok(Response::new(role(
            self.org_access
                .create_role(&caller, checked(name), permissions, key)
                .await?,
        )))
    }

    async fn update_role(
        &self,
        request: Request<pb::UpdateRoleRequest>,
    ) -> Result<Response<pb::Role>, Status> {
        let caller = Caller::user_of(&request)?;
        let req = request.into_inner();
        let mut v = Violations::default();
        let role_id = v.check(parse_uuid("role_id", &req.role_id));
        let name = if req.name.trim().is_empty() {
            None
        } else {
            v.check(TitleText::parse("name", &req.name))
        };
        let new_permissions = req
            .replace_permissions
            .then(|| permissions(&mut v, &req.permissions));
        v.finish().map_err(Error::from)?;
        let updated = self
            .org_access
            .update_role(&caller, checked(role_id), name, new_permissions)
            .await?;
        Ok(Response::new(role(updated)))
    }

    async fn delete_role(
        &self,
        request: Request<pb::DeleteRoleRequest>,
    ) -> Result<Response<pb::DeleteRoleResponse>, Status> {
        let caller = Caller::user_of(&request)?;
        let role_id = id("role_id", &request.get_ref().role_id)?;
        self.org_access.delete_role(&caller, role_id).await?;
        Ok(Response::new(pb::DeleteRoleResponse {}))
    }

    async fn get_access_settings(
        &self,
        request: Request<pb::GetAccessSettingsRequest>,
    ) -> Result<Response<pb::AccessSettings>, Status> {
        let caller = Caller::user_of(&request)?;
        let require_acceptance = self.org_access.access_settings(&caller).await?;
        Ok(Response::new(pb::AccessSettings { require_acceptance }))
    }

    async fn update_access_settings(
        &self,
        request: Request<pb::UpdateAccessSettingsRequest>,
    ) -> Result<Response<pb::AccessSettings>, Status> {
        let caller = Caller::user_of(&request)?;
        let settings = request.into_inner().settings.ok_or_else(|| {
            Status::from(Error::from(FieldViolation::new("settings", "is required")))
        })?;
        let require_acceptance = self
            .org_access
            .update_access_settings(&caller, settings.require_acceptance)
            .await?;
        Ok(Response::new(pb::AccessSettings { require_acceptance }))
    }

    async fn set_staff_access(
        &self,
        request: Request<pb::SetStaffAccessRequest>,
    ) -> Result<Response<pb::AccessChangeResult>, Status> {
        let caller = Caller::user_of(&request)?;
        let req = request.into_inner();
        let staff = StaffId::parse_field("staff_id", &req.staff_id);
        let set = changeset(
            "staff",
            &req.request_id,
            &req.default_role_id,
            req.preview,
            &req.entries,
            |v, field, e| {
                let organisation = v.check(parse_uuid(
                    &format!("{field}.organisation_id"),
                    &e.organisation_id,
                ));
                Some((organisation?, *staff.as_ref().ok()?))
            },
        );
        let set = match (staff, set) {
            (Ok(_), Ok(set)) => set,
            (staff, set) => {
                let mut violations: Vec<FieldViolation> = staff.err().into_iter().collect();
                violations.extend(set.err().into_iter().flat_map(|i| i.violations));
                return Err(Error::Invalid(Invalid { violations }).into());
            }
        };
        Ok(Response::new(result(
            self.org_access.change_access(&caller, set).await?,
        )))
    }

    async fn set_organisation_access(
        &self,
        request: Request<pb::SetOrganisationAccessRequest>,
    ) -> Result<Response<pb::AccessChangeResult>, Status> {
        let caller = Caller::user_of(&request)?;
        let req = request.into_inner();
        let organisation = parse_uuid("organisation_id", &req.organisation_id);
        let set = changeset(
            "organisation",
            &req.request_id,
            &req.default_role_id,
            req.preview,
            &req.entries,
            |v, field, e| {
                let staff = v.check(StaffId::parse_field(
                    &format!("{field}.staff_id"),
                    &e.staff_id,
                ));
                Some((*organisation.as_ref().ok()?, staff?))
            },
        );
        let set = match (organisation, set) {
            (Ok(_), Ok(set)) => set,
            (organisation, set) => {
                let mut violations: Vec<FieldViolation> = organisation.err().into_iter().collect();
                violations.extend(set.err().into_iter().flat_map(|i| i.violations));
                return Err(Error::Invalid(Invalid { violations }).into());
            }
        };
        Ok(Response::new(result(
            self.org_access.change_access(&caller, set).await?,
        )))
    }

    async fn list_my_org_invitations(
        &self,
        request: Request<pb::ListMyOrgInvitationsRequest>,
    ) -> Result<Response<pb::ListMyOrgInvitationsResponse>, Status> {
        let caller = Caller::user_of(&request)?;
        let found = self.org_access.my_org_invitations(&caller).await?;
        Ok(Response::new(pb::ListMyOrgInvitationsResponse {
            memberships: found.into_iter().map(membership).collect(),
        }))
    }

    async fn accept_org_invitation(
        &self,
        request: Request<pb::AnswerOrgInvitationRequest>,
    ) -> Result<Response<pb::Membership>, Status> {
        self.answer_org_invitation(request, true).await
    }

    async fn decline_org_invitation(
        &self,
        request: Request<pb::AnswerOrgInvitationRequest>,
    ) -> Result<Response<pb::Membership>, Status> {
        self.answer_org_invitation(request, false).await
    }

    async fn list_organisation_members(
        &self,
        request: Request<pb::ListOrganisationMembersRequest>,
    ) -> Result<Response<pb::ListMembershipsResponse>, Status> {
        let caller = Caller::user_of(&request)?;
        let req = request.into_inner();
        let mut v = Violations::default();
        let organisation_id = v.check(parse_uuid("organisation_id", &req.organisation_id));
        let page = v.check_all(page_request("page", req.page.as_ref()));
        v.finish().map_err(Error::from)?;
        let found = self
            .org_access
            .organisation_members(
                &caller,
                checked(organisation_id),
                req.include_history,
                checked(page),
            )
            .await?;
        Ok(Response::new(pb::ListMembershipsResponse {
            memberships: found.items.into_iter().map(membership).collect(),
            next_page_token: found.next_page_token,
        }))
    }

    async fn list_staff_access(
        &self,
        request: Request<pb::ListStaffAccessRequest>,
    ) -> Result<Response<pb::StaffAccess>, Status> {
        let caller = Caller::user_of(&request)?;
        let req = request.into_inner();
        let staff = StaffId::parse_field("staff_id", &req.staff_id).map_err(Error::from)?;
        let access = self
            .org_access
            .staff_access(&caller, staff, req.include_history)
            .await?;
        Ok(Response::new(pb::StaffAccess {
            staff_id: access.staff_id.to_string(),
            memberships: access.memberships.into_iter().map(membership).collect(),
            steps: access
                .steps
                .into_iter()
                .map(|s| pb::StepAssignment {
                    workflow_id: s.workflow_id.to_string(),
                    workflow_name: s.workflow_name,
                    organisation_id: s.organisation_id.to_string(),
                    step_id: s.step_id.to_string(),
                    position: s.position,
                    step_name: s.step_name,
                })
                .collect(),
        }))
    }

    async fn explain_access(
        &self,
        request: Request<pb::ExplainAccessRequest>,
    ) -> Result<Response<pb::AccessDecision>, Status> {
        let caller = Caller::user_of(&request)?;
        let (user, query) = explain_request(request.get_ref()).map_err(Error::from)?;
        Ok(Response::new(decision(
            self.org_access.explain(&caller, user, &query).await?,
        )))
    }

    async fn list_access_audit_events(
        &self,
        request: Request<pb::ListAccessAuditEventsRequest>,
    ) -> Result<Response<pb::ListAccessAuditEventsResponse>, Status> {
        let caller = Caller::user_of(&request)?;
        let req = request.into_inner();
        let mut v = Violations::default();
        let organisation = optional_id(&mut v, "organisation_id", &req.organisation_id);
        let staff = if req.staff_id.trim().is_empty() {
            None
        } else {
            v.check(StaffId::parse_field("staff_id", &req.staff_id))
        };
        let page = v.check_all(page_request("page", req.page.as_ref()));
        v.finish().map_err(Error::from)?;
        let found = self
            .org_access
            .access_audit_events(&caller, organisation, staff, checked(page))
            .await?;
        Ok(Response::new(pb::ListAccessAuditEventsResponse {
            events: found.items.into_iter().map(audit_event).collect(),
            next_page_token: found.next_page_token,
        }))
    }

    async fn preview_offboarding(
        &self,
        request: Request<pb::PreviewOffboardingRequest>,
    ) -> Result<Response<pb::OffboardingPlan>, Status> {
        let caller = Caller::user_of(&request)?;
        let req = request.into_inner();
        let mut v = Violations::default();
        let leaver = v.check(StaffId::parse_field("staff_id", &req.staff_id));
        let replacement = v.check(StaffId::parse_field("replacement_id", &req.replacement_id));
        let existing = v.check(existing_access_from_wire(
            "existing_access",
            req.existing_access,
        ));
        v.finish().map_err(Error::from)?;
        let plan = self
            .org_access
            .preview_offboarding(
                &caller,
                checked(leaver),
                checked(replacement),
                checked(existing),
            )
            .await?;
        Ok(Response::new(offboarding_plan(plan)))
    }
}

impl Api {
    async fn answer_org_invitation(
        &self,
        request: Request<pb::AnswerOrgInvitationRequest>,
        accept: bool,
    ) -> Result<Response<pb::Membership>, Status> {
        let caller = Caller::user_of(&request)?;
        let membership_id = id("membership_id", &request.get_ref().membership_id)?;
        Ok(Response::new(membership(
            self.org_access
                .answer_org_invitation(&caller, membership_id, accept)
                .await?,
        )))
    }
}

/// At most this many queries in one CheckAccessBatch.
const MAX_BATCH: usize = 1000;

/// Logs a decision given to a service, naming the caller (at debug: CheckAccess is called
/// thousands of times a second; the RPC's span names the caller at every level).
fn log_decision(caller: &ServiceCaller, user: UserId, query: &AccessQuery, decision: &Decision) {
    tracing::debug!(
        caller = %caller.audit_name(),
        user_id = %user,
        organisation_id = %query.organisation_id,
        permission = %query.permission,
        allowed = decision.allowed(),
        reason = ?decision.reason,
        "access decided"
    );
}

#[tonic::async_trait]
impl OrgAccessAuthorizationService for Api {
    /// A practice-limited account is answered only about its practice's organisations; any
    /// other is NOT_FOUND, exactly as a missing one.
    async fn check_access(
        &self,
        request: Request<pb::CheckAccessRequest>,
    ) -> Result<Response<pb::CheckAccessResponse>, Status> {
        let caller = Caller::service_of(&request)?;
        let req = request.into_inner();
        let mut v = Violations::default();
        let user = v.check(UserId::parse_field("user_id", &req.user_id));
        let query = access_query(
            &mut v,
            &req.organisation_id,
            &req.permission,
            &req.location_id,
            "",
        );
        v.finish().map_err(Error::from)?;
        let (user, query) = (checked(user), checked(query));
        let decided = self
            .org_access
            .decide(user, &query, caller.practice)
            .await?;
        log_decision(&caller, user, &query, &decided);
        Ok(Response::new(pb::CheckAccessResponse {
            allowed: decided.allowed(),
        }))
    }

    async fn check_access_batch(
        &self,
        request: Request<pb::CheckAccessBatchRequest>,
    ) -> Result<Response<pb::CheckAccessBatchResponse>, Status> {
        let caller = Caller::service_of(&request)?;
        let req = request.into_inner();
        let mut v = Violations::default();
        let user = v.check(UserId::parse_field("user_id", &req.user_id));
        if req.queries.len() > MAX_BATCH {
            v.push(FieldViolation::new(
                "queries",
                format!("must be at most {MAX_BATCH}"),
            ));
        }
        let queries: Vec<Option<AccessQuery>> = req
            .queries
            .iter()
            .enumerate()
            .map(|(i, q)| {
                access_query(
                    &mut v,
                    &q.organisation_id,
                    &q.permission,
                    &q.location_id,
                    &format!("queries[{i}]."),
                )
            })
            .collect();
        v.finish().map_err(Error::from)?;
        let user = checked(user);
        let mut allowed = Vec::with_capacity(queries.len());
        for query in queries {
            let query = checked(query);
            let decided = self
                .org_access
                .decide(user, &query, caller.practice)
                .await?;
            log_decision(&caller, user, &query, &decided);
            allowed.push(decided.allowed());
        }
        Ok(Response::new(pb::CheckAccessBatchResponse { allowed }))
    }

    async fn explain_access(
        &self,
        request: Request<pb::ExplainAccessRequest>,
    ) -> Result<Response<pb::AccessDecision>, Status> {
        let caller = Caller::service_of(&request)?;
        let (user, query) = explain_request(request.get_ref()).map_err(Error::from)?;
        let decided = self
            .org_access
            .decide(user, &query, caller.practice)
            .await?;
        log_decision(&caller, user, &query, &decided);
        Ok(Response::new(decision(decided)))
    }
}
