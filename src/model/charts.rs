//! The report's charts as hand-written SVG: the ROC curve of the model beside the raw-`la`
//! baseline, and the reliability (calibration) curve with the number of changes in each bin.
//! Pure: returns the SVG text; one panel per dataset.

use std::fmt::Write;

use super::metrics::{thin_curve, ReliabilityBin};

/// What one ROC panel shows.
pub struct RocPanel<'a> {
    pub title: &'a str,
    /// (false positive rate, true positive rate), from (0, 0) to (1, 1).
    pub model: &'a [(f64, f64)],
    pub model_auc: Option<f64>,
    pub baseline: &'a [(f64, f64)],
    pub baseline_auc: Option<f64>,
}

/// What one calibration panel shows.
pub struct CalibrationPanel<'a> {
    pub title: &'a str,
    pub bins: &'a [ReliabilityBin],
    pub brier: Option<f64>,
}

const PANEL: f64 = 360.0;
const MARGIN_LEFT: f64 = 60.0;
const MARGIN_TOP: f64 = 40.0;
const PLOT: f64 = 260.0;
const HEIGHT: f64 = 380.0;

const MODEL_COLOUR: &str = "#1f5fa8";
const BASELINE_COLOUR: &str = "#c46a00";

/// Text safe inside an XML element or attribute.
fn escape(s: &str) -> String {
    s.replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
        .replace('"', "&quot;")
}

fn auc_label(name: &str, auc: Option<f64>) -> String {
    match auc {
        Some(a) => format!("{name} (AUC {a:.3})"),
        None => format!("{name} (AUC undefined)"),
    }
}

/// A panel's frame: title, axes, ticks, tick labels, axis labels and the diagonal. `max` is
/// the value at the end of both axes. Returns a function mapping (x, y) to SVG coordinates.
fn frame(
    svg: &mut String,
    left: f64,
    title: &str,
    x_label: &str,
    y_label: &str,
    max: f64,
) -> impl Fn(f64, f64) -> (f64, f64) {
    let x0 = left + MARGIN_LEFT;
    let y0 = MARGIN_TOP + PLOT;
    let at = move |x: f64, y: f64| {
        (
            x0 + x.clamp(0.0, max) / max * PLOT,
            y0 - y.clamp(0.0, max) / max * PLOT,
        )
    };
    let _ = writeln!(
        svg,
        r#"<g class="panel"><text class="title" x="{:.1}" y="24" text-anchor="middle" font-size="15">{}</text>"#,
        x0 + PLOT / 2.0,
        escape(title)
    );
    let _ = writeln!(
        svg,
        r##"<rect x="{x0:.1}" y="{MARGIN_TOP:.1}" width="{PLOT:.1}" height="{PLOT:.1}" fill="none" stroke="#bbbbbb"/>"##
    );
    let _ = writeln!(
        svg,
        r##"<line class="axis" x1="{x0:.1}" y1="{y0:.1}" x2="{:.1}" y2="{y0:.1}" stroke="#000000"/>"##,
        x0 + PLOT
    );
    let _ = writeln!(
        svg,
        r##"<line class="axis" x1="{x0:.1}" y1="{y0:.1}" x2="{x0:.1}" y2="{MARGIN_TOP:.1}" stroke="#000000"/>"##
    );
    // Two decimals when the axes end below 1, so ticks at 0.16, 0.32, … read right.
    let digits = if max < 1.0 { 2 } else { 1 };
    for i in 0..=5 {
        let v = max * i as f64 / 5.0;
        let (x, _) = at(v, 0.0);
        let (_, y) = at(0.0, v);
        let _ = writeln!(
            svg,
            r##"<line class="tick" x1="{x:.1}" y1="{y0:.1}" x2="{x:.1}" y2="{:.1}" stroke="#000000"/><text x="{x:.1}" y="{:.1}" text-anchor="middle" font-size="11">{v:.digits$}</text>"##,
            y0 + 5.0,
            y0 + 18.0
        );
        let _ = writeln!(
            svg,
            r##"<line class="tick" x1="{:.1}" y1="{y:.1}" x2="{x0:.1}" y2="{y:.1}" stroke="#000000"/><text x="{:.1}" y="{:.1}" text-anchor="end" font-size="11">{v:.digits$}</text>"##,
            x0 - 5.0,
            x0 - 8.0,
            y + 4.0
        );
    }
    let _ = writeln!(
        svg,
        r#"<text class="x-label" x="{:.1}" y="{:.1}" text-anchor="middle" font-size="12">{}</text>"#,
        x0 + PLOT / 2.0,
        y0 + 36.0,
        escape(x_label)
    );
    let _ = writeln!(
        svg,
        r#"<text class="y-label" x="{:.1}" y="{:.1}" text-anchor="middle" font-size="12" transform="rotate(-90 {:.1} {:.1})">{}</text>"#,
        left + 16.0,
        MARGIN_TOP + PLOT / 2.0,
        left + 16.0,
        MARGIN_TOP + PLOT / 2.0,
        escape(y_label)
    );
    let (ax, ay) = at(0.0, 0.0);
    let (bx, by) = at(max, max);
    let _ = writeln!(
        svg,
        r##"<line class="diagonal" x1="{ax:.1}" y1="{ay:.1}" x2="{bx:.1}" y2="{by:.1}" stroke="#888888" stroke-dasharray="4 4"/>"##
    );
    at
}

fn polyline(
    points: &[(f64, f64)],
    at: &dyn Fn(f64, f64) -> (f64, f64),
    class: &str,
    colour: &str,
) -> String {
    let coords: Vec<String> = points
        .iter()
        .map(|&(x, y)| {
            let (x, y) = at(x, y);
            format!("{x:.1},{y:.1}")
        })
        .collect();
    format!(
        r#"<polyline class="{class}" points="{}" fill="none" stroke="{colour}" stroke-width="2"/>"#,
        coords.join(" ")
    )
}

fn document(panels: usize, body: &str, title: &str) -> String {
    let width = PANEL * panels.max(1) as f64;
    format!(
        "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n<svg xmlns=\"http://www.w3.org/2000/svg\" width=\"{width:.0}\" height=\"{HEIGHT:.0}\" viewBox=\"0 0 {width:.0} {HEIGHT:.0}\" font-family=\"sans-serif\">\n<title>{}</title>\n<rect width=\"{width:.0}\" height=\"{HEIGHT:.0}\" fill=\"#ffffff\"/>\n{body}</svg>\n",
        escape(title)
    )
}

/// ROC curves: per panel the model, the raw-`la` baseline and the diagonal of a random ranking.
pub fn roc_svg(panels: &[RocPanel]) -> String {
    let mut body = String::new();
    for (i, p) in panels.iter().enumerate() {
        let left = PANEL * i as f64;
        let at = frame(
            &mut body,
            left,
            p.title,
            "false positive rate",
            "true positive rate",
            1.0,
        );
        if !p.baseline.is_empty() {
            body.push_str(&polyline(
                &thin_curve(p.baseline, 400),
                &at,
                "baseline",
                BASELINE_COLOUR,
            ));
            body.push('\n');
        }
        if !p.model.is_empty() {
            body.push_str(&polyline(
                &thin_curve(p.model, 400),
                &at,
                "model",
                MODEL_COLOUR,
            ));
            body.push('\n');
        }
        let (lx, ly) = at(0.35, 0.2);
        let _ = writeln!(
            body,
            r#"<text class="legend" x="{lx:.1}" y="{ly:.1}" font-size="11" fill="{MODEL_COLOUR}">{}</text>"#,
            escape(&auc_label("model", p.model_auc))
        );
        let _ = writeln!(
            body,
            r#"<text class="legend" x="{lx:.1}" y="{:.1}" font-size="11" fill="{BASELINE_COLOUR}">{}</text>"#,
            ly + 15.0,
            escape(&auc_label("raw la", p.baseline_auc))
        );
        body.push_str("</g>\n");
    }
    document(panels.len(), &body, "ROC curves on the hold-out")
}

/// Reliability curves: per non-empty bin, mean predicted probability against the observed
/// rate, labelled with the bin's number of changes; the diagonal is perfect calibration.
pub fn calibration_svg(panels: &[CalibrationPanel]) -> String {
    let mut body = String::new();
    for (i, p) in panels.iter().enumerate() {
        let left = PANEL * i as f64;
        let points: Vec<(f64, f64, usize)> = p
            .bins
            .iter()
            .filter_map(|b| Some((b.mean_predicted?, b.observed_rate?, b.count)))
            .collect();
        let top = points.iter().map(|&(x, y, _)| x.max(y)).fold(0.0, f64::max);
        // The axes end at the first of 0.2, 0.4, … that holds every point.
        let max = ((top / 0.2).ceil() * 0.2).clamp(0.2, 1.0);
        let at = frame(
            &mut body,
            left,
            p.title,
            "mean predicted probability",
            "observed share buggy",
            max,
        );
        let line: Vec<(f64, f64)> = points.iter().map(|&(x, y, _)| (x, y)).collect();
        if !line.is_empty() {
            body.push_str(&polyline(&line, &at, "model", MODEL_COLOUR));
            body.push('\n');
        }
        for &(x, y, n) in &points {
            let (cx, cy) = at(x, y);
            let _ = writeln!(
                body,
                r#"<circle class="bin" cx="{cx:.1}" cy="{cy:.1}" r="3.5" fill="{MODEL_COLOUR}"/><text class="count" x="{:.1}" y="{:.1}" font-size="10">{n}</text>"#,
                cx + 5.0,
                cy - 5.0
            );
        }
        let (lx, ly) = at(max * 0.45, max * 0.12);
        let brier = p
            .brier
            .map(|b| format!("Brier {b:.4}"))
            .unwrap_or_else(|| "Brier undefined".to_string());
        let _ = writeln!(
            body,
            r#"<text class="legend" x="{lx:.1}" y="{ly:.1}" font-size="11">{}; labels: changes per bin</text>"#,
            escape(&brier)
        );
        body.push_str("</g>\n");
    }
    document(panels.len(), &body, "Reliability on the hold-out")
}

#[cfg(test)]
mod tests {
    use super::*;
    use quick_xml::events::Event;
    use quick_xml::Reader;

    /// Parses the SVG as XML (tags must nest and close) and counts elements by name, and
    /// elements by `class` attribute.
    fn parse(svg: &str) -> (Vec<String>, Vec<String>, Vec<String>) {
        let mut reader = Reader::from_str(svg);
        let (mut names, mut classes, mut texts) = (Vec::new(), Vec::new(), Vec::new());
        let mut stack = Vec::new();
        loop {
            match reader.read_event().expect("valid XML") {
                Event::Start(e) | Event::Empty(e) => {
                    let name = String::from_utf8(e.name().as_ref().to_vec()).unwrap();
                    for a in e.attributes() {
                        let a = a.expect("valid attribute");
                        if a.key.as_ref() == b"class" {
                            classes.push(String::from_utf8(a.value.to_vec()).unwrap());
                        }
                    }
                    names.push(name);
                }
                Event::Text(t) => texts.push(String::from_utf8(t.to_vec()).unwrap()),
                Event::End(e) => stack.push(e.name().as_ref().to_vec()),
                Event::Eof => break,
                _ => {}
            }
        }
        assert_eq!(stack.last().map(|v| v.as_slice()), Some(&b"svg"[..]));
        (names, classes, texts)
    }

    fn count(v: &[String], what: &str) -> usize {
        v.iter().filter(|s| *s == what).count()
    }

    #[test]
    fn roc_chart_is_xml_with_axes_curves_and_labels() {
        let model = [(0.0, 0.0), (0.1, 0.5), (0.4, 0.8), (1.0, 1.0)];
        let baseline = [(0.0, 0.0), (0.3, 0.5), (1.0, 1.0)];
        let svg = roc_svg(&[
            RocPanel {
                title: "qt & co",
                model: &model,
                model_auc: Some(0.75),
                baseline: &baseline,
                baseline_auc: Some(0.7),
            },
            RocPanel {
                title: "openstack",
                model: &model,
                model_auc: Some(0.75),
                baseline: &[],
                baseline_auc: None,
            },
        ]);
        let (names, classes, texts) = parse(&svg);
        assert_eq!(names[0], "svg");
        assert_eq!(count(&classes, "panel"), 2);
        assert_eq!(count(&classes, "axis"), 4);
        assert_eq!(count(&classes, "tick"), 24);
        assert_eq!(count(&classes, "diagonal"), 2);
        assert_eq!(count(&classes, "model"), 2);
        assert_eq!(count(&classes, "baseline"), 1);
        assert!(texts.iter().any(|t| t == "model (AUC 0.750)"), "{texts:?}");
        assert!(texts.iter().any(|t| t == "raw la (AUC 0.700)"));
        assert!(texts.iter().any(|t| t == "false positive rate"));
        assert!(texts.iter().any(|t| t == "0.6"));
        assert!(texts.iter().any(|t| t == "true positive rate"));
        assert!(svg.contains("qt &amp; co"));
    }

    #[test]
    fn calibration_chart_has_a_point_and_a_count_per_non_empty_bin() {
        let bins: Vec<ReliabilityBin> = (0..10)
            .map(|b| ReliabilityBin {
                lower: b as f64 / 10.0,
                upper: (b + 1) as f64 / 10.0,
                mean_predicted: (b < 3).then(|| b as f64 / 10.0 + 0.05),
                observed_rate: (b < 3).then(|| b as f64 / 10.0 + 0.02),
                count: if b < 3 { 100 * (b + 1) } else { 0 },
            })
            .collect();
        let svg = calibration_svg(&[CalibrationPanel {
            title: "qt",
            bins: &bins,
            brier: Some(0.0588),
        }]);
        let (_, classes, texts) = parse(&svg);
        assert_eq!(count(&classes, "bin"), 3);
        assert_eq!(count(&classes, "count"), 3);
        assert_eq!(count(&classes, "diagonal"), 1);
        assert_eq!(count(&classes, "axis"), 2);
        for n in ["100", "200", "300"] {
            assert!(texts.iter().any(|t| t == n), "{n}: {texts:?}");
        }
        assert!(texts.iter().any(|t| t.starts_with("Brier 0.0588")));
        // The axes end at 0.4, the first step of 0.2 that holds the highest point (0.25).
        assert!(texts.iter().any(|t| t == "0.40"));
        assert!(texts.iter().any(|t| t == "0.08"));
        assert!(!texts.iter().any(|t| t == "1.0" || t == "1.00"));
    }

    #[test]
    fn long_curves_are_thinned_keeping_the_ends() {
        let points: Vec<(f64, f64)> = (0..=1000).map(|i| (i as f64 / 1000.0, 0.5)).collect();
        let t = thin_curve(&points, 100);
        assert_eq!(t.len(), 100);
        assert_eq!(t[0], (0.0, 0.5));
        assert_eq!(*t.last().unwrap(), (1.0, 0.5));
    }
}
