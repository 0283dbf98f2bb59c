//! The servers a simulation runs against: one or more `logplane serve` replicas on a fresh
//! database (PostgreSQL, or the embedded SQLite for a single replica), started, killed and
//! restarted on the same port so the simulated clients find them again.

use std::path::PathBuf;
use std::time::Duration;

use anyhow::{Context, bail};
use clap::ValueEnum;
use logplane_client::{Client, Precondition};
use logplane_e2e::{
    BOOTSTRAP_ADMIN_KEY, LogplaneServer, ServerConfig, StoreLocation, scheduler_leader,
};
use logplane_model::{ApiKeyRequest, ProjectSpec, Role, SchedulerStatus, TenantSpec};
use logplane_store::Backend;
use logplane_store::testing::TestDatabase;
use nix::sys::signal::Signal;

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum Store {
    /// A fresh database on the local PostgreSQL (`LOGPLANE_TEST_POSTGRES_URL` to change).
    Postgres,
    /// The embedded default: one replica only.
    Sqlite,
}

impl Store {
    pub fn name(self) -> &'static str {
        match self {
            Store::Postgres => "PostgreSQL",
            Store::Sqlite => "SQLite (embedded)",
        }
    }
}

/// The `logplane` binary to run: `--logplane-bin`, else the one built next to this simulator
/// (`cargo build --release -p logplane-api -p logplane-sim` builds both).
pub fn locate_binary(explicit: Option<PathBuf>) -> anyhow::Result<PathBuf> {
    let path = match explicit {
        Some(path) => path,
        None => std::env::current_exe()
            .context("cannot find the simulator's own path")?
            .with_file_name("logplane"),
    };
    if !path.is_file() {
        bail!(
            "no logplane binary at {}; build it (`cargo build --release -p logplane-api --bin logplane`) or pass --logplane-bin",
            path.display()
        );
    }
    Ok(path)
}

pub struct Cluster {
    replicas: Vec<Option<LogplaneServer>>,
    ports: Vec<u16>,
    config: ServerConfig,
    /// Kept until the end: dropping it removes the database.
    _database: TestDatabase,
}

impl Cluster {
    /// Starts `replicas` servers of `binary` with `flags` (`--name value` pairs) on a fresh
    /// database.
    pub async fn start(
        binary: PathBuf,
        store: Store,
        replicas: usize,
        flags: &[(&str, String)],
        log_filter: &str,
    ) -> anyhow::Result<Cluster> {
        if store == Store::Sqlite && replicas > 1 {
            bail!("the embedded SQLite store runs one replica; use --store postgres for more");
        }
        let database = TestDatabase::create(match store {
            Store::Postgres => Backend::Postgres,
            Store::Sqlite => Backend::Sqlite,
        })
        .await;
        let mut config = ServerConfig::new(StoreLocation::of(&database))
            .binary(binary)
            .log_filter(log_filter);
        for (flag, value) in flags {
            config = config.arg(flag, value);
        }
        let mut cluster = Cluster {
            replicas: Vec::new(),
            ports: Vec::new(),
            config,
            _database: database,
        };
        for _ in 0..replicas {
            let server = LogplaneServer::start(&cluster.config).await;
            cluster.ports.push(server.port());
            cluster.replicas.push(Some(server));
        }
        Ok(cluster)
    }

    pub fn base_urls(&self) -> Vec<String> {
        self.ports
            .iter()
            .map(|port| format!("http://127.0.0.1:{port}"))
            .collect()
    }

    /// The process id of replica `at`, while it runs.
    pub fn pid(&self, at: usize) -> Option<u32> {
        self.replicas[at].as_ref().map(LogplaneServer::pid)
    }

    /// A platform admin's client of every replica (each one's URL stays valid across restarts).
    pub async fn admins(&self) -> anyhow::Result<Vec<Client>> {
        let token = Client::new(&self.base_urls()[0])?
            .exchange_token(BOOTSTRAP_ADMIN_KEY)
            .await?
            .access_token;
        self.base_urls()
            .iter()
            .map(|url| {
                Client::builder(url)
                    .timeout(Duration::from_secs(10))
                    .bearer_token(&token)
                    .build()
                    .map_err(anyhow::Error::from)
            })
            .collect()
    }

    /// Crashes replica `at` (SIGKILL) and waits for the process to end.
    pub async fn kill(&mut self, at: usize) {
        if let Some(mut server) = self.replicas[at].take() {
            server.send_signal(Signal::SIGKILL);
            server.wait_for_exit(Duration::from_secs(10)).await;
        }
    }

    /// Starts replica `at` again on its port.
    pub async fn restart(&mut self, at: usize) {
        if self.replicas[at].is_none() {
            let server = LogplaneServer::start_on_port(&self.config, self.ports[at]).await;
            self.replicas[at] = Some(server);
        }
    }

    /// The replica holding an unexpired scheduler lease, and its epoch, as `admin` sees it.
    pub fn leader_of(&self, status: &SchedulerStatus) -> Option<(usize, i64)> {
        scheduler_leader(status, self.ports.iter().copied().map(Some))
    }
}

/// Creates `tenant` and its `project`, or leaves them as they are.
pub async fn create_project(admin: &Client, tenant: &str, project: &str) -> anyhow::Result<()> {
    admin
        .put_tenant(tenant, &TenantSpec::default(), Precondition::Unconditional)
        .await?;
    admin
        .put_project(
            tenant,
            project,
            &ProjectSpec::default(),
            Precondition::Unconditional,
        )
        .await?;
    Ok(())
}

/// A token of a new platform API key of `role` (workers use the `worker` role).
pub async fn platform_token(admin: &Client, name: &str, role: Role) -> anyhow::Result<String> {
    let key = admin
        .create_platform_api_key(&ApiKeyRequest {
            name: name.to_string(),
            role,
        })
        .await?;
    Ok(admin.exchange_token(&key.secret).await?.access_token)
}
