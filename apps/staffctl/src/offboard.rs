//! `staffctl offboard` and `staffctl offboardings`: preview, confirm, hand over, wait.

use std::io::{BufRead, IsTerminal, Write};
use std::time::{Duration, Instant};

use anyhow::{Result, bail};
use clap::Subcommand;
use indicatif::{ProgressBar, ProgressStyle};
use ps_auth::credentials::Credential;
use ps_proto::common::v1::{ExistingAccess, OffboardingCounts};
use ps_proto::orgaccess::v1 as org;
use ps_proto::orgaccess::v1::org_access_service_client::OrgAccessServiceClient;
use ps_proto::staff::v1 as staff;
use ps_proto::staff::v1::staff_directory_service_client::StaffDirectoryServiceClient;
use tonic::service::interceptor::InterceptedService;
use tonic::transport::Channel;

type Authed = InterceptedService<Channel, Credential>;

/// Rows of a list printed in full; beyond this, a count.
const SHOWN: usize = 25;
/// How long `offboard` waits for the result before leaving it to `offboardings show`.
const PATIENCE: Duration = Duration::from_secs(300);

#[derive(clap::Args)]
pub struct OffboardArgs {
    /// The member leaving.
    staff_id: String,
    /// An Active member who takes over their organisations and workflow steps.
    #[arg(long)]
    replacement: String,
    /// Where the replacement already has access, give them the leaver's role (by default they
    /// keep their own).
    #[arg(long)]
    use_leaver_role: bool,
    /// Do not ask for confirmation.
    #[arg(long)]
    yes: bool,
    /// Show the plan and stop.
    #[arg(long)]
    preview: bool,
}

#[derive(Subcommand)]
pub enum OffboardingCommand {
    /// The practice's offboardings, newest first.
    List {
        /// Only this member's.
        #[arg(long)]
        staff: Option<String>,
    },
    /// One offboarding's progress and result.
    Show { offboarding_id: String },
}

fn action(value: i32) -> &'static str {
    match org::HandoverAction::try_from(value) {
        Ok(org::HandoverAction::Grant) => "grant",
        Ok(org::HandoverAction::Keep) => "keep",
        Ok(org::HandoverAction::ChangeRole) => "change role",
        Ok(org::HandoverAction::Activate) => "activate",
        _ => "?",
    }
}

fn print_counts(c: &OffboardingCounts) {
    println!(
        "  {} organisation(s): {} membership(s) revoked, {} granted, {} changed; {} invitation(s) withdrawn; {} workflow step(s) reassigned",
        c.organisations,
        c.memberships_revoked,
        c.memberships_granted,
        c.memberships_changed,
        c.invitations_withdrawn,
        c.steps_reassigned
    );
}

fn print_plan(plan: &org::OffboardingPlan) {
    println!("Organisations:");
    if plan.organisations.is_empty() {
        println!("  (none)");
    }
    for o in plan.organisations.iter().take(SHOWN) {
        let before = if o.replacement_role_name_before.is_empty() {
            "-".to_owned()
        } else {
            o.replacement_role_name_before.clone()
        };
        println!(
            "  {:<30} leaver {:<16} replacement {} -> {}  ({})",
            o.organisation_name,
            o.leaver_role_name,
            before,
            o.replacement_role_name_after,
            action(o.action)
        );
    }
    if plan.organisations.len() > SHOWN {
        println!("  … and {} more", plan.organisations.len() - SHOWN);
    }
    let dropped = plan
        .steps
        .iter()
        .filter(|s| s.action == org::StepAction::DropLeaver as i32)
        .count();
    println!(
        "Workflow steps: {} ({} where the replacement already approves: the leaver is dropped)",
        plan.steps.len(),
        dropped
    );
    for s in plan.steps.iter().take(SHOWN) {
        println!("  {} step {} {}", s.workflow_name, s.position, s.step_name);
    }
    if plan.steps.len() > SHOWN {
        println!("  … and {} more", plan.steps.len() - SHOWN);
    }
    if !plan.withdrawn_invitations.is_empty() {
        println!("Invitations withdrawn:");
        for w in &plan.withdrawn_invitations {
            println!("  {} ({})", w.organisation_name, w.role_name);
        }
    }
    if !plan.warnings.is_empty() {
        println!("Warnings:");
        for w in &plan.warnings {
            println!("  {}: {}", w.code, w.message);
        }
    }
    if let Some(c) = &plan.counts {
        println!("In all:");
        print_counts(c);
    }
}

fn status(value: i32) -> &'static str {
    match staff::OffboardingStatus::try_from(value) {
        Ok(staff::OffboardingStatus::Requested) => "requested",
        Ok(staff::OffboardingStatus::Completed) => "completed",
        Ok(staff::OffboardingStatus::Failed) => "failed",
        _ => "?",
    }
}

fn print_offboarding(o: &staff::Offboarding) {
    println!(
        "{}  {:<9}  {} -> {}  (asked by {})",
        o.id,
        status(o.status),
        o.staff_name,
        o.replacement_name,
        o.requested_by_name
    );
    if let Some(c) = &o.counts {
        print_counts(c);
    }
    if !o.failure_reason.is_empty() {
        println!("  failed: {}", o.failure_reason);
    }
}

fn confirm(question: &str) -> Result<bool> {
    print!("{question} [y/N] ");
    std::io::stdout().flush()?;
    let mut answer = String::new();
    std::io::stdin().lock().read_line(&mut answer)?;
    Ok(matches!(answer.trim(), "y" | "Y" | "yes" | "Yes"))
}

/// Polls the offboarding until it is no longer Requested, with a spinner on a terminal.
async fn wait(
    directory: &mut StaffDirectoryServiceClient<Authed>,
    id: &str,
) -> Result<Option<staff::Offboarding>> {
    let spinner = ProgressBar::new_spinner().with_style(
        ProgressStyle::with_template("{spinner} {msg} {elapsed}")
            .unwrap_or_else(|_| ProgressStyle::default_spinner()),
    );
    spinner.set_message("org-access is handing the work over…");
    spinner.enable_steady_tick(Duration::from_millis(100));
    if !std::io::stderr().is_terminal() {
        eprintln!("waiting for the handover…");
    }
    let started = Instant::now();
    let result = loop {
        let found = directory
            .get_offboarding(staff::GetOffboardingRequest {
                offboarding_id: id.to_owned(),
            })
            .await
            .map_err(crate::status_error)?
            .into_inner();
        if found.status != staff::OffboardingStatus::Requested as i32 {
            break Some(found);
        }
        if started.elapsed() > PATIENCE {
            break None;
        }
        tokio::time::sleep(Duration::from_millis(200)).await;
    };
    spinner.finish_and_clear();
    Ok(result)
}

pub async fn offboard(
    mut directory: StaffDirectoryServiceClient<Authed>,
    mut orgs: OrgAccessServiceClient<Authed>,
    args: &OffboardArgs,
) -> Result<()> {
    let existing_access = if args.use_leaver_role {
        ExistingAccess::UseLeaverRole
    } else {
        ExistingAccess::KeepReplacementRole
    } as i32;
    let plan = orgs
        .preview_offboarding(org::PreviewOffboardingRequest {
            staff_id: args.staff_id.clone(),
            replacement_id: args.replacement.clone(),
            existing_access,
        })
        .await
        .map_err(crate::status_error)?
        .into_inner();
    print_plan(&plan);
    if args.preview {
        return Ok(());
    }
    if !args.yes && !confirm("Offboard and hand all of this over?")? {
        bail!("nothing was changed");
    }
    let requested = directory
        .offboard_staff(staff::OffboardStaffRequest {
            request_id: crate::request_id(),
            staff_id: args.staff_id.clone(),
            replacement_id: args.replacement.clone(),
            existing_access,
        })
        .await
        .map_err(crate::status_error)?
        .into_inner();
    println!("offboarding {} requested", requested.id);
    match wait(&mut directory, &requested.id).await? {
        Some(done) => {
            print_offboarding(&done);
            if done.status == staff::OffboardingStatus::Failed as i32 {
                bail!("the offboarding failed; nothing was changed");
            }
        }
        None => println!(
            "still running; follow it with `staffctl offboardings show {}`",
            requested.id
        ),
    }
    Ok(())
}

pub async fn offboardings(
    mut directory: StaffDirectoryServiceClient<Authed>,
    command: &OffboardingCommand,
) -> Result<()> {
    match command {
        OffboardingCommand::List { staff: leaver } => {
            let found = directory
                .list_offboardings(staff::ListOffboardingsRequest {
                    page: None,
                    staff_id: leaver.clone().unwrap_or_default(),
                })
                .await
                .map_err(crate::status_error)?
                .into_inner();
            for o in &found.offboardings {
                print_offboarding(o);
            }
        }
        OffboardingCommand::Show { offboarding_id } => {
            let found = directory
                .get_offboarding(staff::GetOffboardingRequest {
                    offboarding_id: offboarding_id.clone(),
                })
                .await
                .map_err(crate::status_error)?
                .into_inner();
            print_offboarding(&found);
        }
    }
    Ok(())
}
