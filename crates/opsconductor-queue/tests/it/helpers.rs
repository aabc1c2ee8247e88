//! A private topology per test on the real broker, torn down even when the test panics.

use std::time::Duration;

use opsconductor_queue::{Consumer, Delivery, QueueConfig, QueueError, delete_topology};
use tokio::sync::{OwnedRwLockReadGuard, OwnedRwLockWriteGuard, RwLock};

/// Tests take it shared; the broker-restart test takes it exclusively, so under `cargo test`
/// (one process, tests on threads) no other test sees the broker vanish. Under nextest each
/// test is its own process and the restart test is scheduled alone instead.
static BROKER: std::sync::LazyLock<std::sync::Arc<RwLock<()>>> =
    std::sync::LazyLock::new(|| std::sync::Arc::new(RwLock::new(())));

/// The broker tests talk to.
pub fn amqp_url() -> String {
    std::env::var("OPSCONDUCTOR_TEST_AMQP_URL")
        .unwrap_or_else(|_| "amqp://guest:guest@127.0.0.1:5672/%2f".to_owned())
}

/// How long a test waits for a delivery that should come.
pub const WAIT: Duration = Duration::from_secs(15);

/// One test's slice of the broker: a random prefix, and cleanup of what it declared.
pub struct TestQueue {
    pub config: QueueConfig,
    segments: Vec<String>,
    _shared: Option<OwnedRwLockReadGuard<()>>,
}

impl TestQueue {
    pub async fn new(segments: &[&str]) -> Self {
        let shared = BROKER.clone().read_owned().await;
        let mut queue = Self::unlocked(segments);
        queue._shared = Some(shared);
        queue
    }

    /// For the restart test, which holds the exclusive lock itself.
    pub fn unlocked(segments: &[&str]) -> Self {
        let prefix = format!("oct-{}", uuid::Uuid::new_v4().simple());
        Self {
            config: QueueConfig {
                url: amqp_url(),
                prefix,
                delivery_limit: 5,
                prefetch: 2,
                heartbeat_secs: 5,
                connect_timeout: Duration::from_secs(5),
            },
            segments: segments.iter().map(|s| (*s).to_owned()).collect(),
            _shared: None,
        }
    }

    pub fn with(mut self, change: impl FnOnce(&mut QueueConfig)) -> Self {
        change(&mut self.config);
        self
    }
}

pub async fn exclusive_broker() -> OwnedRwLockWriteGuard<()> {
    BROKER.clone().write_owned().await
}

impl Drop for TestQueue {
    fn drop(&mut self) {
        // Async cleanup from Drop: a fresh runtime on a plain thread works during unwinding
        // and inside the test's own runtime alike.
        let config = self.config.clone();
        let segments = std::mem::take(&mut self.segments);
        let outcome = std::thread::spawn(move || {
            let runtime = tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()
                .expect("cleanup runtime");
            runtime.block_on(async {
                let names: Vec<&str> = segments.iter().map(String::as_str).collect();
                delete_topology(&config, &names).await
            })
        })
        .join();
        if let Ok(Err(error)) = outcome {
            eprintln!("cleanup of {} failed: {error}", self.config.prefix);
        }
    }
}

/// The next delivery, failing the test instead of hanging.
pub async fn next(consumer: &mut Consumer) -> Delivery {
    tokio::time::timeout(WAIT, consumer.next())
        .await
        .expect("a delivery within the wait")
        .expect("a delivery, not an error")
}

/// Whether a delivery arrives within `within` (for "nothing more is delivered").
pub async fn try_next(
    consumer: &mut Consumer,
    within: Duration,
) -> Option<Result<Delivery, QueueError>> {
    tokio::time::timeout(within, consumer.next()).await.ok()
}

/// A fresh chunk id, as the controller makes them.
pub fn chunk_id() -> String {
    uuid::Uuid::now_v7().to_string()
}

/// `(chunk id, segment, payload)` items whose payload names their position.
pub fn chunks(segment: &str, count: usize) -> Vec<(String, String, Vec<u8>)> {
    (0..count)
        .map(|i| {
            (
                chunk_id(),
                segment.to_owned(),
                format!("chunk #{i} of {segment}").into_bytes(),
            )
        })
        .collect()
}
