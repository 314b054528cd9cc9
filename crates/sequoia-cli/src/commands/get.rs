//! `sequoia get`: FASTA of the sequences (or regions) that identifiers name, in input order.

use std::io::{BufWriter, Read, Write};
use std::process::ExitCode;

use sequoia_store::query::{answer_fasta, open_with_queries_in, Answer, QueryError};

use super::{cores, fail, Result};
use sequoia_remote::Target;

#[derive(clap::Args)]
pub struct Args {
    /// Identifiers, each optionally with a region.
    #[arg(value_name = "ID[:START-END]")]
    hashes: Vec<String>,
    /// Read identifiers from a file, one per line (`-` for standard input).
    #[arg(long, value_name = "FILE")]
    keys: Option<String>,
    /// Residues per line (0: one line).
    #[arg(long, default_value_t = 60)]
    width: usize,
}

pub fn exec(target: &Target, args: Args) -> Result<ExitCode> {
    // The key file is read whole and its lines borrowed, not copied one `String` each.
    let mut text = String::new();
    if let Some(path) = &args.keys {
        let read = if path == "-" {
            std::io::stdin().lock().read_to_string(&mut text)
        } else {
            std::fs::File::open(path).and_then(|mut f| f.read_to_string(&mut text))
        };
        read.map_err(|e| fail(format!("{path}: {e}")))?;
    }
    let mut texts: Vec<&str> = Vec::with_capacity(args.hashes.len() + text.lines().count());
    texts.extend(args.hashes.iter().map(String::as_str));
    texts.extend(text.lines().map(str::trim).filter(|t| !t.is_empty()));
    if texts.is_empty() {
        return Err(fail("give at least one ID or --keys FILE"));
    }
    // Every identifier is read before anything is printed: a malformed one is an error.
    target.check_exists().map_err(fail)?;
    let (store, queries) =
        open_with_queries_in(target.layout(), &texts, cores()).map_err(query_error)?;
    let stdout = std::io::stdout();
    let mut out = BufWriter::with_capacity(1 << 16, stdout.lock());
    let mut missing = 0usize;
    answer_fasta(&store, &texts, &queries, args.width, cores(), |answer| {
        match answer {
            Answer::Fasta(bytes) => out.write_all(bytes)?,
            Answer::Missing(message) => {
                missing += 1;
                out.flush()?;
                eprintln!("sequoia: {message}");
            }
        }
        Ok(())
    })
    .map_err(query_error)?;
    out.flush()?;
    Ok(if missing == 0 {
        ExitCode::SUCCESS
    } else {
        ExitCode::FAILURE
    })
}

/// The output's own error as it is (a closed pipe ends the command quietly), any other as
/// its message.
fn query_error(e: QueryError) -> std::io::Error {
    match e {
        QueryError::Output(e) => e,
        e => fail(e),
    }
}
