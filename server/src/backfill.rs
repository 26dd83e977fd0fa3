//! `narthex tool tsdb create-blocks-from openmetrics FILE [DATA_DIR]`: reads an OpenMetrics
//! text file with timestamped samples (as promtool's command of that name) and writes them
//! into a Narthex data directory, which `narthex server --storage.tsdb.path` then serves.
//!
//! Each sample line is `name{labels} value timestamp [# exemplar]` with the timestamp in
//! seconds (OpenMetrics); `#` lines and `# EOF` carry no samples. Samples of one series must
//! come in time order, as in any OpenMetrics exposition; others are reported and skipped.

use std::io::{BufRead, BufReader};
use std::path::Path;

use anyhow::{bail, Context};
use narthex_model::exposition::parse_text;
use narthex_model::{Labels, Storage, StorageError};
use narthex_tsdb::{Tsdb, TsdbOptions};

/// Lines parsed and committed per batch.
const BATCH_LINES: usize = 50_000;

/// What a backfill did.
#[derive(Debug, Default, PartialEq)]
pub struct BackfillSummary {
    pub samples: u64,
    pub series: usize,
    pub rejected: u64,
}

pub fn create_blocks_from_openmetrics(
    input: &Path,
    data_dir: &Path,
) -> anyhow::Result<BackfillSummary> {
    let file = std::fs::File::open(input)
        .with_context(|| format!("opening the input file {}", input.display()))?;
    // Backfilled history is kept whatever its age: retention applies when a server runs.
    let options = TsdbOptions {
        retention_ms: None,
        ..TsdbOptions::default()
    };
    let tsdb = Tsdb::open_with(data_dir, options)
        .with_context(|| format!("opening the data directory {}", data_dir.display()))?;
    let mut summary = BackfillSummary::default();
    let mut text = String::new();
    let mut lines_in_batch = 0;
    let mut first_line_of_batch = 1;
    let mut saw_eof = false;
    for (index, line) in BufReader::new(file).lines().enumerate() {
        let line_no = index + 1;
        let line = line.with_context(|| format!("{}:{line_no}: reading", input.display()))?;
        let line = line.trim_end();
        if saw_eof && !line.is_empty() {
            bail!("{}:{line_no}: content after # EOF", input.display());
        }
        if line == "# EOF" {
            saw_eof = true;
            continue;
        }
        if line.is_empty() || line.starts_with('#') {
            // Keep line numbers aligned with the input for error messages.
            text.push('\n');
        } else {
            text.push_str(
                &to_text_format(line)
                    .with_context(|| format!("{}:{line_no}: {line}", input.display()))?,
            );
            text.push('\n');
        }
        lines_in_batch += 1;
        if lines_in_batch == BATCH_LINES {
            append_batch(&tsdb, &text, first_line_of_batch, input, &mut summary)?;
            text.clear();
            lines_in_batch = 0;
            first_line_of_batch = line_no + 1;
        }
    }
    append_batch(&tsdb, &text, first_line_of_batch, input, &mut summary)?;
    summary.series = tsdb.series_count();
    tsdb.close().context("writing the data to disk")?;
    tsdb.compact().context("compacting the data")?;
    Ok(summary)
}

/// An OpenMetrics sample line as a text-format line: the exemplar dropped and the timestamp
/// turned from seconds into milliseconds (which a text-format line carries).
fn to_text_format(line: &str) -> anyhow::Result<String> {
    let sample = match line.find(" # ") {
        Some(i) if !line[..i].contains('{') || line[..i].contains('}') => &line[..i],
        _ => line,
    };
    let (series_and_value, timestamp) = sample
        .rsplit_once(' ')
        .context("a sample line needs a value and a timestamp")?;
    if !series_and_value.contains(' ') {
        bail!("a sample needs a timestamp to be backfilled");
    }
    let seconds: f64 = timestamp
        .parse()
        .ok()
        .filter(|s: &f64| s.is_finite())
        .with_context(|| format!("invalid timestamp {timestamp:?}"))?;
    // Truncated, as Prometheus's OpenMetrics parser (`int64(ts * 1000)`) and the scraper do.
    let ms = (seconds * 1000.0) as i64;
    Ok(format!("{series_and_value} {ms}"))
}

fn append_batch(
    tsdb: &Tsdb,
    text: &str,
    first_line: usize,
    input: &Path,
    summary: &mut BackfillSummary,
) -> anyhow::Result<()> {
    let exposition = parse_text(text).map_err(|e| {
        anyhow::anyhow!(
            "{}:{}: {}",
            input.display(),
            first_line + e.line - 1,
            e.message
        )
    })?;
    let mut appender = tsdb.appender();
    for sample in &exposition.samples {
        let mut pairs: Vec<(&str, &str)> = Vec::with_capacity(sample.labels.len() + 1);
        pairs.push(("__name__", sample.name));
        pairs.extend(sample.labels.iter().map(|(n, v)| (*n, v.as_ref())));
        let labels = Labels::from_pairs(pairs);
        let Some(t) = sample.timestamp_ms else {
            continue;
        };
        match appender.append(&labels, t, sample.value) {
            Ok(_) => summary.samples += 1,
            Err(e @ (StorageError::OutOfOrder | StorageError::DuplicateTimestamp)) => {
                summary.rejected += 1;
                if summary.rejected <= 10 {
                    eprintln!(
                        "{}:{}: skipped: {e}",
                        input.display(),
                        first_line + sample.line - 1
                    );
                }
            }
            Err(e) => bail!("{}:{}: {e}", input.display(), first_line + sample.line - 1),
        }
    }
    appender.commit().context("writing samples")?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use narthex_model::{Matcher, SeriesOrder};

    #[test]
    fn openmetrics_lines_become_text_lines_in_milliseconds() {
        assert_eq!(
            to_text_format("up{job=\"a\"} 1 1700000000.5").unwrap(),
            "up{job=\"a\"} 1 1700000000500"
        );
        assert_eq!(
            to_text_format("req_total 3 1700000000 # {trace_id=\"x\"} 1 1699999999").unwrap(),
            "req_total 3 1700000000000"
        );
        // 1.0159 s is 1015.9 ms: truncated to 1015 as Prometheus does, not rounded.
        assert_eq!(to_text_format("m 1 1.0159").unwrap(), "m 1 1015");
        assert_eq!(
            to_text_format("m{path=\"a # b\"} 2 10").unwrap(),
            "m{path=\"a # b\"} 2 10000"
        );
        assert!(to_text_format("up 1")
            .unwrap_err()
            .to_string()
            .contains("timestamp"));
        assert!(to_text_format("up 1 soon")
            .unwrap_err()
            .to_string()
            .contains("soon"));
    }

    #[test]
    fn backfill_writes_a_directory_the_tsdb_reads() {
        let dir = tempfile::tempdir().unwrap();
        let input = dir.path().join("in.om");
        std::fs::write(
            &input,
            "# TYPE req counter\n# HELP req Requests.\nreq_total{code=\"200\"} 1 1000\nreq_total{code=\"200\"} 5 1015\nreq_total{code=\"500\"} 2 1000\nreq_total{code=\"200\"} 4 1010\n# EOF\n",
        )
        .unwrap();
        let data = dir.path().join("data");
        let summary = create_blocks_from_openmetrics(&input, &data).unwrap();
        assert_eq!(
            summary,
            BackfillSummary {
                samples: 3,
                series: 2,
                rejected: 1
            }
        );
        let tsdb = Tsdb::open(&data).unwrap();
        let got = tsdb
            .querier()
            .select(
                SeriesOrder::Labels,
                &[Matcher::equal("code", "200")],
                0,
                i64::MAX,
            )
            .unwrap();
        let points: Vec<(i64, f64)> = got[0].samples.iter().map(|s| (s.t, s.v)).collect();
        assert_eq!(points, [(1_000_000, 1.0), (1_015_000, 5.0)]);
    }

    #[test]
    fn bad_input_names_file_and_line() {
        let dir = tempfile::tempdir().unwrap();
        let input = dir.path().join("in.om");
        std::fs::write(&input, "ok 1 1\nbroken{ 1 2\n").unwrap();
        let err = create_blocks_from_openmetrics(&input, &dir.path().join("d"))
            .unwrap_err()
            .to_string();
        assert!(err.contains("in.om:2"), "{err}");
        std::fs::write(&input, "ok 1 1\n# EOF\nlate 1 2\n").unwrap();
        let err = create_blocks_from_openmetrics(&input, &dir.path().join("e"))
            .unwrap_err()
            .to_string();
        assert!(
            err.contains("in.om:3") && err.contains("after # EOF"),
            "{err}"
        );
    }
}
