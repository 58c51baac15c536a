//! The servers under test, as child processes on free loopback ports: the release `kanjian`
//! binary (on SQLite in a fresh data dir, or on a seeded world's database), the `noop-server`
//! baseline and the `ceiling-server` (node(id:) on the bare stack).

use std::net::{SocketAddr, TcpListener};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::Duration;

use anyhow::{Context as _, Result, bail};

/// A server process; stopped (TERM, then KILL) when dropped.
pub struct ChildServer {
    pub name: &'static str,
    pub addr: SocketAddr,
    child: Child,
    log: PathBuf,
}

impl ChildServer {
    pub fn url(&self, path: &str) -> String {
        format!("http://{}{path}", self.addr)
    }

    pub fn pid(&self) -> u32 {
        self.child.id()
    }

    /// The last lines the server wrote, for error messages.
    pub fn log_tail(&self) -> String {
        let text = std::fs::read_to_string(&self.log).unwrap_or_default();
        let lines: Vec<&str> = text.lines().collect();
        lines[lines.len().saturating_sub(30)..].join("\n")
    }

    /// Waits until `GET path` answers 200, failing early if the process exits.
    pub async fn wait_ready(
        &mut self,
        http: &reqwest::Client,
        path: &str,
        timeout: Duration,
    ) -> Result<()> {
        let deadline = tokio::time::Instant::now() + timeout;
        let url = self.url(path);
        loop {
            if let Some(status) = self
                .child
                .try_wait()
                .context("checking the server process")?
            {
                bail!(
                    "{} exited ({status}) before it was ready; its log ends with:\n{}",
                    self.name,
                    self.log_tail()
                );
            }
            if let Ok(response) = http.get(&url).timeout(Duration::from_secs(2)).send().await
                && response.status().is_success()
            {
                return Ok(());
            }
            if tokio::time::Instant::now() > deadline {
                bail!(
                    "{} was not ready within {timeout:?}; its log ends with:\n{}",
                    self.name,
                    self.log_tail()
                );
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    }

    /// SIGKILL at once, as a crash would end it (the flash sale's chaos variant).
    pub fn kill_now(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }

    /// Asks the process to stop (SIGTERM through `kill`), and kills it if it has not after 10 s.
    pub fn stop(&mut self) {
        if matches!(self.child.try_wait(), Ok(Some(_))) {
            return;
        }
        let asked = Command::new("kill")
            .args(["-TERM", &self.child.id().to_string()])
            .stderr(Stdio::null())
            .status()
            .is_ok_and(|s| s.success());
        if asked {
            for _ in 0..100 {
                if matches!(self.child.try_wait(), Ok(Some(_))) {
                    return;
                }
                std::thread::sleep(Duration::from_millis(100));
            }
        }
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

impl Drop for ChildServer {
    fn drop(&mut self) {
        self.stop();
    }
}

/// A port that was free a moment ago on 127.0.0.1.
pub fn free_port() -> Result<SocketAddr> {
    let listener = TcpListener::bind("127.0.0.1:0").context("finding a free port")?;
    listener.local_addr().context("reading the free port")
}

fn log_file(path: &Path) -> Result<(Stdio, Stdio)> {
    let file =
        std::fs::File::create(path).with_context(|| format!("creating {}", path.display()))?;
    let err = file.try_clone().context("sharing the log file")?;
    Ok((Stdio::from(file), Stdio::from(err)))
}

/// A `kanjian` command run in `data_dir` (also its working dir, so no `kanjian.toml` of the
/// caller's is read), with the caller's `KANJIAN_*`/`DATABASE_URL`/`RUST_LOG` removed and
/// `KANJIAN_DATA_DIR` set; on `database_url` (`KANJIAN_DATABASE__URL`) when given, else on
/// SQLite in the data dir.
pub fn kanjian_command(bin: &Path, data_dir: &Path, database_url: Option<&str>) -> Result<Command> {
    std::fs::create_dir_all(data_dir).context("creating the kanjian data dir")?;
    let mut command = Command::new(bin);
    for (key, _) in std::env::vars_os() {
        let key_str = key.to_string_lossy();
        if key_str.starts_with("KANJIAN_") || key_str == "DATABASE_URL" || key_str == "RUST_LOG" {
            command.env_remove(&key);
        }
    }
    command
        .current_dir(data_dir)
        .env("KANJIAN_DATA_DIR", data_dir);
    if let Some(url) = database_url {
        command.env("KANJIAN_DATABASE__URL", url);
    }
    Ok(command)
}

/// `kanjian serve` (see [`kanjian_command`]) on a free port with the log filter `warn`. The HLS
/// segment length is set explicitly, as the ffmpeg baseline must use the same; `env` adds more
/// `KANJIAN_*` settings.
pub fn spawn_kanjian(
    bin: &Path,
    data_dir: &Path,
    database_url: Option<&str>,
    log: &Path,
    workers: usize,
    segment_seconds: u32,
    env: &[(String, String)],
) -> Result<ChildServer> {
    let addr = free_port()?;
    let (stdout, stderr) = log_file(log)?;
    let mut command = kanjian_command(bin, data_dir, database_url)?;
    command.envs(env.iter().map(|(k, v)| (k, v)));
    let child = command
        .arg("serve")
        .env("KANJIAN_HTTP__BIND", addr.to_string())
        .env("KANJIAN_HTTP__WORKERS", workers.to_string())
        .env("KANJIAN_LOG__FILTER", "warn")
        .env(
            "KANJIAN_MEDIA__SEGMENT_SECONDS",
            segment_seconds.to_string(),
        )
        .stdin(Stdio::null())
        .stdout(stdout)
        .stderr(stderr)
        .spawn()
        .with_context(|| format!("starting {}", bin.display()))?;
    Ok(ChildServer {
        name: "kanjian",
        addr,
        child,
        log: log.to_path_buf(),
    })
}

pub fn spawn_noop(bin: &Path, log: &Path, workers: usize) -> Result<ChildServer> {
    let addr = free_port()?;
    let (stdout, stderr) = log_file(log)?;
    let child = Command::new(bin)
        .args([
            "--bind",
            &addr.to_string(),
            "--workers",
            &workers.to_string(),
        ])
        .stdin(Stdio::null())
        .stdout(stdout)
        .stderr(stderr)
        .spawn()
        .with_context(|| format!("starting {}", bin.display()))?;
    Ok(ChildServer {
        name: "noop-server",
        addr,
        child,
        log: log.to_path_buf(),
    })
}

/// `ceiling-server` on `database_url` (kanjian's) with a pool of `pool` connections, prefixing
/// its URLs with `public_url` (kanjian's), so both answer the same bytes.
pub fn spawn_ceiling(
    bin: &Path,
    log: &Path,
    workers: usize,
    database_url: &str,
    public_url: &str,
    pool: u32,
) -> Result<ChildServer> {
    let addr = free_port()?;
    let (stdout, stderr) = log_file(log)?;
    let child = Command::new(bin)
        .args([
            "--bind",
            &addr.to_string(),
            "--workers",
            &workers.to_string(),
            "--public-url",
            public_url,
            "--pool",
            &pool.to_string(),
        ])
        // Not on the command line, where `ps` shows it: the URL may hold a password.
        .env("CEILING_DATABASE_URL", database_url)
        .env_remove("RUST_LOG")
        .stdin(Stdio::null())
        .stdout(stdout)
        .stderr(stderr)
        .spawn()
        .with_context(|| format!("starting {}", bin.display()))?;
    Ok(ChildServer {
        name: "ceiling-server",
        addr,
        child,
        log: log.to_path_buf(),
    })
}

/// Any other server, started by `command` with its output into `log`; `addr` is where it
/// answers (for [`ChildServer::wait_ready`] when it speaks HTTP there).
pub fn spawn_other(
    name: &'static str,
    mut command: Command,
    addr: SocketAddr,
    log: &Path,
) -> Result<ChildServer> {
    let (stdout, stderr) = log_file(log)?;
    let child = command
        .stdin(Stdio::null())
        .stdout(stdout)
        .stderr(stderr)
        .spawn()
        .with_context(|| format!("starting {name}"))?;
    Ok(ChildServer {
        name,
        addr,
        child,
        log: log.to_path_buf(),
    })
}

/// A binary built beside this one (`target/release/…`), unless `explicit` names one.
pub fn sibling_binary(explicit: Option<&Path>, name: &str) -> Result<PathBuf> {
    if let Some(path) = explicit {
        // Absolute: kanjian runs in its data dir, where a relative path would name nothing.
        return std::fs::canonicalize(path).with_context(|| format!("{}", path.display()));
    }
    let me = std::env::current_exe().context("locating this executable")?;
    let path = me
        .parent()
        .context("this executable has no folder")?
        .join(name);
    if !path.is_file() {
        bail!(
            "{} is missing; build it with `cargo build --release -p kanjian-server -p kanjian-bench` (scripts/bench/run does)",
            path.display()
        );
    }
    Ok(path)
}
