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

#[cfg(test)]
mod tests {
    use super::*;

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
