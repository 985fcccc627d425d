//! The crate's layers (docs/architecture.md): each module uses only modules of its own row and
//! the rows below, and no two modules use each other, even through others.

use std::collections::{BTreeMap, BTreeSet};
use std::path::Path;

/// The rows, from the ground floor up.
const ROWS: [&[&str]; 4] =
    [&["data", "backend", "error"], &["store", "train", "augment", "model", "pipeline", "workspace"], &["distill", "search", "recommend", "teacher", "report"], &["ops"]];

fn row(module: &str) -> usize {
    ROWS.iter().position(|r| r.contains(&module)).unwrap_or_else(|| panic!("module `{module}` is on no row of docs/architecture.md"))
}

/// Every `crate::module` a file's code (not its comments) names.
fn used_modules(text: &str) -> BTreeSet<String> {
    let mut used = BTreeSet::new();
    for line in text.lines().map(str::trim_start).filter(|l| !l.starts_with("//")) {
        for (at, _) in line.match_indices("crate::") {
            let rest = &line[at + "crate::".len()..];
            let names: Vec<&str> = match rest.strip_prefix('{') {
                Some(group) => group.split('}').next().unwrap_or("").split(',').map(|n| n.trim().split("::").next().unwrap_or("")).collect(),
                None => vec![rest.split(|c: char| !(c.is_alphanumeric() || c == '_')).next().unwrap_or("")],
            };
            used.extend(names.into_iter().filter(|n| !n.is_empty() && n.chars().next().is_some_and(char::is_lowercase)).map(String::from));
        }
    }
    used
}

/// The top-level module a source file belongs to (`src/store/sled.rs` → `store`).
fn module_of(src: &Path, file: &Path) -> Option<String> {
    let first = file.strip_prefix(src).ok()?.components().next()?.as_os_str().to_string_lossy().into_owned();
    let name = first.strip_suffix(".rs").unwrap_or(&first).to_string();
    (!matches!(name.as_str(), "lib" | "main" | "cli")).then_some(name)
}

fn sources(dir: &Path, files: &mut Vec<std::path::PathBuf>) {
    for entry in std::fs::read_dir(dir).unwrap().flatten() {
        let path = entry.path();
        if path.is_dir() {
            sources(&path, files);
        } else if path.extension().is_some_and(|e| e == "rs") {
            files.push(path);
        }
    }
}

/// Module → the other top-level modules it uses.
fn module_graph() -> BTreeMap<String, BTreeSet<String>> {
    let src = Path::new(env!("CARGO_MANIFEST_DIR")).join("src");
    let mut files = Vec::new();
    sources(&src, &mut files);
    let mut graph: BTreeMap<String, BTreeSet<String>> = BTreeMap::new();
    for file in files {
        let Some(module) = module_of(&src, &file) else { continue };
        let used = used_modules(&std::fs::read_to_string(&file).unwrap());
        graph.entry(module.clone()).or_default().extend(used.into_iter().filter(|u| *u != module));
    }
    graph
}

#[test]
fn no_module_uses_a_module_of_a_higher_row() {
    let upward: Vec<String> = module_graph()
        .iter()
        .flat_map(|(module, used)| used.iter().filter(|u| row(u) > row(module)).map(move |u| format!("{module} (row {}) uses {u} (row {})", row(module), row(u))))
        .collect();
    assert!(upward.is_empty(), "{upward:#?}");
}

#[test]
fn no_two_modules_use_each_other() {
    let graph = module_graph();
    // Depth-first search for a path back to where it started.
    fn reaches(graph: &BTreeMap<String, BTreeSet<String>>, from: &str, to: &str, seen: &mut BTreeSet<String>) -> bool {
        graph.get(from).into_iter().flatten().any(|next| next == to || (seen.insert(next.clone()) && reaches(graph, next, to, seen)))
    }
    let cycles: Vec<&String> = graph.keys().filter(|m| reaches(&graph, m, m, &mut BTreeSet::new())).collect();
    assert!(cycles.is_empty(), "modules on a cycle: {cycles:?} ({graph:#?})");
}

#[test]
fn the_check_sees_an_upward_use() {
    assert!(used_modules("use crate::search::Space;\n/// [`crate::ops`]\nlet x = crate::{store::Storage, data};").iter().eq(["data", "search", "store"].iter()));
    assert!(row("ops") > row("search") && row("search") > row("store"));
}
