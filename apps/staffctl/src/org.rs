//! `staffctl` commands for organisations, workflows, roles and access. Organisations, roles,
//! locations, workflows and staff are given by id or name (staff by e-mail too); what is
//! printed names them.

use anyhow::{Result, anyhow, bail};
use clap::Subcommand;
use ps_proto::common::v1::PageRequest;
use ps_proto::orgaccess::v1 as org;

use crate::cli::{request_id, status_error, status_title};
use crate::prompt;
use crate::resolve::is_not_found;
use crate::session::{Caller, OrgClient};
use crate::table::{self, Details, Table};

#[derive(Subcommand)]
pub(crate) enum OrgCommand {
    /// Organisations by name; --query searches names.
    List {
        #[arg(long)]
        query: Option<String>,
        /// Archived ones too.
        #[arg(long)]
        archived: bool,
    },
    /// One organisation (ORGANISATION: its name or id).
    Get {
        organisation: String,
    },
    /// A new client organisation.
    Create {
        name: String,
    },
    Rename {
        organisation: String,
        name: String,
    },
    /// Archived organisations deny all access and are hidden from lists.
    Archive {
        organisation: String,
    },
}

#[derive(Subcommand)]
pub(crate) enum WorkflowCommand {
    /// An organisation's workflows with their steps and approvers.
    List { organisation: String },
    /// A workflow (its name or id) with its steps and approvers.
    Show {
        workflow: String,
        /// The organisation it belongs to, when several have a workflow of that name.
        #[arg(long)]
        org: Option<String>,
    },
    /// Steps in order: --step "Check=Bea Member,olive@acme.test" (approvers by e-mail, name
    /// or id; repeat --step).
    Create {
        organisation: String,
        name: String,
        #[arg(long = "step", required = true)]
        steps: Vec<String>,
    },
    /// A new name and/or the whole list of steps.
    Update {
        workflow: String,
        #[arg(long)]
        org: Option<String>,
        #[arg(long)]
        name: Option<String>,
        #[arg(long = "step")]
        steps: Vec<String>,
    },
    Delete {
        workflow: String,
        #[arg(long)]
        org: Option<String>,
    },
}

#[derive(Subcommand)]
pub(crate) enum RoleCommand {
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
    /// A new name and/or the whole set of permissions (ROLE: its name or id).
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
pub(crate) enum AccessCommand {
    /// Show or change whether new access needs the member's acceptance.
    Settings {
        #[arg(long)]
        require_acceptance: Option<bool>,
    },
    /// One member → many organisations: --org ORG[=ROLE][@LOCATION,…] (repeat), --remove ORG.
    Staff {
        /// The member: e-mail, name or id.
        staff: String,
        /// ORG[=ROLE][@LOCATION,…]: give or change access (repeat; names or ids).
        #[arg(long = "org")]
        grants: Vec<String>,
        #[command(flatten)]
        options: ChangesetOptions,
    },
    /// Many members → one organisation: --member STAFF[=ROLE][@LOCATION,…] (repeat), --remove
    /// STAFF.
    Org {
        /// The organisation: name or id.
        organisation: String,
        /// STAFF[=ROLE][@LOCATION,…]: give or change access (repeat; STAFF by e-mail, name or
        /// id, e.g. bea@acme.test=Editor@North Clinic).
        #[arg(long = "member")]
        grants: Vec<String>,
        #[command(flatten)]
        options: ChangesetOptions,
    },
    /// Who can access an organisation.
    Members {
        organisation: String,
        /// Declined and revoked memberships too.
        #[arg(long)]
        history: bool,
    },
    /// What a member can access, and the workflow steps they approve in.
    Of {
        staff: String,
        #[arg(long)]
        history: bool,
    },
    /// Why a staff member (e-mail, name or id) may or may not do something in an organisation.
    Explain {
        staff: String,
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
pub(crate) struct ChangesetOptions {
    /// Take access away (repeat).
    #[arg(long = "remove")]
    removals: Vec<String>,
    /// Role (name or id) for entries without one.
    #[arg(long)]
    default_role: Option<String>,
    /// Show what would change without changing it.
    #[arg(long)]
    preview: bool,
    /// Apply without showing the preview and asking first (it is not asked when standard
    /// input is not a terminal).
    #[arg(long)]
    yes: bool,
    /// Reuse to retry safely; a new one is chosen when omitted.
    #[arg(long)]
    request_id: Option<String>,
}

#[derive(Subcommand)]
pub(crate) enum OrgInvitationCommand {
    /// Organisations you were offered and have not answered.
    List,
    /// Accept one organisation (each is answered separately). INVITATION: the organisation's
    /// name, or the invitation id `access org` / `org-invitations list` print.
    Accept { invitation: String },
    /// Decline one organisation.
    Decline { invitation: String },
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

/// `a → b`, or one of them when the other is missing or the same.
fn transition(before: &str, after: &str) -> String {
    match (before, after) {
        ("" | "-", a) => a.to_owned(),
        (b, "" | "-") => b.to_owned(),
        (b, a) if a == b => a.to_owned(),
        (b, a) => format!("{b} → {a}"),
    }
}

/// Location limits by name; none means every location the member may access.
fn limits(caller: &Caller, ids: &[String]) -> String {
    if ids.is_empty() {
        "all".into()
    } else {
        caller.names.locations(ids)
    }
}

fn first_page() -> Option<PageRequest> {
    Some(PageRequest {
        page_size: 500,
        page_token: String::new(),
    })
}

/// One `TARGET[=ROLE][@LOCATION,…]` entry as written.
#[derive(Debug, PartialEq, Eq)]
struct Grant {
    target: String,
    role: String,
    locations: Vec<String>,
}

/// The ways to read an entry, the likeliest first. With a role, the target is everything before
/// the `=`. Without one, the target may be an e-mail, which holds an `@` too: the whole text is
/// tried first, then the part before the last `@` with locations after it.
fn readings(text: &str) -> Vec<Grant> {
    let locations = |list: &str| -> Vec<String> {
        list.split(',')
            .map(str::trim)
            .filter(|l| !l.is_empty())
            .map(str::to_owned)
            .collect()
    };
    if let Some((target, rest)) = text.split_once('=') {
        let (role, list) = rest.split_once('@').unwrap_or((rest, ""));
        return vec![Grant {
            target: target.trim().to_owned(),
            role: role.trim().to_owned(),
            locations: locations(list),
        }];
    }
    let mut out = vec![Grant {
        target: text.trim().to_owned(),
        role: String::new(),
        locations: Vec::new(),
    }];
    if let Some((target, list)) = text.rsplit_once('@') {
        out.push(Grant {
            target: target.trim().to_owned(),
            role: String::new(),
            locations: locations(list),
        });
    }
    out
}

/// What the entries of a changeset name: organisations (one member's access) or staff (one
/// organisation's members).
#[derive(Clone, Copy)]
enum Target {
    Organisation,
    Staff,
}

impl Target {
    async fn id(self, caller: &mut Caller, typed: &str) -> Result<String> {
        match self {
            Target::Organisation => caller.organisation_id(typed).await,
            Target::Staff => caller.staff_id(typed).await,
        }
    }

    fn entry(self, id: String) -> org::AccessEntry {
        match self {
            Target::Organisation => org::AccessEntry {
                organisation_id: id,
                ..Default::default()
            },
            Target::Staff => org::AccessEntry {
                staff_id: id,
                ..Default::default()
            },
        }
    }
}

/// A grant entry with every name turned into an id.
async fn grant(caller: &mut Caller, target: Target, text: &str) -> Result<org::AccessEntry> {
    let mut first_error = None;
    for reading in readings(text) {
        match target.id(caller, &reading.target).await {
            Ok(id) => {
                let mut entry = target.entry(id);
                if !reading.role.is_empty() {
                    entry.role_id = caller.role_id(&reading.role).await?;
                }
                entry.location_ids = caller.location_ids(&reading.locations).await?;
                return Ok(entry);
            }
            Err(err) if is_not_found(&err) => {
                first_error.get_or_insert(err);
            }
            Err(err) => return Err(err),
        }
    }
    Err(first_error.unwrap_or_else(|| anyhow!("nothing given in {text:?}")))
}

/// A changeset ready to send, in either direction.
enum Changeset {
    Staff(org::SetStaffAccessRequest),
    Organisation(org::SetOrganisationAccessRequest),
}

impl Changeset {
    async fn send(&self, client: &mut OrgClient, preview: bool) -> Result<org::AccessChangeResult> {
        match self {
            Changeset::Staff(request) => {
                client
                    .set_staff_access(org::SetStaffAccessRequest {
                        preview,
                        ..request.clone()
                    })
                    .await
            }
            Changeset::Organisation(request) => {
                client
                    .set_organisation_access(org::SetOrganisationAccessRequest {
                        preview,
                        ..request.clone()
                    })
                    .await
            }
        }
        .map(tonic::Response::into_inner)
        .map_err(status_error)
    }

    /// The memberships the changeset touched, with their ids (to name the invitations).
    async fn memberships(&self, client: &mut OrgClient) -> Result<Vec<org::Membership>> {
        match self {
            Changeset::Staff(request) => Ok(client
                .list_staff_access(org::ListStaffAccessRequest {
                    staff_id: request.staff_id.clone(),
                    include_history: false,
                })
                .await
                .map_err(status_error)?
                .into_inner()
                .memberships),
            Changeset::Organisation(request) => {
                organisation_members(client, &request.organisation_id, false).await
            }
        }
    }
}

impl ChangesetOptions {
    async fn entries(
        &self,
        caller: &mut Caller,
        target: Target,
        grants: &[String],
    ) -> Result<(Vec<org::AccessEntry>, String)> {
        let mut entries = Vec::new();
        for text in grants {
            entries.push(grant(caller, target, text).await?);
        }
        for text in &self.removals {
            let mut entry = target.entry(target.id(caller, text).await?);
            entry.remove = true;
            entries.push(entry);
        }
        if entries.is_empty() {
            bail!("nothing to change: give --org/--member or --remove");
        }
        let default_role_id = match &self.default_role {
            Some(role) => caller.role_id(role).await?,
            None => String::new(),
        };
        Ok((entries, default_role_id))
    }

    /// Previews, or asks and applies, then says what changed and who must answer.
    async fn run(&self, caller: &mut Caller, changeset: Changeset) -> Result<()> {
        let mut client = caller.orgs().await?;
        if self.preview {
            let preview = changeset.send(&mut client, true).await?;
            print_changes(caller, &preview).await;
            return Ok(());
        }
        if !self.yes && prompt::interactive() {
            let preview = changeset.send(&mut client, true).await?;
            print_changes(caller, &preview).await;
            if preview.added.is_empty() && preview.changed.is_empty() && preview.removed.is_empty()
            {
                return Ok(());
            }
            if !prompt::confirm("Apply these changes?")? {
                println!("nothing changed");
                return Ok(());
            }
        }
        let result = changeset.send(&mut client, false).await?;
        print_changes(caller, &result).await;
        print_offered(caller, &mut client, &changeset, &result).await
    }
}

fn request_id_or_new(given: &Option<String>) -> String {
    given.clone().unwrap_or_else(request_id)
}

/// The changes of a preview or of an applied changeset, by name.
async fn print_changes(caller: &mut Caller, r: &org::AccessChangeResult) {
    let rows: Vec<(&str, &org::AccessChange)> = [
        ("add", &r.added),
        ("change", &r.changed),
        ("remove", &r.removed),
    ]
    .into_iter()
    .flat_map(|(label, changes)| changes.iter().map(move |c| (label, c)))
    .collect();
    caller.learn_roles().await;
    if rows
        .iter()
        .any(|(_, c)| !c.location_ids_before.is_empty() || !c.location_ids_after.is_empty())
    {
        caller.learn_locations().await;
    }
    caller
        .learn_organisations(rows.iter().map(|(_, c)| c.organisation_id.as_str()))
        .await;
    caller
        .learn_staff(rows.iter().map(|(_, c)| c.staff_id.as_str()))
        .await;
    print_change_counts(r);
    let names = &caller.names;
    let role = |id: &str| {
        if id.is_empty() {
            String::new()
        } else {
            names.role(id)
        }
    };
    let mut listing = Table::new(&[
        "CHANGE",
        "ORGANISATION",
        "MEMBER",
        "ROLE",
        "STATUS",
        "LOCATIONS",
    ]);
    for (label, c) in rows {
        let locations = |ids: &[String]| {
            if ids.is_empty() {
                "all".to_owned()
            } else {
                names.locations(ids)
            }
        };
        listing.row([
            label.to_owned(),
            names.organisation(&c.organisation_id),
            names.staff(&c.staff_id),
            transition(&role(&c.role_id_before), &role(&c.role_id_after)),
            transition(status(c.status_before), status(c.status_after)),
            match label {
                "add" => locations(&c.location_ids_after),
                "remove" => locations(&c.location_ids_before),
                _ => transition(
                    &locations(&c.location_ids_before),
                    &locations(&c.location_ids_after),
                ),
            },
        ]);
    }
    listing.print("nothing to change");
}

/// The line above the changes: how many of each, and whether they were applied (under which
/// request id) or only previewed.
fn print_change_counts(r: &org::AccessChangeResult) {
    if r.applied {
        println!(
            "Applied (request {}): {} added, {} changed, {} removed, {} already so",
            r.request_id,
            r.added.len(),
            r.changed.len(),
            r.removed.len(),
            r.unchanged
        );
    } else {
        println!(
            "Preview, nothing is changed yet: {} to add, {} to change, {} to remove, {} already so",
            r.added.len(),
            r.changed.len(),
            r.removed.len(),
            r.unchanged
        );
    }
}

/// After an applied changeset: the access now waiting for each member's answer, with the id
/// each answers with (`org-invitations accept` takes it, or the organisation's name).
async fn print_offered(
    caller: &mut Caller,
    client: &mut OrgClient,
    changeset: &Changeset,
    result: &org::AccessChangeResult,
) -> Result<()> {
    let invited = org::MembershipStatus::Invited as i32;
    let offered: Vec<&org::AccessChange> = result
        .added
        .iter()
        .chain(&result.changed)
        .filter(|c| c.status_after == invited)
        .collect();
    if offered.is_empty() {
        return Ok(());
    }
    let memberships = changeset.memberships(client).await?;
    println!(
        "Waiting for each member to accept (signed in as themselves: staffctl org-invitations accept <organisation or invitation>):"
    );
    let mut listing = Table::new(&["MEMBER", "ORGANISATION", "INVITATION"]);
    for c in offered {
        let membership = memberships
            .iter()
            .find(|m| {
                m.organisation_id == c.organisation_id
                    && m.staff_id == c.staff_id
                    && m.status == invited
            })
            .map(|m| m.id.clone())
            .unwrap_or_else(|| "-".into());
        listing.row([
            caller.names.staff(&c.staff_id),
            caller.names.organisation(&c.organisation_id),
            membership,
        ]);
    }
    listing.print("");
    Ok(())
}

async fn print_workflows(caller: &mut Caller, workflows: &[org::Workflow]) {
    caller
        .learn_staff(
            workflows
                .iter()
                .flat_map(|w| &w.steps)
                .flat_map(|s| &s.approver_staff_ids)
                .map(String::as_str),
        )
        .await;
    caller
        .learn_organisations(workflows.iter().map(|w| w.organisation_id.as_str()))
        .await;
    let mut listing = Table::new(&["WORKFLOW", "ORGANISATION", "STEP", "APPROVERS", "ID"]);
    for w in workflows {
        for (i, s) in w.steps.iter().enumerate() {
            let first = i == 0;
            listing.row([
                if first { w.name.clone() } else { String::new() },
                if first {
                    caller.names.organisation(&w.organisation_id)
                } else {
                    String::new()
                },
                format!("{}. {}", s.position, s.name),
                caller.names.staff_list(&s.approver_staff_ids),
                if first { w.id.clone() } else { String::new() },
            ]);
        }
    }
    listing.print("no workflows");
}

/// `NAME=APPROVER[,APPROVER…]` steps, approvers by e-mail, name or id.
async fn steps(caller: &mut Caller, raw: &[String]) -> Result<Vec<org::StepInput>> {
    let mut steps = Vec::with_capacity(raw.len());
    for step in raw {
        let (name, approvers) = step.split_once('=').ok_or_else(|| {
            anyhow!("a step is NAME=APPROVER[,APPROVER…] (e-mails, names or ids): {step}")
        })?;
        let mut ids = Vec::new();
        for approver in approvers
            .split(',')
            .map(str::trim)
            .filter(|a| !a.is_empty())
        {
            ids.push(caller.staff_id(approver).await?);
        }
        steps.push(org::StepInput {
            name: name.trim().to_owned(),
            approver_staff_ids: ids,
        });
    }
    Ok(steps)
}

fn print_organisation(o: &org::Organisation) {
    let mut d = Details::default();
    d.field("Name", o.name.clone())
        .field("Status", if o.archived { "archived" } else { "active" })
        .field("Created", table::time_utc(o.created_at.as_ref()))
        .field("Id", o.id.clone());
    print!("{}", d.render());
}

pub(crate) async fn orgs(caller: &mut Caller, command: &OrgCommand) -> Result<()> {
    let mut client = caller.orgs().await?;
    match command {
        OrgCommand::List { query, archived } => {
            let found = caller
                .organisations_matching(query.as_deref().unwrap_or_default(), *archived)
                .await?;
            let mut listing = Table::new(&["NAME", "STATUS", "CREATED (UTC)", "ID"]);
            for o in &found {
                listing.row([
                    o.name.clone(),
                    if o.archived { "archived" } else { "active" }.to_owned(),
                    table::time(o.created_at.as_ref()),
                    o.id.clone(),
                ]);
            }
            listing.print("no organisations");
        }
        OrgCommand::Get { organisation } => {
            print_organisation(&caller.organisation(organisation).await?);
        }
        OrgCommand::Create { name } => {
            let created = client
                .create_organisation(org::CreateOrganisationRequest {
                    name: name.clone(),
                    request_id: request_id(),
                })
                .await
                .map_err(status_error)?
                .into_inner();
            println!("created organisation {}", created.name);
        }
        OrgCommand::Rename { organisation, name } => {
            let found = caller.organisation(organisation).await?;
            let renamed = client
                .rename_organisation(org::RenameOrganisationRequest {
                    organisation_id: found.id,
                    name: name.clone(),
                })
                .await
                .map_err(status_error)?
                .into_inner();
            println!("renamed {} to {}", found.name, renamed.name);
        }
        OrgCommand::Archive { organisation } => {
            let found = caller.organisation(organisation).await?;
            client
                .archive_organisation(org::ArchiveOrganisationRequest {
                    organisation_id: found.id,
                })
                .await
                .map_err(status_error)?;
            println!("archived {}: it grants no access now", found.name);
        }
    }
    Ok(())
}

pub(crate) async fn workflows(caller: &mut Caller, command: &WorkflowCommand) -> Result<()> {
    let mut client = caller.orgs().await?;
    match command {
        WorkflowCommand::List { organisation } => {
            let organisation_id = caller.organisation_id(organisation).await?;
            let found = client
                .list_workflows(org::ListWorkflowsRequest { organisation_id })
                .await
                .map_err(status_error)?
                .into_inner()
                .workflows;
            print_workflows(caller, &found).await;
        }
        WorkflowCommand::Show { workflow, org } => {
            let found = caller.workflow(workflow, org.as_deref()).await?;
            print_workflows(caller, &[found]).await;
        }
        WorkflowCommand::Create {
            organisation,
            name,
            steps: raw,
        } => {
            let organisation_id = caller.organisation_id(organisation).await?;
            let steps = steps(caller, raw).await?;
            let created = client
                .create_workflow(org::CreateWorkflowRequest {
                    request_id: request_id(),
                    organisation_id,
                    name: name.clone(),
                    steps,
                })
                .await
                .map_err(status_error)?
                .into_inner();
            print_workflows(caller, &[created]).await;
        }
        WorkflowCommand::Update {
            workflow,
            org,
            name,
            steps: raw,
        } => {
            let found = caller.workflow(workflow, org.as_deref()).await?;
            let steps = steps(caller, raw).await?;
            let updated = client
                .update_workflow(org::UpdateWorkflowRequest {
                    workflow_id: found.id,
                    name: name.clone().unwrap_or_default(),
                    replace_steps: !steps.is_empty(),
                    steps,
                })
                .await
                .map_err(status_error)?
                .into_inner();
            print_workflows(caller, &[updated]).await;
        }
        WorkflowCommand::Delete { workflow, org } => {
            let found = caller.workflow(workflow, org.as_deref()).await?;
            client
                .delete_workflow(org::DeleteWorkflowRequest {
                    workflow_id: found.id,
                })
                .await
                .map_err(status_error)?;
            println!("deleted workflow {}", found.name);
        }
    }
    Ok(())
}

fn print_role(r: &org::Role) {
    let mut d = Details::default();
    d.field("Name", r.name.clone())
        .field("Kind", if r.built_in { "built-in" } else { "custom" })
        .field("Permissions", r.permissions.join(" "))
        .field("Memberships", r.memberships.to_string())
        .field("Id", r.id.clone());
    print!("{}", d.render());
}

pub(crate) async fn roles(caller: &mut Caller, command: &RoleCommand) -> Result<()> {
    let mut client = caller.orgs().await?;
    match command {
        RoleCommand::List => {
            let mut listing = Table::new(&["NAME", "KIND", "MEMBERSHIPS", "PERMISSIONS"]);
            for r in caller.roles().await? {
                listing.row([
                    r.name.clone(),
                    if r.built_in { "built-in" } else { "custom" }.to_owned(),
                    r.memberships.to_string(),
                    r.permissions.join(" "),
                ]);
            }
            listing.print("no roles");
        }
        RoleCommand::Permissions => {
            let mut listing = Table::new(&["PERMISSION", "MODULE", "DESCRIPTION"]);
            for p in client
                .list_permissions(org::ListPermissionsRequest {})
                .await
                .map_err(status_error)?
                .into_inner()
                .permissions
            {
                listing.row([p.name, p.module, p.description]);
            }
            listing.print("no permissions");
        }
        RoleCommand::Create { name, permissions } => print_role(
            &client
                .create_role(org::CreateRoleRequest {
                    request_id: request_id(),
                    name: name.clone(),
                    permissions: permissions.clone(),
                })
                .await
                .map_err(status_error)?
                .into_inner(),
        ),
        RoleCommand::Update {
            role,
            name,
            permissions,
            replace_permissions,
        } => {
            let role_id = caller.role_id(role).await?;
            print_role(
                &client
                    .update_role(org::UpdateRoleRequest {
                        role_id,
                        name: name.clone().unwrap_or_default(),
                        replace_permissions: *replace_permissions || !permissions.is_empty(),
                        permissions: permissions.clone(),
                    })
                    .await
                    .map_err(status_error)?
                    .into_inner(),
            )
        }
        RoleCommand::Delete { role } => {
            let found = caller.role(role).await?;
            client
                .delete_role(org::DeleteRoleRequest { role_id: found.id })
                .await
                .map_err(status_error)?;
            println!("deleted role {}", found.name);
        }
    }
    Ok(())
}

/// `access settings|staff|org|members|of|explain|audit`.
pub(crate) async fn access(caller: &mut Caller, command: &AccessCommand) -> Result<()> {
    let mut client = caller.orgs().await?;
    match command {
        AccessCommand::Settings { require_acceptance } => {
            access_settings(&mut client, *require_acceptance).await
        }
        AccessCommand::Staff {
            staff,
            grants,
            options,
        } => staff_access(caller, staff, grants, options).await,
        AccessCommand::Org {
            organisation,
            grants,
            options,
        } => organisation_access(caller, organisation, grants, options).await,
        AccessCommand::Members {
            organisation,
            history,
        } => members(caller, &mut client, organisation, *history).await,
        AccessCommand::Of { staff, history } => {
            access_of(caller, &mut client, staff, *history).await
        }
        AccessCommand::Explain {
            staff,
            org: organisation,
            permission,
            location,
        } => {
            let question = Question {
                staff,
                organisation,
                permission,
                location: location.as_deref(),
            };
            explain(caller, &mut client, question).await
        }
        AccessCommand::Audit {
            org: organisation,
            staff,
        } => {
            access_audit(
                caller,
                &mut client,
                organisation.as_deref(),
                staff.as_deref(),
            )
            .await
        }
    }
}

/// `access staff`: one member's access to many organisations, as one changeset.
async fn staff_access(
    caller: &mut Caller,
    staff: &str,
    grants: &[String],
    options: &ChangesetOptions,
) -> Result<()> {
    let staff_id = caller.staff_id(staff).await?;
    let (entries, default_role_id) = options
        .entries(caller, Target::Organisation, grants)
        .await?;
    let changeset = Changeset::Staff(org::SetStaffAccessRequest {
        request_id: request_id_or_new(&options.request_id),
        staff_id,
        default_role_id,
        entries,
        preview: true,
    });
    options.run(caller, changeset).await
}

/// `access org`: many members' access to one organisation, as one changeset.
async fn organisation_access(
    caller: &mut Caller,
    organisation: &str,
    grants: &[String],
    options: &ChangesetOptions,
) -> Result<()> {
    let organisation_id = caller.organisation_id(organisation).await?;
    let (entries, default_role_id) = options.entries(caller, Target::Staff, grants).await?;
    let changeset = Changeset::Organisation(org::SetOrganisationAccessRequest {
        request_id: request_id_or_new(&options.request_id),
        organisation_id,
        default_role_id,
        entries,
        preview: true,
    });
    options.run(caller, changeset).await
}

/// `access settings`: changes whether new access needs the member's acceptance when asked
/// to, and says how it is.
async fn access_settings(client: &mut OrgClient, require_acceptance: Option<bool>) -> Result<()> {
    let settings = match require_acceptance {
        Some(required) => {
            client
                .update_access_settings(org::UpdateAccessSettingsRequest {
                    settings: Some(org::AccessSettings {
                        require_acceptance: required,
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
    .map_err(status_error)?
    .into_inner();
    println!(
        "new access needs the member's acceptance: {}",
        if settings.require_acceptance {
            "yes"
        } else {
            "no"
        }
    );
    Ok(())
}

/// Every membership of an organisation, page after page; the declined and revoked ones too
/// with `include_history`.
async fn organisation_members(
    client: &mut OrgClient,
    organisation_id: &str,
    include_history: bool,
) -> Result<Vec<org::Membership>> {
    let mut found = Vec::new();
    let mut token = String::new();
    loop {
        let page = client
            .list_organisation_members(org::ListOrganisationMembersRequest {
                organisation_id: organisation_id.to_owned(),
                page: Some(PageRequest {
                    page_size: 500,
                    page_token: token,
                }),
                include_history,
            })
            .await
            .map_err(status_error)?
            .into_inner();
        found.extend(page.memberships);
        if page.next_page_token.is_empty() {
            return Ok(found);
        }
        token = page.next_page_token;
    }
}

/// `access members`: who can access an organisation.
async fn members(
    caller: &mut Caller,
    client: &mut OrgClient,
    organisation: &str,
    history: bool,
) -> Result<()> {
    let found = caller.organisation(organisation).await?;
    let memberships = organisation_members(client, &found.id, history).await?;
    caller
        .learn_staff(memberships.iter().map(|m| m.staff_id.as_str()))
        .await;
    if memberships.iter().any(|m| !m.location_ids.is_empty()) {
        caller.learn_locations().await;
    }
    println!("{}:", found.name);
    let mut listing = Table::new(&[
        "MEMBER",
        "E-MAIL",
        "ROLE",
        "STATUS",
        "LOCATIONS",
        "SINCE (UTC)",
    ]);
    for m in &memberships {
        listing.row([
            caller.names.staff(&m.staff_id),
            caller.names.email(&m.staff_id),
            m.role_name.clone(),
            status(m.status).to_owned(),
            limits(caller, &m.location_ids),
            table::time(m.status_changed_at.as_ref()),
        ]);
    }
    listing.print("  nobody has access");
    Ok(())
}

/// `access of`: what a member can access, then the workflow steps they approve in.
async fn access_of(
    caller: &mut Caller,
    client: &mut OrgClient,
    staff: &str,
    history: bool,
) -> Result<()> {
    let member = caller.staff_member(staff).await?;
    let access = client
        .list_staff_access(org::ListStaffAccessRequest {
            staff_id: member.id.clone(),
            include_history: history,
        })
        .await
        .map_err(status_error)?
        .into_inner();
    if access
        .memberships
        .iter()
        .any(|m| !m.location_ids.is_empty())
    {
        caller.learn_locations().await;
    }
    caller
        .learn_organisations(access.steps.iter().map(|s| s.organisation_id.as_str()))
        .await;
    println!("{} <{}> can access:", member.name, member.email);
    let mut listing = Table::new(&["ORGANISATION", "ROLE", "STATUS", "LOCATIONS", "SINCE (UTC)"]);
    for m in &access.memberships {
        listing.row([
            m.organisation_name.clone(),
            m.role_name.clone(),
            status(m.status).to_owned(),
            limits(caller, &m.location_ids),
            table::time(m.status_changed_at.as_ref()),
        ]);
    }
    listing.print("  no organisation");
    if !access.steps.is_empty() {
        println!("and approves in:");
        let mut steps = Table::new(&["ORGANISATION", "WORKFLOW", "STEP"]);
        for s in &access.steps {
            steps.row([
                caller.names.organisation(&s.organisation_id),
                s.workflow_name.clone(),
                format!("{}. {}", s.position, s.step_name),
            ]);
        }
        steps.print("");
    }
    Ok(())
}

/// What `access explain` asks, as typed: may this member do this in this organisation (at
/// this location)?
struct Question<'a> {
    staff: &'a str,
    organisation: &'a str,
    permission: &'a str,
    location: Option<&'a str>,
}

/// `access explain`: the decision and its reason. A member who has not accepted their
/// invitation to the practice has no user to ask about, and is denied here.
async fn explain(
    caller: &mut Caller,
    client: &mut OrgClient,
    question: Question<'_>,
) -> Result<()> {
    let permission = question.permission;
    let member = caller.staff_member(question.staff).await?;
    let organisation = caller.organisation(question.organisation).await?;
    let (location_id, at) = match question.location {
        Some(l) => {
            let id = caller.location_id(l).await?;
            caller.learn_locations().await;
            let at = format!(" at {}", caller.names.location(&id));
            (id, at)
        }
        None => (String::new(), String::new()),
    };
    if member.user_id.is_empty() {
        // Without an accepted invitation there is no sign-in to decide about.
        println!(
            "denied: {} may not {permission} in {}{at}",
            member.name, organisation.name
        );
        println!(
            "  why: they have not accepted their invitation to the practice (they are {})",
            status_title(member.status)
        );
        return Ok(());
    }
    let decision = client
        .explain_access(org::ExplainAccessRequest {
            user_id: member.user_id.clone(),
            organisation_id: organisation.id.clone(),
            permission: permission.to_owned(),
            location_id,
        })
        .await
        .map_err(status_error)?
        .into_inner();
    let reason = org::DecisionReason::try_from(decision.reason)
        .map(|r| {
            r.as_str_name()
                .trim_start_matches("DECISION_REASON_")
                .to_lowercase()
        })
        .unwrap_or_default();
    let (verdict, may) = if decision.allowed {
        ("allowed", "may")
    } else {
        ("denied", "may not")
    };
    println!(
        "{verdict}: {} {may} {permission} in {}{at}",
        member.name, organisation.name
    );
    println!("  why: {} ({reason})", decision.explanation);
    Ok(())
}

/// `access audit`: access changes, newest first, optionally of one organisation and/or
/// member.
async fn access_audit(
    caller: &mut Caller,
    client: &mut OrgClient,
    organisation: Option<&str>,
    staff: Option<&str>,
) -> Result<()> {
    let organisation_id = match organisation {
        Some(o) => caller.organisation_id(o).await?,
        None => String::new(),
    };
    let staff_id = match staff {
        Some(s) => caller.staff_id(s).await?,
        None => String::new(),
    };
    let events = client
        .list_access_audit_events(org::ListAccessAuditEventsRequest {
            page: first_page(),
            organisation_id,
            staff_id,
        })
        .await
        .map_err(status_error)?
        .into_inner()
        .events;
    print_access_audit(caller, &events).await;
    Ok(())
}

/// The access audit events as a table, every id they mention by name.
async fn print_access_audit(caller: &mut Caller, events: &[org::AccessAuditEvent]) {
    caller.learn_roles().await;
    caller.learn_locations().await;
    caller
        .learn_organisations(events.iter().map(|e| e.organisation_id.as_str()))
        .await;
    let mentioned = table::ids_mentioned(
        events
            .iter()
            .map(|e| (e.before.as_str(), e.after.as_str(), e.staff_id.as_str())),
    );
    caller
        .learn_staff(mentioned.iter().map(String::as_str))
        .await;
    let names = &caller.names;
    let mut listing = Table::new(&[
        "TIME (UTC)",
        "WHO",
        "ACTION",
        "ORGANISATION",
        "MEMBER",
        "CHANGE",
    ]);
    for e in events {
        let optional = |id: &str, name: String| if id.is_empty() { String::new() } else { name };
        listing.row([
            table::time(e.occurred_at.as_ref()),
            e.actor_name.clone(),
            e.action.clone(),
            optional(&e.organisation_id, names.organisation(&e.organisation_id)),
            optional(&e.staff_id, names.staff(&e.staff_id)),
            table::change(&e.before, &e.after, &|id| names.any(id)),
        ]);
    }
    listing.print("no access changes");
}

pub(crate) async fn invitations(caller: &mut Caller, command: &OrgInvitationCommand) -> Result<()> {
    let mut client = caller.orgs().await?;
    match command {
        OrgInvitationCommand::List => {
            let open = client
                .list_my_org_invitations(org::ListMyOrgInvitationsRequest {})
                .await
                .map_err(status_error)?
                .into_inner()
                .memberships;
            if open.iter().any(|m| !m.location_ids.is_empty()) {
                caller.learn_locations().await;
            }
            let mut listing = Table::new(&[
                "ORGANISATION",
                "ROLE",
                "LOCATIONS",
                "OFFERED (UTC)",
                "INVITATION",
            ]);
            for m in &open {
                listing.row([
                    m.organisation_name.clone(),
                    m.role_name.clone(),
                    limits(caller, &m.location_ids),
                    table::time(m.created_at.as_ref()),
                    m.id.clone(),
                ]);
            }
            listing.print("no open organisation invitations");
        }
        OrgInvitationCommand::Accept { invitation } => {
            let membership_id = caller.my_org_invitation(invitation).await?;
            let accepted = client
                .accept_org_invitation(org::AnswerOrgInvitationRequest { membership_id })
                .await
                .map_err(status_error)?
                .into_inner();
            println!(
                "accepted: you can act in {} as {}",
                accepted.organisation_name, accepted.role_name
            );
        }
        OrgInvitationCommand::Decline { invitation } => {
            let membership_id = caller.my_org_invitation(invitation).await?;
            let declined = client
                .decline_org_invitation(org::AnswerOrgInvitationRequest { membership_id })
                .await
                .map_err(status_error)?
                .into_inner();
            println!("declined {}", declined.organisation_name);
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn grant(target: &str, role: &str, locations: &[&str]) -> Grant {
        Grant {
            target: target.into(),
            role: role.into(),
            locations: locations.iter().map(|l| (*l).to_owned()).collect(),
        }
    }

    #[test]
    fn entries_read_with_and_without_roles_and_e_mails() {
        let cases: [(&str, Vec<Grant>); 6] = [
            ("Client One", vec![grant("Client One", "", &[])]),
            (
                "Client One=viewer",
                vec![grant("Client One", "viewer", &[])],
            ),
            (
                "Client One=Approver@North Clinic, South",
                vec![grant("Client One", "Approver", &["North Clinic", "South"])],
            ),
            (
                "bea@acme.test=editor@North",
                vec![grant("bea@acme.test", "editor", &["North"])],
            ),
            (
                "bea@acme.test",
                vec![
                    grant("bea@acme.test", "", &[]),
                    grant("bea", "", &["acme.test"]),
                ],
            ),
            (
                "bea@acme.test@North,South",
                vec![
                    grant("bea@acme.test@North,South", "", &[]),
                    grant("bea@acme.test", "", &["North", "South"]),
                ],
            ),
        ];
        for (text, expected) in cases {
            assert_eq!(readings(text), expected, "{text}");
        }
    }

    #[test]
    fn transitions_show_what_moved() {
        assert_eq!(transition("", "Approver"), "Approver");
        assert_eq!(transition("Viewer", "Approver"), "Viewer → Approver");
        assert_eq!(transition("active", "active"), "active");
        assert_eq!(transition("Approver", ""), "Approver");
    }
}
