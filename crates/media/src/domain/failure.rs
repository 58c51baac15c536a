//! How a [`VideoFailureCode`] is stored in `media_videos.failure_code`.

use kanjian_contracts::media::VideoFailureCode;

pub fn as_str(code: VideoFailureCode) -> &'static str {
    match code {
        VideoFailureCode::NotAVideo => "NOT_A_VIDEO",
        VideoFailureCode::UnsupportedFormat => "UNSUPPORTED_FORMAT",
        VideoFailureCode::Truncated => "TRUNCATED",
        VideoFailureCode::ProcessingFailed => "PROCESSING_FAILED",
        VideoFailureCode::UploadExpired => "UPLOAD_EXPIRED",
        VideoFailureCode::SourceLost => "SOURCE_LOST",
    }
}

/// A code this version does not know (written by a newer one) reads as none: the reason still
/// says what happened.
pub fn parse(stored: &str) -> Option<VideoFailureCode> {
    Some(match stored {
        "NOT_A_VIDEO" => VideoFailureCode::NotAVideo,
        "UNSUPPORTED_FORMAT" => VideoFailureCode::UnsupportedFormat,
        "TRUNCATED" => VideoFailureCode::Truncated,
        "PROCESSING_FAILED" => VideoFailureCode::ProcessingFailed,
        "UPLOAD_EXPIRED" => VideoFailureCode::UploadExpired,
        "SOURCE_LOST" => VideoFailureCode::SourceLost,
        _ => return None,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn codes_round_trip_and_match_their_serde_names() {
        for code in [
            VideoFailureCode::NotAVideo,
            VideoFailureCode::UnsupportedFormat,
            VideoFailureCode::Truncated,
            VideoFailureCode::ProcessingFailed,
            VideoFailureCode::UploadExpired,
            VideoFailureCode::SourceLost,
        ] {
            assert_eq!(parse(as_str(code)), Some(code));
            assert_eq!(serde_json::to_value(code).unwrap(), as_str(code));
        }
        assert_eq!(parse("SOMETHING_NEW"), None);
    }
}
