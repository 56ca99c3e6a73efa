//! One escaping rule for text from outside shown on a terminal.
//!
//! Text from outside (PR titles, commit subjects, tag and remote names, servers' messages)
//! must not drive the terminal: [`terminal`] escapes control characters in everything
//! printed as text (talk, text results and error reports), and [`inline`] escapes a value
//! quoted inside a sentence, line breaks included, so it cannot forge lines either.

use std::borrow::Cow;

/// Characters that reorder or hide text on a terminal without being control characters.
fn is_bidi_control(c: char) -> bool {
    matches!(c, '\u{061c}' | '\u{200e}' | '\u{200f}' | '\u{202a}'..='\u{202e}' | '\u{2066}'..='\u{2069}')
}

/// The one escaping rule: control characters (C0 with ESC, DEL, C1 with CSI) and bidi
/// controls become `\u{..}`-style escapes (`\n`, `\t` for those), except the ones in `keep`.
fn escape<'a>(text: &'a str, keep: &[char]) -> Cow<'a, str> {
    let bad = |c: char| (c.is_control() || is_bidi_control(c)) && !keep.contains(&c);
    if !text.chars().any(bad) {
        return Cow::Borrowed(text);
    }
    let mut out = String::with_capacity(text.len() + 8);
    for c in text.chars() {
        if bad(c) {
            if c.is_control() {
                out.extend(c.escape_debug());
            } else {
                out.extend(c.escape_unicode());
            }
        } else {
            out.push(c);
        }
    }
    Cow::Owned(out)
}

/// A whole message for the terminal: lines and tabs kept, every other control escaped.
pub fn terminal(text: &str) -> Cow<'_, str> {
    escape(text, &['\n', '\t'])
}

/// A value from outside quoted inside a sentence: every control escaped, line breaks too.
pub fn inline(text: &str) -> Cow<'_, str> {
    escape(text, &[])
}

#[cfg(test)]
mod tests {
    use super::{inline, terminal};

    #[test]
    fn controls_are_escaped_and_the_rest_kept() {
        assert_eq!(inline("[minor] chat"), "[minor] chat");
        assert_eq!(inline("caf\u{e9} \u{1f680}"), "caf\u{e9} \u{1f680}");
        assert_eq!(inline("a\u{1b}]0;pwned\u{7}b"), "a\\u{1b}]0;pwned\\u{7}b");
        assert_eq!(inline("x\u{9b}31m"), "x\\u{9b}31m");
        assert_eq!(inline("one\ntwo\r"), "one\\ntwo\\r");
        assert_eq!(inline("\u{202e}gpj.exe"), "\\u{202e}gpj.exe");
        assert_eq!(inline("del\u{7f}"), "del\\u{7f}");
        assert_eq!(terminal("error: x\u{1b}[2J\n  hint: y\tz\n"), "error: x\\u{1b}[2J\n  hint: y\tz\n");
    }
}
