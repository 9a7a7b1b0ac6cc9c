//! `staffctl service-accounts`: the credentials other services call the internal APIs with.
//! The operator manages every account (`--operator`, with the operator token); an Account
//! Owner, signed in, manages their practice's. Accounts are given by name or id.

use std::path::{Path, PathBuf};

use anyhow::{Result, anyhow};
use clap::{Args, Subcommand};
use ps_auth::credentials::Credential;
use ps_proto::common::v1::PageRequest;
use ps_proto::identity::v1 as identity;
use ps_proto::identity::v1::service_account_service_client::ServiceAccountServiceClient;
use tonic::service::interceptor::InterceptedService;
use tonic::transport::Channel;

use crate::cli::{operator_token, status_error};
use crate::session::{Addresses, Caller, channel};
use crate::table::{self, Details, Table};

type Client = ServiceAccountServiceClient<InterceptedService<Channel, Credential>>;

/// Whose credential manages the accounts.
#[derive(Args)]
pub(crate) struct Manager {
    /// Act as the operator (every account, platform-wide ones too) instead of the signed-in
    /// Account Owner (their practice's accounts).
    #[arg(long)]
    operator: bool,
    /// The operator credential; by default read from --operator-token-file.
    #[arg(long, env = "STAFFCTL_OPERATOR_TOKEN", hide_env_values = true)]
    operator_token: Option<String>,
    #[arg(long, default_value = "data/operator-token")]
    operator_token_file: PathBuf,
}

#[derive(Subcommand)]
pub(crate) enum ServiceAccountCommand {
    /// A new account; its secret is shown once.
    Create {
        #[arg(long)]
        name: String,
        /// A scope from the catalogue (repeatable): orgaccess.check, staff.read,
        /// certification.record (and, for the operator, identity.*).
        #[arg(long = "scope", required = true)]
        scopes: Vec<String>,
        #[arg(long, default_value = "")]
        description: String,
        /// Limit it to one practice (operator only; an owner's accounts always are).
        #[arg(long)]
        practice_id: Option<String>,
        /// No secret: the account signs in only with a key (`add-key`).
        #[arg(long)]
        without_secret: bool,
    },
    List,
    /// One account and its history.
    Show {
        account: String,
    },
    /// A new secret; the old one keeps working for the grace period.
    Rotate {
        account: String,
        /// How long the old secret keeps working (default 1h, at most 7d), e.g. 30m.
        #[arg(long)]
        grace: Option<humantime::Duration>,
        /// Stop the old secret at once (it leaked).
        #[arg(long)]
        end_previous_now: bool,
    },
    /// Generate an Ed25519 key, keep its private half in FILE (mode 0600) and register the
    /// public half: the service then signs in with no shared secret.
    AddKey {
        account: String,
        #[arg(long)]
        private_key_file: PathBuf,
    },
    RemoveKey {
        account: String,
        key_id: String,
    },
    /// No more tokens, and the ones out are refused everywhere within a second.
    Disable {
        account: String,
    },
    Enable {
        account: String,
    },
}

async fn client(
    addresses: &Addresses,
    session: &std::path::Path,
    manager: &Manager,
) -> Result<Client> {
    if manager.operator {
        let token = operator_token(
            manager.operator_token.as_deref(),
            &manager.operator_token_file,
        )?;
        return Ok(ServiceAccountServiceClient::with_interceptor(
            channel("identity", &addresses.identity).await?,
            Credential::operator(&token)?,
        ));
    }
    let caller = Caller::signed_in(addresses.clone(), session).await?;
    Ok(ServiceAccountServiceClient::with_interceptor(
        channel("identity", &addresses.identity).await?,
        Credential::bearer(&caller.session.access_token)?,
    ))
}

async fn all(client: &mut Client) -> Result<Vec<identity::ServiceAccount>> {
    let mut accounts = Vec::new();
    let mut page_token = String::new();
    loop {
        let page = client
            .list_service_accounts(identity::ListServiceAccountsRequest {
                page: Some(PageRequest {
                    page_size: 200,
                    page_token,
                }),
                ..Default::default()
            })
            .await
            .map_err(status_error)?
            .into_inner();
        accounts.extend(page.service_accounts);
        if page.next_page_token.is_empty() {
            return Ok(accounts);
        }
        page_token = page.next_page_token;
    }
}

/// The id of the account called `given` (its name in any case, or its id).
async fn resolve(client: &mut Client, given: &str) -> Result<String> {
    if table::is_id(given) {
        return Ok(given.to_owned());
    }
    let found: Vec<_> = all(client)
        .await?
        .into_iter()
        .filter(|a| a.name.eq_ignore_ascii_case(given.trim()))
        .collect();
    match found.as_slice() {
        [one] => Ok(one.id.clone()),
        [] => Err(anyhow!("no service account is called {given:?}")),
        _ => Err(anyhow!(
            "several service accounts are called {given:?} (in different practices); give its id"
        )),
    }
}

fn status(account: &identity::ServiceAccount) -> &'static str {
    if account.status == identity::ServiceAccountStatus::Disabled as i32 {
        "Disabled"
    } else {
        "Active"
    }
}

fn limit(account: &identity::ServiceAccount) -> String {
    if account.practice_id.is_empty() {
        "every practice".into()
    } else {
        account.practice_name.clone()
    }
}

fn print_account(account: &identity::ServiceAccount) {
    let mut details = Details::default();
    details
        .field("Name", &account.name)
        .field("Client id", &account.id)
        .field("Status", status(account))
        .field("Scopes", account.scopes.join(" "))
        .field("Answers for", limit(account))
        .field("Description", &account.description)
        .field(
            "Created",
            format!(
                "{} by {}",
                table::time(account.created_at.as_ref()),
                account.created_by
            ),
        )
        .field("Secret rotated", table::time(account.rotated_at.as_ref()))
        .field("Last token", table::time(account.last_used_at.as_ref()));
    if !account.previous_secrets_expire_at.is_empty() {
        let until: Vec<_> = account
            .previous_secrets_expire_at
            .iter()
            .map(|t| table::time(Some(t)))
            .collect();
        details.field("Old secrets work until", until.join(", "));
    }
    for key in &account.keys {
        details.field(
            "Key",
            format!(
                "{} (added {})",
                key.key_id,
                table::time(key.created_at.as_ref())
            ),
        );
    }
    println!("{}", details.render());
}

/// `service-accounts …`, with the credential `manager` says.
pub(crate) async fn run(
    addresses: &Addresses,
    session: &std::path::Path,
    manager: &Manager,
    command: &ServiceAccountCommand,
) -> Result<()> {
    let mut client = client(addresses, session, manager).await?;
    match command {
        ServiceAccountCommand::Create {
            name,
            scopes,
            description,
            practice_id,
            without_secret,
        } => {
            let request = identity::CreateServiceAccountRequest {
                name: name.clone(),
                description: description.clone(),
                scopes: scopes.clone(),
                practice_id: practice_id.clone().unwrap_or_default(),
                without_secret: *without_secret,
            };
            create(&mut client, request).await
        }
        ServiceAccountCommand::List => list(&mut client).await,
        ServiceAccountCommand::Show { account } => show(&mut client, account).await,
        ServiceAccountCommand::Rotate {
            account,
            grace,
            end_previous_now,
        } => rotate(&mut client, account, *grace, *end_previous_now).await,
        ServiceAccountCommand::AddKey {
            account,
            private_key_file,
        } => add_key(&mut client, account, private_key_file).await,
        ServiceAccountCommand::RemoveKey { account, key_id } => {
            remove_key(&mut client, account, key_id).await
        }
        ServiceAccountCommand::Disable { account } => {
            set_enabled(&mut client, account, false).await
        }
        ServiceAccountCommand::Enable { account } => set_enabled(&mut client, account, true).await,
    }
}

/// `create`: the new account, and its secret (shown this once) unless it has none.
async fn create(client: &mut Client, request: identity::CreateServiceAccountRequest) -> Result<()> {
    let created = client
        .create_service_account(request)
        .await
        .map_err(status_error)?
        .into_inner();
    let account = created.service_account.unwrap_or_default();
    println!(
        "created service account {} ({}), answering for {}",
        account.name,
        account.scopes.join(" "),
        limit(&account)
    );
    println!("  client id      {}", account.id);
    if created.client_secret.is_empty() {
        println!("  no secret: register a key with `staffctl service-accounts add-key`");
    } else {
        println!("  client secret  {}", created.client_secret);
        println!("This secret is shown once; keep it in your service's secret store.");
    }
    Ok(())
}

/// `list`: every account the credential manages.
async fn list(client: &mut Client) -> Result<()> {
    let mut listing = Table::new(&[
        "NAME",
        "STATUS",
        "SCOPES",
        "ANSWERS FOR",
        "LAST TOKEN",
        "CLIENT ID",
    ]);
    for a in all(client).await? {
        listing.row([
            a.name.clone(),
            status(&a).to_owned(),
            a.scopes.join(" "),
            limit(&a),
            table::time(a.last_used_at.as_ref()),
            a.id.clone(),
        ]);
    }
    listing.print("no service accounts");
    Ok(())
}

/// `show`: one account's details, then its history.
async fn show(client: &mut Client, account: &str) -> Result<()> {
    let id = resolve(client, account).await?;
    let reply = client
        .get_service_account(identity::GetServiceAccountRequest {
            service_account_id: id,
        })
        .await
        .map_err(status_error)?
        .into_inner();
    print_account(&reply.service_account.unwrap_or_default());
    let mut history = Table::new(&["TIME", "WHO", "WHAT", "DETAIL"]);
    for e in reply.history {
        history.row([
            table::time(e.occurred_at.as_ref()),
            e.actor_name,
            e.action.replace('_', " "),
            e.detail,
        ]);
    }
    println!();
    history.print("no history");
    Ok(())
}

/// `rotate`: a new secret, shown once; the old one works for `grace` (0 when not given: the
/// service's default) unless it ends now.
async fn rotate(
    client: &mut Client,
    account: &str,
    grace: Option<humantime::Duration>,
    end_previous_now: bool,
) -> Result<()> {
    let id = resolve(client, account).await?;
    let grace_seconds = grace
        .map(|g| u32::try_from(g.as_secs()).unwrap_or(u32::MAX))
        .unwrap_or(0);
    let reply = client
        .rotate_service_account_secret(identity::RotateServiceAccountSecretRequest {
            service_account_id: id,
            grace_seconds,
            end_previous_now,
        })
        .await
        .map_err(status_error)?
        .into_inner();
    let account = reply.service_account.unwrap_or_default();
    println!("new secret for {}", account.name);
    println!("  client secret  {}", reply.client_secret);
    println!(
        "The old secret works until {}. This secret is shown once.",
        table::time(reply.previous_secret_expires_at.as_ref())
    );
    Ok(())
}

/// `add-key`: a new Ed25519 key, its public half registered and its private half written to
/// `private_key_file` (which must not exist yet) readable only by you.
async fn add_key(client: &mut Client, account: &str, private_key_file: &Path) -> Result<()> {
    let id = resolve(client, account).await?;
    if private_key_file.exists() {
        return Err(anyhow!(
            "{} exists; give a new file for the private key",
            private_key_file.display()
        ));
    }
    let key = ps_auth::SigningKey::generate();
    let reply = client
        .register_service_account_key(identity::RegisterServiceAccountKeyRequest {
            service_account_id: id,
            public_key: key.public_key(),
        })
        .await
        .map_err(status_error)?
        .into_inner();
    let pem = key.to_pkcs8_pem()?;
    crate::session::write_private(private_key_file, &pem)?;
    println!(
        "registered key {} for {}; its private half is in {} (only you can read it)",
        reply.key_id,
        reply.service_account.unwrap_or_default().name,
        private_key_file.display()
    );
    println!(
        "Configure the service with client id, this file and key id {} (see docs/service-accounts.md).",
        reply.key_id
    );
    Ok(())
}

/// `remove-key`: the account no longer signs in with that key.
async fn remove_key(client: &mut Client, account: &str, key_id: &str) -> Result<()> {
    let id = resolve(client, account).await?;
    let account = client
        .remove_service_account_key(identity::RemoveServiceAccountKeyRequest {
            service_account_id: id,
            key_id: key_id.to_owned(),
        })
        .await
        .map_err(status_error)?
        .into_inner();
    println!("removed key {key_id} from {}", account.name);
    Ok(())
}

/// `enable` (`enable` true) or `disable`.
async fn set_enabled(client: &mut Client, account: &str, enable: bool) -> Result<()> {
    let id = resolve(client, account).await?;
    let account = if enable {
        client
            .enable_service_account(identity::EnableServiceAccountRequest {
                service_account_id: id,
            })
            .await
    } else {
        client
            .disable_service_account(identity::DisableServiceAccountRequest {
                service_account_id: id,
            })
            .await
    }
    .map_err(status_error)?
    .into_inner();
    println!("{} is {}", account.name, status(&account).to_lowercase());
    Ok(())
}
