//! `sequoia serve`: the GA4GH refget API over HTTP (`sequoia-server`).

use std::io::{IsTerminal, Write};
use std::process::ExitCode;

use super::{fail, Result};
use sequoia_remote::Target;

/// How often `serve` on a store on object storage looks for commits made elsewhere.
const REMOTE_POLL: std::time::Duration = std::time::Duration::from_secs(2);

#[derive(clap::Args)]
pub struct Args {
    /// Address to listen on (port 0: any free port; the address is printed).
    #[arg(long, default_value = "127.0.0.1:8080", value_name = "ADDR")]
    listen: String,
    /// Log level: error, warn, info, or debug (one line per request).
    #[arg(long, default_value = "info", env = "SEQUOIA_LOG")]
    log: String,
    /// Worker threads [default: one per core].
    #[arg(long)]
    threads: Option<usize>,
}

pub fn exec(target: &Target, args: Args) -> Result<ExitCode> {
    let (listen, log, threads) = (args.listen.as_str(), args.log.as_str(), args.threads);
    let level: tracing::Level = log.parse().map_err(|_| {
        fail(format!(
            "--log {log}: use error, warn, info, debug or trace"
        ))
    })?;
    tracing_subscriber::fmt()
        .with_max_level(level)
        .with_writer(std::io::stderr)
        .with_ansi(std::io::stderr().is_terminal())
        .init();
    let store = std::sync::Arc::new(target.open().map_err(fail)?);
    if let Some(remote) = target.remote().cloned() {
        // Commits made elsewhere reach the cache, where the server's watcher sees them.
        std::thread::spawn(move || loop {
            std::thread::sleep(REMOTE_POLL);
            if let Err(e) = remote.refresh(std::time::Duration::ZERO) {
                tracing::warn!("cannot look for new commits: {e}");
            }
        });
    }
    for p in store.problems() {
        tracing::warn!("{}: {}", p.path.display(), p.reason);
    }
    let mut runtime = tokio::runtime::Builder::new_multi_thread();
    if let Some(n) = threads {
        runtime.worker_threads(n.max(1));
    }
    let runtime = runtime.enable_all().build()?;
    runtime.block_on(async move {
        let listener = tokio::net::TcpListener::bind(listen)
            .await
            .map_err(|e| fail(format!("cannot listen on {listen}: {e}")))?;
        let addr = listener.local_addr()?;
        // The first line of standard output: scripts and tests read the port from it.
        println!("listening on http://{addr}");
        std::io::stdout().flush()?;
        tracing::info!("serving {} on http://{addr}", target.name());
        let shutdown = async {
            let mut term =
                tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate())
                    .expect("installing a SIGTERM handler succeeds on Unix");
            tokio::select! {
                _ = tokio::signal::ctrl_c() => {}
                _ = term.recv() => {}
            }
            tracing::info!("shutting down: finishing requests in flight");
        };
        sequoia_server::serve(listener, store, shutdown).await
    })?;
    Ok(ExitCode::SUCCESS)
}
