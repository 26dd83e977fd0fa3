//! The `narthex` binary: command line, logging, and dispatch to the components.
//!
//! With no subcommand it runs everything in one process with an embedded configuration that
//! scrapes itself; `narthex server` is the Prometheus server alone, with Prometheus's flags.

mod api;
mod cli;
mod self_metrics;
mod server;
mod web;

use clap::Parser;

use cli::{Cli, Command};

fn main() -> anyhow::Result<()> {
    let cli = Cli::parse();
    let (args, embedded_config) = match cli.command {
        Some(Command::Server(args)) => (args, false),
        None => (cli.all_in_one, true),
    };
    init_logging(&args.log_level);
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()?;
    runtime.block_on(server::run(args, embedded_config))
}

fn init_logging(level: &str) {
    let filter = tracing_subscriber::EnvFilter::try_new(format!(
        "{level},hyper=warn,reqwest=warn,rustls=warn"
    ))
    .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("info"));
    tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr)
        .init();
}
