//! `sequoia sync`: a store copied to another location.

use std::process::ExitCode;

use sequoia_remote::Location;

use super::{fail, Result};

#[derive(clap::Args)]
pub struct Args {
    /// The store to copy: a directory, file://PATH or s3://BUCKET/PREFIX.
    #[arg(value_name = "SRC")]
    src: String,
    /// Where to: a directory, file://PATH or s3://BUCKET/PREFIX (created if absent).
    #[arg(value_name = "DST")]
    dst: String,
}

pub fn exec(args: Args) -> Result<ExitCode> {
    let src = Location::parse(&args.src).map_err(fail)?;
    let dst = Location::parse(&args.dst).map_err(fail)?;
    let s = sequoia_remote::sync(&src, &dst).map_err(fail)?;
    if s.files == 0 {
        eprintln!("{dst} is at commit {} already: nothing to copy", s.seq);
    } else {
        eprintln!(
            "copied {} files ({:.1} MB) to {dst} in {:.2} s ({} there already): it is at commit {}",
            s.files,
            s.bytes as f64 / 1e6,
            s.seconds,
            s.skipped,
            s.seq
        );
    }
    Ok(ExitCode::SUCCESS)
}
