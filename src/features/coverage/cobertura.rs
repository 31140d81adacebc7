//! Reading Cobertura XML reports.

use std::collections::{BTreeMap, HashSet};

use quick_xml::events::{BytesStart, Event};
use quick_xml::Reader;

use super::paths::normalize_path;
use super::{parse_hits, parse_line_number, CoverageError, CoverageReport, LineHits, ReportSize};

/// The deepest elements may nest. A Cobertura report nests six deep; without a limit, a
/// report of nothing but opening tags would hold every one of them.
const MAX_DEPTH: usize = 64;

impl CoverageReport {
    /// Parse a Cobertura XML report (coverage.py, cargo-tarpaulin, gcovr, Istanbul, Java).
    ///
    /// Line hits come from `<line>` elements inside a `<class>`'s `<lines>`, including the
    /// copies under `<methods>`; within a file a line counts once, with its highest hit
    /// count, so method copies and several classes of one file (under one spelling of its
    /// path or several) do not double count; line 0, no line of a source file, is left out.
    /// `<source>` roots are kept so that relative file names can be matched against
    /// repository paths under a root.
    pub fn parse_cobertura(source_name: &str, text: &str) -> Result<CoverageReport, CoverageError> {
        let text = crate::input::without_bom(text);
        let mut parser = CoberturaParser {
            source_name,
            text,
            stack: Vec::new(),
            files: BTreeMap::new(),
            roots: Vec::new(),
            seen_roots: HashSet::new(),
            current_file: None,
            source_text: None,
            saw_root: false,
            saw_class: false,
            size: ReportSize::of(source_name),
        };
        let mut reader = Reader::from_str(text);

        loop {
            let position = to_usize(reader.buffer_position());
            let event = match reader.read_event() {
                Ok(event) => event,
                Err(e) => return Err(parser.xml_error(to_usize(reader.error_position()), e)),
            };
            match event {
                Event::Start(e) => {
                    if parser.stack.len() >= MAX_DEPTH {
                        return Err(parser.xml_error(
                            position,
                            format!("elements nested more than {MAX_DEPTH} deep"),
                        ));
                    }
                    parser.open(&e, position)?;
                    parser.stack.push(local_name(&e));
                }
                Event::Empty(e) => {
                    parser.open(&e, position)?;
                    parser.close(&local_name(&e));
                }
                Event::End(_) => {
                    if let Some(name) = parser.stack.pop() {
                        parser.close(&name);
                    }
                }
                Event::Text(t) if parser.source_text.is_some() => {
                    let content = t.xml_content().map_err(|e| parser.xml_error(position, e))?;
                    parser.push_source_text(&content);
                }
                Event::CData(t) if parser.source_text.is_some() => {
                    let content = t.decode().map_err(|e| parser.xml_error(position, e))?;
                    parser.push_source_text(&content);
                }
                Event::GeneralRef(r) if parser.source_text.is_some() => {
                    let name = r.decode().map_err(|e| parser.xml_error(position, e))?;
                    let resolved = match r.resolve_char_ref() {
                        Ok(Some(c)) => c.to_string(),
                        _ => match quick_xml::escape::resolve_predefined_entity(&name) {
                            Some(s) => s.to_string(),
                            None => format!("&{name};"),
                        },
                    };
                    parser.push_source_text(&resolved);
                }
                Event::Eof => break,
                _ => {}
            }
        }

        if let Some(open) = parser.stack.last() {
            return Err(CoverageError::Xml {
                source_name: source_name.to_string(),
                line: line_of(text, text.len()),
                message: format!("document ends inside <{open}>"),
            });
        }
        if !parser.saw_root {
            return Err(CoverageError::Xml {
                source_name: source_name.to_string(),
                line: line_of(text, text.len()),
                message: "no root element".to_string(),
            });
        }
        if !parser.saw_class {
            return Err(CoverageError::NoRecords {
                source_name: source_name.to_string(),
            });
        }
        Ok(Self::from_parts(parser.files, parser.roots))
    }
}

/// Streaming state of the Cobertura reader.
struct CoberturaParser<'a> {
    source_name: &'a str,
    text: &'a str,
    /// Local names of the open elements.
    stack: Vec<String>,
    files: BTreeMap<String, LineHits>,
    roots: Vec<String>,
    seen_roots: HashSet<String>,
    /// File name of the `<class>` being read.
    current_file: Option<String>,
    /// Text of the `<source>` being read.
    source_text: Option<String>,
    saw_root: bool,
    saw_class: bool,
    size: ReportSize<'a>,
}

impl CoberturaParser<'_> {
    /// Handle an opening (or empty) element; the stack holds its ancestors.
    fn open(&mut self, e: &BytesStart<'_>, position: usize) -> Result<(), CoverageError> {
        let name = local_name(e);
        if self.stack.is_empty() {
            if self.saw_root {
                return Err(self.element_error(&name, position, "second root element"));
            }
            self.saw_root = true;
            if name != "coverage" {
                return Err(self.element_error(
                    &name,
                    position,
                    "root element is not <coverage>; not a Cobertura report",
                ));
            }
            return Ok(());
        }
        let parent = self.stack.last().map(String::as_str);
        match name.as_str() {
            "source" if parent == Some("sources") => {
                self.source_text = Some(String::new());
            }
            "class" => {
                let Some(filename) = self.attribute(e, &name, position, "filename")? else {
                    return Err(self.element_error(&name, position, "missing filename attribute"));
                };
                if filename.trim().is_empty() {
                    return Err(self.element_error(&name, position, "empty filename attribute"));
                }
                self.current_file = Some(self.size.file(&mut self.files, &filename)?);
                self.saw_class = true;
            }
            "line" if parent == Some("lines") && self.current_file.is_some() => {
                let Some(number_text) = self.attribute(e, &name, position, "number")? else {
                    return Err(self.element_error(&name, position, "missing number attribute"));
                };
                let Some(number) = parse_line_number(number_text.trim()) else {
                    return Err(self.element_error(
                        &name,
                        position,
                        &format!("invalid number attribute {number_text:?}"),
                    ));
                };
                let Some(hits_text) = self.attribute(e, &name, position, "hits")? else {
                    return Err(self.element_error(&name, position, "missing hits attribute"));
                };
                let Some(hits) = parse_hits(&hits_text) else {
                    return Err(self.element_error(
                        &name,
                        position,
                        &format!("invalid hits attribute {hits_text:?}"),
                    ));
                };
                if number == 0 {
                    return Ok(());
                }
                if let Some(lines) = self
                    .current_file
                    .as_ref()
                    .and_then(|f| self.files.get_mut(f))
                {
                    let slot = self.size.line(lines, number)?;
                    *slot = (*slot).max(hits);
                }
            }
            _ => {}
        }
        Ok(())
    }

    fn push_source_text(&mut self, text: &str) {
        if let Some(buf) = self.source_text.as_mut() {
            buf.push_str(text);
        }
    }

    /// Handle the end of an element (also called right after `open` for empty ones).
    fn close(&mut self, name: &str) {
        match name {
            "class" => self.current_file = None,
            "source" => {
                if let Some(text) = self.source_text.take() {
                    let root = text.trim();
                    if !root.is_empty() {
                        let root = normalize_path(root);
                        if self.seen_roots.insert(root.clone()) {
                            self.roots.push(root);
                        }
                    }
                }
            }
            _ => {}
        }
    }

    fn attribute(
        &self,
        e: &BytesStart<'_>,
        element: &str,
        position: usize,
        wanted: &str,
    ) -> Result<Option<String>, CoverageError> {
        for attr in e.attributes() {
            let attr =
                attr.map_err(|err| self.element_error(element, position, &err.to_string()))?;
            if attr.key.local_name().as_ref() == wanted.as_bytes() {
                let value = attr.unescape_value().map_err(|err| {
                    self.element_error(element, position, &format!("bad {wanted} attribute: {err}"))
                })?;
                return Ok(Some(value.into_owned()));
            }
        }
        Ok(None)
    }

    fn element_error(&self, element: &str, position: usize, message: &str) -> CoverageError {
        CoverageError::Cobertura {
            source_name: self.source_name.to_string(),
            line: line_of(self.text, position),
            element: element.to_string(),
            message: message.to_string(),
        }
    }

    fn xml_error(&self, position: usize, err: impl std::fmt::Display) -> CoverageError {
        CoverageError::Xml {
            source_name: self.source_name.to_string(),
            line: line_of(self.text, position),
            message: err.to_string(),
        }
    }
}

fn local_name(e: &BytesStart<'_>) -> String {
    String::from_utf8_lossy(e.local_name().as_ref()).into_owned()
}

fn to_usize(position: u64) -> usize {
    usize::try_from(position).unwrap_or(usize::MAX)
}

/// 1-based line number of byte offset `position` in `text`.
fn line_of(text: &str, position: usize) -> usize {
    let end = position.min(text.len());
    text.as_bytes()[..end]
        .iter()
        .filter(|&&b| b == b'\n')
        .count()
        + 1
}

#[cfg(test)]
mod tests {
    use super::super::testdata::{message, COVERAGE_PY, HEAD_COBERTURA, HEAD_LCOV};
    use super::*;

    #[test]
    fn cobertura_head_matches_lcov_head() {
        let xml = CoverageReport::parse_cobertura("head.cobertura.xml", HEAD_COBERTURA).unwrap();
        let lcov = CoverageReport::parse_lcov("head.info", HEAD_LCOV).unwrap();
        assert_eq!(xml.file_count(), 3);
        // Method lines repeat class lines and two classes share util.rs: still 10/14.
        assert_eq!(xml.totals(), (10, 14));
        assert_eq!(xml.source_roots(), ["/home/ci/work/proj".to_string()]);
        for (path, lines) in lcov.files() {
            let repo_path = path.trim_start_matches("/home/ci/work/proj/");
            for (&line, &hits) in lines {
                assert_eq!(xml.line_hits(repo_path, line), Some(hits), "{path}:{line}");
            }
        }
        // <line> with <conditions> children is read too.
        assert_eq!(xml.line_hits("src/lib.rs", 10), Some(3));
    }

    #[test]
    fn coverage_py_sources_methods_and_entities() {
        let report = CoverageReport::parse("coverage-py.xml", COVERAGE_PY).unwrap();
        // __init__.py 1/1, mod/a.py 4/6 (method lines not counted again), mod/q&a.py 1/2.
        assert_eq!(report.totals(), (6, 9));
        assert_eq!(
            report.source_roots(),
            ["/home/runner/work/app/app/pkg".to_string()]
        );
        // The repository has the package under pkg/: matched through the <source> root.
        assert_eq!(report.line_hits("pkg/mod/a.py", 6), Some(1));
        assert_eq!(report.line_hits("pkg/mod/a.py", 5), Some(0));
        assert_eq!(report.line_hits("pkg/mod/a.py", 3), None);
        assert_eq!(report.line_hits("pkg/mod/q&a.py", 2), Some(3));
        assert_eq!(report.line_hits("pkg/__init__.py", 1), Some(1));
        assert_eq!(report.line_hits("other/mod/a.py", 6), None);
        assert_eq!(report.resolve_path("pkg/mod/a.py"), Some("mod/a.py"));
    }

    #[test]
    fn nesting_past_the_limit_is_an_error() {
        let nested = |depth: usize| {
            let mut text = String::from("<coverage><packages>");
            text.push_str(&"<x>".repeat(depth - 2));
            text
        };
        let msg = message(CoverageReport::parse_cobertura(
            "deep.xml",
            &nested(MAX_DEPTH + 1),
        ));
        assert!(
            msg.contains("deep.xml") && msg.contains("nested more than 64 deep"),
            "{msg}"
        );
        let msg = message(CoverageReport::parse_cobertura(
            "cut.xml",
            &nested(MAX_DEPTH),
        ));
        assert!(!msg.contains("nested"), "{msg}");
    }

    #[test]
    fn cobertura_with_bom_and_windows_source() {
        let text = "\u{feff}\n  <?xml version=\"1.0\"?>\n<coverage><sources><source>C:\\agent\\_work\\1\\s</source>\
                    </sources><packages><package><classes>\
                    <class filename=\"src\\app\\main.ts\"><lines><line number=\"7\" hits=\"2\"/></lines></class>\
                    </classes></package></packages></coverage>";
        let report = CoverageReport::parse("istanbul.xml", text).unwrap();
        assert_eq!(report.totals(), (1, 1));
        assert_eq!(report.line_hits("src/app/main.ts", 7), Some(2));
        assert_eq!(report.line_hits("s/src/app/main.ts", 7), Some(2));
        assert_eq!(report.line_hits("t/src/app/main.ts", 7), None);
    }

    #[test]
    fn cobertura_missing_hits_names_report_element_and_line() {
        let text = "<coverage><packages><package><classes>\n\
                    <class filename=\"a.py\"><lines>\n\
                    <line number=\"1\" hits=\"1\"/>\n\
                    <line number=\"2\"/>\n\
                    </lines></class></classes></package></packages></coverage>\n";
        let msg = message(CoverageReport::parse("cov.xml", text));
        assert!(msg.starts_with("cov.xml: line 4: <line>:"), "{msg}");
        assert!(msg.contains("hits"), "{msg}");
        let text = text.replace("<line number=\"2\"/>", "<line hits=\"0\"/>");
        let msg = message(CoverageReport::parse("cov.xml", &text));
        assert!(msg.starts_with("cov.xml: line 4: <line>:"), "{msg}");
        assert!(msg.contains("number"), "{msg}");
        let text = text.replace("<line hits=\"0\"/>", "<line number=\"two\" hits=\"0\"/>");
        let msg = message(CoverageReport::parse("cov.xml", &text));
        assert!(msg.contains("two"), "{msg}");
    }

    #[test]
    fn cobertura_structural_errors() {
        let msg = message(CoverageReport::parse(
            "c.xml",
            "<coverage>\n<packages><class name=\"x\"><lines/></class></packages></coverage>",
        ));
        assert!(msg.starts_with("c.xml: line 2: <class>:"), "{msg}");
        assert!(msg.contains("filename"), "{msg}");

        let msg = message(CoverageReport::parse(
            "c.xml",
            "<coverage>\n<packages>\n</coverage>",
        ));
        assert!(msg.starts_with("c.xml: line 3: malformed XML"), "{msg}");

        let msg = message(CoverageReport::parse("c.xml", "<coverage>\n<packages>"));
        assert!(msg.starts_with("c.xml: line 2: malformed XML"), "{msg}");
        assert!(msg.contains("<packages>"), "{msg}");

        let msg = message(CoverageReport::parse("c.xml", "<html><body/></html>"));
        assert!(msg.starts_with("c.xml: line 1: <html>:"), "{msg}");

        let msg = message(CoverageReport::parse(
            "c.xml",
            "<coverage><packages>\n<class filename=oops/>",
        ));
        assert!(msg.starts_with("c.xml: line 2: <class>:"), "{msg}");
    }
}
