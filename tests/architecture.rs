//! The import rule of `docs/architecture.md`, checked on the source: each
//! module of the library imports only modules below it in [`LAYERS`], so the
//! code reads downhill. It reads every `crate::…` path outside comments and
//! test modules (a crate-root re-export counts as the module it comes from)
//! and fails naming each upward edge.

#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    reason = "a test: a failed unwrap is a failed test"
)]

use std::collections::{BTreeSet, HashMap};
use std::path::{Path, PathBuf};

/// The library's modules from the top down. A module may import the
/// modules of any later layer; within a layer, only `page` and `section`
/// import each other: their types are one recursion (a fragment holds
/// sections, whose loaders resolve to fragments).
const LAYERS: &[&[&str]] = &[
    &["respond", "file", "proxy", "server", "compress"],
    &["render"],
    &["page", "section"],
    &["mode", "csp", "cache"],
    &["streamed"],
    &["encoding"],
    &["wire"],
    &["shutdown"],
    &["client", "clock", "error", "log"],
];

/// Same-layer imports allowed, as (from, to).
const SIBLINGS: &[(&str, &str)] = &[("page", "section"), ("section", "page")];

fn layer_of(module: &str) -> Option<usize> {
    LAYERS.iter().position(|layer| layer.contains(&module))
}

/// The library's source files, but for test modules and the crate root.
fn sources(dir: &Path, out: &mut Vec<PathBuf>) {
    for entry in std::fs::read_dir(dir).unwrap() {
        let path = entry.unwrap().path();
        let name = path.file_name().unwrap().to_string_lossy().into_owned();
        if path.is_dir() {
            if name != "tests" {
                sources(&path, out);
            }
        } else if name.ends_with(".rs")
            && !["lib.rs", "tests.rs", "differential.rs"].contains(&name.as_str())
        {
            out.push(path);
        }
    }
}

/// The top-level module a file belongs to.
fn module_of(src: &Path, file: &Path) -> String {
    let relative = file.strip_prefix(src).unwrap();
    let first = relative
        .components()
        .next()
        .unwrap()
        .as_os_str()
        .to_string_lossy();
    first.trim_end_matches(".rs").to_owned()
}

/// The code of a file: comments and `#[cfg(test)] mod tests { … }` removed.
fn code(text: &str) -> String {
    let mut kept = String::new();
    let mut rest = text;
    while let Some(at) = rest.find("#[cfg(test)]\nmod tests") {
        kept.push_str(&rest[..at]);
        rest = &rest[at..];
        let open = rest.find('{').unwrap_or(rest.len());
        let mut depth = 0;
        let mut end = rest.len();
        for (i, c) in rest[open..].char_indices() {
            match c {
                '{' => depth += 1,
                '}' => depth -= 1,
                _ => {}
            }
            if depth == 0 {
                end = open + i + 1;
                break;
            }
        }
        rest = &rest[end..];
    }
    kept.push_str(rest);
    kept.lines()
        .map(|line| match line.find("//") {
            Some(at) if !line[..at].contains('"') => &line[..at],
            _ => line,
        })
        .collect::<Vec<_>>()
        .join("\n")
}

/// The first identifier at the start of `text`.
fn ident(text: &str) -> &str {
    let text = text.trim_start();
    let end = text
        .find(|c: char| !(c.is_ascii_alphanumeric() || c == '_'))
        .unwrap_or(text.len());
    &text[..end]
}

/// Every item or module named right after `crate::`, groups expanded.
fn crate_paths(code: &str) -> Vec<String> {
    let mut names = Vec::new();
    let mut rest = code;
    while let Some(at) = rest.find("crate::") {
        rest = &rest[at + "crate::".len()..];
        if let Some(group) = rest.strip_prefix('{') {
            let mut depth = 1;
            let mut piece = String::new();
            for c in group.chars() {
                match c {
                    '{' => depth += 1,
                    '}' => depth -= 1,
                    _ => {}
                }
                if depth == 0 || (depth == 1 && c == ',') {
                    names.push(ident(&piece).to_owned());
                    piece.clear();
                    if depth == 0 {
                        break;
                    }
                } else {
                    piece.push(c);
                }
            }
        } else {
            names.push(ident(rest).to_owned());
        }
    }
    names.retain(|name| !name.is_empty());
    names
}

/// The crate root's re-exports: item name to the module it comes from.
fn reexports(lib: &str) -> HashMap<String, String> {
    let mut map = HashMap::new();
    for statement in lib.split(';') {
        let Some(path) = statement.trim().strip_prefix("pub use ") else {
            continue;
        };
        let module = ident(path).to_owned();
        let items = match path.find('{') {
            Some(open) => path[open + 1..].trim_end_matches('}').to_owned(),
            None => path.rsplit("::").next().unwrap_or_default().to_owned(),
        };
        for item in items.split(',') {
            let item = ident(item).to_owned();
            if !item.is_empty() {
                map.insert(item, module.clone());
            }
        }
    }
    map
}

#[test]
fn every_module_imports_only_modules_below_it() {
    let src = Path::new(env!("CARGO_MANIFEST_DIR")).join("src");
    let lib = code(&std::fs::read_to_string(src.join("lib.rs")).unwrap());
    let roots = reexports(&lib);
    let mut files = Vec::new();
    sources(&src, &mut files);
    let mut upward = BTreeSet::new();
    let mut unknown = BTreeSet::new();
    for file in &files {
        let from = module_of(&src, file);
        let Some(from_layer) = layer_of(&from) else {
            unknown.insert(from.clone());
            continue;
        };
        for name in crate_paths(&code(&std::fs::read_to_string(file).unwrap())) {
            let to = roots.get(&name).cloned().unwrap_or(name);
            if to == from {
                continue;
            }
            let Some(to_layer) = layer_of(&to) else {
                unknown.insert(to);
                continue;
            };
            let sibling = SIBLINGS.contains(&(from.as_str(), to.as_str()));
            if to_layer < from_layer || (to_layer == from_layer && !sibling) {
                upward.insert(format!("{} imports {to} ({})", from, file.display()));
            }
        }
    }
    assert!(
        unknown.is_empty(),
        "modules missing from LAYERS: {unknown:?}"
    );
    assert!(
        upward.is_empty(),
        "imports that point up:\n{}",
        Vec::from_iter(upward).join("\n")
    );
    assert!(files.len() > 20, "the sources were found: {}", files.len());
}

#[test]
fn an_upward_import_is_caught() {
    let paths =
        crate_paths("use crate::{page::{Fragment, Page}, render};\nlet x = crate::wire::MARK;");
    assert_eq!(paths, ["page", "render", "wire"]);
    assert!(layer_of("render") < layer_of("page"));
}
