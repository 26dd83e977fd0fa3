//! The `narthex` binary: command line, logging, and dispatch to the components.
//!
//! With no subcommand it runs everything in one process with an embedded configuration that
//! scrapes itself; `narthex server` is the Prometheus server alone, with Prometheus's flags.

mod api;
mod backfill;
mod cli;
mod first_request;
mod http_server;
mod idle_spin;
mod reload;
mod request_line;
mod self_metrics;
mod server;
mod web;

use clap::{CommandFactory, FromArgMatches};

use std::process::ExitCode;

use cli::{CheckTool, Cli, Command, CreateBlocksFrom, TestTool, ToolCommand, TsdbTool};

fn main() -> anyhow::Result<ExitCode> {
    keep_freed_memory();
    let command = Cli::command();
    let matches = command.clone().get_matches();
    let cli = Cli::from_arg_matches(&matches).unwrap_or_else(|e| e.exit());
    let flags = match matches.subcommand() {
        Some(("server", server_matches)) => command
            .find_subcommand("server")
            .map(|server| cli::flag_values(server, server_matches))
            .unwrap_or_default(),
        _ => cli::flag_values(&command, &matches),
    };
    let (args, embedded_config) = match cli.command {
        Some(Command::Server(args)) => (*args, false),
        Some(Command::Tool(tool)) => return Ok(run_tool(tool)),
        None => (cli.all_in_one, true),
    };
    init_logging(&args.log_level);
    let runtime = idle_spin::build_runtime(std::time::Duration::from_micros(
        args.idle_spin_microseconds,
    ))?;
    // As a task on a worker, as everything it starts, rather than on the thread blocked in
    // `block_on`.
    runtime.block_on(async {
        tokio::spawn(server::run(args, embedded_config, flags))
            .await
            .map_err(|e| anyhow::anyhow!("server task failed: {e}"))?
    })?;
    Ok(ExitCode::SUCCESS)
}

/// `check config`, as promtool: each file, then the rule files it names.
fn check_config_files(files: &[std::path::PathBuf]) -> bool {
    let mut ok = true;
    for file in files {
        match narthex_config::Config::load(file) {
            Ok(config) => {
                println!(
                    "Checking {}\n  SUCCESS: {} scrape configs found, {} rule file patterns",
                    file.display(),
                    config.scrape_configs.len(),
                    config.rule_files.len()
                );
                match narthex_rules::file::expand_patterns(&config.rule_files) {
                    Ok(rule_files) => {
                        if !rule_files.is_empty() {
                            println!();
                            ok &= narthex_rules::check_rule_files(
                                &rule_files,
                                narthex_rules::ReadOptions::default(),
                                &mut std::io::stdout(),
                            );
                        }
                    }
                    Err(e) => {
                        println!("  FAILED: {e}");
                        ok = false;
                    }
                }
            }
            Err(e) => {
                println!("Checking {}\n  FAILED: {e}", file.display());
                ok = false;
            }
        }
    }
    ok
}

/// The promtool-like subcommands: each prints its findings and sets the exit code.
fn run_tool(tool: ToolCommand) -> ExitCode {
    let ok = match tool {
        ToolCommand::CheckConfig { files } | ToolCommand::Check(CheckTool::Config { files }) => {
            check_config_files(&files)
        }
        ToolCommand::Check(CheckTool::Rules { files }) => narthex_rules::check_rule_files(
            &files,
            narthex_rules::ReadOptions::default(),
            &mut std::io::stdout(),
        ),
        ToolCommand::Test(TestTool::Rules { files }) => narthex_rules::run_rule_tests(
            &files,
            narthex_rules::ReadOptions::default(),
            &narthex_rules::templates::GoTemplates::default(),
            &mut std::io::stdout(),
        ),
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

/// By default glibc serves allocations above 128 KiB with their own mmap and returns freed
/// memory at the top of the heap to the kernel: every query's sample buffers then cost page
/// faults to be zeroed again (5x on a large select). Keeping up to 256 MiB of freed memory and
/// serving buffers up to 32 MiB (glibc's maximum) from the heap avoids that; the steady-state footprint of
/// scraping stays glibc's, which is smaller than that of allocators that keep per-thread heaps.
fn keep_freed_memory() {
    // SAFETY: mallopt only changes allocator tuning parameters; called before any thread starts.
    unsafe {
        libc::mallopt(libc::M_MMAP_THRESHOLD, 32 << 20);
        libc::mallopt(libc::M_TRIM_THRESHOLD, 256 << 20);
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
