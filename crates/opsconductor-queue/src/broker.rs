//! [`Broker`]: which backend the queue runs on, chosen once at start-up and handed to the
//! controller's relay and dead-letter drain and to agents, which build their endpoints from
//! it without caring which it is.

use crate::{Consumer, DeadLetters, InProcessBroker, Publisher, QueueConfig, QueueError};

/// Where chunks travel: RabbitMQ between processes (scale-out), or memory inside one
/// process (standalone). Cheap to clone.
#[derive(Debug, Clone)]
pub enum Broker {
    /// RabbitMQ reached with these settings; every endpoint opens its own connection.
    RabbitMq(QueueConfig),
    /// Queues in this process, shared by every clone of the broker.
    InProcess(InProcessBroker),
}

impl Broker {
    /// A publisher (RabbitMQ: connected now, reconnecting on later calls).
    pub async fn publisher(&self) -> Result<Publisher, QueueError> {
        match self {
            Self::RabbitMq(config) => Publisher::connect(config).await,
            Self::InProcess(broker) => Ok(Publisher::in_process(broker)),
        }
    }

    /// A consumer of `segment`'s queue, which it declares.
    pub async fn consumer(&self, segment: &str) -> Result<Consumer, QueueError> {
        match self {
            Self::RabbitMq(config) => Consumer::connect(config, segment).await,
            Self::InProcess(broker) => Consumer::in_process(broker, segment),
        }
    }

    /// The reader of the dead-letter queue.
    pub async fn dead_letters(&self) -> Result<DeadLetters, QueueError> {
        match self {
            Self::RabbitMq(config) => DeadLetters::connect(config).await,
            Self::InProcess(broker) => Ok(DeadLetters::in_process(broker)),
        }
    }

    /// Chunks waiting in each of `segments`' queues, in order (a queue not declared yet is
    /// declared, or in process reads 0): what the controller's gauges read every round.
    pub async fn segment_depths(&self, segments: &[String]) -> Result<Vec<u32>, QueueError> {
        match self {
            Self::RabbitMq(config) => crate::admin::segment_depths(config, segments).await,
            Self::InProcess(broker) => Ok(segments
                .iter()
                .map(|segment| broker.queue_depth(segment).unwrap_or(0))
                .collect()),
        }
    }

    /// Chunks waiting in `segment`'s queue (not counting those delivered and unacked).
    pub async fn queue_depth(&self, segment: &str) -> Result<u32, QueueError> {
        match self {
            Self::RabbitMq(config) => crate::queue_depth(config, segment).await,
            Self::InProcess(broker) => broker.queue_depth(segment),
        }
    }
}
