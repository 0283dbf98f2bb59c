//! Starting and stopping the server: open and migrate the store, make sure the bootstrap key and
//! the signing key exist, serve until SIGTERM or SIGINT, then finish the requests in flight.

use std::sync::Arc;
use std::time::Duration;

use anyhow::Context;
use logplane_quota::arbiter::HeadroomRule;
use logplane_store::WorkerSettings;
use logplane_store::{AgentSettings, QuerySlotSettings, SqlStore, Store, StoreOptions};
use tokio::net::TcpListener;

use crate::app::{self, AppOptions};
use crate::auth::secrets::hash_secret;
use crate::auth::tokens::{MIN_SIGNING_KEY_BYTES, TokenService};
use crate::cli::{ServeArgs, StoreArgs};
use crate::extract::TrustedProxies;
use crate::scheduling;
use crate::telemetry::logging::{self, LogFormat};
use crate::telemetry::metrics::Metrics;
use logplane_model::quota::ApiRate;
use logplane_model::{Quota, QuotaSpec};

pub const BOOTSTRAP_KEY_ENV: &str = "LOGPLANE_BOOTSTRAP_ADMIN_KEY";

pub async fn open_store(
    args: &StoreArgs,
    quota_defaults: Quota,
    query_slots: QuerySlotSettings,
    agents: AgentSettings,
    workers: WorkerSettings,
) -> anyhow::Result<SqlStore> {
    let options = StoreOptions {
        max_connections: args.max_connections,
        acquire_timeout: args.store_timeout(),
        quota_defaults,
        query_slots,
        agents,
        workers,
        idle_transaction_timeout: args.idle_transaction_timeout(),
    };
    let store = match &args.database_url {
        Some(url) => SqlStore::connect_postgres(url, &options)
            .await
            .context("cannot connect to PostgreSQL")?,
        None => SqlStore::open_sqlite(&args.data_dir, &options)
            .await
            .with_context(|| {
                format!(
                    "cannot open the embedded store in {}",
                    args.data_dir.display()
                )
            })?,
    };
    store.migrate().await.context("cannot apply migrations")?;
    Ok(store)
}

pub async fn migrate(args: StoreArgs) -> anyhow::Result<()> {
    logging::init(LogFormat::Text);
    let store = open_store(
        &args,
        Quota::default(),
        QuerySlotSettings::default(),
        AgentSettings::default(),
        WorkerSettings::default(),
    )
    .await?;
    tracing::info!(backend = store.backend().name(), "migrations applied");
    store.close().await;
    Ok(())
}

pub fn print_openapi() -> anyhow::Result<()> {
    let document = app::openapi_document()
        .to_pretty_json()
        .context("cannot render the OpenAPI document")?;
    println!("{document}");
    Ok(())
}

pub async fn serve(args: ServeArgs) -> anyhow::Result<()> {
    logging::init(args.log_format);
    let quota_defaults = read_quota_defaults(args.quota_defaults_file.as_deref())?;
    let slot_settings = QuerySlotSettings {
        capacity: args.query_capacity,
        lease_ttl: Duration::from_millis(args.query_slot_lease_ms),
        poll_interval: Duration::from_millis(args.query_slot_poll_ms),
        headroom: if args.query_headroom_quantile > 0.0 {
            HeadroomRule::Reserve {
                quantile: args.query_headroom_quantile,
            }
        } else {
            HeadroomRule::WorkConserving
        },
        demand_time_constant: Duration::from_millis(args.query_demand_time_constant_ms),
    };
    let agent_settings = AgentSettings {
        offline_after: Duration::from_secs(args.agent_offline_after_seconds),
        auto_pause_failed_percent: args.rollout_auto_pause_failed_percent,
        expire_after: agent_expiry(&args)?,
    };
    let sql_store = open_store(
        &args.store,
        quota_defaults,
        slot_settings,
        agent_settings,
        args.worker_settings(),
    )
    .await?;
    let backend = sql_store.backend();
    let store: Arc<dyn Store> = Arc::new(sql_store.clone());

    if let Ok(secret) = std::env::var(BOOTSTRAP_KEY_ENV) {
        anyhow::ensure!(
            secret.len() >= 16,
            "{BOOTSTRAP_KEY_ENV} must be at least 16 characters"
        );
        store
            .ensure_bootstrap_key(&hash_secret(&secret))
            .await
            .context("cannot create the bootstrap admin key")?;
        tracing::info!("bootstrap platform-admin key is in place");
    }
    let signing_key = match &args.signing_key_file {
        Some(path) => read_signing_key(path)?,
        None => {
            let candidate: [u8; 32] = rand::random();
            store
                .ensure_signing_key(&candidate)
                .await
                .context("cannot load the token-signing key")?
        }
    };
    let tokens = Arc::new(TokenService::new(
        &signing_key,
        Duration::from_secs(args.token_ttl_seconds),
    ));

    let options = AppOptions {
        key_rate: ApiRate {
            per_sec: args.key_requests_per_sec,
            burst: args.key_burst,
        },
        default_tenant_rate: ApiRate {
            per_sec: quota_defaults.api_requests_per_sec,
            burst: quota_defaults.api_burst,
        },
        agent_rate: ApiRate {
            per_sec: args.agent_requests_per_sec,
            burst: args.agent_burst,
        },
        refused_credential_rate: ApiRate {
            per_sec: args.refused_credentials_per_sec,
            burst: args.refused_credentials_burst,
        },
        ingest_url: args.ingest_url.clone(),
        max_waiting_agents: usize::try_from(args.max_waiting_agents).unwrap_or(usize::MAX),
        trusted_proxies: TrustedProxies::new(
            args.trusted_proxies.clone(),
            args.client_address_header,
        )
        .map_err(|error| anyhow::anyhow!("--trusted-proxies: {error}"))?,
    };
    let metrics = Arc::new(Metrics::new());
    let (router, distribution) = app::build_with(store.clone(), tokens, options, metrics.clone())
        .map_err(|reason| anyhow::anyhow!("--ingest-url: {reason}"))?;
    spawn_query_slot_reconciler(store.clone(), slot_settings.lease_ttl);
    spawn_distribution_poller(
        store.clone(),
        Duration::from_millis(args.distribution_poll_ms),
    );
    spawn_rollout_guard(store.clone(), Duration::from_millis(args.rollout_check_ms));
    if let Some(expire_after) = agent_settings.expire_after {
        spawn_agent_expiry(store.clone(), expire_after);
    }
    let scheduler_settings = args.scheduler_settings();
    tracing::info!(replica = %scheduler_settings.replica_id, "contending for the scheduler lease");
    let scheduler = scheduling::spawn(store, scheduler_settings, metrics);
    let listener = TcpListener::bind(args.listen)
        .await
        .with_context(|| format!("cannot listen on {}", args.listen))?;
    tracing::info!(address = %listener.local_addr()?, backend = backend.name(), "listening");
    let stopping = Arc::new(tokio::sync::Notify::new());
    let server = {
        let stopping = stopping.clone();
        crate::connections::serve(listener, router, async move {
            shutdown_signal().await;
            // Agents parked in a long poll are answered now, not at the end of their wait.
            distribution.stop_waiting();
            stopping.notify_one();
        })
    };
    let grace = Duration::from_secs(args.shutdown_grace_seconds);
    // Graceful shutdown waits for every request in flight; a stalled client must not keep the
    // process alive forever, so the wait is bounded.
    let grace_expired = async {
        stopping.notified().await;
        tokio::time::sleep(grace).await;
    };
    tokio::select! {
        () = server => {}
        () = grace_expired => {
            tracing::warn!(grace_seconds = grace.as_secs(), "shutdown grace expired; exiting with requests in flight");
            scheduler.stop().await;
            sql_store.close().await;
            return Ok(());
        }
    }
    tracing::info!("stopped accepting; requests in flight finished");
    // Resigning the scheduler lease lets another replica take over without waiting it out.
    scheduler.stop().await;
    sql_store.close().await;
    Ok(())
}

/// The built-in quota defaults with the fields of `path` (a `QuotaSpec` in JSON) laid over them.
fn read_quota_defaults(path: Option<&std::path::Path>) -> anyhow::Result<Quota> {
    let Some(path) = path else {
        return Ok(Quota::default());
    };
    let text =
        std::fs::read_to_string(path).with_context(|| format!("cannot read {}", path.display()))?;
    let spec: QuotaSpec = serde_json::from_str(&text)
        .with_context(|| format!("{} is not a quota", path.display()))?;
    spec.validate()
        .map_err(|errors| anyhow::anyhow!("{}: {errors}", path.display()))?;
    Ok(spec.over(&Quota::default()))
}

fn read_signing_key(path: &std::path::Path) -> anyhow::Result<Vec<u8>> {
    let bytes = std::fs::read(path)
        .with_context(|| format!("cannot read the signing key file {}", path.display()))?;
    let trimmed = bytes.trim_ascii().to_vec();
    anyhow::ensure!(
        trimmed.len() >= MIN_SIGNING_KEY_BYTES,
        "the signing key in {} must be at least {MIN_SIGNING_KEY_BYTES} bytes",
        path.display()
    );
    Ok(trimmed)
}

async fn shutdown_signal() {
    let interrupt = async {
        let _ = tokio::signal::ctrl_c().await;
    };
    let terminate = async {
        match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
            Ok(mut signal) => {
                signal.recv().await;
            }
            Err(error) => {
                tracing::warn!(%error, "cannot listen for SIGTERM");
                std::future::pending::<()>().await;
            }
        }
    };
    tokio::select! {
        () = interrupt => tracing::info!(signal = "SIGINT", "shutting down"),
        () = terminate => tracing::info!(signal = "SIGTERM", "shutting down"),
    }
}

/// Expires lapsed query-slot leases and hands their capacity to waiters, even when no acquire
/// or release happens to do it. Every replica runs it; the store's arbiter lock makes that safe.
fn spawn_query_slot_reconciler(store: Arc<dyn Store>, lease_ttl: Duration) {
    let period = (lease_ttl / 4).clamp(Duration::from_millis(100), Duration::from_secs(1));
    spawn_every(period, move || {
        let store = store.clone();
        async move {
            if let Err(error) = store.reconcile_query_slots().await {
                tracing::warn!(%error, "query-slot reconciliation failed; retrying");
            }
        }
    });
}

/// Runs `round` every `period`, for as long as the process lives; a round that overruns delays
/// the next rather than bunching them.
fn spawn_every<Round, Fut>(period: Duration, mut round: Round)
where
    Round: FnMut() -> Fut + Send + 'static,
    Fut: Future<Output = ()> + Send,
{
    tokio::spawn(async move {
        let mut ticks = tokio::time::interval(period);
        ticks.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        loop {
            ticks.tick().await;
            round().await;
        }
    });
}

/// Publishes distribution changes made through other replicas to the agents waiting here.
fn spawn_distribution_poller(store: Arc<dyn Store>, period: Duration) {
    spawn_every(period, move || {
        let store = store.clone();
        async move {
            if let Err(error) = store.poll_distribution().await {
                tracing::warn!(%error, "polling distribution generations failed; retrying");
            }
        }
    });
}

/// `--agent-expire-after-seconds`, checked against the offline threshold: an agent must be shown
/// offline before it is removed for silence.
fn agent_expiry(args: &ServeArgs) -> anyhow::Result<Option<Duration>> {
    match args.agent_expire_after_seconds {
        0 => Ok(None),
        seconds if seconds <= args.agent_offline_after_seconds => anyhow::bail!(
            "--agent-expire-after-seconds ({seconds}) must exceed \
             --agent-offline-after-seconds ({}), or be 0 to never expire agents",
            args.agent_offline_after_seconds
        ),
        seconds => Ok(Some(Duration::from_secs(seconds))),
    }
}

/// Removes agents silent for longer than `expire_after`. Every replica runs it; the store audits
/// only what its own delete removed, so that is safe. A sweep every 1/24 of the expiry (between a
/// second and an hour) keeps an expired agent listed for at most that much longer.
fn spawn_agent_expiry(store: Arc<dyn Store>, expire_after: Duration) {
    let period = (expire_after / 24).clamp(Duration::from_secs(1), Duration::from_secs(3600));
    spawn_every(period, move || {
        let store = store.clone();
        async move {
            match store.expire_silent_agents().await {
                Ok(0) => {}
                Ok(removed) => tracing::info!(removed, "expired silent agents"),
                Err(error) => tracing::warn!(%error, "expiring silent agents failed; retrying"),
            }
        }
    });
}

/// Pauses rollouts whose updated agents fail too often: on a timer, and at once after a failure
/// report on this replica. Every replica runs it; the pause is conditional, so that is safe.
fn spawn_rollout_guard(store: Arc<dyn Store>, period: Duration) {
    let failures = store.failure_reports();
    tokio::spawn(async move {
        let mut ticks = tokio::time::interval(period);
        ticks.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        loop {
            tokio::select! {
                _ = ticks.tick() => {}
                () = failures.notified() => {}
            }
            if let Err(error) = store.reconcile_rollouts().await {
                tracing::warn!(%error, "judging rollouts failed; retrying");
            }
        }
    });
}

#[cfg(test)]
mod tests {
    use clap::Parser;

    use super::*;

    #[derive(Parser)]
    struct Serve {
        #[command(flatten)]
        args: ServeArgs,
    }

    fn parse(flags: &[&str]) -> Result<ServeArgs, clap::Error> {
        Serve::try_parse_from(std::iter::once("serve").chain(flags.iter().copied()))
            .map(|serve| serve.args)
    }

    #[test]
    fn agent_expiry_must_exceed_the_offline_threshold_or_be_off() {
        let default = parse(&[]).unwrap();
        assert_eq!(
            agent_expiry(&default).unwrap(),
            Some(logplane_store::DEFAULT_AGENT_EXPIRY)
        );
        let off = parse(&["--agent-expire-after-seconds", "0"]).unwrap();
        assert_eq!(agent_expiry(&off).unwrap(), None);
        let too_soon = parse(&["--agent-expire-after-seconds", "120"]).unwrap();
        let refused = agent_expiry(&too_soon).unwrap_err().to_string();
        assert!(
            refused.contains("(120)") && refused.contains("--agent-offline-after-seconds (180)"),
            "{refused}"
        );
    }

    #[test]
    fn trusted_proxies_are_a_list_of_networks_and_a_bad_one_is_named() {
        let args = parse(&["--trusted-proxies", "10.0.0.0/8,192.0.2.1"]).unwrap();
        let listed: Vec<String> = args.trusted_proxies.iter().map(|n| n.to_string()).collect();
        assert_eq!(listed, ["10.0.0.0/8", "192.0.2.1/32"]);
        let refused = parse(&["--trusted-proxies", "10.0.0.0/8,lb.internal"])
            .unwrap_err()
            .to_string();
        assert!(refused.contains("lb.internal"), "{refused}");
    }
}
