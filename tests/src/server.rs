//! A `logplane serve` child process: started on a free port against a given store, ready when
//! `/readyz` says so, killed when dropped (also when a test panics), its stderr kept in a file
//! whose tail is printed when the test fails.

use std::fs::File;
use std::path::PathBuf;
use std::process::{Child, Command, ExitStatus, Stdio};
use std::time::{Duration, Instant};

use logplane_client::Client;
use logplane_store::Backend;
use logplane_store::testing::TestDatabase;
use nix::sys::signal::{Signal, kill};
use nix::unistd::Pid;
use tempfile::TempDir;

use crate::binary::logplane_binary;

/// The secret of the platform-admin key every test server is started with.
pub const BOOTSTRAP_ADMIN_KEY: &str = "e2e-bootstrap-admin-key-0123456789abcdef";

/// How long a server may take to become ready. Generous: two cores shared with compilers.
const READY_WITHIN: Duration = Duration::from_secs(60);
/// How long a server may take to exit after SIGTERM once nothing is in flight.
pub const EXIT_WITHIN: Duration = Duration::from_secs(30);
const POLL_EVERY: Duration = Duration::from_millis(50);
const STDERR_TAIL_LINES: usize = 60;

/// Where the server keeps its data.
#[derive(Debug, Clone)]
pub enum StoreLocation {
    Postgres { url: String },
    Sqlite { data_dir: PathBuf },
}

impl StoreLocation {
    /// Where a server finds a fresh database made by `TestDatabase::create`.
    pub fn of(database: &TestDatabase) -> StoreLocation {
        match database.backend {
            Backend::Postgres => StoreLocation::Postgres {
                url: database.location.clone(),
            },
            Backend::Sqlite => StoreLocation::Sqlite {
                data_dir: database.location.clone().into(),
            },
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum LogFormat {
    Text,
    Json,
}

impl LogFormat {
    fn flag_value(self) -> &'static str {
        match self {
            LogFormat::Text => "text",
            LogFormat::Json => "json",
        }
    }
}

/// How to start a server. Cloned to restart one on the same store.
#[derive(Debug, Clone)]
pub struct ServerConfig {
    pub store: StoreLocation,
    pub log_format: LogFormat,
    /// `--store-timeout-ms`; the server's default when `None`.
    pub store_timeout_ms: Option<u64>,
    /// More `serve` flags, as `--flag value` pairs.
    pub extra_args: Vec<(String, String)>,
    /// `RUST_LOG` of the server: `info` logs every request.
    pub log_filter: String,
    /// The binary to run; [`logplane_binary`] when `None`.
    pub binary: Option<PathBuf>,
}

impl ServerConfig {
    pub fn new(store: StoreLocation) -> ServerConfig {
        ServerConfig {
            store,
            log_format: LogFormat::Text,
            store_timeout_ms: None,
            extra_args: Vec::new(),
            log_filter: "info".to_string(),
            binary: None,
        }
    }

    /// Adds `--<flag> <value>` to the command line.
    pub fn arg(mut self, flag: &str, value: impl ToString) -> ServerConfig {
        self.extra_args
            .push((format!("--{flag}"), value.to_string()));
        self
    }

    pub fn log_format(mut self, format: LogFormat) -> ServerConfig {
        self.log_format = format;
        self
    }

    /// Runs this binary instead of the one built from the workspace.
    pub fn binary(mut self, path: PathBuf) -> ServerConfig {
        self.binary = Some(path);
        self
    }

    /// Logs less than every request, where a load test would spend its time logging.
    pub fn log_filter(mut self, filter: &str) -> ServerConfig {
        self.log_filter = filter.to_string();
        self
    }

    pub fn store_timeout_ms(mut self, millis: u64) -> ServerConfig {
        self.store_timeout_ms = Some(millis);
        self
    }

    fn args(&self, port: u16) -> Vec<String> {
        let mut args = vec![
            "serve".to_string(),
            "--listen".to_string(),
            format!("127.0.0.1:{port}"),
            "--log-format".to_string(),
            self.log_format.flag_value().to_string(),
        ];
        match &self.store {
            StoreLocation::Postgres { url } => {
                args.extend(["--database-url".to_string(), url.clone()]);
            }
            StoreLocation::Sqlite { data_dir } => {
                args.extend(["--data-dir".to_string(), data_dir.display().to_string()]);
            }
        }
        if let Some(millis) = self.store_timeout_ms {
            args.extend(["--store-timeout-ms".to_string(), millis.to_string()]);
        }
        for (flag, value) in &self.extra_args {
            args.extend([flag.clone(), value.clone()]);
        }
        args
    }
}

pub struct LogplaneServer {
    child: Child,
    port: u16,
    stderr_path: PathBuf,
    /// Holds the stderr file; kept on disk when a test fails, for a closer look.
    scratch: Option<TempDir>,
}

impl LogplaneServer {
    /// Starts a server and waits until it is ready; panics (with the server's stderr) if it
    /// exits or is not ready in time.
    pub async fn start(config: &ServerConfig) -> LogplaneServer {
        Self::start_on_port(config, free_port()).await
    }

    /// Starts a server on `port`: a replica coming back where its clients expect it.
    pub async fn start_on_port(config: &ServerConfig, port: u16) -> LogplaneServer {
        let scratch = tempfile::Builder::new()
            .prefix("logplane-e2e-")
            .tempdir()
            .expect("create a scratch directory");
        let stderr_path = scratch.path().join("stderr.log");
        let stderr = File::create(&stderr_path).expect("create the stderr file");
        let binary = config.binary.clone().unwrap_or_else(logplane_binary);
        let mut command = Command::new(binary);
        command
            .args(config.args(port))
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(stderr);
        // Settings from the developer's shell must not reach the server under test: flags
        // decide everything here.
        for (name, _) in std::env::vars_os() {
            if name.to_string_lossy().starts_with("LOGPLANE_") {
                command.env_remove(name);
            }
        }
        command
            .env("LOGPLANE_BOOTSTRAP_ADMIN_KEY", BOOTSTRAP_ADMIN_KEY)
            .env("RUST_LOG", &config.log_filter);
        let child = command.spawn().expect("start logplane");
        let mut server = LogplaneServer {
            child,
            port,
            stderr_path,
            scratch: Some(scratch),
        };
        server.wait_until_ready().await;
        server
    }

    async fn wait_until_ready(&mut self) {
        let client = self.client();
        let deadline = Instant::now() + READY_WITHIN;
        loop {
            if let Some(status) = self.child.try_wait().expect("poll the server process") {
                panic!("logplane exited during start-up with {status}");
            }
            if client.readyz().await.is_ok() {
                return;
            }
            assert!(
                Instant::now() < deadline,
                "logplane was not ready within {READY_WITHIN:?}"
            );
            tokio::time::sleep(POLL_EVERY).await;
        }
    }

    pub fn port(&self) -> u16 {
        self.port
    }

    /// The server's process id, to read its memory use.
    pub fn pid(&self) -> u32 {
        self.child.id()
    }

    pub fn base_url(&self) -> String {
        format!("http://127.0.0.1:{}", self.port)
    }

    /// A client without credentials.
    pub fn client(&self) -> Client {
        Client::new(&self.base_url()).expect("a client for the test server")
    }

    /// A client holding a token of the bootstrap platform-admin key.
    pub async fn admin_client(&self) -> Client {
        self.client()
            .with_api_key(BOOTSTRAP_ADMIN_KEY)
            .await
            .expect("exchange the bootstrap admin key")
    }

    pub fn send_sigterm(&self) {
        self.send_signal(Signal::SIGTERM);
    }

    /// Sends `signal` to the server: SIGKILL to crash it, SIGSTOP to pause it (as a long GC
    /// pause or a frozen VM would), SIGCONT to let it run again.
    pub fn send_signal(&self, signal: Signal) {
        let pid = Pid::from_raw(self.child.id() as i32);
        kill(pid, signal).unwrap_or_else(|e| panic!("send {signal} to logplane: {e}"));
    }

    /// Waits for the process to exit; panics if it is still running after `within`.
    pub async fn wait_for_exit(&mut self, within: Duration) -> ExitStatus {
        let deadline = Instant::now() + within;
        loop {
            if let Some(status) = self.child.try_wait().expect("poll the server process") {
                return status;
            }
            assert!(
                Instant::now() < deadline,
                "logplane did not exit within {within:?}"
            );
            tokio::time::sleep(POLL_EVERY).await;
        }
    }

    /// Stops the server the way an orchestrator does, and returns how it exited.
    pub async fn stop(&mut self) -> ExitStatus {
        self.send_sigterm();
        self.wait_for_exit(EXIT_WITHIN).await
    }

    /// Everything the server wrote to stderr so far: its log.
    pub fn stderr_text(&self) -> String {
        std::fs::read_to_string(&self.stderr_path).unwrap_or_default()
    }

    /// Waits until the log contains `needle`; panics after `within`.
    pub async fn wait_for_log(&self, needle: &str, within: Duration) {
        let deadline = Instant::now() + within;
        while !self.stderr_text().contains(needle) {
            assert!(
                Instant::now() < deadline,
                "the log did not show {needle:?} within {within:?}"
            );
            tokio::time::sleep(POLL_EVERY).await;
        }
    }

    fn print_stderr_tail(&mut self) {
        let text = self.stderr_text();
        let lines: Vec<&str> = text.lines().collect();
        let tail = &lines[lines.len().saturating_sub(STDERR_TAIL_LINES)..];
        // Keep the whole log for a closer look; the scratch directory would delete it.
        let kept = self.scratch.take().map(TempDir::keep);
        eprintln!(
            "---- logplane on port {} (last {} lines of stderr; full log: {}) ----\n{}\n----",
            self.port,
            tail.len(),
            kept.as_deref()
                .map(|dir| dir.join("stderr.log"))
                .unwrap_or_else(|| self.stderr_path.clone())
                .display(),
            tail.join("\n")
        );
    }
}

impl Drop for LogplaneServer {
    fn drop(&mut self) {
        if matches!(self.child.try_wait(), Ok(None)) {
            let _ = self.child.kill();
            let _ = self.child.wait();
        }
        if std::thread::panicking() {
            self.print_stderr_tail();
        }
    }
}

/// A port nothing listens on right now. The kernel picks it; the listener is closed before the
/// server binds it, a window in which another process could take it, but ephemeral ports are
/// handed out in rotation so that is rare enough for tests.
pub fn free_port() -> u16 {
    let listener = std::net::TcpListener::bind("127.0.0.1:0").expect("bind an ephemeral port");
    listener.local_addr().expect("local address").port()
}

/// Which of the replicas listening on `ports` (`None`: a replica that is gone) holds an
/// unexpired scheduler lease in `status`, and under which epoch. A replica names itself
/// `replica-<listen address>-<random>` in the lease.
pub fn scheduler_leader(
    status: &logplane_model::SchedulerStatus,
    ports: impl IntoIterator<Item = Option<u16>>,
) -> Option<(usize, i64)> {
    let leader = status.leader.as_ref().filter(|leader| !leader.expired)?;
    let at = ports.into_iter().position(|port| {
        port.is_some_and(|port| leader.holder.contains(&format!("127.0.0.1:{port}-")))
    })?;
    Some((at, leader.epoch))
}

/// Whether a TCP connection to `port` is refused (nothing listens there any more).
pub async fn connection_refused(port: u16) -> bool {
    match tokio::net::TcpStream::connect(("127.0.0.1", port)).await {
        Ok(_) => false,
        Err(error) => error.kind() == std::io::ErrorKind::ConnectionRefused,
    }
}

/// Waits until connections to `port` are refused; panics after `within`.
pub async fn wait_until_refused(port: u16, within: Duration) {
    let deadline = Instant::now() + within;
    while !connection_refused(port).await {
        assert!(
            Instant::now() < deadline,
            "port {port} still accepted connections after {within:?}"
        );
        tokio::time::sleep(POLL_EVERY).await;
    }
}
