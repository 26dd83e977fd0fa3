//! The XOR chunk codec: Gorilla-style compression of float samples, bit-compatible with
//! Prometheus's `tsdb/chunkenc` XOR encoding (`EncXOR`).
//!
//! Here live the encoder ([`XorChunk`], which can also reopen an encoded chunk for appending),
//! the decoders ([`decode`], [`decode_range`], [`ChunkIter`], and [`XorChunk::decode_range`],
//! which starts at the encoder's last checkpoint before the range) and their error
//! ([`ChunkError`]).
//!
//! Layout of an encoded chunk:
//!
//! ```text
//! ┌──────────────────────┬──────────────────────────────────────────────────────────┐
//! │ count <u16, BE>      │ bitstream, most significant bit of each byte first,     │
//! │                      │ the last byte padded with zero bits                      │
//! └──────────────────────┴──────────────────────────────────────────────────────────┘
//! ```
//!
//! The bitstream, sample by sample:
//!
//! - sample 0: the timestamp as a zigzag varint (Go's `binary.PutVarint`), the value as its 64
//!   raw bits;
//! - sample 1: the timestamp delta as a uvarint (Go's `binary.PutUvarint`), then the value;
//! - sample 2 on: the delta of the timestamp delta (`dod`), then the value. `dod` is written as
//!   `0` (dod = 0), `10` + 14 bits, `110` + 17 bits, `1110` + 20 bits or `1111` + 64 bits, where
//!   an n-bit field holds `-(2^(n-1) - 1) ..= 2^(n-1)` in two's complement (Prometheus's
//!   `bitRange`; the asymmetry is deliberate, the decoder reads `2^(n-1)` as positive);
//! - a value after the first is XORed with the previous value's bits: `0` when they are equal;
//!   `10` + the XOR's bits inside the previous leading/trailing-zero window when the XOR fits
//!   in it; otherwise `11` + 5 bits of leading zeros (clamped to 31) + 6 bits of significant-bit
//!   count (64 written as 0) + the significant bits, which sets the window.
//!
//! Timestamp arithmetic wraps (as Go's does), so any i64 sequence round-trips; the storage
//! only ever appends increasing timestamps.

use narthex_model::Sample;

/// The most samples the storage puts in one chunk (Prometheus's default; the header could count
/// up to `u16::MAX`). Enforced by the caller, not by [`XorChunk::append`].
pub const MAX_SAMPLES_PER_CHUNK: usize = 120;

/// Bytes of the sample count header.
const HEADER_LEN: usize = 2;

/// Leading-zero count that means "no XOR window has been written yet": the next changed value
/// must spell its window out with `11`.
const NO_WINDOW: u8 = u8::MAX;

/// The encoder notes its state every this many samples ([`Checkpoint`]), so that a read of
/// a chunk's newest samples (a query of the present) decodes from the last note before its
/// range instead of from the chunk's first sample.
const CHECKPOINT_EVERY: u16 = 32;

/// Checkpoints a chunk of [`MAX_SAMPLES_PER_CHUNK`] samples has; a longer chunk (reopened
/// from foreign bytes) has no more.
const CHECKPOINTS: usize = (MAX_SAMPLES_PER_CHUNK - 1) / CHECKPOINT_EVERY as usize;

/// The decoder's state after a chunk's first `read` samples, taken from the encoder's: where
/// the next sample's bits begin and what decoding it needs.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
struct Checkpoint {
    /// Bits before the next sample's, header included.
    bit: u32,
    read: u16,
    leading: u8,
    trailing: u8,
    t: i64,
    v: u64,
    t_delta: u64,
}

/// Where checkpoint `count / CHECKPOINT_EVERY` goes once `count` samples are decoded or
/// encoded, if that is a checkpoint's count and there is room for it.
fn checkpoint_slot(
    checkpoints: &mut [Checkpoint; CHECKPOINTS],
    count: u16,
) -> Option<&mut Checkpoint> {
    if !count.is_multiple_of(CHECKPOINT_EVERY) {
        return None;
    }
    checkpoints.get_mut(usize::from(count / CHECKPOINT_EVERY).checked_sub(1)?)
}

/// A chunk of `u16::MAX` samples has fewer bits than a `u32` counts (under 160 bits a
/// sample: at most a 10-byte varint, then `11`, 11 bits of window and 64 bits of value), so a
/// checkpoint's bit position fits.
const _: () = assert!(HEADER_LEN * 8 + u16::MAX as usize * 160 <= u32::MAX as usize);

/// Zero bytes the encoder keeps from the byte holding its next bit on, so that each write is a
/// plain read-OR-write of a big-endian u64 (plus a ninth byte when it straddles one), with one
/// growth check per sample instead of one per write. A sample touches at most 21 bytes from
/// there: 7 bits already used, a 10-byte uvarint, then `11` + 11 + 64 bits of value.
const SLACK: usize = 32;

/// Why a chunk could not be decoded. Chunks come from disk, so every malformed input ends in
/// one of these rather than in a panic.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ChunkError {
    /// Fewer bytes than the 2-byte sample count.
    #[error("chunk of {len} bytes is shorter than its 2-byte sample count header")]
    MissingHeader { len: usize },
    /// The bitstream ends before the samples its header counts; `index` samples decoded fine.
    #[error("chunk truncated: data ends after {index} of {count} samples")]
    Truncated { index: u16, count: u16 },
    /// The bits cannot have been written by an XOR encoder; `index` samples decoded fine.
    #[error("corrupt chunk after {index} of {count} samples: {reason}")]
    Corrupt {
        index: u16,
        count: u16,
        reason: &'static str,
    },
}

/// An XOR chunk being appended to. `bytes()` is a complete, decodable chunk after every append.
#[derive(Clone, Debug)]
pub struct XorChunk {
    /// Header and bitstream, followed by `SLACK` zero bytes or more that `bytes()` leaves out.
    buf: Vec<u8>,
    /// Bits written, header included.
    bit_len: usize,
    count: u16,
    first_t: i64,
    t: i64,
    v: u64,
    t_delta: u64,
    leading: u8,
    trailing: u8,
    /// One every [`CHECKPOINT_EVERY`] samples; the first `count / CHECKPOINT_EVERY` (at most
    /// all) are noted.
    checkpoints: [Checkpoint; CHECKPOINTS],
}

impl Default for XorChunk {
    fn default() -> Self {
        Self::new()
    }
}

impl XorChunk {
    /// An empty chunk: just the zero sample count.
    pub fn new() -> Self {
        XorChunk {
            // A full chunk of a regular series is 150-250 bytes; start at half of that.
            buf: vec![0; 128],
            bit_len: HEADER_LEN * 8,
            count: 0,
            first_t: 0,
            t: 0,
            v: 0,
            t_delta: 0,
            leading: NO_WINDOW,
            trailing: 0,
            checkpoints: [Checkpoint::default(); CHECKPOINTS],
        }
    }

    /// Appends a sample. The caller guarantees `t` greater than the last timestamp and at most
    /// [`MAX_SAMPLES_PER_CHUNK`] samples.
    ///
    /// # Panics
    /// When the chunk already holds `u16::MAX` samples (the header could not count another).
    #[inline]
    pub fn append(&mut self, t: i64, v: f64) {
        assert!(
            self.count < u16::MAX,
            "XOR chunk is full ({} samples)",
            self.count
        );
        let need = self.bit_len / 8 + SLACK;
        if self.buf.len() < need {
            self.buf.resize(need, 0);
        }
        let v = v.to_bits();
        match self.count {
            0 => {
                self.write_uvarint(zigzag(t));
                self.write_bits(v, 64);
                self.first_t = t;
            }
            1 => {
                let t_delta = t.wrapping_sub(self.t) as u64;
                self.write_uvarint(t_delta);
                self.write_value(v);
                self.t_delta = t_delta;
            }
            _ => {
                let t_delta = t.wrapping_sub(self.t) as u64;
                self.write_dod(t_delta.wrapping_sub(self.t_delta) as i64);
                self.write_value(v);
                self.t_delta = t_delta;
            }
        }
        self.t = t;
        self.v = v;
        self.count += 1;
        self.buf[..HEADER_LEN].copy_from_slice(&self.count.to_be_bytes());
        if let Some(slot) = checkpoint_slot(&mut self.checkpoints, self.count) {
            *slot = Checkpoint {
                // Fits: see the assertion beside `checkpoint_slot`.
                bit: self.bit_len as u32,
                read: self.count,
                leading: self.leading,
                trailing: self.trailing,
                t: self.t,
                v: self.v,
                t_delta: self.t_delta,
            };
        }
    }

    /// The checkpoints noted so far, oldest first.
    fn noted(&self) -> &[Checkpoint] {
        let noted = usize::from(self.count / CHECKPOINT_EVERY).min(CHECKPOINTS);
        &self.checkpoints[..noted]
    }

    /// As [`decode_range`] of [`Self::bytes`], decoding from the last checkpoint before
    /// `mint` rather than from the first sample.
    pub fn decode_range(
        &self,
        mint: i64,
        maxt: i64,
        out: &mut Vec<Sample>,
    ) -> Result<(), ChunkError> {
        // Timestamps never decrease, so every sample at `mint` or after follows it.
        match self.noted().iter().rev().find(|c| c.t < mint) {
            Some(checkpoint) if mint <= maxt => {
                decode_samples(Decoder::resume(self.bytes(), checkpoint)?, mint, maxt, out)
            }
            _ => decode_range(self.bytes(), mint, maxt, out),
        }
    }

    /// Samples in the chunk.
    pub fn len(&self) -> usize {
        usize::from(self.count)
    }

    pub fn is_empty(&self) -> bool {
        self.count == 0
    }

    /// The encoded chunk, header included.
    pub fn bytes(&self) -> &[u8] {
        &self.buf[..self.bit_len.div_ceil(8)]
    }

    /// The encoded chunk, header included, without copying (its capacity is not trimmed).
    pub fn into_bytes(mut self) -> Vec<u8> {
        self.buf.truncate(self.bit_len.div_ceil(8));
        self.buf
    }

    pub fn first_time(&self) -> Option<i64> {
        (self.count > 0).then_some(self.first_t)
    }

    pub fn last_time(&self) -> Option<i64> {
        (self.count > 0).then_some(self.t)
    }

    pub fn last_value(&self) -> Option<f64> {
        (self.count > 0).then(|| f64::from_bits(self.v))
    }

    /// Reopens an encoded chunk for appending: decodes it all to recover the encoder's state,
    /// so that appending afterwards writes the same bits as if the chunk had never been closed.
    /// Bytes past the last sample (none in a chunk this module wrote) are dropped.
    pub fn from_bytes(mut bytes: Vec<u8>) -> Result<XorChunk, ChunkError> {
        let mut dec = Decoder::new(&bytes)?;
        let mut first_t = 0;
        let mut checkpoints = [Checkpoint::default(); CHECKPOINTS];
        if let Some((t, _)) = dec.next()? {
            first_t = t;
            while dec.next()?.is_some() {
                if let Some(slot) = checkpoint_slot(&mut checkpoints, dec.read) {
                    *slot = dec.checkpoint();
                }
            }
        }
        let bit_len = HEADER_LEN * 8 + dec.r.consumed_bits();
        let count = dec.count;
        // The encoder's state is what it would have noted after its last sample.
        let Checkpoint {
            leading,
            trailing,
            t,
            v,
            t_delta,
            ..
        } = dec.checkpoint();

        // The encoder ORs bits in, so everything past the last written bit must be zero.
        let byte_len = bit_len.div_ceil(8);
        bytes.truncate(byte_len);
        let used_in_last = (bit_len % 8) as u32;
        if let (1..=7, Some(last)) = (used_in_last, bytes.last_mut()) {
            *last &= 0xffu8 << (8 - used_in_last);
        }
        bytes.resize(byte_len + SLACK, 0);
        Ok(XorChunk {
            buf: bytes,
            bit_len,
            count,
            first_t,
            t,
            v,
            t_delta,
            leading,
            trailing,
            checkpoints,
        })
    }

    /// Iterates over the samples appended so far.
    pub fn iter(&self) -> ChunkIter<'_> {
        ChunkIter::new(self.bytes())
    }

    /// Writes the low `n` bits of `v` (1 <= n <= 64), most significant first.
    #[inline(always)]
    fn write_bits(&mut self, v: u64, n: u32) {
        debug_assert!((1..=64).contains(&n));
        // Left-align, which also drops any bits of `v` above the low `n`.
        let aligned = v << (64 - n);
        let idx = self.bit_len >> 3;
        let off = (self.bit_len & 7) as u32;
        let word: &mut [u8; 8] = (&mut self.buf[idx..idx + 8])
            .try_into()
            .expect("an 8-byte slice");
        *word = (u64::from_be_bytes(*word) | (aligned >> off)).to_be_bytes();
        if off + n > 64 {
            // The last `off` bits spill into a ninth byte.
            self.buf[idx + 8] |= ((aligned << (64 - off)) >> 56) as u8;
        }
        self.bit_len += n as usize;
    }

    #[inline]
    fn write_uvarint(&mut self, mut x: u64) {
        while x >= 0x80 {
            self.write_bits(x | 0x80, 8);
            x >>= 7;
        }
        self.write_bits(x, 8);
    }

    #[inline(always)]
    fn write_dod(&mut self, dod: i64) {
        // Prefix and field go out as one write; the field is masked so a negative dod's sign
        // extension does not run into the prefix.
        let d = dod as u64;
        if dod == 0 {
            self.write_bits(0, 1);
        } else if fits(dod, 14) {
            self.write_bits((0b10 << 14) | (d & mask(14)), 2 + 14);
        } else if fits(dod, 17) {
            self.write_bits((0b110 << 17) | (d & mask(17)), 3 + 17);
        } else if fits(dod, 20) {
            self.write_bits((0b1110 << 20) | (d & mask(20)), 4 + 20);
        } else {
            self.write_bits(0b1111, 4);
            self.write_bits(d, 64);
        }
    }

    #[inline(always)]
    fn write_value(&mut self, v: u64) {
        let xor = v ^ self.v;
        if xor == 0 {
            self.write_bits(0, 1);
            return;
        }
        // Five bits carry the leading count; a larger one just spends a few more zero bits.
        let leading = (xor.leading_zeros() as u8).min(31);
        let trailing = xor.trailing_zeros() as u8;
        if self.leading != NO_WINDOW && leading >= self.leading && trailing >= self.trailing {
            let sig = 64 - u32::from(self.leading) - u32::from(self.trailing);
            let bits = xor >> self.trailing;
            // One write when control and bits fit in a word, as they nearly always do.
            if sig <= 62 {
                self.write_bits((0b10 << sig) | bits, 2 + sig);
            } else {
                self.write_bits(0b10, 2);
                self.write_bits(bits, sig);
            }
        } else {
            self.leading = leading;
            self.trailing = trailing;
            let sig = 64 - u32::from(leading) - u32::from(trailing);
            // 64 significant bits do not fit in 6 bits; 0 never occurs otherwise (xor != 0),
            // so it stands for 64, masked off here.
            let header = (0b11 << 11) | (u64::from(leading) << 6) | u64::from(sig & 63);
            let bits = xor >> trailing;
            if sig <= 64 - 13 {
                self.write_bits((header << sig) | bits, 13 + sig);
            } else {
                self.write_bits(header, 13);
                self.write_bits(bits, sig);
            }
        }
    }
}

/// Go's varint zigzag: small negative numbers get short encodings too.
#[inline]
fn zigzag(x: i64) -> u64 {
    ((x as u64) << 1) ^ ((x >> 63) as u64)
}

#[inline]
fn unzigzag(u: u64) -> i64 {
    ((u >> 1) as i64) ^ -((u & 1) as i64)
}

#[inline(always)]
fn mask(n: u32) -> u64 {
    (1u64 << n) - 1
}

/// Whether `x` has an `n`-bit field: Prometheus's `bitRange`, `-(2^(n-1) - 1) ..= 2^(n-1)`.
#[inline(always)]
fn fits(x: i64, n: u32) -> bool {
    let half = 1i64 << (n - 1);
    -(half - 1) <= x && x <= half
}

/// A big-endian bit reader over a byte slice that loads 8 bytes at a time into a 64-bit
/// accumulator, so most reads are a compare, a shift and a subtract.
#[derive(Clone, Debug)]
struct BitReader<'a> {
    data: &'a [u8],
    /// Next byte of `data` not yet counted in `valid`.
    pos: usize,
    /// Unread bits, left-aligned. Bits below the top `valid` are either the stream's next bits
    /// (a word load brings in more than it counts) or zero past the end of `data`.
    acc: u64,
    valid: u32,
}

impl<'a> BitReader<'a> {
    fn new(data: &'a [u8]) -> Self {
        BitReader {
            data,
            pos: 0,
            acc: 0,
            valid: 0,
        }
    }

    /// Tops `valid` up to at least 56 bits, or to all that is left. Only called with
    /// `valid < 56`, so no shift below reaches 64.
    #[inline(always)]
    fn refill(&mut self) {
        match self
            .data
            .get(self.pos..)
            .and_then(|rest| rest.first_chunk::<8>())
        {
            Some(word) => {
                self.acc |= u64::from_be_bytes(*word) >> self.valid;
                let bytes = (63 - self.valid) >> 3;
                self.pos += bytes as usize;
                self.valid += bytes * 8;
            }
            None => self.refill_tail(),
        }
    }

    /// The last 7 bytes, one at a time.
    #[cold]
    fn refill_tail(&mut self) {
        while self.valid <= 56 {
            let Some(&b) = self.data.get(self.pos) else {
                break;
            };
            self.acc |= u64::from(b) << (56 - self.valid);
            self.pos += 1;
            self.valid += 8;
        }
    }

    /// Reads `n` bits, 1 <= n <= 56; `None` when the data ends first.
    #[inline(always)]
    fn read(&mut self, n: u32) -> Option<u64> {
        debug_assert!((1..=56).contains(&n));
        if self.valid < n {
            self.refill();
            if self.valid < n {
                return None;
            }
        }
        let v = self.acc >> (64 - n);
        self.acc <<= n;
        self.valid -= n;
        Some(v)
    }

    /// Reads `n` bits, 1 <= n <= 64.
    #[inline(always)]
    fn read_long(&mut self, n: u32) -> Option<u64> {
        if n <= 56 {
            self.read(n)
        } else {
            let high = self.read(n - 32)?;
            let low = self.read(32)?;
            Some((high << 32) | low)
        }
    }

    /// Reads a prefix code of up to 4 bits, `0`, `10`, `110`, `1110` or `1111`, and returns its
    /// count of one bits.
    #[inline(always)]
    fn read_dod_prefix(&mut self) -> Option<u32> {
        if self.valid < 4 {
            self.refill();
        }
        // Bits past the end of the data are zero, so counting ones may look past `valid`; the
        // length check below catches a code that does not end inside the data.
        let ones = (!self.acc).leading_zeros().min(4);
        let len = if ones == 4 { 4 } else { ones + 1 };
        if len > self.valid {
            return None;
        }
        self.acc <<= len;
        self.valid -= len;
        Some(ones)
    }

    /// Reads a value control code: `0` -> 0, `10` -> 2, `11` -> 3.
    #[inline(always)]
    fn read_value_control(&mut self) -> Option<u32> {
        if self.valid < 2 {
            self.refill();
        }
        let top = (self.acc >> 62) as u32;
        let len = if top < 2 { 1 } else { 2 };
        if len > self.valid {
            return None;
        }
        self.acc <<= len;
        self.valid -= len;
        Some(if top < 2 { 0 } else { top })
    }

    /// Bits read so far.
    fn consumed_bits(&self) -> usize {
        self.pos * 8 - self.valid as usize
    }
}

/// The decoder's state: the mirror image of the encoder's.
#[derive(Clone, Debug)]
struct Decoder<'a> {
    r: BitReader<'a>,
    count: u16,
    read: u16,
    t: i64,
    v: u64,
    t_delta: u64,
    /// The XOR window as trailing zeros and significant bits. Before any `11` it is the whole
    /// word, which is how Prometheus reads a `10` written by an appender reopened before any
    /// window was set.
    trailing: u32,
    sig: u32,
    /// Whether a `10` or `11` has been read; only `XorChunk::from_bytes` needs it, to resume an
    /// encoder that has no window yet.
    window_set: bool,
}

impl<'a> Decoder<'a> {
    fn new(bytes: &'a [u8]) -> Result<Self, ChunkError> {
        let Some((header, data)) = bytes.split_first_chunk::<HEADER_LEN>() else {
            return Err(ChunkError::MissingHeader { len: bytes.len() });
        };
        Ok(Self::with_count(u16::from_be_bytes(*header), data))
    }

    fn with_count(count: u16, data: &'a [u8]) -> Self {
        Decoder {
            r: BitReader::new(data),
            count,
            read: 0,
            t: 0,
            v: 0,
            t_delta: 0,
            trailing: 0,
            sig: 64,
            window_set: false,
        }
    }

    /// A decoder of `bytes` (a chunk's, header included) that goes on after `checkpoint`,
    /// noted by the encoder of those bytes.
    fn resume(bytes: &'a [u8], checkpoint: &Checkpoint) -> Result<Self, ChunkError> {
        let mut dec = Self::new(bytes)?;
        let bit = (checkpoint.bit as usize).saturating_sub(HEADER_LEN * 8);
        if checkpoint.read > dec.count || bit > dec.r.data.len() * 8 {
            return Err(dec.corrupt("checkpoint past the end of the chunk"));
        }
        dec.r.pos = bit / 8;
        let skip = (bit % 8) as u32;
        if skip > 0 && dec.r.read(skip).is_none() {
            return Err(dec.truncated());
        }
        dec.read = checkpoint.read;
        dec.t = checkpoint.t;
        dec.v = checkpoint.v;
        dec.t_delta = checkpoint.t_delta;
        dec.window_set = checkpoint.leading != NO_WINDOW;
        if dec.window_set {
            dec.trailing = u32::from(checkpoint.trailing);
            dec.sig = 64 - u32::from(checkpoint.leading) - dec.trailing;
        }
        Ok(dec)
    }

    /// The state after the samples read so far, as the encoder notes it.
    fn checkpoint(&self) -> Checkpoint {
        Checkpoint {
            // Fits: see the assertion beside `checkpoint_slot`.
            bit: (HEADER_LEN * 8 + self.r.consumed_bits()) as u32,
            read: self.read,
            leading: if self.window_set {
                (64 - self.trailing - self.sig) as u8
            } else {
                NO_WINDOW
            },
            trailing: if self.window_set {
                self.trailing as u8
            } else {
                0
            },
            t: self.t,
            v: self.v,
            t_delta: self.t_delta,
        }
    }

    /// A capacity hint that a corrupt header cannot inflate: after the first, a sample takes
    /// at least 2 bits.
    fn size_hint(&self) -> usize {
        let left = usize::from(self.count - self.read);
        left.min(self.r.data.len() * 4 + 1)
    }

    /// Decodes the next sample as (timestamp, value bits).
    #[inline(always)]
    fn next(&mut self) -> Result<Option<(i64, u64)>, ChunkError> {
        if self.read == self.count {
            return Ok(None);
        }
        if self.read >= 2 {
            self.read_dod()?;
        } else {
            self.read_head()?;
        }
        self.read += 1;
        Ok(Some((self.t, self.v)))
    }

    /// Samples 0 and 1, with their varints.
    #[inline(never)]
    fn read_head(&mut self) -> Result<(), ChunkError> {
        if self.read == 0 {
            self.t = unzigzag(self.read_uvarint()?);
            self.v = match self.r.read_long(64) {
                Some(v) => v,
                None => return Err(self.truncated()),
            };
            Ok(())
        } else {
            self.t_delta = self.read_uvarint()?;
            self.t = self.t.wrapping_add(self.t_delta as i64);
            self.read_value()
        }
    }

    #[inline(always)]
    fn read_dod(&mut self) -> Result<(), ChunkError> {
        let Some(ones) = self.r.read_dod_prefix() else {
            return Err(self.truncated());
        };
        let dod = match ones {
            0 => 0,
            4 => match self.r.read_long(64) {
                Some(bits) => bits as i64,
                None => return Err(self.truncated()),
            },
            _ => {
                let n = [0, 14, 17, 20][ones as usize];
                let Some(bits) = self.r.read(n) else {
                    return Err(self.truncated());
                };
                // Two's complement in n bits, where 2^(n-1) itself reads as positive.
                if bits > 1 << (n - 1) {
                    bits as i64 - (1i64 << n)
                } else {
                    bits as i64
                }
            }
        };
        self.t_delta = self.t_delta.wrapping_add(dod as u64);
        self.t = self.t.wrapping_add(self.t_delta as i64);
        self.read_value()
    }

    #[inline(always)]
    fn read_value(&mut self) -> Result<(), ChunkError> {
        let Some(control) = self.r.read_value_control() else {
            return Err(self.truncated());
        };
        if control == 0 {
            return Ok(());
        }
        if control == 3 {
            let Some(header) = self.r.read(5 + 6) else {
                return Err(self.truncated());
            };
            let leading = (header >> 6) as u32;
            let sig = match (header & 63) as u32 {
                0 => 64,
                sig => sig,
            };
            if leading + sig > 64 {
                return Err(self.corrupt("leading zeros and significant bits exceed 64"));
            }
            self.trailing = 64 - leading - sig;
            self.sig = sig;
        }
        self.window_set = true;
        let Some(bits) = self.r.read_long(self.sig) else {
            return Err(self.truncated());
        };
        self.v ^= bits << self.trailing;
        Ok(())
    }

    fn read_uvarint(&mut self) -> Result<u64, ChunkError> {
        // Go's binary.ReadUvarint: at most 10 bytes, the 10th at most 1.
        let mut x = 0u64;
        for i in 0..10 {
            let Some(b) = self.r.read(8) else {
                return Err(self.truncated());
            };
            if b < 0x80 {
                if i == 9 && b > 1 {
                    break;
                }
                return Ok(x | (b << (7 * i)));
            }
            x |= (b & 0x7f) << (7 * i);
        }
        Err(self.corrupt("varint overflows 64 bits"))
    }

    #[cold]
    fn truncated(&self) -> ChunkError {
        ChunkError::Truncated {
            index: self.read,
            count: self.count,
        }
    }

    #[cold]
    fn corrupt(&self, reason: &'static str) -> ChunkError {
        ChunkError::Corrupt {
            index: self.read,
            count: self.count,
            reason,
        }
    }
}

/// Iterates over an encoded chunk's samples as `(timestamp, value)`. Yields at most one error,
/// then ends.
#[derive(Clone, Debug)]
pub struct ChunkIter<'a> {
    dec: Decoder<'a>,
    /// An error to yield before ending: a missing header, or the one `dec` returned.
    error: Option<ChunkError>,
}

impl<'a> ChunkIter<'a> {
    /// Iterates over `bytes`, an encoded chunk header included.
    pub fn new(bytes: &'a [u8]) -> Self {
        match Decoder::new(bytes) {
            Ok(dec) => ChunkIter { dec, error: None },
            Err(e) => ChunkIter {
                dec: Decoder::with_count(0, &[]),
                error: Some(e),
            },
        }
    }
}

impl Iterator for ChunkIter<'_> {
    type Item = Result<(i64, f64), ChunkError>;

    #[inline]
    fn next(&mut self) -> Option<Self::Item> {
        if let Some(e) = self.error.take() {
            return Some(Err(e));
        }
        match self.dec.next() {
            Ok(Some((t, v))) => Some(Ok((t, f64::from_bits(v)))),
            Ok(None) => None,
            Err(e) => {
                // End after this error: make the decoder look exhausted.
                self.dec.count = self.dec.read;
                Some(Err(e))
            }
        }
    }

    fn size_hint(&self) -> (usize, Option<usize>) {
        let errors = usize::from(self.error.is_some());
        (
            0,
            Some(usize::from(self.dec.count - self.dec.read) + errors),
        )
    }
}

/// Appends all samples of the encoded chunk `bytes` to `out`. On error, `out` keeps the samples
/// decoded before it.
pub fn decode(bytes: &[u8], out: &mut Vec<Sample>) -> Result<(), ChunkError> {
    let mut dec = Decoder::new(bytes)?;
    out.reserve(dec.size_hint());
    while let Some((t, v)) = dec.next()? {
        out.push(Sample {
            t,
            v: f64::from_bits(v),
        });
    }
    Ok(())
}

/// Appends the samples of the encoded chunk `bytes` with `mint <= t <= maxt` to `out`, and stops
/// decoding at the first sample after `maxt` (so corruption past it goes unnoticed). On error,
/// `out` keeps the samples decoded before it.
pub fn decode_range(
    bytes: &[u8],
    mint: i64,
    maxt: i64,
    out: &mut Vec<Sample>,
) -> Result<(), ChunkError> {
    decode_samples(Decoder::new(bytes)?, mint, maxt, out)
}

fn decode_samples(
    mut dec: Decoder<'_>,
    mint: i64,
    maxt: i64,
    out: &mut Vec<Sample>,
) -> Result<(), ChunkError> {
    if mint > maxt {
        return Ok(());
    }
    while let Some((t, v)) = dec.next()? {
        if t > maxt {
            break;
        }
        if t >= mint {
            out.push(Sample {
                t,
                v: f64::from_bits(v),
            });
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    const STALE_NAN: u64 = 0x7ff0_0000_0000_0002;

    fn special_values() -> Vec<f64> {
        vec![
            f64::from_bits(STALE_NAN),
            f64::NAN,
            f64::from_bits(0xfff8_0000_0000_0001), // negative quiet NaN with a payload
            f64::from_bits(0x7ff0_0000_0000_0001), // signalling NaN
            f64::INFINITY,
            f64::NEG_INFINITY,
            0.0,
            -0.0,
            f64::MIN_POSITIVE,
            f64::from_bits(1),                     // smallest subnormal
            f64::from_bits(0x000f_ffff_ffff_ffff), // largest subnormal
            -f64::from_bits(1),
            f64::MAX,
            f64::MIN,
            f64::EPSILON,
            1.0,
            -1.0,
        ]
    }

    fn encode(samples: &[(i64, f64)]) -> XorChunk {
        let mut c = XorChunk::new();
        for &(t, v) in samples {
            c.append(t, v);
        }
        c
    }

    fn bits(samples: &[(i64, f64)]) -> Vec<(i64, u64)> {
        samples.iter().map(|&(t, v)| (t, v.to_bits())).collect()
    }

    fn sample_bits(samples: &[Sample]) -> Vec<(i64, u64)> {
        samples.iter().map(|s| (s.t, s.v.to_bits())).collect()
    }

    fn decoded(bytes: &[u8]) -> Result<Vec<(i64, u64)>, ChunkError> {
        let mut out = Vec::new();
        decode(bytes, &mut out)?;
        Ok(sample_bits(&out))
    }

    /// Every way of reading the chunk agrees with what went in, bit for bit.
    fn assert_round_trip(samples: &[(i64, f64)]) {
        let c = encode(samples);
        let want = bits(samples);
        assert_eq!(c.len(), samples.len());
        assert_eq!(c.is_empty(), samples.is_empty());
        assert_eq!(
            u16::from_be_bytes([c.bytes()[0], c.bytes()[1]]) as usize,
            samples.len()
        );
        assert_eq!(decoded(c.bytes()).unwrap(), want);
        let via_iter: Vec<(i64, u64)> = c
            .iter()
            .map(|r| r.map(|(t, v)| (t, v.to_bits())).unwrap())
            .collect();
        assert_eq!(via_iter, want);
        assert_eq!(c.first_time(), samples.first().map(|s| s.0));
        assert_eq!(c.last_time(), samples.last().map(|s| s.0));
        assert_eq!(
            c.last_value().map(f64::to_bits),
            samples.last().map(|s| s.1.to_bits())
        );
        let mut all = Vec::new();
        decode_range(c.bytes(), i64::MIN, i64::MAX, &mut all).unwrap();
        assert_eq!(sample_bits(&all), want);
    }

    #[test]
    fn empty_chunk_is_just_a_zero_count() {
        let c = XorChunk::new();
        assert_eq!(c.bytes(), &[0, 0]);
        assert!(c.is_empty());
        assert_eq!(c.first_time(), None);
        assert_eq!(c.last_time(), None);
        assert_eq!(c.last_value(), None);
        assert_eq!(decoded(c.bytes()).unwrap(), vec![]);
        assert_eq!(c.iter().count(), 0);
        let reopened = XorChunk::from_bytes(vec![0, 0]).unwrap();
        assert_eq!(reopened.bytes(), &[0, 0]);
    }

    /// Bytes worked out by hand from Prometheus's format: varint(1000) = zigzag 2000 = d0 0f,
    /// 1.0 = 3ff0..., uvarint(1000) = e8 07, then `0` (same value), `0` (dod 0), `0` (same).
    #[test]
    fn golden_bytes_for_a_constant_series() {
        let c = encode(&[(1000, 1.0), (2000, 1.0), (3000, 1.0)]);
        assert_eq!(
            c.bytes(),
            &[0, 3, 0xd0, 0x0f, 0x3f, 0xf0, 0, 0, 0, 0, 0, 0, 0xe8, 0x07, 0x00]
        );
    }

    /// 1.0 ^ 2.0 = 0x7ff0_0000_0000_0000: leading 1, trailing 52, 11 significant bits, so
    /// `11` 00001 001011 11111111111 = c2 5f ff; uvarint(15000) = 98 75.
    #[test]
    fn golden_bytes_for_a_new_window() {
        let c = encode(&[(0, 1.0), (15_000, 2.0)]);
        assert_eq!(
            c.bytes(),
            &[0, 2, 0x00, 0x3f, 0xf0, 0, 0, 0, 0, 0, 0, 0x98, 0x75, 0xc2, 0x5f, 0xff]
        );
    }

    /// Chunks written by Prometheus's own Go encoder (as published with the rusty-chunkenc
    /// project's Go cross-tests): ten samples of a counter at 1 ms steps, and one sample with
    /// and without the spare zero byte older Prometheus versions left at the end.
    #[test]
    fn prometheus_written_chunks() {
        let go: [u8; 27] = [
            0x00, 0x0a, 0xf8, 0xe8, 0xf9, 0x98, 0x09, 0x40, 0xfe, 0x28, 0xf1, 0xf7, 0xce, 0xd9,
            0x17, 0x01, 0xee, 0x2f, 0xd0, 0x50, 0xd0, 0x51, 0xd0, 0x50, 0xd0, 0x53, 0xc0,
        ];
        let samples: Vec<(i64, f64)> = (0..10)
            .map(|i| (1_234_123_324 + i, 123_535.123 + i as f64))
            .collect();
        assert_eq!(encode(&samples).bytes(), &go);
        assert_eq!(decoded(&go).unwrap(), bits(&samples));

        let one = [
            0x00, 0x01, 0x80, 0xf4, 0xee, 0x06, 0x40, 0xc7, 0x70, 0, 0, 0, 0, 0,
        ];
        let want = bits(&[(7_200_000, 12_000.0)]);
        assert_eq!(encode(&[(7_200_000, 12_000.0)]).bytes(), &one);
        let mut with_spare_byte = one.to_vec();
        with_spare_byte.push(0);
        assert_eq!(decoded(&with_spare_byte).unwrap(), want);
        let reopened = XorChunk::from_bytes(with_spare_byte).unwrap();
        assert_eq!(reopened.bytes(), &one);
    }

    #[test]
    fn special_values_round_trip_bit_exact() {
        let specials = special_values();
        // Each special after each other one, so every XOR shape between them is exercised.
        let mut samples = Vec::new();
        let mut t = -5_000;
        for a in &specials {
            for b in &specials {
                samples.push((t, *a));
                samples.push((t + 15_000, *b));
                t += 30_000;
            }
        }
        for chunk in samples.chunks(MAX_SAMPLES_PER_CHUNK) {
            assert_round_trip(chunk);
        }
        // Repeated staleness markers, as a disappearing series writes them.
        let stale = f64::from_bits(STALE_NAN);
        assert_round_trip(&[(0, 1.0), (1, stale), (2, stale), (3, 2.0), (4, stale)]);
    }

    #[test]
    fn xor_window_edge_cases() {
        let f = f64::from_bits;
        // 64 significant bits (written as 0 in 6 bits), then reuse of that full window.
        assert_round_trip(&[(0, f(0)), (1, f(0x8000_0000_0000_0001)), (2, f(0x1))]);
        // More than 31 leading zeros, clamped to 31.
        assert_round_trip(&[(0, f(0)), (1, f(1)), (2, f(3)), (3, f(1 << 40))]);
        // A window narrowing then widening again.
        assert_round_trip(&[
            (0, f(0xff00)),
            (1, f(0x0f00)),
            (2, f(0x0e00)),
            (3, f(0xffff_ffff_0000_0000)),
            (4, f(0x1)),
        ]);
    }

    /// Bits written for sample 2 for each dod bucket boundary: prefix + field.
    #[test]
    fn dod_buckets_match_prometheus_bit_ranges() {
        let cases: &[(i64, usize)] = &[
            (0, 1),
            (1, 16),
            (-1, 16),
            (8192, 16),
            (-8191, 16),
            (-8192, 20),
            (8193, 20),
            (65536, 20),
            (-65535, 20),
            (-65536, 24),
            (65537, 24),
            (524_288, 24),
            (-524_287, 24),
            (-524_288, 68),
            (524_289, 68),
            (i64::MAX / 4, 68),
            (i64::MIN / 4, 68),
        ];
        for &(dod, want_bits) in cases {
            let base = 1_000_000_000_000i64;
            let delta = 10_000_000_000i64;
            let samples = [
                (base, 1.0),
                (base + delta, 1.0),
                (base + 2 * delta + dod, 1.0),
            ];
            let mut c = encode(&samples[..2]);
            let before = c.bit_len;
            c.append(samples[2].0, samples[2].1);
            // One more bit for the unchanged value.
            assert_eq!(c.bit_len - before, want_bits + 1, "dod {dod}");
            assert_round_trip(&samples);
        }
    }

    #[test]
    fn extreme_timestamps_wrap_like_go() {
        assert_round_trip(&[(i64::MIN, 1.0), (i64::MAX, 2.0), (i64::MIN, 3.0)]);
        assert_round_trip(&[(i64::MIN, 1.0), (0, 2.0), (i64::MAX, 3.0), (i64::MAX, 3.0)]);
        assert_round_trip(&[(-1, 0.5), (0, 0.5), (1, 0.5)]);
    }

    #[test]
    fn regular_counter_encodes_under_two_bytes_per_sample() {
        // A counter scraped every 15 s, growing by a few requests per scrape, as most series are.
        let mut samples = Vec::new();
        let mut v = 1_234_567.0;
        let mut seed = 0x2545_f491_4f6c_dd1du64;
        for i in 0..MAX_SAMPLES_PER_CHUNK as i64 {
            seed ^= seed << 13;
            seed ^= seed >> 7;
            seed ^= seed << 17;
            v += (seed % 8) as f64;
            samples.push((1_700_000_000_000 + i * 15_000, v));
        }
        let c = encode(&samples);
        let per_sample = c.bytes().len() as f64 / samples.len() as f64;
        println!(
            "120-sample regular counter: {} bytes, {per_sample:.3} bytes/sample",
            c.bytes().len()
        );
        assert!(per_sample < 2.0, "{per_sample} bytes/sample");
        assert_round_trip(&samples);

        // A gauge that never changes costs 2 bits a sample.
        let flat: Vec<(i64, f64)> = (0..120).map(|i| (i * 15_000, 42.0)).collect();
        let c = encode(&flat);
        println!("120-sample constant gauge: {} bytes", c.bytes().len());
        assert!(c.bytes().len() < 2 + 1 + 8 + 3 + 30 + 1);
    }

    #[test]
    fn decode_range_bounds_are_inclusive() {
        let samples: Vec<(i64, f64)> = (0..10).map(|i| (i * 10, i as f64)).collect();
        let c = encode(&samples);
        let range = |mint, maxt| {
            let mut out = Vec::new();
            decode_range(c.bytes(), mint, maxt, &mut out).unwrap();
            out.iter().map(|s| s.t).collect::<Vec<_>>()
        };
        assert_eq!(range(20, 40), vec![20, 30, 40]);
        assert_eq!(range(21, 39), vec![30]);
        assert_eq!(range(-100, 0), vec![0]);
        assert_eq!(range(90, 1000), vec![90]);
        assert_eq!(range(91, 1000), Vec::<i64>::new());
        assert_eq!(range(40, 20), Vec::<i64>::new());
    }

    #[test]
    fn decode_range_stops_before_corruption_past_maxt() {
        let samples: Vec<(i64, f64)> = (0..50).map(|i| (i * 15_000, i as f64 * 1.5)).collect();
        let c = encode(&samples);
        let cut = &c.bytes()[..c.bytes().len() - 5];
        let mut out = Vec::new();
        decode_range(cut, 0, 15_000 * 10, &mut out).unwrap();
        assert_eq!(out.len(), 11);
        assert!(matches!(
            decode_range(cut, 0, i64::MAX, &mut Vec::new()),
            Err(ChunkError::Truncated { count: 50, .. })
        ));
    }

    #[test]
    fn malformed_chunks_are_errors() {
        assert_eq!(decoded(&[]), Err(ChunkError::MissingHeader { len: 0 }));
        assert_eq!(decoded(&[1]), Err(ChunkError::MissingHeader { len: 1 }));
        // A count with no samples behind it.
        assert_eq!(
            decoded(&[0, 1]),
            Err(ChunkError::Truncated { index: 0, count: 1 })
        );
        // A varint longer than 10 bytes.
        let mut long_varint = vec![0, 1];
        long_varint.extend([0xff; 11]);
        assert!(matches!(
            decoded(&long_varint),
            Err(ChunkError::Corrupt { index: 0, .. })
        ));
        // A 10th varint byte above 1.
        let mut big_varint = vec![0, 1];
        big_varint.extend([0xff; 9]);
        big_varint.extend([0x02; 9]);
        assert!(matches!(
            decoded(&big_varint),
            Err(ChunkError::Corrupt { index: 0, .. })
        ));
        // `11`, 31 leading zeros, 40 significant bits: 71 > 64.
        let mut c = encode(&[(0, 0.0)]);
        c.buf.resize(c.bit_len / 8 + SLACK, 0);
        c.write_bits(5, 8); // uvarint delta 5
        c.write_bits((0b11 << 11) | (31 << 6) | 40, 13);
        c.write_bits(0, 64);
        c.buf[..2].copy_from_slice(&2u16.to_be_bytes());
        let err = decoded(c.bytes()).unwrap_err();
        assert!(matches!(err, ChunkError::Corrupt { index: 1, .. }), "{err}");
        assert!(err.to_string().contains("exceed 64"), "{err}");
        // The iterator yields the samples before the error, the error, then ends.
        let items: Vec<_> = ChunkIter::new(c.bytes()).collect();
        assert_eq!(items.len(), 2);
        assert!(items[0].is_ok() && items[1].is_err());
        let items: Vec<_> = ChunkIter::new(&[7]).collect();
        assert_eq!(items, vec![Err(ChunkError::MissingHeader { len: 1 })]);
        assert!(XorChunk::from_bytes(vec![0]).is_err());
        assert!(XorChunk::from_bytes(vec![0, 2, 0]).is_err());
    }

    /// A `10` before any window (as Prometheus writes after reopening a chunk whose values never
    /// changed) reads 64 bits, and reopening keeps that full window.
    #[test]
    fn reuse_before_any_window_reads_the_whole_word() {
        let mut c = encode(&[(0, 1.0), (10, 1.0)]);
        c.leading = 0;
        c.trailing = 0;
        c.append(20, 3.0);
        c.append(30, -7.5);
        let want = bits(&[(0, 1.0), (10, 1.0), (20, 3.0), (30, -7.5)]);
        assert_eq!(decoded(c.bytes()).unwrap(), want);
        let mut reopened = XorChunk::from_bytes(c.bytes().to_vec()).unwrap();
        assert_eq!((reopened.leading, reopened.trailing), (0, 0));
        c.append(40, 0.25);
        reopened.append(40, 0.25);
        assert_eq!(c.bytes(), reopened.bytes());
    }

    #[test]
    fn reopening_drops_bytes_past_the_last_sample() {
        let c = encode(&[(0, 1.0), (15, 2.0), (30, 2.5)]);
        let mut dirty = c.bytes().to_vec();
        let last = dirty.len() - 1;
        dirty[last] |= 0xff >> (c.bit_len % 8); // garbage in the padding bits
        dirty.extend([0xab, 0xcd]);
        assert_eq!(decoded(&dirty).unwrap(), decoded(c.bytes()).unwrap());
        let mut reopened = XorChunk::from_bytes(dirty).unwrap();
        assert_eq!(reopened.bytes(), c.bytes());
        reopened.append(45, 3.0);
        let mut clean = c.clone();
        clean.append(45, 3.0);
        assert_eq!(reopened.bytes(), clean.bytes());
        assert_eq!(reopened.into_bytes(), clean.bytes());
    }

    fn arb_value() -> impl Strategy<Value = f64> {
        let specials = special_values();
        prop_oneof![
            3 => any::<u64>().prop_map(f64::from_bits),
            2 => prop::sample::select(specials),
            2 => (0u32..5000).prop_map(f64::from),
            1 => -1e6f64..1e6,
        ]
    }

    /// A series as the storage appends it: increasing timestamps with irregular gaps, values
    /// that often repeat or move a little, and any bit pattern now and then.
    fn arb_series() -> impl Strategy<Value = Vec<(i64, f64)>> {
        let first = prop_oneof![
            Just(0i64),
            -1_000_000_000i64..1_000_000_000,
            -(1i64 << 62)..(1i64 << 62),
        ];
        let delta = prop_oneof![
            Just(0i64),
            0i64..100,
            14_000i64..16_000,
            Just(15_000i64),
            0i64..(1 << 20),
            0i64..(1 << 40),
            0i64..(1 << 55),
        ];
        // `repeat` reuses the previous value so that `0` and `10` codes show up.
        let step = (delta, arb_value(), 0u8..4);
        (
            first,
            prop::collection::vec(step, 0..=MAX_SAMPLES_PER_CHUNK),
        )
            .prop_map(|(first, steps)| {
                let mut t = first;
                let mut prev = 0.0f64;
                let mut out = Vec::with_capacity(steps.len());
                for (i, (delta, v, repeat)) in steps.into_iter().enumerate() {
                    if i > 0 {
                        t += delta;
                    }
                    let v = match repeat {
                        0 if i > 0 => prev,
                        1 if i > 0 => f64::from_bits(prev.to_bits() ^ 1),
                        _ => v,
                    };
                    out.push((t, v));
                    prev = v;
                }
                out
            })
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(512))]

        #[test]
        fn prop_round_trip(samples in arb_series()) {
            assert_round_trip(&samples);
        }

        #[test]
        fn prop_arbitrary_timestamps_round_trip(
            samples in prop::collection::vec((any::<i64>(), any::<u64>()), 0..=MAX_SAMPLES_PER_CHUNK)
        ) {
            let samples: Vec<(i64, f64)> =
                samples.into_iter().map(|(t, v)| (t, f64::from_bits(v))).collect();
            let c = encode(&samples);
            prop_assert_eq!(decoded(c.bytes()).unwrap(), bits(&samples));
        }

        #[test]
        fn prop_bytes_are_valid_after_every_append(samples in arb_series()) {
            let mut c = XorChunk::new();
            for (i, &(t, v)) in samples.iter().enumerate() {
                c.append(t, v);
                prop_assert_eq!(decoded(c.bytes()).unwrap(), bits(&samples[..=i]));
            }
        }

        #[test]
        fn prop_reopen_and_continue_equals_appending_at_once(
            samples in arb_series(),
            split in any::<prop::sample::Index>(),
        ) {
            let whole = encode(&samples);
            let split = split.index(samples.len() + 1);
            let mut c = XorChunk::from_bytes(encode(&samples[..split]).bytes().to_vec()).unwrap();
            for &(t, v) in &samples[split..] {
                c.append(t, v);
            }
            prop_assert_eq!(c.bytes(), whole.bytes());
            prop_assert_eq!(c.len(), whole.len());
            prop_assert_eq!(c.first_time(), whole.first_time());
            prop_assert_eq!(c.last_time(), whole.last_time());
            prop_assert_eq!(c.last_value().map(f64::to_bits), whole.last_value().map(f64::to_bits));
            prop_assert_eq!(
                (c.t_delta, c.leading, c.trailing, c.bit_len),
                (whole.t_delta, whole.leading, whole.trailing, whole.bit_len)
            );
            prop_assert_eq!(
                c.noted(),
                whole.noted()
            );
        }

        #[test]
        fn prop_truncation_is_an_error_with_a_prefix(samples in arb_series()) {
            let c = encode(&samples);
            let full = c.bytes();
            let want = bits(&samples);
            for len in 0..full.len() {
                let mut out = Vec::new();
                let result = decode(&full[..len], &mut out);
                let got = sample_bits(&out);
                prop_assert!(want.starts_with(&got));
                if samples.is_empty() && len >= 2 {
                    prop_assert!(result.is_ok());
                } else {
                    prop_assert!(result.is_err(), "{} of {} bytes decoded", len, full.len());
                }
                prop_assert!(XorChunk::from_bytes(full[..len].to_vec()).is_err() || samples.is_empty());
                let via_iter: Vec<_> = ChunkIter::new(&full[..len]).collect();
                prop_assert!(via_iter.last().is_none_or(|r| r.is_err()) || samples.is_empty());
            }
        }

        #[test]
        fn prop_garbage_never_panics(bytes in prop::collection::vec(any::<u8>(), 0..400)) {
            let mut out = Vec::new();
            let _ = decode(&bytes, &mut out);
            let _ = decode_range(&bytes, -1000, 1000, &mut Vec::new());
            prop_assert_eq!(ChunkIter::new(&bytes).filter(|r| r.is_err()).count() <= 1, true);
            // Whatever reopens must go on encoding decodable chunks.
            if let Ok(mut c) = XorChunk::from_bytes(bytes.clone()) {
                prop_assert_eq!(c.len(), out.len());
                let t = c.last_time().map_or(0, |t| t.wrapping_add(1));
                c.append(t, 1.5);
                let mut again = Vec::new();
                decode(c.bytes(), &mut again).unwrap();
                prop_assert_eq!(again.len(), out.len() + 1);
                prop_assert_eq!(sample_bits(&again[..out.len()]), sample_bits(&out));
            }
        }

        #[test]
        fn prop_garbage_after_a_valid_prefix_never_panics(
            samples in arb_series(),
            tail in prop::collection::vec(any::<u8>(), 0..64),
            count in any::<u16>(),
        ) {
            // A plausible stream with a lying count and random bytes after it.
            let c = encode(&samples);
            let mut bytes = c.bytes().to_vec();
            bytes.extend(tail);
            bytes[..2].copy_from_slice(&count.to_be_bytes());
            let mut out = Vec::new();
            let _ = decode(&bytes, &mut out);
            prop_assert!(out.len() <= usize::from(count));
            let n = out.len().min(samples.len());
            prop_assert_eq!(sample_bits(&out[..n]), bits(&samples[..n]));
        }

        #[test]
        fn prop_decode_range_is_a_filter(
            samples in arb_series(),
            a in any::<prop::sample::Index>(),
            b in any::<prop::sample::Index>(),
            nudge in -1i64..=1,
        ) {
            let c = encode(&samples);
            let pick = |i: &prop::sample::Index| {
                if samples.is_empty() { 0 } else { samples[i.index(samples.len())].0 }
            };
            let (mint, maxt) = (pick(&a).saturating_add(nudge), pick(&b));
            let mut out = Vec::new();
            decode_range(c.bytes(), mint, maxt, &mut out).unwrap();
            let want: Vec<(i64, f64)> =
                samples.iter().copied().filter(|&(t, _)| mint <= t && t <= maxt).collect();
            prop_assert_eq!(sample_bits(&out), bits(&want));
            // From the checkpoints, of the chunk as appended and as reopened.
            let reopened = XorChunk::from_bytes(c.bytes().to_vec()).unwrap();
            for chunk in [&c, &reopened] {
                let mut out = Vec::new();
                chunk.decode_range(mint, maxt, &mut out).unwrap();
                prop_assert_eq!(sample_bits(&out), bits(&want));
            }
        }

        #[test]
        fn prop_each_checkpoint_resumes_the_rest(samples in arb_series()) {
            let c = encode(&samples);
            prop_assert_eq!(
                c.noted().len(),
                (samples.len() / usize::from(CHECKPOINT_EVERY)).min(CHECKPOINTS)
            );
            for checkpoint in c.noted() {
                let mut dec = Decoder::resume(c.bytes(), checkpoint).unwrap();
                let mut rest = Vec::new();
                while let Some((t, v)) = dec.next().unwrap() {
                    rest.push((t, v));
                }
                prop_assert_eq!(rest, bits(&samples[usize::from(checkpoint.read)..]));
            }
        }
    }

    /// The point of checkpoints: a range at a chunk's end is decoded from the last one before
    /// it, without reading the bits before that (here made to decode differently).
    #[test]
    fn a_range_after_a_checkpoint_is_decoded_from_it() {
        let samples: Vec<(i64, f64)> = (0..MAX_SAMPLES_PER_CHUNK as i64)
            .map(|i| (i * 15_000, (i * i) as f64 + 0.5))
            .collect();
        let mut c = encode(&samples);
        assert_eq!(c.noted().len(), CHECKPOINTS);
        let last = c.noted()[CHECKPOINTS - 1];
        assert_eq!(last.read, CHECKPOINT_EVERY * CHECKPOINTS as u16);
        // Flip a bit of the first sample's value: every value decoded from the start changes.
        c.buf[HEADER_LEN + 2] ^= 0x10;
        let tail = samples[usize::from(last.read)..].to_vec();
        let mut out = Vec::new();
        c.decode_range(tail[0].0, i64::MAX, &mut out).unwrap();
        assert_eq!(sample_bits(&out), bits(&tail));
        let mut from_start = Vec::new();
        decode_range(c.bytes(), tail[0].0, i64::MAX, &mut from_start).unwrap();
        assert_ne!(sample_bits(&from_start), bits(&tail));
    }
}
