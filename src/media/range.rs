//! `Range: bytes=…` parsing (RFC 9110 §14): one range per request; anything we do not
//! understand is ignored, which means serving the whole file, as the RFC allows.

/// What a request asks for, given the file size.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ByteRange {
    /// The whole file (no usable `Range`).
    Full,
    /// Bytes `start..=end` (inclusive, within the file).
    Partial {
        /// First byte.
        start: u64,
        /// Last byte (inclusive).
        end: u64,
    },
    /// A syntactically valid range that selects nothing (416).
    Unsatisfiable,
}

/// Parses a `Range` header value against a file of `size` bytes.
pub fn parse_range(header: &[u8], size: u64) -> ByteRange {
    let Ok(s) = std::str::from_utf8(header) else {
        return ByteRange::Full;
    };
    let s = s.trim();
    let Some(spec) = s
        .get(..6)
        .filter(|p| p.eq_ignore_ascii_case("bytes="))
        .map(|_| s[6..].trim())
    else {
        return ByteRange::Full;
    };
    if spec.contains(',') {
        // Multiple ranges: served as a whole file rather than multipart/byteranges.
        return ByteRange::Full;
    }
    let Some((first, last)) = spec.split_once('-') else {
        return ByteRange::Full;
    };
    let (first, last) = (first.trim(), last.trim());
    let num = |t: &str| -> Option<u64> {
        if t.is_empty() || !t.bytes().all(|b| b.is_ascii_digit()) {
            None
        } else {
            t.parse().ok()
        }
    };
    match (first.is_empty(), last.is_empty()) {
        (true, true) => ByteRange::Full,
        (true, false) => match num(last) {
            None => ByteRange::Full,
            Some(0) => ByteRange::Unsatisfiable,
            Some(_) if size == 0 => ByteRange::Unsatisfiable,
            Some(n) => ByteRange::Partial {
                start: size.saturating_sub(n),
                end: size - 1,
            },
        },
        (false, true) => match num(first) {
            None => ByteRange::Full,
            Some(a) if a >= size => ByteRange::Unsatisfiable,
            Some(a) => ByteRange::Partial {
                start: a,
                end: size - 1,
            },
        },
        (false, false) => match (num(first), num(last)) {
            (Some(a), Some(b)) if a <= b => {
                if a >= size {
                    ByteRange::Unsatisfiable
                } else {
                    ByteRange::Partial {
                        start: a,
                        end: b.min(size - 1),
                    }
                }
            }
            _ => ByteRange::Full,
        },
    }
}

#[cfg(test)]
mod tests {
    use super::ByteRange::*;
    use super::*;

    #[test]
    fn forms() {
        assert_eq!(
            parse_range(b"bytes=0-99", 1000),
            Partial { start: 0, end: 99 }
        );
        assert_eq!(
            parse_range(b"bytes=500-599", 1000),
            Partial {
                start: 500,
                end: 599
            }
        );
        assert_eq!(
            parse_range(b"bytes=-100", 1000),
            Partial {
                start: 900,
                end: 999
            }
        );
        assert_eq!(
            parse_range(b"bytes=-5000", 1000),
            Partial { start: 0, end: 999 }
        );
        assert_eq!(
            parse_range(b"bytes=990-", 1000),
            Partial {
                start: 990,
                end: 999
            }
        );
        assert_eq!(
            parse_range(b"bytes=990-5000", 1000),
            Partial {
                start: 990,
                end: 999
            }
        );
        assert_eq!(
            parse_range(b"Bytes= 1-2 ", 1000),
            Partial { start: 1, end: 2 }
        );
    }

    #[test]
    fn unsatisfiable() {
        assert_eq!(parse_range(b"bytes=1000-", 1000), Unsatisfiable);
        assert_eq!(parse_range(b"bytes=1000-2000", 1000), Unsatisfiable);
        assert_eq!(parse_range(b"bytes=-0", 1000), Unsatisfiable);
        assert_eq!(parse_range(b"bytes=0-0", 0), Unsatisfiable);
        assert_eq!(parse_range(b"bytes=-1", 0), Unsatisfiable);
    }

    #[test]
    fn ignored() {
        for h in [
            &b"items=0-1"[..],
            b"bytes=5-1",
            b"bytes=0-1,5-6",
            b"bytes=a-b",
            b"bytes=-",
            b"bytes=1",
            b"bytes=+1-2",
            b"bytes=99999999999999999999999-",
            b"\xff\xfe",
            b"",
        ] {
            assert_eq!(
                parse_range(h, 1000),
                Full,
                "{:?}",
                String::from_utf8_lossy(h)
            );
        }
    }
}
