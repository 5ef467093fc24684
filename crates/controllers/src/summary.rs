//! Messages that list things (resources being deleted, steps under way) stay readable and
//! within what the API server accepts: it refuses an Event whose note is over 1,024 bytes
//! (events.k8s.io/v1) and a status whose condition message is over 32,768 characters
//! (metav1.Condition). Lists name their first items and the count; anything still too long is
//! cut at a character boundary, saying so. Pure.

/// The API server's limit on an Event's note, in bytes.
pub const EVENT_NOTE_LIMIT: usize = 1024;
/// The API server's limit on a condition's message (characters; bytes are never fewer).
pub const CONDITION_MESSAGE_LIMIT: usize = 32_768;
/// How many items a list names before it summarises the rest.
pub const NAMED_ITEMS: usize = 10;

/// `a, b, c`; past [`NAMED_ITEMS`]: `a, b, …, j and 5 more (15 in all)`.
pub fn names<S: AsRef<str>>(items: &[S]) -> String {
    names_up_to(items, NAMED_ITEMS)
}

/// [`names`] naming at most `shown` items.
pub fn names_up_to<S: AsRef<str>>(items: &[S], shown: usize) -> String {
    let listed: Vec<&str> = items.iter().take(shown).map(AsRef::as_ref).collect();
    let mut out = listed.join(", ");
    if items.len() > shown {
        out.push_str(&format!(
            " and {} more ({} in all)",
            items.len() - shown,
            items.len()
        ));
    }
    out
}

/// `text` cut to at most `limit` bytes at a character boundary, ending with a note of what
/// was cut.
pub fn fit(text: &str, limit: usize) -> String {
    if text.len() <= limit {
        return text.to_string();
    }
    let tail = format!(" … ({} more characters)", "0".repeat(digits(text.len())));
    let mut end = limit.saturating_sub(tail.len());
    while end > 0 && !text.is_char_boundary(end) {
        end -= 1;
    }
    let cut = text[end..].chars().count();
    format!("{} … ({cut} more characters)", &text[..end])
}

fn digits(n: usize) -> usize {
    n.checked_ilog10().map_or(1, |d| d as usize + 1)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn short_lists_are_named_in_full() {
        assert_eq!(names(&["a", "b"]), "a, b");
        assert_eq!(names::<&str>(&[]), "");
        let ten: Vec<String> = (0..10).map(|i| format!("vm-{i}")).collect();
        assert_eq!(names(&ten).matches("vm-").count(), 10);
    }

    #[test]
    fn long_lists_name_the_first_items_and_the_count() {
        let many: Vec<String> = (0..250).map(|i| format!("vm-{i}")).collect();
        let s = names(&many);
        assert!(s.starts_with("vm-0, vm-1, "), "{s}");
        assert!(s.ends_with(" and 240 more (250 in all)"), "{s}");
        assert!(!s.contains("vm-10,"), "{s}");
    }

    #[test]
    fn fit_keeps_short_text_and_cuts_long_text_within_the_limit() {
        assert_eq!(fit("hello", 10), "hello");
        let long = "é".repeat(2000); // 4000 bytes
        let cut = fit(&long, EVENT_NOTE_LIMIT);
        assert!(cut.len() <= EVENT_NOTE_LIMIT, "{}", cut.len());
        assert!(cut.ends_with("more characters)"), "{cut}");
        let kept = cut.matches('é').count();
        assert!(
            cut.contains(&format!("({} more characters)", 2000 - kept)),
            "{cut}"
        );
        let huge = "x".repeat(100_000);
        assert!(fit(&huge, CONDITION_MESSAGE_LIMIT).len() <= CONDITION_MESSAGE_LIMIT);
    }
}
