//! Recreating every index file from the packs alone.

use pack_format::PackId;
use pack_index::IndexCounts;
use pack_io::PackIndexRows;

use crate::alias::{AliasRows, AliasTarget, EntryNames};
use crate::commit_record::{CommitRecord, LayerEntry, LayerName, StagedRecord};
use crate::error::StoreError;
use crate::layer::{write_layer_rows, LayerRows};
use crate::report::Problem;
use crate::store::PackedSequenceStorage;

/// What `rebuild_index` did.
#[derive(Clone, Debug, Default)]
pub struct RebuildSummary {
    /// Packs indexed.
    pub packs: Vec<PackId>,
    /// Rows indexed: one per entry of every pack read.
    pub entries: u64,
    /// Packs that could not be read (left in place, not indexed).
    pub skipped: Vec<Problem>,
}

impl PackedSequenceStorage {
    /// Rewrites the index of every v1 pack from a scan of it (and of a v2 pack that has
    /// one from before v2 packs went without: its footer's entry table stands in for one),
    /// then one index layer over the packs that could be read: its rows, its alias
    /// indexes from every entry (decompressing every pack), and a commit record naming
    /// it alone. Unreadable packs are reported
    /// and left as they are. Needs a store opened with
    /// [`open_for_repair`](Self::open_for_repair) or [`open_writer`](Self::open_writer).
    pub fn rebuild_index(&self) -> Result<RebuildSummary, StoreError> {
        // Hold the session: no commit can run while indexes are rewritten.
        let _session = self.session_guard()?;
        let snap = self.snapshot();
        let mut summary = RebuildSummary::default();
        // Entry rows (the commit record's compact kind) when every pack has a row table
        // (v2, v3; an unreadable one is skipped either way), from each table in its order.
        let all_v2 = (snap.packs.values())
            .all(|slot| slot.reader().map_or(true, |r| r.version().has_row_table()));
        let mut rows = if all_v2 {
            LayerRows::Entries(Vec::new())
        } else {
            LayerRows::Locations(Vec::new())
        };
        let mut total = IndexCounts::default();
        for (&id, slot) in &snap.packs {
            match (slot.reader()).and_then(|r| r.index_rows(id, true).map_err(|e| e.to_string())) {
                Ok(PackIndexRows {
                    entries,
                    counts,
                    crc,
                    from_footer,
                }) => {
                    if !from_footer || self.layout().pack_index_path(id).exists() {
                        // Sorted for the file; `entries` stay in table order.
                        self.write_pack_index(id, counts, crc, &mut entries.clone())?;
                    }
                    summary.entries += entries.len() as u64;
                    summary.packs.push(id);
                    total.add(&counts);
                    rows.add_pack(id, entries);
                }
                Err(message) => summary.skipped.push(Problem {
                    path: slot.path.clone(),
                    offset: None,
                    hash: None,
                    message,
                }),
            }
        }
        // Alias indexes from the packs' entries: digests of every sequence, accessions of
        // every representation. Written before the multi-pack index, as a commit does.
        let mut aliases = AliasRows::default();
        for id in &summary.packs {
            let slot = &snap.packs[id];
            let Ok(reader) = slot.reader() else {
                continue;
            };
            if let Err(e) = aliases.add_pack(reader, *id) {
                // The rows read so far are kept; the damage is reported (verify names it).
                summary.skipped.push(Problem {
                    path: slot.path.clone(),
                    offset: None,
                    hash: None,
                    message: format!("alias rows incomplete: {e}"),
                });
            }
        }
        let seq = snap.max_record_seq.map_or(0, |s| s + 1);
        let name = LayerName::new(seq);
        // Alias rows name entries over packs with row tables; a store with v1 packs keeps
        // SHA-256 prefixes (nothing old to read through the packs).
        let names = match &rows {
            LayerRows::Entries(r) => Some(EntryNames::new(r.clone())),
            LayerRows::Locations(_) => None,
        };
        let no_old = |_, _| -> Result<pack_format::SequenceHash, StoreError> {
            Err(StoreError::Corrupt(
                "rebuild-index reads no old alias rows".into(),
            ))
        };
        let target = AliasTarget::new(names.as_ref(), &no_old);
        aliases.write_layer(
            self.layout(),
            name,
            &summary.packs,
            &Default::default(),
            total.sequences,
            target,
        )?;
        write_layer_rows(self.layout(), name, &summary.packs, total, &[], &mut rows)?;
        let record = CommitRecord {
            seq,
            packs: summary.packs.clone(),
            counts: total,
            layers: vec![LayerEntry {
                name,
                rows: summary.entries,
            }],
        };
        StagedRecord::write(self.layout(), &record)?.publish()?;
        self.refresh()?;
        Ok(summary)
    }
}
