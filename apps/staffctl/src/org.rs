//! `staffctl` commands for organisations, workflows, roles and access.

use anyhow::{Result, anyhow, bail};
use clap::Subcommand;
use ps_auth::credentials::Credential;
use ps_proto::orgaccess::v1 as org;
use ps_proto::orgaccess::v1::org_access_service_client::OrgAccessServiceClient;
use tonic::service::interceptor::InterceptedService;
use tonic::transport::Channel;

type Client = OrgAccessServiceClient<InterceptedService<Channel, Credential>>;

#[derive(Subcommand)]
pub enum OrgCommand {
    /// Organisations by name; --query searches names.
    List {
        #[arg(long)]
        query: Option<String>,
        /// Archived ones too.
        #[arg(long)]
        archived: bool,
    },
    /// One organisation.
    Get { organisation_id: String },
    /// A new client organisation.
    Create { name: String },
    Rename {
        organisation_id: String,
        name: String,
    },
    /// Archived organisations deny all access and are hidden from lists.
    Archive { organisation_id: String },
}

#[derive(Subcommand)]
pub enum WorkflowCommand {
    /// An organisation's workflows.
    List {
        organisation_id: String,
    },
    /// A workflow with its steps and approvers.
    Show {
        workflow_id: String,
    },
    /// Steps in order: --step "Check=<staff-id>,<staff-id>" (repeat).
    Create {
        organisation_id: String,
        name: String,
        #[arg(long = "step", required = true)]
        steps: Vec<String>,
    },
    /// A new name and/or the whole list of steps.
    Update {
        workflow_id: String,
        #[arg(long)]
        name: Option<String>,
        #[arg(long = "step")]
        steps: Vec<String>,
    },
    Delete {
        workflow_id: String,
    },
}

#[derive(Subcommand)]
pub enum RoleCommand {
    /// Built-in and custom roles with their permissions and how many memberships use them.
    List,
    /// The catalogue of permissions.
    Permissions,
    /// A custom role: --permission calendar.view (repeat).
    Create {
        name: String,
        #[arg(long = "permission")]
        permissions: Vec<String>,
    },
    /// A new name and/or the whole set of permissions.
    Update {
        role: String,
        #[arg(long)]
        name: Option<String>,
        #[arg(long = "permission")]
        permissions: Vec<String>,
        /// Replace the permissions even when none are given (removes them all).
        #[arg(long)]
        replace_permissions: bool,
    },
    /// Refused while memberships use the role.
    Delete { role: String },
}

#[derive(Subcommand)]
pub enum AccessCommand {
    /// Show or change whether new access needs the member's acceptance.
    Settings {
        #[arg(long)]
        require_acceptance: Option<bool>,
    },
    /// One member → many organisations: --org ORG[=ROLE][@LOCATION,…] (repeat), --remove ORG.
    Staff {
        staff_id: String,
        /// ORG[=ROLE][@LOCATION,…]: give or change access (repeat).
        #[arg(long = "org")]
        grants: Vec<String>,
        #[command(flatten)]
        options: ChangesetOptions,
    },
    /// Many members → one organisation: --member STAFF[=ROLE][@LOCATION,…] (repeat), --remove STAFF.
    Org {
        organisation_id: String,
        /// STAFF[=ROLE][@LOCATION,…]: give or change access (repeat).
        #[arg(long = "member")]
        grants: Vec<String>,
        #[command(flatten)]
        options: ChangesetOptions,
    },
    /// Who can access an organisation.
    Members {
        organisation_id: String,
        /// Declined and revoked memberships too.
        #[arg(long)]
        history: bool,
    },
    /// What a member can access, and the workflow steps they approve in.
    Of {
        staff_id: String,
        #[arg(long)]
        history: bool,
    },
    /// Why a user may or may not do something.
    Explain {
        #[arg(long)]
        user: String,
        #[arg(long)]
        org: String,
        #[arg(long)]
        permission: String,
        #[arg(long)]
        location: Option<String>,
    },
    /// Access changes, newest first.
    Audit {
        #[arg(long)]
        org: Option<String>,
        #[arg(long)]
        staff: Option<String>,
    },
}

/// What both changeset directions share.
#[derive(clap::Args)]
pub struct ChangesetOptions {
    /// Take access away (repeat).
    #[arg(long = "remove")]
    removals: Vec<String>,
    /// Role (name or id) for entries without one.
    #[arg(long)]
    default_role: Option<String>,
    /// Show what would change without changing it.
    #[arg(long)]
    preview: bool,
    /// Reuse to retry safely; a new one is chosen when omitted.
    #[arg(long)]
    request_id: Option<String>,
}

/// A changeset's entries, default role and request id, ready to send.
struct Prepared {
    entries: Vec<org::AccessEntry>,
    default_role_id: String,
    request_id: String,
    preview: bool,
}

impl ChangesetOptions {
    fn prepare(&self, roles: &Roles, grants: &[String], by_org: bool) -> Result<Prepared> {
        Ok(Prepared {
            entries: entries(roles, grants, &self.removals, by_org)?,
            default_role_id: match &self.default_role {
                Some(role) => roles.id(role)?,
                None => String::new(),
            },
            request_id: self
                .request_id
                .clone()
                .unwrap_or_else(|| uuid::Uuid::now_v7().to_string()),
            preview: self.preview,
        })
    }
}

#[derive(Subcommand)]
pub enum OrgInvitationCommand {
    /// Organisations you were offered and have not answered.
    List,
    /// Accept one organisation (each is answered separately).
    Accept { membership_id: String },
    /// Decline one organisation.
    Decline { membership_id: String },
}

fn status(value: i32) -> &'static str {
    match org::MembershipStatus::try_from(value) {
        Ok(org::MembershipStatus::Invited) => "invited",
        Ok(org::MembershipStatus::Active) => "active",
        Ok(org::MembershipStatus::Declined) => "declined",
        Ok(org::MembershipStatus::Revoked) => "revoked",
        _ => "-",
    }
}

fn print_org(o: &org::Organisation) {
    println!(
        "{}  {}{}",
        o.id,
        o.name,
        if o.archived { "  (archived)" } else { "" }
    );
}

fn print_workflow(w: &org::Workflow) {
    println!("{}  {}", w.id, w.name);
    for s in &w.steps {
        println!(
            "  {}. {}  approvers: {}",
            s.position,
            s.name,
            s.approver_staff_ids.join(", ")
        );
    }
}

fn print_membership(m: &org::Membership) {
    let limits = if m.location_ids.is_empty() {
        String::new()
    } else {
        format!("  @{}", m.location_ids.join(","))
    };
    println!(
        "{}  {:<8}  {:<16}  {}  staff {}{limits}",
        m.id,
        status(m.status),
        m.role_name,
        m.organisation_name,
        m.staff_id
    );
}

fn print_result(r: &org::AccessChangeResult, roles: &Roles) {
    println!(
        "{} {}: {} added, {} changed, {} removed, {} unchanged",
        if r.applied { "applied" } else { "preview of" },
        r.request_id,
        r.added.len(),
        r.changed.len(),
        r.removed.len(),
        r.unchanged
    );
    for (label, changes) in [("+", &r.added), ("~", &r.changed), ("-", &r.removed)] {
        for c in changes {
            println!(
                "  {label} org {} staff {}  role {} -> {}  {} -> {}",
                c.organisation_id,
                c.staff_id,
                roles.name(&c.role_id_before),
                roles.name(&c.role_id_after),
                status(c.status_before),
                status(c.status_after)
            );
        }
    }
    for id in &r.invitation_ids {
        println!("  invitation {id} sent");
    }
}

fn parse_steps(raw: &[String]) -> Result<Vec<org::StepInput>> {
    raw.iter()
        .map(|step| {
            let (name, approvers) = step
                .split_once('=')
                .ok_or_else(|| anyhow!("a step is NAME=STAFF_ID[,STAFF_ID…]: {step}"))?;
            Ok(org::StepInput {
                name: name.trim().to_owned(),
                approver_staff_ids: approvers
                    .split(',')
                    .map(|a| a.trim().to_owned())
                    .filter(|a| !a.is_empty())
                    .collect(),
            })
        })
        .collect()
}

/// The practice's roles, fetched once per command, to accept role names and print them.
struct Roles(Vec<org::Role>);

impl Roles {
    async fn fetch(client: &mut Client) -> Result<Self> {
        Ok(Self(
            client
                .list_roles(org::ListRolesRequest {})
                .await
                .map_err(crate::status_error)?
                .into_inner()
                .roles,
        ))
    }

    /// A role given by name (any case) or id; ids are passed through for the server to judge.
    fn id(&self, role: &str) -> Result<String> {
        if uuid::Uuid::parse_str(role).is_ok() {
            return Ok(role.to_owned());
        }
        self.0
            .iter()
            .find(|r| r.name.eq_ignore_ascii_case(role))
            .map(|r| r.id.clone())
            .ok_or_else(|| anyhow!("no role named {role}"))
    }

    fn name<'a>(&'a self, id: &'a str) -> &'a str {
        if id.is_empty() {
            return "-";
        }
        self.0
            .iter()
            .find(|r| r.id == id)
            .map_or(id, |r| r.name.as_str())
    }
}

async fn role_id(client: &mut Client, role: &str) -> Result<String> {
    Roles::fetch(client).await?.id(role)
}

/// `ID[=ROLE][@LOC,LOC]` entries and `--remove ID` entries.
fn entries(
    roles: &Roles,
    grants: &[String],
    removals: &[String],
    by_org: bool,
) -> Result<Vec<org::AccessEntry>> {
    let mut entries = Vec::new();
    for grant in grants {
        let (rest, locations) = grant.split_once('@').unwrap_or((grant, ""));
        let (id, role) = rest.split_once('=').unwrap_or((rest, ""));
        let role_id = if role.is_empty() {
            String::new()
        } else {
            roles.id(role)?
        };
        let mut entry = org::AccessEntry {
            role_id,
            location_ids: locations
                .split(',')
                .map(str::trim)
                .filter(|l| !l.is_empty())
                .map(str::to_owned)
                .collect(),
            ..Default::default()
        };
        if by_org {
            entry.organisation_id = id.to_owned()
        } else {
            entry.staff_id = id.to_owned()
        }
        entries.push(entry);
    }
    for id in removals {
        let mut entry = org::AccessEntry {
            remove: true,
            ..Default::default()
        };
        if by_org {
            entry.organisation_id = id.clone()
        } else {
            entry.staff_id = id.clone()
        }
        entries.push(entry);
    }
    if entries.is_empty() {
        bail!("nothing to change: give --org/--member or --remove");
    }
    Ok(entries)
}

pub async fn orgs(mut client: Client, command: &OrgCommand) -> Result<()> {
    let e = crate::status_error;
    match command {
        OrgCommand::List { query, archived } => {
            let mut token = String::new();
            loop {
                let page = client
                    .list_organisations(org::ListOrganisationsRequest {
                        page: Some(ps_proto::common::v1::PageRequest {
                            page_size: 500,
                            page_token: token,
                        }),
                        query: query.clone().unwrap_or_default(),
                        include_archived: *archived,
                    })
                    .await
                    .map_err(e)?
                    .into_inner();
                page.organisations.iter().for_each(print_org);
                if page.next_page_token.is_empty() {
                    return Ok(());
                }
                token = page.next_page_token;
            }
        }
        OrgCommand::Get { organisation_id } => print_org(
            &client
                .get_organisation(org::GetOrganisationRequest {
                    organisation_id: organisation_id.clone(),
                })
                .await
                .map_err(e)?
                .into_inner(),
        ),
        OrgCommand::Create { name } => print_org(
            &client
                .create_organisation(org::CreateOrganisationRequest {
                    name: name.clone(),
                    request_id: crate::request_id(),
                })
                .await
                .map_err(e)?
                .into_inner(),
        ),
        OrgCommand::Rename {
            organisation_id,
            name,
        } => print_org(
            &client
                .rename_organisation(org::RenameOrganisationRequest {
                    organisation_id: organisation_id.clone(),
                    name: name.clone(),
                })
                .await
                .map_err(e)?
                .into_inner(),
        ),
        OrgCommand::Archive { organisation_id } => print_org(
            &client
                .archive_organisation(org::ArchiveOrganisationRequest {
                    organisation_id: organisation_id.clone(),
                })
                .await
                .map_err(e)?
                .into_inner(),
        ),
    }
    Ok(())
}

pub async fn workflows(mut client: Client, command: &WorkflowCommand) -> Result<()> {
    let e = crate::status_error;
    match command {
        WorkflowCommand::List { organisation_id } => client
            .list_workflows(org::ListWorkflowsRequest {
                organisation_id: organisation_id.clone(),
            })
            .await
            .map_err(e)?
            .into_inner()
            .workflows
            .iter()
            .for_each(print_workflow),
        WorkflowCommand::Show { workflow_id } => print_workflow(
            &client
                .get_workflow(org::GetWorkflowRequest {
                    workflow_id: workflow_id.clone(),
                })
                .await
                .map_err(e)?
                .into_inner(),
        ),
        WorkflowCommand::Create {
            organisation_id,
            name,
            steps,
        } => print_workflow(
            &client
                .create_workflow(org::CreateWorkflowRequest {
                    request_id: crate::request_id(),
                    organisation_id: organisation_id.clone(),
                    name: name.clone(),
                    steps: parse_steps(steps)?,
                })
                .await
                .map_err(e)?
                .into_inner(),
        ),
        WorkflowCommand::Update {
            workflow_id,
            name,
            steps,
        } => print_workflow(
            &client
                .update_workflow(org::UpdateWorkflowRequest {
                    workflow_id: workflow_id.clone(),
                    name: name.clone().unwrap_or_default(),
                    replace_steps: !steps.is_empty(),
                    steps: parse_steps(steps)?,
                })
                .await
                .map_err(e)?
                .into_inner(),
        ),
        WorkflowCommand::Delete { workflow_id } => {
            client
                .delete_workflow(org::DeleteWorkflowRequest {
                    workflow_id: workflow_id.clone(),
                })
                .await
                .map_err(e)?;
            println!("deleted");
        }
    }
    Ok(())
}

pub async fn roles(mut client: Client, command: &RoleCommand) -> Result<()> {
    let e = crate::status_error;
    let print = |r: &org::Role| {
        println!(
            "{}  {:<16}{}  {} membership(s)  {}",
            r.id,
            r.name,
            if r.built_in { " (built-in)" } else { "" },
            r.memberships,
            r.permissions.join(" ")
        );
    };
    match command {
        RoleCommand::List => client
            .list_roles(org::ListRolesRequest {})
            .await
            .map_err(e)?
            .into_inner()
            .roles
            .iter()
            .for_each(print),
        RoleCommand::Permissions => {
            for p in client
                .list_permissions(org::ListPermissionsRequest {})
                .await
                .map_err(e)?
                .into_inner()
                .permissions
            {
                println!("{:<30}  {}", p.name, p.description);
            }
        }
        RoleCommand::Create { name, permissions } => print(
            &client
                .create_role(org::CreateRoleRequest {
                    request_id: crate::request_id(),
                    name: name.clone(),
                    permissions: permissions.clone(),
                })
                .await
                .map_err(e)?
                .into_inner(),
        ),
        RoleCommand::Update {
            role,
            name,
            permissions,
            replace_permissions,
        } => {
            let role_id = role_id(&mut client, role).await?;
            print(
                &client
                    .update_role(org::UpdateRoleRequest {
                        role_id,
                        name: name.clone().unwrap_or_default(),
                        replace_permissions: *replace_permissions || !permissions.is_empty(),
                        permissions: permissions.clone(),
                    })
                    .await
                    .map_err(e)?
                    .into_inner(),
            )
        }
        RoleCommand::Delete { role } => {
            let role_id = role_id(&mut client, role).await?;
            client
                .delete_role(org::DeleteRoleRequest { role_id })
                .await
                .map_err(e)?;
            println!("deleted");
        }
    }
    Ok(())
}

pub async fn access(mut client: Client, command: &AccessCommand) -> Result<()> {
    let e = crate::status_error;
    match command {
        AccessCommand::Settings { require_acceptance } => {
            let settings = match require_acceptance {
                Some(required) => {
                    client
                        .update_access_settings(org::UpdateAccessSettingsRequest {
                            settings: Some(org::AccessSettings {
                                require_acceptance: *required,
                            }),
                        })
                        .await
                }
                None => {
                    client
                        .get_access_settings(org::GetAccessSettingsRequest {})
                        .await
                }
            }
            .map_err(e)?
            .into_inner();
            println!(
                "new access needs the member's acceptance: {}",
                settings.require_acceptance
            );
        }
        AccessCommand::Staff {
            staff_id,
            grants,
            options,
        } => {
            let roles = Roles::fetch(&mut client).await?;
            let p = options.prepare(&roles, grants, true)?;
            let result = client
                .set_staff_access(org::SetStaffAccessRequest {
                    request_id: p.request_id,
                    staff_id: staff_id.clone(),
                    default_role_id: p.default_role_id,
                    entries: p.entries,
                    preview: p.preview,
                })
                .await
                .map_err(e)?
                .into_inner();
            print_result(&result, &roles);
        }
        AccessCommand::Org {
            organisation_id,
            grants,
            options,
        } => {
            let roles = Roles::fetch(&mut client).await?;
            let p = options.prepare(&roles, grants, false)?;
            let result = client
                .set_organisation_access(org::SetOrganisationAccessRequest {
                    request_id: p.request_id,
                    organisation_id: organisation_id.clone(),
                    default_role_id: p.default_role_id,
                    entries: p.entries,
                    preview: p.preview,
                })
                .await
                .map_err(e)?
                .into_inner();
            print_result(&result, &roles);
        }
        AccessCommand::Members {
            organisation_id,
            history,
        } => client
            .list_organisation_members(org::ListOrganisationMembersRequest {
                organisation_id: organisation_id.clone(),
                page: Some(ps_proto::common::v1::PageRequest {
                    page_size: 500,
                    page_token: String::new(),
                }),
                include_history: *history,
            })
            .await
            .map_err(e)?
            .into_inner()
            .memberships
            .iter()
            .for_each(print_membership),
        AccessCommand::Of { staff_id, history } => {
            let access = client
                .list_staff_access(org::ListStaffAccessRequest {
                    staff_id: staff_id.clone(),
                    include_history: *history,
                })
                .await
                .map_err(e)?
                .into_inner();
            access.memberships.iter().for_each(print_membership);
            for s in access.steps {
                println!(
                    "step {}. {} in workflow {} (organisation {})",
                    s.position, s.step_name, s.workflow_name, s.organisation_id
                );
            }
        }
        AccessCommand::Explain {
            user,
            org: organisation,
            permission,
            location,
        } => {
            let decision = client
                .explain_access(org::ExplainAccessRequest {
                    user_id: user.clone(),
                    organisation_id: organisation.clone(),
                    permission: permission.clone(),
                    location_id: location.clone().unwrap_or_default(),
                })
                .await
                .map_err(e)?
                .into_inner();
            let reason = org::DecisionReason::try_from(decision.reason)
                .map(|r| {
                    r.as_str_name()
                        .trim_start_matches("DECISION_REASON_")
                        .to_lowercase()
                })
                .unwrap_or_default();
            println!(
                "{}: {} ({reason})",
                if decision.allowed {
                    "allowed"
                } else {
                    "denied"
                },
                decision.explanation
            );
        }
        AccessCommand::Audit {
            org: organisation,
            staff,
        } => {
            for event in client
                .list_access_audit_events(org::ListAccessAuditEventsRequest {
                    page: Some(ps_proto::common::v1::PageRequest {
                        page_size: 200,
                        page_token: String::new(),
                    }),
                    organisation_id: organisation.clone().unwrap_or_default(),
                    staff_id: staff.clone().unwrap_or_default(),
                })
                .await
                .map_err(e)?
                .into_inner()
                .events
            {
                println!(
                    "{:<20}  {:<20}  org {}  staff {}  request {}  {} -> {}",
                    event.action,
                    event.actor_name,
                    event.organisation_id,
                    event.staff_id,
                    event.request_id,
                    event.before,
                    event.after
                );
            }
        }
    }
    Ok(())
}

pub async fn invitations(mut client: Client, command: &OrgInvitationCommand) -> Result<()> {
    let e = crate::status_error;
    match command {
        OrgInvitationCommand::List => client
            .list_my_org_invitations(org::ListMyOrgInvitationsRequest {})
            .await
            .map_err(e)?
            .into_inner()
            .memberships
            .iter()
            .for_each(print_membership),
        OrgInvitationCommand::Accept { membership_id } => print_membership(
            &client
                .accept_org_invitation(org::AnswerOrgInvitationRequest {
                    membership_id: membership_id.clone(),
                })
                .await
                .map_err(e)?
                .into_inner(),
        ),
        OrgInvitationCommand::Decline { membership_id } => print_membership(
            &client
                .decline_org_invitation(org::AnswerOrgInvitationRequest {
                    membership_id: membership_id.clone(),
                })
                .await
                .map_err(e)?
                .into_inner(),
        ),
    }
    Ok(())
}
