//! Integration tests. The conformance suite runs every behaviour callers rely on against
//! both backends: the real RabbitMQ on loopback (`OPSCONDUCTOR_TEST_AMQP_URL`, default
//! guest@127.0.0.1:5672; each test declares its own topology under a random prefix and
//! deletes it at the end) and the in-process broker. The other files cover what only one
//! backend has.

#![expect(
    clippy::unwrap_used,
    reason = "the conformance tests are generic functions, not #[test]s, and fail loudly too"
)]

mod backends;
mod chaos;
mod conformance;
mod helpers;
mod in_process;
mod outage;
mod rabbitmq;
mod restart;
