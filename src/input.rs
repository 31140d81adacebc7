//! Files a user hands riskgate whole (models, coverage reports, incident exports): read, but
//! never past a size limit, so a wrong or hostile file costs an error naming it, not the
//! machine's memory.

use std::io::Read as _;
use std::path::Path;

/// The most bytes a model file may have. The shipped ones are a few tens of KiB; quantiles
/// and provenance never make one larger than a few MiB.
pub const MAX_MODEL_BYTES: u64 = 16 << 20;

/// The most bytes an incidents file given to `incidents import` may have: hundreds of
/// thousands of incidents.
pub const MAX_INCIDENTS_BYTES: u64 = 256 << 20;

/// `text` with each NUL character replaced by U+FFFD. PostgreSQL stores no NUL in text, and
/// SQLite would: text from outside (a webhook's titles and names, an error quoting them, a
/// coverage report) is stored so on both, and one NUL cannot make a write fail.
pub fn without_nul(text: String) -> String {
    if text.contains('\0') {
        text.replace('\0', "\u{FFFD}")
    } else {
        text
    }
}

#[derive(Debug, thiserror::Error)]
pub enum InputError {
    #[error("reading {path}: {source}")]
    Io {
        path: String,
        source: std::io::Error,
    },
    #[error("{path}: larger than {limit} bytes, the most a {what} may have")]
    TooLarge {
        path: String,
        what: &'static str,
        limit: u64,
    },
}

/// The bytes of the file at `path`, or an error when it has more than `limit` of them. `what`
/// names the kind of file in that error ("model file", "coverage report", …).
pub fn read_capped(path: &Path, limit: u64, what: &'static str) -> Result<Vec<u8>, InputError> {
    let shown = || path.display().to_string();
    let io = |source| InputError::Io {
        path: shown(),
        source,
    };
    let file = std::fs::File::open(path).map_err(io)?;
    read_up_to(file, limit)
        .map_err(io)?
        .ok_or_else(|| InputError::TooLarge {
            path: shown(),
            what,
            limit,
        })
}

/// All of `reader`'s bytes, or `None` when it has more than `limit` of them: never more than
/// one byte past the limit is read. That byte tells a file of exactly `limit` bytes from a
/// larger one, even when a file grows while it is read, is not a regular file, or is a
/// decompressor whose declared size lies.
pub fn read_up_to(reader: impl std::io::Read, limit: u64) -> std::io::Result<Option<Vec<u8>>> {
    let mut bytes = Vec::new();
    reader
        .take(limit.saturating_add(1))
        .read_to_end(&mut bytes)?;
    Ok((bytes.len() as u64 <= limit).then_some(bytes))
}

/// [`read_capped`] as UTF-8 text.
pub fn read_text_capped(path: &Path, limit: u64, what: &'static str) -> Result<String, InputError> {
    let bytes = read_capped(path, limit, what)?;
    String::from_utf8(bytes).map_err(|e| InputError::Io {
        path: path.display().to_string(),
        source: std::io::Error::new(
            std::io::ErrorKind::InvalidData,
            format!("not UTF-8 (byte {})", e.utf8_error().valid_up_to()),
        ),
    })
}

/// `text` without the byte-order mark some editors and tools put before UTF-8.
pub fn without_bom(text: &str) -> &str {
    text.strip_prefix('\u{feff}').unwrap_or(text)
}

/// Line numbers as an editor (or a spreadsheet) shows them, for a CSV reader that reads ahead
/// through a buffer. The csv crate's own line count skips blank lines, and a count of records
/// misses quoted cells that span lines. The returned reader, handed to the CSV reader, notes
/// where each line ends as it is read; [`EditorLines::line_of`] then names the line a record
/// starts on from the record's first byte. Only the line ends not yet asked about are kept,
/// about a buffer's worth when a line is asked for each record.
pub fn editor_lines<R: std::io::Read>(reader: R) -> (LineEndsReader<R>, EditorLines) {
    let ends = std::rc::Rc::new(std::cell::RefCell::new(LineEnds {
        line: 1,
        ..LineEnds::default()
    }));
    let reader = LineEndsReader {
        inner: reader,
        ends: ends.clone(),
    };
    (reader, EditorLines(ends))
}

#[derive(Debug, Default)]
struct LineEnds {
    /// The runs of `\n` and `\r` bytes read and not yet counted: (first offset, offset past
    /// the last, how many `\n`). Blank lines the CSV reader skips make one run, however many.
    pending: std::collections::VecDeque<(u64, u64, u64)>,
    /// Bytes read from the wrapped reader.
    read: u64,
    /// The line `counted_to` is on (1 is the first).
    line: u64,
    counted_to: u64,
}

/// A reader that notes where its lines end ([`editor_lines`]).
pub struct LineEndsReader<R> {
    inner: R,
    ends: std::rc::Rc<std::cell::RefCell<LineEnds>>,
}

impl<R: std::io::Read> std::io::Read for LineEndsReader<R> {
    fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
        let n = self.inner.read(buf)?;
        let mut ends = self.ends.borrow_mut();
        let start = ends.read;
        for (i, &b) in buf[..n].iter().enumerate() {
            if b != b'\n' && b != b'\r' {
                continue;
            }
            let at = start + i as u64;
            let newline = u64::from(b == b'\n');
            match ends.pending.back_mut() {
                Some(run) if run.1 == at => {
                    run.1 += 1;
                    run.2 += newline;
                }
                _ => ends.pending.push_back((at, at + 1, newline)),
            }
        }
        ends.read += n as u64;
        Ok(n)
    }
}

/// Names the editor line of a byte read through a [`LineEndsReader`] ([`editor_lines`]).
pub struct EditorLines(std::rc::Rc<std::cell::RefCell<LineEnds>>);

impl EditorLines {
    /// The line a record starting at `byte` is on. Bytes are asked for in order (an earlier
    /// one is taken as the last asked for). A CSV reader places a record before the blank
    /// lines it skipped to reach it, so a run of line ends at `byte` is passed over.
    pub fn line_of(&self, byte: u64) -> u64 {
        let mut ends = self.0.borrow_mut();
        let mut byte = byte.max(ends.counted_to);
        while let Some(&(first, past, newlines)) = ends.pending.front() {
            if first > byte {
                break;
            }
            byte = byte.max(past);
            ends.line += newlines;
            ends.pending.pop_front();
        }
        ends.counted_to = byte;
        ends.line
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn editor_lines_count_blank_lines_and_lines_inside_cells() {
        let text = "h1,h2\r\na,1\n\n\r\nb,\"two\nlines\"\nc,3\n";
        let (reader, lines) = editor_lines(text.as_bytes());
        let mut csv = csv::ReaderBuilder::new()
            .has_headers(false)
            .from_reader(reader);
        let found: Vec<(String, u64)> = csv
            .records()
            .map(|r| {
                let r = r.unwrap();
                (
                    r[0].to_string(),
                    lines.line_of(r.position().unwrap().byte()),
                )
            })
            .collect();
        let want = [("h1", 1), ("a", 2), ("b", 5), ("c", 7)];
        let want: Vec<(String, u64)> = want.iter().map(|&(c, l)| (c.to_string(), l)).collect();
        assert_eq!(found, want);

        // A million blank lines are one run of line ends to keep.
        let text = format!("h\n{}x\n", "\r\n".repeat(1_000_000));
        let (mut reader, lines) = editor_lines(text.as_bytes());
        std::io::copy(&mut reader, &mut std::io::sink()).unwrap();
        assert_eq!(reader.ends.borrow().pending.len(), 2);
        assert_eq!(lines.line_of(2), 1_000_002);
    }

    #[test]
    fn a_file_past_its_limit_is_refused_by_name() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("m.json");
        std::fs::write(&path, b"0123456789").unwrap();
        assert_eq!(read_capped(&path, 10, "model file").unwrap(), b"0123456789");
        let err = read_capped(&path, 9, "model file").unwrap_err().to_string();
        assert!(
            err.contains("m.json")
                && err.contains("larger than 9 bytes")
                && err.contains("model file"),
            "{err}"
        );
        let missing = read_capped(&dir.path().join("gone"), 9, "model file").unwrap_err();
        assert!(matches!(missing, InputError::Io { .. }), "{missing}");
        std::fs::write(&path, b"ok \xff").unwrap();
        let err = read_text_capped(&path, 10, "model file")
            .unwrap_err()
            .to_string();
        assert!(err.contains("not UTF-8 (byte 3)"), "{err}");
    }
}
