//! `--shard I/N`: one slice of a suite, so that a CI system's parallel jobs (a GitHub Actions
//! matrix, GitLab's `parallel:`) split it across machines. Case k (0-based, in manifest order)
//! belongs to shard `k mod N + 1`: every case is in exactly one shard, and shard sizes differ
//! by at most one.

use std::fmt;
use std::str::FromStr;

use serde::Serialize;

use crate::error::Error;

/// Slice `index` (1-based) of `count`.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
pub struct Shard {
    pub index: usize,
    pub count: usize,
}

impl Shard {
    /// The whole suite.
    pub const ALL: Shard = Shard { index: 1, count: 1 };

    /// Whether the case at `position` (0-based, in manifest order) is in this shard.
    pub fn contains(&self, position: usize) -> bool {
        position % self.count == self.index - 1
    }

    /// The items of this shard, in their order.
    pub fn select<T>(&self, items: impl IntoIterator<Item = T>) -> Vec<T> {
        items
            .into_iter()
            .enumerate()
            .filter(|(k, _)| self.contains(*k))
            .map(|(_, item)| item)
            .collect()
    }
}

impl fmt::Display for Shard {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}/{}", self.index, self.count)
    }
}

impl FromStr for Shard {
    type Err = Error;

    fn from_str(text: &str) -> Result<Shard, Error> {
        let bad = || {
            Error::Usage(format!(
                "--shard '{text}' is not I/N with 1 ≤ I ≤ N (for example --shard 2/4: the second of four slices)"
            ))
        };
        let (i, n) = text.split_once('/').ok_or_else(bad)?;
        let index: usize = i.trim().parse().map_err(|_| bad())?;
        let count: usize = n.trim().parse().map_err(|_| bad())?;
        if count == 0 || index == 0 || index > count {
            return Err(bad());
        }
        Ok(Shard { index, count })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn shards_are_disjoint_complete_and_balanced() {
        for total in [0, 1, 5, 17, 52] {
            for count in 1..=7 {
                let mut seen = vec![0; total];
                let mut sizes = Vec::new();
                for index in 1..=count {
                    let part = Shard { index, count }.select(0..total);
                    sizes.push(part.len());
                    for k in part {
                        seen[k] += 1;
                    }
                }
                assert!(seen.iter().all(|&n| n == 1), "{total} in {count}: {seen:?}");
                let (min, max) = (sizes.iter().min(), sizes.iter().max());
                assert!(max.unwrap() - min.unwrap() <= 1, "{sizes:?}");
            }
        }
    }

    #[test]
    fn parses_i_of_n() {
        assert_eq!(
            "2/4".parse::<Shard>().unwrap(),
            Shard { index: 2, count: 4 }
        );
        assert_eq!(" 1 / 1 ".parse::<Shard>().unwrap(), Shard::ALL);
        for bad in ["0/3", "4/3", "1/0", "2", "a/b", "-1/2", ""] {
            assert!(bad.parse::<Shard>().is_err(), "{bad}");
        }
    }
}
