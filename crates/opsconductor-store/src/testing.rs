//! Isolated databases for tests, of either backend.
//!
//! PostgreSQL: every [`fresh_database`] call makes a fresh, migrated database named
//! `oc_store_test_<random>` and drops it again when the returned [`TestDb`] is dropped.
//! The server is found through `OPSCONDUCTOR_TEST_DATABASE_URL`, a URL of a database the
//! test user may run `CREATE DATABASE` from (default
//! `postgres://postgres@127.0.0.1:5432/postgres`).
//!
//! SQLite: every [`fresh_sqlite`] call opens a migrated store in a fresh temporary data
//! directory, removed when the returned [`TestDir`] is dropped.
//!
//! [`fresh_store`] gives either as the controller holds a store ([`SharedStore`]), for tests
//! that run against both. Failing to set a database up panics: a test cannot do anything
//! useful without it.

use std::path::{Path, PathBuf};
use std::sync::Arc;

use crate::prelude::*;
use sqlx::{AssertSqlSafe, Connection, PgConnection};

use crate::{PgStore, SqliteStore};

/// The variable naming the administrative database URL.
pub const DATABASE_URL_VAR: &str = "OPSCONDUCTOR_TEST_DATABASE_URL";
const DEFAULT_ADMIN_URL: &str = "postgres://postgres@127.0.0.1:5432/postgres";
/// Connections of the store a test gets: enough for a few concurrent tasks.
const TEST_POOL_SIZE: u32 = 8;

/// A test database; dropping it drops the database (best effort, connections included).
#[derive(Debug)]
pub struct TestDb {
    name: String,
    url: String,
    admin_url: String,
}

impl TestDb {
    /// The database's name.
    pub fn name(&self) -> &str {
        &self.name
    }

    /// A URL connecting to this database (for a controller under test, or raw SQL).
    pub fn url(&self) -> &str {
        &self.url
    }
}

impl Drop for TestDb {
    fn drop(&mut self) {
        // Drop runs inside the test's runtime, which cannot block on itself: a short-lived
        // thread with its own runtime does the async work.
        let name = self.name.clone();
        let admin_url = self.admin_url.clone();
        let dropper = std::thread::spawn(move || {
            let runtime = tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build();
            let Ok(runtime) = runtime else { return };
            runtime.block_on(async {
                let Ok(mut conn) = PgConnection::connect(&admin_url).await else {
                    return;
                };
                let sql = format!("DROP DATABASE IF EXISTS \"{name}\" WITH (FORCE)");
                if let Err(e) = sqlx::query(AssertSqlSafe(sql)).execute(&mut conn).await {
                    tracing::warn!(database = %name, error = %e, "could not drop test database");
                }
                let _ = conn.close().await;
            });
        });
        let _ = dropper.join();
    }
}

/// Creates a fresh database, connects a [`PgStore`] to it and runs the migrations.
///
/// # Panics
/// When the server cannot be reached or the database cannot be created or migrated.
pub async fn fresh_database() -> (PgStore, TestDb) {
    let admin_url = std::env::var(DATABASE_URL_VAR).unwrap_or_else(|_| DEFAULT_ADMIN_URL.into());
    let name = format!("oc_store_test_{}", hex::encode(rand::random::<[u8; 8]>()));
    let url = with_database(&admin_url, &name);

    let mut admin = PgConnection::connect(&admin_url)
        .await
        .unwrap_or_else(|e| panic!("cannot connect to {admin_url} ({DATABASE_URL_VAR}): {e}"));
    // The name is ours (a fixed prefix and hex digits), so formatting it in is safe.
    sqlx::query(AssertSqlSafe(format!("CREATE DATABASE \"{name}\"")))
        .execute(&mut admin)
        .await
        .unwrap_or_else(|e| panic!("cannot create test database {name}: {e}"));
    let _ = admin.close().await;
    let db = TestDb {
        name,
        url,
        admin_url,
    };

    let store = PgStore::connect(&db.url, TEST_POOL_SIZE)
        .await
        .unwrap_or_else(|e| panic!("cannot connect to test database {}: {e}", db.name));
    store
        .migrate()
        .await
        .unwrap_or_else(|e| panic!("cannot migrate test database {}: {e}", db.name));
    (store, db)
}

/// A temporary data directory; dropping it removes it with everything in it.
#[derive(Debug)]
pub struct TestDir {
    path: PathBuf,
}

impl TestDir {
    /// A new, empty directory under the system's temporary directory.
    ///
    /// # Panics
    /// When it cannot be created.
    pub fn new() -> Self {
        let path = std::env::temp_dir().join(format!(
            "oc_store_test_{}",
            hex::encode(rand::random::<[u8; 8]>())
        ));
        std::fs::create_dir_all(&path)
            .unwrap_or_else(|e| panic!("cannot create {}: {e}", path.display()));
        Self { path }
    }

    /// The directory.
    pub fn path(&self) -> &Path {
        &self.path
    }
}

impl Default for TestDir {
    fn default() -> Self {
        Self::new()
    }
}

impl Drop for TestDir {
    fn drop(&mut self) {
        if let Err(e) = std::fs::remove_dir_all(&self.path) {
            tracing::warn!(path = %self.path.display(), error = %e, "could not remove test directory");
        }
    }
}

/// Opens a [`SqliteStore`] in a fresh temporary data directory and runs the migrations.
///
/// # Panics
/// When the database cannot be created or migrated.
pub async fn fresh_sqlite() -> (SqliteStore, TestDir) {
    let dir = TestDir::new();
    let store = SqliteStore::open(dir.path()).await.unwrap_or_else(|e| {
        panic!(
            "cannot open a SQLite store in {}: {e}",
            dir.path().display()
        )
    });
    store
        .migrate()
        .await
        .unwrap_or_else(|e| panic!("cannot migrate the SQLite store: {e}"));
    (store, dir)
}

/// The databases the store runs on.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Backend {
    /// [`PgStore`], on a fresh database of the test server.
    Postgres,
    /// [`SqliteStore`], in a fresh temporary directory.
    Sqlite,
}

/// Keeps a fresh store's database; dropping it removes the database.
#[derive(Debug)]
pub enum TestGuard {
    /// A PostgreSQL test database.
    Postgres(TestDb),
    /// A SQLite store's data directory.
    Sqlite(TestDir),
}

/// A fresh, migrated store of `backend`, as the controller holds one.
///
/// # Panics
/// As [`fresh_database`] and [`fresh_sqlite`] do.
pub async fn fresh_store(backend: Backend) -> (SharedStore, TestGuard) {
    match backend {
        Backend::Postgres => {
            let (store, db) = fresh_database().await;
            (Arc::new(store), TestGuard::Postgres(db))
        }
        Backend::Sqlite => {
            let (store, dir) = fresh_sqlite().await;
            (Arc::new(store), TestGuard::Sqlite(dir))
        }
    }
}

/// `url` with its database (path) replaced by `database`, keeping any query string.
fn with_database(url: &str, database: &str) -> String {
    let (base, query) = match url.split_once('?') {
        Some((base, query)) => (base, Some(query)),
        None => (url, None),
    };
    let authority_start = base.find("://").map_or(0, |i| i + 3);
    let server = match base[authority_start..].find('/') {
        Some(slash) => &base[..authority_start + slash],
        None => base,
    };
    match query {
        Some(query) => format!("{server}/{database}?{query}"),
        None => format!("{server}/{database}"),
    }
}

#[cfg(test)]
mod tests {
    use super::with_database;

    #[test]
    fn the_database_of_a_url_is_replaced() {
        assert_eq!(
            with_database("postgres://u@h:5432/postgres", "x"),
            "postgres://u@h:5432/x"
        );
        assert_eq!(with_database("postgres://u@h", "x"), "postgres://u@h/x");
        assert_eq!(
            with_database("postgres://u@h/db?sslmode=disable", "x"),
            "postgres://u@h/x?sslmode=disable"
        );
    }
}
