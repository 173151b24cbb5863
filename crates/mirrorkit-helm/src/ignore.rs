//! `.helmignore` as Helm reads it (`helm.sh/helm/v3/pkg/ignore`), which is not gitignore: each
//! line is a Go `filepath.Match` pattern, rules are tried in order and the first that decides
//! wins, `**` is refused, a pattern without `/` is matched against the base name only, a leading
//! `/` anchors it at the chart root, a trailing `/` matches directories only, and a `!rule`
//! ignores everything it does *not* match. Helm always appends `templates/.?*` (dotfiles in
//! `templates/`).
//!
//! A gitignore crate (`ignore`'s `gitignore` module) would give different answers (last match
//! wins, `**` allowed, negation re-includes), so a chart would package differently than with
//! `helm package`; this module follows Helm instead.

/// One token of a `filepath.Match` pattern.
#[derive(Clone, Debug, PartialEq, Eq)]
enum Token {
    Literal(char),
    /// `?`: one character other than `/`.
    Any,
    /// `*`: any run of characters other than `/`.
    Star,
    /// `[...]` / `[^...]`: inclusive ranges.
    Class {
        negated: bool,
        ranges: Vec<(char, char)>,
    },
}

/// A compiled `filepath.Match` pattern (separator `/`).
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) struct Glob {
    tokens: Vec<Token>,
}

impl Glob {
    /// Compile `pattern`; `Err` for what Go calls `ErrBadPattern` (an unclosed `[`, a trailing
    /// `\`, an empty or malformed range).
    pub(crate) fn new(pattern: &str) -> Result<Glob, String> {
        let mut tokens = Vec::new();
        let mut chars = pattern.chars().peekable();
        let bad = || format!("syntax error in pattern {pattern:?}");
        while let Some(c) = chars.next() {
            match c {
                '*' => tokens.push(Token::Star),
                '?' => tokens.push(Token::Any),
                '\\' => tokens.push(Token::Literal(chars.next().ok_or_else(bad)?)),
                '[' => {
                    let negated = chars.peek() == Some(&'^');
                    if negated {
                        chars.next();
                    }
                    let mut ranges = Vec::new();
                    loop {
                        let lo = match chars.next() {
                            None => return Err(bad()),
                            Some(']') if !ranges.is_empty() => break,
                            Some(']' | '-') => return Err(bad()),
                            Some('\\') => chars.next().ok_or_else(bad)?,
                            Some(x) => x,
                        };
                        let hi = if chars.peek() == Some(&'-') {
                            chars.next();
                            match chars.next() {
                                None | Some(']' | '-') => return Err(bad()),
                                Some('\\') => chars.next().ok_or_else(bad)?,
                                Some(x) => x,
                            }
                        } else {
                            lo
                        };
                        ranges.push((lo, hi));
                    }
                    tokens.push(Token::Class { negated, ranges });
                }
                other => tokens.push(Token::Literal(other)),
            }
        }
        Ok(Glob { tokens })
    }

    /// Whether the whole of `name` matches.
    pub(crate) fn is_match(&self, name: &str) -> bool {
        let name: Vec<char> = name.chars().collect();
        let (p, n) = (self.tokens.len(), name.len());
        // reach[i][j]: tokens[..i] match name[..j]. O(tokens × chars), no backtracking blow-up.
        let mut reach = vec![vec![false; n + 1]; p + 1];
        reach[0][0] = true;
        for (i, token) in self.tokens.iter().enumerate() {
            for j in 0..=n {
                if !reach[i][j] {
                    continue;
                }
                match token {
                    Token::Star => {
                        reach[i + 1][j] = true;
                        let mut k = j;
                        while k < n && name[k] != '/' {
                            k += 1;
                            reach[i + 1][k] = true;
                        }
                    }
                    _ if j < n && single(token, name[j]) => reach[i + 1][j + 1] = true,
                    _ => {}
                }
            }
        }
        reach[p][n]
    }
}

fn single(token: &Token, c: char) -> bool {
    match token {
        Token::Literal(l) => *l == c,
        Token::Any => c != '/',
        Token::Class { negated, ranges } => {
            ranges.iter().any(|(lo, hi)| (*lo..=*hi).contains(&c)) != *negated
        }
        Token::Star => false,
    }
}

/// How a rule matches a path.
#[derive(Clone, Debug)]
enum Anchor {
    /// Against the base name (no `/` in the pattern).
    BaseName,
    /// Against the whole path relative to the chart root.
    Path,
}

#[derive(Clone, Debug)]
struct Rule {
    glob: Glob,
    anchor: Anchor,
    negate: bool,
    must_dir: bool,
}

/// The rules of a `.helmignore` plus Helm's default.
#[derive(Clone, Debug, Default)]
pub(crate) struct Rules {
    rules: Vec<Rule>,
}

impl Rules {
    /// Parse a `.helmignore` (`None`: no file) and append Helm's default rule. `Err` names the
    /// line of a pattern Helm would refuse.
    pub(crate) fn parse(text: Option<&str>) -> Result<Rules, String> {
        let mut rules = Rules::default();
        for (i, line) in text.unwrap_or("").lines().enumerate() {
            rules
                .add(line)
                .map_err(|e| format!("line {}: {e}", i + 1))?;
        }
        rules.add("templates/.?*")?;
        Ok(rules)
    }

    fn add(&mut self, line: &str) -> Result<(), String> {
        let mut rule = line.trim();
        if rule.is_empty() || rule.starts_with('#') {
            return Ok(());
        }
        if rule.contains("**") {
            return Err("double-star (**) syntax is not supported".into());
        }
        // Helm compiles the rule as written (with `!` and a trailing `/`) to catch bad patterns.
        Glob::new(rule)?;
        let negate = rule.starts_with('!');
        if negate {
            rule = &rule[1..];
        }
        let must_dir = rule.ends_with('/');
        if must_dir {
            rule = &rule[..rule.len() - 1];
        }
        let anchor = if let Some(rest) = rule.strip_prefix('/') {
            rule = rest;
            Anchor::Path
        } else if rule.contains('/') {
            Anchor::Path
        } else {
            Anchor::BaseName
        };
        self.rules.push(Rule {
            glob: Glob::new(rule)?,
            anchor,
            negate,
            must_dir,
        });
        Ok(())
    }

    /// Whether `path` (relative to the chart root, `/`-separated) is left out.
    pub(crate) fn ignore(&self, path: &str, is_dir: bool) -> bool {
        if path.is_empty() || path == "." || path == "./" {
            return false;
        }
        let base = path.rsplit('/').next().unwrap_or(path);
        for r in &self.rules {
            let subject = match r.anchor {
                Anchor::BaseName => base,
                Anchor::Path => path,
            };
            if r.negate {
                // Helm: a negative rule ignores whatever it does not match, and lets the next
                // rule decide about what it matches.
                if (r.must_dir && !is_dir) || !r.glob.is_match(subject) {
                    return true;
                }
                continue;
            }
            if r.must_dir && !is_dir {
                continue;
            }
            if r.glob.is_match(subject) {
                return true;
            }
        }
        false
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn m(p: &str, n: &str) -> bool {
        Glob::new(p).unwrap().is_match(n)
    }

    #[test]
    fn glob_follows_go_filepath_match() {
        assert!(m("*.txt", "a.txt"));
        assert!(!m("*.txt", "dir/a.txt"));
        assert!(m("dir/*.txt", "dir/a.txt"));
        assert!(m("a?c", "abc"));
        assert!(!m("a?c", "a/c"));
        assert!(m("[a-c]x", "bx"));
        assert!(!m("[^a-c]x", "bx"));
        assert!(m("[^a-c]x", "dx"));
        assert!(m("\\*", "*"));
        assert!(!m("\\*", "a"));
        assert!(m("*", ""));
        assert!(m("a*b*c", "aXbYbZc"));
        assert!(!m("a*", "a/b"));
        for bad in ["[", "[]", "[a-", "x\\", "[-a]"] {
            assert!(Glob::new(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn rules_follow_helm() {
        let r = Rules::parse(Some(
            "# comment\n\n*.bak\n/secret.txt\nci/\ndocs/*.md\n.git\n",
        ))
        .unwrap();
        assert!(r.ignore("a.bak", false));
        assert!(r.ignore("templates/a.bak", false), "base-name rule");
        assert!(r.ignore("secret.txt", false));
        assert!(
            !r.ignore("templates/secret.txt", false),
            "anchored at the root"
        );
        assert!(r.ignore("ci", true));
        assert!(
            !r.ignore("ci", false),
            "trailing / only matches directories"
        );
        assert!(r.ignore("docs/x.md", false));
        assert!(!r.ignore("docs/sub/x.md", false));
        assert!(r.ignore(".git", true));
        assert!(r.ignore("templates/.hidden", false), "Helm's default rule");
        assert!(!r.ignore("templates/deployment.yaml", false));
        assert!(!r.ignore("Chart.yaml", false));
        assert!(Rules::parse(Some("a/**/b")).is_err());
        assert!(
            Rules::parse(Some("ok\n[bad"))
                .unwrap_err()
                .starts_with("line 2")
        );
    }

    #[test]
    fn negation_is_helms_not_gitignores() {
        // Helm: `!keep.txt` ignores every file that is not keep.txt.
        let r = Rules::parse(Some("!keep.txt")).unwrap();
        assert!(!r.ignore("keep.txt", false));
        assert!(r.ignore("other.txt", false));
    }
}
