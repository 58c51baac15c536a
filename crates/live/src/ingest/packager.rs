//! Live packaging: FLV tags in, LL-HLS parts and fMP4 segments out, delivered to the session's
//! sink in order.
//!
//! [`SegmentingPackager`] is design (b) of docs/live-research.md: the first GOPs decide copy or
//! transcode; a copied stream (H.264 + AAC with keyframes at most a segment apart) goes
//! straight into the Rust segmenter, with no process at all; a transcoded one goes through one
//! ffmpeg child (FLV in, x264 + AAC FLV out) and back into the same segmenter.

use std::collections::VecDeque;
use std::process::{ExitStatus, Stdio};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use anyhow::Context as _;
use async_trait::async_trait;
use bytes::{Bytes, BytesMut};
use chrono::Utc;
use tokio::io::{AsyncBufReadExt, AsyncReadExt, AsyncWriteExt, BufReader};
use tokio::process::{ChildStdin, ChildStdout, Command};
use tokio::sync::mpsc;
use tokio::task::JoinHandle;

use super::flv::{self, FlvReader, Inspected, MediaTag, Track};
use super::fmp4::{AudioConfig, VideoConfig};
use super::gate::{PackagingMode, PublishSink, StreamInfo};
use super::segmenter::{MediaClock, Output, Segmenter, Targets};

/// How long the transcoder and the deliveries may take to flush once the publish ended.
const FLUSH_TIMEOUT: Duration = Duration::from_secs(20);
/// A sink call that takes longer is counted as failed.
const SINK_TIMEOUT: Duration = Duration::from_secs(10);
const SINK_ATTEMPTS: u32 = 3;
/// Tags waiting for the delivery task: about 14 s of 25 fps video with AAC. When the sink
/// stalls (a busy database, a slow blob store) the queue fills and the publish waits: the
/// RTMP connection stops being read, and the publisher feels it as a slow network (OBS drops
/// frames), instead of the node holding the stream in memory without end.
const INPUT_QUEUE: usize = 1024;
/// Media held back while deciding copy or transcode: about two GOPs at most, but never more
/// than this, whatever the publisher sends.
const PROBE_MAX_BYTES: usize = 16 << 20;
/// Keyframe timestamps jitter by a frame or so; an interval up to this much over the segment
/// length still counts as one segment.
const KEYFRAME_SLACK_MS: u32 = 100;
/// A copy-mode segment this much longer than its target means the publisher's keyframes got
/// sparser after the decision: the session switches to transcoding.
const SWITCH_FACTOR: f64 = 1.5;

/// Turns the tags of one publish session into parts and segments for its sink.
#[async_trait]
pub(crate) trait Packager: Send {
    /// The publisher's `onMetaData` (sizes and frame rate, for `StreamInfo` and the encoder).
    fn metadata(&mut self, metadata: SourceMetadata);
    /// The next tag, in arrival order. An error ends the publish.
    async fn push(&mut self, tag: MediaTag) -> anyhow::Result<()>;
    /// The publish ended: flush, deliver the remaining parts and segments. Returns once the
    /// sink has had every one.
    async fn finish(self: Box<Self>);
}

#[derive(Debug, Clone, Default)]
pub(crate) struct SourceMetadata {
    pub width: Option<u32>,
    pub height: Option<u32>,
    pub fps: Option<f64>,
}

#[derive(Debug, Clone)]
pub(crate) struct PackagerSettings {
    /// Run only when transcoding.
    pub ffmpeg: String,
    pub segment_seconds: u32,
    /// No part is longer (`PART-TARGET`).
    pub part_target_ms: u32,
}

pub(crate) struct SegmentingPackager {
    settings: PackagerSettings,
    metadata: SourceMetadata,
    state: State,
    /// The latest AVC and AAC sequence headers: a new run starts with them.
    headers: Vec<MediaTag>,
    /// Set on the session's first frame.
    clock: Option<MediaClock>,
    /// Set by the delivery task when a copy-mode segment ran long.
    switch_to_transcode: Arc<AtomicBool>,
    inputs: mpsc::Sender<Input>,
    delivery: JoinHandle<()>,
}

enum State {
    Probing(Probe),
    Copying,
    Transcoding(Transcoder),
    /// Takes no more input: the transcoder's input broke, or the publish is ending.
    Closed,
}

/// One ffmpeg child re-encoding FLV into FLV; a task reads its output into the segmenter.
struct Transcoder {
    stdin: ChildStdin,
    stderr: Arc<Mutex<VecDeque<String>>>,
    output: JoinHandle<()>,
}

/// What the delivery task works through, in order.
enum Input {
    /// A new packaging run (a new init segment) starts; the previous one is finished first.
    Run {
        info: StreamInfo,
        notice: Option<String>,
        clock: MediaClock,
        video: bool,
    },
    Tag(MediaTag),
}

impl SegmentingPackager {
    pub(crate) fn new(settings: PackagerSettings, sink: Arc<dyn PublishSink>) -> Self {
        let (inputs, queue) = mpsc::channel(INPUT_QUEUE);
        let switch_to_transcode = Arc::new(AtomicBool::new(false));
        let targets = Targets {
            part_ms: settings.part_target_ms,
            segment_ms: settings.segment_seconds * 1000,
        };
        let delivery = tokio::spawn(deliver(
            queue,
            sink,
            targets,
            f64::from(settings.segment_seconds) * SWITCH_FACTOR,
            switch_to_transcode.clone(),
        ));
        Self {
            settings,
            metadata: SourceMetadata::default(),
            state: State::Probing(Probe::default()),
            headers: Vec::new(),
            clock: None,
            switch_to_transcode,
            inputs,
            delivery,
        }
    }

    fn limit_ms(&self) -> u32 {
        self.settings.segment_seconds * 1000 + KEYFRAME_SLACK_MS
    }

    async fn send(&self, input: Input) -> anyhow::Result<()> {
        self.inputs
            .send(input)
            .await
            .map_err(|_| anyhow::anyhow!("the delivery task is gone"))
    }

    /// Starts a run in `mode` with `tags`: into the segmenter, or into a new transcoder.
    async fn start_run(
        &mut self,
        mode: PackagingMode,
        probe: &Probe,
        why: Option<String>,
        tags: Vec<MediaTag>,
    ) -> anyhow::Result<()> {
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
        let clock = *self.clock.get_or_insert(MediaClock {
            first_ts: tags.iter().find(|t| !t.sequence_header).map_or(0, |t| t.timestamp),
            at: Utc::now(),
        });
        tracing::info!(?mode, ?why, "packaging starts");
        self.send(Input::Run {
            info,
            notice: why,
            clock,
            video: probe.has_video,
        })
        .await?;
        match mode {
            PackagingMode::Copy => {
                self.state = State::Copying;
                for tag in tags {
                    self.copy(tag).await?;
                }
                Ok(())
            }
            PackagingMode::Transcode => {
                let transcoder = self.spawn_transcoder().await?;
                self.state = State::Transcoding(transcoder);
                let mut bytes =
                    BytesMut::from(&flv::file_header(probe.has_audio, probe.has_video)[..]);
                for tag in &tags {
                    flv::encode_tag(tag, &mut bytes);
                }
                self.write(bytes.freeze()).await
            }
        }
    }

    /// A tag of a copied run, to the segmenter; a decoder configuration it cannot read ends
    /// the publish here, where the publisher can be told.
    async fn copy(&self, tag: MediaTag) -> anyhow::Result<()> {
        if tag.sequence_header {
            match tag.track {
                Track::Video => VideoConfig::parse(tag.data.get(5..).unwrap_or_default()).map(drop),
                Track::Audio => AudioConfig::parse(tag.data.get(2..).unwrap_or_default()).map(drop),
            }
            .context("packaging stopped")?;
        }
        self.send(Input::Tag(tag)).await
    }

    async fn spawn_transcoder(&self) -> anyhow::Result<Transcoder> {
        let mut command = Command::new(&self.settings.ffmpeg);
        command
            .args(transcode_args(self.settings.segment_seconds, self.metadata.fps))
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .kill_on_drop(true);
        let mut child = kanjian_process::spawn(command)
            .await
            .with_context(|| format!("could not start {}", self.settings.ffmpeg))?;
        let stdin = child.stdin.take().context("ffmpeg has no stdin")?;
        let stdout = child.stdout.take().context("ffmpeg has no stdout")?;
        let stderr = Arc::new(Mutex::new(VecDeque::new()));
        if let Some(out) = child.stderr.take() {
            tokio::spawn(keep_stderr(out, stderr.clone()));
        }
        let inputs = self.inputs.clone();
        let output = tokio::spawn(async move {
            read_transcoded(stdout, inputs).await;
            report_exit(child.wait().await);
        });
        Ok(Transcoder {
            stdin,
            stderr,
            output,
        })
    }

    async fn write(&mut self, bytes: Bytes) -> anyhow::Result<()> {
        let State::Transcoding(t) = &mut self.state else {
            return Ok(());
        };
        if let Err(e) = t.stdin.write_all(&bytes).await {
            let said: Vec<String> = t
                .stderr
                .lock()
                .unwrap_or_else(|e| e.into_inner())
                .iter()
                .cloned()
                .collect();
            self.close().await;
            anyhow::bail!("packaging stopped ({e}); ffmpeg said: {}", said.join(" | "));
        }
        Ok(())
    }

    /// Takes no more input; a transcoder flushes what it has into the segmenter first.
    async fn close(&mut self) {
        if let State::Transcoding(t) = std::mem::replace(&mut self.state, State::Closed) {
            // Closing its input makes ffmpeg write out the rest and exit.
            drop(t.stdin);
            let mut output = t.output;
            if tokio::time::timeout(FLUSH_TIMEOUT, &mut output)
                .await
                .is_err()
            {
                tracing::warn!("the transcoder did not finish in time; killing it");
                output.abort();
            }
        }
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
impl Packager for SegmentingPackager {
    fn metadata(&mut self, metadata: SourceMetadata) {
        self.metadata = metadata;
    }

    async fn push(&mut self, tag: MediaTag) -> anyhow::Result<()> {
        if tag.sequence_header {
            self.headers.retain(|h| h.track != tag.track);
            self.headers.push(tag.clone());
        } else if self.clock.is_none() {
            self.clock = Some(MediaClock {
                first_ts: tag.timestamp,
                at: Utc::now(),
            });
        }
        match &self.state {
            State::Probing(_) => self.probe(tag).await,
            State::Closed => anyhow::bail!("packaging has stopped"),
            State::Copying
                if tag.keyframe && self.switch_to_transcode.load(Ordering::Relaxed) =>
            {
                // End the copy run before this keyframe and go on transcoding from here,
                // headers first.
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
                self.start_run(PackagingMode::Transcode, &probe, Some(why), tags)
                    .await
            }
            State::Copying => self.copy(tag).await,
            State::Transcoding(_) => {
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
        self.close().await;
        let Self {
            inputs, delivery, ..
        } = *self;
        // The delivery task finishes the last run once every sender is gone.
        drop(inputs);
        let mut delivery = delivery;
        if tokio::time::timeout(FLUSH_TIMEOUT, &mut delivery)
            .await
            .is_err()
        {
            tracing::warn!("the last parts were not delivered in time");
            delivery.abort();
        }
    }
}

/// Reads the transcoder's FLV into the delivery task's queue until ffmpeg closes it.
async fn read_transcoded(mut stdout: ChildStdout, inputs: mpsc::Sender<Input>) {
    let mut reader = FlvReader::default();
    let mut buf = vec![0u8; 64 * 1024];
    loop {
        let n = match stdout.read(&mut buf).await {
            Ok(0) => return,
            Ok(n) => n,
            Err(e) => {
                tracing::warn!(error = %e, "reading the transcoder failed");
                return;
            }
        };
        reader.extend(&buf[..n]);
        loop {
            match reader.next_tag() {
                Ok(Some(tag)) => {
                    if let Inspected::Media(tag) = flv::inspect(&tag)
                        && inputs.send(Input::Tag(tag)).await.is_err()
                    {
                        return;
                    }
                }
                Ok(None) => break,
                Err(e) => {
                    tracing::warn!(error = %e, "the transcoder's output is not FLV");
                    return;
                }
            }
        }
    }
}

fn transcode_args(segment_seconds: u32, fps: Option<f64>) -> Vec<String> {
    let seg = segment_seconds.to_string();
    // One 720p rendition; a keyframe at every segment boundary, whatever the source.
    let gop = (fps.unwrap_or(30.0).round().max(1.0) as u32 * segment_seconds).to_string();
    // No `-fflags +nobuffer`: it drops what ffmpeg reads while probing its input, which is the
    // GOPs held back while deciding the mode.
    [
        "-hide_banner",
        "-nostdin",
        "-loglevel",
        "warning",
        // The publisher's timestamps come back unchanged: program date-times and a latency
        // probe rely on them, and ffmpeg's own repair of timestamp jumps (which would hide a
        // broken 32-bit time) is off.
        "-copyts",
        "-f",
        "flv",
        "-i",
        "pipe:0",
        "-map",
        "0:v:0?",
        "-map",
        "0:a:0?",
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
        // Frames keep the publisher's timestamps (ms), not a 1/fps grid, which would shift
        // them by up to half a frame, or drop and repeat frames.
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
        // Every packet goes out as soon as it is encoded: the segmenter cuts parts from it.
        "-f",
        "flv",
        "-flvflags",
        "no_duration_filesize",
        "-flush_packets",
        "1",
        "pipe:1",
    ]
    .map(String::from)
    .to_vec()
}

/// The delivery task: runs one after the other through the segmenter, each part and segment
/// to the sink as soon as it is cut, numbered across runs.
#[tracing::instrument(skip_all)]
async fn deliver(
    mut inputs: mpsc::Receiver<Input>,
    sink: Arc<dyn PublishSink>,
    targets: Targets,
    switch_after_seconds: f64,
    switch_to_transcode: Arc<AtomicBool>,
) {
    let mut run: Option<(Segmenter, PackagingMode)> = None;
    let mut next_sequence = 0;
    while let Some(input) = inputs.recv().await {
        match input {
            Input::Run {
                info,
                notice,
                clock,
                video,
            } => {
                if let Some((segmenter, _)) = run.take() {
                    next_sequence = finish_run(segmenter, sink.as_ref()).await;
                }
                let mode = info.mode;
                sink.started(info).await;
                if let Some(notice) = notice {
                    sink.notice(notice).await;
                }
                run = Some((Segmenter::new(targets, clock, video, next_sequence), mode));
            }
            Input::Tag(tag) => {
                let Some((segmenter, mode)) = run.as_mut() else {
                    continue;
                };
                let outputs = match segmenter.push(&tag) {
                    Ok(outputs) => outputs,
                    Err(e) => {
                        tracing::warn!(error = %e, "a tag could not be packaged; skipped");
                        continue;
                    }
                };
                for output in outputs {
                    if let Output::Segment(s) = &output
                        && *mode == PackagingMode::Copy
                        && s.duration.as_secs_f64() > switch_after_seconds
                    {
                        switch_to_transcode.store(true, Ordering::Relaxed);
                    }
                    hand_over(sink.as_ref(), output).await;
                }
            }
        }
    }
    if let Some((segmenter, _)) = run {
        finish_run(segmenter, sink.as_ref()).await;
    }
}

/// Writes out a run's last part and segment; returns the next run's first sequence number.
async fn finish_run(segmenter: Segmenter, sink: &dyn PublishSink) -> u64 {
    let fallback = segmenter.next_sequence();
    match segmenter.finish() {
        Ok((outputs, next)) => {
            for output in outputs {
                hand_over(sink, output).await;
            }
            next
        }
        Err(e) => {
            tracing::error!(error = %e, "the end of a run could not be packaged");
            fallback + 1
        }
    }
}

fn report_exit(status: std::io::Result<ExitStatus>) {
    match status {
        Ok(s) if s.success() => tracing::debug!("the transcoder finished"),
        Ok(s) => tracing::warn!(status = %s, "the transcoder ended with an error"),
        Err(e) => tracing::warn!(error = %e, "could not wait for the transcoder"),
    }
}

/// Gives a part or segment to the sink, retrying a failure a few times; then it is dropped.
async fn hand_over(sink: &dyn PublishSink, output: Output) {
    let (what, sequence) = match &output {
        Output::Part(p) => ("part", p.sequence),
        Output::Segment(s) => ("segment", s.sequence),
    };
    for attempt in 1..=SINK_ATTEMPTS {
        let call = async {
            match &output {
                Output::Part(p) => sink.part(p.clone()).await,
                Output::Segment(s) => sink.segment(s.clone()).await,
            }
        };
        match tokio::time::timeout(SINK_TIMEOUT, call).await {
            Ok(Ok(())) => return,
            Ok(Err(e)) => {
                tracing::warn!(what, sequence, attempt, error = %e, "the sink refused a {what}")
            }
            Err(_) => tracing::warn!(what, sequence, attempt, "the sink took too long"),
        }
        tokio::time::sleep(Duration::from_millis(200) * attempt).await;
    }
    tracing::error!(what, sequence, "dropped after {SINK_ATTEMPTS} attempts");
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

#[cfg(test)]
mod tests {
    use super::*;

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

    /// A sink that never answers: the delivery task sticks in its first call.
    struct StalledSink;

    #[async_trait]
    impl PublishSink for StalledSink {
        async fn started(&self, _info: StreamInfo) {
            std::future::pending().await
        }
        async fn part(&self, _part: super::super::gate::PackagedPart) -> anyhow::Result<()> {
            std::future::pending().await
        }
        async fn segment(&self, _segment: super::super::gate::PackagedSegment) -> anyhow::Result<()> {
            std::future::pending().await
        }
        async fn ended(&self, _why: super::super::gate::EndReason) {}
    }

    #[tokio::test]
    async fn a_stalled_sink_makes_the_publish_wait_instead_of_queuing_without_end() {
        let settings = PackagerSettings { ffmpeg: "ffmpeg".into(), segment_seconds: 1, part_target_ms: 334 };
        let mut packager = SegmentingPackager::new(settings, Arc::new(StalledSink));
        let mut accepted = 0;
        let pushing = async {
            // 25 fps, a keyframe a second: copy mode, decided after two GOPs.
            for i in 0..(4 * INPUT_QUEUE as u32) {
                packager.push(video(i * 40, i % 25 == 0)).await.unwrap();
                accepted += 1;
            }
        };
        let took_everything = tokio::time::timeout(Duration::from_secs(2), pushing).await.is_ok();
        assert!(!took_everything, "all {} tags were taken by a sink that answers nothing", 4 * INPUT_QUEUE);
        // What the probe held (two GOPs and a frame) went in with the run; then the queue filled.
        assert!((INPUT_QUEUE..=INPUT_QUEUE + 52).contains(&accepted), "{accepted} tags taken");
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
