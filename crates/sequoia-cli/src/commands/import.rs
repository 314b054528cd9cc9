//! `sequoia import`: FASTA files into the store, committed together or not at all.

use std::process::ExitCode;

use sequoia_store::fasta::{default_source, open_input};
use sequoia_store::{import_fasta, ImportSummary};

use super::{fail, progress_bar, PackArgs, Result};
use sequoia_remote::Target;

#[derive(clap::Args)]
pub struct Args {
    /// Source name stored with every record [default: the file's name]
    #[arg(long, value_name = "NAME")]
    source: Option<String>,
    #[command(flatten)]
    packs: PackArgs,
    /// FASTA files.
    #[arg(required = true, value_name = "FILE")]
    files: Vec<String>,
}

pub fn exec(target: &Target, args: Args) -> Result<ExitCode> {
    let Args {
        source,
        packs,
        files,
    } = args;
    let options = packs.options();
    let files = &files;
    crate::purge_freed_memory_at_once();
    let store = target.open_writer(options).map_err(fail)?;
    let mut total = ImportSummary::default();
    for file in files {
        let source = source.clone().unwrap_or_else(|| default_source(file));
        let input = open_input(file).map_err(|e| fail(format!("{file}: {e}")))?;
        let size = (file != "-")
            .then(|| std::fs::metadata(file).map(|m| m.len()).ok())
            .flatten();
        let compressed = input_is_compressed(file);
        let bar = progress_bar(if compressed { None } else { size });
        bar.set_message(file.clone());
        let result = import_fasta(&store, input, file, &source, &mut |bytes, _| {
            bar.set_position(bytes)
        });
        bar.finish_and_clear();
        match result {
            Ok(s) => total.add(&s),
            Err(e) => {
                store.rollback().map_err(fail)?;
                return Err(fail(format!(
                    "{e}\nnothing was imported; the store is unchanged"
                )));
            }
        }
    }
    let started = std::time::Instant::now();
    store
        .commit()
        .map_err(|e| fail(format!("commit failed: {e}")))?;
    super::publish(target)?;
    total.seconds += started.elapsed().as_secs_f64();
    eprintln!(
        "imported {} records: {} new sequences, {} new representations, {:.1} MB in {:.2} s ({:.0} records/s)",
        total.records,
        total.new_sequences,
        total.new_representations,
        total.bytes as f64 / 1e6,
        total.seconds,
        total.records as f64 / total.seconds.max(1e-9),
    );
    Ok(ExitCode::SUCCESS)
}

fn input_is_compressed(file: &str) -> bool {
    file.ends_with(".gz") || file.ends_with(".zst")
}
