//! A private RabbitMQ cluster for the cluster tests: nodes of this machine's RabbitMQ
//! installation (`rabbitmq-server`, started directly as the test's user), each with its own
//! node name, AMQP and distribution ports, data directory, configuration and Erlang cookie,
//! joined with `rabbitmqctl join_cluster`. The machine's own RabbitMQ shares nothing with them
//! but epmd (which only maps node names to ports) and is never stopped or reconfigured.
//!
//! Every start, stop and `rabbitmqctl` call is bounded in time; dropping the cluster kills its
//! nodes.

use std::path::{Path, PathBuf};
use std::process::{Child, Command, Output, Stdio};
use std::time::{Duration, Instant};

/// `rabbitmq-server` and `rabbitmqctl` of the machine's installation (PS_TEST_RABBITMQ_BIN
/// names another folder holding both).
fn bin(tool: &str) -> PathBuf {
    let dir =
        std::env::var("PS_TEST_RABBITMQ_BIN").unwrap_or_else(|_| "/usr/lib/rabbitmq/bin".into());
    Path::new(&dir).join(tool)
}

/// Whether this machine can run a private cluster (RabbitMQ's server scripts are installed).
pub fn available() -> bool {
    bin("rabbitmq-server").exists() && bin("rabbitmqctl").exists()
}

/// How long a node may take to boot (about 10 s on two busy cores).
const BOOT_LIMIT: Duration = Duration::from_secs(90);
/// How long one `rabbitmqctl` call may take.
const CTL_LIMIT: Duration = Duration::from_secs(60);

struct Node {
    name: String,
    amqp_port: u16,
    dir: PathBuf,
    env: Vec<(String, String)>,
    child: Option<Child>,
}

impl Node {
    fn start(&mut self) {
        let log = std::fs::File::create(self.dir.join(format!(
            "server-{}.log",
            chrono::Utc::now().format("%H%M%S%3f")
        )))
        .expect("node log file");
        let mut command = Command::new(bin("rabbitmq-server"));
        std::os::unix::process::CommandExt::process_group(&mut command, 0);
        let child = command
            .env_clear()
            .envs(self.env.iter().map(|(k, v)| (k.as_str(), v.as_str())))
            .stdin(Stdio::null())
            .stdout(log.try_clone().expect("log handle"))
            .stderr(log)
            .spawn()
            .expect("rabbitmq-server starts");
        self.child = Some(child);
    }

    /// SIGKILL to the node's whole process group: it is lost at once, as when its machine dies.
    fn kill(&mut self) {
        if let Some(mut child) = self.child.take() {
            let _ = Command::new("kill")
                .args(["-KILL", "--", &format!("-{}", child.id())])
                .status();
            let _ = child.kill();
            let _ = child.wait();
        }
    }

    fn url(&self) -> String {
        format!("amqp://guest:guest@127.0.0.1:{}/%2f", self.amqp_port)
    }
}

/// A cluster of `rabbitmq-server` nodes on this machine.
pub struct RabbitCluster {
    nodes: Vec<Node>,
    /// HOME of every node and `rabbitmqctl` call: the cluster's own Erlang cookie.
    home: PathBuf,
    _dir: tempfile::TempDir,
}

impl RabbitCluster {
    /// Starts `size` nodes at once, waits until each accepts AMQP connections, and joins every
    /// node to the first.
    #[expect(
        clippy::too_many_lines,
        reason = "test harness: the start-up steps in the order the broker or processes need them"
    )]
    pub async fn start(size: usize) -> Self {
        assert!(
            available(),
            "rabbitmq-server is not installed at {}",
            bin("").display()
        );
        let dir = tempfile::tempdir().expect("cluster directory");
        let home = dir.path().join("home");
        std::fs::create_dir_all(&home).expect("cluster home");
        let cookie = home.join(".erlang.cookie");
        let secret: String = {
            use rand::Rng;
            let mut rng = rand::thread_rng();
            (0..32)
                .map(|_| char::from(rng.gen_range(b'A'..=b'Z')))
                .collect()
        };
        std::fs::write(&cookie, &secret).expect("cookie");
        set_private(&cookie);
        let tag = format!("{:08x}", rand::random::<u32>());
        let ports = crate::processes::free_ports(size * 2);
        let mut nodes = Vec::new();
        for i in 0..size {
            let node_dir = dir.path().join(format!("node{i}"));
            std::fs::create_dir_all(&node_dir).expect("node directory");
            let (amqp_port, dist_port) = (ports[i], ports[size + i]);
            let config = node_dir.join("rabbitmq.conf");
            std::fs::write(
                &config,
                format!(
                    "listeners.tcp.default = 127.0.0.1:{amqp_port}\n\
                     # No disk-space alarm from a busy test machine's disk.\n\
                     disk_free_limit.absolute = 1MB\n"
                ),
            )
            .expect("node configuration");
            let plugins = node_dir.join("enabled_plugins");
            std::fs::write(&plugins, "[].\n").expect("plugins file");
            // Not the machine's /etc/rabbitmq/rabbitmq-env.conf, which names its own node.
            let env_file = node_dir.join("rabbitmq-env.conf");
            std::fs::write(&env_file, "").expect("env file");
            let path = |p: &Path| p.display().to_string();
            let env = vec![
                ("PATH".to_owned(), std::env::var("PATH").unwrap_or_default()),
                ("HOME".to_owned(), path(&home)),
                ("LANG".to_owned(), "C.UTF-8".to_owned()),
                (
                    "RABBITMQ_NODENAME".to_owned(),
                    format!("pst-{tag}-{i}@localhost"),
                ),
                (
                    "RABBITMQ_NODE_IP_ADDRESS".to_owned(),
                    "127.0.0.1".to_owned(),
                ),
                ("RABBITMQ_NODE_PORT".to_owned(), amqp_port.to_string()),
                ("RABBITMQ_DIST_PORT".to_owned(), dist_port.to_string()),
                ("RABBITMQ_CONF_ENV_FILE".to_owned(), path(&env_file)),
                ("RABBITMQ_CONFIG_FILE".to_owned(), path(&config)),
                ("RABBITMQ_ENABLED_PLUGINS_FILE".to_owned(), path(&plugins)),
                (
                    "RABBITMQ_MNESIA_BASE".to_owned(),
                    path(&node_dir.join("mnesia")),
                ),
                ("RABBITMQ_LOG_BASE".to_owned(), path(&node_dir.join("log"))),
                ("RABBITMQ_PID_FILE".to_owned(), path(&node_dir.join("pid"))),
                ("ERL_EPMD_ADDRESS".to_owned(), "127.0.0.1".to_owned()),
                // The VM is the process started (no signal-forwarding shell in between).
                ("RUNNING_UNDER_SYSTEMD".to_owned(), "true".to_owned()),
            ];
            nodes.push(Node {
                name: format!("pst-{tag}-{i}@localhost"),
                amqp_port,
                dir: node_dir,
                env,
                child: None,
            });
        }
        let mut cluster = Self {
            nodes,
            home,
            _dir: dir,
        };
        for node in &mut cluster.nodes {
            node.start();
        }
        for i in 0..size {
            cluster.wait_accepting(i).await;
        }
        for i in 1..size {
            let node = cluster.nodes[i].name.clone();
            let first = cluster.nodes[0].name.clone();
            cluster.ctl(&node, &["stop_app"]).await;
            cluster.ctl(&node, &["reset"]).await;
            cluster.ctl(&node, &["join_cluster", &first]).await;
            cluster.ctl(&node, &["start_app"]).await;
        }
        for i in 0..size {
            cluster.wait_accepting(i).await;
        }
        let running = cluster.running_nodes(0).await;
        assert_eq!(running.len(), size, "every node joined: {running:?}");
        cluster
    }

    /// Every node's AMQP URI, separated by commas (the services' `PS_RABBITMQ__URL`).
    pub fn url(&self) -> String {
        self.nodes
            .iter()
            .map(Node::url)
            .collect::<Vec<_>>()
            .join(",")
    }

    pub fn size(&self) -> usize {
        self.nodes.len()
    }

    /// Node `i`'s name, e.g. `pst-1a2b3c4d-0@localhost`.
    pub fn name(&self, i: usize) -> &str {
        &self.nodes[i].name
    }

    /// Node `i` is lost at once (SIGKILL).
    pub fn kill(&mut self, i: usize) {
        self.nodes[i].kill();
    }

    /// Starts node `i` again on its data directory and waits until the others see it running
    /// in the cluster again.
    pub async fn restart(&mut self, i: usize) {
        self.nodes[i].start();
        self.wait_accepting(i).await;
        let other = (i + 1) % self.nodes.len();
        let began = Instant::now();
        while self.running_nodes(other).await.len() < self.nodes.len() {
            assert!(
                began.elapsed() < BOOT_LIMIT,
                "{} did not rejoin the cluster",
                self.nodes[i].name
            );
            tokio::time::sleep(Duration::from_millis(200)).await;
        }
    }

    /// The index of the node leading quorum queue `queue`, as node `via` sees it.
    pub async fn leader_of(&self, queue: &str, via: usize) -> usize {
        let out = self
            .ctl(
                &self.nodes[via].name,
                &["list_queues", "name", "leader", "--formatter", "json"],
            )
            .await;
        let rows: Vec<serde_json::Value> =
            serde_json::from_slice(&out.stdout).expect("list_queues answers JSON");
        let leader = rows
            .iter()
            .find(|row| row["name"] == queue)
            .and_then(|row| row["leader"].as_str())
            .unwrap_or_else(|| panic!("no leader for {queue} in {rows:?}"))
            .to_owned();
        self.nodes
            .iter()
            .position(|n| n.name == leader)
            .unwrap_or_else(|| panic!("{leader} is not a node of this cluster"))
    }

    /// Every queue's name → its type (`classic`, `quorum`), as node `via` lists them.
    pub async fn queue_types(&self, via: usize) -> std::collections::BTreeMap<String, String> {
        let out = self
            .ctl(
                &self.nodes[via].name,
                &["list_queues", "name", "type", "--formatter", "json"],
            )
            .await;
        let rows: Vec<serde_json::Value> =
            serde_json::from_slice(&out.stdout).expect("list_queues answers JSON");
        rows.iter()
            .filter_map(|row| {
                Some((
                    row["name"].as_str()?.to_owned(),
                    row["type"].as_str()?.to_owned(),
                ))
            })
            .collect()
    }

    /// The nodes node `via` sees running.
    async fn running_nodes(&self, via: usize) -> Vec<String> {
        let out = self
            .ctl(
                &self.nodes[via].name,
                &["cluster_status", "--formatter", "json"],
            )
            .await;
        let status: serde_json::Value =
            serde_json::from_slice(&out.stdout).expect("cluster_status answers JSON");
        status["running_nodes"]
            .as_array()
            .map(|nodes| {
                nodes
                    .iter()
                    .filter_map(|n| n.as_str().map(str::to_owned))
                    .collect()
            })
            .unwrap_or_default()
    }

    /// Waits until node `i` completes an AMQP handshake.
    async fn wait_accepting(&self, i: usize) {
        let node = &self.nodes[i];
        let began = Instant::now();
        loop {
            let attempt = tokio::time::timeout(
                Duration::from_secs(5),
                lapin::Connection::connect(&node.url(), lapin::ConnectionProperties::default()),
            )
            .await;
            if let Ok(Ok(connection)) = attempt {
                let _ = connection.close(200, "ready".into()).await;
                return;
            }
            assert!(
                began.elapsed() < BOOT_LIMIT,
                "{} did not accept AMQP connections within {BOOT_LIMIT:?}; see {}",
                node.name,
                node.dir.display()
            );
            tokio::time::sleep(Duration::from_millis(200)).await;
        }
    }

    /// `rabbitmqctl -n <node> <args>`, which must succeed within [`CTL_LIMIT`].
    async fn ctl(&self, node: &str, args: &[&str]) -> Output {
        let mut command = Command::new(bin("rabbitmqctl"));
        command
            .env_clear()
            .env("PATH", std::env::var("PATH").unwrap_or_default())
            .env("HOME", &self.home)
            .env("LANG", "C.UTF-8")
            .env("ERL_EPMD_ADDRESS", "127.0.0.1")
            .env(
                "RABBITMQ_CONF_ENV_FILE",
                self.nodes[0].dir.join("rabbitmq-env.conf"),
            )
            .args(["-n", node])
            .args(args)
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped());
        let what = format!("rabbitmqctl -n {node} {}", args.join(" "));
        let out = tokio::task::spawn_blocking(move || bounded(command, CTL_LIMIT))
            .await
            .expect("rabbitmqctl ran")
            .unwrap_or_else(|| panic!("{what} took longer than {CTL_LIMIT:?}"));
        assert!(
            out.status.success(),
            "{what} failed: {}{}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        );
        out
    }
}

impl Drop for RabbitCluster {
    fn drop(&mut self) {
        for node in &mut self.nodes {
            node.kill();
        }
    }
}

/// Runs `command` to its end, or kills it after `limit` (`None`).
fn bounded(mut command: Command, limit: Duration) -> Option<Output> {
    let child = command.spawn().expect("command starts");
    let id = child.id();
    let (done, waited) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        let _ = done.send(child.wait_with_output());
    });
    match waited.recv_timeout(limit) {
        Ok(out) => Some(out.expect("command output")),
        Err(_) => {
            let _ = Command::new("kill")
                .args(["-KILL", &id.to_string()])
                .status();
            None
        }
    }
}

fn set_private(path: &Path) {
    use std::os::unix::fs::PermissionsExt;
    std::fs::set_permissions(path, std::fs::Permissions::from_mode(0o400)).expect("cookie mode");
}
