//! The ready-made credential the launcher writes for services on this machine
//! (`<data dir>/service-credentials.json`, mode 0600): a platform-wide service account
//! `local-services` holding `orgaccess.check` and `staff.read`, so a billing service or a
//! scheduler being developed against the embedded default can call CheckAccess at once.
//! It is made through the operator's ServiceAccountService like any other account; when the
//! file is gone but the account exists, its secret is rotated (the lost one ends at once).

use std::path::Path;

use anyhow::{Context, anyhow};
use ps_auth::credentials::Credential;
use ps_proto::identity::v1 as identity;
use ps_proto::identity::v1::identity_service_client::IdentityServiceClient;
use ps_proto::identity::v1::service_account_service_client::ServiceAccountServiceClient;
use serde::{Deserialize, Serialize};
use tonic::transport::Channel;

/// The account's name.
pub const ACCOUNT_NAME: &str = "local-services";

/// What the file holds.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct LocalCredential {
    pub client_id: String,
    pub client_secret: String,
    /// Where to exchange it for a token (IssueServiceToken).
    pub identity_url: String,
    pub scopes: Vec<String>,
}

/// Reads the credential at `path` if identity still accepts it, or makes a new one and writes
/// it there.
pub async fn ensure(
    path: &Path,
    identity_addr: std::net::SocketAddr,
    operator_token: &str,
) -> anyhow::Result<LocalCredential> {
    let identity_url = format!("http://{identity_addr}");
    let channel = Channel::from_shared(identity_url.clone())?
        .connect()
        .await?;
    if let Ok(text) = std::fs::read_to_string(path)
        && let Ok(kept) = serde_json::from_str::<LocalCredential>(&text)
    {
        let accepted = IdentityServiceClient::new(channel.clone())
            .issue_service_token(identity::IssueServiceTokenRequest {
                client_id: kept.client_id.clone(),
                client_secret: kept.client_secret.clone(),
                ..Default::default()
            })
            .await;
        if accepted.is_ok() {
            return Ok(LocalCredential {
                identity_url,
                ..kept
            });
        }
    }
    let mut accounts = ServiceAccountServiceClient::with_interceptor(
        channel,
        Credential::operator(operator_token).map_err(|_| anyhow!("operator token not ASCII"))?,
    );
    let scopes: Vec<String> = ps_auth::scopes::LOCAL_SERVICES
        .iter()
        .map(|s| s.as_str().to_owned())
        .collect();
    let existing = find(&mut accounts).await?;
    let (client_id, client_secret) = match existing {
        Some(account) => {
            if account.status == identity::ServiceAccountStatus::Disabled as i32 {
                return Err(anyhow!(
                    "the service account {ACCOUNT_NAME} is disabled; enable it (staffctl \
                     service-accounts enable) or remove {}",
                    path.display()
                ));
            }
            let rotated = accounts
                .rotate_service_account_secret(identity::RotateServiceAccountSecretRequest {
                    service_account_id: account.id.clone(),
                    grace_seconds: 0,
                    end_previous_now: true,
                })
                .await
                .context("rotating the local-services secret")?
                .into_inner();
            (account.id, rotated.client_secret)
        }
        None => {
            let created = accounts
                .create_service_account(identity::CreateServiceAccountRequest {
                    name: ACCOUNT_NAME.into(),
                    description: "services on this machine (made by the launcher)".into(),
                    scopes: scopes.clone(),
                    ..Default::default()
                })
                .await
                .context("creating the local-services account")?
                .into_inner();
            let id = created
                .service_account
                .ok_or_else(|| anyhow!("no account in the answer"))?
                .id;
            (id, created.client_secret)
        }
    };
    let credential = LocalCredential {
        client_id,
        client_secret,
        identity_url,
        scopes,
    };
    write_private(path, &serde_json::to_string_pretty(&credential)?)?;
    Ok(credential)
}

async fn find(
    accounts: &mut ServiceAccountServiceClient<
        tonic::service::interceptor::InterceptedService<Channel, Credential>,
    >,
) -> anyhow::Result<Option<identity::ServiceAccount>> {
    let mut page_token = String::new();
    loop {
        let page = accounts
            .list_service_accounts(identity::ListServiceAccountsRequest {
                page: Some(ps_proto::common::v1::PageRequest {
                    page_size: 100,
                    page_token: page_token.clone(),
                }),
                ..Default::default()
            })
            .await
            .context("listing service accounts")?
            .into_inner();
        if let Some(found) = page
            .service_accounts
            .into_iter()
            .find(|a| a.name == ACCOUNT_NAME && a.practice_id.is_empty())
        {
            return Ok(Some(found));
        }
        if page.next_page_token.is_empty() {
            return Ok(None);
        }
        page_token = page.next_page_token;
    }
}

/// Writes `text` to `path`, readable by its owner only.
pub fn write_private(path: &Path, text: &str) -> anyhow::Result<()> {
    let mut options = std::fs::OpenOptions::new();
    options.write(true).create(true).truncate(true);
    #[cfg(unix)]
    {
        use std::os::unix::fs::OpenOptionsExt;
        options.mode(0o600);
    }
    use std::io::Write;
    let mut file = options
        .open(path)
        .with_context(|| format!("writing {}", path.display()))?;
    file.write_all(text.as_bytes())?;
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        std::fs::set_permissions(path, std::fs::Permissions::from_mode(0o600))?;
    }
    Ok(())
}
