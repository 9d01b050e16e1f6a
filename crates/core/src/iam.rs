//! IAM's pattern matching, shared by the emulator's policy engine and the posture checks that
//! judge real policies.

/// IAM's wildcard match: `*` any run of characters, `?` one character; case-sensitive unless
/// `fold_case` (actions are case-insensitive). Iterative, with one backtrack point: linear in
/// practice, no recursion on untrusted patterns.
pub fn wildcard_match(pattern: &str, text: &str, fold_case: bool) -> bool {
    let (p, t): (Vec<char>, Vec<char>) = if fold_case {
        (
            pattern.to_lowercase().chars().collect(),
            text.to_lowercase().chars().collect(),
        )
    } else {
        (pattern.chars().collect(), text.chars().collect())
    };
    let (mut pi, mut ti) = (0, 0);
    let (mut star, mut mark) = (None, 0);
    while ti < t.len() {
        if pi < p.len() && (p[pi] == '?' || p[pi] == t[ti]) {
            pi += 1;
            ti += 1;
        } else if pi < p.len() && p[pi] == '*' {
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
    while pi < p.len() && p[pi] == '*' {
        pi += 1;
    }
    pi == p.len()
}
