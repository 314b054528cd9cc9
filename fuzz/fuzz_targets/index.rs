//! The index reader on any bytes (every kind: location, entry and alias indexes): open,
//! verify, lookups of stored and random keys, prefix lookups, alias and entry lookups,
//! and a commit's merge of its rows into new files.
#![no_main]
use libfuzzer_sys::fuzz_target;
use pack_format::{PackLocation, SequenceHash};
use pack_index::{
    write_merged_alias_index, write_merged_entry_index, write_merged_index, EntryRow,
    IndexCounts, IndexEntry, IndexKind, PackIndex,
};

fuzz_target!(|data: &[u8]| {
    let Ok(index) = PackIndex::parse(data) else { return };
    let _ = index.verify();
    let _ = index.packs();
    let probe = SequenceHash(data.get(..32).and_then(|b| b.try_into().ok()).unwrap_or([7; 32]));
    let locations = index.as_locations().ok();
    let entries = index.as_entries().ok();
    let alias = index.as_alias().ok();
    if let Some(ix) = locations {
        if let Ok(l) = ix.lookup(&probe) {
            let _ = l.count();
        }
        if let Ok(l) = ix.lookup_prefix(&probe.0[..8]) {
            let _ = l.count();
        }
        let _ = ix.pack_crc32();
    }
    if let Some(ix) = entries {
        if let Ok(l) = ix.lookup(&pack_index::hash_prefix(&probe)) {
            let _ = l.count();
        }
    }
    let key_len = index.kind().key_len();
    if let Some(ix) = alias {
        if let Ok(l) = ix.lookup(&probe.0[..key_len.min(32)]) {
            let _ = l.count();
        }
        if let Ok(l) = ix.lookup_entries(&probe.0[..key_len.min(32)]) {
            let _ = l.count();
        }
    }
    if index.len() > 0 && index.len() < 1 << 20 {
        let first = index.key_bytes(0).to_vec();
        let last = index.len() - 1;
        let _ = (index.key_bytes(last), index.implied_key_bytes());
        if let Some(ix) = locations {
            if let Ok(l) = ix.lookup(&ix.key(0)) {
                let _ = l.count();
            }
            let _ = ix.location(last);
            let _ = ix.checked_entries();
        }
        if let Some(ix) = alias {
            // An alias key is looked up whole; an index may hold its first bytes only.
            let mut whole = first.clone();
            whole.resize(index.kind().key_len(), 0);
            if let Ok(l) = ix.lookup(&whole) {
                let _ = l.count();
            }
            if let Ok(l) = ix.lookup_entries(&whole) {
                let _ = l.count();
            }
            let _ = (ix.layout(), ix.names_entries());
            let _ = ix.checked_entry_rows();
            let _ = ix.checked_rows_as(pack_index::AliasLayout::SMALL);
            let _ = ix.checked_compact_rows();
            let _ = ix.checked_rows::<16>();
            let _ = ix.checked_rows::<24>();
            let _ = ix.checked_rows::<8>();
            let _ = ix.checked_rows::<6>();
        }
        if let Some(ix) = entries {
            if let Ok(l) = ix.lookup(&ix.row(0).prefix) {
                let _ = l.count();
            }
            // Rows read by position: each on its own (a search of the fan-out for the key
            // bytes its slot implies) and a range at once.
            let _ = ix.row(last);
            let _ = ix.rows(0..index.len().min(4096)).count();
            let _ = ix.widths();
        }
        // A commit merging new rows with this index, once its buckets check: an error or
        // a file, never a panic.
        if let Ok(checked) = index.check_buckets() {
            let mut rows = vec![IndexEntry {
                hash: probe,
                location: PackLocation::default(),
            }];
            let _ = write_merged_index(
                Vec::new(),
                IndexKind::Multi,
                &[0],
                IndexCounts::default(),
                &[checked],
                &mut rows,
            );
            let mut alias = vec![([3u8; pack_index::ALIAS_KEY_LEN], [4u8; 8])];
            let _ = write_merged_alias_index(
                Vec::new(),
                IndexKind::Accession,
                pack_index::AliasLayout::COMPACT,
                &[0],
                &[checked],
                &mut alias,
            );
            let mut entries = vec![EntryRow {
                prefix: [5; 8],
                pack: 1,
                entry: 2,
            }];
            let _ = write_merged_entry_index(
                Vec::new(),
                &[0, 1],
                IndexCounts::default(),
                &[checked],
                &mut entries,
            );
        }
    }
});
