//! The `narthex` binary: command line, logging, and dispatch to the components.
//!
//! With no subcommand it runs everything in one process with an embedded configuration that
//! scrapes itself; `narthex server` is the Prometheus server alone, with Prometheus's flags.

mod api;
mod backfill;
mod cli;
mod self_metrics;
mod server;
mod web;

use clap::Parser;

/// mimalloc instead of glibc's malloc: glibc hands the memory of a finished query back to the
/// kernel and takes page faults to zero it again on the next one (5x on a large select), and
/// its free lists grow fragmented under the scrape loops' many small label allocations.
#[global_allocator]
static GLOBAL: mimalloc::MiMalloc = mimalloc::MiMalloc;

use std::process::ExitCode;

use cli::{Cli, Command, CreateBlocksFrom, ToolCommand, TsdbTool};

fn main() -> anyhow::Result<ExitCode> {
    let cli = Cli::parse();
    let (args, embedded_config) = match cli.command {
        Some(Command::Server(args)) => (args, false),
        Some(Command::Tool(tool)) => return Ok(run_tool(tool)),
        None => (cli.all_in_one, true),
    };
    init_logging(&args.log_level);
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()?;
    runtime.block_on(server::run(args, embedded_config))?;
    Ok(ExitCode::SUCCESS)
}

/// The promtool-like subcommands: each prints its findings and sets the exit code.
fn run_tool(tool: ToolCommand) -> ExitCode {
    let ok = match tool {
        ToolCommand::CheckConfig { files } => {
            let mut ok = true;
            for file in &files {
                match narthex_config::Config::load(file) {
                    Ok(config) => println!(
                        "Checking {}\n  SUCCESS: {} scrape configs found",
                        file.display(),
                        config.scrape_configs.len()
                    ),
                    Err(e) => {
                        println!("Checking {}\n  FAILED: {e}", file.display());
                        ok = false;
                    }
                }
            }
            ok
        }
        ToolCommand::Promqltest { files } => {
            narthex_promql::promqltest::run_cli(&files, &mut std::io::stdout())
        }
        ToolCommand::Tsdb(TsdbTool::CreateBlocksFrom(CreateBlocksFrom::Openmetrics {
            input,
            output,
        })) => match backfill::create_blocks_from_openmetrics(&input, &output) {
            Ok(summary) => {
                println!(
                    "Wrote {} samples of {} series to {}{}",
                    summary.samples,
                    summary.series,
                    output.display(),
                    if summary.rejected > 0 {
                        format!(
                            " ({} out-of-order or duplicate samples skipped)",
                            summary.rejected
                        )
                    } else {
                        String::new()
                    }
                );
                true
            }
            Err(e) => {
                eprintln!("error: {e:#}");
                false
            }
        },
    };
    if ok {
        ExitCode::SUCCESS
    } else {
        ExitCode::FAILURE
    }
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
