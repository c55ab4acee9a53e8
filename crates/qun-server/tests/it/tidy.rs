//! The map is true: every source file of the workspace is named in ARCHITECTURE.md's code map,
//! in its crate's section (by its path under `src/`, its file name, or its module path).

use std::path::{Path, PathBuf};

/// Every `.rs` file under `dir`, recursively.
fn sources(dir: &Path) -> Vec<PathBuf> {
    let mut found = Vec::new();
    for entry in std::fs::read_dir(dir).expect("read dir") {
        let path = entry.expect("dir entry").path();
        if path.is_dir() {
            found.extend(sources(&path));
        } else if path.extension().is_some_and(|extension| extension == "rs") {
            found.push(path);
        }
    }
    found
}

/// The text of `### \`crates/<crate>\`` up to the next heading of that level or above.
fn section<'a>(map: &'a str, crate_name: &str) -> &'a str {
    let heading = format!("### `crates/{crate_name}`\n");
    let Some(start) = map.find(&heading) else { return "" };
    let body = &map[start + heading.len()..];
    let end = body.find("\n## ").into_iter().chain(body.find("\n### ")).min().unwrap_or(body.len());
    &body[..end]
}

/// Whether the section names the file `relative` (a path under the crate's `src/`).
fn names(section: &str, relative: &str) -> bool {
    let file_name = relative.rsplit('/').next().unwrap_or(relative);
    let mut module: Vec<&str> = relative.trim_end_matches(".rs").split('/').collect();
    if module.last() == Some(&"mod") {
        module.pop();
    }
    let module_path = module.join("::");
    let directory = relative.strip_suffix("mod.rs").filter(|dir| !dir.is_empty());
    section.contains(relative)
        || section.contains(&format!("`{file_name}`"))
        || section.contains(&format!(" {file_name}"))
        || section.contains(&format!("`{module_path}`"))
        || section.contains(&format!("`{module_path}::"))
        || directory.is_some_and(|dir| section.contains(dir))
}

#[test]
fn every_source_file_is_in_the_code_map() {
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("../..");
    let map = std::fs::read_to_string(root.join("ARCHITECTURE.md")).expect("ARCHITECTURE.md");
    let mut missing = Vec::new();
    for entry in std::fs::read_dir(root.join("crates")).expect("crates") {
        let crate_dir = entry.expect("crate").path();
        let crate_name = crate_dir.file_name().unwrap().to_string_lossy().into_owned();
        let src = crate_dir.join("src");
        if !src.is_dir() {
            continue;
        }
        let section = section(&map, &crate_name);
        for file in sources(&src) {
            let relative = file.strip_prefix(&src).unwrap().to_string_lossy().replace('\\', "/");
            // Unit-test files live next to the code they test; the map names that code.
            if relative.ends_with("_test.rs") || relative.ends_with("/tests.rs") {
                continue;
            }
            if !names(section, &relative) {
                missing.push(format!("crates/{crate_name}/src/{relative}"));
            }
        }
    }
    missing.sort();
    assert!(missing.is_empty(), "not in ARCHITECTURE.md's code map (name them in their crate's section): {missing:#?}");
}

#[test]
fn the_rule_recognises_paths_names_and_modules() {
    let section = "`gateway/`: the socket. `queues.rs` (pulls), `rules::authorize`, `msync::scan`";
    assert!(names(section, "gateway/mod.rs"));
    assert!(names(section, "gateway/queues.rs"));
    assert!(names(section, "rules.rs"));
    assert!(names(section, "msync/scan.rs"));
    assert!(!names(section, "gateway/hub.rs"));
    assert!(!names(section, "lib.rs"));
    // A module whose name starts another's is not named by it.
    assert!(!names("`room_events` (`RoomOperation`)", "room.rs"));
}
