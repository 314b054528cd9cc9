//! The `sequoia` command line: arguments parsed here, each command's work done by
//! `sequoia-store` (and `sequoia-server` for `serve`), one file per command in
//! `commands/`.

use std::path::PathBuf;
use std::process::ExitCode;
use std::time::Duration;

use clap::{Parser, Subcommand};

mod commands;

use commands::{
    compact, export, gc, get, import, info, rebuild_index, repack, serve, stats, sync, verify,
};
use sequoia_remote::target::{default_store, Access, Target};

/// mimalloc instead of the system allocator: an import hands every record's buffers from
/// the parser thread to the others, and glibc's per-thread arenas serialise those frees on
/// a lock. Built without transparent huge pages (`no_thp`): zeroing 2 MiB pages at start
/// made a one-sequence `get` 2 ms slower.
#[global_allocator]
static GLOBAL: mimalloc::MiMalloc = mimalloc::MiMalloc;

/// mimalloc's `mi_option_purge_delay` (its place in `mi_option_e`, the same in v2 and v3;
/// libmimalloc-sys does not name it).
const MI_OPTION_PURGE_DELAY: libmimalloc_sys::mi_option_t = 15;

/// Makes mimalloc give freed memory back to the system at once instead of after its purge
/// delay (10 ms in v2, 1 s in v3, and only when the freeing thread next allocates), for
/// an import: it frees its additions' headers and its session's map while other threads go on,
/// and with the delay that memory stayed resident (on `protein_all.fasta` doubled: peak
/// RSS 451 MB, 296-303 MB with no delay; import times within their spread). Not for the
/// reading commands: `export` took 0.75-0.88 s without the delay against 0.66-0.68 s with
/// it. Left alone when `MIMALLOC_PURGE_DELAY` is set, or when option 15 does not hold
/// either default (a mimalloc whose options are numbered otherwise).
pub(crate) fn purge_freed_memory_at_once() {
    if std::env::var_os("MIMALLOC_PURGE_DELAY").is_some() {
        return;
    }
    // SAFETY: reading and setting a mimalloc option is thread-safe and has no
    // precondition; this runs before any other thread starts.
    unsafe {
        if matches!(
            libmimalloc_sys::mi_option_get(MI_OPTION_PURGE_DELAY),
            10 | 1000
        ) {
            libmimalloc_sys::mi_option_set(MI_OPTION_PURGE_DELAY, 0);
        }
    }
}

/// SEQUOIA: a de-duplicated, packed store of biological sequences.
#[derive(Parser)]
#[command(name = "sequoia", version, about, long_about = None)]
struct Cli {
    /// The store: a directory, file://PATH, or s3://BUCKET/PREFIX (credentials and endpoint
    /// from AWS_ACCESS_KEY_ID, AWS_SECRET_ACCESS_KEY, AWS_SESSION_TOKEN, AWS_REGION,
    /// AWS_ENDPOINT_URL; plain http only with AWS_ALLOW_HTTP=true) [default: $SEQUOIA_STORE,
    /// else ~/.talaria/databases/sequences]
    #[arg(long, global = true, env = "SEQUOIA_STORE", value_name = "DIR|URL")]
    store: Option<String>,
    /// Local cache of a store on object storage: its index files, and the parts of packs
    /// read [default: $XDG_CACHE_HOME/sequoia, else ~/.cache/sequoia]
    #[arg(long, global = true, env = "SEQUOIA_CACHE", value_name = "DIR")]
    cache: Option<PathBuf>,
    /// Seconds a reader of a store on object storage trusts its last look at the newest
    /// commit (0: look every time; writers always look)
    #[arg(
        long,
        global = true,
        env = "SEQUOIA_CACHE_TTL",
        value_name = "SECS",
        default_value_t = 10
    )]
    cache_ttl: u64,
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Import FASTA files (plain, .gz or .zst; `-` reads standard input), then commit.
    Import(import::Args),
    /// Print sequences as FASTA, one record per matching representation.
    ///
    /// ID is a SHA-256 (64 hex digits), an MD5 (32 hex), a GA4GH digest (`SQ.…`,
    /// `ga4gh:SQ.…`, or 48 hex digits of trunc512) or an accession (`P69905`, `HBA_HUMAN`,
    /// `NC_015954.1`, a header's first word). `ID:START-END` cuts a region, 1-based and
    /// inclusive as `samtools faidx`; `ID:START` runs to the end.
    Get(get::Args),
    /// Print a sequence's length, digests and every representation.
    Info(info::Args),
    /// Print the whole store as FASTA.
    Export(export::Args),
    /// Packs, sequences, representations, bytes and compression.
    Stats(stats::Args),
    /// Serve the store over HTTP: the GA4GH refget API (v1.0.0 and v2.0.0), plus
    /// /accession/{acc} and POST /batch. Stops gracefully on SIGINT or SIGTERM.
    Serve(serve::Args),
    /// Re-read every pack and index; exit status 1 when anything is wrong.
    Verify,
    /// Recreate every index file from the packs alone.
    RebuildIndex,
    /// Rewrite every pack into new ones with one entry per sequence (the representations
    /// later imports added are merged into it): a smaller store whose reads decompress
    /// one block per sequence. The old packs are left in place, no longer used, until
    /// `sequoia gc`.
    Repack(repack::Args),
    /// Merge every index layer into one (commits merge small layers themselves and leave
    /// big merges to this). The merged layers' files stay until `sequoia gc`.
    Compact,
    /// Delete the files that are not part of the store, listing each with its size:
    /// temporary files of interrupted imports, packs a repack replaced, index files no
    /// commit record names. Never a file the store uses; refused while a writer runs.
    Gc(gc::Args),
    /// Copy a store to another location (directory or s3://BUCKET/PREFIX, either way):
    /// only the files the destination lacks, the commit record last, so that an
    /// interrupted sync leaves the destination at its previous commit.
    Sync(sync::Args),
}

impl Command {
    fn access(&self) -> Access {
        match self {
            Command::Import(_)
            | Command::RebuildIndex
            | Command::Repack(_)
            | Command::Compact
            | Command::Gc(_) => Access::Write,
            _ => Access::Read,
        }
    }
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    let result = run(cli);
    match result {
        Ok(code) => code,
        Err(e) => {
            if e.kind() == std::io::ErrorKind::BrokenPipe {
                return ExitCode::SUCCESS;
            }
            eprintln!("sequoia: {e}");
            ExitCode::FAILURE
        }
    }
}

fn run(cli: Cli) -> std::io::Result<ExitCode> {
    if let Command::Sync(args) = cli.command {
        return sync::exec(args);
    }
    let store = (cli.store.clone()).unwrap_or_else(|| default_store().display().to_string());
    let ttl = Duration::from_secs(cli.cache_ttl);
    let target = Target::resolve(&store, cli.cache.as_deref(), ttl, cli.command.access())
        .map_err(commands::fail)?;
    let target = &target;
    let result = match cli.command {
        Command::Import(args) => import::exec(target, args),
        Command::Get(args) => get::exec(target, args),
        Command::Info(args) => info::exec(target, args),
        Command::Export(args) => export::exec(target, args),
        Command::Stats(args) => stats::exec(target, args),
        Command::Serve(args) => serve::exec(target, args),
        Command::Verify => verify::exec(target),
        Command::RebuildIndex => rebuild_index::exec(target),
        Command::Repack(args) => repack::exec(target, args),
        Command::Compact => compact::exec(target),
        Command::Gc(args) => gc::exec(target, args),
        Command::Sync(args) => sync::exec(args),
    };
    report_traffic(target);
    result
}

/// Prints the requests made to object storage (`SEQUOIA_TRACE_REQUESTS`).
fn report_traffic(target: &Target) {
    if let Some(r) = target.remote() {
        if std::env::var_os("SEQUOIA_TRACE_REQUESTS").is_some_and(|v| v != "0") {
            let t = r.client().traffic();
            use std::sync::atomic::Ordering::Relaxed;
            eprintln!(
                "s3: {} requests, {} bytes in, {} bytes out",
                t.requests.load(Relaxed),
                t.bytes_in.load(Relaxed),
                t.bytes_out.load(Relaxed)
            );
        }
    }
}
