//! The `lode` binary: command line, logging and signals around
//! `lode_server::serve`.

mod cli;

use cli::{Command, Options};
use lode_server::config::Config;
use std::process::ExitCode;

#[global_allocator]
static ALLOC: mimalloc::MiMalloc = mimalloc::MiMalloc;

fn main() -> ExitCode {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let opts = match cli::parse(&args, |k| std::env::var(k).ok()) {
        Ok(o) => o,
        Err(e) => {
            eprintln!("lode: {e}\n\n{}", cli::USAGE);
            return ExitCode::from(2);
        }
    };
    match opts.command {
        Command::Help => {
            println!("{}", cli::USAGE);
            ExitCode::SUCCESS
        }
        Command::Version => {
            println!(
                "lode {} (Loki API {})",
                env!("CARGO_PKG_VERSION"),
                lode_server::routes::ops::LOKI_VERSION
            );
            ExitCode::SUCCESS
        }
        Command::CheckConfig(ref path) => match Config::from_file(path, opts.expand_env) {
            Ok(c) => {
                println!("config OK: {path}");
                if let Some(w) = ignored_warning(&c) {
                    println!("{w}");
                }
                ExitCode::SUCCESS
            }
            Err(e) => {
                eprintln!("lode: {e}");
                ExitCode::FAILURE
            }
        },
        Command::Serve => {
            allocator_options();
            serve(opts)
        }
    }
}

/// mimalloc keeps freed pages for a second and returns them only when it
/// is called again. At once (`MIMALLOC_PURGE_DELAY=0`) kept RSS lowest, but
/// every query and push then faulted its buffers in again (page faults and
/// kernel zeroing were a third of a needle query); after 100 ms, memory
/// still goes back to the OS right after a flush or a query. Measured on
/// 5 M pushed lines against 0: ingest CPU -13 %, query-mix CPU -43 %, peak
/// RSS +7 MiB (docs/performance.md).
/// mimalloc reads its options from the environment before `main`, and
/// setting them from code needs `unsafe`, so the server re-executes itself
/// once with the option set (same PID: `exec`). A value already in the
/// environment is left as it is.
fn allocator_options() {
    use std::os::unix::process::CommandExt;
    const OPTION: &str = "MIMALLOC_PURGE_DELAY";
    const MILLIS: &str = "100";
    if std::env::var_os(OPTION).is_some() {
        return;
    }
    let Ok(exe) = std::env::current_exe() else {
        return;
    };
    let mut args = std::env::args_os();
    let arg0 = args.next().unwrap_or_else(|| exe.clone().into_os_string());
    let err = std::process::Command::new(&exe)
        .arg0(arg0)
        .args(args)
        .env(OPTION, MILLIS)
        .exec();
    // Only reached when exec failed: run as we are.
    eprintln!("lode: could not re-execute with {OPTION}={MILLIS} ({err}); memory is returned to the OS more slowly");
}

fn load(opts: &Options) -> Result<Config, String> {
    let mut config = match &opts.config_file {
        Some(p) => Config::from_file(p, opts.expand_env).map_err(|e| e.to_string())?,
        None => Config::default(),
    };
    if let Some(level) = &opts.log_level {
        config.server.log_level = level.clone();
    }
    if let Some(a) = &opts.listen_address {
        config.server.http_listen_address = a.clone();
    }
    if let Some(p) = opts.listen_port {
        config.server.http_listen_port = p;
    }
    if let Some(listen) = &opts.listen {
        let (host, port) = listen
            .rsplit_once(':')
            .ok_or_else(|| format!("--listen wants ADDR:PORT, got {listen:?}"))?;
        config.server.http_listen_address = host.trim_matches(|c| c == '[' || c == ']').to_string();
        config.server.http_listen_port = port
            .parse()
            .map_err(|_| format!("--listen: invalid port in {listen:?}"))?;
    }
    if let Some(dir) = &opts.data_dir {
        config.storage.data_dir = dir.into();
    }
    if let Some(t) = &opts.target {
        config.target = lode_server::config::scalable::Target::parse(t)
            .ok_or_else(|| format!("-target={t}: not a target"))?;
    }
    config.validate().map_err(|e| e.to_string())?;
    Ok(config)
}

fn serve(opts: Options) -> ExitCode {
    let config = match load(&opts) {
        Ok(c) => c,
        Err(e) => {
            eprintln!("lode: {e}");
            return ExitCode::FAILURE;
        }
    };
    let filter = tracing_subscriber::EnvFilter::try_from_default_env()
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new(&config.server.log_level));
    // Logs go to stderr, as Loki's do. Colour codes only on a terminal: in
    // a pod, logs go to a collector.
    let ansi = std::io::IsTerminal::is_terminal(&std::io::stderr());
    tracing_subscriber::fmt()
        .with_writer(std::io::stderr)
        .with_env_filter(filter)
        .with_target(false)
        .with_ansi(ansi)
        .init();
    if opts.print_config {
        eprintln!("{}", config.to_yaml());
    }
    log_setup(&opts, &config);
    let rt = match tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
    {
        Ok(rt) => rt,
        Err(e) => {
            eprintln!("lode: cannot start runtime: {e}");
            return ExitCode::FAILURE;
        }
    };
    let res = rt.block_on(lode_server::serve(config, shutdown_signal()));
    match res {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            tracing::error!(error = %e, "lode stopped");
            eprintln!("lode: {e}");
            ExitCode::FAILURE
        }
    }
}

/// What a newcomer (and a bug report) needs from the first lines of the log:
/// which build, where its data is, where its settings came from, and the
/// settings that most often surprise someone coming from Loki.
/// The one line that names the Loki settings of the file Lode does not use.
fn ignored_warning(c: &Config) -> Option<String> {
    let ignored = &c.loki.ignored;
    (!ignored.is_empty()).then(|| {
        format!(
            "ignored Loki settings (no meaning in Lode, see docs/configuration.md): {}",
            ignored.join(", ")
        )
    })
}

fn log_setup(opts: &Options, c: &Config) {
    tracing::info!(
        version = env!("CARGO_PKG_VERSION"),
        loki_api = lode_server::routes::ops::LOKI_VERSION,
        "Starting Lode"
    );
    if let Some(w) = ignored_warning(c) {
        tracing::warn!("{w}");
    }
    let l = &c.limits_config;
    let retention = if !c.compactor.retention_enabled {
        "off (compactor.retention_enabled: false)".to_string()
    } else if l.retention_period.0.is_zero() {
        "forever".to_string()
    } else {
        l.retention_period.to_string()
    };
    tracing::info!(
        config = opts.config_file.as_deref().unwrap_or("none (embedded defaults)"),
        data_dir = %c.storage.data_dir.display(),
        listen = %c.listen_addr(),
        auth = if c.auth_enabled { "enabled (X-Scope-OrgID required)" } else { "disabled (single tenant \"fake\")" },
        retention = %retention,
        max_query_length = %l.max_query_length,
        max_streams_per_user = l.max_streams_per_user,
        max_entries_limit_per_query = l.max_entries_limit_per_query,
        chunk_idle_period = %c.ingester.chunk_idle_period,
        "configuration"
    );
    tracing::debug!(config = %c.to_yaml(), "effective configuration");
}

async fn shutdown_signal() {
    let ctrl_c = async {
        let _ = tokio::signal::ctrl_c().await;
    };
    let term = async {
        match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
            Ok(mut s) => {
                s.recv().await;
            }
            Err(_) => std::future::pending::<()>().await,
        }
    };
    tokio::select! {
        _ = ctrl_c => {},
        _ = term => {},
    }
}
