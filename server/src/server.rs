//! Wiring of the server: configuration, storage, scrape loops and the HTTP router, started in
//! that order and stopped in reverse on SIGINT/SIGTERM.

use std::collections::BTreeMap;
use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::SystemTime;

use anyhow::Context;
use axum::extract::State;
use axum::http::StatusCode;
use axum::routing::{get, post};
use axum::Router;
use narthex_config::Config;
use narthex_notifier::{Notifier, NotifierOptions};
use narthex_promql::{Engine, EngineOptions, ParseOptions};
use narthex_rules::group::GroupOptions;
use narthex_rules::{AlertToSend, RuleManager, RuleManagerOptions};
use narthex_scrape::ScrapeManager;
use narthex_tsdb::{Tsdb, TsdbOptions};

use crate::cli::ServerArgs;
use crate::reload::{ConfigSource, ConfigState};

/// The all-in-one configuration; `{self}` becomes the address the server listens on.
const EMBEDDED_CONFIG: &str = include_str!("default-config.yml");

/// The `--enable-feature` values Narthex knows.
#[derive(Default)]
struct Features {
    experimental_functions: bool,
    duration_expressions: bool,
    delayed_name_removal: bool,
}

impl Features {
    fn from_flags(flags: &[String]) -> Features {
        let mut features = Features::default();
        for name in flags.iter().flat_map(|f| f.split(',')).map(str::trim) {
            match name {
                "promql-experimental-functions" => features.experimental_functions = true,
                "promql-duration-expr" => features.duration_expressions = true,
                "promql-delayed-name-removal" => features.delayed_name_removal = true,
                "" => {}
                // As Prometheus: an unknown feature is logged, not fatal.
                other => tracing::warn!(feature = other, "unknown option for --enable-feature"),
            }
        }
        features
    }
}

/// What the HTTP handlers share.
pub struct AppState {
    pub tsdb: Arc<Tsdb>,
    pub engine: Engine,
    pub parse_options: ParseOptions,
    /// The query endpoints' parses, kept by query text.
    pub parsed_queries: crate::api::parsed_queries::ParsedQueries,
    pub scrape: ScrapeManager,
    pub rules: RuleManager,
    pub notifier: Arc<Notifier>,
    pub config: ConfigState,
    /// Every command-line flag and its value, for `/api/v1/status/flags`.
    pub flags: BTreeMap<String, String>,
    pub lifecycle_api: bool,
    /// Set by `/-/quit`: the server shuts down as on SIGTERM.
    pub quit: Arc<tokio::sync::Notify>,
    pub retention: String,
    /// `--web.external-url` (or its default), without a trailing slash.
    pub external_url: String,
    pub listen_port: u16,
    pub started: SystemTime,
    /// The query gate and the switches of `/api/v1`.
    pub api: crate::api::ApiContext,
}

pub async fn run(
    args: ServerArgs,
    embedded_config: bool,
    flags: BTreeMap<String, String>,
) -> anyhow::Result<()> {
    let (config, source) = load_config(&args, embedded_config)?;
    crate::reload::warn_about_unused_sections(&config);
    let features = Features::from_flags(&args.enable_feature);
    let tsdb_options = TsdbOptions {
        retention_ms: (args.retention_time_ms > 0).then_some(args.retention_time_ms),
        retention_bytes: (args.retention_size_bytes > 0).then_some(args.retention_size_bytes),
        ..TsdbOptions::default()
    };
    let tsdb = Tsdb::open_with(&args.storage_path, tsdb_options)
        .with_context(|| "opening storage (--storage.tsdb.path)".to_string())?;
    let listener = tokio::net::TcpListener::bind(args.listen_address)
        .await
        .with_context(|| format!("listening on --web.listen-address={}", args.listen_address))?;
    let scrape = ScrapeManager::new(tsdb.clone());
    // Without a trailing slash, as Prometheus keeps it, so that paths append cleanly.
    let external_url = args
        .external_url
        .clone()
        .unwrap_or_else(|| default_external_url(args.listen_address))
        .trim_end_matches('/')
        .to_string();
    let notifier = Arc::new(Notifier::new(NotifierOptions {
        queue_capacity: args.notification_queue_capacity,
        drain_on_shutdown: args.drain_notification_queue,
        ..NotifierOptions::default()
    }));
    let engine = Engine::new(EngineOptions {
        lookback_delta_ms: args.lookback_delta_ms,
        experimental_functions: features.experimental_functions,
        max_samples: args.query_max_samples,
        timeout: Some(std::time::Duration::from_millis(
            args.query_timeout_ms as u64,
        )),
        default_subquery_step_ms: config.global.evaluation_interval.as_millis(),
        delayed_name_removal: features.delayed_name_removal,
    });
    let parse_options = ParseOptions {
        experimental_functions: features.experimental_functions,
        duration_expressions: features.duration_expressions,
        ..ParseOptions::default()
    };
    let state = Arc::new(AppState {
        tsdb: tsdb.clone(),
        engine: engine.clone(),
        parse_options,
        parsed_queries: crate::api::parsed_queries::ParsedQueries::new(parse_options),
        scrape,
        notifier: notifier.clone(),
        rules: RuleManager::new(RuleManagerOptions {
            engine: Arc::new(engine.clone()),
            storage: tsdb.clone(),
            notify: alert_sender(notifier.clone(), external_url.clone()),
            templates: Arc::new(narthex_rules::templates::GoTemplates::default()),
            read: narthex_rules::ReadOptions {
                parse: parse_options,
                ..Default::default()
            },
            group: GroupOptions {
                resend_delay_ms: args.resend_delay_ms,
                outage_tolerance_ms: args.for_outage_tolerance_ms,
                for_grace_period_ms: args.for_grace_period_ms,
            },
            external_url: external_url.clone(),
        }),
        config: ConfigState::new(config, source),
        flags,
        lifecycle_api: args.enable_lifecycle,
        quit: Arc::new(tokio::sync::Notify::new()),
        retention: retention_text(&args),
        external_url: external_url.clone(),
        listen_port: args.listen_address.port(),
        started: SystemTime::now(),
        api: crate::api::ApiContext::new(&crate::api::ApiOptions {
            max_concurrency: args.query_max_concurrency,
            remote_write_receiver: args.enable_remote_write_receiver,
            admin_api: args.enable_admin_api,
            cors_origin: narthex_config::relabel::Regex::new(&args.cors_origin)
                .map_err(|e| anyhow::anyhow!("--web.cors.origin: {e}"))?,
        }),
    });
    let app = router(state.clone());
    tracing::info!(address = %args.listen_address, "listening");
    // Scraping starts once the listener is bound, so a self-scrape finds the server up.
    // Rule files are read before anything starts, so a bad one stops the start-up.
    let rules = state.rules.prepare(&state.config.current())?;
    let pools = state.scrape.prepare(&state.config.current())?;
    state.notifier.apply_config(&state.config.current())?;
    state.scrape.apply(pools);
    state.rules.apply(rules);
    crate::reload::reload_on_sighup(state.clone())?;
    let quit = state.quit.clone();
    let options = crate::http_server::ServeOptions {
        first_request_paths: FIRST_REQUEST_PATHS,
        spin_budget: std::time::Duration::from_micros(args.idle_spin_microseconds),
        direct: Some(crate::first_request::Direct {
            takes: crate::api::answered_directly,
            answer: {
                let state = state.clone();
                Arc::new(move |request| crate::api::direct_query(&state, request))
            },
            instant: {
                let state = state.clone();
                Arc::new(move |query_string| crate::api::plain_instant_query(&state, query_string))
            },
        }),
    };
    crate::http_server::serve(listener, app, options, async move {
        tokio::select! {
            _ = shutdown_signal() => {}
            _ = quit.notified() => tracing::info!("shutdown requested through /-/quit"),
        }
    })
    .await
    .context("serving HTTP on --web.listen-address")?;
    // No reload from here on; nothing may write to the TSDB once it is closed: wait for loops
    // and groups to end.
    let _no_reloads = state.config.block_reloads().await;
    state.scrape.shutdown().await;
    state.rules.shutdown().await;
    // Long enough for a batch to reach every Alertmanager within its own timeout.
    let drain_deadline = state
        .config
        .current()
        .alerting
        .alertmanagers
        .iter()
        .map(|am| am.timeout.as_std())
        .max()
        .unwrap_or_default()
        .max(std::time::Duration::from_secs(5))
        + std::time::Duration::from_secs(1);
    state.notifier.stop(drain_deadline).await;
    if let Err(e) = state.tsdb.close() {
        tracing::error!(error = %e, "flushing the TSDB on shutdown failed; the next start replays its write-ahead log");
    }
    tracing::info!("stopped");
    Ok(())
}

/// Paths whose first request on a connection the acceptor thread answers itself
/// (`first_request`): the queries, which either answer within a millisecond or are placed
/// on the blocking pool (`api::Placement`), and the health checks.
const FIRST_REQUEST_PATHS: &[&str] = &[
    "/api/v1/query",
    "/api/v1/query_range",
    "/-/healthy",
    "/-/ready",
];

pub fn router(state: Arc<AppState>) -> Router {
    let routes = Router::new()
        .merge(crate::api::routes())
        .route("/metrics", get(crate::self_metrics::handler))
        .route(
            "/-/healthy",
            get(|| async { "Narthex Server is Healthy.\n" }),
        )
        .route("/-/ready", get(|| async { "Narthex Server is Ready.\n" }))
        .route("/-/reload", post(lifecycle_reload).put(lifecycle_reload))
        .route("/-/quit", post(lifecycle_quit).put(lifecycle_quit))
        .fallback(crate::web::serve_ui)
        .with_state(state.clone());
    // Around the whole router rather than each route: it needs the final answer, with what
    // axum adds itself (the `Allow` of a 405).
    Router::new()
        .fallback_service(routes)
        .layer(axum::middleware::from_fn_with_state(
            state,
            crate::api::http_compat::prometheus_manners,
        ))
}

fn load_config(args: &ServerArgs, embedded_config: bool) -> anyhow::Result<(Config, ConfigSource)> {
    match (&args.config_file, embedded_config) {
        (Some(path), _) => Ok((Config::load(path)?, ConfigSource::File(path.clone()))),
        (None, true) => {
            let text = EMBEDDED_CONFIG.replace("{self}", &self_address(args.listen_address));
            let config = Config::parse(&text, "embedded default configuration")?;
            Ok((config, ConfigSource::Embedded(text)))
        }
        (None, false) => {
            let path = PathBuf::from("prometheus.yml");
            Ok((Config::load(&path)?, ConfigSource::File(path)))
        }
    }
}

/// Prometheus's default external URL: this machine's name and the listen port.
fn default_external_url(listen: SocketAddr) -> String {
    format!("http://{}:{}", crate::api::hostname(), listen.port())
}

/// The rule engine's alerts as the notifier takes them, as Prometheus's `sendAlerts`: firing
/// since `starts_at`, ending at their resolution or validity, linked to the expression's table
/// view in the expression browser.
fn alert_sender(notifier: Arc<Notifier>, external_url: String) -> narthex_rules::manager::Notify {
    Arc::new(move |alerts: Vec<AlertToSend>| {
        let at =
            |ms: i64| std::time::UNIX_EPOCH + std::time::Duration::from_millis(ms.max(0) as u64);
        let alerts = alerts
            .into_iter()
            .map(|alert| narthex_notifier::Alert {
                labels: alert.labels,
                annotations: alert.annotations,
                starts_at: at(alert.starts_at),
                ends_at: Some(at(alert.ends_at)),
                generator_url: format!(
                    "{external_url}/graph?g0.expr={}&g0.tab=1",
                    form_urlencoded::byte_serialize(alert.expr.as_bytes()).collect::<String>()
                ),
            })
            .collect();
        notifier.send(alerts);
    })
}

/// The retention as `/api/v1/status/runtimeinfo` shows it (Prometheus: `15d`, `512MiB`,
/// or both joined with ` or `).
fn retention_text(args: &ServerArgs) -> String {
    let time = (args.retention_time_ms > 0)
        .then(|| narthex_model::duration::format_duration(args.retention_time_ms));
    let size = (args.retention_size_bytes > 0)
        .then(|| narthex_config::ByteSize(args.retention_size_bytes).to_string());
    match (time, size) {
        (Some(t), Some(s)) => format!("{t} or {s}"),
        (Some(t), None) => t,
        (None, Some(s)) => s,
        (None, None) => String::new(),
    }
}

/// `POST /-/reload`: Prometheus's answers, 403 without `--web.enable-lifecycle`, 500 with the
/// reason when the configuration does not load.
async fn lifecycle_reload(State(state): State<Arc<AppState>>) -> (StatusCode, String) {
    if !state.lifecycle_api {
        return (
            StatusCode::FORBIDDEN,
            "Lifecycle API is not enabled.".into(),
        );
    }
    match crate::reload::reload(&state).await {
        Ok(()) => (StatusCode::OK, String::new()),
        Err(e) => (
            StatusCode::INTERNAL_SERVER_ERROR,
            format!("failed to reload config: {e:#}"),
        ),
    }
}

/// `POST /-/quit`: shuts the server down gracefully, with `--web.enable-lifecycle`.
async fn lifecycle_quit(State(state): State<Arc<AppState>>) -> (StatusCode, &'static str) {
    if !state.lifecycle_api {
        return (StatusCode::FORBIDDEN, "Lifecycle API is not enabled.");
    }
    state.quit.notify_one();
    (StatusCode::OK, "Requesting termination... Goodbye!")
}

/// The address a scrape of ourselves should use: a wildcard listen address is reached on
/// localhost.
fn self_address(listen: SocketAddr) -> String {
    if listen.ip().is_unspecified() {
        format!("localhost:{}", listen.port())
    } else {
        listen.to_string()
    }
}

async fn shutdown_signal() {
    let interrupt = tokio::signal::ctrl_c();
    #[cfg(unix)]
    {
        let mut terminate =
            match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
                Ok(signal) => signal,
                Err(e) => {
                    tracing::warn!(error = %e, "cannot listen for SIGTERM");
                    let _ = interrupt.await;
                    return;
                }
            };
        tokio::select! {
            _ = interrupt => {},
            _ = terminate.recv() => {},
        }
    }
    #[cfg(not(unix))]
    {
        let _ = interrupt.await;
    }
    tracing::info!("shutting down");
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn embedded_config_scrapes_the_listen_address() {
        let addr: SocketAddr = "0.0.0.0:9090".parse().unwrap();
        assert_eq!(self_address(addr), "localhost:9090");
        let addr: SocketAddr = "127.0.0.1:19090".parse().unwrap();
        let text = EMBEDDED_CONFIG.replace("{self}", &self_address(addr));
        let config = Config::parse(&text, "embedded").unwrap();
        assert_eq!(config.scrape_configs[0].job_name, "prometheus");
        assert_eq!(
            config.scrape_configs[0].static_configs[0].targets[0].0,
            "127.0.0.1:19090"
        );
    }
}
