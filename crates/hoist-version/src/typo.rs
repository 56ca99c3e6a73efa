//! A bracketed word in a PR title that looks like a release marker but is not one
//! (`[mnior]`, `[patch:]`): the PR check refuses it, so a typo is fixed before the merge
//! instead of silently meaning "no release".

use crate::bump::{Bump, Markers};

/// A bracketed word that is close to a marker word.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NearMiss {
    /// The word as written in the title, between the brackets.
    pub written: String,
    /// The marker word it is closest to.
    pub meant: String,
    pub bump: Bump,
}

/// The longest bracketed word looked at: a title's `[...]` can hold anything.
const MAX_WORD: usize = 32;

impl Markers {
    /// The first bracketed word that is no marker but reads like one: equal to a marker
    /// word once punctuation is dropped, or one edit away (two for words of six letters or
    /// more; a swap of neighbours counts as one). Ordinary tags such as `[wip]` or `[docs]`
    /// are too far from every marker word to count.
    ///
    /// ```
    /// use hoist_version::{Bump, Markers};
    ///
    /// let m = Markers::default();
    /// let miss = m.near_miss("[mnior] add chat").unwrap();
    /// assert_eq!((miss.written.as_str(), miss.meant.as_str(), miss.bump), ("mnior", "minor", Bump::Minor));
    /// assert_eq!(m.near_miss("[minor] add chat"), None);
    /// assert_eq!(m.near_miss("[wip] add chat"), None);
    /// ```
    pub fn near_miss(&self, title: &str) -> Option<NearMiss> {
        let mut rest = title;
        while let Some(open) = rest.find('[') {
            let after = &rest[open + 1..];
            let close = after.find(']')?;
            let word = after[..close].trim();
            rest = &after[close + 1..];
            if word.is_empty()
                || word.chars().count() > MAX_WORD
                || self.find(&format!("[{word}]")).ok().flatten().is_some()
            {
                continue;
            }
            if let Some((meant, bump)) = self.closest(word) {
                return Some(NearMiss { written: word.to_string(), meant, bump });
            }
        }
        None
    }

    fn closest(&self, word: &str) -> Option<(String, Bump)> {
        let lower = word.to_lowercase();
        let letters: String = lower.chars().filter(|c| c.is_alphanumeric()).collect();
        let words = [(Bump::Major, &self.major), (Bump::Minor, &self.minor), (Bump::Patch, &self.patch)];
        let mut best: Option<(usize, String, Bump)> = None;
        for (bump, list) in words {
            for marker in list.iter() {
                let m = marker.to_lowercase();
                let distance = if letters == m { 0 } else { strsim::damerau_levenshtein(&lower, &m) };
                let allowed = if m.chars().count() >= 6 { 2 } else { 1 };
                if distance <= allowed && best.as_ref().is_none_or(|(d, _, _)| distance < *d) {
                    best = Some((distance, marker.clone(), bump));
                }
            }
        }
        best.map(|(_, meant, bump)| (meant, bump))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn near_miss_table() {
        let m = Markers::default();
        // (title, Some((written, meant)) or None)
        let cases: &[(&str, Option<(&str, &str)>)] = &[
            ("[mnior] add chat", Some(("mnior", "minor"))),
            ("[minro] add chat", Some(("minro", "minor"))),
            ("[MINR] add chat", Some(("MINR", "minor"))),
            ("[pacth] fix", Some(("pacth", "patch"))),
            ("[patch:] fix", Some(("patch:", "patch"))),
            ("[#major] new API", Some(("#major", "major"))),
            ("[majr] new API", Some(("majr", "major"))),
            ("[minor] add chat", None),
            ("[Minor] add chat", None),
            ("add chat", None),
            ("[wip] add chat", None),
            ("[docs] readme", None),
            ("[WIP][minor] chat", None),
            ("[ci] fix", None),
            ("[mi", None),
            ("$(rm -rf /) [pach] `id`", Some(("pach", "patch"))),
            ("[] empty", None),
        ];
        for (title, want) in cases {
            let got = m.near_miss(title).map(|n| (n.written, n.meant));
            let want = want.map(|(w, m)| (w.to_string(), m.to_string()));
            assert_eq!(got, want, "{title}");
        }
    }

    #[test]
    fn custom_words_are_the_reference() {
        let m = Markers { major: vec!["breaking".into()], minor: vec!["feature".into()], patch: vec!["fix".into()] };
        assert_eq!(m.near_miss("[featrue] chat").map(|n| n.meant), Some("feature".into()));
        assert_eq!(m.near_miss("[breakng] api").map(|n| n.bump), Some(Bump::Major));
        // "minor" is no word of this project: it is just text.
        assert_eq!(m.near_miss("[minor] chat"), None);
        assert_eq!(
            m.near_miss("[fxi] bug"),
            Some(NearMiss { written: "fxi".into(), meant: "fix".into(), bump: Bump::Patch })
        );
    }
}
