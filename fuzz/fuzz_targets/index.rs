//! The index reader on any bytes: open, verify, lookups of stored and random keys.
#![no_main]
use libfuzzer_sys::fuzz_target;
use pack_format::SequenceHash;
use pack_index::PackIndex;

fuzz_target!(|data: &[u8]| {
    let Ok(index) = PackIndex::parse(data) else { return };
    let _ = index.verify();
    let _ = index.packs();
    let probe = SequenceHash(data.get(..32).and_then(|b| b.try_into().ok()).unwrap_or([7; 32]));
    if let Ok(l) = index.lookup(&probe) {
        let _ = l.count();
    }
    if index.len() > 0 && index.len() < 1 << 20 {
        let first = index.key(0);
        if let Ok(l) = index.lookup(&first) {
            let _ = l.count();
        }
    }
});
