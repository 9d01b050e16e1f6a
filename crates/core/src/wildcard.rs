//! Wildcard matching: one iterative matcher (one backtrack point, linear in practice, no
//! recursion on untrusted patterns) for IAM's patterns (`*`, `?`) and PartiQL's `LIKE` (`%`,
//! `_`).

/// Whether `text` matches `pattern`, where `any_run` matches any run of characters (none
/// included) and `any_one` exactly one.
pub fn glob(pattern: &[char], text: &[char], any_run: char, any_one: char) -> bool {
    let (mut pi, mut ti) = (0, 0);
    let (mut star, mut mark) = (None, 0);
    while ti < text.len() {
        if pi < pattern.len() && (pattern[pi] == any_one || pattern[pi] == text[ti]) {
            pi += 1;
            ti += 1;
        } else if pi < pattern.len() && pattern[pi] == any_run {
            star = Some(pi);
            mark = ti;
            pi += 1;
        } else if let Some(s) = star {
            pi = s + 1;
            mark += 1;
            ti = mark;
        } else {
            return false;
        }
    }
    while pi < pattern.len() && pattern[pi] == any_run {
        pi += 1;
    }
    pi == pattern.len()
}

/// IAM's wildcard match: `*` any run of characters, `?` one character; case-sensitive unless
/// `fold_case` (actions are case-insensitive).
pub fn wildcard_match(pattern: &str, text: &str, fold_case: bool) -> bool {
    let (p, t): (Vec<char>, Vec<char>) = if fold_case {
        (
            pattern.to_lowercase().chars().collect(),
            text.to_lowercase().chars().collect(),
        )
    } else {
        (pattern.chars().collect(), text.chars().collect())
    };
    glob(&p, &t, '*', '?')
}

#[cfg(test)]
mod tests {
    use super::*;

    fn like(text: &str, pattern: &str) -> bool {
        let (t, p): (Vec<char>, Vec<char>) = (text.chars().collect(), pattern.chars().collect());
        glob(&p, &t, '%', '_')
    }

    #[test]
    fn both_dialects() {
        assert!(wildcard_match("s3:Put*", "s3:PutObject", true));
        assert!(!wildcard_match("s3:Put*", "s3:putobject", false));
        assert!(wildcard_match("a*b*c", "axxbyyc", false));
        assert!(!wildcard_match("a*b*c", "axxbyy", false));
        assert!(like("abc", "a_c") && like("abc", "%") && like("", "%"));
        assert!(!like("abc", "a_") && !like("a*c", "abc"));
        assert!(
            like("a%c", "a%c"),
            "a literal % in the text is matched by the run"
        );
    }
}
