#![doc = include_str!("../README.md")]

mod config;
pub mod domain;
mod entity;
/// The ffmpeg/ffprobe command lines, public so the benchmark times exactly what the server runs.
pub mod ffmpeg;
pub mod migrations;
mod processing;
pub mod seed;
mod uploads;
mod videos;

use kanjian_db::Db;
use std::collections::HashMap;
use std::sync::{Arc, Weak};
use std::time::Duration;

use async_trait::async_trait;
use bytes::Bytes;
use futures::stream::BoxStream;
use kanjian_contracts::identity::IdentityDirectory;
use kanjian_contracts::media::{
    CreateUploadInput, MediaApi, VideoDirectory, MediaFile, ProcessingUpdate, SpooledFile, UpdateVideoInput,
    UploadProgress, UploadTicket, VideoDetailsInput, VideoDto,
};
use kanjian_events::{EventHandler, Outbox, RealtimeHub};
use kanjian_kernel::ids::{ChannelId, UploadId, VideoId};
use kanjian_kernel::{Actor, Page, PageRequest, Result};

pub use kanjian_blob::{BlobObject, BlobStore, LocalBlobStore, LocalCopy};
pub use config::MediaConfig;

/// The media module, as `server` declares it: offers `MediaApi` and `VideoDirectory` (using
/// `IdentityDirectory`), keeps its files under `videos/` in the deployment's blob store, runs the processing and purge
/// handlers and the sweeper of abandoned uploads, and declares its own migrations (the tables
/// made after modules could; the older ones are in the shared history).
#[derive(Debug)]
pub struct Media;

impl kanjian_module::Module for Media {
    type Config = MediaConfig;

    fn migrations() -> Vec<Box<dyn kanjian_module::MigrationTrait>> {
        migrations::all()
    }

    fn build(mut config: MediaConfig, ctx: kanjian_module::ModuleContext<'_>) -> anyhow::Result<kanjian_module::Parts> {
        config.data_dir = ctx.data_dir.clone();
        let identity = ctx.apis.get::<dyn IdentityDirectory>()?;
        let service = Arc::new(MediaService::new(ctx.db, ctx.outbox, ctx.hub, identity, ctx.blobs, config));
        let sweeper = service.clone();
        Ok(kanjian_module::Parts::default()
            .handlers(service.event_handlers())
            .worker("media.upload_sweeper", move |shutdown| async move {
                sweeper.sweep_abandoned_uploads(shutdown).await;
            })
            .api::<dyn VideoDirectory>(service.clone())
            .api::<dyn kanjian_contracts::media::VideoImporter>(service.clone())
            .api::<dyn MediaApi>(service))
    }
}

/// Everything the use cases need, shared by the service and its event handlers.
pub(crate) struct Deps {
    pub db: Db,
    pub outbox: Outbox,
    pub hub: Arc<dyn RealtimeHub>,
    pub identity: Arc<dyn IdentityDirectory>,
    pub blobs: Arc<dyn BlobStore>,
    pub config: MediaConfig,
    pub tools: ffmpeg::Tools,
    pub upload_locks: UploadLocks,
}

/// Serialises requests on the same upload within this node, so two `PATCH`es cannot interleave
/// their bytes or finalize twice.
#[derive(Default)]
pub(crate) struct UploadLocks {
    locks: std::sync::Mutex<HashMap<i64, Weak<tokio::sync::Mutex<()>>>>,
}

impl UploadLocks {
    pub async fn lock(&self, upload: i64) -> tokio::sync::OwnedMutexGuard<()> {
        let lock = {
            let mut locks = self
                .locks
                .lock()
                .unwrap_or_else(|poisoned| poisoned.into_inner());
            locks.retain(|_, weak| weak.strong_count() > 0);
            match locks.get(&upload).and_then(Weak::upgrade) {
                Some(lock) => lock,
                None => {
                    let lock = Arc::new(tokio::sync::Mutex::new(()));
                    locks.insert(upload, Arc::downgrade(&lock));
                    lock
                }
            }
        };
        lock.lock_owned().await
    }
}

/// The media module. Cheap to clone: everything sits behind one `Arc`.
#[derive(Clone)]
pub struct MediaService {
    deps: Arc<Deps>,
}

impl std::fmt::Debug for MediaService {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("MediaService")
            .field("config", &self.deps.config)
            .finish_non_exhaustive()
    }
}

impl MediaService {
    pub fn new(
        db: Db,
        outbox: Outbox,
        hub: Arc<dyn RealtimeHub>,
        identity: Arc<dyn IdentityDirectory>,
        blobs: Arc<dyn BlobStore>,
        config: MediaConfig,
    ) -> Self {
        let tools = ffmpeg::Tools {
            ffmpeg: config.ffmpeg.clone(),
            ffprobe: config.ffprobe.clone(),
            probe_timeout: Duration::from_secs(config.probe_timeout_secs.max(1)),
            transcode_timeout: Duration::from_secs(config.transcode_timeout_secs.max(1)),
        };
        Self {
            deps: Arc::new(Deps {
                db,
                outbox,
                hub,
                identity,
                blobs,
                config,
                tools,
                upload_locks: UploadLocks::default(),
            }),
        }
    }

    /// Expires every unfinished upload past its expiry (`upload_expiry_hours` without bytes):
    /// its bytes are removed and its video ends `FAILED` with `UPLOAD_EXPIRED`, which ends its
    /// watchers' streams. Returns how many. The sweeper calls it; tests call it after moving the
    /// clock.
    pub async fn expire_abandoned_uploads(&self) -> Result<usize> {
        uploads::expire_abandoned_uploads(&self.deps).await
    }

    /// Runs [`MediaService::expire_abandoned_uploads`] now and then every
    /// `upload_sweep_interval_secs` until `shutdown`. Every node sweeps; each upload is expired
    /// once (a conditional update decides).
    pub async fn sweep_abandoned_uploads(&self, shutdown: tokio_util::sync::CancellationToken) {
        let every = Duration::from_secs(self.deps.config.upload_sweep_interval_secs.max(1));
        loop {
            if let Err(e) = self.expire_abandoned_uploads().await {
                tracing::warn!(error = ?e, "could not expire abandoned uploads; trying again later");
            }
            tokio::select! {
                () = shutdown.cancelled() => return,
                () = tokio::time::sleep(every) => {}
            }
        }
    }

    /// Handlers `server` registers with the Dispatcher: processing (on `VideoUploaded`) and file
    /// purge (on `VideoDeleted`).
    pub fn event_handlers(&self) -> Vec<Arc<dyn EventHandler>> {
        vec![
            Arc::new(processing::ProcessVideoHandler {
                deps: self.deps.clone(),
            }),
            Arc::new(processing::PurgeVideoFilesHandler {
                deps: self.deps.clone(),
            }),
        ]
    }
}

#[async_trait]
impl VideoDirectory for MediaService {
    async fn videos_by_ids(&self, actor: &Actor, ids: &[VideoId]) -> Result<Vec<VideoDto>> {
        videos::videos_by_ids(&self.deps, actor, ids).await
    }
}

#[async_trait]
impl kanjian_contracts::media::VideoImporter for MediaService {
    async fn import_video(&self, input: kanjian_contracts::media::ImportVideoInput) -> Result<VideoId> {
        uploads::import_video(&self.deps, input).await
    }
}

#[async_trait]
impl MediaApi for MediaService {
    async fn create_upload(&self, actor: &Actor, input: CreateUploadInput) -> Result<UploadTicket> {
        uploads::create_upload(&self.deps, actor, input).await
    }

    async fn upload_progress(&self, actor: &Actor, upload: UploadId) -> Result<UploadProgress> {
        uploads::upload_progress(&self.deps, actor, upload).await
    }

    async fn append_upload(
        &self,
        actor: &Actor,
        upload: UploadId,
        offset: u64,
        content_length: Option<u64>,
        body: BoxStream<'static, std::io::Result<Bytes>>,
    ) -> Result<UploadProgress> {
        uploads::append_upload(self.deps.clone(), actor, upload, offset, content_length, body).await
    }

    async fn upload_video(
        &self,
        actor: &Actor,
        details: VideoDetailsInput,
        file: SpooledFile,
    ) -> Result<VideoDto> {
        uploads::upload_video(&self.deps, actor, details, file).await
    }

    async fn update_video(
        &self,
        actor: &Actor,
        id: VideoId,
        input: UpdateVideoInput,
    ) -> Result<VideoDto> {
        videos::update_video(&self.deps, actor, id, input).await
    }

    async fn publish_video(&self, actor: &Actor, id: VideoId) -> Result<VideoDto> {
        videos::publish_video(&self.deps, actor, id).await
    }

    async fn unpublish_video(&self, actor: &Actor, id: VideoId) -> Result<VideoDto> {
        videos::unpublish_video(&self.deps, actor, id).await
    }

    async fn delete_video(&self, actor: &Actor, id: VideoId) -> Result<()> {
        videos::delete_video(&self.deps, actor, id).await
    }

    async fn channel_videos(
        &self,
        actor: &Actor,
        channel: ChannelId,
        page: PageRequest,
    ) -> Result<Page<VideoDto>> {
        videos::channel_videos(&self.deps, actor, channel, page).await
    }

    async fn watch_processing(
        &self,
        actor: &Actor,
        id: VideoId,
    ) -> Result<BoxStream<'static, ProcessingUpdate>> {
        videos::watch_processing(&self.deps, actor, id).await
    }

    async fn open_file(&self, actor: &Actor, id: VideoId, path: &str) -> Result<MediaFile> {
        videos::open_file(&self.deps, actor, id, path).await
    }
}
