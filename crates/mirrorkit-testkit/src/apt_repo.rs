//! A real, signed apt repository built with Debian's own tools: tiny `.deb`s made by
//! `dpkg-deb`, `Packages` (plain, `.gz`, `.xz`) and `Release` by `apt-ftparchive`
//! (`Acquire-By-Hash: yes`), `InRelease` and `Release.gpg` signed by a throw-away gpg key in a
//! temporary `GNUPGHOME`. Source packages (`dpkg-source`, `Sources`), installer packages
//! (`.udeb`s, `debian-installer/binary-amd64`) when any were added, and with
//! [`AptRepo::with_extras`] translations, `Contents-amd64` and AppStream (`dep11`) files.
//! Serve [`AptRepo::dir`] with any file server.

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
    /// An installer package (`.udeb`).
    pub udeb: bool,
}

impl Deb {
    /// A package named `name` at `version` for `arch`.
    pub fn new(name: &str, version: &str, arch: &str) -> Deb {
        Deb {
            name: name.into(),
            version: version.into(),
            arch: arch.into(),
            depends: String::new(),
            udeb: false,
        }
    }

    /// The same package as an installer package (`.udeb`).
    pub fn as_udeb(mut self) -> Deb {
        self.udeb = true;
        self
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
            "pool/main/{first}/{n}/{n}_{v}_{a}.{ext}",
            n = self.name,
            v = self.version,
            a = self.arch,
            ext = if self.udeb { "udeb" } else { "deb" },
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
    extras: bool,
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
            extras: false,
        }
    }

    /// The same repository, publishing translations (`main/i18n/Translation-en.bz2`),
    /// contents (`main/Contents-amd64.gz`) and AppStream files
    /// (`main/dep11/Components-amd64.yml.gz`, `icons-48x48.tar.gz`) too.
    pub fn with_extras(mut self) -> AptRepo {
        self.extras = true;
        self
    }

    /// Build a native source package `name` `version` with `dpkg-source` into the pool; the
    /// paths of its `.dsc` and tarball.
    pub fn add_source(&self, name: &str, version: &str) -> Vec<PathBuf> {
        let src = self.work.path().join(format!("{name}-{version}"));
        let _ = std::fs::remove_dir_all(&src);
        std::fs::create_dir_all(src.join("debian/source")).expect("debian/");
        let files = [
            ("debian/source/format", "3.0 (native)\n".to_string()),
            (
                "debian/control",
                format!(
                    "Source: {name}\nMaintainer: Test <t@example.org>\n\nPackage: {name}\nArchitecture: all\nDescription: a test package\n test\n"
                ),
            ),
            (
                "debian/changelog",
                format!(
                    "{name} ({version}) stable; urgency=low\n\n  * A test.\n\n -- Test <t@example.org>  Thu, 01 Jan 2026 00:00:00 +0000\n"
                ),
            ),
            (
                "debian/rules",
                "#!/usr/bin/make -f\n%:\n\tdh $@\n".to_string(),
            ),
            ("README", format!("the source of {name} {version}\n")),
        ];
        for (rel, text) in files {
            std::fs::write(src.join(rel), text).expect("source file");
        }
        let out = self.dir.join(format!("pool/main/{}/{name}", &name[..1]));
        std::fs::create_dir_all(&out).expect("pool dir");
        output_of(
            Command::new("dpkg-source")
                .current_dir(&out)
                .args(["--build"])
                .arg(&src),
        );
        ["dsc", "tar.xz"]
            .iter()
            .map(|ext| out.join(format!("{name}_{version}.{ext}")))
            .collect()
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

    /// Write the stanzas of `apt-ftparchive COMMAND pool/main` that `keep` accepts as
    /// `dists/stable/main/REL`, plain, `.gz` and `.xz`.
    fn write_index(&self, rel: &str, command: &str, keep: impl Fn(&str) -> bool) {
        let path = self.dir.join("dists/stable/main").join(rel);
        std::fs::create_dir_all(path.parent().expect("parent")).expect("dists");
        let all = output_of(
            Command::new("apt-ftparchive")
                .current_dir(&self.dir)
                .arg(command)
                .arg("pool/main"),
        );
        let index: String = String::from_utf8_lossy(&all)
            .split_inclusive("\n\n")
            .filter(|stanza| keep(stanza))
            .collect();
        std::fs::write(&path, &index).expect("index");
        for (tool, ext) in [("gzip", "gz"), ("xz", "xz")] {
            let _ = std::fs::remove_file(path.with_extension(ext));
            output_of(Command::new(tool).args(["-k", "-f"]).arg(&path));
        }
    }

    /// Whether the pool holds a file ending in `ext`.
    fn pool_has(&self, ext: &str) -> bool {
        walk(&self.dir.join("pool"))
            .iter()
            .any(|p| p.to_string_lossy().ends_with(ext))
    }

    /// Translations, contents and AppStream files for what the pool holds.
    fn write_extras(&self) {
        let main = self.dir.join("dists/stable/main");
        let packages =
            std::fs::read_to_string(main.join("binary-amd64/Packages")).expect("Packages");
        let mut translation = String::new();
        for stanza in packages.split("\n\n").filter(|s| !s.trim().is_empty()) {
            let field = |f: &str| {
                stanza
                    .lines()
                    .find_map(|l| l.strip_prefix(&format!("{f}: ")))
                    .unwrap_or_default()
                    .to_string()
            };
            translation.push_str(&format!(
                "Package: {}\nDescription-md5: {}\nDescription-en: {} (translated)\n\n",
                field("Package"),
                field("Description-md5"),
                field("Description")
            ));
        }
        std::fs::create_dir_all(main.join("i18n")).expect("i18n");
        let t = main.join("i18n/Translation-en");
        std::fs::write(&t, translation).expect("Translation-en");
        output_of(Command::new("bzip2").args(["-f"]).arg(&t));
        let contents = output_of(
            Command::new("apt-ftparchive")
                .current_dir(&self.dir)
                .args(["contents", "pool/main"]),
        );
        let c = main.join("Contents-amd64");
        std::fs::write(&c, contents).expect("Contents");
        output_of(Command::new("gzip").args(["-f"]).arg(&c));
        std::fs::create_dir_all(main.join("dep11")).expect("dep11");
        let y = main.join("dep11/Components-amd64.yml");
        std::fs::write(&y, "---\nFile: DEP-11\nVersion: '0.14'\nOrigin: test\n").expect("dep11");
        output_of(Command::new("gzip").args(["-f"]).arg(&y));
        output_of(
            Command::new("tar")
                .args(["-czf"])
                .arg(main.join("dep11/icons-48x48.tar.gz"))
                .args(["-C"])
                .arg(&main)
                .arg("i18n"),
        );
    }

    /// Write `Packages` (plain, `.gz`, `.xz`) and `Release` for what the pool holds, then sign
    /// (`InRelease`, `Release.gpg`). `Sources` when the pool holds source packages, the
    /// installer `Packages` when it holds `.udeb`s, and the extras when asked for.
    pub fn publish(&self) {
        // apt-ftparchive lists `.udeb`s with the `.deb`s; an archive keeps them apart.
        let udeb = |stanza: &str| stanza.contains(".udeb\n");
        self.write_index("binary-amd64/Packages", "packages", |s| !udeb(s));
        let bin = self.dir.join("dists/stable/main/binary-amd64");
        std::fs::write(
            bin.join("Release"),
            "Archive: stable\nComponent: main\nArchitecture: amd64\n",
        )
        .expect("component Release");
        if self.pool_has(".dsc") {
            self.write_index("source/Sources", "sources", |_| true);
        }
        if self.pool_has(".udeb") {
            self.write_index("debian-installer/binary-amd64/Packages", "packages", udeb);
        }
        if self.extras {
            self.write_extras();
        }
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

/// Every file under `dir`.
fn walk(dir: &Path) -> Vec<PathBuf> {
    let mut out = Vec::new();
    for entry in std::fs::read_dir(dir).into_iter().flatten().flatten() {
        let path = entry.path();
        if path.is_dir() {
            out.extend(walk(&path));
        } else {
            out.push(path);
        }
    }
    out
}
