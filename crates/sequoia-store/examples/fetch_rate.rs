//! The Rust library's rate at the batch read the Python module's `fetch_many` does, for
//! the Python benchmark to compare with (`cargo xtask bench --only python`):
//!
//! ```text
//! cargo run --release -p sequoia-store --example fetch_rate -- STORE KEYS map|sha256|ids|single ROUNDS
//! ```
//!
//! KEYS holds one identifier a line. `map`: [`map_many_parallel`] on every core, each
//! sequence copied out (what `fetch_many` does with SHA-256 keys); `sha256`: the same with
//! [`get_many_parallel`] and a slot per key; `ids`: [`find_many`] on one thread (what
//! `fetch_many` does with other identifiers); `single`: one `get` after another (what
//! `store[key]` does). Prints the best round's sequences per second.
//!
//! [`map_many_parallel`]: sequoia_store::PackedSequenceStorage::map_many_parallel
//! [`get_many_parallel`]: sequoia_store::PackedSequenceStorage::get_many_parallel
//! [`find_many`]: sequoia_store::PackedSequenceStorage::find_many

use std::sync::OnceLock;
use std::time::Instant;

use sequoia_store::{PackedSequenceStorage, SequenceHash, SequenceId};

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let [store, keys, mode, rounds] = args.as_slice() else {
        return Err("usage: fetch_rate STORE KEYS map|sha256|ids|single ROUNDS".into());
    };
    let rounds: usize = rounds.parse()?;
    let store = PackedSequenceStorage::open(std::path::Path::new(store))?;
    let text = std::fs::read_to_string(keys)?;
    let ids: Vec<SequenceId> = text
        .lines()
        .map(|l| SequenceId::parse(l.trim()).ok_or(format!("{l:?} is not an identifier")))
        .collect::<Result<_, _>>()?;
    let threads = std::thread::available_parallelism().map_or(1, |n| n.get());
    let mut best = f64::INFINITY;
    for _ in 0..rounds {
        let started = Instant::now();
        let bytes: usize = match mode.as_str() {
            "sha256" => {
                let hashes: Vec<SequenceHash> = (ids.iter())
                    .map(|id| match id {
                        SequenceId::Sha256(h) => Ok(*h),
                        _ => Err(format!("{id} is not a SHA-256")),
                    })
                    .collect::<Result<_, _>>()?;
                let slots: Vec<OnceLock<Vec<u8>>> =
                    hashes.iter().map(|_| OnceLock::new()).collect();
                store.get_many_parallel(&hashes, threads, |i, r| {
                    if let Some(r) = r {
                        let _ = slots[i].set(r.to_vec());
                    }
                })?;
                slots
                    .into_iter()
                    .map(|s| s.into_inner().map_or(0, |r| r.len()))
                    .sum()
            }
            "single" => {
                let mut bytes = 0;
                for id in &ids {
                    if let SequenceId::Sha256(h) = id {
                        bytes += store.get(h)?.map_or(0, |r| r.len());
                    }
                }
                bytes
            }
            "map" => {
                let hashes: Vec<SequenceHash> = (ids.iter())
                    .filter_map(|id| match id {
                        SequenceId::Sha256(h) => Some(*h),
                        _ => None,
                    })
                    .collect();
                let found = store.map_many_parallel(&hashes, threads, |_, r| r.to_vec())?;
                found.iter().map(|r| r.as_ref().map_or(0, Vec::len)).sum()
            }
            "ids" => {
                let mut found: Vec<Vec<u8>> = vec![Vec::new(); ids.len()];
                store.find_many(&ids, |i, s| found[i] = s.residues.to_vec())?;
                found.iter().map(Vec::len).sum()
            }
            other => return Err(format!("mode {other:?}: sha256 or ids").into()),
        };
        std::hint::black_box(bytes);
        best = best.min(started.elapsed().as_secs_f64());
    }
    println!("{:.0}", ids.len() as f64 / best);
    Ok(())
}
