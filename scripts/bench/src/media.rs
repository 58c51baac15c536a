//! Test clips made by ffmpeg, and the upload benchmark's baseline: the very ffmpeg commands the
//! media crate runs to make a video `READY`, without the platform around them.
//!
//! Mirrors `crates/media/src/ffmpeg.rs` (`parse_probe`, `plan_renditions`, `gop_frames`,
//! `transcode_args`, `thumbnail_at_ms`, `thumbnail`); that module is private to the crate, so
//! the command lines are copied here. Keep them in step when the media crate changes them.

use std::fmt::Write as _;
use std::path::Path;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use anyhow::{Context as _, Result, bail};
use serde_json::Value;

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
// What the media crate derives from ffprobe (crates/media/src/ffmpeg.rs `parse_probe`)

/// The x264 preset of the media crate (`X264_PRESET`).
const X264_PRESET: &str = "veryfast";
const MIN_SIDE: u32 = 16;
/// Short side, peak video kbit/s, audio kbit/s (`LADDER`).
const LADDER: &[(u32, u32, u32)] = &[(360, 900, 96), (720, 3000, 128)];

#[derive(Debug, Clone)]
pub struct Probe {
    pub duration_ms: i64,
    pub video_index: u32,
    pub display_width: u32,
    pub display_height: u32,
    pub frame_rate: f64,
    pub audio_index: Option<u32>,
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

/// Runs ffprobe as the media crate does and reads what its commands depend on. Not timed: the
/// baseline is the transcoding alone.
pub fn probe(path: &Path) -> Result<Probe> {
    let output = Command::new("ffprobe")
        .args([
            "-v",
            "error",
            "-print_format",
            "json",
            "-show_format",
            "-show_streams",
        ])
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
    let root: Value = serde_json::from_slice(&output.stdout).context("reading ffprobe's JSON")?;
    let streams = root["streams"].as_array().cloned().unwrap_or_default();
    let video = streams
        .iter()
        .find(|s| {
            s["codec_type"] == "video" && number(&s["disposition"]["attached_pic"]) != Some(1.0)
        })
        .context("the clip has no video stream")?;
    let width = video["width"].as_u64().unwrap_or(0) as u32;
    let height = video["height"].as_u64().unwrap_or(0) as u32;
    let sar = ratio(&video["sample_aspect_ratio"]).unwrap_or(1.0);
    let mut display_width = ((width as f64 * sar).round() as u32).max(MIN_SIDE);
    let mut display_height = height;
    let rotation = video["side_data_list"]
        .as_array()
        .and_then(|list| list.iter().find_map(|d| number(&d["rotation"])))
        .or_else(|| number(&video["tags"]["rotate"]))
        .unwrap_or(0.0)
        .round() as i64;
    if rotation.rem_euclid(180) == 90 {
        std::mem::swap(&mut display_width, &mut display_height);
    }
    let frame_rate = ratio(&video["avg_frame_rate"])
        .or_else(|| ratio(&video["r_frame_rate"]))
        .filter(|r| (1.0..=240.0).contains(r))
        .unwrap_or(30.0);
    let duration = number(&root["format"]["duration"])
        .or_else(|| number(&video["duration"]))
        .filter(|d| d.is_finite() && *d > 0.0)
        .context("the clip has no duration")?;
    Ok(Probe {
        duration_ms: (duration * 1000.0).round() as i64,
        video_index: video["index"].as_u64().unwrap_or(0) as u32,
        display_width,
        display_height,
        frame_rate,
        audio_index: streams
            .iter()
            .find(|s| s["codec_type"] == "audio")
            .and_then(|s| s["index"].as_u64())
            .map(|i| i as u32),
    })
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Rendition {
    pub name: String,
    pub width: u32,
    pub height: u32,
    pub max_video_kbps: u32,
    pub audio_kbps: u32,
}

fn even(x: f64) -> u32 {
    (((x / 2.0).round() as u32) * 2).max(2)
}

/// `plan_renditions`: every rung the source reaches by its short side, never upscaled.
pub fn plan_renditions(width: u32, height: u32) -> Vec<Rendition> {
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
    let mut plans: Vec<Rendition> = LADDER
        .iter()
        .filter(|(target, _, _)| *target <= short)
        .map(|&(target, max_video_kbps, audio_kbps)| {
            let (w, h) = size_for(target);
            Rendition {
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
        plans.push(Rendition {
            name: format!("{}p", w.min(h)),
            width: w,
            height: h,
            max_video_kbps: ((base_kbps as f64 * pixels) as u32).max(200),
            audio_kbps,
        });
    }
    plans
}

fn gop_frames(frame_rate: f64, segment_seconds: u32) -> u32 {
    ((frame_rate * segment_seconds as f64).round() as u32).max(1)
}

fn path_arg(path: &Path) -> String {
    path.to_string_lossy().into_owned()
}

/// `transcode_args`: every rendition in one ffmpeg run.
pub fn transcode_args(
    source: &Path,
    probe: &Probe,
    renditions: &[Rendition],
    out_dir: &Path,
    segment_seconds: u32,
) -> Vec<String> {
    let seg = segment_seconds.max(1);
    let gop = gop_frames(probe.frame_rate, seg).to_string();
    let mut filter = format!("[0:{}]split={}", probe.video_index, renditions.len());
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
        "-i",
    ]
    .iter()
    .map(|s| s.to_string())
    .collect();
    args.push(path_arg(source));
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

fn thumbnail_at_ms(duration_ms: i64) -> i64 {
    (duration_ms / 2).clamp(0, 1000)
}

/// `thumbnail`: one JPEG frame at `at_ms`, at the top rendition's size.
pub fn thumbnail_args(
    source: &Path,
    probe: &Probe,
    width: u32,
    height: u32,
    at_ms: i64,
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
        "-i".into(),
        path_arg(source),
        "-map".into(),
        format!("0:{}", probe.video_index),
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
    ]
}

fn run_ffmpeg(args: &[String]) -> Result<()> {
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
    probe: &Probe,
    out_dir: &Path,
    segment_seconds: u32,
) -> Result<Duration> {
    let plans = plan_renditions(probe.display_width, probe.display_height);
    let top = plans
        .last()
        .cloned()
        .context("the clip is too small to play")?;
    let started = Instant::now();
    for r in &plans {
        std::fs::create_dir_all(out_dir.join(&r.name)).context("creating a rendition folder")?;
    }
    run_ffmpeg(&transcode_args(
        source,
        probe,
        &plans,
        out_dir,
        segment_seconds,
    ))?;
    let thumbnail = out_dir.join("thumbnail.jpg");
    for at_ms in [thumbnail_at_ms(probe.duration_ms), 0] {
        run_ffmpeg(&thumbnail_args(
            source, probe, top.width, top.height, at_ms, &thumbnail,
        ))?;
        if std::fs::metadata(&thumbnail)
            .map(|m| m.len() > 0)
            .unwrap_or(false)
        {
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_720p_source_gets_the_media_crates_two_renditions() {
        let plans = plan_renditions(1280, 720);
        let sizes: Vec<(&str, u32, u32)> = plans
            .iter()
            .map(|p| (p.name.as_str(), p.width, p.height))
            .collect();
        assert_eq!(sizes, [("360p", 640, 360), ("720p", 1280, 720)]);
    }

    #[test]
    fn the_transcode_command_has_a_fixed_gop_per_segment() {
        let probe = Probe {
            duration_ms: 10_000,
            video_index: 0,
            display_width: 1280,
            display_height: 720,
            frame_rate: 25.0,
            audio_index: Some(1),
        };
        let args = transcode_args(
            Path::new("in.mp4"),
            &probe,
            &plan_renditions(1280, 720),
            Path::new("out"),
            4,
        );
        let joined = args.join(" ");
        assert!(
            joined.contains("-g 100 -keyint_min 100 -sc_threshold 0"),
            "{joined}"
        );
        assert!(
            joined.contains("[0:0]split=2[s0][s1];[s0]scale=640:360,setsar=1,format=yuv420p[v0]"),
            "{joined}"
        );
        assert_eq!(args.iter().filter(|a| *a == "hls").count(), 2);
    }
}
