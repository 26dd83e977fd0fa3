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

pub fn sample_key(series_ref: SeriesRef, t: i64) -> [u8; 16] {
    let mut key = [0u8; 16];
    key[..8].copy_from_slice(&series_ref.to_be_bytes());
    key[8..].copy_from_slice(&((t as u64) ^ (1 << 63)).to_be_bytes());
    key
}

pub fn decode_sample_key(key: &[u8]) -> Result<(SeriesRef, i64), String> {
    if key.len() != 16 {
        return Err(format!("sample key has {} bytes, want 16", key.len()));
    }
    let series_ref = decode_ref(&key[..8])?;
    let mut t = [0u8; 8];
    t.copy_from_slice(&key[8..]);
    Ok((series_ref, (u64::from_be_bytes(t) ^ (1 << 63)) as i64))
}

pub fn encode_value(v: f64) -> [u8; 8] {
    v.to_bits().to_le_bytes()
}

pub fn decode_value(value: &[u8]) -> Result<f64, String> {
    let bytes: [u8; 8] = value
        .try_into()
        .map_err(|_| format!("sample value has {} bytes, want 8", value.len()))?;
    Ok(f64::from_bits(u64::from_le_bytes(bytes)))
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
    fn sample_keys_sort_by_series_then_time() {
        let keys = [
            sample_key(1, -5),
            sample_key(1, 0),
            sample_key(1, 7),
            sample_key(2, i64::MIN),
        ];
        assert!(keys.windows(2).all(|w| w[0] < w[1]));
        assert_eq!(decode_sample_key(&keys[0]).unwrap(), (1, -5));
        assert_eq!(decode_sample_key(&keys[3]).unwrap(), (2, i64::MIN));
    }

    #[test]
    fn labels_round_trip_and_truncation_is_an_error() {
        let labels = Labels::from_pairs([("__name__", "up"), ("job", "ünï")]);
        let bytes = encode_labels(&labels);
        assert_eq!(decode_labels(&bytes).unwrap(), labels);
        assert!(decode_labels(&bytes[..bytes.len() - 1]).is_err());
    }

    #[test]
    fn stale_marker_survives_bit_exact() {
        let stale = narthex_model::stale_nan();
        let back = decode_value(&encode_value(stale)).unwrap();
        assert_eq!(back.to_bits(), narthex_model::STALE_NAN_BITS);
    }
}
