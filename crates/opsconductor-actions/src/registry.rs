//! The one place action kinds are mapped to executors.

use std::collections::HashMap;
use std::sync::Arc;

use opsconductor_core::library::ActionKind;

use crate::action::Action;

/// Executors by kind, shared by every chunk an agent runs.
#[derive(Clone, Default)]
pub struct Registry {
    executors: HashMap<ActionKind, Arc<dyn Action>>,
}

impl std::fmt::Debug for Registry {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let mut kinds: Vec<_> = self.executors.keys().map(|k| k.as_str()).collect();
        kinds.sort_unstable();
        f.debug_struct("Registry").field("kinds", &kinds).finish()
    }
}

impl Registry {
    /// A registry with no executors (tests add their own with [`Registry::with`]).
    pub fn empty() -> Self {
        Self::default()
    }

    /// Adds or replaces the executor of its kind.
    #[must_use]
    pub fn with(mut self, executor: Arc<dyn Action>) -> Self {
        self.executors.insert(executor.kind(), executor);
        self
    }

    /// The executor of a kind, if this agent has one.
    pub fn get(&self, kind: ActionKind) -> Option<&Arc<dyn Action>> {
        self.executors.get(&kind)
    }

    /// Kinds this registry can run.
    pub fn kinds(&self) -> Vec<ActionKind> {
        let mut kinds: Vec<_> = self.executors.keys().copied().collect();
        kinds.sort_unstable();
        kinds
    }
}
