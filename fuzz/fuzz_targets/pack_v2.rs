//! The v2 decoder on any bytes: header, trailer, tables, every block and entry.
#![no_main]
use libfuzzer_sys::fuzz_target;
use pack_format::v2::{entry_in_block, BlockDecoder, PackDictionary, V2Pack};

fuzz_target!(|data: &[u8]| {
    let _ = pack_format::detect(data);
    let Ok(pack) = V2Pack::parse(data) else {
        return;
    };
    let _ = pack.verify_footer();
    let dict = PackDictionary::of(&pack).ok().flatten();
    let mut dec = BlockDecoder::new();
    let mut buf = Vec::new();
    let t = *pack.trailer();
    for i in 0..t.entry_count.min(4096) {
        let Ok(row) = pack.entry_info(i) else { break };
        if pack
            .read_block(row.block, &mut dec, dict.as_ref(), &mut buf)
            .is_ok()
        {
            if let Ok(e) =
                entry_in_block(&buf, row.offset, row.length, pack.hash_field(), &row.hash)
            {
                let _ = e.representations();
            }
        }
    }
});
