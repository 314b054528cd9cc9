//! `sequoia repack`: every pack rewritten with one entry per sequence.

use std::process::ExitCode;

use super::{fail, PackArgs, Result};
use sequoia_remote::Target;
use sequoia_store::RepackOrder;

#[derive(clap::Args)]
pub struct Args {
    #[command(flatten)]
    packs: PackArgs,
    /// Order of the sequences in the new packs: `similar` puts similar sequences next to
    /// each other (smaller packs; sorts up to 1 GiB of records at a time), `store` keeps
    /// the store's order (nothing held).
    #[arg(long, value_enum, default_value = "similar")]
    order: Order,
}

#[derive(Clone, Copy, clap::ValueEnum)]
enum Order {
    Similar,
    Store,
}

pub fn exec(target: &Target, args: Args) -> Result<ExitCode> {
    let options = args.packs.options();
    let store = target.open_writer(options).map_err(fail)?;
    eprintln!(
        "repacking {} (every sequence is read and written again)",
        target.name()
    );
    let order = match args.order {
        Order::Similar => RepackOrder::Similar,
        Order::Store => RepackOrder::Store,
    };
    let s = store.repack_with(order).map_err(fail)?;
    if s.old_packs.is_empty() {
        eprintln!("nothing to repack: the store is empty");
        return Ok(ExitCode::SUCCESS);
    }
    eprintln!(
        "repacked {} entries in {} packs ({:.1} MB) into {} entries in {} packs ({:.1} MB)",
        s.old_entries,
        s.old_packs.len(),
        s.old_pack_bytes as f64 / 1e6,
        s.new_entries,
        s.new_packs.len(),
        s.new_pack_bytes as f64 / 1e6
    );
    super::publish(target)?;
    let layout = target.layout();
    eprintln!("these files are no longer part of the store; `sequoia gc` deletes them:");
    for id in &s.old_packs {
        for path in [layout.pack_path(*id), layout.pack_index_path(*id)] {
            if path.exists() {
                eprintln!("  {}", path.display());
            }
        }
    }
    Ok(ExitCode::SUCCESS)
}
