//! From TOML text to a validated [`Policy`], collecting every problem with its line.
//!
//! We walk toml's spanned document tree (`toml::de::DeTable`) by hand instead of deriving
//! `Deserialize`: serde stops at the first unknown key or wrong type, and `policy check` should
//! show everything that is wrong in one run, each problem with the line it is on.

use super::{
    Action, Defaults, Glob, Identity, ImagePattern, PersonName, Policy, PolicyError, Principal,
    Rule,
};
use crate::domain::ShareDuration;
use sha2::{Digest, Sha256};
use std::collections::{BTreeMap, HashMap};
use std::ops::Range;
use toml::Spanned;
use toml::de::{DeTable, DeValue};

type Value<'i> = Spanned<DeValue<'i>>;
type People = BTreeMap<PersonName, Vec<Identity>>;
type Accounts = HashMap<Identity, PersonName>;

const TOP_KEYS: &[&str] = &["defaults", "people", "groups", "rules"];
const DEFAULTS_KEYS: &[&str] = &["request_ttl", "allow_self_approval"];
const RULE_KEYS: &[&str] = &[
    "name",
    "images",
    "targets",
    "requesters",
    "approvers",
    "min_approvals",
    "max_duration",
    "require_reason",
    "approval_channel",
    "works_channel",
    "auto_approve",
    "allow_self_approval",
    "request_ttl",
    "actions",
];
const DEFAULT_REQUEST_TTL_SECS: u64 = 24 * 3600;

impl Policy {
    /// Validates policy text; `source_name` is what error messages call the file.
    pub fn from_toml_str(text: &str, source_name: &str) -> Result<Policy, Vec<PolicyError>> {
        let line_starts = std::iter::once(0)
            .chain(text.match_indices('\n').map(|(i, _)| i + 1))
            .collect();
        let mut loader = Loader {
            text,
            file: source_name,
            line_starts,
            errors: Vec::new(),
        };
        let policy = loader.policy();
        match policy {
            Some(p) if loader.errors.is_empty() => Ok(p),
            _ => {
                let mut errors = loader.errors;
                // Walk order groups problems by section; file order is what a reader follows.
                errors.sort_by_key(|(offset, _)| *offset);
                Err(errors.into_iter().map(|(_, e)| e).collect())
            }
        }
    }
}

struct Loader<'a> {
    text: &'a str,
    file: &'a str,
    /// Byte offset where each line starts, so that a line number is a binary search, not a
    /// scan from the top of the file (which made large policies load in quadratic time).
    line_starts: Vec<usize>,
    /// Each problem with the byte offset it was found at, so they can be sorted into file order.
    errors: Vec<(usize, PolicyError)>,
}

impl Loader<'_> {
    fn line(&self, span: &Range<usize>) -> usize {
        let at = span.start.min(self.text.len());
        // The number of line starts at or before `at` is the 1-based line number.
        self.line_starts.partition_point(|&start| start <= at)
    }

    fn err(&mut self, span: &Range<usize>, message: impl Into<String>) {
        let line = self.line(span);
        self.errors.push((
            span.start,
            PolicyError {
                file: self.file.to_owned(),
                line: Some(line),
                message: message.into(),
            },
        ));
    }

    fn policy(&mut self) -> Option<Policy> {
        let (doc, syntax) = DeTable::parse_recoverable(self.text);
        if !syntax.is_empty() {
            // A broken document is reported as the parser sees it; validating what it could
            // recover would only add confusing follow-up errors.
            for e in syntax {
                let line = e.span().map(|s| self.line(&s));
                self.errors.push((
                    e.span().map_or(0, |s| s.start),
                    PolicyError {
                        file: self.file.to_owned(),
                        line,
                        message: e.message().trim().to_owned(),
                    },
                ));
            }
            return None;
        }
        let doc = doc.get_ref();
        for (key, _) in doc.iter() {
            if !TOP_KEYS.contains(&key.get_ref().as_ref()) {
                self.err(
                    &key.span(),
                    format!(
                        "unknown top-level key {:?} (a policy has: {})",
                        key.get_ref(),
                        TOP_KEYS.join(", ")
                    ),
                );
            }
        }

        let defaults = self.defaults(doc.get("defaults"));
        let (people, accounts) = self.people(doc.get("people"));
        let groups = self.groups(doc.get("groups"), &people);
        let mut policy = Policy {
            source_name: self.file.to_owned(),
            hash: hex::encode(Sha256::digest(self.text.as_bytes())),
            defaults,
            people,
            groups,
            rules: Vec::new(),
            accounts,
        };
        policy.rules = self.rules(doc.get("rules"), &policy);
        Some(policy)
    }

    fn defaults(&mut self, value: Option<&Value>) -> Defaults {
        let mut d = Defaults {
            request_ttl: ShareDuration::from_secs(DEFAULT_REQUEST_TTL_SECS)
                .expect("24h is a valid duration"),
            allow_self_approval: false,
        };
        let Some(table) = value.and_then(|v| self.table(v, "`defaults`")) else {
            return d;
        };
        for (key, v) in table.iter() {
            match key.get_ref().as_ref() {
                "request_ttl" => {
                    if let Some(ttl) = self.duration(v, "[defaults] `request_ttl`") {
                        d.request_ttl = ttl;
                    }
                }
                "allow_self_approval" => {
                    if let Some(b) = self.boolean(v, "[defaults] `allow_self_approval`") {
                        d.allow_self_approval = b;
                    }
                }
                other => self.err(
                    &key.span(),
                    format!(
                        "[defaults]: unknown key {other:?} (defaults can have: {})",
                        DEFAULTS_KEYS.join(", ")
                    ),
                ),
            }
        }
        d
    }

    fn people(&mut self, value: Option<&Value>) -> (People, Accounts) {
        let mut people = BTreeMap::new();
        let mut accounts: HashMap<Identity, PersonName> = HashMap::new();
        let mut first_seen: HashMap<Identity, usize> = HashMap::new();
        let Some(table) = value.and_then(|v| self.table(v, "`people`")) else {
            return (people, accounts);
        };
        // The tree is sorted by key; duplicates are reported against the first in file order.
        let mut entries: Vec<_> = table.iter().collect();
        entries.sort_by_key(|(k, _)| k.span().start);
        for (key, v) in entries {
            let name = key.get_ref().as_ref();
            if let Err(e) = check_name(name) {
                self.err(&key.span(), format!("[people]: person {name:?}: {e}"));
                continue;
            }
            let person = PersonName(name.to_owned());
            let label = format!("[people]: person {name:?}");
            let Some(ids) = self.table(v, &label) else {
                continue;
            };
            if ids.is_empty() {
                self.err(&key.span(), format!("{label} has no accounts"));
            }
            let mut mine = Vec::new();
            for (system, id) in ids.iter() {
                let what = format!("{label}: `{}`", system.get_ref());
                let Some(id_str) = self.string(id, &what) else {
                    continue;
                };
                let identity = match Identity::new(system.get_ref(), id_str) {
                    Ok(i) => i,
                    Err(e) => {
                        self.err(&system.span(), format!("{label}: {e}"));
                        continue;
                    }
                };
                let line = self.line(&id.span());
                if let Some(other) = accounts.get(&identity) {
                    let msg = format!(
                        "account {identity} belongs to both {:?} (line {}) and {name:?}; \
                         one account must be one person",
                        other.as_str(),
                        first_seen[&identity]
                    );
                    self.err(&id.span(), msg);
                    continue;
                }
                first_seen.insert(identity.clone(), line);
                accounts.insert(identity.clone(), person.clone());
                mine.push(identity);
            }
            people.insert(person, mine);
        }
        (people, accounts)
    }

    fn groups(
        &mut self,
        value: Option<&Value>,
        people: &People,
    ) -> BTreeMap<String, Vec<PersonName>> {
        let mut groups = BTreeMap::new();
        let Some(table) = value.and_then(|v| self.table(v, "`groups`")) else {
            return groups;
        };
        for (key, v) in table.iter() {
            let name = key.get_ref().as_ref();
            if let Err(e) = check_name(name) {
                self.err(&key.span(), format!("[groups]: group {name:?}: {e}"));
                continue;
            }
            let label = format!("[groups]: group {name:?}");
            let Some(members) = self.string_list(v, &label) else {
                continue;
            };
            let mut known = Vec::new();
            for (member, span) in members {
                let person = PersonName(member.clone());
                if people.contains_key(&person) {
                    if !known.contains(&person) {
                        known.push(person);
                    }
                } else {
                    let hint = if member.starts_with("group:") {
                        " (groups list people, not other groups)"
                    } else {
                        ""
                    };
                    self.err(&span, format!("{label}: unknown person {member:?}{hint}"));
                }
            }
            groups.insert(name.to_owned(), known);
        }
        groups
    }

    fn rules(&mut self, value: Option<&Value>, policy: &Policy) -> Vec<Rule> {
        let Some(value) = value else {
            return Vec::new();
        };
        let Some(items) = value.get_ref().as_array() else {
            self.err(
                &value.span(),
                "`rules` must be an array of tables: write each rule under its own [[rules]]",
            );
            return Vec::new();
        };
        let mut rules = Vec::new();
        let mut names: HashMap<String, usize> = HashMap::new();
        for (i, item) in items.iter().enumerate() {
            if let Some(rule) = self.rule(i + 1, item, policy, &mut names) {
                rules.push(rule);
            }
        }
        rules
    }

    fn rule(
        &mut self,
        number: usize,
        item: &Value,
        policy: &Policy,
        names: &mut HashMap<String, usize>,
    ) -> Option<Rule> {
        let errors_before = self.errors.len();
        let table = self.table(item, &format!("rule #{number}"))?;
        let header = item.span();
        let line = self.line(&header);

        let mut label = format!("rule #{number}");
        let mut name = None;
        match table.get("name") {
            None => self.err(&header, format!("{label} has no `name`")),
            Some(v) => {
                if let Some(n) = self.string(v, &format!("{label}: `name`")) {
                    if n.trim().is_empty() {
                        self.err(&v.span(), format!("{label}: `name` cannot be empty"));
                    } else {
                        label = format!("rule {n:?}");
                        let this_line = self.line(&v.span());
                        if let Some(first) = names.get(n) {
                            let msg = format!("{label} is defined twice (first at line {first})");
                            self.err(&v.span(), msg);
                        } else {
                            names.insert(n.to_owned(), this_line);
                        }
                        name = Some(n.to_owned());
                    }
                }
            }
        }

        let mut rule = Rule {
            name: name.clone().unwrap_or_default(),
            line,
            actions: vec![Action::Share, Action::Unshare, Action::Set],
            images: Vec::new(),
            targets: Vec::new(),
            requesters: Vec::new(),
            approvers: Vec::new(),
            min_approvals: 1,
            max_duration: None,
            require_reason: false,
            approval_channel: None,
            works_channel: None,
            auto_approve: false,
            allow_self_approval: None,
            request_ttl: None,
        };
        let mut min_approvals_span = None;
        let mut approvers_span = None;
        for (key, v) in table.iter() {
            let k = key.get_ref().as_ref();
            let what = format!("{label}: `{k}`");
            match k {
                "name" => {}
                "images" => {
                    for (s, span) in self.nonempty_list(v, &what).unwrap_or_default() {
                        match ImagePattern::parse(&s) {
                            Ok(p) => rule.images.push(p),
                            Err(e) => self.err(&span, format!("{label}: {e}")),
                        }
                    }
                }
                "targets" => {
                    for (s, span) in self.nonempty_list(v, &what).unwrap_or_default() {
                        match Glob::parse(&s) {
                            Ok(g) => rule.targets.push(g),
                            Err(e) => self.err(&span, format!("{label}: target {e}")),
                        }
                    }
                }
                "requesters" | "approvers" => {
                    let mut found = Vec::new();
                    for (s, span) in self.nonempty_list(v, &what).unwrap_or_default() {
                        if let Some(p) = self.principal(&s, &span, &label, policy) {
                            found.push(p);
                        }
                    }
                    if k == "requesters" {
                        rule.requesters = found;
                    } else {
                        rule.approvers = found;
                        approvers_span = Some(v.span());
                    }
                }
                "min_approvals" => {
                    min_approvals_span = Some(v.span());
                    match v.get_ref().as_integer() {
                        Some(i) => match u32::from_str_radix(i.as_str(), i.radix()) {
                            Ok(n) if n >= 1 => rule.min_approvals = n,
                            _ => self.err(
                                &v.span(),
                                format!("{what} must be at least 1, not {}", i.as_str()),
                            ),
                        },
                        None => self.err(
                            &v.span(),
                            format!("{what} must be a whole number, not {}", a_type(v)),
                        ),
                    }
                }
                "max_duration" => rule.max_duration = self.duration(v, &what),
                "request_ttl" => rule.request_ttl = self.duration(v, &what),
                "require_reason" => rule.require_reason = self.boolean(v, &what).unwrap_or(false),
                "auto_approve" => rule.auto_approve = self.boolean(v, &what).unwrap_or(false),
                "allow_self_approval" => rule.allow_self_approval = self.boolean(v, &what),
                "approval_channel" => {
                    if let Some(c) = self.string(v, &what) {
                        if c.trim().is_empty() || c.chars().any(char::is_whitespace) {
                            self.err(
                                &v.span(),
                                format!("{what} must be a channel id like C0APPROVALS"),
                            );
                        } else {
                            rule.approval_channel = Some(c.to_owned());
                        }
                    }
                }
                "works_channel" => {
                    if let Some(c) = self.string(v, &what) {
                        if c.trim().is_empty()
                            || c.len() > 128
                            || c.chars().any(|ch| ch.is_whitespace() || ch.is_control())
                        {
                            self.err(
                                &v.span(),
                                format!(
                                    "{what} must be a NAVER WORKS channel id (the room's menu shows it as Channel ID)"
                                ),
                            );
                        } else {
                            rule.works_channel = Some(c.to_owned());
                        }
                    }
                }
                "actions" => {
                    let mut actions = Vec::new();
                    for (s, span) in self.nonempty_list(v, &what).unwrap_or_default() {
                        match s.parse::<Action>() {
                            Ok(a) if !actions.contains(&a) => actions.push(a),
                            Ok(_) => {}
                            Err(e) => self.err(&span, format!("{label}: {e}")),
                        }
                    }
                    rule.actions = actions;
                }
                other => self.err(
                    &key.span(),
                    format!(
                        "{label}: unknown key {other:?} (a rule can have: {})",
                        RULE_KEYS.join(", ")
                    ),
                ),
            }
        }

        for required in ["images", "targets", "requesters"] {
            if !table.contains_key(required) {
                self.err(&header, format!("{label} has no `{required}`"));
            }
        }
        let has_approvers = table.contains_key("approvers");
        if rule.auto_approve {
            // Approvers or a count on an auto-approved rule would suggest a check that never
            // happens; refusing the combination keeps the file honest.
            if let Some(span) = &approvers_span {
                self.err(
                    span,
                    format!("{label}: `approvers` has no effect with `auto_approve = true`; remove one of them"),
                );
            }
            if let Some(span) = &min_approvals_span {
                self.err(
                    span,
                    format!("{label}: `min_approvals` has no effect with `auto_approve = true`; remove one of them"),
                );
            }
            rule.min_approvals = 0;
        } else if !has_approvers {
            self.err(
                &header,
                format!("{label} has neither `approvers` nor `auto_approve = true`"),
            );
        } else if !rule.approvers.is_empty() {
            let distinct = policy.expand(&rule.approvers);
            if rule.min_approvals as usize > distinct.len() {
                let span = min_approvals_span.or(approvers_span).unwrap_or(header);
                let who: Vec<&str> = distinct.iter().map(PersonName::as_str).collect();
                self.err(
                    &span,
                    format!(
                        "{label}: `min_approvals` is {} but only {} can approve ({})",
                        rule.min_approvals,
                        super::people_count(distinct.len()),
                        if who.is_empty() {
                            "nobody".to_owned()
                        } else {
                            who.join(", ")
                        }
                    ),
                );
            }
        }

        (self.errors.len() == errors_before).then_some(rule)
    }

    fn principal(
        &mut self,
        s: &str,
        span: &Range<usize>,
        label: &str,
        policy: &Policy,
    ) -> Option<Principal> {
        if s == "*" {
            return Some(Principal::Anyone);
        }
        if let Some(group) = s.strip_prefix("group:") {
            if policy.groups.contains_key(group) {
                return Some(Principal::Group(group.to_owned()));
            }
            self.err(span, format!("{label}: unknown group {group:?}"));
            return None;
        }
        let person = PersonName(s.to_owned());
        if policy.people.contains_key(&person) {
            return Some(Principal::Person(person));
        }
        let hint = if s.contains(':') {
            " (name a person from [people], group:NAME, or *)"
        } else {
            ""
        };
        self.err(span, format!("{label}: unknown person {s:?}{hint}"));
        None
    }

    fn table<'v, 'i>(&mut self, v: &'v Value<'i>, what: &str) -> Option<&'v DeTable<'i>> {
        let t = v.get_ref().as_table();
        if t.is_none() {
            self.err(
                &v.span(),
                format!("{what} must be a table, not {}", a_type(v)),
            );
        }
        t
    }

    fn string<'v>(&mut self, v: &'v Value, what: &str) -> Option<&'v str> {
        let s = v.get_ref().as_str();
        if s.is_none() {
            self.err(
                &v.span(),
                format!("{what} must be a string, not {}", a_type(v)),
            );
        }
        s
    }

    fn boolean(&mut self, v: &Value, what: &str) -> Option<bool> {
        let b = v.get_ref().as_bool();
        if b.is_none() {
            self.err(
                &v.span(),
                format!("{what} must be true or false, not {}", a_type(v)),
            );
        }
        b
    }

    fn duration(&mut self, v: &Value, what: &str) -> Option<ShareDuration> {
        let s = self.string(v, what)?;
        match ShareDuration::parse(s) {
            Ok(d) => Some(d),
            Err(e) => {
                self.err(&v.span(), format!("{what}: {e}"));
                None
            }
        }
    }

    fn string_list(&mut self, v: &Value, what: &str) -> Option<Vec<(String, Range<usize>)>> {
        let Some(items) = v.get_ref().as_array() else {
            self.err(
                &v.span(),
                format!("{what} must be a list of strings, not {}", a_type(v)),
            );
            return None;
        };
        let mut out = Vec::new();
        for item in items.iter() {
            if let Some(s) = self.string(item, &format!("each entry of {what}")) {
                out.push((s.to_owned(), item.span()));
            }
        }
        Some(out)
    }

    fn nonempty_list(&mut self, v: &Value, what: &str) -> Option<Vec<(String, Range<usize>)>> {
        let list = self.string_list(v, what)?;
        if list.is_empty() && v.get_ref().as_array().is_some_and(|a| a.is_empty()) {
            self.err(&v.span(), format!("{what} cannot be empty"));
        }
        Some(list)
    }
}

/// "a string", "an integer": the TOML type of a value, for messages.
fn a_type(v: &Value) -> String {
    let t = v.get_ref().type_str();
    let article = if t.starts_with(['a', 'e', 'i', 'o', 'u']) {
        "an"
    } else {
        "a"
    };
    format!("{article} {t}")
}

/// Person and group names are plain words so that `group:` and `*` stay unambiguous.
fn check_name(name: &str) -> Result<(), String> {
    if !name.is_empty()
        && name
            .chars()
            .all(|c| c.is_alphanumeric() || matches!(c, '-' | '_' | '.'))
    {
        Ok(())
    } else {
        Err("names may use only letters, digits, `-`, `_` and `.`".into())
    }
}
