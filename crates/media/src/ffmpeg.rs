//! ffprobe and ffmpeg as child processes: probing an upload, planning the rendition ladder,
//! transcoding to HLS with a fixed GOP, the thumbnail, and the master playlist.
//!
//! Every child runs with `kill_on_drop(true)` under a timeout, with stdin closed and stderr
//! captured; a failure carries the last lines of stderr as its reason. Children are started by
//! [`kanjian_process`], so they die with the server even when it is killed with SIGKILL.

use std::collections::VecDeque;
use std::fmt::Write as _;
use std::path::{Path, PathBuf};
use std::process::Stdio;
use std::time::Duration;

use serde_json::Value;
use tokio::io::{AsyncBufReadExt, BufReader};
use tokio::process::Command;
use tokio::sync::watch;


/// How many stderr lines a failure keeps.
const STDERR_TAIL_LINES: usize = 20;
/// Longer stderr lines are cut.
const STDERR_LINE_CHARS: usize = 300;
/// The x264 speed/size trade-off: `veryfast` keeps 720p faster than real time on two cores.
const X264_PRESET: &str = "veryfast";
/// Smaller sides than this are not worth a rendition.
const MIN_SIDE: u32 = 16;

/// The demuxers an upload may be read with, by ffmpeg's names: `mov` (MP4, MOV, M4V, 3GP),
/// `matroska` (MKV, WebM), `avi`, `flv` and `mpegts`. Each reads one self-contained file. Formats
/// that name other files or URLs to read (HLS playlists, concat lists, SDP, DASH manifests),
/// image sequences and everything else are refused before ffmpeg reads past their first bytes.
pub const ALLOWED_DEMUXERS: &[&str] = &["mov", "matroska", "avi", "flv", "mpegts"];

/// What people call the accepted formats, for messages.
const ACCEPTED_FORMATS: &str = "MP4, MOV, WebM, MKV, AVI, FLV or MPEG-TS";

/// Input options every ffprobe and ffmpeg run on an upload gets, before its `-i`: only local
/// files may be opened (no `http`, `tcp`, `data`, …) and only [`ALLOWED_DEMUXERS`] may read
/// them. The format allowlist is what stops a playlist from reading other local files, which
/// `file` alone would allow.
pub fn input_guard_args() -> Vec<String> {
    vec![
        "-protocol_whitelist".into(),
        "file".into(),
        "-format_whitelist".into(),
        ALLOWED_DEMUXERS.join(","),
    ]
}

/// The allowed demuxer among ffprobe's `format_name` (`mov,mp4,m4a,3gp,3g2,mj2`), if any.
pub fn allowed_demuxer(format_name: &str) -> Option<&'static str> {
    format_name
        .split(',')
        .find_map(|name| ALLOWED_DEMUXERS.iter().copied().find(|a| *a == name.trim()))
}

/// Words for a refused demuxer (as ffmpeg names it).
fn describe_format(demuxer: &str) -> String {
    match demuxer {
        "hls" | "applehttp" => {
            "an HLS playlist (.m3u8), which points at other files or URLs".into()
        }
        "concat" => "an ffmpeg concat list, which points at other files".into(),
        "sdp" | "rtp" | "rtsp" => "a stream description, which points at network streams".into(),
        "dash" => "a DASH manifest (.mpd), which points at other files or URLs".into(),
        "image2" | "tty" | "lavfi" => format!("not a video file ({demuxer})"),
        image if image.ends_with("_pipe") => format!("a still image ({})", image.trim_end_matches("_pipe")),
        other => format!("in a format that is not accepted ({other})"),
    }
}

/// The reason for a refused format, with what is accepted.
fn unsupported_format(demuxer: &str) -> ToolError {
    ToolError::UnsupportedFormat {
        reason: format!(
            "the file is {}; upload the video file itself ({ACCEPTED_FORMATS})",
            describe_format(demuxer)
        ),
    }
}

/// The demuxer ffmpeg found but refused, from a stderr line such as
/// `[hls @ 0x55d0c9cfd4c0] Format not on whitelist 'mov,matroska,…'`.
fn refused_demuxer(stderr: &str) -> Option<String> {
    stderr.lines().find_map(|line| {
        if !line.contains("not on whitelist") || line.contains("Protocol") {
            return None;
        }
        let inner = line.trim_start().strip_prefix('[')?;
        let (name, _) = inner.split_once(" @ ")?;
        Some(name.trim().to_owned())
    })
}

/// Whether a file that reads as `read_ms` is cut short of the `claimed_ms` its header or index
/// promises. The last frame's and the audio priming's timestamps make a whole file read a little
/// off, hence the slack: one second, or 1 % of long videos.
pub fn is_truncated(claimed_ms: i64, read_ms: i64) -> bool {
    let slack = (claimed_ms / 100).max(1000);
    read_ms.saturating_add(slack) < claimed_ms
}

fn truncated(claimed_ms: i64, read_ms: i64, how: &str) -> ToolError {
    ToolError::Truncated {
        reason: format!(
            "the file is truncated: it claims {} but {how} only {} (is the upload complete?)",
            seconds(claimed_ms),
            seconds(read_ms.max(0))
        ),
    }
}

fn seconds(ms: i64) -> String {
    format!("{}.{} s", ms / 1000, (ms % 1000) / 100)
}

/// Where the tools are and how long they may take.
#[derive(Debug, Clone)]
pub struct Tools {
    pub ffmpeg: String,
    pub ffprobe: String,
    pub probe_timeout: Duration,
    pub transcode_timeout: Duration,
}

#[derive(Debug, thiserror::Error)]
pub enum ToolError {
    /// The tool ran and refused the input (or what it made is unusable). Retrying cannot help.
    #[error("{reason}")]
    Rejected { tool: &'static str, reason: String },
    /// The input is in a format that is not accepted ([`ALLOWED_DEMUXERS`]).
    #[error("{reason}")]
    UnsupportedFormat { reason: String },
    /// The input ends before the duration it claims.
    #[error("{reason}")]
    Truncated { reason: String },
    #[error("{tool} took longer than {} s and was stopped", .after.as_secs())]
    TimedOut { tool: &'static str, after: Duration },
    /// The tool could not be started or its output not read: the machine's fault, not the file's.
    #[error("could not run {tool}: {source}")]
    Io {
        tool: &'static str,
        #[source]
        source: std::io::Error,
    },
}

impl ToolError {
    /// Whether running again with the same input can succeed.
    pub fn is_transient(&self) -> bool {
        matches!(self, Self::Io { .. })
    }

    /// Replaces local paths in a reason (users read it) with plain words such as `input`.
    pub fn without_paths(self, paths: &[(&Path, &str)]) -> Self {
        let clean = |mut reason: String| {
            for (path, word) in paths {
                let path = path.to_string_lossy();
                if !path.is_empty() {
                    reason = reason.replace(path.as_ref(), word);
                }
            }
            reason
        };
        match self {
            Self::Rejected { tool, reason } => Self::Rejected {
                tool,
                reason: clean(reason),
            },
            Self::UnsupportedFormat { reason } => Self::UnsupportedFormat {
                reason: clean(reason),
            },
            Self::Truncated { reason } => Self::Truncated {
                reason: clean(reason),
            },
            other => other,
        }
    }

    fn rejected(tool: &'static str, reason: impl Into<String>) -> Self {
        Self::Rejected {
            tool,
            reason: reason.into(),
        }
    }
}

/// Runs a child process to completion under `timeout`, handing each stdout line to `on_line`.
async fn run(
    tool: &'static str,
    program: &str,
    args: &[String],
    timeout: Duration,
    mut on_line: impl FnMut(&str) + Send,
) -> Result<(), ToolError> {
    tracing::debug!(tool, args = %args.join(" "), "running");
    let mut command = Command::new(program);
    command
        .args(args)
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .kill_on_drop(true);
    // A process group of its own: a Ctrl-C in the terminal (SIGINT to the foreground group)
    // reaches the server, which stops its jobs and releases them for the next start, and not
    // ffmpeg, which would exit with status 255 and so fail the video for good.
    #[cfg(unix)]
    command.process_group(0);
    let mut child = kanjian_process::spawn(command)
        .await
        .map_err(|source| ToolError::Io { tool, source })?;
    let stdout = child.stdout.take();
    let stderr = child.stderr.take();
    let stderr_tail = tokio::spawn(async move {
        let mut tail = VecDeque::with_capacity(STDERR_TAIL_LINES);
        if let Some(stderr) = stderr {
            let mut lines = BufReader::new(stderr).lines();
            while let Ok(Some(line)) = lines.next_line().await {
                if line.trim().is_empty() {
                    continue;
                }
                if tail.len() == STDERR_TAIL_LINES {
                    tail.pop_front();
                }
                tail.push_back(line.chars().take(STDERR_LINE_CHARS).collect::<String>());
            }
        }
        Vec::from(tail).join("\n")
    });
    let finished = tokio::time::timeout(timeout, async {
        if let Some(stdout) = stdout {
            let mut lines = BufReader::new(stdout).lines();
            while let Some(line) = lines.next_line().await? {
                on_line(&line);
            }
        }
        child.wait().await
    })
    .await;
    let status = match finished {
        Err(_elapsed) => {
            let _ = child.start_kill();
            let _ = child.wait().await;
            stderr_tail.abort();
            return Err(ToolError::TimedOut {
                tool,
                after: timeout,
            });
        }
        Ok(Err(source)) => return Err(ToolError::Io { tool, source }),
        Ok(Ok(status)) => status,
    };
    let tail = stderr_tail.await.unwrap_or_default();
    if status.success() {
        if !tail.is_empty() {
            tracing::debug!(tool, stderr = %tail, "finished with messages");
        }
        Ok(())
    } else {
        let reason = if tail.is_empty() {
            format!("{tool} failed ({status})")
        } else {
            tail
        };
        Err(ToolError::Rejected { tool, reason })
    }
}

fn path_arg(path: &Path) -> String {
    path.to_string_lossy().into_owned()
}

// ---------------------------------------------------------------------------------------------
// Probing

/// What ffprobe says about an upload.
#[derive(Debug, Clone, PartialEq)]
pub struct ProbeInfo {
    pub format_name: String,
    pub duration_ms: i64,
    pub video: VideoStream,
    /// Index of the first audio stream, if any.
    pub audio_index: Option<u32>,
}

#[derive(Debug, Clone, PartialEq)]
pub struct VideoStream {
    pub index: u32,
    pub codec: String,
    /// Size as shown: after rotation and non-square pixels.
    pub display_width: u32,
    pub display_height: u32,
    pub frame_rate: f64,
}

/// `ffprobe -v error <input guards> -print_format json -show_format -show_streams <file>`: reads
/// the header (and index) only. A format not in [`ALLOWED_DEMUXERS`] is
/// [`ToolError::UnsupportedFormat`], refused before its demuxer opens anything it names.
pub async fn probe(tools: &Tools, path: &Path) -> Result<ProbeInfo, ToolError> {
    probe_file(tools, path)
        .await
        .map_err(|e| e.without_paths(&[(path, "input")]))
}

async fn probe_file(tools: &Tools, path: &Path) -> Result<ProbeInfo, ToolError> {
    let mut args: Vec<String> = vec!["-v".into(), "error".into()];
    args.extend(input_guard_args());
    args.extend(
        ["-print_format", "json", "-show_format", "-show_streams"]
            .iter()
            .map(|s| s.to_string()),
    );
    args.push(path_arg(path));
    let mut json = String::new();
    let ran = run(
        "ffprobe",
        &tools.ffprobe,
        &args,
        tools.probe_timeout,
        |line| {
            json.push_str(line);
            json.push('\n');
        },
    )
    .await;
    if let Err(ToolError::Rejected { reason, .. }) = &ran {
        if let Some(demuxer) = refused_demuxer(reason) {
            return Err(unsupported_format(&demuxer));
        }
        if reason.contains("moov atom not found") {
            // An MP4 whose index comes last, cut before it.
            return Err(ToolError::Truncated {
                reason: format!(
                    "the file is truncated: its index is missing, as in an MP4 cut short (is the upload complete?): {reason}"
                ),
            });
        }
    }
    ran?;
    let info = parse_probe(&json).map_err(|reason| ToolError::rejected("ffprobe", reason))?;
    if allowed_demuxer(&info.format_name).is_none() {
        // The allowlist let it through, so this cannot happen; refuse rather than trust it.
        return Err(unsupported_format(&info.format_name));
    }
    Ok(info)
}

/// The input options for reading a probed upload: the guards, and its demuxer forced, so ffmpeg
/// reads it as what the probe found.
fn input_args(probe: &ProbeInfo) -> Vec<String> {
    let mut args = input_guard_args();
    if let Some(demuxer) = allowed_demuxer(&probe.format_name) {
        args.extend(["-f".into(), demuxer.into()]);
    }
    args
}

/// Reads every packet of a probed upload (demuxing only, no decoding: about as fast as reading
/// the file) and checks that they reach the duration the header claims. An MP4 whose index comes
/// first (`-movflags +faststart`) and is cut short still claims its whole duration; the packets
/// past the cut cannot be read. [`ToolError::Truncated`] then.
pub async fn verify_complete(
    tools: &Tools,
    path: &Path,
    probe: &ProbeInfo,
) -> Result<(), ToolError> {
    let mut args: Vec<String> = vec!["-v".into(), "error".into()];
    args.extend(input_args(probe));
    args.extend(
        [
            "-show_entries",
            "packet=pts_time,dts_time,duration_time",
            "-of",
            "compact=p=0",
        ]
        .iter()
        .map(|s| s.to_string()),
    );
    args.push(path_arg(path));
    let mut span = PacketSpan::default();
    run(
        "ffprobe",
        &tools.ffprobe,
        &args,
        tools.transcode_timeout,
        |line| span.add(line),
    )
    .await
    .map_err(|e| e.without_paths(&[(path, "input")]))?;
    let read_ms = span.millis();
    if is_truncated(probe.duration_ms, read_ms) {
        return Err(truncated(probe.duration_ms, read_ms, "its packets hold"));
    }
    Ok(())
}

/// The time from the first packet to the end of the last one, from ffprobe's
/// `pts_time=…|dts_time=…|duration_time=…` lines.
#[derive(Debug, Default)]
pub struct PacketSpan {
    first: Option<f64>,
    end: Option<f64>,
}

impl PacketSpan {
    pub fn add(&mut self, line: &str) {
        let (mut pts, mut dts, mut duration) = (None, None, 0.0);
        for field in line.split('|') {
            let Some((key, value)) = field.split_once('=') else {
                continue;
            };
            let value = value.trim().parse::<f64>().ok().filter(|v| v.is_finite());
            match key.trim() {
                "pts_time" => pts = value,
                "dts_time" => dts = value,
                "duration_time" => duration = value.unwrap_or(0.0).max(0.0),
                _ => {}
            }
        }
        if let Some(at) = pts.or(dts) {
            self.first = Some(self.first.map_or(at, |f| f.min(at)));
            self.end = Some(self.end.map_or(at + duration, |e| e.max(at + duration)));
        }
    }

    pub fn millis(&self) -> i64 {
        match (self.first, self.end) {
            (Some(first), Some(end)) => ((end - first) * 1000.0).round() as i64,
            _ => 0,
        }
    }
}

fn number(v: &Value) -> Option<f64> {
    match v {
        Value::Number(n) => n.as_f64(),
        Value::String(s) => s.parse().ok(),
        _ => None,
    }
}

fn ratio(v: &Value) -> Option<f64> {
    let (a, b) = v.as_str()?.split_once(['/', ':'])?;
    let (a, b): (f64, f64) = (a.parse().ok()?, b.parse().ok()?);
    (a > 0.0 && b > 0.0).then_some(a / b)
}

fn rotation_of(stream: &Value) -> i64 {
    let from_side_data = stream["side_data_list"]
        .as_array()
        .and_then(|list| list.iter().find_map(|d| number(&d["rotation"])));
    let from_tag = number(&stream["tags"]["rotate"]);
    from_side_data.or(from_tag).unwrap_or(0.0).round() as i64
}

/// Reads ffprobe's JSON. `Err` is a reason a user can read.
pub fn parse_probe(json: &str) -> Result<ProbeInfo, String> {
    let root: Value =
        serde_json::from_str(json).map_err(|e| format!("ffprobe gave unreadable output: {e}"))?;
    let streams = root["streams"].as_array().cloned().unwrap_or_default();
    let format_name = root["format"]["format_name"]
        .as_str()
        .unwrap_or_default()
        .to_owned();
    if format_name.contains("image2") || format_name.ends_with("_pipe") {
        return Err(format!(
            "the file is a still image ({format_name}), not a video"
        ));
    }
    let video = streams
        .iter()
        .find(|s| {
            s["codec_type"] == "video" && number(&s["disposition"]["attached_pic"]) != Some(1.0)
        })
        .ok_or("the file has no video stream")?;
    let index = video["index"].as_u64().unwrap_or(0) as u32;
    let width = video["width"].as_u64().unwrap_or(0) as u32;
    let height = video["height"].as_u64().unwrap_or(0) as u32;
    if width < MIN_SIDE || height < MIN_SIDE {
        return Err(format!("the video is too small ({width}x{height})"));
    }
    let sar = ratio(&video["sample_aspect_ratio"]).unwrap_or(1.0);
    let mut display_width = ((width as f64 * sar).round() as u32).max(MIN_SIDE);
    let mut display_height = height;
    if rotation_of(video).rem_euclid(180) == 90 {
        std::mem::swap(&mut display_width, &mut display_height);
    }
    let frame_rate = ratio(&video["avg_frame_rate"])
        .or_else(|| ratio(&video["r_frame_rate"]))
        .filter(|r| (1.0..=240.0).contains(r))
        .unwrap_or(30.0);
    let duration = number(&root["format"]["duration"])
        .or_else(|| number(&video["duration"]))
        .filter(|d| d.is_finite() && *d > 0.0)
        .ok_or("the video has no duration (is it complete?)")?;
    let audio_index = streams
        .iter()
        .find(|s| s["codec_type"] == "audio")
        .and_then(|s| s["index"].as_u64())
        .map(|i| i as u32);
    Ok(ProbeInfo {
        format_name,
        duration_ms: (duration * 1000.0).round() as i64,
        video: VideoStream {
            index,
            codec: video["codec_name"].as_str().unwrap_or("unknown").to_owned(),
            display_width,
            display_height,
            frame_rate,
        },
        audio_index,
    })
}

// ---------------------------------------------------------------------------------------------
// The rendition ladder

/// One HLS variant to make.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RenditionPlan {
    /// `360p`, `720p`: the length of the short side.
    pub name: String,
    pub width: u32,
    pub height: u32,
    /// Peak video bit rate (x264 `-maxrate`), kbit/s.
    pub max_video_kbps: u32,
    pub audio_kbps: u32,
}

/// Short side, peak video kbit/s, audio kbit/s.
const LADDER: &[(u32, u32, u32)] = &[(360, 900, 96), (720, 3000, 128)];

fn even(x: f64) -> u32 {
    (((x / 2.0).round() as u32) * 2).max(2)
}

/// Renditions for a source shown at `width`×`height`: each rung of the ladder (by short side, so
/// portrait videos work alike) the source reaches, never upscaled. A source smaller than the
/// lowest rung gets one rendition at its own size. Every size is even, as H.264 4:2:0 needs.
pub fn plan_renditions(width: u32, height: u32) -> Vec<RenditionPlan> {
    let short = width.min(height);
    if short < MIN_SIDE {
        return Vec::new();
    }
    let size_for = |target: u32| -> (u32, u32) {
        let scale = target as f64 / short as f64;
        if width >= height {
            (even(width as f64 * scale), target)
        } else {
            (target, even(height as f64 * scale))
        }
    };
    let mut plans: Vec<RenditionPlan> = LADDER
        .iter()
        .filter(|(target, _, _)| *target <= short)
        .map(|&(target, max_video_kbps, audio_kbps)| {
            let (w, h) = size_for(target);
            RenditionPlan {
                name: format!("{target}p"),
                width: w,
                height: h,
                max_video_kbps,
                audio_kbps,
            }
        })
        .collect();
    if plans.is_empty() {
        let (w, h) = (width & !1, height & !1);
        let (base_side, base_kbps, audio_kbps) = LADDER[0];
        let pixels = (w as f64 * h as f64) / (base_side as f64 * base_side as f64 * 16.0 / 9.0);
        plans.push(RenditionPlan {
            name: format!("{}p", w.min(h)),
            width: w,
            height: h,
            max_video_kbps: ((base_kbps as f64 * pixels) as u32).max(200),
            audio_kbps,
        });
    }
    plans
}

// ---------------------------------------------------------------------------------------------
// Transcoding

/// Frames per GOP so that a keyframe starts every segment.
pub fn gop_frames(frame_rate: f64, segment_seconds: u32) -> u32 {
    ((frame_rate * segment_seconds as f64).round() as u32).max(1)
}

/// The ffmpeg arguments making every rendition in one run (decode once, scale per rendition).
pub fn transcode_args(
    source: &Path,
    probe: &ProbeInfo,
    renditions: &[RenditionPlan],
    out_dir: &Path,
    segment_seconds: u32,
) -> Vec<String> {
    let seg = segment_seconds.max(1);
    let gop = gop_frames(probe.video.frame_rate, seg).to_string();
    let mut filter = format!("[0:{}]split={}", probe.video.index, renditions.len());
    for i in 0..renditions.len() {
        let _ = write!(filter, "[s{i}]");
    }
    for (i, r) in renditions.iter().enumerate() {
        let _ = write!(
            filter,
            ";[s{i}]scale={}:{},setsar=1,format=yuv420p[v{i}]",
            r.width, r.height
        );
    }
    let mut args: Vec<String> = [
        "-hide_banner",
        "-nostdin",
        "-y",
        "-v",
        "error",
        "-progress",
        "pipe:1",
        "-nostats",
    ]
    .iter()
    .map(|s| s.to_string())
    .collect();
    args.extend(input_args(probe));
    args.extend(["-i".into(), path_arg(source)]);
    args.extend(["-filter_complex".into(), filter]);
    for (i, r) in renditions.iter().enumerate() {
        let dir = out_dir.join(&r.name);
        args.extend(["-map".into(), format!("[v{i}]")]);
        if let Some(audio) = probe.audio_index {
            args.extend(["-map".into(), format!("0:{audio}")]);
        }
        let max = r.max_video_kbps;
        args.extend(
            [
                "-c:v",
                "libx264",
                "-preset",
                X264_PRESET,
                "-profile:v",
                "main",
                "-crf",
                "23",
            ]
            .iter()
            .map(|s| s.to_string()),
        );
        args.extend([
            "-maxrate".into(),
            format!("{max}k"),
            "-bufsize".into(),
            format!("{}k", max * 2),
            // Fixed GOP: a keyframe exactly every segment, none in between (no scene cuts), so
            // the HLS muxer can cut every `segment_seconds`.
            "-g".into(),
            gop.clone(),
            "-keyint_min".into(),
            gop.clone(),
            "-sc_threshold".into(),
            "0".into(),
            "-force_key_frames".into(),
            format!("expr:gte(t,n_forced*{seg})"),
        ]);
        if probe.audio_index.is_some() {
            args.extend([
                "-c:a".into(),
                "aac".into(),
                "-b:a".into(),
                format!("{}k", r.audio_kbps),
                "-ac".into(),
                "2".into(),
                "-ar".into(),
                "48000".into(),
            ]);
        } else {
            args.push("-an".into());
        }
        args.extend([
            "-f".into(),
            "hls".into(),
            "-hls_time".into(),
            seg.to_string(),
            "-hls_playlist_type".into(),
            "vod".into(),
            "-hls_list_size".into(),
            "0".into(),
            "-hls_flags".into(),
            "independent_segments".into(),
            "-hls_segment_type".into(),
            "mpegts".into(),
            "-hls_segment_filename".into(),
            path_arg(&dir.join("seg_%05d.ts")),
            path_arg(&dir.join("index.m3u8")),
        ]);
    }
    args
}

/// Reads one line of `-progress pipe:1` output: the percent done, if the line says.
pub fn progress_percent(line: &str, duration_ms: i64) -> Option<u8> {
    let (key, value) = line.split_once('=')?;
    match key.trim() {
        // Both are microseconds (`out_time_ms` is misnamed in ffmpeg).
        "out_time_us" | "out_time_ms" => {
            let micros: i64 = value.trim().parse().ok()?;
            if duration_ms <= 0 || micros < 0 {
                return None;
            }
            Some(((micros / 1000).saturating_mul(100) / duration_ms).clamp(0, 100) as u8)
        }
        "progress" if value.trim() == "end" => Some(100),
        _ => None,
    }
}

/// How far the output got, in ms, from one line of `-progress pipe:1` output, if the line says.
pub fn progress_out_time_ms(line: &str) -> Option<i64> {
    let (key, value) = line.split_once('=')?;
    match key.trim() {
        "out_time_us" | "out_time_ms" => value.trim().parse::<i64>().ok().filter(|us| *us >= 0).map(|us| us / 1000),
        _ => None,
    }
}

/// Transcodes `source` into one HLS folder per rendition under `out_dir`, sending the percent
/// done to `progress` whenever it changes. Output that ends well before the probed duration
/// (the source was cut short, whatever its layout) is [`ToolError::Truncated`].
pub async fn transcode_hls(
    tools: &Tools,
    source: &Path,
    probe: &ProbeInfo,
    renditions: &[RenditionPlan],
    out_dir: &Path,
    segment_seconds: u32,
    progress: &watch::Sender<u8>,
) -> Result<(), ToolError> {
    for r in renditions {
        tokio::fs::create_dir_all(out_dir.join(&r.name))
            .await
            .map_err(|source| ToolError::Io {
                tool: "ffmpeg",
                source,
            })?;
    }
    let args = transcode_args(source, probe, renditions, out_dir, segment_seconds);
    let duration_ms = probe.duration_ms;
    let mut decoded_ms: Option<i64> = None;
    run(
        "ffmpeg",
        &tools.ffmpeg,
        &args,
        tools.transcode_timeout,
        |line| {
            if let Some(ms) = progress_out_time_ms(line) {
                decoded_ms = Some(decoded_ms.map_or(ms, |d| d.max(ms)));
            }
            if let Some(p) = progress_percent(line, duration_ms) {
                progress.send_if_modified(|current| {
                    let changed = *current != p;
                    *current = p;
                    changed
                });
            }
        },
    )
    .await?;
    match decoded_ms {
        Some(decoded) if is_truncated(duration_ms, decoded) => {
            Err(truncated(duration_ms, decoded, "ffmpeg could decode"))
        }
        _ => Ok(()),
    }
}

/// When the thumbnail is taken: 1 s in, or half-way through shorter videos.
pub fn thumbnail_at_ms(duration_ms: i64) -> i64 {
    (duration_ms / 2).clamp(0, 1000)
}

/// The ffmpeg arguments for one JPEG of the frame at `at_ms`, scaled to `width`×`height`.
pub fn thumbnail_args(
    source: &Path,
    probe: &ProbeInfo,
    at_ms: i64,
    width: u32,
    height: u32,
    out: &Path,
) -> Vec<String> {
    vec![
        "-hide_banner".into(),
        "-nostdin".into(),
        "-y".into(),
        "-v".into(),
        "error".into(),
        "-ss".into(),
        format!("{}.{:03}", at_ms / 1000, at_ms % 1000),
    ]
    .into_iter()
    .chain(input_args(probe))
    .chain([
        "-i".into(),
        path_arg(source),
        "-map".into(),
        format!("0:{}", probe.video.index),
        "-frames:v".into(),
        "1".into(),
        "-vf".into(),
        format!("scale={width}:{height},setsar=1"),
        "-q:v".into(),
        "3".into(),
        "-f".into(),
        "image2".into(),
        "-update".into(),
        "1".into(),
        path_arg(out),
    ])
    .collect()
}

/// A JPEG of the frame at [`thumbnail_at_ms`], scaled to `width`×`height`.
pub async fn thumbnail(
    tools: &Tools,
    source: &Path,
    probe: &ProbeInfo,
    width: u32,
    height: u32,
    out: &Path,
) -> Result<(), ToolError> {
    // Seeking can land past the last frame of odd files; the first frame is the fallback.
    for at_ms in [thumbnail_at_ms(probe.duration_ms), 0] {
        let args = thumbnail_args(source, probe, at_ms, width, height, out);
        run("ffmpeg", &tools.ffmpeg, &args, tools.probe_timeout, |_| {}).await?;
        if tokio::fs::metadata(out)
            .await
            .map(|m| m.len() > 0)
            .unwrap_or(false)
        {
            return Ok(());
        }
    }
    Err(ToolError::rejected(
        "ffmpeg",
        "no frame could be decoded for the thumbnail",
    ))
}

// ---------------------------------------------------------------------------------------------
// The master playlist

/// A finished variant, measured from its files.
#[derive(Debug, Clone, PartialEq)]
pub struct Variant {
    pub plan: RenditionPlan,
    /// Peak bits per second over its segments (HLS `BANDWIDTH`).
    pub bandwidth: u64,
    /// Bits per second over the whole video (HLS `AVERAGE-BANDWIDTH`).
    pub average_bandwidth: u64,
    /// RFC 6381 codecs, e.g. `avc1.4d401f,mp4a.40.2`.
    pub codecs: String,
    /// Its `index.m3u8`.
    pub playlist: PathBuf,
    pub segments: Vec<PathBuf>,
}

/// Segments and their durations, as a variant playlist lists them.
pub fn playlist_segments(playlist: &str) -> Vec<(f64, String)> {
    let mut out = Vec::new();
    let mut duration = None;
    for line in playlist.lines().map(str::trim) {
        if let Some(rest) = line.strip_prefix("#EXTINF:") {
            duration = rest
                .split(',')
                .next()
                .and_then(|d| d.trim().parse::<f64>().ok());
        } else if !line.is_empty()
            && !line.starts_with('#')
            && let Some(d) = duration.take()
        {
            out.push((d, line.to_owned()));
        }
    }
    out
}

fn avc1_codec(profile: &str, level: i64) -> String {
    let (profile_idc, constraints) = match profile {
        "Constrained Baseline" => (0x42, 0xe0),
        "Baseline" => (0x42, 0x00),
        "High" => (0x64, 0x00),
        _ => (0x4d, 0x40),
    };
    format!(
        "avc1.{profile_idc:02x}{constraints:02x}{:02x}",
        level.clamp(0, 255)
    )
}

/// Measures a finished variant folder: segment bit rates, and the codecs of its first segment.
pub async fn measure_variant(
    tools: &Tools,
    dir: &Path,
    plan: &RenditionPlan,
) -> Result<Variant, ToolError> {
    let io = |source| ToolError::Io {
        tool: "ffmpeg",
        source,
    };
    let playlist = tokio::fs::read_to_string(dir.join("index.m3u8"))
        .await
        .map_err(io)?;
    let listed = playlist_segments(&playlist);
    if listed.is_empty() {
        return Err(ToolError::rejected(
            "ffmpeg",
            format!("the {} rendition has no segments", plan.name),
        ));
    }
    let (mut total_bits, mut total_seconds, mut peak) = (0f64, 0f64, 0f64);
    let mut segments = Vec::with_capacity(listed.len());
    for (seconds, name) in &listed {
        let path = dir.join(name);
        let bits = tokio::fs::metadata(&path).await.map_err(io)?.len() as f64 * 8.0;
        total_bits += bits;
        total_seconds += seconds;
        // A sliver of a last segment would claim a silly peak; the HLS spec allows ignoring it.
        if *seconds >= 0.5 || listed.len() == 1 {
            peak = peak.max(bits / seconds.max(0.001));
        }
        segments.push(path);
    }
    let average = total_bits / total_seconds.max(0.001);
    let codecs = segment_codecs(tools, &segments[0]).await?;
    Ok(Variant {
        plan: plan.clone(),
        bandwidth: peak.max(average).ceil() as u64,
        average_bandwidth: average.ceil() as u64,
        codecs,
        playlist: dir.join("index.m3u8"),
        segments,
    })
}

async fn segment_codecs(tools: &Tools, segment: &Path) -> Result<String, ToolError> {
    let args = vec![
        "-v".into(),
        "error".into(),
        "-print_format".into(),
        "json".into(),
        "-show_entries".into(),
        "stream=codec_type,codec_name,profile,level".into(),
        path_arg(segment),
    ];
    let mut json = String::new();
    run(
        "ffprobe",
        &tools.ffprobe,
        &args,
        tools.probe_timeout,
        |line| json.push_str(line),
    )
    .await?;
    let root: Value = serde_json::from_str(&json)
        .map_err(|e| ToolError::rejected("ffprobe", format!("unreadable segment probe: {e}")))?;
    let streams = root["streams"].as_array().cloned().unwrap_or_default();
    let mut codecs = Vec::new();
    for s in &streams {
        match (s["codec_type"].as_str(), s["codec_name"].as_str()) {
            (Some("video"), Some("h264")) => codecs.push(avc1_codec(
                s["profile"].as_str().unwrap_or("Main"),
                s["level"].as_i64().unwrap_or(31),
            )),
            (Some("audio"), Some("aac")) => codecs.push(
                if s["profile"] == "HE-AAC" {
                    "mp4a.40.5"
                } else {
                    "mp4a.40.2"
                }
                .into(),
            ),
            _ => {}
        }
    }
    if !codecs.iter().any(|c| c.starts_with("avc1")) {
        return Err(ToolError::rejected(
            "ffprobe",
            "a made segment has no H.264 video",
        ));
    }
    Ok(codecs.join(","))
}

/// The master playlist, lowest bandwidth first; variant playlists at `{name}/index.m3u8`.
pub fn master_playlist(variants: &[Variant], frame_rate: f64) -> String {
    let mut sorted: Vec<&Variant> = variants.iter().collect();
    sorted.sort_by_key(|v| v.bandwidth);
    let mut out = String::from("#EXTM3U\n#EXT-X-VERSION:3\n#EXT-X-INDEPENDENT-SEGMENTS\n");
    for v in sorted {
        let _ = writeln!(
            out,
            "#EXT-X-STREAM-INF:BANDWIDTH={},AVERAGE-BANDWIDTH={},RESOLUTION={}x{},CODECS=\"{}\",FRAME-RATE={:.3}\n{}/index.m3u8",
            v.bandwidth,
            v.average_bandwidth,
            v.plan.width,
            v.plan.height,
            v.codecs,
            frame_rate,
            v.plan.name
        );
    }
    out
}

/// Everything a player needs, made in `out_dir`: `master.m3u8`, `thumbnail.jpg` and a
/// `{name}/index.m3u8` + `{name}/seg_NNNNN.ts` folder per rendition.
#[derive(Debug, Clone)]
pub struct HlsPackage {
    pub variants: Vec<Variant>,
    pub master: PathBuf,
    pub thumbnail: PathBuf,
}

pub async fn make_hls_package(
    tools: &Tools,
    source: &Path,
    probe: &ProbeInfo,
    out_dir: &Path,
    segment_seconds: u32,
    progress: &watch::Sender<u8>,
) -> Result<HlsPackage, ToolError> {
    package_files(tools, source, probe, out_dir, segment_seconds, progress)
        .await
        .map_err(|e| e.without_paths(&[(source, "input"), (out_dir, "output")]))
}

async fn package_files(
    tools: &Tools,
    source: &Path,
    probe: &ProbeInfo,
    out_dir: &Path,
    segment_seconds: u32,
    progress: &watch::Sender<u8>,
) -> Result<HlsPackage, ToolError> {
    let plans = plan_renditions(probe.video.display_width, probe.video.display_height);
    let Some(top) = plans.last().cloned() else {
        return Err(ToolError::rejected(
            "ffmpeg",
            "the video is too small to play",
        ));
    };
    transcode_hls(
        tools,
        source,
        probe,
        &plans,
        out_dir,
        segment_seconds,
        progress,
    )
    .await?;
    finish_package(tools, source, probe, &plans, &top, out_dir).await
}

/// What every package gets once its renditions are written: a thumbnail at the size of `top`,
/// each rendition measured, and the master playlist over them.
async fn finish_package(
    tools: &Tools,
    source: &Path,
    probe: &ProbeInfo,
    plans: &[RenditionPlan],
    top: &RenditionPlan,
    out_dir: &Path,
) -> Result<HlsPackage, ToolError> {
    let thumbnail_path = out_dir.join("thumbnail.jpg");
    thumbnail(tools, source, probe, top.width, top.height, &thumbnail_path).await?;
    let mut variants = Vec::with_capacity(plans.len());
    for plan in plans {
        variants.push(measure_variant(tools, &out_dir.join(&plan.name), plan).await?);
    }
    let master = out_dir.join("master.m3u8");
    tokio::fs::write(&master, master_playlist(&variants, probe.video.frame_rate))
        .await
        .map_err(|source| ToolError::Io {
            tool: "ffmpeg",
            source,
        })?;
    Ok(HlsPackage {
        variants,
        master,
        thumbnail: thumbnail_path,
    })
}

/// Whether [`make_copy_package`] can package this source: its video is H.264 (players take it
/// as it is). Its keyframes must also come at least every segment, which the importer vouches
/// for (a live broadcast has one every second).
pub fn can_copy(probe: &ProbeInfo) -> bool {
    probe.video.codec == "h264"
}

/// The one rendition of a copied package: the source's own size, named by its short side.
fn copy_plan(probe: &ProbeInfo) -> RenditionPlan {
    let (width, height) = (probe.video.display_width, probe.video.display_height);
    RenditionPlan { name: format!("{}p", width.min(height)), width, height, max_video_kbps: 0, audio_kbps: 128 }
}

/// The ffmpeg arguments that package `source` into one HLS rendition without re-encoding its
/// video (audio becomes AAC, which is cheap and takes any source).
pub fn copy_args(source: &Path, probe: &ProbeInfo, plan: &RenditionPlan, out_dir: &Path, segment_seconds: u32) -> Vec<String> {
    let dir = out_dir.join(&plan.name);
    let mut args: Vec<String> = ["-hide_banner", "-nostdin", "-y", "-v", "error", "-progress", "pipe:1", "-nostats"]
        .iter()
        .map(|s| s.to_string())
        .collect();
    args.extend(input_args(probe));
    args.extend(["-i".into(), path_arg(source), "-map".into(), format!("0:{}", probe.video.index), "-c:v".into(), "copy".into()]);
    match probe.audio_index {
        Some(audio) => args.extend(
            ["-map", &format!("0:{audio}"), "-c:a", "aac", "-b:a", &format!("{}k", plan.audio_kbps), "-ac", "2", "-ar", "48000"]
                .iter()
                .map(|s| s.to_string()),
        ),
        None => args.push("-an".into()),
    }
    args.extend([
        "-f".into(),
        "hls".into(),
        "-hls_time".into(),
        segment_seconds.max(1).to_string(),
        "-hls_playlist_type".into(),
        "vod".into(),
        "-hls_list_size".into(),
        "0".into(),
        "-hls_flags".into(),
        "independent_segments".into(),
        "-hls_segment_type".into(),
        "mpegts".into(),
        "-hls_segment_filename".into(),
        path_arg(&dir.join("seg_%05d.ts")),
        path_arg(&dir.join("index.m3u8")),
    ]);
    args
}

/// Packages an H.264 source as it is ([`can_copy`]): one rendition at its own size, a thumbnail
/// and the master playlist, in the layout [`make_hls_package`] writes. Seconds, not the
/// source's length in encoding time.
pub async fn make_copy_package(
    tools: &Tools,
    source: &Path,
    probe: &ProbeInfo,
    out_dir: &Path,
    segment_seconds: u32,
    progress: &watch::Sender<u8>,
) -> Result<HlsPackage, ToolError> {
    copy_package_files(tools, source, probe, out_dir, segment_seconds, progress)
        .await
        .map_err(|e| e.without_paths(&[(source, "input"), (out_dir, "output")]))
}

async fn copy_package_files(
    tools: &Tools,
    source: &Path,
    probe: &ProbeInfo,
    out_dir: &Path,
    segment_seconds: u32,
    progress: &watch::Sender<u8>,
) -> Result<HlsPackage, ToolError> {
    let io = |source| ToolError::Io { tool: "ffmpeg", source };
    let plan = copy_plan(probe);
    tokio::fs::create_dir_all(out_dir.join(&plan.name)).await.map_err(io)?;
    let args = copy_args(source, probe, &plan, out_dir, segment_seconds);
    let duration_ms = probe.duration_ms;
    run("ffmpeg", &tools.ffmpeg, &args, tools.transcode_timeout, |line| {
        if let Some(p) = progress_percent(line, duration_ms) {
            progress.send_if_modified(|current| std::mem::replace(current, p) != p);
        }
    })
    .await?;
    finish_package(tools, source, probe, std::slice::from_ref(&plan), &plan, out_dir).await
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;

    pub(crate) fn tools() -> Tools {
        Tools {
            ffmpeg: "ffmpeg".into(),
            ffprobe: "ffprobe".into(),
            probe_timeout: Duration::from_secs(30),
            transcode_timeout: Duration::from_secs(120),
        }
    }

    /// A small H.264 + AAC MP4 made by ffmpeg's test sources.
    pub(crate) fn make_video(path: &Path, size: &str, seconds: u32, audio: bool) {
        let mut cmd = std::process::Command::new("ffmpeg");
        cmd.args(["-v", "error", "-y", "-f", "lavfi", "-i"])
            .arg(format!("testsrc=duration={seconds}:size={size}:rate=25"));
        if audio {
            cmd.args(["-f", "lavfi", "-i"])
                .arg(format!("sine=frequency=440:duration={seconds}"))
                .args(["-c:a", "aac", "-shortest"]);
        }
        let status = cmd
            .args([
                "-c:v",
                "libx264",
                "-preset",
                "ultrafast",
                "-pix_fmt",
                "yuv420p",
            ])
            .arg(path)
            .status()
            .unwrap();
        assert!(status.success());
    }

    #[tokio::test]
    async fn a_copied_package_keeps_the_video_stream_and_plays() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("x.mp4");
        make_video(&path, "320x180", 3, true);
        let info = probe(&tools(), &path).await.unwrap();
        assert!(can_copy(&info));
        let out = dir.path().join("out");
        let (tx, _rx) = watch::channel(0u8);
        let package = make_copy_package(&tools(), &path, &info, &out, 1, &tx).await.unwrap();
        assert_eq!(package.variants.len(), 1);
        assert_eq!(package.variants[0].plan.name, "180p");
        let playlist = std::fs::read_to_string(out.join("180p/index.m3u8")).unwrap();
        assert!(playlist.contains("#EXT-X-ENDLIST") && playlist.contains("seg_00000.ts"), "{playlist}");
        assert!(std::fs::read_to_string(&package.master).unwrap().contains("180p/index.m3u8"));
        assert!(std::fs::metadata(&package.thumbnail).unwrap().len() > 0);
        let args = copy_args(&path, &info, &copy_plan(&info), &out, 1).join(" ");
        assert!(args.contains("-c:v copy") && !args.contains("libx264"), "{args}");
    }

    #[tokio::test]
    async fn probe_reads_a_real_video() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("x.mp4");
        make_video(&path, "640x360", 2, true);
        let info = probe(&tools(), &path).await.unwrap();
        assert_eq!(
            (info.video.display_width, info.video.display_height),
            (640, 360)
        );
        assert_eq!(info.video.codec, "h264");
        assert!((info.video.frame_rate - 25.0).abs() < 0.01);
        assert!(
            (1900..=2100).contains(&info.duration_ms),
            "{}",
            info.duration_ms
        );
        assert_eq!(info.audio_index, Some(1));
    }

    #[tokio::test]
    async fn probe_refuses_text_and_truncated_files_with_the_reason() {
        let dir = tempfile::tempdir().unwrap();
        let text = dir.path().join("notes.txt");
        std::fs::write(&text, "not a video at all\n").unwrap();
        let e = probe(&tools(), &text).await.unwrap_err();
        assert!(matches!(e, ToolError::Rejected { .. }));
        assert!(e.to_string().contains("input: Invalid data"), "{e}");
        assert!(
            !e.to_string().contains(&*dir.path().to_string_lossy()),
            "no local paths: {e}"
        );

        let full = dir.path().join("full.mp4");
        make_video(&full, "320x240", 2, true);
        let bytes = std::fs::read(&full).unwrap();
        let truncated = dir.path().join("truncated.mp4");
        std::fs::write(&truncated, &bytes[..bytes.len() / 2]).unwrap();
        let e = probe(&tools(), &truncated).await.unwrap_err();
        assert!(e.to_string().contains("moov atom not found"), "{e}");
    }

    /// A copy of `source` remuxed with `args` (e.g. `-movflags +faststart`, `-f matroska`).
    fn remux(source: &Path, out: &Path, args: &[&str]) {
        let status = std::process::Command::new("ffmpeg")
            .args(["-v", "error", "-y", "-i"])
            .arg(source)
            .args(["-c", "copy"])
            .args(args)
            .arg(out)
            .status()
            .unwrap();
        assert!(status.success());
    }

    /// The first half of `path`'s bytes, at `out`.
    fn first_half(path: &Path, out: &Path) {
        let bytes = std::fs::read(path).unwrap();
        std::fs::write(out, &bytes[..bytes.len() / 2]).unwrap();
    }

    /// What ffprobe makes of `path` with no guards: the format it reads it as, if it reads it.
    fn unguarded_format(path: &Path) -> Option<String> {
        let out = std::process::Command::new("ffprobe")
            .args(["-v", "error", "-show_entries", "format=format_name", "-of", "csv=p=0"])
            .arg(path)
            .output()
            .unwrap();
        out.status
            .success()
            .then(|| String::from_utf8_lossy(&out.stdout).trim().to_owned())
    }

    /// Files that make ffmpeg read other files or URLs, named as staged uploads are (no
    /// extension), beside a real video and its HLS segments that they point at.
    #[tokio::test]
    async fn inputs_that_point_at_other_files_or_urls_are_refused_as_unsupported_formats() {
        let dir = tempfile::tempdir().unwrap();
        let d = dir.path();
        let other = d.join("other.mp4");
        make_video(&other, "320x240", 2, true);
        std::fs::create_dir(d.join("hls")).unwrap();
        let status = std::process::Command::new("ffmpeg")
            .args(["-v", "error", "-y", "-i"])
            .arg(&other)
            .args(["-c", "copy", "-f", "hls", "-hls_time", "1", "-hls_playlist_type", "vod"])
            .arg(d.join("hls/index.m3u8"))
            .status()
            .unwrap();
        assert!(status.success());

        let playlist = |target: &str| {
            format!("#EXTM3U\n#EXT-X-TARGETDURATION:2\n#EXTINF:2,\n{target}\n#EXT-X-ENDLIST\n")
        };
        let cases: Vec<(&str, String, &str)> = vec![
            // Another video's segment, by a path relative to the upload: the way to read what is
            // not yours from the data dir.
            ("1.part", playlist("hls/index0.ts"), "HLS playlist"),
            ("2.part", playlist("file:///etc/passwd"), "HLS playlist"),
            ("3.part", playlist("/etc/passwd"), "HLS playlist"),
            ("4.part", playlist("http://127.0.0.1:9/segment.ts"), "HLS playlist"),
            ("5.part", "ffconcat version 1.0\nfile other.mp4\n".into(), "concat list"),
            (
                "6.part",
                "ffconcat version 1.0\nfile /etc/passwd\n".into(),
                "concat list",
            ),
            (
                "7.part",
                "v=0\no=- 0 0 IN IP4 127.0.0.1\ns=x\nc=IN IP4 127.0.0.1\nt=0 0\nm=video 9 RTP/AVP 96\na=rtpmap:96 H264/90000\n".into(),
                "stream description",
            ),
        ];
        for (name, text, words) in &cases {
            let path = d.join(name);
            std::fs::write(&path, text).unwrap();
            let e = probe(&tools(), &path).await.unwrap_err();
            assert!(
                matches!(e, ToolError::UnsupportedFormat { .. }),
                "{name}: {e:?}"
            );
            assert!(e.to_string().contains(words), "{name}: {e}");
            assert!(e.to_string().contains("MP4, MOV, WebM"), "{name}: {e}");
            assert!(!e.to_string().contains(&*d.to_string_lossy()), "{name}: {e}");
        }
        // What the guards stop: unguarded, ffprobe follows the first playlist into the other
        // video's segment, and the concat list into the other video.
        assert_eq!(unguarded_format(&d.join("1.part")).as_deref(), Some("hls"));
        assert_eq!(unguarded_format(&d.join("5.part")).as_deref(), Some("concat"));

        // A still image is not a video either.
        let png = d.join("8.part");
        let status = std::process::Command::new("ffmpeg")
            .args(["-v", "error", "-y", "-f", "lavfi", "-i", "testsrc=size=64x64", "-frames:v", "1", "-f", "image2", "-c:v", "png"])
            .arg(&png)
            .status()
            .unwrap();
        assert!(status.success());
        let e = probe(&tools(), &png).await.unwrap_err();
        assert!(matches!(e, ToolError::UnsupportedFormat { .. }), "{e:?}");
        assert!(e.to_string().contains("still image (png)"), "{e}");

        // The real video still reads, in every accepted container.
        for (name, args) in [
            ("ok.mkv", vec!["-f", "matroska"]),
            ("ok.webm", vec!["-c:v", "libvpx", "-c:a", "libopus", "-f", "webm"]),
            ("ok.ts", vec!["-f", "mpegts"]),
            ("ok.flv", vec!["-f", "flv"]),
            ("ok.mov", vec!["-f", "mov"]),
        ] {
            let out = d.join(name).with_extension("part");
            if name == "ok.webm" {
                let status = std::process::Command::new("ffmpeg")
                    .args(["-v", "error", "-y", "-i"])
                    .arg(&other)
                    .args(&args)
                    .arg(&out)
                    .status()
                    .unwrap();
                assert!(status.success());
            } else {
                remux(&other, &out, &args);
            }
            let info = probe(&tools(), &out).await.unwrap_or_else(|e| panic!("{name}: {e}"));
            assert!(allowed_demuxer(&info.format_name).is_some(), "{name}: {}", info.format_name);
            verify_complete(&tools(), &out, &info).await.unwrap_or_else(|e| panic!("{name}: {e}"));
        }
    }

    /// Cut in half, whatever the layout: the MP4 with its index last has no index; the one with
    /// its index first (`+faststart`) and the Matroska file still claim their whole duration,
    /// but their packets stop half-way.
    #[tokio::test]
    async fn a_truncated_file_is_found_whatever_its_layout() {
        let dir = tempfile::tempdir().unwrap();
        let d = dir.path();
        let full = d.join("full.mp4");
        make_video(&full, "320x240", 4, true);
        let faststart = d.join("faststart.mp4");
        remux(&full, &faststart, &["-movflags", "+faststart"]);
        let mkv = d.join("full.mkv");
        remux(&full, &mkv, &["-f", "matroska"]);

        for complete in [&full, &faststart, &mkv] {
            let info = probe(&tools(), complete).await.unwrap();
            verify_complete(&tools(), complete, &info).await.unwrap();
        }

        let cut = d.join("index-last.part");
        first_half(&full, &cut);
        let e = probe(&tools(), &cut).await.unwrap_err();
        assert!(matches!(e, ToolError::Truncated { .. }), "{e:?}");
        assert!(e.to_string().contains("moov atom not found"), "{e}");

        for (source, name) in [(&faststart, "index-first.part"), (&mkv, "matroska.part")] {
            let cut = d.join(name);
            first_half(source, &cut);
            // The header reads, and claims the whole four seconds…
            let info = probe(&tools(), &cut).await.unwrap();
            assert!((3900..=4100).contains(&info.duration_ms), "{name}: {}", info.duration_ms);
            // …which the packets do not hold.
            let e = verify_complete(&tools(), &cut, &info).await.unwrap_err();
            assert!(matches!(e, ToolError::Truncated { .. }), "{name}: {e:?}");
            assert!(e.to_string().contains("the file is truncated: it claims 4.0 s"), "{name}: {e}");
            assert!(!e.to_string().contains(&*d.to_string_lossy()), "{name}: {e}");
        }

        // Had the packet check been skipped, transcoding finds it too: ffmpeg decodes half.
        let cut = d.join("index-first.part");
        let info = probe(&tools(), &cut).await.unwrap();
        let (tx, _rx) = watch::channel(0u8);
        let e = make_hls_package(&tools(), &cut, &info, &d.join("out"), 1, &tx)
            .await
            .unwrap_err();
        assert!(matches!(e, ToolError::Truncated { .. }), "{e:?}");
        assert!(e.to_string().contains("ffmpeg could decode only"), "{e}");
    }

    #[test]
    fn refusals_and_spans_are_read_from_ffmpeg_output() {
        assert_eq!(
            refused_demuxer("[hls @ 0x55d0c9cfd4c0] Format not on whitelist 'mov,matroska'\nx: Invalid argument").as_deref(),
            Some("hls")
        );
        assert_eq!(refused_demuxer("[http @ 0x1] Protocol 'http' not on whitelist 'file'!"), None);
        assert_eq!(refused_demuxer("input: Invalid data found when processing input"), None);
        assert_eq!(allowed_demuxer("mov,mp4,m4a,3gp,3g2,mj2"), Some("mov"));
        assert_eq!(allowed_demuxer("matroska,webm"), Some("matroska"));
        assert_eq!(allowed_demuxer("hls"), None);
        assert_eq!(allowed_demuxer("image2"), None);

        let mut span = PacketSpan::default();
        span.add("pts_time=0.023000|dts_time=0.023000|duration_time=0.040000");
        span.add("pts_time=N/A|dts_time=1.983000|duration_time=0.040000");
        span.add("pts_time=1.023000|dts_time=0.983000|duration_time=N/A");
        assert_eq!(span.millis(), 2000);
        assert_eq!(PacketSpan::default().millis(), 0);

        assert!(!is_truncated(2000, 1960));
        assert!(!is_truncated(2000, 1001));
        assert!(is_truncated(4000, 1800));
        // Long videos get 1 % of slack: 72 s of a two-hour film, not 72.1.
        assert!(!is_truncated(7_200_000, 7_128_000));
        assert!(is_truncated(7_200_000, 7_127_000));
        assert_eq!(progress_out_time_ms("out_time_us=1811156"), Some(1811));
        assert_eq!(progress_out_time_ms("out_time_us=N/A"), None);
    }

    #[test]
    fn every_read_of_an_upload_is_guarded() {
        let probe = parse_probe(
            r#"{"streams":[{"index":0,"codec_type":"video","width":640,"height":360}],
            "format":{"format_name":"mov,mp4,m4a,3gp,3g2,mj2","duration":"2"}}"#,
        )
        .unwrap();
        let guard = "-protocol_whitelist file -format_whitelist mov,matroska,avi,flv,mpegts -f mov -i /in.mp4";
        let transcode = transcode_args(Path::new("/in.mp4"), &probe, &plan_renditions(640, 360), Path::new("/out"), 2).join(" ");
        assert!(transcode.contains(guard), "{transcode}");
        let thumbnail = thumbnail_args(Path::new("/in.mp4"), &probe, 1000, 640, 360, Path::new("/t.jpg")).join(" ");
        assert!(thumbnail.contains(guard), "{thumbnail}");
    }

    #[tokio::test]
    async fn a_missing_tool_is_transient_and_a_slow_one_times_out() {
        let mut t = tools();
        t.ffprobe = "/nonexistent/ffprobe".into();
        let e = probe(&t, Path::new("/dev/null")).await.unwrap_err();
        assert!(e.is_transient());
        let e = run(
            "sleep",
            "sleep",
            &["5".into()],
            Duration::from_millis(200),
            |_| {},
        )
        .await;
        assert!(matches!(e, Err(ToolError::TimedOut { .. })));
    }

    #[test]
    fn probe_json_without_video_or_duration_is_refused() {
        let audio_only = r#"{"streams":[{"index":0,"codec_type":"audio","codec_name":"mp3"}],
            "format":{"format_name":"mp3","duration":"3.0"}}"#;
        assert_eq!(
            parse_probe(audio_only).unwrap_err(),
            "the file has no video stream"
        );
        let cover_art = r#"{"streams":[{"index":0,"codec_type":"audio"},
            {"index":1,"codec_type":"video","width":500,"height":500,"disposition":{"attached_pic":1}}],
            "format":{"format_name":"mp3","duration":"3.0"}}"#;
        assert_eq!(
            parse_probe(cover_art).unwrap_err(),
            "the file has no video stream"
        );
        let image = r#"{"streams":[{"index":0,"codec_type":"video","width":500,"height":500}],
            "format":{"format_name":"png_pipe"}}"#;
        assert!(parse_probe(image).unwrap_err().contains("still image"));
    }

    #[test]
    fn probe_json_applies_rotation_and_pixel_aspect() {
        let rotated = r#"{"streams":[{"index":0,"codec_type":"video","codec_name":"h264","width":1280,"height":720,
            "avg_frame_rate":"30000/1001","side_data_list":[{"rotation":-90}]}],
            "format":{"format_name":"mov,mp4","duration":"2.5"}}"#;
        let info = parse_probe(rotated).unwrap();
        assert_eq!(
            (info.video.display_width, info.video.display_height),
            (720, 1280)
        );
        assert!((info.video.frame_rate - 29.97).abs() < 0.01);
        assert_eq!((info.duration_ms, info.audio_index), (2500, None));
        let anamorphic = r#"{"streams":[{"index":0,"codec_type":"video","width":720,"height":576,
            "sample_aspect_ratio":"16:11"}],"format":{"format_name":"mpegts","duration":"1"}}"#;
        assert_eq!(parse_probe(anamorphic).unwrap().video.display_width, 1047);
    }

    fn sizes(plans: &[RenditionPlan]) -> Vec<(String, u32, u32)> {
        plans
            .iter()
            .map(|p| (p.name.clone(), p.width, p.height))
            .collect()
    }

    #[test]
    fn the_ladder_never_upscales() {
        assert_eq!(
            sizes(&plan_renditions(1920, 1080)),
            [("360p".into(), 640, 360), ("720p".into(), 1280, 720)]
        );
        assert_eq!(
            sizes(&plan_renditions(1280, 720)),
            [("360p".into(), 640, 360), ("720p".into(), 1280, 720)]
        );
        assert_eq!(
            sizes(&plan_renditions(640, 360)),
            [("360p".into(), 640, 360)]
        );
        assert_eq!(
            sizes(&plan_renditions(854, 480)),
            [("360p".into(), 640, 360)]
        );
        assert_eq!(
            sizes(&plan_renditions(320, 240)),
            [("240p".into(), 320, 240)]
        );
        assert_eq!(
            sizes(&plan_renditions(321, 241)),
            [("240p".into(), 320, 240)]
        );
        // Portrait: the short side names the rung.
        assert_eq!(
            sizes(&plan_renditions(1080, 1920)),
            [("360p".into(), 360, 640), ("720p".into(), 720, 1280)]
        );
        assert!(plan_renditions(8, 8).is_empty());
        for (w, h) in [(1000, 563), (333, 777), (4096, 2160), (17, 19)] {
            for p in plan_renditions(w, h) {
                assert!(p.width % 2 == 0 && p.height % 2 == 0, "{p:?}");
                assert!(
                    p.width <= w.max(2) && p.height <= h.max(2),
                    "{p:?} upscales {w}x{h}"
                );
            }
        }
    }

    #[test]
    fn progress_lines_become_percentages() {
        assert_eq!(progress_percent("out_time_us=1500000", 3000), Some(50));
        assert_eq!(progress_percent("out_time_ms=3000000", 3000), Some(100));
        assert_eq!(progress_percent("out_time_us=9000000", 3000), Some(100));
        assert_eq!(progress_percent("out_time_us=N/A", 3000), None);
        assert_eq!(progress_percent("out_time_us=-5", 3000), None);
        assert_eq!(progress_percent("progress=end", 3000), Some(100));
        assert_eq!(progress_percent("frame=10", 3000), None);
        assert_eq!(progress_percent("out_time_us=10", 0), None);
    }

    #[test]
    fn transcode_args_fix_the_gop_to_the_segment_length() {
        let probe = parse_probe(
            r#"{"streams":[{"index":0,"codec_type":"video","width":1280,"height":720,"avg_frame_rate":"25/1"},
            {"index":1,"codec_type":"audio"}],"format":{"format_name":"mov","duration":"3"}}"#,
        )
        .unwrap();
        let plans = plan_renditions(1280, 720);
        let args =
            transcode_args(Path::new("/in.mp4"), &probe, &plans, Path::new("/out"), 4).join(" ");
        assert!(
            args.contains("-g 100 -keyint_min 100 -sc_threshold 0"),
            "{args}"
        );
        assert!(args.contains("-force_key_frames expr:gte(t,n_forced*4)"));
        assert!(args.contains("[0:0]split=2[s0][s1];[s0]scale=640:360"));
        assert!(args.contains("-map 0:1"));
        assert!(args.contains("-hls_time 4"));
        assert!(args.contains("/out/720p/seg_%05d.ts /out/720p/index.m3u8"));
    }

    #[test]
    fn variant_playlists_are_read() {
        let playlist = "#EXTM3U\n#EXT-X-TARGETDURATION:4\n#EXTINF:4.000000,\nseg_00000.ts\n#EXTINF:1.5,\nseg_00001.ts\n#EXT-X-ENDLIST\n";
        assert_eq!(
            playlist_segments(playlist),
            [
                (4.0, "seg_00000.ts".to_owned()),
                (1.5, "seg_00001.ts".to_owned())
            ]
        );
        assert_eq!(avc1_codec("Main", 31), "avc1.4d401f");
        assert_eq!(avc1_codec("High", 40), "avc1.640028");
    }

    #[tokio::test]
    async fn a_720p_source_becomes_a_playable_hls_package() {
        let dir = tempfile::tempdir().unwrap();
        let source = dir.path().join("x.mp4");
        make_video(&source, "1280x720", 3, true);
        let info = probe(&tools(), &source).await.unwrap();
        let out = dir.path().join("out");
        let (tx, rx) = watch::channel(0u8);
        let package = make_hls_package(&tools(), &source, &info, &out, 1, &tx)
            .await
            .unwrap();
        assert_eq!(*rx.borrow(), 100);

        let names: Vec<_> = package
            .variants
            .iter()
            .map(|v| v.plan.name.as_str())
            .collect();
        assert_eq!(names, ["360p", "720p"]);
        for v in &package.variants {
            // One-second segments from a three-second video: the fixed GOP cut them all.
            assert!(
                v.segments.len() >= 3,
                "{} has {} segments",
                v.plan.name,
                v.segments.len()
            );
            assert!(
                v.codecs.starts_with("avc1.4d40") && v.codecs.ends_with(",mp4a.40.2"),
                "{}",
                v.codecs
            );
            assert!(v.bandwidth >= v.average_bandwidth && v.average_bandwidth > 0);
        }
        let master = std::fs::read_to_string(&package.master).unwrap();
        assert!(master.contains("RESOLUTION=640x360") && master.contains("RESOLUTION=1280x720"));
        assert!(master.contains("360p/index.m3u8\n") && master.contains("CODECS=\"avc1."));
        assert!(std::fs::metadata(&package.thumbnail).unwrap().len() > 1000);
        let jpeg = std::fs::read(&package.thumbnail).unwrap();
        assert_eq!(&jpeg[..2], [0xFF, 0xD8]);

        // A player (ffmpeg itself) can read both variants through the master playlist.
        let output = std::process::Command::new("ffprobe")
            .args([
                "-v",
                "error",
                "-show_entries",
                "stream=codec_type,width,height",
                "-of",
                "csv=p=0",
            ])
            .arg(&package.master)
            .output()
            .unwrap();
        assert!(
            output.status.success(),
            "{}",
            String::from_utf8_lossy(&output.stderr)
        );
        let listing = String::from_utf8_lossy(&output.stdout);
        assert!(
            listing.contains("video,640,360") && listing.contains("video,1280,720"),
            "{listing}"
        );
    }

    #[tokio::test]
    async fn a_small_silent_source_gets_one_rendition_at_its_own_size() {
        let dir = tempfile::tempdir().unwrap();
        let source = dir.path().join("small.mp4");
        make_video(&source, "320x240", 2, false);
        let info = probe(&tools(), &source).await.unwrap();
        assert_eq!(info.audio_index, None);
        let (tx, _rx) = watch::channel(0u8);
        let package = make_hls_package(&tools(), &source, &info, &dir.path().join("out"), 4, &tx)
            .await
            .unwrap();
        assert_eq!(package.variants.len(), 1);
        let v = &package.variants[0];
        assert_eq!(
            (v.plan.name.as_str(), v.plan.width, v.plan.height),
            ("240p", 320, 240)
        );
        assert!(!v.codecs.contains("mp4a"), "{}", v.codecs);
    }

    #[tokio::test]
    async fn ffmpeg_rejecting_the_input_keeps_its_last_stderr_lines() {
        let dir = tempfile::tempdir().unwrap();
        let bogus = dir.path().join("bogus.mp4");
        std::fs::write(&bogus, b"nope").unwrap();
        let info = parse_probe(
            r#"{"streams":[{"index":0,"codec_type":"video","width":320,"height":240}],
            "format":{"format_name":"mov","duration":"2"}}"#,
        )
        .unwrap();
        let (tx, _rx) = watch::channel(0u8);
        let e = make_hls_package(&tools(), &bogus, &info, &dir.path().join("out"), 4, &tx)
            .await
            .unwrap_err();
        assert!(!e.is_transient());
        assert!(e.to_string().contains("Invalid data"), "{e}");
        assert!(
            !e.to_string().contains(&*dir.path().to_string_lossy()),
            "no local paths: {e}"
        );
    }

    #[tokio::test]
    async fn a_child_leads_a_process_group_of_its_own() {
        let mut stat = String::new();
        let args = ["/proc/self/stat".to_owned()];
        run("cat", "cat", &args, Duration::from_secs(10), |line| {
            stat.push_str(line)
        })
        .await
        .unwrap();
        // `pid (comm) state ppid pgrp …`
        let pid = stat.split_whitespace().next().unwrap();
        let after_comm = stat.rsplit_once(')').unwrap().1;
        let pgrp = after_comm.split_whitespace().nth(2).unwrap();
        assert_eq!(pgrp, pid, "{stat}");
    }

    /// Set for the process `ffmpeg_dies_with_the_process_that_started_it` starts.
    const HELPER: &str = "KANJIAN_MEDIA_TEST_HELPER";

    /// Run in a process of its own by `ffmpeg_dies_with_the_process_that_started_it`: on a
    /// multi-thread runtime, as in the server, starts an ffmpeg that runs for ten minutes through
    /// the path every ffmpeg takes, and waits for it.
    #[test]
    #[ignore = "run by ffmpeg_dies_with_the_process_that_started_it, in a process of its own"]
    fn helper_runs_a_long_ffmpeg() {
        if std::env::var_os(HELPER).is_none() {
            return;
        }
        let runtime = tokio::runtime::Builder::new_multi_thread()
            .enable_all()
            .build()
            .unwrap();
        let args = [
            "-hide_banner",
            "-nostdin",
            "-v",
            "error",
            "-re",
            "-f",
            "lavfi",
            "-i",
            "testsrc=size=64x64:rate=5:duration=600",
            "-f",
            "null",
            "-",
        ]
        .map(String::from);
        let ten_minutes = Duration::from_secs(600);
        let _ = runtime.block_on(run("ffmpeg", "ffmpeg", &args, ten_minutes, |_| {}));
    }

    /// `/proc/<pid>/stat`: command name, state, parent pid and start time (fields 2, 3, 4, 22).
    fn proc_stat(pid: u32) -> Option<(String, char, u32, u64)> {
        let text = std::fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
        let (head, rest) = text.rsplit_once(')')?;
        let comm = head.split_once('(')?.1.to_owned();
        let fields: Vec<&str> = rest.split_whitespace().collect();
        let state = fields.first()?.chars().next()?;
        Some((
            comm,
            state,
            fields.get(1)?.parse().ok()?,
            fields.get(19)?.parse().ok()?,
        ))
    }

    /// Whether the process `pid` that started at `start` still runs (a zombie does not).
    fn still_runs(pid: u32, start: u64) -> bool {
        proc_stat(pid).is_some_and(|(_, state, _, s)| s == start && !matches!(state, 'Z' | 'X'))
    }

    /// A running ffmpeg child of `parent`: its pid and start time.
    fn ffmpeg_child_of(parent: u32) -> Option<(u32, u64)> {
        std::fs::read_dir("/proc")
            .ok()?
            .filter_map(|e| e.ok()?.file_name().to_str()?.parse::<u32>().ok())
            .find_map(|pid| {
                let (comm, _, ppid, start) = proc_stat(pid)?;
                (comm == "ffmpeg" && ppid == parent && still_runs(pid, start))
                    .then_some((pid, start))
            })
    }

    /// Calls `check` every 20 ms until it gives `Some` or `limit` passes.
    fn poll<T>(limit: Duration, mut check: impl FnMut() -> Option<T>) -> Option<T> {
        let deadline = std::time::Instant::now() + limit;
        loop {
            if let Some(found) = check() {
                return Some(found);
            }
            if std::time::Instant::now() >= deadline {
                return None;
            }
            std::thread::sleep(Duration::from_millis(20));
        }
    }

    /// The server killed with SIGKILL mid-transcode (nothing of it runs on the way down): the
    /// ffmpeg it started goes too.
    #[test]
    fn ffmpeg_dies_with_the_process_that_started_it() {
        let mut server = std::process::Command::new(std::env::current_exe().unwrap())
            .args([
                "ffmpeg::tests::helper_runs_a_long_ffmpeg",
                "--exact",
                "--ignored",
            ])
            .env(HELPER, "1")
            .stdout(Stdio::null())
            .spawn()
            .unwrap();
        let found = poll(Duration::from_secs(30), || ffmpeg_child_of(server.id()));
        server.kill().unwrap(); // SIGKILL
        server.wait().unwrap();
        let (pid, start) = found.expect("the helper process started no ffmpeg");

        let gone = poll(Duration::from_secs(10), || {
            (!still_runs(pid, start)).then_some(())
        });
        if gone.is_none() {
            let _ = std::process::Command::new("kill")
                .args(["-s", "KILL", &pid.to_string()])
                .status();
            panic!(
                "ffmpeg (pid {pid}) still ran 10 s after the process that started it was killed"
            );
        }
    }
}
