//! `sequoia gc`: delete the files that are not part of the store.

use std::io::Write;
use std::process::ExitCode;

use super::{fail, Result};
use sequoia_remote::Target;

#[derive(clap::Args)]
pub struct Args {
    /// List what would be deleted, delete nothing.
    #[arg(long)]
    dry_run: bool,
    /// On object storage (which has no lock), keep unused objects written less than this
    /// many seconds ago: they may be the uploads of a commit another process is making.
    #[arg(long, value_name = "SECS", default_value_t = 3600)]
    grace: u64,
}

pub fn exec(target: &Target, args: Args) -> Result<ExitCode> {
    if let Some(remote) = target.remote() {
        return remote_gc(target, remote, &args);
    }
    let store = target.open_existing_writer().map_err(fail)?;
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

/// `gc` of a store on object storage: the objects its newest commit does not name.
fn remote_gc(
    target: &Target,
    remote: &sequoia_remote::RemoteStore,
    args: &Args,
) -> Result<ExitCode> {
    let grace = std::time::Duration::from_secs(args.grace);
    let s = remote.gc(args.dry_run, grace).map_err(fail)?;
    let mut out = std::io::stdout().lock();
    let verb = if args.dry_run {
        "would delete"
    } else {
        "deleted"
    };
    for (rel, len) in &s.deleted {
        writeln!(out, "{verb} {} ({len} bytes)", remote.client().url_of(rel))?;
    }
    for (rel, len) in &s.young {
        writeln!(
            out,
            "kept {} ({len} bytes): written less than {} s ago (--grace)",
            remote.client().url_of(rel),
            args.grace
        )?;
    }
    let bytes: u64 = s.deleted.iter().map(|(_, n)| n).sum();
    writeln!(
        out,
        "{verb} {} objects of {}, {bytes} bytes ({:.1} MB)",
        s.deleted.len(),
        target.name(),
        bytes as f64 / 1e6
    )?;
    Ok(ExitCode::SUCCESS)
}
