//! Real protocol servers for discovery scans, each on a loopback address of the test's
//! choosing (127.0.0.0/8 is all routed to `lo`), so one scan of 127.0.0.0/24 finds several
//! distinct hosts: net-snmp `snmpd` (UDP), OpenSSH `sshd` (banner only) and a tiny HTTP/1.1
//! server. Each keeps its configuration and state in a tempdir of its own, is a child of the
//! test (stopped by its own handle, never by name) and stops on `stop()` or drop.
//!
//! Needs root (sshd) and scripts/install-deps.sh (`snmpd`, `snmp`, `openssh-server`).

use std::fmt::Write as _;
use std::net::{Ipv4Addr, SocketAddr};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::Duration;

use tokio::io::{AsyncBufReadExt, AsyncReadExt, AsyncWriteExt, BufReader};
use tokio::net::TcpStream;
use tokio::time::{Instant, sleep, timeout};

const SNMPD: &str = "/usr/sbin/snmpd";
const SNMPGET: &str = "snmpget";
/// sshd must be started by its absolute path (it re-executes itself per connection).
const SSHD: &str = "/usr/sbin/sshd";
const SSH_KEYGEN: &str = "/usr/bin/ssh-keygen";
/// How long `start` waits for a server to answer.
const DEADLINE: Duration = Duration::from_secs(20);
/// sysName's OID (SNMPv2-MIB::sysName.0).
const SYS_NAME_OID: &str = "1.3.6.1.2.1.1.5.0";

/// The last lines of a log file (for panic messages).
fn tail(path: &Path) -> String {
    let text = std::fs::read_to_string(path).unwrap_or_default();
    let lines: Vec<&str> = text.lines().collect();
    lines[lines.len().saturating_sub(40)..].join("\n")
}

/// A log file for a child's stdout and stderr.
fn log_file(path: &Path) -> (Stdio, Stdio) {
    let file = std::fs::File::create(path).unwrap();
    let copy = file.try_clone().unwrap();
    (Stdio::from(file), Stdio::from(copy))
}

/// SIGKILLs and reaps a child this module started (by its handle: its PID, nothing else).
fn kill_child(child: &mut Option<Child>) {
    if let Some(mut child) = child.take() {
        // An already exited child is fine: `wait` reaps it either way.
        let _ = child.kill();
        let _ = child.wait();
    }
}

/// Panics with `what` and the log unless the child still runs.
fn assert_running(child: &mut Child, what: &str, log: &Path) {
    if let Some(status) = child.try_wait().unwrap() {
        panic!("{what} exited with {status}:\n{}", tail(log));
    }
}

/// The sysName of the SNMP agent at `addr:port` (one `snmpget`, 1 s timeout, no retry), or
/// `None` if it does not answer. `client_dir` keeps the client's own state (no system
/// configuration or MIBs are read).
pub async fn snmp_sys_name(
    addr: Ipv4Addr,
    port: u16,
    community: &str,
    client_dir: &Path,
) -> Option<String> {
    std::fs::create_dir_all(client_dir).unwrap();
    let output = tokio::process::Command::new(SNMPGET)
        .env("SNMP_PERSISTENT_DIR", client_dir)
        .env("SNMPCONFPATH", client_dir)
        .env("MIBS", "")
        .args([
            "-m", "", "-v2c", "-c", community, "-t", "1", "-r", "0", "-On", "-Oqv",
        ])
        .arg(format!("{addr}:{port}"))
        .arg(SYS_NAME_OID)
        .stdin(Stdio::null())
        .kill_on_drop(true)
        .output()
        .await
        .expect("running snmpget (scripts/install-deps.sh installs the snmp package)");
    if !output.status.success() {
        return None;
    }
    let text = String::from_utf8_lossy(&output.stdout);
    Some(text.trim().trim_matches('"').to_owned())
}

/// The first line the server at `addr` sends (2 s to connect and to read), e.g. an SSH
/// banner; `None` if it refuses, closes or stays silent.
pub async fn first_line(addr: SocketAddr) -> Option<String> {
    let stream = timeout(Duration::from_secs(2), TcpStream::connect(addr))
        .await
        .ok()?
        .ok()?;
    let mut line = String::new();
    let read = timeout(
        Duration::from_secs(2),
        BufReader::new(stream).read_line(&mut line),
    )
    .await
    .ok()?
    .ok()?;
    (read > 0).then(|| line.trim_end().to_owned())
}

/// `GET /` on `addr` (HTTP/1.1, `Connection: close`, 2 s per step): the whole response
/// (status line, headers and body), or `None` if the connection fails.
pub async fn http_get(addr: SocketAddr) -> Option<String> {
    let mut stream = timeout(Duration::from_secs(2), TcpStream::connect(addr))
        .await
        .ok()?
        .ok()?;
    let request = format!("GET / HTTP/1.1\r\nHost: {addr}\r\nConnection: close\r\n\r\n");
    timeout(Duration::from_secs(2), stream.write_all(request.as_bytes()))
        .await
        .ok()?
        .ok()?;
    let mut response = Vec::new();
    timeout(Duration::from_secs(2), stream.read_to_end(&mut response))
        .await
        .ok()?
        .ok()?;
    Some(String::from_utf8_lossy(&response).into_owned())
}

/// net-snmp snmpd on `addr:port` (UDP), v2c community `community`, with sysName `sys_name`
/// and sysLocation "e2e lab"; its own config/state in a tempdir; `-f` foreground child.
pub struct Snmpd {
    child: Option<Child>,
    pub addr: SocketAddr,
    /// The config, persistent state, log and snmpget's client state.
    dir: tempfile::TempDir,
}

impl Snmpd {
    pub async fn start(addr: Ipv4Addr, port: u16, community: &str, sys_name: &str) -> Self {
        let dir = tempfile::tempdir().unwrap();
        let persist = dir.path().join("persist");
        std::fs::create_dir_all(&persist).unwrap();
        let conf = dir.path().join("snmpd.conf");
        let log = dir.path().join("snmpd.log");
        std::fs::write(
            &conf,
            format!(
                "agentAddress udp:{addr}:{port}\n\
                 persistentDir {persist}\n\
                 sysName {sys_name}\n\
                 sysLocation e2e lab\n\
                 sysContact OpsConductor e2e <oc-e2e@localhost>\n\
                 sysServices 72\n\
                 rocommunity {community} 127.0.0.0/8\n\
                 dontLogTCPWrappersConnects yes\n",
                persist = persist.display(),
            ),
        )
        .unwrap();
        let (stdout, stderr) = log_file(&log);
        // -f: foreground (the child is the daemon); -C: no system configuration files;
        // -I -smux: no SMUX listener on tcp :199; -Le: log to stderr (the log file).
        let child = Command::new(SNMPD)
            .env("SNMP_PERSISTENT_DIR", &persist)
            .env("SNMPCONFPATH", &persist)
            .env("MIBS", "")
            .arg("-f")
            .arg("-C")
            .arg("-c")
            .arg(&conf)
            .args(["-I", "-smux", "-Le", "-p"])
            .arg(dir.path().join("snmpd.pid"))
            .stdin(Stdio::null())
            .stdout(stdout)
            .stderr(stderr)
            .spawn()
            .expect("starting /usr/sbin/snmpd (scripts/install-deps.sh installs it)");
        let mut server = Self {
            child: Some(child),
            addr: SocketAddr::from((addr, port)),
            dir,
        };
        let what = format!("snmpd on udp {}", server.addr);
        let client = server.dir.path().join("client");
        let deadline = Instant::now() + DEADLINE;
        loop {
            let answer = snmp_sys_name(addr, port, community, &client).await;
            if answer.as_deref() == Some(sys_name) {
                return server;
            }
            assert_running(server.child.as_mut().unwrap(), &what, &log);
            assert!(
                Instant::now() < deadline,
                "{what} did not answer an SNMP GET of sysName within {DEADLINE:?} \
                 (last answer: {answer:?}):\n{}",
                tail(&log)
            );
            sleep(Duration::from_millis(100)).await;
        }
    }

    /// SIGKILLs snmpd and reaps it: the UDP port is closed once this returns.
    pub fn stop(&mut self) {
        kill_child(&mut self.child);
    }
}

impl Drop for Snmpd {
    fn drop(&mut self) {
        self.stop();
    }
}

/// OpenSSH sshd on `addr:port` with a fresh ed25519 host key in a tempdir (foreground `-D`,
/// `-e`), no logins needed (the scan only reads the banner).
pub struct Sshd {
    child: Option<Child>,
    pub addr: SocketAddr,
    /// The config, host key, pidfile and log (kept until the server is dropped).
    _dir: tempfile::TempDir,
}

impl Sshd {
    pub async fn start(addr: Ipv4Addr, port: u16) -> Self {
        let dir = tempfile::tempdir().unwrap();
        let key = dir.path().join("host_ed25519");
        let conf = dir.path().join("sshd_config");
        let log = dir.path().join("sshd.log");
        let keygen = Command::new(SSH_KEYGEN)
            .args(["-q", "-t", "ed25519", "-N", "", "-C", "oc-e2e-sshd", "-f"])
            .arg(&key)
            .stdin(Stdio::null())
            .output()
            .expect("running ssh-keygen");
        assert!(
            keygen.status.success(),
            "ssh-keygen: {}",
            String::from_utf8_lossy(&keygen.stderr)
        );
        // Privilege separation directory (root-owned, not group/world writable).
        let privsep = PathBuf::from("/run/sshd");
        if !privsep.is_dir() {
            std::fs::create_dir_all(&privsep).unwrap();
            use std::os::unix::fs::PermissionsExt;
            std::fs::set_permissions(&privsep, std::fs::Permissions::from_mode(0o755)).unwrap();
        }
        let mut config = format!(
            "ListenAddress {addr}:{port}\n\
             HostKey {key}\n\
             PidFile {pid}\n\
             UsePAM no\n\
             PasswordAuthentication no\n\
             KbdInteractiveAuthentication no\n\
             AuthorizedKeysFile none\n\
             PermitRootLogin no\n\
             StrictModes no\n\
             UseDNS no\n\
             PrintMotd no\n\
             LoginGraceTime 10\n\
             MaxStartups 100:30:200\n\
             LogLevel VERBOSE\n",
            key = key.display(),
            pid = dir.path().join("sshd.pid").display(),
        );
        std::fs::write(&conf, &config).unwrap();
        // OpenSSH >= 9.8 penalises sources whose connections end without logging in, which
        // is what a banner grab does: off where the option exists.
        let penalties = Command::new(SSHD)
            .arg("-t")
            .arg("-f")
            .arg(&conf)
            .args(["-o", "PerSourcePenalties=no"])
            .stdin(Stdio::null())
            .output()
            .unwrap();
        if penalties.status.success() {
            config.push_str("PerSourcePenalties no\n");
            std::fs::write(&conf, &config).unwrap();
        }
        let (stdout, stderr) = log_file(&log);
        let child = Command::new(SSHD)
            .args(["-D", "-e", "-f"])
            .arg(&conf)
            .stdin(Stdio::null())
            .stdout(stdout)
            .stderr(stderr)
            .spawn()
            .expect("starting /usr/sbin/sshd (scripts/install-deps.sh installs it)");
        let mut server = Self {
            child: Some(child),
            addr: SocketAddr::from((addr, port)),
            _dir: dir,
        };
        let what = format!("sshd on tcp {}", server.addr);
        let deadline = Instant::now() + DEADLINE;
        loop {
            let line = first_line(server.addr).await;
            if line.as_deref().is_some_and(|l| l.starts_with("SSH-")) {
                return server;
            }
            assert_running(server.child.as_mut().unwrap(), &what, &log);
            assert!(
                Instant::now() < deadline,
                "{what} did not send an SSH banner within {DEADLINE:?} (last line: {line:?}):\n{}",
                tail(&log)
            );
            sleep(Duration::from_millis(100)).await;
        }
    }

    /// SIGKILLs the listening sshd and reaps it: the port refuses connections once this
    /// returns.
    pub fn stop(&mut self) {
        kill_child(&mut self.child);
    }
}

impl Drop for Sshd {
    fn drop(&mut self) {
        self.stop();
    }
}

/// A tiny HTTP/1.1 server on `addr:port` answering every GET with 200, header
/// `Server: <server>` and an HTML page whose <title> is `title`.
///
/// It serves on a thread of its own (a current-thread runtime), so `stop` can wait until
/// the listener and every connection are really closed, whatever runtime the test uses.
pub struct WebServer {
    pub addr: SocketAddr,
    shutdown: Option<tokio::sync::oneshot::Sender<()>>,
    thread: Option<std::thread::JoinHandle<()>>,
}

/// `<`, `>`, `&` and `"` as HTML entities.
fn html_escape(text: &str) -> String {
    text.chars().fold(String::new(), |mut out, c| {
        match c {
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '&' => out.push_str("&amp;"),
            '"' => out.push_str("&quot;"),
            c => out.push(c),
        }
        out
    })
}

/// Reads one request head and answers it; the connection is closed after the response.
async fn serve_connection(mut stream: TcpStream, server: &str, page: &str) {
    let mut head = Vec::new();
    let mut buf = [0_u8; 2048];
    let complete = timeout(Duration::from_secs(5), async {
        while !head.windows(4).any(|w| w == b"\r\n\r\n") && head.len() < 16 * 1024 {
            match stream.read(&mut buf).await {
                Ok(0) | Err(_) => return false,
                Ok(n) => head.extend_from_slice(&buf[..n]),
            }
        }
        true
    })
    .await
    .unwrap_or(false);
    if !complete {
        return;
    }
    let method = head
        .split(|b| *b == b' ')
        .next()
        .map(|m| String::from_utf8_lossy(m).into_owned())
        .unwrap_or_default();
    // HEAD gets GET's headers (its Content-Length included) without the body.
    let (status, length, body) = match method.as_str() {
        "GET" => ("200 OK", page.len(), page),
        "HEAD" => ("200 OK", page.len(), ""),
        _ => ("405 Method Not Allowed", 0, ""),
    };
    let mut response = format!("HTTP/1.1 {status}\r\nServer: {server}\r\n");
    if status.starts_with("405") {
        response.push_str("Allow: GET, HEAD\r\n");
    }
    let _ = write!(
        response,
        "Content-Type: text/html; charset=utf-8\r\nContent-Length: {length}\r\n\
         Connection: close\r\n\r\n{body}"
    );
    let _ = stream.write_all(response.as_bytes()).await;
    let _ = stream.shutdown().await;
}

impl WebServer {
    pub async fn start(addr: Ipv4Addr, port: u16, server: &str, title: &str) -> Self {
        assert!(
            !server.contains(['\r', '\n']),
            "the Server header must be one line: {server:?}"
        );
        let socket = SocketAddr::from((addr, port));
        let listener = std::net::TcpListener::bind(socket)
            .unwrap_or_else(|e| panic!("web server: binding tcp {socket}: {e}"));
        listener.set_nonblocking(true).unwrap();
        let title = html_escape(title);
        let page = format!(
            "<!DOCTYPE html>\n<html><head><meta charset=\"utf-8\"><title>{title}</title></head>\n\
             <body><h1>{title}</h1><p>OpsConductor e2e web server</p></body></html>\n"
        );
        let server_header = server.to_owned();
        let (shutdown, mut stopped) = tokio::sync::oneshot::channel::<()>();
        let thread = std::thread::Builder::new()
            .name(format!("e2e-web-{socket}"))
            .spawn(move || {
                let runtime = tokio::runtime::Builder::new_current_thread()
                    .enable_all()
                    .build()
                    .unwrap();
                runtime.block_on(async move {
                    let listener = tokio::net::TcpListener::from_std(listener).unwrap();
                    let mut connections = tokio::task::JoinSet::new();
                    loop {
                        tokio::select! {
                            _ = &mut stopped => break,
                            accepted = listener.accept() => {
                                if let Ok((stream, _)) = accepted {
                                    let (server, page) = (server_header.clone(), page.clone());
                                    connections.spawn(async move {
                                        serve_connection(stream, &server, &page).await;
                                    });
                                }
                            }
                            Some(_) = connections.join_next(), if !connections.is_empty() => {}
                        }
                    }
                    // Closes the port, then every open connection.
                    drop(listener);
                    connections.shutdown().await;
                });
            })
            .unwrap();
        let web = Self {
            addr: socket,
            shutdown: Some(shutdown),
            thread: Some(thread),
        };
        let deadline = Instant::now() + DEADLINE;
        loop {
            let response = http_get(socket).await;
            if response
                .as_deref()
                .is_some_and(|r| r.starts_with("HTTP/1.1 200 "))
            {
                return web;
            }
            assert!(
                !web.thread.as_ref().unwrap().is_finished(),
                "web server on tcp {socket} stopped (its thread ended)"
            );
            assert!(
                Instant::now() < deadline,
                "web server on tcp {socket} did not answer GET / with 200 within {DEADLINE:?} \
                 (last response: {response:?})"
            );
            sleep(Duration::from_millis(100)).await;
        }
    }

    /// Stops serving and waits until the listener and every connection are closed: the
    /// port refuses connections once this returns.
    pub fn stop(&mut self) {
        if let Some(shutdown) = self.shutdown.take() {
            let _ = shutdown.send(());
        }
        if let Some(thread) = self.thread.take() {
            // A panic of the server thread is not ours to re-raise here (`stop` runs in
            // `Drop`, possibly while the test is already panicking).
            let _ = thread.join();
        }
    }
}

impl Drop for WebServer {
    fn drop(&mut self) {
        self.stop();
    }
}

/// The three servers on addresses and ports of their own (not those of `scans`): each
/// answers its protocol while it runs and not at all once stopped.
#[tokio::test]
async fn loopback_discovery_servers_start_and_stop() {
    let snmp_addr = Ipv4Addr::new(127, 0, 0, 31);
    let ssh_addr = Ipv4Addr::new(127, 0, 0, 32);
    let web_addr = Ipv4Addr::new(127, 0, 0, 33);
    let (snmp_port, ssh_port, web_port) = (16191, 12291, 18291);
    let client = tempfile::tempdir().unwrap();

    let mut snmpd = Snmpd::start(snmp_addr, snmp_port, "oc-smoke", "oc-smoke-snmpd").await;
    let mut sshd = Sshd::start(ssh_addr, ssh_port).await;
    let mut web = WebServer::start(web_addr, web_port, "oc-smoke-web/0.1", "Smoke <Lab>").await;

    // snmpd: the sysName over v2c (and nothing for a wrong community).
    let name = snmp_sys_name(snmp_addr, snmp_port, "oc-smoke", client.path()).await;
    assert_eq!(name.as_deref(), Some("oc-smoke-snmpd"));
    let wrong = snmp_sys_name(snmp_addr, snmp_port, "not-it", client.path()).await;
    assert_eq!(wrong, None);
    // sshd: an OpenSSH banner.
    let banner = first_line(sshd.addr).await.unwrap();
    assert!(banner.starts_with("SSH-2.0-OpenSSH"), "{banner}");
    // web: curl (as a scanner's HTTP client would) sees the status, header and title.
    let curl = tokio::process::Command::new("curl")
        .args(["--noproxy", "*", "-sS", "-i", "--max-time", "5"])
        .arg(format!("http://{}/", web.addr))
        .output()
        .await
        .unwrap();
    let page = String::from_utf8_lossy(&curl.stdout);
    assert!(
        curl.status.success(),
        "curl: {}",
        String::from_utf8_lossy(&curl.stderr)
    );
    assert!(page.starts_with("HTTP/1.1 200 OK\r\n"), "{page}");
    assert!(page.contains("\r\nServer: oc-smoke-web/0.1\r\n"), "{page}");
    assert!(page.contains("<title>Smoke &lt;Lab&gt;</title>"), "{page}");

    snmpd.stop();
    sshd.stop();
    web.stop();

    assert_eq!(
        snmp_sys_name(snmp_addr, snmp_port, "oc-smoke", client.path()).await,
        None
    );
    for addr in [sshd.addr, web.addr] {
        let refused = TcpStream::connect(addr).await.unwrap_err();
        assert_eq!(
            refused.kind(),
            std::io::ErrorKind::ConnectionRefused,
            "{addr}: {refused}"
        );
    }
    // Stopping twice (and dropping afterwards) is harmless.
    snmpd.stop();
    sshd.stop();
    web.stop();
}
