//! `sequoia stats`: what the store holds, as text or JSON.

use std::io::Write;
use std::process::ExitCode;

use sequoia_store::IndexKind;

use super::{fail, Result, LEFTOVER_NOTE};
use sequoia_remote::Target;

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
    v3_packs: usize,
    sequences: u64,
    representations: u64,
    residue_bytes: u64,
    uncompressed_bytes: u64,
    pack_bytes: u64,
    index_bytes: u64,
    index_files: usize,
    /// "entry rows", "location rows" or "none".
    row_kind: String,
    index_rows: u64,
    layers: usize,
    bytes_on_disk: u64,
    compression_ratio: f64,
    leftovers: Vec<String>,
    superseded_files: usize,
    reclaimable_bytes: u64,
    problems: Vec<String>,
}

pub fn exec(target: &Target, args: Args) -> Result<ExitCode> {
    let json = args.json;
    let store = target.open().map_err(fail)?;
    let s = store.stats().map_err(fail)?;
    let mut j = StatsJson {
        store: target.name().to_string(),
        packs: s.packs,
        v1_packs: s.v1_packs,
        v3_packs: s.v3_packs,
        sequences: s.sequences,
        representations: s.representations,
        residue_bytes: s.residue_bytes,
        uncompressed_bytes: s.uncompressed_bytes,
        pack_bytes: s.pack_bytes,
        index_bytes: s.index_bytes,
        index_files: s.index_files,
        row_kind: match s.row_kind {
            Some(IndexKind::Entries) => "entry rows",
            Some(_) => "location rows",
            None => "none",
        }
        .into(),
        index_rows: s.index_rows,
        layers: s.layers,
        bytes_on_disk: s.pack_bytes + s.index_bytes,
        compression_ratio: (s.compression_ratio() * 1000.0).round() / 1000.0,
        leftovers: (s.leftovers.iter())
            .map(|p| p.display().to_string())
            .collect(),
        superseded_files: s.superseded_files,
        reclaimable_bytes: s.reclaimable_bytes,
        problems: s
            .problems
            .iter()
            .map(|p| format!("{}: {}", p.path.display(), p.reason))
            .collect(),
    };
    if let Some(remote) = target.remote() {
        // What is reclaimable is in the bucket, not in the cache.
        let left = remote.leftovers().map_err(fail)?;
        j.leftovers = (left.objects.iter())
            .filter(|(rel, _)| !rel.starts_with("indices/commit-"))
            .map(|(rel, _)| remote.client().url_of(rel))
            .collect();
        j.superseded_files = left.objects.len() - j.leftovers.len();
        j.reclaimable_bytes = left.bytes();
    }
    let mut out = std::io::stdout().lock();
    if json {
        serde_json::to_writer_pretty(&mut out, &j).map_err(fail)?;
        writeln!(out)?;
    } else {
        writeln!(out, "store            {}", j.store)?;
        writeln!(
            out,
            "packs            {} ({} v1, {} v2, {} v3)",
            j.packs,
            j.v1_packs,
            j.packs - j.v1_packs - j.v3_packs,
            j.v3_packs
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
        let location_rows = matches!(s.row_kind, Some(k) if k != IndexKind::Entries);
        let upgrade = if location_rows && j.v1_packs == 0 {
            ": `sequoia rebuild-index` rewrites them as entry rows of 12 bytes"
        } else {
            ""
        };
        writeln!(
            out,
            "index rows       {} {} in {} layer{}{upgrade}",
            j.index_rows,
            j.row_kind,
            j.layers,
            if j.layers == 1 { "" } else { "s" }
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
        for p in &j.leftovers {
            writeln!(out, "{LEFTOVER_NOTE}: {p}")?;
        }
        if j.reclaimable_bytes > 0 {
            writeln!(
                out,
                "reclaimable      {} bytes in {} files (`sequoia gc` deletes them)",
                j.reclaimable_bytes,
                j.leftovers.len() + j.superseded_files
            )?;
        }
        for p in &j.problems {
            writeln!(out, "problem: {p}")?;
        }
    }
    Ok(ExitCode::SUCCESS)
}
