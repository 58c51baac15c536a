//! Real media made by ffmpeg, once per test run.

use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::OnceLock;

pub struct Fixtures {
    _dir: tempfile::TempDir,
    /// 2 s, 1280x720, H.264 + AAC: gets 360p and 720p.
    pub hd_clip: PathBuf,
    /// 2 s, 480x270: smaller than 360p, gets one rendition at its own size.
    pub small_clip: PathBuf,
    /// 8 s, 1280x720: long enough to interrupt its processing.
    pub long_clip: PathBuf,
    /// The first half of `hd_clip`'s bytes: the index (moov) is missing.
    pub truncated_clip: PathBuf,
    /// The first half of `hd_clip` remuxed with its index first (`-movflags +faststart`): the
    /// index claims the whole two seconds, the samples stop half-way.
    pub truncated_faststart_clip: PathBuf,
    /// Plain text named like a video.
    pub not_a_video: PathBuf,
}

fn make_clip(path: &Path, size: &str, seconds: u32) {
    let status = Command::new("ffmpeg")
        .args(["-hide_banner", "-loglevel", "error", "-y"])
        .args(["-f", "lavfi", "-i", &format!("testsrc=duration={seconds}:size={size}:rate=25")])
        .args(["-f", "lavfi", "-i", &format!("sine=frequency=440:duration={seconds}")])
        .args(["-c:v", "libx264", "-preset", "ultrafast", "-pix_fmt", "yuv420p", "-c:a", "aac", "-shortest"])
        .arg(path)
        .status()
        .expect("run ffmpeg (scripts/test installs it)");
    assert!(status.success(), "ffmpeg failed to make {}", path.display());
}

pub fn fixtures() -> &'static Fixtures {
    static FIXTURES: OnceLock<Fixtures> = OnceLock::new();
    FIXTURES.get_or_init(|| {
        let dir = tempfile::tempdir().expect("fixture dir");
        let hd_clip = dir.path().join("hd.mp4");
        let small_clip = dir.path().join("small.mp4");
        let long_clip = dir.path().join("long.mp4");
        let truncated_clip = dir.path().join("truncated.mp4");
        let truncated_faststart_clip = dir.path().join("truncated-faststart.mp4");
        let not_a_video = dir.path().join("notes.mp4");
        make_clip(&hd_clip, "1280x720", 2);
        make_clip(&small_clip, "480x270", 2);
        make_clip(&long_clip, "1280x720", 8);
        let bytes = std::fs::read(&hd_clip).expect("read clip");
        std::fs::write(&truncated_clip, &bytes[..bytes.len() / 2]).expect("write truncated");
        let faststart = dir.path().join("faststart.mp4");
        let status = Command::new("ffmpeg")
            .args(["-hide_banner", "-loglevel", "error", "-y", "-i"])
            .arg(&hd_clip)
            .args(["-c", "copy", "-movflags", "+faststart"])
            .arg(&faststart)
            .status()
            .expect("run ffmpeg");
        assert!(status.success(), "ffmpeg failed to remux with +faststart");
        let bytes = std::fs::read(&faststart).expect("read faststart clip");
        std::fs::write(&truncated_faststart_clip, &bytes[..bytes.len() / 2]).expect("write truncated");
        std::fs::write(&not_a_video, "these are my notes, not a video\n".repeat(100)).expect("write text");
        Fixtures { _dir: dir, hd_clip, small_clip, long_clip, truncated_clip, truncated_faststart_clip, not_a_video }
    })
}
