//! The two backends behind one trait, so each conformance test runs against both.

use opsconductor_queue::{
    Consumer, DeadLetters, InProcessBroker, InProcessOptions, Publisher, QueueError, queue_depth,
};

use crate::helpers::TestQueue;

/// The settings a test may change; the rest are each backend's test defaults.
#[derive(Debug, Clone, Copy)]
pub struct Settings {
    pub delivery_limit: u32,
    pub prefetch: u16,
}

impl Default for Settings {
    fn default() -> Self {
        Self {
            delivery_limit: 5,
            prefetch: 2,
        }
    }
}

/// A fresh, private queue world for one test: publishers, consumers and dead-letter readers
/// made from it see each other and nothing else.
pub trait Backend: Sized {
    /// Starts the world; `segments` are the ones the test may touch (for cleanup).
    async fn start(segments: &[&str], settings: Settings) -> Self;
    async fn publisher(&self) -> Publisher;
    async fn consumer(&self, segment: &str) -> Consumer;
    async fn dead_letters(&self) -> DeadLetters;
    /// Ready chunks of the segment's queue.
    async fn queue_depth(&self, segment: &str) -> Result<u32, QueueError>;
}

/// The real RabbitMQ on loopback, under a random prefix.
pub struct RabbitMq {
    test: TestQueue,
}

impl Backend for RabbitMq {
    async fn start(segments: &[&str], settings: Settings) -> Self {
        let test = TestQueue::new(segments).await.with(|c| {
            c.delivery_limit = settings.delivery_limit;
            c.prefetch = settings.prefetch;
        });
        Self { test }
    }

    async fn publisher(&self) -> Publisher {
        Publisher::connect(&self.test.config).await.unwrap()
    }

    async fn consumer(&self, segment: &str) -> Consumer {
        Consumer::connect(&self.test.config, segment).await.unwrap()
    }

    async fn dead_letters(&self) -> DeadLetters {
        DeadLetters::connect(&self.test.config).await.unwrap()
    }

    async fn queue_depth(&self, segment: &str) -> Result<u32, QueueError> {
        queue_depth(&self.test.config, segment).await
    }
}

/// The standalone mode's broker.
pub struct InProcess {
    broker: InProcessBroker,
}

impl Backend for InProcess {
    async fn start(_segments: &[&str], settings: Settings) -> Self {
        let broker = InProcessBroker::new(InProcessOptions {
            delivery_limit: settings.delivery_limit,
            prefetch: settings.prefetch,
            ..InProcessOptions::default()
        })
        .unwrap();
        Self { broker }
    }

    async fn publisher(&self) -> Publisher {
        Publisher::in_process(&self.broker)
    }

    async fn consumer(&self, segment: &str) -> Consumer {
        Consumer::in_process(&self.broker, segment).unwrap()
    }

    async fn dead_letters(&self) -> DeadLetters {
        DeadLetters::in_process(&self.broker)
    }

    async fn queue_depth(&self, segment: &str) -> Result<u32, QueueError> {
        self.broker.queue_depth(segment)
    }
}
