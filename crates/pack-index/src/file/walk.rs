//! Walks over every bucket of an index, each bucket's CRC checked: all rows of a kind, or
//! the runs of rows that share a key.

use crate::file::{CheckedIndex, PackIndex};
use crate::Error;

impl<T: AsRef<[u8]>> PackIndex<T> {
    /// Checks every bucket against its CRC and that the buckets hold the header's row
    /// count: what a reader of every row needs before trusting them. The result is the
    /// proof the merging writers ([`write_merged_index`](crate::write_merged_index),
    /// [`write_merged_alias_index`](crate::write_merged_alias_index)) take, so that an
    /// index is checked once, where its caller chooses, and never merged unchecked.
    pub fn check_buckets(&self) -> Result<CheckedIndex<'_, T>, Error> {
        self.for_each_bucket(|_, _| Ok::<(), Error>(()))?;
        Ok(CheckedIndex(self))
    }

    /// `row(i)` of every row, bucket by bucket, each bucket checked against its CRC first,
    /// and the buckets checked to hold the header's row count.
    pub(crate) fn checked_rows<R>(&self, row: impl Fn(u64, usize) -> R) -> Result<Vec<R>, Error> {
        let mut out = Vec::with_capacity(self.count as usize);
        self.for_each_bucket(|slot, rows| {
            out.extend(rows.map(|i| row(i, slot)));
            Ok::<(), Error>(())
        })?;
        Ok(out)
    }

    /// Calls `f(slot, rows)` for the rows of every bucket in order, each checked against
    /// its CRC first, then checks that the buckets hold the header's row count.
    pub(crate) fn for_each_bucket<E: From<Error>>(
        &self,
        f: impl FnMut(usize, std::ops::Range<u64>) -> Result<(), E>,
    ) -> Result<(), E> {
        self.for_each_bucket_in(0..self.fanout_slots(), f)
    }

    /// [`for_each_bucket`](Self::for_each_bucket) over the fan-out slots `slots`; the
    /// buckets' total is checked against the header's row count by a range that ends at
    /// the last slot (the buckets partition rows `0..fanout(last)`).
    pub(crate) fn for_each_bucket_in<E: From<Error>>(
        &self,
        slots: std::ops::Range<usize>,
        mut f: impl FnMut(usize, std::ops::Range<u64>) -> Result<(), E>,
    ) -> Result<(), E> {
        let all = self.fanout_slots();
        for slot in slots.start..slots.end.min(all) {
            let (start, end) = self.bucket(slot)?;
            f(slot, start..end)?;
        }
        if slots.end >= all && self.fanout(all - 1) != self.count {
            return Err(Error::Corrupt {
                offset: self.fanout_at as u64,
                message: format!(
                    "buckets hold {} rows, the header {}",
                    self.fanout(all - 1),
                    self.count
                ),
            }
            .into());
        }
        Ok(())
    }

    /// Calls `f(rows)` for every run of rows sharing one key, in key order, each bucket
    /// checked against its CRC before its runs are handed out (a key's rows are all in its
    /// bucket); stops at the first error of the index or of `f`.
    ///
    /// # Examples
    /// ```
    /// use pack_format::{PackLocation, SequenceHash};
    /// use pack_index::{write_index, IndexCounts, IndexEntry, IndexKind, PackIndex};
    /// let row = |h: u8, offset: u32| IndexEntry {
    ///     hash: SequenceHash([h; 32]),
    ///     location: PackLocation { pack: 1, block: 0, offset, length: 9 },
    /// };
    /// let mut rows = [row(2, 9), row(1, 0), row(2, 18)];
    /// let bytes =
    ///     write_index(Vec::new(), IndexKind::Pack, &[1], IndexCounts::default(), None, &mut rows)
    ///         .unwrap();
    /// let index = PackIndex::parse(bytes).unwrap();
    /// let mut runs = Vec::new();
    /// index
    ///     .for_each_run(|rows| {
    ///         runs.push(rows);
    ///         Ok::<(), pack_index::Error>(())
    ///     })
    ///     .unwrap();
    /// assert_eq!(runs, [0..1, 1..3]);
    /// ```
    pub fn for_each_run<E: From<Error>>(
        &self,
        mut f: impl FnMut(std::ops::Range<u64>) -> Result<(), E>,
    ) -> Result<(), E> {
        self.for_each_run_in(0..self.fanout_slots(), |_, rows| f(rows))
    }

    /// [`for_each_run`](Self::for_each_run) over the buckets of fan-out slots `slots`
    /// (of `0..`[`fanout_slots`](Self::fanout_slots)), handing each run's slot too (for
    /// [`EntryIndex::row_in_slot`](crate::EntryIndex::row_in_slot)): threads can walk an index a share
    /// of the slots each.
    pub fn for_each_run_in<E: From<Error>>(
        &self,
        slots: std::ops::Range<usize>,
        mut f: impl FnMut(usize, std::ops::Range<u64>) -> Result<(), E>,
    ) -> Result<(), E> {
        self.for_each_bucket_in(slots, |slot, rows| {
            let mut run = rows.start;
            for i in rows.start + 1..=rows.end {
                if i == rows.end || self.stored_key(i) != self.stored_key(run) {
                    f(slot, run..i)?;
                    run = i;
                }
            }
            Ok(())
        })
    }
}
