//! Live ingest (issue 14): how many copy-mode rooms the machine holds, and how long a segment
//! (and an LL-HLS part) takes from its first frame being sent to being listed in the room's
//! playlist, against nginx-rtmp and plain ffmpeg's HLS muxer measured in the same run with the
//! same publisher, the same clip and the same poller.
//!
//! - **Publishers** are cheap: one 720p30 H.264/AAC clip with a keyframe every second is encoded
//!   once, then each publisher is `ffmpeg -re -stream_loop -1 -i clip.flv -c copy -f flv rtmp://…`.
//!   Its `-progress` reports (every 0.1 s) give the wall-clock time at which it sends the frame of
//!   each RTMP timestamp: `sent(ts) = t0 + ts`, with `t0` the smallest `(time read − out_time)`
//!   over its reports (each report is read after the frames it counts were sent, so every one is an
//!   upper bound of `t0`, and the smallest is within about a frame of it).
//! - **The poller** asks each room's playlist over HTTP every `poll` ms on average (each wait
//!   uniform in 0.5–1.5 × `poll`, so the poll phase does not lock to the 1 s segments), notes when a segment is
//!   first listed, and fetches each new segment once (a viewer per room) to read its first video
//!   frame's timestamp: `tfdt` in fMP4 (kanjian and ffmpeg keep the publisher's timestamps with
//!   `-copyts`), the first video PES's DTS in MPEG-TS (nginx-rtmp adds a fixed 0.7 s to every
//!   timestamp, taken off here). The listing latency of a segment is
//!   `first listed − sent(its first video frame)`: it includes the segment's own duration (a
//!   segment is complete only when the next keyframe arrives), the packaging, and on average half
//!   a poll interval, alike on every side.
//! - **CPU and memory** of each server are read from `/proc`: the process and its descendants
//!   (kanjian's ffmpeg children), CPU seconds per second over the measured window, RSS of the
//!   server process, PSS of the children (shared libraries counted once).

use std::collections::{BTreeMap, HashMap};
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::sync::{Arc, Mutex, OnceLock};
use std::time::{Duration, Instant, SystemTime};

use anyhow::{Context as _, Result, bail};
use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use serde_json::json;
use tokio::io::{AsyncBufReadExt as _, BufReader};

use crate::api::Api;
use crate::load::{cpu_seconds, machine_busy_seconds};
use crate::report::{Table, load_average, ratio};
use crate::servers::{self, ChildServer};

/// nginx-rtmp's HLS module adds this to every PTS and DTS it writes (`NGX_RTMP_HLS_DELAY`,
/// 0.7 s at 90 kHz), so players have a margin; the bench takes it off to get the RTMP time back.
const NGINX_RTMP_HLS_DELAY_90K: i64 = 63_000;
/// kanjian's `PART-HOLD-BACK` (three 0.334 s part targets): how far behind the live edge an
/// LL-HLS player plays.
const PART_HOLD_BACK: f64 = 1.002;
/// The clip every publisher loops.
const CLIP_SECONDS: u32 = 10;
const CLIP_FPS: u32 = 30;
/// Between two new publishers of a step.
const PUBLISHER_STAGGER: Duration = Duration::from_millis(50);

const SCHEDULE: &str = "mutation($input: ScheduleLiveInput!) { scheduleLive(input: $input) { liveRoom { id streamCredentials { serverUrl streamKey } } userErrors { field message code } } }";

pub struct LiveSettings {
    /// Publishers at once, in steps: the ramp stops after the first step that does not hold.
    pub rooms: Vec<usize>,
    pub window: Duration,
    pub settle: Duration,
    pub poll: Duration,
    /// Publishers on each baseline (nginx-rtmp, plain ffmpeg); 0: no baselines.
    pub baseline_rooms: usize,
    pub workers: usize,
    pub segment_seconds: u32,
    /// Whether the long mode was asked (for the results).
    pub long: bool,
}

// --- time ---------------------------------------------------------------------------------

/// One time base for everything measured: seconds since the run started (monotonic), with the
/// wall-clock time of that start, to read `EXT-X-PROGRAM-DATE-TIME` against.
struct Epoch {
    at: Instant,
    unix: f64,
}

fn epoch() -> &'static Epoch {
    static EPOCH: OnceLock<Epoch> = OnceLock::new();
    EPOCH.get_or_init(|| Epoch {
        at: Instant::now(),
        unix: SystemTime::now()
            .duration_since(SystemTime::UNIX_EPOCH)
            .map_or(0.0, |d| d.as_secs_f64()),
    })
}

fn now() -> f64 {
    epoch().at.elapsed().as_secs_f64()
}

/// A program date-time (RFC 3339, or ffmpeg's `+0000` offset) in the run's time base.
fn pdt_secs(value: &str) -> Option<f64> {
    let parsed = chrono::DateTime::parse_from_rfc3339(value)
        .or_else(|_| chrono::DateTime::parse_from_str(value, "%Y-%m-%dT%H:%M:%S%.f%z"))
        .ok()?;
    let unix = parsed.timestamp() as f64 + f64::from(parsed.timestamp_subsec_nanos()) / 1e9;
    Some(unix - epoch().unix)
}

// --- the clip and the publishers -----------------------------------------------------------

/// 720p30 test pattern with noise (so it needs its 2.5 Mb/s, like a camera), x264 with a
/// keyframe every second and no B-frames, AAC 128 kb/s 48 kHz stereo, in FLV.
fn make_clip(path: &Path) -> Result<()> {
    let (fps, seconds) = (CLIP_FPS.to_string(), CLIP_SECONDS.to_string());
    let mut args: Vec<String> = [
        "-hide_banner",
        "-loglevel",
        "error",
        "-y",
        "-f",
        "lavfi",
        "-i",
    ]
    .map(String::from)
    .to_vec();
    args.push(format!(
        "testsrc2=size=1280x720:rate={fps},noise=alls=12:allf=t"
    ));
    args.extend(
        [
            "-f",
            "lavfi",
            "-i",
            "sine=frequency=440:sample_rate=48000",
            "-t",
            &seconds,
            "-c:v",
            "libx264",
            "-preset",
            "veryfast",
            "-profile:v",
            "main",
            "-pix_fmt",
            "yuv420p",
            "-b:v",
            "2500k",
            "-maxrate",
            "2500k",
            "-bufsize",
            "2500k",
            "-bf",
            "0",
            "-sc_threshold",
            "0",
            "-g",
            &fps,
            "-keyint_min",
            &fps,
            "-c:a",
            "aac",
            "-b:a",
            "128k",
            "-ar",
            "48000",
            "-ac",
            "2",
        ]
        .map(String::from),
    );
    args.push(path.display().to_string());
    crate::media::run_ffmpeg(&args).context("making the live clip")
}

/// The `-progress` reports of one publisher: (time read, out_time) pairs.
#[derive(Default)]
struct SendClock {
    /// (time read, time read − out_time), in the run's time base.
    reports: Vec<(f64, f64)>,
}

impl SendClock {
    /// `t0`: when the frame stamped 0 was (or would have been) sent.
    fn t0(&self) -> Option<f64> {
        self.reports
            .iter()
            .map(|&(_, offset)| offset)
            .min_by(f64::total_cmp)
    }

    /// How late the publisher was at worst in `[from, to)`: its offset above `t0`. A publisher
    /// starved of CPU sends late, and that lateness is not the server's.
    fn max_lag(&self, from: f64, to: f64) -> Option<f64> {
        let t0 = self.t0()?;
        self.reports
            .iter()
            .filter(|(at, _)| (from..to).contains(at))
            .map(|&(_, offset)| offset - t0)
            .max_by(f64::total_cmp)
    }
}

struct Publisher {
    child: tokio::process::Child,
    clock: Arc<Mutex<SendClock>>,
    log: PathBuf,
    /// Where it publishes: ffmpeg's errors name it, and its last part is the stream key.
    url: String,
}

impl Publisher {
    fn spawn(clip: &Path, url: &str, log: &Path) -> Result<Self> {
        let stderr = std::fs::File::create(log).with_context(|| log.display().to_string())?;
        let mut child = tokio::process::Command::new("ffmpeg")
            .args(["-hide_banner", "-nostdin", "-loglevel", "error"])
            .args(["-stats_period", "0.1", "-progress", "pipe:1"])
            .args(["-re", "-stream_loop", "-1", "-i"])
            .arg(clip)
            .args(["-c", "copy", "-f", "flv", url])
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::from(stderr))
            .kill_on_drop(true)
            .spawn()
            .context("starting an ffmpeg publisher")?;
        let stdout = child.stdout.take().context("the publisher's stdout")?;
        let clock = Arc::new(Mutex::new(SendClock::default()));
        let reports = Arc::clone(&clock);
        tokio::spawn(async move {
            let mut lines = BufReader::new(stdout).lines();
            while let Ok(Some(line)) = lines.next_line().await {
                let at = now();
                if let Some(us) = line
                    .strip_prefix("out_time_us=")
                    .and_then(|v| v.trim().parse::<i64>().ok())
                    .filter(|us| *us > 0)
                {
                    let mut clock = reports.lock().unwrap_or_else(|e| e.into_inner());
                    clock.reports.push((at, at - us as f64 / 1e6));
                }
            }
        });
        Ok(Self {
            child,
            clock,
            log: log.to_path_buf(),
            url: url.to_owned(),
        })
    }

    fn pid(&self) -> Option<u32> {
        self.child.id()
    }

    /// Why the publisher is no longer sending, if it is not.
    fn exited(&mut self) -> Option<String> {
        match self.child.try_wait() {
            Ok(None) => None,
            Ok(Some(status)) => {
                let log = std::fs::read_to_string(&self.log).unwrap_or_default();
                // The results may be shared: the stream key stays out of them.
                let shown = match self.url.rsplit_once('/') {
                    Some((base, _)) => format!("{base}/<key>"),
                    None => "<url>".into(),
                };
                let log = log.replace(&self.url, &shown);
                let tail: Vec<&str> = log.lines().rev().take(3).collect();
                Some(format!(
                    "publisher exited ({status}): {}",
                    tail.into_iter().rev().collect::<Vec<_>>().join(" / ")
                ))
            }
            Err(e) => Some(format!("publisher unknown: {e}")),
        }
    }
}

// --- playlists and segments ----------------------------------------------------------------

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Container {
    /// fMP4 segments with an `EXT-X-MAP` init segment (kanjian, plain ffmpeg).
    Fmp4,
    /// MPEG-TS segments with nginx-rtmp's 0.7 s added to every timestamp.
    TsNginx,
}

#[derive(Debug, Clone, PartialEq)]
struct Entry {
    sequence: u64,
    uri: String,
    duration: f64,
    /// `EXT-X-PROGRAM-DATE-TIME`, as written.
    pdt: Option<String>,
    map: Option<String>,
    discontinuity: bool,
}

/// The media segments of an HLS media playlist, numbered from `EXT-X-MEDIA-SEQUENCE`.
fn parse_playlist(text: &str) -> Result<Vec<Entry>> {
    if !text.starts_with("#EXTM3U") {
        bail!(
            "not a playlist: {:?}",
            text.chars().take(80).collect::<String>()
        );
    }
    let mut sequence = 0u64;
    let mut entries = Vec::new();
    let (mut duration, mut pdt, mut map, mut discontinuity) = (None, None, None, false);
    for line in text.lines().map(str::trim) {
        if let Some(v) = line.strip_prefix("#EXT-X-MEDIA-SEQUENCE:") {
            sequence = v.parse().with_context(|| format!("media sequence {v:?}"))?;
        } else if let Some(v) = line.strip_prefix("#EXTINF:") {
            let secs = v.split(',').next().unwrap_or_default();
            duration = Some(
                secs.parse::<f64>()
                    .with_context(|| format!("EXTINF {v:?}"))?,
            );
        } else if let Some(v) = line.strip_prefix("#EXT-X-PROGRAM-DATE-TIME:") {
            pdt = Some(v.to_owned());
        } else if let Some(v) = line.strip_prefix("#EXT-X-MAP:") {
            map = v
                .split("URI=\"")
                .nth(1)
                .and_then(|rest| rest.split('"').next())
                .map(str::to_owned);
        } else if line == "#EXT-X-DISCONTINUITY" {
            discontinuity = true;
        } else if !line.is_empty() && !line.starts_with('#') {
            entries.push(Entry {
                sequence,
                uri: line.to_owned(),
                duration: duration.take().context("a segment without EXTINF")?,
                pdt: pdt.take(),
                map: map.clone(),
                discontinuity: std::mem::take(&mut discontinuity),
            });
            sequence += 1;
        }
    }
    Ok(entries)
}

/// An LL-HLS part (`EXT-X-PART`) of a playlist: the segment it belongs to and its place there.
struct PartEntry {
    sequence: u64,
    index: u32,
    uri: String,
    duration: f64,
    map: Option<String>,
}

/// The parts a playlist lists (kanjian's LL-HLS playlists; none in the baselines').
fn parse_parts(text: &str) -> Result<Vec<PartEntry>> {
    let mut sequence = 0u64;
    let mut index = 0u32;
    let mut map = None;
    let mut parts = Vec::new();
    for line in text.lines().map(str::trim) {
        if let Some(v) = line.strip_prefix("#EXT-X-MEDIA-SEQUENCE:") {
            sequence = v.parse().with_context(|| format!("media sequence {v:?}"))?;
        } else if let Some(v) = line.strip_prefix("#EXT-X-MAP:") {
            map = v
                .split("URI=\"")
                .nth(1)
                .and_then(|rest| rest.split('"').next())
                .map(str::to_owned);
        } else if let Some(v) = line.strip_prefix("#EXT-X-PART:") {
            let attr = |name: &str| {
                v.split(',')
                    .find_map(|kv| kv.strip_prefix(name))
                    .map(|value| value.trim_matches('"').to_owned())
            };
            parts.push(PartEntry {
                sequence,
                index,
                uri: attr("URI=").context("a part without URI")?,
                duration: attr("DURATION=")
                    .context("a part without DURATION")?
                    .parse()
                    .with_context(|| format!("part {v:?}"))?,
                map: map.clone(),
            });
            index += 1;
        } else if !line.is_empty() && !line.starts_with('#') {
            sequence += 1;
            index = 0;
        }
    }
    Ok(parts)
}

/// ISO BMFF boxes in `data`: (type, body).
fn boxes(mut data: &[u8]) -> Vec<([u8; 4], &[u8])> {
    let mut out = Vec::new();
    while data.len() >= 8 {
        let size32 = u32::from_be_bytes([data[0], data[1], data[2], data[3]]) as usize;
        let kind = [data[4], data[5], data[6], data[7]];
        let (header, size) = match size32 {
            0 => (8, data.len()),
            1 if data.len() >= 16 => {
                let mut large = [0u8; 8];
                large.copy_from_slice(&data[8..16]);
                (
                    16,
                    usize::try_from(u64::from_be_bytes(large)).unwrap_or(usize::MAX),
                )
            }
            n => (8, n),
        };
        if size < header || size > data.len() {
            break;
        }
        out.push((kind, &data[header..size]));
        data = &data[size..];
    }
    out
}

fn child<'a>(data: &'a [u8], kind: &[u8; 4]) -> Option<&'a [u8]> {
    boxes(data)
        .into_iter()
        .find(|(k, _)| k == kind)
        .map(|(_, b)| b)
}

fn be32(b: &[u8], at: usize) -> Option<u32> {
    Some(u32::from_be_bytes(b.get(at..at + 4)?.try_into().ok()?))
}

fn be64(b: &[u8], at: usize) -> Option<u64> {
    Some(u64::from_be_bytes(b.get(at..at + 8)?.try_into().ok()?))
}

/// The video track of an init segment: (track id, timescale).
fn init_video_track(init: &[u8]) -> Option<(u32, u32)> {
    let moov = child(init, b"moov")?;
    boxes(moov)
        .into_iter()
        .filter(|(k, _)| k == b"trak")
        .find_map(|(_, trak)| {
            let tkhd = child(trak, b"tkhd")?;
            let track_id = be32(tkhd, if tkhd[0] == 1 { 20 } else { 12 })?;
            let mdia = child(trak, b"mdia")?;
            let hdlr = child(mdia, b"hdlr")?;
            if hdlr.get(8..12)? != b"vide" {
                return None;
            }
            let mdhd = child(mdia, b"mdhd")?;
            let timescale = be32(mdhd, if mdhd[0] == 1 { 20 } else { 12 })?;
            Some((track_id, timescale))
        })
}

/// The base decode time (`tfdt`) of `track_id` in an fMP4 media segment, in its timescale.
fn fmp4_first_dts(segment: &[u8], track_id: u32) -> Option<u64> {
    boxes(segment)
        .into_iter()
        .filter(|(k, _)| k == b"moof")
        .flat_map(|(_, moof)| boxes(moof))
        .filter(|(k, _)| k == b"traf")
        .find_map(|(_, traf)| {
            if be32(child(traf, b"tfhd")?, 4)? != track_id {
                return None;
            }
            let tfdt = child(traf, b"tfdt")?;
            if tfdt[0] == 1 {
                be64(tfdt, 4)
            } else {
                be32(tfdt, 4).map(u64::from)
            }
        })
}

/// The DTS (else PTS) of the first video PES in an MPEG-TS segment, at 90 kHz.
fn ts_first_video_dts(segment: &[u8]) -> Option<i64> {
    let stamp = |b: &[u8]| -> i64 {
        (i64::from((b[0] >> 1) & 0x07) << 30)
            | (i64::from(b[1]) << 22)
            | (i64::from(b[2] >> 1) << 15)
            | (i64::from(b[3]) << 7)
            | i64::from(b[4] >> 1)
    };
    for packet in segment.chunks_exact(188) {
        let unit_start = packet[1] & 0x40 != 0;
        let adaptation = (packet[3] >> 4) & 0x03;
        if packet[0] != 0x47 || !unit_start || adaptation & 0x01 == 0 {
            continue;
        }
        let start = if adaptation == 3 {
            5 + usize::from(packet[4])
        } else {
            4
        };
        let Some(pes) = packet.get(start..) else {
            continue;
        };
        if pes.len() < 19 || pes[..3] != [0, 0, 1] || !(0xE0..=0xEF).contains(&pes[3]) {
            continue;
        }
        match pes[7] >> 6 {
            3 => return Some(stamp(&pes[14..19])),
            2 => return Some(stamp(&pes[9..14])),
            _ => {}
        }
    }
    None
}

/// One listed segment as the poller saw it.
#[derive(Debug, Clone)]
struct Seen {
    /// When a poll first found it listed (run time base).
    listed: f64,
    duration: f64,
    /// Its program date-time, in the run's time base.
    pdt: Option<f64>,
    discontinuity: bool,
    /// Its first video frame's RTMP time, in seconds, once fetched.
    first_ts: Option<f64>,
    fetch_error: Option<String>,
}

#[derive(Default)]
struct Watched {
    segments: BTreeMap<u64, Seen>,
    /// LL-HLS parts by (segment, index), as for segments (`pdt` and `discontinuity` unused).
    parts: BTreeMap<(u64, u32), Seen>,
    playlist_errors: u64,
    last_error: Option<String>,
    /// HTTP requests made so far (playlists, segments, init segments).
    requests: u64,
}

/// A uniform number in [0, 1) from a xorshift64 state: enough to spread poll instants.
fn next_unit(state: &mut u64) -> f64 {
    *state ^= *state << 13;
    *state ^= *state >> 7;
    *state ^= *state << 17;
    (*state >> 11) as f64 / (1u64 << 53) as f64
}

/// Polls one room's playlist and fetches each new segment once.
struct Watcher {
    state: Arc<Mutex<Watched>>,
    task: tokio::task::JoinHandle<()>,
}

impl Drop for Watcher {
    fn drop(&mut self) {
        self.task.abort();
    }
}

impl Watcher {
    fn start(
        http: reqwest::Client,
        playlist: url::Url,
        container: Container,
        poll: Duration,
    ) -> Self {
        let state = Arc::new(Mutex::new(Watched::default()));
        let inits: Arc<Mutex<HashMap<String, (u32, u32)>>> = Arc::default();
        let shared = Arc::clone(&state);
        // Each wait is uniform in [0.5, 1.5) × poll: a fixed period would keep the same phase
        // against the 1 s segments, and give every segment of a room the same poll delay.
        let mut seed =
            (now().to_bits() ^ playlist.as_str().len() as u64 ^ (Arc::as_ptr(&state) as u64)) | 1;
        let task = tokio::spawn(async move {
            loop {
                tokio::time::sleep(poll.mul_f64(0.5 + next_unit(&mut seed))).await;
                shared.lock().unwrap_or_else(|e| e.into_inner()).requests += 1;
                let answer = async {
                    let response = http.get(playlist.clone()).send().await?;
                    if !response.status().is_success() {
                        bail!("playlist: HTTP {}", response.status());
                    }
                    Ok(response.text().await?)
                }
                .await;
                let at = now();
                let parsed = answer.and_then(|text| Ok((parse_playlist(&text)?, parse_parts(&text)?)));
                let (entries, parts) = match parsed {
                    Ok(parsed) => parsed,
                    Err(e) => {
                        let mut state = shared.lock().unwrap_or_else(|e| e.into_inner());
                        state.playlist_errors += 1;
                        state.last_error = Some(format!("{e:#}"));
                        continue;
                    }
                };
                for part in parts {
                    let key = (part.sequence, part.index);
                    {
                        let mut state = shared.lock().unwrap_or_else(|e| e.into_inner());
                        if state.parts.contains_key(&key) {
                            continue;
                        }
                        state.requests += 1;
                        state.parts.insert(
                            key,
                            Seen {
                                listed: at,
                                duration: part.duration,
                                pdt: None,
                                discontinuity: false,
                                first_ts: None,
                                fetch_error: None,
                            },
                        );
                    }
                    let entry = Entry {
                        sequence: part.sequence,
                        uri: part.uri,
                        duration: part.duration,
                        pdt: None,
                        map: part.map,
                        discontinuity: false,
                    };
                    let (http, playlist, shared, inits) = (
                        http.clone(),
                        playlist.clone(),
                        Arc::clone(&shared),
                        Arc::clone(&inits),
                    );
                    tokio::spawn(async move {
                        let first =
                            first_frame_ts(&http, &playlist, &entry, container, &inits).await;
                        let mut state = shared.lock().unwrap_or_else(|e| e.into_inner());
                        if let Some(seen) = state.parts.get_mut(&key) {
                            match first {
                                Ok(ts) => seen.first_ts = Some(ts),
                                Err(e) => seen.fetch_error = Some(format!("{e:#}")),
                            }
                        }
                    });
                }
                for entry in entries {
                    {
                        let mut state = shared.lock().unwrap_or_else(|e| e.into_inner());
                        if state.segments.contains_key(&entry.sequence) {
                            continue;
                        }
                        state.requests += 1;
                        state.segments.insert(
                            entry.sequence,
                            Seen {
                                listed: at,
                                duration: entry.duration,
                                pdt: entry.pdt.as_deref().and_then(pdt_secs),
                                discontinuity: entry.discontinuity,
                                first_ts: None,
                                fetch_error: None,
                            },
                        );
                    }
                    let (http, playlist, shared, inits) = (
                        http.clone(),
                        playlist.clone(),
                        Arc::clone(&shared),
                        Arc::clone(&inits),
                    );
                    tokio::spawn(async move {
                        let first =
                            first_frame_ts(&http, &playlist, &entry, container, &inits).await;
                        let mut state = shared.lock().unwrap_or_else(|e| e.into_inner());
                        if let Some(seen) = state.segments.get_mut(&entry.sequence) {
                            match first {
                                Ok(ts) => seen.first_ts = Some(ts),
                                Err(e) => seen.fetch_error = Some(format!("{e:#}")),
                            }
                        }
                    });
                }
            }
        });
        Self { state, task }
    }
}

async fn fetch(http: &reqwest::Client, url: url::Url) -> Result<bytes::Bytes> {
    let response = http
        .get(url.clone())
        .send()
        .await
        .with_context(|| url.to_string())?;
    if !response.status().is_success() {
        bail!("{url}: HTTP {}", response.status());
    }
    Ok(response.bytes().await?)
}

/// The RTMP time (s) of the segment's first video frame.
async fn first_frame_ts(
    http: &reqwest::Client,
    playlist: &url::Url,
    entry: &Entry,
    container: Container,
    inits: &Mutex<HashMap<String, (u32, u32)>>,
) -> Result<f64> {
    let segment = fetch(http, playlist.join(&entry.uri)?).await?;
    match container {
        Container::TsNginx => {
            let dts = ts_first_video_dts(&segment).context("no video PES in the TS segment")?;
            Ok((dts - NGINX_RTMP_HLS_DELAY_90K) as f64 / 90_000.0)
        }
        Container::Fmp4 => {
            let map = entry
                .map
                .as_deref()
                .context("an fMP4 segment without EXT-X-MAP")?;
            let known = inits
                .lock()
                .unwrap_or_else(|e| e.into_inner())
                .get(map)
                .copied();
            let (track, timescale) = match known {
                Some(track) => track,
                None => {
                    let init = fetch(http, playlist.join(map)?).await?;
                    let track =
                        init_video_track(&init).context("no video track in the init segment")?;
                    inits
                        .lock()
                        .unwrap_or_else(|e| e.into_inner())
                        .insert(map.to_owned(), track);
                    track
                }
            };
            let dts = fmp4_first_dts(&segment, track).context("no tfdt for the video track")?;
            Ok(dts as f64 / f64::from(timescale.max(1)))
        }
    }
}

// --- rooms, windows, processes -------------------------------------------------------------

struct Room {
    label: String,
    publisher: Publisher,
    watcher: Watcher,
    /// When its publisher was started (run time base).
    started: f64,
}

impl Room {
    fn new(label: String, publisher: Publisher, watcher: Watcher) -> Self {
        Self {
            label,
            publisher,
            watcher,
            started: now(),
        }
    }

    /// Publisher start → the room's first segment listed: the time to go live, in seconds.
    fn went_live_after(&self) -> Option<f64> {
        let state = self.watcher.state.lock().unwrap_or_else(|e| e.into_inner());
        state
            .segments
            .values()
            .map(|s| s.listed)
            .min_by(f64::total_cmp)
            .map(|first| first - self.started)
    }
}

/// Waits until every room lists a segment (at most `limit`), then `settle` more, so a window
/// measures rooms on air and not the start-up of the last ones (the ingest holds about two GOPs
/// before it chooses copy mode, and flushes them at once). Returns the go-live times of `new`.
async fn settle(rooms: &[Room], new: std::ops::Range<usize>, settle: Duration) -> Vec<f64> {
    let limit = Instant::now() + Duration::from_secs(60);
    while Instant::now() < limit && rooms.iter().any(|r| r.went_live_after().is_none()) {
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    tokio::time::sleep(settle).await;
    rooms[new]
        .iter()
        .filter_map(Room::went_live_after)
        .collect()
}

/// What one room did in a measured window.
struct RoomWindow {
    listed: usize,
    /// Listing latencies (s) of the segments first listed in the window.
    latencies: Vec<f64>,
    /// PDT − sent of the same segments.
    pdt_offsets: Vec<f64>,
    /// Of the LL-HLS parts first listed in the window: first frame sent → listed, and last
    /// frame's end (first frame + duration) → listed (s).
    part_latencies: Vec<f64>,
    part_end_latencies: Vec<f64>,
    /// Segments: last frame's end → listed (s).
    end_latencies: Vec<f64>,
    /// Why the room did not keep up, if it did not.
    fault: Option<String>,
    /// The publisher's own worst lateness in the window (s).
    publisher_lag: Option<f64>,
}

fn judge_room(room: &mut Room, from: f64, to: f64, segment_seconds: f64) -> RoomWindow {
    let exited = room.publisher.exited();
    let clock = room
        .publisher
        .clock
        .lock()
        .unwrap_or_else(|e| e.into_inner());
    let t0 = clock.t0();
    let publisher_lag = clock.max_lag(from, to);
    drop(clock);
    let state = room.watcher.state.lock().unwrap_or_else(|e| e.into_inner());
    let in_window: Vec<(u64, &Seen)> = state
        .segments
        .iter()
        .filter(|(_, s)| (from..to).contains(&s.listed))
        .map(|(k, s)| (*k, s))
        .collect();
    let mut faults = Vec::new();
    if let Some(why) = exited {
        faults.push(why);
    }
    let expected = ((to - from) / segment_seconds).floor() as usize;
    if in_window.len() + 1 < expected {
        faults.push(format!(
            "{} segments listed in {:.0} s, {} expected{}",
            in_window.len(),
            to - from,
            expected,
            state
                .last_error
                .as_deref()
                .map(|e| format!(" (last playlist error: {e})"))
                .unwrap_or_default()
        ));
    }
    let (mut latencies, mut pdt_offsets, mut end_latencies) = (Vec::new(), Vec::new(), Vec::new());
    for &(sequence, seen) in &in_window {
        // The segment before must have been listed (no sequence gap), and this one must start
        // where it ended (no media gap) without a discontinuity (no restart, no transcoding).
        match sequence
            .checked_sub(1)
            .map(|before| (before, state.segments.get(&before)))
        {
            None => {}
            Some((before, None)) => faults.push(format!("segment {before} never listed")),
            Some((_, Some(before))) => {
                if let (Some(a), Some(b)) = (before.first_ts, seen.first_ts) {
                    let gap = b - (a + before.duration);
                    if gap.abs() > 0.1 {
                        faults.push(format!("a {gap:+.3} s media gap before segment {sequence}"));
                    }
                }
            }
        }
        if seen.discontinuity {
            faults.push(format!("a discontinuity at segment {sequence}"));
        }
        if let Some(e) = &seen.fetch_error {
            faults.push(format!("segment {sequence}: {e}"));
        }
        if let (Some(t0), Some(ts)) = (t0, seen.first_ts) {
            let sent = t0 + ts;
            latencies.push(seen.listed - sent);
            end_latencies.push(seen.listed - (sent + seen.duration));
            if let Some(pdt) = seen.pdt {
                pdt_offsets.push(pdt - sent);
            }
        } else if seen.fetch_error.is_none() {
            faults.push(format!("segment {sequence}: first frame not read in time"));
        }
    }
    let (mut part_latencies, mut part_end_latencies) = (Vec::new(), Vec::new());
    for (&(sequence, index), seen) in state.parts.iter().filter(|(_, s)| (from..to).contains(&s.listed)) {
        match (t0, seen.first_ts, &seen.fetch_error) {
            (_, _, Some(e)) => faults.push(format!("part {sequence}.{index}: {e}")),
            (Some(t0), Some(ts), None) => {
                part_latencies.push(seen.listed - (t0 + ts));
                part_end_latencies.push(seen.listed - (t0 + ts + seen.duration));
            }
            _ => faults.push(format!("part {sequence}.{index}: first frame not read in time")),
        }
    }
    faults.dedup();
    RoomWindow {
        listed: in_window.len(),
        latencies,
        pdt_offsets,
        part_latencies,
        part_end_latencies,
        end_latencies,
        fault: (!faults.is_empty()).then(|| format!("{}: {}", room.label, faults.join("; "))),
        publisher_lag,
    }
}

/// A process and all its descendants, from `/proc/*/stat` (field 4 is the parent).
fn process_tree(root: u32) -> Vec<u32> {
    let mut parents: Vec<(u32, u32)> = Vec::new();
    if let Ok(dir) = std::fs::read_dir("/proc") {
        for entry in dir.flatten() {
            let Some(pid) = entry
                .file_name()
                .to_str()
                .and_then(|s| s.parse::<u32>().ok())
            else {
                continue;
            };
            let Ok(stat) = std::fs::read_to_string(format!("/proc/{pid}/stat")) else {
                continue;
            };
            if let Some(ppid) = stat
                .rsplit_once(')')
                .and_then(|(_, rest)| rest.split_whitespace().nth(1))
                .and_then(|p| p.parse::<u32>().ok())
            {
                parents.push((pid, ppid));
            }
        }
    }
    let mut tree = vec![root];
    let mut i = 0;
    while i < tree.len() {
        let parent = tree[i];
        tree.extend(
            parents
                .iter()
                .filter(|(_, p)| *p == parent)
                .map(|(c, _)| *c),
        );
        i += 1;
    }
    tree
}

fn status_kb(pid: u32, file: &str, field: &str) -> Option<f64> {
    std::fs::read_to_string(format!("/proc/{pid}/{file}"))
        .ok()?
        .lines()
        .find(|l| l.starts_with(field))?
        .split_whitespace()
        .nth(1)?
        .parse()
        .ok()
}

fn cmdline(pid: u32) -> String {
    std::fs::read(format!("/proc/{pid}/cmdline"))
        .map(|b| String::from_utf8_lossy(&b).replace('\0', " "))
        .unwrap_or_default()
}

/// CPU seconds of each process in a set, at one instant.
fn cpu_of(pids: &[u32]) -> HashMap<u32, f64> {
    pids.iter()
        .filter_map(|&p| cpu_seconds(p).map(|c| (p, c)))
        .collect()
}

/// CPU seconds the processes in `after` used since `before` (a process new since then counts
/// whole: it started in the window).
fn cpu_delta(before: &HashMap<u32, f64>, after: &HashMap<u32, f64>) -> f64 {
    after
        .iter()
        .map(|(pid, c)| c - before.get(pid).copied().unwrap_or(0.0))
        .sum()
}

/// One measured window of one server with N rooms.
#[derive(Debug, Clone, Default)]
struct Step {
    rooms: usize,
    kept_up: usize,
    listed: usize,
    latencies: Vec<f64>,
    pdt_offsets: Vec<f64>,
    /// LL-HLS parts (kanjian): first frame sent → listed, and last frame's end → listed.
    part_latencies: Vec<f64>,
    part_end_latencies: Vec<f64>,
    /// Segments: last frame's end (first frame + duration) → listed.
    end_latencies: Vec<f64>,
    server_cores: f64,
    /// Of which the server's child processes (kanjian's ffmpeg packagers).
    children_cores: f64,
    children: usize,
    transcoding: usize,
    server_rss_mb: f64,
    children_pss_mb: f64,
    publisher_cores: f64,
    rest_cores: f64,
    publisher_lag: f64,
    /// HTTP requests per second the poller made to the server (playlists and segments).
    requests_per_sec: f64,
    /// Publisher start → first segment listed, of the rooms new in this step (s).
    went_live: Vec<f64>,
    load: f64,
    faults: Vec<String>,
}

impl Step {
    fn quantile(&self, q: f64) -> f64 {
        quantile(&self.latencies, q)
    }

    /// All rooms kept up, every packager copies, and the p99 listing latency is under two
    /// segment lengths.
    fn holds(&self, segment_seconds: f64) -> bool {
        self.kept_up == self.rooms
            && self.transcoding == 0
            && !self.latencies.is_empty()
            && self.quantile(0.99) < 2.0 * segment_seconds
    }
}

fn quantile(values: &[f64], q: f64) -> f64 {
    if values.is_empty() {
        return f64::NAN;
    }
    let mut sorted = values.to_vec();
    sorted.sort_by(f64::total_cmp);
    let rank = (q * sorted.len() as f64).ceil() as usize;
    sorted[rank.clamp(1, sorted.len()) - 1]
}

/// Measures `rooms` on the server whose processes (each with its descendants) are `servers`,
/// for `window`.
async fn measure(
    rooms: &mut [Room],
    servers: &[u32],
    window: Duration,
    segment_seconds: f64,
) -> Step {
    let trees = || -> Vec<u32> { servers.iter().flat_map(|&s| process_tree(s)).collect() };
    let publisher_pids: Vec<u32> = rooms.iter().filter_map(|r| r.publisher.pid()).collect();
    let tree_before = cpu_of(&trees());
    let publishers_before = cpu_of(&publisher_pids);
    let me_before = cpu_seconds(std::process::id()).unwrap_or(0.0);
    let machine_before = machine_busy_seconds().unwrap_or(0.0);
    let requests = |rooms: &[Room]| -> u64 {
        rooms
            .iter()
            .map(|r| {
                r.watcher
                    .state
                    .lock()
                    .unwrap_or_else(|e| e.into_inner())
                    .requests
            })
            .sum()
    };
    let requests_before = requests(rooms);
    let from = now();
    tokio::time::sleep(window).await;
    let to = now();
    let tree = trees();
    let tree_after = cpu_of(&tree);
    let publishers_after = cpu_of(&publisher_pids);
    let me_after = cpu_seconds(std::process::id()).unwrap_or(0.0);
    let machine_after = machine_busy_seconds().unwrap_or(0.0);
    let requests_after = requests(rooms);
    let elapsed = (to - from).max(1e-9);
    let children: Vec<u32> = tree
        .iter()
        .copied()
        .filter(|p| !servers.contains(p))
        .collect();
    let server_cores = cpu_delta(&tree_before, &tree_after) / elapsed;
    let children_cores = {
        let after: HashMap<u32, f64> = tree_after
            .iter()
            .filter(|(p, _)| !servers.contains(p))
            .map(|(p, c)| (*p, *c))
            .collect();
        // No children (the Rust segmenter): 0, not the -0 an empty sum would print.
        (cpu_delta(&tree_before, &after) / elapsed).max(0.0)
    };
    let publisher_cores = cpu_delta(&publishers_before, &publishers_after) / elapsed;
    let me = (me_after - me_before) / elapsed;
    let machine = (machine_after - machine_before) / elapsed;
    let step = Step {
        rooms: rooms.len(),
        server_cores,
        children_cores,
        children: children.len(),
        transcoding: children
            .iter()
            .filter(|&&p| cmdline(p).contains("libx264"))
            .count(),
        server_rss_mb: servers
            .iter()
            .filter_map(|&p| status_kb(p, "status", "VmRSS:"))
            .sum::<f64>()
            / 1024.0,
        children_pss_mb: (children
            .iter()
            .filter_map(|&p| status_kb(p, "smaps_rollup", "Pss:"))
            .sum::<f64>()
            / 1024.0)
            .max(0.0),
        publisher_cores,
        rest_cores: (machine - server_cores - publisher_cores - me).max(0.0),
        requests_per_sec: (requests_after - requests_before) as f64 / elapsed,
        load: load_average().unwrap_or(f64::NAN),
        ..Step::default()
    };
    // Segments listed near the end of the window are still being fetched: give them a moment.
    tokio::time::sleep(Duration::from_millis(1500)).await;
    let mut step = step;
    for room in rooms.iter_mut() {
        let judged = judge_room(room, from, to, segment_seconds);
        step.listed += judged.listed;
        step.latencies.extend(judged.latencies);
        step.pdt_offsets.extend(judged.pdt_offsets);
        step.part_latencies.extend(judged.part_latencies);
        step.part_end_latencies.extend(judged.part_end_latencies);
        step.end_latencies.extend(judged.end_latencies);
        step.publisher_lag = step.publisher_lag.max(judged.publisher_lag.unwrap_or(0.0));
        match judged.fault {
            None => step.kept_up += 1,
            Some(fault) => step.faults.push(fault),
        }
    }
    step
}

// --- the servers ---------------------------------------------------------------------------

/// Is something listening on this TCP port of 127.0.0.1 (from `/proc/net/tcp`)?
fn listening(port: u16) -> bool {
    let needle = format!("0100007F:{port:04X}");
    std::fs::read_to_string("/proc/net/tcp")
        .map(|t| {
            t.lines().skip(1).any(|l| {
                let f: Vec<&str> = l.split_whitespace().collect();
                f.get(1) == Some(&needle.as_str()) && f.get(3) == Some(&"0A")
            })
        })
        .unwrap_or(false)
}

async fn wait_listening(port: u16, what: &str) -> Result<()> {
    for _ in 0..100 {
        if listening(port) {
            return Ok(());
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    bail!("{what} is not listening on 127.0.0.1:{port} after 10 s")
}

/// nginx with the RTMP module: its binary and the module, when installed.
fn nginx_rtmp() -> Option<(PathBuf, PathBuf)> {
    let module = PathBuf::from("/usr/lib/nginx/modules/ngx_rtmp_module.so");
    let nginx = ["/usr/sbin/nginx", "/usr/bin/nginx"]
        .iter()
        .map(PathBuf::from)
        .find(|p| p.is_file())?;
    module.is_file().then_some((nginx, module))
}

fn nginx_version(nginx: &Path) -> String {
    Command::new(nginx)
        .arg("-v")
        .output()
        .map(|o| {
            String::from_utf8_lossy(&o.stderr)
                .trim()
                .replace("nginx version: ", "")
        })
        .unwrap_or_else(|_| "?".into())
}

/// nginx in the foreground as one process (no master: nothing to switch users for), RTMP with
/// HLS (1 s fragments, 6 s playlists) on `rtmp`, and on `http` the HLS files of both baselines.
fn nginx_config(module: &Path, prefix: &Path, hls: &Path, rtmp: u16, http: u16) -> String {
    let p = prefix.display();
    let h = hls.display();
    format!(
        "load_module {module};\n\
         daemon off;\nmaster_process off;\nworker_processes 1;\n\
         error_log {p}/error.log warn;\npid {p}/nginx.pid;\n\
         events {{ worker_connections 4096; }}\n\
         rtmp {{\n  server {{\n    listen 127.0.0.1:{rtmp};\n    application live {{\n\
               live on;\n      hls on;\n      hls_path {h}/nginx;\n      hls_nested on;\n\
               hls_fragment 1s;\n      hls_playlist_length 6s;\n    }}\n  }}\n}}\n\
         http {{\n  access_log off;\n  client_body_temp_path {p}/body;\n  proxy_temp_path {p}/proxy;\n\
           fastcgi_temp_path {p}/fastcgi;\n  uwsgi_temp_path {p}/uwsgi;\n  scgi_temp_path {p}/scgi;\n\
           types {{ application/vnd.apple.mpegurl m3u8; video/mp2t ts; video/mp4 mp4 m4s; }}\n\
           server {{\n    listen 127.0.0.1:{http};\n    location = /ready {{ return 200 ok; }}\n\
               location /hls/ {{ alias {h}/; add_header Cache-Control no-cache; }}\n  }}\n}}\n",
        module = module.display()
    )
}

/// Kanjian's packager in copy mode (crates/live/src/ingest/packager.rs, `ffmpeg_args`), as a
/// plain ffmpeg that takes the RTMP publisher itself (`-listen 1`) instead of FLV on a pipe.
fn ffmpeg_reference_command(rtmp: u16, dir: &Path) -> Command {
    let mut command = Command::new("ffmpeg");
    command
        .args([
            "-hide_banner",
            "-nostdin",
            "-loglevel",
            "warning",
            "-copyts",
        ])
        .args(["-listen", "1", "-f", "flv", "-i"])
        .arg(format!("rtmp://127.0.0.1:{rtmp}/live/reference"))
        .args(["-map", "0:v:0?", "-map", "0:a:0?", "-c", "copy"])
        .args(["-f", "hls", "-hls_time", "1", "-hls_list_size", "0"])
        .args(["-hls_playlist_type", "event", "-hls_segment_type", "fmp4"])
        .args(["-hls_fmp4_init_filename", "init-0.mp4"])
        .args([
            "-hls_flags",
            "program_date_time+independent_segments+temp_file",
        ])
        .arg("-hls_segment_filename")
        .arg(dir.join("seg-%d.m4s"))
        .arg(dir.join("index.m3u8"));
    command
}

fn http_client() -> Result<reqwest::Client> {
    reqwest::Client::builder()
        .timeout(Duration::from_secs(10))
        .build()
        .context("building the HTTP client")
}

/// Publishes `count` rooms on a baseline and measures them once settled.
#[allow(clippy::too_many_arguments)]
async fn baseline_window(
    name: &str,
    settings: &LiveSettings,
    clip: &Path,
    work: &Path,
    servers: &[u32],
    targets: Vec<(String, url::Url)>,
    container: Container,
) -> Result<Step> {
    let http = http_client()?;
    let mut rooms = Vec::new();
    for (i, (publish, playlist)) in targets.into_iter().enumerate() {
        let publisher = Publisher::spawn(
            clip,
            &publish,
            &work.join(format!("{name}-publisher-{i}.log")),
        )?;
        if i > 0 {
            tokio::time::sleep(PUBLISHER_STAGGER).await;
        }
        rooms.push(Room::new(
            format!("{name} room {i}"),
            publisher,
            Watcher::start(http.clone(), playlist, container, settings.poll),
        ));
    }
    let went_live = settle(&rooms, 0..rooms.len(), settings.settle).await;
    println!(
        "    {name}: measuring {} room(s) for {} s",
        rooms.len(),
        settings.window.as_secs()
    );
    let mut step = measure(
        &mut rooms,
        servers,
        settings.window,
        f64::from(settings.segment_seconds),
    )
    .await;
    step.went_live = went_live;
    report_step(name, &step, f64::from(settings.segment_seconds));
    Ok(step)
}

fn report_step(name: &str, step: &Step, segment_seconds: f64) {
    println!(
        "    {name} N={}: kept up {}/{}, {} segments, p50 {:.3} s p99 {:.3} s, server {:.2} cores ({} children, {} transcoding), publishers {:.2} cores, rest {:.2}, load {:.2}{}",
        step.rooms,
        step.kept_up,
        step.rooms,
        step.listed,
        step.quantile(0.5),
        step.quantile(0.99),
        step.server_cores,
        step.children,
        step.transcoding,
        step.publisher_cores,
        step.rest_cores,
        step.load,
        if step.holds(segment_seconds) {
            ", holds"
        } else {
            ", does not hold"
        }
    );
    for fault in step.faults.iter().take(5) {
        println!("      {fault}");
    }
}

/// nginx from [`nginx_config`] in `prefix`, once it answers HTTP.
async fn start_nginx(
    name: &'static str,
    nginx: &Path,
    module: &Path,
    prefix: &Path,
    hls: &Path,
    rtmp: u16,
    http: std::net::SocketAddr,
) -> Result<ChildServer> {
    let conf = prefix.join("nginx.conf");
    std::fs::write(&conf, nginx_config(module, prefix, hls, rtmp, http.port()))
        .context("writing nginx.conf")?;
    let mut command = Command::new(nginx);
    command.arg("-c").arg(&conf).arg("-p").arg(prefix);
    let mut server = servers::spawn_other(name, command, http, &prefix.join("stdout.log"))?;
    server
        .wait_ready(&http_client()?, "/ready", Duration::from_secs(30))
        .await?;
    Ok(server)
}

/// nginx-rtmp with `rooms` publishers.
async fn nginx_baseline(
    settings: &LiveSettings,
    clip: &Path,
    work: &Path,
    nginx: &Path,
    module: &Path,
) -> Result<Step> {
    let prefix = work.join("nginx");
    let hls = work.join("hls");
    std::fs::create_dir_all(hls.join("nginx")).context("the nginx HLS dir")?;
    std::fs::create_dir_all(&prefix).context("the nginx prefix")?;
    let rtmp = servers::free_port()?.port();
    let http = servers::free_port()?;
    let mut server = start_nginx("nginx", nginx, module, &prefix, &hls, rtmp, http).await?;
    wait_listening(rtmp, "nginx-rtmp").await?;
    println!(
        "==> nginx-rtmp on 127.0.0.1:{rtmp} (pid {}), HLS over HTTP on {http}",
        server.pid()
    );
    let targets = (0..settings.baseline_rooms)
        .map(|i| {
            Ok((
                format!("rtmp://127.0.0.1:{rtmp}/live/room{i}"),
                url::Url::parse(&server.url(&format!("/hls/nginx/room{i}/index.m3u8")))?,
            ))
        })
        .collect::<Result<Vec<_>>>()?;
    let step = baseline_window(
        "nginx-rtmp",
        settings,
        clip,
        work,
        &[server.pid()],
        targets,
        Container::TsNginx,
    )
    .await;
    server.stop();
    step
}

/// Plain ffmpeg's HLS muxer, one listening ffmpeg per room, served by a static nginx (or, when
/// nginx is missing, not measured).
async fn ffmpeg_baseline(
    settings: &LiveSettings,
    clip: &Path,
    work: &Path,
    nginx: &Path,
    module: &Path,
) -> Result<Step> {
    let prefix = work.join("nginx-static");
    let hls = work.join("hls");
    std::fs::create_dir_all(&prefix).context("the nginx prefix")?;
    let http = servers::free_port()?;
    // The same config; its RTMP side idles.
    let idle_rtmp = servers::free_port()?.port();
    let mut web = start_nginx(
        "nginx (static files)",
        nginx,
        module,
        &prefix,
        &hls,
        idle_rtmp,
        http,
    )
    .await?;
    let mut listeners = Vec::new();
    let mut targets = Vec::new();
    for i in 0..settings.baseline_rooms {
        let dir = hls.join(format!("ffmpeg{i}"));
        std::fs::create_dir_all(&dir).context("an ffmpeg HLS dir")?;
        let rtmp = servers::free_port()?;
        let server = servers::spawn_other(
            "ffmpeg -listen",
            ffmpeg_reference_command(rtmp.port(), &dir),
            rtmp,
            &work.join(format!("ffmpeg-reference-{i}.log")),
        )?;
        wait_listening(rtmp.port(), "ffmpeg -listen").await?;
        targets.push((
            format!("rtmp://127.0.0.1:{}/live/reference", rtmp.port()),
            url::Url::parse(&web.url(&format!("/hls/ffmpeg{i}/index.m3u8")))?,
        ));
        listeners.push(server);
    }
    println!(
        "==> plain ffmpeg HLS: {} listening ffmpeg(s), files served by nginx on {http}",
        listeners.len()
    );
    // The listening ffmpegs are the server (the static nginx in front only serves files).
    let pids: Vec<u32> = listeners.iter().map(ChildServer::pid).collect();
    let step = baseline_window(
        "ffmpeg HLS",
        settings,
        clip,
        work,
        &pids,
        targets,
        Container::Fmp4,
    )
    .await;
    for mut l in listeners {
        l.stop();
    }
    web.stop();
    step
}

fn global_number(id: &str) -> Option<i64> {
    let raw = String::from_utf8(URL_SAFE_NO_PAD.decode(id).ok()?).ok()?;
    raw.split_once(':')?.1.parse().ok()
}

/// A creator with a room to go live at once: its RTMP URL and its playlist.
async fn kanjian_room(api: &Api, base: &str, i: usize) -> Result<(String, url::Url)> {
    let token = api.creator(&format!("liveroom{i}")).await?;
    let data = api
        .data(
            Some(&token),
            SCHEDULE,
            json!({ "input": { "title": format!("Bench room {i}") } }),
        )
        .await?;
    let payload = &data["scheduleLive"];
    if payload["userErrors"]
        .as_array()
        .is_some_and(|e| !e.is_empty())
    {
        bail!("scheduleLive refused: {payload}");
    }
    let room = &payload["liveRoom"];
    let id = room["id"].as_str().context("scheduleLive gave no id")?;
    let number = global_number(id).with_context(|| format!("room id {id}"))?;
    let server = room["streamCredentials"]["serverUrl"]
        .as_str()
        .context("no serverUrl")?;
    let key = room["streamCredentials"]["streamKey"]
        .as_str()
        .context("no streamKey")?;
    Ok((
        format!("{server}/{key}"),
        url::Url::parse(&format!("{base}/live/rooms/{number}/index.m3u8"))?,
    ))
}

/// The ramp on kanjian: steps of N rooms, adding publishers, until a step does not hold.
async fn kanjian_ramp(
    settings: &LiveSettings,
    kanjian_bin: &Path,
    clip: &Path,
    work: &Path,
) -> Result<Vec<Step>> {
    let data_dir = work.join("kanjian-data");
    let ingest = servers::free_port()?;
    let mut kanjian = servers::spawn_kanjian(
        kanjian_bin,
        &data_dir,
        None,
        &work.join("kanjian.log"),
        settings.workers,
        4,
        &[
            ("KANJIAN_LIVE__INGEST__LISTEN".into(), ingest.to_string()),
            (
                "KANJIAN_LIVE__INGEST__SEGMENT_SECONDS".into(),
                settings.segment_seconds.to_string(),
            ),
            // Every room needs its own creator (one live room per channel); sign-ups are
            // limited to 5 an hour per address by default.
            ("KANJIAN_IDENTITY__SIGN_UPS_PER_IP".into(), "[]".into()),
        ],
    )?;
    let http = http_client()?;
    kanjian
        .wait_ready(&http, "/readyz", Duration::from_secs(120))
        .await?;
    println!(
        "==> kanjian on {} (pid {}), RTMP ingest on {ingest}, SQLite in a fresh data dir",
        kanjian.addr,
        kanjian.pid()
    );
    let api = Api::new(kanjian.url(""))?;
    // Every room of the largest step is made first: each needs a creator, and sign-up hashes a
    // password on purpose slowly (argon2), CPU that would otherwise land between the steps and
    // leave a backlog for the next window to drain.
    let largest = settings.rooms.iter().copied().max().unwrap_or(0);
    let setup = Instant::now();
    let mut made = Vec::with_capacity(largest);
    for i in 0..largest {
        made.push(
            kanjian_room(&api, &kanjian.url(""), i)
                .await
                .with_context(|| {
                    format!(
                        "setting up room {i} (kanjian's log ends with:\n{})",
                        kanjian.log_tail()
                    )
                })?,
        );
    }
    println!(
        "==> {largest} creators, channels and rooms made in {:.1} s",
        setup.elapsed().as_secs_f64()
    );
    let mut made = made.into_iter();
    let mut rooms: Vec<Room> = Vec::new();
    let mut steps = Vec::new();
    let segment = f64::from(settings.segment_seconds);
    for &n in &settings.rooms {
        let before = rooms.len();
        while rooms.len() < n {
            let i = rooms.len();
            let (publish, playlist) = made.next().context("a room for every publisher")?;
            let publisher = Publisher::spawn(
                clip,
                &publish,
                &work.join(format!("kanjian-publisher-{i}.log")),
            )?;
            rooms.push(Room::new(
                format!("kanjian room {i}"),
                publisher,
                Watcher::start(http.clone(), playlist, Container::Fmp4, settings.poll),
            ));
            // New publishers start 50 ms apart, not in one burst of ffmpeg start-ups.
            tokio::time::sleep(PUBLISHER_STAGGER).await;
        }
        println!(
            "==> kanjian N={n}: publishers started; once every room lists a segment, {} s to settle, then {} s measured",
            settings.settle.as_secs(),
            settings.window.as_secs()
        );
        let went_live = settle(&rooms, before..rooms.len(), settings.settle).await;
        let mut step = measure(&mut rooms, &[kanjian.pid()], settings.window, segment).await;
        step.went_live = went_live;
        report_step("kanjian", &step, segment);
        let holds = step.holds(segment);
        steps.push(step);
        if !holds {
            println!(
                "    N={n} does not hold: the ramp stops here; kanjian's log (warnings and errors) ends with:\n{}",
                kanjian.log_tail()
            );
            break;
        }
    }
    // Publishers first (the rooms go into their reconnect grace), then the server.
    drop(rooms);
    kanjian.stop();
    Ok(steps)
}

// --- the whole benchmark -------------------------------------------------------------------

pub async fn run(
    settings: &LiveSettings,
    kanjian_bin: &Path,
    work: &Path,
) -> Result<(Vec<Table>, Vec<String>)> {
    let _ = epoch();
    let clip = work.join("live-clip.flv");
    println!(
        "==> making the publishers' clip: {CLIP_SECONDS} s 1280x720 {CLIP_FPS} fps, H.264 2.5 Mb/s with a keyframe every second, AAC"
    );
    make_clip(&clip)?;
    let segment = f64::from(settings.segment_seconds);

    let nginx = nginx_rtmp();
    let mut baselines: Vec<(String, Step)> = Vec::new();
    let mut notes = Vec::new();
    if settings.baseline_rooms > 0 {
        match &nginx {
            Some((bin, module)) => {
                baselines.push(("nginx-rtmp".into(), nginx_baseline(settings, &clip, work, bin, module).await?));
                baselines.push((
                    "plain ffmpeg HLS (kanjian's former packager command, fed by RTMP)".into(),
                    ffmpeg_baseline(settings, &clip, work, bin, module).await?,
                ));
            }
            None => notes.push("nginx with libnginx-mod-rtmp is not installed: no baselines (scripts/bench/live-ingest installs it)".to_owned()),
        }
    }
    let steps = kanjian_ramp(settings, kanjian_bin, &clip, work).await?;

    // Table 1: latency against the baselines, at the baselines' room count.
    let mut latency = Table::new(
        format!(
            "live: first frame sent → segment listed in the playlist, {} publisher(s) of a 720p30 copy-mode stream ({} s segments, {} s measured, polled every {} ms on average)",
            settings.baseline_rooms.max(1),
            settings.segment_seconds,
            settings.window.as_secs(),
            settings.poll.as_millis()
        ),
        &[
            "server",
            "rooms",
            "kept up",
            "segments",
            "p50 s",
            "p90 s",
            "p99 s",
            "max s",
            "PDT − sent p50 s",
            "server cores",
            "server RSS MB",
            "children PSS MB",
            "load 1m",
        ],
    );
    let row = |name: &str, s: &Step| {
        vec![
            name.to_owned(),
            s.rooms.to_string(),
            s.kept_up.to_string(),
            s.listed.to_string(),
            format!("{:.3}", s.quantile(0.5)),
            format!("{:.3}", s.quantile(0.9)),
            format!("{:.3}", s.quantile(0.99)),
            format!("{:.3}", s.quantile(1.0)),
            if s.pdt_offsets.is_empty() {
                "–".into()
            } else {
                format!("{:+.3}", quantile(&s.pdt_offsets, 0.5))
            },
            format!("{:.3}", s.server_cores),
            format!("{:.0}", s.server_rss_mb),
            if s.children == 0 {
                "–".into()
            } else {
                format!("{:.0}", s.children_pss_mb)
            },
            format!("{:.2}", s.load),
        ]
    };
    for (name, step) in &baselines {
        latency.row(row(name, step));
    }
    let kanjian_same = steps
        .iter()
        .find(|s| s.rooms == settings.baseline_rooms.max(1));
    if let Some(k) = kanjian_same {
        latency.row(row("kanjian", k));
        for (name, step) in &baselines {
            let short = name.split(" (").next().unwrap_or(name);
            let mut cells = vec![
                format!("ratio kanjian/{short}"),
                String::new(),
                String::new(),
                String::new(),
            ];
            for q in [0.5, 0.9, 0.99, 1.0] {
                cells.push(ratio(k.quantile(q), step.quantile(q)));
            }
            cells.push(String::new());
            cells.push(ratio(k.server_cores, step.server_cores));
            cells.extend([String::new(), String::new(), String::new()]);
            latency.row(cells);
        }
    }
    latency.note("latency: when the poller first saw the segment listed minus when the publisher sent the segment's first video frame (publisher's -progress clock, see scripts/bench/README.md); it includes the segment's own ~1 s (a segment is listed once the next keyframe closes it) and on average half a poll interval, on every side alike");
    latency.note("nginx-rtmp writes MPEG-TS with 0.7 s added to every timestamp (NGX_RTMP_HLS_DELAY), taken off here; kanjian and plain ffmpeg write fMP4 with the publisher's timestamps (-copyts)");
    latency.note("PDT − sent: the segment's EXT-X-PROGRAM-DATE-TIME minus when its first frame was sent (0 would be a true capture clock; nginx-rtmp writes no PDT)");
    latency.note("server cores: CPU seconds per second of the server process and its children (kanjian's ffmpeg packagers) in the window, serving the poller included (nginx-rtmp and kanjian serve their playlists and segments themselves; plain ffmpeg's files are served by a separate static nginx, not counted); RSS of the server process, PSS of its children");
    let mut tables = vec![latency];

    // Table 2: LL-HLS parts against segments, and the glass-to-glass each implies.
    let hold_back = 3.0 * segment;
    let mut parts = Table::new(
        format!(
            "live: LL-HLS parts vs segments, and the glass-to-glass latency a player implies, {} publisher(s) (same run and window as above)",
            settings.baseline_rooms.max(1)
        ),
        &[
            "server",
            "listed",
            "count",
            "sent → listed p50 s",
            "p95 s",
            "end → listed p50 s",
            "p95 s",
            "player behind the live edge s",
            "glass-to-glass p50 s",
            "p95 s",
        ],
    );
    let latency_row = |name: &str, what: &str, first: &[f64], end: &[f64], behind: f64| {
        vec![
            name.to_owned(),
            what.to_owned(),
            first.len().to_string(),
            format!("{:.3}", quantile(first, 0.5)),
            format!("{:.3}", quantile(first, 0.95)),
            format!("{:.3}", quantile(end, 0.5)),
            format!("{:.3}", quantile(end, 0.95)),
            format!("{behind:.3}"),
            format!("{:.3}", behind + quantile(end, 0.5)),
            format!("{:.3}", behind + quantile(end, 0.95)),
        ]
    };
    for (name, step) in &baselines {
        let short = name.split(" (").next().unwrap_or(name);
        parts.row(latency_row(short, "segments", &step.latencies, &step.end_latencies, hold_back));
    }
    if let Some(k) = kanjian_same {
        parts.row(latency_row("kanjian", "segments", &k.latencies, &k.end_latencies, hold_back));
        parts.row(latency_row("kanjian", "LL-HLS parts", &k.part_latencies, &k.part_end_latencies, PART_HOLD_BACK));
    }
    parts.note("sent → listed: when the poller first saw it listed minus when its first video frame was sent (a part's or segment's longest-waiting frame); end → listed: minus when its last frame ended (first frame + duration), i.e. packaging, storing and listing alone");
    parts.note(format!("player behind the live edge: a segment player holds back three target durations ({hold_back:.0} s, the spec's HOLD-BACK default, hls.js's liveSyncDurationCount 3); an LL-HLS player kanjian's PART-HOLD-BACK ({PART_HOLD_BACK} s, three 0.334 s part targets)"));
    parts.note("glass-to-glass: a frame plays that far behind the live edge, which is itself end → listed behind the publisher: hold-back + end → listed, for a publisher and a player on this machine (no encoder, network or decoder delay); the issue's target is ≤ 2 s with LL-HLS parts");
    parts.note(format!("the poller looks every {} ms on average (half of it shows in every figure); an LL-HLS player's blocking reload learns of a part as it is listed", settings.poll.as_millis()));
    tables.push(parts);

    // Table 3: the ramp.
    let mut ramp = Table::new(
        format!(
            "live: copy-mode rooms kanjian holds on this machine ({} s settle then {} s measured per step, publishers added step by step)",
            settings.settle.as_secs(),
            settings.window.as_secs()
        ),
        &[
            "rooms",
            "go-live p50 s",
            "go-live max s",
            "kept up",
            "segments",
            "p50 s",
            "p99 s",
            "max s",
            "kanjian cores",
            "of which ffmpeg",
            "% core/room",
            "kanjian RSS MB",
            "ffmpeg PSS MB",
            "ffmpeg",
            "transcoding",
            "publisher cores",
            "publisher lag max s",
            "poller req/s",
            "rest cores",
            "load 1m",
            "holds",
        ],
    );
    for s in &steps {
        ramp.row(vec![
            s.rooms.to_string(),
            format!("{:.2}", quantile(&s.went_live, 0.5)),
            format!("{:.2}", quantile(&s.went_live, 1.0)),
            s.kept_up.to_string(),
            s.listed.to_string(),
            format!("{:.3}", s.quantile(0.5)),
            format!("{:.3}", s.quantile(0.99)),
            format!("{:.3}", s.quantile(1.0)),
            format!("{:.3}", s.server_cores),
            format!("{:.3}", s.children_cores),
            format!("{:.1}", 100.0 * s.server_cores / s.rooms.max(1) as f64),
            format!("{:.0}", s.server_rss_mb),
            format!("{:.0}", s.children_pss_mb),
            s.children.to_string(),
            s.transcoding.to_string(),
            format!("{:.3}", s.publisher_cores),
            format!("{:.3}", s.publisher_lag),
            format!("{:.0}", s.requests_per_sec),
            format!("{:.2}", s.rest_cores),
            format!("{:.2}", s.load),
            if s.holds(segment) { "yes" } else { "no" }.into(),
        ]);
    }
    let held = steps
        .iter()
        .filter(|s| s.holds(segment))
        .map(|s| s.rooms)
        .max();
    let tried = steps.last().map_or(0, |s| s.rooms);
    ramp.note(format!(
        "holds: every room kept up (its publisher still sending; at least one segment listed per {} s but one; no sequence gap, media gap (>0.1 s), discontinuity or failed fetch), no packager transcoding, and p99 listing latency < {} s (2 segments)",
        settings.segment_seconds,
        2 * settings.segment_seconds
    ));
    ramp.note(match held {
        Some(n) if steps.last().is_some_and(|s| s.holds(segment)) => format!(
            "largest N that holds: {n} (the largest tried; pass --live-rooms with more to go further)"
        ),
        Some(n) => format!("largest N that holds: {n} (N={tried} did not)"),
        None => format!("largest N that holds: none (N={tried} did not)"),
    });
    ramp.note("kanjian cores: the kanjian process and its ffmpeg children; publisher cores: the ffmpeg publishers (this machine pays for them too); rest: all other busy CPU on the machine (another build shows here), the bench's own poller excluded");
    ramp.note("go-live: from a publisher's start (ffmpeg launched) to its room's first segment listed, for the rooms new in the step; each window starts once every room lists a segment, plus the settle time");
    ramp.note("publisher lag: how late the most starved publisher sent a frame (0 when the publishers keep their pace; when it grows, the machine, not only kanjian, is out of CPU)");
    for s in steps.iter().filter(|s| !s.faults.is_empty()) {
        for fault in s.faults.iter().take(3) {
            ramp.note(format!("N={}: {fault}", s.rooms));
        }
        if s.faults.len() > 3 {
            ramp.note(format!(
                "N={}: … and {} more rooms",
                s.rooms,
                s.faults.len() - 3
            ));
        }
    }
    for n in &notes {
        ramp.note(n.clone());
    }
    tables.push(ramp);

    let mut lines = vec![format!(
        "live: publishers `ffmpeg -re -stream_loop -1 -i clip.flv -c copy -f flv rtmp://…` of a {CLIP_SECONDS} s 1280x720 {CLIP_FPS} fps clip (x264 veryfast 2.5 Mb/s, keyframe every second, no B-frames; AAC 128 kb/s); steps {}; {} s settle and {} s measured per step; playlists polled every {} ms on average (each wait uniform in 0.5–1.5×) and each new segment fetched once; kanjian on SQLite in a fresh data dir, {} HTTP workers{}",
        settings
            .rooms
            .iter()
            .map(ToString::to_string)
            .collect::<Vec<_>>()
            .join(", "),
        settings.settle.as_secs(),
        settings.window.as_secs(),
        settings.poll.as_millis(),
        settings.workers,
        if settings.long { " (--live-long)" } else { "" }
    )];
    if let Some((bin, _)) = &nginx {
        lines.push(format!(
            "live baselines: {} with libnginx-mod-rtmp (hls_fragment 1s, hls_playlist_length 6s, one process), and plain ffmpeg `-listen 1` with the HLS muxer options kanjian's copy mode used before its Rust segmenter, {} publisher(s) each, before kanjian's ramp",
            nginx_version(bin),
            settings.baseline_rooms
        ));
    }
    Ok((tables, lines))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn playlists_of_kanjian_and_ffmpeg_parse() {
        let kanjian = "#EXTM3U\n#EXT-X-VERSION:7\n#EXT-X-TARGETDURATION:1\n#EXT-X-MEDIA-SEQUENCE:7\n#EXT-X-DISCONTINUITY-SEQUENCE:2\n\
             #EXT-X-INDEPENDENT-SEGMENTS\n#EXT-X-MAP:URI=\"init-0.mp4\"\n#EXT-X-PROGRAM-DATE-TIME:2026-12-01T20:00:07.000Z\n#EXTINF:1.000,\nseg-7.m4s\n\
             #EXT-X-DISCONTINUITY\n#EXT-X-MAP:URI=\"init-8.mp4\"\n#EXT-X-PROGRAM-DATE-TIME:2026-12-01T20:00:08.000Z\n#EXTINF:1.000,\nseg-8.m4s\n";
        let entries = parse_playlist(kanjian).unwrap();
        assert_eq!(entries.len(), 2);
        assert_eq!((entries[0].sequence, entries[1].sequence), (7, 8));
        assert_eq!(entries[1].map.as_deref(), Some("init-8.mp4"));
        assert!(entries[1].discontinuity && !entries[0].discontinuity);
        let ffmpeg = "#EXTM3U\n#EXT-X-VERSION:7\n#EXT-X-TARGETDURATION:1\n#EXT-X-MEDIA-SEQUENCE:3\n#EXT-X-MAP:URI=\"init.mp4\"\n\
             #EXTINF:0.561133,\n#EXT-X-PROGRAM-DATE-TIME:2026-11-30T09:22:46.142+0000\nseg-3.m4s\n";
        let entries = parse_playlist(ffmpeg).unwrap();
        assert_eq!(entries[0].sequence, 3);
        assert!((entries[0].duration - 0.561133).abs() < 1e-9);
        let a = pdt_secs("2026-11-30T09:22:46.142+0000").unwrap();
        let b = pdt_secs("2026-11-30T09:22:46.142Z").unwrap();
        assert!((a - b).abs() < 1e-6);
        assert!(parse_playlist("<html>").is_err());
    }

    #[test]
    fn parts_of_an_ll_hls_playlist_are_numbered_by_their_segment() {
        let text = "#EXTM3U\n#EXT-X-VERSION:9\n#EXT-X-TARGETDURATION:1\n#EXT-X-PART-INF:PART-TARGET=0.334\n#EXT-X-MEDIA-SEQUENCE:7\n\
             #EXT-X-MAP:URI=\"init-0.mp4\"\n#EXT-X-PROGRAM-DATE-TIME:2026-12-01T20:00:07.000Z\n\
             #EXT-X-PART:DURATION=0.320,URI=\"part-7.0.m4s\",INDEPENDENT=YES\n#EXT-X-PART:DURATION=0.680,URI=\"part-7.1.m4s\"\n#EXTINF:1.000,\nseg-7.m4s\n\
             #EXT-X-PROGRAM-DATE-TIME:2026-12-01T20:00:08.000Z\n#EXT-X-PART:DURATION=0.320,URI=\"part-8.0.m4s\",INDEPENDENT=YES\n\
             #EXT-X-PRELOAD-HINT:TYPE=PART,URI=\"part-8.1.m4s\"\n";
        let parts = parse_parts(text).unwrap();
        let keys: Vec<(u64, u32, &str)> = parts.iter().map(|p| (p.sequence, p.index, p.uri.as_str())).collect();
        assert_eq!(keys, [(7, 0, "part-7.0.m4s"), (7, 1, "part-7.1.m4s"), (8, 0, "part-8.0.m4s")]);
        assert!((parts[1].duration - 0.68).abs() < 1e-9);
        assert_eq!(parts[2].map.as_deref(), Some("init-0.mp4"));
        assert_eq!(parse_playlist(text).unwrap().len(), 1);
    }

    fn mp4_box(kind: &[u8; 4], body: &[u8]) -> Vec<u8> {
        let mut out = ((body.len() + 8) as u32).to_be_bytes().to_vec();
        out.extend_from_slice(kind);
        out.extend_from_slice(body);
        out
    }

    #[test]
    fn the_video_tracks_first_decode_time_is_read_from_fmp4() {
        let trak = |id: u32, handler: &[u8; 4], timescale: u32| {
            let mut tkhd = vec![0u8; 12];
            tkhd.extend(id.to_be_bytes());
            tkhd.extend([0u8; 60]);
            let mut mdhd = vec![0u8; 12];
            mdhd.extend(timescale.to_be_bytes());
            mdhd.extend([0u8; 8]);
            let mut hdlr = vec![0u8; 8];
            hdlr.extend(handler);
            hdlr.extend([0u8; 13]);
            let mdia = [mp4_box(b"mdhd", &mdhd), mp4_box(b"hdlr", &hdlr)].concat();
            mp4_box(
                b"trak",
                &[mp4_box(b"tkhd", &tkhd), mp4_box(b"mdia", &mdia)].concat(),
            )
        };
        let moov = mp4_box(
            b"moov",
            &[trak(2, b"soun", 48_000), trak(1, b"vide", 15_360)].concat(),
        );
        let init = [mp4_box(b"ftyp", b"iso5\0\0\0\x01"), moov].concat();
        assert_eq!(init_video_track(&init), Some((1, 15_360)));

        let traf = |id: u32, dts: u64| {
            let mut tfhd = vec![0u8; 4];
            tfhd.extend(id.to_be_bytes());
            let mut tfdt = vec![1u8, 0, 0, 0];
            tfdt.extend(dts.to_be_bytes());
            mp4_box(
                b"traf",
                &[mp4_box(b"tfhd", &tfhd), mp4_box(b"tfdt", &tfdt)].concat(),
            )
        };
        let moof = mp4_box(
            b"moof",
            &[
                mp4_box(b"mfhd", &[0u8; 8]),
                traf(2, 96_248),
                traf(1, 30_720),
            ]
            .concat(),
        );
        let segment = [
            mp4_box(b"styp", b"msdh"),
            moof,
            mp4_box(b"mdat", &[0u8; 32]),
        ]
        .concat();
        assert_eq!(fmp4_first_dts(&segment, 1), Some(30_720));
        assert_eq!(fmp4_first_dts(&segment, 3), None);
    }

    #[test]
    fn the_first_video_dts_is_read_from_mpeg_ts() {
        let stamp = |v: i64, marker: u8| {
            [
                (marker << 4) | (((v >> 30) as u8 & 0x07) << 1) | 1,
                (v >> 22) as u8,
                (((v >> 15) as u8) << 1) | 1,
                (v >> 7) as u8,
                ((v as u8) << 1) | 1,
            ]
        };
        // An audio PES first, then a video PES with PTS and DTS, after an adaptation field.
        let mut audio = vec![0x47, 0x41, 0x01, 0x10, 0, 0, 1, 0xC0, 0, 0, 0x80, 0x80, 5];
        audio.extend(stamp(1_000, 2));
        audio.resize(188, 0xFF);
        let mut video = vec![0x47, 0x41, 0x00, 0x30, 7, 0x50, 0, 0, 0, 0, 0, 0];
        video.extend([0, 0, 1, 0xE0, 0, 0, 0x80, 0xC0, 10]);
        video.extend(stamp(63_000 + 90_000, 3));
        video.extend(stamp(63_000 + 87_000, 1));
        video.resize(188, 0xFF);
        let segment = [audio, video].concat();
        assert_eq!(ts_first_video_dts(&segment), Some(63_000 + 87_000));
    }

    #[test]
    fn the_send_clock_is_the_smallest_offset_and_lag_is_above_it() {
        let clock = SendClock {
            reports: vec![(1.0, 0.52), (1.1, 0.50), (1.2, 0.51), (5.0, 0.90)],
        };
        assert_eq!(clock.t0(), Some(0.50));
        assert!((clock.max_lag(4.0, 6.0).unwrap() - 0.40).abs() < 1e-9);
        assert!(clock.max_lag(7.0, 8.0).is_none());
    }

    #[test]
    fn quantiles_are_nearest_rank() {
        let v = [3.0, 1.0, 2.0, 4.0];
        assert_eq!(quantile(&v, 0.5), 2.0);
        assert_eq!(quantile(&v, 0.99), 4.0);
        assert_eq!(quantile(&v, 1.0), 4.0);
        assert!(quantile(&[], 0.5).is_nan());
    }

    #[test]
    fn room_numbers_come_out_of_global_ids() {
        assert_eq!(
            global_number(&URL_SAFE_NO_PAD.encode("LiveRoom:17")),
            Some(17)
        );
    }
}
