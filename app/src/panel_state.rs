//! The expression browser's state: its panels, and their encoding in the URL with
//! Prometheus's parameter names (`g0.expr`, `g0.tab`, `g0.range_input`, ...), so links made by
//! Prometheus 2 or 3 open here and links made here open there.
//!
//! Decoding accepts both generations: Prometheus 2's numeric tabs (`0` graph, `1` table),
//! `stacked` and `step_input`, and Prometheus 3's `display_mode` and `res_type`/`res_step`.
//! Encoding writes Prometheus 3's parameters plus the Prometheus 2 ones whose meaning they
//! share (`stacked`, `step_input`), which each side reads in the same order as here.

use narthex_model::duration::{days_from_civil, format_duration, parse_duration};

use crate::percent_encoding::{decode_uri_component, encode_uri_component};

/// The view a panel shows.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Tab {
    Table,
    Graph,
    Explain,
}

impl Tab {
    pub fn as_str(self) -> &'static str {
        match self {
            Tab::Table => "table",
            Tab::Graph => "graph",
            Tab::Explain => "explain",
        }
    }
}

/// How the graph draws its series.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum DisplayMode {
    Lines,
    Stacked,
}

/// How many points an automatic step aims at, as Prometheus 3's `res_density`.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Default)]
pub enum Density {
    /// The range over 100.
    Low,
    /// The range over 250 (Prometheus 2's only choice).
    #[default]
    Medium,
    /// The range over 750.
    High,
}

impl Density {
    fn as_str(self) -> &'static str {
        match self {
            Density::Low => "low",
            Density::Medium => "medium",
            Density::High => "high",
        }
    }

    fn points(self) -> i64 {
        match self {
            Density::Low => 100,
            Density::Medium => 250,
            Density::High => 750,
        }
    }
}

/// The step of a graph's range query.
#[derive(Clone, Copy, Debug, PartialEq)]
pub enum Resolution {
    /// A step chosen from the range, as Prometheus's UI chooses it.
    Auto(Density),
    /// A fixed step in seconds.
    Fixed(f64),
}

/// Everything one panel shows, as it is kept in the URL.
#[derive(Clone, Debug, PartialEq)]
pub struct PanelState {
    pub expr: String,
    pub tab: Tab,
    /// The graph's time range in milliseconds.
    pub range_ms: i64,
    /// The graph's end and the table's evaluation time, in Unix milliseconds; `None` is now.
    pub end_ms: Option<i64>,
    pub resolution: Resolution,
    pub display_mode: DisplayMode,
    /// Prometheus 3's explain-tree toggle; kept so a round trip loses nothing.
    pub show_tree: bool,
}

/// The range a new panel's graph shows: one hour, as in Prometheus.
pub const DEFAULT_RANGE_MS: i64 = 3_600_000;
/// Prometheus's range query refuses more points per series than this.
pub const MAX_POINTS: i64 = 11_000;

impl Default for PanelState {
    fn default() -> Self {
        PanelState {
            expr: String::new(),
            tab: Tab::Table,
            range_ms: DEFAULT_RANGE_MS,
            end_ms: None,
            resolution: Resolution::Auto(Density::Medium),
            display_mode: DisplayMode::Lines,
            show_tree: false,
        }
    }
}

impl PanelState {
    /// The step of the graph's range query in milliseconds: the fixed one, or the range over
    /// the density's number of points rounded down to whole seconds (at least 1 s) as
    /// Prometheus's UI computes it; never more than `MAX_POINTS` points.
    pub fn step_ms(&self) -> i64 {
        let wanted = match self.resolution {
            Resolution::Fixed(seconds) => (seconds * 1000.0).round() as i64,
            Resolution::Auto(density) => (self.range_ms / (density.points() * 1000)).max(1) * 1000,
        };
        let smallest_allowed = (self.range_ms + MAX_POINTS - 1) / MAX_POINTS;
        wanted.max(smallest_allowed).max(1)
    }
}

/// The panels in a query string (without the leading `?`), in order: panel `gN` exists when
/// `gN.expr` does, and the first missing index ends the list, as in Prometheus.
pub fn decode_panels(query: &str) -> Vec<PanelState> {
    let params: Vec<(String, String)> = query
        .trim_start_matches('?')
        .split('&')
        .filter(|pair| !pair.is_empty())
        .map(|pair| {
            let (key, value) = pair.split_once('=').unwrap_or((pair, ""));
            (form_decode(key), form_decode(value))
        })
        .collect();
    let get = |index: usize, setting: &str| -> Option<&str> {
        let key = format!("g{index}.{setting}");
        params
            .iter()
            .find(|(name, _)| *name == key)
            .map(|(_, value)| value.as_str())
    };
    let mut panels = Vec::new();
    for index in 0.. {
        let Some(expr) = get(index, "expr") else {
            break;
        };
        let mut panel = PanelState {
            expr: expr.to_owned(),
            ..PanelState::default()
        };
        if let Some(tree) = get(index, "show_tree") {
            panel.show_tree = tree == "1";
        }
        match get(index, "tab") {
            Some("0" | "graph") => panel.tab = Tab::Graph,
            Some("1" | "table") => panel.tab = Tab::Table,
            Some("explain") => panel.tab = Tab::Explain,
            _ => {}
        }
        if let Some(mode) = get(index, "display_mode") {
            panel.display_mode = if mode == "stacked" {
                DisplayMode::Stacked
            } else {
                DisplayMode::Lines
            };
        }
        if let Some(stacked) = get(index, "stacked") {
            panel.display_mode = if stacked == "1" {
                DisplayMode::Stacked
            } else {
                DisplayMode::Lines
            };
        }
        if let Some(range) = get(index, "range_input") {
            if let Ok(ms) = parse_duration(range) {
                if ms > 0 {
                    panel.range_ms = ms;
                }
            }
        }
        for setting in ["end_input", "moment_input"] {
            if let Some(ms) = get(index, setting).and_then(parse_url_time) {
                panel.end_ms = Some(ms);
            }
        }
        if let Some(step) = get(index, "step_input").and_then(|s| s.trim().parse::<f64>().ok()) {
            if step > 0.0 {
                panel.resolution = Resolution::Fixed(step);
            }
        }
        match get(index, "res_type") {
            Some("auto") => {
                panel.resolution = Resolution::Auto(match get(index, "res_density") {
                    Some("low") => Density::Low,
                    Some("high") => Density::High,
                    _ => Density::Medium,
                })
            }
            Some("fixed" | "custom") => {
                if let Some(step) = get(index, "res_step").and_then(|s| s.parse::<f64>().ok()) {
                    if step > 0.0 {
                        panel.resolution = Resolution::Fixed(step);
                    }
                }
            }
            _ => {}
        }
        panels.push(panel);
    }
    panels
}

/// The query string (without `?`) for `panels`, in Prometheus 3's order.
pub fn encode_panels(panels: &[PanelState]) -> String {
    let mut out = Vec::new();
    for (index, panel) in panels.iter().enumerate() {
        let mut add = |setting: &str, value: &str| {
            out.push(format!(
                "g{index}.{setting}={}",
                encode_uri_component(value)
            ));
        };
        add("expr", &panel.expr);
        add("show_tree", if panel.show_tree { "1" } else { "0" });
        add("tab", panel.tab.as_str());
        if let Some(end) = panel.end_ms {
            let text = format_url_time(end);
            add("end_input", &text);
            add("moment_input", &text);
        }
        add("range_input", &format_duration(panel.range_ms));
        match panel.resolution {
            Resolution::Auto(density) => {
                add("res_type", "auto");
                add("res_density", density.as_str());
            }
            Resolution::Fixed(step) => {
                add("res_type", "fixed");
                add("res_step", &format_seconds(step));
                add("step_input", &format_seconds(step));
            }
        }
        let stacked = panel.display_mode == DisplayMode::Stacked;
        add("display_mode", if stacked { "stacked" } else { "lines" });
        add("stacked", if stacked { "1" } else { "0" });
        add("show_exemplars", "0");
    }
    out.join("&")
}

/// Seconds as JavaScript's `Number.toString` writes them for the values a step takes.
fn format_seconds(seconds: f64) -> String {
    if seconds.fract() == 0.0 && seconds.abs() < 1e15 {
        format!("{}", seconds as i64)
    } else {
        format!("{seconds}")
    }
}

/// `application/x-www-form-urlencoded` decoding: `+` is a space, then percent escapes.
fn form_decode(text: &str) -> String {
    decode_uri_component(&text.replace('+', " "))
}

/// A URL time, `YYYY-MM-DD HH:mm:ss` in UTC as both Prometheus UIs write it; a date alone,
/// `T` for the space, a trailing `Z` and fractional seconds are accepted too.
pub fn parse_url_time(text: &str) -> Option<i64> {
    let text = text.trim().trim_end_matches('Z');
    let (date, time) = match text.split_once([' ', 'T']) {
        Some((date, time)) => (date, time),
        None => (text, "00:00:00"),
    };
    let mut date_parts = date.split('-').map(|part| part.parse::<i64>().ok());
    let (year, month, day) = (
        date_parts.next()??,
        date_parts.next()??,
        date_parts.next()??,
    );
    if date_parts.next().is_some() || !(1..=12).contains(&month) || !(1..=31).contains(&day) {
        return None;
    }
    let mut time_parts = time.split(':');
    let hour: i64 = time_parts.next()?.parse().ok()?;
    let minute: i64 = time_parts.next().unwrap_or("0").parse().ok()?;
    let second: f64 = time_parts.next().unwrap_or("0").parse().ok()?;
    if time_parts.next().is_some() || hour > 23 || minute > 59 || !(0.0..61.0).contains(&second) {
        return None;
    }
    let days = days_from_civil(year, month, day);
    Some(((days * 86_400 + hour * 3600 + minute * 60) as f64 * 1000.0 + second * 1000.0) as i64)
}

/// `YYYY-MM-DD HH:mm:ss` in UTC.
pub fn format_url_time(ms: i64) -> String {
    let (date, time) = split_utc(ms);
    format!("{date} {time}")
}

/// Date (`YYYY-MM-DD`) and time of day (`HH:mm:ss`) of `ms` in UTC.
pub fn split_utc(ms: i64) -> (String, String) {
    let seconds = ms.div_euclid(1000);
    let days = seconds.div_euclid(86_400);
    let of_day = seconds.rem_euclid(86_400);
    let (year, month, day) = narthex_model::duration::civil_from_days(days);
    (
        format!("{year:04}-{month:02}-{day:02}"),
        format!(
            "{:02}:{:02}:{:02}",
            of_day / 3600,
            of_day % 3600 / 60,
            of_day % 60
        ),
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn prometheus_3_links_decode() {
        let panels = decode_panels(
            "g0.expr=rate(x%5B5m%5D)&g0.show_tree=0&g0.tab=graph&g0.end_input=2024-05-06%2007%3A08%3A09\
             &g0.moment_input=2024-05-06%2007%3A08%3A09&g0.range_input=2h&g0.res_type=fixed\
             &g0.res_step=30&g0.display_mode=stacked&g0.show_exemplars=0\
             &g1.expr=up&g1.tab=explain",
        );
        assert_eq!(panels.len(), 2);
        assert_eq!(panels[0].expr, "rate(x[5m])");
        assert_eq!(panels[0].tab, Tab::Graph);
        assert_eq!(panels[0].range_ms, 7_200_000);
        assert_eq!(panels[0].end_ms, Some(1_714_979_289_000));
        assert_eq!(panels[0].resolution, Resolution::Fixed(30.0));
        assert_eq!(panels[0].display_mode, DisplayMode::Stacked);
        assert_eq!(panels[1].tab, Tab::Explain);
        assert_eq!(panels[1].range_ms, DEFAULT_RANGE_MS);
        assert_eq!(panels[1].end_ms, None);
    }

    #[test]
    fn prometheus_2_links_decode() {
        let panels = decode_panels(
            "g0.expr=sum%20by%20(job)%20(up)&g0.tab=0&g0.stacked=1&g0.range_input=1d\
             &g0.end_input=2020-01-02%2003%3A04%3A05&g0.step_input=60\
             &g1.expr=up&g1.tab=1&g1.moment_input=2020-01-02+00:00:00",
        );
        assert_eq!(panels[0].expr, "sum by (job) (up)");
        assert_eq!(panels[0].tab, Tab::Graph);
        assert_eq!(panels[0].display_mode, DisplayMode::Stacked);
        assert_eq!(panels[0].range_ms, 86_400_000);
        assert_eq!(panels[0].end_ms, Some(1_577_934_245_000));
        assert_eq!(panels[0].resolution, Resolution::Fixed(60.0));
        assert_eq!(panels[1].tab, Tab::Table);
        assert_eq!(panels[1].end_ms, Some(1_577_923_200_000));
    }

    #[test]
    fn a_gap_in_the_numbering_ends_the_list() {
        assert_eq!(decode_panels("g0.expr=a&g2.expr=c").len(), 1);
        assert!(decode_panels("g1.expr=b").is_empty());
        assert!(decode_panels("").is_empty());
    }

    #[test]
    fn bad_values_keep_the_defaults() {
        let panels = decode_panels(
            "g0.expr=up&g0.tab=pie&g0.range_input=soon&g0.end_input=yesterday&g0.step_input=-5",
        );
        assert_eq!(
            panels[0],
            PanelState {
                expr: "up".into(),
                ..PanelState::default()
            }
        );
    }

    #[test]
    fn encoding_round_trips_and_writes_both_generations() {
        let panels = vec![
            PanelState {
                expr: "sum(rate(a{b=\"c d\"}[5m])) / 2 + x".into(),
                tab: Tab::Graph,
                range_ms: 5_400_000,
                end_ms: Some(1_714_979_289_000),
                resolution: Resolution::Fixed(15.0),
                display_mode: DisplayMode::Stacked,
                show_tree: false,
            },
            PanelState::default(),
        ];
        let query = encode_panels(&panels);
        assert!(query.starts_with("g0.expr=sum(rate(a%7Bb%3D%22c%20d%22%7D%5B5m%5D))%20%2F%202%20%2B%20x&g0.show_tree=0&g0.tab=graph&g0.end_input=2024-05-06%2007%3A08%3A09&"), "{query}");
        assert!(query.contains("&g0.range_input=1h30m&g0.res_type=fixed&g0.res_step=15&g0.step_input=15&g0.display_mode=stacked&g0.stacked=1&"), "{query}");
        assert!(query.contains("&g1.tab=table&g1.range_input=1h&g1.res_type=auto&g1.res_density=medium&g1.display_mode=lines"), "{query}");
        assert_eq!(decode_panels(&query), panels);
    }

    #[test]
    fn densities_decode_encode_and_set_the_step() {
        let panels = decode_panels("g0.expr=up&g0.range_input=1h&g0.res_type=auto&g0.res_density=high&g1.expr=up&g1.res_type=auto&g1.res_density=low");
        assert_eq!(panels[0].resolution, Resolution::Auto(Density::High));
        assert_eq!(panels[0].step_ms(), 4_000);
        assert_eq!(panels[1].step_ms(), 36_000);
        assert!(encode_panels(&panels).contains("g0.res_type=auto&g0.res_density=high"));
        assert_eq!(decode_panels(&encode_panels(&panels)), panels);
    }

    #[test]
    fn steps_follow_prometheus_and_the_point_limit() {
        let auto = |range_ms| {
            PanelState {
                range_ms,
                ..PanelState::default()
            }
            .step_ms()
        };
        assert_eq!(auto(3_600_000), 14_000);
        assert_eq!(auto(300_000), 1_000);
        assert_eq!(auto(8 * 7 * 86_400_000), 19_353_000);
        let fixed = PanelState {
            range_ms: 86_400_000,
            resolution: Resolution::Fixed(1.0),
            ..PanelState::default()
        };
        // One-second steps over a day would be 86,400 points: the step grows to fit 11,000.
        assert_eq!(fixed.step_ms(), 7_855);
    }

    #[test]
    fn url_times_parse_and_print() {
        assert_eq!(parse_url_time("1970-01-01 00:00:00"), Some(0));
        assert_eq!(
            parse_url_time("2024-02-29T12:00:00.5Z"),
            Some(1_709_208_000_500)
        );
        assert_eq!(parse_url_time("2024-02-29"), Some(1_709_164_800_000));
        assert_eq!(parse_url_time("2024-13-01 00:00:00"), None);
        assert_eq!(parse_url_time("2024-01-01 25:00:00"), None);
        assert_eq!(parse_url_time("now"), None);
        assert_eq!(format_url_time(1_709_208_000_500), "2024-02-29 12:00:00");
        assert_eq!(format_url_time(-1000), "1969-12-31 23:59:59");
    }
}
