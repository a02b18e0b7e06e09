//! Finding the line of a dotted key in a YAML file's text, so that errors
//! found after parsing point at a line as syntax errors do.
//!
//! serde_yaml keeps no positions once a file is parsed, and the files are
//! small and hand-written, so this walks the key path through the block
//! indentation instead: `entities:`, then the `deal:` indented under it, and
//! so on. A key it cannot find this way gets no line, never a wrong one.

/// The 1-based line of `key` (e.g. `entities.deal.fields.stage`) in `text`.
///
/// A key written inside a one-line flow mapping (`stage: { plugin: true }`)
/// is found on its parent's line.
pub(super) fn key_line(text: &str, key: &str) -> Option<usize> {
    let mut segments = key.split('.');
    let mut want = segments.next()?;
    // The matched parent: its line and indentation, and the rest of its line.
    let mut parent: Option<(usize, usize, &str)> = None;
    // The indentation of the parent's children, set by the first of them.
    let mut level = None;

    for (number, line) in text.lines().enumerate().map(|(i, l)| (i + 1, l)) {
        let trimmed = line.trim_start();
        if trimmed.is_empty() || trimmed.starts_with('#') {
            continue;
        }
        let indent = line.len() - trimmed.len();
        if parent.is_some_and(|(_, parent_indent, _)| indent <= parent_indent) {
            // The parent's block ended without the key.
            break;
        }
        if *level.get_or_insert(indent) != indent {
            continue;
        }
        let Some((found, rest)) = block_key(trimmed) else {
            continue;
        };
        // Value-map keys compare ignoring case, and are reported lowercased.
        if !found.eq_ignore_ascii_case(want) {
            continue;
        }
        match segments.next() {
            None => return Some(number),
            Some(next) => {
                want = next;
                parent = Some((number, indent, rest));
                level = None;
            }
        }
    }

    let (number, _, rest) = parent?;
    in_flow(rest, want).then_some(number)
}

/// The key of a `key: value` or `key:` line, unquoted, and what follows the
/// colon.
fn block_key(line: &str) -> Option<(&str, &str)> {
    let (key, rest) = line.split_once(':')?;
    if !(rest.is_empty() || rest.starts_with([' ', '\t'])) {
        return None;
    }
    Some((key.trim().trim_matches(['"', '\'']), rest))
}

/// Whether a flow mapping on the rest of a line has the key `want`.
fn in_flow(rest: &str, want: &str) -> bool {
    let rest = rest.trim_start();
    rest.starts_with('{')
        && rest
            .split(['{', ','])
            .any(|item| block_key(item.trim_start()).is_some_and(|(key, _)| key == want))
}

/// Whether `key` is written in `text` as a shorthand scalar (`name: Name`),
/// which sets the CRM field.
pub(super) fn is_shorthand(text: &str, key: &str) -> bool {
    let Some(number) = key_line(text, key) else {
        return false;
    };
    let last = key.rsplit('.').next().unwrap_or(key);
    text.lines()
        .nth(number - 1)
        .and_then(|line| block_key(line.trim_start()))
        .is_some_and(|(found, rest)| {
            let rest = rest.trim();
            found.eq_ignore_ascii_case(last) && !rest.is_empty() && !rest.starts_with(['{', '#'])
        })
}
