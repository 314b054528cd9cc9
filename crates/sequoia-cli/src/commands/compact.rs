//! `sequoia compact`: merge every index layer into one.

use std::process::ExitCode;

use super::{fail, Result};
use sequoia_remote::Target;

pub fn exec(target: &Target) -> Result<ExitCode> {
    let store = target.open_existing_writer().map_err(fail)?;
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
    super::publish(target)?;
    Ok(ExitCode::SUCCESS)
}
