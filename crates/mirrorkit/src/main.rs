//! The mirrorkit binary: parses the command line, calls the library, prints, and decides the exit
//! code in one place ([`run`] returns it; `main` only converts it).

mod cli;
mod commands;
mod diagnostics;
mod output;
mod settings;

use std::io::IsTerminal;

use clap::Parser;
use mirrorkit_core::exit::ExitCode;

use cli::{Cli, Color, Command};

fn main() -> std::process::ExitCode {
    let cli = match Cli::try_parse() {
        Ok(cli) => cli,
        Err(e) => {
            // clap exits 2 on usage errors; our contract (sysexits) is 64. Help and version are 0.
            let _ = e.print();
            return std::process::ExitCode::from(if e.use_stderr() {
                ExitCode::Usage.code()
            } else {
                0
            });
        }
    };
    init_logging(&cli);
    cli::set_config(cli.config.clone());
    let runtime = match tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
    {
        Ok(rt) => rt,
        Err(e) => {
            eprintln!("error: cannot start the async runtime: {e}");
            return std::process::ExitCode::from(ExitCode::Io.code());
        }
    };
    let code = runtime.block_on(run(cli));
    std::process::ExitCode::from(code.code())
}

fn init_logging(cli: &Cli) {
    let level = match cli.log_level {
        cli::LogLevel::Trace => "trace",
        cli::LogLevel::Debug => "debug",
        cli::LogLevel::Info => "info",
        cli::LogLevel::Warn => "warn",
        cli::LogLevel::Error => "error",
    };
    let ansi = match cli.color {
        Color::Always => true,
        Color::Never => false,
        Color::Auto => std::io::stderr().is_terminal(),
    };
    let filter =
        tracing_subscriber::EnvFilter::try_from_env("MIRRORKIT_LOG").unwrap_or_else(|_| {
            tracing_subscriber::EnvFilter::new(format!(
                "warn,mirrorkit={level},mirrorkit_core={level},mirrorkit_oci={level},\
                 mirrorkit_run={level},mirrorkit_release={level},mirrorkit_images={level},\
                 mirrorkit_helm={level},mirrorkit_bundle={level},mirrorkit_packages={level},\
                 mirrorkit_distro={level}"
            ))
        });
    let logs = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr)
        .with_target(false);
    // One JSON object per line for log collectors; plain text (for a terminal or a CI job log)
    // otherwise.
    let _ = if cli.json_logs {
        logs.json().try_init()
    } else {
        logs.with_ansi(ansi).try_init()
    };
    diagnostics::init(ansi);
}

/// Run one command and return its exit code.
async fn run(cli: Cli) -> ExitCode {
    match cli.command {
        Command::Sync(args) => commands::sync::run(args, false).await,
        Command::Check(args) => commands::sync::run(args, true).await,
        Command::Validate { spec } => match cli::spec_path(&spec) {
            Ok(path) => commands::validate::run(&path),
            Err(code) => code,
        },
        Command::Schema { target } => commands::schema::run(target),
        Command::Copy(args) => commands::copy::run(args).await,
        Command::Cascade(args) => commands::cascade::run(args).await,
        Command::Export(args) => commands::export::run(args).await,
        Command::Import(args) => commands::import::run(args).await,
        Command::Bundle(cmd) => commands::bundle::run(cmd).await,
        Command::Repo(cmd) => commands::repo::run(cmd).await,
        Command::Mirror(args) => commands::mirror::run(args).await,
        Command::Completions { shell } => commands::shell::completions(shell),
        Command::Man => commands::shell::man(),
    }
}
