//! `staffctl`, the binary people run, against the product: the assertions are on what it
//! prints, which is what a person reads — names, never ids, where people read. The CLI's
//! output does not depend on the backend, so this runs on the embedded one only.

use std::io::Write;
use std::net::SocketAddr;
use std::path::PathBuf;
use std::process::{Command, Stdio};

use ps_proto::orgaccess::v1 as org;
use ps_proto::staff::v1 as staff;
use system_tests::{Backend, OPERATOR_TOKEN, TestSystem, eventually};

/// What one run printed.
struct Run {
    ok: bool,
    stdout: String,
    stderr: String,
}

/// `staffctl` pointed at one test system, with a session file of its own (one person).
struct Staffctl {
    global: Vec<String>,
}

impl Staffctl {
    fn new(system: &TestSystem, session: PathBuf) -> Self {
        let a = system.addresses;
        Self::at(
            [a.identity, a.staff_directory, a.org_access, a.notification],
            session,
        )
    }

    fn at(addresses: [SocketAddr; 4], session: PathBuf) -> Self {
        let [identity, staff, org_access, notification] = addresses.map(|a| format!("http://{a}"));
        Self {
            global: vec![
                "--identity-url".into(),
                identity,
                "--staff-url".into(),
                staff,
                "--org-access-url".into(),
                org_access,
                "--notification-url".into(),
                notification,
                "--session".into(),
                session.display().to_string(),
            ],
        }
    }

    /// Runs one command with `stdin` as its input, off the runtime's threads (the services
    /// answering it run on them).
    async fn run(&self, args: &[&str], stdin: &str) -> Run {
        let mut command = Command::new(env!("CARGO_BIN_EXE_staffctl-cli"));
        command
            .args(&self.global)
            .args(args)
            .env_clear()
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped());
        let input = stdin.to_owned();
        tokio::task::spawn_blocking(move || {
            let mut child = command.spawn().expect("staffctl starts");
            if let Some(mut pipe) = child.stdin.take() {
                // A command that reads nothing may exit before taking its input.
                let _ = pipe.write_all(input.as_bytes());
            }
            let out = child.wait_with_output().expect("staffctl ends");
            Run {
                ok: out.status.success(),
                stdout: String::from_utf8_lossy(&out.stdout).into_owned(),
                stderr: String::from_utf8_lossy(&out.stderr).into_owned(),
            }
        })
        .await
        .expect("staffctl ran")
    }

    /// Runs a command that must succeed; what it printed.
    async fn ok_with(&self, args: &[&str], stdin: &str) -> String {
        let run = self.run(args, stdin).await;
        assert!(
            run.ok,
            "staffctl {} failed:\n{}{}",
            args.join(" "),
            run.stdout,
            run.stderr
        );
        run.stdout
    }

    async fn ok(&self, args: &[&str]) -> String {
        self.ok_with(args, "").await
    }

    /// Runs a command that must fail; its error output.
    async fn fails(&self, args: &[&str]) -> String {
        let run = self.run(args, "").await;
        assert!(
            !run.ok,
            "staffctl {} should have failed:\n{}",
            args.join(" "),
            run.stdout
        );
        run.stderr
    }
}

/// Whether `text` shows an id (a UUID) anywhere.
fn shows_an_id(text: &str) -> bool {
    text.split(|c: char| !(c.is_ascii_hexdigit() || c == '-'))
        .any(|word| word.len() == 36 && uuid::Uuid::parse_str(word).is_ok())
}

fn assert_shows(out: &str, expected: &[&str]) {
    for e in expected {
        assert!(out.contains(e), "expected {e:?} in:\n{out}");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_practice_is_run_from_staffctl_by_names() {
    let system = TestSystem::start(&Backend::Embedded).await;
    let sessions = tempfile::tempdir().expect("a directory for sessions");
    let olive = Staffctl::new(&system, sessions.path().join("olive.json"));
    let bea = Staffctl::new(&system, sessions.path().join("bea.json"));

    // The operator bootstraps; the owner accepts from the .eml file and signs in.
    let out = olive
        .ok(&[
            "bootstrap",
            "--practice",
            "Acme Accounting",
            "--owner-email",
            "olive@acme.test",
            "--owner-name",
            "Olive Owner",
            "--operator-token",
            OPERATOR_TOKEN,
        ])
        .await;
    assert_shows(
        &out,
        &[
            "created practice Acme Accounting",
            "Olive Owner <olive@acme.test>",
        ],
    );
    let mail = system.wait_for_mail("olive@acme.test", 1).await;
    let eml = mail.path.display().to_string();
    let out = olive
        .ok_with(
            &["invitation", "accept", &eml, "--password-stdin"],
            "owner-password-1\n",
        )
        .await;
    assert_shows(
        &out,
        &["Olive Owner <olive@acme.test> can now sign in to Acme Accounting"],
    );
    // Staff-directory learns of the acceptance from an event.
    let owner = system
        .sign_in("olive@acme.test", "owner-password-1")
        .await
        .expect("the owner signs in");
    system
        .wait_for_status(&owner, "olive@acme.test", staff::StaffStatus::Active)
        .await;
    let out = olive
        .ok_with(
            &["sign-in", "--email", "olive@acme.test", "--password-stdin"],
            "owner-password-1\n",
        )
        .await;
    assert_eq!(
        out.trim(),
        "signed in as Olive Owner <olive@acme.test> in Acme Accounting (Account Owner)"
    );

    // A location and a member, both given by name.
    olive.ok(&["locations", "create", "North Clinic"]).await;
    let out = olive
        .ok(&[
            "invite",
            "--email",
            "bea@acme.test",
            "--name",
            "Bea Member",
            "--primary-location",
            "north clinic",
        ])
        .await;
    assert_shows(&out, &["invited Bea Member <bea@acme.test> as Member"]);
    let mail = system.wait_for_mail("bea@acme.test", 1).await;
    let eml = mail.path.display().to_string();
    bea.ok_with(
        &["invitation", "accept", &eml, "--password-stdin"],
        "member-password-1\n",
    )
    .await;
    system
        .wait_for_status(&owner, "bea@acme.test", staff::StaffStatus::Active)
        .await;
    let member = system
        .sign_in("bea@acme.test", "member-password-1")
        .await
        .expect("the member signs in");

    // `staff get` is a detail view, by e-mail or by name in any case.
    let out = olive.ok(&["staff", "get", "bea@acme.test"]).await;
    assert_shows(
        &out,
        &[
            "Bea Member",
            "bea@acme.test",
            "Role",
            "Member",
            "Active since",
            &member.user_id,
            "Primary location  North Clinic",
            "North Clinic",
            "not certified",
            "1 sent",
            "Olive Owner",
            "NPI",
        ],
    );
    let out = olive.ok(&["staff", "get", "OLIVE OWNER"]).await;
    assert_shows(&out, &["olive@acme.test", "Account Owner"]);

    // Two organisations, once org-access knows both people from their events.
    eventually("org-access to know the owner", || {
        let owner = owner.clone();
        let system = &system;
        async move {
            system
                .org_access_as(&owner)
                .await
                .list_organisations(org::ListOrganisationsRequest::default())
                .await
                .ok()
        }
    })
    .await;
    eventually("org-access to know the member", || {
        let member = member.clone();
        let system = &system;
        async move {
            system
                .org_access_as(&member)
                .await
                .list_my_org_invitations(org::ListMyOrgInvitationsRequest {})
                .await
                .ok()
        }
    })
    .await;
    olive.ok(&["orgs", "create", "Client One"]).await;
    olive.ok(&["orgs", "create", "Client Two"]).await;
    olive
        .ok(&["access", "settings", "--require-acceptance", "true"])
        .await;

    // The preview names organisations, the member and roles; it shows no id.
    let out = olive
        .ok(&[
            "access",
            "staff",
            "bea@acme.test",
            "--default-role",
            "approver",
            "--org",
            "Client One",
            "--org",
            "client two=viewer",
            "--preview",
        ])
        .await;
    assert_shows(
        &out,
        &[
            "Preview",
            "2 to add",
            "Client One",
            "Client Two",
            "Bea Member",
            "Approver",
            "Viewer",
            "invited",
        ],
    );
    assert!(!shows_an_id(&out), "the preview shows ids:\n{out}");

    // `access org` prints the invitation that the member's `org-invitations accept` takes.
    let out = olive
        .ok(&[
            "access",
            "org",
            "Client One",
            "--member",
            "Bea Member=Approver",
        ])
        .await;
    assert_shows(
        &out,
        &["Applied", "1 added", "Waiting for each member to accept"],
    );
    let invitation = out
        .lines()
        .find(|l| l.starts_with("Bea Member") && l.contains("Client One"))
        .and_then(|l| l.split_whitespace().last())
        .unwrap_or_else(|| panic!("no invitation line in:\n{out}"))
        .to_owned();
    let out = bea
        .ok_with(
            &["sign-in", "--email", "bea@acme.test", "--password-stdin"],
            "member-password-1\n",
        )
        .await;
    assert_eq!(
        out.trim(),
        "signed in as Bea Member <bea@acme.test> in Acme Accounting (Member)"
    );
    let out = bea.ok(&["org-invitations", "list"]).await;
    assert_shows(&out, &["Client One", "Approver", &invitation]);
    let out = bea.ok(&["org-invitations", "accept", &invitation]).await;
    assert_eq!(
        out.trim(),
        "accepted: you can act in Client One as Approver"
    );

    // Who has access, and why, by names.
    let out = olive.ok(&["access", "members", "client one"]).await;
    assert_shows(
        &out,
        &[
            "MEMBER",
            "Bea Member",
            "bea@acme.test",
            "Approver",
            "active",
        ],
    );
    assert!(!shows_an_id(&out), "the members list shows ids:\n{out}");
    let out = olive
        .ok(&[
            "access",
            "explain",
            "bea@acme.test",
            "--org",
            "Client One",
            "--permission",
            "workflow.approve",
        ])
        .await;
    assert!(
        out.starts_with("allowed: Bea Member may workflow.approve in Client One"),
        "{out}"
    );
    let out = olive
        .ok(&[
            "access",
            "explain",
            "Bea Member",
            "--org",
            "Client Two",
            "--permission",
            "workflow.approve",
        ])
        .await;
    assert!(out.starts_with("denied: Bea Member may not"), "{out}");

    // Workflows take approvers by e-mail or name and show them by name.
    let out = olive
        .ok(&[
            "workflows",
            "create",
            "Client One",
            "Bill approval",
            "--step",
            "Check=bea@acme.test",
            "--step",
            "Approve=Olive Owner,Bea Member",
        ])
        .await;
    assert_shows(
        &out,
        &[
            "APPROVERS",
            "Bill approval",
            "1. Check",
            "2. Approve",
            "Olive Owner, Bea Member",
        ],
    );

    // The audit logs: times and changes in words.
    let out = olive.ok(&["access", "audit", "--org", "Client One"]).await;
    assert_shows(
        &out,
        &[
            "TIME (UTC)",
            "membership.added",
            "Bea Member",
            "role: Approver",
            "status: invited → active",
        ],
    );
    let out = olive.ok(&["audit", "--staff", "Bea Member"]).await;
    assert_shows(
        &out,
        &[
            "TIME (UTC)",
            "staff.invited",
            "locations: North Clinic",
            "name: Bea Member",
        ],
    );

    // Answering no to the offboarding question changes nothing and is not an error.
    let out = olive
        .ok_with(
            &[
                "offboard",
                "bea@acme.test",
                "--replacement",
                "olive@acme.test",
            ],
            "n\n",
        )
        .await;
    assert_shows(
        &out,
        &["Offboarding Bea Member", "Client One", "Bill approval"],
    );
    assert!(out.trim_end().ends_with("nothing changed"), "{out}");

    // A name two people share is refused, listing both.
    olive
        .ok(&[
            "invite",
            "--email",
            "bea.m@acme.test",
            "--name",
            "bea member",
        ])
        .await;
    let err = olive.fails(&["staff", "get", "Bea Member"]).await;
    assert_shows(
        &err,
        &[
            "2 staff members match \"Bea Member\"",
            "<bea@acme.test>",
            "<bea.m@acme.test>",
        ],
    );

    // Olive owns a second practice too: signing in asks which, by name.
    let before = system.mails_to("olive@acme.test").len();
    olive
        .ok(&[
            "bootstrap",
            "--practice",
            "Bay Clinic",
            "--owner-email",
            "olive@acme.test",
            "--owner-name",
            "Olive Owner",
            "--operator-token",
            OPERATOR_TOKEN,
        ])
        .await;
    let mail = system.wait_for_mail("olive@acme.test", before + 1).await;
    let eml = mail.path.display().to_string();
    olive
        .ok_with(
            &["invitation", "accept", &eml, "--password-stdin"],
            "owner-password-1\n",
        )
        .await;
    let run = olive
        .run(
            &["sign-in", "--email", "olive@acme.test", "--password-stdin"],
            "owner-password-1\n",
        )
        .await;
    assert!(!run.ok);
    assert_eq!(
        run.stderr,
        "error: you are active in several practices; say which with --practice NAME:\n  \
         Acme Accounting (Account Owner)\n  Bay Clinic (Account Owner)\n"
    );
    let out = olive
        .ok_with(
            &[
                "sign-in",
                "--email",
                "olive@acme.test",
                "--practice",
                "bay clinic",
                "--password-stdin",
            ],
            "owner-password-1\n",
        )
        .await;
    assert_eq!(
        out.trim(),
        "signed in as Olive Owner <olive@acme.test> in Bay Clinic (Account Owner)"
    );
    // Bea is only in Acme: naming another practice signs her in nowhere.
    let run = bea
        .run(
            &[
                "sign-in",
                "--email",
                "bea@acme.test",
                "--practice",
                "Bay Clinic",
                "--password-stdin",
            ],
            "member-password-1\n",
        )
        .await;
    assert!(!run.ok, "{}", run.stdout);
    assert_shows(&run.stderr, &["Bay Clinic"]);
    let out = bea.ok(&["practices"]).await;
    assert_shows(&out, &["* ", "Acme Accounting"]);

    // Nothing listening: one line, with the hint.
    let closed = std::net::TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .expect("a free port");
    let a = system.addresses;
    let nowhere = Staffctl::at(
        [closed, a.staff_directory, a.org_access, a.notification],
        sessions.path().join("nobody.json"),
    );
    let run = nowhere
        .run(
            &["sign-in", "--email", "olive@acme.test", "--password-stdin"],
            "owner-password-1\n",
        )
        .await;
    assert!(!run.ok);
    assert_eq!(
        run.stderr,
        format!(
            "error: cannot reach identity at http://{closed} — is the launcher running? (cargo run -p practice-staff)\n"
        )
    );
}

/// The value printed after `label` on a line of `out`.
fn printed(out: &str, label: &str) -> String {
    out.lines()
        .find_map(|l| l.trim().strip_prefix(label))
        .unwrap_or_else(|| panic!("no {label:?} in:\n{out}"))
        .trim()
        .to_owned()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn service_accounts_are_managed_from_staffctl() {
    let system = TestSystem::start(&Backend::Embedded).await;
    let dir = tempfile::tempdir().expect("a directory");
    let operator = Staffctl::new(&system, dir.path().join("operator.json"));
    let as_operator = ["--operator", "--operator-token", OPERATOR_TOKEN];
    let run = |args: &[&str]| {
        let mut all = vec!["service-accounts"];
        all.extend_from_slice(&as_operator);
        all.extend_from_slice(args);
        all.into_iter().map(str::to_owned).collect::<Vec<_>>()
    };
    let args = run(&[
        "create",
        "--name",
        "Billing",
        "--scope",
        "orgaccess.check",
        "--description",
        "the billing service",
    ]);
    let out = operator
        .ok(&args.iter().map(String::as_str).collect::<Vec<_>>())
        .await;
    assert_shows(
        &out,
        &[
            "created service account Billing (orgaccess.check), answering for every practice",
            "shown once",
        ],
    );
    let client_id = printed(&out, "client id");
    let secret = printed(&out, "client secret");
    assert_eq!(secret.len(), 43);
    let issued = system
        .identity()
        .await
        .issue_service_token(ps_proto::identity::v1::IssueServiceTokenRequest {
            client_id: client_id.clone(),
            client_secret: secret.clone(),
            ..Default::default()
        })
        .await;
    assert!(issued.is_ok(), "the printed secret works: {issued:?}");

    let bad = operator
        .fails(
            &run(&["create", "--name", "Bad", "--scope", "everything"])
                .iter()
                .map(String::as_str)
                .collect::<Vec<_>>(),
        )
        .await;
    assert_shows(&bad, &["InvalidArgument", "scopes[0]"]);

    let operator = &operator;
    let call = |args: Vec<String>| async move {
        operator
            .ok(&args.iter().map(String::as_str).collect::<Vec<_>>())
            .await
    };
    let listed = call(run(&["list"])).await;
    assert_shows(
        &listed,
        &["Billing", "Active", "orgaccess.check", "every practice"],
    );
    let rotated = call(run(&["rotate", "billing", "--grace", "10m"])).await;
    assert_shows(
        &rotated,
        &["new secret for Billing", "The old secret works until"],
    );
    assert_ne!(printed(&rotated, "client secret"), secret);
    let key_file = dir.path().join("billing.pem");
    let added = call(run(&[
        "add-key",
        "Billing",
        "--private-key-file",
        &key_file.display().to_string(),
    ]))
    .await;
    assert_shows(&added, &["registered key", "only you can read it"]);
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        let mode = std::fs::metadata(&key_file)
            .expect("key file")
            .permissions()
            .mode();
        assert_eq!(mode & 0o777, 0o600);
    }
    // The key file is what a service configures instead of a secret.
    let key_id = added
        .split_whitespace()
        .nth(2)
        .expect("the key id")
        .to_owned();
    let credentials = ps_auth::ServiceCredentials::new(
        TestSystem::channel(system.addresses.identity).await,
        &ps_auth::ServiceCredentialSettings {
            client_id: client_id.clone(),
            private_key_file: Some(key_file.clone()),
            key_id: key_id.clone(),
            ..Default::default()
        },
        &ps_auth::TokenSettings::default(),
    )
    .expect("credentials from the key file");
    credentials
        .authorization()
        .await
        .expect("a token from a key-signed assertion");

    call(run(&["disable", "Billing"])).await;
    let shown = call(run(&["show", "Billing"])).await;
    assert_shows(
        &shown,
        &[
            "Disabled",
            "the billing service",
            &key_id,
            "operator",
            "Secret rotated",
            "key registered",
            "disabled",
            "created",
        ],
    );
    let enabled = call(run(&["enable", "Billing"])).await;
    assert_shows(&enabled, &["Billing is active"]);
}
