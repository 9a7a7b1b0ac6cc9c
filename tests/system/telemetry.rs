//! Telemetry through the real paths: one invitation is one trace across the services (gRPC
//! metadata, the outbox, RabbitMQ headers or the in-process bus, the e-mail), and the admin
//! endpoint serves the RPC, event, e-mail, outbox and pool metrics.

use std::collections::HashSet;
use std::net::SocketAddr;

use opentelemetry_sdk::trace::SpanData;
use ps_proto::common::v1::PracticeRole;
use ps_proto::staff::v1 as staff;
use system_tests::{
    Backend, Code, TestSystem, eventually, on_every_backend, spans_of, traced_root,
};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tracing::Instrument;

on_every_backend!(
    an_invitation_is_one_trace_across_the_services,
    metrics_are_served_on_the_admin_port,
);

fn attribute(span: &SpanData, key: &str) -> String {
    span.attributes
        .iter()
        .find(|kv| kv.key.as_str() == key)
        .map(|kv| kv.value.to_string())
        .unwrap_or_default()
}

async fn an_invitation_is_one_trace_across_the_services(backend: Backend) {
    let system = TestSystem::start(&backend).await;
    let owner = system.practice_with_owner("Traced").await;
    let email = "traced@example.test";
    let (root, trace_id) = traced_root("invite");
    system
        .invite(&owner, email, PracticeRole::Member)
        .instrument(root.clone())
        .await;
    drop(root);
    system.wait_for_mail(email, 1).await;

    let expected = [
        (
            "staff.v1.StaffDirectoryService/InviteStaff",
            "staff-directory",
        ),
        ("publish staff.invited", "staff-directory"),
        ("handle staff.invited", "notification"),
        (
            "identity.v1.IdentityInternalService/IssueInvitationLink",
            "identity",
        ),
        ("mail.send", "notification"),
    ];
    let spans = eventually("every span of the invitation's trace", || async {
        let spans = spans_of(&trace_id);
        let seen: HashSet<(String, String)> = spans
            .iter()
            .map(|s| (s.name.to_string(), attribute(s, "ps.service")))
            .collect();
        expected
            .iter()
            .all(|(name, service)| seen.contains(&((*name).to_owned(), (*service).to_owned())))
            .then_some(spans)
    })
    .await;
    // One tree: every span but the test's own root has its parent in the trace.
    let ids: HashSet<_> = spans.iter().map(|s| s.span_context.span_id()).collect();
    for span in spans.iter().filter(|s| s.name != "invite") {
        assert!(
            ids.contains(&span.parent_span_id),
            "{} ({}) hangs off a span outside the trace",
            span.name,
            attribute(span, "ps.service")
        );
    }
    let rpc = spans
        .iter()
        .find(|s| s.name == "staff.v1.StaffDirectoryService/InviteStaff")
        .expect("the RPC span");
    assert_eq!(attribute(rpc, "rpc.grpc.status_code"), "0");
    // Consumers continue from the relay's publish span, whose context the transport carried
    // (AMQP headers on RabbitMQ), not merely from the envelope's copy of the request's.
    let publish = spans
        .iter()
        .find(|s| s.name == "publish staff.invited")
        .expect("the publish span");
    assert_eq!(publish.parent_span_id, rpc.span_context.span_id());
    let handle = spans
        .iter()
        .find(|s| s.name == "handle staff.invited" && attribute(s, "ps.service") == "notification")
        .expect("notification's span");
    assert_eq!(handle.parent_span_id, publish.span_context.span_id());
}

/// `GET /metrics` over a plain TCP connection.
async fn scrape(addr: SocketAddr) -> String {
    let mut stream = tokio::net::TcpStream::connect(addr).await.expect("connect");
    stream
        .write_all(b"GET /metrics HTTP/1.1\r\nHost: test\r\nConnection: close\r\n\r\n")
        .await
        .expect("request");
    let mut response = String::new();
    stream
        .read_to_string(&mut response)
        .await
        .expect("response");
    assert!(response.starts_with("HTTP/1.1 200"), "{response}");
    response
}

/// The value of the series whose line starts with `series` (labels in name order), if any.
fn value(body: &str, series: &str) -> Option<f64> {
    body.lines()
        .find_map(|line| line.strip_prefix(series))
        .and_then(|rest| rest.trim().parse().ok())
}

async fn metrics_are_served_on_the_admin_port(backend: Backend) {
    let system = TestSystem::start(&backend).await;
    let owner = system.practice_with_owner("Measured").await;
    system
        .invite(&owner, "measured@example.test", PracticeRole::Member)
        .await;
    system.wait_for_mail("measured@example.test", 1).await;
    let refused = system
        .staff()
        .await
        .list_staff(staff::ListStaffRequest::default())
        .await
        .expect_err("no credential");
    assert_eq!(refused.code(), Code::Unauthenticated);
    // A service account's calls are counted under its id, notification's among them.
    let organisation = system.create_org(&owner, "Measured Client").await.id;
    assert!(
        !system
            .allowed(&owner, &organisation, "workflow.approve")
            .await
    );
    let (checker, _) = system
        .service_account(&[ps_auth::scopes::ORGACCESS_CHECK])
        .await;

    let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .expect("bind");
    let addr = listener.local_addr().expect("address");
    let (stop, stopping) = ps_core::Shutdown::new();
    let admin = tokio::spawn(ps_telemetry::serve_admin(listener, stopping.wait()));

    let invite = "/staff.v1.StaffDirectoryService/InviteStaff";
    let series = [
        format!(
            "ps_rpc_requests_total{{caller=\"user\",code=\"OK\",method=\"{invite}\",service=\"staff-directory\"}}"
        ),
        "ps_rpc_requests_total{caller=\"unauthenticated\",code=\"UNAUTHENTICATED\",method=\"/staff.v1.StaffDirectoryService/ListStaff\",service=\"staff-directory\"}".to_owned(),
        format!(
            "ps_rpc_duration_seconds_count{{caller=\"user\",code=\"OK\",method=\"{invite}\",service=\"staff-directory\"}}"
        ),
        format!(
            "ps_rpc_requests_total{{caller=\"{checker}\",code=\"OK\",method=\"/orgaccess.v1.OrgAccessAuthorizationService/CheckAccess\",service=\"org-access\"}}"
        ),
        format!(
            "ps_rpc_requests_total{{caller=\"{}\",code=\"OK\",method=\"/identity.v1.IdentityInternalService/IssueInvitationLink\",service=\"identity\"}}",
            ps_auth::scopes::NOTIFICATION_ACCOUNT_ID
        ),
        "ps_events_published_total{outcome=\"published\",service=\"staff-directory\"}".to_owned(),
        "ps_events_consumed_total{event_type=\"staff.invited\",outcome=\"handled\",service=\"notification\"}".to_owned(),
        "ps_emails_total{outcome=\"sent\"}".to_owned(),
        "ps_db_pool_connections{service=\"identity\",state=\"max\"}".to_owned(),
    ];
    let body = eventually("every series counted", || async {
        let body = scrape(addr).await;
        series
            .iter()
            .all(|s| value(&body, s).is_some_and(|v| v >= 1.0))
            .then_some(body)
    })
    .await;
    for gauge in [
        "ps_outbox_backlog{service=\"staff-directory\"}",
        "ps_outbox_oldest_unpublished_seconds{service=\"notification\"}",
        "ps_db_pool_connections{service=\"org-access\",state=\"idle\"}",
    ] {
        assert!(value(&body, gauge).is_some(), "{gauge} missing:\n{body}");
    }
    assert!(body.contains("# TYPE ps_rpc_duration_seconds histogram"));
    stop.trigger();
    admin.await.expect("admin task").expect("admin server");
}
