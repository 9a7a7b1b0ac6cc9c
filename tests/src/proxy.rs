//! A TCP proxy of the test's own, put between a service and PostgreSQL or RabbitMQ to inject
//! faults without touching the machine's shared servers (other tests, and CI, use them at the
//! same moment).
//!
//! - [`Proxy::cut`]: every open connection is closed and new ones are closed as soon as they
//!   are accepted, as when the server is down; [`Proxy::restore`] ends it.
//! - [`Proxy::pause`]: bytes stop flowing both ways on every connection, old and new, as on a
//!   stalled network or a server that stopped answering; [`Proxy::resume`] lets them through.

use std::net::SocketAddr;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};

use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::watch;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Mode {
    Open,
    Paused,
    Cut,
}

/// A running proxy; it stops when dropped.
pub struct Proxy {
    addr: SocketAddr,
    mode: watch::Sender<Mode>,
    accepted: Arc<AtomicUsize>,
    task: tokio::task::JoinHandle<()>,
}

impl Proxy {
    /// Listens on a free loopback port and forwards to `upstream`.
    pub async fn start(upstream: SocketAddr) -> Self {
        let listener = TcpListener::bind("127.0.0.1:0")
            .await
            .expect("binding the proxy");
        let addr = listener.local_addr().expect("bound");
        let (mode, _) = watch::channel(Mode::Open);
        let accepted = Arc::new(AtomicUsize::new(0));
        let task = tokio::spawn(accept(listener, upstream, mode.clone(), accepted.clone()));
        Self {
            addr,
            mode,
            accepted,
            task,
        }
    }

    /// Where services connect instead of the server.
    pub fn addr(&self) -> SocketAddr {
        self.addr
    }

    /// `url` (an `amqp://` or `postgres://` URL naming the server's host and port) pointing at
    /// the proxy instead.
    pub fn url_for(&self, url: &str, upstream: SocketAddr) -> String {
        url.replacen(&upstream.to_string(), &self.addr.to_string(), 1)
            .replacen(
                &format!("localhost:{}", upstream.port()),
                &self.addr.to_string(),
                1,
            )
    }

    pub fn cut(&self) {
        self.mode.send_replace(Mode::Cut);
    }

    pub fn restore(&self) {
        self.mode.send_replace(Mode::Open);
    }

    pub fn pause(&self) {
        self.mode.send_replace(Mode::Paused);
    }

    pub fn resume(&self) {
        self.restore();
    }

    /// Connections accepted so far.
    pub fn accepted(&self) -> usize {
        self.accepted.load(Ordering::SeqCst)
    }
}

impl Drop for Proxy {
    fn drop(&mut self) {
        self.mode.send_replace(Mode::Cut);
        self.task.abort();
    }
}

/// The host and port of a server URL (`scheme://user@host:port/...`).
pub fn server_addr(url: &str) -> SocketAddr {
    let after_scheme = url.split_once("://").map_or(url, |(_, rest)| rest);
    let host_port = after_scheme
        .rsplit_once('@')
        .map_or(after_scheme, |(_, rest)| rest);
    let host_port = host_port.split(['/', '?']).next().unwrap_or_default();
    let host_port = host_port.replace("localhost", "127.0.0.1");
    host_port
        .parse()
        .unwrap_or_else(|_| panic!("{url}: expected host:port"))
}

async fn accept(
    listener: TcpListener,
    upstream: SocketAddr,
    mode: watch::Sender<Mode>,
    accepted: Arc<AtomicUsize>,
) {
    loop {
        let Ok((client, _)) = listener.accept().await else {
            continue;
        };
        accepted.fetch_add(1, Ordering::SeqCst);
        let mode = mode.subscribe();
        tokio::spawn(async move {
            if *mode.borrow() == Mode::Cut {
                return; // dropped: closed at once, as by a server that is down
            }
            let Ok(server) = TcpStream::connect(upstream).await else {
                return;
            };
            let _ = client.set_nodelay(true);
            let _ = server.set_nodelay(true);
            let (client_read, client_write) = client.into_split();
            let (server_read, server_write) = server.into_split();
            // Either direction ending (or a cut) ends both: the halves are dropped together.
            tokio::select! {
                _ = pipe(client_read, server_write, mode.clone()) => {}
                _ = pipe(server_read, client_write, mode) => {}
            }
        });
    }
}

/// Copies `from` to `to` while the mode allows; returns on EOF, an error or a cut.
async fn pipe(
    mut from: tokio::net::tcp::OwnedReadHalf,
    mut to: tokio::net::tcp::OwnedWriteHalf,
    mut mode: watch::Receiver<Mode>,
) {
    let mut buffer = vec![0u8; 16 * 1024];
    loop {
        // Wait while paused; stop on a cut.
        loop {
            let now = *mode.borrow_and_update();
            match now {
                Mode::Open => break,
                Mode::Cut => return,
                Mode::Paused => {
                    if mode.changed().await.is_err() {
                        return;
                    }
                }
            }
        }
        let read = tokio::select! {
            read = from.read(&mut buffer) => read,
            changed = mode.changed() => {
                if changed.is_err() {
                    return;
                }
                continue;
            }
        };
        let n = match read {
            Ok(0) | Err(_) => return,
            Ok(n) => n,
        };
        // Bytes read before a pause still go out once it ends.
        loop {
            let now = *mode.borrow_and_update();
            match now {
                Mode::Open => break,
                Mode::Cut => return,
                Mode::Paused => {
                    if mode.changed().await.is_err() {
                        return;
                    }
                }
            }
        }
        if to.write_all(&buffer[..n]).await.is_err() {
            return;
        }
    }
}
