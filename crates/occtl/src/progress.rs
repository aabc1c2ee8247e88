//! The live progress display of `run --watch` and `scan start --wait`: on a terminal one
//! stderr line redrawn in place, otherwise one stderr line per update; with
//! `--output json` one JSON object per stdout line instead.

use std::io::{IsTerminal as _, Write as _};

use serde_json::Value;

/// Width of the progress bar in cells.
pub const BAR_WIDTH: usize = 24;

/// The live progress display.
pub struct Progress {
    json: bool,
    redraw: bool,
    drawn: bool,
}

impl Progress {
    /// A display for scripts (`json`) or people.
    pub fn new(json: bool) -> Self {
        Self {
            json,
            redraw: !json && std::io::stderr().is_terminal(),
            drawn: false,
        }
    }

    /// Shows one update: `line` for people, `document` for scripts.
    pub fn show(&mut self, line: &str, document: &Value) -> anyhow::Result<()> {
        if self.json {
            return crate::client::println(&document.to_string());
        }
        let mut err = std::io::stderr().lock();
        // Progress is decoration: a closed stderr must not fail the watch.
        let _ = if self.redraw {
            self.drawn = true;
            write!(err, "\r\x1b[2K{line}").and_then(|()| err.flush())
        } else {
            writeln!(err, "{line}")
        };
        Ok(())
    }

    /// Ends the redrawn line so what follows starts on a fresh one.
    pub fn finish(&mut self) {
        if self.drawn {
            let _ = writeln!(std::io::stderr().lock());
            self.drawn = false;
        }
    }
}

/// `[######------------------]`: `done` of `total` (an empty bar when `total` is 0).
pub fn bar(done: u64, total: u64) -> String {
    // u128: no overflow whatever counts a server sends.
    let filled = (u128::from(done.min(total)) * BAR_WIDTH as u128)
        .checked_div(u128::from(total))
        .map_or(0, |f| usize::try_from(f).unwrap_or(BAR_WIDTH));
    format!("[{}{}]", "#".repeat(filled), "-".repeat(BAR_WIDTH - filled))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bars_fill_in_proportion_and_never_overflow() {
        assert_eq!(bar(0, 0), format!("[{}]", "-".repeat(BAR_WIDTH)));
        assert_eq!(bar(1, 2), format!("[{}{}]", "#".repeat(12), "-".repeat(12)));
        assert_eq!(bar(9, 3), format!("[{}]", "#".repeat(BAR_WIDTH)));
        assert_eq!(
            bar(u64::MAX, u64::MAX),
            format!("[{}]", "#".repeat(BAR_WIDTH))
        );
    }
}
