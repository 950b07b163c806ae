//! Bencoding (BEP 3): plain values, an encoder, and a strict, bounded decoder. Used for the
//! `.torrent` files (`media/torrent.rs`) and the HTTP tracker's responses
//! (`tracker/protocol/http.rs`).

use std::collections::BTreeMap;

/// A bencoded value. Dictionary keys are byte strings, kept sorted as BEP 3 requires.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Value {
    /// `i<n>e`
    Int(i64),
    /// `<len>:<bytes>`
    Bytes(Vec<u8>),
    /// `l…e`
    List(Vec<Value>),
    /// `d…e`
    Dict(BTreeMap<Vec<u8>, Value>),
}

/// Why bytes are not valid bencode.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("invalid bencode at byte {offset}: {message}")]
pub struct DecodeError {
    /// Where.
    pub offset: usize,
    /// What.
    pub message: &'static str,
}

/// Deepest nesting the decoder accepts (input from the network must not blow the stack).
const MAX_DEPTH: usize = 64;

impl Value {
    /// A byte string from text.
    pub fn str(s: &str) -> Value {
        Value::Bytes(s.as_bytes().to_vec())
    }

    /// A dictionary from `(key, value)` pairs.
    pub fn dict<I: IntoIterator<Item = (&'static str, Value)>>(pairs: I) -> Value {
        Value::Dict(
            pairs
                .into_iter()
                .map(|(k, v)| (k.as_bytes().to_vec(), v))
                .collect(),
        )
    }

    /// Looks a key up in a dictionary.
    pub fn get(&self, key: &str) -> Option<&Value> {
        match self {
            Value::Dict(d) => d.get(key.as_bytes()),
            _ => None,
        }
    }

    /// The encoding.
    pub fn encode(&self) -> Vec<u8> {
        let mut out = Vec::new();
        self.encode_into(&mut out);
        out
    }

    /// Appends the encoding to `out`.
    pub fn encode_into(&self, out: &mut Vec<u8>) {
        match self {
            Value::Int(n) => {
                out.push(b'i');
                out.extend_from_slice(n.to_string().as_bytes());
                out.push(b'e');
            }
            Value::Bytes(b) => {
                out.extend_from_slice(b.len().to_string().as_bytes());
                out.push(b':');
                out.extend_from_slice(b);
            }
            Value::List(l) => {
                out.push(b'l');
                for v in l {
                    v.encode_into(out);
                }
                out.push(b'e');
            }
            Value::Dict(d) => {
                out.push(b'd');
                for (k, v) in d {
                    Value::Bytes(k.clone()).encode_into(out);
                    v.encode_into(out);
                }
                out.push(b'e');
            }
        }
    }

    /// Decodes exactly one value spanning all of `input`.
    pub fn decode(input: &[u8]) -> Result<Value, DecodeError> {
        let (v, end) = decode_at(input, 0, 0)?;
        if end != input.len() {
            return Err(DecodeError {
                offset: end,
                message: "trailing bytes",
            });
        }
        Ok(v)
    }

    /// Decodes one value at the start of `input`; returns it and the bytes it spans (used to
    /// hash the raw `info` dictionary of a torrent).
    pub fn decode_prefix(input: &[u8]) -> Result<(Value, usize), DecodeError> {
        decode_at(input, 0, 0)
    }
}

fn decode_at(input: &[u8], pos: usize, depth: usize) -> Result<(Value, usize), DecodeError> {
    let err = |offset, message| DecodeError { offset, message };
    if depth > MAX_DEPTH {
        return Err(err(pos, "nested too deeply"));
    }
    match input.get(pos) {
        None => Err(err(pos, "unexpected end")),
        Some(b'i') => {
            let end = find(input, pos + 1, b'e').ok_or(err(pos, "unterminated integer"))?;
            let digits =
                std::str::from_utf8(&input[pos + 1..end]).map_err(|_| err(pos, "bad integer"))?;
            let leading_zero =
                (digits.starts_with('0') && digits.len() > 1) || digits.starts_with("-0");
            // Only `-?[0-9]+`: `str::parse` would also take a `+` sign.
            let magnitude = digits.strip_prefix('-').unwrap_or(digits);
            let only_digits =
                !magnitude.is_empty() && magnitude.bytes().all(|b| b.is_ascii_digit());
            let canonical = only_digits && !leading_zero;
            if !canonical {
                return Err(err(pos, "non-canonical integer"));
            }
            let n = digits.parse::<i64>().map_err(|_| err(pos, "bad integer"))?;
            Ok((Value::Int(n), end + 1))
        }
        Some(b'l') => {
            let mut items = Vec::new();
            let mut p = pos + 1;
            loop {
                match input.get(p) {
                    Some(b'e') => return Ok((Value::List(items), p + 1)),
                    None => return Err(err(p, "unterminated list")),
                    _ => {
                        let (v, next) = decode_at(input, p, depth + 1)?;
                        items.push(v);
                        p = next;
                    }
                }
            }
        }
        Some(b'd') => {
            let mut map = BTreeMap::new();
            let mut p = pos + 1;
            let mut last: Option<Vec<u8>> = None;
            loop {
                match input.get(p) {
                    Some(b'e') => return Ok((Value::Dict(map), p + 1)),
                    None => return Err(err(p, "unterminated dictionary")),
                    _ => {
                        let (k, next) = decode_at(input, p, depth + 1)?;
                        let Value::Bytes(k) = k else {
                            return Err(err(p, "dictionary key is not a string"));
                        };
                        if last.as_ref().is_some_and(|l| *l >= k) {
                            return Err(err(p, "dictionary keys not sorted or repeated"));
                        }
                        let (v, next) = decode_at(input, next, depth + 1)?;
                        last = Some(k.clone());
                        map.insert(k, v);
                        p = next;
                    }
                }
            }
        }
        Some(b'0'..=b'9') => {
            let colon = find(input, pos, b':').ok_or(err(pos, "string without ':'"))?;
            let len_text =
                std::str::from_utf8(&input[pos..colon]).map_err(|_| err(pos, "bad length"))?;
            if len_text.len() > 1 && len_text.starts_with('0') {
                return Err(err(pos, "non-canonical length"));
            }
            let len: usize = len_text.parse().map_err(|_| err(pos, "bad length"))?;
            let start = colon + 1;
            let end = start
                .checked_add(len)
                .filter(|e| *e <= input.len())
                .ok_or(err(pos, "string longer than input"))?;
            Ok((Value::Bytes(input[start..end].to_vec()), end))
        }
        Some(_) => Err(err(pos, "unexpected byte")),
    }
}

fn find(input: &[u8], from: usize, byte: u8) -> Option<usize> {
    input
        .get(from..)?
        .iter()
        .position(|b| *b == byte)
        .map(|i| from + i)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn round_trips_bep3_examples() {
        for (bytes, value) in [
            (&b"4:spam"[..], Value::str("spam")),
            (b"i3e", Value::Int(3)),
            (b"i-3e", Value::Int(-3)),
            (b"i0e", Value::Int(0)),
            (
                b"l4:spam4:eggse",
                Value::List(vec![Value::str("spam"), Value::str("eggs")]),
            ),
            (
                b"d3:cow3:moo4:spam4:eggse",
                Value::dict([("cow", Value::str("moo")), ("spam", Value::str("eggs"))]),
            ),
            (b"0:", Value::Bytes(vec![])),
        ] {
            assert_eq!(Value::decode(bytes).unwrap(), value);
            assert_eq!(value.encode(), bytes);
        }
    }

    #[test]
    fn refuses_malformed_input() {
        for bad in [
            &b""[..],
            b"i",
            b"i-0e",
            b"i03e",
            b"ie",
            b"5:abc",
            b"l",
            b"d3:cow",
            b"d1:b1:x1:a1:ye",
            b"di1e1:xe",
            b"x",
            b"4:spamextra",
            b"01:a",
            b"99999999999999999999999:x",
            // `str::parse` takes a sign; bencode does not (found by fuzzing).
            b"i+20e",
            b"i+0e",
            b"i-e",
            b"i--1e",
        ] {
            assert!(
                Value::decode(bad).is_err(),
                "{:?}",
                String::from_utf8_lossy(bad)
            );
        }
        let deep = vec![b'l'; 10_000];
        assert!(Value::decode(&deep).is_err());
    }
}
