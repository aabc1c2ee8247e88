//! A fault-injecting TCP proxy in front of the broker: outages for one test's connections
//! without touching the shared RabbitMQ.

use std::net::SocketAddr;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};

use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::watch;
use tokio::task::JoinHandle;

pub struct ChaosProxy {
    addr: SocketAddr,
    silent: Arc<AtomicBool>,
    cut: watch::Sender<u64>,
    accept: JoinHandle<()>,
}

impl ChaosProxy {
    /// A proxy in front of the test broker.
    pub async fn start() -> Self {
        let uri: lapin::uri::AMQPUri = crate::helpers::amqp_url().parse().expect("test url");
        let upstream = tokio::net::lookup_host((uri.authority.host.as_str(), uri.authority.port))
            .await
            .expect("broker address resolves")
            .next()
            .expect("broker has an address");
        Self::start_to(upstream).await
    }

    async fn start_to(upstream: SocketAddr) -> Self {
        let listener = TcpListener::bind("127.0.0.1:0").await.expect("proxy binds");
        let addr = listener.local_addr().expect("proxy address");
        let silent = Arc::new(AtomicBool::new(false));
        let (cut, cuts) = watch::channel(0u64);
        let accept = tokio::spawn({
            let silent = silent.clone();
            async move {
                while let Ok((client, _)) = listener.accept().await {
                    let Ok(server) = TcpStream::connect(upstream).await else {
                        continue;
                    };
                    tokio::spawn(relay(client, server, silent.clone(), cuts.clone()));
                }
            }
        });
        Self {
            addr,
            silent,
            cut,
            accept,
        }
    }

    /// The test broker's AMQP URL, through the proxy.
    pub fn url(&self) -> String {
        let mut uri: lapin::uri::AMQPUri = crate::helpers::amqp_url().parse().expect("test url");
        uri.authority.host = self.addr.ip().to_string();
        uri.authority.port = self.addr.port();
        uri.to_string()
    }

    /// Keeps every connection open but drops all bytes both ways (a dead peer, as after a
    /// network partition: no FIN, no RST).
    pub fn go_silent(&self, silent: bool) {
        self.silent.store(silent, Ordering::SeqCst);
    }

    /// Closes every open connection at once (as a broker crash would); new ones still work.
    pub fn cut_connections(&self) {
        self.cut.send_modify(|generation| *generation += 1);
    }
}

impl Drop for ChaosProxy {
    fn drop(&mut self) {
        self.accept.abort();
        self.cut_connections();
    }
}

async fn relay(
    mut client: TcpStream,
    mut server: TcpStream,
    silent: Arc<AtomicBool>,
    mut cuts: watch::Receiver<u64>,
) {
    cuts.borrow_and_update();
    let (mut client_read, mut client_write) = client.split();
    let (mut server_read, mut server_write) = server.split();
    let mut up = [0u8; 16 * 1024];
    let mut down = [0u8; 16 * 1024];
    loop {
        tokio::select! {
            _ = cuts.changed() => return,
            read = client_read.read(&mut up) => match read {
                Ok(0) | Err(_) => return,
                Ok(n) => {
                    if !silent.load(Ordering::SeqCst) && server_write.write_all(&up[..n]).await.is_err() {
                        return;
                    }
                }
            },
            read = server_read.read(&mut down) => match read {
                Ok(0) | Err(_) => return,
                Ok(n) => {
                    if !silent.load(Ordering::SeqCst) && client_write.write_all(&down[..n]).await.is_err() {
                        return;
                    }
                }
            },
        }
    }
}
