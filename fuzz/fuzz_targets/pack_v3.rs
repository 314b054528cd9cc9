//! The v3 decoder on any bytes: header, trailer, source table, every row's place, every
//! block and item.
#![no_main]
use libfuzzer_sys::fuzz_target;
use pack_format::v2::BlockDecoder;
use pack_format::v3::V3Pack;

fuzz_target!(|data: &[u8]| {
    let _ = pack_format::detect(data);
    let Ok(pack) = V3Pack::parse(data) else {
        return;
    };
    let _ = pack.verify_footer();
    let _ = pack.counts();
    let Ok(sources) = pack.sources() else {
        return;
    };
    let mut dec = BlockDecoder::new();
    let (mut residues, mut items) = (Vec::new(), Vec::new());
    let mut cursor = None;
    for row in 0..pack.trailer().rows.min(4096) {
        let Ok((place, c)) = pack.place_after(cursor, row) else {
            break;
        };
        cursor = Some(c);
        let _ = pack.place(row);
        if place.addition.is_none()
            && pack
                .read_block(place.residue_block, &mut dec, &mut residues)
                .is_err()
        {
            continue;
        }
        if pack
            .read_block(place.header_block, &mut dec, &mut items)
            .is_ok()
        {
            if let Ok(e) = pack.entry_at(&place, &residues, &items, &sources, None) {
                let _ = e.representations();
            }
        }
    }
});
