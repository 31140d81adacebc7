//! Reading labelled change datasets (CSV): the files `riskgate mine` writes and the public
//! just-in-time defect datasets, whose column names differ.
//!
//! Pure: parses from any [`std::io::Read`] or a `&str`; the caller opens files.
//!
//! Row numbers in errors are line numbers of the file as a user sees it in an editor: the
//! header is line 1, so the first data row is row 2.

use std::collections::BTreeSet;
use std::io::Read;

use crate::features::catalogue::{self, AUTHOR_DATE, BUGGY, COMMIT_ID};

/// Columns of the public datasets that must not be used as signals unless named explicitly.
///
/// - `bugcount`, `fixcount`, `bugdens`: computed from the *future* of the change — counts of
///   later bug fixes that blame it, or densities derived from them. They are almost the label
///   itself and are unknown when a change is scored.
/// - `strata`: bookkeeping of how the original study split its data by period.
pub const LEAKAGE_COLUMNS: &[&str] = &["bugcount", "fixcount", "bugdens", "strata"];

/// Whether a text cell in column `name` is an error rather than a reason to treat the column
/// as text: the columns of the public datasets are always numeric.
fn known_numeric(name: &str) -> bool {
    LEAKAGE_COLUMNS.contains(&name) || catalogue::by_name(name).is_some_and(|s| s.public)
}

/// One change.
#[derive(Debug, Clone, PartialEq)]
pub struct Row {
    pub commit_id: String,
    /// Unix seconds.
    pub author_date: i64,
    /// One value per [`Dataset::names`] entry; `None` when the cell was `NA` or empty.
    pub values: Vec<Option<f64>>,
    pub buggy: bool,
}

/// A labelled dataset: signal columns by their riskgate names, and one row per change.
#[derive(Debug, Clone, PartialEq)]
pub struct Dataset {
    /// Signal columns, in file order, under riskgate's names (`ent` becomes `entropy`, …).
    pub names: Vec<String>,
    pub rows: Vec<Row>,
    /// Where the data came from (usually the path as given), for messages and provenance.
    pub source: String,
}

/// The most columns a dataset's header may have. Public defect datasets have a few dozen; a
/// header of millions would cost gigabytes before any row is read.
pub const MAX_COLUMNS: usize = 1_000;

#[derive(Debug, thiserror::Error, PartialEq)]
pub enum DatasetError {
    #[error("{file}: the file is empty (no header line)")]
    Empty { file: String },
    #[error(
        "{file}: the header has {columns} columns, more than the {MAX_COLUMNS} a dataset may have"
    )]
    TooManyColumns { file: String, columns: usize },
    #[error("{file}: the file has a header but no data rows")]
    NoRows { file: String },
    #[error("{file}: no label column (expected {})", BUGGY.one_of())]
    MissingLabel { file: String },
    #[error("{file}: no commit id column (expected {})", COMMIT_ID.one_of())]
    MissingCommit { file: String },
    #[error("{file}: no date column (expected {})", AUTHOR_DATE.one_of())]
    MissingDate { file: String },
    #[error("{file}: column `{column}` appears twice (after mapping column names)")]
    DuplicateColumn { file: String, column: String },
    #[error("{file}: row {row}: has {found} cells, the header has {expected}")]
    Ragged {
        file: String,
        row: u64,
        found: usize,
        expected: usize,
    },
    #[error("{file}: row {row}, column `{column}`: `{value}` is not a number")]
    NotANumber {
        file: String,
        row: u64,
        column: String,
        value: String,
    },
    #[error("{file}: row {row}, column `{column}`: `{value}` cannot be a value of `{signal}`, which is {values}")]
    Impossible {
        file: String,
        row: u64,
        column: String,
        value: String,
        signal: String,
        values: &'static str,
    },
    #[error("{file}: row {row}, column `{column}`: `{value}` is not a label (expected TRUE/FALSE or 1/0)")]
    BadLabel {
        file: String,
        row: u64,
        column: String,
        value: String,
    },
    #[error("{file}: row {row}, column `{column}`: the label is missing")]
    MissingLabelValue {
        file: String,
        row: u64,
        column: String,
    },
    #[error("{file}: row {row}, column `{column}`: `{value}` is not a unix time in seconds")]
    BadDate {
        file: String,
        row: u64,
        column: String,
        value: String,
    },
    #[error("{file}: row {row}: {message}")]
    Csv {
        file: String,
        row: u64,
        message: String,
    },
}

/// What a header column stands for.
#[derive(Debug, Clone, PartialEq)]
enum Role {
    Ignored,
    Commit,
    Date,
    Label,
    Signal(String),
}

/// Maps a header (already trimmed and lower-cased) to its role, in a file whose headers are
/// `present`: signal columns by their names in the [`catalogue`].
fn role_of(header: &str, present: &dyn Fn(&str) -> bool) -> Role {
    if header.is_empty() {
        Role::Ignored
    } else if COMMIT_ID.is(header) {
        Role::Commit
    } else if AUTHOR_DATE.is(header) {
        Role::Date
    } else if BUGGY.is(header) {
        Role::Label
    } else {
        Role::Signal(catalogue::signal_name_of_column(header, present).to_string())
    }
}

/// `TRUE`/`FALSE` (any case) as 1/0, numbers as themselves; `None` when not a number.
fn parse_number(cell: &str) -> Option<f64> {
    if cell.eq_ignore_ascii_case("true") {
        return Some(1.0);
    }
    if cell.eq_ignore_ascii_case("false") {
        return Some(0.0);
    }
    cell.parse::<f64>().ok().filter(|v| v.is_finite())
}

fn is_missing(cell: &str) -> bool {
    cell.is_empty() || cell.eq_ignore_ascii_case("na")
}

impl Dataset {
    /// Parses CSV text. `source` names the data in errors and provenance.
    pub fn parse_str(text: &str, source: &str) -> Result<Dataset, DatasetError> {
        Dataset::from_reader(text.as_bytes(), source)
    }

    /// Parses CSV from a reader. `source` names the data in errors and provenance.
    ///
    /// A signal column whose every non-missing cell is text (an author name, say) is not a
    /// signal and is skipped; a column with numbers and some text cells is an error at the
    /// first text cell, as is any text cell in a known numeric signal such as `la`.
    pub fn from_reader<R: Read>(reader: R, source: &str) -> Result<Dataset, DatasetError> {
        let file = source.to_string();
        let (reader, lines_of_file) = crate::input::editor_lines(reader);
        let line_of = |position: Option<&csv::Position>| {
            // Without a position, the line last reached.
            lines_of_file.line_of(position.map_or(0, |p| p.byte()))
        };
        let mut csv = csv::ReaderBuilder::new()
            .has_headers(false)
            .flexible(true)
            .trim(csv::Trim::All)
            .from_reader(reader);
        let mut records = csv.records();
        let csv_error = |e: csv::Error| DatasetError::Csv {
            file: file.clone(),
            row: line_of(e.position()),
            message: e.to_string(),
        };

        let header = match records.next() {
            None => return Err(DatasetError::Empty { file }),
            Some(r) => r.map_err(csv_error)?,
        };
        if header.len() > MAX_COLUMNS {
            return Err(DatasetError::TooManyColumns {
                file,
                columns: header.len(),
            });
        }
        let headers: Vec<String> = header
            .iter()
            .map(|h| h.trim().to_ascii_lowercase())
            .collect();
        if headers.iter().all(|h| h.is_empty()) {
            return Err(DatasetError::Empty { file });
        }
        let present = |column: &str| headers.iter().any(|h| h == column);
        let roles: Vec<Role> = headers.iter().map(|h| role_of(h, &present)).collect();

        let find = |want: &Role| roles.iter().position(|r| r == want);
        let mut seen = BTreeSet::new();
        for role in &roles {
            let name = match role {
                Role::Ignored => continue,
                Role::Commit => COMMIT_ID.name,
                Role::Date => AUTHOR_DATE.name,
                Role::Label => BUGGY.name,
                Role::Signal(s) => s.as_str(),
            };
            if !seen.insert(name) {
                return Err(DatasetError::DuplicateColumn {
                    file,
                    column: name.to_string(),
                });
            }
        }
        let label_col =
            find(&Role::Label).ok_or_else(|| DatasetError::MissingLabel { file: file.clone() })?;
        let commit_col = find(&Role::Commit)
            .ok_or_else(|| DatasetError::MissingCommit { file: file.clone() })?;
        let date_col =
            find(&Role::Date).ok_or_else(|| DatasetError::MissingDate { file: file.clone() })?;
        let signal_cols: Vec<(usize, String)> = roles
            .iter()
            .enumerate()
            .filter_map(|(i, r)| match r {
                Role::Signal(name) => Some((i, name.clone())),
                _ => None,
            })
            .collect();

        // First pass: the fixed columns, and the raw signal cells kept as text so that a text
        // column can be recognised before any cell is judged.
        let mut rows = Vec::new();
        let mut cells: Vec<Vec<String>> = vec![Vec::new(); signal_cols.len()];
        let mut lines = Vec::new();
        for record in records {
            let record = record.map_err(csv_error)?;
            let row = line_of(record.position());
            if record.len() == 1 && record.get(0) == Some("") {
                continue; // blank line
            }
            if record.len() != headers.len() {
                return Err(DatasetError::Ragged {
                    file,
                    row,
                    found: record.len(),
                    expected: headers.len(),
                });
            }
            let label_name = headers[label_col].clone();
            let label = record.get(label_col).unwrap_or("");
            let buggy = if is_missing(label) {
                return Err(DatasetError::MissingLabelValue {
                    file,
                    row,
                    column: label_name,
                });
            } else {
                match parse_number(label) {
                    Some(1.0) => true,
                    Some(0.0) => false,
                    _ => {
                        return Err(DatasetError::BadLabel {
                            file,
                            row,
                            column: label_name,
                            value: label.to_string(),
                        })
                    }
                }
            };
            let date = record.get(date_col).unwrap_or("");
            let author_date = match date.parse::<f64>() {
                Ok(v) if v.is_finite() && v.fract() == 0.0 && v.abs() < 1e15 => v as i64,
                _ => {
                    return Err(DatasetError::BadDate {
                        file,
                        row,
                        column: headers[date_col].clone(),
                        value: date.to_string(),
                    })
                }
            };
            for (k, (i, _)) in signal_cols.iter().enumerate() {
                cells[k].push(record.get(*i).unwrap_or("").to_string());
            }
            lines.push(row);
            rows.push(Row {
                commit_id: record.get(commit_col).unwrap_or("").to_string(),
                author_date,
                values: Vec::with_capacity(signal_cols.len()),
                buggy,
            });
        }
        if rows.is_empty() {
            return Err(DatasetError::NoRows { file });
        }

        // Second pass: signal columns.
        let mut names = Vec::new();
        for (k, (col, name)) in signal_cols.iter().enumerate() {
            let column = &cells[k];
            let known = known_numeric(name);
            let unit = catalogue::by_name(name).map(|signal| signal.unit);
            let any_number = column
                .iter()
                .any(|c| !is_missing(c) && parse_number(c).is_some());
            if !any_number && !known {
                // Text (an author name, a label's provenance), or nothing at all.
                tracing::info!(file = %file, column = %headers[*col], "skipping a column without numbers");
                continue;
            }
            for (r, cell) in column.iter().enumerate() {
                let value = if is_missing(cell) {
                    None
                } else {
                    match parse_number(cell) {
                        Some(v) => {
                            // A negative count or a share past 1 is a broken export, and
                            // would be fitted as if it were a change.
                            if let Some(Err(values)) = unit.map(|unit| unit.admits(v)) {
                                return Err(DatasetError::Impossible {
                                    file,
                                    row: lines[r],
                                    column: headers[*col].clone(),
                                    value: cell.clone(),
                                    signal: name.clone(),
                                    values,
                                });
                            }
                            Some(v)
                        }
                        None => {
                            return Err(DatasetError::NotANumber {
                                file,
                                row: lines[r],
                                column: headers[*col].clone(),
                                value: cell.clone(),
                            })
                        }
                    }
                };
                rows[r].values.push(value);
            }
            names.push(name.clone());
        }

        Ok(Dataset {
            names,
            rows,
            source: file,
        })
    }

    /// The same columns and source, without rows: for a subset of them.
    pub fn clone_without_rows(&self) -> Dataset {
        Dataset {
            names: self.names.clone(),
            rows: Vec::new(),
            source: self.source.clone(),
        }
    }

    /// Index of a signal column by its riskgate name.
    pub fn column(&self, name: &str) -> Option<usize> {
        self.names.iter().position(|n| n == name)
    }

    /// The values of one signal column, row by row.
    pub fn values_of(&self, name: &str) -> Option<Vec<Option<f64>>> {
        let i = self.column(name)?;
        Some(self.rows.iter().map(|r| r.values[i]).collect())
    }

    /// Signal columns that may be used by default: all but [`LEAKAGE_COLUMNS`].
    pub fn usable_signals(&self) -> Vec<&str> {
        self.names
            .iter()
            .map(String::as_str)
            .filter(|n| !LEAKAGE_COLUMNS.contains(n))
            .collect()
    }

    pub fn positives(&self) -> usize {
        self.rows.iter().filter(|r| r.buggy).count()
    }

    pub fn labels(&self) -> Vec<bool> {
        self.rows.iter().map(|r| r.buggy).collect()
    }

    /// Earliest and latest author date; `None` for no rows.
    pub fn date_range(&self) -> Option<(i64, i64)> {
        let min = self.rows.iter().map(|r| r.author_date).min()?;
        let max = self.rows.iter().map(|r| r.author_date).max()?;
        Some((min, max))
    }

    /// A short name for tables: the file name without directories and extension.
    pub fn short_name(&self) -> String {
        let path = std::path::Path::new(&self.source);
        path.file_stem()
            .map(|s| s.to_string_lossy().into_owned())
            .unwrap_or_else(|| self.source.clone())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const PUBLIC: &str = r#""","commit_id","author_date","bugcount","la","ld","ent","fix","aexp","rexp","arexp","asexp","rsexp","buggy","strata"
"14","c1",1311258797,0,16,16,0.95,FALSE,64,82,64,60,69,TRUE,"0"
"41","c2",1309173472,0,10,0,0,true,0,NA,0,0,,FALSE,"1"
"#;

    #[test]
    fn public_columns_are_always_numeric() {
        for name in [
            "ns",
            "nd",
            "nf",
            "entropy",
            "la",
            "ld",
            "lt",
            "fix",
            "ndev",
            "age",
            "nuc",
            "exp",
            "rexp",
            "sexp",
            "churn",
            "revd",
            "nrev",
            "rtime",
            "hcmt",
            "review_unapproved",
            "app",
            "reviewer_exp",
            "reviewer_rexp",
            "reviewer_sexp",
            "other_exp",
            "other_rexp",
            "other_sexp",
            "asawr",
            "rsawr",
            "osawr",
            "bugcount",
            "fixcount",
            "bugdens",
            "strata",
        ] {
            assert!(known_numeric(name), "{name}");
        }
        // Signals only riskgate computes may be absent, as text, from a column.
        for name in [
            "author_commit_share",
            "patch_coverage",
            "review_hours",
            "label_source",
        ] {
            assert!(!known_numeric(name), "{name}");
        }
    }

    #[test]
    fn public_columns_are_mapped() {
        let d = Dataset::parse_str(PUBLIC, "qt.csv").unwrap();
        assert_eq!(
            d.names,
            [
                "bugcount",
                "la",
                "ld",
                "entropy",
                "fix",
                "exp",
                "reviewer_exp",
                "rexp",
                "sexp",
                "reviewer_sexp",
                "strata"
            ]
        );
        assert_eq!(d.rows.len(), 2);
        assert_eq!(d.rows[0].commit_id, "c1");
        assert_eq!(d.rows[0].author_date, 1311258797);
        assert!(d.rows[0].buggy);
        assert!(!d.rows[1].buggy);
        let fix = d.column("fix").unwrap();
        assert_eq!(d.rows[0].values[fix], Some(0.0));
        assert_eq!(d.rows[1].values[fix], Some(1.0));
        let rexp = d.column("reviewer_exp").unwrap();
        assert_eq!(d.rows[0].values[rexp], Some(82.0));
        assert_eq!(d.rows[1].values[rexp], None);
        assert_eq!(d.rows[1].values[d.column("reviewer_sexp").unwrap()], None);
        assert_eq!(d.rows[0].values[d.column("rexp").unwrap()], Some(64.0));
        assert_eq!(d.positives(), 1);
        assert_eq!(d.short_name(), "qt");
    }

    #[test]
    fn leakage_columns_are_not_usable_by_default() {
        let d = Dataset::parse_str(PUBLIC, "qt.csv").unwrap();
        let usable = d.usable_signals();
        assert!(usable.contains(&"la"));
        for leak in ["bugcount", "strata"] {
            assert!(d.column(leak).is_some(), "{leak} is still readable");
            assert!(
                !usable.contains(&leak),
                "{leak} must not be usable by default"
            );
        }
    }

    #[test]
    fn riskgate_names_and_other_aliases_are_read() {
        let text = "transactionid,commitdate,la,rexp,contains_bug\na,100,1,5,1\nb,200,2,6,0\n";
        let d = Dataset::parse_str(text, "x").unwrap();
        // No `aexp` here, so `rexp` is the author's recent experience.
        assert_eq!(d.names, ["la", "rexp"]);
        assert_eq!(d.rows[1].author_date, 200);
        assert!(d.rows[0].buggy);
        let text = "_id,date,entrophy,bug\na,1,0.5,false\n";
        let d = Dataset::parse_str(text, "x").unwrap();
        assert_eq!(d.names, ["entropy"]);
    }

    #[test]
    fn text_columns_are_skipped() {
        let text = "commit_id,author_date,author,la,buggy\na,1,alice,3,0\nb,2,bob,NA,1\n";
        let d = Dataset::parse_str(text, "x").unwrap();
        assert_eq!(d.names, ["la"]);
        assert_eq!(d.rows[1].values, vec![None]);
    }

    #[test]
    fn na_label_names_row_and_column() {
        let text = "commit_id,author_date,la,buggy\na,1,3,0\nb,2,4,NA\n";
        let err = Dataset::parse_str(text, "d.csv").unwrap_err().to_string();
        assert_eq!(err, "d.csv: row 3, column `buggy`: the label is missing");
    }

    #[test]
    fn bad_label_names_row_and_column() {
        let text = "commit_id,author_date,la,bug\na,1,3,maybe\n";
        let err = Dataset::parse_str(text, "d.csv").unwrap_err().to_string();
        assert!(err.contains("row 2, column `bug`: `maybe`"), "{err}");
    }

    #[test]
    fn missing_label_column_is_an_error() {
        let text = "commit_id,author_date,la\na,1,3\n";
        let err = Dataset::parse_str(text, "d.csv").unwrap_err();
        assert!(matches!(err, DatasetError::MissingLabel { .. }));
        let msg = err.to_string();
        assert!(
            msg.starts_with("d.csv: ") && msg.contains("label column") && msg.contains("`buggy`"),
            "{msg}"
        );
    }

    #[test]
    fn missing_commit_or_date_column_is_an_error() {
        let err = Dataset::parse_str("author_date,la,buggy\n1,3,0\n", "d.csv").unwrap_err();
        assert!(matches!(err, DatasetError::MissingCommit { .. }), "{err}");
        let err = Dataset::parse_str("commit_id,la,buggy\na,3,0\n", "d.csv").unwrap_err();
        assert!(matches!(err, DatasetError::MissingDate { .. }), "{err}");
        assert!(err.to_string().contains("date column"));
    }

    #[test]
    fn non_numeric_cell_names_row_and_column() {
        let mut text = String::from("commit_id,author_date,la,buggy\n");
        for i in 0..15 {
            text.push_str(&format!("c{i},{i},{i},0\n"));
        }
        text.push_str("c15,15,abc,1\n"); // line 17 of the file
        let err = Dataset::parse_str(&text, "d.csv").unwrap_err().to_string();
        assert_eq!(err, "d.csv: row 17, column `la`: `abc` is not a number");
    }

    /// A value no change can have (a negative count, a share past 1, a flag of 2) is refused,
    /// naming its row, column and what the signal's values are; the edges are accepted, and
    /// signals that may be negative (review time) or that riskgate does not know are not judged.
    #[test]
    fn impossible_values_name_row_column_and_what_fits() {
        let csv = |cells: &str| {
            format!("commit_id,author_date,la,ent,fix,rtime,mine,buggy\nc1,100,3,0.5,1,-9,-4,0\nc2,200,{cells},1\n")
        };
        let data = Dataset::parse_str(&csv("0,1,0,-5,-1"), "edges.csv").unwrap();
        assert_eq!(data.rows.len(), 2);
        for (cells, column, signal, values) in [
            ("-1,0.5,0,0,0", "la", "la", "a count, never negative"),
            (
                "2,1.01,0,0,0",
                "ent",
                "entropy",
                "a share or entropy, from 0 to 1",
            ),
            ("2,0.5,2,0,0", "fix", "fix", "a flag, 0 or 1"),
        ] {
            let err = Dataset::parse_str(&csv(cells), "bad.csv").unwrap_err();
            let value = match &err {
                DatasetError::Impossible { value, .. } => value.clone(),
                other => panic!("{cells}: {other}"),
            };
            assert_eq!(
                err.to_string(),
                format!("bad.csv: row 3, column `{column}`: `{value}` cannot be a value of `{signal}`, which is {values}")
            );
        }
    }

    #[test]
    fn text_in_a_known_numeric_column_is_an_error_even_if_all_text() {
        let text = "commit_id,author_date,la,buggy\na,1,many,0\n";
        let err = Dataset::parse_str(text, "d.csv").unwrap_err().to_string();
        assert!(
            err.contains("row 2, column `la`: `many` is not a number"),
            "{err}"
        );
    }

    #[test]
    fn bad_date_names_row_and_column() {
        let text = "commit_id,author_date,la,buggy\na,yesterday,1,0\n";
        let err = Dataset::parse_str(text, "d.csv").unwrap_err().to_string();
        assert!(err.contains("row 2, column `author_date`"), "{err}");
    }

    #[test]
    fn a_header_of_too_many_columns_is_an_error() {
        let header = |n: usize| {
            let extra: Vec<String> = (0..n).map(|i| format!("x{i}")).collect();
            format!(
                "commit_id,author_date,buggy,{}\na,1,0{}\n",
                extra.join(","),
                ",1".repeat(n)
            )
        };
        assert!(Dataset::parse_str(&header(MAX_COLUMNS - 3), "ok.csv").is_ok());
        let err = Dataset::parse_str(&header(MAX_COLUMNS - 2), "wide.csv").unwrap_err();
        assert_eq!(
            err,
            DatasetError::TooManyColumns {
                file: "wide.csv".into(),
                columns: MAX_COLUMNS + 1
            }
        );
    }

    #[test]
    fn empty_file_is_an_error() {
        let err = Dataset::parse_str("", "empty.csv").unwrap_err();
        assert_eq!(
            err,
            DatasetError::Empty {
                file: "empty.csv".into()
            }
        );
        assert!(err.to_string().contains("empty.csv: the file is empty"));
        let err = Dataset::parse_str("commit_id,author_date,la,buggy\n", "h.csv").unwrap_err();
        assert_eq!(
            err,
            DatasetError::NoRows {
                file: "h.csv".into()
            }
        );
    }

    #[test]
    fn ragged_row_names_its_row() {
        let text = "commit_id,author_date,la,buggy\na,1,3,0\nb,2,4\n";
        let err = Dataset::parse_str(text, "d.csv").unwrap_err().to_string();
        assert_eq!(err, "d.csv: row 3: has 3 cells, the header has 4");
    }

    /// Rows are named by the line an editor shows: blank lines and a quoted cell over two lines
    /// count.
    #[test]
    fn rows_are_named_by_their_editor_line() {
        let text =
            "commit_id,author_date,la,buggy,note\na,1,3,0,\"two\nlines\"\n\n\r\nb,2,-4,0,x\n";
        let err = Dataset::parse_str(text, "d.csv").unwrap_err().to_string();
        assert!(err.starts_with("d.csv: row 6, column `la`: `-4`"), "{err}");
        let ragged = "commit_id,author_date,la,buggy\n\na,1,3,0\n\n\nb,2,4\n";
        let err = Dataset::parse_str(ragged, "d.csv").unwrap_err().to_string();
        assert_eq!(err, "d.csv: row 6: has 3 cells, the header has 4");
    }

    #[test]
    fn duplicate_columns_after_mapping_are_refused() {
        let text = "commit_id,author_date,ent,entropy,buggy\na,1,0.1,0.1,0\n";
        let err = Dataset::parse_str(text, "d.csv").unwrap_err();
        assert!(
            matches!(err, DatasetError::DuplicateColumn { ref column, .. } if column == "entropy"),
            "{err}"
        );
    }
}
