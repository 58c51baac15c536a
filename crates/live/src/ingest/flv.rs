//! FLV tags as ingest needs them: what a tag carries, the enhanced-RTMP tags we can turn back
//! into legacy ones, the ones we refuse, and the FLV byte stream ffmpeg reads (and, when it
//! transcodes, writes back).

use bytes::{Buf, BufMut, Bytes, BytesMut};
use rtmp_rs::media::flv::{FlvTag, FlvTagType};

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Track {
    Audio,
    Video,
}

/// A tag in legacy FLV form, ready for ffmpeg 5.1's demuxer.
#[derive(Debug, Clone)]
pub(crate) struct MediaTag {
    pub track: Track,
    pub timestamp: u32,
    /// The tag body (what follows the 11-byte FLV tag header).
    pub data: Bytes,
    /// A video frame ffmpeg can cut a segment at (not a sequence header).
    pub keyframe: bool,
    /// AVC or AAC sequence header (decoder configuration).
    pub sequence_header: bool,
    pub codec: &'static str,
}

/// What to do with an incoming tag.
#[derive(Debug)]
pub(crate) enum Inspected {
    Media(MediaTag),
    /// Carries nothing the packager needs (an enhanced metadata or command frame, an empty tag).
    Skip,
    /// A codec or feature we cannot package: the reason goes to the publisher.
    Refuse(String),
}

const ACCEPTED: &str = "this server takes H.264 video and AAC audio over RTMP; set the encoder to H.264 (x264) and AAC";

pub(crate) fn inspect(tag: &FlvTag) -> Inspected {
    let data = &tag.data;
    let Some(&first) = data.first() else {
        return Inspected::Skip;
    };
    match tag.tag_type {
        FlvTagType::Video if first & 0x80 != 0 => enhanced_video(tag.timestamp, data),
        FlvTagType::Video => {
            let codec_id = first & 0x0F;
            let frame_type = first >> 4;
            let sequence_header = codec_id == 7 && data.get(1) == Some(&0);
            Inspected::Media(MediaTag {
                track: Track::Video,
                timestamp: tag.timestamp,
                data: data.clone(),
                keyframe: frame_type == 1 && !sequence_header,
                sequence_header,
                codec: legacy_video_codec(codec_id),
            })
        }
        FlvTagType::Audio if first >> 4 == 9 => enhanced_audio(tag.timestamp, data),
        FlvTagType::Audio => {
            let format = first >> 4;
            Inspected::Media(MediaTag {
                track: Track::Audio,
                timestamp: tag.timestamp,
                data: data.clone(),
                keyframe: false,
                sequence_header: format == 10 && data.get(1) == Some(&0),
                codec: legacy_audio_codec(format),
            })
        }
        FlvTagType::Script => Inspected::Skip,
    }
}

fn legacy_video_codec(id: u8) -> &'static str {
    match id {
        2 => "flv1",
        3 => "flashsv",
        4 => "vp6f",
        5 => "vp6a",
        6 => "flashsv2",
        7 => "h264",
        _ => "unknown",
    }
}

fn legacy_audio_codec(format: u8) -> &'static str {
    match format {
        0 | 3 => "pcm",
        1 => "adpcm",
        2 | 14 => "mp3",
        4..=6 => "nellymoser",
        7 | 8 => "g711",
        10 => "aac",
        11 => "speex",
        _ => "unknown",
    }
}

/// E-RTMP video: `[IsExHeader|FrameType(3)|PacketType(4)] [FourCC(4)] body`. `avc1` becomes
/// a legacy AVC tag; any other FourCC is refused, since ffmpeg 5.1 cannot demux enhanced FLV.
fn enhanced_video(timestamp: u32, data: &Bytes) -> Inspected {
    let frame_type = (data[0] >> 4) & 0x07;
    let packet_type = data[0] & 0x0F;
    let Some(fourcc) = data.get(1..5) else {
        return Inspected::Refuse("a truncated enhanced RTMP video tag".into());
    };
    // Command frames and metadata (HDR colour info, as ffmpeg 6.1+ sends) carry no picture.
    if frame_type == 5 || packet_type == 4 {
        return Inspected::Skip;
    }
    if fourcc != b"avc1" {
        let name = String::from_utf8_lossy(fourcc);
        return Inspected::Refuse(format!("unsupported codec {name}: {ACCEPTED}"));
    }
    let legacy_first = (frame_type << 4) | 7;
    let (avc_packet_type, cts, body) = match packet_type {
        // SequenceStart: the AVCDecoderConfigurationRecord.
        0 => (0, [0u8; 3], data.slice(5..)),
        // CodedFrames: a 24-bit composition time offset, then NAL units.
        1 if data.len() >= 8 => (1, [data[5], data[6], data[7]], data.slice(8..)),
        // CodedFramesX: composition time offset zero.
        3 => (1, [0u8; 3], data.slice(5..)),
        // SequenceEnd.
        2 => (2, [0u8; 3], Bytes::new()),
        other => {
            return Inspected::Refuse(format!(
                "enhanced RTMP video packet type {other} (multitrack or ModEx) is not supported: {ACCEPTED}"
            ));
        }
    };
    let mut legacy = BytesMut::with_capacity(5 + body.len());
    legacy.put_u8(legacy_first);
    legacy.put_u8(avc_packet_type);
    legacy.put_slice(&cts);
    legacy.put_slice(&body);
    let sequence_header = avc_packet_type == 0;
    Inspected::Media(MediaTag {
        track: Track::Video,
        timestamp,
        data: legacy.freeze(),
        keyframe: frame_type == 1 && !sequence_header,
        sequence_header,
        codec: "h264",
    })
}

/// E-RTMP audio: `[SoundFormat=9|PacketType(4)] [FourCC(4)] body`; `mp4a` becomes legacy AAC.
fn enhanced_audio(timestamp: u32, data: &Bytes) -> Inspected {
    let packet_type = data[0] & 0x0F;
    let Some(fourcc) = data.get(1..5) else {
        return Inspected::Refuse("a truncated enhanced RTMP audio tag".into());
    };
    if fourcc != b"mp4a" {
        let name = String::from_utf8_lossy(fourcc);
        return Inspected::Refuse(format!("unsupported audio codec {name}: {ACCEPTED}"));
    }
    let aac_packet_type = match packet_type {
        0 => 0, // SequenceStart: the AudioSpecificConfig
        1 => 1, // CodedFrames
        other => {
            return Inspected::Refuse(format!(
                "enhanced RTMP audio packet type {other} is not supported: {ACCEPTED}"
            ));
        }
    };
    let mut legacy = BytesMut::with_capacity(data.len() - 3);
    // AAC, 44 kHz, 16 bit, stereo: what FLV always declares for AAC (the real values are in
    // the AudioSpecificConfig).
    legacy.put_u8(0xAF);
    legacy.put_u8(aac_packet_type);
    legacy.put_slice(&data[5..]);
    Inspected::Media(MediaTag {
        track: Track::Audio,
        timestamp,
        data: legacy.freeze(),
        keyframe: false,
        sequence_header: aac_packet_type == 0,
        codec: "aac",
    })
}

/// The 13 bytes an FLV stream starts with: signature, version, which tracks, header size and
/// the first (zero) previous-tag size. ffmpeg's demuxer stops looking for more streams once
/// those declared here have appeared, so the first segment is not held back by probing.
pub(crate) fn file_header(audio: bool, video: bool) -> Bytes {
    let mut b = BytesMut::with_capacity(13);
    b.put_slice(b"FLV\x01");
    b.put_u8(if audio { 4 } else { 0 } | if video { 1 } else { 0 });
    b.put_u32(9);
    b.put_u32(0);
    b.freeze()
}

/// One FLV tag with its trailing previous-tag size.
pub(crate) fn encode_tag(tag: &MediaTag, out: &mut BytesMut) {
    let size = tag.data.len() as u32;
    out.reserve(15 + tag.data.len());
    out.put_u8(match tag.track {
        Track::Audio => 8,
        Track::Video => 9,
    });
    out.put_uint(u64::from(size & 0x00FF_FFFF), 3);
    // Lower 24 bits, then the upper 8 ("TimestampExtended").
    out.put_uint(u64::from(tag.timestamp & 0x00FF_FFFF), 3);
    out.put_u8((tag.timestamp >> 24) as u8);
    out.put_uint(0, 3);
    out.put_slice(&tag.data);
    out.put_u32(11 + size);
}

/// Reads tags back out of an FLV byte stream, as it comes (ffmpeg's output when transcoding).
#[derive(Default)]
pub(crate) struct FlvReader {
    buf: BytesMut,
    header_read: bool,
}

impl FlvReader {
    pub(crate) fn extend(&mut self, bytes: &[u8]) {
        self.buf.extend_from_slice(bytes);
    }

    /// The next complete audio or video tag, if one is buffered (script tags are skipped).
    pub(crate) fn next_tag(&mut self) -> anyhow::Result<Option<FlvTag>> {
        if !self.header_read {
            if self.buf.len() < 9 {
                return Ok(None);
            }
            anyhow::ensure!(&self.buf[..3] == b"FLV", "not an FLV stream");
            // The header, then the first (zero) previous-tag size.
            let skip = u32::from_be_bytes([self.buf[5], self.buf[6], self.buf[7], self.buf[8]])
                as usize
                + 4;
            if self.buf.len() < skip {
                return Ok(None);
            }
            self.buf.advance(skip);
            self.header_read = true;
        }
        loop {
            if self.buf.len() < 11 {
                return Ok(None);
            }
            let size = u32::from_be_bytes([0, self.buf[1], self.buf[2], self.buf[3]]) as usize;
            if self.buf.len() < 11 + size + 4 {
                return Ok(None);
            }
            let kind = self.buf[0];
            let timestamp =
                u32::from_be_bytes([self.buf[7], self.buf[4], self.buf[5], self.buf[6]]);
            self.buf.advance(11);
            let body = self.buf.split_to(size).freeze();
            self.buf.advance(4);
            match kind {
                8 => return Ok(Some(FlvTag::audio(timestamp, body))),
                9 => return Ok(Some(FlvTag::video(timestamp, body))),
                _ => {}
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn video(data: &'static [u8]) -> FlvTag {
        FlvTag::video(1000, Bytes::from_static(data))
    }

    #[test]
    fn an_avc1_ex_header_becomes_a_legacy_avc_tag() {
        // Keyframe, CodedFrames, "avc1", CTS 0x000102, one NAL byte.
        let Inspected::Media(tag) = inspect(&video(b"\x91avc1\x00\x01\x02\x65")) else {
            panic!("not media");
        };
        assert_eq!(&tag.data[..], b"\x17\x01\x00\x01\x02\x65");
        assert!(tag.keyframe && !tag.sequence_header);
        assert_eq!(tag.codec, "h264");

        // SequenceStart keeps the configuration record, CodedFramesX gets CTS 0.
        let Inspected::Media(tag) = inspect(&video(b"\x90avc1\x01\x64")) else {
            panic!("not media");
        };
        assert_eq!(&tag.data[..], b"\x17\x00\x00\x00\x00\x01\x64");
        assert!(tag.sequence_header && !tag.keyframe);
        let Inspected::Media(tag) = inspect(&video(b"\xa3avc1\x41")) else {
            panic!("not media");
        };
        assert_eq!(&tag.data[..], b"\x27\x01\x00\x00\x00\x41");
        assert!(!tag.keyframe);
    }

    #[test]
    fn hevc_av1_and_vp9_are_refused_by_name() {
        for (tag, name) in [
            (&b"\x90hvc1\x01"[..], "hvc1"),
            (b"\x90av01\x01", "av01"),
            (b"\x90vp09\x01", "vp09"),
        ] {
            match inspect(&FlvTag::video(0, Bytes::copy_from_slice(tag))) {
                Inspected::Refuse(why) => assert!(why.contains(name), "{why}"),
                other => panic!("{name}: {other:?}"),
            }
        }
        // ffmpeg 6.1+ sends a metadata frame (0xd4) before HEVC: nothing to refuse yet.
        assert!(matches!(inspect(&video(b"\xd4hvc1\x02")), Inspected::Skip));
    }

    #[test]
    fn enhanced_aac_becomes_legacy_and_opus_is_refused() {
        let tag = FlvTag::audio(5, Bytes::from_static(b"\x91mp4a\x21\x10"));
        let Inspected::Media(tag) = inspect(&tag) else {
            panic!("not media");
        };
        assert_eq!(&tag.data[..], b"\xaf\x01\x21\x10");
        let tag = FlvTag::audio(5, Bytes::from_static(b"\x91Opus\x01"));
        assert!(matches!(inspect(&tag), Inspected::Refuse(why) if why.contains("Opus")));
    }

    #[test]
    fn a_tag_past_2_pow_24_ms_keeps_its_upper_timestamp_byte() {
        let tag = MediaTag {
            track: Track::Video,
            timestamp: 0x0100_0203,
            data: Bytes::from_static(b"\x27\x01"),
            keyframe: false,
            sequence_header: false,
            codec: "h264",
        };
        let mut out = BytesMut::new();
        encode_tag(&tag, &mut out);
        assert_eq!(
            &out[..],
            b"\x09\x00\x00\x02\x00\x02\x03\x01\x00\x00\x00\x27\x01\x00\x00\x00\x0d"
        );
    }

    #[test]
    fn the_reader_gives_back_what_was_written_in_any_pieces() {
        let mut stream = BytesMut::from(&file_header(true, true)[..]);
        for (track, ts) in [(Track::Video, 0x0100_0203), (Track::Audio, 7)] {
            let tag = MediaTag {
                track,
                timestamp: ts,
                data: Bytes::from_static(b"\x27\x01"),
                keyframe: false,
                sequence_header: false,
                codec: "h264",
            };
            encode_tag(&tag, &mut stream);
        }
        let mut reader = FlvReader::default();
        let mut tags = Vec::new();
        for byte in stream.chunks(3) {
            reader.extend(byte);
            while let Some(tag) = reader.next_tag().unwrap() {
                tags.push((tag.tag_type, tag.timestamp, tag.data));
            }
        }
        assert_eq!(tags.len(), 2);
        assert_eq!(tags[0].1, 0x0100_0203);
        assert!(matches!(tags[1].0, FlvTagType::Audio) && tags[1].1 == 7);
        assert_eq!(&tags[1].2[..], b"\x27\x01");
    }
}
