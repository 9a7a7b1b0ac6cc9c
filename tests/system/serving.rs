//! What every service does the same way: health, reflection, grpc-web, protobuf decode errors,
//! panics, shutdown.

use std::time::Duration;

use system_tests::{Backend, Code, TestSystem};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tonic_health::pb::HealthCheckRequest;
use tonic_health::pb::health_check_response::ServingStatus;
use tonic_health::pb::health_client::HealthClient;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_service_reports_serving_and_offers_reflection() {
    let system = TestSystem::start(&Backend::Embedded).await;
    let a = system.addresses;
    let services = [
        (a.identity, ps_identity::HEALTH_NAMES[0]),
        (a.staff_directory, "staff.v1.StaffDirectoryService"),
        (a.org_access, "orgaccess.v1.OrgAccessService"),
        (a.notification, "notification.v1.NotificationService"),
    ];
    for (addr, name) in services {
        let channel = tonic::transport::Channel::from_shared(format!("http://{addr}"))
            .unwrap()
            .connect()
            .await
            .unwrap();
        let mut health = HealthClient::new(channel.clone());
        for service in ["", name] {
            let status = health
                .check(HealthCheckRequest {
                    service: service.into(),
                })
                .await
                .expect("health is public")
                .into_inner()
                .status;
            assert_eq!(status, ServingStatus::Serving as i32, "{addr} {service:?}");
        }

        use tonic_reflection::pb::v1::ServerReflectionRequest;
        use tonic_reflection::pb::v1::server_reflection_client::ServerReflectionClient;
        use tonic_reflection::pb::v1::server_reflection_request::MessageRequest;
        use tonic_reflection::pb::v1::server_reflection_response::MessageResponse;
        let request = ServerReflectionRequest {
            host: String::new(),
            message_request: Some(MessageRequest::ListServices(String::new())),
        };
        let mut reflection = ServerReflectionClient::new(channel);
        let mut stream = reflection
            .server_reflection_info(futures::stream::iter([request]))
            .await
            .expect("reflection is public")
            .into_inner();
        let reply = stream.message().await.expect("a reply").expect("a message");
        let Some(MessageResponse::ListServicesResponse(list)) = reply.message_response else {
            panic!("unexpected reflection reply");
        };
        assert!(
            list.service.iter().any(|s| s.name == name),
            "{name} in {:?}",
            list.service
        );
    }
}

/// One HTTP/1.1 grpc-web call; returns the raw response.
async fn grpc_web(addr: std::net::SocketAddr, path: &str, message: &[u8]) -> String {
    let mut body = vec![0u8];
    body.extend_from_slice(&(message.len() as u32).to_be_bytes());
    body.extend_from_slice(message);
    let mut stream = tokio::net::TcpStream::connect(addr).await.unwrap();
    let head = format!(
        "POST {path} HTTP/1.1\r\nHost: {addr}\r\nContent-Type: application/grpc-web+proto\r\nX-Grpc-Web: 1\r\nContent-Length: {}\r\nConnection: close\r\n\r\n",
        body.len()
    );
    stream.write_all(head.as_bytes()).await.unwrap();
    stream.write_all(&body).await.unwrap();
    let mut response = Vec::new();
    tokio::time::timeout(Duration::from_secs(10), stream.read_to_end(&mut response))
        .await
        .expect("response in time")
        .unwrap();
    String::from_utf8_lossy(&response).to_lowercase()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn browsers_call_over_grpc_web_and_garbage_is_invalid_argument() {
    let system = TestSystem::start(&Backend::Embedded).await;
    let ok = grpc_web(
        system.addresses.identity,
        "/identity.v1.IdentityService/GetJwks",
        &[],
    )
    .await;
    assert!(ok.starts_with("http/1.1 200"), "{ok}");
    assert!(ok.contains("application/grpc-web"), "{ok}");
    assert!(
        ok.contains("grpc-status:0") || ok.contains("grpc-status: 0"),
        "{ok}"
    );
    assert!(ok.contains("ed25519"), "the JWKS came back: {ok}");

    // A body that is not protobuf is the caller's mistake: INVALID_ARGUMENT, not INTERNAL.
    let garbage = grpc_web(
        system.addresses.identity,
        "/identity.v1.IdentityService/SignIn",
        &[0xff, 0xff, 0xff],
    )
    .await;
    assert!(garbage.contains("grpc-status: 3"), "{garbage}");

    // grpc-web requests are authenticated like any other.
    let denied = grpc_web(
        system.addresses.staff_directory,
        "/staff.v1.StaffDirectoryService/ListStaff",
        &[],
    )
    .await;
    assert!(
        denied.contains(&format!("grpc-status: {}", Code::Unauthenticated as i32)),
        "{denied}"
    );
}

/// A raw HTTP/1.1 request; returns the response, lower-cased.
async fn http(addr: std::net::SocketAddr, head: &str) -> String {
    let mut stream = tokio::net::TcpStream::connect(addr).await.unwrap();
    stream.write_all(head.as_bytes()).await.unwrap();
    let mut response = Vec::new();
    tokio::time::timeout(Duration::from_secs(10), stream.read_to_end(&mut response))
        .await
        .expect("response in time")
        .unwrap();
    String::from_utf8_lossy(&response).to_lowercase()
}

/// The console's origin may call every service from a browser (the preflight is answered and
/// the gRPC status headers are readable); any other origin gets no CORS grant.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_consoles_origin_may_call_with_grpc_web_and_others_may_not() {
    let system = TestSystem::start(&Backend::Embedded).await;
    let a = system.addresses;
    for addr in [a.identity, a.staff_directory, a.org_access, a.notification] {
        let preflight = |origin: &str| {
            format!(
                "OPTIONS /staff.v1.StaffDirectoryService/ListStaff HTTP/1.1\r\nHost: {addr}\r\n\
                 Origin: {origin}\r\nAccess-Control-Request-Method: POST\r\n\
                 Access-Control-Request-Headers: authorization,content-type,x-grpc-web\r\n\
                 Connection: close\r\n\r\n"
            )
        };
        let granted = http(addr, &preflight("https://app.example.test")).await;
        assert!(
            granted.contains("access-control-allow-origin: https://app.example.test"),
            "{granted}"
        );
        assert!(granted.contains("authorization"), "{granted}");
        let refused = http(addr, &preflight("https://evil.example.test")).await;
        assert!(
            !refused.contains("access-control-allow-origin"),
            "{refused}"
        );
    }
    let call = http(
        a.identity,
        &format!(
            "POST /identity.v1.IdentityService/GetJwks HTTP/1.1\r\nHost: {}\r\n\
             Origin: https://app.example.test\r\nContent-Type: application/grpc-web+proto\r\n\
             X-Grpc-Web: 1\r\nContent-Length: 5\r\nConnection: close\r\n\r\n\0\0\0\0\0",
            a.identity
        ),
    )
    .await;
    assert!(
        call.contains("access-control-allow-origin: https://app.example.test"),
        "{call}"
    );
    assert!(call.contains("access-control-expose-headers"), "{call}");
    assert!(call.contains("grpc-status"), "{call}");
}

/// A health service whose check panics, to prove a panicking handler answers INTERNAL and
/// leaves the server serving.
struct PanickingHealth;

#[tonic::async_trait]
impl tonic_health::pb::health_server::Health for PanickingHealth {
    async fn check(
        &self,
        request: tonic::Request<HealthCheckRequest>,
    ) -> Result<tonic::Response<tonic_health::pb::HealthCheckResponse>, tonic::Status> {
        if request.get_ref().service == "boom" {
            panic!("handler bug");
        }
        Ok(tonic::Response::new(
            tonic_health::pb::HealthCheckResponse {
                status: ServingStatus::Serving as i32,
            },
        ))
    }

    type WatchStream =
        futures::stream::Empty<Result<tonic_health::pb::HealthCheckResponse, tonic::Status>>;

    async fn watch(
        &self,
        _request: tonic::Request<HealthCheckRequest>,
    ) -> Result<tonic::Response<Self::WatchStream>, tonic::Status> {
        Ok(tonic::Response::new(futures::stream::empty()))
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_panicking_handler_answers_internal_and_the_server_survives() {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let (trigger, shutdown) = ps_core::Shutdown::new();
    let clock: ps_core::SharedClock = std::sync::Arc::new(ps_core::SystemClock);
    let verifier = std::sync::Arc::new(ps_auth::TokenVerifier::new(
        std::sync::Arc::new(ps_auth::StaticKeys::default()),
        ps_auth::TokenSettings::default(),
        clock,
    ));
    let auth = ps_auth::AuthLayer::new(
        ps_auth::AccessPolicy::new(),
        verifier,
        std::sync::Arc::new(ps_auth::NoEndedSessions),
        ps_config::Secret::default(),
    );
    let routes = tonic::service::Routes::new(tonic_health::pb::health_server::HealthServer::new(
        PanickingHealth,
    ));
    let server = tokio::spawn(ps_grpc::serve(
        "test",
        listener,
        routes,
        auth,
        ps_grpc::ServeSettings {
            shutdown_grace: Duration::from_secs(2),
            ..Default::default()
        },
        None,
        shutdown,
    ));
    let channel = tonic::transport::Channel::from_shared(format!("http://{addr}"))
        .unwrap()
        .connect()
        .await
        .unwrap();
    let mut client = HealthClient::new(channel);
    for _ in 0..3 {
        let err = client
            .check(HealthCheckRequest {
                service: "boom".into(),
            })
            .await
            .unwrap_err();
        assert_eq!(err.code(), Code::Internal);
        assert_eq!(
            err.message(),
            "internal error",
            "no panic text reaches the client"
        );
    }
    client
        .check(HealthCheckRequest {
            service: String::new(),
        })
        .await
        .expect("the same connection still serves");

    trigger.trigger();
    tokio::time::timeout(Duration::from_secs(5), server)
        .await
        .expect("the server stops within its grace period")
        .unwrap()
        .unwrap();
}
