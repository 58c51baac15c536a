//! fMP4 boxes for live HLS, written with `mp4-atom`: the init segment of a packaging run
//! (`ftyp` + `moov` with `avc1`/`avcC` and `mp4a`/`esds`, `mvex`/`trex`) and the fragment of
//! one part (`moof` with a `traf` per track: `tfhd`, `tfdt`, `trun` + `mdat`).
//!
//! FLV carries H.264 as AVCC (length-prefixed NAL units) and AAC as raw frames, which is what
//! fMP4 stores: samples go into `mdat` unchanged.

use anyhow::Context as _;
use bytes::Bytes;
use mp4_atom::{
    Atom, Audio, Avc1, Avcc, Codec, Dinf, Dref, Encode as _, Esds, Ftyp, Hdlr, Mdat, Mdhd, Mdia,
    Mfhd, Minf, Moof, Moov, Mp4a, Mvex, Mvhd, Smhd, Stbl, Stco, Stsc, Stsd, Stsz, Stts, Tfdt,
    Tfhd, Tkhd, Traf, Trak, Trex, Trun, TrunEntry, TrunSamples, Url, Visual, Vmhd, esds,
};

/// Both tracks count in milliseconds, the unit of FLV timestamps: every time stays exact.
pub(crate) const TIMESCALE: u32 = 1000;
pub(crate) const VIDEO_TRACK: u32 = 1;
pub(crate) const AUDIO_TRACK: u32 = 2;

/// An `AVCDecoderConfigurationRecord` (the FLV AVC sequence header) and the picture size.
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct VideoConfig {
    avcc: Avcc,
    pub width: u16,
    pub height: u16,
}

impl VideoConfig {
    /// `record` is the AVC sequence header's body. The size comes from the SPS.
    pub(crate) fn parse(record: &[u8]) -> anyhow::Result<Self> {
        let avcc = Avcc::decode_body(&mut &record[..]).context("a malformed AVC sequence header")?;
        let sps = avcc
            .sequence_parameter_sets
            .first()
            .context("an AVC sequence header without an SPS")?;
        let (width, height) = sps_size(sps).context("an unreadable SPS")?;
        Ok(Self {
            avcc,
            width,
            height,
        })
    }
}

/// An AAC `AudioSpecificConfig` (the FLV AAC sequence header).
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct AudioConfig {
    asc: Vec<u8>,
    profile: u8,
    freq_index: u8,
    channels: u8,
    pub sample_rate: u32,
}

const AAC_RATES: [u32; 13] = [
    96000, 88200, 64000, 48000, 44100, 32000, 24000, 22050, 16000, 12000, 11025, 8000, 7350,
];

impl AudioConfig {
    pub(crate) fn parse(asc: &[u8]) -> anyhow::Result<Self> {
        let [a, b, ..] = asc else {
            anyhow::bail!("a truncated AAC sequence header");
        };
        let profile = a >> 3;
        let freq_index = ((a & 0x07) << 1) | (b >> 7);
        let channels = (b >> 3) & 0x0F;
        let sample_rate = *AAC_RATES
            .get(usize::from(freq_index))
            .context("an AAC sample rate given explicitly is not supported")?;
        Ok(Self {
            asc: asc.to_vec(),
            profile,
            freq_index,
            channels,
            sample_rate,
        })
    }

    /// One AAC frame (1024 samples) in milliseconds.
    pub(crate) fn frame_ms(&self) -> u32 {
        (1024 * 1000 / self.sample_rate).max(1)
    }
}

/// `ftyp` + `moov` for the tracks present.
pub(crate) fn init_segment(
    video: Option<&VideoConfig>,
    audio: Option<&AudioConfig>,
) -> anyhow::Result<Bytes> {
    let mut trak = Vec::new();
    let mut trex = Vec::new();
    if let Some(v) = video {
        trak.push(video_trak(v));
        trex.push(trex_of(VIDEO_TRACK));
    }
    if let Some(a) = audio {
        trak.push(audio_trak(a));
        trex.push(trex_of(AUDIO_TRACK));
    }
    let moov = Moov {
        mvhd: Mvhd {
            timescale: TIMESCALE,
            rate: 1.into(),
            volume: 1.into(),
            next_track_id: AUDIO_TRACK + 1,
            ..Default::default()
        },
        mvex: Some(Mvex { mehd: None, trex }),
        trak,
        ..Default::default()
    };
    let ftyp = Ftyp {
        major_brand: b"iso6".into(),
        minor_version: 0,
        compatible_brands: vec![b"iso6".into(), b"cmfc".into(), b"mp41".into()],
    };
    let mut out = Vec::new();
    ftyp.encode(&mut out).context("encoding ftyp")?;
    moov.encode(&mut out).context("encoding moov")?;
    Ok(out.into())
}

fn trex_of(track_id: u32) -> Trex {
    Trex {
        track_id,
        default_sample_description_index: 1,
        ..Default::default()
    }
}

fn minf(stsd: Stsd, video: bool) -> Minf {
    Minf {
        vmhd: video.then(Vmhd::default),
        smhd: (!video).then(Smhd::default),
        dinf: Dinf {
            dref: Dref {
                entries: vec![
                    Url {
                        location: String::new(),
                    }
                    .into(),
                ],
            },
        },
        stbl: Stbl {
            stsd,
            stts: Stts::default(),
            stsc: Stsc::default(),
            stsz: Stsz::default(),
            stco: Some(Stco::default()),
            ..Default::default()
        },
        ..Default::default()
    }
}

fn video_trak(v: &VideoConfig) -> Trak {
    let codec: Codec = Avc1 {
        visual: Visual {
            data_reference_index: 1,
            width: v.width,
            height: v.height,
            horizresolution: 72.into(),
            vertresolution: 72.into(),
            frame_count: 1,
            compressor: "".into(),
            depth: 24,
        },
        avcc: v.avcc.clone(),
        btrt: None,
        colr: None,
        pasp: None,
        taic: None,
        fiel: None,
        spatial: None,
    }
    .into();
    Trak {
        tkhd: Tkhd {
            track_id: VIDEO_TRACK,
            enabled: true,
            in_movie: true,
            width: v.width.into(),
            height: v.height.into(),
            ..Default::default()
        },
        mdia: Mdia {
            mdhd: Mdhd {
                timescale: TIMESCALE,
                language: "und".into(),
                ..Default::default()
            },
            hdlr: Hdlr {
                handler: b"vide".into(),
                name: "Kanjian video".into(),
            },
            minf: minf(
                Stsd {
                    codecs: vec![codec],
                },
                true,
            ),
        },
        ..Default::default()
    }
}

fn audio_trak(a: &AudioConfig) -> Trak {
    let codec: Codec = Mp4a {
        audio: Audio {
            data_reference_index: 1,
            channel_count: u16::from(a.channels.max(1)),
            sample_size: 16,
            sample_rate: (a.sample_rate.min(u32::from(u16::MAX)) as u16).into(),
        },
        esds: Esds {
            es_desc: esds::EsDescriptor {
                es_id: AUDIO_TRACK as u16,
                dec_config: esds::DecoderConfig {
                    // MPEG-4 audio, audio stream.
                    object_type_indication: 0x40,
                    stream_type: 5,
                    dec_specific: Some(esds::DecoderSpecific {
                        profile: a.profile,
                        freq_index: a.freq_index,
                        chan_conf: a.channels,
                        raw: a.asc.clone(),
                    }),
                    ..Default::default()
                },
                ..Default::default()
            },
        },
        btrt: None,
        taic: None,
    }
    .into();
    Trak {
        tkhd: Tkhd {
            track_id: AUDIO_TRACK,
            alternate_group: 1,
            enabled: true,
            in_movie: true,
            volume: 1.into(),
            ..Default::default()
        },
        mdia: Mdia {
            mdhd: Mdhd {
                timescale: TIMESCALE,
                language: "und".into(),
                ..Default::default()
            },
            hdlr: Hdlr {
                handler: b"soun".into(),
                name: "Kanjian audio".into(),
            },
            minf: minf(
                Stsd {
                    codecs: vec![codec],
                },
                false,
            ),
        },
        ..Default::default()
    }
}

/// One sample of a fragment.
#[derive(Debug, Clone)]
pub(crate) struct Sample {
    /// Decode time in [`TIMESCALE`] units.
    pub dts: u64,
    pub duration: u32,
    /// Presentation minus decode time (the FLV composition time).
    pub cts: i32,
    /// A sync sample (an IDR frame; every AAC frame).
    pub sync: bool,
    pub data: Bytes,
}

/// The samples of one track in a fragment.
pub(crate) struct TrackRun<'a> {
    pub track_id: u32,
    pub samples: &'a [Sample],
}

// Sample flags (ISO/IEC 14496-12 §8.8.3.1): a sync sample depends on no other; any other
// depends on others and is not a sync sample.
const SYNC: u32 = 0x0200_0000;
const NOT_SYNC: u32 = 0x0101_0000;

/// `moof` + `mdat` holding `runs` (empty runs are left out).
pub(crate) fn fragment(sequence_number: u32, runs: &[TrackRun<'_>]) -> anyhow::Result<Bytes> {
    let runs: Vec<&TrackRun<'_>> = runs.iter().filter(|r| !r.samples.is_empty()).collect();
    let traf = |offsets: &[i32]| -> Vec<Traf> {
        runs.iter()
            .zip(offsets)
            .map(|(run, offset)| Traf {
                tfhd: Tfhd {
                    track_id: run.track_id,
                    default_base_is_moof: true,
                    ..Default::default()
                },
                tfdt: Some(Tfdt {
                    base_media_decode_time: run.samples[0].dts,
                }),
                trun: vec![Trun {
                    data_offset: Some(*offset),
                    samples: TrunSamples::Explicit(
                        run.samples
                            .iter()
                            .map(|s| TrunEntry {
                                duration: Some(s.duration),
                                size: Some(s.data.len() as u32),
                                flags: Some(if s.sync { SYNC } else { NOT_SYNC }),
                                cts: Some(i64::from(s.cts)),
                            })
                            .collect(),
                    ),
                }],
                ..Default::default()
            })
            .collect()
    };
    let moof = |offsets: &[i32]| Moof {
        mfhd: Mfhd { sequence_number },
        traf: traf(offsets),
    };
    // Each run's data offset is from the start of the moof, so the moof's own size is needed
    // first: encode it once with zero offsets (same size), then with the real ones.
    let mut sized = Vec::new();
    moof(&vec![0; runs.len()])
        .encode(&mut sized)
        .context("encoding moof")?;
    let mut offsets = Vec::with_capacity(runs.len());
    let mut at = sized.len() + 8; // the mdat header
    let mut data = Vec::new();
    for run in &runs {
        offsets.push(i32::try_from(at).context("a fragment over 2 GiB")?);
        for s in run.samples {
            data.extend_from_slice(&s.data);
            at += s.data.len();
        }
    }
    let mut out = Vec::with_capacity(at);
    moof(&offsets).encode(&mut out).context("encoding moof")?;
    Mdat { data }.encode(&mut out).context("encoding mdat")?;
    Ok(out.into())
}

/// The picture size an H.264 SPS describes (after cropping). `mp4-atom` keeps its SPS parser
/// private, so this reads just the fields up to the cropping window.
fn sps_size(nal: &[u8]) -> Option<(u16, u16)> {
    // Drop the emulation-prevention bytes (00 00 03 → 00 00) and the NAL header byte.
    let mut rbsp = Vec::with_capacity(nal.len());
    let mut zeros = 0;
    for &b in nal.get(1..)? {
        if zeros >= 2 && b == 3 {
            zeros = 0;
            continue;
        }
        zeros = if b == 0 { zeros + 1 } else { 0 };
        rbsp.push(b);
    }
    let mut r = Bits::new(&rbsp);
    let profile_idc = r.bits(8)?;
    r.bits(16)?; // constraint flags, level_idc
    r.ue()?; // seq_parameter_set_id
    let mut chroma_format_idc = 1;
    if matches!(
        profile_idc,
        100 | 110 | 122 | 244 | 44 | 83 | 86 | 118 | 128 | 138 | 139 | 134 | 135
    ) {
        chroma_format_idc = r.ue()?;
        if chroma_format_idc == 3 {
            r.bits(1)?; // separate_colour_plane_flag
        }
        r.ue()?; // bit_depth_luma_minus8
        r.ue()?; // bit_depth_chroma_minus8
        r.bits(1)?; // qpprime_y_zero_transform_bypass_flag
        if r.bits(1)? == 1 {
            let lists = if chroma_format_idc == 3 { 12 } else { 8 };
            for i in 0..lists {
                if r.bits(1)? == 1 {
                    skip_scaling_list(&mut r, if i < 6 { 16 } else { 64 })?;
                }
            }
        }
    }
    r.ue()?; // log2_max_frame_num_minus4
    match r.ue()? {
        0 => {
            r.ue()?; // log2_max_pic_order_cnt_lsb_minus4
        }
        1 => {
            r.bits(1)?;
            r.se()?;
            r.se()?;
            for _ in 0..r.ue()? {
                r.se()?;
            }
        }
        _ => {}
    }
    r.ue()?; // max_num_ref_frames
    r.bits(1)?; // gaps_in_frame_num_value_allowed_flag
    let width_mbs = r.ue()? + 1;
    let height_map_units = r.ue()? + 1;
    let frame_mbs_only = r.bits(1)?;
    if frame_mbs_only == 0 {
        r.bits(1)?; // mb_adaptive_frame_field_flag
    }
    r.bits(1)?; // direct_8x8_inference_flag
    let (mut crop_x, mut crop_y) = (0, 0);
    if r.bits(1)? == 1 {
        let (left, right, top, bottom) = (r.ue()?, r.ue()?, r.ue()?, r.ue()?);
        // Crop units: 2×2 for 4:2:0, 2×1 for 4:2:2, 1×1 otherwise; doubled vertically for
        // field coding.
        let (unit_x, unit_y) = match chroma_format_idc {
            1 => (2, 2),
            2 => (2, 1),
            _ => (1, 1),
        };
        crop_x = unit_x * (left + right);
        crop_y = unit_y * (2 - frame_mbs_only) * (top + bottom);
    }
    let width = (width_mbs * 16).checked_sub(crop_x)?;
    let height = ((2 - frame_mbs_only) * height_map_units * 16).checked_sub(crop_y)?;
    Some((u16::try_from(width).ok()?, u16::try_from(height).ok()?))
}

fn skip_scaling_list(r: &mut Bits<'_>, size: u32) -> Option<()> {
    let (mut last, mut next) = (8i64, 8i64);
    for _ in 0..size {
        if next != 0 {
            next = (last + r.se()? + 256) % 256;
        }
        if next != 0 {
            last = next;
        }
    }
    Some(())
}

/// An MSB-first bit reader with Exp-Golomb codes.
struct Bits<'a> {
    data: &'a [u8],
    at: usize,
}

impl<'a> Bits<'a> {
    fn new(data: &'a [u8]) -> Self {
        Self { data, at: 0 }
    }

    fn bits(&mut self, n: u32) -> Option<u32> {
        let mut v = 0u32;
        for _ in 0..n {
            let byte = *self.data.get(self.at / 8)?;
            v = (v << 1) | u32::from((byte >> (7 - self.at % 8)) & 1);
            self.at += 1;
        }
        Some(v)
    }

    fn ue(&mut self) -> Option<u32> {
        let mut zeros = 0;
        while self.bits(1)? == 0 {
            zeros += 1;
            if zeros > 31 {
                return None;
            }
        }
        Some((1u32 << zeros) - 1 + self.bits(zeros)?)
    }

    fn se(&mut self) -> Option<i64> {
        let k = i64::from(self.ue()?);
        Some(if k % 2 == 1 { (k + 1) / 2 } else { -(k / 2) })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use mp4_atom::Decode as _;

    #[test]
    fn the_sps_gives_the_cropped_picture_size() {
        // x264's SPS for 640x360, high and baseline profile: 23 macroblocks tall, cropped by
        // 8 lines, with emulation-prevention bytes.
        let high = b"\x67\x64\x00\x1e\xac\xd9\x40\xa0\x2f\xf9\x70\x11\x00\x00\x03\x00\x01\x00\x00\x03\x00\x32\x0f\x16\x2d\x96";
        let baseline = b"\x67\x42\xc0\x1e\xda\x02\x80\xbf\xe5\xc0\x44\x00\x00\x03\x00\x04\x00\x00\x03\x00\xca\x3c\x58\xba\x80";
        assert_eq!(sps_size(high), Some((640, 360)));
        assert_eq!(sps_size(baseline), Some((640, 360)));
    }

    #[test]
    fn an_aac_config_gives_rate_and_channels() {
        let a = AudioConfig::parse(&[0x11, 0x90]).unwrap(); // AAC LC, 48 kHz, stereo
        assert_eq!((a.profile, a.sample_rate, a.channels), (2, 48000, 2));
        assert_eq!(a.frame_ms(), 21);
    }

    #[test]
    fn a_fragment_points_each_run_at_its_bytes() {
        let video = [
            Sample {
                dts: 1000,
                duration: 40,
                cts: 80,
                sync: true,
                data: Bytes::from_static(b"\x00\x00\x00\x01\x65"),
            },
            Sample {
                dts: 1040,
                duration: 40,
                cts: -40,
                sync: false,
                data: Bytes::from_static(b"\x00\x00\x00\x01\x41"),
            },
        ];
        let audio = [Sample {
            dts: 990,
            duration: 21,
            cts: 0,
            sync: true,
            data: Bytes::from_static(b"\x21\x10"),
        }];
        let bytes = fragment(
            7,
            &[
                TrackRun {
                    track_id: VIDEO_TRACK,
                    samples: &video,
                },
                TrackRun {
                    track_id: AUDIO_TRACK,
                    samples: &audio,
                },
            ],
        )
        .unwrap();
        let mut cursor = std::io::Cursor::new(&bytes[..]);
        let moof = Moof::decode(&mut cursor).unwrap();
        assert_eq!(moof.mfhd.sequence_number, 7);
        assert_eq!(moof.traf[1].tfdt.as_ref().unwrap().base_media_decode_time, 990);
        let first = moof.traf[0].trun[0].data_offset.unwrap() as usize;
        let second = moof.traf[1].trun[0].data_offset.unwrap() as usize;
        assert_eq!(&bytes[first..first + 5], b"\x00\x00\x00\x01\x65");
        assert_eq!(&bytes[second..], b"\x21\x10");
        assert_eq!(moof.traf[0].trun[0].samples.get(1).unwrap().cts, Some(-40));
    }
}
