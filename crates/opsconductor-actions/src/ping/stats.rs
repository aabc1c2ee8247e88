//! Echo statistics: loss, RTT min/avg/max/mdev, jitter, and the iputils-style summary.

use std::fmt::{self, Write as _};

/// What a run of echoes came to. RTTs are in milliseconds.
#[derive(Debug, Clone, PartialEq)]
pub struct PingStats {
    /// Echo requests sent.
    pub sent: u32,
    /// Echo replies received.
    pub received: u32,
    /// `100 * (sent - received) / sent`; 100 when nothing was sent.
    pub loss_pct: f64,
    /// RTT figures, when at least one reply came back.
    pub rtt: Option<RttStats>,
}

/// RTT figures of the replies, in milliseconds.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct RttStats {
    /// Fastest reply.
    pub min: f64,
    /// Mean.
    pub avg: f64,
    /// Slowest reply.
    pub max: f64,
    /// Standard deviation as iputils computes it: `sqrt(mean(rtt²) - mean(rtt)²)`.
    pub mdev: f64,
    /// Mean absolute difference of consecutive replies' RTTs (lost echoes are skipped);
    /// 0 with a single reply.
    pub jitter: f64,
}

impl PingStats {
    /// Statistics of the echoes sent, in order: `Some(rtt_ms)` for a reply, `None` for a
    /// lost echo.
    pub fn from_rtts(rtts: &[Option<f64>]) -> Self {
        let sent = u32::try_from(rtts.len()).unwrap_or(u32::MAX);
        let replies = || rtts.iter().flatten().copied();
        let received = u32::try_from(replies().count()).unwrap_or(u32::MAX);
        let loss_pct = if sent == 0 {
            100.0
        } else {
            100.0 * f64::from(sent - received) / f64::from(sent)
        };
        let rtt = (received > 0).then(|| {
            let n = f64::from(received);
            let (mut min, mut max, mut sum, mut sum_sq) = (f64::INFINITY, 0.0_f64, 0.0, 0.0);
            for rtt in replies() {
                min = min.min(rtt);
                max = max.max(rtt);
                sum += rtt;
                sum_sq += rtt * rtt;
            }
            let avg = sum / n;
            // Rounding can push the variance a hair below zero for identical RTTs.
            let mdev = (sum_sq / n - avg * avg).max(0.0).sqrt();
            let (mut diff_sum, mut pairs, mut previous) = (0.0, 0_u32, None::<f64>);
            for rtt in replies() {
                if let Some(previous) = previous {
                    diff_sum += (rtt - previous).abs();
                    pairs += 1;
                }
                previous = Some(rtt);
            }
            let jitter = if pairs == 0 {
                0.0
            } else {
                diff_sum / f64::from(pairs)
            };
            RttStats {
                min,
                avg,
                max,
                mdev,
                jitter,
            }
        });
        Self {
            sent,
            received,
            loss_pct,
            rtt,
        }
    }

    /// The summary iputils `ping` prints at the end, so a parser written for real ping
    /// output (`ping.stats`) reads it:
    ///
    /// ```text
    /// --- 127.0.0.1 ping statistics ---
    /// 3 packets transmitted, 3 received, 0% packet loss, time 402ms
    /// rtt min/avg/max/mdev = 0.031/0.043/0.052/0.009 ms
    /// ```
    ///
    /// `errors` (ICMP errors and failed sends) appear as `+N errors` as iputils writes them.
    pub fn summary(&self, host: impl fmt::Display, errors: u32, time_ms: u64) -> String {
        let mut text = String::with_capacity(160);
        let _ = write!(
            text,
            "--- {host} ping statistics ---\n{} packets transmitted, {} received, ",
            self.sent, self.received
        );
        if errors > 0 {
            let _ = write!(text, "+{errors} errors, ");
        }
        let _ = writeln!(
            text,
            "{}% packet loss, time {time_ms}ms",
            percent(self.loss_pct)
        );
        if let Some(rtt) = &self.rtt {
            let _ = writeln!(
                text,
                "rtt min/avg/max/mdev = {:.3}/{:.3}/{:.3}/{:.3} ms",
                rtt.min, rtt.avg, rtt.max, rtt.mdev
            );
        }
        text
    }
}

/// A percentage the way C's `%g` prints it for loss figures: `0`, `25`, `33.3333`.
fn percent(value: f64) -> String {
    let text = format!("{value:.4}");
    text.trim_end_matches('0').trim_end_matches('.').to_owned()
}

/// Rounds milliseconds to the microsecond, the precision the clock gives on loopback.
pub(crate) fn round_ms(ms: f64) -> f64 {
    (ms * 1000.0).round() / 1000.0
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn percentages_print_like_printf_g() {
        assert_eq!(percent(0.0), "0");
        assert_eq!(percent(100.0), "100");
        assert_eq!(percent(25.0), "25");
        assert_eq!(percent(100.0 / 3.0), "33.3333");
    }
}
