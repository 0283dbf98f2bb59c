//! HTTP throughput of GET and PUT of a project, measured against the ceiling of the HTTP stack.
//!
//! One process, one run, three servers on loopback ports:
//! - the baseline: a bare axum router that answers GET and PUT of the project with the same JSON
//!   bytes and `ETag` from memory, so it costs only what hyper, axum and the sockets cost;
//! - the full logplane app on a fresh SQLite store;
//! - the full logplane app on a fresh PostgreSQL database.
//!
//! The full apps are set up as an operator would (signing key, bootstrap platform-admin key, a
//! token exchanged at `POST /v1/auth/token`, a tenant and a project created over HTTP), so every
//! measured request passes the middleware, token verification, the key lookup, the store and,
//! for writes, the audit log. One load generator drives each server in turn: a fixed number of
//! keep-alive connections, each sending its next request as soon as the last answer was read,
//! first for a warm-up, then for a measured interval whose every latency goes into an HDR
//! histogram.
//!
//! The figures replace the `http-throughput` section of `docs/benchmarks.md`.
//!
//! Run: `cargo bench -p logplane-api --bench http_throughput`. Settings, from the environment:
//! `LOGPLANE_BENCH_CONNECTIONS` (default 32), `LOGPLANE_BENCH_WARMUP_SECS` (2) and
//! `LOGPLANE_BENCH_MEASURE_SECS` (10).

use std::collections::BTreeMap;
use std::net::{Ipv4Addr, SocketAddr};
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use anyhow::{Context, bail, ensure};
use axum::Router;
use axum::extract::State;
use axum::http::header::{AUTHORIZATION, CONTENT_TYPE, ETAG, HOST};
use axum::http::{HeaderMap, HeaderValue, Method, Request, StatusCode, Uri};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use bytes::Bytes;
use hdrhistogram::Histogram;
use http_body_util::{BodyExt, Full};
use hyper::client::conn::http1::SendRequest;
use hyper_util::rt::TokioIo;
use logplane_api::app;
use logplane_api::auth::secrets::{hash_secret, new_secret};
use logplane_api::auth::tokens::TokenService;
use logplane_model::{TokenRequest, TokenResponse};
use logplane_store::testing::TestDatabase;
use logplane_store::{Backend, SqlStore, Store};
use tokio::net::{TcpListener, TcpStream};
use tokio::runtime::Runtime;
use tokio::task::JoinSet;

const TENANT: &str = "acme";
const PROJECT: &str = "web-frontend";
const PROJECT_ROUTE: &str = "/v1/tenants/{tenant}/projects/{project}";
/// What `logplane serve` uses by default, so tokens behave as in production.
const TOKEN_TTL: Duration = Duration::from_secs(900);

const REPORT_SECTION: &str = "http-throughput";

fn main() -> anyhow::Result<()> {
    let config = BenchConfig::from_env()?;
    // Read before the bench adds load of its own: anything else running shares the cores.
    let load_before = logplane_bench_report::load_average();
    install_request_logging();
    // Servers and load generator get runtimes (and threads) of their own, as two processes on
    // the same machine would; neither can starve the other's scheduler queue.
    let server_runtime = runtime("server")?;
    let client_runtime = runtime("client")?;

    let servers = server_runtime.block_on(start_servers())?;
    println!(
        "measuring with {} connections, {:?} warm-up, {:?} measured per row",
        config.connections, config.warmup, config.measure
    );
    let rows = client_runtime.block_on(measure_every_scenario(&config, &servers.targets))?;
    server_runtime.block_on(servers.shut_down());

    let section = render_section(&config, &load_before, &rows);
    logplane_bench_report::write_section(REPORT_SECTION, &section)?;
    println!("{section}");
    println!("wrote {}", logplane_bench_report::report_path().display());

    let failed_rows: Vec<String> = rows
        .iter()
        .filter(|row| row.tally.failure_count() > 0)
        .map(ScenarioRow::label)
        .collect();
    if !failed_rows.is_empty() {
        bail!(
            "requests failed in: {} (see the report)",
            failed_rows.join(", ")
        );
    }
    Ok(())
}

// ---------------------------------------------------------------------------------------------
// Settings

struct BenchConfig {
    connections: usize,
    warmup: Duration,
    measure: Duration,
}

impl BenchConfig {
    fn from_env() -> anyhow::Result<Self> {
        let connections = env_number("LOGPLANE_BENCH_CONNECTIONS", 32)?;
        ensure!(
            connections > 0,
            "LOGPLANE_BENCH_CONNECTIONS must be at least 1"
        );
        let measure_secs = env_number("LOGPLANE_BENCH_MEASURE_SECS", 10)?;
        ensure!(
            measure_secs > 0,
            "LOGPLANE_BENCH_MEASURE_SECS must be at least 1"
        );
        Ok(Self {
            connections: connections as usize,
            warmup: Duration::from_secs(env_number("LOGPLANE_BENCH_WARMUP_SECS", 2)?),
            measure: Duration::from_secs(measure_secs),
        })
    }
}

fn env_number(name: &str, default: u64) -> anyhow::Result<u64> {
    match std::env::var(name) {
        Ok(text) => text
            .trim()
            .parse()
            .with_context(|| format!("{name} must be a whole number, not {text:?}")),
        Err(_) => Ok(default),
    }
}

fn runtime(name: &str) -> anyhow::Result<Runtime> {
    tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .thread_name(format!("bench-{name}"))
        .build()
        .with_context(|| format!("cannot build the {name} runtime"))
}

/// `logplane serve` writes one log line per request; formatting it is part of a request's cost.
/// The lines go to a sink so that tens of thousands of them do not flood the terminal.
fn install_request_logging() {
    let _ = tracing_subscriber::fmt()
        .json()
        .flatten_event(true)
        .with_env_filter(tracing_subscriber::EnvFilter::new("info"))
        .with_writer(std::io::sink)
        .try_init();
}

// ---------------------------------------------------------------------------------------------
// The servers under test

/// A server the load generator can drive, and the requests it takes.
struct Target {
    name: &'static str,
    address: SocketAddr,
    project_uri: Uri,
    host: HeaderValue,
    authorization: HeaderValue,
    /// A query frontend's token; the baseline has none.
    frontend_authorization: Option<HeaderValue>,
}

struct RunningServers {
    targets: Vec<Arc<Target>>,
    logplane: Vec<LogplaneServer>,
}

impl RunningServers {
    async fn shut_down(self) {
        for server in self.logplane {
            server.store.close().await;
            // Dropping the database removes it (the SQLite directory, the PostgreSQL database).
            drop(server.database);
        }
    }
}

async fn start_servers() -> anyhow::Result<RunningServers> {
    let sqlite = LogplaneServer::start(Backend::Sqlite).await?;
    let postgres = LogplaneServer::start(Backend::Postgres).await?;
    // The baseline answers with exactly the bytes the real app sends for the project.
    let canned = CannedProject::fetch(&sqlite).await?;
    let baseline_address = serve_on_loopback(baseline_router(canned)).await?;
    let targets = vec![
        Arc::new(Target::new("baseline", baseline_address, &sqlite.token)?),
        Arc::new(Target::logplane("SQLite", &sqlite)?),
        Arc::new(Target::logplane("PostgreSQL", &postgres)?),
    ];
    Ok(RunningServers {
        targets,
        logplane: vec![sqlite, postgres],
    })
}

impl Target {
    fn new(name: &'static str, address: SocketAddr, token: &str) -> anyhow::Result<Self> {
        Ok(Self {
            name,
            address,
            project_uri: project_path().parse()?,
            host: HeaderValue::from_str(&address.to_string())?,
            authorization: HeaderValue::from_str(&format!("Bearer {token}"))?,
            frontend_authorization: None,
        })
    }

    fn logplane(name: &'static str, server: &LogplaneServer) -> anyhow::Result<Self> {
        let mut target = Self::new(name, server.address, &server.token)?;
        target.frontend_authorization = Some(HeaderValue::from_str(&format!(
            "Bearer {}",
            server.frontend_token
        ))?);
        Ok(target)
    }

    /// A query frontend's request; `json` when it carries a JSON body.
    fn slot_request(
        &self,
        method: Method,
        uri: &str,
        body: Full<Bytes>,
        json: bool,
    ) -> Request<Full<Bytes>> {
        let mut builder = Request::builder()
            .method(method)
            .uri(uri)
            .header(HOST, self.host.clone());
        if let Some(authorization) = &self.frontend_authorization {
            builder = builder.header(AUTHORIZATION, authorization.clone());
        }
        if json {
            builder = builder.header(CONTENT_TYPE, "application/json");
        }
        builder
            .body(body)
            .expect("a request built from valid parts")
    }

    fn request(&self, workload: Workload) -> Request<Full<Bytes>> {
        let builder = Request::builder()
            .uri(self.project_uri.clone())
            .header(HOST, self.host.clone())
            .header(AUTHORIZATION, self.authorization.clone());
        let request = match workload {
            Workload::Get => builder.method(Method::GET).body(Full::default()),
            Workload::Put => builder
                .method(Method::PUT)
                .header(CONTENT_TYPE, "application/json")
                .body(Full::new(revision_body(next_revision()))),
            Workload::UnchangedPut => builder
                .method(Method::PUT)
                .header(CONTENT_TYPE, "application/json")
                .body(Full::new(Bytes::from_static(UNCHANGED_BODY.as_bytes()))),
            Workload::QuerySlotPair => {
                unreachable!("slot pairs are two requests; see exchange_slot_pair")
            }
        };
        request.expect("a request built from constant, valid parts")
    }
}

fn project_path() -> String {
    format!("/v1/tenants/{TENANT}/projects/{PROJECT}")
}

async fn serve_on_loopback(router: Router) -> anyhow::Result<SocketAddr> {
    let listener = TcpListener::bind((Ipv4Addr::LOCALHOST, 0)).await?;
    let address = listener.local_addr()?;
    // Served exactly as `logplane serve` serves; it never shuts down: the runtime's end stops it.
    tokio::spawn(logplane_api::connections::serve(
        listener,
        router,
        std::future::pending(),
    ));
    Ok(address)
}

/// The full app on a fresh database, set up through its own API.
struct LogplaneServer {
    address: SocketAddr,
    token: String,
    frontend_token: String,
    store: SqlStore,
    database: TestDatabase,
}

impl LogplaneServer {
    async fn start(backend: Backend) -> anyhow::Result<Self> {
        let database = TestDatabase::create(backend).await;
        // Opens with the same pool settings as `logplane serve`'s defaults, and migrates.
        let store = database.open().await;
        let signing_key = store
            .ensure_signing_key(&rand::random::<[u8; 32]>())
            .await?;
        let admin_secret = new_secret();
        store
            .ensure_bootstrap_key(&hash_secret(&admin_secret))
            .await?;
        let tokens = Arc::new(TokenService::new(&signing_key, TOKEN_TTL));
        // Rate limits would cap the measurement itself; the bench measures the request path.
        let unlimited = app::AppOptions {
            key_rate: logplane_model::quota::ApiRate {
                per_sec: 1_000_000_000,
                burst: 1_000_000_000,
            },
            ..app::AppOptions::default()
        };
        let router =
            app::build(Arc::new(store.clone()), tokens, unlimited).expect("default options");
        let address = serve_on_loopback(router).await?;
        let token = exchange_api_key(address, &admin_secret).await?;
        create_tenant_and_project(address, &token).await?;
        let frontend_token = create_query_frontend(address, &token).await?;
        Ok(Self {
            address,
            token,
            frontend_token,
            store,
            database,
        })
    }
}

async fn exchange_api_key(address: SocketAddr, secret: &str) -> anyhow::Result<String> {
    let body = serde_json::to_vec(&TokenRequest {
        api_key: secret.to_string(),
    })?;
    let answer = call(address, Method::POST, "/v1/auth/token", None, Some(body)).await?;
    answer.expect_status(StatusCode::OK, "token exchange")?;
    let token: TokenResponse = serde_json::from_slice(&answer.body)?;
    Ok(token.access_token)
}

/// A query-frontend key and its token, and a tenant quota roomy enough that every connection
/// holds a slot at once (the pairs measure the arbiter's path, not waiting).
async fn create_query_frontend(address: SocketAddr, token: &str) -> anyhow::Result<String> {
    let quota = br#"{"max_concurrent_queries":1000,"max_queued_queries":1000}"#.to_vec();
    call(
        address,
        Method::PUT,
        &format!("/v1/tenants/{TENANT}/quota"),
        Some(token),
        Some(quota),
    )
    .await?
    .expect_status(StatusCode::OK, "quota")?;
    let key = br#"{"name":"bench-frontend","role":"query-frontend"}"#.to_vec();
    let created = call(
        address,
        Method::POST,
        "/v1/api-keys",
        Some(token),
        Some(key),
    )
    .await?;
    created.expect_status(StatusCode::CREATED, "query-frontend key")?;
    let secret: serde_json::Value = serde_json::from_slice(&created.body)?;
    let secret = secret["secret"].as_str().context("a key secret")?;
    exchange_api_key(address, secret).await
}

fn slots_path() -> String {
    format!("/v1/tenants/{TENANT}/projects/{PROJECT}/query-slots")
}

/// Acquires a slot and releases it; the pair's latency is one answer. A failure of either
/// request is the answer's status.
async fn exchange_slot_pair(
    sender: &mut SendRequest<Full<Bytes>>,
    target: &Target,
) -> anyhow::Result<(StatusCode, HeaderMap, Bytes)> {
    let body = Full::new(Bytes::from_static(br#"{"max_wait_ms":1000}"#));
    let acquired = exchange(
        sender,
        target.slot_request(Method::POST, &slots_path(), body, true),
    )
    .await?;
    if acquired.0 != StatusCode::CREATED {
        return Ok(acquired);
    }
    let slot: serde_json::Value = serde_json::from_slice(&acquired.2)?;
    let id = slot["slot_id"].as_str().context("a slot id")?;
    let release = target.slot_request(
        Method::DELETE,
        &format!("/v1/query-slots/{id}"),
        Full::default(),
        false,
    );
    exchange(sender, release).await
}

async fn create_tenant_and_project(address: SocketAddr, token: &str) -> anyhow::Result<()> {
    let tenant_body = br#"{"display_name":"Benchmark tenant"}"#.to_vec();
    let tenant_path = format!("/v1/tenants/{TENANT}");
    call(
        address,
        Method::PUT,
        &tenant_path,
        Some(token),
        Some(tenant_body),
    )
    .await?
    .expect_status(StatusCode::CREATED, "tenant create")?;
    let project_body = revision_body(0).to_vec();
    call(
        address,
        Method::PUT,
        &project_path(),
        Some(token),
        Some(project_body),
    )
    .await?
    .expect_status(StatusCode::CREATED, "project create")?;
    Ok(())
}

/// The project as the real app renders it, served from memory by the baseline.
#[derive(Clone)]
struct CannedProject {
    body: Bytes,
    etag: HeaderValue,
}

impl CannedProject {
    async fn fetch(server: &LogplaneServer) -> anyhow::Result<Self> {
        let answer = call(
            server.address,
            Method::GET,
            &project_path(),
            Some(&server.token),
            None,
        )
        .await?;
        answer.expect_status(StatusCode::OK, "project get")?;
        let etag = answer
            .headers
            .get(ETAG)
            .cloned()
            .context("the project has no ETag")?;
        Ok(Self {
            body: answer.body,
            etag,
        })
    }

    fn response(&self) -> Response {
        let headers = [
            (CONTENT_TYPE, HeaderValue::from_static("application/json")),
            (ETAG, self.etag.clone()),
        ];
        (headers, self.body.clone()).into_response()
    }
}

fn baseline_router(project: CannedProject) -> Router {
    Router::new()
        .route(PROJECT_ROUTE, get(canned_get).put(canned_put))
        .with_state(project)
}

async fn canned_get(State(project): State<CannedProject>) -> Response {
    project.response()
}

/// Takes the body as `Bytes` so that it is read in full, as the real handler must read it.
async fn canned_put(State(project): State<CannedProject>, _body: Bytes) -> Response {
    project.response()
}

// ---------------------------------------------------------------------------------------------
// Request bodies

#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
enum Workload {
    Get,
    /// A write that changes the project: a new revision, an update and an audit event each time.
    Put,
    /// A write of the body already stored, which the store answers without writing.
    UnchangedPut,
    /// A query frontend acquiring a query slot and releasing it: two requests, each a
    /// transaction on the arbiter's lock row.
    QuerySlotPair,
}

impl Workload {
    fn label(self) -> &'static str {
        match self {
            Workload::Get => "GET",
            Workload::Put => "PUT",
            Workload::UnchangedPut => "PUT (no-op)",
            Workload::QuerySlotPair => "query slot acquire + release",
        }
    }

    /// The baseline row each workload is compared with.
    fn baseline(self) -> Workload {
        match self {
            Workload::Get => Workload::Get,
            Workload::Put | Workload::UnchangedPut => Workload::Put,
            // No baseline: the HTTP stack has no arbiter to compare with.
            Workload::QuerySlotPair => Workload::QuerySlotPair,
        }
    }
}

const UNCHANGED_BODY: &str =
    r#"{"description":"benchmark steady state 0000000000","labels":{"tier":"bench"}}"#;

/// Numbers the revisions of the project across the whole run. Alternating between two bodies
/// would not do: with many connections writing at once, a write can land on a project another
/// connection has just set to the same body, and the store answers that one as a no-op. A
/// number never used before makes every write a real update. It starts at 1 because the project
/// is created as revision 0.
static NEXT_REVISION: AtomicU64 = AtomicU64::new(1);

fn next_revision() -> u64 {
    NEXT_REVISION.fetch_add(1, Ordering::Relaxed)
}

/// The same length for every revision (zero-padded), so every write moves the same bytes.
fn revision_body(revision: u64) -> Bytes {
    Bytes::from(format!(
        r#"{{"description":"benchmark revision {revision:010}","labels":{{"tier":"bench"}}}}"#
    ))
}

// ---------------------------------------------------------------------------------------------
// The HTTP client

async fn connect(address: SocketAddr) -> anyhow::Result<SendRequest<Full<Bytes>>> {
    let stream = TcpStream::connect(address).await?;
    // A request is one small write; waiting for Nagle's algorithm would only add latency.
    stream.set_nodelay(true)?;
    let (sender, connection) = hyper::client::conn::http1::handshake(TokioIo::new(stream)).await?;
    tokio::spawn(async move {
        // Ends when the sender is dropped or the server closes; a failure shows up as the next
        // request's error, where it is counted.
        let _ = connection.await;
    });
    Ok(sender)
}

/// Sends one request and reads the whole answer: the body is part of the cost, and the
/// connection is free for the next request only once it has been read.
async fn exchange(
    sender: &mut SendRequest<Full<Bytes>>,
    request: Request<Full<Bytes>>,
) -> anyhow::Result<(StatusCode, HeaderMap, Bytes)> {
    sender.ready().await?;
    let response = sender.send_request(request).await?;
    let (parts, body) = response.into_parts();
    let body = body.collect().await?.to_bytes();
    Ok((parts.status, parts.headers, body))
}

struct Answer {
    status: StatusCode,
    headers: HeaderMap,
    body: Bytes,
}

impl Answer {
    fn expect_status(&self, expected: StatusCode, what: &str) -> anyhow::Result<()> {
        ensure!(
            self.status == expected,
            "{what} answered {} instead of {expected}: {}",
            self.status,
            String::from_utf8_lossy(&self.body)
        );
        Ok(())
    }
}

/// One request on a connection of its own, for setting the servers up.
async fn call(
    address: SocketAddr,
    method: Method,
    path: &str,
    token: Option<&str>,
    json_body: Option<Vec<u8>>,
) -> anyhow::Result<Answer> {
    let mut builder = Request::builder()
        .method(method)
        .uri(path)
        .header(HOST, address.to_string());
    if let Some(token) = token {
        builder = builder.header(AUTHORIZATION, format!("Bearer {token}"));
    }
    let body = match json_body {
        Some(bytes) => {
            builder = builder.header(CONTENT_TYPE, "application/json");
            Full::new(Bytes::from(bytes))
        }
        None => Full::default(),
    };
    let mut sender = connect(address).await?;
    let (status, headers, body) = exchange(&mut sender, builder.body(body)?).await?;
    Ok(Answer {
        status,
        headers,
        body,
    })
}

// ---------------------------------------------------------------------------------------------
// The load generator

/// When requests start counting and when connections stop sending.
#[derive(Clone, Copy)]
struct Schedule {
    measure_start: Instant,
    measure_end: Instant,
}

/// What one connection (or, merged, all of them) saw during the measured interval.
struct Tally {
    /// Microseconds from sending a request to having read its whole answer, for every answer.
    latency_micros: Histogram<u64>,
    /// Non-2xx answers and transport errors, by kind, with the first example of each.
    failures: BTreeMap<String, FailureKind>,
}

struct FailureKind {
    count: u64,
    example: String,
}

impl Tally {
    fn new() -> Self {
        // 1 µs to 60 s at three significant digits; anything slower is clamped to 60 s.
        let latency_micros = Histogram::new_with_bounds(1, 60_000_000, 3)
            .expect("constant histogram bounds are valid");
        Self {
            latency_micros,
            failures: BTreeMap::new(),
        }
    }

    fn record_answer(&mut self, status: StatusCode, body: &[u8], latency: Duration) {
        let micros = u64::try_from(latency.as_micros()).unwrap_or(u64::MAX);
        self.latency_micros.saturating_record(micros.max(1));
        if !status.is_success() {
            let example = String::from_utf8_lossy(&body[..body.len().min(300)]).into_owned();
            self.record_failure(format!("HTTP {}", status.as_u16()), example);
        }
    }

    fn record_failure(&mut self, kind: String, example: String) {
        self.failures
            .entry(kind)
            .or_insert(FailureKind { count: 0, example })
            .count += 1;
    }

    fn merge(&mut self, other: Tally) {
        self.latency_micros
            .add(&other.latency_micros)
            .expect("histograms with the same bounds merge");
        for (kind, failure) in other.failures {
            let entry = self.failures.entry(kind).or_insert(FailureKind {
                count: 0,
                example: failure.example,
            });
            entry.count += failure.count;
        }
    }

    fn answer_count(&self) -> u64 {
        self.latency_micros.len()
    }

    fn transport_error_count(&self) -> u64 {
        self.failures
            .iter()
            .filter(|(kind, _)| !kind.starts_with("HTTP "))
            .map(|(_, failure)| failure.count)
            .sum()
    }

    fn failure_count(&self) -> u64 {
        self.failures.values().map(|failure| failure.count).sum()
    }

    fn quantile_millis(&self, quantile: f64) -> f64 {
        self.latency_micros.value_at_quantile(quantile) as f64 / 1000.0
    }
}

/// Keeps one connection busy from now to the end of the schedule, one request at a time.
async fn drive_connection(
    target: Arc<Target>,
    workload: Workload,
    schedule: Schedule,
) -> anyhow::Result<Tally> {
    let mut tally = Tally::new();
    let mut sender = Some(connect(target.address).await?);
    loop {
        let started = Instant::now();
        if started >= schedule.measure_end {
            return Ok(tally);
        }
        let counted = started >= schedule.measure_start;
        let Some(open) = sender.as_mut() else {
            sender = reconnect(target.address, counted, &mut tally).await;
            continue;
        };
        let answer = match workload {
            Workload::QuerySlotPair => exchange_slot_pair(open, &target).await,
            _ => exchange(open, target.request(workload)).await,
        };
        match answer {
            Ok((status, _, body)) if counted => {
                tally.record_answer(status, &body, started.elapsed());
            }
            Ok(_) => {}
            Err(error) => {
                if counted {
                    tally.record_failure("transport error".into(), format!("{error:#}"));
                }
                sender = None;
            }
        }
    }
}

/// A failed connect is counted, and paused after, so that a refusing server is not hammered.
async fn reconnect(
    address: SocketAddr,
    counted: bool,
    tally: &mut Tally,
) -> Option<SendRequest<Full<Bytes>>> {
    match connect(address).await {
        Ok(sender) => Some(sender),
        Err(error) => {
            if counted {
                tally.record_failure("connect error".into(), format!("{error:#}"));
            }
            tokio::time::sleep(Duration::from_millis(10)).await;
            None
        }
    }
}

/// One row of the report: one workload against one server.
struct ScenarioRow {
    server: &'static str,
    /// The server's place in the report.
    server_rank: usize,
    workload: Workload,
    tally: Tally,
    /// From the start of the measured interval to the last counted answer.
    elapsed: Duration,
}

impl ScenarioRow {
    fn label(&self) -> String {
        format!("{} {}", self.server, self.workload.label())
    }

    fn requests_per_second(&self) -> f64 {
        self.tally.answer_count() as f64 / self.elapsed.as_secs_f64()
    }
}

async fn run_scenario(
    config: &BenchConfig,
    target: &Arc<Target>,
    workload: Workload,
    server_rank: usize,
) -> anyhow::Result<ScenarioRow> {
    let start = Instant::now();
    let schedule = Schedule {
        measure_start: start + config.warmup,
        measure_end: start + config.warmup + config.measure,
    };
    let mut connections = JoinSet::new();
    for _ in 0..config.connections {
        connections.spawn(drive_connection(target.clone(), workload, schedule));
    }
    let mut tally = Tally::new();
    while let Some(joined) = connections.join_next().await {
        tally.merge(joined.context("a connection task panicked")??);
    }
    // Requests started before the end finish after it; the interval stretches to include them.
    let elapsed = schedule.measure_start.elapsed();
    Ok(ScenarioRow {
        server: target.name,
        server_rank,
        workload,
        tally,
        elapsed,
    })
}

/// Every row, measured workload by workload so that each row follows its baseline closely in
/// time (background load on a shared machine drifts; the ratios suffer less), and returned in
/// the order of `targets`.
async fn measure_every_scenario(
    config: &BenchConfig,
    targets: &[Arc<Target>],
) -> anyhow::Result<Vec<ScenarioRow>> {
    let mut rows = Vec::new();
    for workload in [
        Workload::Get,
        Workload::Put,
        Workload::UnchangedPut,
        Workload::QuerySlotPair,
    ] {
        for (server_rank, target) in targets.iter().enumerate() {
            // The baseline has nothing to leave unchanged (its PUT row is the ceiling for both)
            // and no arbiter.
            if target.name == "baseline"
                && matches!(workload, Workload::UnchangedPut | Workload::QuerySlotPair)
            {
                continue;
            }
            let row = run_scenario(config, target, workload, server_rank).await?;
            println!(
                "{:<24} {:>9.0} req/s  p99 {:>8.2} ms  errors {}",
                row.label(),
                row.requests_per_second(),
                row.tally.quantile_millis(0.99),
                row.tally.failure_count()
            );
            rows.push(row);
        }
    }
    rows.sort_by_key(|row| (row.server_rank, row.workload));
    Ok(rows)
}

// ---------------------------------------------------------------------------------------------
// The report

const REPORT_EXPLANATION: &str =
    "Run it with `cargo bench -p logplane-api --bench http_throughput` (PostgreSQL must be
reachable at 127.0.0.1:5432 as user `postgres`, or at `LOGPLANE_TEST_POSTGRES_URL`). It rewrites
this section. `LOGPLANE_BENCH_CONNECTIONS`, `LOGPLANE_BENCH_WARMUP_SECS` and
`LOGPLANE_BENCH_MEASURE_SECS` change the load.

What is measured: one process starts a bare axum router that answers `GET` and `PUT
/v1/tenants/{t}/projects/{p}` with the project's JSON and `ETag` from memory (the ceiling of the
HTTP stack), and the full logplane app on a fresh SQLite store and on a fresh PostgreSQL
database. Each row drives one server with the same load: a fixed number of keep-alive HTTP/1.1
connections, each sending its next request as soon as it has read the last answer, for a
warm-up and then a measured interval. A logplane `GET` verifies the bearer token, looks its key
up in the store and reads the project; a `PUT` writes a new revision of the project (every body
is different) and its audit event in one transaction; a no-op `PUT` sends the stored body again,
which the store answers without writing; a query slot pair is a query frontend acquiring a slot
(`POST …/query-slots`, never waiting: the tenant's caps are set out of reach) and releasing it
(`DELETE /v1/query-slots/{id}`), two arbiter steps on its one lock row, counted as one
answer (so pairs per second). Every connection writes the same project, so the `PUT`
rows measure one hot row: writes queue on its row lock (PostgreSQL) or on the database's single
write lock (SQLite). Request logging is on, written to a sink. Latency runs from sending a
request to having read its whole answer. Rows are measured workload by workload (every `GET`,
then every `PUT`, …), so each follows its baseline closely in time.

How to read it: the load generator, the servers and PostgreSQL share the machine's cores, so
the absolute figures are far below what a dedicated server would do; the ratios to the baseline
are the point, they say what share of the HTTP stack's ceiling the store path leaves. With a
fixed number of connections, latency and throughput are two views of one thing (mean latency is
about connections / throughput), so p99 adds only the tail to what requests/s already says.";

fn render_section(config: &BenchConfig, load_before: &str, rows: &[ScenarioRow]) -> String {
    let load = format!(
        "{} keep-alive HTTP/1.1 connections; per row {} s warm-up, then {} s measured",
        config.connections,
        config.warmup.as_secs(),
        config.measure.as_secs()
    );
    let conditions = logplane_bench_report::conditions_table(
        load_before,
        &[("load", load), ("errors", error_summary(rows))],
    );
    let mut text =
        String::from("## HTTP throughput: GET and PUT of a project, query slot pairs\n\n");
    text.push_str(&conditions);
    text.push('\n');
    text.push_str(&render_table(rows));
    text.push_str(&render_failures(rows));
    text.push('\n');
    text.push_str(REPORT_EXPLANATION);
    text
}

fn error_summary(rows: &[ScenarioRow]) -> String {
    let failed: u64 = rows.iter().map(|row| row.tally.failure_count()).sum();
    if failed == 0 {
        return "none".to_string();
    }
    format!("**this run had {failed} failed requests; see below the table**")
}

fn render_table(rows: &[ScenarioRow]) -> String {
    let mut text = String::from(
        "| server | request | requests/s | p50 ms | p99 ms | p99.9 ms | errors | requests/s ÷ baseline | p99 ÷ baseline |\n\
         |---|---|---:|---:|---:|---:|---:|---:|---:|\n",
    );
    for row in rows {
        let baseline = rows
            .iter()
            .find(|other| other.server == "baseline" && other.workload == row.workload.baseline());
        let (rps_ratio, p99_ratio) = match baseline {
            Some(baseline) => (
                format!(
                    "{:.3}",
                    row.requests_per_second() / baseline.requests_per_second()
                ),
                format!(
                    "{:.1}",
                    row.tally.quantile_millis(0.99) / baseline.tally.quantile_millis(0.99)
                ),
            ),
            None => ("–".to_string(), "–".to_string()),
        };
        text.push_str(&format!(
            "| {} | {} | {:.0} | {:.2} | {:.2} | {:.2} | {} | {} | {} |\n",
            row.server,
            row.workload.label(),
            row.requests_per_second(),
            row.tally.quantile_millis(0.50),
            row.tally.quantile_millis(0.99),
            row.tally.quantile_millis(0.999),
            row.tally.failure_count(),
            rps_ratio,
            p99_ratio
        ));
    }
    text
}

fn render_failures(rows: &[ScenarioRow]) -> String {
    let mut text = String::new();
    for row in rows {
        for (kind, failure) in &row.tally.failures {
            let example = failure.example.replace(['\n', '|'], " ");
            text.push_str(&format!(
                "- {}: {} × {kind}, first: `{example}`\n",
                row.label(),
                failure.count
            ));
        }
        if row.tally.transport_error_count() > 0 {
            text.push_str(&format!(
                "- {}: transport errors have no latency; requests/s counts answers only\n",
                row.label()
            ));
        }
    }
    if text.is_empty() {
        return text;
    }
    format!("\nFailed requests in this run:\n\n{text}")
}
