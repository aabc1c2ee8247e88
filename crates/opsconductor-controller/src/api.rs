//! The client API as plain async methods: what REST, gRPC and (later) the WebSocket all
//! call, so validation, concurrency checks and error mapping are written once and every
//! surface answers the same question the same way.
//!
//! Pages are keyset-paginated: a `next_cursor` is an opaque token (hex of a small JSON
//! document naming what it pages) that the caller hands back unchanged. A cursor from one
//! listing is refused by another, so a client mixing them up gets a clear error instead of
//! a silently wrong page.

use std::collections::BTreeMap;
use std::sync::Arc;

use chrono::{DateTime, Utc};
use opsconductor_core::credential::{CredentialKind, MAX_SECRET_BYTES};
use opsconductor_core::error::Problems;
use opsconductor_core::ids::{AgentId, CredentialId, JobId, RunId};
use opsconductor_core::library::Library;
use opsconductor_core::model::{Job, JobSpec, ResultStatus, Run, RunStatus, RunTrigger};
use opsconductor_core::parse::ParserDef;
use opsconductor_core::targets::{self, SegmentRouter, TargetSpec};
use opsconductor_store::prelude::*;
use opsconductor_store::{
    AgentRecord, CredentialChange, CredentialDeletion, CredentialMeta, JobFilter, JobListItem,
    ResultFilter, ResultKey, RunFilter, SealedSecret, StoredResult,
};
use serde::de::DeserializeOwned;
use serde::{Deserialize, Serialize};
use serde_json::{Map, Value, json};

use crate::dispatch::Dispatcher;
use crate::error::ControllerError;
use crate::session::SessionHub;
use crate::vault::Vault;

/// Page size when the caller gives none.
pub const DEFAULT_PAGE: u32 = 100;
/// Largest page a caller may ask for.
pub const MAX_PAGE: u32 = opsconductor_store::MAX_PAGE;
/// Most sample bytes a parser test takes (the agents cap device output the same way).
pub const MAX_PARSER_SAMPLE_BYTES: usize = 1024 * 1024;
/// Targets listed by a target preview at most.
pub const MAX_PREVIEW_TARGETS: usize = 1000;

/// One page of a listing.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Page<T> {
    /// The items, in the listing's order.
    pub items: Vec<T>,
    /// Pass as `cursor` to get the next page; absent on the last page.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub next_cursor: Option<String>,
}

/// Job list filters.
#[derive(Debug, Clone, Default, PartialEq, Eq, Deserialize)]
pub struct JobQuery {
    /// Case-insensitive text in the name or description.
    pub text: Option<String>,
    /// Only jobs with this tag.
    pub tag: Option<String>,
    /// Only enabled / disabled jobs.
    pub enabled: Option<bool>,
    /// From a previous page.
    pub cursor: Option<String>,
    /// Page size (default [`DEFAULT_PAGE`], at most [`MAX_PAGE`]).
    pub limit: Option<u32>,
}

/// Run list filters.
#[derive(Debug, Clone, Default, PartialEq, Eq, Deserialize)]
pub struct RunQuery {
    /// Only runs of this job.
    pub job_id: Option<JobId>,
    /// Only runs in this state.
    pub status: Option<RunStatus>,
    /// From a previous page.
    pub cursor: Option<String>,
    /// Page size.
    pub limit: Option<u32>,
}

/// Result query filters (combined with AND).
#[derive(Debug, Clone, Default, PartialEq, Deserialize)]
pub struct ResultQuery {
    /// Only this run.
    pub run_id: Option<RunId>,
    /// Only runs of this job.
    pub job_id: Option<JobId>,
    /// Only this target.
    pub target: Option<String>,
    /// Only this outcome.
    pub status: Option<ResultStatus>,
    /// Started at or after.
    pub from: Option<DateTime<Utc>>,
    /// Started before.
    pub to: Option<DateTime<Utc>>,
    /// From a previous page.
    pub cursor: Option<String>,
    /// Page size.
    pub limit: Option<u32>,
}

/// A run with what it executed: the job version as it was, every action's rendered
/// command and its chunks' targets per segment.
#[derive(Debug, Clone, PartialEq, Serialize, utoipa::ToSchema)]
pub struct RunDetail {
    /// The run and its live counters.
    #[serde(flatten)]
    pub run: Run,
    /// The job exactly as it was when the run fired.
    pub job_spec: JobSpec,
    /// Each action's command rendered with its params (target shown as `{{ target }}`;
    /// secrets masked).
    pub rendered_commands: Vec<RenderedAction>,
    /// The run's chunks: segment, state and targets.
    #[schema(value_type = Vec<Object>)]
    pub chunks: Vec<Value>,
}

/// One action of a run, rendered.
#[derive(Debug, Clone, PartialEq, Serialize, utoipa::ToSchema)]
pub struct RenderedAction {
    /// Position in the job.
    pub index: usize,
    /// Command id.
    pub command: String,
    /// The rendered text, or why it could not be rendered.
    pub text: String,
}

/// What a target selection comes to.
#[derive(Debug, Clone, PartialEq, Serialize, utoipa::ToSchema)]
pub struct TargetPreview {
    /// Number of targets.
    pub count: u64,
    /// The first targets, in run order.
    pub first: Vec<String>,
    /// Targets per segment (routing by longest prefix, or the job's segment override).
    pub by_segment: BTreeMap<String, u64>,
    /// File lines that did not parse, with their line numbers.
    pub invalid: Vec<targets::InvalidLine>,
    /// Invalid lines beyond those listed.
    pub invalid_omitted: u64,
}

/// Longest a dry run waits for its result.
pub const MAX_DRY_RUN_WAIT: std::time::Duration = std::time::Duration::from_secs(120);

/// What a dry run of one action on one target produced.
#[derive(Debug, Clone, PartialEq, Serialize, utoipa::ToSchema)]
pub struct DryRunOutcome {
    /// The segment whose agent ran it.
    pub segment: String,
    /// The command rendered for the target (secrets masked).
    pub rendered: String,
    /// The result: status (the verdict), reason, parsed fields and rows, and the start of
    /// the raw output.
    pub result: opsconductor_core::model::ResultRecord,
}

/// What a cursor pages, so a cursor cannot be used on another listing.
#[derive(Serialize, Deserialize)]
struct CursorDoc<K> {
    list: String,
    key: K,
}

pub(crate) fn encode_cursor<K: Serialize>(list: &str, key: K) -> Option<String> {
    serde_json::to_vec(&CursorDoc {
        list: list.to_owned(),
        key,
    })
    .ok()
    .map(hex::encode)
}

pub(crate) fn decode_cursor<K: DeserializeOwned>(
    list: &str,
    cursor: Option<&str>,
) -> Result<Option<K>, ControllerError> {
    let Some(cursor) = cursor.filter(|c| !c.is_empty()) else {
        return Ok(None);
    };
    let bad = || {
        ControllerError::field(
            "cursor",
            format!("not a cursor of the {list} listing; pass next_cursor back unchanged"),
        )
    };
    let bytes = hex::decode(cursor).map_err(|_| bad())?;
    let doc: CursorDoc<K> = serde_json::from_slice(&bytes).map_err(|_| bad())?;
    if doc.list != list {
        return Err(bad());
    }
    Ok(Some(doc.key))
}

pub(crate) fn page_limit(limit: Option<u32>) -> Result<u32, ControllerError> {
    match limit {
        None => Ok(DEFAULT_PAGE),
        Some(n) if (1..=MAX_PAGE).contains(&n) => Ok(n),
        Some(_) => Err(ControllerError::field(
            "limit",
            format!("must be between 1 and {MAX_PAGE}"),
        )),
    }
}

/// A page from `items` fetched with `limit`: a full page may have a next one.
pub(crate) fn page<T>(
    items: Vec<T>,
    limit: u32,
    next: impl FnOnce(&T) -> Option<String>,
) -> Page<T> {
    let next_cursor = if items.len() >= limit as usize {
        items.last().and_then(next)
    } else {
        None
    };
    Page { items, next_cursor }
}

/// Parses JSON into `T`, naming the field that does not fit (`actions[0].params: …`).
pub fn parse_json<T: DeserializeOwned>(body: &[u8]) -> Result<T, ControllerError> {
    let mut de = serde_json::Deserializer::from_slice(body);
    let value = serde_path_to_error::deserialize(&mut de).map_err(|e| {
        let field = e.path().to_string();
        let field = if field == "." { String::new() } else { field };
        let problem = opsconductor_core::ValidationError::field(field, e.inner().to_string());
        // Broken JSON cannot be fixed field by field; a value of the wrong shape can.
        if e.inner().is_syntax() || e.inner().is_eof() {
            ControllerError::Malformed(problem)
        } else {
            ControllerError::Invalid(problem)
        }
    })?;
    de.end().map_err(|e| {
        ControllerError::Malformed(opsconductor_core::ValidationError::field(
            "",
            format!("trailing data after the JSON: {e}"),
        ))
    })?;
    Ok(value)
}

/// A credential to store.
#[derive(Clone, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct NewCredential {
    /// Unique name.
    pub name: String,
    /// What the secret holds.
    pub kind: CredentialKind,
    /// Free text.
    #[serde(default)]
    pub description: String,
    /// The secret material (fields depend on the kind); write-only.
    #[schema(value_type = Object, write_only)]
    pub secret: Map<String, Value>,
}

/// A change to a credential: absent fields stay.
#[derive(Clone, Default, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct CredentialUpdate {
    /// New name.
    pub name: Option<String>,
    /// New description.
    pub description: Option<String>,
    /// New secret of the same kind (a rotation); write-only.
    #[schema(value_type = Option<Object>, write_only)]
    pub secret: Option<Map<String, Value>>,
}

impl std::fmt::Debug for NewCredential {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("NewCredential")
            .field("name", &self.name)
            .field("kind", &self.kind)
            .finish_non_exhaustive()
    }
}

impl std::fmt::Debug for CredentialUpdate {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("CredentialUpdate")
            .field("name", &self.name)
            .field("rotates_secret", &self.secret.is_some())
            .finish_non_exhaustive()
    }
}

fn check_credential_name(problems: &mut Problems, name: &str) {
    let name = name.trim();
    if name.is_empty() {
        problems.push("name", "must not be empty");
    } else if name.chars().count() > 200 {
        problems.push("name", "must be at most 200 characters");
    }
}

fn check_description(problems: &mut Problems, description: &str) {
    if description.chars().count() > 2000 {
        problems.push("description", "must be at most 2000 characters");
    }
}

/// Checks a secret as a client sent it and returns the JSON text to seal (written once).
fn check_secret(
    problems: &mut Problems,
    kind: CredentialKind,
    secret: &Map<String, Value>,
) -> String {
    for (field, message) in opsconductor_core::credential::secret_problems(kind, secret) {
        let path = if field.is_empty() {
            "secret".to_owned()
        } else {
            format!("secret.{field}")
        };
        problems.push(path, message);
    }
    let text = serde_json::to_string(secret).unwrap_or_default();
    if text.len() > MAX_SECRET_BYTES {
        problems.push(
            "secret",
            format!("must be at most {MAX_SECRET_BYTES} bytes as JSON"),
        );
    }
    text
}

/// The client API over one store, dispatcher and session hub.
#[derive(Clone)]
pub struct Api {
    store: SharedStore,
    dispatcher: Dispatcher,
    hub: Arc<SessionHub>,
    vault: Option<Arc<Vault>>,
}

impl Api {
    /// The API over these parts, without a credential vault.
    pub fn new(store: SharedStore, dispatcher: Dispatcher, hub: Arc<SessionHub>) -> Self {
        Self {
            store,
            dispatcher,
            hub,
            vault: None,
        }
    }

    /// The same API sealing credentials with `vault` (`None`: credentials cannot be
    /// stored).
    #[must_use]
    pub fn with_vault(mut self, vault: Option<Arc<Vault>>) -> Self {
        self.vault = vault;
        self
    }

    /// The store (health checks, exports).
    pub fn store(&self) -> &SharedStore {
        &self.store
    }

    /// The command, parser and target-source libraries jobs are checked against.
    pub fn library(&self) -> Arc<Library> {
        self.dispatcher.library()
    }

    /// The libraries with their user-defined entries.
    pub fn catalog(&self) -> &crate::catalog::LibraryCatalog {
        self.dispatcher.catalog()
    }

    /// Parses a job spec from JSON with field-precise errors.
    pub fn parse_job_spec(json: &[u8]) -> Result<JobSpec, ControllerError> {
        parse_json(json)
    }

    /// Checks a job against the libraries and the credentials it references, every
    /// problem with its field.
    pub async fn validate_job(&self, spec: &JobSpec) -> Result<(), ControllerError> {
        spec.validate(&self.library())?;
        self.check_credential_references(spec).await
    }

    /// Each action's credential exists and is of a kind its command takes.
    async fn check_credential_references(&self, spec: &JobSpec) -> Result<(), ControllerError> {
        let ids: Vec<CredentialId> = spec.actions.iter().filter_map(|a| a.credential).collect();
        if ids.is_empty() {
            return Ok(());
        }
        let known: BTreeMap<CredentialId, CredentialKind> = self
            .store
            .credentials_by_id(&ids)
            .await?
            .into_iter()
            .map(|c| (c.id, c.kind))
            .collect();
        let library = self.library();
        let mut problems = Problems::default();
        for (i, action) in spec.actions.iter().enumerate() {
            let Some(id) = action.credential else {
                continue;
            };
            let field = format!("actions[{i}].credential");
            let Some(kind) = known.get(&id) else {
                problems.push(field, format!("credential {id} does not exist"));
                continue;
            };
            // An unknown command was reported by the library check already.
            let Some(command) = library.command(&action.command) else {
                continue;
            };
            let takes = command.def.kind.credential_kinds();
            if !takes.contains(kind) {
                let names: Vec<&str> = takes.iter().map(|k| k.as_str()).collect();
                problems.push(
                    field,
                    format!(
                        "credential {id} is a {kind} credential; command {:?} takes {}",
                        action.command,
                        names.join(" or ")
                    ),
                );
            }
        }
        problems.finish()?;
        Ok(())
    }

    fn vault(&self) -> Result<&Vault, ControllerError> {
        self.vault.as_deref().ok_or_else(|| {
            ControllerError::Unavailable(
                "this controller has no vault key configured (vault_key_file or \
                 OPSCONDUCTOR_VAULT_KEY), so it cannot store credentials"
                    .to_owned(),
            )
        })
    }

    /// Stores a credential; the secret is checked for its kind and sealed.
    pub async fn create_credential(
        &self,
        new: NewCredential,
    ) -> Result<CredentialMeta, ControllerError> {
        let mut problems = Problems::default();
        check_credential_name(&mut problems, &new.name);
        check_description(&mut problems, &new.description);
        let secret = check_secret(&mut problems, new.kind, &new.secret);
        problems.finish()?;
        let id = CredentialId::new();
        let sealed = self.seal(id, new.kind, &secret)?;
        Ok(self
            .store
            .create_credential(id, new.name.trim(), new.kind, &new.description, &sealed)
            .await?)
    }

    /// Every credential's metadata.
    pub async fn list_credentials(&self) -> Result<Vec<CredentialMeta>, ControllerError> {
        Ok(self.store.list_credentials().await?)
    }

    /// One credential's metadata.
    pub async fn get_credential(
        &self,
        id: CredentialId,
    ) -> Result<CredentialMeta, ControllerError> {
        Ok(self.store.get_credential(id).await?)
    }

    /// Renames, re-describes or rotates a credential (its kind stays).
    pub async fn update_credential(
        &self,
        id: CredentialId,
        expected_version: Option<i64>,
        update: CredentialUpdate,
    ) -> Result<CredentialMeta, ControllerError> {
        let mut problems = Problems::default();
        if let Some(name) = &update.name {
            check_credential_name(&mut problems, name);
        }
        if let Some(description) = &update.description {
            check_description(&mut problems, description);
        }
        // Only a rotation needs the stored kind: the secret is checked and sealed for it.
        let rotation = match &update.secret {
            Some(secret) => {
                let kind = self.store.get_credential(id).await?.kind;
                Some((kind, check_secret(&mut problems, kind, secret)))
            }
            None => None,
        };
        problems.finish()?;
        let change = CredentialChange {
            name: update.name.map(|n| n.trim().to_owned()),
            description: update.description,
            secret: rotation
                .map(|(kind, secret)| self.seal(id, kind, &secret))
                .transpose()?,
        };
        self.store
            .update_credential(id, expected_version, &change)
            .await
            .map_err(stale_version)
    }

    /// Deletes a credential no job uses.
    pub async fn delete_credential(
        &self,
        id: CredentialId,
        expected_version: Option<i64>,
    ) -> Result<(), ControllerError> {
        match self.store.delete_credential(id, expected_version).await? {
            CredentialDeletion::Deleted => Ok(()),
            CredentialDeletion::StaleVersion { current } => {
                Err(ControllerError::PreconditionFailed(format!(
                    "credential {id} is at version {current}, not {}: it changed since it \
                     was read",
                    expected_version.unwrap_or_default()
                )))
            }
            CredentialDeletion::InUse { jobs } if jobs.is_empty() => {
                Err(ControllerError::Conflict(format!(
                    "credential {id} was in use by a job a moment ago; try again"
                )))
            }
            CredentialDeletion::InUse { jobs } => Err(ControllerError::Conflict(format!(
                "credential {id} is used by {} job(s): {}; change or delete them first",
                jobs.len(),
                jobs.join(", ")
            ))),
        }
    }

    /// `secret` (checked JSON text) sealed for credential `id` of `kind`.
    fn seal(
        &self,
        id: CredentialId,
        kind: CredentialKind,
        secret: &str,
    ) -> Result<SealedSecret, ControllerError> {
        self.vault()?
            .seal(id, kind, secret)
            .map_err(|e| ControllerError::Internal(e.to_string()))
    }

    /// Validates and stores a new job.
    pub async fn create_job(&self, spec: JobSpec) -> Result<Job, ControllerError> {
        self.validate_job(&spec).await?;
        Ok(self.store.create_job(&spec).await?)
    }

    /// One job.
    pub async fn get_job(&self, id: JobId) -> Result<Job, ControllerError> {
        Ok(self.store.get_job(id).await?)
    }

    /// Jobs by name with their latest run.
    pub async fn list_jobs(&self, q: JobQuery) -> Result<Page<JobListItem>, ControllerError> {
        let limit = page_limit(q.limit)?;
        let after_name: Option<String> = decode_cursor("jobs", q.cursor.as_deref())?;
        let items = self
            .store
            .list_jobs(&JobFilter {
                text: q.text.filter(|t| !t.is_empty()),
                tag: q.tag.filter(|t| !t.is_empty()),
                enabled: q.enabled,
                after_name,
                limit,
            })
            .await?;
        Ok(page(items, limit, |last| {
            encode_cursor("jobs", &last.job.name)
        }))
    }

    /// Replaces a job's spec; `expected_version` (from the ETag) guards against
    /// overwriting someone else's change.
    pub async fn update_job(
        &self,
        id: JobId,
        expected_version: Option<i64>,
        spec: JobSpec,
    ) -> Result<Job, ControllerError> {
        self.validate_job(&spec).await?;
        self.store
            .update_job(id, expected_version, &spec)
            .await
            .map_err(stale_version)
    }

    /// Deletes a job with its runs and results.
    pub async fn delete_job(
        &self,
        id: JobId,
        expected_version: Option<i64>,
    ) -> Result<(), ControllerError> {
        self.store
            .delete_job(id, expected_version)
            .await
            .map_err(stale_version)
    }

    /// Copies a job under a new name (default: "`<name>` (copy)", numbered if taken). The
    /// copy starts disabled so it does not fire before it is reviewed.
    pub async fn clone_job(&self, id: JobId, name: Option<String>) -> Result<Job, ControllerError> {
        let source = self.store.get_job(id).await?;
        let mut spec = source.spec;
        spec.enabled = false;
        if let Some(name) = name {
            spec.name = name;
            self.validate_job(&spec).await?;
            return Ok(self.store.create_job(&spec).await?);
        }
        let base = format!("{} (copy)", spec.name);
        for n in 1..=100 {
            spec.name = if n == 1 {
                base.clone()
            } else {
                format!("{base} {n}")
            };
            self.validate_job(&spec).await?;
            match self.store.create_job(&spec).await {
                Err(opsconductor_store::StoreError::AlreadyExists { .. }) => continue,
                other => return Ok(other?),
            }
        }
        Err(ControllerError::Conflict(format!(
            "100 copies of {base:?} exist already; give the copy a name"
        )))
    }

    /// Enables or disables one job.
    pub async fn set_job_enabled(&self, id: JobId, enabled: bool) -> Result<Job, ControllerError> {
        self.store.set_jobs_enabled(&[id], enabled).await?;
        self.get_job(id).await
    }

    /// Enables or disables many jobs; returns those that changed.
    pub async fn set_jobs_enabled(
        &self,
        ids: &[JobId],
        enabled: bool,
    ) -> Result<Vec<JobId>, ControllerError> {
        Ok(self.store.set_jobs_enabled(ids, enabled).await?)
    }

    /// Deletes many jobs; returns those that existed.
    pub async fn delete_jobs(&self, ids: &[JobId]) -> Result<Vec<JobId>, ControllerError> {
        Ok(self.store.delete_jobs(ids).await?)
    }

    /// Starts a run of a job now.
    pub async fn run_job(&self, id: JobId) -> Result<Run, ControllerError> {
        self.dispatcher.start_run(id, RunTrigger::Manual).await
    }

    /// One run with its live counters.
    pub async fn get_run(&self, id: RunId) -> Result<Run, ControllerError> {
        Ok(self.store.get_run(id).await?)
    }

    /// A run with the job version, rendered commands and chunks it ran with.
    pub async fn run_detail(&self, id: RunId) -> Result<RunDetail, ControllerError> {
        let run = self.store.get_run(id).await?;
        let job_spec = self.store.run_job_spec(id).await?;
        let chunks = self
            .store
            .chunks_for_run(id)
            .await?
            .into_iter()
            .map(|c| {
                json!({
                    "id": c.id, "segment": c.segment, "state": c.state.as_str(),
                    "targets": c.targets, "attempts": c.attempts,
                })
            })
            .collect();
        let rendered_commands = job_spec
            .actions
            .iter()
            .enumerate()
            .map(|(index, action)| RenderedAction {
                index,
                command: action.command.clone(),
                text: match self.library().command(&action.command) {
                    None => format!("command {:?} is no longer in the library", action.command),
                    Some(command) => match command.preview(&action.params, "{{ target }}") {
                        Ok(rendered) => rendered.text,
                        Err(e) => format!("cannot render: {e}"),
                    },
                },
            })
            .collect();
        Ok(RunDetail {
            run,
            job_spec,
            rendered_commands,
            chunks,
        })
    }

    /// Runs newest first.
    pub async fn list_runs(&self, q: RunQuery) -> Result<Page<Run>, ControllerError> {
        let limit = page_limit(q.limit)?;
        let before: Option<(DateTime<Utc>, RunId)> = decode_cursor("runs", q.cursor.as_deref())?;
        let items = self
            .store
            .list_runs(&RunFilter {
                job_id: q.job_id,
                status: q.status,
                before,
                limit,
            })
            .await?;
        Ok(page(items, limit, |last| {
            encode_cursor("runs", (last.created_at, last.id))
        }))
    }

    /// Cancels a run: its unfinished targets are recorded as errors and agents drop its
    /// queued work.
    pub async fn cancel_run(
        &self,
        id: RunId,
        reason: Option<String>,
    ) -> Result<Run, ControllerError> {
        let reason = reason
            .filter(|r| !r.trim().is_empty())
            .unwrap_or_else(|| "cancelled by a user".to_owned());
        if reason.chars().count() > 1000 {
            return Err(ControllerError::field(
                "reason",
                "must be at most 1000 characters",
            ));
        }
        self.store.cancel_run(id, &reason).await?;
        self.hub.cancel_run(id, &reason);
        self.dispatcher.events().run_changed(id);
        self.get_run(id).await
    }

    /// Results, newest run first.
    pub async fn query_results(
        &self,
        q: ResultQuery,
    ) -> Result<Page<StoredResult>, ControllerError> {
        let limit = page_limit(q.limit)?;
        if let (Some(from), Some(to)) = (q.from, q.to)
            && to <= from
        {
            return Err(ControllerError::field("to", "must be after `from`"));
        }
        let after: Option<ResultKey> = decode_cursor("results", q.cursor.as_deref())?;
        let items = self
            .store
            .query_results(&ResultFilter {
                run_id: q.run_id,
                job_id: q.job_id,
                target: q.target,
                status: q.status,
                from: q.from,
                to: q.to,
                after,
                limit,
            })
            .await?;
        Ok(page(items, limit, |last| {
            encode_cursor("results", last.key())
        }))
    }

    /// A command rendered with `params` (defaults filled in, secrets masked) for a target
    /// (default: a placeholder), or the params' problems.
    pub fn preview_command(
        &self,
        command: &str,
        params: &Map<String, Value>,
    ) -> Result<Value, ControllerError> {
        self.preview_command_for(command, params, None)
    }

    /// [`Api::preview_command`] for a given target.
    pub fn preview_command_for(
        &self,
        command_id: &str,
        params: &Map<String, Value>,
        target: Option<&str>,
    ) -> Result<Value, ControllerError> {
        let library = self.library();
        let command = library.command(command_id).ok_or_else(|| {
            ControllerError::field(
                "command",
                format!("no command {command_id:?} in the library"),
            )
        })?;
        let action = opsconductor_core::model::ActionSpec {
            command: command_id.to_owned(),
            name: None,
            params: params.clone(),
            parsers: None,
            credential: None,
            timeout_ms: None,
            criteria: None,
        };
        self.library().validate_action(&action)?;
        let rendered = command
            .preview(params, target.unwrap_or("{{ target }}"))
            .map_err(|e| ControllerError::field("params", e.to_string()))?;
        Ok(json!({
            "command": command_id,
            "kind": command.def.kind.as_str(),
            "params": command.params_with_defaults(params),
            "text": rendered.text,
            "truncated": rendered.truncated,
        }))
    }

    /// Runs a parser (from the library by id, or an inline definition being written) on
    /// sample text: the fields, rows and errors it produces. The authority for the Job
    /// Builder's test box.
    pub fn test_parser(
        &self,
        parser_id: Option<&str>,
        inline_definition: Option<&Value>,
        sample: &str,
    ) -> Result<Value, ControllerError> {
        if sample.len() > MAX_PARSER_SAMPLE_BYTES {
            return Err(ControllerError::field(
                "sample",
                format!("at most {MAX_PARSER_SAMPLE_BYTES} bytes"),
            ));
        }
        let output = match (parser_id, inline_definition) {
            (Some(id), None) => {
                let library = self.library();
                let parser = library.parser(id).ok_or_else(|| {
                    ControllerError::field("parser", format!("no parser {id:?} in the library"))
                })?;
                parser.compiled.parse(sample)
            }
            (None, Some(definition)) => {
                let text = serde_json::to_vec(definition)
                    .map_err(|e| ControllerError::Internal(e.to_string()))?;
                let def: ParserDef =
                    parse_json(&text).map_err(|e| prefix_fields(e, "definition"))?;
                let compiled = def.compile().map_err(|problems| {
                    let mut errors = opsconductor_core::error::Problems::default();
                    for p in problems {
                        errors.push(
                            opsconductor_core::error::join_path("definition", &p.path),
                            p.message,
                        );
                    }
                    match errors.finish() {
                        Err(e) => ControllerError::Invalid(e),
                        Ok(()) => ControllerError::field("definition", "does not compile"),
                    }
                })?;
                compiled.parse(sample)
            }
            _ => {
                return Err(ControllerError::field(
                    "parser",
                    "give exactly one of `parser` (a library id) and `definition`",
                ));
            }
        };
        serde_json::to_value(output).map_err(|e| ControllerError::Internal(e.to_string()))
    }

    /// What a target selection comes to: count, the first `limit` targets, the split by
    /// segment and the file lines that did not parse. Inventory groups count with their
    /// members as of now (a run resolves them again when it starts).
    pub async fn preview_targets(
        &self,
        spec: &TargetSpec,
        segment_override: Option<&str>,
        limit: usize,
    ) -> Result<TargetPreview, ControllerError> {
        let groups = crate::inventory::groups_for(&*self.store, &[spec]).await?;
        let expanded = targets::expand(spec, &groups)?;
        let segments = self.store.list_segments().await?;
        let router = SegmentRouter::new(&segments, self.dispatcher.default_segment());
        let by_segment = match segment_override {
            Some(segment) => BTreeMap::from([(segment.to_owned(), expanded.len())]),
            None => router
                .split(&expanded)
                .into_iter()
                .map(|(segment, targets)| (segment, targets.len()))
                .collect(),
        };
        Ok(TargetPreview {
            count: expanded.len(),
            first: expanded
                .first(limit.min(MAX_PREVIEW_TARGETS))
                .iter()
                .map(ToString::to_string)
                .collect(),
            by_segment,
            invalid: expanded.invalid.clone(),
            invalid_omitted: expanded.invalid_omitted,
        })
    }

    /// Runs one action on one target through an agent of the target's segment — the
    /// normal pipeline, as a hidden manual job deleted afterwards — and returns what came
    /// back: raw output, parsed fields, verdict. The Job Builder's "fetch a real sample".
    /// Fails fast with `Unavailable` when no agent of that segment is online, and after
    /// `wait` when none answered.
    pub async fn dry_run(
        &self,
        action: opsconductor_core::model::ActionSpec,
        target: &str,
        segment: Option<String>,
        wait: std::time::Duration,
    ) -> Result<DryRunOutcome, ControllerError> {
        use opsconductor_core::model::{JobOptions, Schedule};
        self.library()
            .validate_action(&action)
            .map_err(|e| ControllerError::Invalid(e.prefixed("action")))?;
        let targets = TargetSpec::new(vec![targets::Selector::hosts([target])]);
        let expanded = targets::expand(&targets, &targets::NoGroups)
            .map_err(|e| ControllerError::Invalid(e.prefixed("target")))?;
        let [only] = expanded.first(2).try_into().map_err(|_| {
            ControllerError::field("target", "give exactly one address or hostname")
        })?;
        let segment = match segment {
            Some(segment) => segment,
            None => {
                let segments = self.store.list_segments().await?;
                SegmentRouter::new(&segments, self.dispatcher.default_segment())
                    .route(&only)
                    .to_owned()
            }
        };
        let online = self
            .store
            .list_agents()
            .await?
            .into_iter()
            .any(|a| a.online && a.segment == segment);
        if !online {
            return Err(ControllerError::Unavailable(format!(
                "no agent of segment {segment:?} is online to run the dry run"
            )));
        }
        let rendered = match self.library().command(&action.command) {
            Some(command) => command
                .preview(&action.params, &only.to_string())
                .map(|r| r.text)
                .unwrap_or_default(),
            None => String::new(),
        };
        let wait = wait.min(MAX_DRY_RUN_WAIT);
        let spec = JobSpec {
            name: format!("dry run {}", uuid::Uuid::now_v7()),
            description: format!("dry run of {} on {only}", action.command),
            tags: Vec::new(),
            enabled: false,
            schedule: Schedule::Manual,
            targets,
            actions: vec![action],
            options: JobOptions {
                segment: Some(segment.clone()),
                chunk_size: 1,
                run_deadline_seconds: Some(wait.as_secs().max(1)),
                ..JobOptions::default()
            },
        };
        let job = self.store.create_hidden_job(&spec).await?;
        let outcome = self.await_dry_run(job.id, wait).await;
        if let Err(e) = self.store.delete_job(job.id, None).await {
            tracing::warn!(job.id = %job.id, error = %e, "removing a dry run's job failed");
        }
        let result = outcome?;
        Ok(DryRunOutcome {
            segment,
            rendered,
            result,
        })
    }

    async fn await_dry_run(
        &self,
        job: JobId,
        wait: std::time::Duration,
    ) -> Result<opsconductor_core::model::ResultRecord, ControllerError> {
        let run = self.dispatcher.start_run(job, RunTrigger::Manual).await?;
        // The store, not the local event bus: the agent's session may be on another
        // replica, whose ingest this replica's bus never hears about.
        let deadline = tokio::time::Instant::now() + wait;
        loop {
            if let Some(result) = self.store.results_for_run(run.id).await?.into_iter().next() {
                return Ok(result);
            }
            if tokio::time::Instant::now() >= deadline {
                return Err(ControllerError::Unavailable(format!(
                    "no result within {}s: the agent may be busy or unreachable",
                    wait.as_secs()
                )));
            }
            tokio::time::sleep(std::time::Duration::from_millis(100)).await;
        }
    }

    /// Every agent with its liveness.
    pub async fn list_agents(&self) -> Result<Vec<AgentRecord>, ControllerError> {
        Ok(self.store.list_agents().await?)
    }

    /// Revokes an agent: its identity stops working and its session ends (here at once,
    /// on other replicas at its next heartbeat). Its chunks in flight are redelivered to
    /// the segment's other agents by the broker when the connection drops.
    pub async fn revoke_agent(&self, id: AgentId) -> Result<AgentRecord, ControllerError> {
        let agent = self.store.revoke_agent(id).await?;
        self.hub.disconnect(id);
        tracing::warn!(agent.id = %id, agent.name = %agent.name, "agent revoked");
        Ok(agent)
    }
}

/// A job write guarded by a version can only conflict on that version.
fn stale_version(e: opsconductor_store::StoreError) -> ControllerError {
    match e {
        opsconductor_store::StoreError::Conflict { message } => {
            ControllerError::PreconditionFailed(message)
        }
        other => other.into(),
    }
}

/// Moves a field error under `prefix` (`extract.pattern` → `definition.extract.pattern`).
fn prefix_fields(error: ControllerError, prefix: &str) -> ControllerError {
    match error {
        ControllerError::Invalid(v) => ControllerError::Invalid(v.prefixed(prefix)),
        other => other,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cursors_round_trip_and_refuse_other_listings() {
        let cursor = encode_cursor("jobs", "core-ping").unwrap();
        let back: Option<String> = decode_cursor("jobs", Some(&cursor)).unwrap();
        assert_eq!(back.as_deref(), Some("core-ping"));
        let err = decode_cursor::<String>("runs", Some(&cursor)).unwrap_err();
        assert!(err.to_string().contains("cursor"), "{err}");
        assert!(decode_cursor::<String>("jobs", Some("zz")).is_err());
        assert_eq!(decode_cursor::<String>("jobs", Some("")).unwrap(), None);
    }

    #[test]
    fn page_limits_are_checked() {
        assert_eq!(page_limit(None).unwrap(), DEFAULT_PAGE);
        assert!(page_limit(Some(0)).is_err());
        assert!(page_limit(Some(MAX_PAGE + 1)).is_err());
    }

    #[test]
    fn parse_json_names_the_field_and_refuses_trailing_data() {
        let err = parse_json::<JobQuery>(br#"{"limit": "x"}"#).unwrap_err();
        let ControllerError::Invalid(v) = err else {
            panic!("invalid expected")
        };
        assert_eq!(v.errors[0].field, "limit");
        assert!(parse_json::<JobQuery>(b"{} {}").is_err());
    }
}
