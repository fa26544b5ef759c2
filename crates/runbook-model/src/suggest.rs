//! "Did you mean": the closest known name to a misspelled one.

/// The candidate closest to `name` by edit distance, when it is close enough to be a typo
/// (at most a third of the name's length, and at least one edit allowed).
pub fn did_you_mean<'a>(
    name: &str,
    candidates: impl IntoIterator<Item = &'a str>,
) -> Option<&'a str> {
    let limit = (name.chars().count() / 3).max(1);
    candidates
        .into_iter()
        .map(|c| (strsim::damerau_levenshtein(name, c), c))
        .filter(|(d, _)| *d <= limit)
        .min_by_key(|(d, _)| *d)
        .map(|(_, c)| c)
}

#[cfg(test)]
mod tests {
    use super::did_you_mean;

    #[test]
    fn finds_typos_and_nothing_else() {
        let known = ["base_url", "service", "db_host"];
        assert_eq!(did_you_mean("bse_url", known), Some("base_url"));
        assert_eq!(did_you_mean("sevrice", known), Some("service"));
        assert_eq!(did_you_mean("db_hots", known), Some("db_host"));
        assert_eq!(did_you_mean("region", known), None);
        assert_eq!(did_you_mean("x", ["y"]), Some("y"));
        assert_eq!(did_you_mean("x", Vec::<&str>::new()), None);
    }
}
