//! Prefix arithmetic shared by lowering (rule tables) and set tables
//! (built at compile time and again on every run-time set update).

/// If `[lo, hi]` is exactly one prefix of a `width`-bit space, its length.
pub fn prefix_of(lo: u128, hi: u128, width: u32) -> Option<u32> {
    let span = hi.wrapping_sub(lo);
    // A prefix block has size 2^k and starts at a multiple of it.
    if span == u128::MAX {
        return (lo == 0 && width == 128).then_some(0);
    }
    let size = span + 1;
    if !size.is_power_of_two() || lo & (size - 1) != 0 {
        return None;
    }
    Some(width - size.trailing_zeros())
}

/// Splits `[lo, hi]` into the fewest prefixes (for LPM set tables).
pub fn range_to_prefixes(lo: u128, hi: u128, width: u32) -> Vec<(u128, u32)> {
    let mut out = Vec::new();
    let mut cur = lo;
    loop {
        // The largest aligned block starting at `cur` that stays within `hi`.
        let mut bits = if cur == 0 {
            width
        } else {
            cur.trailing_zeros().min(width)
        };
        while bits > 0 {
            let last = if bits >= 128 {
                u128::MAX
            } else {
                cur + ((1u128 << bits) - 1)
            };
            if last <= hi {
                break;
            }
            bits -= 1;
        }
        out.push((cur, width - bits));
        let last = if bits >= 128 {
            u128::MAX
        } else {
            cur + ((1u128 << bits) - 1)
        };
        if last >= hi {
            return out;
        }
        cur = last + 1;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn prefixes_and_ranges_split_exactly() {
        assert_eq!(prefix_of(0x0a00_0000, 0x0aff_ffff, 32), Some(8));
        assert_eq!(prefix_of(5, 5, 32), Some(32));
        assert_eq!(prefix_of(0, u128::MAX, 128), Some(0));
        assert_eq!(prefix_of(1, 2, 32), None);
        assert_eq!(range_to_prefixes(1024, 65535, 16).len(), 6);
        assert_eq!(range_to_prefixes(0, 65535, 16), vec![(0, 0)]);
        assert_eq!(range_to_prefixes(0, u128::MAX, 128), vec![(0, 0)]);
        let ps = range_to_prefixes(10, 50, 32);
        let total: u128 = ps.iter().map(|&(_, l)| 1u128 << (32 - l)).sum();
        assert_eq!(total, 41);
    }
}
