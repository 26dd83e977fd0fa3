//! Byte encodings of keys and values in RocksDB.
//!
//! Keys are big-endian so that RocksDB's byte order is numeric order; timestamps have their
//! sign bit flipped so that negative times sort before positive ones.

use narthex_model::{Labels, SeriesRef};

pub fn ref_key(series_ref: SeriesRef) -> [u8; 8] {
    series_ref.to_be_bytes()
}

pub fn decode_ref(key: &[u8]) -> Result<SeriesRef, String> {
    let bytes: [u8; 8] = key
        .try_into()
        .map_err(|_| format!("series key has {} bytes, want 8", key.len()))?;
    Ok(SeriesRef::from_be_bytes(bytes))
}

/// Chunks are grouped in blocks of two hours (Prometheus's block range): a block is one
/// contiguous key range of the `chunks` column family, so retention drops it with one range
/// delete.
pub const BLOCK_MS: i64 = 2 * 3600 * 1000;

pub fn block_of(t: i64) -> i64 {
    t.div_euclid(BLOCK_MS)
}

/// Order-preserving bytes of a signed number: the sign bit flipped, big-endian.
fn ordered(v: i64) -> [u8; 8] {
    ((v as u64) ^ (1 << 63)).to_be_bytes()
}

fn from_ordered(bytes: &[u8]) -> i64 {
    let mut buf = [0u8; 8];
    buf.copy_from_slice(&bytes[..8]);
    (u64::from_be_bytes(buf) ^ (1 << 63)) as i64
}

/// `block ++ series ref ++ chunk min time`: one block's chunks are contiguous, and within it
/// one series' chunks are contiguous and in time order.
pub fn chunk_key(block: i64, series_ref: SeriesRef, mint: i64) -> [u8; 24] {
    let mut key = [0u8; 24];
    key[..8].copy_from_slice(&ordered(block));
    key[8..16].copy_from_slice(&series_ref.to_be_bytes());
    key[16..].copy_from_slice(&ordered(mint));
    key
}

/// The first key of a block (inclusive lower bound of its range).
pub fn block_start_key(block: i64) -> [u8; 24] {
    chunk_key(block, 0, i64::MIN)
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ChunkKey {
    pub block: i64,
    pub series_ref: SeriesRef,
    pub mint: i64,
}

pub fn decode_chunk_key(key: &[u8]) -> Result<ChunkKey, String> {
    if key.len() != 24 {
        return Err(format!("chunk key has {} bytes, want 24", key.len()));
    }
    Ok(ChunkKey {
        block: from_ordered(&key[..8]),
        series_ref: decode_ref(&key[8..16])?,
        mint: from_ordered(&key[16..]),
    })
}

/// A chunk's value: its newest timestamp (so a reader skips chunks without decoding them), then
/// the encoded chunk.
pub fn chunk_value(maxt: i64, chunk: &[u8]) -> Vec<u8> {
    let mut value = Vec::with_capacity(8 + chunk.len());
    value.extend_from_slice(&maxt.to_le_bytes());
    value.extend_from_slice(chunk);
    value
}

pub fn decode_chunk_value(value: &[u8]) -> Result<(i64, &[u8]), String> {
    if value.len() < 8 {
        return Err(format!(
            "chunk value has {} bytes, want at least 8",
            value.len()
        ));
    }
    let mut buf = [0u8; 8];
    buf.copy_from_slice(&value[..8]);
    Ok((i64::from_le_bytes(buf), &value[8..]))
}

/// What RocksDB knows of a series' samples: their span, the newest value, and the key of the
/// newest chunk (which becomes the open chunk again on start).
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct SeriesTimes {
    pub min_t: i64,
    pub max_t: i64,
    pub last_v: f64,
    pub chunk_block: i64,
    pub chunk_mint: i64,
}

/// `min t, max t, newest value bits, newest chunk's block, newest chunk's min t`, each 8 bytes
/// little-endian.
pub fn times_value(times: &SeriesTimes) -> [u8; 40] {
    let mut value = [0u8; 40];
    let words = [
        times.min_t as u64,
        times.max_t as u64,
        times.last_v.to_bits(),
        times.chunk_block as u64,
        times.chunk_mint as u64,
    ];
    for (i, word) in words.iter().enumerate() {
        value[i * 8..i * 8 + 8].copy_from_slice(&word.to_le_bytes());
    }
    value
}

pub fn decode_times_value(value: &[u8]) -> Result<SeriesTimes, String> {
    if value.len() != 40 {
        return Err(format!(
            "series times value has {} bytes, want 40",
            value.len()
        ));
    }
    let word = |i: usize| {
        let mut buf = [0u8; 8];
        buf.copy_from_slice(&value[i * 8..i * 8 + 8]);
        u64::from_le_bytes(buf)
    };
    Ok(SeriesTimes {
        min_t: word(0) as i64,
        max_t: word(1) as i64,
        last_v: f64::from_bits(word(2)),
        chunk_block: word(3) as i64,
        chunk_mint: word(4) as i64,
    })
}

/// `name 0xFF value`: 0xFF never occurs in UTF-8, so the split is unambiguous.
pub fn postings_key(name: &str, value: &str) -> Vec<u8> {
    let mut key = Vec::with_capacity(name.len() + 1 + value.len());
    key.extend_from_slice(name.as_bytes());
    key.push(0xff);
    key.extend_from_slice(value.as_bytes());
    key
}

pub fn decode_postings_key(key: &[u8]) -> Result<(String, String), String> {
    let split = key
        .iter()
        .position(|&b| b == 0xff)
        .ok_or("postings key without separator")?;
    let text = |b: &[u8]| {
        std::str::from_utf8(b)
            .map(str::to_string)
            .map_err(|e| format!("postings key is not UTF-8: {e}"))
    };
    Ok((text(&key[..split])?, text(&key[split + 1..])?))
}

/// Each label as `len(name) name len(value) value`, lengths as u32 little-endian.
pub fn encode_labels(labels: &Labels) -> Vec<u8> {
    let mut out = Vec::new();
    for label in labels.iter() {
        for part in [&label.name, &label.value] {
            out.extend_from_slice(&(part.len() as u32).to_le_bytes());
            out.extend_from_slice(part.as_bytes());
        }
    }
    out
}

pub fn decode_labels(mut bytes: &[u8]) -> Result<Labels, String> {
    let mut pairs = Vec::new();
    while !bytes.is_empty() {
        let name = take_string(&mut bytes)?;
        let value = take_string(&mut bytes)?;
        pairs.push((name, value));
    }
    Ok(Labels::from_pairs(pairs))
}

fn take_string(bytes: &mut &[u8]) -> Result<String, String> {
    if bytes.len() < 4 {
        return Err("truncated label length".into());
    }
    let len = u32::from_le_bytes([bytes[0], bytes[1], bytes[2], bytes[3]]) as usize;
    let rest = &bytes[4..];
    if rest.len() < len {
        return Err("truncated label string".into());
    }
    let s = std::str::from_utf8(&rest[..len])
        .map_err(|e| format!("label is not UTF-8: {e}"))?
        .to_string();
    *bytes = &rest[len..];
    Ok(s)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn chunk_keys_sort_by_block_then_series_then_time() {
        let keys = [
            chunk_key(-1, 9, -5),
            chunk_key(0, 1, i64::MIN),
            chunk_key(0, 1, 7),
            chunk_key(0, 2, -100),
            chunk_key(1, 0, 0),
        ];
        assert!(keys.windows(2).all(|w| w[0] < w[1]));
        assert_eq!(
            decode_chunk_key(&keys[0]).unwrap(),
            ChunkKey {
                block: -1,
                series_ref: 9,
                mint: -5
            }
        );
        assert_eq!(block_of(-1), -1);
        assert_eq!(block_of(BLOCK_MS), 1);
        assert_eq!(
            decode_postings_key(&postings_key("a", "b=c")).unwrap(),
            ("a".into(), "b=c".into())
        );
    }

    #[test]
    fn labels_round_trip_and_truncation_is_an_error() {
        let labels = Labels::from_pairs([("__name__", "up"), ("job", "ünï")]);
        let bytes = encode_labels(&labels);
        assert_eq!(decode_labels(&bytes).unwrap(), labels);
        assert!(decode_labels(&bytes[..bytes.len() - 1]).is_err());
    }
}
