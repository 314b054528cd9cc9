//! `sequoia compact`: merge every index layer into one.

use std::path::Path;
use std::process::ExitCode;

use super::{fail, open_existing_writer, Result};

pub fn exec(root: &Path) -> Result<ExitCode> {
    let store = open_existing_writer(root)?;
    let started = std::time::Instant::now();
    let s = store.compact().map_err(fail)?;
    if s.layers_after == s.layers_before {
        eprintln!(
            "{} layer of {} rows: nothing to merge",
            s.layers_before, s.rows
        );
    } else {
        eprintln!(
            "merged {} layers of {} rows into {} in {:.2} s; `sequoia gc` deletes the old ones",
            s.layers_before,
            s.rows,
            s.layers_after,
            started.elapsed().as_secs_f64()
        );
    }
    Ok(ExitCode::SUCCESS)
}
