//! The v1 decoder on any bytes: decompression (bounded), header, every entry, footer.
#![no_main]
use libfuzzer_sys::fuzz_target;
use pack_format::v1;

fuzz_target!(|data: &[u8]| {
    // Both the compressed file and, directly, a decompressed body.
    if let Ok(body) = v1::decompress(data, 16 << 20) {
        walk(&body);
    }
    walk(data);
});

fn walk(body: &[u8]) {
    if let Ok(pack) = v1::V1Body::parse(body) {
        for item in pack.entries() {
            match item {
                Ok((offset, length, e)) => {
                    let _ = e.representations();
                    let again = pack.entry_at(offset, length).expect("an entry found by the walk reads back");
                    assert_eq!(again.hash, e.hash);
                }
                Err(_) => break,
            }
        }
    }
}
