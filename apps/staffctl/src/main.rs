//! `staffctl`: Practice Staff from the command line.
//!
//! Sign-in keeps the session (access and refresh token) in a file readable only by you
//! (`--session`, default in your config directory); later commands use it and refresh the
//! access token when it is about to expire.

mod offboard;
mod org;

use std::io::BufRead;
use std::path::{Path, PathBuf};

use anyhow::{Context, Result, anyhow};
use chrono::{DateTime, Utc};
use clap::{Parser, Subcommand, ValueEnum};
use ps_auth::credentials::Credential;
use ps_proto::common::v1::{PageRequest, PracticeRole};
use ps_proto::identity::v1 as identity;
use ps_proto::identity::v1::identity_service_client::IdentityServiceClient;
use ps_proto::notification::v1 as notification;
use ps_proto::notification::v1::notification_service_client::NotificationServiceClient;
use ps_proto::staff::v1 as staff;
use ps_proto::staff::v1::staff_directory_service_client::StaffDirectoryServiceClient;
use serde::{Deserialize, Serialize};
use staffctl::invitation_token;
use tonic::service::interceptor::InterceptedService;
use tonic::transport::Channel;

#[derive(Parser)]
#[command(name = "staffctl", about = "Practice Staff from the command line")]
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
    #[command(subcommand)]
    command: Command,
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
        /// Needed when you belong to several practices.
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
    /// Act in another practice you belong to.
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
    Invite {
        #[arg(long)]
        email: String,
        #[arg(long)]
        name: String,
        #[arg(long, value_enum, default_value = "member")]
        role: Role,
        #[arg(long)]
        primary_location: Option<String>,
        /// Further locations (repeatable).
        #[arg(long = "location")]
        locations: Vec<String>,
        #[arg(long)]
        external_agent: bool,
    },
    /// Your practice's staff.
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
        /// Only events about this member.
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
    /// E-mails sent for your practice.
    Deliveries {
        /// Only those to this address.
        #[arg(long)]
        recipient: Option<String>,
    },
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
    List {
        #[arg(long, value_enum)]
        status: Vec<Status>,
        #[arg(long, value_enum)]
        role: Vec<Role>,
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
    },
    Get {
        staff_id: String,
    },
    /// Send a Pending member a new invitation (older links stop working).
    Reinvite {
        staff_id: String,
    },
    /// Change name, external-agent flag or provider profile; only the given fields change.
    /// An empty value clears a profile field.
    Update {
        staff_id: String,
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
    },
    /// Change a member's practice role (Account Owner).
    Role {
        staff_id: String,
        #[arg(long, value_enum)]
        role: Role,
    },
    Remove {
        staff_id: String,
    },
    Deactivate {
        staff_id: String,
    },
    Reactivate {
        staff_id: String,
    },
    /// Set the locations a member may access (repeat --location).
    Locations {
        staff_id: String,
        #[arg(long = "location")]
        locations: Vec<String>,
    },
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
    Rename {
        location_id: String,
        name: String,
    },
    Archive {
        location_id: String,
    },
}

#[derive(Subcommand)]
enum CertificationCommand {
    /// E-mail a member an invitation to certify.
    Invite { staff_id: String },
    /// Record a completed certification (Account Owner).
    Record {
        staff_id: String,
        #[arg(long)]
        number: String,
        /// When it was completed, YYYY-MM-DD (default: now).
        #[arg(long)]
        date: Option<chrono::NaiveDate>,
    },
    /// Save the member's certificate (PDF).
    Download {
        staff_id: String,
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

#[derive(Serialize, Deserialize)]
struct Session {
    access_token: String,
    access_expires_at: DateTime<Utc>,
    refresh_token: String,
    practice_id: String,
    user_id: String,
}

/// A fresh request id for a creating request (AIP-155): the service answers a repeated one
/// with what the first created, so a retried command never creates twice.
pub(crate) fn request_id() -> String {
    uuid::Uuid::now_v7().to_string()
}

fn session_path(cli: &Cli) -> PathBuf {
    cli.session.clone().unwrap_or_else(|| {
        dirs::config_dir()
            .unwrap_or_else(|| PathBuf::from("."))
            .join("staffctl")
            .join("session.json")
    })
}

fn save_session(path: &Path, session: &Session) -> Result<()> {
    if let Some(dir) = path.parent() {
        std::fs::create_dir_all(dir)?;
    }
    std::fs::write(path, serde_json::to_vec_pretty(session)?)?;
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        std::fs::set_permissions(path, std::fs::Permissions::from_mode(0o600))?;
    }
    Ok(())
}

fn session_from(reply: identity::SignInResponse) -> Session {
    let expires = reply
        .access_token_expires_at
        .as_ref()
        .and_then(ps_proto::convert::from_timestamp)
        .unwrap_or_else(Utc::now);
    Session {
        access_token: reply.access_token,
        access_expires_at: expires,
        refresh_token: reply.refresh_token,
        practice_id: reply.practice_id,
        user_id: reply.user_id,
    }
}

async fn channel(url: &str) -> Result<Channel> {
    Channel::from_shared(url.to_owned())?
        .connect()
        .await
        .with_context(|| format!("connecting to {url}"))
}

/// The current session, refreshed when its access token is about to expire.
async fn signed_in(cli: &Cli) -> Result<Session> {
    let path = session_path(cli);
    let raw = std::fs::read(&path)
        .map_err(|_| anyhow!("not signed in; run `staffctl sign-in --email …`"))?;
    let session: Session = serde_json::from_slice(&raw).context("reading the saved session")?;
    if session.access_expires_at > Utc::now() + chrono::Duration::seconds(30) {
        return Ok(session);
    }
    let mut client = IdentityServiceClient::new(channel(&cli.identity_url).await?);
    let reply = client
        .refresh(identity::RefreshRequest {
            refresh_token: session.refresh_token,
        })
        .await
        .map_err(|s| anyhow!("session ended ({}); sign in again", s.message()))?
        .into_inner();
    let session = session_from(reply);
    save_session(&path, &session)?;
    Ok(session)
}

async fn as_user<C>(
    cli: &Cli,
    url: &str,
    make: impl FnOnce(InterceptedService<Channel, Credential>) -> C,
) -> Result<C> {
    let session = signed_in(cli).await?;
    let credential = Credential::bearer(&session.access_token)?;
    Ok(make(InterceptedService::new(
        channel(url).await?,
        credential,
    )))
}

fn read_password(from_stdin: bool, prompt: &str) -> Result<String> {
    if from_stdin {
        let mut line = String::new();
        std::io::stdin().lock().read_line(&mut line)?;
        Ok(line.trim_end_matches(['\r', '\n']).to_owned())
    } else {
        Ok(rpassword::prompt_password(prompt)?)
    }
}

fn role_title(value: i32) -> &'static str {
    match PracticeRole::try_from(value) {
        Ok(PracticeRole::AccountOwner) => "Account Owner",
        Ok(PracticeRole::AccountManager) => "Account Manager",
        Ok(PracticeRole::UserManager) => "User Manager",
        Ok(PracticeRole::Member) => "Member",
        _ => "?",
    }
}

fn status_title(value: i32) -> &'static str {
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
        return String::new();
    };
    match staff::CertificationStatus::try_from(c.status) {
        Ok(staff::CertificationStatus::Certified) => {
            let date = c
                .certified_at
                .as_ref()
                .and_then(ps_proto::convert::from_timestamp)
                .map(|d| d.format(" %Y-%m-%d").to_string())
                .unwrap_or_default();
            format!("certified{date} #{}", c.certificate_number)
        }
        Ok(staff::CertificationStatus::Invited) => "certification invited".into(),
        _ => String::new(),
    }
}

fn print_member(m: &staff::StaffMember) {
    let mut extra = Vec::new();
    if m.external_agent {
        extra.push("external agent".to_owned());
    }
    if m.invitation_count > 1 {
        extra.push(format!("{} invitations", m.invitation_count));
    }
    let certification = certification_title(m);
    if !certification.is_empty() {
        extra.push(certification);
    }
    if !m.location_ids.is_empty() {
        extra.push(format!("{} location(s)", m.location_ids.len()));
    }
    let extra = if extra.is_empty() {
        String::new()
    } else {
        format!("  [{}]", extra.join(", "))
    };
    println!(
        "{}  {:<11}  {:<15}  {} <{}>{extra}",
        m.id,
        status_title(m.status),
        role_title(m.practice_role),
        m.name,
        m.email
    );
}

fn print_location(l: &staff::Location) {
    println!(
        "{}  {}{}",
        l.id,
        l.name,
        if l.archived { "  (archived)" } else { "" }
    );
}

async fn org_client(
    cli: &Cli,
) -> Result<
    ps_proto::orgaccess::v1::org_access_service_client::OrgAccessServiceClient<
        InterceptedService<Channel, Credential>,
    >,
> {
    as_user(
        cli,
        &cli.org_access_url,
        ps_proto::orgaccess::v1::org_access_service_client::OrgAccessServiceClient::new,
    )
    .await
}

fn status_error(status: tonic::Status) -> anyhow::Error {
    use tonic_types::StatusExt;
    let mut message = format!("{:?}: {}", status.code(), status.message());
    if let Some(bad) = status.get_details_bad_request() {
        for v in bad.field_violations {
            message.push_str(&format!("\n  {}: {}", v.field, v.description));
        }
    }
    anyhow!(message)
}

#[tokio::main]
async fn main() -> std::process::ExitCode {
    let cli = Cli::parse();
    match run(&cli).await {
        Ok(()) => std::process::ExitCode::SUCCESS,
        Err(err) => {
            eprintln!("error: {err:#}");
            std::process::ExitCode::FAILURE
        }
    }
}

async fn run(cli: &Cli) -> Result<()> {
    match &cli.command {
        Command::Bootstrap {
            practice,
            owner_email,
            owner_name,
            operator_token,
            operator_token_file,
        } => {
            let token = match operator_token {
                Some(token) => token.clone(),
                None => std::fs::read_to_string(operator_token_file)
                    .with_context(|| {
                        format!(
                            "reading the operator token from {}",
                            operator_token_file.display()
                        )
                    })?
                    .trim()
                    .to_owned(),
            };
            let mut client = StaffDirectoryServiceClient::with_interceptor(
                channel(&cli.staff_url).await?,
                Credential::operator(&token)?,
            );
            let reply = client
                .create_practice(staff::CreatePracticeRequest {
                    request_id: request_id(),
                    name: practice.clone(),
                    owner_email: owner_email.clone(),
                    owner_name: owner_name.clone(),
                })
                .await
                .map_err(status_error)?
                .into_inner();
            let created = reply.practice.unwrap_or_default();
            println!("practice {} ({})", created.name, created.id);
            if let Some(owner) = reply.owner {
                print!("owner    ");
                print_member(&owner);
            }
            println!("The owner's invitation e-mail is on its way (see the mail folder).");
        }
        Command::SignIn {
            email,
            practice,
            password_stdin,
        } => {
            let password = read_password(*password_stdin, "Password: ")?;
            let mut client = IdentityServiceClient::new(channel(&cli.identity_url).await?);
            let reply = client
                .sign_in(identity::SignInRequest {
                    email: email.clone(),
                    password,
                    practice_id: practice.clone().unwrap_or_default(),
                })
                .await
                .map_err(status_error)?
                .into_inner();
            println!(
                "signed in as {} in practice {} ({})",
                reply.user_id,
                reply.practice_id,
                role_title(reply.practice_role)
            );
            save_session(&session_path(cli), &session_from(reply))?;
        }
        Command::SignOut => {
            let mut client = as_user(cli, &cli.identity_url, IdentityServiceClient::new).await?;
            client
                .sign_out(identity::SignOutRequest {})
                .await
                .map_err(status_error)?;
            let _ = std::fs::remove_file(session_path(cli));
            println!("signed out");
        }
        Command::Practices => {
            let mut client = as_user(cli, &cli.identity_url, IdentityServiceClient::new).await?;
            let reply = client
                .list_my_practices(identity::ListMyPracticesRequest {})
                .await
                .map_err(status_error)?
                .into_inner();
            for p in reply.practices {
                let marker = if p.current { "*" } else { " " };
                println!(
                    "{marker} {}  {:<15}  {}",
                    p.practice_id,
                    role_title(p.practice_role),
                    p.practice_name
                );
            }
        }
        Command::Switch { practice } => {
            let mut client = as_user(cli, &cli.identity_url, IdentityServiceClient::new).await?;
            let reply = client
                .switch_practice(identity::SwitchPracticeRequest {
                    practice_id: practice.clone(),
                })
                .await
                .map_err(status_error)?
                .into_inner();
            println!(
                "now in practice {} ({})",
                reply.practice_id,
                role_title(reply.practice_role)
            );
            save_session(&session_path(cli), &session_from(reply))?;
        }
        Command::Password { command } => {
            let mut client = IdentityServiceClient::new(channel(&cli.identity_url).await?);
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
                    let password =
                        read_password(*password_stdin, "New password (10+ characters): ")?;
                    client
                        .reset_password(identity::ResetPasswordRequest {
                            token: invitation_token(token).map_err(anyhow::Error::msg)?,
                            new_password: password,
                        })
                        .await
                        .map_err(status_error)?;
                    println!("password changed; every session was signed out");
                }
            }
        }
        Command::Practice { command } => {
            let mut client = as_user(cli, &cli.staff_url, StaffDirectoryServiceClient::new).await?;
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
            println!(
                "{}  {}  (location required for invites: {required})",
                practice.id, practice.name
            );
        }
        Command::Invite {
            email,
            name,
            role,
            primary_location,
            locations,
            external_agent,
        } => {
            let mut client = as_user(cli, &cli.staff_url, StaffDirectoryServiceClient::new).await?;
            let member = client
                .invite_staff(staff::InviteStaffRequest {
                    request_id: request_id(),
                    email: email.clone(),
                    name: name.clone(),
                    practice_role: PracticeRole::from(*role) as i32,
                    primary_location_id: primary_location.clone().unwrap_or_default(),
                    location_ids: locations.clone(),
                    external_agent: *external_agent,
                })
                .await
                .map_err(status_error)?
                .into_inner();
            print_member(&member);
        }
        Command::Staff { command } => staff_command(cli, command).await?,
        Command::Locations { command } => {
            let mut client = as_user(cli, &cli.staff_url, StaffDirectoryServiceClient::new).await?;
            match command {
                LocationCommand::List { all } => {
                    let reply = client
                        .list_locations(staff::ListLocationsRequest {
                            include_archived: *all,
                        })
                        .await
                        .map_err(status_error)?
                        .into_inner();
                    reply.locations.iter().for_each(print_location);
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
                    print_location(&created);
                }
                LocationCommand::Rename { location_id, name } => {
                    let renamed = client
                        .rename_location(staff::RenameLocationRequest {
                            location_id: location_id.clone(),
                            name: name.clone(),
                        })
                        .await
                        .map_err(status_error)?
                        .into_inner();
                    print_location(&renamed);
                }
                LocationCommand::Archive { location_id } => {
                    let archived = client
                        .archive_location(staff::ArchiveLocationRequest {
                            location_id: location_id.clone(),
                        })
                        .await
                        .map_err(status_error)?
                        .into_inner();
                    print_location(&archived);
                }
            }
        }
        Command::Certification { command } => {
            let mut client = as_user(cli, &cli.staff_url, StaffDirectoryServiceClient::new).await?;
            match command {
                CertificationCommand::Invite { staff_id } => {
                    let member = client
                        .invite_to_certification(staff::InviteToCertificationRequest {
                            request_id: request_id(),
                            staff_id: staff_id.clone(),
                        })
                        .await
                        .map_err(status_error)?
                        .into_inner();
                    print_member(&member);
                }
                CertificationCommand::Record {
                    staff_id,
                    number,
                    date,
                } => {
                    let certified_at = date
                        .and_then(|d| d.and_hms_opt(12, 0, 0))
                        .map(|d| ps_proto::convert::timestamp(d.and_utc()));
                    let member = client
                        .record_certification(staff::RecordCertificationRequest {
                            staff_id: staff_id.clone(),
                            certified_at,
                            certificate_number: number.clone(),
                        })
                        .await
                        .map_err(status_error)?
                        .into_inner();
                    print_member(&member);
                }
                CertificationCommand::Download { staff_id, out } => {
                    let certificate = client
                        .download_certificate(staff::DownloadCertificateRequest {
                            staff_id: staff_id.clone(),
                        })
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
        }
        Command::Audit { staff } => {
            let mut client = as_user(cli, &cli.staff_url, StaffDirectoryServiceClient::new).await?;
            let reply = client
                .list_audit_events(staff::ListAuditEventsRequest {
                    page: Some(PageRequest {
                        page_size: 200,
                        page_token: String::new(),
                    }),
                    staff_id: staff.clone().unwrap_or_default(),
                })
                .await
                .map_err(status_error)?
                .into_inner();
            for e in reply.events {
                let at = e
                    .occurred_at
                    .as_ref()
                    .and_then(ps_proto::convert::from_timestamp)
                    .map(|d| d.format("%Y-%m-%d %H:%M:%S").to_string())
                    .unwrap_or_default();
                let target = [e.target_staff_id, e.target_location_id]
                    .into_iter()
                    .find(|t| !t.is_empty())
                    .unwrap_or_default();
                println!(
                    "{at}  {:<26}  {:<20}  {target}  {} -> {}",
                    e.action, e.actor_name, e.before, e.after
                );
            }
        }
        Command::Invitation { command } => {
            let mut client = IdentityServiceClient::new(channel(&cli.identity_url).await?);
            match command {
                InvitationCommand::Show { token } => {
                    let invitation = client
                        .get_invitation(identity::GetInvitationRequest {
                            token: invitation_token(token).map_err(anyhow::Error::msg)?,
                        })
                        .await
                        .map_err(status_error)?
                        .into_inner();
                    println!(
                        "{} invited {} <{}> to {} as {}",
                        invitation.inviter_name,
                        invitation.invitee_name,
                        invitation.email,
                        invitation.practice_name,
                        role_title(invitation.practice_role)
                    );
                    if let Some(expires) = invitation
                        .expires_at
                        .as_ref()
                        .and_then(ps_proto::convert::from_timestamp)
                    {
                        println!("expires {expires}");
                    }
                    if invitation.existing_account {
                        println!("you already have an account: accept with its password");
                    }
                }
                InvitationCommand::Accept {
                    token,
                    password_stdin,
                } => {
                    let password =
                        read_password(*password_stdin, "Choose a password (10+ characters): ")?;
                    let accepted = client
                        .accept_invitation(identity::AcceptInvitationRequest {
                            token: invitation_token(token).map_err(anyhow::Error::msg)?,
                            password,
                        })
                        .await
                        .map_err(status_error)?
                        .into_inner();
                    println!(
                        "accepted: you can now sign in (practice {})",
                        accepted.practice_id
                    );
                }
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
        }
        Command::Orgs { command } => org::orgs(org_client(cli).await?, command).await?,
        Command::Workflows { command } => org::workflows(org_client(cli).await?, command).await?,
        Command::Roles { command } => org::roles(org_client(cli).await?, command).await?,
        Command::Access { command } => org::access(org_client(cli).await?, command).await?,
        Command::OrgInvitations { command } => {
            org::invitations(org_client(cli).await?, command).await?
        }
        Command::Offboard(args) => {
            let directory = as_user(cli, &cli.staff_url, StaffDirectoryServiceClient::new).await?;
            offboard::offboard(directory, org_client(cli).await?, args).await?
        }
        Command::Offboardings { command } => {
            let directory = as_user(cli, &cli.staff_url, StaffDirectoryServiceClient::new).await?;
            offboard::offboardings(directory, command).await?
        }
        Command::Deliveries { recipient } => {
            let mut client =
                as_user(cli, &cli.notification_url, NotificationServiceClient::new).await?;
            let page = client
                .list_deliveries(notification::ListDeliveriesRequest {
                    page: Some(PageRequest {
                        page_size: 200,
                        page_token: String::new(),
                    }),
                    recipient: recipient.clone().unwrap_or_default(),
                })
                .await
                .map_err(status_error)?
                .into_inner();
            for d in page.deliveries {
                let status = notification::DeliveryStatus::try_from(d.status)
                    .map(|s| {
                        s.as_str_name()
                            .trim_start_matches("DELIVERY_STATUS_")
                            .to_lowercase()
                    })
                    .unwrap_or_default();
                println!(
                    "{}  {:<7}  {:<24}  {}",
                    d.id, status, d.recipient, d.subject
                );
            }
        }
    }
    Ok(())
}

async fn staff_command(cli: &Cli, command: &StaffCommand) -> Result<()> {
    let mut client = as_user(cli, &cli.staff_url, StaffDirectoryServiceClient::new).await?;
    let id = |staff_id: &String| staff_id.clone();
    let member = match command {
        StaffCommand::List {
            status,
            role,
            location,
            certification,
            external_agent,
            query,
        } => {
            let mut token = String::new();
            loop {
                let page = client
                    .list_staff(staff::ListStaffRequest {
                        page: Some(PageRequest {
                            page_size: 200,
                            page_token: token.clone(),
                        }),
                        statuses: status
                            .iter()
                            .map(|s| staff::StaffStatus::from(*s) as i32)
                            .collect(),
                        practice_roles: role
                            .iter()
                            .map(|r| PracticeRole::from(*r) as i32)
                            .collect(),
                        location_id: location.clone().unwrap_or_default(),
                        certification_statuses: certification
                            .iter()
                            .map(|c| staff::CertificationStatus::from(*c) as i32)
                            .collect(),
                        external_agent: match external_agent {
                            None => staff::ExternalAgentFilter::Unspecified,
                            Some(true) => staff::ExternalAgentFilter::Only,
                            Some(false) => staff::ExternalAgentFilter::Exclude,
                        } as i32,
                        query: query.clone().unwrap_or_default(),
                    })
                    .await
                    .map_err(status_error)?
                    .into_inner();
                page.staff.iter().for_each(print_member);
                if page.next_page_token.is_empty() {
                    return Ok(());
                }
                token = page.next_page_token;
            }
        }
        StaffCommand::Get { staff_id } => {
            client
                .get_staff(staff::GetStaffRequest {
                    staff_id: id(staff_id),
                })
                .await
        }
        StaffCommand::Reinvite { staff_id } => {
            client
                .reinvite_staff(staff::ReinviteStaffRequest {
                    request_id: request_id(),
                    staff_id: id(staff_id),
                })
                .await
        }
        StaffCommand::Update {
            staff_id,
            name,
            external_agent,
            npi,
            taxonomy_code,
            bio,
            capacity,
            scheduling_step_minutes,
        } => {
            let mut paths = Vec::new();
            let mut add = |given: bool, path: &str| {
                if given {
                    paths.push(path.to_owned());
                }
            };
            add(name.is_some(), "name");
            add(external_agent.is_some(), "external_agent");
            add(npi.is_some(), "provider.npi");
            add(taxonomy_code.is_some(), "provider.taxonomy_code");
            add(bio.is_some(), "provider.bio");
            add(capacity.is_some(), "provider.capacity");
            add(
                scheduling_step_minutes.is_some(),
                "provider.scheduling_step_minutes",
            );
            client
                .update_staff(staff::UpdateStaffRequest {
                    staff_id: id(staff_id),
                    staff: Some(staff::StaffUpdate {
                        name: name.clone().unwrap_or_default(),
                        external_agent: external_agent.unwrap_or_default(),
                        provider: Some(staff::ProviderProfile {
                            npi: npi.clone().unwrap_or_default(),
                            taxonomy_code: taxonomy_code.clone().unwrap_or_default(),
                            bio: bio.clone().unwrap_or_default(),
                            capacity: capacity.unwrap_or_default(),
                            scheduling_step_minutes: scheduling_step_minutes.unwrap_or_default(),
                        }),
                    }),
                    update_mask: Some(prost_types::FieldMask { paths }),
                })
                .await
        }
        StaffCommand::Role { staff_id, role } => {
            client
                .change_practice_role(staff::ChangePracticeRoleRequest {
                    staff_id: id(staff_id),
                    practice_role: PracticeRole::from(*role) as i32,
                })
                .await
        }
        StaffCommand::Remove { staff_id } => {
            client
                .remove_staff(staff::RemoveStaffRequest {
                    staff_id: id(staff_id),
                })
                .await
        }
        StaffCommand::Deactivate { staff_id } => {
            client
                .deactivate_staff(staff::DeactivateStaffRequest {
                    staff_id: id(staff_id),
                })
                .await
        }
        StaffCommand::Reactivate { staff_id } => {
            client
                .reactivate_staff(staff::ReactivateStaffRequest {
                    staff_id: id(staff_id),
                })
                .await
        }
        StaffCommand::Locations {
            staff_id,
            locations,
        } => {
            client
                .set_staff_locations(staff::SetStaffLocationsRequest {
                    staff_id: id(staff_id),
                    location_ids: locations.clone(),
                })
                .await
        }
    }
    .map_err(status_error)?
    .into_inner();
    print_member(&member);
    Ok(())
}
