//! `staffctl offboard` and `staffctl offboardings`: preview, confirm, hand over, wait.

use std::io::IsTerminal;
use std::time::{Duration, Instant};

use anyhow::{Result, bail};
use clap::Subcommand;
use indicatif::{ProgressBar, ProgressStyle};
use ps_proto::common::v1::{ExistingAccess, OffboardingCounts};
use ps_proto::orgaccess::v1 as org;
use ps_proto::staff::v1 as staff;

use crate::cli::status_error;
use crate::prompt;
use crate::session::{Caller, StaffClient};
use crate::table::{self, Details, Table};

/// Rows of a list printed in full; beyond this, a count.
const SHOWN: usize = 25;
/// How long `offboard` waits for the result before leaving it to `offboardings show`.
const PATIENCE: Duration = Duration::from_secs(300);

#[derive(clap::Args)]
pub(crate) struct OffboardArgs {
    /// The member leaving: e-mail, name or id.
    staff: String,
    /// An Active member who takes over their organisations and workflow steps (e-mail, name or
    /// id).
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
pub(crate) enum OffboardingCommand {
    /// The practice's offboardings, newest first.
    List {
        /// Only this member's (e-mail, name or id).
        #[arg(long)]
        staff: Option<String>,
    },
    /// One offboarding's progress and result.
    Show { offboarding_id: String },
}

fn action(value: i32) -> &'static str {
    match org::HandoverAction::try_from(value) {
        Ok(org::HandoverAction::Grant) => "grant",
        Ok(org::HandoverAction::Keep) => "keep their role",
        Ok(org::HandoverAction::ChangeRole) => "change role",
        Ok(org::HandoverAction::Activate) => "activate their invitation",
        _ => "?",
    }
}

fn counts(c: &OffboardingCounts) -> String {
    format!(
        "{} organisation(s): {} membership(s) revoked, {} granted, {} changed; {} invitation(s) withdrawn; {} workflow step(s) reassigned",
        c.organisations,
        c.memberships_revoked,
        c.memberships_granted,
        c.memberships_changed,
        c.invitations_withdrawn,
        c.steps_reassigned
    )
}

fn print_plan(
    leaver: &staff::StaffMember,
    replacement: &staff::StaffMember,
    plan: &org::OffboardingPlan,
) {
    println!(
        "Offboarding {} <{}>; {} <{}> takes over.",
        leaver.name, leaver.email, replacement.name, replacement.email
    );
    println!("Organisations:");
    let mut organisations = Table::new(&[
        "ORGANISATION",
        "LEAVER'S ROLE",
        "REPLACEMENT'S ROLE",
        "ACTION",
    ]);
    for o in plan.organisations.iter().take(SHOWN) {
        let before = if o.replacement_role_name_before.is_empty() {
            "-"
        } else {
            o.replacement_role_name_before.as_str()
        };
        organisations.row([
            o.organisation_name.clone(),
            o.leaver_role_name.clone(),
            format!("{before} → {}", o.replacement_role_name_after),
            action(o.action).to_owned(),
        ]);
    }
    organisations.print("  (none)");
    if plan.organisations.len() > SHOWN {
        println!("  … and {} more", plan.organisations.len() - SHOWN);
    }
    println!("Workflow steps:");
    let mut steps = Table::new(&["WORKFLOW", "STEP", "ACTION"]);
    for s in plan.steps.iter().take(SHOWN) {
        steps.row([
            s.workflow_name.clone(),
            format!("{}. {}", s.position, s.step_name),
            if s.action == org::StepAction::DropLeaver as i32 {
                "drop the leaver (the replacement already approves)"
            } else {
                "the replacement takes their place"
            }
            .to_owned(),
        ]);
    }
    steps.print("  (none)");
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
        println!("In all: {}", counts(c));
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
    let mut d = Details::default();
    d.field("Leaver", o.staff_name.clone())
        .field("Replacement", o.replacement_name.clone())
        .field("Status", status(o.status))
        .field("Asked by", o.requested_by_name.clone())
        .field("Requested", table::time_utc(o.requested_at.as_ref()))
        .field("Finished", table::time_utc(o.finished_at.as_ref()))
        .field("Id", o.id.clone());
    if let Some(c) = &o.counts {
        d.field("Handed over", counts(c));
    }
    if !o.failure_reason.is_empty() {
        d.field("Failed", o.failure_reason.clone());
    }
    print!("{}", d.render());
}

/// Polls the offboarding until it is no longer Requested, with a spinner on a terminal.
async fn wait(directory: &mut StaffClient, id: &str) -> Result<Option<staff::Offboarding>> {
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
            .map_err(status_error)?
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

pub(crate) async fn offboard(caller: &mut Caller, args: &OffboardArgs) -> Result<()> {
    let leaver = caller.staff_member(&args.staff).await?;
    let replacement = caller.staff_member(&args.replacement).await?;
    let existing_access = if args.use_leaver_role {
        ExistingAccess::UseLeaverRole
    } else {
        ExistingAccess::KeepReplacementRole
    } as i32;
    let plan = caller
        .orgs()
        .await?
        .preview_offboarding(org::PreviewOffboardingRequest {
            staff_id: leaver.id.clone(),
            replacement_id: replacement.id.clone(),
            existing_access,
        })
        .await
        .map_err(status_error)?
        .into_inner();
    print_plan(&leaver, &replacement, &plan);
    if args.preview {
        return Ok(());
    }
    if !args.yes && !prompt::confirm("Offboard and hand all of this over?")? {
        println!("nothing changed");
        return Ok(());
    }
    let mut directory = caller.staff().await?;
    let requested = directory
        .offboard_staff(staff::OffboardStaffRequest {
            request_id: crate::cli::request_id(),
            staff_id: leaver.id.clone(),
            replacement_id: replacement.id.clone(),
            existing_access,
        })
        .await
        .map_err(status_error)?
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

pub(crate) async fn offboardings(caller: &mut Caller, command: &OffboardingCommand) -> Result<()> {
    let mut directory = caller.staff().await?;
    match command {
        OffboardingCommand::List { staff: leaver } => {
            let staff_id = match leaver {
                Some(s) => caller.staff_id(s).await?,
                None => String::new(),
            };
            let found = directory
                .list_offboardings(staff::ListOffboardingsRequest {
                    page: None,
                    staff_id,
                })
                .await
                .map_err(status_error)?
                .into_inner();
            let mut listing = Table::new(&[
                "REQUESTED (UTC)",
                "LEAVER",
                "REPLACEMENT",
                "STATUS",
                "ASKED BY",
                "ID",
            ]);
            for o in &found.offboardings {
                listing.row([
                    table::time(o.requested_at.as_ref()),
                    o.staff_name.clone(),
                    o.replacement_name.clone(),
                    status(o.status).to_owned(),
                    o.requested_by_name.clone(),
                    o.id.clone(),
                ]);
            }
            listing.print("no offboardings");
        }
        OffboardingCommand::Show { offboarding_id } => {
            let found = directory
                .get_offboarding(staff::GetOffboardingRequest {
                    offboarding_id: offboarding_id.clone(),
                })
                .await
                .map_err(status_error)?
                .into_inner();
            print_offboarding(&found);
        }
    }
    Ok(())
}
