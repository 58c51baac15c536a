//! The `[media]` section of the server's config.

use std::path::PathBuf;

#[derive(Debug, Clone, serde::Deserialize)]
#[serde(default)]
pub struct MediaConfig {
    /// Resumable uploads are staged in `data_dir/uploads`, processing works in
    /// `data_dir/processing`.
    pub data_dir: PathBuf,
    /// A tus upload declaring more, or a multipart file larger, is `TOO_LARGE`.
    pub max_upload_bytes: u64,
    /// Uploads (resumable or one-shot) one user may start: each `{ max, window_secs }` lets
    /// `max` through at once and refills one every `window_secs / max` (`kanjian_db::rate_limit`,
    /// shared by every node). Default: 20 an hour.
    pub uploads_per_user: Vec<kanjian_db::Rate>,
    /// Bytes one user may upload, counted as each upload starts (its declared length: a tus
    /// upload takes no more, so this bounds `PATCH` volume too). An upload larger than `max`
    /// waits for a full bucket. Default: 50 GiB a day.
    pub upload_bytes_per_user: Vec<kanjian_db::Rate>,
    /// tus `PATCH` requests one user may send (each costs a lock and database work whatever
    /// its size; the bytes are bounded by `upload_bytes_per_user`). Default: 600 a minute.
    pub upload_patches_per_user: Vec<kanjian_db::Rate>,
    pub ffmpeg: String,
    pub ffprobe: String,
    pub probe_timeout_secs: u64,
    pub transcode_timeout_secs: u64,
    /// HLS segment length; the GOP is fixed to it.
    pub segment_seconds: u32,
    /// Videos transcoded at once on one node.
    pub max_concurrent_jobs: usize,
    /// An unfinished resumable upload that gets no bytes for this long is abandoned: its bytes
    /// are removed and its video ends `FAILED` (`UPLOAD_EXPIRED`). Tus `Upload-Expires`.
    pub upload_expiry_hours: u64,
    /// How often a node looks for abandoned uploads.
    pub upload_sweep_interval_secs: u64,
}

impl Default for MediaConfig {
    fn default() -> Self {
        Self {
            data_dir: PathBuf::from("./data"),
            max_upload_bytes: 2 * 1024 * 1024 * 1024,
            uploads_per_user: vec![kanjian_db::Rate::new(20, 3600)],
            upload_bytes_per_user: vec![kanjian_db::Rate::new(50 << 30, 86_400)],
            upload_patches_per_user: vec![kanjian_db::Rate::new(600, 60)],
            ffmpeg: "ffmpeg".into(),
            ffprobe: "ffprobe".into(),
            probe_timeout_secs: 30,
            transcode_timeout_secs: 1800,
            segment_seconds: 4,
            max_concurrent_jobs: 1,
            upload_expiry_hours: 24,
            upload_sweep_interval_secs: 300,
        }
    }
}

impl MediaConfig {
    /// What starting an upload of `size_bytes` spends: one upload and its bytes, for `user`.
    pub(crate) fn upload_limits(&self, user: kanjian_kernel::ids::UserId, size_bytes: u64) -> [kanjian_db::Limit<'_>; 2] {
        [
            kanjian_db::Limit::per_user("upload", user.0, &self.uploads_per_user),
            kanjian_db::Limit::per_user("upload_bytes", user.0, &self.upload_bytes_per_user).cost(size_bytes),
        ]
    }

    pub(crate) fn uploads_dir(&self) -> PathBuf {
        self.data_dir.join("uploads")
    }

    pub(crate) fn processing_dir(&self) -> PathBuf {
        self.data_dir.join("processing")
    }

    /// How long an unfinished upload lives without new bytes (at least an hour).
    pub(crate) fn upload_expiry(&self) -> chrono::Duration {
        let hours = i64::try_from(self.upload_expiry_hours.max(1)).unwrap_or(i64::MAX / 3_600_000);
        chrono::Duration::try_hours(hours).unwrap_or(chrono::Duration::MAX)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn missing_settings_take_their_defaults() {
        let c: MediaConfig =
            serde_json::from_str(r#"{"data_dir": "/srv/kanjian", "segment_seconds": 2}"#).unwrap();
        assert_eq!(c.data_dir, PathBuf::from("/srv/kanjian"));
        assert_eq!(c.segment_seconds, 2);
        assert_eq!(c.max_upload_bytes, 2 << 30);
        assert_eq!(
            (
                c.ffmpeg.as_str(),
                c.probe_timeout_secs,
                c.max_concurrent_jobs
            ),
            ("ffmpeg", 30, 1)
        );
        assert_eq!((c.upload_expiry_hours, c.upload_sweep_interval_secs), (24, 300));
        assert_eq!(c.upload_expiry(), chrono::Duration::hours(24));
    }
}
