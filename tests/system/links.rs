//! Single-use links are never at rest: no table and no database file of any service holds a
//! link that was e-mailed, and an e-mail that finally fails voids the link it would have
//! carried and shows the manager that the invitation did not arrive.

use std::time::Duration;

use ps_proto::common::v1::PracticeRole;
use ps_proto::identity::v1 as identity;
use ps_proto::notification::v1 as notification;
use ps_proto::staff::v1 as staff;
use sea_orm::ConnectionTrait;
use system_tests::{Backend, TestSystem, count, eventually, eventually_within, on_every_backend};

on_every_backend!(
    no_emailed_link_is_kept_in_any_table_or_database_file,
    an_invitation_that_cannot_be_delivered_voids_its_link_and_says_so,
);

/// Every token of every e-mail in the folder.
fn emailed_tokens(system: &TestSystem) -> Vec<String> {
    let mut tokens = Vec::new();
    let Ok(entries) = std::fs::read_dir(&system.mail_dir) else {
        return tokens;
    };
    for path in entries.filter_map(Result::ok).map(|e| e.path()) {
        let Ok(raw) = std::fs::read_to_string(&path) else {
            continue;
        };
        let content = staffctl::decode_quoted_printable(&raw);
        let mut rest = content.as_str();
        while let Some(at) = rest.find("token=") {
            rest = &rest[at + "token=".len()..];
            let token: String = rest
                .chars()
                .take_while(|c| c.is_ascii_alphanumeric() || matches!(c, '-' | '_'))
                .collect();
            if token.len() >= 32 {
                tokens.push(token);
            }
        }
    }
    tokens.sort();
    tokens.dedup();
    tokens
}

/// Every row of every table of `db`, as text.
async fn every_row(db: &sea_orm::DatabaseConnection) -> String {
    let backend = db.get_database_backend();
    let tables_sql = match backend {
        sea_orm::DatabaseBackend::Postgres => {
            "SELECT tablename AS s FROM pg_tables WHERE schemaname = 'public'"
        }
        _ => "SELECT name AS s FROM sqlite_master WHERE type = 'table'",
    };
    let mut dump = String::new();
    for table in system_tests::strings(db, tables_sql).await {
        let rows = db
            .query_all_raw(sea_orm::Statement::from_string(
                backend,
                format!("SELECT * FROM \"{table}\""),
            ))
            .await
            .unwrap_or_else(|e| panic!("{table}: {e}"));
        for row in rows {
            dump.push_str(&format!("{row:?}\n"));
        }
    }
    dump
}

/// The raw files a service's database lives in: the SQLite file with its WAL and shared
/// memory; on PostgreSQL, after a checkpoint, every file of the database's directory.
async fn raw_files(settings: &ps_db::DbSettings) -> Vec<std::path::PathBuf> {
    if let Some(path) = settings.url.strip_prefix("sqlite://") {
        let path = path.split('?').next().unwrap_or_default();
        return ["", "-wal", "-shm"]
            .iter()
            .map(|suffix| std::path::PathBuf::from(format!("{path}{suffix}")))
            .filter(|p| p.exists())
            .collect();
    }
    let db = ps_db::connect(settings).await.expect("database");
    db.execute_unprepared("CHECKPOINT")
        .await
        .expect("checkpoint");
    let data = system_tests::strings(
        &db,
        "SELECT setting AS s FROM pg_settings WHERE name = 'data_directory'",
    )
    .await;
    let oid = system_tests::strings(
        &db,
        "SELECT CAST(oid AS TEXT) AS s FROM pg_database WHERE datname = current_database()",
    )
    .await;
    let _ = db.close().await;
    let dir = std::path::Path::new(&data[0]).join("base").join(&oid[0]);
    std::fs::read_dir(&dir)
        .unwrap_or_else(|e| panic!("{}: {e}", dir.display()))
        .filter_map(Result::ok)
        .map(|e| e.path())
        .collect()
}

async fn no_emailed_link_is_kept_in_any_table_or_database_file(backend: Backend) {
    let system = TestSystem::start_handling_events_in_order(&backend).await;
    let owner = system.practice_with_owner("At Rest Practice").await;
    let member = system
        .member(&owner, "member@rest.test", PracticeRole::Member)
        .await;
    let mut pending = Vec::new();
    for i in 0..5 {
        pending.push(
            system
                .invite(
                    &owner,
                    &format!("pending{i}@rest.test"),
                    PracticeRole::Member,
                )
                .await,
        );
    }
    for member in &pending[..2] {
        system
            .staff_as(&owner)
            .await
            .reinvite_staff(staff::ReinviteStaffRequest {
                staff_id: member.id.clone(),
                ..Default::default()
            })
            .await
            .expect("reinvite");
    }
    system
        .identity()
        .await
        .request_password_reset(identity::RequestPasswordResetRequest {
            email: member.email.clone(),
        })
        .await
        .expect("reset request");
    // Nine e-mails with a link: the owner's and the member's invitations, five more, two
    // reminders, one reset.
    let tokens = eventually("every e-mail with a link", || async {
        let tokens = emailed_tokens(&system);
        (tokens.len() >= 10).then_some(tokens)
    })
    .await;
    let log = system.notification_as(&owner).await;
    eventually("every e-mail recorded as sent", || {
        let mut log = log.clone();
        async move {
            let deliveries = log
                .list_deliveries(notification::ListDeliveriesRequest::default())
                .await
                .ok()?
                .into_inner()
                .deliveries;
            deliveries
                .iter()
                .all(|d| d.status == notification::DeliveryStatus::Sent as i32)
                .then_some(())
        }
    })
    .await;

    let d = &system.databases;
    let mut searched = 0usize;
    for (name, settings) in [
        ("identity", &d.identity),
        ("staff-directory", &d.staff_directory),
        ("org-access", &d.org_access),
        ("notification", &d.notification),
    ] {
        let db = system.database(settings).await;
        let rows = every_row(&db).await;
        let _ = db.close().await;
        for token in &tokens {
            assert!(
                !rows.contains(token.as_str()),
                "{name}: a table holds an e-mailed token"
            );
        }
        for file in raw_files(settings).await {
            let bytes = std::fs::read(&file).unwrap_or_default();
            searched += bytes.len();
            for token in &tokens {
                assert!(
                    !bytes.windows(token.len()).any(|w| w == token.as_bytes()),
                    "{name}: {} holds an e-mailed token",
                    file.display()
                );
            }
        }
    }
    println!(
        "{} e-mailed tokens searched for in every table and {searched} bytes of database files ({}): none found",
        tokens.len(),
        backend.name()
    );
}

async fn an_invitation_that_cannot_be_delivered_voids_its_link_and_says_so(backend: Backend) {
    let mut system = TestSystem::start(&backend).await;
    let owner = system.practice_with_owner("Undelivered Practice").await;
    // From now on every e-mail fails: SMTP where nothing listens, two attempts.
    let closed = std::net::TcpListener::bind("127.0.0.1:0").expect("a port");
    let port = closed.local_addr().expect("bound").port();
    drop(closed);
    system
        .set_mail(ps_notification::mail::MailSettings {
            smtp_url: format!("smtp://127.0.0.1:{port}"),
            max_attempts: 2,
            retry_delay: Duration::from_millis(50),
            ..Default::default()
        })
        .await;
    let owner = system
        .sign_in(&owner.email, &owner.password)
        .await
        .expect("the owner signs in again");
    let invited = system
        .invite(&owner, "lost@undelivered.test", PracticeRole::Member)
        .await;

    // The manager sees the invitation did not arrive, and why.
    let member = eventually_within(Duration::from_secs(30), "the failure shown", || async {
        let member = system.staff_member(&owner, "lost@undelivered.test").await;
        member.invitation_failed_at.is_some().then_some(member)
    })
    .await;
    assert_eq!(member.id, invited.id);
    assert_eq!(member.status, staff::StaffStatus::Pending as i32);
    assert!(!member.invitation_failure.is_empty());
    let delivery = system
        .notification_as(&owner)
        .await
        .list_deliveries(notification::ListDeliveriesRequest {
            recipient: "lost@undelivered.test".into(),
            ..Default::default()
        })
        .await
        .expect("ListDeliveries")
        .into_inner()
        .deliveries
        .pop()
        .expect("its delivery");
    assert_eq!(delivery.status, notification::DeliveryStatus::Failed as i32);
    assert_eq!(delivery.attempts, 2);
    let identity_db = system.database(&system.databases.identity).await;
    eventually("the link voided", || async {
        (count(
            &identity_db,
            "SELECT count(*) AS n FROM action_links a JOIN users u ON u.id = a.user_id \
             WHERE u.email = 'lost@undelivered.test' AND a.voided_at IS NULL AND a.used_at IS NULL",
        )
        .await
            == 0)
            .then_some(())
    })
    .await;
    let minted = count(
        &identity_db,
        "SELECT count(*) AS n FROM action_links a JOIN users u ON u.id = a.user_id \
         WHERE u.email = 'lost@undelivered.test'",
    )
    .await;
    assert_eq!(minted, 2, "one link per attempt, each voided");
    let log = system.notification_as(&owner).await;
    eventually("the log to say the link is void", || {
        let mut log = log.clone();
        let delivery_id = delivery.id.clone();
        async move {
            log.get_delivery(notification::GetDeliveryRequest { delivery_id })
                .await
                .ok()?
                .into_inner()
                .link_voided_at
        }
    })
    .await;

    // Mail works again: a reinvite sends a live link and clears the failure.
    system
        .set_mail(ps_notification::mail::MailSettings::default())
        .await;
    let owner = system
        .sign_in(&owner.email, &owner.password)
        .await
        .expect("the owner signs in again");
    let reinvited = system
        .staff_as(&owner)
        .await
        .reinvite_staff(staff::ReinviteStaffRequest {
            staff_id: invited.id.clone(),
            ..Default::default()
        })
        .await
        .expect("reinvite")
        .into_inner();
    assert!(reinvited.invitation_failed_at.is_none());
    let mail = system.wait_for_mail("lost@undelivered.test", 1).await;
    system
        .identity()
        .await
        .get_invitation(identity::GetInvitationRequest { token: mail.token })
        .await
        .expect("the reinvitation's link works");
    let _ = identity_db.close().await;
}
