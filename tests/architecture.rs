//! The layering ARCHITECTURE.md promises, checked on the source text (run by `cargo test`, so CI
//! runs it): (a) the top-level modules of `src/` import each other without a cycle and only
//! downwards in `LAYERS`; (b) the pure core (`domain`, `policy`, `verify`, `audit`) names no I/O
//! crate or module. Both read `crate::…` and `std::…` paths, grouped `use` trees included, after
//! comments and literals are stripped. Each check has a negative test on an in-memory input.

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};

/// The layer table (ARCHITECTURE.md, "Layers"): a module may import only modules of a lower
/// layer. Lowest first.
const LAYERS: &[(&str, &[&str])] = &[
    (
        "domain: validated values, the types the ports speak, the clock",
        &["domain", "clock", "choice"],
    ),
    (
        "pure core: the policy and the signature schemes",
        &["policy", "verify"],
    ),
    ("pure core: the ledger", &["audit"]),
    (
        "telemetry: logs and the metrics catalogue, recorded from every layer above",
        &["telemetry"],
    ),
    (
        "orchestration: the use cases, the worker, the outbox; the ports that speak the ledger",
        &["workflow"],
    ),
    ("shared AWS SDK configuration", &["aws"]),
    (
        "adapters",
        &[
            "store",
            "ncp",
            "notify",
            "secrets",
            "queue",
            "publish",
            "policy_source",
        ],
    ),
    ("HTTP front", &["http"]),
    (
        "configuration (embeds the adapters' and fronts' settings)",
        &["config"],
    ),
    ("wiring", &["startup"]),
    ("Lambda functions", &["functions"]),
    ("command line", &["cli"]),
];

/// Modules that must do no I/O, and what counts as I/O in them.
const PURE: &[&str] = &["domain", "policy", "verify", "audit"];
const IO_CRATES: &[&str] = &[
    "tokio",
    "reqwest",
    "hyper",
    "rusqlite",
    "aws_config",
    "lambda_http",
];
const IO_CRATE_PREFIXES: &[&str] = &["aws_sdk_", "aws_smithy", "tokio_"];
const IO_STD: &[&str] = &[
    "std::fs",
    "std::net",
    "std::process",
    "std::env",
    "std::os",
    "std::io::stdin",
    "std::io::stdout",
    "std::io::stderr",
];
const IO_MACROS: &[&str] = &["println", "eprintln", "print", "eprint", "dbg"];

#[test]
fn top_level_modules_form_no_cycle_and_respect_the_layers() {
    let graph = graph_of(&source_files());
    let mut failures = Vec::new();
    if let Some(cycle) = find_cycle(&graph) {
        failures.push(format!("import cycle: {}", cycle.join(" -> ")));
    }
    failures.extend(layer_violations(&graph));
    assert!(
        failures.is_empty(),
        "{}\n\ngraph: {graph:#?}",
        failures.join("\n")
    );
}

#[test]
fn every_module_has_a_layer() {
    let graph = graph_of(&source_files());
    let unplaced: Vec<_> = graph.keys().filter(|m| layer_of(m).is_none()).collect();
    assert!(
        unplaced.is_empty(),
        "modules missing from LAYERS: {unplaced:?}"
    );
}

#[test]
fn the_pure_core_does_no_io() {
    let mut failures = Vec::new();
    for (path, module, text) in source_files() {
        // Test modules kept in their own files (`policy/tests/`) may read fixtures.
        let test_file = path.components().any(|c| c.as_os_str() == "tests")
            || path.file_name().is_some_and(|n| n == "tests.rs");
        if PURE.contains(&module.as_str()) && !test_file {
            for found in io_mentions(&text) {
                failures.push(format!("{}: {found}", path.display()));
            }
        }
    }
    assert!(
        failures.is_empty(),
        "I/O in the pure core:\n{}",
        failures.join("\n")
    );
}

#[test]
fn the_cycle_check_can_fail() {
    let files = vec![
        file("src/domain/mod.rs", "use crate::policy::Action;"),
        file("src/policy/mod.rs", "use crate::{domain::ImageNo, clock};"),
        file("src/verify/mod.rs", "fn f() { crate::domain::x(); }"),
        file(
            "src/store/mod.rs",
            "// use crate::cli;\nconst S: &str = \"crate::cli\";",
        ),
    ];
    let graph = graph_of(&files);
    assert_eq!(
        graph["store"],
        BTreeSet::new(),
        "comments and strings are not imports"
    );
    let cycle = find_cycle(&graph).expect("domain -> policy -> domain is a cycle");
    assert_eq!(cycle.first(), cycle.last());
    assert!(cycle.contains(&"domain".to_string()) && cycle.contains(&"policy".to_string()));
    let violations = layer_violations(&graph);
    assert_eq!(violations.len(), 1, "{violations:?}");
    assert!(violations[0].contains("domain -> policy"), "{violations:?}");

    let acyclic = graph_of(&[file(
        "src/workflow/mod.rs",
        "use crate::{clock::Clock, domain};",
    )]);
    assert_eq!(find_cycle(&acyclic), None);
    assert!(layer_violations(&acyclic).is_empty());
}

#[test]
fn the_io_check_can_fail() {
    let text = strip(
        "use std::{collections::HashMap, fs};\n\
         fn f() -> Vec<u8> { std::fs::read(\"p\").unwrap() }\n\
         async fn g() { tokio::time::sleep(d).await; let c = reqwest::Client::new(); }\n\
         use std::io::{self, stdin};\n\
         fn h() { println!(\"x\"); let _ = 'a'; let s: &'static str = \"std::net\"; }\n\
         use aws_sdk_s3::Client;\n\
         #[cfg(test)]\nmod tests { fn t() { std::fs::write(\"x\", b\"y\").unwrap(); } }\n",
    );
    let found = io_mentions(&text);
    for expected in [
        "std::fs",
        "std::fs::read",
        "tokio",
        "reqwest",
        "std::io::stdin",
        "println!",
        "aws_sdk_s3",
    ] {
        assert!(
            found.iter().any(|f| f == expected),
            "{expected} not found in {found:?}"
        );
    }
    assert!(
        !found
            .iter()
            .any(|f| f.contains("net") || f == "std::fs::write"),
        "{found:?}"
    );
    assert!(io_mentions(&strip("use std::collections::HashMap; fn f(x: &'a str) {}")).is_empty());
}

/// No span guard anywhere: a guard held across an `.await` attaches the wrong context to
/// every line logged meanwhile (the tracing documentation's warning), so spans are attached
/// with `Instrument::instrument` or `Span::in_scope`, and the rule is simply no guard at all.
#[test]
fn no_span_guard_is_entered() {
    let found: Vec<String> = source_files()
        .into_iter()
        .flat_map(|(path, _, text)| {
            span_guards(&text)
                .into_iter()
                .map(move |g| format!("{}: {g}", path.display()))
        })
        .collect();
    assert!(
        found.is_empty(),
        "span guards (use Instrument::instrument or Span::in_scope): {found:?}"
    );
}

#[test]
fn the_span_guard_check_can_fail() {
    let text = strip(
        "async fn f() { let _g = span.enter(); g().await; let e = tracing::info_span!(\"x\").entered(); }\n\
         fn ok() { span.in_scope(|| ()); let enter = 1; }\n",
    );
    assert_eq!(span_guards(&text), [".enter()", ".entered()"]);
}

fn span_guards(text: &str) -> Vec<String> {
    let mut found = Vec::new();
    for guard in [".enter()", ".entered()"] {
        found.extend(text.match_indices(guard).map(|(_, g)| g.to_owned()));
    }
    found
}

/// The renderers of what people read: each states the policy's facts only through
/// `NoticeFacts` (its `policy`, `progress` and `denial`), never from the request's own fields.
const RENDERERS: &[&str] = &[
    "src/notify/slack/render.rs",
    "src/notify/slack/views.rs",
    "src/notify/jira/render.rs",
    "src/notify/works/render.rs",
    "src/workflow/outbox/callback.rs",
    "src/cli/requests.rs",
    "src/http/slack/replies.rs",
];

/// The request's fields that carry the policy's decision.
const POLICY_FIELDS: &[&str] = &[
    "min_approvals",
    "allow_self_approval",
    "approvers",
    "rule",
    "requester_person",
];

#[test]
fn renderers_state_policy_facts_only_through_notice_facts() {
    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    let mut found = Vec::new();
    for path in RENDERERS {
        let text = std::fs::read_to_string(root.join(path)).expect("read a renderer");
        for f in policy_field_reads(&strip(&text)) {
            found.push(format!("{path}: {f}"));
        }
    }
    assert!(
        found.is_empty(),
        "renderers reading the policy's decision from the request instead of NoticeFacts: {found:?}"
    );
}

#[test]
fn the_policy_field_check_can_fail() {
    let text = strip(
        "fn f(r: &ShareRequest, f: &NoticeFacts) { let n = r.min_approvals; let a = &request.approvers; \
         let ok = f.policy.min_approvals; let rule = f.policy.rule_phrase(); let p = f.request().rule; }\n\
         #[cfg(test)]\nmod tests { fn t() { r.allow_self_approval = true; } }\n",
    );
    assert_eq!(
        policy_field_reads(&text),
        ["r.min_approvals", "request().rule", "request.approvers"]
    );
}

/// `x.field` for a policy field, unless `x` is the facts' `policy` (or `progress`).
fn policy_field_reads(text: &str) -> Vec<String> {
    let mut found = Vec::new();
    for field in POLICY_FIELDS {
        let needle = format!(".{field}");
        let mut from = 0;
        while let Some(at) = text[from..].find(&needle) {
            let at = from + at;
            from = at + needle.len();
            if text[from..].chars().next().is_some_and(is_ident) {
                continue;
            }
            let before = &text[..at];
            let receiver: String = before
                .chars()
                .rev()
                .take_while(|c| is_ident(*c) || *c == '(' || *c == ')')
                .collect::<Vec<_>>()
                .into_iter()
                .rev()
                .collect();
            if matches!(receiver.as_str(), "policy" | "progress") {
                continue;
            }
            found.push(format!("{receiver}.{field}"));
        }
    }
    found.sort();
    found
}

// ---- the checker ----

type Graph = BTreeMap<String, BTreeSet<String>>;

fn file(path: &str, text: &str) -> (PathBuf, String, String) {
    let module = module_of(Path::new(path)).expect("a module file");
    (PathBuf::from(path), module, strip(text))
}

/// Every `.rs` file under `src/` with its top-level module and its stripped text.
fn source_files() -> Vec<(PathBuf, String, String)> {
    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    let mut files = Vec::new();
    let mut dirs = vec![root.join("src")];
    while let Some(dir) = dirs.pop() {
        for entry in std::fs::read_dir(&dir).expect("read src") {
            let path = entry.expect("entry").path();
            if path.is_dir() {
                dirs.push(path);
            } else if path.extension().is_some_and(|e| e == "rs") {
                let relative = path
                    .strip_prefix(root)
                    .expect("under the root")
                    .to_path_buf();
                if let Some(module) = module_of(&relative) {
                    let text = std::fs::read_to_string(&path).expect("read source");
                    files.push((relative, module, strip(&text)));
                }
            }
        }
    }
    files.sort();
    files
}

/// `src/x.rs` and `src/x/…` belong to `x`; `lib.rs` and `main.rs` to none.
fn module_of(path: &Path) -> Option<String> {
    let mut parts = path
        .components()
        .map(|c| c.as_os_str().to_string_lossy().into_owned());
    if parts.next()? != "src" {
        return None;
    }
    let first = parts.next()?;
    let name = first.strip_suffix(".rs").unwrap_or(&first).to_string();
    (name != "lib" && name != "main").then_some(name)
}

fn graph_of(files: &[(PathBuf, String, String)]) -> Graph {
    let mut graph = Graph::new();
    for (_, module, text) in files {
        let edges = graph.entry(module.clone()).or_default();
        for path in paths_from(text, "crate") {
            if let Some(target) = path.split("::").nth(1) {
                if target != module && target != "self" {
                    edges.insert(target.to_string());
                }
            }
        }
    }
    graph
}

fn layer_of(module: &str) -> Option<usize> {
    LAYERS
        .iter()
        .position(|(_, modules)| modules.contains(&module))
}

fn layer_violations(graph: &Graph) -> Vec<String> {
    let mut found = Vec::new();
    for (from, targets) in graph {
        for to in targets {
            match (layer_of(from), layer_of(to)) {
                (Some(a), Some(b)) if b < a => {}
                (Some(a), Some(b)) => found.push(format!(
                    "{from} -> {to}: `{}` may not import `{}` (same or higher layer)",
                    LAYERS[a].0, LAYERS[b].0
                )),
                _ => found.push(format!("{from} -> {to}: a module missing from LAYERS")),
            }
        }
    }
    found
}

/// A cycle as `a -> b -> … -> a`, if there is one (depth-first search, three colours).
fn find_cycle(graph: &Graph) -> Option<Vec<String>> {
    fn visit(
        node: &str,
        graph: &Graph,
        done: &mut BTreeSet<String>,
        stack: &mut Vec<String>,
    ) -> Option<Vec<String>> {
        if let Some(start) = stack.iter().position(|n| n == node) {
            let mut cycle = stack[start..].to_vec();
            cycle.push(node.to_string());
            return Some(cycle);
        }
        if done.contains(node) {
            return None;
        }
        stack.push(node.to_string());
        for next in graph.get(node).into_iter().flatten() {
            if let Some(cycle) = visit(next, graph, done, stack) {
                return Some(cycle);
            }
        }
        stack.pop();
        done.insert(node.to_string());
        None
    }
    let mut done = BTreeSet::new();
    graph
        .keys()
        .find_map(|node| visit(node, graph, &mut done, &mut Vec::new()))
}

/// What in `text` names I/O: the crates, the `std` modules (as written, so `std::fs::read` and
/// `use std::{fs}` both count) and the printing macros.
fn io_mentions(text: &str) -> Vec<String> {
    let mut found = Vec::new();
    let tokens = tokens(text);
    for (i, token) in tokens.iter().enumerate() {
        let rooted = i == 0 || (tokens[i - 1] != "::" && tokens[i - 1] != ".");
        if rooted
            && (IO_CRATES.contains(&token.as_str())
                || IO_CRATE_PREFIXES.iter().any(|p| token.starts_with(p)))
        {
            found.push(token.clone());
        }
        if IO_MACROS.contains(&token.as_str()) && tokens.get(i + 1).is_some_and(|t| t == "!") {
            found.push(format!("{token}!"));
        }
    }
    for path in paths_from(text, "std") {
        if IO_STD
            .iter()
            .any(|p| path == *p || path.starts_with(&format!("{p}::")))
        {
            found.push(path);
        }
    }
    found
}

/// Source text without comments, string and char literals (their quotes kept, so the token
/// stream stays readable), and without `#[cfg(test)]` modules: tests may touch files.
fn strip(text: &str) -> String {
    let chars: Vec<char> = text.chars().collect();
    let mut out = String::with_capacity(text.len());
    let mut i = 0;
    while i < chars.len() {
        let c = chars[i];
        let next = chars.get(i + 1).copied();
        if c == '/' && next == Some('/') {
            while i < chars.len() && chars[i] != '\n' {
                i += 1;
            }
        } else if c == '/' && next == Some('*') {
            let mut depth = 0;
            while i < chars.len() {
                if chars[i] == '/' && chars.get(i + 1) == Some(&'*') {
                    depth += 1;
                    i += 2;
                } else if chars[i] == '*' && chars.get(i + 1) == Some(&'/') {
                    depth -= 1;
                    i += 2;
                    if depth == 0 {
                        break;
                    }
                } else {
                    i += 1;
                }
            }
            out.push(' ');
        } else if c == 'r'
            && (next == Some('"') || next == Some('#'))
            && (i == 0 || !is_ident(chars[i - 1]))
        {
            let mut j = i + 1;
            while chars.get(j) == Some(&'#') {
                j += 1;
            }
            if chars.get(j) != Some(&'"') {
                out.push(c);
                i += 1;
                continue;
            }
            let hashes = j - i - 1;
            j += 1;
            while j < chars.len() {
                if chars[j] == '"' && (1..=hashes).all(|k| chars.get(j + k) == Some(&'#')) {
                    j += 1 + hashes;
                    break;
                }
                j += 1;
            }
            out.push_str("\"\"");
            i = j;
        } else if c == '"' {
            i += 1;
            while i < chars.len() && chars[i] != '"' {
                i += if chars[i] == '\\' { 2 } else { 1 };
            }
            i += 1;
            out.push_str("\"\"");
        } else if c == '\'' {
            if next == Some('\\') {
                i += 2;
                while i < chars.len() && chars[i] != '\'' {
                    i += 1;
                }
                i += 1;
                out.push_str("' '");
            } else if chars.get(i + 2) == Some(&'\'') {
                i += 3;
                out.push_str("' '");
            } else {
                out.push(c);
                i += 1;
            }
        } else {
            out.push(c);
            i += 1;
        }
    }
    without_test_modules(&out)
}

/// Drops `#[cfg(test)] mod name { … }` blocks (brace-matched; literals are already gone).
fn without_test_modules(text: &str) -> String {
    let mut out = String::new();
    let mut rest = text;
    while let Some(at) = rest.find("#[cfg(test)]") {
        out.push_str(&rest[..at]);
        let after = &rest[at + "#[cfg(test)]".len()..];
        let trimmed = after.trim_start();
        if trimmed.starts_with("mod ") {
            if let Some(open) = trimmed.find(['{', ';']) {
                if trimmed.as_bytes()[open] == b';' {
                    rest = &trimmed[open + 1..];
                    continue;
                }
                let mut depth = 0;
                for (k, ch) in trimmed[open..].char_indices() {
                    match ch {
                        '{' => depth += 1,
                        '}' => {
                            depth -= 1;
                            if depth == 0 {
                                rest = &trimmed[open + k + 1..];
                                break;
                            }
                        }
                        _ => {}
                    }
                }
                if depth != 0 {
                    rest = "";
                }
                continue;
            }
        }
        out.push_str("#[cfg(test)]");
        rest = after;
    }
    out.push_str(rest);
    out
}

fn is_ident(c: char) -> bool {
    c.is_alphanumeric() || c == '_'
}

/// Identifiers, `::` and single punctuation characters.
fn tokens(text: &str) -> Vec<String> {
    let chars: Vec<char> = text.chars().collect();
    let mut tokens = Vec::new();
    let mut i = 0;
    while i < chars.len() {
        let c = chars[i];
        if c.is_whitespace() {
            i += 1;
        } else if is_ident(c) {
            let start = i;
            while i < chars.len() && is_ident(chars[i]) {
                i += 1;
            }
            tokens.push(chars[start..i].iter().collect());
        } else if c == ':' && chars.get(i + 1) == Some(&':') {
            tokens.push("::".to_string());
            i += 2;
        } else {
            tokens.push(c.to_string());
            i += 1;
        }
    }
    tokens
}

/// Every path rooted at `root` (`crate`, `std`), with `use` groups expanded:
/// `use crate::{a, b::{c, d}}` gives `crate::a`, `crate::b::c`, `crate::b::d`.
fn paths_from(text: &str, root: &str) -> Vec<String> {
    let tokens = tokens(text);
    let mut paths = Vec::new();
    for i in 0..tokens.len() {
        let rooted = i == 0 || tokens[i - 1] != "::";
        if rooted && tokens[i] == root && tokens.get(i + 1).is_some_and(|t| t == "::") {
            tree(&tokens, i + 2, root.to_string(), &mut paths);
        }
    }
    paths
}

/// Reads one use tree at `at` under `prefix`; returns the index after it.
fn tree(tokens: &[String], mut at: usize, mut prefix: String, paths: &mut Vec<String>) -> usize {
    loop {
        match tokens.get(at).map(String::as_str) {
            Some("{") => {
                at += 1;
                while tokens.get(at).is_some_and(|t| t != "}") {
                    at = tree(tokens, at, prefix.clone(), paths);
                    if tokens.get(at).is_some_and(|t| t == ",") {
                        at += 1;
                    }
                }
                return at + 1;
            }
            Some("self") => {
                paths.push(prefix);
                return skip_alias(tokens, at + 1);
            }
            Some(t) if t.chars().all(is_ident) => {
                prefix = format!("{prefix}::{t}");
                at += 1;
                if tokens.get(at).is_some_and(|t| t == "::") {
                    at += 1;
                } else {
                    paths.push(prefix);
                    return skip_alias(tokens, at);
                }
            }
            _ => {
                // `*`, `<` and the like: the path so far is the import.
                paths.push(prefix);
                return at + usize::from(tokens.get(at).is_some_and(|t| t == "*"));
            }
        }
    }
}

fn skip_alias(tokens: &[String], at: usize) -> usize {
    if tokens.get(at).is_some_and(|t| t == "as") {
        at + 2
    } else {
        at
    }
}
