//! The libraries a controller plans and validates against: the shipped files (and plugin
//! packs) read at start, plus the entries users add through the API, stored in PostgreSQL
//! and compiled together with the shipped ones — same loader, same validation, same
//! `file:path: message` problems. A shipped id cannot be redefined.
//!
//! The compiled [`Library`] is swapped atomically; readers hold an `Arc` of the version
//! they started with, so a run keeps the definitions it was planned with. Other replicas
//! notice a change through [`LibraryEntryStore::library_stamp`] on their next [`run_refresher`] pass.

use std::sync::{Arc, Mutex, PoisonError, RwLock};
use std::time::Duration;

use opsconductor_core::ValidationError;
use opsconductor_core::error::Problems;
use opsconductor_core::library::{FORMAT_VERSION, Library, LibraryError, SourceFile};
use opsconductor_store::prelude::*;
use opsconductor_store::{LibraryEntry, LibraryStamp};
use serde_json::{Value, json};
use tokio_util::sync::CancellationToken;

use crate::error::ControllerError;

/// The kinds of entries, by their list name in a library file.
pub const ENTRY_KINDS: [&str; 3] = ["commands", "parsers", "target_sources"];
/// Most user entries a controller accepts (each is compiled on every change).
pub const MAX_USER_ENTRIES: usize = 1000;
/// Largest user entry, as JSON.
pub const MAX_ENTRY_BYTES: usize = 256 * 1024;

/// The current libraries; cheap to clone.
#[derive(Clone)]
pub struct LibraryCatalog {
    inner: Arc<Inner>,
}

struct Inner {
    base: Vec<SourceFile>,
    current: RwLock<Arc<Library>>,
    stamp: Mutex<LibraryStamp>,
    /// Serialises this replica's writers (compile, store, swap).
    writer: tokio::sync::Mutex<()>,
}

/// The file name a user entry is compiled under (it names the entry in problems).
fn entry_file(kind: &str, id: &str) -> String {
    format!("user:{kind}/{id}")
}

fn entry_source(entry: &LibraryEntry) -> SourceFile {
    let envelope = json!({
        "format_version": FORMAT_VERSION,
        "kind": "pack",
        "name": "user entries",
        entry.kind.clone(): [entry.document],
    });
    SourceFile {
        name: entry_file(&entry.kind, &entry.id),
        bytes: serde_json::to_vec_pretty(&envelope).unwrap_or_default(),
    }
}

fn compile(base: &[SourceFile], entries: &[LibraryEntry]) -> Result<Library, LibraryError> {
    let mut files = base.to_vec();
    files.extend(entries.iter().map(entry_source));
    Library::from_sources(&files)
}

impl LibraryCatalog {
    /// A catalog that never changes (tests, benchmarks, tools without a store).
    pub fn fixed(library: Library) -> Self {
        Self {
            inner: Arc::new(Inner {
                base: Vec::new(),
                current: RwLock::new(Arc::new(library)),
                stamp: Mutex::new(LibraryStamp::default()),
                writer: tokio::sync::Mutex::new(()),
            }),
        }
    }

    /// Reads the shipped files and packs of `dir` and compiles them with the stored user
    /// entries. Broken shipped files fail the start; a stored entry that no longer
    /// compiles (a shipped update took its id) is left out with an error in the log, so
    /// one bad entry cannot keep the controller down.
    pub async fn load(dir: &std::path::Path, store: &dyn Store) -> anyhow::Result<Self> {
        let base = Library::read_dir_sources(dir)?;
        let base_library = Library::from_sources(&base)?;
        let catalog = Self {
            inner: Arc::new(Inner {
                base,
                current: RwLock::new(Arc::new(base_library)),
                stamp: Mutex::new(LibraryStamp::default()),
                writer: tokio::sync::Mutex::new(()),
            }),
        };
        catalog.reload(store).await?;
        Ok(catalog)
    }

    /// The libraries as they are now.
    pub fn current(&self) -> Arc<Library> {
        self.inner
            .current
            .read()
            .unwrap_or_else(PoisonError::into_inner)
            .clone()
    }

    fn swap(&self, library: Library, stamp: LibraryStamp) {
        *self
            .inner
            .current
            .write()
            .unwrap_or_else(PoisonError::into_inner) = Arc::new(library);
        *self
            .inner
            .stamp
            .lock()
            .unwrap_or_else(PoisonError::into_inner) = stamp;
    }

    /// Recompiles from the stored entries; entries that do not compile are skipped.
    async fn reload(&self, store: &dyn Store) -> Result<(), ControllerError> {
        let stamp = store.library_stamp().await?;
        let mut entries = store.library_entries().await?;
        let library = match compile(&self.inner.base, &entries) {
            Ok(library) => library,
            Err(error) => {
                let broken: std::collections::HashSet<String> =
                    error.problems.iter().map(|p| p.file.clone()).collect();
                for problem in &error.problems {
                    tracing::error!(%problem, "user library entry left out: it does not compile");
                }
                entries.retain(|e| !broken.contains(&entry_file(&e.kind, &e.id)));
                compile(&self.inner.base, &entries).map_err(|e| {
                    ControllerError::Internal(format!("libraries do not compile: {e}"))
                })?
            }
        };
        self.swap(library, stamp);
        Ok(())
    }

    /// Recompiles when another replica changed the entries; true when it did.
    pub async fn refresh(&self, store: &dyn Store) -> Result<bool, ControllerError> {
        let stamp = store.library_stamp().await?;
        let known = *self
            .inner
            .stamp
            .lock()
            .unwrap_or_else(PoisonError::into_inner);
        if stamp == known {
            return Ok(false);
        }
        let _writing = self.inner.writer.lock().await;
        self.reload(store).await?;
        Ok(true)
    }

    /// Adds or replaces a user entry after compiling it with everything else; its
    /// problems come back with their field inside the entry (`params_schema.type`).
    pub async fn put_entry(
        &self,
        store: &dyn Store,
        kind: &str,
        entry: Value,
    ) -> Result<(), ControllerError> {
        check_kind(kind)?;
        let id = entry
            .get("id")
            .and_then(Value::as_str)
            .filter(|id| !id.is_empty() && id.len() <= 200)
            .ok_or_else(|| ControllerError::field("id", "a string of 1-200 characters"))?
            .to_owned();
        if serde_json::to_vec(&entry).map_or(0, |b| b.len()) > MAX_ENTRY_BYTES {
            return Err(ControllerError::TooLarge(format!(
                "a library entry is at most {MAX_ENTRY_BYTES} bytes"
            )));
        }
        let _writing = self.inner.writer.lock().await;
        let mut entries = store.library_entries().await?;
        entries.retain(|e| !(e.kind == kind && e.id == id));
        if entries.len() >= MAX_USER_ENTRIES {
            return Err(ControllerError::Conflict(format!(
                "{MAX_USER_ENTRIES} user entries exist already"
            )));
        }
        entries.push(LibraryEntry {
            kind: kind.to_owned(),
            id: id.clone(),
            document: entry.clone(),
            updated_at: chrono::Utc::now(),
        });
        let library = compile(&self.inner.base, &entries)
            .map_err(|e| entry_problems(e, &entry_file(kind, &id)))?;
        store.put_library_entry(kind, &id, &entry).await?;
        let stamp = store.library_stamp().await?;
        self.swap(library, stamp);
        Ok(())
    }

    /// Removes a user entry unless a job or another entry still uses it.
    pub async fn delete_entry(
        &self,
        store: &dyn Store,
        kind: &str,
        id: &str,
    ) -> Result<(), ControllerError> {
        check_kind(kind)?;
        let _writing = self.inner.writer.lock().await;
        let mut entries = store.library_entries().await?;
        let before = entries.len();
        entries.retain(|e| !(e.kind == kind && e.id == id));
        if entries.len() == before {
            return Err(ControllerError::NotFound(format!(
                "user library entry {kind}/{id}"
            )));
        }
        let users = store.jobs_using_library_entry(kind, id).await?;
        if !users.is_empty() {
            return Err(ControllerError::Conflict(format!(
                "jobs still use {kind}/{id}: {}",
                users.join(", ")
            )));
        }
        let library = compile(&self.inner.base, &entries).map_err(|e| {
            ControllerError::Conflict(format!(
                "other entries still use {kind}/{id}: {}",
                e.problems
                    .iter()
                    .map(ToString::to_string)
                    .collect::<Vec<_>>()
                    .join("; ")
            ))
        })?;
        store.delete_library_entry(kind, id).await?;
        let stamp = store.library_stamp().await?;
        self.swap(library, stamp);
        Ok(())
    }
}

fn check_kind(kind: &str) -> Result<(), ControllerError> {
    if ENTRY_KINDS.contains(&kind) {
        Ok(())
    } else {
        Err(ControllerError::NotFound(format!(
            "library kind {kind:?} (one of {})",
            ENTRY_KINDS.join(", ")
        )))
    }
}

/// The compile problems as field errors: those of the new entry at their path inside it
/// (`commands[0].params_schema` → `params_schema`), others with their file.
fn entry_problems(error: LibraryError, file: &str) -> ControllerError {
    let mut problems = Problems::default();
    for p in error.problems {
        if p.file == file {
            let field = match p.path.split_once('.') {
                Some((_, rest)) => rest.to_owned(),
                None => String::new(),
            };
            problems.push(field, p.message);
        } else {
            problems.push("", p.to_string());
        }
    }
    match problems.finish() {
        Err(e) => ControllerError::Invalid(e),
        Ok(()) => ControllerError::Invalid(ValidationError::field("", "does not compile")),
    }
}

/// Every `interval` until `shutdown`: recompile when another replica changed the user
/// entries.
pub async fn run_refresher(
    catalog: LibraryCatalog,
    store: SharedStore,
    interval: Duration,
    shutdown: CancellationToken,
) {
    let mut ticker = tokio::time::interval(interval);
    ticker.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        tokio::select! {
            () = shutdown.cancelled() => break,
            _ = ticker.tick() => {}
        }
        match catalog.refresh(&*store).await {
            Ok(true) => tracing::info!("user library entries changed; libraries recompiled"),
            Ok(false) => {}
            Err(e) => tracing::warn!(error = %e, "checking user library entries failed"),
        }
    }
}
