//! Org-access's gRPC edge: requests become domain values here, results become messages.

use ps_auth::{Caller, ServiceCaller};
use ps_core::{
    FieldViolation, Invalid, OrganisationId, RoleId, StaffId, TitleText, UserId, Violations,
    WorkflowId, ids::parse_uuid, validation::checked,
};
use ps_proto::convert::{existing_access_from_wire, page_request};
use ps_proto::orgaccess::v1 as pb;
use ps_proto::orgaccess::v1::org_access_authorization_service_server::OrgAccessAuthorizationService;
use ps_proto::orgaccess::v1::org_access_service_server::OrgAccessService;
use tonic::{Request, Response, Status};

use crate::app::OrgAccess;
use crate::convert::{
    access_query, audit_event, changeset, decision, explain_request, id, membership,
    offboarding_plan, optional_id, organisation, permissions, result, role, staff_access, steps,
    user_question, workflow,
};
use crate::domain::{AccessQuery, CATALOGUE, Decision};
use crate::error::Error;

pub struct Api {
    pub org_access: OrgAccess,
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
        let organisation_id = v.check(OrganisationId::parse_field(
            "organisation_id",
            &req.organisation_id,
        ));
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
        let organisation_id = id(
            OrganisationId::parse_field,
            "organisation_id",
            &request.get_ref().organisation_id,
        )?;
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
        let organisation_id = id(
            OrganisationId::parse_field,
            "organisation_id",
            &request.get_ref().organisation_id,
        )?;
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
        let organisation_id = v.check(OrganisationId::parse_field(
            "organisation_id",
            &req.organisation_id,
        ));
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
        let workflow_id = id(
            WorkflowId::parse_field,
            "workflow_id",
            &request.get_ref().workflow_id,
        )?;
        Ok(Response::new(workflow(
            self.org_access.get_workflow(&caller, workflow_id).await?,
        )))
    }

    async fn list_workflows(
        &self,
        request: Request<pb::ListWorkflowsRequest>,
    ) -> Result<Response<pb::ListWorkflowsResponse>, Status> {
        let caller = Caller::user_of(&request)?;
        let organisation_id = id(
            OrganisationId::parse_field,
            "organisation_id",
            &request.get_ref().organisation_id,
        )?;
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
        let workflow_id = v.check(WorkflowId::parse_field("workflow_id", &req.workflow_id));
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
        let workflow_id = id(
            WorkflowId::parse_field,
            "workflow_id",
            &request.get_ref().workflow_id,
        )?;
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
        let role_id = v.check(RoleId::parse_field("role_id", &req.role_id));
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
        let role_id = id(RoleId::parse_field, "role_id", &request.get_ref().role_id)?;
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
                let organisation = v.check(OrganisationId::parse_field(
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
        let organisation = OrganisationId::parse_field("organisation_id", &req.organisation_id);
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
        let organisation_id = v.check(OrganisationId::parse_field(
            "organisation_id",
            &req.organisation_id,
        ));
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
        Ok(Response::new(staff_access(access)))
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
        let organisation = optional_id(
            &mut v,
            OrganisationId::parse_field,
            "organisation_id",
            &req.organisation_id,
        );
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
        let membership_id = id(
            parse_uuid,
            "membership_id",
            &request.get_ref().membership_id,
        )?;
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
        let (user, query) = user_question(
            &req.user_id,
            &req.organisation_id,
            &req.permission,
            &req.location_id,
        )
        .map_err(Error::from)?;
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
