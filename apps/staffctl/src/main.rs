//! `staffctl`: Practice Staff from the command line.
//!
//! Sign-in keeps the session (access and refresh token) in a file readable only by you
//! (`--session`, default in your config directory); later commands use it and refresh the
//! access token when it is about to expire.

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
    /// Invite someone to your practice.
    Invite {
        #[arg(long)]
        email: String,
        #[arg(long)]
        name: String,
        #[arg(long, value_enum, default_value = "member")]
        role: Role,
    },
    /// Your practice's staff.
    Staff {
        #[command(subcommand)]
        command: StaffCommand,
    },
    /// Look at or answer an invitation. TOKEN may be the token, the link, or the .eml file.
    Invitation {
        #[command(subcommand)]
        command: InvitationCommand,
    },
    /// E-mails sent for your practice.
    Deliveries {
        /// Only those to this address.
        #[arg(long)]
        recipient: Option<String>,
    },
}

#[derive(Subcommand)]
enum StaffCommand {
    List {
        #[arg(long, value_enum)]
        status: Vec<Status>,
    },
    Get {
        staff_id: String,
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
}

impl From<Status> for staff::StaffStatus {
    fn from(status: Status) -> Self {
        match status {
            Status::Pending => staff::StaffStatus::Pending,
            Status::Active => staff::StaffStatus::Active,
            Status::Declined => staff::StaffStatus::Declined,
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
        _ => "?",
    }
}

fn print_member(m: &staff::StaffMember) {
    println!(
        "{}  {:<8}  {:<15}  {} <{}>",
        m.id,
        status_title(m.status),
        role_title(m.practice_role),
        m.name,
        m.email
    );
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
        Command::Invite { email, name, role } => {
            let mut client = as_user(cli, &cli.staff_url, StaffDirectoryServiceClient::new).await?;
            let member = client
                .invite_staff(staff::InviteStaffRequest {
                    email: email.clone(),
                    name: name.clone(),
                    practice_role: PracticeRole::from(*role) as i32,
                })
                .await
                .map_err(status_error)?
                .into_inner();
            print_member(&member);
        }
        Command::Staff { command } => {
            let mut client = as_user(cli, &cli.staff_url, StaffDirectoryServiceClient::new).await?;
            match command {
                StaffCommand::List { status } => {
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
                            })
                            .await
                            .map_err(status_error)?
                            .into_inner();
                        page.staff.iter().for_each(print_member);
                        if page.next_page_token.is_empty() {
                            break;
                        }
                        token = page.next_page_token;
                    }
                }
                StaffCommand::Get { staff_id } => {
                    let member = client
                        .get_staff(staff::GetStaffRequest {
                            staff_id: staff_id.clone(),
                        })
                        .await
                        .map_err(status_error)?
                        .into_inner();
                    print_member(&member);
                }
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
