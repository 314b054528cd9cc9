//! `sequoia rebuild-index`: every index file recreated from the packs alone.

use std::process::ExitCode;

use super::{fail, Result};
use sequoia_remote::Target;

pub fn exec(target: &Target) -> Result<ExitCode> {
    let store = target.open_for_repair().map_err(fail)?;
    let s = store.rebuild_index().map_err(fail)?;
    eprintln!(
        "rebuilt indexes of {} packs ({} entries)",
        s.packs.len(),
        s.entries
    );
    super::publish(target)?;
    for p in &s.skipped {
        eprintln!("skipped unreadable pack: {p}");
    }
    Ok(if s.skipped.is_empty() {
        ExitCode::SUCCESS
    } else {
        ExitCode::FAILURE
    })
}
