//! Tests of the Kanjian patches (see README.md), driving a `Connection` over an in-memory
//! duplex with a scripted client. Time is paused, so timeouts elapse at once and exactly.

use std::collections::HashMap;
use std::sync::Arc;
use std::time::Duration;

use bytes::{Bytes, BytesMut};
use tokio::io::{AsyncReadExt, AsyncWriteExt, DuplexStream};
use tokio::sync::watch;

use crate::amf::AmfValue;
use crate::error::{Error, HandshakeError};
use crate::media::FlvTag;
use crate::protocol::chunk::{ChunkDecoder, ChunkEncoder, RtmpChunk};
use crate::protocol::constants::*;
use crate::protocol::handshake::{Handshake, HandshakeRole};
use crate::protocol::message::{Command, RtmpMessage};
use crate::server::config::ServerConfig;
use crate::server::connection::Connection;
use crate::server::handler::{MediaVerdict, RtmpHandler};
use crate::session::StreamContext;

/// Accepts every publish; refuses a video tag whose first byte is 0x90 (an enhanced HEVC tag).
struct Gate;

impl RtmpHandler for Gate {
    async fn on_media_tag(&self, _ctx: &StreamContext, tag: &FlvTag) -> MediaVerdict {
        if tag.data.first() == Some(&0x90) {
            MediaVerdict::Reject("unsupported codec hvc1".into())
        } else {
            MediaVerdict::Accept
        }
    }
}

/// Takes 20 s over a video tag whose first byte is 0x27: a consumer (the packager) that stopped
/// reading for a while.
struct SlowGate;

impl RtmpHandler for SlowGate {
    async fn on_media_tag(&self, _ctx: &StreamContext, tag: &FlvTag) -> MediaVerdict {
        if tag.data.first() == Some(&0x27) {
            tokio::time::sleep(Duration::from_secs(20)).await;
        }
        MediaVerdict::Accept
    }
}

fn config() -> ServerConfig {
    ServerConfig {
        connection_timeout: Duration::from_secs(5),
        idle_timeout: Duration::from_secs(5),
        ..ServerConfig::default()
    }
}

fn start(
    config: ServerConfig,
) -> (
    DuplexStream,
    watch::Sender<Option<String>>,
    tokio::task::JoinHandle<crate::error::Result<()>>,
) {
    start_with(config, Gate)
}

fn start_with<H: RtmpHandler + 'static>(
    config: ServerConfig,
    handler: H,
) -> (
    DuplexStream,
    watch::Sender<Option<String>>,
    tokio::task::JoinHandle<crate::error::Result<()>>,
) {
    let (client, server) = tokio::io::duplex(1 << 20);
    let (close, closed) = watch::channel(None);
    let task = tokio::spawn(async move {
        let peer = "127.0.0.1:1".parse().unwrap();
        let mut connection = Connection::new(1, server, peer, config, Arc::new(handler), None);
        connection.set_close_signal(closed);
        connection.run().await
    });
    (client, close, task)
}

/// The client half: handshake, commands in, messages out.
struct Client {
    io: DuplexStream,
    encoder: ChunkEncoder,
    decoder: ChunkDecoder,
    inbox: BytesMut,
}

impl Client {
    async fn handshake(mut io: DuplexStream) -> Client {
        let mut handshake = Handshake::new(HandshakeRole::Client);
        let c0c1 = handshake.generate_initial().unwrap();
        io.write_all(&c0c1).await.unwrap();
        let mut s0s1s2 = vec![0u8; 1 + 1536 * 2];
        io.read_exact(&mut s0s1s2).await.unwrap();
        let c2 = handshake
            .process(&mut Bytes::from(s0s1s2))
            .unwrap()
            .unwrap();
        io.write_all(&c2).await.unwrap();
        Client {
            io,
            encoder: ChunkEncoder::new(),
            decoder: ChunkDecoder::new(),
            inbox: BytesMut::new(),
        }
    }

    async fn send(&mut self, csid: u32, stream_id: u32, timestamp: u32, message: RtmpMessage) {
        let (message_type, payload) = message.encode();
        let mut out = BytesMut::new();
        self.encoder.encode(
            &RtmpChunk {
                csid,
                timestamp,
                message_type,
                stream_id,
                payload,
            },
            &mut out,
        );
        self.io.write_all(&out).await.unwrap();
    }

    async fn command(&mut self, stream_id: u32, name: &str, tx: f64, args: Vec<AmfValue>) {
        let object = if name == CMD_CONNECT {
            let mut o = HashMap::new();
            o.insert("app".to_string(), AmfValue::String("live".into()));
            AmfValue::Object(o)
        } else {
            AmfValue::Null
        };
        let command = Command {
            name: name.into(),
            transaction_id: tx,
            command_object: object,
            arguments: args,
            stream_id,
        };
        self.send(CSID_COMMAND, stream_id, 0, RtmpMessage::Command(command))
            .await;
    }

    /// The next message from the server, or `None` once it closed.
    async fn receive(&mut self) -> Option<RtmpMessage> {
        loop {
            if let Some(chunk) = self.decoder.decode(&mut self.inbox).unwrap() {
                let message = RtmpMessage::from_chunk(&chunk).unwrap();
                if let RtmpMessage::SetChunkSize(size) = message {
                    self.decoder.set_chunk_size(size);
                }
                return Some(message);
            }
            if self.io.read_buf(&mut self.inbox).await.unwrap_or(0) == 0 {
                return None;
            }
        }
    }

    /// Waits for the `onStatus` the server sends and returns (level, code, description).
    async fn status(&mut self) -> (String, String, String) {
        while let Some(message) = self.receive().await {
            if let RtmpMessage::Command(c) = message {
                if c.name == CMD_ON_STATUS {
                    let info = &c.arguments[0];
                    let field = |k: &str| info.get_string(k).unwrap_or_default().to_string();
                    return (field("level"), field("code"), field("description"));
                }
            }
        }
        panic!("the server closed without an onStatus");
    }

    /// connect, createStream and publish, as ffmpeg and OBS do; returns the stream id.
    async fn publish(&mut self, key: &str) -> u32 {
        self.command(0, CMD_CONNECT, 1.0, vec![]).await;
        self.command(0, CMD_CREATE_STREAM, 2.0, vec![]).await;
        let mut stream_id = None;
        while stream_id.is_none() {
            if let Some(RtmpMessage::Command(c)) = self.receive().await {
                if c.name == CMD_RESULT && c.transaction_id == 2.0 {
                    stream_id = c.arguments[0].as_number();
                }
            }
        }
        let stream_id = stream_id.unwrap() as u32;
        let args = vec![AmfValue::String(key.into()), AmfValue::String("live".into())];
        self.command(stream_id, CMD_PUBLISH, 3.0, args).await;
        let (level, code, _) = self.status().await;
        assert_eq!((level.as_str(), code.as_str()), ("status", NS_PUBLISH_START));
        stream_id
    }

    async fn video(&mut self, stream_id: u32, timestamp: u32, data: &'static [u8]) {
        let message = RtmpMessage::Video {
            timestamp,
            data: Bytes::from_static(data),
        };
        self.send(CSID_VIDEO, stream_id, timestamp, message).await;
    }
}

#[tokio::test(start_paused = true)]
async fn garbage_instead_of_a_handshake_is_refused_at_c0() {
    let (mut client, _close, task) = start(config());
    client.write_all(b"GET / HTTP/1.1\r\n\r\n").await.unwrap();
    client.write_all(&[0u8; 1600]).await.unwrap();
    let e = task.await.unwrap().unwrap_err();
    assert!(
        matches!(e, Error::Handshake(HandshakeError::InvalidVersion(b'G'))),
        "{e}"
    );
}

#[tokio::test(start_paused = true)]
async fn a_half_handshake_times_out_with_a_setup_timeout() {
    let (mut client, _close, task) = start(config());
    let mut handshake = Handshake::new(HandshakeRole::Client);
    client
        .write_all(&handshake.generate_initial().unwrap())
        .await
        .unwrap();
    let started = tokio::time::Instant::now();
    let e = task.await.unwrap().unwrap_err();
    assert!(matches!(e, Error::SetupTimeout(_)), "{e}");
    assert_eq!(started.elapsed(), Duration::from_secs(5));
}

/// The setup deadline also covers connect to publish: a client that completes the handshake
/// and then says nothing is not kept forever.
#[tokio::test(start_paused = true)]
async fn a_connection_that_never_publishes_times_out() {
    let (client, _close, task) = start(config());
    let _client = Client::handshake(client).await;
    let e = task.await.unwrap().unwrap_err();
    assert!(matches!(e, Error::SetupTimeout(_)), "{e}");
}

#[tokio::test(start_paused = true)]
async fn a_publisher_that_stops_sending_media_times_out_as_idle() {
    let (client, _close, task) = start(config());
    let mut client = Client::handshake(client).await;
    let stream_id = client.publish("key").await;
    client.video(stream_id, 0, &[0x17, 0x01, 0, 0, 0]).await;
    let sent_last = tokio::time::Instant::now();
    let e = task.await.unwrap().unwrap_err();
    assert!(matches!(e, Error::IdleTimeout(_)), "{e}");
    assert_eq!(sent_last.elapsed(), Duration::from_secs(5));
}

/// A handler that waits on its consumer does not make a publisher that kept sending look idle
/// (found by the live benchmark: a stalled packager ended healthy publishers).
#[tokio::test(start_paused = true)]
async fn a_handler_that_waits_does_not_make_a_sending_publisher_idle() {
    let (client, _close, task) = start_with(config(), SlowGate);
    let mut client = Client::handshake(client).await;
    let stream_id = client.publish("key").await;
    client.video(stream_id, 0, &[0x17, 0x01, 0, 0, 0]).await;
    // The handler waits 20 s on this one while the publisher goes on sending every second.
    client.video(stream_id, 40, &[0x27, 0x01, 0, 0, 0]).await;
    for i in 1..=30u32 {
        tokio::time::sleep(Duration::from_secs(1)).await;
        client.video(stream_id, 40 + i * 1000, &[0x17, 0x01, 0, 0, 0]).await;
    }
    assert!(!task.is_finished(), "ended though the publisher kept sending: {:?}", task.await);
    // Once it stops, the idle timeout still applies.
    let e = task.await.unwrap().unwrap_err();
    assert!(matches!(e, Error::IdleTimeout(_)), "{e}");
}

/// Only audio and video count: a publisher that sends other messages (here acknowledgements,
/// every second) still times out as idle.
#[tokio::test(start_paused = true)]
async fn a_publisher_sending_no_media_but_other_messages_times_out_as_idle() {
    let (client, _close, task) = start(config());
    let mut client = Client::handshake(client).await;
    client.publish("key").await;
    let published = tokio::time::Instant::now();
    let chatter = tokio::spawn(async move {
        for sequence in 0..20 {
            tokio::time::sleep(Duration::from_secs(1)).await;
            let ack = RtmpMessage::Acknowledgement { sequence };
            client.send(CSID_PROTOCOL_CONTROL, 0, 0, ack).await;
        }
    });
    let e = task.await.unwrap().unwrap_err();
    assert!(matches!(e, Error::IdleTimeout(_)), "{e}");
    let waited = published.elapsed();
    assert!(waited <= Duration::from_secs(6), "ended after {waited:?}");
    chatter.abort();
}

#[tokio::test(start_paused = true)]
async fn a_rejected_media_tag_sends_an_error_status_then_closes() {
    let (client, _close, task) = start(config());
    let mut client = Client::handshake(client).await;
    let stream_id = client.publish("key").await;
    client.video(stream_id, 0, &[0x90, b'h', b'v', b'c', b'1']).await;
    let (level, code, description) = client.status().await;
    assert_eq!(level, "error");
    assert_eq!(code, NS_PUBLISH_BAD_NAME);
    assert_eq!(description, "unsupported codec hvc1");
    assert!(client.receive().await.is_none(), "the server must close");
    let e = task.await.unwrap().unwrap_err();
    assert!(matches!(e, Error::Rejected(ref r) if r == "unsupported codec hvc1"), "{e}");
}

#[tokio::test(start_paused = true)]
async fn the_close_signal_ends_a_publish_with_its_reason() {
    let (client, close, task) = start(config());
    let mut client = Client::handshake(client).await;
    client.publish("key").await;
    close.send_replace(Some("the creator ended the live".into()));
    let (level, _, description) = client.status().await;
    assert_eq!(level, "error");
    assert_eq!(description, "the creator ended the live");
    let e = task.await.unwrap().unwrap_err();
    assert!(matches!(e, Error::Closed(_)), "{e}");
}

/// Without a registry the application decides exclusivity: two connections may publish the
/// same key (upstream refused the second with "Stream already publishing").
#[tokio::test(start_paused = true)]
async fn without_a_registry_two_publishers_of_one_key_are_both_accepted() {
    let (first, _c1, _t1) = start(config());
    let (second, _c2, _t2) = start(config());
    Client::handshake(first).await.publish("key").await;
    Client::handshake(second).await.publish("key").await;
}

/// OBS sends Set Chunk Size 4096 before connect; a connect larger than 128 bytes then comes in
/// one chunk.
#[tokio::test(start_paused = true)]
async fn set_chunk_size_before_connect_is_honoured() {
    let (client, _close, task) = start(config());
    let mut client = Client::handshake(client).await;
    client
        .send(CSID_PROTOCOL_CONTROL, 0, 0, RtmpMessage::SetChunkSize(4096))
        .await;
    client.encoder.set_chunk_size(4096);
    let mut object = HashMap::new();
    object.insert("app".to_string(), AmfValue::String("live".into()));
    object.insert("tcUrl".to_string(), AmfValue::String("x".repeat(300)));
    let connect = Command {
        name: CMD_CONNECT.into(),
        transaction_id: 1.0,
        command_object: AmfValue::Object(object),
        arguments: vec![],
        stream_id: 0,
    };
    client
        .send(CSID_COMMAND, 0, 0, RtmpMessage::Command(connect))
        .await;
    loop {
        match client.receive().await {
            Some(RtmpMessage::Command(c)) if c.name == CMD_RESULT => break,
            Some(_) => {}
            None => panic!("closed: {:?}", task.await),
        }
    }
}
