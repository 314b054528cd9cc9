//! A pack's index rows read back from the pack alone: what `rebuild-index` writes index
//! files from, and what a store serves a pack through when its index file is missing.

use pack_format::PackId;
use pack_index::{IndexCounts, IndexEntry};

use crate::{Error, PackReader};

/// The index rows of one pack, read from the pack alone.
pub struct PackIndexRows {
    /// Every entry with its location, in the pack's order (a v2 pack's entry table's, which
    /// entry rows number); index writers sort them.
    pub entries: Vec<IndexEntry>,
    /// What the entries hold, as an index header records it.
    pub counts: IndexCounts,
    /// CRC-32 of the whole file (0 when not asked for).
    pub crc: u32,
    /// Read from a v2 footer's entry table (else from a scan of every entry).
    pub from_footer: bool,
}

impl PackReader {
    /// The rows of this pack, which its file name calls pack `id`: from its footer's entry
    /// table (v2), else by reading every entry; with the CRC-32 of the whole file if
    /// `with_crc` (an index file records it; reading the whole file for it is the slow part
    /// for a v2 pack).
    pub fn index_rows(&self, id: PackId, with_crc: bool) -> Result<PackIndexRows, Error> {
        let crc = if with_crc {
            crc32fast::hash(self.bytes()?)
        } else {
            0
        };
        let inner = self.pack_id()?;
        if inner != id {
            return Err(Error::WrongId { inner, named: id });
        }
        self.verify_footer()?;
        if let (Some(table), Some(c)) = (self.entry_table(id)?, self.trailer_counts()?) {
            return Ok(PackIndexRows {
                entries: table,
                counts: IndexCounts::from(&c),
                crc,
                from_footer: true,
            });
        }
        let mut entries = Vec::new();
        let mut counts = IndexCounts::default();
        self.for_each_entry::<Error>(id, |loc, e| {
            let mut reps = 0u64;
            let _ = e.for_each_representation(|_, _| reps += 1);
            if e.has_sequence() {
                counts.sequences += 1;
            }
            counts.representations += reps;
            counts.residue_bytes += e.sequence.len() as u64;
            counts.uncompressed_bytes += loc.length as u64;
            entries.push(IndexEntry {
                hash: e.hash,
                location: loc,
            });
            Ok(())
        })?;
        Ok(PackIndexRows {
            entries,
            counts,
            crc,
            from_footer: false,
        })
    }
}
