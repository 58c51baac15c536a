//! The media service on a fresh SQLite file, real ffmpeg, a local blob store and the in-process
//! hub. Media made by ffmpeg's test sources, kept tiny (2 s) so the suite stays fast.

// Test helpers outside `#[test]` functions panic on purpose: a failed setup is a failed test.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::path::{Path, PathBuf};
use std::sync::{Arc, OnceLock};
use std::time::Duration;

use async_trait::async_trait;
use bytes::Bytes;
use futures::StreamExt;
use futures::stream::{self, BoxStream};
use kanjian_contracts::EventEnvelope;
use kanjian_contracts::IntegrationEvent;
use kanjian_contracts::identity::*;
use kanjian_contracts::media::*;
use kanjian_events::{
    Dispatcher, DispatcherConfig, EventHandler, InProcessHub, Outbox, RealtimeHub,
};
use kanjian_kernel::ids::{ChannelId, SessionId, UploadId, UserId, VideoId};
use kanjian_kernel::{Actor, Clock, Error, PageRequest, Result, UserErrorCode};
use kanjian_media::{BlobStore, LocalBlobStore, MediaConfig, MediaService};
use kanjian_db::Db;
use kanjian_db::testing::TestDatabase;
use sea_orm::{ConnectionTrait, Statement};

// ---------------------------------------------------------------------------------------------
// Fixtures

struct Fixtures {
    v720: PathBuf,
    v360: PathBuf,
    /// The first half of `v720`, whose index (moov) comes last: no index.
    truncated: PathBuf,
    /// The first half of `v720` remuxed with its index first (`+faststart`): the index claims
    /// the whole duration, the samples stop half-way.
    truncated_faststart: PathBuf,
    text: PathBuf,
}

fn ffmpeg_video(path: &Path, size: &str) {
    let status = std::process::Command::new("ffmpeg")
        .args(["-v", "error", "-y", "-f", "lavfi", "-i"])
        .arg(format!("testsrc=duration=2:size={size}:rate=25"))
        .args(["-f", "lavfi", "-i", "sine=frequency=440:duration=2"])
        .args([
            "-c:v",
            "libx264",
            "-preset",
            "ultrafast",
            "-pix_fmt",
            "yuv420p",
        ])
        .args(["-c:a", "aac", "-shortest"])
        .arg(path)
        .status()
        .unwrap();
    assert!(status.success());
}

/// Made once, in cargo's temporary folder for integration tests, and reused by later runs.
fn fixtures() -> &'static Fixtures {
    static FIXTURES: OnceLock<Fixtures> = OnceLock::new();
    FIXTURES.get_or_init(|| {
        let root = PathBuf::from(env!("CARGO_TARGET_TMPDIR"));
        let dir = root.join("kanjian-media-fixtures-v2");
        let at = |dir: &Path| Fixtures {
            v720: dir.join("v720.mp4"),
            v360: dir.join("v360.mp4"),
            truncated: dir.join("truncated.mp4"),
            truncated_faststart: dir.join("truncated-faststart.mp4"),
            text: dir.join("notes.txt"),
        };
        if !dir.exists() {
            // Made aside and renamed into place, so a killed run never leaves half a set.
            let making = root.join(format!(
                "kanjian-media-fixtures-making-{}",
                std::process::id()
            ));
            std::fs::create_dir_all(&making).unwrap();
            let f = at(&making);
            ffmpeg_video(&f.v720, "1280x720");
            ffmpeg_video(&f.v360, "640x360");
            let bytes = std::fs::read(&f.v720).unwrap();
            std::fs::write(&f.truncated, &bytes[..bytes.len() / 2]).unwrap();
            let faststart = making.join("faststart.mp4");
            let status = std::process::Command::new("ffmpeg")
                .args(["-v", "error", "-y", "-i"])
                .arg(&f.v720)
                .args(["-c", "copy", "-movflags", "+faststart"])
                .arg(&faststart)
                .status()
                .unwrap();
            assert!(status.success());
            let bytes = std::fs::read(&faststart).unwrap();
            std::fs::write(&f.truncated_faststart, &bytes[..bytes.len() / 2]).unwrap();
            std::fs::remove_file(&faststart).unwrap();
            std::fs::write(&f.text, "this is a text file, not a video\n").unwrap();
            if std::fs::rename(&making, &dir).is_err() {
                let _ = std::fs::remove_dir_all(&making);
            }
        }
        at(&dir)
    })
}

// ---------------------------------------------------------------------------------------------
// A fake identity: users 1 and 2 have channels 10 and 20; user 3 has none.

struct FakeIdentity;

fn channel(id: i64, owner: i64) -> ChannelDto {
    ChannelDto {
        id: ChannelId(id),
        owner_id: UserId(owner),
        handle: format!("c{id}"),
        display_name: format!("Channel {id}"),
        bio: String::new(),
        avatar_url: None,
        created_at: kanjian_kernel::now(),
        updated_at: kanjian_kernel::now(),
    }
}

#[async_trait]
impl IdentityDirectory for FakeIdentity {
    async fn channels_of_users(&self, users: &[UserId]) -> Result<Vec<ChannelDto>> {
        let mut out = Vec::new();
        for user in users {
            out.extend(self.channel_of_user(*user).await?);
        }
        Ok(out)
    }
    async fn channel_of_user(&self, user: UserId) -> Result<Option<ChannelDto>> {
        Ok(match user.0 {
            1 => Some(channel(10, 1)),
            2 => Some(channel(20, 2)),
            _ => None,
        })
    }
    async fn users_by_ids(&self, _: &Actor, ids: &[UserId]) -> Result<Vec<UserDto>> {
        Ok(ids
            .iter()
            .filter(|id| [1, 2].contains(&id.0))
            .map(|id| UserDto {
                id: *id,
                display_name: format!("User {}", id.0),
                created_at: kanjian_kernel::now(),
                private: None,
            })
            .collect())
    }
    async fn channels_by_ids(&self, ids: &[ChannelId]) -> Result<Vec<ChannelDto>> {
        Ok(ids.iter().filter(|id| [10, 20].contains(&id.0)).map(|id| channel(id.0, id.0 / 10)).collect())
    }
}

// ---------------------------------------------------------------------------------------------
// The app under test

struct App {
    media: MediaService,
    db: Db,
    /// Manual: tests move it instead of sleeping.
    clock: Clock,
    outbox: Outbox,
    hub: Arc<InProcessHub>,
    blobs: Arc<LocalBlobStore>,
    data_dir: PathBuf,
    _dir: tempfile::TempDir,
    _database: TestDatabase,
}

/// The shared history and media's own migrations, as the server merges them.
struct WithMedia;

impl kanjian_migrations::MigratorTrait for WithMedia {
    fn migrations() -> Vec<Box<dyn kanjian_migrations::MigrationTrait>> {
        let mut all = kanjian_migrations::Migrator::migrations();
        all.extend(<kanjian_media::Media as kanjian_module::Module>::migrations());
        all.sort_by(|a, b| a.name().cmp(b.name()));
        all
    }
}

/// A fresh database: a SQLite file, or with `KANJIAN_TEST_DATABASE=postgres` a new PostgreSQL
/// database on `KANJIAN_TEST_POSTGRES_URL`, dropped with the app. Time comes from a manual
/// clock that starts at the system's time.
async fn app() -> App {
    app_with(|_| {}).await
}

/// As `app`, with `adjust` applied to the config.
async fn app_with(adjust: impl FnOnce(&mut MediaConfig)) -> App {
    let dir = tempfile::tempdir().unwrap();
    let database = TestDatabase::create().await;
    let clock = Clock::manual_from_now();
    let db = kanjian_migrations::database::connect_and_migrate_with::<WithMedia>(
        &database.url,
        &kanjian_db::DatabaseConfig::default(),
        clock.clone(),
    )
    .await
    .unwrap();
    let data_dir = dir.path().join("data");
    let blobs = Arc::new(LocalBlobStore::new(data_dir.join("blobs")));
    let hub = Arc::new(InProcessHub::new());
    let outbox = Outbox::with_clock(clock.clone());
    let mut config = MediaConfig {
        data_dir: data_dir.clone(),
        max_upload_bytes: 50 * 1024 * 1024,
        ..MediaConfig::default()
    };
    adjust(&mut config);
    let media = MediaService::new(
        db.clone(),
        outbox.clone(),
        hub.clone(),
        Arc::new(FakeIdentity),
        blobs.clone(),
        config,
    );
    App {
        media,
        db,
        clock,
        outbox,
        hub,
        blobs,
        data_dir,
        _dir: dir,
        _database: database,
    }
}

fn user(id: i64) -> Actor {
    Actor::User {
        user_id: UserId(id),
        session_id: SessionId(id),
        roles: vec![],
    }
}

fn details(title: &str) -> VideoDetailsInput {
    VideoDetailsInput {
        title: title.into(),
        description: Some("a test video".into()),
        hashtags: vec!["#Kanjian".into(), "test".into()],
        category: Some("tech".into()),
        is_original: true,
    }
}

fn body(chunks: Vec<Vec<u8>>) -> BoxStream<'static, std::io::Result<Bytes>> {
    stream::iter(chunks.into_iter().map(|c| Ok(Bytes::from(c)))).boxed()
}

fn spooled(path: &Path) -> SpooledFile {
    SpooledFile {
        file: std::fs::File::open(path).unwrap(),
        filename: path.file_name().unwrap().to_string_lossy().into_owned(),
        content_type: Some("video/mp4".into()),
    }
}

fn envelope<E: IntegrationEvent>(event: &E) -> EventEnvelope {
    EventEnvelope {
        id: uuid::Uuid::now_v7(),
        kind: E::KIND.into(),
        occurred_at: kanjian_kernel::now(),
        payload: serde_json::to_value(event).unwrap(),
    }
}

impl App {
    fn handler(&self, name: &str) -> Arc<dyn EventHandler> {
        self.media
            .event_handlers()
            .into_iter()
            .find(|h| h.name() == name)
            .unwrap()
    }

    /// Delivers `VideoUploaded` to the processing handler, as the dispatcher would.
    async fn process(&self, id: VideoId) {
        self.handler("media.process_video")
            .handle(&envelope(&VideoUploaded { video_id: id, version: 1 }))
            .await
            .unwrap();
    }

    async fn purge(&self, id: VideoId, channel: ChannelId) {
        self.handler("media.purge_video_files")
            .handle(&envelope(&VideoDeleted {
                video_id: id,
                version: 0,
                channel_id: channel,
            }))
            .await
            .unwrap();
    }

    async fn video(&self, actor: &Actor, id: VideoId) -> Option<VideoDto> {
        self.media.videos_by_ids(actor, &[id]).await.unwrap().pop()
    }

    /// The versions the video's events carry, in the order they were written.
    async fn event_versions(&self, id: VideoId) -> Vec<i64> {
        let rows = self
            .db
            .writer()
            .query_all_raw(Statement::from_string(self.db.backend(), "SELECT payload FROM events_outbox ORDER BY id"))
            .await
            .unwrap();
        rows.iter()
            .map(|r| serde_json::from_str::<serde_json::Value>(&r.try_get::<String>("", "payload").unwrap()).unwrap())
            .filter(|p| p["video_id"] == id.0)
            .map(|p| p["version"].as_i64().unwrap())
            .collect()
    }

    async fn event_kinds(&self) -> Vec<String> {
        let rows = self
            .db
            .writer()
            .query_all_raw(Statement::from_string(
                self.db.backend(),
                "SELECT kind FROM events_outbox ORDER BY id",
            ))
            .await
            .unwrap();
        rows.iter()
            .map(|r| r.try_get::<String>("", "kind").unwrap())
            .collect()
    }

    async fn count(&self, table: &str) -> i64 {
        let row = self
            .db
            .writer()
            .query_one_raw(Statement::from_string(
                self.db.backend(),
                format!("SELECT COUNT(*) AS n FROM {table}"),
            ))
            .await
            .unwrap()
            .unwrap();
        row.try_get::<i64>("", "n").unwrap()
    }

    fn files_under(&self, dir: &str) -> Vec<String> {
        fn walk(root: &Path, dir: &Path, out: &mut Vec<String>) {
            let Ok(entries) = std::fs::read_dir(dir) else {
                return;
            };
            for e in entries.flatten() {
                if e.path().is_dir() {
                    walk(root, &e.path(), out);
                } else {
                    out.push(
                        e.path()
                            .strip_prefix(root)
                            .unwrap()
                            .to_string_lossy()
                            .into_owned(),
                    );
                }
            }
        }
        let root = self.data_dir.join(dir);
        let mut out = Vec::new();
        walk(&root, &root, &mut out);
        out.sort();
        out
    }

    /// A multipart upload of `path`, processed to READY.
    async fn ready_video(&self, owner: i64, path: &Path) -> VideoDto {
        let video = self
            .media
            .upload_video(&user(owner), details("Ready"), spooled(path))
            .await
            .unwrap();
        self.process(video.id).await;
        let video = self.video(&user(owner), video.id).await.unwrap();
        assert_eq!(
            video.status,
            VideoStatus::Ready,
            "{:?}",
            video.failure_reason
        );
        video
    }
}

fn user_error(e: Error) -> (Vec<String>, UserErrorCode, String) {
    match e {
        Error::User(mut errors) => {
            let e = errors.remove(0);
            (e.field, e.code, e.message)
        }
        other => panic!("expected a user error, got {other:?}"),
    }
}

async fn read_all(file: MediaFile) -> Vec<u8> {
    let mut body = file.body;
    let mut out = Vec::new();
    while let Some(chunk) = body.next().await {
        out.extend_from_slice(&chunk.unwrap());
    }
    out
}

// ---------------------------------------------------------------------------------------------
// Tests

#[tokio::test]
async fn a_resumable_upload_survives_a_wrong_offset_and_processing_makes_it_ready() {
    let app = app().await;
    let bytes = std::fs::read(&fixtures().v720).unwrap();
    let owner = user(1);
    let ticket = app
        .media
        .create_upload(
            &owner,
            CreateUploadInput {
                details: details("  My first video "),
                size_bytes: bytes.len() as u64,
                filename: Some("v720.mp4".into()),
            },
        )
        .await
        .unwrap();
    assert_eq!(ticket.video.status, VideoStatus::Uploading);
    assert_eq!(ticket.video.title, "My first video");
    assert_eq!(ticket.video.hashtags, ["Kanjian", "test"]);
    assert_eq!(ticket.video.channel_id, ChannelId(10));
    assert_eq!(ticket.upload_url, format!("/uploads/{}", ticket.upload_id));
    let id = ticket.video.id;

    let third = bytes.len() / 3;
    let p = app
        .media
        .append_upload(
            &owner,
            ticket.upload_id,
            0,
            None,
            body(vec![bytes[..third].to_vec()]),
        )
        .await
        .unwrap();
    assert_eq!(
        (p.offset, p.length, p.video_id),
        (third as u64, bytes.len() as u64, id)
    );

    // A retry at an old offset writes nothing.
    let e = app
        .media
        .append_upload(
            &owner,
            ticket.upload_id,
            0,
            None,
            body(vec![bytes[..third].to_vec()]),
        )
        .await
        .unwrap_err();
    let (field, code, _) = user_error(e);
    assert_eq!(
        (field, code),
        (
            vec!["input".into(), "offset".into()],
            UserErrorCode::UploadOffsetMismatch
        )
    );
    assert_eq!(
        app.media
            .upload_progress(&owner, ticket.upload_id)
            .await
            .unwrap()
            .offset,
        third as u64
    );
    let staged = app
        .data_dir
        .join("uploads")
        .join(format!("{}.part", ticket.upload_id));
    assert_eq!(std::fs::metadata(&staged).unwrap().len(), third as u64);

    // Nobody else may look or write; to them the upload does not exist.
    assert!(matches!(
        app.media.upload_progress(&user(2), ticket.upload_id).await,
        Err(Error::NotFound(_))
    ));
    assert!(matches!(
        app.media
            .append_upload(
                &user(2),
                ticket.upload_id,
                third as u64,
                None,
                body(vec![vec![0]])
            )
            .await,
        Err(Error::NotFound(_))
    ));
    assert!(matches!(
        app.media
            .upload_progress(&Actor::Anonymous, ticket.upload_id)
            .await,
        Err(Error::Unauthenticated)
    ));
    assert!(matches!(
        app.media.upload_progress(&owner, UploadId(999)).await,
        Err(Error::NotFound(_))
    ));

    // The rest, in two chunks of one request.
    let (b, c) = bytes[third..].split_at((bytes.len() - third) / 2);
    let p = app
        .media
        .append_upload(
            &owner,
            ticket.upload_id,
            third as u64,
            None,
            body(vec![b.to_vec(), c.to_vec()]),
        )
        .await
        .unwrap();
    assert_eq!(p.offset, p.length);
    let video = app.video(&owner, id).await.unwrap();
    assert_eq!(video.status, VideoStatus::Processing);
    assert_eq!((video.width, video.height), (Some(1280), Some(720)));
    assert!(
        !staged.exists(),
        "the staged file moved into the blob store"
    );
    assert!(
        app.blobs
            .exists(&format!("videos/{id}/source"))
            .await
            .unwrap()
    );
    assert_eq!(app.event_kinds().await, ["media.video_uploaded"]);
    // The last byte is in; more is too much.
    assert!(matches!(
        app.media
            .append_upload(&owner, ticket.upload_id, p.offset, None, body(vec![vec![1]]))
            .await,
        Err(Error::User(_))
    ));

    // Watch while it processes: the current state first, then updates, ending at READY.
    let updates = app.media.watch_processing(&owner, id).await.unwrap();
    assert!(matches!(
        app.media.watch_processing(&user(2), id).await,
        Err(Error::NotFound(_))
    ));
    app.process(id).await;
    let updates: Vec<ProcessingUpdate> =
        tokio::time::timeout(Duration::from_secs(10), updates.collect())
            .await
            .unwrap();
    assert_eq!(updates.first().unwrap().status, VideoStatus::Processing);
    let last = updates.last().unwrap();
    assert_eq!(
        (last.status, last.progress_percent),
        (VideoStatus::Ready, 100)
    );
    assert!(
        updates
            .iter()
            .any(|u| u.status == VideoStatus::Processing && u.progress_percent > 0),
        "{updates:?}"
    );

    let video = app.video(&owner, id).await.unwrap();
    assert_eq!(video.status, VideoStatus::Ready);
    assert_eq!(video.progress_percent, 100);
    assert!((1900..=2100).contains(&video.duration_ms.unwrap()));
    let names: Vec<_> = video
        .renditions
        .iter()
        .map(|r| (r.name.as_str(), r.width, r.height))
        .collect();
    assert_eq!(names, [("360p", 640, 360), ("720p", 1280, 720)]);
    assert_eq!(
        video.renditions[1].playlist_url,
        format!("/media/videos/{id}/720p/index.m3u8")
    );
    assert!(video.renditions.iter().all(|r| r.bandwidth > 0));
    assert_eq!(
        video.playlist_url.as_deref(),
        Some(format!("/media/videos/{id}/master.m3u8").as_str())
    );
    assert_eq!(
        video.thumbnail_url.as_deref(),
        Some(format!("/media/videos/{id}/thumbnail.jpg").as_str())
    );
    assert_eq!(
        app.event_kinds().await,
        ["media.video_uploaded", "media.video_processed"]
    );

    let thumb = app
        .media
        .open_file(&owner, id, "thumbnail.jpg")
        .await
        .unwrap();
    assert_eq!(thumb.content_type, "image/jpeg");
    let jpeg = read_all(thumb).await;
    assert_eq!(&jpeg[..2], [0xFF, 0xD8]);
    let master = app
        .media
        .open_file(&owner, id, "master.m3u8")
        .await
        .unwrap();
    assert_eq!(master.content_type, "application/vnd.apple.mpegurl");
    let master = String::from_utf8(read_all(master).await).unwrap();
    assert!(
        master.contains("RESOLUTION=1280x720") && master.contains("720p/index.m3u8"),
        "{master}"
    );
    let variant = String::from_utf8(
        read_all(
            app.media
                .open_file(&owner, id, "720p/index.m3u8")
                .await
                .unwrap(),
        )
        .await,
    )
    .unwrap();
    let segment = variant.lines().find(|l| l.ends_with(".ts")).unwrap();
    let ts = app
        .media
        .open_file(&owner, id, &format!("720p/{segment}"))
        .await
        .unwrap();
    assert_eq!(ts.content_type, "video/mp2t");
    assert_eq!(read_all(ts).await[0], 0x47, "an MPEG-TS sync byte");
    assert!(matches!(
        app.media.open_file(&owner, id, "source").await,
        Err(Error::NotFound(_))
    ));
    assert!(matches!(
        app.media.open_file(&owner, id, "../source").await,
        Err(Error::NotFound(_))
    ));

    // A second delivery changes nothing.
    app.process(id).await;
    assert_eq!(app.event_kinds().await.len(), 2);
    assert!(
        app.files_under("processing").is_empty(),
        "work folders are removed"
    );

    // Finished: a watcher gets the final state and the stream ends.
    let done: Vec<_> = app
        .media
        .watch_processing(&owner, id)
        .await
        .unwrap()
        .collect()
        .await;
    assert_eq!(done.len(), 1);
    assert_eq!(done[0].status, VideoStatus::Ready);
}

#[tokio::test]
async fn bytes_past_the_declared_length_are_refused_and_not_kept() {
    let app = app().await;
    let owner = user(1);
    let ticket = app
        .media
        .create_upload(
            &owner,
            CreateUploadInput {
                details: details("Ten"),
                size_bytes: 10,
                filename: None,
            },
        )
        .await
        .unwrap();
    app.media
        .append_upload(&owner, ticket.upload_id, 0, None, body(vec![vec![1; 4]]))
        .await
        .unwrap();
    let e = app
        .media
        .append_upload(
            &owner,
            ticket.upload_id,
            4,
            None,
            body(vec![vec![2; 3], vec![3; 5]]),
        )
        .await
        .unwrap_err();
    assert_eq!(user_error(e).1, UserErrorCode::TooLarge);
    assert_eq!(
        app.media
            .upload_progress(&owner, ticket.upload_id)
            .await
            .unwrap()
            .offset,
        4
    );
    let staged = app
        .data_dir
        .join("uploads")
        .join(format!("{}.part", ticket.upload_id));
    assert_eq!(std::fs::read(&staged).unwrap(), vec![1; 4]);

    // Declaring more than the limit, or nothing, is refused up front.
    let e = app
        .media
        .create_upload(
            &owner,
            CreateUploadInput {
                details: details("Huge"),
                size_bytes: 1 << 40,
                filename: None,
            },
        )
        .await
        .unwrap_err();
    let (field, code, _) = user_error(e);
    assert_eq!(
        (field[1].as_str(), code),
        ("sizeBytes", UserErrorCode::TooLarge)
    );
}

#[tokio::test]
async fn a_request_that_dies_midway_keeps_what_was_flushed() {
    let app = app().await;
    let owner = user(1);
    let ticket = app
        .media
        .create_upload(
            &owner,
            CreateUploadInput {
                details: details("Flaky"),
                size_bytes: 100,
                filename: None,
            },
        )
        .await
        .unwrap();
    let broken: BoxStream<'static, std::io::Result<Bytes>> = stream::iter(vec![
        Ok(Bytes::from(vec![7u8; 30])),
        Err(std::io::Error::new(
            std::io::ErrorKind::ConnectionReset,
            "client went away",
        )),
    ])
    .boxed();
    let p = app
        .media
        .append_upload(&owner, ticket.upload_id, 0, None, broken)
        .await
        .unwrap();
    assert_eq!(p.offset, 30);
    assert_eq!(
        app.media
            .upload_progress(&owner, ticket.upload_id)
            .await
            .unwrap()
            .offset,
        30
    );

    // Bytes that reached the file but were never counted (a crash) are trimmed on resume.
    let staged = app
        .data_dir
        .join("uploads")
        .join(format!("{}.part", ticket.upload_id));
    let mut f = std::fs::OpenOptions::new()
        .append(true)
        .open(&staged)
        .unwrap();
    std::io::Write::write_all(&mut f, &[9u8; 5]).unwrap();
    let p = app
        .media
        .append_upload(&owner, ticket.upload_id, 30, None, body(vec![vec![8u8; 10]]))
        .await
        .unwrap();
    assert_eq!(p.offset, 40);
    let on_disk = std::fs::read(&staged).unwrap();
    assert_eq!(on_disk.len(), 40);
    assert!(on_disk[30..].iter().all(|b| *b == 8));
}

#[tokio::test]
async fn creating_needs_a_signed_in_user_with_a_channel_and_valid_details() {
    let app = app().await;
    let input = || CreateUploadInput {
        details: details("Hi"),
        size_bytes: 10,
        filename: None,
    };
    assert!(matches!(
        app.media.create_upload(&Actor::Anonymous, input()).await,
        Err(Error::Unauthenticated)
    ));
    let (field, code, message) = user_error(
        app.media
            .create_upload(&user(3), input())
            .await
            .unwrap_err(),
    );
    assert_eq!((field.len(), code), (0, UserErrorCode::InvalidState));
    assert!(message.contains("open a channel first"));

    let bad = CreateUploadInput {
        details: VideoDetailsInput {
            title: "".into(),
            hashtags: vec!["two words".into()],
            category: Some("cooking".into()),
            ..Default::default()
        },
        size_bytes: 0,
        filename: None,
    };
    let Err(Error::User(errors)) = app.media.create_upload(&user(1), bad).await else {
        panic!()
    };
    let fields: Vec<_> = errors.iter().map(|e| e.field[1].as_str()).collect();
    assert_eq!(fields, ["title", "hashtags", "category", "sizeBytes"]);
    assert_eq!(app.count("media_videos").await, 0);
}

#[tokio::test]
async fn a_multipart_upload_that_is_not_a_video_leaves_nothing() {
    let app = app().await;
    for (path, reason) in [
        (&fixtures().text, "Invalid data"),
        (&fixtures().truncated, "moov atom not found"),
    ] {
        let e = app
            .media
            .upload_video(&user(1), details("Nope"), spooled(path))
            .await
            .unwrap_err();
        let (field, code, message) = user_error(e);
        assert_eq!(
            (field[1].as_str(), code),
            ("file", UserErrorCode::UnsupportedMedia)
        );
        assert!(message.contains(reason), "{message}");
        assert!(
            !message.contains(&*app.data_dir.to_string_lossy()),
            "no local paths: {message}"
        );
    }
    assert_eq!(app.count("media_videos").await, 0);
    assert!(app.files_under("uploads").is_empty());
    assert!(app.files_under("blobs").is_empty());
    assert!(app.event_kinds().await.is_empty());
}

#[tokio::test]
async fn a_resumable_upload_of_a_truncated_file_fails_the_video() {
    let app = app().await;
    let owner = user(1);
    let bytes = std::fs::read(&fixtures().truncated).unwrap();
    let ticket = app
        .media
        .create_upload(
            &owner,
            CreateUploadInput {
                details: details("Cut"),
                size_bytes: bytes.len() as u64,
                filename: None,
            },
        )
        .await
        .unwrap();
    let updates = app
        .media
        .watch_processing(&owner, ticket.video.id)
        .await
        .unwrap();
    let p = app
        .media
        .append_upload(&owner, ticket.upload_id, 0, None, body(vec![bytes]))
        .await
        .unwrap();
    assert_eq!(p.offset, p.length);
    let video = app.video(&owner, ticket.video.id).await.unwrap();
    assert_eq!(video.status, VideoStatus::Failed);
    assert!(
        video
            .failure_reason
            .as_deref()
            .unwrap()
            .contains("moov atom not found"),
        "{video:?}"
    );
    assert_eq!(video.failure_code, Some(VideoFailureCode::Truncated));
    assert!(
        !video.failure_reason.unwrap().contains(".part"),
        "no local paths"
    );
    assert!(app.files_under("uploads").is_empty());
    assert!(app.files_under("blobs").is_empty());
    let updates: Vec<_> = tokio::time::timeout(Duration::from_secs(5), updates.collect::<Vec<_>>())
        .await
        .unwrap();
    assert_eq!(updates.last().unwrap().status, VideoStatus::Failed);
    assert!(matches!(
        app.media.publish_video(&owner, video.id).await,
        Err(Error::User(_))
    ));
}

#[tokio::test]
async fn ffmpeg_rejecting_the_source_marks_the_video_failed_for_good() {
    let app = app().await;
    let video = app
        .media
        .upload_video(
            &user(1),
            details("Corrupt later"),
            spooled(&fixtures().v360),
        )
        .await
        .unwrap();
    // The stored source rots before processing.
    let garbage = app.data_dir.join("garbage");
    std::fs::write(&garbage, b"garbage").unwrap();
    app.blobs
        .put_file(&format!("videos/{}/source", video.id), &garbage)
        .await
        .unwrap();
    app.process(video.id).await;
    let video = app.video(&user(1), video.id).await.unwrap();
    assert_eq!(video.status, VideoStatus::Failed);
    assert!(
        video
            .failure_reason
            .as_deref()
            .unwrap()
            .contains("Invalid data"),
        "{video:?}"
    );
    assert_eq!(
        app.event_kinds().await,
        ["media.video_uploaded", "media.video_processed"]
    );
    assert!(app.files_under("processing").is_empty());
}

#[tokio::test]
async fn publishing_needs_ready_and_only_the_owner_changes_a_video() {
    let app = app().await;
    let (owner, other) = (user(1), user(2));
    let video = app
        .media
        .upload_video(&owner, details("Small"), spooled(&fixtures().v360))
        .await
        .unwrap();
    assert_eq!(video.status, VideoStatus::Processing);
    let id = video.id;

    let (_, code, _) = user_error(app.media.publish_video(&owner, id).await.unwrap_err());
    assert_eq!(code, UserErrorCode::InvalidState);

    // Strangers: to them a video they may not see does not exist (NotFound, as for a missing
    // one), and nothing changes.
    let edit = UpdateVideoInput {
        title: Some("Mine now".into()),
        ..Default::default()
    };
    assert!(matches!(
        app.media.update_video(&other, id, edit.clone()).await,
        Err(Error::NotFound(_))
    ));
    assert!(matches!(
        app.media.publish_video(&other, id).await,
        Err(Error::NotFound(_))
    ));
    assert!(matches!(
        app.media.unpublish_video(&other, id).await,
        Err(Error::NotFound(_))
    ));
    assert!(matches!(
        app.media.delete_video(&other, id).await,
        Err(Error::NotFound(_))
    ));
    assert!(matches!(
        app.media
            .update_video(&Actor::Anonymous, id, edit.clone())
            .await,
        Err(Error::Unauthenticated)
    ));
    assert!(matches!(
        app.media.publish_video(&owner, VideoId(999)).await,
        Err(Error::NotFound(_))
    ));
    assert_eq!(app.video(&owner, id).await.unwrap().title, "Small");
    // A draft is the owner's alone.
    assert!(app.video(&other, id).await.is_none());

    app.process(id).await;
    let ready = app.video(&owner, id).await.unwrap();
    assert_eq!(ready.status, VideoStatus::Ready);
    let names: Vec<_> = ready.renditions.iter().map(|r| r.name.as_str()).collect();
    assert_eq!(names, ["360p"], "a 640x360 source is never upscaled");
    assert!(matches!(
        app.media.open_file(&other, id, "master.m3u8").await,
        Err(Error::NotFound(_))
    ));

    let published = app.media.publish_video(&owner, id).await.unwrap();
    assert!(published.published_at.is_some());
    assert!(
        app.event_kinds()
            .await
            .ends_with(&["media.video_published".to_owned()])
    );
    assert_eq!(app.video(&other, id).await.unwrap().id, id);
    assert_eq!(app.video(&Actor::Anonymous, id).await.unwrap().id, id);
    // Public now: strangers see it, and are forbidden to change it.
    assert!(matches!(
        app.media.update_video(&other, id, edit.clone()).await,
        Err(Error::Forbidden(_))
    ));
    assert!(matches!(
        app.media.delete_video(&other, id).await,
        Err(Error::Forbidden(_))
    ));
    assert!(
        app.media
            .open_file(&Actor::Anonymous, id, "master.m3u8")
            .await
            .is_ok()
    );
    // Publishing twice is harmless.
    app.media.publish_video(&owner, id).await.unwrap();
    assert_eq!(
        app.event_kinds()
            .await
            .iter()
            .filter(|k| *k == "media.video_published")
            .count(),
        1
    );

    // Edits: every bad field at once, then a good one.
    let Err(Error::User(errors)) = app
        .media
        .update_video(
            &owner,
            id,
            UpdateVideoInput {
                title: Some(" ".into()),
                hashtags: Some((0..11).map(|i| format!("t{i}")).collect()),
                category: Some(Some("nope".into())),
                ..Default::default()
            },
        )
        .await
    else {
        panic!()
    };
    assert_eq!(errors.len(), 3);
    let edited = app
        .media
        .update_video(
            &owner,
            id,
            UpdateVideoInput {
                title: Some("Renamed".into()),
                hashtags: Some(vec!["#A".into(), "a".into(), "b".into()]),
                category: Some(None),
                is_original: Some(false),
                ..Default::default()
            },
        )
        .await
        .unwrap();
    assert_eq!(
        (edited.title.as_str(), edited.hashtags.as_slice()),
        ("Renamed", ["A".to_owned(), "b".to_owned()].as_slice())
    );
    assert_eq!(
        (
            edited.category,
            edited.is_original,
            edited.description.as_str()
        ),
        (None, false, "a test video")
    );
    // The edit is announced (in the same transaction), and the refused one was not.
    let kinds = app.event_kinds().await;
    assert_eq!(
        kinds.iter().filter(|k| *k == "media.video_details_changed").count(),
        1
    );
    assert!(kinds.ends_with(&["media.video_details_changed".to_owned()]));

    let hidden = app.media.unpublish_video(&owner, id).await.unwrap();
    assert!(hidden.published_at.is_none());
    assert!(
        app.event_kinds()
            .await
            .ends_with(&["media.video_unpublished".to_owned()])
    );
    assert!(app.video(&other, id).await.is_none());
    assert!(matches!(
        app.media.open_file(&other, id, "thumbnail.jpg").await,
        Err(Error::NotFound(_))
    ));
    assert!(
        app.media
            .open_file(&owner, id, "thumbnail.jpg")
            .await
            .is_ok()
    );
}

#[tokio::test]
async fn deleting_removes_the_rows_at_once_and_the_files_through_the_purge_handler() {
    let app = app().await;
    let owner = user(1);
    let video = app.ready_video(1, &fixtures().v360).await;
    let id = video.id;
    assert!(!app.files_under("blobs").is_empty());

    app.media.delete_video(&owner, id).await.unwrap();
    assert!(app.video(&owner, id).await.is_none());
    assert!(matches!(
        app.media.delete_video(&owner, id).await,
        Err(Error::NotFound(_))
    ));
    assert!(matches!(
        app.media.open_file(&owner, id, "master.m3u8").await,
        Err(Error::NotFound(_))
    ));
    assert_eq!(app.count("media_renditions").await, 0);
    assert!(
        app.event_kinds()
            .await
            .ends_with(&["media.video_deleted".to_owned()])
    );
    // Uploaded, processed, published, deleted: numbered 1, 2, 3, … in the order they committed.
    let versions = app.event_versions(id).await;
    assert!(versions.len() >= 3, "{versions:?}");
    assert_eq!(versions, (1..=versions.len() as i64).collect::<Vec<_>>());

    app.purge(id, video.channel_id).await;
    assert!(
        app.files_under("blobs").is_empty(),
        "{:?}",
        app.files_under("blobs")
    );
    app.purge(id, video.channel_id).await;
}

#[tokio::test]
async fn deleting_an_unfinished_upload_purges_its_staged_bytes() {
    let app = app().await;
    let owner = user(1);
    let ticket = app
        .media
        .create_upload(
            &owner,
            CreateUploadInput {
                details: details("Half"),
                size_bytes: 100,
                filename: None,
            },
        )
        .await
        .unwrap();
    app.media
        .append_upload(&owner, ticket.upload_id, 0, None, body(vec![vec![1; 50]]))
        .await
        .unwrap();
    app.media
        .delete_video(&owner, ticket.video.id)
        .await
        .unwrap();
    // The upload cannot go on.
    assert!(matches!(
        app.media
            .append_upload(&owner, ticket.upload_id, 50, None, body(vec![vec![1; 50]]))
            .await,
        Err(Error::NotFound(_))
    ));
    app.purge(ticket.video.id, ticket.video.channel_id).await;
    assert!(app.files_under("uploads").is_empty());
    assert_eq!(app.count("media_uploads").await, 0);
}

#[tokio::test]
async fn a_channel_lists_newest_first_in_pages_and_drafts_only_for_its_owner() {
    let app = app().await;
    let owner = user(1);
    let mut ids = Vec::new();
    for i in 0..5 {
        let t = app
            .media
            .create_upload(
                &owner,
                CreateUploadInput {
                    details: details(&format!("V{i}")),
                    size_bytes: 10,
                    filename: None,
                },
            )
            .await
            .unwrap();
        ids.push(t.video.id);
    }
    // Pretend two are published and ready.
    for id in [ids[1], ids[3]] {
        app.db.writer()
            .execute_unprepared(&format!(
                "UPDATE media_videos SET status = 'READY', published_at = created_at WHERE id = {id}"
            ))
            .await
            .unwrap();
    }
    let mut seen = Vec::new();
    let mut after = None;
    loop {
        let page = app
            .media
            .channel_videos(
                &owner,
                ChannelId(10),
                PageRequest {
                    first: Some(2),
                    after: after.clone(),
                },
            )
            .await
            .unwrap();
        seen.extend(page.items.iter().map(|(_, v)| v.id));
        if !page.has_next_page {
            break;
        }
        after = page.items.last().map(|(c, _)| c.clone());
    }
    let newest_first: Vec<_> = ids.iter().rev().copied().collect();
    assert_eq!(seen, newest_first);

    let public = app
        .media
        .channel_videos(&Actor::Anonymous, ChannelId(10), PageRequest::default())
        .await
        .unwrap();
    let public: Vec<_> = public.items.iter().map(|(_, v)| v.id).collect();
    assert_eq!(public, [ids[3], ids[1]]);
    let other = app
        .media
        .channel_videos(&user(2), ChannelId(10), PageRequest::default())
        .await
        .unwrap();
    assert_eq!(other.items.len(), 2);
    assert!(
        app.media
            .channel_videos(&owner, ChannelId(20), PageRequest::default())
            .await
            .unwrap()
            .items
            .is_empty()
    );

    // Batch reads keep the order asked and leave out what the reader may not see.
    let got: Vec<_> = app
        .media
        .videos_by_ids(&user(2), &[ids[3], ids[0], VideoId(999), ids[1]])
        .await
        .unwrap()
        .iter()
        .map(|v| v.id)
        .collect();
    assert_eq!(got, [ids[3], ids[1]]);
}

#[tokio::test]
async fn an_interrupted_run_starts_over_and_still_ends_ready() {
    let app = app().await;
    let owner = user(1);
    let video = app
        .media
        .upload_video(&owner, details("Again"), spooled(&fixtures().v720))
        .await
        .unwrap();
    let id = video.id;
    let mut updates = app
        .hub
        .subscribe(&format!("media.video.{id}"))
        .await
        .unwrap();
    let handler = app.handler("media.process_video");
    let event = envelope(&VideoUploaded { video_id: id, version: 1 });
    let run = tokio::spawn(async move { handler.handle(&event).await });
    // Kill it once ffmpeg is under way: dropping the run kills the child process.
    let first = tokio::time::timeout(Duration::from_secs(10), updates.next())
        .await
        .unwrap()
        .unwrap();
    assert_eq!(first["status"], "PROCESSING");
    run.abort();
    let _ = run.await;
    // A crash would also leave its work folder behind.
    std::fs::create_dir_all(
        app.data_dir
            .join(format!("processing/video-{id}-stale/720p")),
    )
    .unwrap();
    assert_eq!(
        app.video(&owner, id).await.unwrap().status,
        VideoStatus::Processing
    );

    app.process(id).await;
    let video = app.video(&owner, id).await.unwrap();
    assert_eq!(video.status, VideoStatus::Ready);
    assert_eq!(video.renditions.len(), 2);
    assert!(app.files_under("processing").is_empty());
}

#[tokio::test]
async fn the_dispatcher_drives_an_upload_to_ready() {
    let app = app().await;
    let mut dispatcher = Dispatcher::new(
        app.db.writer().clone(),
        &app.outbox,
        DispatcherConfig {
            poll_interval: Duration::from_millis(50),
            ..DispatcherConfig::default()
        },
        app.clock.clone(),
    );
    for h in app.media.event_handlers() {
        dispatcher.register(h);
    }
    // Before the upload: a handler receives the events that occur after its registration.
    dispatcher.register_handlers().await.unwrap();
    let shutdown = tokio_util::sync::CancellationToken::new();
    let running = tokio::spawn(dispatcher.run(shutdown.clone()));

    let owner = user(1);
    let video = app
        .media
        .upload_video(&owner, details("Hands off"), spooled(&fixtures().v360))
        .await
        .unwrap();
    let updates = app.media.watch_processing(&owner, video.id).await.unwrap();
    let last = tokio::time::timeout(Duration::from_secs(30), updates.collect::<Vec<_>>())
        .await
        .unwrap()
        .pop()
        .unwrap();
    assert_eq!(last.status, VideoStatus::Ready);

    app.media.delete_video(&owner, video.id).await.unwrap();
    let deadline = tokio::time::Instant::now() + Duration::from_secs(10);
    while !app.files_under("blobs").is_empty() {
        assert!(
            tokio::time::Instant::now() < deadline,
            "the purge handler never ran"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    shutdown.cancel();
    running.await.unwrap();
}

#[tokio::test]
async fn a_watcher_sees_the_end_even_when_another_node_did_the_work() {
    let app = app().await;
    let owner = user(1);
    let video = app
        .media
        .upload_video(&owner, details("Elsewhere"), spooled(&fixtures().v360))
        .await
        .unwrap();
    // The watcher is on this node; the work happens on a node with a hub of its own, so not one
    // hub message reaches the watcher.
    let updates = app.media.watch_processing(&owner, video.id).await.unwrap();
    let other_node = MediaService::new(
        app.db.clone(),
        app.outbox.clone(),
        Arc::new(InProcessHub::new()),
        Arc::new(FakeIdentity),
        app.blobs.clone(),
        MediaConfig { data_dir: app.data_dir.clone(), ..MediaConfig::default() },
    );
    let handler = other_node
        .event_handlers()
        .into_iter()
        .find(|h| h.name() == "media.process_video")
        .unwrap();
    handler.handle(&envelope(&VideoUploaded { video_id: video.id, version: 1 })).await.unwrap();

    let seen = tokio::time::timeout(Duration::from_secs(15), updates.collect::<Vec<_>>())
        .await
        .expect("the watcher must end without a hub message");
    assert_eq!(seen.first().unwrap().status, VideoStatus::Processing);
    assert_eq!(seen.last().unwrap().status, VideoStatus::Ready);
}

// ---------------------------------------------------------------------------------------------
// Hardening: inputs that point elsewhere, truncation, requests refused before their body,
// abandoned uploads, and who may watch.

/// A resumable upload of `bytes` by `owner`, all in one request; returns the ticket.
async fn upload_resumably(app: &App, owner: &Actor, title: &str, bytes: Vec<u8>) -> UploadTicket {
    let ticket = app
        .media
        .create_upload(
            owner,
            CreateUploadInput {
                details: details(title),
                size_bytes: bytes.len() as u64,
                filename: None,
            },
        )
        .await
        .unwrap();
    let p = app
        .media
        .append_upload(owner, ticket.upload_id, 0, Some(bytes.len() as u64), body(vec![bytes]))
        .await
        .unwrap();
    assert_eq!(p.offset, p.length);
    ticket
}

#[tokio::test]
async fn an_upload_that_points_at_other_files_fails_as_an_unsupported_format() {
    let app = app().await;
    // User 2's private video: ready, never published.
    let private = app.ready_video(2, &fixtures().v360).await;
    let segment = format!("videos/{}/hls/360p/seg_00000.ts", private.id);
    assert!(app.blobs.exists(&segment).await.unwrap());
    let playlist = |target: &str| {
        format!("#EXTM3U\n#EXT-X-TARGETDURATION:2\n#EXTINF:2,\n{target}\n#EXT-X-ENDLIST\n").into_bytes()
    };
    // Relative to the staged upload (data/uploads/N.part), then to the stored source
    // (data/blobs/videos/N/source): where user 2's segments lie.
    let crafted: Vec<(&str, Vec<u8>, &str)> = vec![
        ("their segment", playlist(&format!("../blobs/{segment}")), "HLS playlist"),
        ("their segment from the source", playlist(&format!("../{}/hls/360p/seg_00000.ts", private.id)), "HLS playlist"),
        ("a system file", playlist("file:///etc/passwd"), "HLS playlist"),
        ("a URL", playlist("http://127.0.0.1:9/x.ts"), "HLS playlist"),
        ("a concat list", format!("ffconcat version 1.0\nfile ../blobs/videos/{}/source\n", private.id).into_bytes(), "concat list"),
    ];
    let owner = user(1);
    for (what, bytes, words) in crafted {
        let ticket = upload_resumably(&app, &owner, what, bytes.clone()).await;
        let video = app.video(&owner, ticket.video.id).await.unwrap();
        assert_eq!(video.status, VideoStatus::Failed, "{what}: {video:?}");
        assert_eq!(video.failure_code, Some(VideoFailureCode::UnsupportedFormat), "{what}");
        let reason = video.failure_reason.unwrap();
        assert!(reason.contains(words) && reason.contains("upload the video file itself"), "{what}: {reason}");

        // In one request: refused, nothing kept.
        let staged = app.data_dir.join("spool");
        std::fs::create_dir_all(&staged).unwrap();
        let file = staged.join("upload.mp4");
        std::fs::write(&file, &bytes).unwrap();
        let (field, code, message) = user_error(
            app.media
                .upload_video(&owner, details(what), spooled(&file))
                .await
                .unwrap_err(),
        );
        assert_eq!((field[1].as_str(), code), ("file", UserErrorCode::UnsupportedMedia), "{what}");
        assert!(message.contains(words), "{what}: {message}");
    }
    // Nothing of theirs was made, and only user 2's video has files.
    assert!(app.files_under("uploads").is_empty());
    assert!(app.files_under("blobs").iter().all(|f| f.starts_with(&format!("videos/{}/", private.id))));
}

#[tokio::test]
async fn a_truncated_mp4_with_its_index_first_fails_as_truncated() {
    let app = app().await;
    let owner = user(1);
    let bytes = std::fs::read(&fixtures().truncated_faststart).unwrap();
    let ticket = upload_resumably(&app, &owner, "Half", bytes).await;
    let video = app.video(&owner, ticket.video.id).await.unwrap();
    assert_eq!(video.status, VideoStatus::Failed);
    assert_eq!(video.failure_code, Some(VideoFailureCode::Truncated));
    let reason = video.failure_reason.unwrap();
    assert!(reason.contains("the file is truncated: it claims 2.0 s"), "{reason}");
    assert!(app.files_under("uploads").is_empty());
    assert!(app.files_under("blobs").is_empty());

    let (_, code, message) = user_error(
        app.media
            .upload_video(&owner, details("Half"), spooled(&fixtures().truncated_faststart))
            .await
            .unwrap_err(),
    );
    assert_eq!(code, UserErrorCode::UnsupportedMedia);
    assert!(message.contains("truncated"), "{message}");

    // A source that is cut after it was accepted fails in processing: ffmpeg decodes half.
    let video = app
        .media
        .upload_video(&owner, details("Cut later"), spooled(&fixtures().v720))
        .await
        .unwrap();
    app.blobs
        .put_file(&format!("videos/{}/source", video.id), &{
            let copy = app.data_dir.join("cut.mp4");
            std::fs::copy(&fixtures().truncated_faststart, &copy).unwrap();
            copy
        })
        .await
        .unwrap();
    app.process(video.id).await;
    let video = app.video(&owner, video.id).await.unwrap();
    assert_eq!(video.status, VideoStatus::Failed);
    assert_eq!(video.failure_code, Some(VideoFailureCode::Truncated), "{:?}", video.failure_reason);
    assert!(video.failure_reason.unwrap().contains("ffmpeg could decode only"));
    assert!(app.files_under("blobs").iter().all(|f| !f.contains("/hls/")));
}

/// A body that records whether anyone polled it.
fn watched_body(polled: Arc<std::sync::atomic::AtomicBool>) -> BoxStream<'static, std::io::Result<Bytes>> {
    stream::poll_fn(move |_| {
        polled.store(true, std::sync::atomic::Ordering::SeqCst);
        std::task::Poll::Ready(Some(Ok(Bytes::from_static(b"x"))))
    })
    .boxed()
}

#[tokio::test]
async fn a_request_that_cannot_be_taken_is_refused_before_its_body_is_read() {
    let app = app().await;
    let owner = user(1);
    let ticket = app
        .media
        .create_upload(
            &owner,
            CreateUploadInput { details: details("Guarded"), size_bytes: 100, filename: None },
        )
        .await
        .unwrap();
    app.media
        .append_upload(&owner, ticket.upload_id, 0, Some(40), body(vec![vec![7; 40]]))
        .await
        .unwrap();

    let refusals: Vec<(&str, Actor, UploadId, u64, Option<u64>)> = vec![
        ("anonymous", Actor::Anonymous, ticket.upload_id, 40, Some(10)),
        ("a stranger", user(2), ticket.upload_id, 40, Some(10)),
        ("a missing upload", owner.clone(), UploadId(987_654), 0, Some(10)),
        ("a wrong offset", owner.clone(), ticket.upload_id, 0, Some(10)),
        ("more than the upload lacks", owner.clone(), ticket.upload_id, 40, Some(61)),
        ("far more", owner.clone(), ticket.upload_id, 40, Some(200 << 20)),
    ];
    let mut answers = Vec::new();
    for (what, actor, upload, offset, length) in refusals {
        let polled = Arc::new(std::sync::atomic::AtomicBool::new(false));
        let e = app
            .media
            .append_upload(&actor, upload, offset, length, watched_body(polled.clone()))
            .await
            .unwrap_err();
        assert!(!polled.load(std::sync::atomic::Ordering::SeqCst), "{what}: the body was read");
        answers.push((what, e));
    }
    let kind = |e: &Error| match e {
        Error::Unauthenticated => "401".to_owned(),
        Error::NotFound(m) => format!("404 {m}"),
        Error::User(errors) => errors[0].code.as_str().to_owned(),
        other => format!("{other:?}"),
    };
    let kinds: Vec<(&str, String)> = answers.iter().map(|(w, e)| (*w, kind(e))).collect();
    let not_found = kind(&Error::not_found("upload"));
    assert_eq!(
        kinds,
        [
            ("anonymous", "401".to_owned()),
            // A stranger's upload answers exactly as one that does not exist.
            ("a stranger", not_found.clone()),
            ("a missing upload", not_found),
            ("a wrong offset", "UPLOAD_OFFSET_MISMATCH".to_owned()),
            ("more than the upload lacks", "TOO_LARGE".to_owned()),
            ("far more", "TOO_LARGE".to_owned()),
        ]
    );
    let staged = app.data_dir.join("uploads").join(format!("{}.part", ticket.upload_id));
    assert_eq!(std::fs::metadata(&staged).unwrap().len(), 40, "nothing more reached the disk");
    assert_eq!(app.media.upload_progress(&owner, ticket.upload_id).await.unwrap().offset, 40);

    // Exactly what it lacks is taken.
    let p = app
        .media
        .append_upload(&owner, ticket.upload_id, 40, Some(60), body(vec![vec![7; 60]]))
        .await
        .unwrap();
    assert_eq!((p.offset, p.expires_at), (100, None));
}

#[tokio::test]
async fn an_abandoned_upload_expires_its_bytes_go_and_its_watchers_end() {
    let app = app().await;
    let owner = user(1);
    let bytes = std::fs::read(&fixtures().v360).unwrap();
    let hours = |h: u64| Duration::from_secs(h * 3600);
    let ticket = app
        .media
        .create_upload(
            &owner,
            CreateUploadInput { details: details("Abandoned"), size_bytes: bytes.len() as u64, filename: None },
        )
        .await
        .unwrap();
    assert_eq!(ticket.expires_at, app.clock.now() + chrono::Duration::hours(24));
    // Never sent a byte: expires too.
    let idle = app
        .media
        .create_upload(&owner, CreateUploadInput { details: details("Idle"), size_bytes: 10, filename: None })
        .await
        .unwrap();

    app.clock.advance(hours(20));
    let third = bytes.len() / 3;
    let p = app
        .media
        .append_upload(&owner, ticket.upload_id, 0, None, body(vec![bytes[..third].to_vec()]))
        .await
        .unwrap();
    // Bytes came: the expiry moves to a day from now.
    assert_eq!(p.expires_at, Some(app.clock.now() + chrono::Duration::hours(24)));
    assert_eq!(app.media.upload_progress(&owner, ticket.upload_id).await.unwrap().expires_at, p.expires_at);

    let watcher = app.media.watch_processing(&owner, ticket.video.id).await.unwrap();
    assert_eq!(app.hub.topic_count(), 1);

    app.clock.advance(hours(5));
    // 25 h after creation: the idle one goes; the other got bytes 5 h ago.
    assert_eq!(app.media.expire_abandoned_uploads().await.unwrap(), 1);
    let idle_video = app.video(&owner, idle.video.id).await.unwrap();
    assert_eq!((idle_video.status, idle_video.failure_code), (VideoStatus::Failed, Some(VideoFailureCode::UploadExpired)));
    assert_eq!(app.video(&owner, ticket.video.id).await.unwrap().status, VideoStatus::Uploading);

    app.clock.advance(hours(19) + Duration::from_secs(1));
    assert_eq!(app.media.expire_abandoned_uploads().await.unwrap(), 1);
    assert_eq!(app.media.expire_abandoned_uploads().await.unwrap(), 0, "once only");

    let video = app.video(&owner, ticket.video.id).await.unwrap();
    assert_eq!(video.status, VideoStatus::Failed);
    assert_eq!(video.failure_code, Some(VideoFailureCode::UploadExpired));
    let reason = video.failure_reason.clone().unwrap();
    assert!(reason.contains("no bytes arrived for 24 hours"), "{reason}");
    assert!(app.files_under("uploads").is_empty(), "its bytes are gone");

    // The watcher saw it end, and its stream completed.
    let seen: Vec<ProcessingUpdate> = tokio::time::timeout(Duration::from_secs(10), watcher.collect())
        .await
        .expect("the watcher's stream must complete");
    let last = seen.last().unwrap();
    assert_eq!((last.status, last.failure_code), (VideoStatus::Failed, Some(VideoFailureCode::UploadExpired)));
    assert_eq!(app.hub.topic_count(), 0);

    // It cannot go on; HEAD says so too.
    for e in [
        app.media.upload_progress(&owner, ticket.upload_id).await.unwrap_err(),
        app.media
            .append_upload(&owner, ticket.upload_id, third as u64, None, body(vec![bytes[third..].to_vec()]))
            .await
            .unwrap_err(),
    ] {
        assert_eq!(user_error(e).1, UserErrorCode::Expired);
    }
    assert!(app.files_under("uploads").is_empty());
    assert_eq!(
        app.event_kinds().await,
        ["media.video_processed", "media.video_processed"],
        "each video's end is an event"
    );
}

#[tokio::test]
async fn an_upload_past_its_expiry_is_expired_when_touched_before_any_sweep() {
    let app = app().await;
    let owner = user(1);
    let ticket = app
        .media
        .create_upload(&owner, CreateUploadInput { details: details("Late"), size_bytes: 100, filename: None })
        .await
        .unwrap();
    app.media
        .append_upload(&owner, ticket.upload_id, 0, None, body(vec![vec![1; 10]]))
        .await
        .unwrap();
    app.clock.advance(Duration::from_secs(24 * 3600));
    let polled = Arc::new(std::sync::atomic::AtomicBool::new(false));
    let e = app
        .media
        .append_upload(&owner, ticket.upload_id, 10, Some(90), watched_body(polled.clone()))
        .await
        .unwrap_err();
    assert_eq!(user_error(e).1, UserErrorCode::Expired);
    assert!(!polled.load(std::sync::atomic::Ordering::SeqCst));
    let video = app.video(&owner, ticket.video.id).await.unwrap();
    assert_eq!(video.failure_code, Some(VideoFailureCode::UploadExpired));
    assert!(app.files_under("uploads").is_empty());
    assert_eq!(app.media.expire_abandoned_uploads().await.unwrap(), 0);
}

#[tokio::test]
async fn only_the_owner_watches_and_anyone_else_sees_no_such_video() {
    let app = app().await;
    let owner = user(1);
    let ticket = app
        .media
        .create_upload(&owner, CreateUploadInput { details: details("Mine"), size_bytes: 10, filename: None })
        .await
        .unwrap();
    let id = ticket.video.id;

    let stranger = app.media.watch_processing(&user(2), id).await.err().unwrap();
    let missing = app.media.watch_processing(&user(2), VideoId(id.0 + 1000)).await.err().unwrap();
    assert!(matches!(stranger, Error::NotFound(_)), "{stranger:?}");
    assert_eq!(format!("{stranger:?}"), format!("{missing:?}"), "the same answer");
    assert!(matches!(
        app.media.watch_processing(&Actor::Anonymous, id).await.err().unwrap(),
        Error::Unauthenticated
    ));
    assert_eq!(app.hub.topic_count(), 0, "nothing subscribed for a refused watcher");

    // The owner's watchers share one topic, freed when the last one leaves.
    let first = app.media.watch_processing(&owner, id).await.unwrap();
    let second = app.media.watch_processing(&owner, id).await.unwrap();
    assert_eq!(app.hub.topic_count(), 1);
    drop(first);
    assert_eq!(app.hub.topic_count(), 1);
    drop(second);
    assert_eq!(app.hub.topic_count(), 0);

    // A finished video answers with its state and subscribes nothing.
    let ready = app.ready_video(1, &fixtures().v360).await;
    let done: Vec<ProcessingUpdate> = app.media.watch_processing(&owner, ready.id).await.unwrap().collect().await;
    assert_eq!(done.len(), 1);
    assert_eq!(done[0].status, VideoStatus::Ready);
    assert_eq!(app.hub.topic_count(), 0);
}

// ---------------------------------------------------------------------------------------------
// Rate limits (the shared limiter, `kanjian_db::rate_limit`, on the manual clock)

fn rate_limited<T: std::fmt::Debug>(result: Result<T>) -> u64 {
    match result {
        Err(Error::RateLimited { retry_after_secs }) => retry_after_secs,
        other => panic!("expected RateLimited, got {other:?}"),
    }
}

impl App {
    /// Everything starting an upload writes: videos, uploads, staged files and events.
    async fn upload_fingerprint(&self) -> (i64, i64, Vec<String>, Vec<String>) {
        (
            self.count("media_videos").await,
            self.count("media_uploads").await,
            self.files_under("uploads"),
            self.event_kinds().await,
        )
    }
}

#[tokio::test]
async fn uploads_started_per_user_are_rate_limited_write_nothing_and_come_back() {
    assert_eq!(MediaConfig::default().uploads_per_user, [kanjian_db::Rate::new(20, 3600)]);
    let app = app().await;
    let input = |n: u32| CreateUploadInput { details: details(&format!("Clip {n}")), size_bytes: 1000, filename: None };
    for n in 0..20 {
        app.media.create_upload(&user(1), input(n)).await.unwrap();
    }
    let before = app.upload_fingerprint().await;
    // One of the 20 an hour refills every 180 s.
    assert_eq!(rate_limited(app.media.create_upload(&user(1), input(20)).await), 180);
    // A one-request upload is an upload too.
    assert_eq!(rate_limited(app.media.upload_video(&user(1), details("Whole"), spooled(&fixtures().v360)).await), 180);
    assert_eq!(app.upload_fingerprint().await, before, "a refused upload writes nothing");
    // Another uploader is not held back.
    app.media.create_upload(&user(2), input(0)).await.unwrap();
    app.clock.advance(Duration::from_secs(180));
    app.media.create_upload(&user(1), input(20)).await.unwrap();
    assert!(app.media.create_upload(&user(1), input(21)).await.is_err());
    assert_eq!(app.count("media_uploads").await, 22);
}

#[tokio::test]
async fn the_bytes_a_user_uploads_are_limited_as_the_uploads_start() {
    assert_eq!(MediaConfig::default().upload_bytes_per_user, [kanjian_db::Rate::new(50 << 30, 86_400)]);
    let app = app_with(|c| c.upload_bytes_per_user = vec![kanjian_db::Rate::new(30 << 20, 86_400)]).await;
    let input = |size: u64| CreateUploadInput { details: details("Big"), size_bytes: size, filename: None };
    app.media.create_upload(&user(1), input(20 << 20)).await.unwrap();
    let before = app.upload_fingerprint().await;
    // 20 + 20 MiB > 30 MiB: wait until 10 MiB have refilled (a third of the day).
    assert_eq!(rate_limited(app.media.create_upload(&user(1), input(20 << 20)).await), 28_800);
    assert_eq!(app.upload_fingerprint().await, before);
    // What still fits goes through.
    app.media.create_upload(&user(1), input(10 << 20)).await.unwrap();
    app.clock.advance(Duration::from_secs(86_400));
    app.media.create_upload(&user(1), input(20 << 20)).await.unwrap();
    assert_eq!(app.count("media_uploads").await, 3);
}
