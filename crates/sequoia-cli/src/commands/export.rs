//! `sequoia export`: the whole store as FASTA, in store order.

use std::io::Write;
use std::process::ExitCode;

use super::{cores, fail, Result};
use sequoia_remote::Target;

#[derive(clap::Args)]
pub struct Args {
    /// One record per sequence, its headers joined by \x01 (as NCBI nr).
    #[arg(long)]
    dedup: bool,
    /// Residues per line (0: one line).
    #[arg(long, default_value_t = 60)]
    width: usize,
    /// Threads decoding and formatting [default: one per core].
    #[arg(long, value_parser = clap::value_parser!(u16).range(1..))]
    threads: Option<u16>,
}

pub fn exec(target: &Target, args: Args) -> Result<ExitCode> {
    let Args {
        dedup,
        width,
        threads,
    } = args;
    let store = target.open().map_err(fail)?;
    let threads = threads.map_or_else(cores, usize::from);
    let stdout = std::io::stdout();
    let mut out = stdout.lock();
    let mut io_error = None;
    let r = store.export(
        threads,
        |rec, buf| {
            sequoia_store::fasta::write_sequence(buf, rec, dedup, width)
                .expect("writing to a Vec does not fail")
        },
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
