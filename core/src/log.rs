//! The `Log`: the one append-only log every layer reuses (WAL, Raft log, LSM manifest,
//! topic partitions, consumer offsets).
//!
//! # Format
//! A log named `wal` is a sequence of segment files `wal-{base:020}.seg`, where `base` is
//! the LSN of the segment's first record. A segment is a run of frames, nothing else:
//!
//! ```text
//! offset  size  field
//! 0       4     payload length, u32 LE (at most LogConfig::max_record_bytes)
//! 4       4     CRC32C over bytes 0..4, 8..16 and the payload, u32 LE
//! 8       8     LSN, u64 LE (the frame's own sequence number)
//! 16      len   payload
//! ```
//!
//! LSNs are dense: record `n` of a segment with base `b` has LSN `b + n`, and each
//! segment's base is the previous segment's next LSN. The LSN sits inside the checksummed
//! header so that a valid frame found in the wrong place (a stale copy) is rejected.
//!
//! # Call order
//! [`Log::open`] first (it is recovery); then any mix of [`Log::append`], reads and scans,
//! [`Log::trim_prefix`] and [`Log::truncate_suffix`]. [`Log::request_sync`] asks the storage
//! for a sync and remembers which LSNs it covers; whoever drains
//! [`Storage::take_completions`] hands each completion to
//! [`Log::handle_sync_completion`], which moves [`Log::durable_next`]. The log never
//! blocks and never drains the storage's completions itself, because one storage is shared
//! by several logs and files.
//!
//! # Recovery: where the log ends
//! `open` scans every segment in LSN order and stops at the first frame that is not whole
//! and valid. Every stop has a [`StopReason`]; which case applies is decided top-down:
//!
//! | case | condition at the stop point                         | outcome                          |
//! |------|-----------------------------------------------------|----------------------------------|
//! | A    | end of the last segment                              | clean end, nothing truncated     |
//! | B    | end of a segment with a successor at the right base  | continue in the next segment     |
//! | C    | successor segment at the wrong base                  | stop: `SegmentGap`               |
//! | D    | fewer than 16 bytes left, all zero                   | stop: `Zeroed`                   |
//! | E    | fewer than 16 bytes left                             | stop: `TornHeader`               |
//! | F    | only zeros from here to the end of the segment       | stop: `Zeroed`                   |
//! | G    | length over the limit                                | stop: `LengthTooLarge`           |
//! | H    | frame runs past the end of the segment               | stop: `TornPayload`              |
//! | I    | checksum does not match                              | stop: `ChecksumMismatch`         |
//! | J    | checksum matches, LSN is not the expected one        | stop: `LsnMismatch`              |
//! | K    | whole, valid frame                                   | record recovered; go on          |
//!
//! After a stop, the log looks for **valid data past the stop**: a whole frame with a
//! matching checksum and an LSN at or above the expected one later in the segment, or a
//! later segment whose first frame is valid. A crash can only tear the tail (the simulated
//! disk tears only the last write that reached the platter), so valid data past the stop
//! means the damage is in the middle of the log — bit rot, not a torn write. Then:
//!
//! | policy                      | nothing valid past the stop        | valid data past the stop       |
//! |-----------------------------|------------------------------------|--------------------------------|
//! | `TruncateTornTail` (default)| truncate at the stop, report it    | `LogError::Corrupt`, no change |
//! | `TruncateAtFirstBadRecord`  | truncate at the stop, report it    | truncate at the stop, report it|
//!
//! Truncation cuts the stopping segment at the stop offset (or deletes it, in case C) and
//! deletes every later segment; the [`RecoveryReport`] names the file, offset, LSN, reason,
//! bytes cut and segments removed.
//!
//! # Invariants (checked by [`Log::validate`])
//! `first_lsn <= durable_next <= next_lsn`; segments are contiguous
//! (`base[i+1] == base[i] + records[i]`); within a segment, frame offsets start at 0 and
//! strictly increase; pending sync marks never exceed `next_lsn` and are non-decreasing.

use std::fmt;

use crate::crc32c;
use crate::storage::{read_all, Storage, StorageError, SyncCompletion, SyncId};

/// Size of a frame header in bytes.
pub const HEADER_BYTES: u64 = 16;

/// A log sequence number: the position of a record in its log. Dense and strictly
/// increasing.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Lsn(pub u64);

impl Lsn {
    /// The LSN after this one.
    pub fn next(self) -> Lsn {
        Lsn(self.0 + 1)
    }
}

impl fmt::Display for Lsn {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "lsn {}", self.0)
    }
}

/// What to do when recovery finds damage with valid records after it.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum RecoveryPolicy {
    /// Truncate a torn tail; refuse (with [`LogError::Corrupt`]) to drop valid records
    /// that follow damage in the middle of the log.
    #[default]
    TruncateTornTail,
    /// Truncate at the first bad record whatever follows it (salvage mode).
    TruncateAtFirstBadRecord,
}

/// How a log is named and sized.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct LogConfig {
    /// File name prefix: segments are `{name}-{base:020}.seg`.
    pub name: String,
    /// A segment rolls once a record would take it past this many bytes.
    pub segment_bytes: u64,
    /// The largest payload accepted; a larger length on disk is corruption.
    pub max_record_bytes: u32,
    /// What recovery does with damage in the middle of the log.
    pub recovery: RecoveryPolicy,
}

impl LogConfig {
    /// 64 KiB segments, 1 MiB records, the default recovery policy.
    pub fn new(name: &str) -> Self {
        LogConfig {
            name: name.to_owned(),
            segment_bytes: 64 * 1024,
            max_record_bytes: 1024 * 1024,
            recovery: RecoveryPolicy::default(),
        }
    }
}

/// One record read back.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Record {
    /// Its LSN.
    pub lsn: Lsn,
    /// Its bytes.
    pub payload: Vec<u8>,
}

/// Why recovery stopped reading at some point.
#[derive(Clone, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum StopReason {
    /// Fewer bytes than a header remain, not all zero.
    TornHeader {
        /// Bytes present.
        have: u64,
    },
    /// Only zero bytes from here to the end of the segment: space a write was extending
    /// into when it was cut off.
    Zeroed {
        /// How many zero bytes.
        len: u64,
    },
    /// The length field is larger than any record may be.
    LengthTooLarge {
        /// The length read.
        len: u64,
        /// The limit.
        max: u32,
    },
    /// The frame runs past the end of the segment.
    TornPayload {
        /// Bytes the frame needs.
        need: u64,
        /// Bytes present.
        have: u64,
    },
    /// The checksum does not match the bytes.
    ChecksumMismatch {
        /// The checksum stored in the header.
        stored: u32,
        /// The checksum of the bytes present.
        computed: u32,
    },
    /// A valid frame, but not the one that belongs here.
    LsnMismatch {
        /// The LSN that should be here.
        expected: Lsn,
        /// The LSN found.
        found: Lsn,
    },
    /// A segment file starts at the wrong LSN (a gap or an overlap between segments).
    SegmentGap {
        /// The LSN the segment should start at.
        expected: Lsn,
        /// The base in its name.
        found: Lsn,
    },
}

impl fmt::Display for StopReason {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            StopReason::TornHeader { have } => {
                write!(f, "torn header: only {have} of {HEADER_BYTES} bytes")
            }
            StopReason::Zeroed { len } => write!(
                f,
                "{len} zero bytes where a record should start (a write that never finished)"
            ),
            StopReason::LengthTooLarge { len, max } => {
                write!(
                    f,
                    "length field says {len} bytes, over the {max}-byte limit"
                )
            }
            StopReason::TornPayload { need, have } => {
                write!(f, "torn record: needs {need} bytes, only {have} present")
            }
            StopReason::ChecksumMismatch { stored, computed } => write!(
                f,
                "checksum mismatch (stored {stored:#010x}, computed {computed:#010x})"
            ),
            StopReason::LsnMismatch { expected, found } => {
                write!(f, "found {found} where {expected} belongs")
            }
            StopReason::SegmentGap { expected, found } => {
                write!(f, "segment starts at {found}, expected {expected}")
            }
        }
    }
}

/// Where recovery stopped, why, and what it cut.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct LogStop {
    /// The segment file.
    pub file: String,
    /// Byte offset of the bad frame in that file.
    pub offset: u64,
    /// The LSN the bad frame would have had.
    pub lsn: Lsn,
    /// Why it was rejected.
    pub reason: StopReason,
    /// Bytes removed from the stopping segment (or all of it, for a gap).
    pub truncated_bytes: u64,
    /// Later segments deleted.
    pub removed_segments: Vec<String>,
    /// Whether valid records followed the damage (possible only in salvage mode, since
    /// the default policy refuses to truncate them).
    pub valid_data_dropped: bool,
}

/// What [`Log::open`] found.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct RecoveryReport {
    /// Records recovered.
    pub records: u64,
    /// Segments kept.
    pub segments: u64,
    /// Bytes read while scanning.
    pub bytes_scanned: u64,
    /// First LSN in the log.
    pub first_lsn: Lsn,
    /// The LSN the next append gets.
    pub next_lsn: Lsn,
    /// `None` when the log ended cleanly.
    pub stop: Option<LogStop>,
}

impl RecoveryReport {
    /// One sentence for people: what was recovered and where and why the log ended.
    pub fn describe(&self) -> String {
        let range = if self.records == 0 {
            "no records".to_owned()
        } else {
            format!(
                "{} record{} ({}..={})",
                self.records,
                if self.records == 1 { "" } else { "s" },
                self.first_lsn,
                self.next_lsn.0 - 1
            )
        };
        let segs = format!(
            "{} segment{}",
            self.segments,
            if self.segments == 1 { "" } else { "s" }
        );
        match &self.stop {
            None => format!("Recovered {range} from {segs}; the log ended cleanly."),
            Some(s) => {
                let mut out = format!(
                    "Recovered {range} from {segs}; stopped at {} offset {} ({}): {}; truncated {} byte{}",
                    s.file,
                    s.offset,
                    s.lsn,
                    s.reason,
                    s.truncated_bytes,
                    if s.truncated_bytes == 1 { "" } else { "s" }
                );
                if !s.removed_segments.is_empty() {
                    out.push_str(&format!(" and removed {}", s.removed_segments.join(", ")));
                }
                out.push('.');
                out
            }
        }
    }
}

/// Errors from the log.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum LogError {
    /// The storage failed.
    #[error(transparent)]
    Storage(#[from] StorageError),
    /// Damage in the middle of the log with valid records after it; nothing was changed.
    #[error("log is corrupt at {file} offset {offset} ({lsn}): {reason}; valid records follow, so nothing was truncated")]
    Corrupt {
        /// The segment file.
        file: String,
        /// Byte offset of the damage.
        offset: u64,
        /// The LSN expected there.
        lsn: Lsn,
        /// What is wrong.
        reason: StopReason,
    },
    /// The LSN was trimmed away.
    #[error("{requested} was trimmed; the log now starts at {first}")]
    Compacted {
        /// What was asked for.
        requested: Lsn,
        /// The first LSN still present.
        first: Lsn,
    },
    /// The LSN has not been written yet.
    #[error("{lsn} is past the end of the log (next is {next})")]
    NotFound {
        /// What was asked for.
        lsn: Lsn,
        /// The next LSN to be written.
        next: Lsn,
    },
    /// A payload over the configured limit.
    #[error("record of {len} bytes is over the {max}-byte limit")]
    TooLarge {
        /// Its length.
        len: u64,
        /// The limit.
        max: u32,
    },
    /// An argument outside what the log allows (for example trimming past the end).
    #[error("invalid argument: {0}")]
    InvalidArgument(String),
}

/// A segment as the UI and the tests see it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct SegmentInfo {
    /// Its file.
    pub file: String,
    /// Its first LSN.
    pub base_lsn: Lsn,
    /// Records in it.
    pub records: u64,
    /// Bytes in it.
    pub bytes: u64,
}

#[derive(Clone, Debug, PartialEq, Eq)]
struct Segment {
    file: String,
    base: u64,
    /// Byte offset of each frame.
    offsets: Vec<u64>,
    bytes: u64,
}

impl Segment {
    fn next_lsn(&self) -> u64 {
        self.base + self.offsets.len() as u64
    }

    /// Offset and length of the frame of `lsn`, which must be in this segment.
    fn frame(&self, lsn: u64) -> (u64, u64) {
        let i = usize::try_from(lsn - self.base).expect("index fits");
        let start = self.offsets[i];
        let end = self.offsets.get(i + 1).copied().unwrap_or(self.bytes);
        (start, end - start)
    }
}

/// The append-only log. See the module docs for the format, call order and recovery.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Log {
    config: LogConfig,
    segments: Vec<Segment>,
    durable_next: u64,
    /// Syncs requested through this log and the `next_lsn` each covers, oldest first.
    pending_syncs: Vec<(SyncId, u64)>,
}

/// Encodes one frame (exposed for fuzzing and for tests that build logs by hand).
pub fn encode_frame(lsn: Lsn, payload: &[u8]) -> Vec<u8> {
    let len = u32::try_from(payload.len()).expect("payload length checked by caller");
    let mut out = Vec::with_capacity(16 + payload.len());
    out.extend_from_slice(&len.to_le_bytes());
    out.extend_from_slice(&[0; 4]);
    out.extend_from_slice(&lsn.0.to_le_bytes());
    out.extend_from_slice(payload);
    let crc = frame_crc(&out);
    out[4..8].copy_from_slice(&crc.to_le_bytes());
    out
}

fn frame_crc(frame: &[u8]) -> u32 {
    let crc = crc32c::extend(0, &frame[0..4]);
    crc32c::extend(crc, &frame[8..])
}

/// The result of decoding the bytes at one position.
#[derive(Debug, PartialEq, Eq)]
pub enum Decoded {
    /// A whole, valid frame of this many bytes.
    Frame {
        /// Its LSN.
        lsn: Lsn,
        /// Its total length (header and payload).
        frame_bytes: u64,
    },
    /// Not a valid frame, and why.
    Bad(StopReason),
}

/// Decodes the frame at the start of `bytes` (a segment's contents from some offset),
/// expecting `expected`. Never panics, whatever the bytes.
pub fn decode_frame(bytes: &[u8], expected: Lsn, max_record_bytes: u32) -> Decoded {
    let have = bytes.len() as u64;
    if have < HEADER_BYTES {
        if bytes.iter().all(|&b| b == 0) {
            return Decoded::Bad(StopReason::Zeroed { len: have });
        }
        return Decoded::Bad(StopReason::TornHeader { have });
    }
    if bytes.iter().all(|&b| b == 0) {
        return Decoded::Bad(StopReason::Zeroed { len: have });
    }
    let len = u64::from(u32::from_le_bytes(bytes[0..4].try_into().expect("4 bytes")));
    let stored = u32::from_le_bytes(bytes[4..8].try_into().expect("4 bytes"));
    let lsn = Lsn(u64::from_le_bytes(
        bytes[8..16].try_into().expect("8 bytes"),
    ));
    if len > u64::from(max_record_bytes) {
        return Decoded::Bad(StopReason::LengthTooLarge {
            len,
            max: max_record_bytes,
        });
    }
    let need = HEADER_BYTES + len;
    if need > have {
        return Decoded::Bad(StopReason::TornPayload { need, have });
    }
    let frame = &bytes[..usize::try_from(need).expect("need <= have, a slice length")];
    let computed = frame_crc(frame);
    if computed != stored {
        return Decoded::Bad(StopReason::ChecksumMismatch { stored, computed });
    }
    if lsn != expected {
        return Decoded::Bad(StopReason::LsnMismatch {
            expected,
            found: lsn,
        });
    }
    Decoded::Frame {
        lsn,
        frame_bytes: need,
    }
}

/// Whether a whole, valid frame with an LSN at or above `expected` starts anywhere in
/// `bytes` after position 0. The LSN bound is checked before the checksum, so garbage
/// costs little.
fn valid_frame_after(bytes: &[u8], expected: Lsn, max_record_bytes: u32) -> bool {
    let limit = expected.0 + bytes.len() as u64 / HEADER_BYTES + 1;
    (1..bytes.len()).any(|p| {
        let rest = &bytes[p..];
        if rest.len() < 16 {
            return false;
        }
        let lsn = u64::from_le_bytes(rest[8..16].try_into().expect("8 bytes"));
        if lsn < expected.0 || lsn > limit {
            return false;
        }
        matches!(
            decode_frame(rest, Lsn(lsn), max_record_bytes),
            Decoded::Frame { .. }
        )
    })
}

fn segment_name(name: &str, base: u64) -> String {
    format!("{name}-{base:020}.seg")
}

fn parse_segment_name(name: &str, file: &str) -> Option<u64> {
    let rest = file.strip_prefix(name)?.strip_prefix('-')?;
    let digits = rest.strip_suffix(".seg")?;
    if digits.len() != 20 || !digits.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    digits.parse().ok()
}

impl Log {
    /// Opens (recovers) the log named in `config` from `storage`, creating an empty one if
    /// no segment exists. See the module docs for the recovery cases. The records found
    /// count as durable only if the storage had no volatile changes when `open` began (an
    /// image just loaded or just crashed); otherwise none does until a sync completes.
    pub fn open<S: Storage + ?Sized>(
        storage: &mut S,
        config: LogConfig,
    ) -> Result<(Log, RecoveryReport), LogError> {
        if config.segment_bytes < HEADER_BYTES {
            return Err(LogError::InvalidArgument(format!(
                "segment_bytes {} is smaller than a frame header",
                config.segment_bytes
            )));
        }
        crate::storage::check_name(&segment_name(&config.name, 0))?;
        let mut files: Vec<(u64, String)> = storage
            .list()
            .into_iter()
            .filter_map(|f| parse_segment_name(&config.name, &f).map(|b| (b, f)))
            .collect();
        crate::sort::sort(&mut files);

        let all_durable = !storage.has_volatile_changes();
        let mut segments: Vec<Segment> = Vec::new();
        let mut bytes_scanned = 0;
        let mut stop: Option<(usize, u64, Lsn, StopReason)> = None;
        let mut contents: Vec<Vec<u8>> = Vec::new();
        for (i, (base, file)) in files.iter().enumerate() {
            let data = read_all(storage, file)?;
            bytes_scanned += data.len() as u64;
            contents.push(data);
            let expected = segments.last().map_or(*base, Segment::next_lsn);
            if *base != expected {
                stop = Some((
                    i,
                    0,
                    Lsn(expected),
                    StopReason::SegmentGap {
                        expected: Lsn(expected),
                        found: Lsn(*base),
                    },
                ));
                break;
            }
            let data = &contents[i];
            let mut seg = Segment {
                file: file.clone(),
                base: *base,
                offsets: Vec::new(),
                bytes: 0,
            };
            let mut pos = 0u64;
            while pos < data.len() as u64 {
                let at = usize::try_from(pos).expect("in-memory offset");
                let lsn = Lsn(seg.next_lsn());
                match decode_frame(&data[at..], lsn, config.max_record_bytes) {
                    Decoded::Frame { frame_bytes, .. } => {
                        seg.offsets.push(pos);
                        pos += frame_bytes;
                        seg.bytes = pos;
                    }
                    Decoded::Bad(reason) => {
                        stop = Some((i, pos, lsn, reason));
                        break;
                    }
                }
            }
            segments.push(seg);
            if stop.is_some() {
                break;
            }
        }

        let mut report_stop = None;
        if let Some((i, offset, lsn, reason)) = stop {
            let at = usize::try_from(offset).expect("in-memory offset");
            let later_valid_in_segment = !matches!(reason, StopReason::SegmentGap { .. })
                && valid_frame_after(&contents[i][at..], lsn, config.max_record_bytes);
            let later_valid_segment = files.iter().skip(i + 1).any(|(base, file)| {
                let data = match read_all(storage, file) {
                    Ok(d) => d,
                    Err(_) => return false,
                };
                !data.is_empty()
                    && matches!(
                        decode_frame(&data, Lsn(*base), config.max_record_bytes),
                        Decoded::Frame { .. }
                    )
            });
            let gap_with_data =
                matches!(reason, StopReason::SegmentGap { .. }) && !contents[i].is_empty();
            let valid_after = later_valid_in_segment || later_valid_segment || gap_with_data;
            if valid_after && config.recovery == RecoveryPolicy::TruncateTornTail {
                return Err(LogError::Corrupt {
                    file: files[i].1.clone(),
                    offset,
                    lsn,
                    reason,
                });
            }
            let file = files[i].1.clone();
            let file_len = contents[i].len() as u64;
            let truncated_bytes = file_len - offset;
            if matches!(reason, StopReason::SegmentGap { .. }) {
                storage.delete(&file)?;
            } else {
                storage.set_len(&file, offset)?;
            }
            let mut removed = Vec::new();
            for (_, later) in files.iter().skip(i + 1) {
                storage.delete(later)?;
                removed.push(later.clone());
            }
            report_stop = Some(LogStop {
                file,
                offset,
                lsn,
                reason,
                truncated_bytes,
                removed_segments: removed,
                valid_data_dropped: valid_after,
            });
        }

        if segments.is_empty() {
            // A fresh log, or one whose only file was a misplaced segment.
            let base = 0;
            let file = segment_name(&config.name, base);
            storage.set_len(&file, 0)?;
            segments.push(Segment {
                file,
                base,
                offsets: Vec::new(),
                bytes: 0,
            });
        }
        let next = segments.last().expect("at least one segment").next_lsn();
        let log = Log {
            durable_next: if all_durable { next } else { segments[0].base },
            segments,
            pending_syncs: Vec::new(),
            config,
        };
        let report = RecoveryReport {
            records: next - log.segments[0].base,
            segments: log.segments.len() as u64,
            bytes_scanned,
            first_lsn: log.first_lsn(),
            next_lsn: log.next_lsn(),
            stop: report_stop,
        };
        log.validate();
        Ok((log, report))
    }

    /// The configuration.
    pub fn config(&self) -> &LogConfig {
        &self.config
    }

    /// The first LSN still in the log.
    pub fn first_lsn(&self) -> Lsn {
        Lsn(self.segments[0].base)
    }

    /// The LSN the next append gets.
    pub fn next_lsn(&self) -> Lsn {
        Lsn(self.last().next_lsn())
    }

    /// Every record in `first_lsn()..durable_next()` is durable: a crash now keeps it.
    /// (Records trimmed away are outside the claim, and an unsynced trim may come back.)
    pub fn durable_next(&self) -> Lsn {
        Lsn(self.durable_next)
    }

    /// Records in the log.
    pub fn len(&self) -> u64 {
        self.next_lsn().0 - self.first_lsn().0
    }

    /// Whether the log holds no records.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// Bytes in all segments.
    pub fn size_bytes(&self) -> u64 {
        self.segments.iter().map(|s| s.bytes).sum()
    }

    /// The segments, oldest first.
    pub fn segments(&self) -> Vec<SegmentInfo> {
        self.segments
            .iter()
            .map(|s| SegmentInfo {
                file: s.file.clone(),
                base_lsn: Lsn(s.base),
                records: s.offsets.len() as u64,
                bytes: s.bytes,
            })
            .collect()
    }

    fn last(&self) -> &Segment {
        self.segments.last().expect("a log always has a segment")
    }

    /// Appends one record; it is visible at once and durable once a sync requested after
    /// this call completes.
    pub fn append<S: Storage + ?Sized>(
        &mut self,
        storage: &mut S,
        payload: &[u8],
    ) -> Result<Lsn, LogError> {
        if payload.len() as u64 > u64::from(self.config.max_record_bytes) {
            return Err(LogError::TooLarge {
                len: payload.len() as u64,
                max: self.config.max_record_bytes,
            });
        }
        let frame_bytes = HEADER_BYTES + payload.len() as u64;
        let last = self.last();
        if !last.offsets.is_empty() && last.bytes + frame_bytes > self.config.segment_bytes {
            let base = last.next_lsn();
            let file = segment_name(&self.config.name, base);
            storage.set_len(&file, 0)?;
            self.segments.push(Segment {
                file,
                base,
                offsets: Vec::new(),
                bytes: 0,
            });
        }
        let lsn = self.next_lsn();
        let frame = encode_frame(lsn, payload);
        let seg = self.segments.last_mut().expect("a segment");
        storage.write(&seg.file, seg.bytes, &frame)?;
        seg.offsets.push(seg.bytes);
        seg.bytes += frame_bytes;
        Ok(lsn)
    }

    /// Asks the storage for a sync covering every record appended so far.
    pub fn request_sync<S: Storage + ?Sized>(
        &mut self,
        storage: &mut S,
    ) -> Result<SyncId, LogError> {
        let id = storage.sync()?;
        self.pending_syncs.push((id, self.next_lsn().0));
        Ok(id)
    }

    /// Registers a sync someone else issued (`storage.sync()` returned `id`) as covering
    /// every record appended so far — several logs on one storage can share one sync.
    pub fn note_sync(&mut self, id: SyncId) {
        self.pending_syncs.push((id, self.next_lsn().0));
    }

    /// Takes a completion drained from the storage. A successful sync makes everything
    /// covered by it (and by every sync this log requested before it) durable. Completions
    /// of syncs this log did not request are ignored, since it cannot know what they cover.
    pub fn handle_sync_completion(&mut self, completion: &SyncCompletion) {
        if completion.result.is_err() {
            // Nothing became durable; the records stay volatile and a later sync covers
            // them. Forget this sync's mark so a later success is the one that counts.
            self.pending_syncs.retain(|(id, _)| *id != completion.id);
            return;
        }
        let covered = self
            .pending_syncs
            .iter()
            .filter(|(id, _)| *id <= completion.id)
            .map(|(_, next)| *next)
            .max();
        self.pending_syncs.retain(|(id, _)| *id > completion.id);
        if let Some(next) = covered {
            self.durable_next = self.durable_next.max(next.min(self.next_lsn().0));
        }
    }

    /// Records below this LSN are durable or covered by a sync in flight (records from
    /// here on need a new sync).
    pub fn covered_next(&self) -> Lsn {
        let pending = self.pending_syncs.iter().map(|&(_, next)| next).max();
        Lsn(pending.map_or(self.durable_next, |p| p.max(self.durable_next)))
    }

    /// Syncs requested through this log that have not completed.
    pub fn syncs_pending(&self) -> usize {
        self.pending_syncs.len()
    }

    fn check_readable(&self, lsn: Lsn) -> Result<&Segment, LogError> {
        if lsn < self.first_lsn() {
            return Err(LogError::Compacted {
                requested: lsn,
                first: self.first_lsn(),
            });
        }
        if lsn >= self.next_lsn() {
            return Err(LogError::NotFound {
                lsn,
                next: self.next_lsn(),
            });
        }
        let i = self.segments.partition_point(|s| s.base <= lsn.0) - 1;
        Ok(&self.segments[i])
    }

    /// Reads the payload of one record, checking its checksum again (bit rot after open
    /// is reported as [`LogError::Corrupt`]).
    pub fn read<S: Storage + ?Sized>(&self, storage: &S, lsn: Lsn) -> Result<Vec<u8>, LogError> {
        let seg = self.check_readable(lsn)?;
        let (offset, len) = seg.frame(lsn.0);
        let mut frame = vec![0; usize::try_from(len).expect("frame fits memory")];
        storage.read(&seg.file, offset, &mut frame)?;
        match decode_frame(&frame, lsn, self.config.max_record_bytes) {
            Decoded::Frame { .. } => {
                frame.drain(..16);
                Ok(frame)
            }
            Decoded::Bad(reason) => Err(LogError::Corrupt {
                file: seg.file.clone(),
                offset,
                lsn,
                reason,
            }),
        }
    }

    /// Iterates over the records from `from` to the end.
    pub fn scan<'a, S: Storage + ?Sized>(
        &'a self,
        storage: &'a S,
        from: Lsn,
    ) -> Result<LogScan<'a, S>, LogError> {
        if from < self.first_lsn() {
            return Err(LogError::Compacted {
                requested: from,
                first: self.first_lsn(),
            });
        }
        if from > self.next_lsn() {
            return Err(LogError::NotFound {
                lsn: from,
                next: self.next_lsn(),
            });
        }
        Ok(LogScan {
            log: self,
            storage,
            next: from,
            end: self.next_lsn(),
        })
    }

    /// Removes whole segments all of whose records are below `before` (retention,
    /// checkpoint trimming, snapshotting). The log may keep records below `before` that
    /// share a segment with records it must keep. Returns the number of segments removed.
    pub fn trim_prefix<S: Storage + ?Sized>(
        &mut self,
        storage: &mut S,
        before: Lsn,
    ) -> Result<u64, LogError> {
        if before > self.next_lsn() {
            return Err(LogError::InvalidArgument(format!(
                "cannot trim below {before}: the log ends at {}",
                self.next_lsn()
            )));
        }
        let last = self.last();
        if before.0 == last.next_lsn() && !last.offsets.is_empty() {
            // Everything goes: start an empty segment first so the next LSN is remembered.
            let base = last.next_lsn();
            let file = segment_name(&self.config.name, base);
            storage.set_len(&file, 0)?;
            self.segments.push(Segment {
                file,
                base,
                offsets: Vec::new(),
                bytes: 0,
            });
        }
        let mut removed = 0;
        while self.segments.len() > 1 && self.segments[0].next_lsn() <= before.0 {
            let seg = self.segments.remove(0);
            storage.delete(&seg.file)?;
            removed += 1;
        }
        self.durable_next = self.durable_next.max(self.first_lsn().0);
        Ok(removed)
    }

    /// Removes every record at or after `from` (a Raft follower dropping a conflicting
    /// suffix). Volatile until synced like any other change.
    pub fn truncate_suffix<S: Storage + ?Sized>(
        &mut self,
        storage: &mut S,
        from: Lsn,
    ) -> Result<(), LogError> {
        if from < self.first_lsn() {
            return Err(LogError::Compacted {
                requested: from,
                first: self.first_lsn(),
            });
        }
        if from > self.next_lsn() {
            return Err(LogError::NotFound {
                lsn: from,
                next: self.next_lsn(),
            });
        }
        while self.segments.len() > 1 && self.last().base > from.0 {
            let seg = self.segments.pop().expect("more than one");
            storage.delete(&seg.file)?;
        }
        let seg = self.segments.last_mut().expect("a segment");
        let keep = usize::try_from(from.0 - seg.base).expect("index fits");
        if keep < seg.offsets.len() {
            let cut = seg.offsets[keep];
            storage.set_len(&seg.file, cut)?;
            seg.offsets.truncate(keep);
            seg.bytes = cut;
        }
        self.durable_next = self.durable_next.min(from.0);
        for (_, next) in &mut self.pending_syncs {
            *next = (*next).min(from.0);
        }
        Ok(())
    }

    /// Drops every record and restarts the log empty at `next` (a Raft follower that
    /// installed a snapshot past its whole log).
    pub fn reset<S: Storage + ?Sized>(
        &mut self,
        storage: &mut S,
        next: Lsn,
    ) -> Result<(), LogError> {
        let file = segment_name(&self.config.name, next.0);
        let old: Vec<String> = self.segments.iter().map(|s| s.file.clone()).collect();
        storage.set_len(&file, 0)?;
        for f in old.iter().filter(|f| **f != file) {
            storage.delete(f)?;
        }
        self.segments = vec![Segment {
            file,
            base: next.0,
            offsets: Vec::new(),
            bytes: 0,
        }];
        self.durable_next = next.0;
        self.pending_syncs.clear();
        Ok(())
    }

    /// Checks the invariants in the module docs; panics on a violation (a bug).
    pub fn validate(&self) {
        assert!(!self.segments.is_empty(), "a log has at least one segment");
        for w in self.segments.windows(2) {
            assert_eq!(w[1].base, w[0].next_lsn(), "segments not contiguous");
        }
        for s in &self.segments {
            assert_eq!(
                parse_segment_name(&self.config.name, &s.file),
                Some(s.base),
                "segment file name does not match its base"
            );
            assert!(
                s.offsets.first().is_none_or(|&o| o == 0),
                "first frame not at 0"
            );
            assert!(
                s.offsets.windows(2).all(|w| w[0] + HEADER_BYTES <= w[1]),
                "frame offsets not increasing"
            );
            assert!(
                s.offsets
                    .last()
                    .is_none_or(|&o| o + HEADER_BYTES <= s.bytes),
                "last frame past the segment end"
            );
        }
        let (first, next) = (self.first_lsn().0, self.next_lsn().0);
        assert!(
            first <= self.durable_next && self.durable_next <= next,
            "durable_next {} outside {first}..={next}",
            self.durable_next
        );
        assert!(
            self.pending_syncs
                .windows(2)
                .all(|w| w[0].0 < w[1].0 && w[0].1 <= w[1].1),
            "pending sync marks out of order"
        );
        assert!(
            self.pending_syncs.iter().all(|(_, n)| *n <= next),
            "pending sync covers records that do not exist"
        );
    }
}

/// Iterator over records, from [`Log::scan`]. Each record's checksum is checked again.
pub struct LogScan<'a, S: Storage + ?Sized> {
    log: &'a Log,
    storage: &'a S,
    next: Lsn,
    end: Lsn,
}

impl<S: Storage + ?Sized> Iterator for LogScan<'_, S> {
    type Item = Result<Record, LogError>;

    fn next(&mut self) -> Option<Self::Item> {
        if self.next >= self.end {
            return None;
        }
        let lsn = self.next;
        self.next = lsn.next();
        let item = self
            .log
            .read(self.storage, lsn)
            .map(|payload| Record { lsn, payload });
        if item.is_err() {
            // Stop after an error: what follows a bad record cannot be trusted in order.
            self.next = self.end;
        }
        Some(item)
    }
}
