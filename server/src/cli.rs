//! Command-line flags, named as Prometheus names them so existing scripts and unit files work.

use std::collections::BTreeMap;
use std::net::SocketAddr;
use std::path::PathBuf;

use clap::{Args, Parser, Subcommand};

#[derive(Parser, Debug)]
#[command(
    name = "narthex",
    version,
    about = "Narthex: a Prometheus-compatible monitoring system.",
    long_about = "Narthex: a Prometheus-compatible monitoring system.\n\n\
        Without a subcommand, Narthex runs all-in-one: the server with an embedded configuration \
        that scrapes Narthex itself, the web UI on --web.listen-address (default :9090) and the \
        Prometheus HTTP API under /api/v1. Give --config.file to use your own prometheus.yml.",
    args_conflicts_with_subcommands = true
)]
pub struct Cli {
    #[command(subcommand)]
    pub command: Option<Command>,
    #[command(flatten)]
    pub all_in_one: ServerArgs,
}

#[derive(Subcommand, Debug)]
pub enum Command {
    /// Run the Prometheus-compatible server: scraping, storage, PromQL API and web UI.
    Server(Box<ServerArgs>),
    /// Tools for checking and testing, like Prometheus's promtool.
    #[command(subcommand)]
    Tool(ToolCommand),
}

#[derive(Subcommand, Debug)]
pub enum ToolCommand {
    /// Check that prometheus.yml files are valid.
    #[command(name = "check-config")]
    CheckConfig {
        #[arg(required = true, value_name = "FILE")]
        files: Vec<PathBuf>,
    },
    /// Check configuration and rule files, like promtool check.
    #[command(subcommand)]
    Check(CheckTool),
    /// Unit-test rule files, like promtool test.
    #[command(subcommand)]
    Test(TestTool),
    /// Run PromQL test files written in Prometheus's test language (load / eval / expect);
    /// prints each failing case with its file and line, then `N passed, M failed`.
    Promqltest {
        #[arg(required = true, value_name = "FILE")]
        files: Vec<PathBuf>,
    },
    /// TSDB tools, like promtool's `tsdb` commands.
    #[command(subcommand)]
    Tsdb(TsdbTool),
}

#[derive(Subcommand, Debug)]
pub enum CheckTool {
    /// Check that prometheus.yml files are valid, with the rule files they name.
    Config {
        #[arg(required = true, value_name = "FILE")]
        files: Vec<PathBuf>,
    },
    /// Check that rule files are valid (and lint them for duplicate rules).
    Rules {
        #[arg(required = true, value_name = "FILE")]
        files: Vec<PathBuf>,
    },
}

#[derive(Subcommand, Debug)]
pub enum TestTool {
    /// Run rule unit tests written in promtool's format (input_series, alert_rule_test,
    /// promql_expr_test).
    Rules {
        #[arg(required = true, value_name = "TEST_FILE")]
        files: Vec<PathBuf>,
    },
}

#[derive(Subcommand, Debug)]
pub enum TsdbTool {
    /// Create TSDB data from an input file (backfill).
    #[command(name = "create-blocks-from", subcommand)]
    CreateBlocksFrom(CreateBlocksFrom),
}

#[derive(Subcommand, Debug)]
pub enum CreateBlocksFrom {
    /// Import samples from an OpenMetrics text file (timestamps in seconds, `# EOF` at the end)
    /// into a data directory that `narthex server --storage.tsdb.path` can serve.
    Openmetrics {
        /// The OpenMetrics input file.
        #[arg(value_name = "INPUT_FILE")]
        input: PathBuf,
        /// Output directory for the data.
        #[arg(value_name = "OUTPUT_DIRECTORY", default_value = "data/")]
        output: PathBuf,
    },
}

#[derive(Args, Debug, Clone)]
pub struct ServerArgs {
    /// Prometheus configuration file. `narthex server` reads prometheus.yml by default; the
    /// all-in-one mode uses its embedded configuration unless this is given.
    #[arg(long = "config.file", value_name = "FILE")]
    pub config_file: Option<PathBuf>,

    /// Base path for metrics storage.
    #[arg(
        long = "storage.tsdb.path",
        value_name = "DIR",
        default_value = "data/"
    )]
    pub storage_path: PathBuf,

    /// How long to retain samples in storage (a duration: 15d). Whole two-hour blocks older
    /// than the newest sample minus this are dropped. 0 disables time-based retention.
    #[arg(
        long = "storage.tsdb.retention.time",
        value_name = "DURATION",
        default_value = "15d",
        value_parser = parse_retention_flag
    )]
    pub retention_time_ms: i64,

    /// Maximum number of bytes that can be stored for blocks (units B, KB, MB, GB, TB, PB, EB;
    /// powers of 1024 as in Prometheus: 512MB). The oldest blocks are dropped first. 0 disables.
    #[arg(
        long = "storage.tsdb.retention.size",
        value_name = "SIZE",
        default_value = "0",
        value_parser = narthex_config::parse_byte_size
    )]
    pub retention_size_bytes: u64,

    /// Address to listen on for the UI, API and telemetry.
    #[arg(
        long = "web.listen-address",
        value_name = "ADDR",
        default_value = "0.0.0.0:9090"
    )]
    pub listen_address: SocketAddr,

    /// How far back an instant vector selector looks for the newest sample (a duration: 5m).
    #[arg(
        long = "query.lookback-delta",
        value_name = "DURATION",
        default_value = "5m",
        value_parser = parse_duration_flag
    )]
    pub lookback_delta_ms: i64,

    /// Maximum time a query may take before it is aborted (a duration: 2m).
    #[arg(
        long = "query.timeout",
        value_name = "DURATION",
        default_value = "2m",
        value_parser = parse_duration_flag
    )]
    pub query_timeout_ms: i64,

    /// Maximum number of samples a single query can load into memory.
    #[arg(
        long = "query.max-samples",
        value_name = "N",
        default_value_t = 50_000_000
    )]
    pub query_max_samples: usize,

    /// Maximum number of queries executed concurrently; further queries wait for a turn.
    #[arg(
        long = "query.max-concurrency",
        value_name = "N",
        default_value_t = 20,
        value_parser = parse_positive_count
    )]
    pub query_max_concurrency: usize,

    /// Enable API endpoints for admin control actions: TSDB snapshot, delete_series,
    /// clean_tombstones under /api/v1/admin/tsdb/.
    #[arg(long = "web.enable-admin-api")]
    pub enable_admin_api: bool,

    /// Enable shutdown and reload via HTTP request: POST /-/quit and POST /-/reload.
    /// (A reload also happens on SIGHUP, with or without this flag.)
    #[arg(long = "web.enable-lifecycle")]
    pub enable_lifecycle: bool,

    /// Enable the API endpoint accepting Prometheus remote write requests (POST /api/v1/write).
    #[arg(long = "web.enable-remote-write-receiver")]
    pub enable_remote_write_receiver: bool,

    /// Comma-separated feature names to enable: promql-experimental-functions,
    /// promql-duration-expr, promql-delayed-name-removal. May be given several times.
    #[arg(long = "enable-feature", value_name = "FEATURE")]
    pub enable_feature: Vec<String>,

    /// The URL under which Narthex is reachable from outside (used in alert links and
    /// templates' `externalURL`). Defaults to http://<hostname>:<port>/.
    #[arg(long = "web.external-url", value_name = "URL")]
    pub external_url: Option<String>,

    /// Minimum amount of time to wait before resending an alert to Alertmanager.
    #[arg(long = "rules.alert.resend-delay", value_name = "DURATION", default_value = "1m",
          value_parser = parse_duration_flag)]
    pub resend_delay_ms: i64,

    /// Max time to tolerate Narthex outage for restoring the "for" state of alerts.
    #[arg(long = "rules.alert.for-outage-tolerance", value_name = "DURATION", default_value = "1h",
          value_parser = parse_duration_flag)]
    pub for_outage_tolerance_ms: i64,

    /// Minimum duration between the restored "for" state and an alert firing; alerts with a
    /// shorter "for" are not restored.
    #[arg(long = "rules.alert.for-grace-period", value_name = "DURATION", default_value = "10m",
          value_parser = parse_duration_flag)]
    pub for_grace_period_ms: i64,

    /// The capacity of the queue for pending Alertmanager notifications; when it is full the
    /// oldest alerts are dropped (and counted).
    #[arg(long = "alertmanager.notification-queue-capacity", value_name = "N",
          default_value_t = 10_000, value_parser = parse_positive_count)]
    pub notification_queue_capacity: usize,

    /// Send the alerts still queued to Alertmanager on shutdown (up to a few seconds).
    #[arg(long = "alertmanager.drain-notification-queue-on-shutdown", value_name = "BOOL",
          default_value_t = true, action = clap::ArgAction::Set)]
    pub drain_notification_queue: bool,

    /// Regex for CORS origin. It is fully anchored. Example: 'https?://(domain1|domain2)\.com'
    #[arg(
        long = "web.cors.origin",
        value_name = "REGEX",
        default_value = crate::api::DEFAULT_CORS_ORIGIN,
        value_parser = parse_cors_origin
    )]
    pub cors_origin: String,

    /// After HTTP activity, the thread accepting connections and the worker waiting for
    /// I/O look for the next request without sleeping for up to this many microseconds (0:
    /// off; always off on one CPU), as a halted CPU of a virtual machine takes tens of
    /// microseconds to wake. They give way to any other thread wanting the CPU, and the
    /// accepting thread moves off the CPU of a client on this machine. At most 10000.
    #[arg(
        long = "web.idle-spin-microseconds",
        value_name = "N",
        default_value_t = 2000,
        value_parser = clap::value_parser!(u64).range(0..=crate::idle_spin::MAX_BUDGET_MICROSECONDS)
    )]
    pub idle_spin_microseconds: u64,

    /// Only log messages at this level or above: debug, info, warn, error.
    #[arg(long = "log.level", value_name = "LEVEL", default_value = "info",
          value_parser = ["debug", "info", "warn", "error"])]
    pub log_level: String,
}

/// Every flag of the server with its value as given or defaulted, by long name, as
/// `/api/v1/status/flags` lists them.
pub fn flag_values(
    command: &clap::Command,
    matches: &clap::ArgMatches,
) -> BTreeMap<String, String> {
    let mut flags = BTreeMap::new();
    for arg in command.get_arguments() {
        let Some(long) = arg.get_long() else {
            continue;
        };
        let id = arg.get_id().as_str();
        if matches!(id, "help" | "version") {
            continue;
        }
        let value = match matches.try_get_raw(id) {
            Ok(Some(values)) => values
                .map(|v| v.to_string_lossy().into_owned())
                .collect::<Vec<_>>()
                .join(","),
            _ => String::new(),
        };
        flags.insert(long.to_string(), value);
    }
    flags
}

/// A count that must be at least 1 (no query could ever run with 0 permits).
fn parse_positive_count(text: &str) -> Result<usize, String> {
    match text.parse::<usize>() {
        Ok(0) => Err("must be at least 1".into()),
        Ok(n) => Ok(n),
        Err(e) => Err(e.to_string()),
    }
}

fn parse_duration_flag(text: &str) -> Result<i64, String> {
    let ms = narthex_model::duration::parse_duration(text)?;
    if ms <= 0 {
        return Err(format!("duration must be positive, got {text:?}"));
    }
    Ok(ms)
}

/// `--web.cors.origin`: a regex as Prometheus compiles it, kept as written.
fn parse_cors_origin(text: &str) -> Result<String, String> {
    narthex_config::relabel::Regex::new(text)
        .map(|_| text.to_string())
        .map_err(|e| e.to_string())
}

/// A retention duration, where 0 means no limit.
fn parse_retention_flag(text: &str) -> Result<i64, String> {
    if text.trim() == "0" {
        return Ok(0);
    }
    parse_duration_flag(text)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sizes_and_retention_parse_like_prometheus() {
        assert_eq!(narthex_config::parse_byte_size("512MB"), Ok(512 << 20));
        assert_eq!(narthex_config::parse_byte_size("1GB"), Ok(1 << 30));
        assert_eq!(narthex_config::parse_byte_size("0"), Ok(0));
        assert!(narthex_config::parse_byte_size("12")
            .unwrap_err()
            .contains("no unit"));
        assert!(narthex_config::parse_byte_size("5XB")
            .unwrap_err()
            .contains("unknown unit"));
        assert_eq!(parse_retention_flag("0"), Ok(0));
        assert_eq!(parse_retention_flag("2h"), Ok(7_200_000));
    }

    #[test]
    fn prometheus_flag_names() {
        let cli = Cli::try_parse_from([
            "narthex",
            "server",
            "--config.file=/etc/prometheus/prometheus.yml",
            "--storage.tsdb.path=/var/lib/narthex",
            "--web.listen-address=127.0.0.1:19090",
            "--query.lookback-delta=1m",
        ])
        .unwrap();
        let Some(Command::Server(args)) = cli.command else {
            panic!("not the server subcommand")
        };
        assert_eq!(
            args.config_file.as_deref(),
            Some(std::path::Path::new("/etc/prometheus/prometheus.yml"))
        );
        assert_eq!(args.listen_address.port(), 19090);
        assert_eq!(args.lookback_delta_ms, 60_000);
    }

    #[test]
    fn no_subcommand_is_all_in_one_with_defaults() {
        let cli = Cli::try_parse_from(["narthex"]).unwrap();
        assert!(cli.command.is_none());
        assert_eq!(cli.all_in_one.listen_address.port(), 9090);
        assert_eq!(cli.all_in_one.lookback_delta_ms, 300_000);
        assert!(cli.all_in_one.config_file.is_none());
    }

    #[test]
    fn bad_values_are_refused_with_the_flag_named() {
        let err = Cli::try_parse_from(["narthex", "--query.lookback-delta=5x"]).unwrap_err();
        assert!(err.to_string().contains("--query.lookback-delta"), "{err}");
        let err = Cli::try_parse_from(["narthex", "--web.listen-address=nowhere"]).unwrap_err();
        assert!(err.to_string().contains("--web.listen-address"), "{err}");
        let err =
            Cli::try_parse_from(["narthex", "--web.idle-spin-microseconds=20000"]).unwrap_err();
        assert!(
            err.to_string().contains("--web.idle-spin-microseconds"),
            "{err}"
        );
        let err = Cli::try_parse_from(["narthex", "--web.cors.origin=(unclosed"]).unwrap_err();
        assert!(err.to_string().contains("--web.cors.origin"), "{err}");
        let cli = Cli::try_parse_from(["narthex", "--web.idle-spin-microseconds=0"])
            .expect("0 turns the spin off");
        assert_eq!(cli.all_in_one.idle_spin_microseconds, 0);
    }
}
