//! One-shot operations on the topology: queue depth for metrics and tests, and deleting a
//! prefix's topology for test cleanup.

use lapin::options::{ExchangeDeleteOptions, QueueDeclareOptions, QueueDeleteOptions};
use lapin::types::FieldTable;

use crate::QueueError;
use crate::amqp::{self, short};
use crate::config::{QueueConfig, check_segment};

/// Messages ready for delivery in a segment's queue (deliveries held unacked by consumers
/// are not counted). [`QueueError::NotFound`] if the queue was never declared.
pub async fn queue_depth(config: &QueueConfig, segment: &str) -> Result<u32, QueueError> {
    check_segment(segment)?;
    let queue = config.names().segment_queue(segment);
    let connection = amqp::connect(config, "admin").await?;
    let result = async {
        let channel = amqp::channel(&connection, config).await?;
        // Passive: only reads the queue's state, so it works whatever its arguments are.
        let declared = tokio::time::timeout(
            config.connect_timeout,
            channel.queue_declare(
                short(&queue)?,
                QueueDeclareOptions {
                    passive: true,
                    ..QueueDeclareOptions::default()
                },
                FieldTable::default(),
            ),
        )
        .await
        .map_err(|_| {
            QueueError::Unavailable(format!(
                "queue.declare timed out after {:?}",
                config.connect_timeout
            ))
        })?;
        match declared {
            Ok(declared) => Ok(declared.message_count()),
            Err(error) if amqp::is_not_found(&error) => Err(QueueError::NotFound {
                queue: queue.clone(),
            }),
            Err(error) => Err(amqp::map_error("queue.declare", &error)),
        }
    }
    .await;
    amqp::close(&connection).await;
    result
}

/// Deletes the segment queues, the dead-letter queue and both exchanges of the config's
/// prefix, messages included. For tests and decommissioning; absent parts are skipped.
pub async fn delete_topology(config: &QueueConfig, segments: &[&str]) -> Result<(), QueueError> {
    let names = config.names();
    let connection = amqp::connect(config, "admin").await?;
    let result = async {
        let channel = amqp::channel(&connection, config).await?;
        let mut queues = Vec::with_capacity(segments.len() + 1);
        for segment in segments {
            check_segment(segment)?;
            queues.push(names.segment_queue(segment));
        }
        queues.push(names.dead_queue());
        for queue in queues {
            amqp::bounded(
                config,
                "queue.delete",
                channel.queue_delete(short(&queue)?, QueueDeleteOptions::default()),
            )
            .await?;
        }
        for exchange in [names.work_exchange(), names.dead_exchange()] {
            amqp::bounded(
                config,
                "exchange.delete",
                channel.exchange_delete(short(&exchange)?, ExchangeDeleteOptions::default()),
            )
            .await?;
        }
        Ok(())
    }
    .await;
    amqp::close(&connection).await;
    result
}

/// Messages ready in each of `segments`' queues, in order, over one connection. Queues
/// that do not exist yet are declared (with the arguments the relay would use on its first
/// publish), so a segment nothing was published to reads 0 instead of closing the channel
/// with a not-found error on every metrics round.
pub async fn segment_depths(
    config: &QueueConfig,
    segments: &[String],
) -> Result<Vec<u32>, QueueError> {
    let names = config.names();
    let connection = amqp::connect(config, "metrics").await?;
    let result = async {
        let channel = amqp::channel(&connection, config).await?;
        amqp::declare_base(&channel, config, &names).await?;
        let mut depths = Vec::with_capacity(segments.len());
        for segment in segments {
            depths.push(amqp::declare_segment(&channel, config, &names, segment).await?);
        }
        Ok(depths)
    }
    .await;
    amqp::close(&connection).await;
    result
}
