//! P3: offboarding one member from 1,000 organisations and 10,000 workflow steps, from
//! OffboardStaff to OffboardingCompleted, against one raw set-based UPDATE of the same rows on
//! a copy of org-access's tables; then the same event delivered again.
//!
//! Each round hands everything to a fresh replacement, who is the leaver of the next round, so
//! every round moves the same 1,000 memberships and 10,000 step approvals.

use std::time::{Duration, Instant};

use anyhow::{Context, anyhow};
use futures::{StreamExt, TryStreamExt, stream};
use ps_events::outbox::entity as outbox;
use ps_proto::orgaccess::v1 as org;
use ps_proto::orgaccess::v1::org_access_service_client::OrgAccessServiceClient;
use ps_proto::staff::v1 as staff;
use ps_proto::staff::v1::staff_directory_service_client::StaffDirectoryServiceClient;
use sea_orm::{
    ActiveModelTrait, ColumnTrait, ConnectionTrait, DatabaseConnection, DbBackend, EntityTrait,
    IntoActiveModel, QueryFilter, QueryOrder, Set, Statement, TransactionTrait,
};
use uuid::Uuid;

use crate::Settings;
use crate::harness::{Authed, Backend, Person, Product};
use crate::spans;
use crate::stats::{self, Figure, millis};

const WORKFLOWS_EACH: usize = 2;
const STEPS_EACH: usize = 5;
const LEAVER_ROLES: [&str; 3] = ["Approver", "Editor", "Viewer"];

pub(crate) async fn p3(settings: &Settings, backend: &Backend) -> anyhow::Result<()> {
    let n_orgs = settings.organisations;
    println!(
        "P3 offboarding one member from {n_orgs} organisations and {} steps on {}",
        n_orgs * WORKFLOWS_EACH * STEPS_EACH,
        backend.name()
    );
    let started = Instant::now();
    let product = Product::start(
        backend,
        ps_identity::passwords::HashingSettings {
            memory_kib: 1024,
            iterations: 1,
            ..Default::default()
        },
    )
    .await?;
    let result = run(settings, &product, n_orgs, started).await;
    product.stop().await;
    result
}

async fn run(
    settings: &Settings,
    product: &Product,
    n_orgs: usize,
    started: Instant,
) -> anyhow::Result<()> {
    let rounds = 1 + settings.blocks;
    let handover = seed(product, n_orgs, rounds).await?;
    println!("  seeded in {:.1} s", started.elapsed().as_secs_f64());

    let org_db = ps_db::connect(&product.databases.org_access).await?;
    let staff_db = ps_db::connect(&product.databases.staff_directory).await?;
    let mut directory = product.staff_as(&handover.owner).await?;
    let mut figures = Figures::default();
    for round in 1..=rounds {
        let (leaver, replacement) = (&handover.staff_ids[round - 1], &handover.staff_ids[round]);
        let leaver_uuid = Uuid::parse_str(leaver)?;
        let replacement_uuid = Uuid::parse_str(replacement)?;

        // The baseline: the same rows, one set-based UPDATE per table, on a copy.
        let raw_took = raw_update(
            product,
            &org_db,
            round,
            handover.practice,
            leaver_uuid,
            replacement_uuid,
            n_orgs,
        )
        .await?;

        // The product: OffboardStaff until GetOffboarding says Completed.
        let e2e_took = offboard(&mut directory, leaver, replacement).await?;
        let event = outbox::Entity::find()
            .filter(outbox::Column::EventType.eq("staff.offboarding_requested"))
            .order_by_desc(outbox::Column::CreatedAt)
            .one(&staff_db)
            .await?
            .ok_or_else(|| anyhow!("no offboarding event in staff-directory's outbox"))?;
        let event_id = event.id.to_string();
        let first = wait_for_handling(&event_id, 1).await?;

        // The same event again: the outbox row marked unpublished, so the relay sends it anew.
        let before = fingerprint(&org_db).await?;
        let mut row = event.into_active_model();
        row.published_at = Set(None);
        row.claimed_until = Set(None);
        row.next_attempt_at = Set(chrono::Utc::now());
        row.update(&staff_db).await?;
        let second = wait_for_handling(&event_id, 2).await?;
        let after = fingerprint(&org_db).await?;
        if before != after {
            figures.changed_on_redelivery += 1;
            println!("  round {round}: redelivery changed org-access: {before:?} → {after:?}");
        }
        if round == 1 {
            continue; // warm-up
        }
        figures.record(raw_took, e2e_took, first, second);
    }
    figures.print(rounds);
    Ok(())
}

/// What P3 seeds: the practice, its owner, and the members handing over in turn (the first
/// is the first leaver).
struct Handover {
    owner: Person,
    practice: Uuid,
    staff_ids: Vec<String>,
}

/// The practice with a member per round and one more, `n_orgs` organisations, and the first
/// leaver in every one of them (roles taken in turn from [`LEAVER_ROLES`]) and approving in
/// every step of their workflows.
async fn seed(product: &Product, n_orgs: usize, rounds: usize) -> anyhow::Result<Handover> {
    let owner = product.practice_with_owner("Large Handover").await?;
    let practice = Uuid::parse_str(&owner.practice_id)?;
    let emails: Vec<String> = (0..=rounds)
        .map(|i| format!("handover{i}@large.bench.test"))
        .collect();
    let people = product.staff(&owner, &emails).await?;
    let staff_ids: Vec<String> = people.iter().map(|(_, s)| s.clone()).collect();
    let users: Vec<String> = people.iter().map(|(u, _)| u.clone()).collect();
    let organisations = product.organisations(&owner, "Client", n_orgs).await?;
    product.wait_for_roster(&users, &organisations[0]).await?;
    let mut roles = Vec::new();
    for name in LEAVER_ROLES {
        roles.push(product.role_id(&owner, name).await?);
    }
    let orgs = product.org_access_as(&owner).await?;
    orgs.clone()
        .set_staff_access(org::SetStaffAccessRequest {
            request_id: "seed-leaver".into(),
            staff_id: staff_ids[0].clone(),
            default_role_id: String::new(),
            entries: (0..n_orgs)
                .map(|n| org::AccessEntry {
                    organisation_id: organisations[n].clone(),
                    role_id: roles[n % roles.len()].clone(),
                    ..Default::default()
                })
                .collect(),
            preview: false,
        })
        .await
        .context("SetStaffAccess for the first leaver")?;
    seed_workflows(&orgs, &organisations, &staff_ids[0]).await?;
    Ok(Handover {
        owner,
        practice,
        staff_ids,
    })
}

/// [`WORKFLOWS_EACH`] workflows in each organisation, each of [`STEPS_EACH`] steps that
/// `leaver` alone approves.
async fn seed_workflows(
    orgs: &OrgAccessServiceClient<Authed>,
    organisations: &[String],
    leaver: &str,
) -> anyhow::Result<()> {
    stream::iter((0..organisations.len()).flat_map(|n| (0..WORKFLOWS_EACH).map(move |w| (n, w))))
        .map(|(n, w)| {
            let mut orgs = orgs.clone();
            let request = org::CreateWorkflowRequest {
                request_id: String::new(),
                organisation_id: organisations[n].clone(),
                name: format!("Process {w}"),
                steps: (0..STEPS_EACH)
                    .map(|k| org::StepInput {
                        name: format!("Step {k}"),
                        approver_staff_ids: vec![leaver.to_owned()],
                    })
                    .collect(),
            };
            async move { orgs.create_workflow(request).await.map(|_| ()) }
        })
        .buffer_unordered(16)
        .try_collect::<Vec<()>>()
        .await
        .context("CreateWorkflow")?;
    Ok(())
}

/// Offboards `leaver` to `replacement` and polls until the offboarding is no longer
/// requested; how long it took, or an error unless it completed.
async fn offboard(
    directory: &mut StaffDirectoryServiceClient<Authed>,
    leaver: &str,
    replacement: &str,
) -> anyhow::Result<Duration> {
    let sent = Instant::now();
    let requested = directory
        .offboard_staff(staff::OffboardStaffRequest {
            request_id: String::new(),
            staff_id: leaver.to_owned(),
            replacement_id: replacement.to_owned(),
            existing_access: 0,
        })
        .await
        .context("OffboardStaff")?
        .into_inner();
    let done = loop {
        let found = directory
            .get_offboarding(staff::GetOffboardingRequest {
                offboarding_id: requested.id.clone(),
            })
            .await?
            .into_inner();
        if found.status != staff::OffboardingStatus::Requested as i32 {
            break found;
        }
        if sent.elapsed() > Duration::from_secs(300) {
            return Err(anyhow!("offboarding did not complete in 300 s"));
        }
        tokio::time::sleep(Duration::from_millis(2)).await;
    };
    let took = sent.elapsed();
    if done.status != staff::OffboardingStatus::Completed as i32 {
        return Err(anyhow!("offboarding failed: {done:?}"));
    }
    Ok(took)
}

/// P3's figures over the measured rounds (the first is a warm-up).
#[derive(Default)]
struct Figures {
    raw: Figure,
    e2e: Figure,
    handle: Figure,
    again: Figure,
    e2e_ratio: Figure,
    again_ratio: Figure,
    /// Rounds, the warm-up too, whose redelivered event changed org-access's tables.
    changed_on_redelivery: u64,
}

impl Figures {
    /// One round: the raw UPDATE's time, OffboardStaff to completed, and org-access's
    /// handling of the event the first and the second time.
    fn record(&mut self, raw: Duration, e2e: Duration, first: Duration, second: Duration) {
        self.raw.push(millis(raw));
        self.e2e.push(millis(e2e));
        self.handle.push(millis(first));
        self.again.push(millis(second));
        self.e2e_ratio.push(e2e.as_secs_f64() / raw.as_secs_f64());
        self.again_ratio
            .push(second.as_secs_f64() / raw.as_secs_f64());
    }

    /// The figures and the verdicts, out of `rounds` rounds.
    fn print(&self, rounds: usize) {
        stats::print("raw set-based UPDATE on a copy", &self.raw, "ms");
        stats::print("OffboardStaff → OffboardingCompleted", &self.e2e, "ms");
        stats::print(
            "  of which org-access handling the event",
            &self.handle,
            "ms",
        );
        stats::print("redelivered event, org-access handling", &self.again, "ms");
        stats::print("ratio offboarding / raw", &self.e2e_ratio, "×");
        stats::print("ratio redelivery / raw", &self.again_ratio, "×");
        println!(
            "  redeliveries that changed org-access's tables: {} of {rounds}",
            self.changed_on_redelivery
        );
        stats::verdict("P3", "offboarding ≤ 3× raw", self.e2e_ratio.median() <= 3.0);
        stats::verdict(
            "P3",
            "redelivery ≤ 0.2× raw and changes 0 rows",
            self.again_ratio.median() <= 0.2 && self.changed_on_redelivery == 0,
        );
    }
}

/// Waits until org-access has handled `event_id` `n` times; the n-th handling's wall time.
async fn wait_for_handling(event_id: &str, n: usize) -> anyhow::Result<Duration> {
    let deadline = Instant::now() + Duration::from_secs(120);
    loop {
        let handled = spans::handled("org-access", event_id);
        if handled.len() >= n {
            return Ok(handled[n - 1].took);
        }
        if Instant::now() > deadline {
            return Err(anyhow!(
                "org-access did not handle event {event_id} {n} times"
            ));
        }
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
}

/// Row counts and the newest membership change in org-access: equal before and after means
/// nothing was written.
async fn fingerprint(db: &DatabaseConnection) -> anyhow::Result<Vec<String>> {
    let sql = "SELECT CAST((SELECT COUNT(*) FROM memberships) AS TEXT), \
               CAST((SELECT COUNT(*) FROM memberships WHERE status = 'active') AS TEXT), \
               CAST((SELECT COUNT(*) FROM step_approvers) AS TEXT), \
               CAST((SELECT COUNT(*) FROM access_audit) AS TEXT), \
               CAST((SELECT COUNT(*) FROM outbox_events) AS TEXT), \
               CAST((SELECT MAX(status_changed_at) FROM memberships) AS TEXT)";
    let row = db
        .query_one_raw(Statement::from_string(db.get_database_backend(), sql))
        .await?
        .ok_or_else(|| anyhow!("no fingerprint row"))?;
    (0..6)
        .map(|i| {
            row.try_get_by_index::<Option<String>>(i)
                .map(Option::unwrap_or_default)
                .map_err(Into::into)
        })
        .collect()
}

/// A copy of org-access's memberships and step approvers to time the baseline on: the
/// connection to it, the two tables' names there, and what removes the copy's file (SQLite;
/// on PostgreSQL the copy is a schema, dropped by [`raw_update`]).
struct TablesCopy {
    db: DatabaseConnection,
    memberships: String,
    steps: String,
    cleanup: Box<dyn FnOnce()>,
}

/// Copies the two tables: on SQLite the whole database into a file of its own, on PostgreSQL
/// into a schema `bench_copy_{round}` beside them.
async fn copy_tables(
    product: &Product,
    org_db: &DatabaseConnection,
    round: usize,
) -> anyhow::Result<TablesCopy> {
    if org_db.get_database_backend() == DbBackend::Sqlite {
        let path = product
            .dir
            .path()
            .join(format!("org-access-copy-{round}.db"));
        org_db
            .execute_unprepared(&format!("VACUUM INTO '{}'", path.display()))
            .await?;
        let db = ps_db::connect(&ps_db::DbSettings::sqlite_file(&path)).await?;
        return Ok(TablesCopy {
            db,
            memberships: "memberships".into(),
            steps: "step_approvers".into(),
            cleanup: Box::new(move || {
                let _ = std::fs::remove_file(path);
            }),
        });
    }
    let schema = format!("bench_copy_{round}");
    org_db
        .execute_unprepared(&format!(
            "CREATE SCHEMA {schema}; \
             CREATE TABLE {schema}.memberships (LIKE public.memberships INCLUDING ALL); \
             INSERT INTO {schema}.memberships SELECT * FROM public.memberships; \
             CREATE TABLE {schema}.step_approvers (LIKE public.step_approvers INCLUDING ALL); \
             INSERT INTO {schema}.step_approvers SELECT * FROM public.step_approvers; \
             ANALYZE {schema}.memberships; ANALYZE {schema}.step_approvers"
        ))
        .await?;
    Ok(TablesCopy {
        db: org_db.clone(),
        memberships: format!("{schema}.memberships"),
        steps: format!("{schema}.step_approvers"),
        cleanup: Box::new(|| {}),
    })
}

/// Copies org-access's memberships and step approvers, then times the two set-based UPDATEs
/// that do the handover's row changes, in one transaction.
async fn raw_update(
    product: &Product,
    org_db: &DatabaseConnection,
    round: usize,
    practice: Uuid,
    leaver: Uuid,
    replacement: Uuid,
    n_orgs: usize,
) -> anyhow::Result<Duration> {
    let backend = org_db.get_database_backend();
    let TablesCopy {
        db: copy,
        memberships,
        steps,
        cleanup,
    } = copy_tables(product, org_db, round).await?;
    let sent = Instant::now();
    let tx = copy.begin().await?;
    let revoked = tx
        .execute_raw(Statement::from_sql_and_values(
            backend,
            format!(
                "UPDATE {memberships} SET status = 'revoked', status_changed_at = $1 \
                 WHERE practice_id = $2 AND staff_id = $3 AND status IN ('invited', 'active')"
            ),
            [chrono::Utc::now().into(), practice.into(), leaver.into()],
        ))
        .await?
        .rows_affected();
    let moved = tx
        .execute_raw(Statement::from_sql_and_values(
            backend,
            format!("UPDATE {steps} SET staff_id = $1 WHERE practice_id = $2 AND staff_id = $3"),
            [replacement.into(), practice.into(), leaver.into()],
        ))
        .await?
        .rows_affected();
    tx.commit().await?;
    let took = sent.elapsed();
    let expected_steps = (n_orgs * WORKFLOWS_EACH * STEPS_EACH) as u64;
    if revoked != n_orgs as u64 || moved != expected_steps {
        println!(
            "  round {round}: raw update changed {revoked} memberships and {moved} steps (expected {n_orgs} and {expected_steps})"
        );
    }
    if backend == DbBackend::Sqlite {
        let _ = copy.close().await;
    } else {
        org_db
            .execute_unprepared(&format!("DROP SCHEMA bench_copy_{round} CASCADE"))
            .await?;
    }
    cleanup();
    Ok(took)
}
