//! The files a player may fetch under `/media/videos/{id}/`. Anything else does not exist.

/// A rendition name such as `360p` or `1080p`.
fn is_rendition_name(name: &str) -> bool {
    let Some(digits) = name.strip_suffix('p') else {
        return false;
    };
    (2..=4).contains(&digits.len())
        && !digits.starts_with('0')
        && digits.bytes().all(|b| b.is_ascii_digit())
}

fn is_segment_name(name: &str) -> bool {
    let Some(number) = name
        .strip_prefix("seg_")
        .and_then(|n| n.strip_suffix(".ts"))
    else {
        return false;
    };
    (5..=9).contains(&number.len()) && number.bytes().all(|b| b.is_ascii_digit())
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum MediaPath {
    /// `master.m3u8`
    Master,
    /// `thumbnail.jpg`
    Thumbnail,
    /// `720p/index.m3u8`
    VariantPlaylist { rendition: String },
    /// `720p/seg_00003.ts`
    Segment { rendition: String, file: String },
}

impl MediaPath {
    pub fn parse(path: &str) -> Option<Self> {
        match path {
            "master.m3u8" => return Some(Self::Master),
            "thumbnail.jpg" => return Some(Self::Thumbnail),
            _ => {}
        }
        let (rendition, file) = path.split_once('/')?;
        if !is_rendition_name(rendition) {
            return None;
        }
        if file == "index.m3u8" {
            Some(Self::VariantPlaylist {
                rendition: rendition.to_owned(),
            })
        } else if is_segment_name(file) {
            Some(Self::Segment {
                rendition: rendition.to_owned(),
                file: file.to_owned(),
            })
        } else {
            None
        }
    }

    /// Where the file sits under the video's `hls/` folder in the blob store.
    pub fn relative(&self) -> String {
        match self {
            Self::Master => "master.m3u8".to_owned(),
            Self::Thumbnail => "thumbnail.jpg".to_owned(),
            Self::VariantPlaylist { rendition } => format!("{rendition}/index.m3u8"),
            Self::Segment { rendition, file } => format!("{rendition}/{file}"),
        }
    }

    pub fn content_type(&self) -> &'static str {
        match self {
            Self::Master | Self::VariantPlaylist { .. } => "application/vnd.apple.mpegurl",
            Self::Segment { .. } => "video/mp2t",
            Self::Thumbnail => "image/jpeg",
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn player_files_parse() {
        for (path, ct) in [
            ("master.m3u8", "application/vnd.apple.mpegurl"),
            ("720p/index.m3u8", "application/vnd.apple.mpegurl"),
            ("360p/seg_00003.ts", "video/mp2t"),
            ("240p/seg_00000.ts", "video/mp2t"),
            ("thumbnail.jpg", "image/jpeg"),
        ] {
            let p = MediaPath::parse(path).unwrap();
            assert_eq!(p.relative(), path);
            assert_eq!(p.content_type(), ct);
        }
    }

    #[test]
    fn anything_else_is_refused() {
        for path in [
            "",
            "source",
            "../source",
            "720p/../../source",
            "/etc/passwd",
            "720p/seg_1.ts",
            "720p/seg_00001.ts/x",
            "720p\\index.m3u8",
            "p/index.m3u8",
            "0720p/index.m3u8",
            "720p/master.m3u8",
            "hls/master.m3u8",
            "720p/seg_abcde.ts",
        ] {
            assert_eq!(MediaPath::parse(path), None, "{path}");
        }
    }
}
