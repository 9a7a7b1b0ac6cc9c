//! TLS on every listener: a throwaway CA made in the test (rcgen, nothing checked in) signs
//! the services' certificate and a client certificate. With mTLS required, a client without a
//! certificate (or in plaintext) is refused and one with it is served; the services' own calls
//! to each other (token keys, notification's links) go over TLS too, and the invite flow runs
//! end to end on it.

use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use practice_staff::{Databases, Listeners, System, SystemConfig, SystemTls};
use ps_auth::ClientTlsSettings;
use ps_auth::credentials::Credential;
use ps_config::Secret;
use ps_proto::common::v1::PracticeRole;
use ps_proto::identity::v1 as identity;
use ps_proto::identity::v1::identity_service_client::IdentityServiceClient;
use ps_proto::staff::v1 as staff;
use ps_proto::staff::v1::staff_directory_service_client::StaffDirectoryServiceClient;
use rcgen::{
    BasicConstraints, CertificateParams, CertifiedIssuer, DnType, ExtendedKeyUsagePurpose, IsCa,
    KeyPair, KeyUsagePurpose,
};
use system_tests::{OPERATOR_TOKEN, eventually, mails_in};
use tonic::transport::{Channel, Endpoint};
use tonic_health::pb::HealthCheckRequest;
use tonic_health::pb::health_client::HealthClient;

/// The test's PKI, as PEM files in its own directory.
struct Pki {
    _dir: tempfile::TempDir,
    ca: PathBuf,
    server_cert: PathBuf,
    server_key: PathBuf,
    client_cert: PathBuf,
    client_key: PathBuf,
}

impl Pki {
    fn new() -> Self {
        let dir = tempfile::tempdir().expect("a directory");
        let mut ca_params = CertificateParams::new(Vec::<String>::new()).expect("CA params");
        ca_params.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
        ca_params
            .distinguished_name
            .push(DnType::CommonName, "Practice Staff test CA");
        ca_params.key_usages = vec![
            KeyUsagePurpose::KeyCertSign,
            KeyUsagePurpose::CrlSign,
            KeyUsagePurpose::DigitalSignature,
        ];
        let ca = CertifiedIssuer::self_signed(ca_params, KeyPair::generate().expect("CA key"))
            .expect("CA certificate");
        let leaf = |names: &[&str], purpose: ExtendedKeyUsagePurpose| {
            let key = KeyPair::generate().expect("key");
            let mut params =
                CertificateParams::new(names.iter().map(|n| (*n).to_owned()).collect::<Vec<_>>())
                    .expect("params");
            params.distinguished_name.push(DnType::CommonName, names[0]);
            params.extended_key_usages = vec![purpose];
            let cert = params.signed_by(&key, &ca).expect("signed");
            (cert.pem(), key.serialize_pem())
        };
        let (server_cert, server_key) = leaf(
            &["localhost", "127.0.0.1"],
            ExtendedKeyUsagePurpose::ServerAuth,
        );
        let (client_cert, client_key) = leaf(
            &["practice-staff-client"],
            ExtendedKeyUsagePurpose::ClientAuth,
        );
        let write = |name: &str, text: &str| {
            let path = dir.path().join(name);
            std::fs::write(&path, text).expect("written");
            path
        };
        Self {
            ca: write("ca.pem", &ca.pem()),
            server_cert: write("server.pem", &server_cert),
            server_key: write("server.key", &server_key),
            client_cert: write("client.pem", &client_cert),
            client_key: write("client.key", &client_key),
            _dir: dir,
        }
    }

    fn client(&self) -> ClientTlsSettings {
        ClientTlsSettings {
            ca_file: Some(self.ca.clone()),
            cert_file: Some(self.client_cert.clone()),
            key_file: Some(self.client_key.clone()),
        }
    }
}

/// The whole product on TLS with client certificates required, on the embedded backend.
struct TlsSystem {
    system: System,
    pki: Pki,
    mail_dir: PathBuf,
    _data: tempfile::TempDir,
}

impl TlsSystem {
    async fn start() -> Self {
        let pki = Pki::new();
        let data = tempfile::tempdir().expect("a directory");
        let mail_dir = data.path().join("mail");
        let system = System::start(
            SystemConfig {
                databases: Databases::sqlite(data.path()),
                rabbitmq: None,
                mail_folder: mail_dir.clone(),
                mail: Default::default(),
                clock: Arc::new(ps_core::SystemClock),
                operator_token: Secret::new(OPERATOR_TOKEN),
                notification_secret: Secret::new(system_tests::NOTIFICATION_SECRET),
                signing_key_encryption_key: Secret::new(system_tests::TEST_KEY_ENCRYPTION_KEY),
                console_url: "https://app.example.test".into(),
                hashing: None,
                tls: Some(SystemTls {
                    server: ps_grpc::TlsSettings {
                        cert_file: Some(pki.server_cert.clone()),
                        key_file: Some(pki.server_key.clone()),
                        client_ca_file: Some(pki.ca.clone()),
                    },
                    client: pki.client(),
                }),
            },
            Listeners::bind("127.0.0.1", [0; 4])
                .await
                .expect("binding port 0"),
        )
        .await
        .unwrap_or_else(|e| panic!("the TLS system failed to start: {e}"));
        Self {
            system,
            pki,
            mail_dir,
            _data: data,
        }
    }

    /// A TLS channel to `addr` with `tls` (the CA, and a client certificate or not).
    async fn channel(addr: std::net::SocketAddr, tls: &ClientTlsSettings) -> Channel {
        ps_auth::tls::endpoint(&format!("https://{addr}"), tls)
            .expect("endpoint")
            .connect()
            .await
            .expect("connected")
    }

    async fn mail_token(&self, email: &str) -> String {
        eventually(&format!("an e-mail to {email}"), || async {
            mails_in(&self.mail_dir, email).pop().map(|m| m.token)
        })
        .await
    }
}

/// What a call to grpc.health.v1 over `endpoint` answers (an error as its status code).
async fn health(endpoint: Endpoint) -> Result<i32, String> {
    let channel = endpoint
        .connect_timeout(Duration::from_secs(3))
        .timeout(Duration::from_secs(3))
        .connect()
        .await
        .map_err(|e| format!("connect: {e}"))?;
    HealthClient::new(channel)
        .check(HealthCheckRequest::default())
        .await
        .map(|r| r.into_inner().status)
        .map_err(|s| format!("{:?}", s.code()))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn with_mtls_required_a_client_without_a_certificate_is_refused() {
    let tls = TlsSystem::start().await;
    let addresses = tls.system.addresses;
    for addr in [
        addresses.identity,
        addresses.staff_directory,
        addresses.org_access,
        addresses.notification,
    ] {
        let url = format!("https://{addr}");
        // With the client certificate: served.
        let served =
            health(ps_auth::tls::endpoint(&url, &tls.pki.client()).expect("endpoint")).await;
        assert_eq!(served, Ok(1), "{url}: SERVING over mTLS");
        // The CA but no certificate: the handshake is refused.
        let anonymous = ClientTlsSettings {
            ca_file: Some(tls.pki.ca.clone()),
            ..Default::default()
        };
        let refused = health(ps_auth::tls::endpoint(&url, &anonymous).expect("endpoint")).await;
        assert!(
            refused.is_err(),
            "{url}: no client certificate was served: {refused:?}"
        );
        // Plaintext: refused.
        let plain =
            health(Endpoint::from_shared(format!("http://{addr}")).expect("endpoint")).await;
        assert!(plain.is_err(), "{url}: plaintext was served: {plain:?}");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_invite_flow_runs_over_tls() {
    let tls = TlsSystem::start().await;
    let a = tls.system.addresses;
    let client = tls.pki.client();
    let identity_channel = TlsSystem::channel(a.identity, &client).await;
    let staff_channel = TlsSystem::channel(a.staff_directory, &client).await;

    // The operator creates a practice; notification asks identity (over TLS, with its own
    // service account) for the owner's invitation link and e-mails it.
    StaffDirectoryServiceClient::with_interceptor(
        staff_channel.clone(),
        Credential::operator(OPERATOR_TOKEN).expect("ascii"),
    )
    .create_practice(staff::CreatePracticeRequest {
        name: "Secure Practice".into(),
        owner_email: "owner@secure.test".into(),
        owner_name: "Sam Secure".into(),
        ..Default::default()
    })
    .await
    .expect("CreatePractice over TLS");
    let token = tls.mail_token("owner@secure.test").await;
    let mut identity_client = IdentityServiceClient::new(identity_channel.clone());
    identity_client
        .accept_invitation(identity::AcceptInvitationRequest {
            token,
            password: "secure-owner-password".into(),
        })
        .await
        .expect("accepted over TLS");
    // Staff-directory learns of the acceptance from an event, and verifies the owner's token
    // with keys it fetched from identity over TLS.
    let signed_in = identity_client
        .sign_in(identity::SignInRequest {
            email: "owner@secure.test".into(),
            password: "secure-owner-password".into(),
            ..Default::default()
        })
        .await
        .expect("signed in over TLS")
        .into_inner();
    let mut staff_client = StaffDirectoryServiceClient::with_interceptor(
        staff_channel,
        system_tests::bearer(&signed_in.access_token),
    );
    eventually("the owner to be Active", || {
        let mut staff_client = staff_client.clone();
        async move {
            let invited = staff_client
                .invite_staff(staff::InviteStaffRequest {
                    email: "bea@secure.test".into(),
                    name: "Bea Member".into(),
                    practice_role: PracticeRole::Member as i32,
                    ..Default::default()
                })
                .await;
            invited.ok()
        }
    })
    .await;
    let token = tls.mail_token("bea@secure.test").await;
    identity_client
        .accept_invitation(identity::AcceptInvitationRequest {
            token,
            password: "secure-member-password".into(),
        })
        .await
        .expect("the member accepts over TLS");
    let members = eventually("Bea to be Active", || {
        let mut staff_client = staff_client.clone();
        async move {
            let listed = staff_client
                .list_staff(staff::ListStaffRequest::default())
                .await
                .ok()?
                .into_inner();
            listed
                .staff
                .iter()
                .any(|m| {
                    m.email == "bea@secure.test" && m.status == staff::StaffStatus::Active as i32
                })
                .then_some(listed.staff.len())
        }
    })
    .await;
    assert_eq!(members, 2);
    let _ = staff_client
        .list_staff(staff::ListStaffRequest::default())
        .await;
    tls.system.shutdown();
    tls.system
        .stopped()
        .await
        .expect("the TLS system stops cleanly");
}
