//! The saved session and the connections to the four services.

use std::path::{Path, PathBuf};
use std::time::Duration;

use anyhow::{Context, Result, anyhow};
use chrono::{DateTime, Utc};
use ps_auth::credentials::Credential;
use ps_proto::identity::v1 as identity;
use ps_proto::identity::v1::identity_service_client::IdentityServiceClient;
use ps_proto::notification::v1::notification_service_client::NotificationServiceClient;
use ps_proto::orgaccess::v1::org_access_service_client::OrgAccessServiceClient;
use ps_proto::staff::v1::staff_directory_service_client::StaffDirectoryServiceClient;
use serde::{Deserialize, Serialize};
use tonic::service::interceptor::InterceptedService;
use tonic::transport::Channel;

use crate::resolve::NameBook;

pub(crate) type Authed = InterceptedService<Channel, Credential>;
pub(crate) type StaffClient = StaffDirectoryServiceClient<Authed>;
pub(crate) type OrgClient = OrgAccessServiceClient<Authed>;
pub(crate) type IdentityClient = IdentityServiceClient<Authed>;
pub(crate) type NotificationClient = NotificationServiceClient<Authed>;

/// The CA (and client certificate) for `https://` service URLs, set once from the command
/// line before any connection is made.
pub(crate) static CLIENT_TLS: std::sync::OnceLock<ps_auth::ClientTlsSettings> =
    std::sync::OnceLock::new();

/// How long to try reaching a service before saying it cannot be reached.
const CONNECT_TIMEOUT: Duration = Duration::from_secs(5);

/// Where each service listens.
#[derive(Clone)]
pub(crate) struct Addresses {
    pub identity: String,
    pub staff: String,
    pub org_access: String,
    pub notification: String,
}

#[derive(Serialize, Deserialize)]
pub(crate) struct Session {
    pub access_token: String,
    pub access_expires_at: DateTime<Utc>,
    pub refresh_token: String,
    pub practice_id: String,
    pub user_id: String,
}

impl Session {
    pub(crate) fn from_sign_in(reply: identity::SignInResponse) -> Self {
        let expires = reply
            .access_token_expires_at
            .as_ref()
            .and_then(ps_proto::convert::from_timestamp)
            .unwrap_or_else(Utc::now);
        Self {
            access_token: reply.access_token,
            access_expires_at: expires,
            refresh_token: reply.refresh_token,
            practice_id: reply.practice_id,
            user_id: reply.user_id,
        }
    }

    /// Kept readable only by its owner: it holds the refresh token.
    pub(crate) fn save(&self, path: &Path) -> Result<()> {
        if let Some(dir) = path.parent() {
            std::fs::create_dir_all(dir)?;
        }
        std::fs::write(path, serde_json::to_vec_pretty(self)?)?;
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt;
            std::fs::set_permissions(path, std::fs::Permissions::from_mode(0o600))?;
        }
        Ok(())
    }
}

/// Writes `text` to `path`, readable by its owner only (created that way, so it is never
/// readable by others even for a moment).
pub(crate) fn write_private(path: &Path, text: &str) -> Result<()> {
    use std::io::Write;
    let mut options = std::fs::OpenOptions::new();
    options.write(true).create_new(true);
    #[cfg(unix)]
    {
        use std::os::unix::fs::OpenOptionsExt;
        options.mode(0o600);
    }
    let mut file = options
        .open(path)
        .with_context(|| format!("creating {}", path.display()))?;
    file.write_all(text.as_bytes())?;
    Ok(())
}

pub(crate) fn default_session_path() -> PathBuf {
    dirs::config_dir()
        .unwrap_or_else(|| PathBuf::from("."))
        .join("staffctl")
        .join("session.json")
}

/// A connection to `service` at `url`. When nothing answers there, the error is one line
/// saying so, with the command that starts the launcher: that is nearly always the cause.
pub(crate) async fn channel(service: &str, url: &str) -> Result<Channel> {
    let mut endpoint = Channel::from_shared(url.to_owned())
        .map_err(|_| {
            anyhow!("{url} is not an address for {service} (like http://127.0.0.1:50051)")
        })?
        .connect_timeout(CONNECT_TIMEOUT);
    let tls = CLIENT_TLS.get().cloned().unwrap_or_default();
    if let Some(config) = tls
        .for_url(url)
        .map_err(|e| anyhow!("TLS for {service}: {e}"))?
    {
        endpoint = endpoint
            .tls_config(config)
            .map_err(|e| anyhow!("TLS for {service}: {e}"))?;
    }
    endpoint.connect().await.map_err(|_| {
        anyhow!(
            "cannot reach {service} at {url} — is the launcher running? (cargo run -p practice-staff)"
        )
    })
}

/// The signed-in person: their session, a connection to each service made when first needed,
/// and the names looked up so far.
pub(crate) struct Caller {
    addresses: Addresses,
    credential: Credential,
    pub session: Session,
    identity: Option<IdentityClient>,
    staff: Option<StaffClient>,
    orgs: Option<OrgClient>,
    notification: Option<NotificationClient>,
    pub names: NameBook,
}

impl Caller {
    pub(crate) fn new(addresses: Addresses, session: Session) -> Result<Self> {
        Ok(Self {
            credential: Credential::bearer(&session.access_token)?,
            addresses,
            session,
            identity: None,
            staff: None,
            orgs: None,
            notification: None,
            names: NameBook::default(),
        })
    }

    /// The saved session, refreshed first when its access token is about to expire.
    pub(crate) async fn signed_in(addresses: Addresses, path: &Path) -> Result<Self> {
        let raw = std::fs::read(path)
            .map_err(|_| anyhow!("not signed in; run `staffctl sign-in --email …`"))?;
        let session: Session = serde_json::from_slice(&raw).context("reading the saved session")?;
        if session.access_expires_at > Utc::now() + chrono::Duration::seconds(30) {
            return Self::new(addresses, session);
        }
        let mut client =
            IdentityServiceClient::new(channel("identity", &addresses.identity).await?);
        let reply = client
            .refresh(identity::RefreshRequest {
                refresh_token: session.refresh_token,
            })
            .await
            .map_err(|s| anyhow!("session ended ({}); sign in again", s.message()))?
            .into_inner();
        let session = Session::from_sign_in(reply);
        session.save(path)?;
        Self::new(addresses, session)
    }

    async fn authed(&self, service: &str, url: &str) -> Result<Authed> {
        Ok(InterceptedService::new(
            channel(service, url).await?,
            self.credential.clone(),
        ))
    }

    pub(crate) async fn identity(&mut self) -> Result<IdentityClient> {
        if let Some(client) = &self.identity {
            return Ok(client.clone());
        }
        let url = self.addresses.identity.clone();
        let client = IdentityServiceClient::new(self.authed("identity", &url).await?);
        self.identity = Some(client.clone());
        Ok(client)
    }

    pub(crate) async fn staff(&mut self) -> Result<StaffClient> {
        if let Some(client) = &self.staff {
            return Ok(client.clone());
        }
        let url = self.addresses.staff.clone();
        let client = StaffDirectoryServiceClient::new(self.authed("staff-directory", &url).await?);
        self.staff = Some(client.clone());
        Ok(client)
    }

    pub(crate) async fn orgs(&mut self) -> Result<OrgClient> {
        if let Some(client) = &self.orgs {
            return Ok(client.clone());
        }
        let url = self.addresses.org_access.clone();
        let client = OrgAccessServiceClient::new(self.authed("org-access", &url).await?);
        self.orgs = Some(client.clone());
        Ok(client)
    }

    pub(crate) async fn notification(&mut self) -> Result<NotificationClient> {
        if let Some(client) = &self.notification {
            return Ok(client.clone());
        }
        let url = self.addresses.notification.clone();
        let client = NotificationServiceClient::new(self.authed("notification", &url).await?);
        self.notification = Some(client.clone());
        Ok(client)
    }
}
