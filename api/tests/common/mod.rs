//! The harness for API tests: the real router over a real store (a fresh PostgreSQL database or
//! SQLite file per test), called in-process through tower, with credentials for every role.

#![allow(dead_code)] // Each test binary uses a different part of the harness.

use std::sync::Arc;
use std::time::Duration;

use axum::Router;
use axum::body::Body;
use axum::http::{HeaderMap, Method, Request, StatusCode};
use logplane_api::app::{self, AppOptions};
use logplane_api::auth::secrets::hash_secret;
use logplane_api::auth::tokens::TokenService;
use logplane_model::Problem;
use logplane_model::quota::ApiRate;
use logplane_store::testing::TestDatabase;
use logplane_store::{Backend, SqlStore, Store, StoreOptions};
use serde_json::{Value, json};
use tower::ServiceExt;

/// The token-signing secret of test servers; tests that forge tokens sign with it.
pub const SIGNING_KEY: [u8; 32] = [42; 32];
pub const BOOTSTRAP_SECRET: &str = "bootstrap-secret-for-tests";

/// Instantiates test bodies `async fn name(app: TestApp)` for each backend.
#[macro_export]
macro_rules! on_both_backends {
    ($($test:ident),* $(,)?) => {
        $(
            mod $test {
                #[tokio::test(flavor = "multi_thread", worker_threads = 4)]
                async fn postgres() {
                    super::$test(super::common::TestApp::start(logplane_store::Backend::Postgres).await).await;
                }
                #[tokio::test(flavor = "multi_thread", worker_threads = 4)]
                async fn sqlite() {
                    super::$test(super::common::TestApp::start(logplane_store::Backend::Sqlite).await).await;
                }
            }
        )*
    };
}

/// Instantiates test bodies `async fn name(backend: Backend)` for each backend, for tests that
/// start their app their own way.
#[macro_export]
macro_rules! with_each_backend {
    ($($test:ident),* $(,)?) => {
        $(
            mod $test {
                #[tokio::test(flavor = "multi_thread", worker_threads = 4)]
                async fn postgres() {
                    super::$test(logplane_store::Backend::Postgres).await;
                }
                #[tokio::test(flavor = "multi_thread", worker_threads = 4)]
                async fn sqlite() {
                    super::$test(logplane_store::Backend::Sqlite).await;
                }
            }
        )*
    };
}

pub struct TestApp {
    pub router: Router,
    pub store: Arc<SqlStore>,
    pub tokens: Arc<TokenService>,
    /// A platform admin's token, from the bootstrap key.
    pub admin: String,
    options: AppOptions,
    store_options: StoreOptions,
    /// The scheduler's task, for apps started with [`TestApp::start_scheduling`].
    pub scheduler: Option<logplane_api::scheduling::SchedulerHandle>,
    pub metrics: Arc<logplane_api::telemetry::metrics::Metrics>,
    _database: TestDatabase,
}

pub struct TestResponse {
    pub status: StatusCode,
    pub headers: HeaderMap,
    pub body: bytes::Bytes,
}

impl TestResponse {
    pub fn json(&self) -> Value {
        serde_json::from_slice(&self.body).unwrap_or_else(|e| {
            panic!(
                "body is not JSON ({e}): {}",
                String::from_utf8_lossy(&self.body)
            )
        })
    }

    pub fn text(&self) -> String {
        String::from_utf8_lossy(&self.body).into_owned()
    }

    /// The problem document of an error response, checking its content type and status.
    pub fn problem(&self) -> Problem {
        assert_eq!(
            self.headers
                .get("content-type")
                .and_then(|v| v.to_str().ok()),
            Some("application/problem+json"),
            "error responses are problem documents: {} {}",
            self.status,
            self.text()
        );
        let problem: Problem = serde_json::from_slice(&self.body).expect("problem body");
        assert_eq!(problem.status, self.status.as_u16());
        problem
    }

    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers.get(name).and_then(|v| v.to_str().ok())
    }

    /// The `ETag` header without its quotes.
    pub fn etag(&self) -> String {
        self.header("etag")
            .expect("an ETag header")
            .trim_matches('"')
            .to_string()
    }
}

impl TestApp {
    /// A server whose API keys have a rate no test reaches; tests of rate limits use
    /// [`TestApp::start_with`].
    pub async fn start(backend: Backend) -> TestApp {
        let unlimited = ApiRate {
            per_sec: 1_000_000,
            burst: 1_000_000,
        };
        Self::start_with(
            backend,
            AppOptions {
                key_rate: unlimited,
                ..AppOptions::default()
            },
        )
        .await
    }

    pub async fn start_with(backend: Backend, options: AppOptions) -> TestApp {
        Self::start_configured(backend, options, StoreOptions::default()).await
    }

    pub async fn start_configured(
        backend: Backend,
        options: AppOptions,
        store_options: StoreOptions,
    ) -> TestApp {
        let database = TestDatabase::create(backend).await;
        let store = Arc::new(database.open_with(&store_options).await);
        store
            .ensure_bootstrap_key(&hash_secret(BOOTSTRAP_SECRET))
            .await
            .unwrap();
        let tokens = Arc::new(TokenService::new(&SIGNING_KEY, Duration::from_secs(600)));
        let shared: Arc<dyn Store> = store.clone();
        let metrics = Arc::new(logplane_api::telemetry::metrics::Metrics::new());
        let (router, _) = app::build_with(shared, tokens.clone(), options.clone(), metrics.clone())
            .expect("test options");
        let mut test_app = TestApp {
            router,
            store,
            tokens,
            admin: String::new(),
            options,
            store_options,
            scheduler: None,
            metrics,
            _database: database,
        };
        test_app.admin = test_app.exchange(BOOTSTRAP_SECRET).await;
        test_app
    }

    /// Another replica on the same database: its own store (pool, generation watch) and router.
    pub async fn second_replica(&self) -> TestApp {
        let store = Arc::new(self._database.open_with(&self.store_options).await);
        let shared: Arc<dyn Store> = store.clone();
        let metrics = Arc::new(logplane_api::telemetry::metrics::Metrics::new());
        let (router, _) = app::build_with(
            shared,
            self.tokens.clone(),
            self.options.clone(),
            metrics.clone(),
        )
        .expect("test options");
        TestApp {
            router,
            store,
            tokens: self.tokens.clone(),
            admin: self.admin.clone(),
            options: self.options.clone(),
            store_options: self.store_options.clone(),
            scheduler: None,
            metrics,
            _database: self._database.handle(),
        }
    }

    /// An app whose replica also runs the scheduler (leader election and reconciliation), with
    /// workers judged by `workers` and the scheduler's timings in `scheduler`.
    pub async fn start_scheduling(
        backend: Backend,
        workers: logplane_store::WorkerSettings,
        scheduler: logplane_api::scheduling::SchedulerSettings,
    ) -> TestApp {
        let unlimited = ApiRate {
            per_sec: 1_000_000,
            burst: 1_000_000,
        };
        let options = AppOptions {
            key_rate: unlimited,
            ..AppOptions::default()
        };
        let store_options = StoreOptions {
            workers,
            ..StoreOptions::default()
        };
        let mut app = Self::start_configured(backend, options, store_options).await;
        let shared: Arc<dyn Store> = app.store.clone();
        app.scheduler = Some(logplane_api::scheduling::spawn(
            shared,
            scheduler,
            app.metrics.clone(),
        ));
        app
    }

    pub async fn send(&self, request: Request<Body>) -> TestResponse {
        let response = self
            .router
            .clone()
            .oneshot(request)
            .await
            .expect("the router never fails");
        let status = response.status();
        let headers = response.headers().clone();
        let body = axum::body::to_bytes(response.into_body(), usize::MAX)
            .await
            .unwrap();
        TestResponse {
            status,
            headers,
            body,
        }
    }

    /// Calls the API with an optional bearer token and an optional JSON body.
    pub async fn call(
        &self,
        method: Method,
        path: &str,
        token: Option<&str>,
        body: Option<&Value>,
    ) -> TestResponse {
        let mut builder = Request::builder().method(method).uri(path);
        if let Some(token) = token {
            builder = builder.header("authorization", format!("Bearer {token}"));
        }
        let request = match body {
            Some(body) => builder
                .header("content-type", "application/json")
                .body(Body::from(body.to_string())),
            None => builder.body(Body::empty()),
        };
        self.send(request.unwrap()).await
    }

    pub async fn get(&self, path: &str, token: &str) -> TestResponse {
        self.call(Method::GET, path, Some(token), None).await
    }

    pub async fn put(&self, path: &str, token: &str, body: Value) -> TestResponse {
        self.call(Method::PUT, path, Some(token), Some(&body)).await
    }

    pub async fn delete(&self, path: &str, token: &str) -> TestResponse {
        self.call(Method::DELETE, path, Some(token), None).await
    }

    /// Exchanges an API key secret for a token.
    pub async fn exchange(&self, secret: &str) -> String {
        let response = self
            .call(
                Method::POST,
                "/v1/auth/token",
                None,
                Some(&json!({ "api_key": secret })),
            )
            .await;
        assert_eq!(
            response.status,
            StatusCode::OK,
            "token exchange: {}",
            response.text()
        );
        response.json()["access_token"]
            .as_str()
            .unwrap()
            .to_string()
    }

    /// Creates an API key (`/v1/api-keys` or `/v1/tenants/{t}/api-keys`) and returns what the
    /// creation answered, its secret included.
    pub async fn create_key(&self, keys_path: &str, name: &str, role: &str) -> Value {
        let body = json!({ "name": name, "role": role });
        let response = self
            .call(Method::POST, keys_path, Some(&self.admin), Some(&body))
            .await;
        assert_eq!(
            response.status,
            StatusCode::CREATED,
            "create key: {}",
            response.text()
        );
        response.json()
    }

    /// Creates an API key (`/v1/api-keys` or `/v1/tenants/{t}/api-keys`) and returns its id
    /// and a token minted from it.
    pub async fn key_and_token(&self, keys_path: &str, name: &str, role: &str) -> (String, String) {
        let created = self.create_key(keys_path, name, role).await;
        let token = self.exchange(created["secret"].as_str().unwrap()).await;
        (created["id"].as_str().unwrap().to_string(), token)
    }

    pub async fn create_tenant(&self, tenant: &str) {
        let response = self
            .put(&format!("/v1/tenants/{tenant}"), &self.admin, json!({}))
            .await;
        assert_eq!(response.status, StatusCode::CREATED, "{}", response.text());
    }

    pub async fn create_project(&self, tenant: &str, project: &str, body: Value) -> TestResponse {
        let response = self
            .put(
                &format!("/v1/tenants/{tenant}/projects/{project}"),
                &self.admin,
                body,
            )
            .await;
        assert_eq!(response.status, StatusCode::CREATED, "{}", response.text());
        response
    }
}
