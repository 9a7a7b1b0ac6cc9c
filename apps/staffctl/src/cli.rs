//! The command line: its arguments, and the commands of the practice, its staff, locations,
//! certifications, invitations and e-mails (organisations and access are in `org`, offboarding
//! in `offboard`).

use std::path::{Path, PathBuf};
use std::process::ExitCode;

use anyhow::{Context, Result, anyhow};
use clap::{Parser, Subcommand, ValueEnum};
use ps_auth::credentials::Credential;
use ps_proto::common::v1::{PageRequest, PracticeRole};
use ps_proto::identity::v1 as identity;
use ps_proto::identity::v1::identity_service_client::IdentityServiceClient;
use ps_proto::notification::v1 as notification;
use ps_proto::staff::v1 as staff;
use ps_proto::staff::v1::staff_directory_service_client::StaffDirectoryServiceClient;

use crate::links::invitation_token;
use crate::session::{Addresses, Caller, Session, StaffClient, channel, default_session_path};
use crate::table::{self, Details, Table};
use crate::{offboard, org, prompt};

#[derive(Parser)]
#[command(
    name = "staffctl",
    about = "Practice Staff from the command line",
    after_help = "Staff members are given by e-mail, name or id; organisations, roles, locations and workflows by name or id. Names match exactly, in any case."
)]
struct Cli {
    #[arg(
        long,
        env = "STAFFCTL_IDENTITY_URL",
        default_value = "http://127.0.0.1:50051",
        global = true
    )]
    identity_url: String,
    #[arg(
        long,
        env = "STAFFCTL_STAFF_URL",
        default_value = "http://127.0.0.1:50052",
        global = true
    )]
    staff_url: String,
    #[arg(
        long,
        env = "STAFFCTL_NOTIFICATION_URL",
        default_value = "http://127.0.0.1:50054",
        global = true
    )]
    notification_url: String,
    #[arg(
        long,
        env = "STAFFCTL_ORG_ACCESS_URL",
        default_value = "http://127.0.0.1:50053",
        global = true
    )]
    org_access_url: String,
    /// Where the signed-in session is kept.
    #[arg(long, env = "STAFFCTL_SESSION", global = true)]
    session: Option<PathBuf>,
    /// The CA that signed the services' certificates, for `https://` URLs.
    #[arg(long, env = "STAFFCTL_CA_FILE", global = true)]
    ca_file: Option<PathBuf>,
    /// This client's certificate and key (PEM), where the services require one (mTLS).
    #[arg(long, env = "STAFFCTL_CERT_FILE", global = true)]
    cert_file: Option<PathBuf>,
    #[arg(long, env = "STAFFCTL_KEY_FILE", global = true)]
    key_file: Option<PathBuf>,
    #[command(subcommand)]
    command: Command,
}

impl Cli {
    fn addresses(&self) -> Addresses {
        Addresses {
            identity: self.identity_url.clone(),
            staff: self.staff_url.clone(),
            org_access: self.org_access_url.clone(),
            notification: self.notification_url.clone(),
        }
    }

    fn session_path(&self) -> PathBuf {
        self.session.clone().unwrap_or_else(default_session_path)
    }

    async fn caller(&self) -> Result<Caller> {
        Caller::signed_in(self.addresses(), &self.session_path()).await
    }
}

#[derive(Subcommand)]
enum Command {
    /// Create a practice and invite its Account Owner (operator credential).
    Bootstrap {
        #[arg(long)]
        practice: String,
        #[arg(long)]
        owner_email: String,
        #[arg(long)]
        owner_name: String,
        /// The operator credential; by default read from --operator-token-file.
        #[arg(long, env = "STAFFCTL_OPERATOR_TOKEN", hide_env_values = true)]
        operator_token: Option<String>,
        #[arg(long, default_value = "data/operator-token")]
        operator_token_file: PathBuf,
    },
    /// Sign in and keep the session.
    SignIn {
        #[arg(long)]
        email: String,
        /// The practice's name or id, when you belong to several (without it you are asked
        /// which, or told their names when the password comes from standard input).
        #[arg(long)]
        practice: Option<String>,
        /// Read the password from standard input instead of prompting.
        #[arg(long)]
        password_stdin: bool,
    },
    /// End the session.
    SignOut,
    /// The practices you are active in.
    Practices,
    /// Act in another practice you belong to (its name or id).
    Switch {
        #[arg(long)]
        practice: String,
    },
    /// Forgotten passwords.
    Password {
        #[command(subcommand)]
        command: PasswordCommand,
    },
    /// Your practice and its settings.
    Practice {
        #[command(subcommand)]
        command: PracticeCommand,
    },
    /// Invite someone to your practice.
    Invite(InviteArgs),
    /// Your practice's staff (STAFF: an e-mail, a name or an id).
    Staff {
        #[command(subcommand)]
        command: StaffCommand,
    },
    /// Your practice's locations.
    Locations {
        #[command(subcommand)]
        command: LocationCommand,
    },
    /// Certifications.
    Certification {
        #[command(subcommand)]
        command: CertificationCommand,
    },
    /// Who changed what (newest first).
    Audit {
        /// Only events about this member (e-mail, name or id).
        #[arg(long)]
        staff: Option<String>,
    },
    /// Look at or answer an invitation. TOKEN may be the token, the link, or the .eml file.
    Invitation {
        #[command(subcommand)]
        command: InvitationCommand,
    },
    /// Client organisations.
    Orgs {
        #[command(subcommand)]
        command: org::OrgCommand,
    },
    /// Organisations' workflows (ordered approval steps).
    Workflows {
        #[command(subcommand)]
        command: org::WorkflowCommand,
    },
    /// Roles and the permission catalogue.
    Roles {
        #[command(subcommand)]
        command: org::RoleCommand,
    },
    /// Who may act in which organisation.
    Access {
        #[command(subcommand)]
        command: org::AccessCommand,
    },
    /// Your invitations to organisations.
    OrgInvitations {
        #[command(subcommand)]
        command: org::OrgInvitationCommand,
    },
    /// Hand a leaving member's organisations and workflow steps to a replacement: shows the
    /// plan, asks, then waits for the result.
    Offboard(offboard::OffboardArgs),
    /// Offboardings and their results.
    Offboardings {
        #[command(subcommand)]
        command: offboard::OffboardingCommand,
    },
    /// Service accounts: the credentials other services call CheckAccess and the roster with.
    ServiceAccounts {
        #[command(flatten)]
        manager: crate::service_accounts::Manager,
        #[command(subcommand)]
        command: crate::service_accounts::ServiceAccountCommand,
    },
    /// E-mails sent for your practice.
    Deliveries {
        /// Only those to this address.
        #[arg(long)]
        recipient: Option<String>,
    },
}

// Who `invite` invites (no doc comment: clap would take it for the command's about).
#[derive(clap::Args)]
struct InviteArgs {
    #[arg(long)]
    email: String,
    #[arg(long)]
    name: String,
    #[arg(long, value_enum, default_value = "member")]
    role: Role,
    /// A location's name or id.
    #[arg(long)]
    primary_location: Option<String>,
    /// Further locations (repeatable).
    #[arg(long = "location")]
    locations: Vec<String>,
    #[arg(long)]
    external_agent: bool,
}

#[derive(Subcommand)]
enum PasswordCommand {
    /// E-mail a reset link (answers the same for unknown addresses).
    Forgot {
        #[arg(long)]
        email: String,
    },
    /// Set a new password through a reset link (token, link or .eml file); ends every session.
    Reset {
        token: String,
        #[arg(long)]
        password_stdin: bool,
    },
}

#[derive(Subcommand)]
enum PracticeCommand {
    Show,
    /// Require a primary location on every invitation (Account Owner).
    RequireLocation {
        #[arg(action = clap::ArgAction::Set)]
        required: bool,
    },
}

#[derive(Subcommand)]
enum StaffCommand {
    List(StaffFilters),
    /// Everything about one member: profile, locations, sign-in, certification, invitations.
    Get {
        staff: String,
    },
    /// Send a Pending member a new invitation (older links stop working).
    Reinvite {
        staff: String,
    },
    /// Change name, external-agent flag or provider profile; only the given fields change.
    /// An empty value clears a profile field.
    Update(StaffUpdateArgs),
    /// Change a member's practice role (Account Owner).
    Role {
        staff: String,
        #[arg(long, value_enum)]
        role: Role,
    },
    Remove {
        staff: String,
    },
    Deactivate {
        staff: String,
    },
    Reactivate {
        staff: String,
    },
    /// Set the locations a member may access (repeat --location; names or ids).
    Locations {
        staff: String,
        #[arg(long = "location")]
        locations: Vec<String>,
    },
}

// What `staff update` changes (no doc comment: clap would take it for the command's about).
#[derive(clap::Args)]
struct StaffUpdateArgs {
    staff: String,
    #[arg(long)]
    name: Option<String>,
    #[arg(long)]
    external_agent: Option<bool>,
    #[arg(long)]
    npi: Option<String>,
    #[arg(long)]
    taxonomy_code: Option<String>,
    #[arg(long)]
    bio: Option<String>,
    #[arg(long)]
    capacity: Option<u32>,
    #[arg(long)]
    scheduling_step_minutes: Option<u32>,
}

impl StaffUpdateArgs {
    /// The update mask: the fields given, even when given empty.
    fn paths(&self) -> Vec<String> {
        [
            (self.name.is_some(), "name"),
            (self.external_agent.is_some(), "external_agent"),
            (self.npi.is_some(), "provider.npi"),
            (self.taxonomy_code.is_some(), "provider.taxonomy_code"),
            (self.bio.is_some(), "provider.bio"),
            (self.capacity.is_some(), "provider.capacity"),
            (
                self.scheduling_step_minutes.is_some(),
                "provider.scheduling_step_minutes",
            ),
        ]
        .into_iter()
        .filter(|(given, _)| *given)
        .map(|(_, path)| path.to_owned())
        .collect()
    }

    /// The request for the member `staff_id`; fields not given are left at their defaults
    /// and out of the mask.
    fn request(&self, staff_id: String) -> staff::UpdateStaffRequest {
        staff::UpdateStaffRequest {
            staff_id,
            staff: Some(staff::StaffUpdate {
                name: self.name.clone().unwrap_or_default(),
                external_agent: self.external_agent.unwrap_or_default(),
                provider: Some(staff::ProviderProfile {
                    npi: self.npi.clone().unwrap_or_default(),
                    taxonomy_code: self.taxonomy_code.clone().unwrap_or_default(),
                    bio: self.bio.clone().unwrap_or_default(),
                    capacity: self.capacity.unwrap_or_default(),
                    scheduling_step_minutes: self.scheduling_step_minutes.unwrap_or_default(),
                }),
            }),
            update_mask: Some(prost_types::FieldMask {
                paths: self.paths(),
            }),
        }
    }
}

/// Which members `staff list` shows; every filter is optional.
#[derive(clap::Args)]
struct StaffFilters {
    #[arg(long, value_enum)]
    status: Vec<Status>,
    #[arg(long, value_enum)]
    role: Vec<Role>,
    /// Members who may access this location (name or id).
    #[arg(long)]
    location: Option<String>,
    #[arg(long, value_enum)]
    certification: Vec<CertStatus>,
    /// Only external agents (true) or none of them (false).
    #[arg(long)]
    external_agent: Option<bool>,
    /// Part of a name or e-mail.
    #[arg(long)]
    query: Option<String>,
}

#[derive(Subcommand)]
enum LocationCommand {
    List {
        /// Archived ones too.
        #[arg(long)]
        all: bool,
    },
    Create {
        name: String,
    },
    /// LOCATION: its name or id.
    Rename {
        location: String,
        name: String,
    },
    Archive {
        location: String,
    },
}

#[derive(Subcommand)]
enum CertificationCommand {
    /// E-mail a member an invitation to certify.
    Invite { staff: String },
    /// Record a completed certification (Account Owner).
    Record {
        staff: String,
        #[arg(long)]
        number: String,
        /// When it was completed, YYYY-MM-DD (default: now).
        #[arg(long)]
        date: Option<chrono::NaiveDate>,
    },
    /// Save the member's certificate (PDF).
    Download {
        staff: String,
        /// Output file (default: the certificate's own file name).
        #[arg(long)]
        out: Option<PathBuf>,
    },
}

#[derive(Subcommand)]
enum InvitationCommand {
    Show {
        token: String,
    },
    /// Accept: a new account chooses its password (asked twice), an existing one gives its own.
    Accept {
        token: String,
        #[arg(long)]
        password_stdin: bool,
    },
    Decline {
        token: String,
    },
}

#[derive(Clone, Copy, ValueEnum)]
enum Role {
    AccountOwner,
    AccountManager,
    UserManager,
    Member,
}

impl From<Role> for PracticeRole {
    fn from(role: Role) -> Self {
        match role {
            Role::AccountOwner => PracticeRole::AccountOwner,
            Role::AccountManager => PracticeRole::AccountManager,
            Role::UserManager => PracticeRole::UserManager,
            Role::Member => PracticeRole::Member,
        }
    }
}

#[derive(Clone, Copy, ValueEnum)]
enum Status {
    Pending,
    Active,
    Declined,
    Deactivated,
    Removed,
    Offboarding,
    Offboarded,
}

impl From<Status> for staff::StaffStatus {
    fn from(status: Status) -> Self {
        match status {
            Status::Pending => staff::StaffStatus::Pending,
            Status::Active => staff::StaffStatus::Active,
            Status::Declined => staff::StaffStatus::Declined,
            Status::Deactivated => staff::StaffStatus::Deactivated,
            Status::Removed => staff::StaffStatus::Removed,
            Status::Offboarding => staff::StaffStatus::Offboarding,
            Status::Offboarded => staff::StaffStatus::Offboarded,
        }
    }
}

#[derive(Clone, Copy, ValueEnum)]
enum CertStatus {
    NotCertified,
    Invited,
    Certified,
}

impl From<CertStatus> for staff::CertificationStatus {
    fn from(status: CertStatus) -> Self {
        match status {
            CertStatus::NotCertified => staff::CertificationStatus::NotCertified,
            CertStatus::Invited => staff::CertificationStatus::Invited,
            CertStatus::Certified => staff::CertificationStatus::Certified,
        }
    }
}

/// A fresh request id for a creating request (AIP-155): the service answers a repeated one
/// with what the first created, so a retried command never creates twice.
pub(crate) fn request_id() -> String {
    uuid::Uuid::now_v7().to_string()
}

pub(crate) fn role_title(value: i32) -> &'static str {
    match PracticeRole::try_from(value) {
        Ok(PracticeRole::AccountOwner) => "Account Owner",
        Ok(PracticeRole::AccountManager) => "Account Manager",
        Ok(PracticeRole::UserManager) => "User Manager",
        Ok(PracticeRole::Member) => "Member",
        _ => "?",
    }
}

pub(crate) fn status_title(value: i32) -> &'static str {
    match staff::StaffStatus::try_from(value) {
        Ok(staff::StaffStatus::Pending) => "Pending",
        Ok(staff::StaffStatus::Active) => "Active",
        Ok(staff::StaffStatus::Declined) => "Declined",
        Ok(staff::StaffStatus::Deactivated) => "Deactivated",
        Ok(staff::StaffStatus::Removed) => "Removed",
        Ok(staff::StaffStatus::Offboarding) => "Offboarding",
        Ok(staff::StaffStatus::Offboarded) => "Offboarded",
        _ => "?",
    }
}

fn certification_title(member: &staff::StaffMember) -> String {
    let Some(c) = &member.certification else {
        return "not certified".into();
    };
    match staff::CertificationStatus::try_from(c.status) {
        Ok(staff::CertificationStatus::Certified) => {
            format!(
                "certified {} #{}",
                table::date(c.certified_at.as_ref()),
                c.certificate_number
            )
        }
        Ok(staff::CertificationStatus::Invited) => {
            format!("invited {}", table::date(c.invited_at.as_ref()))
        }
        _ => "not certified".into(),
    }
}

pub(crate) fn status_error(status: tonic::Status) -> anyhow::Error {
    use tonic_types::StatusExt;
    let mut message = format!("{:?}: {}", status.code(), status.message());
    if let Some(bad) = status.get_details_bad_request() {
        for v in bad.field_violations {
            message.push_str(&format!("\n  {}: {}", v.field, v.description));
        }
    }
    anyhow!(message)
}

/// One line about a member after a change: `Bea Member <bea@acme.test>: Member, Pending`.
fn print_member_line(m: &staff::StaffMember) {
    let mut extra = Vec::new();
    if m.status == staff::StaffStatus::Pending as i32 {
        extra.push(format!(
            "{} invitation(s), last sent {}",
            m.invitation_count,
            table::time_utc(m.last_invited_at.as_ref())
        ));
    }
    if m.certification
        .as_ref()
        .is_some_and(|c| c.status != staff::CertificationStatus::NotCertified as i32)
    {
        extra.push(certification_title(m));
    }
    let extra: String = extra.iter().map(|e| format!(", {e}")).collect();
    println!(
        "{} <{}>: {}, {}{extra}",
        m.name,
        m.email,
        role_title(m.practice_role),
        status_title(m.status)
    );
}

/// The detail view of `staff get`.
async fn print_member(caller: &mut Caller, m: &staff::StaffMember) {
    caller.learn_locations().await;
    let names = &caller.names;
    let mut d = Details::default();
    d.field("Name", m.name.clone())
        .field("E-mail", m.email.clone())
        .field("Role", role_title(m.practice_role))
        .field(
            "Status",
            format!(
                "{} since {}",
                status_title(m.status),
                table::time_utc(m.status_changed_at.as_ref())
            ),
        )
        .field("Staff id", m.id.clone())
        .field(
            "User id",
            if m.user_id.is_empty() {
                "none yet (the invitation is not accepted)".to_owned()
            } else {
                m.user_id.clone()
            },
        );
    invitation_fields(&mut d, m);
    let primary = if m.primary_location_id.is_empty() {
        "-".to_owned()
    } else {
        names.location(&m.primary_location_id)
    };
    d.field(
        "External agent",
        if m.external_agent { "yes" } else { "no" },
    )
    .field("Primary location", primary)
    .field("Locations", names.locations(&m.location_ids))
    .field("Certification", certification_title(m));
    provider_fields(&mut d, m.provider.clone().unwrap_or_default());
    print!("{}", d.render());
}

/// `staff get`'s lines about the member's invitations: when and by whom, how many, and the
/// last one's failure when it was not delivered.
fn invitation_fields(d: &mut Details, m: &staff::StaffMember) {
    d.field(
        "Invited",
        format!(
            "{} by {}",
            table::time_utc(m.invited_at.as_ref()),
            if m.invited_by_name.is_empty() {
                "-"
            } else {
                m.invited_by_name.as_str()
            }
        ),
    )
    .field(
        "Invitations",
        format!(
            "{} sent, the last {}",
            m.invitation_count,
            table::time_utc(m.last_invited_at.as_ref())
        ),
    );
    if m.invitation_failed_at.is_some() {
        d.field(
            "Not delivered",
            format!(
                "{}: {} (reinvite to try again)",
                table::time_utc(m.invitation_failed_at.as_ref()),
                m.invitation_failure
            ),
        );
    }
}

/// `staff get`'s provider profile; a number that is not set (0) shows as empty.
fn provider_fields(d: &mut Details, provider: staff::ProviderProfile) {
    let number = |n: u32, unit: &str| {
        if n == 0 {
            String::new()
        } else {
            format!("{n}{unit}")
        }
    };
    d.field("NPI", provider.npi)
        .field("Taxonomy code", provider.taxonomy_code)
        .field(
            "Capacity",
            number(provider.capacity, " concurrent appointment(s)"),
        )
        .field(
            "Scheduling step",
            number(provider.scheduling_step_minutes, " minutes"),
        )
        .field("Bio", provider.bio);
}

fn print_location(verb: &str, l: &staff::Location) {
    println!(
        "{verb} location {}{}  {}",
        l.name,
        if l.archived { " (archived)" } else { "" },
        l.id
    );
}

pub(crate) async fn main() -> ExitCode {
    let cli = Cli::parse();
    let _ = crate::session::CLIENT_TLS.set(ps_auth::ClientTlsSettings {
        ca_file: cli.ca_file.clone(),
        cert_file: cli.cert_file.clone(),
        key_file: cli.key_file.clone(),
    });
    match run(&cli).await {
        Ok(()) => ExitCode::SUCCESS,
        Err(err) => {
            eprintln!("error: {err:#}");
            ExitCode::FAILURE
        }
    }
}

/// The practices a sign-in may choose from, when identity answered that one must be chosen.
fn practice_choices(status: &tonic::Status) -> Option<Vec<identity::MyPractice>> {
    use prost::Message;
    if status.code() != tonic::Code::InvalidArgument {
        return None;
    }
    tonic_types::pb::Status::decode(status.details())
        .ok()?
        .details
        .iter()
        .find_map(|any| any.to_msg::<identity::PracticeChoices>().ok())
        .map(|choices| choices.practices)
}

/// Where a script signs in without `--practice` to an account active in several.
fn several_practices(choices: &[identity::MyPractice]) -> anyhow::Error {
    let names: Vec<String> = choices
        .iter()
        .map(|p| format!("  {} ({})", p.practice_name, role_title(p.practice_role)))
        .collect();
    anyhow!(
        "you are active in several practices; say which with --practice NAME:\n{}",
        names.join("\n")
    )
}

/// Who is signed in, by name, for the sign-in line: `Olive Owner <olive@acme.test> in Acme
/// Accounting`. What cannot be looked up falls back to what the person typed or the ids.
async fn signed_in_as(caller: &mut Caller, email: &str) -> (String, String) {
    let mut who = email.to_owned();
    let mut practice = caller.session.practice_id.clone();
    let Ok(mut identity) = caller.identity().await else {
        return (who, practice);
    };
    let Ok(mine) = identity
        .list_my_practices(identity::ListMyPracticesRequest {})
        .await
    else {
        return (who, practice);
    };
    let Some(current) = mine.into_inner().practices.into_iter().find(|p| p.current) else {
        return (who, practice);
    };
    practice = current.practice_name;
    if let Ok(mut directory) = caller.staff().await
        && let Ok(me) = directory
            .get_staff(staff::GetStaffRequest {
                staff_id: current.staff_id,
            })
            .await
    {
        let me = me.into_inner();
        who = format!("{} <{}>", me.name, me.email);
    }
    (who, practice)
}

/// Runs the command given; each command, or group of subcommands, has its own function.
async fn run(cli: &Cli) -> Result<()> {
    match &cli.command {
        Command::Bootstrap {
            practice,
            owner_email,
            owner_name,
            operator_token: given,
            operator_token_file,
        } => {
            let token = operator_token(given.as_deref(), operator_token_file)?;
            bootstrap(&cli.staff_url, &token, practice, owner_email, owner_name).await
        }
        Command::SignIn {
            email,
            practice,
            password_stdin,
        } => sign_in(cli, email, practice.as_deref(), *password_stdin).await,
        Command::SignOut => sign_out(cli).await,
        Command::Practices => practices(&mut cli.caller().await?).await,
        Command::Switch { practice } => switch(cli, practice).await,
        Command::Password { command } => password(&cli.identity_url, command).await,
        Command::Practice { command } => practice(&mut cli.caller().await?, command).await,
        Command::Invite(args) => invite(&mut cli.caller().await?, args).await,
        Command::Staff { command } => staff_command(&mut cli.caller().await?, command).await,
        Command::Locations { command } => locations(&mut cli.caller().await?, command).await,
        Command::Certification { command } => {
            certification(&mut cli.caller().await?, command).await
        }
        Command::Audit { staff: about } => audit(&mut cli.caller().await?, about.as_deref()).await,
        Command::Invitation { command } => invitation(&cli.identity_url, command).await,
        Command::Orgs { command } => org::orgs(&mut cli.caller().await?, command).await,
        Command::Workflows { command } => org::workflows(&mut cli.caller().await?, command).await,
        Command::Roles { command } => org::roles(&mut cli.caller().await?, command).await,
        Command::Access { command } => org::access(&mut cli.caller().await?, command).await,
        Command::OrgInvitations { command } => {
            org::invitations(&mut cli.caller().await?, command).await
        }
        Command::Offboard(args) => offboard::offboard(&mut cli.caller().await?, args).await,
        Command::Offboardings { command } => {
            offboard::offboardings(&mut cli.caller().await?, command).await
        }
        Command::ServiceAccounts { manager, command } => {
            crate::service_accounts::run(&cli.addresses(), &cli.session_path(), manager, command)
                .await
        }
        Command::Deliveries { recipient } => {
            deliveries(&mut cli.caller().await?, recipient.as_deref()).await
        }
    }
}

/// The operator credential: `given`, or else the contents of `file` (trimmed).
pub(crate) fn operator_token(given: Option<&str>, file: &Path) -> Result<String> {
    Ok(match given {
        Some(token) => token.to_owned(),
        None => std::fs::read_to_string(file)
            .with_context(|| format!("reading the operator token from {}", file.display()))?
            .trim()
            .to_owned(),
    })
}

/// `bootstrap`: creates the practice with the operator credential and invites its owner.
async fn bootstrap(
    staff_url: &str,
    token: &str,
    practice: &str,
    owner_email: &str,
    owner_name: &str,
) -> Result<()> {
    let mut client = StaffDirectoryServiceClient::with_interceptor(
        channel("staff-directory", staff_url).await?,
        Credential::operator(token)?,
    );
    let reply = client
        .create_practice(staff::CreatePracticeRequest {
            request_id: request_id(),
            name: practice.to_owned(),
            owner_email: owner_email.to_owned(),
            owner_name: owner_name.to_owned(),
        })
        .await
        .map_err(status_error)?
        .into_inner();
    let created = reply.practice.unwrap_or_default();
    println!("created practice {}", created.name);
    if let Some(owner) = reply.owner {
        println!(
            "invited its Account Owner {} <{}>: the invitation e-mail is on its way (see the mail folder)",
            owner.name, owner.email
        );
    }
    Ok(())
}

/// `sign-in`: signs in (choosing the practice when the account is active in several), checks
/// the practice asked for, and saves the session.
async fn sign_in(
    cli: &Cli,
    email: &str,
    practice: Option<&str>,
    password_stdin: bool,
) -> Result<()> {
    let mut client = IdentityServiceClient::new(channel("identity", &cli.identity_url).await?);
    let password = prompt::password(password_stdin, "Password: ")?;
    let typed = practice.map(str::trim);
    let reply = sign_in_reply(&mut client, email, &password, typed, password_stdin).await?;
    let role = role_title(reply.practice_role);
    let mut caller = Caller::new(cli.addresses(), Session::from_sign_in(reply))?;
    if let Some(typed) = typed
        && let Err(err) = caller.my_practice(typed).await
    {
        // Active in one practice only, and not the one asked for: that session ends
        // unsaved, and a session saved before stays as it was.
        let _ = caller
            .identity()
            .await?
            .sign_out(identity::SignOutRequest {})
            .await;
        return Err(err);
    }
    caller.session.save(&cli.session_path())?;
    let (who, practice) = signed_in_as(&mut caller, email).await;
    println!("signed in as {who} in {practice} ({role})");
    Ok(())
}

/// Identity's answer to a sign-in: asked with the practice typed when it is an id, and asked
/// again with the practice chosen (by its name as typed, at the prompt, or not at all in a
/// script) when identity answers that the account is active in several.
async fn sign_in_reply(
    client: &mut IdentityServiceClient<tonic::transport::Channel>,
    email: &str,
    password: &str,
    typed: Option<&str>,
    password_stdin: bool,
) -> Result<identity::SignInResponse> {
    let request = |practice_id: &str| identity::SignInRequest {
        email: email.to_owned(),
        password: password.to_owned(),
        practice_id: practice_id.to_owned(),
    };
    let by_id = typed.filter(|t| table::is_id(t)).unwrap_or_default();
    match client.sign_in(request(by_id)).await {
        Ok(reply) => Ok(reply.into_inner()),
        Err(status) => {
            let Some(choices) = practice_choices(&status) else {
                return Err(status_error(status));
            };
            let chosen = match typed {
                Some(typed) => crate::resolve::choose_practice(typed, choices)?,
                None if !password_stdin && prompt::interactive() => {
                    prompt::choose_practice(choices)?
                }
                None => return Err(several_practices(&choices)),
            };
            Ok(client
                .sign_in(request(&chosen.practice_id))
                .await
                .map_err(status_error)?
                .into_inner())
        }
    }
}

/// `sign-out`: ends the session at identity and forgets it here.
async fn sign_out(cli: &Cli) -> Result<()> {
    let mut caller = cli.caller().await?;
    caller
        .identity()
        .await?
        .sign_out(identity::SignOutRequest {})
        .await
        .map_err(status_error)?;
    let _ = std::fs::remove_file(cli.session_path());
    println!("signed out");
    Ok(())
}

/// `practices`: the practices you are active in, the current one starred.
async fn practices(caller: &mut Caller) -> Result<()> {
    let reply = caller
        .identity()
        .await?
        .list_my_practices(identity::ListMyPracticesRequest {})
        .await
        .map_err(status_error)?
        .into_inner();
    let mut listing = Table::new(&["", "PRACTICE", "YOUR ROLE", "ID"]);
    for p in reply.practices {
        listing.row([
            if p.current { "*" } else { "" }.to_owned(),
            p.practice_name,
            role_title(p.practice_role).to_owned(),
            p.practice_id,
        ]);
    }
    listing.print("you are not active in any practice");
    Ok(())
}

/// `switch`: a session in another practice of yours, saved in place of this one.
async fn switch(cli: &Cli, practice: &str) -> Result<()> {
    let mut caller = cli.caller().await?;
    let chosen = caller.my_practice(practice).await?;
    let reply = caller
        .identity()
        .await?
        .switch_practice(identity::SwitchPracticeRequest {
            practice_id: chosen.practice_id.clone(),
        })
        .await
        .map_err(status_error)?
        .into_inner();
    println!(
        "now in {} ({})",
        chosen.practice_name,
        role_title(reply.practice_role)
    );
    Session::from_sign_in(reply).save(&cli.session_path())?;
    Ok(())
}

/// `password forgot` and `password reset` (no session needed).
async fn password(identity_url: &str, command: &PasswordCommand) -> Result<()> {
    let mut client = IdentityServiceClient::new(channel("identity", identity_url).await?);
    match command {
        PasswordCommand::Forgot { email } => {
            client
                .request_password_reset(identity::RequestPasswordResetRequest {
                    email: email.clone(),
                })
                .await
                .map_err(status_error)?;
            println!("if {email} has an account, a reset link is on its way");
        }
        PasswordCommand::Reset {
            token,
            password_stdin,
        } => {
            let token = invitation_token(token).map_err(anyhow::Error::msg)?;
            let password = prompt::new_password(*password_stdin)?;
            client
                .reset_password(identity::ResetPasswordRequest {
                    token,
                    new_password: password,
                })
                .await
                .map_err(status_error)?;
            println!("password changed; every session was signed out");
        }
    }
    Ok(())
}

/// `practice show` and `practice require-location`: both print the practice as it is after.
async fn practice(caller: &mut Caller, command: &PracticeCommand) -> Result<()> {
    let mut client = caller.staff().await?;
    let practice = match command {
        PracticeCommand::Show => client.get_practice(staff::GetPracticeRequest {}).await,
        PracticeCommand::RequireLocation { required } => {
            client
                .update_practice_settings(staff::UpdatePracticeSettingsRequest {
                    settings: Some(staff::PracticeSettings {
                        require_location_for_invites: *required,
                    }),
                })
                .await
        }
    }
    .map_err(status_error)?
    .into_inner();
    let required = practice
        .settings
        .is_some_and(|s| s.require_location_for_invites);
    let mut d = Details::default();
    d.field("Practice", practice.name)
        .field("Created", table::time_utc(practice.created_at.as_ref()))
        .field(
            "Invitations need a location",
            if required { "yes" } else { "no" },
        )
        .field("Id", practice.id);
    print!("{}", d.render());
    Ok(())
}

/// `invite`: invites someone to the practice, locations given by name or id.
async fn invite(caller: &mut Caller, args: &InviteArgs) -> Result<()> {
    let InviteArgs {
        email,
        name,
        role,
        primary_location,
        locations,
        external_agent,
    } = args;
    let primary_location_id = match primary_location {
        Some(l) => caller.location_id(l).await?,
        None => String::new(),
    };
    let location_ids = caller.location_ids(locations).await?;
    let member = caller
        .staff()
        .await?
        .invite_staff(staff::InviteStaffRequest {
            request_id: request_id(),
            email: email.clone(),
            name: name.clone(),
            practice_role: PracticeRole::from(*role) as i32,
            primary_location_id,
            location_ids,
            external_agent: *external_agent,
        })
        .await
        .map_err(status_error)?
        .into_inner();
    println!(
        "invited {} <{}> as {}: the invitation e-mail is on its way",
        member.name,
        member.email,
        role_title(member.practice_role)
    );
    Ok(())
}

/// `locations list|create|rename|archive`.
async fn locations(caller: &mut Caller, command: &LocationCommand) -> Result<()> {
    let mut client = caller.staff().await?;
    match command {
        LocationCommand::List { all } => {
            let reply = client
                .list_locations(staff::ListLocationsRequest {
                    include_archived: *all,
                })
                .await
                .map_err(status_error)?
                .into_inner();
            let mut listing = Table::new(&["NAME", "STATUS", "ID"]);
            for l in reply.locations {
                listing.row([
                    l.name,
                    if l.archived { "archived" } else { "active" }.to_owned(),
                    l.id,
                ]);
            }
            listing.print("no locations");
        }
        LocationCommand::Create { name } => {
            let created = client
                .create_location(staff::CreateLocationRequest {
                    name: name.clone(),
                    request_id: request_id(),
                })
                .await
                .map_err(status_error)?
                .into_inner();
            print_location("created", &created);
        }
        LocationCommand::Rename { location, name } => {
            let location_id = caller.location_id(location).await?;
            let renamed = client
                .rename_location(staff::RenameLocationRequest {
                    location_id,
                    name: name.clone(),
                })
                .await
                .map_err(status_error)?
                .into_inner();
            print_location("renamed", &renamed);
        }
        LocationCommand::Archive { location } => {
            let location_id = caller.location_id(location).await?;
            let archived = client
                .archive_location(staff::ArchiveLocationRequest { location_id })
                .await
                .map_err(status_error)?
                .into_inner();
            print_location("archived", &archived);
        }
    }
    Ok(())
}

/// `certification invite|record|download`.
async fn certification(caller: &mut Caller, command: &CertificationCommand) -> Result<()> {
    let mut client = caller.staff().await?;
    match command {
        CertificationCommand::Invite { staff: typed } => {
            let staff_id = caller.staff_id(typed).await?;
            let member = client
                .invite_to_certification(staff::InviteToCertificationRequest {
                    request_id: request_id(),
                    staff_id,
                })
                .await
                .map_err(status_error)?
                .into_inner();
            print_member_line(&member);
        }
        CertificationCommand::Record {
            staff: typed,
            number,
            date,
        } => {
            let staff_id = caller.staff_id(typed).await?;
            let certified_at = date
                .and_then(|d| d.and_hms_opt(12, 0, 0))
                .map(|d| ps_proto::convert::timestamp(d.and_utc()));
            let member = client
                .record_certification(staff::RecordCertificationRequest {
                    staff_id,
                    certified_at,
                    certificate_number: number.clone(),
                })
                .await
                .map_err(status_error)?
                .into_inner();
            print_member_line(&member);
        }
        CertificationCommand::Download { staff: typed, out } => {
            let staff_id = caller.staff_id(typed).await?;
            let certificate = client
                .download_certificate(staff::DownloadCertificateRequest { staff_id })
                .await
                .map_err(status_error)?
                .into_inner();
            let path = out
                .clone()
                .unwrap_or_else(|| PathBuf::from(&certificate.file_name));
            std::fs::write(&path, &certificate.content)
                .with_context(|| format!("writing {}", path.display()))?;
            println!(
                "saved {} ({} bytes)",
                path.display(),
                certificate.content.len()
            );
        }
    }
    Ok(())
}

/// `audit`: the practice's audit events, newest first, optionally about one member.
async fn audit(caller: &mut Caller, about: Option<&str>) -> Result<()> {
    let staff_id = match about {
        Some(s) => caller.staff_id(s).await?,
        None => String::new(),
    };
    let events = caller
        .staff()
        .await?
        .list_audit_events(staff::ListAuditEventsRequest {
            page: Some(PageRequest {
                page_size: 200,
                page_token: String::new(),
            }),
            staff_id,
        })
        .await
        .map_err(status_error)?
        .into_inner()
        .events;
    print_audit(caller, &events).await;
    Ok(())
}

/// The audit events as a table, every id they mention by name.
async fn print_audit(caller: &mut Caller, events: &[staff::AuditEvent]) {
    caller.learn_locations().await;
    let mentioned = table::ids_mentioned(events.iter().map(|e| {
        (
            e.before.as_str(),
            e.after.as_str(),
            e.target_staff_id.as_str(),
        )
    }));
    caller
        .learn_staff(mentioned.iter().map(String::as_str))
        .await;
    let names = &caller.names;
    let mut listing = Table::new(&["TIME (UTC)", "WHO", "ACTION", "ABOUT", "CHANGE"]);
    for e in events {
        let about = if !e.target_staff_id.is_empty() {
            names.staff(&e.target_staff_id)
        } else if !e.target_location_id.is_empty() {
            names.location(&e.target_location_id)
        } else {
            String::new()
        };
        listing.row([
            table::time(e.occurred_at.as_ref()),
            e.actor_name.clone(),
            e.action.clone(),
            about,
            table::change(&e.before, &e.after, &|id| names.any(id)),
        ]);
    }
    listing.print("nothing happened yet");
}

/// `invitation show|accept|decline` (no session needed: the token is the proof).
async fn invitation(identity_url: &str, command: &InvitationCommand) -> Result<()> {
    let mut client = IdentityServiceClient::new(channel("identity", identity_url).await?);
    match command {
        InvitationCommand::Show { token } => show_invitation(&mut client, token).await?,
        InvitationCommand::Accept {
            token,
            password_stdin,
        } => accept_invitation(&mut client, token, *password_stdin).await?,
        InvitationCommand::Decline { token } => {
            client
                .decline_invitation(identity::DeclineInvitationRequest {
                    token: invitation_token(token).map_err(anyhow::Error::msg)?,
                })
                .await
                .map_err(status_error)?;
            println!("declined");
        }
    }
    Ok(())
}

/// `invitation show`: who invited whom to what, and until when the link works.
async fn show_invitation(
    client: &mut IdentityServiceClient<tonic::transport::Channel>,
    token: &str,
) -> Result<()> {
    let invitation = client
        .get_invitation(identity::GetInvitationRequest {
            token: invitation_token(token).map_err(anyhow::Error::msg)?,
        })
        .await
        .map_err(status_error)?
        .into_inner();
    println!(
        "{} invited {} <{}> to {} as {}; the link works until {}",
        invitation.inviter_name,
        invitation.invitee_name,
        invitation.email,
        invitation.practice_name,
        role_title(invitation.practice_role),
        table::time_utc(invitation.expires_at.as_ref())
    );
    if invitation.existing_account {
        println!("you already have an account: accept with its password");
    }
    Ok(())
}

/// `invitation accept`: a new account chooses its password, an existing one gives its own.
async fn accept_invitation(
    client: &mut IdentityServiceClient<tonic::transport::Channel>,
    token: &str,
    password_stdin: bool,
) -> Result<()> {
    let token = invitation_token(token).map_err(anyhow::Error::msg)?;
    let invitation = client
        .get_invitation(identity::GetInvitationRequest {
            token: token.clone(),
        })
        .await
        .map_err(status_error)?
        .into_inner();
    let password = if invitation.existing_account {
        prompt::password(
            password_stdin,
            "You already have an account; its password: ",
        )?
    } else {
        prompt::new_password(password_stdin)?
    };
    client
        .accept_invitation(identity::AcceptInvitationRequest { token, password })
        .await
        .map_err(status_error)?;
    println!(
        "accepted: {} <{}> can now sign in to {} (staffctl sign-in --email {})",
        invitation.invitee_name, invitation.email, invitation.practice_name, invitation.email
    );
    Ok(())
}

/// `deliveries`: the e-mails sent for the practice, optionally to one address.
async fn deliveries(caller: &mut Caller, recipient: Option<&str>) -> Result<()> {
    let page = caller
        .notification()
        .await?
        .list_deliveries(notification::ListDeliveriesRequest {
            page: Some(PageRequest {
                page_size: 200,
                page_token: String::new(),
            }),
            recipient: recipient.unwrap_or_default().to_owned(),
        })
        .await
        .map_err(status_error)?
        .into_inner();
    let mut listing = Table::new(&["TIME (UTC)", "STATUS", "TO", "SUBJECT", "NOTE"]);
    for d in page.deliveries {
        let status = notification::DeliveryStatus::try_from(d.status)
            .map(|s| {
                s.as_str_name()
                    .trim_start_matches("DELIVERY_STATUS_")
                    .to_lowercase()
            })
            .unwrap_or_default();
        let note = if d.last_error.is_empty() {
            String::new()
        } else {
            format!("{} attempt(s): {}", d.attempts, d.last_error)
        };
        listing.row([
            table::time(d.sent_at.as_ref().or(d.created_at.as_ref())),
            status,
            d.recipient,
            d.subject,
            note,
        ]);
    }
    listing.print("no e-mails yet");
    Ok(())
}

/// `staff list`: every member matching the filters, page after page.
async fn list_staff(caller: &mut Caller, filters: &StaffFilters) -> Result<()> {
    let location_id = match &filters.location {
        Some(l) => caller.location_id(l).await?,
        None => String::new(),
    };
    caller.learn_locations().await;
    let mut client = caller.staff().await?;
    let mut listing = Table::new(&[
        "NAME",
        "E-MAIL",
        "ROLE",
        "STATUS",
        "CERTIFICATION",
        "LOCATIONS",
        "NOTES",
    ]);
    let mut token = String::new();
    loop {
        let page = client
            .list_staff(filters.request(&location_id, &token))
            .await
            .map_err(status_error)?
            .into_inner();
        for m in &page.staff {
            listing.row(staff_row(caller, m));
        }
        if page.next_page_token.is_empty() {
            break;
        }
        token = page.next_page_token;
    }
    listing.print("nobody matches");
    Ok(())
}

impl StaffFilters {
    /// The request for one page (`page_token`) of the members matching, the location already
    /// an id.
    fn request(&self, location_id: &str, page_token: &str) -> staff::ListStaffRequest {
        staff::ListStaffRequest {
            page: Some(PageRequest {
                page_size: 200,
                page_token: page_token.to_owned(),
            }),
            statuses: self
                .status
                .iter()
                .map(|s| staff::StaffStatus::from(*s) as i32)
                .collect(),
            practice_roles: self
                .role
                .iter()
                .map(|r| PracticeRole::from(*r) as i32)
                .collect(),
            location_id: location_id.to_owned(),
            certification_statuses: self
                .certification
                .iter()
                .map(|c| staff::CertificationStatus::from(*c) as i32)
                .collect(),
            external_agent: match self.external_agent {
                None => staff::ExternalAgentFilter::Unspecified,
                Some(true) => staff::ExternalAgentFilter::Only,
                Some(false) => staff::ExternalAgentFilter::Exclude,
            } as i32,
            query: self.query.clone().unwrap_or_default(),
        }
    }
}

/// One member's row of `staff list`.
fn staff_row(caller: &Caller, m: &staff::StaffMember) -> [String; 7] {
    let mut notes = Vec::new();
    if m.external_agent {
        notes.push("external agent".to_owned());
    }
    if m.status == staff::StaffStatus::Pending as i32 {
        notes.push(format!("{} invitation(s)", m.invitation_count));
    }
    if m.invitation_failed_at.is_some() {
        notes.push("invitation not delivered".to_owned());
    }
    [
        m.name.clone(),
        m.email.clone(),
        role_title(m.practice_role).to_owned(),
        status_title(m.status).to_owned(),
        certification_title(m),
        caller.names.locations(&m.location_ids),
        notes.join(", "),
    ]
}

/// `staff list|get|reinvite|update|role|remove|deactivate|reactivate|locations`.
async fn staff_command(caller: &mut Caller, command: &StaffCommand) -> Result<()> {
    let mut client = caller.staff().await?;
    match command {
        StaffCommand::List(filters) => list_staff(caller, filters).await?,
        StaffCommand::Get { staff: typed } => {
            let member = caller.staff_member(typed).await?;
            print_member(caller, &member).await;
        }
        StaffCommand::Reinvite { staff: typed } => {
            let staff_id = caller.staff_id(typed).await?;
            let member = client
                .reinvite_staff(staff::ReinviteStaffRequest {
                    request_id: request_id(),
                    staff_id,
                })
                .await
                .map_err(status_error)?
                .into_inner();
            print_member_line(&member);
        }
        StaffCommand::Update(update) => update_staff(caller, &mut client, update).await?,
        StaffCommand::Role { staff: typed, role } => {
            let staff_id = caller.staff_id(typed).await?;
            let member = client
                .change_practice_role(staff::ChangePracticeRoleRequest {
                    staff_id,
                    practice_role: PracticeRole::from(*role) as i32,
                })
                .await
                .map_err(status_error)?
                .into_inner();
            print_member_line(&member);
        }
        StaffCommand::Remove { staff: typed } => {
            let staff_id = caller.staff_id(typed).await?;
            let member = client
                .remove_staff(staff::RemoveStaffRequest { staff_id })
                .await
                .map_err(status_error)?
                .into_inner();
            print_member_line(&member);
        }
        StaffCommand::Deactivate { staff: typed } => {
            let staff_id = caller.staff_id(typed).await?;
            let member = client
                .deactivate_staff(staff::DeactivateStaffRequest { staff_id })
                .await
                .map_err(status_error)?
                .into_inner();
            print_member_line(&member);
        }
        StaffCommand::Reactivate { staff: typed } => {
            let staff_id = caller.staff_id(typed).await?;
            let member = client
                .reactivate_staff(staff::ReactivateStaffRequest { staff_id })
                .await
                .map_err(status_error)?
                .into_inner();
            print_member_line(&member);
        }
        StaffCommand::Locations {
            staff: typed,
            locations,
        } => set_staff_locations(caller, &mut client, typed, locations).await?,
    }
    Ok(())
}

/// `staff update`: changes the fields given, then shows the member.
async fn update_staff(
    caller: &mut Caller,
    client: &mut StaffClient,
    update: &StaffUpdateArgs,
) -> Result<()> {
    let staff_id = caller.staff_id(&update.staff).await?;
    let member = client
        .update_staff(update.request(staff_id))
        .await
        .map_err(status_error)?
        .into_inner();
    print_member(caller, &member).await;
    Ok(())
}

/// `staff locations`: the member may access these locations (names or ids) and no others;
/// then shows the member.
async fn set_staff_locations(
    caller: &mut Caller,
    client: &mut StaffClient,
    typed: &str,
    locations: &[String],
) -> Result<()> {
    let staff_id = caller.staff_id(typed).await?;
    let location_ids = caller.location_ids(locations).await?;
    let member = client
        .set_staff_locations(staff::SetStaffLocationsRequest {
            staff_id,
            location_ids,
        })
        .await
        .map_err(status_error)?
        .into_inner();
    print_member(caller, &member).await;
    Ok(())
}
