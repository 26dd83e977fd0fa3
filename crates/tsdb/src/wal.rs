//! The write-ahead log: every committed batch is appended here before the commit returns, so a
//! `kill -9` loses nothing that was acknowledged; the head is rebuilt from it on start.
//!
//! Layout: `DATA/wal/<segment number, 8 digits>` files, each a sequence of records
//! `[payload length u32 LE][CRC-32 of payload u32 LE][payload]`. Payloads:
//! - `2` samples: `count varint, base time varint(zigzag), (ref varint, t - base varint(zigzag), value u64 LE)*`
//!
//! Series are not logged here: a new series is written to RocksDB (through RocksDB's own WAL)
//! before any commit can see it, so every ref in this log names a series RocksDB holds.
//!
//! A record is written with one `write` call on an unbuffered file, so it reaches the kernel
//! (and survives the process dying) before the commit returns; data is fsynced when a segment
//! is closed and at checkpoints. A torn or corrupt record at the end of the newest segment (the
//! process died while writing it) ends replay there; corruption elsewhere is reported.
//!
//! Checkpoints (see `Tsdb::checkpoint`) make everything before a segment durable in RocksDB;
//! the segments before it are then deleted.

use std::fs::{self, File, OpenOptions};
use std::io::{self, Read, Write};
use std::path::{Path, PathBuf};

use narthex_model::SeriesRef;

/// A segment is closed and a new one started past this size.
const SEGMENT_BYTES: u64 = 64 << 20;
const RECORD_SAMPLES: u8 = 2;

/// A decoded log record.
#[derive(Debug, PartialEq)]
pub enum Record {
    Samples(Vec<RefSample>),
}

#[derive(Debug, Clone, Copy, PartialEq)]
pub struct RefSample {
    pub series_ref: SeriesRef,
    pub t: i64,
    pub v: f64,
}

#[derive(Debug, thiserror::Error)]
pub enum WalError {
    #[error("write-ahead log {path}: {source}")]
    Io { path: PathBuf, source: io::Error },
    #[error("write-ahead log segment {path} is corrupt at byte {offset}: {reason}")]
    Corrupt {
        path: PathBuf,
        offset: u64,
        reason: String,
    },
}

fn io_error(path: &Path) -> impl FnOnce(io::Error) -> WalError + '_ {
    move |source| WalError::Io {
        path: path.to_path_buf(),
        source,
    }
}

/// The writing end: the open segment.
pub struct Wal {
    dir: PathBuf,
    segment: u64,
    file: File,
    written: u64,
    buffer: Vec<u8>,
}

impl Wal {
    /// Opens the log in `dir` for appending in a new segment after the existing ones (which
    /// the caller has replayed).
    pub fn open(dir: &Path) -> Result<Wal, WalError> {
        fs::create_dir_all(dir).map_err(io_error(dir))?;
        let next = segments(dir)?.last().map_or(1, |(n, _)| n + 1);
        let (file, _) = create_segment(dir, next)?;
        Ok(Wal {
            dir: dir.to_path_buf(),
            segment: next,
            file,
            written: 0,
            buffer: Vec::with_capacity(4096),
        })
    }

    pub fn log_samples(&mut self, samples: &[RefSample]) -> Result<(), WalError> {
        if samples.is_empty() {
            return Ok(());
        }
        self.begin(RECORD_SAMPLES);
        let base = samples[0].t;
        put_uvarint(&mut self.buffer, samples.len() as u64);
        put_varint(&mut self.buffer, base);
        for s in samples {
            put_uvarint(&mut self.buffer, s.series_ref);
            put_varint(&mut self.buffer, s.t.wrapping_sub(base));
            self.buffer.extend_from_slice(&s.v.to_bits().to_le_bytes());
        }
        self.finish()
    }

    /// Closes the current segment (fsynced) and starts the next; returns the new segment's
    /// number. Everything logged before lies in segments below it.
    pub fn cut(&mut self) -> Result<u64, WalError> {
        let path = segment_path(&self.dir, self.segment);
        self.file.sync_data().map_err(io_error(&path))?;
        let (file, _) = create_segment(&self.dir, self.segment + 1)?;
        self.file = file;
        self.segment += 1;
        self.written = 0;
        Ok(self.segment)
    }

    /// Deletes the segments numbered below `segment`.
    pub fn truncate_before(&self, segment: u64) -> Result<(), WalError> {
        for (n, path) in segments(&self.dir)? {
            if n < segment {
                fs::remove_file(&path).map_err(io_error(&path))?;
            }
        }
        Ok(())
    }

    /// Bytes in all segments on disk.
    pub fn size(&self) -> u64 {
        segments(&self.dir)
            .map(|segs| {
                segs.iter()
                    .filter_map(|(_, p)| fs::metadata(p).ok())
                    .map(|m| m.len())
                    .sum()
            })
            .unwrap_or(0)
    }

    fn begin(&mut self, kind: u8) {
        self.buffer.clear();
        self.buffer.extend_from_slice(&[0; 8]);
        self.buffer.push(kind);
    }

    fn finish(&mut self) -> Result<(), WalError> {
        let payload_len = (self.buffer.len() - 8) as u32;
        let crc = crc32fast::hash(&self.buffer[8..]);
        self.buffer[..4].copy_from_slice(&payload_len.to_le_bytes());
        self.buffer[4..8].copy_from_slice(&crc.to_le_bytes());
        let path = segment_path(&self.dir, self.segment);
        if let Err(e) = self.file.write_all(&self.buffer) {
            // Cut a partly written record off again, so the next one does not follow garbage
            // (which replay would report as corruption in the middle of the log).
            let _ = self.file.set_len(self.written);
            return Err(io_error(&path)(e));
        }
        self.written += self.buffer.len() as u64;
        if self.written >= SEGMENT_BYTES {
            self.cut()?;
        }
        Ok(())
    }
}

fn segment_path(dir: &Path, n: u64) -> PathBuf {
    dir.join(format!("{n:08}"))
}

fn create_segment(dir: &Path, n: u64) -> Result<(File, PathBuf), WalError> {
    let path = segment_path(dir, n);
    let file = OpenOptions::new()
        .create(true)
        .append(true)
        .open(&path)
        .map_err(io_error(&path))?;
    // The new file's directory entry must survive a crash too.
    File::open(dir)
        .and_then(|d| d.sync_all())
        .map_err(io_error(dir))?;
    Ok((file, path))
}

/// The segment files in `dir`, in order.
pub fn segments(dir: &Path) -> Result<Vec<(u64, PathBuf)>, WalError> {
    let mut found = Vec::new();
    let entries = match fs::read_dir(dir) {
        Ok(entries) => entries,
        Err(e) if e.kind() == io::ErrorKind::NotFound => return Ok(found),
        Err(e) => return Err(io_error(dir)(e)),
    };
    for entry in entries {
        let entry = entry.map_err(io_error(dir))?;
        let name = entry.file_name();
        if let Some(n) = name.to_str().and_then(|s| s.parse::<u64>().ok()) {
            found.push((n, entry.path()));
        }
    }
    found.sort();
    Ok(found)
}

/// Reads every record of every segment in `dir`, oldest first, calling `apply` on each. A torn
/// record at the end of the newest segment is dropped (and the file cut back to before it);
/// anything else unreadable is an error naming the segment and offset.
pub fn replay(dir: &Path, mut apply: impl FnMut(Record)) -> Result<ReplayStats, WalError> {
    let segs = segments(dir)?;
    let mut stats = ReplayStats::default();
    for (i, (_, path)) in segs.iter().enumerate() {
        let newest = i + 1 == segs.len();
        let mut bytes = Vec::new();
        File::open(path)
            .and_then(|mut f| f.read_to_end(&mut bytes))
            .map_err(io_error(path))?;
        let mut offset = 0usize;
        while offset < bytes.len() {
            match read_record(&bytes[offset..]) {
                Ok((record, used)) => {
                    apply(record);
                    stats.records += 1;
                    offset += used;
                }
                Err(reason) => {
                    // Only the newest segment can end in a record cut short by a crash.
                    let rest = &bytes[offset..];
                    if newest && (is_torn_tail(rest) || is_last_record(rest)) {
                        tracing::warn!(
                            segment = %path.display(),
                            offset,
                            reason,
                            "dropping a torn record at the end of the write-ahead log"
                        );
                        stats.torn_records += 1;
                        OpenOptions::new()
                            .write(true)
                            .open(path)
                            .and_then(|f| f.set_len(offset as u64))
                            .map_err(io_error(path))?;
                        break;
                    }
                    return Err(WalError::Corrupt {
                        path: path.clone(),
                        offset: offset as u64,
                        reason,
                    });
                }
            }
        }
        stats.segments += 1;
    }
    Ok(stats)
}

/// A record cut short by a crash: its header promises more bytes than the file holds.
fn is_torn_tail(rest: &[u8]) -> bool {
    rest.len() < 8 || {
        let len = u32::from_le_bytes([rest[0], rest[1], rest[2], rest[3]]) as usize;
        8 + len > rest.len()
    }
}

/// The failing record is the last one of the file: a crash while its bytes were being written.
fn is_last_record(rest: &[u8]) -> bool {
    rest.len() >= 8 && {
        let len = u32::from_le_bytes([rest[0], rest[1], rest[2], rest[3]]) as usize;
        8 + len == rest.len()
    }
}

#[derive(Debug, Default, Clone, Copy)]
pub struct ReplayStats {
    pub segments: usize,
    pub records: usize,
    pub torn_records: usize,
}

fn read_record(bytes: &[u8]) -> Result<(Record, usize), String> {
    if bytes.len() < 8 {
        return Err(format!(
            "{} bytes left, a record header needs 8",
            bytes.len()
        ));
    }
    let len = u32::from_le_bytes([bytes[0], bytes[1], bytes[2], bytes[3]]) as usize;
    let crc = u32::from_le_bytes([bytes[4], bytes[5], bytes[6], bytes[7]]);
    let payload = bytes
        .get(8..8 + len)
        .ok_or_else(|| format!("record of {len} bytes but only {} left", bytes.len() - 8))?;
    if crc32fast::hash(payload) != crc {
        return Err("checksum mismatch".into());
    }
    let mut reader = Reader { bytes: payload };
    let record = match reader.byte()? {
        RECORD_SAMPLES => {
            let count = reader.uvarint()? as usize;
            let base = reader.varint()?;
            // Each sample takes at least 10 bytes: a bad count cannot make us allocate much.
            let mut samples = Vec::with_capacity(count.min(payload.len() / 10));
            for _ in 0..count {
                let series_ref = reader.uvarint()?;
                let t = base.wrapping_add(reader.varint()?);
                let v = f64::from_bits(reader.u64_le()?);
                samples.push(RefSample { series_ref, t, v });
            }
            Record::Samples(samples)
        }
        other => return Err(format!("unknown record type {other}")),
    };
    if !reader.bytes.is_empty() {
        return Err(format!(
            "{} stray bytes after the record",
            reader.bytes.len()
        ));
    }
    Ok((record, 8 + len))
}

struct Reader<'a> {
    bytes: &'a [u8],
}

impl Reader<'_> {
    fn byte(&mut self) -> Result<u8, String> {
        let (&b, rest) = self.bytes.split_first().ok_or("record ends early")?;
        self.bytes = rest;
        Ok(b)
    }

    fn uvarint(&mut self) -> Result<u64, String> {
        let mut value = 0u64;
        for shift in (0..64).step_by(7) {
            let b = self.byte()?;
            value |= u64::from(b & 0x7f) << shift;
            if b < 0x80 {
                return Ok(value);
            }
        }
        Err("varint longer than 10 bytes".into())
    }

    fn varint(&mut self) -> Result<i64, String> {
        let u = self.uvarint()?;
        Ok((u >> 1) as i64 ^ -((u & 1) as i64))
    }

    fn u64_le(&mut self) -> Result<u64, String> {
        if self.bytes.len() < 8 {
            return Err("record ends inside a value".into());
        }
        let (head, rest) = self.bytes.split_at(8);
        self.bytes = rest;
        let mut buf = [0u8; 8];
        buf.copy_from_slice(head);
        Ok(u64::from_le_bytes(buf))
    }
}

pub fn put_uvarint(out: &mut Vec<u8>, mut v: u64) {
    while v >= 0x80 {
        out.push((v as u8) | 0x80);
        v >>= 7;
    }
    out.push(v as u8);
}

pub fn put_varint(out: &mut Vec<u8>, v: i64) {
    put_uvarint(out, ((v << 1) ^ (v >> 63)) as u64);
}

#[cfg(test)]
mod tests {
    use super::*;

    fn collect(dir: &Path) -> Vec<Record> {
        let mut records = Vec::new();
        replay(dir, |r| records.push(r)).unwrap();
        records
    }

    fn one(series_ref: SeriesRef, t: i64) -> Vec<RefSample> {
        vec![RefSample {
            series_ref,
            t,
            v: 1.0,
        }]
    }

    #[test]
    fn records_round_trip_across_segments() {
        let dir = tempfile::tempdir().unwrap();
        let samples = vec![
            RefSample {
                series_ref: 1,
                t: -5,
                v: f64::from_bits(narthex_model::STALE_NAN_BITS),
            },
            RefSample {
                series_ref: u64::MAX,
                t: i64::MAX,
                v: -0.0,
            },
            RefSample {
                series_ref: 3,
                t: i64::MIN,
                v: f64::INFINITY,
            },
        ];
        {
            let mut wal = Wal::open(dir.path()).unwrap();
            wal.log_samples(&one(7, 1)).unwrap();
            wal.cut().unwrap();
            wal.log_samples(&samples).unwrap();
        }
        let records = collect(dir.path());
        assert_eq!(records.len(), 2);
        assert_eq!(records[0], Record::Samples(one(7, 1)));
        let Record::Samples(back) = &records[1];
        assert_eq!(back.len(), 3);
        for (got, want) in back.iter().zip(&samples) {
            assert_eq!((got.series_ref, got.t), (want.series_ref, want.t));
            assert_eq!(got.v.to_bits(), want.v.to_bits());
        }
    }

    #[test]
    fn torn_tail_is_dropped_and_corruption_inside_is_reported() {
        let dir = tempfile::tempdir().unwrap();
        {
            let mut wal = Wal::open(dir.path()).unwrap();
            wal.log_samples(&one(1, 1)).unwrap();
            wal.log_samples(&one(2, 2)).unwrap();
        }
        let (_, path) = segments(dir.path()).unwrap().pop().unwrap();
        let full = fs::read(&path).unwrap();
        // Cut inside the second record: replay keeps the first and trims the file.
        fs::write(&path, &full[..full.len() - 3]).unwrap();
        assert_eq!(collect(dir.path()), vec![Record::Samples(one(1, 1))]);
        assert!((fs::metadata(&path).unwrap().len() as usize) < full.len() - 3);

        // A flipped bit in the first record of a segment that is not the newest is an error
        // naming the segment.
        let mut bad = full.clone();
        bad[10] ^= 0xff;
        fs::write(&path, &bad).unwrap();
        fs::write(segment_path(dir.path(), 99), &full).unwrap();
        let err = replay(dir.path(), |_| {}).unwrap_err().to_string();
        assert!(err.contains("corrupt") && err.contains("checksum"), "{err}");
    }

    #[test]
    fn truncate_deletes_older_segments_only() {
        let dir = tempfile::tempdir().unwrap();
        let mut wal = Wal::open(dir.path()).unwrap();
        wal.log_samples(&one(1, 1)).unwrap();
        let new = wal.cut().unwrap();
        wal.log_samples(&one(2, 2)).unwrap();
        wal.truncate_before(new).unwrap();
        assert_eq!(collect(dir.path()), vec![Record::Samples(one(2, 2))]);
    }
}
