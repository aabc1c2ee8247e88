//! The one place action kinds are mapped to executors.

use std::collections::HashMap;
use std::sync::Arc;

use opsconductor_core::library::ActionKind;

use crate::action::Action;
use crate::hostkey::HostKeyVerifier;
use crate::http::HttpAction;
use crate::ping::PingAction;
use crate::snmp::{SnmpGetAction, SnmpWalkAction};
use crate::ssh::{SshCommandAction, SshPortAction};
use crate::tcp::TcpAction;

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

    /// Every native executor this crate ships: ping, TCP, SNMP get and walk, SSH port
    /// check and command, HTTP. SSH commands check host keys through `host_keys` (the
    /// agent backs it with the controller's trust-on-first-use store).
    pub fn native(host_keys: Arc<dyn HostKeyVerifier>) -> Self {
        Self::empty()
            .with(Arc::new(PingAction::new()))
            .with(Arc::new(TcpAction::new()))
            .with(Arc::new(SnmpGetAction::new()))
            .with(Arc::new(SnmpWalkAction::new()))
            .with(Arc::new(SshPortAction::new()))
            .with(Arc::new(SshCommandAction::new(host_keys)))
            .with(Arc::new(HttpAction::new()))
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

#[cfg(test)]
mod tests {
    use super::*;
    use crate::hostkey::MemoryTofu;

    #[test]
    fn the_native_registry_runs_every_action_kind_the_libraries_name() {
        let registry = Registry::native(Arc::new(MemoryTofu::default()));
        let mut all: Vec<ActionKind> = ActionKind::ALL.to_vec();
        all.sort_unstable();
        assert_eq!(registry.kinds(), all);
    }
}
