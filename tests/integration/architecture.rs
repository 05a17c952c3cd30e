//! The architecture holds by itself: the application core (`api/src/app`) knows nothing
//! of HTTP, GraphQL or OpenAPI, and `api`'s top-level modules depend on each other
//! without a cycle (core ← surfaces ← composition root).

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};

fn api_src() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../api/src")
}

fn rust_files(dir: &Path) -> Vec<PathBuf> {
    let mut out = Vec::new();
    for entry in std::fs::read_dir(dir).expect("read_dir").flatten() {
        let path = entry.path();
        if path.is_dir() {
            out.extend(rust_files(&path));
        } else if path.extension().is_some_and(|e| e == "rs") {
            out.push(path);
        }
    }
    out
}

/// The code of a file without comments (so documentation may name what code must not
/// use) and without its unit tests (which may assemble the whole app).
fn code(path: &Path) -> String {
    let text = std::fs::read_to_string(path).expect("read");
    let text = text
        .split("#[cfg(test)]")
        .next()
        .unwrap_or_default()
        .to_owned();
    text.lines()
        .map(|l| l.split("//").next().unwrap_or_default())
        .collect::<Vec<_>>()
        .join("\n")
}

/// The top-level module a file of `api/src` belongs to (`app`, `rest`, `startup`, …).
fn module_of(path: &Path) -> String {
    let relative = path.strip_prefix(api_src()).expect("under api/src");
    let first = relative.components().next().expect("component");
    let name = first.as_os_str().to_string_lossy();
    name.trim_end_matches(".rs").to_owned()
}

#[test]
fn the_core_imports_no_surface_framework() {
    let forbidden = [
        "actix",
        "async_graphql",
        "utoipa",
        "crate::rest",
        "crate::graphql",
        "crate::console",
        "maud",
    ];
    let mut offences = Vec::new();
    for file in rust_files(&api_src().join("app")) {
        let text = code(&file);
        for word in forbidden {
            if text.contains(word) {
                offences.push(format!("{} uses {word}", file.display()));
            }
        }
    }
    assert!(
        rust_files(&api_src().join("app")).len() > 5,
        "the core has files"
    );
    assert!(offences.is_empty(), "{offences:#?}");
}

#[test]
fn top_level_modules_form_no_cycle_and_the_core_depends_on_no_surface() {
    let mut edges: BTreeMap<String, BTreeSet<String>> = BTreeMap::new();
    let files = rust_files(&api_src());
    let modules: BTreeSet<String> = files
        .iter()
        .map(|f| module_of(f))
        .filter(|m| m != "lib" && m != "main")
        .collect();
    for file in &files {
        let from = module_of(file);
        let text = code(file);
        for to in &modules {
            let named = text.contains(&format!("crate::{to}::"))
                || text.contains(&format!("crate::{to};"))
                || text.contains(&format!("crate::{{{to}"))
                || text.contains(&format!(", {to}}}"));
            if *to != from && named {
                edges.entry(from.clone()).or_default().insert(to.clone());
            }
        }
    }
    let core = edges.get("app").cloned().unwrap_or_default();
    for surface in ["rest", "graphql", "console", "startup", "pull", "demo"] {
        assert!(
            !core.contains(surface),
            "app depends on {surface}: {edges:#?}"
        );
    }
    assert!(
        edges.get("rest").is_some_and(|d| d.contains("app")),
        "the scan sees REST calling the core: {edges:#?}"
    );
    assert!(
        edges.get("console").is_some_and(|d| d.contains("app")),
        "the scan sees the console calling the core: {edges:#?}"
    );
    // Depth-first search for a cycle.
    fn visit(
        node: &str,
        edges: &BTreeMap<String, BTreeSet<String>>,
        path: &mut Vec<String>,
        done: &mut BTreeSet<String>,
    ) -> Option<Vec<String>> {
        if let Some(at) = path.iter().position(|n| n == node) {
            return Some(path[at..].to_vec());
        }
        if done.contains(node) {
            return None;
        }
        path.push(node.to_owned());
        for next in edges.get(node).into_iter().flatten() {
            if let Some(cycle) = visit(next, edges, path, done) {
                return Some(cycle);
            }
        }
        path.pop();
        done.insert(node.to_owned());
        None
    }
    let mut done = BTreeSet::new();
    for node in edges.keys() {
        let cycle = visit(node, &edges, &mut Vec::new(), &mut done);
        assert!(cycle.is_none(), "import cycle: {cycle:?} in {edges:#?}");
    }
}

#[test]
fn the_console_reads_nothing_but_through_the_core() {
    // The console is a surface: no lake, no database, no access rule of its own.
    let forbidden = ["core.lake", ".control.", "sea_orm", "deltalake", "policy::"];
    let files = rust_files(&api_src().join("console"));
    assert!(files.len() > 3, "the console has files");
    let mut offences = Vec::new();
    for file in files {
        let text = code(&file);
        for word in forbidden {
            if text.contains(word) {
                offences.push(format!("{} uses {word}", file.display()));
            }
        }
    }
    assert!(offences.is_empty(), "{offences:#?}");
}
