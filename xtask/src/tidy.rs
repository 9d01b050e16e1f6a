//! Tidy checks, run as ordinary tests: the crate dependency graph matches the table in
//! `ARCHITECTURE.md`, `veritrail-verify` never reaches `veritrail-ledger`, and every Rust file
//! opens with a `//!` doc comment.

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};

/// The workspace root (xtask lives one level below it).
pub fn workspace_root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .map(Path::to_path_buf)
        .unwrap_or_else(|| PathBuf::from("."))
}

/// Internal edges of one crate: normal and dev-only dependencies on workspace crates.
#[derive(Debug, Default, PartialEq, Eq, Clone)]
pub struct Edges {
    pub normal: BTreeSet<String>,
    pub dev: BTreeSet<String>,
}

/// Reads the "Dependency graph" table of ARCHITECTURE.md:
/// `| crate | depends on | dev-depends on |`, names separated by commas, `-` for none.
pub fn documented_graph(architecture_md: &str) -> Result<BTreeMap<String, Edges>, String> {
    let section = architecture_md
        .split("\n## ")
        .find(|s| s.starts_with("Dependency graph"))
        .ok_or("ARCHITECTURE.md has no `## Dependency graph` section")?;
    let mut graph = BTreeMap::new();
    for line in section.lines().filter(|l| l.starts_with('|')) {
        let cells: Vec<&str> = line.trim_matches('|').split('|').map(str::trim).collect();
        if cells.len() != 3 || cells[0] == "crate" || cells[0].starts_with('-') {
            continue;
        }
        let names = |cell: &str| -> BTreeSet<String> {
            cell.split(',')
                .map(|n| n.trim().trim_matches('`').to_owned())
                .filter(|n| !n.is_empty() && n != "-")
                .collect()
        };
        let name = cells[0].trim_matches('`').to_owned();
        graph.insert(
            name,
            Edges {
                normal: names(cells[1]),
                dev: names(cells[2]),
            },
        );
    }
    if graph.is_empty() {
        return Err("the Dependency graph table in ARCHITECTURE.md has no rows".into());
    }
    Ok(graph)
}

/// The actual graph from `cargo metadata`, restricted to workspace crates.
pub fn actual_graph(metadata: &serde_json::Value) -> Result<BTreeMap<String, Edges>, String> {
    let packages = metadata["packages"].as_array().ok_or("no packages")?;
    let members: BTreeSet<&str> = metadata["workspace_members"]
        .as_array()
        .ok_or("no workspace_members")?
        .iter()
        .filter_map(|m| m.as_str())
        .collect();
    let workspace: Vec<&serde_json::Value> = packages
        .iter()
        .filter(|p| p["id"].as_str().is_some_and(|id| members.contains(id)))
        .collect();
    let names: BTreeSet<&str> = workspace
        .iter()
        .filter_map(|p| p["name"].as_str())
        .collect();
    let mut graph = BTreeMap::new();
    for p in &workspace {
        let mut edges = Edges::default();
        for dep in p["dependencies"].as_array().into_iter().flatten() {
            let Some(dep_name) = dep["name"].as_str() else {
                continue;
            };
            if !names.contains(dep_name) {
                continue;
            }
            match dep["kind"].as_str() {
                Some("dev") => edges.dev.insert(dep_name.to_owned()),
                _ => edges.normal.insert(dep_name.to_owned()),
            };
        }
        let name = p["name"].as_str().ok_or("package without name")?;
        graph.insert(name.to_owned(), edges);
    }
    Ok(graph)
}

/// Every package `from` reaches through normal dependencies in the resolved graph.
pub fn reaches(metadata: &serde_json::Value, from: &str) -> BTreeSet<String> {
    let nodes = metadata["resolve"]["nodes"]
        .as_array()
        .cloned()
        .unwrap_or_default();
    let id_to_name: BTreeMap<String, String> = metadata["packages"]
        .as_array()
        .into_iter()
        .flatten()
        .filter_map(|p| Some((p["id"].as_str()?.to_owned(), p["name"].as_str()?.to_owned())))
        .collect();
    let mut adjacency: BTreeMap<String, Vec<String>> = BTreeMap::new();
    for node in &nodes {
        let Some(id) = node["id"].as_str() else {
            continue;
        };
        let deps = node["deps"].as_array().into_iter().flatten().filter(|d| {
            d["dep_kinds"]
                .as_array()
                .into_iter()
                .flatten()
                .any(|k| k["kind"].is_null())
        });
        adjacency.insert(
            id.to_owned(),
            deps.filter_map(|d| d["pkg"].as_str().map(str::to_owned))
                .collect(),
        );
    }
    let start: Vec<String> = id_to_name
        .iter()
        .filter(|(_, n)| n.as_str() == from)
        .map(|(id, _)| id.clone())
        .collect();
    let mut seen = BTreeSet::new();
    let mut stack = start;
    while let Some(id) = stack.pop() {
        for next in adjacency.get(&id).into_iter().flatten() {
            if seen.insert(next.clone()) {
                stack.push(next.clone());
            }
        }
    }
    seen.iter()
        .filter_map(|id| id_to_name.get(id).cloned())
        .collect()
}

/// `cargo metadata` for the workspace.
pub fn metadata() -> Result<serde_json::Value, String> {
    let out = std::process::Command::new(std::env::var("CARGO").unwrap_or_else(|_| "cargo".into()))
        .args(["metadata", "--format-version", "1"])
        .current_dir(workspace_root())
        .output()
        .map_err(|e| format!("cargo metadata could not start: {e}"))?;
    if !out.status.success() {
        return Err(format!(
            "cargo metadata failed: {}",
            String::from_utf8_lossy(&out.stderr)
        ));
    }
    serde_json::from_slice(&out.stdout).map_err(|e| format!("cargo metadata printed bad JSON: {e}"))
}

/// Rust files under the crate folders that do not open with a `//!` doc comment.
pub fn files_without_module_doc(root: &Path) -> Vec<String> {
    let mut missing = Vec::new();
    let mut stack: Vec<PathBuf> = ["crates", "xtask", "emulator", "scenarios"]
        .iter()
        .map(|d| root.join(d))
        .filter(|d| d.is_dir())
        .collect();
    while let Some(dir) = stack.pop() {
        let Ok(entries) = std::fs::read_dir(&dir) else {
            missing.push(format!("{} (unreadable)", dir.display()));
            continue;
        };
        for entry in entries.flatten() {
            let path = entry.path();
            if path.is_dir() {
                if !path.ends_with("target") {
                    stack.push(path);
                }
            } else if path.extension().is_some_and(|e| e == "rs") {
                let text = std::fs::read_to_string(&path).unwrap_or_default();
                if !text.trim_start().starts_with("//!") {
                    missing.push(
                        path.strip_prefix(root)
                            .unwrap_or(&path)
                            .display()
                            .to_string(),
                    );
                }
            }
        }
    }
    missing.sort();
    missing
}

/// All tidy checks; the error says what is wrong and what to change.
pub fn check() -> Result<(), String> {
    let root = workspace_root();
    let doc = std::fs::read_to_string(root.join("ARCHITECTURE.md"))
        .map_err(|e| format!("ARCHITECTURE.md: {e}"))?;
    let documented = documented_graph(&doc)?;
    let meta = metadata()?;
    let actual = actual_graph(&meta)?;
    if actual != documented {
        return Err(format!(
            "the crate graph differs from ARCHITECTURE.md's Dependency graph table: \
             change the code or the table, and say why\n  actual:     {actual:?}\n  documented: {documented:?}"
        ));
    }
    if reaches(&meta, "veritrail-verify").contains("veritrail-ledger") {
        return Err("veritrail-verify reaches veritrail-ledger: the verifier must not trust the ledger's code".into());
    }
    let missing = files_without_module_doc(&root);
    if !missing.is_empty() {
        return Err(format!("files without a `//!` opening doc: {missing:?}"));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn metadata() -> serde_json::Value {
        super::metadata().unwrap()
    }

    #[test]
    fn dependency_graph_matches_architecture_md() {
        let doc = std::fs::read_to_string(workspace_root().join("ARCHITECTURE.md")).unwrap();
        let documented = documented_graph(&doc).unwrap();
        let actual = actual_graph(&metadata()).unwrap();
        assert_eq!(
            actual, documented,
            "the crate graph (left) differs from ARCHITECTURE.md's Dependency graph table (right): \
             change the code or the table, and say why"
        );
    }

    #[test]
    fn verify_never_reaches_ledger() {
        let reached = reaches(&metadata(), "veritrail-verify");
        assert!(reached.contains("veritrail-core"), "{reached:?}");
        assert!(
            !reached.contains("veritrail-ledger"),
            "veritrail-verify reaches veritrail-ledger"
        );
    }

    #[test]
    fn every_rust_file_opens_with_a_doc_comment() {
        let missing = files_without_module_doc(&workspace_root());
        assert!(
            missing.is_empty(),
            "files without a `//!` opening doc: {missing:?}"
        );
    }

    #[test]
    fn the_table_parser_reads_rows_and_rejects_a_missing_section() {
        let doc = "# x\n\n## Dependency graph\n\n| crate | depends on | dev-depends on |\n|---|---|---|\n| `a` | `b`, `c` | - |\n| `b` | - | `c` |\n\n## Next\n";
        let g = documented_graph(doc).unwrap();
        assert_eq!(g["a"].normal.len(), 2);
        assert!(g["b"].normal.is_empty());
        assert!(g["b"].dev.contains("c"));
        assert!(documented_graph("# nothing").is_err());
    }
}
