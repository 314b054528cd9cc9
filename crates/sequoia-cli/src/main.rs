//! The `sequoia` command line: a thin layer over `sequoia-store`.

use std::io::{BufWriter, IsTerminal, Read, Write};
use std::path::{Path, PathBuf};
use std::process::ExitCode;

use clap::{Parser, Subcommand, ValueEnum};
use indicatif::{ProgressBar, ProgressStyle};
use sequoia_store::fasta::open_input;
use sequoia_store::{
    import_fasta, FoundSequence, IdQuery, ImportSummary, IndexKind, PackVersion,
    PackedSequenceStorage, SequenceDigests, SequenceId, StoreOptions, StoredSequence,
};

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
/// an import: it frees its held headers and its session's map while other threads go on,
/// and with the delay that memory stayed resident (on `protein_all.fasta` doubled: peak
/// RSS 451 MB, 296-303 MB with no delay; import times within their spread). Not for the
/// reading commands: `export` took 0.75-0.88 s without the delay against 0.66-0.68 s with
/// it. Left alone when `MIMALLOC_PURGE_DELAY` is set, or when option 15 does not hold
/// either default (a mimalloc whose options are numbered otherwise).
fn purge_freed_memory_at_once() {
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
    /// Store directory [default: $SEQUOIA_STORE, else ~/.talaria/databases/sequences]
    #[arg(long, global = true, env = "SEQUOIA_STORE", value_name = "DIR")]
    store: Option<PathBuf>,
    #[command(subcommand)]
    command: Command,
}

#[derive(Clone, Copy, ValueEnum)]
enum Format {
    V1,
    V2,
}

#[derive(Subcommand)]
enum Command {
    /// Import FASTA files (plain, .gz or .zst; `-` reads standard input), then commit.
    Import {
        /// Source name stored with every record [default: the file's name]
        #[arg(long, value_name = "NAME")]
        source: Option<String>,
        #[command(flatten)]
        packs: PackArgs,
        /// FASTA files.
        #[arg(required = true, value_name = "FILE")]
        files: Vec<String>,
    },
    /// Print sequences as FASTA, one record per matching representation.
    ///
    /// ID is a SHA-256 (64 hex digits), an MD5 (32 hex), a GA4GH digest (`SQ.…`,
    /// `ga4gh:SQ.…`, or 48 hex digits of trunc512) or an accession (`P69905`, `HBA_HUMAN`,
    /// `NC_015954.1`, a header's first word). `ID:START-END` cuts a region, 1-based and
    /// inclusive as `samtools faidx`; `ID:START` runs to the end.
    Get {
        /// Identifiers, each optionally with a region.
        #[arg(value_name = "ID[:START-END]")]
        hashes: Vec<String>,
        /// Read identifiers from a file, one per line (`-` for standard input).
        #[arg(long, value_name = "FILE")]
        keys: Option<String>,
        /// Residues per line (0: one line).
        #[arg(long, default_value_t = 60)]
        width: usize,
    },
    /// Print a sequence's length, digests and every representation.
    Info {
        /// Identifiers (any form `get` takes, without a region).
        #[arg(required = true, value_name = "ID")]
        ids: Vec<String>,
        /// Machine-readable output (a JSON array, one object per sequence).
        #[arg(long)]
        json: bool,
    },
    /// Print the whole store as FASTA.
    Export {
        /// One record per sequence, its headers joined by \x01 (as NCBI nr).
        #[arg(long)]
        dedup: bool,
        /// Residues per line (0: one line).
        #[arg(long, default_value_t = 60)]
        width: usize,
        /// Threads decoding and formatting [default: one per core].
        #[arg(long, value_parser = clap::value_parser!(u16).range(1..))]
        threads: Option<u16>,
    },
    /// Packs, sequences, representations, bytes and compression.
    Stats {
        /// Machine-readable output.
        #[arg(long)]
        json: bool,
    },
    /// Serve the store over HTTP: the GA4GH refget API (v1.0.0 and v2.0.0), plus
    /// /accession/{acc} and POST /batch. Stops gracefully on SIGINT or SIGTERM.
    Serve {
        /// Address to listen on (port 0: any free port; the address is printed).
        #[arg(long, default_value = "127.0.0.1:8080", value_name = "ADDR")]
        listen: String,
        /// Log level: error, warn, info, or debug (one line per request).
        #[arg(long, default_value = "info", env = "SEQUOIA_LOG")]
        log: String,
        /// Worker threads [default: one per core].
        #[arg(long)]
        threads: Option<usize>,
    },
    /// Re-read every pack and index; exit status 1 when anything is wrong.
    Verify,
    /// Recreate every index file from the packs alone.
    RebuildIndex,
    /// Rewrite every pack into new ones with one entry per sequence (the representations
    /// later imports added are merged into it): a smaller store whose reads decompress
    /// one block per sequence. The old packs are left in place, no longer used, for you
    /// to delete.
    Repack {
        #[command(flatten)]
        packs: PackArgs,
    },
}

/// How new packs are written (import, repack).
#[derive(clap::Args)]
struct PackArgs {
    /// Layout of new packs.
    #[arg(long, value_enum, default_value = "v2")]
    format: Format,
    /// Pack size limit in bytes.
    #[arg(long, default_value_t = 64 << 20, hide = true)]
    pack_size: u64,
    /// Uncompressed bytes at which a block of new sequences closes (v2) [default: 2048 in
    /// packs with a dictionary, 8192 without]. 1 puts every sequence in a block of its own:
    /// random reads of single sequences about 1.5 times as fast, packs about 11% larger,
    /// export and verify slower (docs/performance.md)
    #[arg(long, value_name = "BYTES", value_parser = clap::value_parser!(u32).range(1..=(1 << 26)))]
    block_size: Option<u32>,
    /// Zstandard level of new packs (1-22) [default: per pack, v2: 1 for protein, 3 for
    /// nucleotide sequences; v1: 3].
    #[arg(long, value_parser = clap::value_parser!(i32).range(1..=22))]
    level: Option<i32>,
}

impl PackArgs {
    fn options(&self) -> StoreOptions {
        StoreOptions {
            format: match self.format {
                Format::V1 => PackVersion::V1,
                Format::V2 => PackVersion::V2,
            },
            pack_size_limit: self.pack_size,
            block_size: self.block_size.map(|b| b as usize),
            level: self.level,
            ..StoreOptions::default()
        }
    }
}

/// How `stats` and `verify` name a file in the store's directories that is not the store's.
const LEFTOVER_NOTE: &str = "note: not part of the store (left by an interrupted import or replaced by a repack; safe to delete when no import runs)";

fn default_store() -> PathBuf {
    let home = std::env::var_os("HOME")
        .map(PathBuf::from)
        .unwrap_or_else(|| PathBuf::from("."));
    home.join(".talaria/databases/sequences")
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    let store = cli.store.clone().unwrap_or_else(default_store);
    match run(cli.command, store) {
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

type Result<T> = std::result::Result<T, std::io::Error>;

fn fail(msg: impl std::fmt::Display) -> std::io::Error {
    std::io::Error::other(msg.to_string())
}

fn run(command: Command, root: PathBuf) -> Result<ExitCode> {
    match command {
        Command::Import {
            source,
            packs,
            files,
        } => import(&root, packs.options(), source, &files),
        Command::Get {
            hashes,
            keys,
            width,
        } => get(&root, hashes, keys, width),
        Command::Info { ids, json } => info(&root, &ids, json),
        Command::Serve {
            listen,
            log,
            threads,
        } => serve(&root, &listen, &log, threads),
        Command::Export {
            dedup,
            width,
            threads,
        } => export(&root, dedup, width, threads),
        Command::Stats { json } => stats(&root, json),
        Command::Verify => verify(&root),
        Command::Repack { packs } => repack(&root, packs.options()),
        Command::RebuildIndex => {
            let store = PackedSequenceStorage::open_for_repair(&root).map_err(fail)?;
            let s = store.rebuild_index().map_err(fail)?;
            eprintln!(
                "rebuilt indexes of {} packs ({} entries)",
                s.packs.len(),
                s.entries
            );
            for p in &s.skipped {
                eprintln!("skipped unreadable pack: {p}");
            }
            Ok(if s.skipped.is_empty() {
                ExitCode::SUCCESS
            } else {
                ExitCode::FAILURE
            })
        }
    }
}

fn progress_bar(len: Option<u64>) -> ProgressBar {
    if !std::io::stderr().is_terminal() {
        return ProgressBar::hidden();
    }
    match len {
        Some(n) => ProgressBar::new(n).with_style(
            ProgressStyle::with_template(
                "{msg} [{bar:30}] {bytes}/{total_bytes} {bytes_per_sec} eta {eta}",
            )
            .expect("template is valid")
            .progress_chars("=> "),
        ),
        None => ProgressBar::new_spinner().with_style(
            ProgressStyle::with_template("{spinner} {msg} {bytes} {bytes_per_sec}")
                .expect("template is valid"),
        ),
    }
}

fn import(
    root: &std::path::Path,
    options: StoreOptions,
    source: Option<String>,
    files: &[String],
) -> Result<ExitCode> {
    purge_freed_memory_at_once();
    let store = PackedSequenceStorage::open_writer(root, options).map_err(fail)?;
    let mut total = ImportSummary::default();
    for file in files {
        let name = if file == "-" {
            "stdin".to_string()
        } else {
            std::path::Path::new(file)
                .file_name()
                .map(|n| n.to_string_lossy().into_owned())
                .unwrap_or_else(|| file.clone())
        };
        let source = source.clone().unwrap_or(name);
        let input = open_input(file).map_err(|e| fail(format!("{file}: {e}")))?;
        let size = (file != "-")
            .then(|| std::fs::metadata(file).map(|m| m.len()).ok())
            .flatten();
        let compressed = input_is_compressed(file);
        let bar = progress_bar(if compressed { None } else { size });
        bar.set_message(file.clone());
        let result = import_fasta(&store, input, file, &source, &mut |bytes, _| {
            bar.set_position(bytes)
        });
        bar.finish_and_clear();
        match result {
            Ok(s) => total.add(&s),
            Err(e) => {
                store.rollback().map_err(fail)?;
                return Err(fail(format!(
                    "{e}\nnothing was imported; the store is unchanged"
                )));
            }
        }
    }
    let started = std::time::Instant::now();
    store
        .commit()
        .map_err(|e| fail(format!("commit failed: {e}")))?;
    total.seconds += started.elapsed().as_secs_f64();
    eprintln!(
        "imported {} records: {} new sequences, {} new representations, {:.1} MB in {:.2} s ({:.0} records/s)",
        total.records,
        total.new_sequences,
        total.new_representations,
        total.bytes as f64 / 1e6,
        total.seconds,
        total.records as f64 / total.seconds.max(1e-9),
    );
    Ok(ExitCode::SUCCESS)
}

fn input_is_compressed(file: &str) -> bool {
    file.ends_with(".gz") || file.ends_with(".zst")
}

fn write_record(out: &mut impl Write, header: &str, residues: &[u8], width: usize) -> Result<()> {
    out.write_all(b">")?;
    out.write_all(header.as_bytes())?;
    out.write_all(b"\n")?;
    if width == 0 {
        out.write_all(residues)?;
        out.write_all(b"\n")?;
    } else {
        for line in residues.chunks(width) {
            out.write_all(line)?;
            out.write_all(b"\n")?;
        }
    }
    Ok(())
}

fn write_sequence(
    out: &mut impl Write,
    rec: &StoredSequence,
    dedup: bool,
    width: usize,
) -> Result<()> {
    if rec.representations.is_empty() {
        return write_record(out, &rec.hash.to_hex(), &rec.residues, width);
    }
    if dedup {
        let joined: Vec<&str> = rec
            .representations
            .iter()
            .map(|r| r.header.as_str())
            .collect();
        write_record(out, &joined.join("\u{1}"), &rec.residues, width)
    } else {
        for r in &rec.representations {
            write_record(out, &r.header, &rec.residues, width)?;
        }
        Ok(())
    }
}

/// Threads for work spread over the machine: one per core.
fn cores() -> usize {
    std::thread::available_parallelism().map_or(1, |n| n.get())
}

/// Identifiers per unit of work of `get`.
const GET_CHUNK: usize = 512;

/// Part of the output of `get`, in order.
enum Answer {
    /// FASTA records.
    Fasta(Vec<u8>),
    /// An identifier or region that matched nothing (printed on stderr).
    Missing(String),
}

/// What `answer` and `answer_all` call for an identifier or region that matches nothing:
/// the records written so far end as a piece, then the message.
fn missing_into(pieces: &mut Vec<Answer>) -> impl FnMut(&mut Vec<u8>, String) + '_ {
    |out: &mut Vec<u8>, message: String| {
        if !out.is_empty() {
            pieces.push(Answer::Fasta(std::mem::take(out)));
        }
        pieces.push(Answer::Missing(message));
    }
}

/// The FASTA records of one identifier, appended to `out` (one buffer per chunk of
/// identifiers); an identifier or region that matches nothing ends the buffer as a piece and
/// adds its message, so that the order of records and messages is kept.
fn answer(
    store: &PackedSequenceStorage,
    text: &str,
    q: &IdQuery,
    width: usize,
    out: &mut Vec<u8>,
    pieces: &mut Vec<Answer>,
) -> Result<()> {
    let mut missing = missing_into(pieces);
    // samtools' rule: a whole text that names records is that name, not NAME:REGION
    // (`B0RED7|GO:0006200,GO:0006754` is an identifier, not GO's residues 6754..).
    if q.region.is_some() {
        if let Some(id) = SequenceId::parse(text.trim()) {
            let whole = IdQuery { id, region: None };
            if write_matches(store, &whole, width, out, &mut missing)? > 0 {
                return Ok(());
            }
        }
    }
    if write_matches(store, q, width, out, &mut missing)? == 0 {
        missing(out, format!("no sequence matches {text}"));
    }
    Ok(())
}

/// The FASTA records of a chunk of identifiers none of which has a region, read together
/// ([`PackedSequenceStorage::find_many`]: in pack order), in the order of the
/// identifiers; as [`answer`] gives them one by one.
fn answer_all(
    store: &PackedSequenceStorage,
    texts: &[&str],
    queries: &[IdQuery],
    width: usize,
    out: &mut Vec<u8>,
    pieces: &mut Vec<Answer>,
) -> Result<()> {
    let mut missing = missing_into(pieces);
    let ids: Vec<SequenceId> = queries.iter().map(|q| q.id.clone()).collect();
    let mut failed = None;
    // The records come in the order of the identifiers: those passed over matched nothing.
    let mut answered = 0;
    store
        .find_many(&ids, |i, rec| {
            for text in &texts[answered..i] {
                missing(out, format!("no sequence matches {text}"));
            }
            answered = i + 1;
            let written = write_found(out, rec, &queries[i], width, &mut missing);
            failed = failed.take().or(written.err());
        })
        .map_err(fail)?;
    if let Some(e) = failed {
        return Err(e);
    }
    for text in &texts[answered..] {
        missing(out, format!("no sequence matches {text}"));
    }
    Ok(())
}

/// Writes the records `q` names (its region of each) to `out`; how many sequences matched.
fn write_matches(
    store: &PackedSequenceStorage,
    q: &IdQuery,
    width: usize,
    out: &mut Vec<u8>,
    missing: &mut impl FnMut(&mut Vec<u8>, String),
) -> Result<usize> {
    // The records are formatted from the store's reused buffers, without a copy per
    // sequence; writing to a Vec cannot fail, but the first error would be kept.
    let mut failed = None;
    let found = store
        .find_each(&q.id, |rec| {
            let written = write_found(out, rec, q, width, missing);
            failed = failed.take().or(written.err());
        })
        .map_err(fail)?;
    if let Some(e) = failed {
        return Err(e);
    }
    Ok(found)
}

/// Writes `q`'s region of `rec` to `out`, once per representation (or under its hash when it
/// has none); a region outside the sequence is a `missing` message instead.
fn write_found(
    out: &mut Vec<u8>,
    rec: &FoundSequence<'_>,
    q: &IdQuery,
    width: usize,
    missing: &mut impl FnMut(&mut Vec<u8>, String),
) -> Result<()> {
    let len = rec.residues.len() as u64;
    let range = match q.range(len) {
        Ok(r) => r,
        Err(e) => {
            missing(out, e.to_string());
            return Ok(());
        }
    };
    let residues = &rec.residues[range];
    let suffix = q.region_suffix(len);
    if rec.representations().len() == 0 {
        write_record(out, &format!("{}{suffix}", rec.hash), residues, width)?;
    }
    for (header, _) in rec.representations() {
        // samtools appends the region to the name, before the description.
        if suffix.is_empty() {
            write_record(out, header, residues, width)?;
        } else {
            let header = match header.split_once(char::is_whitespace) {
                Some((name, rest)) => format!("{name}{suffix} {rest}"),
                None => format!("{header}{suffix}"),
            };
            write_record(out, &header, residues, width)?;
        }
    }
    Ok(())
}

fn get(
    root: &std::path::Path,
    ids: Vec<String>,
    keys: Option<String>,
    width: usize,
) -> Result<ExitCode> {
    // The key file is read whole and its lines borrowed, not copied one `String` each.
    let mut text = String::new();
    if let Some(path) = &keys {
        let read = if path == "-" {
            std::io::stdin().lock().read_to_string(&mut text)
        } else {
            std::fs::File::open(path).and_then(|mut f| f.read_to_string(&mut text))
        };
        read.map_err(|e| fail(format!("{path}: {e}")))?;
    }
    let mut hashes: Vec<&str> = Vec::with_capacity(ids.len() + text.lines().count());
    hashes.extend(ids.iter().map(String::as_str));
    hashes.extend(text.lines().map(str::trim).filter(|t| !t.is_empty()));
    if hashes.is_empty() {
        return Err(fail("give at least one ID or --keys FILE"));
    }
    // Every identifier is read before anything is printed: a malformed one is an error
    // (the first in input order). A long list is read on every core while the store
    // opens.
    let parse = |part: &[&str]| -> Vec<std::result::Result<IdQuery, String>> {
        part.iter().map(|h| IdQuery::parse(h)).collect()
    };
    let part_len = hashes.len().div_ceil(cores()).max(GET_CHUNK);
    let (parsed, store) = std::thread::scope(|scope| {
        let parts: Vec<_> = hashes
            .chunks(part_len)
            .map(|part| scope.spawn(move || parse(part)))
            .collect();
        let store = PackedSequenceStorage::open(root);
        let parsed: Vec<_> = parts
            .into_iter()
            .map(|p| p.join().expect("identifier parsing does not panic"))
            .collect();
        (parsed, store)
    });
    let mut queries = Vec::with_capacity(hashes.len());
    for (text, q) in hashes.iter().zip(parsed.into_iter().flatten()) {
        queries.push(match q {
            Ok(q) => q,
            // samtools' rule (see `answer`) for a text whose region is not valid
            // (`NAME:0`, `NAME:5-2`): when the whole text names records it is that name,
            // otherwise the region is the error.
            Err(e) => {
                let Some(id) = SequenceId::parse(text) else {
                    return Err(fail(e));
                };
                let open = store.as_ref().map_err(|e| fail(e.to_string()))?;
                if open.find(&id).map_err(fail)?.is_empty() {
                    return Err(fail(e));
                }
                IdQuery { id, region: None }
            }
        });
    }
    let store = store.map_err(fail)?;
    let stdout = std::io::stdout();
    let mut out = BufWriter::with_capacity(1 << 16, stdout.lock());
    let mut missing = 0usize;
    // Output buffers come back once written, so that a chunk fills one grown before
    // instead of growing a new one (reallocating and faulting in fresh pages was a tenth
    // of the time).
    let spare: std::sync::Mutex<Vec<Vec<u8>>> = std::sync::Mutex::new(Vec::new());
    // Lookups run on every core in chunks of identifiers; answers come out in input order.
    sequoia_store::ordered_parallel(
        queries.len().div_ceil(GET_CHUNK),
        cores(),
        || (),
        |_, i| {
            let mut pieces = Vec::new();
            let mut out = spare
                .lock()
                .ok()
                .and_then(|mut s| s.pop())
                .unwrap_or_default();
            let from = i * GET_CHUNK;
            let to = (from + GET_CHUNK).min(queries.len());
            let (texts, chunk) = (&hashes[from..to], &queries[from..to]);
            if chunk.iter().all(|q| q.region.is_none()) {
                answer_all(&store, texts, chunk, width, &mut out, &mut pieces)?;
            } else {
                for (text, q) in texts.iter().zip(chunk) {
                    answer(&store, text, q, width, &mut out, &mut pieces)?;
                }
            }
            if !out.is_empty() {
                pieces.push(Answer::Fasta(out));
            }
            Ok(pieces)
        },
        |pieces| {
            for piece in pieces {
                match piece {
                    Answer::Fasta(mut bytes) => {
                        out.write_all(&bytes)?;
                        bytes.clear();
                        if let Ok(mut s) = spare.lock() {
                            if s.len() < 2 * cores() {
                                s.push(bytes);
                            }
                        }
                    }
                    Answer::Missing(message) => {
                        missing += 1;
                        out.flush()?;
                        eprintln!("sequoia: {message}");
                    }
                }
            }
            Ok(())
        },
        fail,
    )?;
    out.flush()?;
    Ok(if missing == 0 {
        ExitCode::SUCCESS
    } else {
        ExitCode::FAILURE
    })
}

fn info(root: &std::path::Path, ids: &[String], json: bool) -> Result<ExitCode> {
    let parsed = ids
        .iter()
        .map(|t| {
            SequenceId::parse(t.trim()).ok_or_else(|| {
                fail(format!(
                    "{t:?} is not an identifier (empty, or has whitespace)"
                ))
            })
        })
        .collect::<Result<Vec<SequenceId>>>()?;
    let store = PackedSequenceStorage::open(root).map_err(fail)?;
    let mut missing = 0usize;
    let mut all = Vec::new();
    let stdout = std::io::stdout();
    let mut out = BufWriter::new(stdout.lock());
    for (text, id) in ids.iter().zip(&parsed) {
        let hashes = store.resolve(id).map_err(fail)?;
        if hashes.is_empty() {
            missing += 1;
            out.flush()?;
            eprintln!("sequoia: no sequence matches {text}");
            continue;
        }
        for hash in hashes {
            let Some(rec) = store.get_record(&hash).map_err(fail)? else {
                continue;
            };
            let d = SequenceDigests::with_sha256(rec.hash, &rec.residues);
            if json {
                all.push(serde_json::json!({
                    "query": text,
                    "length": rec.residues.len(),
                    "sha256": rec.hash.to_hex(),
                    "md5": d.md5_hex(),
                    "sha512t24u": d.ga4gh(),
                    "representations": rec.representations.iter().map(|r| serde_json::json!({
                        "header": r.header, "source": r.source,
                    })).collect::<Vec<_>>(),
                }));
            } else {
                writeln!(out, "query            {text}")?;
                writeln!(out, "length           {}", rec.residues.len())?;
                writeln!(out, "sha256           {}", rec.hash)?;
                writeln!(out, "md5              {}", d.md5_hex())?;
                writeln!(out, "sha512t24u       ga4gh:{}", d.ga4gh())?;
                writeln!(out, "representations  {}", rec.representations.len())?;
                for r in &rec.representations {
                    writeln!(out, "  {}\t{}", r.source, r.header)?;
                }
                writeln!(out)?;
            }
        }
    }
    if json {
        serde_json::to_writer_pretty(&mut out, &all).map_err(fail)?;
        writeln!(out)?;
    }
    out.flush()?;
    Ok(if missing == 0 {
        ExitCode::SUCCESS
    } else {
        ExitCode::FAILURE
    })
}

fn serve(
    root: &std::path::Path,
    listen: &str,
    log: &str,
    threads: Option<usize>,
) -> Result<ExitCode> {
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
    let store = std::sync::Arc::new(PackedSequenceStorage::open(root).map_err(fail)?);
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
        tracing::info!("serving {} on http://{addr}", root.display());
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

fn export(
    root: &std::path::Path,
    dedup: bool,
    width: usize,
    threads: Option<u16>,
) -> Result<ExitCode> {
    let store = PackedSequenceStorage::open(root).map_err(fail)?;
    let threads = threads.map_or_else(cores, usize::from);
    let stdout = std::io::stdout();
    let mut out = stdout.lock();
    let mut io_error = None;
    let r = store.export(
        threads,
        |rec, buf| write_sequence(buf, rec, dedup, width).expect("writing to a Vec does not fail"),
        |chunk| {
            out.write_all(chunk).map_err(|e| {
                let msg = e.to_string();
                io_error = Some(e);
                sequoia_store::StoreError::Corrupt(msg)
            })
        },
    );
    if let Some(e) = io_error {
        return Err(e);
    }
    r.map_err(fail)?;
    out.flush()?;
    Ok(ExitCode::SUCCESS)
}

#[derive(serde::Serialize)]
struct StatsJson {
    store: String,
    packs: usize,
    v1_packs: usize,
    sequences: u64,
    representations: u64,
    residue_bytes: u64,
    uncompressed_bytes: u64,
    pack_bytes: u64,
    index_bytes: u64,
    index_files: usize,
    /// "entry rows", "location rows" or "none".
    commit_record: String,
    commit_record_rows: u64,
    bytes_on_disk: u64,
    compression_ratio: f64,
    stray_temp_files: Vec<String>,
    problems: Vec<String>,
}

fn stats(root: &std::path::Path, json: bool) -> Result<ExitCode> {
    let store = PackedSequenceStorage::open(root).map_err(fail)?;
    let s = store.stats().map_err(fail)?;
    let j = StatsJson {
        store: root.display().to_string(),
        packs: s.packs,
        v1_packs: s.v1_packs,
        sequences: s.sequences,
        representations: s.representations,
        residue_bytes: s.residue_bytes,
        uncompressed_bytes: s.uncompressed_bytes,
        pack_bytes: s.pack_bytes,
        index_bytes: s.index_bytes,
        index_files: s.index_files,
        commit_record: match s.commit_record {
            Some(IndexKind::Entries) => "entry rows",
            Some(_) => "location rows",
            None => "none",
        }
        .into(),
        commit_record_rows: s.commit_record_rows,
        bytes_on_disk: s.pack_bytes + s.index_bytes,
        compression_ratio: (s.compression_ratio() * 1000.0).round() / 1000.0,
        stray_temp_files: s
            .stray_temp_files
            .iter()
            .map(|p| p.display().to_string())
            .collect(),
        problems: s
            .problems
            .iter()
            .map(|p| format!("{}: {}", p.path.display(), p.reason))
            .collect(),
    };
    let mut out = std::io::stdout().lock();
    if json {
        serde_json::to_writer_pretty(&mut out, &j).map_err(fail)?;
        writeln!(out)?;
    } else {
        writeln!(out, "store            {}", j.store)?;
        writeln!(
            out,
            "packs            {} ({} v1, {} v2)",
            j.packs,
            j.v1_packs,
            j.packs - j.v1_packs
        )?;
        writeln!(out, "sequences        {}", j.sequences)?;
        writeln!(out, "representations  {}", j.representations)?;
        writeln!(out, "residues         {} bytes", j.residue_bytes)?;
        writeln!(
            out,
            "pack bytes       {} ({:.1} MB)",
            j.pack_bytes,
            j.pack_bytes as f64 / 1e6
        )?;
        writeln!(
            out,
            "index bytes      {} in {} files",
            j.index_bytes, j.index_files
        )?;
        let location_rows = matches!(s.commit_record, Some(k) if k != IndexKind::Entries);
        let upgrade = if location_rows && j.v1_packs == 0 {
            ": `sequoia rebuild-index` rewrites them as entry rows of 12 bytes"
        } else {
            ""
        };
        writeln!(
            out,
            "commit record    {} {}{upgrade}",
            j.commit_record_rows, j.commit_record
        )?;
        writeln!(
            out,
            "bytes on disk    {} ({:.1} MB)",
            j.bytes_on_disk,
            j.bytes_on_disk as f64 / 1e6
        )?;
        writeln!(
            out,
            "compression      {:.2}x ({} entry bytes in packs)",
            s.compression_ratio(),
            j.uncompressed_bytes
        )?;
        for p in &j.stray_temp_files {
            writeln!(out, "{LEFTOVER_NOTE}: {p}")?;
        }
        for p in &j.problems {
            writeln!(out, "problem: {p}")?;
        }
    }
    Ok(ExitCode::SUCCESS)
}

fn verify(root: &std::path::Path) -> Result<ExitCode> {
    let store = PackedSequenceStorage::open(root).map_err(fail)?;
    let total = store.stats().map_err(fail)?.pack_bytes;
    let bar = progress_bar(Some(total));
    bar.set_message("verify");
    let report = store.verify(&mut |done, _| bar.set_position(done));
    bar.finish_and_clear();
    let mut out = std::io::stdout().lock();
    for p in &report.problems {
        writeln!(out, "problem: {p}")?;
    }
    for p in &report.stray_temp_files {
        writeln!(out, "{LEFTOVER_NOTE}: {}", p.display())?;
    }
    writeln!(
        out,
        "verified {} packs ({:.1} MB), {} entries, {} sequences re-hashed, {} index files in {:.2} s ({:.0} MB/s): {}",
        report.packs,
        report.pack_bytes as f64 / 1e6,
        report.entries,
        report.sequences,
        report.index_files,
        report.seconds,
        report.pack_bytes as f64 / 1e6 / report.seconds.max(1e-9),
        if report.problems.is_empty() { "OK".to_string() } else { format!("{} PROBLEMS", report.problems.len()) }
    )?;
    Ok(if report.problems.is_empty() {
        ExitCode::SUCCESS
    } else {
        ExitCode::FAILURE
    })
}

fn repack(root: &Path, options: StoreOptions) -> Result<ExitCode> {
    let store = PackedSequenceStorage::open_writer(root, options).map_err(fail)?;
    eprintln!(
        "repacking {} (every sequence is read and written again)",
        root.display()
    );
    let s = store.repack().map_err(fail)?;
    if s.old_packs.is_empty() {
        eprintln!("nothing to repack: the store is empty");
        return Ok(ExitCode::SUCCESS);
    }
    eprintln!(
        "repacked {} entries in {} packs ({:.1} MB) into {} entries in {} packs ({:.1} MB)",
        s.old_entries,
        s.old_packs.len(),
        s.old_pack_bytes as f64 / 1e6,
        s.new_entries,
        s.new_packs.len(),
        s.new_pack_bytes as f64 / 1e6
    );
    let layout = sequoia_store::layout::StoreLayout::new(root);
    eprintln!("these files are no longer part of the store; delete them to free the space:");
    for id in &s.old_packs {
        for path in [layout.pack_path(*id), layout.pack_index_path(*id)] {
            if path.exists() {
                eprintln!("  {}", path.display());
            }
        }
    }
    Ok(ExitCode::SUCCESS)
}
