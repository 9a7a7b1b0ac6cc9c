//! Machine identity: every internal RPC needs a service token holding its scope (and nothing
//! else gets in), tokens expire, disabling an account ends its tokens everywhere, a rotated
//! secret keeps working for its grace and then stops, a key-holding account signs in without
//! any secret, practice-limited accounts see only their practice, and the product's own
//! notification account can mint links and nothing else.

use std::time::Duration;

use prost_reflect::DescriptorPool;
use ps_auth::scopes;
use ps_proto::identity::v1 as identity;
use ps_proto::identity::v1::service_account_service_client::ServiceAccountServiceClient;
use ps_proto::orgaccess::v1 as org;
use ps_proto::staff::v1 as staff;
use system_tests::{
    Backend, Code, NOTIFICATION_SECRET, TestSystem, bearer, eventually, on_every_backend,
    violated_fields,
};

use crate::bounds::Raw;

on_every_backend!(
    every_internal_method_needs_a_live_service_token_with_its_scope,
    a_practice_limited_account_answers_for_its_practice_only,
);

/// Calls `path` (`/pkg.Service/Method`) with an empty request and `token` as the bearer (none
/// when empty); the status code it answers.
async fn code_of(system: &TestSystem, path: &str, token: &str) -> Code {
    let a = system.addresses;
    let addr = match path.trim_start_matches('/').split('.').next() {
        Some("identity") => a.identity,
        Some("staff") => a.staff_directory,
        Some("orgaccess") => a.org_access,
        other => panic!("{path}: which service is {other:?}?"),
    };
    let channel = TestSystem::channel(addr).await;
    let mut request = tonic::Request::new(Vec::new());
    if !token.is_empty() {
        request.metadata_mut().insert(
            "authorization",
            format!("Bearer {token}").parse().expect("ascii"),
        );
    }
    let mut grpc = tonic::client::Grpc::new(channel);
    grpc.ready().await.expect("ready");
    match grpc
        .unary(request, path.parse().expect("a path"), Raw)
        .await
    {
        Ok(_) => Code::Ok,
        Err(status) => status.code(),
    }
}

/// Whether the credential got past authentication and authorisation (an empty request is then
/// refused for what it lacks, which is fine here).
fn let_in(code: Code) -> bool {
    !matches!(code, Code::Unauthenticated | Code::PermissionDenied)
}

async fn issue(
    system: &TestSystem,
    client_id: &str,
    secret: &str,
) -> Result<identity::IssueServiceTokenResponse, tonic::Status> {
    system
        .identity()
        .await
        .issue_service_token(identity::IssueServiceTokenRequest {
            client_id: client_id.into(),
            client_secret: secret.into(),
            ..Default::default()
        })
        .await
        .map(tonic::Response::into_inner)
}

/// Every method of every internal service has exactly one scope in its service's policy,
/// and no policy names a method the contract lacks.
#[test]
fn every_internal_method_declares_its_scope() {
    let pool = DescriptorPool::decode(ps_proto::FILE_DESCRIPTOR_SET).expect("the descriptors");
    let scoped: Vec<(String, ps_auth::Scope)> = system_tests::access_policies()
        .iter()
        .flat_map(ps_auth::AccessPolicy::scoped_methods)
        .collect();
    let internal = system_tests::internal_services();
    assert!(internal.len() >= 3, "{internal:?}");
    let mut methods = Vec::new();
    for service in pool.services() {
        if !internal.iter().any(|s| s == service.full_name()) {
            continue;
        }
        for method in service.methods() {
            let path = format!("/{}/{}", service.full_name(), method.name());
            let scopes: Vec<_> = scoped.iter().filter(|(p, _)| *p == path).collect();
            assert_eq!(
                scopes.len(),
                1,
                "{path} needs exactly one scope: {scopes:?}"
            );
            methods.push(path);
        }
    }
    for (path, scope) in &scoped {
        assert!(
            methods.contains(path),
            "{path} ({scope}) is not a method of an internal service"
        );
        assert!(ps_auth::Scope::parse(scope.as_str()).is_some());
    }
    // CheckAccess, CheckAccessBatch, ExplainAccess, RecordCertification, ListStaff,
    // GetStaff, IssueInvitationLink, IssuePasswordResetLink, VoidLink.
    assert_eq!(methods.len(), 9, "{methods:?}");
}

async fn every_internal_method_needs_a_live_service_token_with_its_scope(backend: Backend) {
    let system = TestSystem::start(&backend).await;
    let owner = system.practice_with_owner("Machine Practice").await;
    let scoped: Vec<(String, ps_auth::Scope)> = system_tests::access_policies()
        .iter()
        .flat_map(ps_auth::AccessPolicy::scoped_methods)
        .collect();
    let every_scope: Vec<_> = scopes::CATALOGUE.iter().map(|e| e.scope).collect();
    for (path, scope) in &scoped {
        // A token with every other scope: not enough.
        let others: Vec<_> = every_scope.iter().copied().filter(|s| s != scope).collect();
        let without = system.service_token(&others).await;
        let with = system.service_token(&[*scope]).await;
        assert_eq!(
            code_of(&system, path, "").await,
            Code::Unauthenticated,
            "{path}: no token"
        );
        assert_eq!(
            code_of(&system, path, "not-a-jwt").await,
            Code::Unauthenticated,
            "{path}"
        );
        assert_eq!(
            code_of(&system, path, &owner.access_token).await,
            Code::PermissionDenied,
            "{path}: a person's token"
        );
        assert_eq!(
            code_of(&system, path, &without).await,
            Code::PermissionDenied,
            "{path}: without {scope}"
        );
        let code = code_of(&system, path, &with).await;
        assert!(let_in(code), "{path}: with {scope} answered {code:?}");
    }

    // Every method × expired, old secret past its grace, disabled account: one account
    // holding every scope, so only the credential's state decides.
    let (all_id, all_secret) = system.service_account(&every_scope).await;
    let first = issue(&system, &all_id, &all_secret).await.expect("issued");
    let mut operator = system.service_accounts_as_operator().await;
    let rotated_all = operator
        .rotate_service_account_secret(identity::RotateServiceAccountSecretRequest {
            service_account_id: all_id.clone(),
            grace_seconds: 120,
            end_previous_now: false,
        })
        .await
        .expect("rotated")
        .into_inner();
    let within_grace = issue(&system, &all_id, &all_secret)
        .await
        .expect("the old secret within its grace")
        .access_token;
    for (path, _) in &scoped {
        let code = code_of(&system, path, &within_grace).await;
        assert!(
            let_in(code),
            "{path}: token from the old secret in grace: {code:?}"
        );
    }
    system.clock.advance(chrono::Duration::seconds(301));
    for (path, _) in &scoped {
        for token in [&first.access_token, &within_grace] {
            assert_eq!(
                code_of(&system, path, token).await,
                Code::Unauthenticated,
                "{path}: expired"
            );
        }
    }
    let past_grace = issue(&system, &all_id, &all_secret).await.unwrap_err();
    assert_eq!(
        past_grace.code(),
        Code::Unauthenticated,
        "old secret after grace"
    );
    let live = issue(&system, &all_id, &rotated_all.client_secret)
        .await
        .expect("the new secret")
        .access_token;
    for (path, _) in &scoped {
        assert!(
            let_in(code_of(&system, path, &live).await),
            "{path}: live token"
        );
    }
    operator
        .disable_service_account(identity::DisableServiceAccountRequest {
            service_account_id: all_id.clone(),
        })
        .await
        .expect("disabled");
    for (path, _) in &scoped {
        eventually(&format!("{path} to refuse a disabled account"), || async {
            (code_of(&system, path, &live).await == Code::Unauthenticated).then_some(())
        })
        .await;
    }
    let disabled = issue(&system, &all_id, &rotated_all.client_secret)
        .await
        .unwrap_err();
    assert_eq!(
        disabled.code(),
        Code::Unauthenticated,
        "a disabled account gets no token"
    );

    // A service token is no person: user methods refuse it.
    let check = system.service_token(&[scopes::ORGACCESS_CHECK]).await;
    for path in [
        "/staff.v1.StaffDirectoryService/ListStaff",
        "/orgaccess.v1.OrgAccessService/ListOrganisations",
    ] {
        assert_eq!(
            code_of(&system, path, &check).await,
            Code::PermissionDenied,
            "{path}"
        );
    }

    // Expiry: five minutes by default, against the services' (injected) clock.
    let (client_id, secret) = system.service_account(&[scopes::ORGACCESS_CHECK]).await;
    let issued = issue(&system, &client_id, &secret).await.expect("issued");
    assert_eq!(issued.expires_in, 300);
    assert_eq!(issued.scopes, vec!["orgaccess.check".to_owned()]);
    let path = "/orgaccess.v1.OrgAccessAuthorizationService/CheckAccess";
    assert!(let_in(code_of(&system, path, &issued.access_token).await));
    system.clock.advance(chrono::Duration::seconds(301));
    assert_eq!(
        code_of(&system, path, &issued.access_token).await,
        Code::Unauthenticated,
        "an expired service token"
    );
    let fresh = issue(&system, &client_id, &secret).await.expect("reissued");
    assert!(let_in(code_of(&system, path, &fresh.access_token).await));

    // Rotation: the replaced secret works for its grace, then stops; the new one goes on.
    let mut accounts = system.service_accounts_as_operator().await;
    let rotated = accounts
        .rotate_service_account_secret(identity::RotateServiceAccountSecretRequest {
            service_account_id: client_id.clone(),
            grace_seconds: 60,
            end_previous_now: false,
        })
        .await
        .expect("rotated")
        .into_inner();
    assert_ne!(rotated.client_secret, secret);
    assert!(
        issue(&system, &client_id, &secret).await.is_ok(),
        "old secret within grace"
    );
    system.clock.advance(chrono::Duration::seconds(61));
    let refused = issue(&system, &client_id, &secret).await.unwrap_err();
    assert_eq!(
        refused.code(),
        Code::Unauthenticated,
        "old secret after grace"
    );
    assert!(!refused.message().contains(&secret));
    let current = issue(&system, &client_id, &rotated.client_secret)
        .await
        .expect("new secret");

    // Disabling: issuance stops at once and the tokens already out are refused everywhere
    // within a second; enabling lets new tokens work again.
    let mut staff_token_account = system.service_account(&[scopes::STAFF_READ]).await;
    let staff_token = issue(&system, &staff_token_account.0, &staff_token_account.1)
        .await
        .expect("issued")
        .access_token;
    let staff_path = "/staff.v1.StaffDirectoryInternalService/ListStaff";
    assert!(let_in(code_of(&system, staff_path, &staff_token).await));
    for id in [&client_id, &staff_token_account.0] {
        accounts
            .disable_service_account(identity::DisableServiceAccountRequest {
                service_account_id: id.clone(),
            })
            .await
            .expect("disabled");
    }
    assert_eq!(
        issue(&system, &client_id, &rotated.client_secret)
            .await
            .unwrap_err()
            .code(),
        Code::Unauthenticated
    );
    let began = std::time::Instant::now();
    for (path, token) in [(path, &current.access_token), (staff_path, &staff_token)] {
        eventually(
            &format!("{path} to refuse a disabled account's token"),
            || async {
                (code_of(&system, path, token).await == Code::Unauthenticated).then_some(())
            },
        )
        .await;
    }
    let ended_after = began.elapsed();
    assert!(ended_after < Duration::from_secs(2), "{ended_after:?}");
    let enabled = accounts
        .enable_service_account(identity::EnableServiceAccountRequest {
            service_account_id: client_id.clone(),
        })
        .await
        .expect("enabled")
        .into_inner();
    assert_eq!(
        enabled.status,
        identity::ServiceAccountStatus::Active as i32
    );
    let again = issue(&system, &client_id, &rotated.client_secret)
        .await
        .expect("issued after enabling");
    assert!(let_in(code_of(&system, path, &again.access_token).await));
    assert_eq!(
        code_of(&system, path, &current.access_token).await,
        Code::Unauthenticated,
        "tokens from before the disabling stay ended"
    );
    staff_token_account.1.clear();

    // The history names who did what.
    let history = accounts
        .get_service_account(identity::GetServiceAccountRequest {
            service_account_id: client_id.clone(),
        })
        .await
        .expect("get")
        .into_inner()
        .history;
    let actions: Vec<_> = history.iter().map(|e| e.action.as_str()).collect();
    assert_eq!(
        actions,
        ["enabled", "disabled", "secret_rotated", "created"],
        "{history:?}"
    );
    assert!(
        history.iter().all(|e| e.actor_name == "operator"),
        "{history:?}"
    );
    eprintln!(
        "machine identity ({}): {} scoped methods refused without their scope; a disabled \
         account's tokens refused after {} ms",
        backend.name(),
        scoped.len(),
        ended_after.as_millis()
    );
}

async fn owner_accounts(
    system: &TestSystem,
    person: &system_tests::Person,
) -> ServiceAccountServiceClient<system_tests::Authed> {
    ServiceAccountServiceClient::with_interceptor(
        TestSystem::channel(system.addresses.identity).await,
        bearer(&person.access_token),
    )
}

async fn a_practice_limited_account_answers_for_its_practice_only(backend: Backend) {
    let system = TestSystem::start(&backend).await;
    let owner = system.practice_with_owner("Limited Practice").await;
    let other = system.practice_with_owner("Other Practice").await;
    let manager = system
        .member(
            &owner,
            "manager@limited.test",
            ps_proto::common::v1::PracticeRole::AccountManager,
        )
        .await;
    let mut accounts = owner_accounts(&system, &owner).await;

    // Bad input: every problem at once, nothing created.
    let invalid = accounts
        .create_service_account(identity::CreateServiceAccountRequest {
            name: " ".into(),
            scopes: vec!["orgaccess.everything".into()],
            ..Default::default()
        })
        .await
        .unwrap_err();
    assert_eq!(invalid.code(), Code::InvalidArgument);
    assert_eq!(violated_fields(&invalid), ["name", "scopes[0]"]);
    // An Account Owner cannot hand out the product's own scopes.
    let internal = accounts
        .create_service_account(identity::CreateServiceAccountRequest {
            name: "Link minter".into(),
            scopes: vec![scopes::IDENTITY_INVITATION_LINKS.as_str().into()],
            ..Default::default()
        })
        .await
        .unwrap_err();
    assert_eq!(internal.code(), Code::InvalidArgument, "{internal:?}");
    assert_eq!(violated_fields(&internal), ["scopes[0]"]);
    let listed = accounts
        .list_service_accounts(identity::ListServiceAccountsRequest::default())
        .await
        .expect("list")
        .into_inner()
        .service_accounts;
    assert!(listed.is_empty(), "{listed:?}");
    // Only the Account Owner manages them.
    let refused = owner_accounts(&system, &manager)
        .await
        .create_service_account(identity::CreateServiceAccountRequest {
            name: "Billing".into(),
            scopes: vec!["orgaccess.check".into()],
            ..Default::default()
        })
        .await
        .unwrap_err();
    assert_eq!(refused.code(), Code::PermissionDenied);

    let created = accounts
        .create_service_account(identity::CreateServiceAccountRequest {
            name: "Billing".into(),
            description: "the practice's billing system".into(),
            scopes: vec!["orgaccess.check".into(), "staff.read".into()],
            ..Default::default()
        })
        .await
        .expect("created")
        .into_inner();
    let account = created.service_account.expect("account");
    assert_eq!(
        account.practice_id, owner.practice_id,
        "limited to the owner's practice"
    );
    assert_eq!(account.practice_name, "Limited Practice");
    assert_eq!(created.client_secret.len(), 43, "256 bits, base64url");
    let duplicate = accounts
        .create_service_account(identity::CreateServiceAccountRequest {
            name: "billing".into(),
            scopes: vec!["orgaccess.check".into()],
            ..Default::default()
        })
        .await
        .unwrap_err();
    assert_eq!(duplicate.code(), Code::AlreadyExists);
    // The other practice's owner cannot see it: NotFound, exactly like a missing id.
    let mut others = owner_accounts(&system, &other).await;
    for id in [account.id.clone(), uuid::Uuid::now_v7().to_string()] {
        let hidden = others
            .get_service_account(identity::GetServiceAccountRequest {
                service_account_id: id,
            })
            .await
            .unwrap_err();
        assert_eq!(hidden.code(), Code::NotFound);
    }
    let history = accounts
        .get_service_account(identity::GetServiceAccountRequest {
            service_account_id: account.id.clone(),
        })
        .await
        .expect("get")
        .into_inner()
        .history;
    assert_eq!(history[0].action, "created");
    assert_eq!(
        history[0].actor_name, "Owner of Limited Practice",
        "{history:?}"
    );

    let token = issue(&system, &account.id, &created.client_secret)
        .await
        .expect("issued")
        .access_token;
    let mut roster = ps_proto::staff::v1::staff_directory_internal_service_client::StaffDirectoryInternalServiceClient::with_interceptor(
        TestSystem::channel(system.addresses.staff_directory).await,
        bearer(&token),
    );
    let own = roster
        .list_staff(staff::InternalListStaffRequest {
            practice_id: owner.practice_id.clone(),
            ..Default::default()
        })
        .await
        .expect("own practice's roster")
        .into_inner();
    let names: Vec<_> = own.staff.iter().map(|m| m.name.as_str()).collect();
    assert!(names.contains(&"Owner of Limited Practice"), "{names:?}");
    let hidden = roster
        .list_staff(staff::InternalListStaffRequest {
            practice_id: other.practice_id.clone(),
            ..Default::default()
        })
        .await
        .unwrap_err();
    assert_eq!(hidden.code(), Code::NotFound, "another practice's roster");
    let stranger = system
        .staff_member(&other, "owner@other-practice.example.test")
        .await;
    let hidden = roster
        .get_staff(staff::InternalGetStaffRequest {
            practice_id: other.practice_id.clone(),
            staff_id: stranger.id.clone(),
        })
        .await
        .unwrap_err();
    assert_eq!(hidden.code(), Code::NotFound, "another practice's member");

    let org = system.create_org(&owner, "Limited Client").await.id;
    let other_org = system.create_org(&other, "Other Client").await.id;
    let mut authorization = ps_proto::orgaccess::v1::org_access_authorization_service_client::OrgAccessAuthorizationServiceClient::with_interceptor(
        TestSystem::channel(system.addresses.org_access).await,
        bearer(&token),
    );
    let check = |user: &system_tests::Person, organisation: &str| org::CheckAccessRequest {
        user_id: user.user_id.clone(),
        organisation_id: organisation.into(),
        permission: "workflow.approve".into(),
        location_id: String::new(),
    };
    let answered = authorization
        .check_access(check(&owner, &org))
        .await
        .expect("own practice")
        .into_inner();
    let _ = answered.allowed;
    let hidden = authorization
        .check_access(check(&other, &other_org))
        .await
        .unwrap_err();
    assert_eq!(
        hidden.code(),
        Code::NotFound,
        "another practice's organisation"
    );
}

/// notification's own account (provisioned by identity from its configured secret) mints
/// links and can do nothing else.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn notifications_account_mints_links_and_nothing_else() {
    let system = TestSystem::start(&Backend::Embedded).await;
    let owner = system.practice_with_owner("Notified Practice").await;
    let client_id = scopes::NOTIFICATION_ACCOUNT_ID.to_string();
    let issued = issue(&system, &client_id, NOTIFICATION_SECRET)
        .await
        .expect("notification's credential");
    let mut granted = issued.scopes.clone();
    granted.sort();
    assert_eq!(
        granted,
        [
            "identity.invitation_links",
            "identity.reset_links",
            "identity.void_links"
        ]
    );
    let token = issued.access_token;
    for path in [
        "/orgaccess.v1.OrgAccessAuthorizationService/CheckAccess",
        "/orgaccess.v1.OrgAccessAuthorizationService/CheckAccessBatch",
        "/staff.v1.StaffDirectoryInternalService/RecordCertification",
        "/staff.v1.StaffDirectoryInternalService/ListStaff",
    ] {
        assert_eq!(
            code_of(&system, path, &token).await,
            Code::PermissionDenied,
            "{path}"
        );
    }
    assert!(let_in(
        code_of(
            &system,
            "/identity.v1.IdentityInternalService/IssueInvitationLink",
            &token
        )
        .await
    ));
    // Its scopes cannot be widened by anyone, and a practice's owner does not see it.
    let hidden = owner_accounts(&system, &owner)
        .await
        .get_service_account(identity::GetServiceAccountRequest {
            service_account_id: client_id.clone(),
        })
        .await
        .unwrap_err();
    assert_eq!(hidden.code(), Code::NotFound);
    let seen = system
        .service_accounts_as_operator()
        .await
        .get_service_account(identity::GetServiceAccountRequest {
            service_account_id: client_id,
        })
        .await
        .expect("the operator sees it")
        .into_inner()
        .service_account
        .expect("account");
    assert_eq!(seen.name, "notification");
    assert!(seen.last_used_at.is_some());
}

/// The private-key JWT flow: the account holds no secret at all; each assertion is accepted
/// once; ServiceCredentials (what a Rust caller uses) signs, fetches and refreshes by itself.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_key_holding_account_signs_in_without_a_secret() {
    let system = TestSystem::start(&Backend::Embedded).await;
    let owner = system.practice_with_owner("Keyed Practice").await;
    let mut accounts = system.service_accounts_as_operator().await;
    let created = accounts
        .create_service_account(identity::CreateServiceAccountRequest {
            name: "scheduler".into(),
            scopes: vec!["orgaccess.check".into()],
            without_secret: true,
            ..Default::default()
        })
        .await
        .expect("created")
        .into_inner();
    assert!(created.client_secret.is_empty());
    let id = created.service_account.expect("account").id;
    let key = ps_auth::SigningKey::generate();
    let registered = accounts
        .register_service_account_key(identity::RegisterServiceAccountKeyRequest {
            service_account_id: id.clone(),
            public_key: key.public_key(),
        })
        .await
        .expect("registered")
        .into_inner();
    let key = key.with_kid(registered.key_id.clone());
    // Listed together, each account shows its own keys and secrets.
    let listed = accounts
        .list_service_accounts(identity::ListServiceAccountsRequest::default())
        .await
        .expect("listed")
        .into_inner()
        .service_accounts;
    let find = |name: &str| {
        listed
            .iter()
            .find(|a| a.name == name)
            .unwrap_or_else(|| panic!("{name} listed: {listed:?}"))
    };
    let scheduler = find("scheduler");
    assert_eq!(scheduler.keys.len(), 1);
    assert_eq!(scheduler.keys[0].key_id, registered.key_id);
    assert!(!scheduler.has_secret);
    let notification = find("notification");
    assert!(notification.keys.is_empty());
    assert!(notification.has_secret);

    let now = ps_core::Clock::now(system.clock.as_ref()).timestamp();
    let assertion = key
        .sign(&serde_json::json!({
            "iss": id, "sub": id, "aud": "practice-staff/identity",
            "iat": now, "exp": now + 60, "jti": uuid::Uuid::now_v7().to_string(),
        }))
        .expect("signed");
    let by_assertion = |assertion: String| identity::IssueServiceTokenRequest {
        client_id: id.clone(),
        client_assertion: assertion,
        ..Default::default()
    };
    let mut identity_client = system.identity().await;
    let issued = identity_client
        .issue_service_token(by_assertion(assertion.clone()))
        .await
        .expect("a signed assertion")
        .into_inner();
    let path = "/orgaccess.v1.OrgAccessAuthorizationService/CheckAccess";
    assert!(let_in(code_of(&system, path, &issued.access_token).await));
    let replayed = identity_client
        .issue_service_token(by_assertion(assertion))
        .await
        .unwrap_err();
    assert_eq!(
        replayed.code(),
        Code::Unauthenticated,
        "an assertion is accepted once"
    );
    // Signed by another key, or for too long: refused.
    let stranger = ps_auth::SigningKey::generate().with_kid(registered.key_id.clone());
    for (signer, lifetime) in [(&stranger, 60), (&key, 3600)] {
        let bad = signer
            .sign(&serde_json::json!({
                "iss": id, "sub": id, "aud": "practice-staff/identity",
                "iat": now, "exp": now + lifetime, "jti": uuid::Uuid::now_v7().to_string(),
            }))
            .expect("signed");
        let refused = identity_client
            .issue_service_token(by_assertion(bad))
            .await
            .unwrap_err();
        assert_eq!(refused.code(), Code::Unauthenticated);
    }
    // No secret to guess.
    assert_eq!(
        issue(&system, &id, &ps_auth::random_token())
            .await
            .unwrap_err()
            .code(),
        Code::Unauthenticated
    );

    // What a Rust service does: a credential layered on its channel.
    let credentials = ps_auth::ServiceCredentials::with_key(
        TestSystem::channel(system.addresses.identity).await,
        &id,
        key,
        &ps_auth::TokenSettings::default(),
    );
    let channel = tower::ServiceBuilder::new()
        .layer(credentials.layer())
        .service(TestSystem::channel(system.addresses.org_access).await);
    let mut authorization = ps_proto::orgaccess::v1::org_access_authorization_service_client::OrgAccessAuthorizationServiceClient::new(channel);
    let org = system.create_org(&owner, "Keyed Client").await.id;
    for _ in 0..20 {
        authorization
            .check_access(org::CheckAccessRequest {
                user_id: owner.user_id.clone(),
                organisation_id: org.clone(),
                permission: "workflow.approve".into(),
                location_id: String::new(),
            })
            .await
            .expect("CheckAccess with a key-signed credential");
    }
}

/// A rolling update: callers on the old secret and callers on the new one both keep working
/// while the secret rotates under load; none of the calls fails.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn rotating_a_secret_under_load_fails_no_call() {
    let system = TestSystem::start(&Backend::Embedded).await;
    let owner = system.practice_with_owner("Rotating Practice").await;
    let org = system.create_org(&owner, "Rotating Client").await.id;
    let (id, secret) = system.service_account(&[scopes::ORGACCESS_CHECK]).await;
    let identity = TestSystem::channel(system.addresses.identity).await;
    let client = |secret: String| {
        ps_auth::ServiceCredentials::new(
            identity.clone(),
            &ps_auth::ServiceCredentialSettings {
                client_id: id.clone(),
                client_secret: ps_config::Secret::new(secret),
                ..Default::default()
            },
            &ps_auth::TokenSettings::default(),
        )
        .expect("credentials")
    };
    let old = client(secret.clone());
    let calls = |credentials: ps_auth::ServiceCredentials| {
        let org = org.clone();
        let user = owner.user_id.clone();
        let addr = system.addresses.org_access;
        async move {
            let channel = tower::ServiceBuilder::new()
                .layer(credentials.layer())
                .service(TestSystem::channel(addr).await);
            let mut authorization = ps_proto::orgaccess::v1::org_access_authorization_service_client::OrgAccessAuthorizationServiceClient::new(channel);
            let mut answered = 0;
            for i in 0..150 {
                // Each caller fetches tokens again and again, as replicas starting do.
                if i % 10 == 0 {
                    credentials.forget();
                }
                authorization
                    .check_access(org::CheckAccessRequest {
                        user_id: user.clone(),
                        organisation_id: org.clone(),
                        permission: "workflow.approve".into(),
                        location_id: String::new(),
                    })
                    .await
                    .expect("no call fails during the rotation");
                answered += 1;
            }
            answered
        }
    };
    let before = tokio::spawn(calls(old.clone()));
    tokio::time::sleep(Duration::from_millis(100)).await;
    let rotated = system
        .service_accounts_as_operator()
        .await
        .rotate_service_account_secret(identity::RotateServiceAccountSecretRequest {
            service_account_id: id.clone(),
            ..Default::default()
        })
        .await
        .expect("rotated")
        .into_inner();
    let after = tokio::spawn(calls(client(rotated.client_secret.clone())));
    let answered = before.await.expect("old callers") + after.await.expect("new callers");
    assert_eq!(answered, 300);
    // The default grace is an hour; after it the old secret gets no new token.
    system.clock.advance(chrono::Duration::seconds(3601));
    assert_eq!(
        issue(&system, &id, &secret).await.unwrap_err().code(),
        Code::Unauthenticated
    );
    assert!(issue(&system, &id, &rotated.client_secret).await.is_ok());
}

/// The credential the launcher writes for services on the same machine, used the way an
/// outside client would: read the file, exchange it for a token, call CheckAccess with plain
/// tonic. A second start keeps it; a lost file is replaced and the lost secret stops working.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_launchers_local_credential_calls_check_access() {
    let system = TestSystem::start(&Backend::Embedded).await;
    let owner = system.practice_with_owner("Local Practice").await;
    let org = system.create_org(&owner, "Local Client").await.id;
    let dir = tempfile::tempdir().expect("a directory");
    let file = dir.path().join("service-credentials.json");
    let ensure = || {
        practice_staff::local_credential::ensure(
            &file,
            system.addresses.identity,
            system_tests::OPERATOR_TOKEN,
        )
    };
    ensure().await.expect("written");
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        let mode = std::fs::metadata(&file).expect("file").permissions().mode();
        assert_eq!(mode & 0o777, 0o600);
    }

    // The outside client: nothing of ours but the contract.
    let written: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(&file).expect("readable")).expect("JSON");
    assert_eq!(
        written["scopes"],
        serde_json::json!(["orgaccess.check", "staff.read"])
    );
    let mut identity_client = identity::identity_service_client::IdentityServiceClient::connect(
        written["identity_url"].as_str().expect("url").to_owned(),
    )
    .await
    .expect("identity");
    let token = identity_client
        .issue_service_token(identity::IssueServiceTokenRequest {
            client_id: written["client_id"].as_str().expect("id").into(),
            client_secret: written["client_secret"].as_str().expect("secret").into(),
            ..Default::default()
        })
        .await
        .expect("a token for the written credential")
        .into_inner()
        .access_token;
    let mut request = tonic::Request::new(org::CheckAccessRequest {
        user_id: owner.user_id.clone(),
        organisation_id: org.clone(),
        permission: "workflow.approve".into(),
        location_id: String::new(),
    });
    request.metadata_mut().insert(
        "authorization",
        format!("Bearer {token}").parse().expect("ascii"),
    );
    let decision = ps_proto::orgaccess::v1::org_access_authorization_service_client::OrgAccessAuthorizationServiceClient::connect(format!("http://{}", system.addresses.org_access))
        .await
        .expect("org-access")
        .check_access(request)
        .await
        .expect("a decision")
        .into_inner();
    let _ = decision.allowed;

    // Started again: the same credential.
    let again = ensure().await.expect("kept");
    assert_eq!(
        again.client_secret,
        written["client_secret"].as_str().unwrap()
    );
    // The file lost: a new secret, and the lost one ends at once.
    std::fs::remove_file(&file).expect("removed");
    let replaced = ensure().await.expect("replaced");
    assert_eq!(replaced.client_id, written["client_id"].as_str().unwrap());
    assert_ne!(replaced.client_secret, again.client_secret);
    let lost = issue(&system, &replaced.client_id, &again.client_secret)
        .await
        .unwrap_err();
    assert_eq!(lost.code(), Code::Unauthenticated);
    assert!(
        issue(&system, &replaced.client_id, &replaced.client_secret)
            .await
            .is_ok()
    );
}
