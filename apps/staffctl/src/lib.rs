//! `staffctl`: Practice Staff from the command line, as a library so that the system tests run
//! exactly what the binary runs (`src/main.rs` only calls [`main`]).
//!
//! - `cli`: the commands of the practice, its staff, locations, certifications and invitations;
//! - `org` and `offboard`: organisations, workflows, roles, access, and offboarding;
//! - `service_accounts`: the service accounts other services call the internal APIs with;
//! - `session`: the saved session and the connections to the four services;
//! - `resolve`: what a person types (an id, an e-mail, a name) turned into the id a service
//!   takes, and ids turned back into names;
//! - `table`: tables, detail views, times and audit changes as people read them;
//! - `prompt`: passwords and confirmations;
//! - `links`: tokens out of links and `.eml` files (the system tests read e-mails with it).
//!
//! Sign-in keeps the session (access and refresh token) in a file readable only by you
//! (`--session`, default in your config directory); later commands use it and refresh the
//! access token when it is about to expire.

mod cli;
mod links;
mod offboard;
mod org;
mod prompt;
mod resolve;
mod service_accounts;
mod session;
mod table;

pub use links::{decode_quoted_printable, invitation_token, token_in};

/// Runs the command line on this process's arguments; what `staffctl` is.
pub async fn main() -> std::process::ExitCode {
    cli::main().await
}
