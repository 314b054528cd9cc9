//! `sequoia rebuild-index`: every index file recreated from the packs alone.

use std::path::Path;
use std::process::ExitCode;

use sequoia_store::PackedSequenceStorage;

use super::{fail, Result};

pub fn exec(root: &Path) -> Result<ExitCode> {
    let store = PackedSequenceStorage::open_for_repair(root).map_err(fail)?;
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
