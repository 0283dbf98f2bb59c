//! The command line: `logplane serve`, `logplane migrate`, `logplane openapi`. Every flag can
//! also be set through the environment variable named in its help.

use std::net::SocketAddr;
use std::path::PathBuf;
use std::process::ExitCode;
use std::time::Duration;

use clap::{Args, Parser, Subcommand};

use crate::telemetry::logging::LogFormat;

pub const DEFAULT_LISTEN: &str = "127.0.0.1:7470";
pub const DEFAULT_DATA_DIR: &str = "./logplane-data";

#[derive(Debug, Parser)]
#[command(
    name = "logplane",
    version,
    about = "The control plane of a multi-tenant log service"
)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Debug, Subcommand)]
enum Command {
    /// Run the server (applies migrations first).
    // Boxed: the serve flags dwarf the other commands' (clippy::large_enum_variant).
    Serve(Box<ServeArgs>),
    /// Apply the store's migrations and exit.
    Migrate(StoreArgs),
    /// Print the OpenAPI document and exit.
    Openapi,
}

#[derive(Debug, Clone, Args)]
pub struct StoreArgs {
    /// Directory of the embedded SQLite store, used unless --database-url is given.
    #[arg(long, env = "LOGPLANE_DATA_DIR", default_value = DEFAULT_DATA_DIR)]
    pub data_dir: PathBuf,
    /// PostgreSQL URL (postgres://user@host:port/database); replaces the embedded store.
    #[arg(long, env = "LOGPLANE_DATABASE_URL")]
    pub database_url: Option<String>,
    /// Most connections held to the store.
    #[arg(long, env = "LOGPLANE_MAX_CONNECTIONS", default_value_t = 16, value_parser = clap::value_parser!(u32).range(1..=1000))]
    pub max_connections: u32,
    /// How long a request waits for a store connection before it is answered 503.
    #[arg(long, env = "LOGPLANE_STORE_TIMEOUT_MS", default_value_t = 3000, value_parser = clap::value_parser!(u64).range(100..=60_000))]
    pub store_timeout_ms: u64,
    /// PostgreSQL ends a session whose transaction stays idle this long (a paused or hung
    /// replica), releasing its locks, so a paused leader cannot block a takeover.
    #[arg(long, env = "LOGPLANE_IDLE_TRANSACTION_TIMEOUT_MS", default_value_t = 10_000, value_parser = clap::value_parser!(u64).range(100..=3_600_000))]
    pub idle_transaction_timeout_ms: u64,
}

impl StoreArgs {
    pub fn store_timeout(&self) -> Duration {
        Duration::from_millis(self.store_timeout_ms)
    }

    pub fn idle_transaction_timeout(&self) -> Duration {
        Duration::from_millis(self.idle_transaction_timeout_ms)
    }
}

#[derive(Debug, Clone, Args)]
pub struct ServeArgs {
    #[command(flatten)]
    pub store: StoreArgs,
    /// Address to listen on.
    #[arg(long, env = "LOGPLANE_LISTEN", default_value = DEFAULT_LISTEN)]
    pub listen: SocketAddr,
    /// File holding the token-signing secret (at least 32 bytes). Default: a secret generated at
    /// first start and kept in the store, shared by every replica.
    #[arg(long, env = "LOGPLANE_SIGNING_KEY_FILE")]
    pub signing_key_file: Option<PathBuf>,
    /// Lifetime of access tokens, in seconds.
    #[arg(long, env = "LOGPLANE_TOKEN_TTL_SECONDS", default_value_t = 900, value_parser = clap::value_parser!(u64).range(10..=86_400))]
    pub token_ttl_seconds: u64,
    /// After SIGTERM or SIGINT, how long requests in flight may take before the process exits
    /// anyway.
    #[arg(long, env = "LOGPLANE_SHUTDOWN_GRACE_SECONDS", default_value_t = 30, value_parser = clap::value_parser!(u64).range(0..=3600))]
    pub shutdown_grace_seconds: u64,
    /// Log format.
    #[arg(long, env = "LOGPLANE_LOG_FORMAT", value_enum, default_value_t = LogFormat::Text)]
    pub log_format: LogFormat,
    /// Sustained API requests per second of each API key (tenants' rates are in their quotas).
    #[arg(long, env = "LOGPLANE_KEY_REQUESTS_PER_SEC", default_value_t = 100, value_parser = clap::value_parser!(i64).range(1..=1_000_000_000))]
    pub key_requests_per_sec: i64,
    /// API requests each API key may send in a burst above its sustained rate.
    #[arg(long, env = "LOGPLANE_KEY_BURST", default_value_t = 200, value_parser = clap::value_parser!(i64).range(1..=1_000_000_000))]
    pub key_burst: i64,
    /// Query slots in the whole cluster (queries running at once, over all tenants).
    #[arg(long, env = "LOGPLANE_QUERY_CAPACITY", default_value_t = 64, value_parser = clap::value_parser!(i64).range(1..=1_000_000))]
    pub query_capacity: i64,
    /// How long a query slot lasts without a renewal, in milliseconds.
    #[arg(long, env = "LOGPLANE_QUERY_SLOT_LEASE_MS", default_value_t = 30_000, value_parser = clap::value_parser!(u64).range(100..=3_600_000))]
    pub query_slot_lease_ms: u64,
    /// How often a waiting query-slot request checks for a grant made by another replica.
    #[arg(long, env = "LOGPLANE_QUERY_SLOT_POLL_MS", default_value_t = 100, value_parser = clap::value_parser!(u64).range(5..=10_000))]
    pub query_slot_poll_ms: u64,
    /// Room kept free for tenants below their share of the query slots, as the quantile of their
    /// recent demand to cover (0 turns it off: plain fair queuing, every free slot to the next in
    /// line). See quota/README.md for the trade-off.
    #[arg(long, env = "LOGPLANE_QUERY_HEADROOM_QUANTILE", default_value_t = 0.9, value_parser = parse_quantile)]
    pub query_headroom_quantile: f64,
    /// The time constant, in milliseconds, of each tenant's recent query demand.
    #[arg(long, env = "LOGPLANE_QUERY_DEMAND_TIME_CONSTANT_MS", default_value_t = 5_000, value_parser = clap::value_parser!(u64).range(100..=3_600_000))]
    pub query_demand_time_constant_ms: u64,
    /// A worker that sends no heartbeat for this many milliseconds is dead: its ingest shards go
    /// to other workers. Heartbeats wait at most half of it.
    #[arg(long, env = "LOGPLANE_WORKER_LEASE_MS", default_value_t = 10_000, value_parser = clap::value_parser!(u64).range(200..=600_000))]
    pub worker_lease_ms: u64,
    /// How often a waiting heartbeat checks for an assignment published by another replica.
    #[arg(long, env = "LOGPLANE_WORKER_POLL_MS", default_value_t = 200, value_parser = clap::value_parser!(u64).range(5..=10_000))]
    pub worker_poll_ms: u64,
    /// The scheduler's leader lease, in milliseconds; the leader renews it every third of it,
    /// and another replica takes over within about this long after the leader dies.
    #[arg(long, env = "LOGPLANE_LEADER_LEASE_MS", default_value_t = 4_000, value_parser = clap::value_parser!(u64).range(200..=600_000))]
    pub leader_lease_ms: u64,
    /// How often the scheduler's leader reconciles without a wake-up, in milliseconds.
    #[arg(long, env = "LOGPLANE_RECONCILE_INTERVAL_MS", default_value_t = 1_000, value_parser = clap::value_parser!(u64).range(10..=600_000))]
    pub reconcile_interval_ms: u64,
    /// Auto-split: the per-shard ingest rate (bytes per second) above which a shard of a
    /// logstore with auto-split enabled is split, once it stayed above for the window.
    #[arg(long, env = "LOGPLANE_AUTO_SPLIT_SHARD_BYTES_PER_SEC", default_value_t = 5 * 1024 * 1024, value_parser = clap::value_parser!(u64).range(1..=1_u64 << 50))]
    pub auto_split_shard_bytes_per_sec: u64,
    /// Auto-split: how long, in milliseconds, a shard must stay above the rate to be split.
    #[arg(long, env = "LOGPLANE_AUTO_SPLIT_WINDOW_MS", default_value_t = 60_000, value_parser = clap::value_parser!(u64).range(0..=86_400_000))]
    pub auto_split_window_ms: u64,
    /// The time constant, in milliseconds, of the moving average the scheduler keeps over the
    /// shard loads workers report (0: use each report as it is).
    #[arg(long, env = "LOGPLANE_LOAD_SMOOTHING_MS", default_value_t = 10_000, value_parser = clap::value_parser!(u64).range(0..=3_600_000))]
    pub load_smoothing_ms: u64,
    /// JSON file of quota fields (as in `PUT /v1/tenants/{tenant}/quota`) that replace the
    /// built-in defaults for every tenant without its own value.
    #[arg(long, env = "LOGPLANE_QUOTA_DEFAULTS_FILE")]
    pub quota_defaults_file: Option<PathBuf>,
    /// Base URL of the ingest service, written into the configs rendered for agents.
    #[arg(long, env = "LOGPLANE_INGEST_URL", default_value = crate::app::DEFAULT_INGEST_URL)]
    pub ingest_url: String,
    /// Sync calls that may wait for a change at once on this replica; beyond, calls are
    /// answered without waiting (304 with Retry-After). Each waiting call holds a few kilobytes.
    #[arg(long, env = "LOGPLANE_MAX_WAITING_AGENTS", default_value_t = 50_000, value_parser = clap::value_parser!(u64).range(1..=10_000_000))]
    pub max_waiting_agents: u64,
    /// Sustained agent-protocol requests per second of each agent.
    #[arg(long, env = "LOGPLANE_AGENT_REQUESTS_PER_SEC", default_value_t = 10, value_parser = clap::value_parser!(i64).range(1..=1_000_000))]
    pub agent_requests_per_sec: i64,
    /// Agent-protocol requests each agent may send in a burst above its sustained rate.
    #[arg(long, env = "LOGPLANE_AGENT_BURST", default_value_t = 30, value_parser = clap::value_parser!(i64).range(1..=1_000_000))]
    pub agent_burst: i64,
    /// Refused credentials (unknown API keys, enrollment tokens, bad or revoked tokens) per
    /// second from one client address that are answered 401 and audited; beyond, 429 with
    /// `Retry-After` and no audit row. Valid credentials are never held back.
    #[arg(long, env = "LOGPLANE_REFUSED_CREDENTIALS_PER_SEC", default_value_t = 10, value_parser = clap::value_parser!(i64).range(1..=1_000_000))]
    pub refused_credentials_per_sec: i64,
    /// Refused credentials one client address may present in a burst above that rate.
    #[arg(long, env = "LOGPLANE_REFUSED_CREDENTIALS_BURST", default_value_t = 100, value_parser = clap::value_parser!(i64).range(1..=1_000_000))]
    pub refused_credentials_burst: i64,
    /// Proxies and load balancers in front of this server whose forwarding header names the
    /// client (comma-separated addresses or networks, e.g. `10.0.0.0/8,192.0.2.10`). A request
    /// from one of them is counted (refused-credential budget, request log) by the first address
    /// in the header, read from the right, that is not itself trusted. Empty: the connection's
    /// peer is the client and forwarding headers are ignored.
    #[arg(long, env = "LOGPLANE_TRUSTED_PROXIES", value_delimiter = ',', value_parser = crate::extract::client_address::parse_network)]
    pub trusted_proxies: Vec<ipnet::IpNet>,
    /// The header the trusted proxies write the client's address into.
    #[arg(long, env = "LOGPLANE_CLIENT_ADDRESS_HEADER", value_enum, default_value_t = crate::extract::client_address::ForwardingHeader::XForwardedFor)]
    pub client_address_header: crate::extract::client_address::ForwardingHeader,
    /// An agent silent for longer is shown offline. At least 70 s: agents may wait 60 s in a sync.
    #[arg(long, env = "LOGPLANE_AGENT_OFFLINE_AFTER_SECONDS", default_value_t = 180, value_parser = clap::value_parser!(u64).range(70..=86_400))]
    pub agent_offline_after_seconds: u64,
    /// An agent silent for longer is removed (audited as `agent.expire`); its credential stops
    /// working and it must enroll again. 0: agents are never removed for silence. Must exceed
    /// `--agent-offline-after-seconds`.
    #[arg(long, env = "LOGPLANE_AGENT_EXPIRE_AFTER_SECONDS", default_value_t = logplane_store::DEFAULT_AGENT_EXPIRY.as_secs(), value_parser = clap::value_parser!(u64).range(0..=31_536_000))]
    pub agent_expire_after_seconds: u64,
    /// A rollout pauses itself when more than this percentage of the agents that received its
    /// revision report failure.
    #[arg(long, env = "LOGPLANE_ROLLOUT_AUTO_PAUSE_FAILED_PERCENT", default_value_t = 10, value_parser = clap::value_parser!(u8).range(0..=100))]
    pub rollout_auto_pause_failed_percent: u8,
    /// How often waiting agents look for changes made through other replicas (changes made
    /// through this one wake them at once).
    #[arg(long, env = "LOGPLANE_DISTRIBUTION_POLL_MS", default_value_t = 1000, value_parser = clap::value_parser!(u64).range(20..=60_000))]
    pub distribution_poll_ms: u64,
    /// How often rollouts are judged for an automatic pause (a failure report here also
    /// triggers it at once).
    #[arg(long, env = "LOGPLANE_ROLLOUT_CHECK_MS", default_value_t = 5000, value_parser = clap::value_parser!(u64).range(20..=60_000))]
    pub rollout_check_ms: u64,
}

fn parse_quantile(text: &str) -> Result<f64, String> {
    let value: f64 = text
        .parse()
        .map_err(|_| format!("{text:?} is not a number"))?;
    if !(0.0..1.0).contains(&value) {
        return Err("must be at least 0 and below 1".to_string());
    }
    Ok(value)
}

impl ServeArgs {
    pub fn worker_settings(&self) -> logplane_store::WorkerSettings {
        logplane_store::WorkerSettings {
            lease_ttl: Duration::from_millis(self.worker_lease_ms),
            poll_interval: Duration::from_millis(self.worker_poll_ms),
        }
    }

    /// The scheduler's settings; the replica id names this process and its listen address, so
    /// the lease's holder says which replica leads.
    pub fn scheduler_settings(&self) -> crate::scheduling::SchedulerSettings {
        let mut settings =
            crate::scheduling::SchedulerSettings::new(&format!("replica-{}", self.listen));
        settings.leader_lease = Duration::from_millis(self.leader_lease_ms);
        settings.reconcile_interval = Duration::from_millis(self.reconcile_interval_ms);
        settings.reconcile = crate::scheduling::ReconcileSettings {
            auto_split: crate::scheduling::AutoSplitPolicy {
                shard_bytes_per_sec: self.auto_split_shard_bytes_per_sec,
                window: Duration::from_millis(self.auto_split_window_ms),
            },
            load_smoothing: Duration::from_millis(self.load_smoothing_ms),
            load_hold: Duration::from_millis(self.worker_lease_ms),
        };
        settings
    }
}

pub fn main() -> ExitCode {
    let cli = Cli::parse();
    let runtime = match tokio::runtime::Runtime::new() {
        Ok(runtime) => runtime,
        Err(error) => {
            eprintln!("logplane: cannot start the async runtime: {error}");
            return ExitCode::FAILURE;
        }
    };
    let outcome = runtime.block_on(async {
        match cli.command {
            Command::Serve(args) => crate::server::serve(*args).await,
            Command::Migrate(args) => crate::server::migrate(args).await,
            Command::Openapi => crate::server::print_openapi(),
        }
    });
    match outcome {
        Ok(()) => ExitCode::SUCCESS,
        Err(error) => {
            eprintln!("logplane: {error:#}");
            ExitCode::FAILURE
        }
    }
}
