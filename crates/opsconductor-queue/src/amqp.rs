//! Connecting, declaring the topology and translating lapin's errors. Everything lapin-specific
//! that more than one module needs lives here.

use std::sync::atomic::{AtomicU64, Ordering};

use lapin::options::{
    BasicConsumeOptions, BasicQosOptions, ExchangeDeclareOptions, QueueBindOptions,
    QueueDeclareOptions,
};
use lapin::protocol::{AMQPErrorKind, AMQPSoftError};
use lapin::types::{AMQPValue, FieldTable, LongString, ShortString};
use lapin::uri::AMQPUri;
use lapin::{Channel, Connection, ConnectionProperties, ErrorKind, ExchangeKind};

use crate::QueueError;
use crate::config::{Names, QueueConfig, check_segment, redact_url};

/// Opens a connection within `connect_timeout`, with the configured heartbeat.
///
/// Automatic recovery stays off: with it lapin retries the first connect for minutes and
/// replays topology behind our back. Callers own reconnection instead (the publisher on its
/// next call, agents through [`crate::backoff`]), which keeps every failure visible.
pub(crate) async fn connect(config: &QueueConfig, role: &str) -> Result<Connection, QueueError> {
    config.validate()?;
    let shown = redact_url(&config.url);
    let mut uri: AMQPUri = config
        .url
        .parse()
        .map_err(|e: String| QueueError::Config(format!("url {shown}: {e}")))?;
    uri.query.heartbeat = Some(config.heartbeat_secs);
    uri.query.connection_timeout =
        Some(u64::try_from(config.connect_timeout.as_millis()).unwrap_or(u64::MAX));
    let properties =
        ConnectionProperties::default().with_connection_name(format!("opsconductor-{role}").into());
    match tokio::time::timeout(
        config.connect_timeout,
        Connection::connect_uri(uri, properties),
    )
    .await
    {
        Ok(Ok(connection)) => Ok(connection),
        Ok(Err(error)) => Err(QueueError::Unavailable(format!(
            "connecting to {shown}: {error}"
        ))),
        Err(_) => Err(QueueError::Unavailable(format!(
            "connecting to {shown} timed out after {:?}",
            config.connect_timeout
        ))),
    }
}

/// Opens a channel, bounded like the connect: a broker that accepted TCP but stalls must not
/// hang start-up.
pub(crate) async fn channel(
    connection: &Connection,
    config: &QueueConfig,
) -> Result<Channel, QueueError> {
    bounded(config, "channel.open", connection.create_channel()).await
}

/// Runs one broker round trip within `connect_timeout`.
pub(crate) async fn bounded<T>(
    config: &QueueConfig,
    operation: &'static str,
    future: impl Future<Output = lapin::Result<T>>,
) -> Result<T, QueueError> {
    match tokio::time::timeout(config.connect_timeout, future).await {
        Ok(result) => result.map_err(|e| map_error(operation, &e)),
        Err(_) => Err(QueueError::Unavailable(format!(
            "{operation} timed out after {:?}",
            config.connect_timeout
        ))),
    }
}

/// Closes a connection politely so the broker requeues unacked deliveries at once rather
/// than after a heartbeat timeout. Errors are moot: the connection is gone either way.
pub(crate) async fn close(connection: &Connection) {
    if connection.status().connected()
        && let Err(error) = connection.close(200, "closing".into()).await
    {
        tracing::debug!(error = %error, "closing amqp connection");
    }
}

/// Declares what every role needs: both exchanges and the dead-letter queue.
pub(crate) async fn declare_base(
    channel: &Channel,
    config: &QueueConfig,
    names: &Names,
) -> Result<(), QueueError> {
    let durable = ExchangeDeclareOptions {
        durable: true,
        ..ExchangeDeclareOptions::default()
    };
    // Fanout: every segment's dead letters land in one queue; the segment travels as the
    // dead-letter routing key.
    bounded(
        config,
        "exchange.declare",
        channel.exchange_declare(
            short(&names.dead_exchange())?,
            ExchangeKind::Fanout,
            durable,
            FieldTable::default(),
        ),
    )
    .await?;
    let mut dead_args = FieldTable::default();
    dead_args.insert("x-queue-type".into(), text("quorum"));
    bounded(
        config,
        "queue.declare",
        channel.queue_declare(
            short(&names.dead_queue())?,
            QueueDeclareOptions::durable(),
            dead_args,
        ),
    )
    .await?;
    bounded(
        config,
        "queue.bind",
        channel.queue_bind(
            short(&names.dead_queue())?,
            short(&names.dead_exchange())?,
            "".into(),
            QueueBindOptions::default(),
            FieldTable::default(),
        ),
    )
    .await?;
    bounded(
        config,
        "exchange.declare",
        channel.exchange_declare(
            short(&names.work_exchange())?,
            ExchangeKind::Direct,
            durable,
            FieldTable::default(),
        ),
    )
    .await
}

/// The arguments of a segment queue. All are explicit because broker defaults changed
/// between RabbitMQ 3.x and 4.x (4.x sets a delivery limit of 20 by itself).
pub(crate) fn segment_queue_arguments(
    config: &QueueConfig,
    names: &Names,
    segment: &str,
) -> FieldTable {
    let mut args = FieldTable::default();
    args.insert("x-queue-type".into(), text("quorum"));
    args.insert(
        "x-delivery-limit".into(),
        AMQPValue::LongLongInt(i64::from(config.delivery_limit)),
    );
    args.insert(
        "x-dead-letter-exchange".into(),
        text(&names.dead_exchange()),
    );
    args.insert("x-dead-letter-routing-key".into(), text(segment));
    // At-least-once dead-lettering keeps a dead letter in the segment queue until the dead
    // queue has confirmed it (the default drops it if that hand-over fails); RabbitMQ only
    // allows it together with reject-publish overflow.
    args.insert("x-dead-letter-strategy".into(), text("at-least-once"));
    args.insert("x-overflow".into(), text("reject-publish"));
    args
}

/// Declares one segment's queue and binds it to the work exchange under the segment name;
/// returns the messages ready in it.
pub(crate) async fn declare_segment(
    channel: &Channel,
    config: &QueueConfig,
    names: &Names,
    segment: &str,
) -> Result<u32, QueueError> {
    check_segment(segment)?;
    let queue = short(&names.segment_queue(segment))?;
    let declared = bounded(
        config,
        "queue.declare",
        channel.queue_declare(
            queue.clone(),
            QueueDeclareOptions::durable(),
            segment_queue_arguments(config, names, segment),
        ),
    )
    .await?;
    bounded(
        config,
        "queue.bind",
        channel.queue_bind(
            queue,
            short(&names.work_exchange())?,
            short(segment)?,
            QueueBindOptions::default(),
            FieldTable::default(),
        ),
    )
    .await?;
    Ok(declared.message_count())
}

/// Starts a manual-ack consumer on `queue` with `prefetch` unacked deliveries at most.
pub(crate) async fn consume(
    channel: &Channel,
    config: &QueueConfig,
    queue: &str,
    role: &str,
) -> Result<lapin::Consumer, QueueError> {
    // Per-consumer limit (global = false): the usual meaning of prefetch on RabbitMQ.
    bounded(
        config,
        "basic.qos",
        channel.basic_qos(config.prefetch, BasicQosOptions { global: false }),
    )
    .await?;
    bounded(
        config,
        "basic.consume",
        channel.basic_consume(
            short(queue)?,
            consumer_tag(role).into(),
            BasicConsumeOptions {
                no_ack: false,
                ..BasicConsumeOptions::default()
            },
            FieldTable::default(),
        ),
    )
    .await
}

/// A tag unique within the process, readable in `rabbitmqctl list_consumers`.
fn consumer_tag(role: &str) -> String {
    static NEXT: AtomicU64 = AtomicU64::new(1);
    format!(
        "opsconductor-{role}-{}-{}",
        std::process::id(),
        NEXT.fetch_add(1, Ordering::Relaxed)
    )
}

/// Translates a lapin error. Channel-level refusals (bad arguments, missing queue) are the
/// broker's answer on a healthy connection; everything else means the connection is unusable.
pub(crate) fn map_error(operation: &'static str, error: &lapin::Error) -> QueueError {
    match error.kind() {
        ErrorKind::ProtocolError(amqp) if matches!(amqp.kind(), AMQPErrorKind::Soft(_)) => {
            QueueError::Refused {
                operation,
                message: amqp.get_message().to_string(),
            }
        }
        _ => QueueError::Unavailable(format!("{operation}: {error}")),
    }
}

/// Whether `error` is the broker saying a queue does not exist.
pub(crate) fn is_not_found(error: &lapin::Error) -> bool {
    matches!(
        error.kind(),
        ErrorKind::ProtocolError(amqp)
            if matches!(amqp.kind(), AMQPErrorKind::Soft(AMQPSoftError::NOTFOUND))
    )
}

/// An AMQP short string, or an error instead of lapin's panic on more than 255 bytes.
pub(crate) fn short(value: &str) -> Result<ShortString, QueueError> {
    ShortString::try_new(value).map_err(|e| QueueError::Config(format!("name {value:.64}…: {e}")))
}

fn text(value: &str) -> AMQPValue {
    AMQPValue::LongString(LongString::from(value))
}

/// Reads an integer header whatever integer width the broker chose to send.
pub(crate) fn header_u64(headers: Option<&FieldTable>, key: &str) -> Option<u64> {
    as_u64(headers?.inner().get(key)?)
}

pub(crate) fn as_u64(value: &AMQPValue) -> Option<u64> {
    match *value {
        AMQPValue::ShortShortInt(v) => u64::try_from(v).ok(),
        AMQPValue::ShortShortUInt(v) => Some(u64::from(v)),
        AMQPValue::ShortInt(v) => u64::try_from(v).ok(),
        AMQPValue::ShortUInt(v) => Some(u64::from(v)),
        AMQPValue::LongInt(v) => u64::try_from(v).ok(),
        AMQPValue::LongUInt(v) => Some(u64::from(v)),
        AMQPValue::LongLongInt(v) => u64::try_from(v).ok(),
        AMQPValue::Timestamp(v) => Some(v),
        _ => None,
    }
}

/// Reads a string-ish header value (RabbitMQ sends long strings; short ones are accepted).
pub(crate) fn as_text(value: &AMQPValue) -> Option<String> {
    match value {
        AMQPValue::LongString(s) => Some(String::from_utf8_lossy(s.as_bytes()).into_owned()),
        AMQPValue::ShortString(s) => Some(s.as_str().to_owned()),
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn segment_queue_arguments_are_all_explicit() {
        let config = QueueConfig {
            delivery_limit: 7,
            ..QueueConfig::default()
        };
        let args = segment_queue_arguments(&config, &config.names(), "dc1");
        let get = |k: &str| args.inner().get(k).cloned();
        assert_eq!(
            get("x-queue-type").as_ref().and_then(as_text).as_deref(),
            Some("quorum")
        );
        assert_eq!(get("x-delivery-limit").as_ref().and_then(as_u64), Some(7));
        assert_eq!(
            get("x-dead-letter-exchange")
                .as_ref()
                .and_then(as_text)
                .as_deref(),
            Some("oc.dead")
        );
        assert_eq!(
            get("x-dead-letter-routing-key")
                .as_ref()
                .and_then(as_text)
                .as_deref(),
            Some("dc1")
        );
    }

    #[test]
    fn over_long_names_are_errors_not_panics() {
        assert!(short(&"x".repeat(256)).is_err());
        assert!(short(&"x".repeat(255)).is_ok());
    }

    #[test]
    fn integer_headers_of_any_width_are_read() {
        assert_eq!(as_u64(&AMQPValue::LongLongInt(3)), Some(3));
        assert_eq!(as_u64(&AMQPValue::LongInt(-1)), None);
        assert_eq!(as_u64(&AMQPValue::ShortShortUInt(9)), Some(9));
        assert_eq!(as_u64(&text("3")), None);
    }
}
