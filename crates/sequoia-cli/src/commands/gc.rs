//! `sequoia gc`: delete the files that are not part of the store.

use std::io::Write;
use std::path::Path;
use std::process::ExitCode;

use super::{fail, open_existing_writer, Result};

#[derive(clap::Args)]
pub struct Args {
    /// List what would be deleted, delete nothing.
    #[arg(long)]
    dry_run: bool,
}

pub fn exec(root: &Path, args: Args) -> Result<ExitCode> {
    let store = open_existing_writer(root)?;
    let s = store.gc(args.dry_run).map_err(fail)?;
    let mut out = std::io::stdout().lock();
    let verb = if s.dry_run { "would delete" } else { "deleted" };
    for (path, len) in &s.files {
        writeln!(out, "{verb} {} ({len} bytes)", path.display())?;
    }
    writeln!(
        out,
        "{verb} {} files, {} bytes ({:.1} MB)",
        s.files.len(),
        s.bytes,
        s.bytes as f64 / 1e6
    )?;
    Ok(ExitCode::SUCCESS)
}
