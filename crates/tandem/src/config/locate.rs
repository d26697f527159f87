//! Turning a problem's path (`subnet6[1].pools[0].first`) back into a line of the file.
//!
//! Semantic checks run on the typed configuration, which has no positions; to point
//! the operator at the right line we re-read the document with spans and walk the path
//! as far as it goes (a path that names something absent from the file, like a
//! defaulted key, stops at its nearest ancestor that is there).

use toml::de::{DeTable, DeValue};
use toml::Spanned;

/// One step of a problem path: a key, optionally followed by array indexes.
fn segments(path: &str) -> Vec<(&str, Vec<usize>)> {
    path.split('.')
        .filter(|s| !s.is_empty())
        .map(|seg| {
            let (key, rest) = seg.split_at(seg.find('[').unwrap_or(seg.len()));
            let idx = rest
                .split(['[', ']'])
                .filter_map(|n| n.parse::<usize>().ok())
                .collect();
            (key, idx)
        })
        .collect()
}

/// Byte offset in `source` of the deepest item on `path`, or `None` if not even its first key is there.
pub fn offset_of(source: &str, path: &str) -> Option<usize> {
    let root = DeTable::parse(source).ok()?;
    let mut table: &DeTable = root.get_ref();
    let mut found: Option<usize> = None;
    for (key, indexes) in segments(path) {
        let Some((k, v)) = table.iter().find(|(k, _)| k.get_ref().as_ref() == key) else {
            return found;
        };
        // Tables opened by a header have spans of their contents; the key's span is the
        // header line, which is what an operator looks for.
        found = Some(pick(k.span().start, v));
        let mut value: &Spanned<DeValue> = v;
        for i in indexes {
            match value.get_ref() {
                DeValue::Array(items) => match items.get(i) {
                    Some(item) => {
                        value = item;
                        found = Some(pick(found.unwrap_or(0), value));
                    }
                    None => return found,
                },
                _ => return found,
            }
        }
        match value.get_ref() {
            DeValue::Table(t) => table = t,
            _ => return found,
        }
    }
    found
}

fn pick(fallback: usize, v: &Spanned<DeValue>) -> usize {
    let span = v.span();
    if span.is_empty() {
        fallback
    } else {
        span.start
    }
}

/// 1-based (line, column) of a byte offset.
pub fn line_col(source: &str, offset: usize) -> (usize, usize) {
    let before = source.get(..offset).unwrap_or(source);
    let line = before.matches('\n').count() + 1;
    let col = before.rsplit('\n').next().map_or(0, |l| l.chars().count()) + 1;
    (line, col)
}

#[cfg(test)]
mod tests {
    use super::*;

    const DOC: &str = "[server]\ndata_dir = \"/x\"\n\n[[subnet6]]\nid = 1\n\n[[subnet6]]\nid = 2\npools = [\n  { first = \"::1\" },\n  { first = \"::2\" },\n]\n";

    fn line(path: &str) -> Option<usize> {
        offset_of(DOC, path).map(|o| line_col(DOC, o).0)
    }

    #[test]
    fn paths_resolve_to_the_line_that_defines_them() {
        assert_eq!(line("server.data_dir"), Some(2));
        assert_eq!(line("subnet6[1].id"), Some(8));
        assert_eq!(line("subnet6[1].pools[1]"), Some(11));
        assert_eq!(line("subnet6[1].pools[1].first"), Some(11));
    }

    #[test]
    fn missing_parts_stop_at_the_nearest_ancestor() {
        assert_eq!(line("subnet6[1].valid_lifetime"), line("subnet6[1]"));
        assert_eq!(line("subnet6[1].pools[7]"), line("subnet6[1].pools"));
        assert_eq!(line("nowhere"), None);
    }

    #[test]
    fn line_col_is_one_based() {
        assert_eq!(line_col("ab\ncd", 4), (2, 2));
        assert_eq!(line_col("ab", 0), (1, 1));
    }
}
