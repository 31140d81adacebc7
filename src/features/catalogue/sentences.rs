//! What an explanation says about a signal's value, and the wording it is made of.

use super::Computed;

/// What a sentence may say about one signal of a change.
pub struct Said<'a> {
    /// The value (before any transform).
    pub value: f64,
    /// Share of the training changes with a lower value, and with a higher one.
    pub share_below: f64,
    pub share_above: f64,
    /// The author, as a sentence names them.
    pub who: &'a str,
    /// The subsystems the change touches ("" for the repository root).
    pub subsystems: &'a [String],
    /// Another signal of the same change.
    pub signal: &'a dyn Fn(Computed) -> Option<f64>,
}

/// "no lines" / "1 line" / "3 lines".
pub fn count(n: f64, one: &str, many: &str) -> String {
    let n = n.round() as i64;
    if n == 0 {
        format!("no {many}")
    } else if n == 1 {
        format!("1 {one}")
    } else {
        format!("{} {many}", thousands(n))
    }
}

/// 10800 → "10,800".
pub fn thousands(n: i64) -> String {
    let digits = n.unsigned_abs().to_string();
    let mut out = String::with_capacity(digits.len() + digits.len() / 3 + 1);
    if n < 0 {
        out.push('-');
    }
    for (i, ch) in digits.chars().enumerate() {
        if i > 0 && (digits.len() - i).is_multiple_of(3) {
            out.push(',');
        }
        out.push(ch);
    }
    out
}

fn percent(share: f64) -> u32 {
    (share * 100.0).floor().clamp(0.0, 99.0) as u32
}

/// "— more than 93% of changes" / "— fewer than 40% of changes", from the value's rank.
pub fn compare(said: &Said<'_>, more: &str, fewer: &str, whom: &str) -> String {
    if said.share_below >= 0.5 {
        format!(" — {more} than {}% of {whom}", percent(said.share_below))
    } else if said.share_above >= 0.5 {
        format!(" — {fewer} than {}% of {whom}", percent(said.share_above))
    } else {
        format!(" — about typical for {whom}")
    }
}

/// A duration in the largest unit that keeps it readable: "3 days", "12 months".
pub fn duration(seconds: f64) -> String {
    let s = seconds.max(0.0);
    let (value, unit) = if s < 3_600.0 {
        ((s / 60.0).round(), "minute")
    } else if s < 86_400.0 * 2.0 {
        ((s / 3_600.0).round(), "hour")
    } else if s < 86_400.0 * 60.0 {
        ((s / 86_400.0).round(), "day")
    } else if s < 86_400.0 * 730.0 {
        ((s / (86_400.0 * 30.44)).round(), "month")
    } else {
        ((s / (86_400.0 * 365.25)).round(), "year")
    };
    if value == 1.0 {
        format!("1 {unit}")
    } else {
        format!("{value} {unit}s")
    }
}

/// The first `max` items, and how many more there are.
pub fn list(items: &[String], max: usize) -> String {
    let shown: Vec<&str> = items.iter().take(max).map(String::as_str).collect();
    let mut s = shown.join(", ");
    if items.len() > max {
        s.push_str(&format!(" and {} more", items.len() - max));
    }
    s
}

/// The sentence of a signal that has none of its own.
pub(super) fn plain(name: &str, said: &Said<'_>) -> String {
    format!(
        "{name} is {}{}",
        said.value,
        compare(said, "higher", "lower", "changes")
    )
}

pub(super) fn la(said: &Said<'_>) -> String {
    format!(
        "adds {}{}",
        count(said.value, "line", "lines"),
        compare(said, "more", "fewer", "changes")
    )
}

pub(super) fn ld(said: &Said<'_>) -> String {
    format!(
        "deletes {}{}",
        count(said.value, "line", "lines"),
        compare(said, "more", "fewer", "changes")
    )
}

pub(super) fn nf(said: &Said<'_>) -> String {
    format!(
        "touches {}{}",
        count(said.value, "file", "files"),
        compare(said, "more", "fewer", "changes")
    )
}

pub(super) fn nd(said: &Said<'_>) -> String {
    let files = (said.signal)(Computed::Nf).unwrap_or(0.0);
    format!(
        "touches {} in {}{}",
        count(files, "file", "files"),
        count(said.value, "directory", "directories"),
        compare(said, "more spread out", "less spread out", "changes")
    )
}

pub(super) fn ns(said: &Said<'_>) -> String {
    if said.subsystems.is_empty() {
        return "spans no subsystem".to_string();
    }
    format!(
        "spans {} ({}){}",
        count(said.value, "subsystem", "subsystems"),
        list(
            &said
                .subsystems
                .iter()
                .map(|s| if s.is_empty() {
                    "root".to_string()
                } else {
                    s.clone()
                })
                .collect::<Vec<_>>(),
            4
        ),
        compare(said, "more", "fewer", "changes")
    )
}

pub(super) fn entropy(said: &Said<'_>) -> String {
    let v = said.value;
    // One file (or none) has no spread to speak of: entropy is 0 by definition, not "uneven".
    if (said.signal)(Computed::Nf).is_some_and(|nf| nf <= 1.0) {
        return "keeps its edits in one file".to_string();
    }
    format!(
        "spreads its edits {} across its files (entropy {:.2} of 1){}",
        if v >= 0.5 { "evenly" } else { "unevenly" },
        v,
        compare(said, "more scattered", "more focused", "changes")
    )
}

pub(super) fn lt(said: &Said<'_>) -> String {
    format!(
        "its files had {} before the change{}",
        count(said.value, "line", "lines"),
        compare(said, "more", "fewer", "changes")
    )
}

pub(super) fn fix(said: &Said<'_>) -> String {
    if said.value >= 0.5 {
        "is a bug fix: fixes are themselves often followed by another fix".to_string()
    } else {
        "is not a bug fix".to_string()
    }
}

pub(super) fn ndev(said: &Said<'_>) -> String {
    format!(
        "its files have been changed by {} before{}",
        count(said.value, "developer", "developers"),
        compare(said, "more", "fewer", "changes")
    )
}

pub(super) fn age(said: &Said<'_>) -> String {
    if (said.signal)(Computed::Nf) == Some(0.0) {
        "changes no files, so no file history".to_string()
    } else if (said.signal)(Computed::Nuc) == Some(0.0) {
        "its files are all new, with no earlier changes".to_string()
    } else {
        format!(
            "its files last changed {} ago on average{}",
            duration(said.value),
            compare(said, "longer ago", "more recently", "changes")
        )
    }
}

pub(super) fn nuc(said: &Said<'_>) -> String {
    format!(
        "its files have {}{}",
        count(said.value, "earlier change", "earlier changes"),
        compare(said, "more", "fewer", "changes")
    )
}

pub(super) fn exp(said: &Said<'_>) -> String {
    format!(
        "{} has made {} in this repository{}",
        said.who,
        count(said.value, "earlier change", "earlier changes"),
        compare(said, "more", "fewer", "authors at the time of a change")
    )
}

pub(super) fn rexp(said: &Said<'_>) -> String {
    if said.value < 0.5 {
        return format!("{} has no recent changes in this repository", said.who);
    }
    format!(
        "{} has about {} here, older years weighing less{}",
        said.who,
        count(said.value, "recent change", "recent changes"),
        compare(said, "more", "fewer", "authors at the time of a change")
    )
}

pub(super) fn sexp(said: &Said<'_>) -> String {
    format!(
        "{} has made {} in {}{}",
        said.who,
        count(said.value, "earlier change", "earlier changes"),
        if said.subsystems.len() == 1 {
            "this subsystem"
        } else {
            "these subsystems"
        },
        compare(said, "more", "fewer", "authors at the time of a change")
    )
}

pub(super) fn unapproved(said: &Said<'_>) -> String {
    if said.value >= 0.5 {
        "no one but the author has approved it yet".to_string()
    } else {
        "a reviewer other than the author has approved it".to_string()
    }
}
