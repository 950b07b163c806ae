//! Deterministic mutations for the bounded fuzz run: the classic byte-level moves (bit flips,
//! interesting bytes and integers, inserts, deletes, duplications, splices with other seeds,
//! truncation) plus number swaps, since most of our formats carry numbers as text. Seeded, so
//! a failure reproduces from its seed and index.

/// A small, fast, seeded generator (SplitMix64).
#[derive(Debug, Clone)]
pub struct Rng(u64);

impl Rng {
    /// A generator from `seed`.
    pub fn new(seed: u64) -> Rng {
        Rng(seed)
    }

    /// The next 64 random bits.
    pub fn next_u64(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    }

    /// A number in `0..n` (0 when `n` is 0).
    pub fn below(&mut self, n: usize) -> usize {
        if n == 0 {
            0
        } else {
            (self.next_u64() % n as u64) as usize
        }
    }
}

/// Bytes that often matter to a parser.
const BYTES: &[u8] = b"\x00\x01\x7f\x80\xff \t\r\n\"\\,;:=-+%/#@*.0129aeAZ{}[]<>";

/// Numbers as text at the edges of the integer types (and floats that are not numbers).
const NUMBERS: &[&str] = &[
    "0",
    "-0",
    "-1",
    "1",
    "00",
    "127",
    "128",
    "255",
    "256",
    "65535",
    "65536",
    "2147483647",
    "2147483648",
    "4294967295",
    "4294967296",
    "9223372036854775807",
    "9223372036854775808",
    "-9223372036854775808",
    "18446744073709551615",
    "18446744073709551616",
    "99999999999999999999999",
    "1e309",
    "-1.5",
    "NaN",
    "inf",
    "-inf",
];

/// Integers as big-endian bytes (the UDP tracker's and MP4's encoding).
const INTEGERS: &[u64] = &[
    0,
    1,
    0x7f,
    0x80,
    0xff,
    0x7fff,
    0xffff,
    0x7fff_ffff,
    0x8000_0000,
    0xffff_ffff,
    0x0417_2710_1980,
    0x7fff_ffff_ffff_ffff,
    u64::MAX,
];

/// Largest input a mutation produces.
pub const MAX_LEN: usize = 256 * 1024;

/// One to four stacked mutations of `input`; `others` are splice partners (other seeds).
pub fn mutate(rng: &mut Rng, input: &[u8], others: &[Vec<u8>]) -> Vec<u8> {
    let mut out = input.to_vec();
    for _ in 0..1 + rng.below(4) {
        mutate_once(rng, &mut out, others);
    }
    out.truncate(MAX_LEN);
    out
}

fn mutate_once(rng: &mut Rng, out: &mut Vec<u8>, others: &[Vec<u8>]) {
    let len = out.len();
    match rng.below(11) {
        0 if len > 0 => {
            let i = rng.below(len);
            out[i] ^= 1 << rng.below(8);
        }
        1 if len > 0 => {
            let i = rng.below(len);
            out[i] = rng.next_u64() as u8;
        }
        2 if len > 0 => {
            let i = rng.below(len);
            out[i] = BYTES[rng.below(BYTES.len())];
        }
        3 => {
            let at = rng.below(len + 1);
            let n = 1 + rng.below(8);
            let bytes: Vec<u8> = (0..n)
                .map(|_| {
                    if rng.below(2) == 0 {
                        BYTES[rng.below(BYTES.len())]
                    } else {
                        rng.next_u64() as u8
                    }
                })
                .collect();
            out.splice(at..at, bytes);
        }
        4 if len > 0 => {
            let at = rng.below(len);
            let n = 1 + rng.below((len - at).min(64));
            out.drain(at..at + n);
        }
        5 if len > 0 => {
            // Duplicate a chunk somewhere else (repeated fields, nested structures).
            let at = rng.below(len);
            let n = 1 + rng.below((len - at).min(256));
            let chunk = out[at..at + n].to_vec();
            let to = rng.below(len + 1);
            out.splice(to..to, chunk);
        }
        6 if !others.is_empty() => {
            let other = &others[rng.below(others.len())];
            if !other.is_empty() {
                let at = rng.below(other.len());
                let n = 1 + rng.below((other.len() - at).min(512));
                let to = rng.below(len + 1);
                let end = if rng.below(2) == 0 {
                    to
                } else {
                    (to + n).min(len)
                };
                out.splice(to..end, other[at..at + n].iter().copied());
            }
        }
        7 if len > 0 => out.truncate(rng.below(len)),
        8 => {
            // Swap a run of digits (or insert) for an edge-case number.
            let number = NUMBERS[rng.below(NUMBERS.len())].as_bytes();
            let digits: Vec<usize> = (0..len).filter(|&i| out[i].is_ascii_digit()).collect();
            if digits.is_empty() {
                let at = rng.below(len + 1);
                out.splice(at..at, number.iter().copied());
            } else {
                let start = digits[rng.below(digits.len())];
                let mut s = start;
                while s > 0 && out[s - 1].is_ascii_digit() {
                    s -= 1;
                }
                let mut e = start;
                while e < len && out[e].is_ascii_digit() {
                    e += 1;
                }
                out.splice(s..e, number.iter().copied());
            }
        }
        9 if len > 0 => {
            let width = [1usize, 2, 4, 8][rng.below(4)];
            let value = INTEGERS[rng.below(INTEGERS.len())].to_be_bytes();
            let at = rng.below(len);
            let n = width.min(len - at);
            out[at..at + n].copy_from_slice(&value[8 - width..8 - width + n]);
        }
        _ => {
            // Arithmetic on one byte (lengths, counts, tags).
            if len > 0 {
                let i = rng.below(len);
                let delta = 1 + rng.below(16) as u8;
                out[i] = if rng.below(2) == 0 {
                    out[i].wrapping_add(delta)
                } else {
                    out[i].wrapping_sub(delta)
                };
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn mutations_are_deterministic_and_bounded() {
        let seeds = vec![b"bytes=0-99".to_vec(), b"d3:cow3:mooe".to_vec()];
        let run = |seed| {
            let mut rng = Rng::new(seed);
            (0..500)
                .map(|i| mutate(&mut rng, &seeds[i % 2], &seeds))
                .collect::<Vec<_>>()
        };
        let a = run(7);
        assert_eq!(a, run(7));
        assert_ne!(a, run(8));
        assert!(a.iter().all(|m| m.len() <= MAX_LEN));
        // Not stuck on the seeds.
        assert!(a.iter().filter(|m| !seeds.contains(m)).count() > 400);
    }
}
