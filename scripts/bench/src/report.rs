//! Tables for the terminal and for the Markdown results file, and the machine they ran on.

use std::fmt::Write as _;
use std::process::Command;

/// A table rendered two ways from the same cells; columns after the first are numbers,
/// right-aligned.
#[derive(Debug, Clone, Default)]
pub struct Table {
    pub title: String,
    pub headers: Vec<String>,
    pub rows: Vec<Vec<String>>,
    pub notes: Vec<String>,
}

impl Table {
    pub fn new(title: impl Into<String>, headers: &[&str]) -> Self {
        Self {
            title: title.into(),
            headers: headers.iter().map(|h| h.to_string()).collect(),
            ..Self::default()
        }
    }

    pub fn row(&mut self, cells: Vec<String>) {
        self.rows.push(cells);
    }

    pub fn note(&mut self, note: impl Into<String>) {
        self.notes.push(note.into());
    }

    pub fn to_text(&self) -> String {
        let columns = self.headers.len();
        let mut widths: Vec<usize> = self.headers.iter().map(|h| h.chars().count()).collect();
        for row in &self.rows {
            for (i, cell) in row.iter().enumerate().take(columns) {
                widths[i] = widths[i].max(cell.chars().count());
            }
        }
        let line = |cells: &[String]| -> String {
            let mut out = String::new();
            for (i, cell) in cells.iter().enumerate().take(columns) {
                let pad = widths[i].saturating_sub(cell.chars().count());
                if i == 0 {
                    out.push_str(cell);
                    out.push_str(&" ".repeat(pad));
                } else {
                    out.push_str("  ");
                    out.push_str(&" ".repeat(pad));
                    out.push_str(cell);
                }
            }
            out.trim_end().to_owned()
        };
        let mut out = format!("{}\n", self.title);
        let header = line(&self.headers);
        let _ = writeln!(out, "{header}");
        let _ = writeln!(out, "{}", "-".repeat(header.chars().count()));
        for row in &self.rows {
            let _ = writeln!(out, "{}", line(row));
        }
        for note in &self.notes {
            let _ = writeln!(out, "  {note}");
        }
        out
    }

    pub fn to_markdown(&self) -> String {
        let mut out = format!("### {}\n\n", self.title);
        let _ = writeln!(out, "| {} |", self.headers.join(" | "));
        let aligns: Vec<&str> = (0..self.headers.len())
            .map(|i| if i == 0 { "---" } else { "---:" })
            .collect();
        let _ = writeln!(out, "| {} |", aligns.join(" | "));
        for row in &self.rows {
            let _ = writeln!(out, "| {} |", row.join(" | "));
        }
        if !self.notes.is_empty() {
            out.push('\n');
            for note in &self.notes {
                let _ = writeln!(out, "- {note}");
            }
        }
        out
    }
}

/// Milliseconds with about three significant digits.
pub fn ms(value: f64) -> String {
    if value < 1.0 {
        format!("{value:.3}")
    } else if value < 10.0 {
        format!("{value:.2}")
    } else if value < 100.0 {
        format!("{value:.1}")
    } else {
        format!("{value:.0}")
    }
}

pub fn per_sec(value: f64) -> String {
    if value < 100.0 {
        format!("{value:.1}")
    } else {
        format!("{value:.0}")
    }
}

pub fn secs(value: f64) -> String {
    format!("{value:.2}")
}

/// `a / b` as `N.NNx`.
pub fn ratio(a: f64, b: f64) -> String {
    if b <= 0.0 || !a.is_finite() || !b.is_finite() {
        return "n/a".into();
    }
    let r = a / b;
    if r < 10.0 {
        format!("{r:.2}x")
    } else {
        format!("{r:.1}x")
    }
}

fn command_line(program: &str, args: &[&str]) -> Option<String> {
    let output = Command::new(program).args(args).output().ok()?;
    let text = String::from_utf8_lossy(&output.stdout);
    text.lines()
        .next()
        .map(|l| l.trim().to_owned())
        .filter(|l| !l.is_empty())
}

/// What the figures were measured on.
#[derive(Debug, Clone)]
pub struct Machine {
    pub nproc: String,
    pub cpu: String,
    pub memory: String,
    pub os: String,
    pub ffmpeg: String,
    pub rustc: String,
    /// 1-minute load average when the run started: other work on the machine makes noise.
    pub load_at_start: String,
    /// Share of all CPUs busy in the second before the run started.
    pub busy_at_start: Option<f64>,
}

impl Machine {
    pub fn detect(ffmpeg: String) -> Self {
        let nproc = command_line("nproc", &[]).unwrap_or_else(|| {
            std::thread::available_parallelism()
                .map(|n| n.to_string())
                .unwrap_or_else(|_| "?".into())
        });
        let cpuinfo = std::fs::read_to_string("/proc/cpuinfo").unwrap_or_default();
        let cpu = cpuinfo
            .lines()
            .find(|l| l.starts_with("model name"))
            .and_then(|l| l.split_once(':'))
            .map(|(_, v)| v.trim().to_owned())
            .unwrap_or_else(|| "unknown".into());
        let memory = std::fs::read_to_string("/proc/meminfo")
            .ok()
            .and_then(|m| {
                let kb: f64 = m
                    .lines()
                    .find(|l| l.starts_with("MemTotal"))?
                    .split_whitespace()
                    .nth(1)?
                    .parse()
                    .ok()?;
                Some(format!("{:.1} GiB", kb / 1024.0 / 1024.0))
            })
            .unwrap_or_else(|| "unknown".into());
        let os = command_line("uname", &["-srm"]).unwrap_or_else(|| std::env::consts::OS.into());
        let rustc = command_line("rustc", &["--version"]).unwrap_or_else(|| "unknown".into());
        let load_at_start = load_average()
            .map(|l| format!("{l:.2}"))
            .unwrap_or_else(|| "unknown".into());
        let busy_at_start = cpu_busy(std::time::Duration::from_secs(1));
        Self {
            nproc,
            cpu,
            memory,
            os,
            ffmpeg,
            rustc,
            load_at_start,
            busy_at_start,
        }
    }

    pub fn to_markdown(&self) -> String {
        format!(
            "| | |\n|---|---|\n| nproc | {} |\n| CPU | {} |\n| memory | {} |\n| OS | {} |\n| ffmpeg | {} |\n| rustc | {} |\n| load average (1 min) at start | {} |\n| CPU busy in the second before the run | {} |\n",
            self.nproc,
            self.cpu,
            self.memory,
            self.os,
            self.ffmpeg,
            self.rustc,
            self.load_at_start,
            self.busy_at_start
                .map_or_else(|| "unknown".into(), |b| format!("{:.0} %", b * 100.0)),
        )
    }
}

/// The 1-minute load average, from `/proc/loadavg`.
pub fn load_average() -> Option<f64> {
    std::fs::read_to_string("/proc/loadavg")
        .ok()?
        .split_whitespace()
        .next()?
        .parse()
        .ok()
}

fn cpu_totals() -> Option<(f64, f64)> {
    let stat = std::fs::read_to_string("/proc/stat").ok()?;
    let line = stat.lines().find(|l| l.starts_with("cpu "))?;
    let values: Vec<f64> = line
        .split_whitespace()
        .skip(1)
        .filter_map(|v| v.parse().ok())
        .collect();
    let total: f64 = values.iter().take(8).sum();
    // idle + iowait
    let idle = values.get(3)? + values.get(4).copied().unwrap_or(0.0);
    Some((total, idle))
}

/// The share (0–1) of all CPUs busy over `window`, from `/proc/stat`.
pub fn cpu_busy(window: std::time::Duration) -> Option<f64> {
    let (total_a, idle_a) = cpu_totals()?;
    std::thread::sleep(window);
    let (total_b, idle_b) = cpu_totals()?;
    let total = total_b - total_a;
    (total > 0.0).then(|| (1.0 - (idle_b - idle_a) / total).clamp(0.0, 1.0))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tables_align_in_text_and_pipe_in_markdown() {
        let mut t = Table::new("T", &["what", "n"]);
        t.row(vec!["a".into(), "1".into()]);
        t.row(vec!["longer".into(), "100".into()]);
        let text = t.to_text();
        assert!(text.contains("a         1\n"), "{text}");
        assert!(text.contains("longer  100\n"), "{text}");
        let md = t.to_markdown();
        assert!(
            md.contains("| what | n |\n| --- | ---: |\n| a | 1 |"),
            "{md}"
        );
    }

    #[test]
    fn figures_keep_about_three_digits() {
        assert_eq!(ms(0.1234), "0.123");
        assert_eq!(ms(12.345), "12.3");
        assert_eq!(ratio(1.0, 4.0), "0.25x");
        assert_eq!(ratio(1.0, 0.0), "n/a");
    }
}
