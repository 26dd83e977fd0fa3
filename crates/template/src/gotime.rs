//! Go's `time.Time` (always UTC here, as Prometheus's templates make them) and
//! `time.Duration`: their `String` forms and `Time.Format` layouts, which templates print
//! (`humanizeTimestamp`, `toTime`, `toDuration`).

use std::fmt;

use narthex_model::duration::{civil_from_days, days_from_civil};

/// A UTC instant with nanosecond precision.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub(crate) struct GoTime {
    pub secs: i64,
    pub nanos: u32,
    /// `*time.Time` (as `toTime` returns) rather than `time.Time`.
    pub pointer: bool,
}

const MONTHS: [&str; 12] = [
    "January",
    "February",
    "March",
    "April",
    "May",
    "June",
    "July",
    "August",
    "September",
    "October",
    "November",
    "December",
];
const DAYS: [&str; 7] = [
    "Sunday",
    "Monday",
    "Tuesday",
    "Wednesday",
    "Thursday",
    "Friday",
    "Saturday",
];

/// Seconds from 0001-01-01 to 1970-01-01: Go's zero time.
const ZERO_TIME_UNIX: i64 = -62_135_596_800;

impl GoTime {
    /// From milliseconds since the epoch, as `model.Time.Time()`.
    pub fn from_millis(ms: i64) -> GoTime {
        GoTime {
            secs: ms.div_euclid(1000),
            nanos: (ms.rem_euclid(1000) * 1_000_000) as u32,
            pointer: false,
        }
    }

    pub fn from_nanos(ns: i128) -> GoTime {
        GoTime {
            secs: ns.div_euclid(1_000_000_000) as i64,
            nanos: ns.rem_euclid(1_000_000_000) as u32,
            pointer: false,
        }
    }

    pub fn unix_nanos(&self) -> i128 {
        i128::from(self.secs) * 1_000_000_000 + i128::from(self.nanos)
    }

    pub fn is_zero(&self) -> bool {
        self.secs == ZERO_TIME_UNIX && self.nanos == 0
    }

    pub fn value(self) -> GoTime {
        GoTime {
            pointer: false,
            ..self
        }
    }

    /// (year, month 1-12, day, hour, minute, second, weekday 0=Sunday, day of year 1-366).
    pub fn civil(&self) -> (i64, i64, i64, i64, i64, i64, usize, i64) {
        let days = self.secs.div_euclid(86_400);
        let rem = self.secs.rem_euclid(86_400);
        let (y, m, d) = civil_from_days(days);
        let weekday = (days + 4).rem_euclid(7) as usize;
        let jan1 = days_from_civil(y, 1, 1);
        let yday = days - jan1 + 1;
        (
            y,
            m,
            d,
            rem / 3600,
            rem % 3600 / 60,
            rem % 60,
            weekday,
            yday,
        )
    }

    /// Go's `Time.Format` for a UTC time.
    pub fn format(&self, layout: &str) -> String {
        let (year, month, day, hour, min, sec, weekday, yday) = self.civil();
        let mut out = String::new();
        let mut rest = layout;
        while !rest.is_empty() {
            let Some((prefix, std, suffix)) = next_std_chunk(rest) else {
                out.push_str(rest);
                break;
            };
            out.push_str(prefix);
            rest = suffix;
            match std {
                Std::Year => out.push_str(&format!("{year:04}")),
                Std::Year2 => out.push_str(&format!("{:02}", year.rem_euclid(100))),
                Std::LongMonth => out.push_str(MONTHS[(month - 1) as usize]),
                Std::Month => out.push_str(&MONTHS[(month - 1) as usize][..3]),
                Std::NumMonth => out.push_str(&month.to_string()),
                Std::ZeroMonth => out.push_str(&format!("{month:02}")),
                Std::LongWeekDay => out.push_str(DAYS[weekday]),
                Std::WeekDay => out.push_str(&DAYS[weekday][..3]),
                Std::Day => out.push_str(&day.to_string()),
                Std::UnderDay => out.push_str(&format!("{day:>2}")),
                Std::ZeroDay => out.push_str(&format!("{day:02}")),
                Std::UnderYearDay => out.push_str(&format!("{yday:>3}")),
                Std::ZeroYearDay => out.push_str(&format!("{yday:03}")),
                Std::Hour => out.push_str(&format!("{hour:02}")),
                Std::Hour12 => {
                    out.push_str(&(if hour % 12 == 0 { 12 } else { hour % 12 }).to_string())
                }
                Std::ZeroHour12 => out.push_str(&format!(
                    "{:02}",
                    if hour % 12 == 0 { 12 } else { hour % 12 }
                )),
                Std::Minute => out.push_str(&min.to_string()),
                Std::ZeroMinute => out.push_str(&format!("{min:02}")),
                Std::Second => out.push_str(&sec.to_string()),
                Std::ZeroSecond => out.push_str(&format!("{sec:02}")),
                Std::PM => out.push_str(if hour >= 12 { "PM" } else { "AM" }),
                Std::Pm => out.push_str(if hour >= 12 { "pm" } else { "am" }),
                Std::Tz => out.push_str("UTC"),
                Std::IsoTz => out.push('Z'),
                Std::NumTz {
                    colon,
                    seconds,
                    short,
                } => {
                    out.push_str("+00");
                    if !short {
                        if colon {
                            out.push(':');
                        }
                        out.push_str("00");
                    }
                    if seconds {
                        if colon {
                            out.push(':');
                        }
                        out.push_str("00");
                    }
                }
                Std::Frac { digits, trim, sep } => {
                    let frac = format!("{:09}", self.nanos);
                    let mut f = frac[..digits].to_string();
                    if trim {
                        while f.ends_with('0') {
                            f.pop();
                        }
                        if !f.is_empty() {
                            out.push(sep);
                            out.push_str(&f);
                        }
                    } else {
                        out.push(sep);
                        out.push_str(&f);
                    }
                }
            }
        }
        out
    }
}

impl fmt::Display for GoTime {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.format("2006-01-02 15:04:05.999999999 -0700 MST"))
    }
}

#[derive(Clone, Copy, Debug)]
enum Std {
    Year,
    Year2,
    LongMonth,
    Month,
    NumMonth,
    ZeroMonth,
    LongWeekDay,
    WeekDay,
    Day,
    UnderDay,
    ZeroDay,
    UnderYearDay,
    ZeroYearDay,
    Hour,
    Hour12,
    ZeroHour12,
    Minute,
    ZeroMinute,
    Second,
    ZeroSecond,
    PM,
    Pm,
    Tz,
    /// `Z07:00` and its variants: a UTC time writes `Z` whatever the variant.
    IsoTz,
    NumTz {
        colon: bool,
        seconds: bool,
        short: bool,
    },
    Frac {
        digits: usize,
        trim: bool,
        sep: char,
    },
}

/// Go's `nextStdChunk`: the text before the first layout element, the element, the rest.
fn next_std_chunk(layout: &str) -> Option<(&str, Std, &str)> {
    let b = layout.as_bytes();
    let starts = |i: usize, s: &str| layout[i..].starts_with(s);
    let lower_at = |i: usize| b.get(i).is_some_and(u8::is_ascii_lowercase);
    for i in 0..b.len() {
        let found: Option<(Std, usize)> = match b[i] {
            b'J' if starts(i, "January") => Some((Std::LongMonth, 7)),
            b'J' if starts(i, "Jan") && !lower_at(i + 3) => Some((Std::Month, 3)),
            b'M' if starts(i, "Monday") => Some((Std::LongWeekDay, 6)),
            b'M' if starts(i, "Mon") && !lower_at(i + 3) => Some((Std::WeekDay, 3)),
            b'M' if starts(i, "MST") => Some((Std::Tz, 3)),
            b'0' if i + 1 < b.len() && (b'1'..=b'6').contains(&b[i + 1]) => Some((
                match b[i + 1] {
                    b'1' => Std::ZeroMonth,
                    b'2' => Std::ZeroDay,
                    b'3' => Std::ZeroHour12,
                    b'4' => Std::ZeroMinute,
                    b'5' => Std::ZeroSecond,
                    _ => Std::Year2,
                },
                2,
            )),
            b'0' if starts(i, "002") => Some((Std::ZeroYearDay, 3)),
            b'1' if starts(i, "15") => Some((Std::Hour, 2)),
            b'1' => Some((Std::NumMonth, 1)),
            b'2' if starts(i, "2006") => Some((Std::Year, 4)),
            b'2' => Some((Std::Day, 1)),
            b'_' if starts(i, "_2") => {
                if starts(i, "_2006") {
                    // `_2006` is a literal underscore followed by the year.
                    return Some((&layout[..i + 1], Std::Year, &layout[i + 5..]));
                }
                Some((Std::UnderDay, 2))
            }
            b'_' if starts(i, "__2") => Some((Std::UnderYearDay, 3)),
            b'3' => Some((Std::Hour12, 1)),
            b'4' => Some((Std::Minute, 1)),
            b'5' => Some((Std::Second, 1)),
            b'P' if starts(i, "PM") => Some((Std::PM, 2)),
            b'p' if starts(i, "pm") => Some((Std::Pm, 2)),
            b'-' if starts(i, "-07:00:00") => Some((
                Std::NumTz {
                    colon: true,
                    seconds: true,
                    short: false,
                },
                9,
            )),
            b'-' if starts(i, "-070000") => Some((
                Std::NumTz {
                    colon: false,
                    seconds: true,
                    short: false,
                },
                7,
            )),
            b'-' if starts(i, "-0700") => Some((
                Std::NumTz {
                    colon: false,
                    seconds: false,
                    short: false,
                },
                5,
            )),
            b'-' if starts(i, "-07:00") => Some((
                Std::NumTz {
                    colon: true,
                    seconds: false,
                    short: false,
                },
                6,
            )),
            b'-' if starts(i, "-07") => Some((
                Std::NumTz {
                    colon: false,
                    seconds: false,
                    short: true,
                },
                3,
            )),
            b'Z' if starts(i, "Z07:00:00") => Some((Std::IsoTz, 9)),
            b'Z' if starts(i, "Z070000") => Some((Std::IsoTz, 7)),
            b'Z' if starts(i, "Z0700") => Some((Std::IsoTz, 5)),
            b'Z' if starts(i, "Z07:00") => Some((Std::IsoTz, 6)),
            b'Z' if starts(i, "Z07") => Some((Std::IsoTz, 3)),
            b'.' | b',' if i + 1 < b.len() && (b[i + 1] == b'0' || b[i + 1] == b'9') => {
                let ch = b[i + 1];
                let mut j = i + 1;
                while j < b.len() && b[j] == ch {
                    j += 1;
                }
                // Only a fractional second if not followed by another digit.
                if j < b.len() && b[j].is_ascii_digit() {
                    None
                } else {
                    let digits = (j - i - 1).min(9);
                    Some((
                        Std::Frac {
                            digits,
                            trim: ch == b'9',
                            sep: char::from(b[i]),
                        },
                        j - i,
                    ))
                }
            }
            _ => None,
        };
        if let Some((std, len)) = found {
            // `-0700` etc. and `002` take priority as Go checks them; `01`..`06` above.
            return Some((&layout[..i], std, &layout[i + len..]));
        }
    }
    None
}

/// Go's `time.Duration.String`: `1h2m3.5s`, `1.5ms`, `0s`.
pub(crate) fn duration_string(d: i64) -> String {
    if d == 0 {
        return "0s".into();
    }
    let neg = d < 0;
    let u = d.unsigned_abs();
    let mut out = String::new();
    if u < 1_000_000_000 {
        // Sub-second: the largest unit among ns, µs, ms.
        let (prec, unit) = if u < 1_000 {
            (0, "ns")
        } else if u < 1_000_000 {
            (3, "µs")
        } else {
            (6, "ms")
        };
        out.push_str(&frac_string(u, prec));
        out.push_str(unit);
    } else {
        let secs_frac = frac_string(u % 60_000_000_000, 9);
        let total_minutes = u / 60_000_000_000;
        if total_minutes > 0 {
            let hours = total_minutes / 60;
            let minutes = total_minutes % 60;
            if hours > 0 {
                out.push_str(&format!("{hours}h"));
            }
            out.push_str(&format!("{minutes}m"));
        }
        out.push_str(&secs_frac);
        out.push('s');
    }
    if neg {
        out.insert(0, '-');
    }
    out
}

/// `v / 10^prec` with the fraction's trailing zeros (and a bare point) dropped.
fn frac_string(v: u64, prec: u32) -> String {
    let scale = 10u64.pow(prec);
    let int = v / scale;
    let frac = v % scale;
    if prec == 0 || frac == 0 {
        return int.to_string();
    }
    let mut f = format!("{frac:0width$}", width = prec as usize);
    while f.ends_with('0') {
        f.pop();
    }
    format!("{int}.{f}")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn time_strings() {
        let t = GoTime::from_millis(1_435_065_584_128);
        assert_eq!(t.to_string(), "2015-06-23 13:19:44.128 +0000 UTC");
        assert_eq!(
            GoTime::from_millis(0).to_string(),
            "1970-01-01 00:00:00 +0000 UTC"
        );
        assert_eq!(
            GoTime::from_millis(-1000).to_string(),
            "1969-12-31 23:59:59 +0000 UTC"
        );
        assert_eq!(t.format("2006"), "2015");
        assert_eq!(
            t.format("Mon Jan _2 15:04:05.000 MST 2006"),
            "Tue Jun 23 13:19:44.128 UTC 2015"
        );
        assert_eq!(t.format(time_rfc3339()), "2015-06-23T13:19:44Z");
        assert_eq!(
            t.format("3:04PM, Monday 02/01/06 .999 002"),
            "1:19PM, Tuesday 23/06/15 .128 174"
        );
    }

    fn time_rfc3339() -> &'static str {
        "2006-01-02T15:04:05Z07:00"
    }

    #[test]
    fn durations() {
        let cases: &[(i64, &str)] = &[
            (0, "0s"),
            (1, "1ns"),
            (1_500, "1.5µs"),
            (1_500_000, "1.5ms"),
            (1_000_000_000, "1s"),
            (90_000_000_000, "1m30s"),
            (3_600_000_000_000, "1h0m0s"),
            (3_723_500_000_000, "1h2m3.5s"),
            (-2_000_000_000, "-2s"),
        ];
        for (d, want) in cases {
            assert_eq!(duration_string(*d), *want);
        }
    }
}
