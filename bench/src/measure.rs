//! Readings both benchmarks take: CPU seconds per process (where the time goes), the
//! fping anchor, and the helpers their reports share.

use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use anyhow::{Context as _, ensure};
use chrono::{DateTime, Utc};

/// Clock ticks per second of `/proc/<pid>/stat` (USER_HZ, 100 on Linux).
const TICKS_PER_S: f64 = 100.0;

/// CPU seconds (user + system) a process has used, from `/proc/<pid>/stat`.
pub fn cpu_seconds(pid: u32) -> Option<f64> {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
    // Fields after the command (which may hold spaces) start after the last ')'.
    let rest = &stat[stat.rfind(')')? + 2..];
    let fields: Vec<&str> = rest.split_whitespace().collect();
    // utime and stime are fields 14 and 15 of the line, 12 and 13 after the command.
    let utime: f64 = fields.get(11)?.parse().ok()?;
    let stime: f64 = fields.get(12)?.parse().ok()?;
    Some((utime + stime) / TICKS_PER_S)
}

/// CPU seconds used by every process whose command name is `comm`.
pub fn cpu_seconds_of(comm: &str) -> f64 {
    let Ok(entries) = std::fs::read_dir("/proc") else {
        return 0.0;
    };
    entries
        .filter_map(Result::ok)
        .filter_map(|e| e.file_name().to_str().and_then(|n| n.parse::<u32>().ok()))
        .filter(|pid| {
            std::fs::read_to_string(format!("/proc/{pid}/comm")).is_ok_and(|c| c.trim() == comm)
        })
        .filter_map(cpu_seconds)
        .sum()
}

/// CPU seconds (user + system) of this process's waited-for children, from the `cutime`
/// and `cstime` fields of `/proc/self/stat`.
pub fn children_cpu_seconds() -> Option<f64> {
    let stat = std::fs::read_to_string("/proc/self/stat").ok()?;
    let rest = &stat[stat.rfind(')')? + 2..];
    let fields: Vec<&str> = rest.split_whitespace().collect();
    let cutime: f64 = fields.get(13)?.parse().ok()?;
    let cstime: f64 = fields.get(14)?.parse().ok()?;
    Some((cutime + cstime) / TICKS_PER_S)
}

/// Busy and total CPU seconds of the whole machine, from `/proc/stat`.
fn machine_cpu() -> Option<(f64, f64)> {
    let stat = std::fs::read_to_string("/proc/stat").ok()?;
    let line = stat.lines().next()?.strip_prefix("cpu ")?;
    let values: Vec<f64> = line
        .split_whitespace()
        .filter_map(|v| v.parse().ok())
        .collect();
    let total: f64 = values.iter().take(8).sum();
    // idle + iowait are not busy.
    let idle = values.get(3).copied().unwrap_or(0.0) + values.get(4).copied().unwrap_or(0.0);
    Some(((total - idle) / TICKS_PER_S, total / TICKS_PER_S))
}

/// Waits until the machine is quiet — under 25 % of its CPU busy over a 100 ms window —
/// or 3 s have passed, so one measured tool does not start in the tail of the previous
/// one (sockets closing, the database writing back).
pub async fn settle() {
    const WINDOW: std::time::Duration = std::time::Duration::from_millis(100);
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(3);
    let Some(mut before) = machine_cpu() else {
        return;
    };
    while std::time::Instant::now() < deadline {
        tokio::time::sleep(WINDOW).await;
        let Some(now) = machine_cpu() else {
            return;
        };
        let (busy, total) = (now.0 - before.0, now.1 - before.1);
        if total > 0.0 && busy / total < 0.25 {
            return;
        }
        before = now;
    }
}

/// CPU seconds of the parts of the pipeline at one moment (or, after [`Self::since`],
/// used between two moments).
#[derive(Debug, Clone, Copy, Default)]
pub struct CpuSample {
    /// The controller process.
    pub controller: f64,
    /// The agent process.
    pub agent: f64,
    /// Every `postgres` process.
    pub postgres: f64,
    /// Every `beam.smp` process (RabbitMQ).
    pub rabbitmq: f64,
    /// The whole machine, busy.
    pub machine_busy: f64,
    /// The whole machine, all cores.
    pub machine_total: f64,
}

impl CpuSample {
    /// Reads the counters now.
    pub fn take(controller: u32, agent: u32) -> Self {
        let (machine_busy, machine_total) = machine_cpu().unwrap_or_default();
        Self {
            controller: cpu_seconds(controller).unwrap_or_default(),
            agent: cpu_seconds(agent).unwrap_or_default(),
            postgres: cpu_seconds_of("postgres"),
            rabbitmq: cpu_seconds_of("beam.smp"),
            machine_busy,
            machine_total,
        }
    }

    /// What was used from `before` to `self`.
    pub fn since(self, before: Self) -> Self {
        Self {
            controller: self.controller - before.controller,
            agent: self.agent - before.agent,
            postgres: self.postgres - before.postgres,
            rabbitmq: self.rabbitmq - before.rabbitmq,
            machine_busy: self.machine_busy - before.machine_busy,
            machine_total: self.machine_total - before.machine_total,
        }
    }

    /// Busy CPU seconds of processes other than the four measured ones.
    pub fn others(&self) -> f64 {
        (self.machine_busy - self.controller - self.agent - self.postgres - self.rabbitmq).max(0.0)
    }

    /// One line for the log.
    pub fn describe(&self) -> String {
        format!(
            "CPU s: controller {:.2}, agent {:.2}, postgres {:.2}, rabbitmq {:.2}, other processes \
             {:.2}; machine busy {:.0}% of {:.1} core-s",
            self.controller,
            self.agent,
            self.postgres,
            self.rabbitmq,
            self.others(),
            100.0 * self.machine_busy / self.machine_total.max(f64::EPSILON),
            self.machine_total
        )
    }
}

/// One fping sweep.
#[derive(Debug, Clone, Copy)]
pub struct FpingTiming {
    /// Wall time.
    pub elapsed: Duration,
    /// Hosts that answered.
    pub alive: usize,
    /// CPU seconds fping used.
    pub cpu: Option<f64>,
}

/// `fping -a -q -i 0 -r 0 -t timeout_ms -g cidr`: the sweep anchor.
pub fn fping(cidr: &str, timeout_ms: u64) -> anyhow::Result<FpingTiming> {
    let cpu_before = children_cpu_seconds();
    let t0 = Instant::now();
    // -a -q: print only the hosts that answered (counted); the probing is the same.
    let out = Command::new("fping")
        .args([
            "-a",
            "-q",
            "-i",
            "0",
            "-r",
            "0",
            "-t",
            &timeout_ms.to_string(),
            "-g",
            cidr,
        ])
        .stdin(Stdio::null())
        .stderr(Stdio::null())
        .output()
        .context("running fping (scripts/install-deps.sh installs it)")?;
    let elapsed = t0.elapsed();
    let cpu = children_cpu_seconds()
        .zip(cpu_before)
        .map(|(after, before)| after - before);
    // fping exits 1 when some host did not answer: still a measurement.
    ensure!(
        out.status.code().is_some_and(|c| c <= 1),
        "fping failed: {}",
        out.status
    );
    let alive = out
        .stdout
        .split(|b| *b == b'\n')
        .filter(|l| !l.is_empty())
        .count();
    Ok(FpingTiming {
        elapsed,
        alive,
        cpu,
    })
}

/// Seconds from `from` to `to` (negative when clocks disagree).
pub fn since(from: DateTime<Utc>, to: DateTime<Utc>) -> f64 {
    (to - from).num_microseconds().unwrap_or(i64::MAX) as f64 / 1e6
}

/// The median (NaN of nothing).
pub fn median(mut values: Vec<f64>) -> f64 {
    values.sort_by(f64::total_cmp);
    let n = values.len();
    if n == 0 {
        f64::NAN
    } else if n % 2 == 1 {
        values[n / 2]
    } else {
        (values[n / 2 - 1] + values[n / 2]) / 2.0
    }
}

/// `median unit (min–max)`, or the one value.
pub fn range(values: &[f64], unit: &str, digits: usize) -> String {
    let lo = values.iter().copied().fold(f64::INFINITY, f64::min);
    let hi = values.iter().copied().fold(f64::NEG_INFINITY, f64::max);
    if values.len() <= 1 || (hi - lo).abs() < f64::EPSILON {
        format!("{lo:.digits$}{unit}")
    } else {
        format!(
            "{:.digits$}{unit} ({lo:.digits$}–{hi:.digits$})",
            median(values.to_vec())
        )
    }
}

/// A goal's "met?" cell.
pub fn met(ok: bool) -> &'static str {
    if ok { "yes" } else { "**no**" }
}

/// `n` rounded, with thousands separators.
pub fn thousands(n: f64) -> String {
    let n = n.round() as u64;
    let digits = n.to_string();
    let mut out = String::new();
    for (i, c) in digits.chars().enumerate() {
        if i > 0 && (digits.len() - i).is_multiple_of(3) {
            out.push(',');
        }
        out.push(c);
    }
    out
}

/// `1.234 s`, or `?`.
pub fn opt_secs(s: Option<f64>) -> String {
    s.map_or_else(|| "?".to_owned(), |s| format!("{s:.3} s"))
}
