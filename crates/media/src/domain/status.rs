//! How a [`VideoStatus`] is stored in `media_videos.status`.

use kanjian_contracts::media::VideoStatus;
use kanjian_kernel::{Error, Result};

pub fn as_str(status: VideoStatus) -> &'static str {
    match status {
        VideoStatus::Uploading => "UPLOADING",
        VideoStatus::Processing => "PROCESSING",
        VideoStatus::Ready => "READY",
        VideoStatus::Failed => "FAILED",
    }
}

pub fn parse(stored: &str) -> Result<VideoStatus> {
    match stored {
        "UPLOADING" => Ok(VideoStatus::Uploading),
        "PROCESSING" => Ok(VideoStatus::Processing),
        "READY" => Ok(VideoStatus::Ready),
        "FAILED" => Ok(VideoStatus::Failed),
        other => Err(Error::internal(format!(
            "unknown video status {other:?} in the database"
        ))),
    }
}

/// `READY` and `FAILED` end a processing run.
pub fn is_terminal(status: VideoStatus) -> bool {
    matches!(status, VideoStatus::Ready | VideoStatus::Failed)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn statuses_round_trip() {
        for s in [
            VideoStatus::Uploading,
            VideoStatus::Processing,
            VideoStatus::Ready,
            VideoStatus::Failed,
        ] {
            assert_eq!(parse(as_str(s)).unwrap(), s);
        }
        assert!(parse("DONE").is_err());
        assert!(is_terminal(VideoStatus::Failed) && !is_terminal(VideoStatus::Processing));
    }
}
