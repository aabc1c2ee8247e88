//! Integration tests of the agent against the real RabbitMQ on loopback
//! (`OPSCONDUCTOR_TEST_AMQP_URL`, default guest@127.0.0.1:5672; each test under a random
//! queue prefix) and an in-test stand-in for the controller's `AgentService`. Actions run
//! for real against 127.x addresses: `tcp_port` against a local banner server, `ping`
//! (needs raw ICMP, i.e. root or CAP_NET_RAW, here).

#![allow(clippy::unwrap_used, clippy::expect_used)]

mod controller;
mod execution;
mod helpers;
mod identity;
mod outages;
