//! Node.js programs as test clients: the GraphQL over HTTP audits and a stock graphql-ws client
//! (`tests/http-audit/`), and a headless browser (`tests/browser/`, Playwright on Debian's
//! chromium). Each folder has a `package.json` and a lockfile; `scripts/test` installs them
//! (`ensure_node_deps` in `scripts/lib.sh`), and so does this file, once, when `node_modules` is
//! missing and npm is there.
//!
//! When node, npm or chromium cannot be had, a test that needs them fails under `CI=true` and
//! otherwise prints `SKIPPED` and passes, as the SMTP tests do.

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::sync::{Mutex, OnceLock};
use std::time::{Duration, Instant};

/// The repository's `tests/` folder.
fn tests_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).to_path_buf()
}

fn runs(program: &str, arg: &str) -> bool {
    Command::new(program).arg(arg).stdout(Stdio::null()).stderr(Stdio::null()).status().is_ok_and(|s| s.success())
}

/// `npm ci` in `tests/<folder>` unless its `node_modules` is there; once per folder and run.
fn installed(folder: &str) -> Result<PathBuf, String> {
    static DONE: OnceLock<Mutex<HashMap<String, Result<PathBuf, String>>>> = OnceLock::new();
    let mut done = DONE.get_or_init(Mutex::default).lock().unwrap_or_else(std::sync::PoisonError::into_inner);
    done.entry(folder.to_owned())
        .or_insert_with(|| {
            let dir = tests_dir().join(folder);
            if !runs("node", "--version") {
                return Err("node is not installed (apt-get install nodejs npm)".into());
            }
            if dir.join("node_modules").is_dir() {
                return Ok(dir);
            }
            if !runs("npm", "--version") {
                return Err("npm is not installed (apt-get install npm)".into());
            }
            eprintln!("{folder}: node_modules is missing; running `npm ci` there");
            let out = Command::new("npm")
                .args(["ci", "--no-audit", "--no-fund", "--loglevel=error"])
                .current_dir(&dir)
                .output()
                .map_err(|e| format!("running npm ci: {e}"))?;
            if out.status.success() {
                Ok(dir)
            } else {
                Err(format!("npm ci in tests/{folder} failed: {}", String::from_utf8_lossy(&out.stderr).trim()))
            }
        })
        .clone()
}

/// A failure under `CI=true`; otherwise a clear `SKIPPED` line and `None`.
fn skip_or_fail<T>(test: &str, why: &str) -> Option<T> {
    if std::env::var("CI").as_deref() == Ok("true") {
        panic!("{test}: CI=true allows no skip: {why} (scripts/test installs it: ensure_node_deps, ensure_chromium)");
    }
    eprintln!("SKIPPED {test}: {why}");
    None
}

/// The folder `tests/<folder>` with its npm packages installed, or `None` (skipped).
pub fn node_project(test: &str, folder: &str) -> Option<PathBuf> {
    match installed(folder) {
        Ok(dir) => Some(dir),
        Err(why) => skip_or_fail(test, &why),
    }
}

/// Debian's chromium (`KANJIAN_CHROMIUM` to use another), or `None` (skipped).
pub fn chromium(test: &str) -> Option<PathBuf> {
    let path = std::env::var("KANJIAN_CHROMIUM").map(PathBuf::from).unwrap_or_else(|_| PathBuf::from("/usr/bin/chromium"));
    if path.exists() {
        Some(path)
    } else {
        skip_or_fail(test, &format!("{} is missing (apt-get install chromium)", path.display()))
    }
}

/// What a node program printed, and how it ended.
pub struct NodeRun {
    pub success: bool,
    pub stdout: String,
    pub stderr: String,
    pub elapsed: Duration,
}

impl NodeRun {
    /// Panics with everything the program printed unless it succeeded.
    pub fn assert_success(&self, what: &str) {
        assert!(self.success, "{what} failed after {:?}\n--- stdout\n{}\n--- stderr\n{}", self.elapsed, self.stdout, self.stderr);
    }
}

/// Runs `node <script> <args…>` in `dir`, killed after `timeout`.
pub async fn run_node(dir: &Path, script: &str, args: &[&str], env: &[(&str, &str)], timeout: Duration) -> NodeRun {
    let started = Instant::now();
    let mut command = tokio::process::Command::new("node");
    command.arg(script).args(args).current_dir(dir).kill_on_drop(true).stdin(Stdio::null());
    for (name, value) in env {
        command.env(name, value);
    }
    let output = tokio::time::timeout(timeout, command.output())
        .await
        .unwrap_or_else(|_| panic!("node {script} did not finish within {timeout:?}"))
        .expect("run node");
    NodeRun {
        success: output.status.success(),
        stdout: String::from_utf8_lossy(&output.stdout).into_owned(),
        stderr: String::from_utf8_lossy(&output.stderr).into_owned(),
        elapsed: started.elapsed(),
    }
}
