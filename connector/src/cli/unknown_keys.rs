//! Keys of `.baton.yaml` that name no flag. baton-sdk (through viper) ignores them, so a typo
//! (`scim_tokn`, `page-sise`) silently does nothing; this connector reads the file the same way
//! but warns, naming the key and the nearest flag it may have meant.
//!
//! The known keys are read from the command line's own definition (every long flag, the refused
//! ones included), so a flag added later is known here without a list to keep in step.

use clap::CommandFactory;

use crate::config::{Cli, ConfigFile};

/// Every long flag name of the command line, `-` spelled.
pub fn known_keys() -> Vec<String> {
    let mut keys: Vec<String> = Cli::command()
        .get_arguments()
        .filter_map(|a| a.get_long().map(str::to_owned))
        .filter(|k| k != "help" && k != "version")
        .collect();
    keys.sort();
    keys.dedup();
    keys
}

/// One warning line per key of `file` that names no flag, with the nearest flag name.
pub fn warnings(file: &ConfigFile) -> Vec<String> {
    let known = known_keys();
    file.keys()
        .into_iter()
        .filter(|key| !known.contains(&key.replace('_', "-")))
        .map(|key| {
            let spelled = key.replace('_', "-");
            let nearest = known.iter().min_by_key(|k| (edit_distance(&spelled, k), k.len()));
            match nearest {
                Some(n) => format!(
                    "{}: unknown key {key:?} is ignored; the nearest known key is {n:?}",
                    file.path().display()
                ),
                None => format!("{}: unknown key {key:?} is ignored", file.path().display()),
            }
        })
        .collect()
}

/// Levenshtein distance over characters: insertions, deletions and substitutions.
pub fn edit_distance(a: &str, b: &str) -> usize {
    let b: Vec<char> = b.chars().collect();
    let mut row: Vec<usize> = (0..=b.len()).collect();
    for (i, ca) in a.chars().enumerate() {
        let mut diagonal = row[0];
        row[0] = i + 1;
        for (j, cb) in b.iter().enumerate() {
            let above = row[j + 1];
            row[j + 1] = (above + 1).min(row[j] + 1).min(diagonal + usize::from(ca != *cb));
            diagonal = above;
        }
    }
    row[b.len()]
}

#[cfg(test)]
mod tests {
    use std::path::Path;

    use super::*;

    fn parse(text: &str) -> ConfigFile {
        match ConfigFile::parse(Path::new(".baton.yaml"), text) {
            Ok(f) => f,
            Err(e) => unreachable!("test yaml must parse: {e}"),
        }
    }

    #[test]
    fn distances() {
        assert_eq!(edit_distance("", "abc"), 3);
        assert_eq!(edit_distance("kitten", "sitting"), 3);
        assert_eq!(edit_distance("page-sise", "page-size"), 1);
        assert_eq!(edit_distance("same", "same"), 0);
    }

    #[test]
    fn unknown_keys_are_named_with_the_nearest_flag() {
        let f = parse("scim_tokn: x\npage-size: 5\nbase_url: http://h/scim/v2\npage-sise: 7\n");
        let w = warnings(&f);
        assert_eq!(w.len(), 2, "{w:?}");
        assert!(
            w[0].contains("\"scim_tokn\"") && w[0].contains("\"scim-token\""),
            "{w:?}"
        );
        assert!(
            w[1].contains("\"page-sise\"") && w[1].contains("\"page-size\""),
            "{w:?}"
        );
        // Known keys in either spelling, refused flags included, are not warned about.
        assert!(warnings(&parse("client-id: x\nlog_level: info\nmax-list-walks: 2\n")).is_empty());
    }
}
