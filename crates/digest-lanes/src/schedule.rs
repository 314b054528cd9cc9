//! The lane scheduler that [`crate::md5_lanes`] and [`crate::sha512_lanes`] share: many
//! messages hashed side by side, one per SIMD lane, by a Merkle-Damgard hash whose
//! compression function works on all lanes at once.
//!
//! Both hashes pad alike: the message, 0x80, zeros, and the bit length in the last
//! two words of the last block; a block is 16 words. They differ in the word (32 bits
//! for MD5, 64 for SHA-512) and its byte order (little-endian for MD5, big-endian for
//! SHA-512), which is what [`Word`] carries. Each lane takes the next message as soon as
//! its own is done, so messages of any mix of lengths keep every lane busy but for the
//! last few blocks.

/// A hash word: 32 or 64 bits, read from and written to bytes in the hash's order.
pub(crate) trait Word: Copy + Default {
    /// Bytes of the word; a block is 16 words.
    const BYTES: usize;
    /// The word in `bytes` (exactly [`Word::BYTES`] of them).
    fn read(bytes: &[u8], big_endian: bool) -> Self;
    /// The word into `out` (exactly [`Word::BYTES`] bytes).
    fn write(self, out: &mut [u8], big_endian: bool);
}

macro_rules! word {
    ($t:ty) => {
        impl Word for $t {
            const BYTES: usize = std::mem::size_of::<$t>();
            fn read(bytes: &[u8], big_endian: bool) -> Self {
                let b = bytes
                    .try_into()
                    .expect("the caller passes one word's bytes");
                if big_endian {
                    <$t>::from_be_bytes(b)
                } else {
                    <$t>::from_le_bytes(b)
                }
            }
            fn write(self, out: &mut [u8], big_endian: bool) {
                if big_endian {
                    out.copy_from_slice(&self.to_be_bytes());
                } else {
                    out.copy_from_slice(&self.to_le_bytes());
                }
            }
        }
    };
}
word!(u32);
word!(u64);

/// The largest block of the hashes here (SHA-512's 128 bytes).
const MAX_BLOCK: usize = 128;

/// The blocks of one message: its whole blocks read in place, then its padded tail
/// (the last bytes, 0x80, zeros and the bit length in two words: one or two blocks).
pub(crate) struct Blocks<'a> {
    message: &'a [u8],
    /// Bytes of a block.
    block: usize,
    tail: [u8; 2 * MAX_BLOCK],
    /// Blocks in all.
    count: usize,
}

impl<'a> Blocks<'a> {
    /// The blocks of `message` for a hash of `word_bytes`-byte words (a block is 16 of
    /// them, the length field 2) in the given byte order.
    pub(crate) fn new(message: &'a [u8], word_bytes: usize, big_endian: bool) -> Self {
        let block = 16 * word_bytes;
        assert!(block <= MAX_BLOCK, "words of at most 8 bytes");
        let length_bytes = 2 * word_bytes;
        let whole = message.len() / block;
        let rest = &message[whole * block..];
        let mut tail = [0u8; 2 * MAX_BLOCK];
        tail[..rest.len()].copy_from_slice(rest);
        tail[rest.len()] = 0x80;
        let tail_blocks = if rest.len() + 1 + length_bytes <= block {
            1
        } else {
            2
        };
        // The bit length modulo 2^(8 * length_bytes), as the hashes define it.
        let bits = (message.len() as u128).wrapping_mul(8);
        let field = &mut tail[tail_blocks * block - length_bytes..tail_blocks * block];
        if big_endian {
            field.copy_from_slice(&bits.to_be_bytes()[16 - length_bytes..]);
        } else {
            field.copy_from_slice(&bits.to_le_bytes()[..length_bytes]);
        }
        Blocks {
            message,
            block,
            tail,
            count: whole + tail_blocks,
        }
    }

    /// Blocks in all.
    pub(crate) fn count(&self) -> usize {
        self.count
    }

    /// Block `i` (< [`Blocks::count`]).
    pub(crate) fn block(&self, i: usize) -> &[u8] {
        let (b, whole) = (self.block, self.message.len() / self.block);
        if i < whole {
            &self.message[i * b..(i + 1) * b]
        } else {
            let t = i - whole;
            &self.tail[t * b..(t + 1) * b]
        }
    }
}

/// The digests of `messages`, in order, `L` at a time.
///
/// `S` is the number of state words (4 for MD5, 8 for SHA-512), `D` the digest's bytes
/// (`S` words), `iv` the initial state. `compress` updates the state (word by lane) with
/// one block of every lane (word by lane); an idle lane hashes zeros, and its state is
/// never read.
pub(crate) fn each<W: Word, const L: usize, const S: usize, const D: usize>(
    messages: &[&[u8]],
    big_endian: bool,
    iv: [W; S],
    mut compress: impl FnMut(&mut [[W; L]; S], &[[W; L]; 16]),
) -> Vec<[u8; D]> {
    assert_eq!(D, S * W::BYTES, "a digest is the whole state");
    let mut out = vec![[0u8; D]; messages.len()];
    // Per lane: the message it works on (its index and blocks) and the next block.
    let mut lane: [Option<(usize, Blocks<'_>, usize)>; L] = std::array::from_fn(|_| None);
    let mut next = 0;
    let mut state = [[W::default(); L]; S];
    let mut words = [[W::default(); L]; 16];
    loop {
        for (l, slot) in lane.iter_mut().enumerate() {
            if slot.is_none() && next < messages.len() {
                *slot = Some((next, Blocks::new(messages[next], W::BYTES, big_endian), 0));
                for (v, iv) in state.iter_mut().zip(iv) {
                    v[l] = iv;
                }
                next += 1;
            }
        }
        if lane.iter().all(Option::is_none) {
            return out;
        }
        for (l, slot) in lane.iter().enumerate() {
            match slot {
                Some((_, blocks, i)) => {
                    let block = blocks.block(*i);
                    for (w, row) in words.iter_mut().enumerate() {
                        row[l] = W::read(&block[W::BYTES * w..W::BYTES * (w + 1)], big_endian);
                    }
                }
                None => words.iter_mut().for_each(|row| row[l] = W::default()),
            }
        }
        compress(&mut state, &words);
        for (l, slot) in lane.iter_mut().enumerate() {
            let Some((m, blocks, i)) = slot else { continue };
            *i += 1;
            if *i == blocks.count() {
                for (v, row) in state.iter().enumerate() {
                    row[l].write(&mut out[*m][W::BYTES * v..W::BYTES * (v + 1)], big_endian);
                }
                *slot = None;
            }
        }
    }
}

/// Message lengths around every padding boundary of a hash with `block`-byte blocks
/// (one tail block or two), for the hashes' tests.
#[cfg(test)]
pub(crate) fn boundary_lengths(block: usize) -> Vec<usize> {
    let length_bytes = block / 8;
    let mut v = Vec::new();
    for base in [0, block, 2 * block, 1024] {
        v.extend((0..20).map(|d| base + block - length_bytes - 11 + d));
        v.extend([base, base + 1]);
    }
    v
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The padded tail of `n` bytes, as one byte string.
    fn padded(n: usize, word_bytes: usize, big_endian: bool) -> Vec<u8> {
        let m: Vec<u8> = (0..n).map(|i| i as u8).collect();
        let b = Blocks::new(&m, word_bytes, big_endian);
        (0..b.count()).flat_map(|i| b.block(i).to_vec()).collect()
    }

    #[test]
    fn padding_ends_each_message_with_its_bit_length_in_two_words() {
        for (word_bytes, big_endian) in [(4, false), (8, true)] {
            let block = 16 * word_bytes;
            let length_bytes = 2 * word_bytes;
            for n in 0..3 * block {
                let p = padded(n, word_bytes, big_endian);
                assert_eq!(p.len() % block, 0, "whole blocks, length {n}");
                // The fewest blocks that hold the message, 0x80 and the length.
                assert_eq!(p.len(), (n + 1 + length_bytes).div_ceil(block) * block);
                assert!(p[..n].iter().enumerate().all(|(i, &b)| b == i as u8));
                assert_eq!(p[n], 0x80);
                let field = &p[p.len() - length_bytes..];
                assert!(p[n + 1..p.len() - length_bytes].iter().all(|&b| b == 0));
                let mut want = [0u8; 16];
                if big_endian {
                    want[16 - length_bytes..]
                        .copy_from_slice(&((n as u128) * 8).to_be_bytes()[16 - length_bytes..]);
                    assert_eq!(field, &want[16 - length_bytes..]);
                } else {
                    want[..length_bytes]
                        .copy_from_slice(&((n as u128) * 8).to_le_bytes()[..length_bytes]);
                    assert_eq!(field, &want[..length_bytes]);
                }
            }
        }
    }

    #[test]
    fn every_message_gets_its_own_digest_whatever_the_mix_of_lengths() {
        // A toy hash over 2 lanes: the state is the sum of the words and the block count,
        // so a digest that came from another message's lane would differ.
        let data: Vec<u8> = (0..1000u32).map(|i| (i * 7 + 1) as u8).collect();
        let lengths = [0usize, 300, 1, 64, 55, 56, 999, 128, 5];
        let msgs: Vec<&[u8]> = lengths.iter().map(|&n| &data[..n]).collect();
        let toy = |state: &mut [[u32; 2]; 2], words: &[[u32; 2]; 16]| {
            for l in 0..2 {
                state[0][l] = words.iter().fold(state[0][l], |s, w| s.wrapping_add(w[l]));
                state[1][l] += 1;
            }
        };
        let got = each::<u32, 2, 2, 8>(&msgs, false, [0, 0], toy);
        for (m, d) in msgs.iter().zip(&got) {
            let alone = each::<u32, 2, 2, 8>(&[m], false, [0, 0], toy);
            assert_eq!(*d, alone[0], "length {}", m.len());
            let blocks = (m.len() + 9).div_ceil(64) as u32;
            assert_eq!(d[4..], blocks.to_le_bytes(), "length {}", m.len());
        }
    }
}
