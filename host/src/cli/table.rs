//! Plain-text tables for a terminal: columns padded to their widest cell, two spaces apart.

/// Renders `header` and `rows` as aligned lines, each ending in `\n`. The last column is not
/// padded, so no line ends in spaces. Widths count characters, not bytes (names and e-mails may
/// be non-ASCII).
pub fn render(header: &[&str], rows: &[Vec<String>]) -> String {
    let columns = header.len();
    let mut widths: Vec<usize> = header.iter().map(|h| h.chars().count()).collect();
    for row in rows {
        for (i, cell) in row.iter().take(columns).enumerate() {
            widths[i] = widths[i].max(cell.chars().count());
        }
    }
    let mut out = String::new();
    let header: Vec<String> = header.iter().map(|h| h.to_string()).collect();
    for row in std::iter::once(&header).chain(rows) {
        let mut line = String::new();
        for (i, width) in widths.iter().enumerate() {
            let cell = row.get(i).map(String::as_str).unwrap_or("");
            if i + 1 < columns {
                line.push_str(cell);
                let pad = width - cell.chars().count();
                line.extend(std::iter::repeat_n(' ', pad + 2));
            } else {
                line.push_str(cell);
            }
        }
        out.push_str(line.trim_end());
        out.push('\n');
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn pads_columns_to_the_widest_cell() {
        let rows = vec![
            vec!["auth".to_string(), "1".to_string(), "x".to_string()],
            vec!["subscriptions".to_string(), "12".to_string(), String::new()],
        ];
        let text = render(&["NAME", "N", "NOTE"], &rows);
        assert_eq!(
            text,
            "NAME           N   NOTE\n\
             auth           1   x\n\
             subscriptions  12\n"
        );
    }

    #[test]
    fn counts_characters_not_bytes() {
        let rows = vec![vec!["héllo".to_string(), "b".to_string()]];
        let text = render(&["A", "B"], &rows);
        assert_eq!(text, "A      B\nhéllo  b\n");
    }

    #[test]
    fn a_short_row_leaves_its_cells_empty() {
        let rows = vec![vec!["only".to_string()]];
        assert_eq!(render(&["A", "B"], &rows), "A     B\nonly\n");
    }
}
