//! Axis ticks and labels: time ticks on whole seconds, minutes, hours or days of the chosen
//! time zone, value ticks on 1-2-5 steps, and values written with SI prefixes or in the unit
//! the metric names (`_bytes` in binary prefixes, `_seconds` as durations).

/// Tick spacings of the time axis, in milliseconds.
const TIME_STEPS_MS: &[i64] = &[
    1_000,
    2_000,
    5_000,
    10_000,
    15_000,
    30_000,
    60_000,
    120_000,
    300_000,
    600_000,
    900_000,
    1_800_000,
    3_600_000,
    7_200_000,
    10_800_000,
    21_600_000,
    43_200_000,
    86_400_000,
    172_800_000,
    604_800_000,
    1_209_600_000,
    2_592_000_000,
    7_776_000_000,
    31_536_000_000,
];

const DAY_MS: i64 = 86_400_000;

/// Ticks between `start_ms` and `end_ms` (Unix milliseconds), at most `max_ticks`, placed on
/// round times of the zone whose offset from UTC (minutes east) at a time `offset_minutes`
/// gives, each with its label.
pub fn time_ticks(
    start_ms: i64,
    end_ms: i64,
    max_ticks: usize,
    offset_minutes: &dyn Fn(i64) -> i64,
) -> Vec<(i64, String)> {
    if end_ms <= start_ms || max_ticks == 0 {
        return Vec::new();
    }
    let span = end_ms - start_ms;
    let step = TIME_STEPS_MS
        .iter()
        .copied()
        .find(|step| span / step <= max_ticks as i64)
        .unwrap_or(span / max_ticks as i64 + 1);
    let offset = offset_minutes(start_ms) * 60_000;
    let mut tick = (start_ms + offset).div_euclid(step) * step - offset;
    if tick < start_ms {
        tick += step;
    }
    let with_date = step < DAY_MS && span > DAY_MS;
    let mut ticks: Vec<(i64, String)> = Vec::new();
    while tick <= end_ms {
        // The zone's offset may change inside the range (daylight saving time): each tick is
        // put back on a round local time with the offset at that tick.
        let drift = (tick + offset_minutes(tick) * 60_000).rem_euclid(step);
        let aligned = if drift == 0 {
            tick
        } else if drift > step / 2 {
            tick + step - drift
        } else {
            tick - drift
        };
        let local = aligned + offset_minutes(aligned) * 60_000;
        if (start_ms..=end_ms).contains(&aligned) && ticks.last().is_none_or(|(t, _)| *t < aligned)
        {
            ticks.push((aligned, time_label(local, step, with_date)));
        }
        tick = aligned + step;
    }
    ticks
}

/// A tick label for a time already shifted into the displayed zone.
fn time_label(local_ms: i64, step: i64, with_date: bool) -> String {
    let seconds = local_ms.div_euclid(1000);
    let (_, month, day) = narthex_model::duration::civil_from_days(seconds.div_euclid(86_400));
    let of_day = seconds.rem_euclid(86_400);
    let (hour, minute, second) = (of_day / 3600, of_day % 3600 / 60, of_day % 60);
    if step >= DAY_MS {
        format!("{month:02}-{day:02}")
    } else if step < 60_000 {
        format!("{hour:02}:{minute:02}:{second:02}")
    } else if with_date {
        format!("{month:02}-{day:02} {hour:02}:{minute:02}")
    } else {
        format!("{hour:02}:{minute:02}")
    }
}

/// Round values between `min` and `max`: the most of them, up to `max_ticks`, that a 1-2-5
/// step gives.
pub fn value_ticks(min: f64, max: f64, max_ticks: usize) -> Vec<f64> {
    if !min.is_finite() || !max.is_finite() || max < min || max_ticks == 0 {
        return Vec::new();
    }
    let mut step = nice_step((max - min) / max_ticks as f64 / 10.0);
    if step <= 0.0 || !step.is_finite() {
        return vec![min];
    }
    loop {
        let first = (min / step).ceil() as i64;
        let last = (max / step).floor() as i64;
        if last - first < max_ticks as i64 {
            return (first..=last).map(|i| i as f64 * step).collect();
        }
        step = nice_step(step * 1.5);
    }
}

/// The smallest 1, 2 or 5 times a power of ten that is at least `raw`.
pub fn nice_step(raw: f64) -> f64 {
    if raw <= 0.0 || !raw.is_finite() {
        return 0.0;
    }
    let magnitude = 10f64.powf(raw.log10().floor());
    [1.0, 2.0, 5.0, 10.0]
        .into_iter()
        .map(|factor| factor * magnitude)
        .find(|step| *step >= raw * (1.0 - 1e-9))
        .unwrap_or(10.0 * magnitude)
}

/// How the values of a graph are written.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Unit {
    /// A plain number with SI prefixes (`1.5k`, `200m`).
    Number,
    /// Bytes with binary prefixes (`1.5 GiB`).
    Bytes,
    /// Seconds as a duration (`250ms`, `3.5min`, `2h`).
    Seconds,
}

/// The unit all of `metric_names` agree on by Prometheus's naming conventions, else plain
/// numbers. Rates of bytes or seconds counters keep their unit per second, shown the same way.
pub fn unit_of<'a>(metric_names: impl IntoIterator<Item = Option<&'a str>>) -> Unit {
    let mut unit = None;
    for name in metric_names {
        let this = match name {
            Some(name) if name.ends_with("_bytes") || name.ends_with("_bytes_total") => Unit::Bytes,
            Some(name) if name.ends_with("_seconds") || name.ends_with("_seconds_total") => {
                Unit::Seconds
            }
            _ => return Unit::Number,
        };
        match unit {
            None => unit = Some(this),
            Some(seen) if seen != this => return Unit::Number,
            Some(_) => {}
        }
    }
    unit.unwrap_or(Unit::Number)
}

/// `value` written for an axis or a tooltip.
pub fn format_value(value: f64, unit: Unit) -> String {
    if value.is_nan() {
        return "NaN".to_owned();
    }
    if value.is_infinite() {
        return if value > 0.0 { "+Inf" } else { "-Inf" }.to_owned();
    }
    if value == 0.0 {
        return "0".to_owned();
    }
    match unit {
        Unit::Number => {
            const PREFIXES: &[(f64, &str)] = &[
                (1e18, "E"),
                (1e15, "P"),
                (1e12, "T"),
                (1e9, "G"),
                (1e6, "M"),
                (1e3, "k"),
                (1.0, ""),
                (1e-3, "m"),
                (1e-6, "µ"),
                (1e-9, "n"),
                (1e-12, "p"),
            ];
            scaled(value, PREFIXES, "")
        }
        Unit::Bytes => {
            const PREFIXES: &[(f64, &str)] = &[
                (1_152_921_504_606_846_976.0, " EiB"),
                (1_125_899_906_842_624.0, " PiB"),
                (1_099_511_627_776.0, " TiB"),
                (1_073_741_824.0, " GiB"),
                (1_048_576.0, " MiB"),
                (1024.0, " KiB"),
                (1.0, " B"),
            ];
            scaled(value, PREFIXES, " B")
        }
        Unit::Seconds => {
            const PREFIXES: &[(f64, &str)] = &[
                (86_400.0, "d"),
                (3600.0, "h"),
                (60.0, "min"),
                (1.0, "s"),
                (1e-3, "ms"),
                (1e-6, "µs"),
                (1e-9, "ns"),
            ];
            scaled(value, PREFIXES, "s")
        }
    }
}

/// `value` divided by the largest scale not above its magnitude, with up to three decimals.
fn scaled(value: f64, scales: &[(f64, &str)], smallest_suffix: &str) -> String {
    let magnitude = value.abs();
    let (scale, suffix) = scales
        .iter()
        .find(|(scale, _)| magnitude >= *scale * (1.0 - 1e-12))
        .copied()
        .unwrap_or_else(|| {
            scales
                .last()
                .map_or((1.0, smallest_suffix), |(scale, suffix)| (*scale, *suffix))
        });
    let number = format!("{:.3}", value / scale);
    let number = number.trim_end_matches('0').trim_end_matches('.');
    format!("{number}{suffix}")
}

#[cfg(test)]
mod tests {
    use super::*;

    const UTC: &dyn Fn(i64) -> i64 = &|_| 0;

    fn labels(ticks: &[(i64, String)]) -> Vec<&str> {
        ticks.iter().map(|(_, label)| label.as_str()).collect()
    }

    #[test]
    fn time_ticks_fall_on_round_times() {
        // 2024-01-01 10:07:13 UTC to one hour later, at most 7 ticks: every 10 minutes.
        let start = 1_704_103_633_000;
        let ticks = time_ticks(start, start + 3_600_000, 7, UTC);
        assert_eq!(
            labels(&ticks),
            ["10:10", "10:20", "10:30", "10:40", "10:50", "11:00"]
        );
        assert!(ticks.iter().all(|(t, _)| t % 600_000 == 0));
        let short = time_ticks(start, start + 30_000, 6, UTC);
        assert_eq!(
            labels(&short),
            ["10:07:15", "10:07:20", "10:07:25", "10:07:30", "10:07:35", "10:07:40"]
        );
        let week = time_ticks(start, start + 7 * DAY_MS, 8, UTC);
        assert_eq!(week[0].1, "01-02");
        assert_eq!(week.len(), 7);
        let two_days = time_ticks(start, start + 2 * DAY_MS, 6, UTC);
        assert_eq!(two_days[0].1, "01-01 12:00");
    }

    #[test]
    fn time_ticks_follow_the_time_zone() {
        // UTC+05:30: local round hours are at :30 UTC.
        let india: &dyn Fn(i64) -> i64 = &|_| 330;
        let start = 1_704_103_633_000;
        let ticks = time_ticks(start, start + 4 * 3_600_000, 5, india);
        assert_eq!(labels(&ticks), ["16:00", "17:00", "18:00", "19:00"]);
        assert!(ticks.iter().all(|(t, _)| t % 3_600_000 == 1_800_000));
    }

    #[test]
    fn day_ticks_stay_on_local_midnight_across_daylight_saving_time() {
        // Central European time: UTC+2 until 2025-10-26T01:00Z, UTC+1 after.
        let switch = 1_761_440_400_000;
        let berlin: &dyn Fn(i64) -> i64 = &move |t| if t < switch { 120 } else { 60 };
        let start = switch - 3 * DAY_MS;
        let ticks = time_ticks(start, start + 7 * DAY_MS, 8, berlin);
        assert_eq!(
            labels(&ticks),
            ["10-24", "10-25", "10-26", "10-27", "10-28", "10-29", "10-30"]
        );
        for (t, _) in &ticks {
            assert_eq!((t + berlin(*t) * 60_000).rem_euclid(DAY_MS), 0, "{t}");
        }
    }

    #[test]
    fn value_ticks_use_1_2_5_steps() {
        assert_eq!(value_ticks(0.0, 1.0, 5), [0.0, 0.5, 1.0]);
        assert_eq!(
            value_ticks(0.0, 1.0, 6),
            [0.0, 0.2, 0.4, 0.6000000000000001, 0.8, 1.0]
        );
        assert_eq!(value_ticks(3.0, 97.0, 4), [20.0, 40.0, 60.0, 80.0]);
        assert_eq!(value_ticks(-15.0, 15.0, 3), [-10.0, 0.0, 10.0]);
        assert!(value_ticks(f64::NAN, 1.0, 5).is_empty());
        assert_eq!(nice_step(0.3), 0.5);
        assert_eq!(nice_step(7.0), 10.0);
        assert_eq!(nice_step(2.0), 2.0);
    }

    #[test]
    fn values_are_written_with_prefixes_and_units() {
        assert_eq!(format_value(1500.0, Unit::Number), "1.5k");
        assert_eq!(format_value(0.25, Unit::Number), "250m");
        assert_eq!(format_value(-2e9, Unit::Number), "-2G");
        assert_eq!(format_value(1.0, Unit::Number), "1");
        assert_eq!(format_value(0.0, Unit::Number), "0");
        assert_eq!(format_value(f64::INFINITY, Unit::Number), "+Inf");
        assert_eq!(format_value(f64::NAN, Unit::Bytes), "NaN");
        assert_eq!(format_value(1_610_612_736.0, Unit::Bytes), "1.5 GiB");
        assert_eq!(format_value(512.0, Unit::Bytes), "512 B");
        assert_eq!(format_value(0.5, Unit::Bytes), "0.5 B");
        assert_eq!(format_value(0.25, Unit::Seconds), "250ms");
        assert_eq!(format_value(210.0, Unit::Seconds), "3.5min");
        assert_eq!(format_value(7200.0, Unit::Seconds), "2h");
        assert_eq!(format_value(1e-10, Unit::Seconds), "0.1ns");
    }

    #[test]
    fn units_come_from_metric_names() {
        assert_eq!(unit_of([Some("node_memory_MemFree_bytes")]), Unit::Bytes);
        assert_eq!(
            unit_of([Some("a_seconds_total"), Some("b_seconds")]),
            Unit::Seconds
        );
        assert_eq!(unit_of([Some("a_bytes"), Some("b_seconds")]), Unit::Number);
        assert_eq!(unit_of([Some("a_bytes"), None]), Unit::Number);
        assert_eq!(unit_of([]), Unit::Number);
    }
}
