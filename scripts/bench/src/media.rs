//! Test clips made by ffmpeg, and the upload benchmark's baseline: the very ffmpeg commands the
//! media crate runs to make a video `READY`, without the platform around them. The command
//! lines come from `kanjian_media::ffmpeg` itself, so the baseline cannot drift from the server.

use std::path::Path;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use anyhow::{Context as _, Result, bail};
pub use kanjian_media::ffmpeg::{ProbeInfo, plan_renditions};
use kanjian_media::ffmpeg::{parse_probe, thumbnail_args, thumbnail_at_ms, transcode_args};

/// ffmpeg's lavfi test pattern and a 440 Hz tone, H.264 (ultrafast, yuv420p) + AAC, as the
/// system tests make their clips.
pub fn make_clip(path: &Path, size: &str, seconds: u32) -> Result<()> {
    let output = Command::new("ffmpeg")
        .args(["-hide_banner", "-loglevel", "error", "-y"])
        .args([
            "-f",
            "lavfi",
            "-i",
            &format!("testsrc=duration={seconds}:size={size}:rate=25"),
        ])
        .args([
            "-f",
            "lavfi",
            "-i",
            &format!("sine=frequency=440:duration={seconds}"),
        ])
        .args([
            "-c:v",
            "libx264",
            "-preset",
            "ultrafast",
            "-pix_fmt",
            "yuv420p",
            "-c:a",
            "aac",
            "-shortest",
        ])
        .arg(path)
        .stdin(Stdio::null())
        .output()
        .context("running ffmpeg (scripts/bench/run installs it)")?;
    if !output.status.success() {
        bail!(
            "ffmpeg could not make {}: {}",
            path.display(),
            String::from_utf8_lossy(&output.stderr)
        );
    }
    Ok(())
}

/// `ffmpeg version 5.1.9-0+deb12u1`: the first line of `ffmpeg -version`, without the copyright.
pub fn ffmpeg_version() -> String {
    Command::new("ffmpeg")
        .arg("-version")
        .output()
        .ok()
        .and_then(|o| {
            let text = String::from_utf8_lossy(&o.stdout);
            let first = text.lines().next()?;
            Some(
                first
                    .split(" Copyright")
                    .next()
                    .unwrap_or(first)
                    .trim()
                    .to_owned(),
            )
        })
        .unwrap_or_else(|| "unknown".into())
}

// ---------------------------------------------------------------------------------------------

/// Runs ffprobe as the media crate does and reads it with the media crate's parser. Not timed:
/// the baseline is the transcoding alone.
pub fn probe(path: &Path) -> Result<ProbeInfo> {
    let output = Command::new("ffprobe")
        .args(["-v", "error", "-print_format", "json", "-show_format", "-show_streams"])
        .arg(path)
        .output()
        .context("running ffprobe")?;
    if !output.status.success() {
        bail!(
            "ffprobe failed on {}: {}",
            path.display(),
            String::from_utf8_lossy(&output.stderr)
        );
    }
    parse_probe(&String::from_utf8_lossy(&output.stdout))
        .map_err(|e| anyhow::anyhow!("reading ffprobe's answer: {e}"))
}

pub fn run_ffmpeg(args: &[String]) -> Result<()> {
    // stdout is a pipe, as in the media crate (`-progress pipe:1`); `output` drains it.
    let output = Command::new("ffmpeg")
        .args(args)
        .stdin(Stdio::null())
        .output()
        .context("running ffmpeg")?;
    if !output.status.success() {
        bail!("ffmpeg failed: {}", String::from_utf8_lossy(&output.stderr));
    }
    Ok(())
}

/// The renditions and thumbnail the media crate makes for `source`, made by ffmpeg alone in a
/// fresh `out_dir`; returns the wall-clock time of the ffmpeg runs.
pub fn plain_ffmpeg(
    source: &Path,
    probe: &ProbeInfo,
    out_dir: &Path,
    segment_seconds: u32,
) -> Result<Duration> {
    let plans = plan_renditions(probe.video.display_width, probe.video.display_height);
    let top = plans.last().cloned().context("the clip is too small to play")?;
    let started = Instant::now();
    for r in &plans {
        std::fs::create_dir_all(out_dir.join(&r.name)).context("creating a rendition folder")?;
    }
    run_ffmpeg(&transcode_args(source, probe, &plans, out_dir, segment_seconds))?;
    let thumbnail = out_dir.join("thumbnail.jpg");
    // As the media crate does: the frame at thumbnail_at_ms, else the first one.
    for at_ms in [thumbnail_at_ms(probe.duration_ms), 0] {
        run_ffmpeg(&thumbnail_args(source, probe, at_ms, top.width, top.height, &thumbnail))?;
        if std::fs::metadata(&thumbnail).map(|m| m.len() > 0).unwrap_or(false) {
            break;
        }
    }
    let elapsed = started.elapsed();
    for r in &plans {
        if !out_dir.join(&r.name).join("index.m3u8").is_file() {
            bail!("ffmpeg made no {} playlist", r.name);
        }
    }
    Ok(elapsed)
}
