//! Splitting one list across machines: `--shard I/N` keeps part I (0-based, as Kubernetes'
//! `JOB_COMPLETION_INDEX`) of N. Every pod computes the same split from the same list, with no
//! coordination. Images of one repository stay in one part, so cross-repository mounts and
//! the blob ledger keep working inside a part; parts are balanced by image count: repositories,
//! largest first (ties by name), each go to the part holding the fewest images so far (ties to
//! the lowest index). With one image per repository the counts differ by at most one.

use std::collections::HashMap;
use std::fmt;
use std::str::FromStr;

/// Part `index` of `count`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Shard {
    pub index: usize,
    pub count: usize,
}

impl FromStr for Shard {
    type Err = String;

    fn from_str(text: &str) -> Result<Shard, String> {
        let usage = || {
            format!("{text:?}: expected I/N, part I (0 to N-1, e.g. $(JOB_COMPLETION_INDEX)) of N")
        };
        let (index, count) = text.split_once('/').ok_or_else(usage)?;
        let index: usize = index.trim().parse().map_err(|_| usage())?;
        let count: usize = count.trim().parse().map_err(|_| usage())?;
        if count == 0 || index >= count {
            return Err(format!(
                "{text}: the part must be 0 to {} (parts are counted from 0, as JOB_COMPLETION_INDEX)",
                count.saturating_sub(1)
            ));
        }
        Ok(Shard { index, count })
    }
}

impl fmt::Display for Shard {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}/{}", self.index, self.count)
    }
}

impl Shard {
    /// Which part each item falls in, `group` naming its repository.
    pub fn assign<T>(count: usize, items: &[T], group: impl Fn(&T) -> String) -> Vec<usize> {
        let keys: Vec<String> = items.iter().map(&group).collect();
        let mut sizes: HashMap<&str, usize> = HashMap::new();
        for key in &keys {
            *sizes.entry(key.as_str()).or_default() += 1;
        }
        let mut groups: Vec<(&str, usize)> = sizes.into_iter().collect();
        groups.sort_by(|a, b| b.1.cmp(&a.1).then_with(|| a.0.cmp(b.0)));
        let mut load = vec![0usize; count.max(1)];
        let mut part_of: HashMap<&str, usize> = HashMap::new();
        for (key, size) in groups {
            let lightest = (0..load.len())
                .min_by_key(|&i| (load[i], i))
                .expect("at least one part");
            load[lightest] += size;
            part_of.insert(key, lightest);
        }
        keys.iter().map(|k| part_of[k.as_str()]).collect()
    }

    /// The items of this part, in list order.
    pub fn select<T>(self, items: Vec<T>, group: impl Fn(&T) -> String) -> Vec<T> {
        let parts = Shard::assign(self.count, &items, group);
        items
            .into_iter()
            .zip(parts)
            .filter(|(_, part)| *part == self.index)
            .map(|(item, _)| item)
            .collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parts(count: usize, repos: &[&str]) -> Vec<Vec<String>> {
        (0..count)
            .map(|index| {
                Shard { index, count }
                    .select(repos.iter().map(|r| r.to_string()).collect(), |r| r.clone())
            })
            .collect()
    }

    #[test]
    fn flags_read_as_kubernetes_writes_them() {
        assert_eq!("2/3".parse(), Ok(Shard { index: 2, count: 3 }));
        assert_eq!("0/1".parse(), Ok(Shard { index: 0, count: 1 }));
        for bad in ["3/3", "1/0", "x/3", "3", "-1/3", "/3", "1/"] {
            let e = bad.parse::<Shard>().unwrap_err();
            assert!(e.contains(bad), "{e}");
        }
        assert!("3/3".parse::<Shard>().unwrap_err().contains("0 to 2"));
    }

    #[test]
    fn twelve_single_images_split_four_each() {
        let repos: Vec<String> = (0..12).map(|i| format!("r{i}")).collect();
        let refs: Vec<&str> = repos.iter().map(String::as_str).collect();
        let got = parts(3, &refs);
        assert_eq!(got.iter().map(Vec::len).collect::<Vec<_>>(), [4, 4, 4]);
    }

    #[test]
    fn a_repository_stays_in_one_part() {
        let got = parts(2, &["a", "b", "a", "c", "a", "b", "d"]);
        // a (3) to part 0, b (2) and c to part 1, then d to the lighter-or-first part 0.
        assert_eq!(got[0], ["a", "a", "a", "d"]);
        assert_eq!(got[1], ["b", "c", "b"]);
    }

    /// Random lists (seed printed, replayable with SHARD_SEED): the parts cover the list
    /// exactly once, keep repositories whole, are the same when computed again, and differ
    /// by at most the largest repository's size.
    #[test]
    fn random_lists_split_exactly_and_evenly() {
        let seed: u64 = std::env::var("SHARD_SEED")
            .ok()
            .and_then(|s| s.parse().ok())
            .unwrap_or_else(|| {
                std::time::SystemTime::now()
                    .duration_since(std::time::UNIX_EPOCH)
                    .unwrap()
                    .as_nanos() as u64
            });
        eprintln!("SHARD_SEED={seed}");
        let mut state = seed | 1;
        let mut next = |bound: u64| {
            // xorshift64: enough for shapes of lists.
            state ^= state << 13;
            state ^= state >> 7;
            state ^= state << 17;
            state % bound
        };
        for _ in 0..200 {
            let len = next(300) as usize;
            let repositories = next(60) + 1;
            let count = next(9) as usize + 1;
            let items: Vec<(usize, String)> = (0..len)
                .map(|i| (i, format!("repo{}", next(repositories))))
                .collect();
            let group = |item: &(usize, String)| item.1.clone();
            let split: Vec<Vec<(usize, String)>> = (0..count)
                .map(|index| Shard { index, count }.select(items.clone(), group))
                .collect();
            let mut seen: Vec<usize> = split.iter().flatten().map(|(i, _)| *i).collect();
            seen.sort();
            assert_eq!(seen, (0..len).collect::<Vec<_>>(), "seed {seed}");
            for (n, part) in split.iter().enumerate() {
                for (_, repo) in part {
                    let elsewhere = split
                        .iter()
                        .enumerate()
                        .any(|(m, other)| m != n && other.iter().any(|(_, r)| r == repo));
                    assert!(!elsewhere, "seed {seed}: {repo} in two parts");
                }
            }
            assert_eq!(
                Shard::assign(count, &items, group),
                Shard::assign(count, &items, group),
                "seed {seed}"
            );
            let largest = items
                .iter()
                .map(|(_, r)| items.iter().filter(|(_, s)| s == r).count())
                .max()
                .unwrap_or(0);
            let sizes: Vec<usize> = split.iter().map(Vec::len).collect();
            let (max, min) = (sizes.iter().max().unwrap(), sizes.iter().min().unwrap());
            assert!(max - min <= largest.max(1), "seed {seed}: {sizes:?}");
        }
    }
}
