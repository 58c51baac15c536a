//! Live packaging: FLV tags in, fMP4 HLS segments out, delivered to the session's sink in order.
//!
//! [`FfmpegPackager`] is design (a) of docs/live-research.md: one ffmpeg child per publish
//! session, fed FLV on stdin, writing 1 s fMP4 segments and an event playlist that we watch to
//! learn when a segment is complete. A Rust segmenter writing LL-HLS parts (design (b)) would
//! be another [`Packager`].

use std::collections::VecDeque;
use std::path::{Path, PathBuf};
use std::process::{ExitStatus, Stdio};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use anyhow::Context as _;
use async_trait::async_trait;
use bytes::{Bytes, BytesMut};
use chrono::{DateTime, Utc};
use tokio::io::{AsyncBufReadExt, AsyncWriteExt, BufReader};
use tokio::process::{Child, ChildStdin, Command};
use tokio::sync::mpsc;
use tokio::task::JoinHandle;

use super::flv::{self, MediaTag, Track};
use super::gate::{PackagedSegment, PackagingMode, PublishSink, StreamInfo};

/// How often ffmpeg's playlist is read for new segments. A segment is listed at most this much
/// later than ffmpeg finished it; small next to a 1 s segment.
const PLAYLIST_POLL: Duration = Duration::from_millis(100);
/// How long ffmpeg may take to flush and exit once its input ended, before it is killed.
const FLUSH_TIMEOUT: Duration = Duration::from_secs(20);
/// A sink call that takes longer is counted as failed.
const SINK_TIMEOUT: Duration = Duration::from_secs(10);
const SINK_ATTEMPTS: u32 = 3;
/// Media held back while deciding copy or transcode: about two GOPs at most, but never more
/// than this, whatever the publisher sends.
const PROBE_MAX_BYTES: usize = 16 << 20;
/// Keyframe timestamps jitter by a frame or so; an interval up to this much over the segment
/// length still counts as one segment.
const KEYFRAME_SLACK_MS: u32 = 100;
/// A copy-mode segment this much longer than its target means the publisher's keyframes got
/// sparser after the decision: the session switches to transcoding.
const SWITCH_FACTOR: f64 = 1.5;

/// Turns the tags of one publish session into segments for its sink.
#[async_trait]
pub(crate) trait Packager: Send {
    /// The publisher's `onMetaData` (sizes and frame rate, for `StreamInfo` and the encoder).
    fn metadata(&mut self, metadata: SourceMetadata);
    /// The next tag, in arrival order. An error ends the publish.
    async fn push(&mut self, tag: MediaTag) -> anyhow::Result<()>;
    /// The publish ended: flush, deliver the remaining segments, clean up. Returns once the
    /// sink has had every segment.
    async fn finish(self: Box<Self>);
}

#[derive(Debug, Clone, Default)]
pub(crate) struct SourceMetadata {
    pub width: Option<u32>,
    pub height: Option<u32>,
    pub fps: Option<f64>,
}

#[derive(Debug, Clone)]
pub(crate) struct FfmpegSettings {
    pub ffmpeg: String,
    pub segment_seconds: u32,
    /// This session's own directory; removed by `finish`.
    pub dir: PathBuf,
}

pub(crate) struct FfmpegPackager {
    settings: FfmpegSettings,
    metadata: SourceMetadata,
    state: State,
    /// The latest AVC and AAC sequence headers: a new run starts with them.
    headers: Vec<MediaTag>,
    next_run: u32,
    /// Set by the delivery task when a copy-mode segment ran long.
    switch_to_transcode: Arc<AtomicBool>,
    runs: mpsc::UnboundedSender<Run>,
    delivery: JoinHandle<()>,
}

enum State {
    Probing(Probe),
    Running {
        mode: PackagingMode,
        stdin: ChildStdin,
        stderr: Arc<Mutex<VecDeque<String>>>,
    },
    /// No child takes input: its input broke, or the run was closed (the publish is ending,
    /// or a new run is starting).
    Closed,
}

/// One ffmpeg child and the playlist it writes, handed to the delivery task.
struct Run {
    child: Child,
    playlist: PathBuf,
    init: PathBuf,
    info: StreamInfo,
    notice: Option<String>,
}

impl FfmpegPackager {
    pub(crate) fn new(settings: FfmpegSettings, sink: Arc<dyn PublishSink>) -> Self {
        let (runs, queue) = mpsc::unbounded_channel();
        let switch_to_transcode = Arc::new(AtomicBool::new(false));
        let delivery = tokio::spawn(deliver(
            queue,
            sink,
            f64::from(settings.segment_seconds) * SWITCH_FACTOR,
            switch_to_transcode.clone(),
        ));
        Self {
            settings,
            metadata: SourceMetadata::default(),
            state: State::Probing(Probe::default()),
            headers: Vec::new(),
            next_run: 0,
            switch_to_transcode,
            runs,
            delivery,
        }
    }

    fn limit_ms(&self) -> u32 {
        self.settings.segment_seconds * 1000 + KEYFRAME_SLACK_MS
    }

    /// Starts an ffmpeg child in `mode` and writes `tags` to it.
    async fn start_run(
        &mut self,
        mode: PackagingMode,
        probe: &Probe,
        why: Option<String>,
        tags: Vec<MediaTag>,
    ) -> anyhow::Result<()> {
        let run = self.next_run;
        self.next_run += 1;
        let dir = &self.settings.dir;
        let playlist = dir.join(format!("run{run}.m3u8"));
        let init_name = format!("init_{run}.mp4");
        let mut command = Command::new(&self.settings.ffmpeg);
        command
            .args(ffmpeg_args(
                mode,
                self.settings.segment_seconds,
                self.metadata.fps,
                &init_name,
                &dir.join(format!("r{run}_%06d.m4s")),
                &playlist,
            ))
            .stdin(Stdio::piped())
            .stdout(Stdio::null())
            .stderr(Stdio::piped())
            .kill_on_drop(true);
        let mut child = kanjian_process::spawn(command)
            .await
            .with_context(|| format!("could not start {}", self.settings.ffmpeg))?;
        let stdin = child.stdin.take().context("ffmpeg has no stdin")?;
        let stderr = Arc::new(Mutex::new(VecDeque::new()));
        if let Some(out) = child.stderr.take() {
            tokio::spawn(keep_stderr(out, stderr.clone()));
        }
        let info = StreamInfo {
            video_codec: probe.video_codec.map(str::to_owned),
            audio_codec: probe.audio_codec.map(str::to_owned),
            width: self.metadata.width,
            height: self.metadata.height,
            fps: self.metadata.fps,
            keyframe_interval: probe
                .longest_interval()
                .map(|ms| Duration::from_millis(ms.into())),
            mode,
        };
        tracing::info!(run, ?mode, ?why, "packaging starts");
        self.runs
            .send(Run {
                child,
                playlist,
                init: dir.join(init_name),
                info,
                notice: why,
            })
            .map_err(|_| anyhow::anyhow!("the segment delivery task is gone"))?;
        self.state = State::Running {
            mode,
            stdin,
            stderr,
        };
        let mut bytes = BytesMut::from(&flv::file_header(probe.has_audio, probe.has_video)[..]);
        for tag in &tags {
            flv::encode_tag(tag, &mut bytes);
        }
        self.write(bytes.freeze()).await
    }

    async fn write(&mut self, bytes: Bytes) -> anyhow::Result<()> {
        let State::Running { stdin, stderr, .. } = &mut self.state else {
            return Ok(());
        };
        if let Err(e) = stdin.write_all(&bytes).await {
            let said: Vec<String> = stderr
                .lock()
                .unwrap_or_else(|e| e.into_inner())
                .iter()
                .cloned()
                .collect();
            self.state = State::Closed;
            anyhow::bail!("packaging stopped ({e}); ffmpeg said: {}", said.join(" | "));
        }
        Ok(())
    }

    /// Decides once the probe knows enough, then starts the first run with what it held.
    async fn probe(&mut self, tag: MediaTag) -> anyhow::Result<()> {
        let limit = self.limit_ms();
        let State::Probing(probe) = &mut self.state else {
            return Ok(());
        };
        probe.add(tag);
        if let Some((mode, why)) = probe.decide(limit, false) {
            let mut probe = std::mem::take(probe);
            let tags = std::mem::take(&mut probe.tags);
            self.start_run(mode, &probe, why, tags).await?;
        }
        Ok(())
    }
}

#[async_trait]
impl Packager for FfmpegPackager {
    fn metadata(&mut self, metadata: SourceMetadata) {
        self.metadata = metadata;
    }

    async fn push(&mut self, tag: MediaTag) -> anyhow::Result<()> {
        if tag.sequence_header {
            self.headers.retain(|h| h.track != tag.track);
            self.headers.push(tag.clone());
        }
        match &self.state {
            State::Probing(_) => self.probe(tag).await,
            State::Closed => anyhow::bail!("packaging has stopped"),
            State::Running { mode, .. } => {
                if *mode == PackagingMode::Copy
                    && tag.keyframe
                    && self.switch_to_transcode.load(Ordering::Relaxed)
                {
                    // End the copy run at this keyframe (ffmpeg flushes it once its input
                    // closes) and go on transcoding from here, headers first.
                    self.state = State::Closed;
                    let probe = Probe {
                        has_audio: self.headers.iter().any(|h| h.track == Track::Audio),
                        has_video: true,
                        video_codec: Some(tag.codec),
                        audio_codec: self
                            .headers
                            .iter()
                            .find(|h| h.track == Track::Audio)
                            .map(|h| h.codec),
                        ..Probe::default()
                    };
                    // The headers at the keyframe's time: at their own (the stream's start)
                    // ffmpeg would take the run to start there and drop its first frame.
                    let mut tags: Vec<MediaTag> = self
                        .headers
                        .iter()
                        .map(|h| MediaTag {
                            timestamp: tag.timestamp,
                            ..h.clone()
                        })
                        .collect();
                    tags.push(tag);
                    let why = "switched to transcoding: the stream's keyframes are further apart than a segment".to_string();
                    return self
                        .start_run(PackagingMode::Transcode, &probe, Some(why), tags)
                        .await;
                }
                let mut bytes = BytesMut::new();
                flv::encode_tag(&tag, &mut bytes);
                self.write(bytes.freeze()).await
            }
        }
    }

    async fn finish(mut self: Box<Self>) {
        if let State::Probing(mut probe) = std::mem::replace(&mut self.state, State::Closed)
            && probe.tags.iter().any(|t| !t.sequence_header)
        {
            // A short publish: package what came, deciding with what is known.
            let (mode, why) = probe
                .decide(self.limit_ms(), true)
                .unwrap_or((PackagingMode::Transcode, None));
            let tags = std::mem::take(&mut probe.tags);
            if let Err(e) = self.start_run(mode, &probe, why, tags).await {
                tracing::warn!(error = %e, "could not package the end of a short publish");
            }
        }
        // Closing stdin makes ffmpeg write its last segment and `EXT-X-ENDLIST`, then exit.
        self.state = State::Closed;
        let Self {
            runs,
            delivery,
            settings,
            ..
        } = *self;
        drop(runs);
        let mut delivery = delivery;
        if tokio::time::timeout(FLUSH_TIMEOUT, &mut delivery)
            .await
            .is_err()
        {
            tracing::warn!("ffmpeg did not finish in time; killing it");
            delivery.abort();
        }
        if let Err(e) = tokio::fs::remove_dir_all(&settings.dir).await {
            tracing::debug!(error = %e, dir = %settings.dir.display(), "could not remove the session's directory");
        }
    }
}

/// What the first GOPs tell: codecs and keyframe spacing.
#[derive(Default, Clone)]
struct Probe {
    tags: Vec<MediaTag>,
    bytes: usize,
    keyframes: Vec<u32>,
    video_codec: Option<&'static str>,
    audio_codec: Option<&'static str>,
    has_audio: bool,
    has_video: bool,
    first_ts: Option<u32>,
    last_ts: u32,
}

impl Probe {
    fn add(&mut self, tag: MediaTag) {
        match tag.track {
            Track::Video => {
                self.has_video = true;
                self.video_codec.get_or_insert(tag.codec);
                if tag.keyframe {
                    self.keyframes.push(tag.timestamp);
                }
            }
            Track::Audio => {
                self.has_audio = true;
                self.audio_codec.get_or_insert(tag.codec);
            }
        }
        if !tag.sequence_header {
            // Audio and video interleave a little out of order: keep the latest time.
            if self.first_ts.is_none() || after(tag.timestamp, self.last_ts) > 0 {
                self.last_ts = tag.timestamp;
            }
            self.first_ts.get_or_insert(tag.timestamp);
        }
        self.bytes += tag.data.len();
        self.tags.push(tag);
    }

    fn longest_interval(&self) -> Option<u32> {
        self.keyframes
            .windows(2)
            .map(|w| w[1].wrapping_sub(w[0]))
            .max()
    }

    /// `Some` once the mode is known. Copy needs H.264 (or no video), AAC (or no audio) and two
    /// keyframe intervals within `limit_ms`; any longer interval, or that much time since the
    /// last keyframe, means transcoding. `at_end`: decide with what there is.
    fn decide(&self, limit_ms: u32, at_end: bool) -> Option<(PackagingMode, Option<String>)> {
        let transcode = |why: String| Some((PackagingMode::Transcode, Some(why)));
        if let Some(codec) = self.video_codec.filter(|c| *c != "h264") {
            return transcode(format!("transcoding: the video is {codec}, not H.264"));
        }
        if let Some(codec) = self.audio_codec.filter(|c| *c != "aac") {
            return transcode(format!("transcoding: the audio is {codec}, not AAC"));
        }
        let seconds = f64::from(limit_ms - KEYFRAME_SLACK_MS) / 1000.0;
        if let Some(longest) = self.longest_interval().filter(|i| *i > limit_ms) {
            return transcode(format!(
                "transcoding: keyframes every {:.1} s, more than the {seconds} s segments (set the keyframe interval to {seconds} s to avoid it)",
                f64::from(longest) / 1000.0
            ));
        }
        let since_keyframe = match (self.keyframes.last(), self.first_ts) {
            (Some(k), _) => after(self.last_ts, *k),
            (None, Some(first)) if self.has_video => after(self.last_ts, first),
            _ => 0,
        };
        if since_keyframe > limit_ms as i32 {
            return transcode(format!(
                "transcoding: no keyframe for {:.1} s, more than the {seconds} s segments (set the keyframe interval to {seconds} s to avoid it)",
                f64::from(since_keyframe) / 1000.0
            ));
        }
        let audio_only_long_enough = !self.has_video
            && self
                .first_ts
                .is_some_and(|f| after(self.last_ts, f) > 2 * limit_ms as i32);
        if self.keyframes.len() >= 3 || audio_only_long_enough || at_end {
            return Some((PackagingMode::Copy, None));
        }
        if self.bytes > PROBE_MAX_BYTES {
            return transcode("transcoding: could not measure the keyframe interval".into());
        }
        None
    }
}

/// How far `a` is after `b` in ms, across the 32-bit wrap (negative when before).
fn after(a: u32, b: u32) -> i32 {
    a.wrapping_sub(b) as i32
}

fn ffmpeg_args(
    mode: PackagingMode,
    segment_seconds: u32,
    fps: Option<f64>,
    init_name: &str,
    segments: &Path,
    playlist: &Path,
) -> Vec<String> {
    let seg = segment_seconds.to_string();
    // No `-fflags +nobuffer`: it drops what ffmpeg reads while probing its input, which is the
    // GOPs held back while deciding the mode.
    let mut args: Vec<String> = [
        "-hide_banner",
        "-nostdin",
        "-loglevel",
        "warning",
        // The publisher's timestamps go into the segments unchanged: a latency probe reads
        // them back, and ffmpeg's own repair of timestamp jumps (which would hide a broken
        // 32-bit time) is off.
        "-copyts",
        "-f",
        "flv",
        "-i",
        "pipe:0",
        "-map",
        "0:v:0?",
        "-map",
        "0:a:0?",
    ]
    .map(String::from)
    .to_vec();
    match mode {
        PackagingMode::Copy => args.extend(["-c", "copy"].map(String::from)),
        PackagingMode::Transcode => {
            // One 720p rendition; a keyframe at every segment boundary, whatever the source.
            let gop = (fps.unwrap_or(30.0).round().max(1.0) as u32 * segment_seconds).to_string();
            args.extend(
                [
                    "-c:v",
                    "libx264",
                    "-preset",
                    "veryfast",
                    "-tune",
                    "zerolatency",
                    "-profile:v",
                    "main",
                    "-pix_fmt",
                    "yuv420p",
                    // Frames keep the publisher's timestamps (ms), not a 1/fps grid, which
                    // would shift them by up to half a frame, or drop and repeat frames.
                    "-fps_mode",
                    "passthrough",
                    "-enc_time_base:v",
                    "1:1000",
                    "-vf",
                    "scale=-2:'min(720,ih)'",
                    "-b:v",
                    "2500k",
                    "-maxrate",
                    "2500k",
                    "-bufsize",
                    "5000k",
                    "-g",
                    &gop,
                    "-keyint_min",
                    &gop,
                    "-sc_threshold",
                    "0",
                    "-force_key_frames",
                    // `t` is the source's time (-copyts): a keyframe `seg` s after the last.
                    &format!("expr:if(isnan(prev_forced_t),1,gte(t,prev_forced_t+{seg}))"),
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
        }
    }
    args.extend(
        [
            "-f",
            "hls",
            "-hls_time",
            &seg,
            "-hls_list_size",
            "0",
            "-hls_playlist_type",
            "event",
            "-hls_segment_type",
            "fmp4",
            "-hls_fmp4_init_filename",
            init_name,
            "-hls_flags",
            "program_date_time+independent_segments+temp_file",
            "-hls_segment_filename",
        ]
        .map(String::from),
    );
    args.push(segments.display().to_string());
    args.push(playlist.display().to_string());
    args
}

/// Keeps ffmpeg's last few warnings for error messages, and logs them.
async fn keep_stderr(out: tokio::process::ChildStderr, last: Arc<Mutex<VecDeque<String>>>) {
    let mut lines = BufReader::new(out).lines();
    while let Ok(Some(line)) = lines.next_line().await {
        tracing::warn!(ffmpeg = %line, "packager");
        let mut last = last.lock().unwrap_or_else(|e| e.into_inner());
        if last.len() == 5 {
            last.pop_front();
        }
        last.push_back(line);
    }
}

/// The delivery task: runs one after the other, each segment to the sink as soon as ffmpeg
/// lists it, numbered across runs.
#[tracing::instrument(skip_all)]
async fn deliver(
    mut runs: mpsc::UnboundedReceiver<Run>,
    sink: Arc<dyn PublishSink>,
    switch_after_seconds: f64,
    switch_to_transcode: Arc<AtomicBool>,
) {
    let mut sequence = 0u64;
    while let Some(mut run) = runs.recv().await {
        sink.started(run.info.clone()).await;
        if let Some(notice) = run.notice.take() {
            sink.notice(notice).await;
        }
        let mut listed = 0usize;
        loop {
            let exited = tokio::select! {
                status = run.child.wait() => Some(status),
                () = tokio::time::sleep(PLAYLIST_POLL) => None,
            };
            for entry in read_playlist(&run.playlist).await.into_iter().skip(listed) {
                if run.info.mode == PackagingMode::Copy && entry.duration > switch_after_seconds {
                    switch_to_transcode.store(true, Ordering::Relaxed);
                }
                let init = if listed == 0 {
                    tokio::fs::read(&run.init).await.ok().map(Bytes::from)
                } else {
                    None
                };
                let path = run.playlist.with_file_name(&entry.uri);
                match tokio::fs::read(&path).await {
                    Ok(data) => {
                        let segment = PackagedSegment {
                            sequence,
                            duration: Duration::from_secs_f64(entry.duration),
                            program_date_time: entry.program_date_time.unwrap_or_else(Utc::now),
                            init,
                            data: Bytes::from(data),
                            path: path.clone(),
                        };
                        hand_over(sink.as_ref(), segment).await;
                    }
                    Err(e) => {
                        tracing::error!(error = %e, segment = %path.display(), "listed segment unreadable; skipped")
                    }
                }
                let _ = tokio::fs::remove_file(&path).await;
                listed += 1;
                sequence += 1;
            }
            if let Some(status) = exited {
                report_exit(status);
                break;
            }
        }
    }
}

fn report_exit(status: std::io::Result<ExitStatus>) {
    match status {
        Ok(s) if s.success() => tracing::debug!("ffmpeg finished"),
        Ok(s) => tracing::warn!(status = %s, "ffmpeg ended with an error"),
        Err(e) => tracing::warn!(error = %e, "could not wait for ffmpeg"),
    }
}

/// Gives a segment to the sink, retrying a failure a few times; then it is dropped.
async fn hand_over(sink: &dyn PublishSink, segment: PackagedSegment) {
    let sequence = segment.sequence;
    for attempt in 1..=SINK_ATTEMPTS {
        match tokio::time::timeout(SINK_TIMEOUT, sink.segment(segment.clone())).await {
            Ok(Ok(())) => return,
            Ok(Err(e)) => {
                tracing::warn!(sequence, attempt, error = %e, "the sink refused a segment")
            }
            Err(_) => tracing::warn!(sequence, attempt, "the sink took too long with a segment"),
        }
        tokio::time::sleep(Duration::from_millis(200) * attempt).await;
    }
    tracing::error!(sequence, "segment dropped after {SINK_ATTEMPTS} attempts");
}

#[derive(Debug, Clone, PartialEq)]
struct Entry {
    duration: f64,
    program_date_time: Option<DateTime<Utc>>,
    uri: String,
}

/// The segments ffmpeg has listed so far. It writes the playlist to a temporary file and
/// renames it (`temp_file`), so a read never sees half of one; a missing file is no segment yet.
async fn read_playlist(path: &Path) -> Vec<Entry> {
    match tokio::fs::read_to_string(path).await {
        Ok(text) => parse_playlist(&text),
        Err(_) => Vec::new(),
    }
}

fn parse_playlist(text: &str) -> Vec<Entry> {
    let mut entries = Vec::new();
    let mut duration = None;
    let mut program_date_time = None;
    for line in text.lines().map(str::trim) {
        if let Some(pdt) = line.strip_prefix("#EXT-X-PROGRAM-DATE-TIME:") {
            program_date_time = DateTime::parse_from_str(pdt, "%Y-%m-%dT%H:%M:%S%.f%z")
                .ok()
                .map(|t| t.with_timezone(&Utc));
        } else if let Some(inf) = line.strip_prefix("#EXTINF:") {
            duration = inf.split(',').next().and_then(|d| d.parse::<f64>().ok());
        } else if !line.is_empty()
            && !line.starts_with('#')
            && let Some(duration) = duration.take()
        {
            entries.push(Entry {
                duration,
                program_date_time: program_date_time.take(),
                uri: line.to_string(),
            });
        }
    }
    entries
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_playlist_lists_finished_segments_with_their_date_time() {
        let text = "#EXTM3U\n#EXT-X-VERSION:7\n#EXT-X-TARGETDURATION:1\n#EXT-X-MEDIA-SEQUENCE:0\n\
            #EXT-X-PLAYLIST-TYPE:EVENT\n#EXT-X-INDEPENDENT-SEGMENTS\n#EXT-X-MAP:URI=\"init_0.mp4\"\n\
            #EXT-X-PROGRAM-DATE-TIME:2026-11-30T06:12:12.345+0000\n#EXTINF:1.000000,\nr0_000000.m4s\n\
            #EXT-X-PROGRAM-DATE-TIME:2026-11-30T06:12:13.345+0000\n#EXTINF:0.960000,\nr0_000001.m4s\n\
            #EXT-X-ENDLIST\n";
        let entries = parse_playlist(text);
        assert_eq!(entries.len(), 2);
        assert_eq!(entries[1].uri, "r0_000001.m4s");
        assert_eq!(entries[1].duration, 0.96);
        assert_eq!(
            entries[0].program_date_time.map(|t| t.to_rfc3339()),
            Some("2026-11-30T06:12:12.345+00:00".into())
        );
    }

    fn video(ts: u32, keyframe: bool) -> MediaTag {
        MediaTag {
            track: Track::Video,
            timestamp: ts,
            data: Bytes::from_static(b"\x17\x01"),
            keyframe,
            sequence_header: false,
            codec: "h264",
        }
    }

    #[test]
    fn copy_needs_two_keyframe_intervals_within_a_segment() {
        let mut p = Probe::default();
        for ts in (0..=2000).step_by(40) {
            p.add(video(ts, ts % 1000 == 0));
            if ts < 2000 {
                assert_eq!(p.decide(1100, false), None, "decided at {ts}");
            }
        }
        assert_eq!(p.decide(1100, false), Some((PackagingMode::Copy, None)));
    }

    #[test]
    fn a_long_gop_is_transcoded_as_soon_as_it_is_known_to_be_long() {
        let mut p = Probe::default();
        let mut decided = None;
        for ts in (0..4000).step_by(40) {
            p.add(video(ts, ts % 2000 == 0));
            if let Some(d) = p.decide(1100, false) {
                decided = Some((ts, d));
                break;
            }
        }
        let (ts, (mode, why)) = decided.unwrap();
        assert_eq!(mode, PackagingMode::Transcode);
        assert_eq!(ts, 1120, "decided one frame past the limit");
        assert!(why.unwrap().contains("no keyframe for 1.1 s"));
    }

    #[test]
    fn audio_slightly_behind_a_keyframe_is_not_a_long_gop() {
        let mut p = Probe::default();
        p.add(video(1000, true));
        p.add(MediaTag {
            track: Track::Audio,
            codec: "aac",
            ..video(990, false)
        });
        assert_eq!(p.decide(1100, false), None);
    }

    #[test]
    fn other_codecs_are_transcoded() {
        let mut p = Probe::default();
        p.add(MediaTag {
            codec: "vp6f",
            ..video(0, true)
        });
        assert_eq!(
            p.decide(1100, false).map(|d| d.0),
            Some(PackagingMode::Transcode)
        );
    }
}
