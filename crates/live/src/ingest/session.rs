//! One RTMP connection: the fork's callbacks, answered with the gate's decision and fed to the
//! packager.

use std::collections::HashMap;
use std::net::SocketAddr;
use std::sync::Arc;

use rtmp_rs::amf::AmfValue;
use rtmp_rs::media::FlvTag;
use rtmp_rs::protocol::message::{ConnectParams, PlayParams, PublishParams};
use rtmp_rs::server::handler::{MediaDeliveryMode, MediaVerdict};
use rtmp_rs::session::{SessionContext, StreamContext};
use rtmp_rs::{AuthResult, RtmpHandler};
use tokio::sync::Mutex;

use super::flv::{self, Inspected};
use super::gate::{EndReason, PublishGate, PublishRequest, PublishSink, SessionControl};
use super::packager::{Packager, PackagerSettings, SegmentingPackager, SourceMetadata};

pub(crate) struct Session {
    gate: Arc<dyn PublishGate>,
    control: SessionControl,
    peer: SocketAddr,
    settings: PackagerSettings,
    publishing: Mutex<Option<Publishing>>,
}

struct Publishing {
    sink: Arc<dyn PublishSink>,
    packager: Box<dyn Packager>,
}

impl Session {
    pub(crate) fn new(
        gate: Arc<dyn PublishGate>,
        control: SessionControl,
        peer: SocketAddr,
        settings: PackagerSettings,
    ) -> Self {
        Self {
            gate,
            control,
            peer,
            settings,
            publishing: Mutex::new(None),
        }
    }

    /// After the connection ended: flush the packager, then tell the sink why it ended.
    #[tracing::instrument(skip_all, fields(session = self.control.id(), peer = %self.peer))]
    pub(crate) async fn finish(&self, result: rtmp_rs::Result<()>) {
        let Some(Publishing { sink, packager }) = self.publishing.lock().await.take() else {
            if let Err(e) = result {
                tracing::debug!(error = %e, "connection ended before publishing");
            }
            return;
        };
        let why = match result {
            Ok(()) => EndReason::PublisherClosed,
            Err(rtmp_rs::Error::Closed(reason)) => self
                .control
                .close_reason()
                .unwrap_or(EndReason::ClosedByGate(reason)),
            Err(rtmp_rs::Error::IdleTimeout(_)) => EndReason::IdleTimeout,
            Err(rtmp_rs::Error::Rejected(reason)) => EndReason::Error(reason),
            // A publisher that exits with our acknowledgements still unread makes its kernel
            // answer with a reset rather than a FIN (ffmpeg does this after `deleteStream`):
            // that is the publisher closing, not a failure.
            Err(rtmp_rs::Error::Io(e))
                if matches!(
                    e.kind(),
                    std::io::ErrorKind::ConnectionReset
                        | std::io::ErrorKind::ConnectionAborted
                        | std::io::ErrorKind::BrokenPipe
                        | std::io::ErrorKind::UnexpectedEof
                ) =>
            {
                EndReason::PublisherClosed
            }
            Err(e) => EndReason::Error(e.to_string()),
        };
        tracing::info!(?why, "publish ended");
        packager.finish().await;
        sink.ended(why).await;
    }
}

impl RtmpHandler for Session {
    async fn on_connect(&self, _ctx: &SessionContext, _params: &ConnectParams) -> AuthResult {
        AuthResult::Accept
    }

    #[tracing::instrument(skip_all, fields(session = self.control.id(), app = %ctx.app, peer = %self.peer))]
    async fn on_publish(&self, ctx: &SessionContext, params: &PublishParams) -> AuthResult {
        let mut publishing = self.publishing.lock().await;
        if publishing.is_some() {
            return AuthResult::Reject("this connection is already publishing".into());
        }
        let request = PublishRequest {
            app: ctx.app.clone(),
            stream_key: params.stream_key.clone(),
            peer: self.peer,
        };
        match self.gate.authorize(request, self.control.clone()).await {
            Ok(sink) => {
                let sink: Arc<dyn PublishSink> = Arc::from(sink);
                let packager = Box::new(SegmentingPackager::new(
                    self.settings.clone(),
                    sink.clone(),
                ));
                *publishing = Some(Publishing { sink, packager });
                tracing::info!("publish accepted");
                AuthResult::Accept
            }
            Err(refusal) => {
                tracing::info!(reason = %refusal.description, "publish refused");
                AuthResult::Reject(refusal.description)
            }
        }
    }

    async fn on_play(&self, _ctx: &SessionContext, _params: &PlayParams) -> AuthResult {
        AuthResult::Reject("this server takes publishers only; watch over HLS".into())
    }

    async fn on_metadata(&self, _ctx: &StreamContext, metadata: &HashMap<String, AmfValue>) {
        let number = |k: &str| metadata.get(k).and_then(AmfValue::as_number);
        if let Some(p) = self.publishing.lock().await.as_mut() {
            p.packager.metadata(SourceMetadata {
                width: number("width").map(|w| w as u32),
                height: number("height").map(|h| h as u32),
                fps: number("framerate").or_else(|| number("videoframerate")),
            });
        }
    }

    async fn on_media_tag(&self, _ctx: &StreamContext, tag: &FlvTag) -> MediaVerdict {
        self.control.media_arrived();
        let mut publishing = self.publishing.lock().await;
        let Some(p) = publishing.as_mut() else {
            return MediaVerdict::Accept;
        };
        match flv::inspect(tag) {
            Inspected::Skip => MediaVerdict::Accept,
            Inspected::Refuse(reason) => {
                tracing::info!(session = self.control.id(), %reason, "stream refused");
                p.sink.notice(format!("stream refused: {reason}")).await;
                MediaVerdict::Reject(reason)
            }
            Inspected::Media(tag) => match p.packager.push(tag).await {
                Ok(()) => MediaVerdict::Accept,
                Err(e) => MediaVerdict::Reject(format!("{e:#}")),
            },
        }
    }

    fn media_delivery_mode(&self) -> MediaDeliveryMode {
        MediaDeliveryMode::RawFlv
    }
}
