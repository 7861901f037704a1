//! The `/share-image` slash-command grammar (DESIGN.md section 5): the `text` field of a verified
//! slash command becomes a typed [`SlackCommand`], or a [`CommandError`] that says exactly what
//! is wrong and is shown to the person together with [`USAGE`].
//!
//! ```text
//! /share-image <image-no> with <login-id>[,<login-id>...] [for <duration>] [because <reason...>]
//! /share-image revoke <image-no> from <login-id>[,<login-id>...] [because <reason...>]
//! /share-image set <image-no> to <login-id>[,...] [because <reason...>]
//! /share-image status <request-id> | list <image-no> | help
//! /share-image approve <request-id> | deny <request-id> [because <reason...>] | cancel <request-id>
//! ```
//!
//! Rules:
//! - Words are case-insensitive; login IDs are separated by commas, with optional spaces around
//!   the commas; duplicates are dropped keeping the first, and at most [`MAX_TARGETS`] remain.
//! - The first `because` ends the command: everything after it is the reason, verbatim apart
//!   from trimming, at most [`MAX_REASON_CHARS`] characters. So `for` must come before `because`.
//! - Slack turns an e-mail address typed in chat into `<mailto:a@b.example|a@b.example>`; that
//!   form is unwrapped to the address when both halves are equal. Any other `<...>` markup
//!   (mentions, `<!channel>`, links) is refused, so it can never be echoed into an approval card.
//! - Slack sends `&`, `<` and `>` typed by a person as `&amp;`, `&lt;` and `&gt;`; these are
//!   decoded inside login IDs (so `a&amp;b@x.example` is the login ID `a&b@x.example`) and kept
//!   as sent inside a reason, which is Slack text already.
//! - Control characters other than line breaks and tabs are refused anywhere; line breaks
//!   separate words like spaces do, and are kept inside a reason.

use crate::domain::{ImageNo, LoginId, RequestId, ShareDuration, truncate_for_display};
use std::borrow::Cow;
use std::collections::HashSet;

// The limits live in the domain so that the request form (`notify::slack::views`) keeps the same.
pub use crate::domain::{MAX_REASON_CHARS, MAX_TARGETS};
/// The longest command text we parse, in characters (50 login IDs of the longest kind fit).
pub const MAX_TEXT_CHARS: usize = 16_000;

/// The full usage text, shown by `help` and after every error.
pub const USAGE: &str = "\
Usage:
• `/share-image <image-no> with <login-id>[,<login-id>...] [for <duration>] [because <reason>]`
   share an image, e.g. `/share-image 1234567 with alice@partner.example for 7d because load test`
• `/share-image revoke <image-no> from <login-id>[,<login-id>...] [because <reason>]`
• `/share-image set <image-no> to <login-id>[,<login-id>...] [because <reason>]`
   make exactly these accounts the ones the image is shared with
• `/share-image status <request-id>`   e.g. `status SR-7K3M9Q2X`
• `/share-image list <image-no>`   who the image is shared with now
• `/share-image approve <request-id>`
• `/share-image deny <request-id> [because <reason>]`
• `/share-image cancel <request-id>`
• `/share-image help`
Image numbers are digits. Login IDs are the e-mail addresses the other NCP accounts log in with, \
separated by commas (at most 50). Durations: 30m, 24h, 7d, 2w. `for` comes before `because`, \
and everything after `because` is the reason (at most 500 characters).";

/// One parsed `/share-image` command.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum SlackCommand {
    /// Share an image with other accounts, optionally for a limited time.
    Share {
        /// The image to share.
        image: ImageNo,
        /// The accounts to share it with, without duplicates, in the order given.
        targets: Vec<LoginId>,
        /// How long the share lasts; `None` leaves it to the policy.
        duration: Option<ShareDuration>,
        /// Why, as typed after `because`.
        reason: Option<String>,
    },
    /// Stop sharing an image with some accounts.
    Revoke {
        /// The image.
        image: ImageNo,
        /// The accounts to remove.
        targets: Vec<LoginId>,
        /// Why, as typed after `because`.
        reason: Option<String>,
    },
    /// Make the image's share list exactly these accounts.
    Set {
        /// The image.
        image: ImageNo,
        /// The complete list of accounts.
        targets: Vec<LoginId>,
        /// Why, as typed after `because`.
        reason: Option<String>,
    },
    /// Show one request.
    Status(RequestId),
    /// Show who an image is shared with.
    List(ImageNo),
    /// Show the usage.
    Help,
    /// Approve a request.
    Approve(RequestId),
    /// Deny a request.
    Deny {
        /// The request.
        id: RequestId,
        /// Why, as typed after `because`.
        reason: Option<String>,
    },
    /// Withdraw one's own request.
    Cancel(RequestId),
}

/// What is wrong with a command, in words meant for the person who typed it.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{0}")]
pub struct CommandError(pub String);

impl CommandError {
    /// The whole reply: what is wrong, then the usage.
    pub fn reply(&self) -> String {
        format!("{}\n\n{USAGE}", self.0)
    }
}

fn err<T>(msg: impl Into<String>) -> Result<T, CommandError> {
    Err(CommandError(msg.into()))
}

/// A piece of user input, cut and cleaned so it is safe to quote in a reply.
fn shown(s: &str) -> String {
    truncate_for_display(s)
}

/// The words of the grammar, for typo suggestions.
const KEYWORDS: [&str; 5] = ["with", "from", "to", "for", "because"];
const VERBS: [&str; 8] = [
    "revoke", "set", "status", "list", "help", "approve", "deny", "cancel",
];

/// Parses the `text` of a `/share-image` command.
pub fn parse(text: &str) -> Result<SlackCommand, CommandError> {
    let n = text.chars().count();
    if n > MAX_TEXT_CHARS {
        return err(format!(
            "the command is too long ({n} characters, at most {MAX_TEXT_CHARS})"
        ));
    }
    if let Some(c) = text
        .chars()
        .find(|c| c.is_control() && !matches!(c, '\n' | '\r' | '\t'))
    {
        return err(format!(
            "the command contains the control character U+{:04X}; type plain text",
            c as u32
        ));
    }
    let text = unwrap_markup(text)?;
    let (words, reason) = split_reason(&text)?;
    let Some((&first, rest)) = words.split_first() else {
        return match reason {
            None => Ok(SlackCommand::Help),
            Some(_) => err("say what to do before `because`"),
        };
    };
    let verb = first.to_ascii_lowercase();
    let cmd = match verb.as_str() {
        "help" => {
            no_more(rest, "`help`")?;
            no_reason(&reason, "help")?;
            SlackCommand::Help
        }
        "status" => {
            let id = one_request_id(rest, "status")?;
            no_reason(&reason, "status")?;
            SlackCommand::Status(id)
        }
        "approve" => {
            let id = one_request_id(rest, "approve")?;
            no_reason(&reason, "approve")?;
            SlackCommand::Approve(id)
        }
        "cancel" => {
            let id = one_request_id(rest, "cancel")?;
            no_reason(&reason, "cancel")?;
            SlackCommand::Cancel(id)
        }
        "deny" => SlackCommand::Deny {
            id: one_request_id(rest, "deny")?,
            reason,
        },
        "list" => {
            let image = one_image(rest, "list")?;
            no_reason(&reason, "list")?;
            SlackCommand::List(image)
        }
        "revoke" => {
            let (image, targets) = image_keyword_targets(rest, "revoke", "from")?;
            SlackCommand::Revoke {
                image,
                targets,
                reason,
            }
        }
        "set" => {
            let (image, targets) = image_keyword_targets(rest, "set", "to")?;
            SlackCommand::Set {
                image,
                targets,
                reason,
            }
        }
        _ if first.starts_with(|c: char| c.is_ascii_digit()) => share(&words, reason)?,
        _ => {
            return match suggest(first, &VERBS) {
                Some(s) => err(format!(
                    "unknown word `{}` — did you mean `{s}`?",
                    shown(first)
                )),
                None => err(format!(
                    "unknown command `{}`: start with an image number to share it, or with one of \
                     revoke, set, status, list, approve, deny, cancel, help",
                    shown(first)
                )),
            };
        }
    };
    Ok(cmd)
}

/// `<image-no> with <targets> [for <duration>]`.
fn share(words: &[&str], reason: Option<String>) -> Result<SlackCommand, CommandError> {
    let image = ImageNo::parse(words[0]).map_err(|e| CommandError(e.0))?;
    match words.get(1) {
        None => {
            return err(format!(
                "`{image}` needs `with` and at least one login ID, like \
                 `/share-image {image} with alice@partner.example`"
            ));
        }
        Some(w) if w.eq_ignore_ascii_case("with") => {}
        Some(w) => return unexpected(w, &["with"], "the image number", "`with`"),
    }
    let (targets, used) = targets(&words[2..], "with", &["for", "because"])?;
    let rest = &words[2 + used..];
    let mut duration = None;
    let mut rest = rest.iter();
    if let Some(w) = rest.next() {
        if !w.eq_ignore_ascii_case("for") {
            return unexpected(
                w,
                &["for", "because"],
                "the login IDs",
                "`for` or `because`",
            );
        }
        let Some(d) = rest.next().filter(|d| !is_keyword(d)) else {
            return err("`for` needs a duration like 7d");
        };
        duration = Some(ShareDuration::parse(d).map_err(|e| CommandError(e.0))?);
        if let Some(w) = rest.next() {
            if w.eq_ignore_ascii_case("for") {
                return err("`for` is given twice; give one duration");
            }
            return unexpected(w, &["because"], "the duration", "`because`");
        }
    }
    Ok(SlackCommand::Share {
        image,
        targets,
        duration,
        reason,
    })
}

/// `<image-no> <keyword> <targets>` for `revoke ... from` and `set ... to`.
fn image_keyword_targets(
    rest: &[&str],
    verb: &str,
    keyword: &'static str,
) -> Result<(ImageNo, Vec<LoginId>), CommandError> {
    let Some(first) = rest.first() else {
        return err(format!(
            "`{verb}` needs an image number, like `{verb} 1234567 {keyword} alice@partner.example`"
        ));
    };
    let image = ImageNo::parse(first).map_err(|e| CommandError(e.0))?;
    match rest.get(1) {
        None => {
            return err(format!(
                "`{verb} {image}` needs `{keyword}` and at least one login ID, like \
                 `{verb} {image} {keyword} alice@partner.example`"
            ));
        }
        Some(w) if w.eq_ignore_ascii_case(keyword) => {}
        Some(w) => return unexpected(w, &[keyword], "the image number", &format!("`{keyword}`")),
    }
    let (targets, used) = targets(&rest[2..], keyword, &["because"])?;
    if let Some(w) = rest.get(2 + used) {
        if w.eq_ignore_ascii_case("for") {
            return err(format!(
                "`{verb}` takes no duration; `for` only goes with sharing"
            ));
        }
        return unexpected(w, &["because"], "the login IDs", "`because`");
    }
    Ok((image, targets))
}

/// The login IDs typed into the request form's field: separated by commas, spaces or new
/// lines; duplicates dropped keeping the first; at least one and at most [`MAX_TARGETS`].
pub fn parse_target_list(text: &str) -> Result<Vec<LoginId>, CommandError> {
    let mut ids: Vec<LoginId> = Vec::new();
    let mut seen: HashSet<String> = HashSet::new();
    for (n, part) in text
        .split(|c: char| c == ',' || c.is_whitespace())
        .filter(|p| !p.is_empty())
        .enumerate()
    {
        if n >= MAX_TARGETS * 4 {
            return err(format!("too many login IDs (at most {MAX_TARGETS})"));
        }
        let id = LoginId::parse(part).map_err(|e| CommandError(e.0))?;
        if seen.insert(id.as_str().to_owned()) {
            ids.push(id);
        }
    }
    if ids.is_empty() {
        return err("name at least one NCP login ID, like alice@partner.example");
    }
    if ids.len() > MAX_TARGETS {
        return err(format!(
            "too many login IDs (at most {MAX_TARGETS}; this names {})",
            ids.len()
        ));
    }
    Ok(ids)
}

/// Reads a comma-separated login-ID list from the front of `words`, stopping at a grammar
/// keyword; returns the IDs (deduplicated, in order) and how many words were used.
/// `next` lists the keywords that may follow the list, for typo suggestions.
fn targets(
    words: &[&str],
    after: &str,
    next: &[&'static str],
) -> Result<(Vec<LoginId>, usize), CommandError> {
    let mut ids: Vec<LoginId> = Vec::new();
    let mut seen: HashSet<String> = HashSet::new();
    let mut pieces = 0usize;
    // True at the start and right after a comma: the next word must be (or start) a login ID.
    let mut need_id = true;
    let mut used = 0;
    for &word in words {
        if is_keyword(word) {
            break;
        }
        let mut w = word;
        if !need_id {
            match w.strip_prefix(',') {
                // `a@x.example ,b@x.example` and `a@x.example , b@x.example`.
                Some(after_comma) => w = after_comma,
                None => {
                    return match suggest(w, next) {
                        Some(s) => {
                            err(format!("unknown word `{}` — did you mean `{s}`?", shown(w)))
                        }
                        None => err(format!(
                            "`{}` follows a login ID without a comma; separate login IDs with \
                             commas, like `a@x.example, b@x.example`",
                            shown(w)
                        )),
                    };
                }
            }
        }
        used += 1;
        let parts: Vec<&str> = w.split(',').collect();
        for (i, part) in parts.iter().enumerate() {
            if part.is_empty() {
                if i + 1 == parts.len() {
                    break; // a trailing comma: the list goes on in the next word
                }
                return err("a login ID is empty (two commas in a row?)");
            }
            pieces += 1;
            if pieces > MAX_TARGETS * 4 {
                // Far past the limit even with duplicates: stop parsing early.
                return err(format!("too many login IDs (at most {MAX_TARGETS})"));
            }
            let id = LoginId::parse(&decode_entities(part)).map_err(|e| CommandError(e.0))?;
            if seen.insert(id.as_str().to_owned()) {
                ids.push(id);
            }
        }
        need_id = w.is_empty() || w.ends_with(',');
    }
    if ids.is_empty() {
        return err(format!(
            "`{after}` needs at least one login ID, like `{after} alice@partner.example`"
        ));
    }
    if need_id {
        return err("a login ID is missing after the last comma");
    }
    if ids.len() > MAX_TARGETS {
        return err(format!(
            "too many login IDs (at most {MAX_TARGETS}; this command names {})",
            ids.len()
        ));
    }
    Ok((ids, used))
}

fn one_request_id(rest: &[&str], verb: &str) -> Result<RequestId, CommandError> {
    let Some(first) = rest.first() else {
        return err(format!(
            "`{verb}` needs a request id, like `{verb} SR-7K3M9Q2X`"
        ));
    };
    let id = RequestId::parse(first).map_err(|e| CommandError(e.0))?;
    no_more(&rest[1..], &format!("`{verb} {id}`"))?;
    Ok(id)
}

fn one_image(rest: &[&str], verb: &str) -> Result<ImageNo, CommandError> {
    let Some(first) = rest.first() else {
        return err(format!(
            "`{verb}` needs an image number, like `{verb} 1234567`"
        ));
    };
    let image = ImageNo::parse(first).map_err(|e| CommandError(e.0))?;
    no_more(&rest[1..], &format!("`{verb} {image}`"))?;
    Ok(image)
}

fn no_more(rest: &[&str], after: &str) -> Result<(), CommandError> {
    match rest.first() {
        None => Ok(()),
        Some(w) if w.eq_ignore_ascii_case("for") => {
            err(format!("{after} takes no duration (`for`)"))
        }
        Some(w) => unexpected(w, &["because"], after, "nothing more"),
    }
}

fn no_reason(reason: &Option<String>, verb: &str) -> Result<(), CommandError> {
    match reason {
        None => Ok(()),
        Some(_) => err(format!("`{verb}` does not take a reason (`because ...`)")),
    }
}

/// An error for a word that is not what the grammar expects at that place.
fn unexpected<T>(
    word: &str,
    candidates: &[&'static str],
    after: &str,
    expected: &str,
) -> Result<T, CommandError> {
    match suggest(word, candidates) {
        Some(s) => err(format!(
            "unknown word `{}` — did you mean `{s}`?",
            shown(word)
        )),
        None => err(format!(
            "expected {expected} after {after}, found `{}`",
            shown(word)
        )),
    }
}

fn is_keyword(word: &str) -> bool {
    KEYWORDS.iter().any(|k| word.eq_ignore_ascii_case(k))
}

/// The candidate a mistyped word most likely meant: at most one edit away (two for words of five
/// letters or more), counting a swap of neighbours as one edit. Only plain words qualify, so a
/// login ID or a number is never "corrected".
fn suggest(word: &str, candidates: &[&'static str]) -> Option<&'static str> {
    if word.len() < 2 || word.len() > 12 || !word.bytes().all(|b| b.is_ascii_alphabetic()) {
        return None;
    }
    let w = word.to_ascii_lowercase();
    candidates
        .iter()
        .map(|c| (osa_distance(&w, c), *c))
        .filter(|(d, c)| *d > 0 && *d <= if c.len() >= 5 { 2 } else { 1 })
        .min_by_key(|(d, _)| *d)
        .map(|(_, c)| c)
}

/// Optimal string alignment distance between two short ASCII words.
fn osa_distance(a: &str, b: &str) -> usize {
    let (a, b) = (a.as_bytes(), b.as_bytes());
    let mut d = vec![vec![0usize; b.len() + 1]; a.len() + 1];
    for (i, row) in d.iter_mut().enumerate() {
        row[0] = i;
    }
    d[0] = (0..=b.len()).collect();
    for i in 1..=a.len() {
        for j in 1..=b.len() {
            let cost = usize::from(a[i - 1] != b[j - 1]);
            let mut v = (d[i - 1][j] + 1)
                .min(d[i][j - 1] + 1)
                .min(d[i - 1][j - 1] + cost);
            if i > 1 && j > 1 && a[i - 1] == b[j - 2] && a[i - 2] == b[j - 1] {
                v = v.min(d[i - 2][j - 2] + 1);
            }
            d[i][j] = v;
        }
    }
    d[a.len()][b.len()]
}

/// Splits the text into words (on any white space) and the reason after the first `because`.
fn split_reason(text: &str) -> Result<(Vec<&str>, Option<String>), CommandError> {
    let mut words = Vec::new();
    let mut rest = text;
    loop {
        rest = rest.trim_start();
        if rest.is_empty() {
            return Ok((words, None));
        }
        let end = rest.find(char::is_whitespace).unwrap_or(rest.len());
        let (word, after) = rest.split_at(end);
        if word.eq_ignore_ascii_case("because") {
            let reason = after.trim();
            if reason.is_empty() {
                return err("a reason is empty; write it after `because`");
            }
            let n = reason.chars().count();
            if n > MAX_REASON_CHARS {
                return err(format!(
                    "a reason is too long ({n} characters, at most {MAX_REASON_CHARS})"
                ));
            }
            return Ok((words, Some(reason.to_owned())));
        }
        words.push(word);
        rest = after;
    }
}

/// Replaces `<mailto:a@b.example|a@b.example>` with the address and refuses any other markup.
fn unwrap_markup(text: &str) -> Result<Cow<'_, str>, CommandError> {
    if !text.contains(['<', '>']) {
        return Ok(Cow::Borrowed(text));
    }
    let mut out = String::with_capacity(text.len());
    let mut rest = text;
    while let Some(at) = rest.find(['<', '>']) {
        out.push_str(&rest[..at]);
        if rest[at..].starts_with('>') {
            return err("the command has a `>` without a matching `<`; type plain text");
        }
        let after = &rest[at + 1..];
        let Some(close) = after.find('>') else {
            return err("the command has a `<` without a matching `>`; type plain text");
        };
        let inner = &after[..close];
        if inner.contains('<') {
            return err("the command has nested `<...>` markup; type plain text");
        }
        match inner
            .strip_prefix("mailto:")
            .and_then(|m| m.split_once('|'))
        {
            Some((addr, label))
                if addr == label
                    && !addr.is_empty()
                    && !addr.contains(|c: char| c.is_whitespace() || c == '|') =>
            {
                out.push_str(addr);
            }
            Some(_) => {
                return err(format!(
                    "the e-mail link `<{}>` shows a different address than it points to; \
                     type the login ID as plain text",
                    shown(inner)
                ));
            }
            None => {
                return err(format!(
                    "Slack markup like `<{}>` (a mention, channel alert or link) is not accepted; \
                     type login IDs and reasons as plain text",
                    shown(inner)
                ));
            }
        }
        rest = &after[close + 1..];
    }
    out.push_str(rest);
    Ok(Cow::Owned(out))
}

/// Undoes Slack's escaping of `&`, `<` and `>`; `&amp;` goes last so `&amp;lt;` stays `&lt;`.
fn decode_entities(s: &str) -> Cow<'_, str> {
    if !s.contains('&') {
        return Cow::Borrowed(s);
    }
    Cow::Owned(
        s.replace("&lt;", "<")
            .replace("&gt;", ">")
            .replace("&amp;", "&"),
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_form_target_list_splits_on_commas_and_spaces() {
        let ids = parse_target_list(" a@x.example, b@x.example\nc@x.example a@x.example ").unwrap();
        let got: Vec<&str> = ids.iter().map(LoginId::as_str).collect();
        assert_eq!(got, ["a@x.example", "b@x.example", "c@x.example"]);
        assert!(
            parse_target_list(" , ")
                .unwrap_err()
                .0
                .contains("at least one")
        );
        let many = (0..=MAX_TARGETS)
            .map(|i| format!("u{i}@x.example"))
            .collect::<Vec<_>>()
            .join(",");
        assert!(parse_target_list(&many).unwrap_err().0.contains("too many"));
        assert!(parse_target_list("a@x.example <b>").is_err());
    }

    fn img(s: &str) -> ImageNo {
        ImageNo::parse(s).unwrap()
    }
    fn ids(list: &[&str]) -> Vec<LoginId> {
        list.iter().map(|s| LoginId::parse(s).unwrap()).collect()
    }
    fn rid(s: &str) -> RequestId {
        RequestId::parse(s).unwrap()
    }
    fn dur(s: &str) -> Option<ShareDuration> {
        Some(ShareDuration::parse(s).unwrap())
    }
    fn reason(s: &str) -> Option<String> {
        Some(s.to_owned())
    }
    fn share(
        image: &str,
        targets: &[&str],
        d: Option<ShareDuration>,
        r: Option<String>,
    ) -> SlackCommand {
        SlackCommand::Share {
            image: img(image),
            targets: ids(targets),
            duration: d,
            reason: r,
        }
    }

    /// Parses `input` and compares with `expected`; for an error, `expected` holds a piece of the
    /// message. Every error is also checked to be short and free of control characters.
    fn check(input: &str, expected: Result<SlackCommand, &str>) {
        let got = parse(input);
        match (&got, &expected) {
            (Ok(g), Ok(e)) => assert_eq!(g, e, "input {input:?}"),
            (Err(g), Err(e)) => {
                assert!(
                    g.0.contains(e),
                    "input {input:?}: error {:?} lacks {e:?}",
                    g.0
                );
                assert!(
                    g.0.chars().count() <= 300,
                    "input {input:?}: error too long: {:?}",
                    g.0
                );
                assert!(!g.0.chars().any(char::is_control), "{:?}", g.0);
                assert!(g.reply().ends_with(USAGE));
            }
            _ => panic!("input {input:?}: got {got:?}, expected {expected:?}"),
        }
    }

    #[test]
    fn every_form_parses() {
        check("", Ok(SlackCommand::Help));
        check("   ", Ok(SlackCommand::Help));
        check("help", Ok(SlackCommand::Help));
        check("HELP", Ok(SlackCommand::Help));
        check(
            "1234567 with alice@partner.example",
            Ok(share("1234567", &["alice@partner.example"], None, None)),
        );
        check(
            "1234567 with alice@partner.example,bob@partner.example for 7d because load test",
            Ok(share(
                "1234567",
                &["alice@partner.example", "bob@partner.example"],
                dur("7d"),
                reason("load test"),
            )),
        );
        check(
            "1234567 with a@x.example because needed for QA with them",
            Ok(share(
                "1234567",
                &["a@x.example"],
                None,
                reason("needed for QA with them"),
            )),
        );
        check(
            "1234567 with a@x.example for 1d12h",
            Ok(share("1234567", &["a@x.example"], dur("36h"), None)),
        );
        check(
            "revoke 1234567 from a@x.example, b@x.example because project over",
            Ok(SlackCommand::Revoke {
                image: img("1234567"),
                targets: ids(&["a@x.example", "b@x.example"]),
                reason: reason("project over"),
            }),
        );
        check(
            "revoke 1234567 from a@x.example",
            Ok(SlackCommand::Revoke {
                image: img("1234567"),
                targets: ids(&["a@x.example"]),
                reason: None,
            }),
        );
        check(
            "set 42 to a@x.example",
            Ok(SlackCommand::Set {
                image: img("42"),
                targets: ids(&["a@x.example"]),
                reason: None,
            }),
        );
        check(
            "status SR-7K3M9Q2X",
            Ok(SlackCommand::Status(rid("SR-7K3M9Q2X"))),
        );
        check(
            "status sr-7k3m9q2x",
            Ok(SlackCommand::Status(rid("SR-7K3M9Q2X"))),
        );
        check("list 1234567", Ok(SlackCommand::List(img("1234567"))));
        check(
            "approve 7K3M9Q2X",
            Ok(SlackCommand::Approve(rid("SR-7K3M9Q2X"))),
        );
        check(
            "cancel SR-7K3M9Q2X",
            Ok(SlackCommand::Cancel(rid("SR-7K3M9Q2X"))),
        );
        check(
            "deny SR-7K3M9Q2X",
            Ok(SlackCommand::Deny {
                id: rid("SR-7K3M9Q2X"),
                reason: None,
            }),
        );
        check(
            "deny SR-7K3M9Q2X because not a partner",
            Ok(SlackCommand::Deny {
                id: rid("SR-7K3M9Q2X"),
                reason: reason("not a partner"),
            }),
        );
    }

    #[test]
    fn words_are_case_insensitive_and_spacing_is_forgiving() {
        check(
            "  1234567   WITH  a@x.example ,  b@x.example  FOR 7d   BECAUSE   Release 2  ",
            Ok(share(
                "1234567",
                &["a@x.example", "b@x.example"],
                dur("7d"),
                reason("Release 2"),
            )),
        );
        check(
            "Revoke 1 From a@x.example,b@x.example",
            Ok(SlackCommand::Revoke {
                image: img("1"),
                targets: ids(&["a@x.example", "b@x.example"]),
                reason: None,
            }),
        );
        check(
            "1 with a@x.example,\tb@x.example",
            Ok(share("1", &["a@x.example", "b@x.example"], None, None)),
        );
    }

    #[test]
    fn duplicates_are_dropped_keeping_the_first_order() {
        check(
            "1 with b@x.example, a@x.example, b@x.example, a@x.example, c@x.example",
            Ok(share(
                "1",
                &["b@x.example", "a@x.example", "c@x.example"],
                None,
                None,
            )),
        );
        // Exactly 50 distinct IDs, plus repeats of them, is fine.
        let fifty: Vec<String> = (0..50).map(|i| format!("u{i}@x.example")).collect();
        let refs: Vec<&str> = fifty.iter().map(String::as_str).collect();
        let input = format!("1 with {}, {}", fifty.join(","), fifty.join(","));
        check(&input, Ok(share("1", &refs, None, None)));
    }

    #[test]
    fn the_reason_is_kept_verbatim_after_the_first_because() {
        check(
            "deny SR-7K3M9Q2X because  because I said so, for 7d  ",
            Ok(SlackCommand::Deny {
                id: rid("SR-7K3M9Q2X"),
                reason: reason("because I said so, for 7d"),
            }),
        );
        check(
            "1 with a@x.example because line one\nline two &amp; 100% \"quoted\"",
            Ok(share(
                "1",
                &["a@x.example"],
                None,
                reason("line one\nline two &amp; 100% \"quoted\""),
            )),
        );
        check(
            "1 with a@x.example because 배포 테스트",
            Ok(share("1", &["a@x.example"], None, reason("배포 테스트"))),
        );
        let max = "r".repeat(MAX_REASON_CHARS);
        check(
            &format!("1 with a@x.example because {max}"),
            Ok(share("1", &["a@x.example"], None, reason(&max))),
        );
    }

    #[test]
    fn awkward_login_ids_are_kept_as_data() {
        check(
            "1 with a+b@x.example, 모두@회사.한국",
            Ok(share("1", &["a+b@x.example", "모두@회사.한국"], None, None)),
        );
        // An attempt to smuggle a second wire parameter is one login ID; the NCP client
        // percent-encodes it, so it can never become `targetLoginIdList.2`.
        check(
            "1 with a@x.example&targetLoginIdList.2=evil@x",
            Ok(share(
                "1",
                &["a@x.example&targetLoginIdList.2=evil@x"],
                None,
                None,
            )),
        );
        // Slack escapes a typed `&`; it is decoded inside login IDs.
        check(
            "1 with a&amp;b@x.example",
            Ok(share("1", &["a&b@x.example"], None, None)),
        );
        check(
            "1 with a&amp;lt;b@x.example",
            Ok(share("1", &["a&lt;b@x.example"], None, None)),
        );
    }

    #[test]
    fn slack_mailto_links_are_unwrapped_when_both_halves_agree() {
        check(
            "1 with <mailto:alice@partner.example|alice@partner.example>, bob@partner.example",
            Ok(share(
                "1",
                &["alice@partner.example", "bob@partner.example"],
                None,
                None,
            )),
        );
        check(
            "revoke 1 from <mailto:a@x.example|a@x.example>,<mailto:b@x.example|b@x.example>",
            Ok(SlackCommand::Revoke {
                image: img("1"),
                targets: ids(&["a@x.example", "b@x.example"]),
                reason: None,
            }),
        );
        check(
            "1 with <mailto:evil@x.example|alice@partner.example>",
            Err("shows a different address"),
        );
        check("1 with <mailto:a@x.example>", Err("Slack markup"));
    }

    #[test]
    fn markup_and_control_characters_are_refused() {
        check("1 with <!channel>", Err("Slack markup like `<!channel>`"));
        check(
            "1 with a@x.example because <!here> look",
            Err("Slack markup like `<!here>`"),
        );
        check("1 with <@U0123ABC>", Err("Slack markup"));
        check(
            "1 with <https://evil.example|a@x.example>",
            Err("Slack markup"),
        );
        check("1 with a@x.example>", Err("`>` without a matching `<`"));
        check("1 with <a@x.example", Err("`<` without a matching `>`"));
        check("1 with <<!channel>>", Err("nested"));
        check("1 with &lt;!channel&gt;", Err("contains the character '<'"));
        check("1 with a@x.example\u{7}", Err("control character U+0007"));
        check(
            "1 with a@x.example because x\u{0}y",
            Err("control character U+0000"),
        );
        // A newline between two IDs is not a separator.
        check("1 with a@x.example\nb@x.example", Err("without a comma"));
    }

    #[test]
    fn each_error_says_what_is_wrong() {
        check(
            "12ab with a@x.example",
            Err("`12ab` is not an image number"),
        );
        check("list 12ab", Err("`12ab` is not an image number"));
        check(
            "revoke 1 frm a@x.example",
            Err("unknown word `frm` — did you mean `from`?"),
        );
        check("1 wiht a@x.example", Err("did you mean `with`?"));
        check("1 with a@x.example fro 7d", Err("did you mean `for`?"));
        check(
            "1 with a@x.example for 7d becuase x",
            Err("did you mean `because`?"),
        );
        check("revok 1 from a@x.example", Err("did you mean `revoke`?"));
        check("aprove SR-7K3M9Q2X", Err("did you mean `approve`?"));
        check("share 1 with a@x.example", Err("unknown command `share`"));
        check("1", Err("needs `with`"));
        check(
            "1 to a@x.example",
            Err("expected `with` after the image number, found `to`"),
        );
        check("1 with", Err("`with` needs at least one login ID"));
        check("1 with for 7d", Err("`with` needs at least one login ID"));
        check(
            "1 with a@x.example for",
            Err("`for` needs a duration like 7d"),
        );
        check(
            "1 with a@x.example for because x",
            Err("`for` needs a duration like 7d"),
        );
        check("1 with a@x.example for 7x", Err("`7x` is not a duration"));
        check("1 with a@x.example for 0d", Err("more than 0"));
        check(
            "1 with a@x.example for 7d for 2d",
            Err("`for` is given twice"),
        );
        check(
            "1 with a@x.example for 7d please",
            Err("expected `because` after the duration"),
        );
        check("1 with a@x.example b@x.example", Err("without a comma"));
        check(
            "1 with a@x.example,,b@x.example",
            Err("a login ID is empty"),
        );
        check("1 with a@x.example,", Err("missing after the last comma"));
        check(
            "1 with a@x.example, for 7d",
            Err("missing after the last comma"),
        );
        check("1 with a@x.example because", Err("a reason is empty"));
        check("1 with a@x.example because    ", Err("a reason is empty"));
        check(
            &format!(
                "1 with a@x.example because {}",
                "r".repeat(MAX_REASON_CHARS + 1)
            ),
            Err("a reason is too long (501 characters, at most 500)"),
        );
        check(
            "revoke 1 from a@x.example for 7d",
            Err("`revoke` takes no duration"),
        );
        check("revoke", Err("`revoke` needs an image number"));
        check("revoke 1", Err("needs `from`"));
        check(
            "set 1 a@x.example",
            Err("expected `to` after the image number"),
        );
        check("status", Err("`status` needs a request id"));
        check("status SR-7K3M9Q2", Err("is not a request id"));
        check(
            "status SR-7K3M9Q2X SR-7K3M9Q2Y",
            Err("after `status SR-7K3M9Q2X`"),
        );
        check(
            "approve SR-7K3M9Q2X because fine",
            Err("`approve` does not take a reason"),
        );
        check(
            "cancel SR-7K3M9Q2X because oops",
            Err("`cancel` does not take a reason"),
        );
        check("list 1 because x", Err("`list` does not take a reason"));
        check("list 1 for 7d", Err("takes no duration"));
        check("help me", Err("expected nothing more after `help`"));
        check("because x", Err("say what to do before `because`"));
        check("1 with lead,a b@x.example", Err("without a comma"));
    }

    #[test]
    fn too_many_login_ids_are_refused() {
        let many: Vec<String> = (0..51).map(|i| format!("u{i}@x.example")).collect();
        check(
            &format!("1 with {}", many.join(",")),
            Err("too many login IDs (at most 50"),
        );
        let huge: Vec<String> = (0..1000).map(|i| format!("u{i}@x")).collect();
        check(
            &format!("1 with {}", huge.join(",")),
            Err("too many login IDs (at most 50"),
        );
    }

    #[test]
    fn very_long_input_is_refused_early_and_quoted_briefly() {
        check(
            &"1".repeat(MAX_TEXT_CHARS + 1),
            Err("the command is too long"),
        );
        let long_word = "x".repeat(5000);
        check(&long_word, Err("unknown command"));
        check(
            &format!("1 with {long_word}@x.example"),
            Err("longer than 254"),
        );
        check(
            &format!("{}1", "9".repeat(40)),
            Err("is not an image number"),
        );
    }

    #[test]
    fn the_usage_names_every_form() {
        for word in [
            "with", "revoke", "from", "set", " to ", "status", "list", "approve", "deny", "cancel",
            "help", "for", "because",
        ] {
            assert!(USAGE.contains(word), "{word}");
        }
        assert_eq!(CommandError("x".into()).reply(), format!("x\n\n{USAGE}"));
    }

    #[test]
    fn suggestions_only_fix_small_typos_of_plain_words() {
        assert_eq!(suggest("frm", &KEYWORDS), Some("from"));
        assert_eq!(suggest("FRM", &KEYWORDS), Some("from"));
        assert_eq!(suggest("wtih", &KEYWORDS), Some("with"));
        assert_eq!(suggest("becasue", &KEYWORDS), Some("because"));
        assert_eq!(suggest("zebra", &KEYWORDS), None);
        assert_eq!(suggest("a@x", &KEYWORDS), None);
        assert_eq!(suggest("from", &KEYWORDS), None);
    }
}
