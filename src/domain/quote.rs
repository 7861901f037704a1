//! Words people typed (a request's reason, a Jira issue's summary, a denial's comment), made
//! inert before any front door shows them.
//!
//! Every front door places such text in its own quoting construct (a Slack `rich_text_quote`,
//! a Jira ADF `blockquote`, NAVER WORKS quotation marks, a labelled line of `requests show`),
//! so it is visibly someone's words. [`inert`] is what makes the words themselves harmless
//! wherever they land, including a renderer that still reads markup: one line (so they can
//! never start a line that looks like ours), no mention or link any receiver acts on, no
//! control, bidirectional or invisible character, and a length cut on a character boundary.

use std::fmt;

/// What a run of line breaks is folded into: visible, so the reader sees there was a break.
pub const LINE_BREAK: &str = " ↵ ";

/// Line breaks of every kind (a run of them folds into one [`LINE_BREAK`]).
fn is_line_break(c: char) -> bool {
    matches!(
        c,
        '\n' | '\r' | '\u{0B}' | '\u{0C}' | '\u{85}' | '\u{2028}' | '\u{2029}'
    )
}

/// Characters that change how text around them is shown without being visible themselves:
/// bidirectional embeddings, overrides, isolates and marks (a right-to-left override makes
/// `exe.txt` read `txt.exe`), zero-width spaces and joiners, the byte-order mark, the soft
/// hyphen, and Unicode tag characters (invisible text). They are dropped.
fn is_invisible(c: char) -> bool {
    matches!(
        c,
        '\u{061C}'
            | '\u{00AD}'
            | '\u{180E}'
            | '\u{200B}'..='\u{200F}'
            | '\u{202A}'..='\u{202E}'
            | '\u{2060}'..='\u{2064}'
            | '\u{2066}'..='\u{2069}'
            | '\u{FEFF}'
            | '\u{E0000}'..='\u{E007F}'
    )
}

/// One word that a receiver would turn into a link: `scheme://…`, `www.…` or `mailto:…`.
fn is_link(word: &str) -> bool {
    let lower = word.to_ascii_lowercase();
    lower.contains("://") || lower.starts_with("www.") || lower.contains("mailto:")
}

/// A link shown inert ("defanged", as security reports write them): `https[:]//evil[.]example`.
fn defang(word: &str) -> String {
    word.replace("://", "[:]//")
        .replace("mailto:", "mailto[:]")
        .replace("MAILTO:", "MAILTO[:]")
        .replace('.', "[.]")
}

/// Makes `raw` inert and at most `max_chars` characters long (cut on a character boundary,
/// ending with `…` when cut):
///
/// - line breaks (every kind) fold into one visible [`LINE_BREAK`], so the text is one line;
/// - other control characters (tabs, escape sequences) become spaces, and runs of spaces one;
/// - bidirectional controls, zero-width and other invisible characters are dropped;
/// - `<` and `>` become `‹` and `›`, so Slack's `<!channel>`, `<@U…>`, `<#C…>` and
///   `<url|text>` (and any HTML) are shown, never acted on;
/// - a Jira mention `[~accountid:…]` becomes `［~accountid:…]`, and an `@` that starts a word
///   becomes `＠` (`@channel`, `@here`, `@alice`); an e-mail address keeps its `@`;
/// - links are defanged: `https://evil.example` becomes `https[:]//evil[.]example`.
///
/// Markup characters (`*`, `_`, `~`, `` ` ``) are kept: every front door places the result
/// where they are literal text (Slack rich text or plain text, ADF text nodes, NAVER WORKS
/// text), never inside mrkdwn.
pub fn inert(raw: &str, max_chars: usize) -> String {
    let mut folded = String::with_capacity(raw.len());
    let mut pending_break = false;
    let mut pending_space = false;
    let mut prev: Option<char> = None;
    let mut chars = raw.chars().peekable();
    while let Some(c) = chars.next() {
        if is_line_break(c) {
            pending_break = true;
            continue;
        }
        if is_invisible(c) {
            continue;
        }
        if c.is_control() || c.is_whitespace() {
            pending_space = true;
            continue;
        }
        let after_gap = pending_break || pending_space;
        if !folded.is_empty() {
            if pending_break {
                folded.push_str(LINE_BREAK);
            } else if pending_space {
                folded.push(' ');
            }
        }
        pending_break = false;
        pending_space = false;
        // An `@` inside a word (an e-mail address) mentions nobody; one that starts a word may.
        let word_start = after_gap
            || prev.is_none_or(|p| !(p.is_alphanumeric() || matches!(p, '.' | '_' | '-' | '+')));
        match c {
            '<' => folded.push('‹'),
            '>' => folded.push('›'),
            '[' if chars.peek() == Some(&'~') => folded.push('［'),
            '@' if word_start => folded.push('＠'),
            c => folded.push(c),
        }
        prev = Some(c);
    }
    // Links are words; a word never holds a space, so this pass cannot join two of them.
    let defanged: Vec<String> = folded
        .split(' ')
        .map(|w| if is_link(w) { defang(w) } else { w.to_owned() })
        .collect();
    cut(&defanged.join(" "), max_chars)
}

/// Cuts to at most `max` characters on a character boundary, ending with `…` when cut.
fn cut(s: &str, max: usize) -> String {
    if s.chars().count() <= max {
        return s.to_owned();
    }
    let mut out: String = s.chars().take(max.saturating_sub(1)).collect();
    out.truncate(out.trim_end().len());
    out.push('…');
    out
}

/// Text a person typed, made [`inert`]: what every front door shows inside its quote.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Quoted(String);

impl Quoted {
    /// `raw` made inert and cut to `max_chars`; `None` when nothing visible is left.
    pub fn new(raw: &str, max_chars: usize) -> Option<Self> {
        let text = inert(raw, max_chars);
        (!text.is_empty()).then_some(Self(text))
    }

    /// The inert text (one line, no markup any receiver acts on).
    pub fn as_str(&self) -> &str {
        &self.0
    }

    /// The same words cut shorter (for a front door with a tighter limit).
    pub fn shorter(&self, max_chars: usize) -> Self {
        Self(cut(&self.0, max_chars))
    }
}

impl fmt::Display for Quoted {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn line_breaks_fold_into_one_visible_mark() {
        assert_eq!(
            inert("pilot\n*Approved by alice* :white_check_mark:", 500),
            "pilot ↵ *Approved by alice* :white_check_mark:"
        );
        assert_eq!(inert("a\r\n\r\n\nb\u{2028}c\u{85}d", 100), "a ↵ b ↵ c ↵ d");
        assert_eq!(inert("\n\n  lead and trail \n", 100), "lead and trail");
        assert_eq!(inert("tab\there \u{1b}[31m red", 100), "tab here [31m red");
        assert!(!inert("x\u{0B}y\u{0C}z", 100).contains(['\u{0B}', '\u{0C}']));
    }

    #[test]
    fn mentions_and_markup_of_every_front_door_are_shown_inert() {
        assert_eq!(
            inert("<!channel> <@U0ADMIN> <#C0GENERAL> <!subteam^S1>", 200),
            "‹!channel› ‹＠U0ADMIN› ‹#C0GENERAL› ‹!subteam^S1›"
        );
        assert_eq!(
            inert("ping [~accountid:5b10ac8d82e05b22cc7d4ef5] now", 200),
            "ping ［~accountid:5b10ac8d82e05b22cc7d4ef5] now"
        );
        assert_eq!(
            inert("@channel @here hi @alice, mail bob@partner.example", 200),
            "＠channel ＠here hi ＠alice, mail bob@partner.example"
        );
        assert_eq!(inert("<b>bold</b>", 100), "‹b›bold‹/b›");
    }

    #[test]
    fn links_are_defanged() {
        assert_eq!(
            inert(
                "see <https://evil.example/x?a=1|click here> or www.evil.example",
                200
            ),
            "see ‹https[:]//evil[.]example/x?a=1|click here› or www[.]evil[.]example"
        );
        assert_eq!(inert("HTTPS://A.B", 100), "HTTPS[:]//A[.]B");
        assert_eq!(inert("mailto:x@y.example", 100), "mailto[:]x@y[.]example");
        assert_eq!(inert("version 1.2.3 is fine", 100), "version 1.2.3 is fine");
    }

    #[test]
    fn bidirectional_and_invisible_characters_are_dropped() {
        assert_eq!(inert("invoice\u{202E}fdp.exe", 100), "invoicefdp.exe");
        assert_eq!(
            inert(
                "a\u{200B}b\u{200D}c\u{FEFF}d\u{2066}e\u{2069}f\u{200F}g\u{E0041}h",
                100
            ),
            "abcdefgh"
        );
        // Right-to-left letters are words, not controls: they stay.
        assert_eq!(inert("שלום world", 100), "שלום world");
    }

    #[test]
    fn the_cut_is_on_a_character_boundary() {
        assert_eq!(inert("abcdef", 4), "abc…");
        assert_eq!(inert("한국어입니다", 3), "한국…");
        assert_eq!(inert("한국어", 3), "한국어");
        let long = "😀".repeat(1000);
        let cut = inert(&long, 10);
        assert_eq!(cut.chars().count(), 10);
        assert!(cut.ends_with('…'));
        assert_eq!(inert("", 10), "");
        assert_eq!(Quoted::new(" \n\t\u{200B} ", 10), None);
        assert_eq!(
            Quoted::new("why\nnot", 100).map(|q| q.to_string()),
            Some("why ↵ not".to_owned())
        );
    }

    #[test]
    fn inert_text_is_stable() {
        for raw in [
            "<!channel>\n*x*",
            "https://a.b",
            "@here [~accountid:1]",
            "a\u{202E}b",
        ] {
            let once = inert(raw, 100);
            assert_eq!(inert(&once, 100), once, "{raw:?}");
        }
    }
}
