//! Stops and starts the local RabbitMQ application. Needs `rabbitmqctl` (root); skipped
//! otherwise. Under nextest it must run alone (see the crate's report for the override).

use std::process::Command;
use std::time::{Duration, Instant};

use opsconductor_queue::{Consumer, Publisher, QueueError, queue_depth};

use crate::helpers::{TestQueue, chunks, exclusive_broker, next};

fn rabbitmqctl(args: &[&str]) -> Result<(), String> {
    let output = Command::new("rabbitmqctl")
        .args(args)
        .output()
        .map_err(|e| format!("rabbitmqctl {args:?}: {e}"))?;
    if output.status.success() {
        Ok(())
    } else {
        Err(format!(
            "rabbitmqctl {args:?}: {}{}",
            String::from_utf8_lossy(&output.stdout),
            String::from_utf8_lossy(&output.stderr)
        ))
    }
}

/// Starts the broker application again however the test ends: on drop (also when the test
/// panics), and, should the process be killed before that (a harness timeout sends SIGKILL,
/// which runs no destructor), from a detached watchdog that acts only while the marker file
/// says the broker is still down on this test's account.
struct StartAppGuard {
    marker: std::path::PathBuf,
}

impl StartAppGuard {
    fn arm() -> Self {
        let marker = std::env::temp_dir().join(format!(
            "opsconductor-queue-rabbitmq-stopped-{}",
            std::process::id()
        ));
        std::fs::write(&marker, b"stop_app by the restart test\n").expect("marker file");
        let script = format!(
            "sleep 60; if [ -e '{0}' ]; then rabbitmqctl start_app; rm -f '{0}'; fi",
            marker.display()
        );
        let watchdog = Command::new("setsid")
            .args(["-f", "sh", "-c", &script])
            .stdin(std::process::Stdio::null())
            .stdout(std::process::Stdio::null())
            .stderr(std::process::Stdio::null())
            .status();
        if let Err(error) = watchdog {
            eprintln!("no watchdog for the rabbitmq restart: {error}");
        }
        Self { marker }
    }
}

impl Drop for StartAppGuard {
    fn drop(&mut self) {
        eprintln!("starting rabbitmq");
        match rabbitmqctl(&["start_app"]) {
            Ok(()) => {
                let _ = std::fs::remove_file(&self.marker);
            }
            Err(error) => eprintln!("could not restart rabbitmq (the watchdog retries): {error}"),
        }
    }
}

/// The restart only makes sense against the broker `rabbitmqctl` controls: this machine's.
fn broker_is_local() -> bool {
    let url = crate::helpers::amqp_url();
    url.contains("@127.0.0.1:") || url.contains("@localhost:") || url.contains("@[::1]:")
}

/// Waits until the broker accepts AMQP and serves the segment queue again.
async fn wait_until_serving(test: &TestQueue, segment: &str) {
    let deadline = Instant::now() + Duration::from_secs(90);
    loop {
        match queue_depth(&test.config, segment).await {
            Ok(_) => return,
            Err(error) if Instant::now() < deadline => {
                eprintln!("waiting for rabbitmq: {error}");
                tokio::time::sleep(Duration::from_millis(500)).await;
            }
            Err(error) => panic!("rabbitmq did not come back: {error}"),
        }
    }
}

// Multi-threaded so lapin's connections keep being served while `rabbitmqctl` blocks a
// thread: the broker waits for clients to acknowledge its connection.close on stop_app.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn publisher_reconnects_after_a_rabbitmq_restart_and_persisted_chunks_survive() {
    if !broker_is_local() {
        eprintln!("skipped: the test broker is not on this machine");
        return;
    }
    if let Err(error) = rabbitmqctl(&["status"]) {
        eprintln!("skipped: rabbitmqctl unusable here: {error}");
        return;
    }
    let _exclusive = exclusive_broker().await;
    let test = TestQueue::unlocked(&["dc1"]);
    let publisher = Publisher::connect(&test.config).await.unwrap();
    publisher.ensure_segment("dc1").await.unwrap();
    let before = chunks("dc1", 3);
    publisher.publish_chunks(&before).await.unwrap();

    {
        let _start_again = StartAppGuard::arm();
        eprintln!("stopping rabbitmq");
        tokio::task::spawn_blocking(|| rabbitmqctl(&["stop_app"]))
            .await
            .unwrap()
            .unwrap();
        eprintln!("rabbitmq stopped");
        let after_stop = chunks("dc1", 1);
        let error = publisher.publish_chunks(&after_stop).await.unwrap_err();
        assert!(matches!(error, QueueError::Unavailable(_)), "{error}");
    }
    wait_until_serving(&test, "dc1").await;

    let after = chunks("dc1", 2);
    publisher
        .publish_chunks(&after)
        .await
        .expect("the publisher reconnects on its next call");

    assert_eq!(queue_depth(&test.config, "dc1").await.unwrap(), 5);
    let mut consumer = Consumer::connect(&test.config, "dc1").await.unwrap();
    for (chunk_id, _, payload) in before.iter().chain(&after) {
        let delivery = next(&mut consumer).await;
        assert_eq!(&delivery.chunk_id, chunk_id);
        assert_eq!(&delivery.payload, payload);
        delivery.ack().await.unwrap();
    }
    consumer.close().await;
    publisher.close().await;
}
