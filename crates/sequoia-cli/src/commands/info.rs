//! `sequoia info`: a sequence's length, digests and representations.

use std::io::{BufWriter, Write};
use std::process::ExitCode;

use sequoia_store::{SequenceDigests, SequenceId};

use super::{fail, Result};
use sequoia_remote::Target;

#[derive(clap::Args)]
pub struct Args {
    /// Identifiers (any form `get` takes, without a region).
    #[arg(required = true, value_name = "ID")]
    ids: Vec<String>,
    /// Machine-readable output (a JSON array, one object per sequence).
    #[arg(long)]
    json: bool,
}

pub fn exec(target: &Target, args: Args) -> Result<ExitCode> {
    let (ids, json) = (&args.ids, args.json);
    let parsed = ids
        .iter()
        .map(|t| {
            SequenceId::parse(t.trim()).ok_or_else(|| {
                fail(format!(
                    "{t:?} is not an identifier (empty, or has whitespace)"
                ))
            })
        })
        .collect::<Result<Vec<SequenceId>>>()?;
    let store = target.open().map_err(fail)?;
    let mut missing = 0usize;
    let mut all = Vec::new();
    let stdout = std::io::stdout();
    let mut out = BufWriter::new(stdout.lock());
    for (text, id) in ids.iter().zip(&parsed) {
        let hashes = store.resolve(id).map_err(fail)?;
        if hashes.is_empty() {
            missing += 1;
            out.flush()?;
            eprintln!("sequoia: no sequence matches {text}");
            continue;
        }
        for hash in hashes {
            let Some(rec) = store.get_record(&hash).map_err(fail)? else {
                continue;
            };
            let d = SequenceDigests::with_sha256(rec.hash, &rec.residues);
            if json {
                all.push(serde_json::json!({
                    "query": text,
                    "length": rec.residues.len(),
                    "sha256": rec.hash.to_hex(),
                    "md5": d.md5_hex(),
                    "sha512t24u": d.ga4gh(),
                    "representations": rec.representations.iter().map(|r| serde_json::json!({
                        "header": r.header, "source": r.source,
                    })).collect::<Vec<_>>(),
                }));
            } else {
                writeln!(out, "query            {text}")?;
                writeln!(out, "length           {}", rec.residues.len())?;
                writeln!(out, "sha256           {}", rec.hash)?;
                writeln!(out, "md5              {}", d.md5_hex())?;
                writeln!(out, "sha512t24u       ga4gh:{}", d.ga4gh())?;
                writeln!(out, "representations  {}", rec.representations.len())?;
                for r in &rec.representations {
                    writeln!(out, "  {}\t{}", r.source, r.header)?;
                }
                writeln!(out)?;
            }
        }
    }
    if json {
        serde_json::to_writer_pretty(&mut out, &all).map_err(fail)?;
        writeln!(out)?;
    }
    out.flush()?;
    Ok(if missing == 0 {
        ExitCode::SUCCESS
    } else {
        ExitCode::FAILURE
    })
}
