//! How results are printed: a table for people (coloured on a terminal), JSON or YAML for
//! pipelines (`-o json|yaml`, as kubectl spells it).

use std::io::IsTerminal as _;

use anyhow::Result;
use serde::Serialize;

/// `-o`: what kubectl users expect.
#[derive(clap::ValueEnum, Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum Format {
    /// A table for people.
    #[default]
    Table,
    Json,
    Yaml,
}

/// A value as JSON or YAML (`None` for the table, which each command draws itself).
pub fn structured<T: Serialize>(format: Format, value: &T) -> Result<Option<String>> {
    Ok(match format {
        Format::Table => None,
        Format::Json => Some(format!("{}\n", serde_json::to_string_pretty(value)?)),
        Format::Yaml => Some(serde_yaml::to_string(value)?),
    })
}

/// Colours for people at a terminal; none in a pipe, a file, or with `NO_COLOR` set
/// (<https://no-color.org>).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Palette {
    pub on: bool,
}

impl Palette {
    pub fn for_stdout() -> Palette {
        Palette {
            on: std::io::stdout().is_terminal()
                && std::env::var_os("NO_COLOR").is_none_or(|v| v.is_empty()),
        }
    }

    pub fn plain() -> Palette {
        Palette { on: false }
    }

    fn paint(self, code: &str, text: &str) -> String {
        if self.on {
            format!("\u{1b}[{code}m{text}\u{1b}[0m")
        } else {
            text.to_string()
        }
    }

    pub fn green(self, t: &str) -> String {
        self.paint("32", t)
    }
    pub fn yellow(self, t: &str) -> String {
        self.paint("33", t)
    }
    pub fn magenta(self, t: &str) -> String {
        self.paint("35", t)
    }
    pub fn red(self, t: &str) -> String {
        self.paint("31", t)
    }
    pub fn dim(self, t: &str) -> String {
        self.paint("2", t)
    }
    pub fn bold(self, t: &str) -> String {
        self.paint("1", t)
    }
}

/// Rows as aligned columns (the widest cell of each column sets its width). Pure.
pub fn columns(rows: &[Vec<String>]) -> String {
    let n = rows.iter().map(Vec::len).max().unwrap_or(0);
    let widths: Vec<usize> = (0..n)
        .map(|i| {
            rows.iter()
                .filter_map(|r| r.get(i))
                .map(|c| c.chars().count())
                .max()
                .unwrap_or(0)
        })
        .collect();
    let mut out = String::new();
    for r in rows {
        let mut line = String::new();
        for (i, cell) in r.iter().enumerate() {
            if i + 1 == r.len() {
                line.push_str(cell);
            } else {
                line.push_str(cell);
                line.push_str(&" ".repeat(widths[i] - cell.chars().count() + 3));
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
    fn columns_line_up_and_colour_only_when_asked() {
        let t = columns(&[
            vec!["NAME".into(), "PHASE".into()],
            vec!["demo-long".into(), "Running".into()],
        ]);
        assert_eq!(t, "NAME        PHASE\ndemo-long   Running\n");
        assert_eq!(Palette::plain().red("x"), "x");
        assert_eq!(Palette { on: true }.red("x"), "\u{1b}[31mx\u{1b}[0m");
    }
}
