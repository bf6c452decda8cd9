//! Layering, checked on the sources under `src/`.
//!
//! 1. `src/net` (address types and text, ARP, rate limit) is the leaf: it uses no
//!    other top-level module of the crate. `src/openflow` (the sans-I/O codec and
//!    flow text) sits on it and uses nothing else ([`MAY_USE`]), never `tape`,
//!    `node`, `driver`, `control`, `rules`, `session`, `ovsdb` or `tls`. `src/tape`
//!    may use `src/openflow`, not the reverse.
//! 2. The top-level modules (`src/<name>/` or `src/<name>.rs`) form no cycle, with
//!    no exception ([`TOLERATED`] is empty).
//!
//! A module uses another where its code (not its comments or string literals) names
//! `crate::<name>`, `$crate::<name>`, or a `super::` path that climbs to the crate
//! root (`super::super::<name>` from `src/a/b.rs`, `super::<name>` from `src/a.rs`),
//! including grouped forms (`use crate::{a::X, b};`) and paths inside inline modules
//! (`mod tests { ... }`), which add one level to climb.

use std::collections::{BTreeMap, BTreeSet};
use std::fmt::Write as _;
use std::fs;
use std::path::Path;

/// What each bottom module may use besides itself (checked against every file
/// under it). Anything else (today `tape`, `node`, `driver`, `control`, `rules`,
/// `session`, `ovsdb`, `tls`, and any module added later) is refused.
///
/// `openflow -> net` is the address types (`net::addr::MacAddr`, `Masked`,
/// re-exported by `openflow::types`) and their strict parsers, which flow text's
/// lenient ones normalise into. `net` uses nothing: the address types live there
/// so that it needs nothing above it, tests included.
///
/// `policy` (security groups, elastic IPs, XO's plugin flows) builds on the rule
/// compiler, the codec's types, the address types and the band table, and on
/// nothing that does I/O: never `node`, `driver`, `session`, `ovsdb`, `tls`, `tape`.
const MAY_USE: &[(&str, &[&str])] =
    &[("openflow", &["net"]), ("net", &[]), ("policy", &["net", "openflow", "rules", "control"])];

/// Modules that must stay sans-I/O: their code names no napi, tokio or clock
/// ([`no_io_in_sans_io_modules`]).
const SANS_IO: &[&str] = &["policy", "rules", "openflow", "net"];

/// Uses left out of the cycle check, as (module, path prefix it uses): a known
/// cycle, reported and kept until it is resolved. Each must still exist
/// ([`tolerated_uses_still_exist`]), so an exemption goes once the code no longer
/// needs it. None today: the graph is acyclic with no exception. (The last ones,
/// `net -> openflow::types` and `net -> openflow::text`, went when `MacAddr` and
/// `Masked` moved to `net::addr` and the strict/lenient address tables to
/// `openflow::text::lex`.) Prefer breaking a new cycle to listing it here.
const TOLERATED: &[(&str, &str)] = &[];

#[test]
fn listed_modules_use_only_what_they_may() {
    let crate_src = Source::read();
    let mut violations = String::new();
    let mut seen = BTreeSet::new();
    for r in &crate_src.uses {
        let Some((_, allowed)) = MAY_USE.iter().find(|(m, _)| *m == r.from) else { continue };
        if r.to() == r.from || allowed.contains(&r.to()) || !seen.insert((&r.file, r.line, r.to())) {
            continue;
        }
        let _ = writeln!(
            violations,
            "{}:{}: src/{} uses crate::{} (src/{} may use only: {})\n    {}",
            r.file,
            r.line,
            r.from,
            r.path,
            r.from,
            allowed.join(", "),
            r.text.trim()
        );
    }
    assert!(violations.is_empty(), "layering violated:\n{violations}");
}

/// What a sans-I/O module must not name: the napi binding, the async runtime,
/// a clock (time comes in as an argument, like `now_ms` of the rate limiter).
const IO_NAMES: &[&str] = &["napi", "napi_derive", "tokio", "Instant", "SystemTime", "UNIX_EPOCH"];

#[test]
fn no_io_in_sans_io_modules() {
    let src = Path::new(env!("CARGO_MANIFEST_DIR")).join("src");
    let mut files = Vec::new();
    for m in SANS_IO {
        let dir = src.join(m);
        if dir.is_dir() {
            rust_files(&dir, &mut files);
        } else {
            files.push(src.join(format!("{m}.rs")));
        }
    }
    assert!(files.iter().any(|f| f.starts_with(src.join("policy"))), "src/policy has no files: {files:?}");
    let mut violations = String::new();
    for path in files {
        let text = fs::read_to_string(&path).unwrap_or_else(|e| panic!("read {}: {e}", path.display()));
        let code = code_only(&text);
        let toks = tokens(&code);
        for (i, (offset, tok)) in toks.iter().enumerate() {
            let Tok::Ident(name) = tok else { continue };
            // `std::time` (the module), or a name of the list anywhere.
            let std_time = *name == "time" && i >= 2 && toks[i - 1].1 == Tok::Path && toks[i - 2].1 == Tok::Ident("std");
            if IO_NAMES.contains(name) || std_time {
                let line = code[..*offset].matches('\n').count() + 1;
                let _ = writeln!(violations, "{}:{line}: names `{name}`", path.display());
            }
        }
    }
    assert!(violations.is_empty(), "sans-I/O modules name I/O:\n{violations}");
}

#[test]
fn no_cycle_between_top_level_modules() {
    let crate_src = Source::read();
    let graph = crate_src.graph(TOLERATED);
    if let Some(cycle) = find_cycle(&graph) {
        let mut msg = format!("top-level modules form a cycle: {}\n", cycle.join(" -> "));
        for pair in cycle.windows(2) {
            let (from, to) = (pair[0].as_str(), pair[1].as_str());
            let _ = writeln!(msg, "{from} -> {to}:");
            let lines: BTreeSet<(&str, usize, &str)> =
                graph[from][to].iter().map(|r| (r.file.as_str(), r.line, r.text.trim())).collect();
            for (file, line, text) in lines {
                let _ = writeln!(msg, "    {file}:{line}: {text}");
            }
        }
        panic!("{msg}");
    }
}

/// Every [`TOLERATED`] entry is still needed (nothing to check while it is empty;
/// this keeps a later entry from outliving its cycle).
#[test]
fn tolerated_uses_still_exist() {
    let crate_src = Source::read();
    for (from, prefix) in TOLERATED {
        assert!(
            crate_src.uses.iter().any(|r| r.from == *from && tolerated_by(&r.path, prefix)),
            "src/{from} no longer uses crate::{prefix}: remove ({from:?}, {prefix:?}) from TOLERATED"
        );
    }
}

/// One use of a top-level module: `path` is the resolved path from the crate root
/// (`openflow::types::MacAddr`).
#[derive(Debug)]
struct Use {
    file: String,
    line: usize,
    text: String,
    from: String,
    path: String,
}

impl Use {
    fn to(&self) -> &str {
        self.path.split("::").next().unwrap_or("")
    }
}

fn tolerated_by(path: &str, prefix: &str) -> bool {
    path == prefix || path.strip_prefix(prefix).is_some_and(|rest| rest.starts_with("::"))
}

struct Source {
    uses: Vec<Use>,
}

type Graph<'a> = BTreeMap<&'a str, BTreeMap<&'a str, Vec<&'a Use>>>;

impl Source {
    fn read() -> Source {
        let src = Path::new(env!("CARGO_MANIFEST_DIR")).join("src");
        let mut files = Vec::new();
        rust_files(&src, &mut files);
        files.sort();
        let modules: BTreeSet<String> = fs::read_dir(&src)
            .expect("read src/")
            .map(|e| e.expect("read src/").path())
            .filter_map(|p| {
                let name = p.file_name()?.to_str()?.to_owned();
                if p.is_dir() {
                    Some(name)
                } else {
                    name.strip_suffix(".rs").filter(|n| *n != "lib").map(str::to_owned)
                }
            })
            .collect();
        assert!(modules.contains("openflow") && modules.contains("net"), "unexpected src/ layout: {modules:?}");
        let mut uses = Vec::new();
        for path in files {
            let rel = path.strip_prefix(&src).expect("under src/").to_str().expect("UTF-8 path").replace('\\', "/");
            let text = fs::read_to_string(&path).unwrap_or_else(|e| panic!("read src/{rel}: {e}"));
            let module = module_path(&rel);
            let Some(from) = module.first().cloned() else { continue }; // lib.rs
            for (offset, path) in crate_paths(&text, &module) {
                if !modules.contains(path.split("::").next().unwrap_or("")) {
                    continue;
                }
                let line = text[..offset].matches('\n').count() + 1;
                let line_text = text.lines().nth(line - 1).unwrap_or("").to_owned();
                uses.push(Use { file: format!("src/{rel}"), line, text: line_text, from: from.clone(), path });
            }
        }
        Source { uses }
    }

    /// Edges between different top-level modules, with the uses behind them, leaving
    /// out the `tolerated` ones.
    fn graph<'a>(&'a self, tolerated: &[(&str, &str)]) -> Graph<'a> {
        let mut g: Graph<'a> = BTreeMap::new();
        for r in &self.uses {
            if r.to() == r.from || tolerated.iter().any(|(f, p)| *f == r.from && tolerated_by(&r.path, p)) {
                continue;
            }
            g.entry(r.from.as_str()).or_default().entry(r.to()).or_default().push(r);
        }
        g
    }
}

fn rust_files(dir: &Path, out: &mut Vec<std::path::PathBuf>) {
    for entry in fs::read_dir(dir).unwrap_or_else(|e| panic!("read {}: {e}", dir.display())) {
        let path = entry.expect("directory entry").path();
        if path.is_dir() {
            rust_files(&path, out);
        } else if path.extension().is_some_and(|e| e == "rs") {
            out.push(path);
        }
    }
}

/// `lib.rs` -> [], `a.rs` and `a/mod.rs` -> [a], `a/b.rs` -> [a, b].
fn module_path(rel: &str) -> Vec<String> {
    let rel = rel.strip_suffix(".rs").expect(".rs file");
    let mut parts: Vec<String> = rel.split('/').map(str::to_owned).collect();
    if matches!(parts.last().map(String::as_str), Some("mod" | "lib")) {
        parts.pop();
    }
    parts
}

/// A cycle as `[a, b, ..., a]`, if the graph has one.
fn find_cycle(g: &Graph) -> Option<Vec<String>> {
    fn visit<'a>(
        g: &Graph<'a>,
        node: &'a str,
        stack: &mut Vec<&'a str>,
        done: &mut BTreeSet<&'a str>,
    ) -> Option<Vec<String>> {
        if let Some(at) = stack.iter().position(|n| *n == node) {
            let mut cycle: Vec<String> = stack[at..].iter().map(|s| s.to_string()).collect();
            cycle.push(node.to_owned());
            return Some(cycle);
        }
        if done.contains(node) {
            return None;
        }
        stack.push(node);
        for next in g.get(node).into_iter().flat_map(|m| m.keys()) {
            if let Some(c) = visit(g, next, stack, done) {
                return Some(c);
            }
        }
        stack.pop();
        done.insert(node);
        None
    }
    let mut done = BTreeSet::new();
    g.keys().find_map(|n| visit(g, n, &mut Vec::new(), &mut done))
}

// ---------------------------------------------------------------------------------
// Reading paths out of Rust source

/// The code of `text` with comments and the contents of string and character
/// literals replaced by spaces (newlines kept, so offsets and lines still match).
fn code_only(text: &str) -> String {
    let c: Vec<char> = text.chars().collect();
    let mut out = String::with_capacity(text.len());
    // Blanked characters keep their UTF-8 length so byte offsets line up.
    let blank_w = |out: &mut String, ch: char| {
        if ch == '\n' {
            out.push('\n');
        } else {
            out.extend(std::iter::repeat_n(' ', ch.len_utf8()));
        }
    };
    let mut i = 0;
    while i < c.len() {
        let ch = c[i];
        let next = c.get(i + 1).copied();
        if ch == '/' && next == Some('/') {
            while i < c.len() && c[i] != '\n' {
                blank_w(&mut out, c[i]);
                i += 1;
            }
        } else if ch == '/' && next == Some('*') {
            let mut depth = 0;
            loop {
                match (c.get(i), c.get(i + 1)) {
                    (None, _) => break,
                    (Some('/'), Some('*')) => {
                        depth += 1;
                        out.push_str("  ");
                        i += 2;
                    }
                    (Some('*'), Some('/')) => {
                        depth -= 1;
                        out.push_str("  ");
                        i += 2;
                        if depth == 0 {
                            break;
                        }
                    }
                    (Some(&x), _) => {
                        blank_w(&mut out, x);
                        i += 1;
                    }
                }
            }
        } else if ch == '"' {
            // A raw string if `r` and hashes precede the quote: r"..", r#".."#, br#".."#.
            let hashes = c[..i].iter().rev().take_while(|x| **x == '#').count();
            let raw = i > hashes && c[i - hashes - 1] == 'r';
            out.push('"');
            i += 1;
            while i < c.len() {
                if raw {
                    if c[i] == '"' && c[i + 1..].iter().take(hashes).filter(|x| **x == '#').count() == hashes {
                        break;
                    }
                } else if c[i] == '\\' {
                    blank_w(&mut out, c[i]);
                    i += 1;
                    if i < c.len() {
                        blank_w(&mut out, c[i]);
                        i += 1;
                    }
                    continue;
                } else if c[i] == '"' {
                    break;
                }
                blank_w(&mut out, c[i]);
                i += 1;
            }
            if i < c.len() {
                out.push('"');
                i += 1;
            }
        } else if ch == '\'' && (next == Some('\\') || c.get(i + 2) == Some(&'\'')) {
            // A character literal ('x', '\n', '\u{..}'); otherwise a lifetime or label.
            out.push('\'');
            i += 1;
            if c.get(i) == Some(&'\\') {
                blank_w(&mut out, '\\');
                i += 1;
                if i < c.len() {
                    blank_w(&mut out, c[i]);
                    i += 1;
                }
            }
            while i < c.len() && c[i] != '\'' {
                blank_w(&mut out, c[i]);
                i += 1;
            }
            if i < c.len() {
                out.push('\'');
                i += 1;
            }
        } else {
            out.push(ch);
            i += 1;
        }
    }
    out
}

#[derive(Debug, Clone, PartialEq)]
enum Tok<'a> {
    Ident(&'a str),
    Path, // `::`
    Punct(char),
}

fn tokens(code: &str) -> Vec<(usize, Tok<'_>)> {
    let b = code.as_bytes();
    let mut out = Vec::new();
    let mut i = 0;
    while i < b.len() {
        let c = b[i];
        if c.is_ascii_whitespace() {
            i += 1;
        } else if c.is_ascii_alphanumeric() || c == b'_' || c >= 0x80 {
            let start = i;
            while i < b.len() && (b[i].is_ascii_alphanumeric() || b[i] == b'_' || b[i] >= 0x80) {
                i += 1;
            }
            out.push((start, Tok::Ident(&code[start..i])));
        } else if c == b':' && b.get(i + 1) == Some(&b':') {
            out.push((i, Tok::Path));
            i += 2;
        } else {
            out.push((i, Tok::Punct(c as char)));
            i += 1;
        }
    }
    out
}

/// Every path in `text` that leaves `module` for the crate root, as (byte offset,
/// path from the root): `crate::a::b` and `super::...` chains, one per name of a
/// `{...}` group.
fn crate_paths(text: &str, module: &[String]) -> Vec<(usize, String)> {
    let code = code_only(text);
    let toks = tokens(&code);
    let mut found = Vec::new();
    let mut inline: Vec<(String, usize)> = Vec::new(); // inline `mod x {` and its depth
    let mut depth = 0usize;
    let mut pending_mod: Option<String> = None;
    let mut i = 0;
    while i < toks.len() {
        let (offset, tok) = &toks[i];
        match tok {
            Tok::Punct('{') => {
                if let Some(name) = pending_mod.take() {
                    inline.push((name, depth));
                }
                depth += 1;
            }
            Tok::Punct('}') => {
                depth = depth.saturating_sub(1);
                if inline.last().is_some_and(|(_, d)| *d == depth) {
                    inline.pop();
                }
            }
            Tok::Punct(';') => pending_mod = None,
            Tok::Ident("mod") => {
                if let (Some((_, Tok::Ident(name))), Some((_, Tok::Punct('{')))) = (toks.get(i + 1), toks.get(i + 2)) {
                    pending_mod = Some((*name).to_owned());
                }
            }
            Tok::Ident(start @ ("crate" | "super"))
                if toks.get(i + 1).map(|t| &t.1) == Some(&Tok::Path) && (i == 0 || toks[i - 1].1 != Tok::Path) =>
            {
                // The module this path starts from.
                let mut base: Vec<String> = module.to_vec();
                base.extend(inline.iter().map(|(n, _)| n.clone()));
                let mut j = i;
                let prefix: Vec<String> = if *start == "crate" {
                    j += 2;
                    Vec::new()
                } else {
                    let mut up = 0;
                    while toks.get(j).map(|t| &t.1) == Some(&Tok::Ident("super"))
                        && toks.get(j + 1).map(|t| &t.1) == Some(&Tok::Path)
                    {
                        up += 1;
                        j += 2;
                    }
                    if up > base.len() {
                        i += 1;
                        continue;
                    }
                    base[..base.len() - up].to_vec()
                };
                for rest in path_tails(&toks, j) {
                    let mut full = prefix.clone();
                    full.extend(rest);
                    if !full.is_empty() {
                        found.push((*offset, full.join("::")));
                    }
                }
            }
            _ => {}
        }
        i += 1;
    }
    found
}

/// The path segments from token `j`: `a::b::C` -> [[a, b, C]], `{a::X, b, self}` ->
/// [[a, X], [b], []] (a group's names, nested groups flattened to their prefix).
fn path_tails(toks: &[(usize, Tok)], mut j: usize) -> Vec<Vec<String>> {
    let mut segs = Vec::new();
    loop {
        match toks.get(j).map(|t| &t.1) {
            Some(Tok::Ident(name)) => {
                if *name != "self" {
                    segs.push((*name).to_owned());
                }
                if toks.get(j + 1).map(|t| &t.1) == Some(&Tok::Path) {
                    j += 2;
                } else {
                    return vec![segs];
                }
            }
            Some(Tok::Punct('{')) => {
                let mut out = Vec::new();
                let mut level = 0;
                let mut item_start = true;
                j += 1;
                while let Some((_, t)) = toks.get(j) {
                    match t {
                        Tok::Punct('{') => level += 1,
                        Tok::Punct('}') if level == 0 => break,
                        Tok::Punct('}') => level -= 1,
                        Tok::Punct(',') if level == 0 => item_start = true,
                        Tok::Ident(_) if level == 0 && item_start => {
                            item_start = false;
                            for tail in path_tails(toks, j) {
                                let mut p = segs.clone();
                                p.extend(tail);
                                out.push(p);
                            }
                        }
                        _ => {}
                    }
                    j += 1;
                }
                return out;
            }
            _ => return vec![segs],
        }
    }
}

// ---------------------------------------------------------------------------------
// The reader itself

#[test]
fn reader_finds_paths_in_code_only() {
    let text = r#"
//! crate::tape in a doc comment
use crate::openflow::types::MacAddr; // crate::node in a trailing comment
/* crate::driver in a block comment */
const S: &str = "crate::control in a string";
const R: &str = r"crate::rules in a raw string";
fn f<'a>(x: &'a str) -> char { let _ = crate::session::X; '"' }
use crate::{ovsdb::Y, tls};
"#;
    let paths: Vec<String> =
        crate_paths(text, &["net".to_owned(), "addr".to_owned()]).into_iter().map(|p| p.1).collect();
    assert_eq!(paths, ["openflow::types::MacAddr", "session::X", "ovsdb::Y", "tls"]);
}

#[test]
fn reader_climbs_super_through_inline_modules() {
    let text = "
use super::types::A;
mod tests {
    use super::super::flow::B;
    mod deeper { use super::super::super::tape; }
    fn g() { let _ = super::C; }
}
use super::super::net;
";
    let module = ["openflow".to_owned(), "text".to_owned()];
    let paths: Vec<String> = crate_paths(text, &module).into_iter().map(|p| p.1).collect();
    assert_eq!(paths, ["openflow::types::A", "openflow::flow::B", "openflow::tape", "openflow::text::C", "net"]);
    // From a top-level file, one `super` reaches the root.
    let paths: Vec<String> = crate_paths("use super::tape::X;", &["net".to_owned()]).into_iter().map(|p| p.1).collect();
    assert_eq!(paths, ["tape::X"]);
}

#[test]
fn cycles_are_found_and_named() {
    let uses: Vec<Use> = [("a", "b::X"), ("b", "c"), ("c", "a::Y"), ("c", "d")]
        .iter()
        .map(|(from, path)| Use {
            file: format!("src/{from}.rs"),
            line: 1,
            text: String::new(),
            from: (*from).to_owned(),
            path: (*path).to_owned(),
        })
        .collect();
    let s = Source { uses };
    assert_eq!(find_cycle(&s.graph(&[])), Some(vec!["a".into(), "b".into(), "c".into(), "a".into()]));
    assert_eq!(find_cycle(&s.graph(&[("c", "a")])), None);
}
