//! The queue's configuration and the names of everything it declares.

use std::fmt;
use std::time::Duration;

use serde::Deserialize;

use opsconductor_core::model::segment::validate_segment_name;

use crate::QueueError;

/// How to reach RabbitMQ and how the work topology is shaped.
///
/// Every name the crate declares is derived from `prefix`, so two deployments (or two
/// tests) can share one broker without seeing each other's queues.
#[derive(Clone, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct QueueConfig {
    /// AMQP URL, e.g. `amqp://user:pass@rabbit:5672/%2f`. Never logged: it may hold a
    /// password.
    #[serde(default = "default_url")]
    pub url: String,
    /// Prefix of every exchange and queue name (`<prefix>.work`, `<prefix>.work.<segment>`,
    /// `<prefix>.dead`). Lowercase letters, digits, `-`, `_` and `.`.
    #[serde(default = "default_prefix")]
    pub prefix: String,
    /// Deliveries a chunk may be returned (requeued, or lost with its consumer) before
    /// RabbitMQ dead-letters it. Every return counts, including an agent's graceful
    /// shutdown and a broker reconnect, so the default (10) leaves room for rolling
    /// restarts while a chunk that crashes its agents still ends up dead-lettered. Changing it on an existing deployment needs the segment
    /// queues deleted first: RabbitMQ refuses to redeclare a queue with other arguments.
    #[serde(default = "default_delivery_limit")]
    pub delivery_limit: u32,
    /// Unacknowledged deliveries a consumer holds at once. An agent runs one chunk per
    /// delivery, so this bounds the chunks in flight per agent; the default 2 keeps one
    /// chunk ready while one runs without hoarding work other agents could take.
    #[serde(default = "default_prefetch")]
    pub prefetch: u16,
    /// AMQP heartbeat interval in seconds; a peer silent for two intervals is considered
    /// gone, so a dead broker or agent is noticed within about twice this. The lower of
    /// this and the broker's value wins; 0 takes the broker's (60 s by default).
    #[serde(default = "default_heartbeat_secs")]
    pub heartbeat_secs: u16,
    /// Bound on opening a connection and declaring the topology, e.g. `"10s"` or `"500ms"`
    /// (a bare number is seconds).
    #[serde(default = "default_connect_timeout", with = "humantime_serde")]
    pub connect_timeout: Duration,
}

fn default_url() -> String {
    "amqp://guest:guest@127.0.0.1:5672/%2f".to_owned()
}

fn default_prefix() -> String {
    "oc".to_owned()
}

const fn default_delivery_limit() -> u32 {
    10
}

const fn default_prefetch() -> u16 {
    2
}

const fn default_heartbeat_secs() -> u16 {
    15
}

const fn default_connect_timeout() -> Duration {
    Duration::from_secs(10)
}

impl Default for QueueConfig {
    fn default() -> Self {
        Self {
            url: default_url(),
            prefix: default_prefix(),
            delivery_limit: default_delivery_limit(),
            prefetch: default_prefetch(),
            heartbeat_secs: default_heartbeat_secs(),
            connect_timeout: default_connect_timeout(),
        }
    }
}

// Hand-written so the URL's password never reaches a log line through `{:?}`.
impl fmt::Debug for QueueConfig {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("QueueConfig")
            .field("url", &redact_url(&self.url))
            .field("prefix", &self.prefix)
            .field("delivery_limit", &self.delivery_limit)
            .field("prefetch", &self.prefetch)
            .field("heartbeat_secs", &self.heartbeat_secs)
            .field("connect_timeout", &self.connect_timeout)
            .finish()
    }
}

impl QueueConfig {
    /// Checks every field and reports all problems at once.
    pub fn validate(&self) -> Result<(), QueueError> {
        let mut problems = Vec::new();
        if !(self.url.starts_with("amqp://") || self.url.starts_with("amqps://")) {
            problems.push("url must start with amqp:// or amqps://".to_owned());
        }
        let prefix_ok = !self.prefix.is_empty()
            && self.prefix.len() <= 64
            && self.prefix.bytes().all(|b| {
                b.is_ascii_lowercase() || b.is_ascii_digit() || matches!(b, b'-' | b'_' | b'.')
            });
        if !prefix_ok {
            problems.push(format!(
                "prefix {:?} must be 1-64 characters of lowercase letters, digits, '-', '_' or '.'",
                self.prefix
            ));
        }
        if self.delivery_limit == 0 {
            problems.push("delivery_limit must be at least 1".to_owned());
        }
        if self.prefetch == 0 {
            // 0 means "unlimited" to RabbitMQ, which would let one agent hoard a segment.
            problems.push("prefetch must be at least 1".to_owned());
        }
        if self.connect_timeout.is_zero() {
            problems.push("connect_timeout must be positive".to_owned());
        }
        if problems.is_empty() {
            Ok(())
        } else {
            Err(QueueError::Config(problems.join("; ")))
        }
    }

    /// The names of the exchanges and queues under this config's prefix.
    #[must_use]
    pub fn names(&self) -> Names {
        Names {
            prefix: self.prefix.clone(),
        }
    }
}

/// Derives exchange and queue names from the configured prefix.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Names {
    prefix: String,
}

impl Names {
    /// The direct exchange chunks are published to, routed by segment.
    #[must_use]
    pub fn work_exchange(&self) -> String {
        format!("{}.work", self.prefix)
    }

    /// The quorum queue holding one segment's chunks.
    #[must_use]
    pub fn segment_queue(&self, segment: &str) -> String {
        format!("{}.work.{segment}", self.prefix)
    }

    /// The fanout exchange every segment queue dead-letters to.
    #[must_use]
    pub fn dead_exchange(&self) -> String {
        format!("{}.dead", self.prefix)
    }

    /// The quorum queue collecting every segment's dead letters.
    #[must_use]
    pub fn dead_queue(&self) -> String {
        format!("{}.dead", self.prefix)
    }

    /// The segment whose queue is `queue`, if `queue` is a segment queue of this prefix.
    #[must_use]
    pub fn segment_of_queue<'a>(&self, queue: &'a str) -> Option<&'a str> {
        queue
            .strip_prefix(self.prefix.as_str())?
            .strip_prefix(".work.")
            .filter(|segment| !segment.is_empty())
    }
}

/// Rejects segment names that cannot be a queue-name suffix, before they reach the broker.
pub(crate) fn check_segment(segment: &str) -> Result<(), QueueError> {
    validate_segment_name(segment, "segment").map_err(|e| QueueError::InvalidSegment {
        segment: segment.to_owned(),
        message: e.to_string(),
    })
}

/// `amqp://user:secret@host/` → `amqp://user:***@host/`.
pub(crate) fn redact_url(url: &str) -> String {
    let Some((scheme, rest)) = url.split_once("://") else {
        return url.to_owned();
    };
    let authority_end = rest.find('/').unwrap_or(rest.len());
    let (authority, path) = rest.split_at(authority_end);
    match authority.rsplit_once('@') {
        Some((userinfo, host)) => {
            let user = userinfo.split_once(':').map_or(userinfo, |(user, _)| user);
            format!("{scheme}://{user}:***@{host}{path}")
        }
        None => url.to_owned(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn example_config_deserialises_with_typed_durations() {
        let config: QueueConfig = serde_json::from_str(
            r#"{"url":"amqp://u:p@rabbit:5672/%2f","prefix":"prod","delivery_limit":3,
                "prefetch":8,"heartbeat_secs":30,"connect_timeout":"2500ms"}"#,
        )
        .unwrap();
        assert_eq!(config.prefix, "prod");
        assert_eq!(config.delivery_limit, 3);
        assert_eq!(config.connect_timeout, Duration::from_millis(2500));
        config.validate().unwrap();
    }

    #[test]
    fn empty_config_takes_the_defaults() {
        let config: QueueConfig = serde_json::from_str("{}").unwrap();
        assert_eq!(config, QueueConfig::default());
        assert_eq!(config.delivery_limit, 10);
        assert_eq!(config.heartbeat_secs, 15);
    }

    #[test]
    fn unknown_fields_are_rejected() {
        let err = serde_json::from_str::<QueueConfig>(r#"{"prefetc":2}"#).unwrap_err();
        assert!(err.to_string().contains("prefetc"), "{err}");
    }

    #[test]
    fn validate_reports_every_problem_at_once() {
        let config = QueueConfig {
            url: "http://x".into(),
            prefix: "Bad Prefix".into(),
            delivery_limit: 0,
            prefetch: 0,
            heartbeat_secs: 0,
            connect_timeout: Duration::ZERO,
        };
        let message = config.validate().unwrap_err().to_string();
        for needle in [
            "url",
            "prefix",
            "delivery_limit",
            "prefetch",
            "connect_timeout",
        ] {
            assert!(message.contains(needle), "{needle} missing from {message}");
        }
    }

    #[test]
    fn names_derive_from_the_prefix() {
        let names = QueueConfig::default().names();
        assert_eq!(names.work_exchange(), "oc.work");
        assert_eq!(names.segment_queue("dc1"), "oc.work.dc1");
        assert_eq!(names.dead_queue(), "oc.dead");
        assert_eq!(names.segment_of_queue("oc.work.dc1"), Some("dc1"));
        assert_eq!(names.segment_of_queue("other.work.dc1"), None);
        assert_eq!(names.segment_of_queue("oc.work."), None);
    }

    #[test]
    fn debug_output_hides_the_password() {
        let config = QueueConfig {
            url: "amqp://agent:s3cret@rabbit:5672/%2f".into(),
            ..QueueConfig::default()
        };
        let shown = format!("{config:?}");
        assert!(!shown.contains("s3cret"), "{shown}");
        assert!(
            shown.contains("amqp://agent:***@rabbit:5672/%2f"),
            "{shown}"
        );
    }
}
