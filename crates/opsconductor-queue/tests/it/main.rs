//! Integration tests against the real RabbitMQ on loopback (`OPSCONDUCTOR_TEST_AMQP_URL`,
//! default guest@127.0.0.1:5672). Each test declares its own topology under a random prefix
//! and deletes it at the end.

mod chaos;
mod dead_letters;
mod delivery;
mod helpers;
mod outage;
mod publish;
mod restart;
