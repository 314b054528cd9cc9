//! `sequoia stats`: what the store holds, as text or JSON.

use std::io::Write;
use std::path::Path;
use std::process::ExitCode;

use sequoia_store::{IndexKind, PackedSequenceStorage};

use super::{fail, Result, LEFTOVER_NOTE};

#[derive(clap::Args)]
pub struct Args {
    /// Machine-readable output.
    #[arg(long)]
    json: bool,
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

pub fn exec(root: &Path, args: Args) -> Result<ExitCode> {
    let json = args.json;
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
