//! The product under test: the four services started in-process on port 0 (as the system tests
//! do), on SQLite + the in-process bus or on PostgreSQL + RabbitMQ in databases and an exchange
//! of the bench's own, and the calls that seed data through the real gRPC APIs.

use std::collections::HashMap;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::{Duration, Instant};

use anyhow::{Context, anyhow};
use practice_staff::{Databases, Listeners, System, SystemConfig};
use ps_auth::credentials::Credential;
use ps_config::Secret;
use ps_events::rabbit::RabbitSettings;
use ps_proto::common::v1::PracticeRole;
use ps_proto::identity::v1 as identity;
use ps_proto::identity::v1::identity_service_client::IdentityServiceClient;
use ps_proto::identity::v1::service_account_service_client::ServiceAccountServiceClient;
use ps_proto::orgaccess::v1 as org;
use ps_proto::orgaccess::v1::org_access_authorization_service_client::OrgAccessAuthorizationServiceClient;
use ps_proto::orgaccess::v1::org_access_service_client::OrgAccessServiceClient;
use ps_proto::staff::v1 as staff;
use ps_proto::staff::v1::staff_directory_service_client::StaffDirectoryServiceClient;
use tempfile::TempDir;
use tonic::service::interceptor::InterceptedService;
use tonic::transport::Channel;

pub(crate) type Authed = InterceptedService<Channel, Credential>;

pub(crate) const OPERATOR_TOKEN: &str = "bench-operator-token";
/// notification's client secret (43 base64url characters).
const NOTIFICATION_SECRET: &str = "YmVuY2gtbm90aWZpY2F0aW9uLWNsaWVudC1zZWNyZXQ";
/// Seals identity's signing keys (32 bytes, base64).
const TEST_KEY_ENCRYPTION_KEY: &str = "YmVuY2gta2V5LWVuY3J5cHRpb24ta2V5LTMyLWJ5dGU=";
pub(crate) const PASSWORD: &str = "a bench password";

/// Where the services keep their data.
#[derive(Debug, Clone)]
pub(crate) enum Backend {
    Embedded,
    External {
        postgres_url: String,
        amqp_url: String,
    },
}

impl Backend {
    pub(crate) fn name(&self) -> &'static str {
        match self {
            Backend::Embedded => "SQLite + in-process bus",
            Backend::External { .. } => "PostgreSQL + RabbitMQ",
        }
    }
}

/// The product, started for one scenario.
pub(crate) struct Product {
    pub addresses: practice_staff::Addresses,
    pub databases: Databases,
    pub mail_dir: PathBuf,
    pub dir: TempDir,
    system: Option<System>,
    external: Option<ps_scratch::Scratch>,
}

impl Product {
    pub(crate) async fn start(
        backend: &Backend,
        hashing: ps_identity::passwords::HashingSettings,
    ) -> anyhow::Result<Self> {
        let dir = tempfile::tempdir()?;
        let (external, databases) = match backend {
            Backend::Embedded => (None, Databases::sqlite(dir.path())),
            Backend::External {
                postgres_url,
                amqp_url,
            } => {
                let scratch = ps_scratch::Scratch::create(postgres_url, amqp_url, "ps_bench")
                    .await
                    .map_err(|e| anyhow!(e))?;
                let databases = scratch.databases.clone();
                (Some(scratch), databases)
            }
        };
        let mail_dir = dir.path().join("mail");
        let listeners = Listeners::bind("127.0.0.1", [0; 4]).await?;
        let system = System::start(
            SystemConfig {
                databases: databases.clone(),
                rabbitmq: external.as_ref().map(|e| e.rabbit.clone()),
                mail_folder: mail_dir.clone(),
                mail: Default::default(),
                clock: Arc::new(ps_core::SystemClock),
                operator_token: Secret::new(OPERATOR_TOKEN),
                notification_secret: Secret::new(NOTIFICATION_SECRET),
                signing_key_encryption_key: Secret::new(TEST_KEY_ENCRYPTION_KEY),
                console_url: "https://app.example.test".into(),
                hashing: Some(hashing),
                tls: None,
            },
            listeners,
        )
        .await
        .map_err(|e| anyhow!("system failed to start: {e}"))?;
        Ok(Self {
            addresses: system.addresses,
            databases,
            mail_dir,
            dir,
            system: Some(system),
            external,
        })
    }

    /// Stops the services and removes what the run created on PostgreSQL and RabbitMQ.
    pub(crate) async fn stop(mut self) {
        if let Some(system) = self.system.take() {
            let _ = system.stopped().await;
        }
        if let Some(external) = self.external.take() {
            external.remove().await;
        }
    }

    pub(crate) fn rabbit(&self) -> Option<&RabbitSettings> {
        self.external.as_ref().map(|e| &e.rabbit)
    }

    pub(crate) async fn channel(addr: SocketAddr) -> anyhow::Result<Channel> {
        Ok(Channel::from_shared(format!("http://{addr}"))?
            .connect()
            .await?)
    }

    pub(crate) async fn identity(&self) -> anyhow::Result<IdentityServiceClient<Channel>> {
        Ok(IdentityServiceClient::new(
            Self::channel(self.addresses.identity).await?,
        ))
    }

    pub(crate) async fn staff_as(
        &self,
        person: &Person,
    ) -> anyhow::Result<StaffDirectoryServiceClient<Authed>> {
        Ok(StaffDirectoryServiceClient::with_interceptor(
            Self::channel(self.addresses.staff_directory).await?,
            bearer(&person.access_token)?,
        ))
    }

    pub(crate) async fn org_access_as(
        &self,
        person: &Person,
    ) -> anyhow::Result<OrgAccessServiceClient<Authed>> {
        Ok(OrgAccessServiceClient::with_interceptor(
            Self::channel(self.addresses.org_access).await?,
            bearer(&person.access_token)?,
        ))
    }

    /// The authorisation API as another service calls it: a service account of its own
    /// holding `orgaccess.check`, and a service token it issued (valid 5 minutes, longer than
    /// any scenario).
    pub(crate) async fn authorization(
        &self,
    ) -> anyhow::Result<OrgAccessAuthorizationServiceClient<Authed>> {
        let mut accounts = ServiceAccountServiceClient::with_interceptor(
            Self::channel(self.addresses.identity).await?,
            Credential::operator(OPERATOR_TOKEN).map_err(|e| anyhow!("{e:?}"))?,
        );
        let created = accounts
            .create_service_account(identity::CreateServiceAccountRequest {
                name: format!("bench caller {}", uuid::Uuid::now_v7()),
                description: "the benchmark's CheckAccess caller".into(),
                scopes: vec![ps_auth::scopes::ORGACCESS_CHECK.as_str().into()],
                ..Default::default()
            })
            .await?
            .into_inner();
        let token = self
            .identity()
            .await?
            .issue_service_token(identity::IssueServiceTokenRequest {
                client_id: created
                    .service_account
                    .ok_or_else(|| anyhow!("no account"))?
                    .id,
                client_secret: created.client_secret,
                ..Default::default()
            })
            .await?
            .into_inner()
            .access_token;
        Ok(OrgAccessAuthorizationServiceClient::with_interceptor(
            Self::channel(self.addresses.org_access).await?,
            bearer(&token)?,
        ))
    }

    /// Newest token of every recipient in the mail folder.
    pub(crate) fn invitation_tokens(&self) -> HashMap<String, String> {
        invitation_tokens(&self.mail_dir)
    }

    /// Waits until every address in `emails` has an invitation e-mail; returns their tokens.
    pub(crate) async fn wait_for_tokens(
        &self,
        emails: &[String],
        patience: Duration,
    ) -> anyhow::Result<HashMap<String, String>> {
        let deadline = Instant::now() + patience;
        loop {
            let tokens = self.invitation_tokens();
            if emails.iter().all(|e| tokens.contains_key(e)) {
                return Ok(tokens);
            }
            if Instant::now() > deadline {
                let missing = emails.iter().filter(|e| !tokens.contains_key(*e)).count();
                return Err(anyhow!("{missing} invitation e-mails did not arrive"));
            }
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    }

    /// A practice whose owner accepted the invitation and signed in.
    pub(crate) async fn practice_with_owner(&self, name: &str) -> anyhow::Result<Person> {
        let email = format!("owner@{}.bench.test", name.to_lowercase().replace(' ', "-"));
        let mut operator = StaffDirectoryServiceClient::with_interceptor(
            Self::channel(self.addresses.staff_directory).await?,
            Credential::operator(OPERATOR_TOKEN).map_err(|e| anyhow!("{e:?}"))?,
        );
        operator
            .create_practice(staff::CreatePracticeRequest {
                request_id: String::new(),
                name: name.into(),
                owner_email: email.clone(),
                owner_name: format!("Owner of {name}"),
            })
            .await
            .context("CreatePractice")?;
        let tokens = self
            .wait_for_tokens(std::slice::from_ref(&email), Duration::from_secs(30))
            .await?;
        self.accept(&tokens[&email]).await?;
        let owner = self.sign_in(&email).await?;
        // staff-directory lists the owner as Active once it has seen the acceptance.
        self.wait_until_active(
            &owner,
            std::slice::from_ref(&email),
            Duration::from_secs(30),
        )
        .await?;
        // org-access learns of the owner from events too: wait until it lets them act.
        let mut orgs = self.org_access_as(&owner).await?;
        let deadline = Instant::now() + Duration::from_secs(30);
        while orgs.list_roles(org::ListRolesRequest {}).await.is_err() {
            if Instant::now() > deadline {
                return Err(anyhow!("org-access did not learn of the owner in 30 s"));
            }
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
        Ok(owner)
    }

    pub(crate) async fn accept(
        &self,
        token: &str,
    ) -> anyhow::Result<identity::AcceptInvitationResponse> {
        Ok(self
            .identity()
            .await?
            .accept_invitation(identity::AcceptInvitationRequest {
                token: token.into(),
                password: PASSWORD.into(),
            })
            .await
            .context("AcceptInvitation")?
            .into_inner())
    }

    pub(crate) async fn sign_in(&self, email: &str) -> anyhow::Result<Person> {
        let reply = self
            .identity()
            .await?
            .sign_in(identity::SignInRequest {
                email: email.into(),
                password: PASSWORD.into(),
                practice_id: String::new(),
            })
            .await
            .context("SignIn")?
            .into_inner();
        Ok(Person {
            access_token: reply.access_token,
            user_id: reply.user_id,
            practice_id: reply.practice_id,
        })
    }

    /// Invites `emails` (16 at a time), waits for the e-mails, accepts every invitation;
    /// returns (user id, staff id) in the order of `emails`.
    pub(crate) async fn staff(
        &self,
        owner: &Person,
        emails: &[String],
    ) -> anyhow::Result<Vec<(String, String)>> {
        use futures::{StreamExt, TryStreamExt, stream};
        let client = self.staff_as(owner).await?;
        stream::iter(emails.iter().cloned())
            .map(|email| {
                let mut client = client.clone();
                async move {
                    client
                        .invite_staff(staff::InviteStaffRequest {
                            email,
                            name: "Bench Person".into(),
                            practice_role: PracticeRole::Member as i32,
                            ..Default::default()
                        })
                        .await
                        .map(|_| ())
                }
            })
            .buffer_unordered(16)
            .try_collect::<Vec<()>>()
            .await
            .context("InviteStaff")?;
        let tokens = self
            .wait_for_tokens(emails, Duration::from_secs(300))
            .await?;
        let people: Vec<(String, String)> = stream::iter(emails.iter().map(|e| tokens[e].clone()))
            .map(|token| async move { self.accept(&token).await.map(|a| (a.user_id, a.staff_id)) })
            .buffered(16)
            .try_collect()
            .await?;
        self.wait_until_active(owner, emails, Duration::from_secs(300))
            .await?;
        Ok(people)
    }

    /// Waits until staff-directory lists every address as Active.
    async fn wait_until_active(
        &self,
        viewer: &Person,
        emails: &[String],
        patience: Duration,
    ) -> anyhow::Result<()> {
        let mut client = self.staff_as(viewer).await?;
        let deadline = Instant::now() + patience;
        loop {
            let mut active = std::collections::HashSet::new();
            let mut token = String::new();
            loop {
                // A new owner may be refused until staff-directory has seen their acceptance:
                // that is "not yet", like any other member not listed as Active yet.
                let Ok(page) = client
                    .list_staff(staff::ListStaffRequest {
                        page: Some(ps_proto::common::v1::PageRequest {
                            page_size: 500,
                            page_token: token,
                        }),
                        ..Default::default()
                    })
                    .await
                    .map(tonic::Response::into_inner)
                else {
                    break;
                };
                active.extend(
                    page.staff
                        .into_iter()
                        .filter(|m| m.status == staff::StaffStatus::Active as i32)
                        .map(|m| m.email),
                );
                if page.next_page_token.is_empty() {
                    break;
                }
                token = page.next_page_token;
            }
            if emails.iter().all(|e| active.contains(e)) {
                return Ok(());
            }
            if Instant::now() > deadline {
                return Err(anyhow!("staff did not become active in time"));
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }

    /// Creates `n` organisations named `{prefix} {i}`; returns their ids in order.
    pub(crate) async fn organisations(
        &self,
        owner: &Person,
        prefix: &str,
        n: usize,
    ) -> anyhow::Result<Vec<String>> {
        use futures::{StreamExt, TryStreamExt, stream};
        let orgs = self.org_access_as(owner).await?;
        stream::iter(0..n)
            .map(|i| {
                let mut orgs = orgs.clone();
                async move {
                    orgs.create_organisation(org::CreateOrganisationRequest {
                        request_id: String::new(),
                        name: format!("{prefix} {i}"),
                    })
                    .await
                    .map(|r| r.into_inner().id)
                }
            })
            .buffered(16)
            .try_collect()
            .await
            .context("CreateOrganisation")
    }

    /// The id of the practice's role called `name`.
    pub(crate) async fn role_id(&self, owner: &Person, name: &str) -> anyhow::Result<String> {
        self.org_access_as(owner)
            .await?
            .list_roles(org::ListRolesRequest {})
            .await?
            .into_inner()
            .roles
            .into_iter()
            .find(|r| r.name == name)
            .map(|r| r.id)
            .ok_or_else(|| anyhow!("no role {name}"))
    }

    /// Waits until org-access knows every user as active staff.
    pub(crate) async fn wait_for_roster(
        &self,
        users: &[String],
        organisation: &str,
    ) -> anyhow::Result<()> {
        let mut authorization = self.authorization().await?;
        let deadline = Instant::now() + Duration::from_secs(300);
        for user in users {
            loop {
                let reason = authorization
                    .explain_access(org::ExplainAccessRequest {
                        user_id: user.clone(),
                        organisation_id: organisation.into(),
                        permission: "organisation.view".into(),
                        location_id: String::new(),
                    })
                    .await?
                    .into_inner()
                    .reason;
                if reason != org::DecisionReason::NotPracticeStaff as i32
                    && reason != org::DecisionReason::StaffNotActive as i32
                {
                    break;
                }
                if Instant::now() > deadline {
                    return Err(anyhow!("org-access did not learn of every member"));
                }
                tokio::time::sleep(Duration::from_millis(20)).await;
            }
        }
        Ok(())
    }
}

/// A signed-in user.
#[derive(Debug, Clone)]
pub(crate) struct Person {
    pub access_token: String,
    pub user_id: String,
    pub practice_id: String,
}

pub(crate) fn bearer(token: &str) -> anyhow::Result<Credential> {
    Credential::bearer(token).map_err(|e| anyhow!("{e:?}"))
}

/// Newest invitation token of every recipient of the `.eml` files in `dir`.
pub(crate) fn invitation_tokens(dir: &Path) -> HashMap<String, String> {
    let mut tokens = HashMap::new();
    let Ok(entries) = std::fs::read_dir(dir) else {
        return tokens;
    };
    let mut paths: Vec<PathBuf> = entries
        .filter_map(Result::ok)
        .map(|e| e.path())
        .filter(|p| p.extension().is_some_and(|x| x == "eml"))
        .collect();
    paths.sort();
    for path in paths {
        if let Some((recipient, token)) = read_mail(&path)
            && let Some(token) = token
        {
            tokens.insert(recipient, token);
        }
    }
    tokens
}

/// The recipient and the link token (if any) of one `.eml` file.
pub(crate) fn read_mail(path: &Path) -> Option<(String, Option<String>)> {
    let raw = std::fs::read_to_string(path).ok()?;
    let content = staffctl::decode_quoted_printable(&raw);
    let recipient = content
        .lines()
        .find_map(|l| l.strip_prefix("To: "))
        .and_then(|to| to.rsplit_once('<'))
        .map(|(_, address)| address.trim_end_matches('>').to_owned())?;
    let token = content
        .contains("token=")
        .then(|| staffctl::token_in(&content))
        .flatten();
    Some((recipient, token))
}
