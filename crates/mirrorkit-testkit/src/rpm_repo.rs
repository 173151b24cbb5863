//! A real, signed rpm repository built with the tools distributions use: tiny packages by
//! `rpmbuild`, metadata by `createrepo_c` (with `--zck`), `repodata/repomd.xml.asc` signed by
//! a throw-away gpg key in a temporary `GNUPGHOME`. Serve [`RpmRepo::dir`] with any file server.

use std::path::{Path, PathBuf};
use std::process::Command;

use crate::process::output_of;

/// A signed rpm repository.
pub struct RpmRepo {
    dir: PathBuf,
    gnupg: tempfile::TempDir,
    work: tempfile::TempDir,
    /// The signing key's public part, armored (`gpg --armor --export`).
    pub keyring: PathBuf,
}

fn gpg(home: &Path) -> Command {
    let mut c = Command::new("gpg");
    c.arg("--homedir")
        .arg(home)
        .args(["--batch", "--yes", "--quiet"]);
    c
}

/// `rpmsign --addsign` with the key `uid` in `home` (gpg itself, no agent prompt).
fn rpmsign(home: &Path, uid: &str, path: &Path) {
    output_of(
        Command::new("rpmsign")
            .arg("--addsign")
            .args(["--define", "__gpg /usr/bin/gpg"])
            .args(["--define", &format!("_gpg_name {uid}")])
            .args(["--define", &format!("_gpg_path {}", home.display())])
            .args([
                "--define",
                "_gpg_sign_cmd_extra_args --batch --pinentry-mode loopback --passphrase ''",
            ])
            .arg(path),
    );
}

impl RpmRepo {
    /// An empty repository under `dir/rpmrepo`; `dir/rpm-key.asc` holds the public key.
    pub fn new(dir: &Path) -> RpmRepo {
        let gnupg = tempfile::tempdir().expect("gnupg home");
        output_of(gpg(gnupg.path()).args([
            "--passphrase",
            "",
            "--quick-gen-key",
            "mirrorkit test rpm <rpm@example.org>",
            "ed25519",
            "sign",
            "never",
        ]));
        let keyring = dir.join("rpm-key.asc");
        std::fs::write(
            &keyring,
            output_of(gpg(gnupg.path()).args(["--armor", "--export"])),
        )
        .expect("key");
        let repo = dir.join("rpmrepo");
        std::fs::create_dir_all(repo.join("Packages")).expect("Packages");
        RpmRepo {
            dir: repo,
            gnupg,
            work: tempfile::tempdir().expect("work dir"),
            keyring,
        }
    }

    /// The repository's directory (holds `repodata/` and `Packages/`).
    pub fn dir(&self) -> &Path {
        &self.dir
    }

    /// Build `name-version-1.noarch.rpm` (requiring `requires` when not empty) into
    /// `Packages/`; its path.
    pub fn add(&self, name: &str, version: &str, requires: &str) -> PathBuf {
        let spec = self.work.path().join(format!("{name}-{version}.spec"));
        let requires = if requires.is_empty() {
            String::new()
        } else {
            format!("Requires: {requires}\n")
        };
        std::fs::write(
            &spec,
            format!(
                "Name: {name}\nVersion: {version}\nRelease: 1\nSummary: a test package\nLicense: MIT\nBuildArch: noarch\n{requires}%description\na test package\n%install\nmkdir -p %{{buildroot}}/usr/share/{name}\necho {name} {version} > %{{buildroot}}/usr/share/{name}/greeting\n%files\n/usr/share/{name}/greeting\n"
            ),
        )
        .expect("spec");
        let top = self.work.path().join("top");
        output_of(
            Command::new("rpmbuild")
                .args(["-bb", "--quiet", "--define"])
                .arg(format!("_topdir {}", top.display()))
                .arg(&spec),
        );
        let file = format!("{name}-{version}-1.noarch.rpm");
        let out = self.dir.join("Packages").join(&file);
        std::fs::copy(top.join("RPMS/noarch").join(&file), &out).expect("copy rpm");
        out
    }

    /// Write `repodata/` for what `Packages/` holds (`createrepo_c --zck`) and sign
    /// `repomd.xml`.
    pub fn publish(&self) {
        let _ = std::fs::remove_dir_all(self.dir.join("repodata"));
        output_of(
            Command::new("createrepo_c")
                .args(["--quiet", "--zck"])
                .arg(&self.dir),
        );
        self.sign_with(self.gnupg.path());
    }

    fn sign_with(&self, home: &Path) {
        let repomd = self.dir.join("repodata/repomd.xml");
        output_of(
            gpg(home)
                .args(["--armor", "--detach-sign", "-o"])
                .arg(self.dir.join("repodata/repomd.xml.asc"))
                .arg(&repomd),
        );
    }

    /// Sign the package at `path` with the repository's key (`rpmsign --addsign`).
    pub fn sign_package(&self, path: &Path) {
        rpmsign(self.gnupg.path(), "rpm@example.org", path);
    }

    /// Sign the package at `path` with a key nobody trusts.
    pub fn sign_package_with_unknown_key(&self, path: &Path) {
        let other = tempfile::tempdir().expect("gnupg home");
        output_of(gpg(other.path()).args([
            "--passphrase",
            "",
            "--quick-gen-key",
            "somebody else <else@example.org>",
            "ed25519",
            "sign",
            "never",
        ]));
        rpmsign(other.path(), "else@example.org", path);
    }

    /// The path of the data file of `kind` (`primary`, …) under `repodata/`.
    pub fn data_file(&self, kind: &str) -> PathBuf {
        let repomd = std::fs::read_to_string(self.dir.join("repodata/repomd.xml")).expect("repomd");
        let at = repomd
            .find(&format!("<data type=\"{kind}\">"))
            .expect("data type");
        let rest = &repomd[at..];
        let href = rest
            .split("<location href=\"")
            .nth(1)
            .and_then(|r| r.split('"').next())
            .expect("location");
        self.dir.join(href)
    }
}
