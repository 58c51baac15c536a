//! The process table as Linux shows it in `/proc`: which children a process has, and whether a
//! process still runs.

use std::process::Command;

/// One process, told apart from a later one that reuses its pid by its start time.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Process {
    pub pid: u32,
    pub comm: String,
    start_time: u64,
}

struct Stat {
    comm: String,
    state: char,
    ppid: u32,
    start_time: u64,
}

/// `/proc/<pid>/stat`: `pid (comm) state ppid …`, the start time being the 22nd field. The
/// command name may hold spaces and parentheses, so the fields are counted from the last `)`.
fn stat(pid: u32) -> Option<Stat> {
    let text = std::fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
    let open = text.find('(')?;
    let close = text.rfind(')')?;
    let comm = text.get(open + 1..close)?.to_owned();
    let fields: Vec<&str> = text.get(close + 1..)?.split_whitespace().collect();
    Some(Stat {
        comm,
        state: fields.first()?.chars().next()?,
        ppid: fields.get(1)?.parse().ok()?,
        start_time: fields.get(19)?.parse().ok()?,
    })
}

/// The running children of `parent` whose command name is one of `names`.
pub fn children_of(parent: u32, names: &[&str]) -> Vec<Process> {
    let Ok(entries) = std::fs::read_dir("/proc") else {
        return Vec::new();
    };
    entries
        .filter_map(|entry| entry.ok()?.file_name().to_str()?.parse::<u32>().ok())
        .filter_map(|pid| {
            let s = stat(pid)?;
            (s.ppid == parent && names.contains(&s.comm.as_str()) && running(s.state)).then_some(
                Process {
                    pid,
                    comm: s.comm,
                    start_time: s.start_time,
                },
            )
        })
        .collect()
}

/// A zombie (`Z`) or dead (`X`) process runs no more: it only waits to be reaped.
fn running(state: char) -> bool {
    !matches!(state, 'Z' | 'X')
}

impl Process {
    /// Whether this very process still runs.
    pub fn is_running(&self) -> bool {
        stat(self.pid).is_some_and(|s| s.start_time == self.start_time && running(s.state))
    }

    /// Sends `signal` (`STOP`, `KILL`, …) with kill(1), if the process still runs.
    pub fn signal(&self, signal: &str) {
        if self.is_running() {
            let _ = Command::new("kill")
                .args(["-s", signal, &self.pid.to_string()])
                .status();
        }
    }
}
