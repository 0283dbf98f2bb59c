//! The 128-bit hash key space that shards divide. Keys are written as 32 lowercase hex digits,
//! as SLS does. The end of the key space (2^128) cannot be written in 32 digits; following SLS it
//! is written `ffffffffffffffffffffffffffffffff`, so the last shard's exclusive end is that string.

/// A half-open range `[begin, end)` of the key space, with `end == None` meaning 2^128.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct KeyRange {
    pub begin: u128,
    pub end: Option<u128>,
}

pub const KEY_HEX_DIGITS: usize = 32;

impl KeyRange {
    pub const FULL: KeyRange = KeyRange {
        begin: 0,
        end: None,
    };

    /// Splits the whole key space into `count` adjacent ranges of equal width (widths differ by
    /// at most one key), in key order.
    pub fn split_evenly(count: u32) -> Vec<KeyRange> {
        assert!(count > 0, "a key space split needs at least one range");
        if count == 1 {
            return vec![KeyRange::FULL];
        }
        let count = u128::from(count);
        // 2^128 = count * quotient + remainder, computed without overflowing u128.
        let (mut quotient, mut remainder) = (u128::MAX / count, u128::MAX % count + 1);
        if remainder == count {
            quotient += 1;
            remainder = 0;
        }
        let boundary = |i: u128| i * quotient + (i * remainder) / count;
        (0..count)
            .map(|i| KeyRange {
                begin: boundary(i),
                end: if i + 1 == count {
                    None
                } else {
                    Some(boundary(i + 1))
                },
            })
            .collect()
    }

    /// The last key inside the range (inclusive).
    pub fn last(&self) -> u128 {
        self.end.map_or(u128::MAX, |end| end - 1)
    }

    /// The number of keys in the range minus one, which always fits in a u128 (the whole key
    /// space has 2^128 keys). Orders ranges by width.
    pub fn span(&self) -> u128 {
        self.last() - self.begin
    }

    /// The key that splits the range into two halves of equal width (the left one smaller by one
    /// key when the width is odd); `None` when the range holds a single key.
    pub fn midpoint(&self) -> Option<u128> {
        let span = self.span();
        if span == 0 {
            return None;
        }
        // begin + ceil(width / 2) with width = span + 1, written so that it cannot overflow.
        Some(self.begin + span / 2 + (span & 1))
    }

    /// Splits into `[begin, key)` and `[key, end)`; `None` unless both halves are non-empty.
    pub fn split_at(&self, key: u128) -> Option<(KeyRange, KeyRange)> {
        if key <= self.begin || key > self.last() {
            return None;
        }
        Some((
            KeyRange {
                begin: self.begin,
                end: Some(key),
            },
            KeyRange {
                begin: key,
                end: self.end,
            },
        ))
    }

    /// The union of this range and the adjacent range that starts where this one ends.
    pub fn merge_with_right(&self, right: &KeyRange) -> Option<KeyRange> {
        (self.end == Some(right.begin)).then_some(KeyRange {
            begin: self.begin,
            end: right.end,
        })
    }

    pub fn begin_hex(&self) -> String {
        format!("{:032x}", self.begin)
    }

    pub fn end_hex(&self) -> String {
        match self.end {
            Some(end) => format!("{end:032x}"),
            None => "f".repeat(KEY_HEX_DIGITS),
        }
    }

    /// Reads a range back from its two hex bounds; the all-`f` end means the end of the key space.
    pub fn from_hex(begin: &str, end: &str) -> Option<KeyRange> {
        let begin = parse_key(begin)?;
        let end = if end == "f".repeat(KEY_HEX_DIGITS) {
            None
        } else {
            Some(parse_key(end)?)
        };
        Some(KeyRange { begin, end })
    }
}

/// Reads one key written as 32 lowercase hex digits (a split key, a range bound).
pub fn parse_key(text: &str) -> Option<u128> {
    if text.len() != KEY_HEX_DIGITS
        || !text
            .bytes()
            .all(|b| b.is_ascii_digit() || (b'a'..=b'f').contains(&b))
    {
        return None;
    }
    u128::from_str_radix(text, 16).ok()
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn two_shards_split_at_the_midpoint() {
        let ranges = KeyRange::split_evenly(2);
        assert_eq!(ranges[0].begin_hex(), "00000000000000000000000000000000");
        assert_eq!(ranges[0].end_hex(), "80000000000000000000000000000000");
        assert_eq!(ranges[1].begin_hex(), "80000000000000000000000000000000");
        assert_eq!(ranges[1].end_hex(), "ffffffffffffffffffffffffffffffff");
    }

    #[test]
    fn one_shard_covers_everything() {
        assert_eq!(KeyRange::split_evenly(1), vec![KeyRange::FULL]);
    }

    #[test]
    fn midpoints_split_into_equal_halves() {
        assert_eq!(KeyRange::FULL.midpoint(), Some(1 << 127));
        assert_eq!(KeyRange::FULL.span(), u128::MAX);
        let three = KeyRange {
            begin: 10,
            end: Some(13),
        };
        assert_eq!(three.midpoint(), Some(11));
        let (left, right) = three.split_at(11).unwrap();
        assert_eq!(left.merge_with_right(&right), Some(three));
        assert_eq!(right.merge_with_right(&left), None);
        let one = KeyRange {
            begin: u128::MAX,
            end: None,
        };
        assert_eq!(one.midpoint(), None);
        assert_eq!(one.split_at(u128::MAX), None);
        assert_eq!(three.split_at(10), None);
        assert_eq!(three.split_at(13), None);
    }

    proptest! {
        #[test]
        fn splits_cover_the_key_space_once_with_near_equal_widths(count in 1u32..=256) {
            let ranges = KeyRange::split_evenly(count);
            prop_assert_eq!(ranges.len(), count as usize);
            prop_assert_eq!(ranges[0].begin, 0);
            prop_assert_eq!(ranges.last().unwrap().end, None);
            for pair in ranges.windows(2) {
                prop_assert_eq!(pair[0].end, Some(pair[1].begin));
            }
            let widths: Vec<u128> = ranges.iter().map(|r| r.end.unwrap_or(0).wrapping_sub(r.begin)).collect();
            let (min, max) = (widths.iter().min().unwrap(), widths.iter().max().unwrap());
            prop_assert!(max - min <= 1);
            for range in &ranges {
                prop_assert_eq!(KeyRange::from_hex(&range.begin_hex(), &range.end_hex()), Some(*range));
            }
        }
    }
}
