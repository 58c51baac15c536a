//! RTMP ingest and live packaging: who may publish is decided by the room domain; this part
//! speaks RTMP and turns a publish session into LL-HLS parts and segments.
//!
//! [`RtmpIngest`] accepts RTMP connections (one task each, over the vendored `rtmp-rs` fork),
//! asks the [`PublishGate`] about each `publish` before any media is accepted, and packages an
//! accepted stream into fMP4 parts and segments that it hands to the gate's [`PublishSink`] in
//! order.

mod flv;
mod fmp4;
mod gate;
mod packager;
mod segmenter;
mod session;

use std::net::SocketAddr;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use anyhow::Context as _;
use rtmp_rs::ServerConfig;
use rtmp_rs::media::fourcc::{AudioFourCc, VideoFourCc};
use rtmp_rs::protocol::enhanced::FourCcCapability;
use rtmp_rs::server::config::EnhancedServerCapabilities;
use rtmp_rs::server::connection::Connection;
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::Semaphore;
use tokio_util::sync::CancellationToken;
use tokio_util::task::TaskTracker;

pub use gate::{
    EndReason, PackagedPart, PackagedSegment, PackagingMode, PublishGate, PublishRefusal, PublishRequest,
    PublishSink, SessionControl, StreamInfo,
};

/// The `[live.ingest]` settings.
#[derive(Debug, Clone, serde::Deserialize)]
#[serde(default)]
pub struct IngestConfig {
    /// Where RTMP publishers connect.
    pub listen: SocketAddr,
    /// The handshake, `connect`, `createStream` and `publish` must all fit in this; a socket
    /// that sends garbage or half a handshake is closed after it.
    pub setup_timeout_ms: u64,
    /// A publisher that sends no audio or video for this long is ended (`IdleTimeout`). ffmpeg
    /// and OBS send frames many times a second, so 5 s of nothing is a frozen or half-open
    /// publisher; ending it early starts the room's reconnect grace early, and the packager
    /// flushes what it had rather than holding a segment open.
    pub idle_timeout_ms: u64,
    /// Connections open at once; more are closed on accept.
    pub max_connections: usize,
    /// Run only for streams that are transcoded.
    pub ffmpeg: String,
    /// HLS segment length. Copy mode needs the publisher's keyframes at most this far apart.
    pub segment_seconds: u32,
    /// LL-HLS `PART-TARGET` in milliseconds: no part is longer. 334 holds ten frames at 30 fps
    /// (eight at 25), three parts to a second.
    pub part_target_ms: u32,
}

impl Default for IngestConfig {
    fn default() -> Self {
        Self {
            listen: SocketAddr::from(([0, 0, 0, 0], 1935)),
            setup_timeout_ms: 5_000,
            idle_timeout_ms: 5_000,
            max_connections: 200,
            ffmpeg: "ffmpeg".into(),
            segment_seconds: 1,
            part_target_ms: 334,
        }
    }
}

/// How long shutdown waits for sessions to flush their last segments.
const SHUTDOWN_GRACE: Duration = Duration::from_secs(25);

/// The RTMP listener.
pub struct RtmpIngest {
    config: IngestConfig,
    gate: Arc<dyn PublishGate>,
    listener: TcpListener,
    server: ServerConfig,
}

impl RtmpIngest {
    /// Binds the listening socket (port 0 picks a free one; see [`RtmpIngest::local_addr`]).
    pub async fn bind(config: IngestConfig, gate: Arc<dyn PublishGate>) -> anyhow::Result<Self> {
        let listener = TcpListener::bind(config.listen)
            .await
            .with_context(|| format!("cannot listen for RTMP on {}", config.listen))?;
        let server = ServerConfig {
            bind_addr: config.listen,
            connection_timeout: Duration::from_millis(config.setup_timeout_ms),
            idle_timeout: Duration::from_millis(config.idle_timeout_ms),
            max_connections: config.max_connections,
            // Nobody plays from this server: no GOP kept for late joiners.
            gop_buffer_enabled: false,
            // Advertised to publishers that negotiate enhanced RTMP: what we can package.
            enhanced_capabilities: EnhancedServerCapabilities {
                video_codecs: vec![(VideoFourCc::Avc, FourCcCapability::forward())],
                audio_codecs: vec![(AudioFourCc::Aac, FourCcCapability::forward())],
                ..EnhancedServerCapabilities::minimal()
            },
            ..ServerConfig::default()
        };
        Ok(Self {
            config,
            gate,
            listener,
            server,
        })
    }

    pub fn local_addr(&self) -> anyhow::Result<SocketAddr> {
        Ok(self.listener.local_addr()?)
    }

    /// Accepts connections until `shutdown`; then ends every session (its publisher is told,
    /// its last segments are delivered) and returns.
    #[tracing::instrument(skip_all, fields(listen = %self.config.listen))]
    pub async fn run(self, shutdown: CancellationToken) {
        let tracker = TaskTracker::new();
        let slots = Arc::new(Semaphore::new(self.config.max_connections));
        let next_id = AtomicU64::new(1);
        loop {
            let (socket, peer) = tokio::select! {
                () = shutdown.cancelled() => break,
                accepted = self.listener.accept() => match accepted {
                    Ok(accepted) => accepted,
                    Err(e) => {
                        // Out of descriptors and the like: the listener itself is fine.
                        tracing::warn!(error = %e, "accept failed");
                        tokio::time::sleep(Duration::from_millis(100)).await;
                        continue;
                    }
                },
            };
            let Ok(slot) = slots.clone().try_acquire_owned() else {
                tracing::warn!(%peer, "too many RTMP connections; closing a new one");
                continue;
            };
            let id = next_id.fetch_add(1, Ordering::Relaxed);
            let connection = self.connection(id, socket, peer, shutdown.clone());
            tracker.spawn(async move {
                connection.await;
                drop(slot);
            });
        }
        tracker.close();
        if tokio::time::timeout(SHUTDOWN_GRACE, tracker.wait())
            .await
            .is_err()
        {
            tracing::warn!("RTMP sessions still flushing at shutdown");
        }
    }

    fn connection(
        &self,
        id: u64,
        socket: TcpStream,
        peer: SocketAddr,
        shutdown: CancellationToken,
    ) -> impl Future<Output = ()> + Send + 'static {
        let control = SessionControl::new(id);
        let session = Arc::new(session::Session::new(
            self.gate.clone(),
            control.clone(),
            peer,
            packager::PackagerSettings {
                ffmpeg: self.config.ffmpeg.clone(),
                segment_seconds: self.config.segment_seconds.max(1),
                part_target_ms: self.config.part_target_ms.max(100),
            },
        ));
        let server = self.server.clone();
        serve(id, socket, peer, server, session, control, shutdown)
    }
}

/// One connection, start to end; its errors end it, never the listener.
#[tracing::instrument(skip_all, fields(session = id, %peer))]
async fn serve(
    id: u64,
    socket: TcpStream,
    peer: SocketAddr,
    server: ServerConfig,
    session: Arc<session::Session>,
    control: SessionControl,
    shutdown: CancellationToken,
) {
    // Media is small and frequent; no Nagle delay on our few replies either.
    let _ = socket.set_nodelay(true);
    let mut connection = Connection::new(id, socket, peer, server, session.clone(), None);
    connection.set_close_signal(control.watch());
    let run = connection.run();
    tokio::pin!(run);
    let result = tokio::select! {
        result = &mut run => result,
        () = shutdown.cancelled() => {
            control.shut_down();
            run.await
        }
    };
    session.finish(result).await;
}
