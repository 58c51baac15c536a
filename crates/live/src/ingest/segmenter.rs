//! Cutting one packaging run into LL-HLS parts and segments.
//!
//! Parts are cut on the lead track (video, or audio when there is none): a part ends at the
//! first frame that would take it past the part target, so no part is longer than advertised
//! while frames come at most a part target apart. A segment ends at a keyframe once it is
//! about a segment long, so it is the concatenation of its parts (each `moof` + `mdat`) and
//! starts with a keyframe. The other track's samples go into the part of their decode time:
//! a part is written once that track has passed its end too (or lags far behind), which also
//! gives every sample its duration (the next sample's time).

use std::collections::VecDeque;
use std::time::Duration;

use anyhow::Context as _;
use bytes::{Bytes, BytesMut};
use chrono::{DateTime, Utc};

use super::flv::{MediaTag, Track};
use super::fmp4::{self, AudioConfig, Sample, TrackRun, VideoConfig};
use super::gate::{PackagedPart, PackagedSegment};

/// Keyframe timestamps jitter by a frame or so; a keyframe this much before a segment's
/// length still ends it.
const KEYFRAME_SLACK_MS: i64 = 100;
/// A part waits for the other track to pass its end at most this long (in the lead track's
/// time): an audio track that stalls must not hold the video back.
const MAX_WAIT_MS: i64 = 300;

#[derive(Debug, Clone, Copy)]
pub(crate) struct Targets {
    pub part_ms: u32,
    pub segment_ms: u32,
}

/// Where the publisher's time meets the wall clock: the session's first frame, and when it
/// arrived. Program date-times are this plus media time, so they say when a frame was
/// captured (as well as its arrival tells), whatever happens downstream.
#[derive(Debug, Clone, Copy)]
pub(crate) struct MediaClock {
    pub first_ts: u32,
    pub at: DateTime<Utc>,
}

/// What a run produced, in delivery order.
#[derive(Debug)]
pub(crate) enum Output {
    Part(PackagedPart),
    Segment(PackagedSegment),
}

#[derive(Debug, Clone)]
struct Pending {
    dts: i64,
    cts: i32,
    sync: bool,
    data: Bytes,
}

#[derive(Debug, Clone, Copy)]
struct Cut {
    at: i64,
    ends_segment: bool,
}

/// The segments and parts of one run (one init segment).
pub(crate) struct Segmenter {
    targets: Targets,
    clock: MediaClock,
    /// Unwraps 32-bit FLV time: the last raw timestamp and its 64-bit value.
    last_raw: u32,
    last_ms: i64,
    lead: Track,
    video: Option<VideoConfig>,
    audio: Option<AudioConfig>,
    /// Built with the first part; after that, only its tracks are packaged.
    init: Option<Bytes>,
    queues: [VecDeque<Pending>; 2],
    /// The latest decode time and interval seen on each track.
    latest: [Option<i64>; 2],
    delta: [i64; 2],
    /// Where the open part and segment (as cut, not yet written) start.
    part_start: Option<i64>,
    segment_start: i64,
    cuts: VecDeque<Cut>,
    /// Where the next part to write starts.
    written_until: i64,
    fragment: u32,
    sequence: u64,
    part_index: u32,
    segment: Option<OpenSegment>,
}

struct OpenSegment {
    start: i64,
    duration_ms: i64,
    data: BytesMut,
    init: Option<Bytes>,
}

fn slot(track: Track) -> usize {
    match track {
        Track::Video => 0,
        Track::Audio => 1,
    }
}

impl Segmenter {
    /// `first_sequence`: the session's number for this run's first segment; `video`: whether
    /// the run has video (then it leads).
    pub(crate) fn new(targets: Targets, clock: MediaClock, video: bool, first_sequence: u64) -> Self {
        Self {
            targets,
            clock,
            last_raw: clock.first_ts,
            last_ms: i64::from(clock.first_ts),
            lead: if video { Track::Video } else { Track::Audio },
            video: None,
            audio: None,
            init: None,
            queues: Default::default(),
            latest: [None; 2],
            delta: [40, 21],
            part_start: None,
            segment_start: 0,
            cuts: VecDeque::new(),
            written_until: 0,
            fragment: 1,
            sequence: first_sequence,
            part_index: 0,
            segment: None,
        }
    }

    /// The session's number for the next run's first segment.
    pub(crate) fn next_sequence(&self) -> u64 {
        self.sequence
    }

    /// 32-bit FLV time as a 64-bit count of milliseconds.
    fn unwrap(&mut self, ts: u32) -> i64 {
        self.last_ms += i64::from(ts.wrapping_sub(self.last_raw) as i32);
        self.last_raw = ts;
        self.last_ms
    }

    /// Takes one tag; returns what it completed.
    pub(crate) fn push(&mut self, tag: &MediaTag) -> anyhow::Result<Vec<Output>> {
        let mut out = Vec::new();
        let data = &tag.data;
        if tag.sequence_header {
            if self.init.is_none() {
                match tag.track {
                    Track::Video => {
                        self.video = Some(VideoConfig::parse(data.get(5..).unwrap_or_default())?)
                    }
                    Track::Audio => {
                        let audio = AudioConfig::parse(data.get(2..).unwrap_or_default())?;
                        // Until a second frame tells, a frame lasts its 1024 samples.
                        self.delta[slot(Track::Audio)] = i64::from(audio.frame_ms());
                        self.audio = Some(audio);
                    }
                }
            }
            return Ok(out);
        }
        let (cts, body) = match tag.track {
            // [frame type|codec] [AVC packet type] [composition time, SI24] NAL units; packet
            // type 2 (end of sequence) carries no frame.
            Track::Video if data.get(1) == Some(&1) && data.len() > 5 => {
                let cts = i32::from_be_bytes([data[2], data[3], data[4], 0]) >> 8;
                (cts, data.slice(5..))
            }
            // [format] [AAC packet type] raw frame.
            Track::Audio if data.get(1) == Some(&1) && data.len() > 2 => (0, data.slice(2..)),
            _ => return Ok(out),
        };
        let configured = match tag.track {
            Track::Video => self.video.is_some(),
            Track::Audio => self.audio.is_some(),
        };
        let in_init = self.init.is_none() || self.tracks().contains(&tag.track);
        if !configured || !in_init {
            // Frames without a decoder configuration cannot be described in the init segment.
            return Ok(out);
        }
        let dts = self.unwrap(tag.timestamp);
        let track = slot(tag.track);
        let sync = tag.track == Track::Audio || tag.keyframe;
        if tag.track == self.lead {
            if self.part_start.is_none() && !sync {
                return Ok(out); // a run starts at a keyframe
            }
            self.on_lead(dts, sync);
        } else if self.part_start.is_some() && dts < self.written_until {
            return Ok(out); // its part is written already
        }
        if let Some(prev) = self.latest[track].filter(|p| dts > *p) {
            self.delta[track] = dts - prev;
        }
        self.latest[track] = Some(dts);
        self.queues[track].push_back(Pending {
            dts,
            cts,
            sync,
            data: body,
        });
        while let Some(cut) = self.cuts.front().copied() {
            if !self.ready(cut) {
                break;
            }
            self.cuts.pop_front();
            self.write_part(Some(cut), &mut out)?;
        }
        Ok(out)
    }

    /// Decides whether a lead frame at `dts` starts a new part, or a new segment.
    fn on_lead(&mut self, dts: i64, sync: bool) {
        let Some(part_start) = self.part_start else {
            self.part_start = Some(dts);
            self.segment_start = dts;
            self.written_until = dts;
            // Audio that came just before the first keyframe (ffmpeg sends it first) plays
            // with it; earlier audio has no picture.
            let other = 1 - slot(self.lead);
            self.queues[other].retain(|p| p.dts >= dts - KEYFRAME_SLACK_MS);
            return;
        };
        let part_ms = i64::from(self.targets.part_ms);
        let lead = slot(self.lead);
        let prev = self.latest[lead].unwrap_or(part_start);
        let delta = (dts - prev).max(1);
        let mut part_start = part_start;
        // A frame later than the rhythm so far would stretch the open part past the target:
        // end it at the previous frame instead.
        if dts - part_start > part_ms && prev > part_start {
            self.cuts.push_back(Cut {
                at: prev,
                ends_segment: false,
            });
            part_start = prev;
        }
        let slack = match self.lead {
            Track::Video => KEYFRAME_SLACK_MS,
            Track::Audio => delta / 2,
        };
        let ends_segment =
            sync && dts - self.segment_start >= i64::from(self.targets.segment_ms) - slack;
        if ends_segment || dts - part_start + delta > part_ms {
            self.cuts.push_back(Cut {
                at: dts,
                ends_segment,
            });
            part_start = dts;
            if ends_segment {
                self.segment_start = dts;
            }
        }
        self.part_start = Some(part_start);
    }

    /// A cut can be written once every track has a sample at or past it.
    fn ready(&self, cut: Cut) -> bool {
        let lead_latest = self.latest[slot(self.lead)].unwrap_or(cut.at);
        self.tracks().iter().all(|t| {
            *t == self.lead
                || self.latest[slot(*t)].is_some_and(|l| l >= cut.at)
                || lead_latest - cut.at > MAX_WAIT_MS
        })
    }

    fn tracks(&self) -> Vec<Track> {
        let mut tracks = Vec::new();
        if self.video.is_some() {
            tracks.push(Track::Video);
        }
        if self.audio.is_some() {
            tracks.push(Track::Audio);
        }
        tracks
    }

    /// The run is over: writes what is left as its last part and segment.
    pub(crate) fn finish(mut self) -> anyhow::Result<(Vec<Output>, u64)> {
        let mut out = Vec::new();
        while let Some(cut) = self.cuts.pop_front() {
            self.write_part(Some(cut), &mut out)?;
        }
        if self.queues.iter().any(|q| !q.is_empty()) {
            self.write_part(None, &mut out)?;
        }
        self.close_segment(&mut out);
        Ok((out, self.sequence))
    }

    /// Writes the samples before `cut` (all of them without one) as the next part.
    fn write_part(&mut self, cut: Option<Cut>, out: &mut Vec<Output>) -> anyhow::Result<()> {
        let end = cut.map_or(i64::MAX, |c| c.at);
        let mut runs: Vec<(u32, Vec<Sample>)> = Vec::new();
        let mut lead_end = None;
        for track in self.tracks() {
            let i = slot(track);
            let mut samples = Vec::new();
            while let Some(p) = self.queues[i].front().filter(|p| p.dts < end).cloned() {
                self.queues[i].pop_front();
                let next = self.queues[i].front().map(|n| n.dts);
                let duration = next.map_or(self.delta[i], |n| n - p.dts).max(1);
                if track == self.lead {
                    lead_end = Some(p.dts + duration);
                }
                samples.push(Sample {
                    dts: u64::try_from(p.dts).unwrap_or(0),
                    duration: u32::try_from(duration).unwrap_or(u32::MAX),
                    cts: p.cts,
                    sync: p.sync,
                    data: p.data,
                });
            }
            let id = match track {
                Track::Video => fmp4::VIDEO_TRACK,
                Track::Audio => fmp4::AUDIO_TRACK,
            };
            runs.push((id, samples));
        }
        let start = self.written_until;
        let end = cut.map(|c| c.at).or(lead_end).unwrap_or(start);
        self.written_until = end;
        if runs.iter().all(|(_, s)| s.is_empty()) {
            return Ok(());
        }
        let init = match &self.init {
            Some(_) => None,
            None => {
                let init = fmp4::init_segment(self.video.as_ref(), self.audio.as_ref())
                    .context("writing the init segment")?;
                self.init = Some(init.clone());
                Some(init)
            }
        };
        let lead_id = match self.lead {
            Track::Video => fmp4::VIDEO_TRACK,
            Track::Audio => fmp4::AUDIO_TRACK,
        };
        let independent = runs
            .iter()
            .find(|(id, _)| *id == lead_id)
            .and_then(|(_, s)| s.first())
            .is_some_and(|s| s.sync);
        let track_runs: Vec<TrackRun<'_>> = runs
            .iter()
            .map(|(id, samples)| TrackRun {
                track_id: *id,
                samples,
            })
            .collect();
        let data = fmp4::fragment(self.fragment, &track_runs)?;
        self.fragment += 1;
        let duration_ms = (end - start).max(0);
        let segment = self.segment.get_or_insert_with(|| OpenSegment {
            start,
            duration_ms: 0,
            data: BytesMut::new(),
            init: init.clone(),
        });
        segment.duration_ms += duration_ms;
        segment.data.extend_from_slice(&data);
        out.push(Output::Part(PackagedPart {
            sequence: self.sequence,
            index: self.part_index,
            duration: Duration::from_millis(duration_ms as u64),
            independent,
            program_date_time: self.date_time(start),
            init,
            data,
        }));
        self.part_index += 1;
        if cut.is_some_and(|c| c.ends_segment) {
            self.close_segment(out);
        }
        Ok(())
    }

    fn close_segment(&mut self, out: &mut Vec<Output>) {
        let Some(segment) = self.segment.take() else {
            return;
        };
        out.push(Output::Segment(PackagedSegment {
            sequence: self.sequence,
            duration: Duration::from_millis(segment.duration_ms as u64),
            program_date_time: self.date_time(segment.start),
            init: segment.init,
            data: segment.data.freeze(),
        }));
        self.sequence += 1;
        self.part_index = 0;
    }

    fn date_time(&self, ms: i64) -> DateTime<Utc> {
        self.clock.at + chrono::Duration::milliseconds(ms - i64::from(self.clock.first_ts))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    // A real x264 SPS (640x360) and PPS in an AVCDecoderConfigurationRecord, behind the FLV
    // AVC header.
    fn avc_header() -> MediaTag {
        let sps: &[u8] = b"\x67\x42\xc0\x1e\xda\x02\x80\xbf\xe5\xc0\x44\x00\x00\x03\x00\x04\x00\x00\x03\x00\xca\x3c\x58\xba\x80";
        let pps: &[u8] = b"\x68\xce\x3c\x80";
        let mut body = vec![0x17, 0, 0, 0, 0, 1, 0x42, 0xc0, 0x1e, 0xff, 0xe1];
        body.extend_from_slice(&(sps.len() as u16).to_be_bytes());
        body.extend_from_slice(sps);
        body.push(1);
        body.extend_from_slice(&(pps.len() as u16).to_be_bytes());
        body.extend_from_slice(pps);
        MediaTag {
            track: Track::Video,
            timestamp: 0,
            data: body.into(),
            keyframe: false,
            sequence_header: true,
            codec: "h264",
        }
    }

    fn aac_header() -> MediaTag {
        MediaTag {
            track: Track::Audio,
            timestamp: 0,
            data: Bytes::from_static(b"\xaf\x00\x11\x90"),
            keyframe: false,
            sequence_header: true,
            codec: "aac",
        }
    }

    fn frame(ts: u32, keyframe: bool) -> MediaTag {
        MediaTag {
            track: Track::Video,
            timestamp: ts,
            data: Bytes::from_static(b"\x27\x01\x00\x00\x00\x00\x00\x00\x01\x41"),
            keyframe,
            sequence_header: false,
            codec: "h264",
        }
    }

    fn aac(ts: u32) -> MediaTag {
        MediaTag {
            track: Track::Audio,
            timestamp: ts,
            data: Bytes::from_static(b"\xaf\x01\x21\x10"),
            keyframe: false,
            sequence_header: false,
            codec: "aac",
        }
    }

    /// `fps` video with a keyframe every `gop` frames, and 48 kHz AAC, from `start` for
    /// `frames` frames (timestamps rounded to ms, as FLV has them).
    fn run(start: u32, frames: u32, gop: u32, fps: u32) -> (Vec<PackagedPart>, Vec<PackagedSegment>) {
        let clock = MediaClock {
            first_ts: start,
            at: Utc::now(),
        };
        let targets = Targets {
            part_ms: 334,
            segment_ms: 1000,
        };
        let mut s = Segmenter::new(targets, clock, true, 0);
        let mut out = Vec::new();
        out.extend(s.push(&avc_header()).unwrap());
        out.extend(s.push(&aac_header()).unwrap());
        let mut audio = 0.0f64;
        for i in 0..frames {
            let t = (f64::from(i) * 1000.0 / f64::from(fps)).round();
            while audio <= t {
                out.extend(s.push(&aac(start.wrapping_add(audio.round() as u32))).unwrap());
                audio += 1024.0 / 48.0;
            }
            out.extend(s.push(&frame(start.wrapping_add(t as u32), i % gop == 0)).unwrap());
        }
        out.extend(s.finish().unwrap().0);
        let mut parts = Vec::new();
        let mut segments = Vec::new();
        for o in out {
            match o {
                Output::Part(p) => parts.push(p),
                Output::Segment(s) => segments.push(s),
            }
        }
        (parts, segments)
    }

    fn first_moof(data: &[u8]) -> mp4_atom::Moof {
        use mp4_atom::Decode as _;
        mp4_atom::Moof::decode(&mut std::io::Cursor::new(data)).unwrap()
    }

    #[test]
    fn parts_stay_within_the_target_and_make_up_their_segments() {
        for (fps, start) in [(25, 0), (30, 0), (25, u32::MAX - 1500)] {
            let (parts, segments) = run(start, 4 * fps, fps, fps);
            assert_eq!(segments.len(), 4, "{segments:?}");
            for p in &parts {
                assert!(p.duration <= Duration::from_millis(334), "{p:?}");
            }
            for s in &segments {
                let mine: Vec<&PackagedPart> = parts.iter().filter(|p| p.sequence == s.sequence).collect();
                let joined: Vec<u8> = mine.iter().flat_map(|p| p.data.to_vec()).collect();
                assert_eq!(joined, s.data.to_vec(), "segment {} is its parts", s.sequence);
                assert!(mine[0].independent && mine[1..].iter().all(|p| !p.independent));
                let sum: Duration = mine.iter().map(|p| p.duration).sum();
                assert_eq!(sum, s.duration);
                assert_eq!(mine[0].program_date_time, s.program_date_time);
            }
            assert_eq!(segments[0].duration, Duration::from_secs(1), "{fps} fps");
            assert!(segments[0].init.is_some() && parts[0].init.is_some());
            let moof = first_moof(&parts[0].data);
            let audio_start = moof.traf[1].tfdt.as_ref().unwrap().base_media_decode_time;
            assert_eq!(audio_start, u64::from(start), "the first AAC frame, sent before the keyframe, is kept");
            assert!(segments[1..].iter().all(|s| s.init.is_none()));
            let step = segments[1].program_date_time - segments[0].program_date_time;
            assert_eq!(step.num_milliseconds(), 1000, "across the 32-bit wrap too");
        }
    }

    #[test]
    fn a_late_frame_ends_the_part_before_it() {
        // Frames every 40 ms, but one comes 100 ms after the previous.
        let clock = MediaClock {
            first_ts: 0,
            at: Utc::now(),
        };
        let targets = Targets {
            part_ms: 334,
            segment_ms: 1000,
        };
        let mut s = Segmenter::new(targets, clock, true, 0);
        s.push(&avc_header()).unwrap();
        let mut out = Vec::new();
        for ts in [0, 40, 80, 120, 160, 200, 240, 340, 380, 420, 460, 500, 540, 580, 620, 660, 700] {
            out.extend(s.push(&frame(ts, ts == 0)).unwrap());
        }
        out.extend(s.finish().unwrap().0);
        let durations: Vec<u128> = out
            .iter()
            .filter_map(|o| match o {
                Output::Part(p) => Some(p.duration.as_millis()),
                _ => None,
            })
            .collect();
        assert_eq!(durations, [240, 300, 200]);
    }

    #[test]
    fn a_long_gop_makes_a_long_segment_of_short_parts() {
        let (parts, segments) = run(0, 150, 75, 25);
        assert_eq!(segments[0].duration, Duration::from_secs(3));
        assert!(parts.iter().all(|p| p.duration <= Duration::from_millis(334)));
        assert_eq!(parts.iter().filter(|p| p.independent).count(), 2);
    }
}
