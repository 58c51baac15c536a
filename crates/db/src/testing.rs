//! A throwaway database per test. `KANJIAN_TEST_DATABASE=postgres` makes a fresh PostgreSQL
//! database on the server at `KANJIAN_TEST_POSTGRES_URL` (dropped afterwards); anything else a
//! fresh SQLite file.

use kanjian_kernel::Clock;
use sea_orm::{ConnectionTrait, Database};

use crate::{DatabaseConfig, Db};

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Backend {
    Sqlite,
    Postgres,
}

impl Backend {
    pub fn from_env() -> Self {
        match std::env::var("KANJIAN_TEST_DATABASE").as_deref() {
            Ok("postgres") => Self::Postgres,
            _ => Self::Sqlite,
        }
    }
}

pub fn postgres_admin_url() -> String {
    std::env::var("KANJIAN_TEST_POSTGRES_URL")
        .unwrap_or_else(|_| "postgres://postgres@127.0.0.1:5432/test".into())
}

/// Owns the database for as long as a test runs; dropping it removes the database.
pub struct TestDatabase {
    pub url: String,
    pub backend: Backend,
    postgres_name: Option<String>,
    _dir: Option<tempfile::TempDir>,
}

impl TestDatabase {
    /// Panics when the database cannot be made: a test without its database cannot run.
    pub async fn create() -> Self {
        Self::create_on(Backend::from_env()).await
    }

    #[allow(clippy::expect_used)] // test support: failing loudly is the point
    pub async fn create_on(backend: Backend) -> Self {
        match backend {
            Backend::Sqlite => {
                let dir = tempfile::tempdir().expect("a temp dir for the test database");
                let url = format!("sqlite://{}?mode=rwc", dir.path().join("test.sqlite").display());
                Self { url, backend, postgres_name: None, _dir: Some(dir) }
            }
            Backend::Postgres => {
                let admin = postgres_admin_url();
                let name = format!("kanjian_test_{}", uuid::Uuid::new_v4().simple());
                let conn = Database::connect(&admin).await.expect("connect to PostgreSQL (KANJIAN_TEST_POSTGRES_URL)");
                conn.execute_unprepared(&format!("CREATE DATABASE {name}")).await.expect("create a test database");
                let _ = conn.close().await;
                let base = admin.rsplit_once('/').map(|(b, _)| b).expect("KANJIAN_TEST_POSTGRES_URL names a database");
                Self { url: format!("{base}/{name}"), backend, postgres_name: Some(name), _dir: None }
            }
        }
    }
}

impl TestDatabase {
    /// Opens it as the server would (one writer and WAL readers on SQLite), with `clock`.
    #[allow(clippy::expect_used)] // test support: failing loudly is the point
    pub async fn connect(&self, clock: Clock) -> Db {
        Db::connect(&self.url, &DatabaseConfig::default(), clock).await.expect("open the test database")
    }
}

impl Drop for TestDatabase {
    fn drop(&mut self) {
        let Some(name) = self.postgres_name.take() else { return };
        // Drop is not async: use a short-lived runtime on a thread of its own.
        let _ = std::thread::spawn(move || {
            let rt = tokio::runtime::Builder::new_current_thread().enable_all().build()?;
            rt.block_on(async {
                if let Ok(conn) = Database::connect(&postgres_admin_url()).await {
                    let _ = conn.execute_unprepared(&format!("DROP DATABASE IF EXISTS {name} WITH (FORCE)")).await;
                    let _ = conn.close().await;
                }
            });
            Ok::<_, std::io::Error>(())
        })
        .join();
    }
}
