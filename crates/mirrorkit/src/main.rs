//! The mirrorkit binary: parses the command line, calls the library, prints, and decides the exit
//! code in one place ([`run`] returns it; `main` only converts it).

mod bundles;
mod cli;
mod diagnostics;
mod targets;

use std::io::{IsTerminal, Write};
use std::path::PathBuf;

use clap::{CommandFactory, Parser};
use mirrorkit_core::engine::{self, SyncOptions};
use mirrorkit_core::exit::{ExitCode, HasExitCode};
use mirrorkit_core::http::credentials::Credentials;
use mirrorkit_core::http::{HttpClient, HttpConfig};
use mirrorkit_core::plan::VersionFilter;
use mirrorkit_core::spec;
use mirrorkit_core::work_dir::WorkDirLock;

use cli::{CascadeAction, CascadeArgs, Cli, Color, Command, Format, SchemaTarget, SyncArgs};

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
                "warn,mirrorkit={level},mirrorkit_core={level},mirrorkit_oci={level}"
            ))
        });
    let _ = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr)
        .with_ansi(ansi)
        .with_target(false)
        .try_init();
    diagnostics::init(ansi);
}

/// Run one command and return its exit code.
async fn run(cli: Cli) -> ExitCode {
    match cli.command {
        Command::Sync(args) => sync(args, false).await,
        Command::Check(args) => sync(args, true).await,
        Command::Validate { spec } => validate(&spec),
        Command::Schema { target } => schema(target),
        Command::Copy(args) => targets::copy(args).await,
        Command::Cascade(args) => cascade(args).await,
        Command::Export(args) => bundles::export(args).await,
        Command::Import(args) => bundles::import(args).await,
        Command::Bundle(cmd) => bundles::bundle(cmd).await,
        Command::Completions { shell } => {
            clap_complete::generate(
                shell,
                &mut Cli::command(),
                "mirrorkit",
                &mut std::io::stdout(),
            );
            ExitCode::Success
        }
        Command::Man => {
            let mut out = Vec::new();
            if let Err(e) = clap_mangen::Man::new(Cli::command()).render(&mut out) {
                eprintln!("error: cannot render the man page: {e}");
                return ExitCode::Io;
            }
            print_stdout(&String::from_utf8_lossy(&out))
        }
    }
}

/// `sync` and `check`: run the engine and print the report.
async fn sync(args: SyncArgs, force_dry_run: bool) -> ExitCode {
    let spec = match spec::load(&args.spec) {
        Ok(s) => s,
        Err(e) => return diagnostics::spec_error(&e),
    };
    let http = match http_for(&spec) {
        Ok(h) => h,
        Err(code) => return code,
    };
    let work_dir = work_dir_for(&spec, args.work_dir.as_ref());
    let dry_run = force_dry_run || args.dry_run;
    // One run at a time per work dir (a dry run downloads nothing and needs no lock).
    let _work_dir_lock = if dry_run {
        None
    } else {
        match WorkDirLock::acquire(&work_dir, !args.no_wait, |holder| {
            eprintln!(
                "waiting: the work dir {} is in use by {holder} (--no-wait to exit instead)",
                work_dir.display()
            )
        })
        .await
        {
            Ok(lock) => Some(lock),
            Err(e) => {
                eprintln!("error: {e}");
                return e.exit_code();
            }
        }
    };
    let options = SyncOptions {
        only: args.only.clone(),
        filter: VersionFilter {
            versions: args.versions.clone(),
            latest: args.latest,
        },
        dry_run,
        fail_fast: args.fail_fast,
        concurrency: usize::from(args.concurrency),
        work_dir,
    };
    let credentials = Credentials::load();
    let opener = targets::Opener::new(&spec, http.clone(), credentials.clone());
    let progress = diagnostics::SyncProgress::new(options.dry_run);
    let mut insecure_hosts = insecure_hosts_of(&spec);
    insecure_hosts.extend(args.insecure_registries.iter().cloned());
    let known_blobs = mirrorkit_oci::images::KnownBlobs::default();
    let cli_filter = options.filter.clone();
    let cache_dir = options.work_dir.join("cache");
    let ctx = mirrorkit_oci::images::SyncContext {
        http: &http,
        credentials: &credentials,
        insecure_hosts: &insecure_hosts,
        dry_run: options.dry_run,
        fail_fast: options.fail_fast,
        known_blobs: &known_blobs,
        filter: &cli_filter,
        cache_dir: Some(&cache_dir),
    };
    let parts = mirrorkit_oci::helm::HelmParts {
        skip_charts: args.images_only,
        skip_images: args.charts_only,
    };
    let copy_mirror = async |m: &spec::Mirror| match &m.source {
        spec::SourceConfig::Oci(src) => mirrorkit_oci::images::sync_oci_mirror(m, src, &ctx).await,
        spec::SourceConfig::Helm(src) => {
            mirrorkit_oci::helm::sync_helm_mirror(m, src, parts, &ctx).await
        }
        // The engine builds release mirrors itself and never hands them here.
        _ => mirrorkit_core::report::MirrorReport {
            error: Some(mirrorkit_core::report::MirrorError {
                message: "internal: a release mirror reached the image copier".into(),
                exit_code: ExitCode::ItemFailed,
            }),
            ..mirrorkit_core::report::MirrorReport::for_mirror(m)
        },
    };
    let report = engine::sync(
        &spec,
        &options,
        &http,
        |t| opener.open(t),
        &|e| progress.update(e),
        copy_mirror,
    )
    .await;
    progress.finish();
    let report = match report {
        Ok(r) => r,
        Err(e) => {
            eprintln!("error: {e}");
            return e.exit_code();
        }
    };
    for (key, e) in report
        .mirrors
        .iter()
        .filter_map(|m| Some((&m.key, m.error.as_ref()?)))
    {
        eprintln!("error: mirror {key}: {}", e.message);
    }
    print_report(
        args.format,
        || report.to_plain(),
        &report,
        report.exit_code(),
    )
}

/// Registries spoken to over plain HTTP: the spec's `registries` marked insecure and insecure
/// registry targets.
fn insecure_hosts_of(spec: &spec::Spec) -> Vec<String> {
    let mut hosts: Vec<String> = spec
        .registries
        .iter()
        .filter(|(_, s)| s.insecure)
        .map(|(h, _)| h.clone())
        .collect();
    for m in &spec.mirrors {
        if let spec::TargetConfig::Registry {
            host,
            insecure: true,
        } = &m.target
        {
            hosts.push(host.clone());
        }
    }
    hosts.sort();
    hosts.dedup();
    hosts
}

/// The HTTP client a spec's run uses (its `registries:` concurrency limits applied).
fn http_for(spec: &spec::Spec) -> Result<HttpClient, ExitCode> {
    let http_config = HttpConfig {
        host_concurrency: spec
            .registries
            .iter()
            .filter_map(|(host, s)| s.concurrency.map(|n| (host.clone(), n as usize)))
            .collect(),
        host_rate_limits: spec
            .registries
            .iter()
            .filter_map(|(host, s)| s.rate_limit.map(|r| (host.clone(), r)))
            .collect(),
        host_max_tags: spec
            .registries
            .iter()
            .filter_map(|(host, s)| {
                s.max_tags
                    .map(|n| (host.clone(), usize::try_from(n).unwrap_or(usize::MAX)))
            })
            .collect(),
        ..HttpConfig::default()
    };
    HttpClient::new(http_config).map_err(|e| {
        eprintln!("error: {e}");
        e.exit_code()
    })
}

/// `--work-dir`, else the spec's `work_dir`, else `./.mirrorkit`.
fn work_dir_for(spec: &spec::Spec, flag: Option<&PathBuf>) -> PathBuf {
    flag.cloned()
        .or_else(|| spec.work_dir.clone())
        .unwrap_or_else(|| PathBuf::from(".mirrorkit"))
}

/// `cascade check|repair`.
async fn cascade(args: CascadeArgs) -> ExitCode {
    let spec = match spec::load(&args.spec) {
        Ok(s) => s,
        Err(e) => return diagnostics::spec_error(&e),
    };
    let http = match http_for(&spec) {
        Ok(h) => h,
        Err(code) => return code,
    };
    let work_dir = work_dir_for(&spec, args.work_dir.as_ref());
    let opener = targets::Opener::new(&spec, http.clone(), Credentials::load());
    let report = match engine::cascade_check(
        &spec,
        &args.only,
        args.action == CascadeAction::Repair,
        &http,
        &work_dir,
        |t| opener.open(t),
    )
    .await
    {
        Ok(r) => r,
        Err(e) => {
            eprintln!("error: {e}");
            return e.exit_code();
        }
    };
    for (key, e) in report
        .mirrors
        .iter()
        .filter_map(|m| Some((&m.key, m.error.as_ref()?)))
    {
        eprintln!("error: mirror {key}: {}", e.message);
    }
    print_report(
        args.format,
        || report.to_plain(),
        &report,
        report.exit_code(),
    )
}

/// `validate`: load the spec (offline) and say what it holds.
fn validate(path: &std::path::Path) -> ExitCode {
    match spec::load(path) {
        Ok(s) => {
            let keys: Vec<&str> = s.mirrors.iter().map(|m| m.key.as_str()).collect();
            print_stdout(&format!(
                "{}: valid ({} mirror(s): {})\n",
                path.display(),
                keys.len(),
                keys.join(", ")
            ))
        }
        Err(e) => diagnostics::spec_error(&e),
    }
}

/// `schema`: print a JSON Schema.
fn schema(target: SchemaTarget) -> ExitCode {
    let value = match target {
        SchemaTarget::Spec => spec::json_schema(),
        SchemaTarget::UrlIndex => serde_json::to_value(schemars::schema_for!(
            mirrorkit_core::source::url_index::IndexDocument
        ))
        .unwrap_or_default(),
    };
    match serde_json::to_string_pretty(&value) {
        Ok(s) => print_stdout(&(s + "\n")),
        Err(e) => {
            eprintln!("error: cannot render the schema: {e}");
            ExitCode::Io
        }
    }
}

/// Print a report as a table or JSON; the exit code is `code` unless stdout cannot be written.
fn print_report(
    format: Format,
    plain: impl FnOnce() -> String,
    json: &impl serde::Serialize,
    code: ExitCode,
) -> ExitCode {
    let out = match format {
        Format::Plain => plain(),
        Format::Json => match serde_json::to_string_pretty(json) {
            Ok(s) => s + "\n",
            Err(e) => {
                eprintln!("error: cannot render the report: {e}");
                return ExitCode::Io;
            }
        },
    };
    match print_stdout(&out) {
        ExitCode::Success => code,
        other => other,
    }
}

/// Write to stdout; a closed pipe (`| head`) is a normal end, not an error.
fn print_stdout(s: &str) -> ExitCode {
    let mut out = std::io::stdout().lock();
    match out.write_all(s.as_bytes()).and_then(|()| out.flush()) {
        Ok(()) => ExitCode::Success,
        Err(e) if e.kind() == std::io::ErrorKind::BrokenPipe => ExitCode::Success,
        Err(e) => {
            eprintln!("error: cannot write to stdout: {e}");
            ExitCode::Io
        }
    }
}
