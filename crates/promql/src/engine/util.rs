//! Numeric and formatting helpers that must behave exactly like the Go code Prometheus runs:
//! Kahan–Neumaier summation, Go's `%g` float formatting, xxHash64 of label sets (for
//! `limit_ratio`), natural string ordering (for `sort_by_label`), Go's container/heap and its
//! small-slice insertion sort (whose tie-breaking decides which series `topk` keeps), and
//! calendar arithmetic for the date functions.

use std::collections::{HashMap, HashSet};
use std::hash::{BuildHasherDefault, Hasher};

use narthex_model::Labels;

/// A hash map with `FxHasher`: the engine's maps are keyed by label sets, join signatures and
/// small integers built within one query, where SipHash's DoS resistance buys nothing
/// (Prometheus hashes label sets with an unseeded xxHash too) and its cost showed up in
/// profiles.
pub(crate) type FastMap<K, V> = HashMap<K, V, BuildHasherDefault<FxHasher>>;

/// A hash set with `FxHasher` (see `FastMap`).
pub(crate) type FastSet<K> = HashSet<K, BuildHasherDefault<FxHasher>>;

/// A `FastMap` with room for `n` entries.
pub(crate) fn fast_map<K, V>(n: usize) -> FastMap<K, V> {
    FastMap::with_capacity_and_hasher(n, Default::default())
}

/// The multiply-rotate hash of rustc and Firefox ("FxHash"): a few instructions per word.
#[derive(Default, Clone, Copy)]
pub(crate) struct FxHasher {
    hash: u64,
}

const FX_SEED: u64 = 0x517c_c1b7_2722_0a95;

impl FxHasher {
    #[inline]
    fn add(&mut self, word: u64) {
        self.hash = (self.hash.rotate_left(5) ^ word).wrapping_mul(FX_SEED);
    }
}

impl Hasher for FxHasher {
    #[inline]
    fn write(&mut self, bytes: &[u8]) {
        let mut chunks = bytes.chunks_exact(8);
        for chunk in &mut chunks {
            let mut word = [0u8; 8];
            word.copy_from_slice(chunk);
            self.add(u64::from_le_bytes(word));
        }
        let rest = chunks.remainder();
        if !rest.is_empty() {
            let mut word = [0u8; 8];
            word[..rest.len()].copy_from_slice(rest);
            // The length keeps "a" and "a\0" apart.
            self.add(u64::from_le_bytes(word) ^ ((rest.len() as u64) << 59));
        }
    }

    #[inline]
    fn write_u8(&mut self, i: u8) {
        self.add(i as u64);
    }

    #[inline]
    fn write_u32(&mut self, i: u32) {
        self.add(i as u64);
    }

    #[inline]
    fn write_u64(&mut self, i: u64) {
        self.add(i);
    }

    #[inline]
    fn write_usize(&mut self, i: usize) {
        self.add(i as u64);
    }

    #[inline]
    fn finish(&self) -> u64 {
        self.hash
    }
}

/// One step of Kahan–Neumaier summation (Prometheus's `kahansum.Inc`).
#[inline]
pub fn kahan_inc(inc: f64, sum: f64, c: f64) -> (f64, f64) {
    let t = sum + inc;
    let c = if t.is_infinite() {
        0.0
    } else if sum.abs() >= inc.abs() {
        c + ((sum - t) + inc)
    } else {
        c + ((inc - t) + sum)
    };
    (t, c)
}

pub use narthex_model::api::{format_go_f, format_go_g};

/// OpenMetrics float formatting (`labels.FormatOpenMetricsFloat`), used for the `quantile`
/// label of `histogram_quantiles`: like `%g` but integral values keep a `.0`.
pub fn format_openmetrics_float(v: f64) -> String {
    if v.is_nan() {
        return "NaN".into();
    }
    if v.is_infinite() {
        return if v > 0.0 { "+Inf" } else { "-Inf" }.into();
    }
    let s = format_go_g(v);
    if s.contains(['.', 'e']) {
        s
    } else {
        format!("{s}.0")
    }
}

const P1: u64 = 0x9E37_79B1_85EB_CA87;
const P2: u64 = 0xC2B2_AE3D_27D4_EB4F;
const P3: u64 = 0x1656_67B1_9E37_79F9;
const P4: u64 = 0x85EB_CA77_C2B2_AE63;
const P5: u64 = 0x27D4_EB2F_1656_67C5;

#[inline]
fn xx_round(acc: u64, input: u64) -> u64 {
    acc.wrapping_add(input.wrapping_mul(P2))
        .rotate_left(31)
        .wrapping_mul(P1)
}

#[inline]
fn xx_merge(acc: u64, val: u64) -> u64 {
    (acc ^ xx_round(0, val)).wrapping_mul(P1).wrapping_add(P4)
}

fn read_u64(b: &[u8]) -> u64 {
    let mut a = [0u8; 8];
    a.copy_from_slice(&b[..8]);
    u64::from_le_bytes(a)
}

fn read_u32(b: &[u8]) -> u32 {
    let mut a = [0u8; 4];
    a.copy_from_slice(&b[..4]);
    u32::from_le_bytes(a)
}

/// xxHash64 with seed 0 (`github.com/cespare/xxhash/v2`).
pub fn xxhash64(input: &[u8]) -> u64 {
    let n = input.len();
    let mut b = input;
    let mut h: u64;
    if n >= 32 {
        let mut v1 = P1.wrapping_add(P2);
        let mut v2 = P2;
        let mut v3 = 0u64;
        let mut v4 = 0u64.wrapping_sub(P1);
        while b.len() >= 32 {
            v1 = xx_round(v1, read_u64(&b[0..]));
            v2 = xx_round(v2, read_u64(&b[8..]));
            v3 = xx_round(v3, read_u64(&b[16..]));
            v4 = xx_round(v4, read_u64(&b[24..]));
            b = &b[32..];
        }
        h = v1
            .rotate_left(1)
            .wrapping_add(v2.rotate_left(7))
            .wrapping_add(v3.rotate_left(12))
            .wrapping_add(v4.rotate_left(18));
        h = xx_merge(h, v1);
        h = xx_merge(h, v2);
        h = xx_merge(h, v3);
        h = xx_merge(h, v4);
    } else {
        h = P5;
    }
    h = h.wrapping_add(n as u64);
    while b.len() >= 8 {
        let k1 = xx_round(0, read_u64(b));
        h ^= k1;
        h = h.rotate_left(27).wrapping_mul(P1).wrapping_add(P4);
        b = &b[8..];
    }
    if b.len() >= 4 {
        h ^= (read_u32(b) as u64).wrapping_mul(P1);
        h = h.rotate_left(23).wrapping_mul(P2).wrapping_add(P3);
        b = &b[4..];
    }
    for &byte in b {
        h ^= (byte as u64).wrapping_mul(P5);
        h = h.rotate_left(11).wrapping_mul(P1);
    }
    h ^= h >> 33;
    h = h.wrapping_mul(P2);
    h ^= h >> 29;
    h = h.wrapping_mul(P3);
    h ^= h >> 32;
    h
}

/// Prometheus's `labels.Labels.Hash()`: xxHash64 over `name 0xff value 0xff ...`.
pub fn labels_hash(labels: &Labels) -> u64 {
    let mut buf = Vec::with_capacity(256);
    for l in labels.iter() {
        buf.extend_from_slice(l.name.as_bytes());
        buf.push(0xff);
        buf.extend_from_slice(l.value.as_bytes());
        buf.push(0xff);
    }
    xxhash64(&buf)
}

/// Splits into runs of digits and non-digits, as `facette/natsort`'s `(\d+|\D+)` regex does.
fn natsort_chunks(s: &str) -> Vec<&str> {
    let mut out = Vec::new();
    let mut start = 0;
    let mut prev_digit: Option<bool> = None;
    for (i, c) in s.char_indices() {
        let d = c.is_ascii_digit();
        if let Some(p) = prev_digit {
            if p != d {
                out.push(&s[start..i]);
                start = i;
            }
        }
        prev_digit = Some(d);
    }
    if start < s.len() {
        out.push(&s[start..]);
    }
    out
}

/// `natsort.Compare(a, b)`: whether `a` sorts before `b` in natural order.
pub fn natsort_less(a: &str, b: &str) -> bool {
    let ca = natsort_chunks(a);
    let cb = natsort_chunks(b);
    for (i, x) in ca.iter().enumerate() {
        if i >= cb.len() {
            return false;
        }
        let y = cb[i];
        // Go's strconv.Atoi: decimal digits that fit in an int64.
        let xi = x
            .parse::<i64>()
            .ok()
            .filter(|_| x.bytes().all(|c| c.is_ascii_digit()));
        let yi = y
            .parse::<i64>()
            .ok()
            .filter(|_| y.bytes().all(|c| c.is_ascii_digit()));
        if let (Some(xi), Some(yi)) = (xi, yi) {
            if xi == yi {
                if i == ca.len() - 1 {
                    return true;
                } else if i == cb.len() - 1 {
                    return false;
                }
                continue;
            }
            return xi < yi;
        }
        if *x == y {
            if i == ca.len() - 1 {
                return true;
            } else if i == cb.len() - 1 {
                return false;
            }
            continue;
        }
        return *x < y;
    }
    false
}

/// Go's `container/heap` `up`.
pub fn heap_up<T>(h: &mut [T], mut j: usize, less: &impl Fn(&T, &T) -> bool) {
    loop {
        if j == 0 {
            break;
        }
        let i = (j - 1) / 2;
        if !less(&h[j], &h[i]) {
            break;
        }
        h.swap(i, j);
        j = i;
    }
}

/// Go's `container/heap` `down`; returns whether the element moved.
pub fn heap_down<T>(h: &mut [T], i0: usize, n: usize, less: &impl Fn(&T, &T) -> bool) -> bool {
    let mut i = i0;
    loop {
        let j1 = 2 * i + 1;
        if j1 >= n {
            break;
        }
        let mut j = j1;
        let j2 = j1 + 1;
        if j2 < n && less(&h[j2], &h[j1]) {
            j = j2;
        }
        if !less(&h[j], &h[i]) {
            break;
        }
        h.swap(i, j);
        i = j;
    }
    i > i0
}

/// `heap.Push`.
pub fn heap_push<T>(h: &mut Vec<T>, x: T, less: &impl Fn(&T, &T) -> bool) {
    h.push(x);
    let n = h.len();
    heap_up(h, n - 1, less);
}

/// `heap.Fix`.
pub fn heap_fix<T>(h: &mut [T], i: usize, less: &impl Fn(&T, &T) -> bool) {
    let n = h.len();
    if !heap_down(h, i, n, less) {
        heap_up(h, i, less);
    }
}

/// Calendar fields of a Unix time in seconds, UTC.
pub struct Civil {
    pub year: i64,
    /// 1..=12
    pub month: u32,
    /// 1..=31
    pub day: u32,
    pub hour: u32,
    pub minute: u32,
    /// 0 = Sunday
    pub weekday: u32,
    /// 1..=366
    pub yday: u32,
}

fn is_leap(y: i64) -> bool {
    (y % 4 == 0 && y % 100 != 0) || y % 400 == 0
}

/// Days in `month` (1..=12) of `year`.
pub fn days_in_month(year: i64, month: u32) -> u32 {
    match month {
        1 | 3 | 5 | 7 | 8 | 10 | 12 => 31,
        4 | 6 | 9 | 11 => 30,
        _ if is_leap(year) => 29,
        _ => 28,
    }
}

/// Converts Unix seconds to UTC calendar fields as Go's `time` package does: as unsigned
/// seconds since the year -292277022399, with Go's wrapping arithmetic, so that a time outside
/// Go's range (such as the minimum int64 that NaN and infinities become) gives the fields Go
/// gives. This is Go 1.22's form (`absDate`); Go 1.23 and later count from March 1 of the year
/// before, which gives the same fields but for Unix times less than 306 days above the lowest
/// ones (near -9.2e18 seconds).
pub fn civil(secs: i64) -> Civil {
    const SECONDS_PER_DAY: u64 = 86_400;
    const DAYS_PER_400_YEARS: u64 = 365 * 400 + 97;
    const DAYS_PER_100_YEARS: u64 = 365 * 100 + 24;
    const DAYS_PER_4_YEARS: u64 = 365 * 4 + 1;
    const ABSOLUTE_ZERO_YEAR: i64 = -292_277_022_399;
    // Go's `unixToInternal + internalToAbsolute`.
    const UNIX_TO_ABSOLUTE: i64 = 62_135_596_800 + 9_223_371_966_579_724_800;
    let abs = secs.wrapping_add(UNIX_TO_ABSOLUTE) as u64;
    let mut d = abs / SECONDS_PER_DAY;
    // 400-, 100- and 4-year cycles, then years; the last 100- and 1-year steps of a cycle are
    // one day longer, hence `n -= n >> 2`.
    let mut n = d / DAYS_PER_400_YEARS;
    let mut y = 400 * n;
    d -= DAYS_PER_400_YEARS * n;
    n = d / DAYS_PER_100_YEARS;
    n -= n >> 2;
    y += 100 * n;
    d -= DAYS_PER_100_YEARS * n;
    n = d / DAYS_PER_4_YEARS;
    y += 4 * n;
    d -= DAYS_PER_4_YEARS * n;
    n = d / 365;
    n -= n >> 2;
    y += n;
    d -= 365 * n;
    let year = (y as i64).wrapping_add(ABSOLUTE_ZERO_YEAR);
    // `d` is now the day of the year, from 0.
    let yday = d as u32;
    let mut day = yday;
    let (month, day) = if is_leap(year) && day == 31 + 29 - 1 {
        (2, 29)
    } else {
        if is_leap(year) && day > 31 + 29 - 1 {
            day -= 1;
        }
        const DAYS_BEFORE: [u32; 13] = [0, 31, 59, 90, 120, 151, 181, 212, 243, 273, 304, 334, 365];
        // At most one month too low.
        let mut month = (day / 31) as usize;
        let end = DAYS_BEFORE[month + 1];
        let begin = if day >= end {
            month += 1;
            end
        } else {
            DAYS_BEFORE[month]
        };
        (month as u32 + 1, day - begin + 1)
    };
    let in_day = abs % SECONDS_PER_DAY;
    Civil {
        year,
        month,
        day,
        hour: (in_day / 3600) as u32,
        minute: (abs % 3600 / 60) as u32,
        // January 1 of the absolute zero year was a Monday.
        weekday: ((abs / SECONDS_PER_DAY + 1) % 7) as u32,
        yday: yday + 1,
    }
}

/// Go's float64 → int64 conversion as amd64 performs it: truncation, and the minimum int64
/// for NaN and out-of-range values.
pub fn go_f64_to_i64(v: f64) -> i64 {
    if v.is_nan() || !(-9.223_372_036_854_776e18..9.223_372_036_854_776e18).contains(&v) {
        i64::MIN
    } else {
        v as i64
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn go_g_formatting() {
        assert_eq!(format_go_g(1.1), "1.1");
        assert_eq!(format_go_g(-1.0), "-1");
        assert_eq!(format_go_g(1e6), "1e+06");
        assert_eq!(format_go_g(123456.0), "123456");
        assert_eq!(format_go_g(0.0001), "0.0001");
        assert_eq!(format_go_g(0.00001), "1e-05");
        assert_eq!(format_go_g(f64::NAN), "NaN");
        assert_eq!(format_go_f(1e21), "1000000000000000000000");
        assert_eq!(format_go_f(0.000001), "0.000001");
        assert_eq!(format_openmetrics_float(1.0), "1.0");
        assert_eq!(format_openmetrics_float(0.5), "0.5");
    }

    #[test]
    fn xxhash_known_values() {
        assert_eq!(xxhash64(b""), 0xef46db3751d8e999);
        assert_eq!(xxhash64(b"abc"), 0x44bc2cf5ad770999);
        assert_eq!(
            xxhash64(b"Nobody inspects the spammish repetition"),
            0xfbcea83c8a378bf1
        );
    }

    #[test]
    fn natural_order() {
        assert!(natsort_less("a2", "a10"));
        assert!(!natsort_less("a10", "a2"));
        assert!(natsort_less("abc", "abd"));
    }

    /// Howard Hinnant's civil-from-days, as a second opinion on ordinary dates.
    fn hinnant(secs: i64) -> (i64, u32, u32, u32, u32, u32) {
        let days = secs.div_euclid(86_400);
        let rem = secs.rem_euclid(86_400);
        let z = days + 719_468;
        let era = z.div_euclid(146_097);
        let doe = z - era * 146_097;
        let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
        let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
        let mp = (5 * doy + 2) / 153;
        let day = (doy - (153 * mp + 2) / 5 + 1) as u32;
        let month = if mp < 10 { mp + 3 } else { mp - 9 } as u32;
        let year = yoe + era * 400 + i64::from(month <= 2);
        let weekday = (days + 4).rem_euclid(7) as u32;
        (
            year,
            month,
            day,
            (rem / 3600) as u32,
            (rem % 3600 / 60) as u32,
            weekday,
        )
    }

    #[test]
    fn calendar_agrees_with_another_algorithm() {
        // Every 7 h 13 min over 1,200 years around 1970, and the ends of the day.
        let step = 7 * 3600 + 13 * 60;
        let mut secs: i64 = -600 * 366 * 86_400;
        while secs < 600 * 366 * 86_400 {
            for s in [
                secs,
                secs - secs.rem_euclid(86_400),
                secs - secs.rem_euclid(86_400) - 1,
            ] {
                let c = civil(s);
                let cum = [0u32, 31, 59, 90, 120, 151, 181, 212, 243, 273, 304, 334];
                let leap_day = u32::from(c.month > 2 && is_leap(c.year));
                assert_eq!(
                    (c.year, c.month, c.day, c.hour, c.minute, c.weekday),
                    hinnant(s),
                    "{s}"
                );
                assert_eq!(
                    c.yday,
                    cum[(c.month - 1) as usize] + c.day + leap_day,
                    "{s}"
                );
            }
            secs += step;
        }
    }

    #[test]
    fn calendar() {
        let c = civil(0);
        assert_eq!(
            (c.year, c.month, c.day, c.weekday, c.yday),
            (1970, 1, 1, 4, 1)
        );
        let c = civil(951_782_400); // 2000-02-29
        assert_eq!((c.year, c.month, c.day, c.yday), (2000, 2, 29, 60));
        assert_eq!(days_in_month(2000, 2), 29);
        assert_eq!(days_in_month(1900, 2), 28);
        let c = civil(-86_400); // 1969-12-31, a Wednesday
        assert_eq!(
            (c.year, c.month, c.day, c.weekday, c.yday),
            (1969, 12, 31, 3, 365)
        );
        let c = civil(1_795_785_480); // 2026-11-27 13:18 UTC, a Friday
        assert_eq!(
            (c.year, c.month, c.day, c.hour, c.minute, c.weekday, c.yday),
            (2026, 11, 27, 13, 18, 5, 331)
        );
        // The minimum int64 (what Go makes of NaN and infinities) wraps in Go's arithmetic
        // to a time in December of the year 292277026596, as Prometheus 3.5.3 answers.
        // The last day before the wrap: the weekday's arithmetic stays in range.
        let c = civil(go_f64_to_i64(-9.223_372_028_715_361e18));
        assert!(c.weekday < 7 && (1..=12).contains(&c.month));
        let c = civil(i64::MIN);
        assert_eq!(
            (c.year, c.month, c.day, c.hour, c.minute, c.yday),
            (292_277_026_596, 12, 4, 15, 30, 339)
        );
    }
}
