//! Serves the web console (`console/dist`, built with npm) on its own port, with
//! `/config.json` telling the page where each service answers grpc-web. Paths that are not
//! files get `index.html`, so the console's own routes (`/invitation?token=…`, the links in
//! e-mails) open the app. When the console has not been built, every path answers a short
//! page saying how to build it.

use std::net::SocketAddr;
use std::path::{Path, PathBuf};

use axum::Router;
use axum::response::{Html, IntoResponse};
use axum::routing::get;
use tower_http::services::{ServeDir, ServeFile};

use crate::Addresses;

/// The command that builds the console, for banners and the placeholder page.
pub const BUILD_COMMAND: &str = "npm --prefix console ci && npm --prefix console run build";

/// Whether `dir` holds a built console.
pub fn is_built(dir: &Path) -> bool {
    dir.join("index.html").is_file()
}

/// The console's routes: the built files, or the placeholder.
pub fn router(dir: PathBuf, services: &Addresses) -> Router {
    let config = serde_json::json!({
        "identityUrl": format!("http://{}", browser_address(services.identity)),
        "staffDirectoryUrl": format!("http://{}", browser_address(services.staff_directory)),
        "orgAccessUrl": format!("http://{}", browser_address(services.org_access)),
        "notificationUrl": format!("http://{}", browser_address(services.notification)),
    })
    .to_string();
    let router = Router::new().route(
        "/config.json",
        get(move || {
            let config = config.clone();
            async move { ([(http::header::CONTENT_TYPE, "application/json")], config) }
        }),
    );
    if is_built(&dir) {
        let index = ServeFile::new(dir.join("index.html"));
        router.fallback_service(ServeDir::new(dir).fallback(index))
    } else {
        router.fallback(|| async { not_built().into_response() })
    }
}

fn not_built() -> Html<String> {
    Html(format!(
        "<!doctype html><title>Practice Staff</title><h1>The console is not built yet</h1>\
         <p>From the project folder run <code>{BUILD_COMMAND}</code>, then reload this page.</p>"
    ))
}

/// A listening address as a browser reaches it: an unspecified bind (0.0.0.0) is reached on
/// loopback.
fn browser_address(addr: SocketAddr) -> SocketAddr {
    if addr.ip().is_unspecified() {
        SocketAddr::from(([127, 0, 0, 1], addr.port()))
    } else {
        addr
    }
}

/// Serves the console on `listener` until `shutdown` resolves.
pub async fn serve(
    listener: tokio::net::TcpListener,
    router: Router,
    shutdown: impl Future<Output = ()> + Send + 'static,
) -> std::io::Result<()> {
    axum::serve(listener, router)
        .with_graceful_shutdown(shutdown)
        .await
}
