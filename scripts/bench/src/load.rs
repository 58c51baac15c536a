//! A closed-loop HTTP/1.1 load generator: N connections, each sending the next request as soon
//! as it has read the previous response, for a fixed time after a warm-up. Latencies go into an
//! HdrHistogram (nanoseconds, 3 significant digits).
//!
//! It uses hyper's connection-level client, one keep-alive connection per worker and no pool,
//! so that the generator, which shares the machine's cores with the server under test, spends
//! as little CPU as possible per request.

use std::net::SocketAddr;
use std::time::Duration;

use anyhow::{Context as _, Result, bail};
use bytes::Bytes;
use hdrhistogram::Histogram;
use http_body_util::{BodyExt, Full};
use hyper::client::conn::http1::{self, SendRequest};
use hyper::header::{CONTENT_LENGTH, CONTENT_TYPE, HOST};
use hyper_util::rt::TokioIo;
use tokio::net::TcpStream;
use tokio::time::Instant;

/// One request, repeated.
#[derive(Debug, Clone)]
pub struct Target {
    pub name: String,
    pub addr: SocketAddr,
    pub path: String,
    pub body: Bytes,
    /// A response whose body contains this is counted as an error (`"errors"` for GraphQL).
    pub error_marker: Option<&'static [u8]>,
}

#[derive(Debug, Clone, Copy)]
pub struct LoadSettings {
    pub connections: usize,
    pub warmup: Duration,
    pub duration: Duration,
    /// A request taking longer fails and its connection is replaced.
    pub request_timeout: Duration,
    /// The server's process, to measure the CPU it uses in the measured window.
    pub server_pid: Option<u32>,
}

/// What one run measured.
#[derive(Debug, Clone)]
pub struct LoadResult {
    pub target: String,
    pub connections: usize,
    /// Completed without error inside the measured window.
    pub requests: u64,
    /// Transport failures, timeouts, non-200 answers and answers carrying the error marker.
    pub errors: u64,
    pub elapsed: Duration,
    pub latency: Histogram<u64>,
    /// CPU the server used in the measured window, in cores (CPU seconds per second).
    pub server_cores: Option<f64>,
    /// CPU this load generator used meanwhile, in cores.
    pub client_cores: Option<f64>,
    /// CPU the whole machine used meanwhile, in cores (`/proc/stat`): what is beyond the server
    /// and this generator is other work (another build, a database server) competing with them.
    pub machine_cores: Option<f64>,
}

impl LoadResult {
    pub fn requests_per_sec(&self) -> f64 {
        self.requests as f64 / self.elapsed.as_secs_f64().max(1e-9)
    }

    /// Milliseconds at quantile `q` (0.0–1.0).
    pub fn ms_at(&self, q: f64) -> f64 {
        self.latency.value_at_quantile(q) as f64 / 1e6
    }

    pub fn max_ms(&self) -> f64 {
        self.latency.max() as f64 / 1e6
    }

    /// Cores used by everything but the server and this generator in the measured window.
    pub fn other_cores(&self) -> Option<f64> {
        Some((self.machine_cores? - self.server_cores? - self.client_cores?).max(0.0))
    }
}

fn clock_ticks_per_sec() -> f64 {
    static TICKS: std::sync::OnceLock<f64> = std::sync::OnceLock::new();
    *TICKS.get_or_init(|| {
        std::process::Command::new("getconf")
            .arg("CLK_TCK")
            .output()
            .ok()
            .and_then(|o| String::from_utf8_lossy(&o.stdout).trim().parse().ok())
            .filter(|t: &f64| *t > 0.0)
            .unwrap_or(100.0)
    })
}

/// CPU seconds (user + system, all threads) process `pid` has used, from `/proc/<pid>/stat`.
pub fn cpu_seconds(pid: u32) -> Option<f64> {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
    // The command name, in parentheses, may hold spaces: count fields after its `)`.
    let fields: Vec<&str> = stat.rsplit_once(')')?.1.split_whitespace().collect();
    let utime: f64 = fields.get(11)?.parse().ok()?;
    let stime: f64 = fields.get(12)?.parse().ok()?;
    Some((utime + stime) / clock_ticks_per_sec())
}

/// CPU seconds all CPUs of the machine have been busy (not idle, not waiting for I/O) since boot,
/// from the first line of `/proc/stat` (in clock ticks, like `/proc/<pid>/stat`).
pub fn machine_busy_seconds() -> Option<f64> {
    let stat = std::fs::read_to_string("/proc/stat").ok()?;
    let line = stat.lines().find(|l| l.starts_with("cpu "))?;
    let ticks: Vec<f64> = line
        .split_whitespace()
        .skip(1)
        .take(8)
        .filter_map(|v| v.parse().ok())
        .collect();
    // user nice system idle iowait irq softirq steal
    let busy: f64 =
        ticks.iter().sum::<f64>() - ticks.get(3)? - ticks.get(4).copied().unwrap_or(0.0);
    Some(busy / clock_ticks_per_sec())
}

pub fn new_histogram() -> Result<Histogram<u64>> {
    // 1 ns to 5 min at 3 significant digits.
    Histogram::new_with_bounds(1, 300_000_000_000, 3).context("creating a latency histogram")
}

type Sender = SendRequest<Full<Bytes>>;

async fn connect(addr: SocketAddr) -> Result<Sender> {
    let stream = TcpStream::connect(addr)
        .await
        .with_context(|| format!("connecting to {addr}"))?;
    stream.set_nodelay(true).context("setting TCP_NODELAY")?;
    let (sender, connection) = http1::handshake(TokioIo::new(stream))
        .await
        .context("HTTP/1.1 handshake")?;
    tokio::spawn(async move {
        // Ends when the sender is dropped or the server closes; either way nothing to report.
        let _ = connection.await;
    });
    Ok(sender)
}

enum Outcome {
    Ok,
    /// An answer, but not a good one; the connection stays usable.
    Bad,
}

async fn one_request(sender: &mut Sender, target: &Target, host: &str) -> Result<Outcome> {
    sender.ready().await.context("waiting for the connection")?;
    let request = hyper::Request::post(target.path.as_str())
        .header(HOST, host)
        .header(CONTENT_TYPE, "application/json")
        .header(CONTENT_LENGTH, target.body.len())
        .body(Full::new(target.body.clone()))
        .context("building a request")?;
    let response = sender
        .send_request(request)
        .await
        .context("sending a request")?;
    let status = response.status();
    let body = response
        .into_body()
        .collect()
        .await
        .context("reading a response")?
        .to_bytes();
    let marked = target
        .error_marker
        .is_some_and(|marker| body.windows(marker.len()).any(|w| w == marker));
    Ok(if status == hyper::StatusCode::OK && !marked {
        Outcome::Ok
    } else {
        Outcome::Bad
    })
}

struct WorkerTally {
    requests: u64,
    errors: u64,
    latency: Histogram<u64>,
}

async fn worker(
    target: std::sync::Arc<Target>,
    settings: LoadSettings,
    measure_from: Instant,
    end: Instant,
) -> Result<WorkerTally> {
    let host = target.addr.to_string();
    let mut tally = WorkerTally {
        requests: 0,
        errors: 0,
        latency: new_histogram()?,
    };
    let mut sender: Option<Sender> = None;
    loop {
        let now = Instant::now();
        if now >= end {
            break;
        }
        let measuring = now >= measure_from;
        let conn = match sender.as_mut() {
            Some(s) => s,
            None => match connect(target.addr).await {
                Ok(s) => sender.insert(s),
                Err(_) => {
                    if measuring {
                        tally.errors += 1;
                    }
                    tokio::time::sleep(Duration::from_millis(10)).await;
                    continue;
                }
            },
        };
        let started = Instant::now();
        let outcome =
            tokio::time::timeout(settings.request_timeout, one_request(conn, &target, &host)).await;
        let finished = Instant::now();
        // Only requests that started and finished inside the measured window count.
        let counted = started >= measure_from && finished <= end;
        match outcome {
            Ok(Ok(Outcome::Ok)) if counted => {
                tally.requests += 1;
                let nanos = u64::try_from((finished - started).as_nanos()).unwrap_or(u64::MAX);
                tally.latency.saturating_record(nanos.max(1));
            }
            Ok(Ok(Outcome::Ok)) => {}
            Ok(Ok(Outcome::Bad)) => {
                if counted {
                    tally.errors += 1;
                }
            }
            Ok(Err(_)) | Err(_) => {
                if finished > measure_from && finished <= end {
                    tally.errors += 1;
                }
                sender = None;
            }
        }
    }
    Ok(tally)
}

/// Runs `settings.connections` closed loops against `target`: warm-up, then the measured window.
pub async fn run(target: &Target, settings: LoadSettings) -> Result<LoadResult> {
    if settings.connections == 0 {
        bail!("concurrency must be at least 1");
    }
    let target = std::sync::Arc::new(target.clone());
    let start = Instant::now();
    let measure_from = start + settings.warmup;
    let end = measure_from + settings.duration;
    let workers: Vec<_> = (0..settings.connections)
        .map(|_| tokio::spawn(worker(target.clone(), settings, measure_from, end)))
        .collect();
    let server_pid = settings.server_pid;
    let sampler = tokio::spawn(async move {
        let sample = || {
            (
                server_pid.and_then(cpu_seconds),
                cpu_seconds(std::process::id()),
                machine_busy_seconds(),
            )
        };
        tokio::time::sleep_until(measure_from).await;
        let (server_before, client_before, machine_before) = sample();
        tokio::time::sleep_until(end).await;
        let (server_after, client_after, machine_after) = sample();
        let seconds = (end - measure_from).as_secs_f64().max(1e-9);
        let cores = |a: Option<f64>, b: Option<f64>| Some((b? - a?) / seconds);
        (
            cores(server_before, server_after),
            cores(client_before, client_after),
            cores(machine_before, machine_after),
        )
    });
    let mut result = LoadResult {
        target: target.name.clone(),
        connections: settings.connections,
        requests: 0,
        errors: 0,
        elapsed: settings.duration,
        latency: new_histogram()?,
        server_cores: None,
        client_cores: None,
        machine_cores: None,
    };
    for w in workers {
        let tally = w.await.context("a load worker panicked")??;
        result.requests += tally.requests;
        result.errors += tally.errors;
        result
            .latency
            .add(&tally.latency)
            .context("merging latency histograms")?;
    }
    (
        result.server_cores,
        result.client_cores,
        result.machine_cores,
    ) = sampler.await.context("the CPU sampler panicked")?;
    Ok(result)
}

// ---------------------------------------------------------------------------------------------
// wrk, when installed: a second opinion from a load generator written in C.

/// wrk's figures for one run; latencies in milliseconds.
#[derive(Debug, Clone)]
pub struct WrkResult {
    pub target: String,
    pub connections: usize,
    pub requests_per_sec: f64,
    pub p50_ms: f64,
    pub p90_ms: f64,
    pub p99_ms: f64,
    pub max_ms: f64,
    pub errors: u64,
}

pub fn wrk_available() -> bool {
    std::process::Command::new("wrk")
        .arg("--version")
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::null())
        .status()
        .is_ok()
}

/// Lua for wrk: POST the body, and print the figures as one parseable line at the end.
fn wrk_script(body: &[u8]) -> Result<String> {
    let body = std::str::from_utf8(body).context("the request body is not UTF-8")?;
    if body.contains("]==]") {
        bail!("the request body cannot be quoted for wrk");
    }
    Ok(format!(
        r#"wrk.method = "POST"
wrk.body = [==[{body}]==]
wrk.headers["Content-Type"] = "application/json"
done = function(summary, latency, requests)
  local e = summary.errors
  io.write(string.format("KANJIAN_BENCH %d %d %d %d %d %d %d\n",
    summary.requests, summary.duration, e.connect + e.read + e.write + e.status + e.timeout,
    latency:percentile(50), latency:percentile(90), latency:percentile(99), latency.max))
end
"#
    ))
}

/// `wrk -t1 -c<connections> -d<duration>` against `target` (already warm).
pub async fn run_wrk(
    target: &Target,
    connections: usize,
    duration: Duration,
    dir: &std::path::Path,
) -> Result<WrkResult> {
    let script = dir.join(format!("wrk-{}.lua", target.name));
    std::fs::write(&script, wrk_script(&target.body)?).context("writing the wrk script")?;
    let url = format!("http://{}{}", target.addr, target.path);
    let output = tokio::process::Command::new("wrk")
        .args([
            "-t1",
            &format!("-c{connections}"),
            &format!("-d{}s", duration.as_secs().max(1)),
            "--timeout",
            "30s",
            "-s",
        ])
        .arg(&script)
        .arg(&url)
        .kill_on_drop(true)
        .output()
        .await
        .context("running wrk")?;
    let stdout = String::from_utf8_lossy(&output.stdout);
    let line = stdout
        .lines()
        .find_map(|l| l.strip_prefix("KANJIAN_BENCH "))
        .with_context(|| {
            format!(
                "wrk printed no figures: {stdout} {}",
                String::from_utf8_lossy(&output.stderr)
            )
        })?;
    let n: Vec<f64> = line
        .split_whitespace()
        .map(str::parse)
        .collect::<Result<_, _>>()
        .context("reading wrk's figures")?;
    let [requests, duration_us, errors, p50, p90, p99, max] = n[..] else {
        bail!("wrk printed {line:?}");
    };
    Ok(WrkResult {
        target: target.name.clone(),
        connections,
        requests_per_sec: requests / (duration_us / 1e6).max(1e-9),
        p50_ms: p50 / 1e3,
        p90_ms: p90 / 1e3,
        p99_ms: p99 / 1e3,
        max_ms: max / 1e3,
        errors: errors as u64,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn this_process_has_used_some_cpu() {
        let spent = cpu_seconds(std::process::id()).unwrap();
        assert!(spent >= 0.0);
        assert_eq!(cpu_seconds(u32::MAX), None);
        assert!(machine_busy_seconds().is_some_and(|s| s >= spent));
    }

    #[test]
    fn the_wrk_script_quotes_the_body_and_reports_one_line() {
        let script = wrk_script(br#"{"query":"{ a }"}"#).unwrap();
        assert!(script.contains(r#"wrk.body = [==[{"query":"{ a }"}]==]"#));
        assert!(script.contains("KANJIAN_BENCH"));
        assert!(wrk_script(b"x]==]y").is_err());
    }
}
