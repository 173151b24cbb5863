//! A real, signed apt repository built with Debian's own tools: tiny `.deb`s made by
//! `dpkg-deb`, `Packages` (plain, `.gz`, `.xz`) and `Release` by `apt-ftparchive`
//! (`Acquire-By-Hash: yes`), `InRelease` and `Release.gpg` signed by a throw-away gpg key in a
//! temporary `GNUPGHOME`. Serve [`AptRepo::dir`] with any file server.

use std::path::{Path, PathBuf};
use std::process::Command;

use crate::process::output_of;

/// A package in the repository.
#[derive(Clone, Debug)]
pub struct Deb {
    /// Its name.
    pub name: String,
    /// Its version.
    pub version: String,
    /// `amd64` or `all`.
    pub arch: String,
    /// `Depends:` (empty for none).
    pub depends: String,
}

impl Deb {
    /// A package named `name` at `version` for `arch`.
    pub fn new(name: &str, version: &str, arch: &str) -> Deb {
        Deb {
            name: name.into(),
            version: version.into(),
            arch: arch.into(),
            depends: String::new(),
        }
    }

    /// The same package, depending on `depends`.
    pub fn depending_on(mut self, depends: &str) -> Deb {
        self.depends = depends.into();
        self
    }

    /// Its path in the repository.
    pub fn pool_path(&self) -> String {
        let first = &self.name[..1];
        format!(
            "pool/main/{first}/{n}/{n}_{v}_{a}.deb",
            n = self.name,
            v = self.version,
            a = self.arch
        )
    }
}

/// A signed repository with one suite (`stable`), component `main`, architecture `amd64`.
pub struct AptRepo {
    dir: PathBuf,
    gnupg: tempfile::TempDir,
    work: tempfile::TempDir,
    /// The signing key's public part, binary (`gpg --export`).
    pub keyring: PathBuf,
    /// The same, armored (`gpg --armor --export`).
    pub keyring_asc: PathBuf,
}

fn gpg(home: &Path) -> Command {
    let mut c = Command::new("gpg");
    c.arg("--homedir")
        .arg(home)
        .args(["--batch", "--yes", "--quiet"]);
    c
}

/// A new key in a new `GNUPGHOME`.
fn new_key(home: &Path, uid: &str) {
    output_of(gpg(home).args([
        "--passphrase",
        "",
        "--quick-gen-key",
        uid,
        "ed25519",
        "sign",
        "never",
    ]));
}

impl AptRepo {
    /// An empty repository under `dir/repo`, with its key; `dir/keyring.gpg` and
    /// `dir/keyring.asc` hold the public key.
    pub fn new(dir: &Path) -> AptRepo {
        let gnupg = tempfile::tempdir().expect("gnupg home");
        new_key(gnupg.path(), "mirrorkit test archive <archive@example.org>");
        let keyring = dir.join("keyring.gpg");
        std::fs::write(&keyring, output_of(gpg(gnupg.path()).arg("--export"))).expect("keyring");
        let keyring_asc = dir.join("keyring.asc");
        std::fs::write(
            &keyring_asc,
            output_of(gpg(gnupg.path()).args(["--armor", "--export"])),
        )
        .expect("keyring.asc");
        let repo = dir.join("repo");
        std::fs::create_dir_all(repo.join("pool/main")).expect("pool");
        AptRepo {
            dir: repo,
            gnupg,
            work: tempfile::tempdir().expect("work dir"),
            keyring,
            keyring_asc,
        }
    }

    /// The repository's directory (holds `dists/` and `pool/`).
    pub fn dir(&self) -> &Path {
        &self.dir
    }

    /// Build `deb` with `dpkg-deb` into the pool; its path.
    pub fn add(&self, deb: &Deb) -> PathBuf {
        let src = self
            .work
            .path()
            .join(format!("{}-{}", deb.name, deb.version));
        let _ = std::fs::remove_dir_all(&src);
        std::fs::create_dir_all(src.join("DEBIAN")).expect("DEBIAN");
        let share = src.join("usr/share").join(&deb.name);
        std::fs::create_dir_all(&share).expect("share");
        std::fs::write(
            share.join("greeting"),
            format!("hello from {} {}\n", deb.name, deb.version),
        )
        .expect("payload");
        let mut control = format!(
            "Package: {}\nVersion: {}\nArchitecture: {}\nMaintainer: Test <t@example.org>\nDescription: a test package\n",
            deb.name, deb.version, deb.arch
        );
        if !deb.depends.is_empty() {
            control.push_str(&format!("Depends: {}\n", deb.depends));
        }
        std::fs::write(src.join("DEBIAN/control"), control).expect("control");
        let out = self.dir.join(deb.pool_path());
        std::fs::create_dir_all(out.parent().expect("parent")).expect("pool dir");
        output_of(
            Command::new("dpkg-deb")
                .args(["--root-owner-group", "-Zgzip", "--build"])
                .arg(&src)
                .arg(&out),
        );
        out
    }

    /// Write `Packages` (plain, `.gz`, `.xz`) and `Release` for what the pool holds, then sign
    /// (`InRelease`, `Release.gpg`).
    pub fn publish(&self) {
        let bin = self.dir.join("dists/stable/main/binary-amd64");
        std::fs::create_dir_all(&bin).expect("dists");
        let packages = output_of(
            Command::new("apt-ftparchive")
                .current_dir(&self.dir)
                .args(["packages", "pool/main"]),
        );
        std::fs::write(bin.join("Packages"), &packages).expect("Packages");
        for (tool, ext) in [("gzip", "gz"), ("xz", "xz")] {
            let _ = std::fs::remove_file(bin.join(format!("Packages.{ext}")));
            output_of(
                Command::new(tool)
                    .args(["-k", "-f"])
                    .arg(bin.join("Packages")),
            );
        }
        std::fs::write(
            bin.join("Release"),
            "Archive: stable\nComponent: main\nArchitecture: amd64\n",
        )
        .expect("component Release");
        let dists = self.dir.join("dists/stable");
        for f in ["Release", "InRelease", "Release.gpg"] {
            let _ = std::fs::remove_file(dists.join(f));
        }
        let release = output_of(Command::new("apt-ftparchive").current_dir(&self.dir).args([
            "-o",
            "APT::FTPArchive::Release::Suite=stable",
            "-o",
            "APT::FTPArchive::Release::Codename=stable",
            "-o",
            "APT::FTPArchive::Release::Architectures=amd64",
            "-o",
            "APT::FTPArchive::Release::Components=main",
            "-o",
            "APT::FTPArchive::Release::Acquire-By-Hash=yes",
            "release",
            "dists/stable",
        ]));
        std::fs::write(dists.join("Release"), release).expect("Release");
        self.sign_with(self.gnupg.path());
    }

    /// Sign `dists/stable/Release` with the key in `home` (`InRelease` and `Release.gpg`).
    fn sign_with(&self, home: &Path) {
        let dists = self.dir.join("dists/stable");
        output_of(
            gpg(home)
                .args(["--clearsign", "-o"])
                .arg(dists.join("InRelease"))
                .arg(dists.join("Release")),
        );
        output_of(
            gpg(home)
                .args(["--armor", "--detach-sign", "-o"])
                .arg(dists.join("Release.gpg"))
                .arg(dists.join("Release")),
        );
    }

    /// Sign the suite again with a key nobody trusts (a forged repository).
    pub fn sign_with_unknown_key(&self) {
        let other = tempfile::tempdir().expect("gnupg home");
        new_key(other.path(), "somebody else <else@example.org>");
        self.sign_with(other.path());
    }
}
