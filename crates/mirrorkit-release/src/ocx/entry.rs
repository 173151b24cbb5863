//! The rules an archive entry must pass to be repacked into a layer: safe names,
//! `strip_components`, and links that stay inside the package root.
//!
//! Everything here is lexical and runs on names only, so it is checked before a byte of the
//! entry's data is copied. The layer is later extracted by ocx (or `tar`) on a user's machine;
//! a name that escapes the root there would write anywhere, so the checks err on refusing.

use std::collections::HashSet;

/// What to do with an entry, once its name has been checked.
#[derive(Debug, PartialEq, Eq)]
pub(crate) enum Placement {
    /// Repack under this normalised path (`a/b`, no leading `./`, no trailing `/`).
    Keep(String),
    /// Leave out: `strip_components` removes every component of the name.
    Drop,
}

/// Checks names against the rules and remembers what was written, for link checks.
pub(crate) struct EntryRules {
    strip_components: usize,
    /// Paths written as symlinks so far: nothing may be written beneath them, and a link
    /// target may not go `..` after passing through one (its real location is elsewhere).
    symlinks: HashSet<String>,
    /// Paths written as regular files or hard links so far: the only valid hard-link targets.
    files: HashSet<String>,
}

impl EntryRules {
    /// Rules that strip `strip_components` leading components from every name.
    pub(crate) fn new(strip_components: u32) -> EntryRules {
        EntryRules {
            strip_components: usize::try_from(strip_components).unwrap_or(usize::MAX),
            symlinks: HashSet::new(),
            files: HashSet::new(),
        }
    }

    /// Check an entry's name and say where it goes. `Err` holds the reason it is unsafe.
    pub(crate) fn place(&self, name: &str) -> Result<Placement, String> {
        let components = safe_components(name)?;
        let Some(kept) = components
            .get(self.strip_components..)
            .filter(|c| !c.is_empty())
        else {
            return Ok(Placement::Drop);
        };
        for depth in 1..kept.len() {
            let prefix = kept[..depth].join("/");
            if self.symlinks.contains(&prefix) {
                return Err(format!("the path goes through the symlink {prefix:?}"));
            }
        }
        Ok(Placement::Keep(kept.join("/")))
    }

    /// Check that a symlink at `path` (already placed) pointing to `target` stays inside the
    /// package root. `Err` holds the reason it does not.
    pub(crate) fn check_symlink(&self, path: &str, target: &str) -> Result<(), String> {
        if target.is_empty() {
            return Err("the symlink target is empty".to_string());
        }
        if target.starts_with('/') || has_windows_prefix(target) {
            return Err(format!("the symlink target {target:?} is absolute"));
        }
        // Resolve lexically from the link's directory.
        let mut resolved: Vec<&str> = path.split('/').collect();
        resolved.pop();
        let mut through_symlink = false;
        for component in target.split('/') {
            match component {
                "" | "." => {}
                ".." => {
                    if through_symlink {
                        return Err(format!(
                            "the symlink target {target:?} uses `..` after passing through another symlink"
                        ));
                    }
                    if resolved.pop().is_none() {
                        return Err(format!(
                            "the symlink target {target:?} points outside the package root"
                        ));
                    }
                }
                normal => {
                    if normal.split('\\').any(|part| part == "..") {
                        return Err(format!(
                            "the symlink target {target:?} holds a `..` behind a backslash"
                        ));
                    }
                    resolved.push(normal);
                    if self.symlinks.contains(&resolved.join("/")) {
                        through_symlink = true;
                    }
                }
            }
        }
        Ok(())
    }

    /// Check a hard link's target (a name as written in the archive) and return where that
    /// target was repacked. It must be a file written earlier in this layer.
    pub(crate) fn check_hard_link(&self, target: &str) -> Result<String, String> {
        let placed = match self.place(target) {
            Ok(Placement::Keep(p)) => p,
            Ok(Placement::Drop) => {
                return Err(format!(
                    "the hard link target {target:?} is removed by strip_components"
                ));
            }
            Err(reason) => return Err(format!("the hard link target {target:?}: {reason}")),
        };
        if self.files.contains(&placed) {
            Ok(placed)
        } else {
            Err(format!(
                "the hard link target {target:?} is not a file earlier in the archive"
            ))
        }
    }

    /// Record that a symlink was written at `path`.
    pub(crate) fn wrote_symlink(&mut self, path: &str) {
        self.files.remove(path);
        self.symlinks.insert(path.to_string());
    }

    /// Record that a regular file (or hard link) was written at `path`.
    pub(crate) fn wrote_file(&mut self, path: &str) {
        self.symlinks.remove(path);
        self.files.insert(path.to_string());
    }

    /// Record that a directory was written at `path` (a later directory replaces nothing, but a
    /// symlink of the same name would already have been refused as a parent).
    pub(crate) fn wrote_directory(&mut self, path: &str) {
        self.symlinks.remove(path);
        self.files.remove(path);
    }
}

/// Split a name into its components, refusing absolute names and `..`; `.` and empty
/// components (`a//b`, `./a`, trailing `/`) are dropped.
pub(crate) fn safe_components(name: &str) -> Result<Vec<&str>, String> {
    if name.starts_with('/') {
        return Err("the path is absolute".to_string());
    }
    if has_windows_prefix(name) {
        return Err("the path is an absolute Windows path".to_string());
    }
    if name.contains('\0') {
        return Err("the path holds a NUL byte".to_string());
    }
    let mut out = Vec::new();
    for component in name.split('/') {
        match component {
            "" | "." => {}
            ".." => return Err("the path holds a `..` component".to_string()),
            // `a\..\b` is a plain name on Unix but a parent reference when ocx extracts on
            // Windows.
            c if c.split('\\').any(|part| part == "..") => {
                return Err("the path holds a `..` behind a backslash".to_string());
            }
            c => out.push(c),
        }
    }
    Ok(out)
}

/// `C:`, `C:\…`, `\\server\…`: names that are absolute on Windows.
fn has_windows_prefix(name: &str) -> bool {
    let bytes = name.as_bytes();
    let drive = bytes.len() >= 2 && bytes[0].is_ascii_alphabetic() && bytes[1] == b':';
    drive || name.starts_with('\\')
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn placement_of_names_with_strip_components() {
        let strip1 = EntryRules::new(1);
        let cases = [
            ("pkg/bin/tool", Ok(Placement::Keep("bin/tool".to_string()))),
            (
                "./pkg/bin/tool",
                Ok(Placement::Keep("bin/tool".to_string())),
            ),
            ("pkg//bin/", Ok(Placement::Keep("bin".to_string()))),
            ("pkg/", Ok(Placement::Drop)),
            ("README", Ok(Placement::Drop)),
            ("./", Ok(Placement::Drop)),
            ("../x", Err(())),
            ("pkg/../../x", Err(())),
            ("/etc/x", Err(())),
            ("C:/x", Err(())),
            ("pkg/a\\..\\..\\x", Err(())),
        ];
        for (name, want) in cases {
            let got = strip1.place(name).map_err(|_| ());
            assert_eq!(got, want, "{name}");
        }
    }

    #[test]
    fn symlink_targets_must_stay_inside_the_root() {
        let mut rules = EntryRules::new(0);
        assert!(rules.check_symlink("bin/tool", "../libexec/tool").is_ok());
        assert!(rules.check_symlink("tool", "bin/tool").is_ok());
        assert!(rules.check_symlink("bin/tool", "../../x").is_err());
        assert!(rules.check_symlink("tool", "/usr/bin/tool").is_err());
        assert!(rules.check_symlink("tool", "").is_err());
        // `here -> .` is fine; but `here/..` is not the root, it is the root's parent.
        assert!(rules.check_symlink("here", ".").is_ok());
        rules.wrote_symlink("here");
        assert!(rules.check_symlink("up", "here/..").is_err());
        assert!(rules.place("here/file").is_err());
    }

    #[test]
    fn hard_links_must_point_at_earlier_files() {
        let mut rules = EntryRules::new(1);
        rules.wrote_file("bin/tool");
        assert_eq!(
            rules.check_hard_link("pkg/bin/tool"),
            Ok("bin/tool".to_string())
        );
        assert!(rules.check_hard_link("pkg/bin/other").is_err());
        assert!(rules.check_hard_link("pkg").is_err());
        assert!(rules.check_hard_link("../etc/passwd").is_err());
    }
}
