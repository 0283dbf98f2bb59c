//! Fresh databases for tests: a new PostgreSQL database per test on the local server, or a new
//! SQLite file in a temporary directory. Never a mock. Enabled by the `testing` feature.

use std::path::PathBuf;

use sqlx::{Connection, Executor, PgConnection};

use crate::{Backend, SqlStore, StoreOptions};

/// The server tests create their databases on; override with `LOGPLANE_TEST_POSTGRES_URL`.
pub fn postgres_admin_url() -> String {
    std::env::var("LOGPLANE_TEST_POSTGRES_URL")
        .unwrap_or_else(|_| "postgres://postgres@127.0.0.1:5432/postgres".to_string())
}

/// A database that exists for one test and is removed when dropped, also when the test panics.
pub struct TestDatabase {
    pub backend: Backend,
    /// `postgres://…/logplane_test_…` or the SQLite data directory.
    pub location: String,
    postgres_name: Option<String>,
    sqlite_dir: Option<PathBuf>,
}

impl TestDatabase {
    pub async fn create(backend: Backend) -> TestDatabase {
        let unique = format!("{}_{:08x}", std::process::id(), rand::random::<u32>());
        match backend {
            Backend::Postgres => {
                let name = format!("logplane_test_{unique}");
                let admin_url = postgres_admin_url();
                let mut admin = PgConnection::connect(&admin_url)
                    .await
                    .unwrap_or_else(|e| panic!("cannot reach PostgreSQL at {admin_url}: {e}"));
                admin
                    .execute(sqlx::AssertSqlSafe(format!("CREATE DATABASE {name}")))
                    .await
                    .expect("create test database");
                let base = admin_url
                    .rsplit_once('/')
                    .map(|(base, _)| base)
                    .unwrap_or(&admin_url);
                TestDatabase {
                    backend,
                    location: format!("{base}/{name}"),
                    postgres_name: Some(name),
                    sqlite_dir: None,
                }
            }
            Backend::Sqlite => {
                let dir = std::env::temp_dir().join(format!("logplane_test_{unique}"));
                TestDatabase {
                    backend,
                    location: dir.display().to_string(),
                    postgres_name: None,
                    sqlite_dir: Some(dir),
                }
            }
        }
    }

    /// The same database for a second replica in the same test: it opens it too, and leaves its
    /// removal to the original.
    pub fn handle(&self) -> TestDatabase {
        TestDatabase {
            backend: self.backend,
            location: self.location.clone(),
            postgres_name: None,
            sqlite_dir: None,
        }
    }

    /// Opens the database and applies migrations, as `logplane serve` does at start.
    pub async fn open(&self) -> SqlStore {
        self.open_with(&StoreOptions::default()).await
    }

    pub async fn open_with(&self, options: &StoreOptions) -> SqlStore {
        let store = match self.backend {
            Backend::Postgres => SqlStore::connect_postgres(&self.location, options).await,
            Backend::Sqlite => {
                SqlStore::open_sqlite(std::path::Path::new(&self.location), options).await
            }
        }
        .expect("open test store");
        store.migrate().await.expect("migrate test store");
        store
    }
}

impl TestDatabase {
    /// Runs a statement on a connection of its own, beside the store, to set up or break state.
    pub async fn execute(&self, sql: &str) {
        let sql = sqlx::AssertSqlSafe(sql.to_string());
        match self.backend {
            Backend::Postgres => {
                let mut conn = PgConnection::connect(&self.location)
                    .await
                    .expect("connect");
                conn.execute(sql).await.expect("execute");
            }
            Backend::Sqlite => {
                let url = format!("sqlite://{}/logplane.db", self.location);
                let mut conn = sqlx::SqliteConnection::connect(&url)
                    .await
                    .expect("connect");
                conn.execute(sql).await.expect("execute");
            }
        }
    }
}

impl Drop for TestDatabase {
    fn drop(&mut self) {
        if let Some(dir) = &self.sqlite_dir {
            let _ = std::fs::remove_dir_all(dir);
        }
        if let Some(name) = self.postgres_name.take() {
            // Drop runs outside any runtime's reach (and possibly while unwinding), so the
            // cleanup gets a thread and a runtime of its own.
            let _ = std::thread::spawn(move || {
                let runtime = tokio::runtime::Builder::new_current_thread()
                    .enable_all()
                    .build()
                    .ok()?;
                runtime.block_on(async {
                    let mut admin = PgConnection::connect(&postgres_admin_url()).await.ok()?;
                    let sql = format!("DROP DATABASE IF EXISTS {name} WITH (FORCE)");
                    admin.execute(sqlx::AssertSqlSafe(sql)).await.ok()
                })
            })
            .join();
        }
    }
}
