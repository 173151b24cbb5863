//! The Pythons and platforms a PyPI mirror serves ([`PypiTargets`]): which files of a version
//! are mirrored — a wheel when its tags install on one of the target Pythons and platforms (as
//! pip's compatible-tag list decides), any file when its `Requires-Python` admits one of them,
//! sdists unless turned off — and the marker environments `Requires-Dist` is evaluated for.
//! The targets are CPython: PyPy-only wheels (`pp310`) match none.

use mirrorkit_core::source::packages::PypiTargets;
use pep508_rs::{MarkerEnvironment, MarkerEnvironmentBuilder};

/// Every Python and platform when none are configured: what a mirror for "any common
/// installation" must serve.
const DEFAULT_PYTHONS: [(u32, u32); 6] = [(3, 9), (3, 10), (3, 11), (3, 12), (3, 13), (3, 14)];

/// An operating system as markers see it: `sys_platform`, `platform_system`, `os_name`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
struct Os {
    sys_platform: &'static str,
    platform_system: &'static str,
    os_name: &'static str,
}

const LINUX: Os = Os {
    sys_platform: "linux",
    platform_system: "Linux",
    os_name: "posix",
};
const MACOS: Os = Os {
    sys_platform: "darwin",
    platform_system: "Darwin",
    os_name: "posix",
};
const WINDOWS: Os = Os {
    sys_platform: "win32",
    platform_system: "Windows",
    os_name: "nt",
};

/// The machines markers are evaluated for, with the wheel platform words that name them.
const MACHINES: [(Os, &str, &[&str]); 8] = [
    (LINUX, "x86_64", &["x86_64"]),
    (LINUX, "aarch64", &["aarch64"]),
    (LINUX, "i686", &["i686"]),
    (MACOS, "x86_64", &["x86_64", "universal2", "intel"]),
    (MACOS, "arm64", &["arm64", "universal2"]),
    (WINDOWS, "AMD64", &["amd64"]),
    (WINDOWS, "ARM64", &["arm64"]),
    (WINDOWS, "x86", &["win32"]),
];

/// [`PypiTargets`] ready to match files and evaluate markers.
#[derive(Clone, Debug)]
pub(crate) struct Targets {
    /// `(major, minor)`; empty: every Python.
    pythons: Vec<(u32, u32)>,
    /// Platform tag patterns; empty: every platform.
    platforms: Vec<String>,
    sdist: bool,
    /// The marker environments: every target Python on every target machine.
    environments: Vec<MarkerEnvironment>,
}

impl Default for Targets {
    fn default() -> Self {
        Targets::new(&PypiTargets::default())
    }
}

impl Targets {
    /// The targets of `t` (checked by the spec or the command line: what does not read is
    /// left out).
    pub(crate) fn new(t: &PypiTargets) -> Targets {
        let pythons: Vec<(u32, u32)> = t
            .python
            .iter()
            .filter_map(|v| {
                let (a, b) = v.split_once('.')?;
                Some((a.parse().ok()?, b.parse().ok()?))
            })
            .collect();
        let marker_pythons: &[(u32, u32)] = if pythons.is_empty() {
            &DEFAULT_PYTHONS
        } else {
            &pythons
        };
        let machines: Vec<&(Os, &str, &[&str])> = MACHINES
            .iter()
            .filter(|m| t.platforms.is_empty() || t.platforms.iter().any(|p| names_machine(p, m)))
            .collect();
        let mut environments = Vec::new();
        for (major, minor) in marker_pythons {
            // Markers may compare the full version: the first and a late patch release.
            for patch in [0, 99] {
                for (os, machine, _) in &machines {
                    if let Some(env) = environment(*major, *minor, patch, os, machine) {
                        environments.push(env);
                    }
                }
            }
        }
        Targets {
            pythons,
            platforms: t.platforms.clone(),
            sdist: t.sdist,
            environments,
        }
    }

    /// The marker environments dependencies are evaluated for.
    pub(crate) fn environments(&self) -> &[MarkerEnvironment] {
        &self.environments
    }

    /// The target Pythons, `None` for every one.
    pub(crate) fn pythons(&self) -> Option<&[(u32, u32)]> {
        (!self.pythons.is_empty()).then_some(&self.pythons)
    }

    /// Whether `filename` (a wheel or an sdist) with this `Requires-Python` is mirrored.
    pub(crate) fn wants(&self, filename: &str, requires_python: Option<&str>) -> bool {
        self.wants_for(filename, requires_python, None)
    }

    /// [`Targets::wants`] for one target Python (`only`), or for any of them.
    pub(crate) fn wants_for(
        &self,
        filename: &str,
        requires_python: Option<&str>,
        only: Option<(u32, u32)>,
    ) -> bool {
        if !self.admits(requires_python, only) {
            return false;
        }
        let pythons: Vec<(u32, u32)> = match only {
            Some(p) => vec![p],
            None => self.pythons.clone(),
        };
        match wheel_tags(filename) {
            Some((python, abi, platform)) => {
                let python_ok = pythons.is_empty()
                    || pythons
                        .iter()
                        .any(|t| python.iter().any(|p| python_tag_matches(p, &abi, *t)));
                let platform_ok = platform.contains(&"any")
                    || self.platforms.is_empty()
                    || platform
                        .iter()
                        .flat_map(|p| also_installs_as(p))
                        .any(|p| self.platforms.iter().any(|pat| glob(pat, &p)));
                python_ok && platform_ok
            }
            None => self.sdist,
        }
    }

    /// Whether `requires_python` admits one of the target Pythons (`only`: just this one).
    pub(crate) fn admits(&self, requires_python: Option<&str>, only: Option<(u32, u32)>) -> bool {
        let Some(rp) = requires_python.map(str::trim).filter(|r| !r.is_empty()) else {
            return true;
        };
        // An unreadable Requires-Python does not hide a file (pip ignores it too).
        let Ok(spec) = rp.parse::<pep440_rs::VersionSpecifiers>() else {
            return true;
        };
        let pythons: Vec<(u32, u32)> = match only {
            Some(p) => vec![p],
            None if self.pythons.is_empty() => return true,
            None => self.pythons.clone(),
        };
        pythons.iter().any(|(major, minor)| {
            [0, 99].iter().any(|patch| {
                format!("{major}.{minor}.{patch}")
                    .parse::<pep440_rs::Version>()
                    .is_ok_and(|v| spec.contains(&v))
            })
        })
    }

    /// The targets in words, for a message.
    pub(crate) fn describe(&self) -> String {
        let pythons = if self.pythons.is_empty() {
            "any Python".to_string()
        } else {
            let v: Vec<String> = self
                .pythons
                .iter()
                .map(|(a, b)| format!("{a}.{b}"))
                .collect();
            format!("Python {}", v.join(", "))
        };
        let platforms = if self.platforms.is_empty() {
            "any platform".to_string()
        } else {
            self.platforms.join(", ")
        };
        let sdist = if self.sdist { "" } else { ", no sdists" };
        format!("{pythons} on {platforms}{sdist}")
    }
}

/// Whether the platform pattern `pattern` names `machine`: by its operating system and
/// architecture words (`manylinux*_x86_64` → Linux x86_64, `win_amd64` → Windows AMD64,
/// `macosx_*_universal2` → both Macs); a pattern that names no operating system or no
/// architecture names every one.
fn names_machine(pattern: &str, machine: &(Os, &str, &[&str])) -> bool {
    let p = pattern.to_ascii_lowercase();
    let os = if p.contains("linux") {
        Some(LINUX)
    } else if p.contains("macosx") {
        Some(MACOS)
    } else if p.starts_with("win") {
        Some(WINDOWS)
    } else {
        None
    };
    if os.is_some_and(|o| o != machine.0) {
        return false;
    }
    let arch_words = [
        "x86_64",
        "amd64",
        "aarch64",
        "arm64",
        "i686",
        "win32",
        "universal2",
        "intel",
    ];
    let named: Vec<&str> = arch_words
        .iter()
        .copied()
        .filter(|w| p.ends_with(w))
        .collect();
    named.is_empty() || named.iter().any(|w| machine.2.contains(w))
}

fn environment(
    major: u32,
    minor: u32,
    patch: u32,
    os: &Os,
    machine: &str,
) -> Option<MarkerEnvironment> {
    let full = format!("{major}.{minor}.{patch}");
    let short = format!("{major}.{minor}");
    MarkerEnvironment::try_from(MarkerEnvironmentBuilder {
        implementation_name: "cpython",
        implementation_version: &full,
        os_name: os.os_name,
        platform_machine: machine,
        platform_python_implementation: "CPython",
        platform_release: "",
        platform_system: os.platform_system,
        platform_version: "",
        python_full_version: &full,
        python_version: &short,
        sys_platform: os.sys_platform,
    })
    .ok()
}

/// A wheel's python, abi and platform tags (each possibly compressed: `py2.py3`), from its
/// file name `name-version(-build)?-python-abi-platform.whl`; `None` for anything else.
fn wheel_tags(filename: &str) -> Option<(Vec<&str>, Vec<&str>, Vec<&str>)> {
    let stem = filename.strip_suffix(".whl")?;
    let parts: Vec<&str> = stem.split('-').collect();
    if !(5..=6).contains(&parts.len()) {
        return None;
    }
    let n = parts.len();
    Some((
        parts[n - 3].split('.').collect(),
        parts[n - 2].split('.').collect(),
        parts[n - 1].split('.').collect(),
    ))
}

/// Whether the python tag `tag` (with the wheel's abi tags) installs on CPython `target`, as
/// pip's compatible tags say: `py3` and `pyXY` for Y up to the target's minor, `cpXY` for the
/// target itself, and `cpXY-abi3` for Y up to the target's minor.
fn python_tag_matches(tag: &str, abi: &[&str], (major, minor): (u32, u32)) -> bool {
    let (kind, digits) = tag.split_at(tag.find(|c: char| c.is_ascii_digit()).unwrap_or(tag.len()));
    let mut chars = digits.chars();
    let Some(tag_major) = chars.next().and_then(|c| c.to_digit(10)) else {
        return false;
    };
    let tag_minor: Option<u32> = match chars.as_str() {
        "" => None,
        rest => match rest.parse() {
            Ok(m) => Some(m),
            Err(_) => return false,
        },
    };
    if tag_major != major {
        return false;
    }
    match kind {
        "py" => tag_minor.is_none_or(|m| m <= minor),
        "cp" => match tag_minor {
            None => false,
            Some(m) if abi.contains(&"abi3") => m <= minor,
            Some(m) => m == minor,
        },
        _ => false,
    }
}

/// A wheel platform tag and the tags of the machines it also installs on: a macOS
/// `universal2` wheel on `arm64` and `x86_64` Macs, an `intel` one on `x86_64` (as pip's
/// compatible tags say), so a target written for one Mac takes them.
fn also_installs_as(tag: &str) -> Vec<String> {
    let mut out = vec![tag.to_string()];
    if let Some(stem) = tag.strip_suffix("_universal2") {
        out.push(format!("{stem}_arm64"));
        out.push(format!("{stem}_x86_64"));
    } else if let Some(stem) = tag.strip_suffix("_intel") {
        out.push(format!("{stem}_x86_64"));
    }
    out
}

/// `pattern` with `*` matching any run of characters, against `text` (ASCII, case-insensitive).
fn glob(pattern: &str, text: &str) -> bool {
    let p = pattern.to_ascii_lowercase();
    let t = text.to_ascii_lowercase();
    let parts: Vec<&str> = p.split('*').collect();
    if parts.len() == 1 {
        return p == t;
    }
    let (first, last) = (parts[0], parts[parts.len() - 1]);
    if !t.starts_with(first) || !t[first.len()..].ends_with(last) {
        return false;
    }
    let mut rest = &t[first.len()..t.len() - last.len()];
    for mid in &parts[1..parts.len() - 1] {
        match rest.find(mid) {
            Some(i) => rest = &rest[i + mid.len()..],
            None => return false,
        }
    }
    true
}

#[cfg(test)]
mod tests {
    use super::*;

    fn targets(python: &[&str], platforms: &[&str], sdist: bool) -> Targets {
        Targets::new(&PypiTargets {
            python: python.iter().map(|s| s.to_string()).collect(),
            platforms: platforms.iter().map(|s| s.to_string()).collect(),
            sdist,
        })
    }

    #[test]
    fn wheels_match_as_pips_compatible_tags_say() {
        let t = targets(&["3.11"], &["manylinux*_x86_64"], false);
        for yes in [
            "a-1.0-py3-none-any.whl",
            "a-1.0-py2.py3-none-any.whl",
            "a-1.0-py38-none-any.whl",
            "a-1.0-cp311-cp311-manylinux_2_17_x86_64.manylinux2014_x86_64.whl",
            "a-1.0-cp38-abi3-manylinux_2_28_x86_64.whl",
            "a-1.0-1build-py3-none-any.whl",
        ] {
            assert!(t.wants(yes, None), "{yes}");
        }
        for no in [
            "a-1.0.tar.gz",
            "a-1.0-cp312-cp312-manylinux_2_17_x86_64.whl",
            "a-1.0-cp310-cp310-manylinux_2_17_x86_64.whl",
            "a-1.0-cp311-cp311-win_amd64.whl",
            "a-1.0-cp311-cp311-manylinux_2_17_aarch64.whl",
            "a-1.0-py2-none-any.whl",
            "a-1.0-pp310-pypy310_pp73-manylinux_2_17_x86_64.whl",
            "a-1.0-py312-none-any.whl",
        ] {
            assert!(!t.wants(no, None), "{no}");
        }
        assert!(!t.wants("a-1.0-py3-none-any.whl", Some(">=3.12")));
        assert!(t.wants("a-1.0-py3-none-any.whl", Some(">=3.11.2")));
        assert!(t.wants("a-1.0-py3-none-any.whl", Some("not a specifier")));
        let mac = targets(&["3.11", "3.12"], &["macosx_*_arm64"], false);
        assert!(mac.wants("a-1.0-cp311-cp311-macosx_11_0_universal2.whl", None));
        assert!(!mac.wants("a-1.0-cp311-cp311-macosx_10_9_intel.whl", None));
        // For one of the Pythons only: a cp312 wheel is not one for 3.11.
        let cp312 = "a-1.0-cp312-cp312-macosx_11_0_arm64.whl";
        assert!(mac.wants(cp312, None));
        assert!(mac.wants_for(cp312, None, Some((3, 12))));
        assert!(!mac.wants_for(cp312, None, Some((3, 11))));
        let all = Targets::default();
        assert!(all.wants("a-1.0.tar.gz", Some(">=3.99")));
        assert!(all.wants("a-1.0-pp310-pypy310_pp73-win_amd64.whl", None));
        assert_eq!(t.describe(), "Python 3.11 on manylinux*_x86_64, no sdists");
    }

    #[test]
    fn globs_and_machines() {
        assert!(glob("manylinux*_x86_64", "manylinux_2_17_x86_64"));
        assert!(glob("*", "anything"));
        assert!(glob("macosx_*_arm64", "macosx_11_0_arm64"));
        assert!(!glob("macosx_*_arm64", "macosx_11_0_x86_64"));
        assert!(glob("WIN_AMD64", "win_amd64"));
        assert!(!glob("a*b*c", "abd"));
        let linux = &MACHINES[0];
        let win = &MACHINES[5];
        let mac_arm = &MACHINES[4];
        assert!(names_machine("manylinux*_x86_64", linux));
        assert!(!names_machine("manylinux*_x86_64", win));
        assert!(names_machine("win_amd64", win));
        assert!(names_machine("macosx_*_universal2", mac_arm));
        assert!(names_machine("*", win));
        // Every target Python twice (first and late patch) on the one machine.
        assert_eq!(
            targets(&["3.11", "3.12"], &["win_amd64"], true)
                .environments()
                .len(),
            4
        );
    }
}
