//! Few statement shapes for variable-length work.
//!
//! sqlx keeps up to 100 prepared statements per connection; once the cache
//! is full, it closes the oldest (`COM_STMT_CLOSE`, which has no reply) right
//! before sending the next statement. sqlx 0.9 does not set `TCP_NODELAY` on
//! its sockets (launchbadge/sqlx#4335), so on MySQL that close and the next
//! packet wait for the server's delayed ACK: about 40 ms per statement. An
//! `IN (...)` list or a multi-row `INSERT` of every possible length is a new
//! statement each time and churns the cache; these helpers keep the number
//! of shapes small (powers of two up to a maximum), so the statements stay
//! cached and prepared once per connection.

/// Splits `items` into chunks of `max` and then of decreasing powers of two:
/// at most `1 + log2(max)` distinct chunk lengths. For multi-row `INSERT`s.
pub(crate) fn shaped_chunks<T>(mut items: &[T], max: usize) -> Vec<&[T]> {
    let max = max.max(1);
    let mut out = Vec::new();
    while !items.is_empty() {
        let n = if items.len() >= max {
            max
        } else {
            1 << items.len().ilog2()
        };
        let (head, rest) = items.split_at(n);
        out.push(head);
        items = rest;
    }
    out
}

/// The values of an `IN (...)` list of at most `max` items, padded to the
/// next power of two (capped at `max`) by repeating the last one, which
/// changes nothing in an `IN` list. Empty in, empty out.
pub(crate) fn padded<T: Clone>(chunk: &[T], max: usize) -> Vec<T> {
    let mut v = chunk.to_vec();
    if let Some(last) = chunk.last() {
        let len = chunk.len().next_power_of_two().min(max.max(chunk.len()));
        v.resize(len, last.clone());
    }
    v
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn chunk_lengths_are_few() {
        let items: Vec<u32> = (0..2_731).collect();
        let lens: Vec<usize> = shaped_chunks(&items, 1_000)
            .iter()
            .map(|c| c.len())
            .collect();
        assert_eq!(lens, [1000, 1000, 512, 128, 64, 16, 8, 2, 1]);
        let rejoined: Vec<u32> = shaped_chunks(&items, 1_000).concat();
        assert_eq!(rejoined, items);
        assert!(shaped_chunks::<u32>(&[], 10).is_empty());
    }

    #[test]
    fn padding_repeats_the_last_value() {
        assert_eq!(padded(&[1, 2, 3], 1024), [1, 2, 3, 3]);
        assert_eq!(padded(&[7; 5], 6), [7; 6]);
        assert_eq!(padded(&[1], 8), [1]);
        assert!(padded::<u8>(&[], 8).is_empty());
    }
}
