//! Statements that write (or read back) many rows at once: `… VALUES (…), (…), … …`.
//!
//! A batch goes out in statements of a few fixed sizes, largest first, so a connection's
//! statement cache holds one text per size whatever the batch, and a batch of hundreds of
//! rows is a handful of round trips to the database (on SQLite, of hand-offs to the
//! connection's thread) instead of one per row.

use std::sync::Arc;

/// Rows per statement: at most 128 × 6 bound values per statement, far under both databases'
/// limits (SQLite 32,766, PostgreSQL 65,535).
pub(super) const SIZES: [usize; 4] = [128, 32, 8, 1];

/// One statement's text for each of [`SIZES`].
pub(super) struct MultiRow {
    texts: [Arc<str>; SIZES.len()],
}

impl MultiRow {
    /// `head VALUES row, row, … tail`. In `row`, each `?` is a value of the row's own (numbered
    /// on after the placeholders the text shares, `$1` … `$k` wherever they appear: an app id,
    /// say, bound once for every row).
    pub(super) fn new(head: &str, row: &str, tail: &str) -> MultiRow {
        let shared = [head, row, tail].iter().flat_map(|text| placeholders(text)).max().unwrap_or(0);
        let own = row.matches('?').count();
        let text = |rows: usize| -> Arc<str> {
            let values: Vec<String> = (0..rows)
                .map(|number| {
                    let mut next = shared + number * own;
                    row.split('?')
                        .enumerate()
                        .map(|(part, text)| {
                            if part == 0 {
                                text.to_owned()
                            } else {
                                next += 1;
                                format!("${next}{text}")
                            }
                        })
                        .collect()
                })
                .collect();
            format!("{head} VALUES {} {tail}", values.join(", ")).trim_end().into()
        };
        MultiRow { texts: SIZES.map(text) }
    }

    /// The statement of one row.
    pub(super) fn one_row(&self) -> Arc<str> {
        self.texts[SIZES.len() - 1].clone()
    }

    /// The statements for `rows` rows, in order: each text with how many rows it takes.
    pub(super) fn split(&self, rows: usize) -> impl Iterator<Item = (Arc<str>, usize)> + '_ {
        let mut left = rows;
        SIZES.iter().zip(&self.texts).flat_map(move |(&size, text)| {
            let times = left / size;
            left %= size;
            std::iter::repeat_n((text.clone(), size), times)
        })
    }
}

/// The numbers of the `$n` placeholders in `text`.
fn placeholders(text: &str) -> impl Iterator<Item = usize> + '_ {
    text.split('$').skip(1).filter_map(|after| {
        let digits = after.find(|c: char| !c.is_ascii_digit()).unwrap_or(after.len());
        after[..digits].parse().ok()
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rows_are_numbered_after_the_shared_placeholders() {
        let statement = MultiRow::new("INSERT INTO t (a, b, c, d)", "($1, ?, ?, $2)", "ON CONFLICT DO NOTHING");
        let (text, rows) = statement.split(1).next().expect("one statement");
        assert_eq!(rows, 1);
        assert_eq!(&*text, "INSERT INTO t (a, b, c, d) VALUES ($1, $3, $4, $2) ON CONFLICT DO NOTHING");
        let (text, rows) = statement.split(8).next().expect("one statement");
        assert_eq!(rows, 8);
        assert!(text.contains("($1, $3, $4, $2), ($1, $5, $6, $2)"), "{text}");
        assert!(text.ends_with("($1, $17, $18, $2) ON CONFLICT DO NOTHING"), "{text}");
        let plain = MultiRow::new("INSERT INTO t (a)", "(?)", "");
        assert_eq!(&*plain.split(1).next().expect("one statement").0, "INSERT INTO t (a) VALUES ($1)");
        assert_eq!(&*plain.one_row(), "INSERT INTO t (a) VALUES ($1)");
    }

    #[test]
    fn a_batch_is_cut_largest_first_into_every_row() {
        let statement = MultiRow::new("INSERT INTO t (a)", "(?)", "");
        for (rows, expected) in [
            (0, vec![]),
            (1, vec![1]),
            (9, vec![8, 1]),
            (128, vec![128]),
            (341, vec![128, 128, 32, 32, 8, 8, 1, 1, 1, 1, 1]),
        ] {
            let sizes: Vec<usize> = statement.split(rows).map(|(_, size)| size).collect();
            assert_eq!(sizes, expected, "{rows} rows");
            assert_eq!(sizes.iter().sum::<usize>(), rows);
        }
    }
}
