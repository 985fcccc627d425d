//! Study reports: plots (PNG and SVG, drawn with plotters) and a markdown or self-contained HTML
//! page — the history of a search, score by each choice, α for MI trials, wall time per trial.
//! Reads only stored trials, so it works on a study that is still running.

use plotters::coord::Shift;
use plotters::prelude::*;
use serde_json::Value;
use std::fmt::Write as _;
use std::path::{Path, PathBuf};

use crate::error::{Error, Result};
use crate::pipeline::Objective;
use crate::store::{StudyObjective, StudyRecord, TrialRecord, TrialState};

/// Output page format.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PageFormat {
    /// `report.md` linking the PNG files.
    Markdown,
    /// `report.html`, every plot inlined as SVG.
    Html,
}

/// Pipeline fields whose effect the report plots, when trials differ in them.
const CHOICES: [&str; 9] = [
    "intermediate.objective",
    "intermediate.mapping",
    "intermediate.feature",
    "intermediate.critic",
    "kd.loss",
    "kd.temperature",
    "augment.chain",
    "augment.mixup",
    "intermediate.alpha",
];

const SIZE: (u32, u32) = (800, 480);

/// The trade-off every report with measured students plots.
const SCORE_AND_LATENCY: [StudyObjective; 2] = [StudyObjective::Score, StudyObjective::Latency];

/// One chart, drawable on any plotters backend (so SVG and PNG share the drawing code).
enum Chart {
    History {
        points: Vec<(f64, f64, TrialState, usize)>,
        best: Vec<(f64, f64)>,
    },
    ByChoice {
        field: String,
        groups: Vec<(String, Vec<f64>)>,
    },
    AlphaScore {
        points: Vec<(f64, f64)>,
    },
    WallTime {
        bars: Vec<(f64, f64, TrialState)>,
    },
    /// Each student's batch-1 latency against its score, the Pareto front of the two drawn through.
    ScoreLatency {
        points: Vec<(f64, f64)>,
        front: Vec<(f64, f64)>,
        /// The teacher's latency, where the trials measured it.
        teacher: Option<f64>,
    },
    /// The recommender's predicted normalised rank vs the realised score, one series per task.
    PredictedRealised {
        series: Vec<(String, Vec<(f64, f64)>)>,
    },
}

fn state_colour(state: TrialState, rung: usize) -> RGBColor {
    match state {
        TrialState::Complete => {
            let (r, g, b) = Palette99::pick(rung).rgb();
            RGBColor(r, g, b)
        }
        TrialState::Fail => RED,
        TrialState::Pruned => RGBColor(150, 150, 150),
        TrialState::Running => RGBColor(255, 165, 0),
        TrialState::Waiting => RGBColor(120, 170, 230),
    }
}

/// Score axis bounds with a margin; a flat score still gets a visible range.
fn score_range(values: impl Iterator<Item = f64>) -> std::ops::Range<f64> {
    let (lo, hi) = values.fold((f64::INFINITY, f64::NEG_INFINITY), |(lo, hi), v| (lo.min(v), hi.max(v)));
    if !lo.is_finite() {
        return 0.0..1.0;
    }
    let pad = ((hi - lo) * 0.08).max(1e-3);
    (lo - pad)..(hi + pad)
}

/// Trial-number axis labels: integers only.
fn integer_label(x: &f64) -> String {
    if (x - x.round()).abs() < 1e-9 { format!("{x:.0}") } else { String::new() }
}

type DrawResult<DB> = std::result::Result<(), DrawingAreaErrorKind<<DB as DrawingBackend>::ErrorType>>;

impl Chart {
    fn file_stem(&self) -> String {
        match self {
            Chart::History { .. } => "history".into(),
            Chart::ByChoice { field, .. } => format!("by_{}", field.replace('.', "_")),
            Chart::AlphaScore { .. } => "alpha_vs_score".into(),
            Chart::WallTime { .. } => "wall_time".into(),
            Chart::ScoreLatency { .. } => "score_vs_latency".into(),
            Chart::PredictedRealised { .. } => "predicted_vs_realised".into(),
        }
    }

    fn title(&self) -> String {
        match self {
            Chart::History { .. } => "Optimisation history".into(),
            Chart::ByChoice { field, .. } => format!("Score by {field}"),
            Chart::AlphaScore { .. } => "MI-α: α vs score".into(),
            Chart::WallTime { .. } => "Wall time per trial".into(),
            Chart::ScoreLatency { .. } => "Score against latency, with the Pareto front".into(),
            Chart::PredictedRealised { .. } => "Recommender: predicted vs realised".into(),
        }
    }

    fn draw<DB: DrawingBackend>(&self, root: &DrawingArea<DB, Shift>) -> DrawResult<DB> {
        root.fill(&WHITE)?;
        let title = self.title();
        // Every chart: the title as caption, the same margins and label areas.
        let frame = || {
            let mut builder = ChartBuilder::on(root);
            builder.caption(&title, ("sans-serif", 22)).margin(12).x_label_area_size(40).y_label_area_size(64);
            builder
        };
        match self {
            Chart::History { points, best } => {
                let n = points.iter().map(|p| p.0).fold(1.0, f64::max);
                let mut chart = frame().build_cartesian_2d(-0.5..n + 0.5, score_range(points.iter().map(|p| p.1)))?;
                chart.configure_mesh().x_desc("trial").y_desc("dev score").x_label_formatter(&integer_label).draw()?;
                let rungs = points.iter().map(|p| p.3).max().unwrap_or(0);
                for rung in 0..=rungs {
                    let series: Vec<_> = points.iter().filter(|p| p.2 == TrialState::Complete && p.3 == rung).collect();
                    if series.is_empty() {
                        continue;
                    }
                    let colour = state_colour(TrialState::Complete, rung);
                    chart
                        .draw_series(series.iter().map(|p| Circle::new((p.0, p.1), 5, colour.filled())))?
                        .label(if rungs == 0 { "complete".to_string() } else { format!("complete, rung {rung}") })
                        .legend(move |(x, y)| Circle::new((x, y), 5, colour.filled()));
                }
                chart
                    .draw_series(LineSeries::new(best.iter().copied(), BLACK.stroke_width(2)))?
                    .label("best so far (any rung)")
                    .legend(|(x, y)| PathElement::new(vec![(x - 8, y), (x + 8, y)], BLACK.stroke_width(2)));
                chart.configure_series_labels().position(SeriesLabelPosition::LowerRight).border_style(BLACK).background_style(WHITE.mix(0.85)).draw()?;
            }
            Chart::ByChoice { field, groups } => {
                let k = groups.len() as u32;
                let mut chart = frame()
                    // A segmented range includes its end: k groups take 0..k-1.
                    .build_cartesian_2d((0..k.saturating_sub(1)).into_segmented(), {
                        // Boxplot draws in f32.
                        let r = score_range(groups.iter().flat_map(|g| g.1.iter().copied()));
                        r.start as f32..r.end as f32
                    })?;
                chart
                    .configure_mesh()
                    .x_desc(field.as_str())
                    .y_desc("dev score")
                    .x_label_formatter(&|v| match v {
                        SegmentValue::CenterOf(i) => groups.get(*i as usize).map(|g| format!("{} (n={})", g.0, g.1.len())).unwrap_or_default(),
                        _ => String::new(),
                    })
                    .draw()?;
                for (i, (_, scores)) in groups.iter().enumerate() {
                    let colour = Palette99::pick(i).to_rgba();
                    if scores.len() >= 2 {
                        let quartiles = Quartiles::new(scores);
                        chart.draw_series(std::iter::once(Boxplot::new_vertical(SegmentValue::CenterOf(i as u32), &quartiles).width(30).style(colour)))?;
                    }
                    chart.draw_series(scores.iter().map(|&s| Circle::new((SegmentValue::CenterOf(i as u32), s as f32), 4, colour.filled())))?;
                }
            }
            Chart::AlphaScore { points } => {
                let mut chart = frame().build_cartesian_2d(-0.05..1.05, score_range(points.iter().map(|p| p.1)))?;
                chart.configure_mesh().x_desc("α (0 = NWJ end, 1 = InfoNCE end)").y_desc("dev score").draw()?;
                chart.draw_series(points.iter().map(|&(a, s)| Circle::new((a, s), 5, BLUE.filled())))?;
            }
            Chart::WallTime { bars } => {
                let n = bars.iter().map(|b| b.0).fold(1.0, f64::max);
                let top = bars.iter().map(|b| b.1).fold(1.0, f64::max) * 1.1;
                let mut chart = frame().build_cartesian_2d(-0.5..n + 0.5, 0.0..top)?;
                chart.configure_mesh().x_desc("trial").y_desc("seconds").x_label_formatter(&integer_label).draw()?;
                chart.draw_series(bars.iter().map(|&(x, secs, state)| Rectangle::new([(x - 0.4, 0.0), (x + 0.4, secs)], state_colour(state, 0).filled())))?;
            }
            Chart::ScoreLatency { points, front, teacher } => {
                let right = points.iter().map(|p| p.0).chain(*teacher).fold(1.0, f64::max) * 1.1;
                let mut chart = frame().build_cartesian_2d(0.0..right, score_range(points.iter().map(|p| p.1)))?;
                chart.configure_mesh().x_desc("student latency at batch 1 (ms, CPU)").y_desc("dev score").draw()?;
                chart
                    .draw_series(points.iter().map(|&p| Circle::new(p, 5, BLUE.mix(0.6).filled())))?
                    .label("trial")
                    .legend(|(x, y)| Circle::new((x, y), 5, BLUE.mix(0.6).filled()));
                chart
                    .draw_series(LineSeries::new(front.iter().copied(), BLACK.stroke_width(2)).point_size(4))?
                    .label("Pareto front")
                    .legend(|(x, y)| PathElement::new(vec![(x - 8, y), (x + 8, y)], BLACK.stroke_width(2)));
                if let Some(ms) = teacher {
                    let range = score_range(points.iter().map(|p| p.1));
                    chart
                        .draw_series(LineSeries::new([(*ms, range.start), (*ms, range.end)], RED.stroke_width(1)))?
                        .label(format!("teacher ({ms:.1} ms)"))
                        .legend(|(x, y)| PathElement::new(vec![(x - 8, y), (x + 8, y)], RED.stroke_width(1)));
                }
                chart.configure_series_labels().position(SeriesLabelPosition::LowerRight).border_style(BLACK).background_style(WHITE.mix(0.85)).draw()?;
            }
            Chart::PredictedRealised { series } => {
                let mut chart = frame().build_cartesian_2d(-0.05..1.05, -0.05..1.05)?;
                chart.configure_mesh().x_desc("predicted normalised rank").y_desc("realised score, min-max scaled within the task").draw()?;
                for (i, (name, points)) in series.iter().enumerate() {
                    let colour = Palette99::pick(i).to_rgba();
                    chart
                        .draw_series(points.iter().map(|&p| Circle::new(p, 3, colour.filled())))?
                        .label(name.as_str())
                        .legend(move |(x, y)| Circle::new((x, y), 4, colour.filled()));
                }
                chart.configure_series_labels().position(SeriesLabelPosition::UpperLeft).border_style(BLACK).background_style(WHITE.mix(0.85)).draw()?;
            }
        }
        root.present()
    }
}

/// Draws the recommender's predictions against realised scores (per task: (predicted normalised
/// rank, realised score)) as `<stem>.svg` and, with a font, `<stem>.png` in `out`.
pub fn write_predicted_vs_realised(out: &Path, series: Vec<(String, Vec<(f64, f64)>)>) -> Result<Vec<PathBuf>> {
    // Realised scores are scaled within each task so tasks with different metrics share an axis.
    let series = series
        .into_iter()
        .map(|(name, points)| {
            let (lo, hi) = points.iter().fold((f64::INFINITY, f64::NEG_INFINITY), |(lo, hi), p| (lo.min(p.1), hi.max(p.1)));
            let span = (hi - lo).max(1e-12);
            (name, points.into_iter().map(|(x, y)| (x, (y - lo) / span)).collect())
        })
        .collect();
    write_charts(out, &[Chart::PredictedRealised { series }]).map(|(images, _)| images)
}

/// A drawn chart: (title, file stem, SVG text).
type DrawnChart = (String, String, String);

/// Writes each chart as SVG (and PNG when a font is available); returns the files and the charts.
fn write_charts(out: &Path, charts: &[Chart]) -> Result<(Vec<PathBuf>, Vec<DrawnChart>)> {
    std::fs::create_dir_all(out).map_err(|e| Error::io(out, e))?;
    let png = register_png_font();
    let mut images = Vec::new();
    let mut sections = Vec::new();
    for chart in charts {
        let stem = chart.file_stem();
        let mut svg = String::new();
        {
            let root = SVGBackend::with_string(&mut svg, SIZE).into_drawing_area();
            chart.draw(&root).map_err(|e| plot_error(&out.join(format!("{stem}.svg")), e))?;
        }
        let svg_path = out.join(format!("{stem}.svg"));
        std::fs::write(&svg_path, &svg).map_err(|e| Error::io(&svg_path, e))?;
        images.push(svg_path);
        if png {
            let png_path = out.join(format!("{stem}.png"));
            let root = BitMapBackend::new(&png_path, SIZE).into_drawing_area();
            chart.draw(&root).map_err(|e| plot_error(&png_path, e))?;
            drop(root);
            images.push(png_path);
        }
        sections.push((chart.title(), stem, svg));
    }
    Ok((images, sections))
}

/// A pipeline field (of a pipeline as JSON) as a short label (`augment.chain` = ["random"] →
/// `random`).
fn field_label(pipeline: &Value, field: &str) -> Option<String> {
    let value = field.split('.').try_fold(pipeline, |v, key| v.get(key))?;
    Some(match value {
        Value::String(s) => s.clone(),
        Value::Array(items) if items.is_empty() => "none".into(),
        Value::Array(items) => items.iter().map(|v| v.as_str().map(str::to_string).unwrap_or_else(|| v.to_string())).collect::<Vec<_>>().join("+"),
        other => other.to_string(),
    })
}

fn charts(trials: &[TrialRecord]) -> Vec<Chart> {
    let complete: Vec<&TrialRecord> = trials.iter().filter(|t| t.state == TrialState::Complete && t.score.is_some()).collect();
    let mut charts = Vec::new();
    let mut best = f64::NEG_INFINITY;
    let mut best_line = Vec::new();
    for t in &complete {
        best = best.max(t.score.unwrap_or(best));
        best_line.push((t.id as f64, best));
    }
    let points = trials.iter().filter_map(|t| t.score.map(|s| (t.id as f64, s, t.state, t.rung))).collect();
    charts.push(Chart::History { points, best: best_line });
    let is_mi = |t: &TrialRecord| t.pipeline.intermediate.objective == Objective::Mi;
    let pipelines: Vec<Value> = complete.iter().map(|t| serde_json::to_value(&t.pipeline).expect("pipeline serialises")).collect();
    for field in CHOICES {
        let mut groups: Vec<(String, Vec<f64>)> = Vec::new();
        for (t, pipeline) in complete.iter().zip(&pipelines) {
            let Some(label) = field_label(pipeline, field) else { continue };
            // α only means something for MI trials.
            if field == "intermediate.alpha" && !is_mi(t) {
                continue;
            }
            match groups.iter_mut().find(|g| g.0 == label) {
                Some(g) => g.1.push(t.score.unwrap_or_default()),
                None => groups.push((label, vec![t.score.unwrap_or_default()])),
            }
        }
        if groups.len() >= 2 {
            groups.sort_by(|a, b| a.0.cmp(&b.0));
            charts.push(Chart::ByChoice { field: field.into(), groups });
        }
    }
    let alpha: Vec<(f64, f64)> = complete.iter().filter(|t| is_mi(t)).map(|t| (t.pipeline.intermediate.alpha, t.score.unwrap_or_default())).collect();
    if !alpha.is_empty() {
        charts.push(Chart::AlphaScore { points: alpha });
    }
    let bars: Vec<(f64, f64, TrialState)> = trials.iter().filter_map(|t| t.ended.map(|e| (t.id as f64, e.saturating_sub(t.started) as f64, t.state))).collect();
    if !bars.is_empty() {
        charts.push(Chart::WallTime { bars });
    }
    let measured: Vec<&TrialRecord> = complete.iter().copied().filter(|t| t.compression.is_some()).collect();
    if !measured.is_empty() {
        let at = |t: &TrialRecord| (t.compression.as_ref().map_or(0.0, |c| c.student.latency_ms_batch1), t.score.unwrap_or_default());
        let mut front: Vec<(f64, f64)> = crate::search::pareto::front(&measured, &SCORE_AND_LATENCY).into_iter().map(at).collect();
        front.sort_by(|a, b| a.0.total_cmp(&b.0));
        let teacher = measured.iter().find_map(|t| t.compression.as_ref().map(|c| c.teacher.latency_ms_batch1));
        charts.push(Chart::ScoreLatency { points: measured.iter().map(|t| at(t)).collect(), front, teacher });
    }
    charts
}

/// Registers a system sans-serif font for PNG text (SVG needs none). Returns false when none is
/// found; PNGs are then skipped and the report says so.
fn register_png_font() -> bool {
    static FONT: std::sync::OnceLock<bool> = std::sync::OnceLock::new();
    *FONT.get_or_init(|| {
        let candidates = [
            "/usr/share/fonts/truetype/dejavu/DejaVuSans.ttf",
            "/usr/share/fonts/TTF/DejaVuSans.ttf",
            "/usr/share/fonts/dejavu/DejaVuSans.ttf",
            "/Library/Fonts/Arial.ttf",
            "C:\\Windows\\Fonts\\arial.ttf",
        ];
        let env = std::env::var("DISTILLER_FONT").ok();
        for path in env.iter().map(String::as_str).chain(candidates) {
            if let Ok(bytes) = std::fs::read(path) {
                let bytes: &'static [u8] = Box::leak(bytes.into_boxed_slice());
                if plotters::style::register_font("sans-serif", FontStyle::Normal, bytes).is_ok() {
                    return true;
                }
            }
        }
        false
    })
}

/// Files a report wrote.
#[derive(Debug, Clone)]
pub struct ReportFiles {
    pub page: PathBuf,
    pub images: Vec<PathBuf>,
}

fn plot_error(path: &Path, e: impl std::fmt::Display) -> Error {
    Error::Plot { path: path.to_path_buf(), message: e.to_string() }
}

/// Writes the report of `study` into `out`.
pub fn write(study: &StudyRecord, trials: &[TrialRecord], out: &Path, format: PageFormat) -> Result<ReportFiles> {
    let complete = trials.iter().filter(|t| t.state == TrialState::Complete).count();
    let count = |s: TrialState| trials.iter().filter(|t| t.state == s).count();
    let mut text = String::new();
    let heading = format!("Study `{}` — task {}, sampler {}", study.name, study.task, study.sampler);
    let _ = writeln!(
        text,
        "{} trials: {} complete, {} failed, {} pruned, {} running, {} waiting.",
        trials.len(),
        complete,
        count(TrialState::Fail),
        count(TrialState::Pruned),
        count(TrialState::Running),
        count(TrialState::Waiting)
    );
    match crate::search::study::best_of(trials) {
        Some(best) => {
            let _ = writeln!(text, "\nBest: trial #{} — {}\n\n`{}`", best.id, best.metrics.as_ref().map(|m| m.to_string()).unwrap_or_default(), best.pipeline.summary());
        }
        None => {
            let _ = writeln!(text, "\nNo trial completed, so there is nothing to plot.");
            for t in trials.iter().filter(|t| t.error.is_some()).take(5) {
                let _ = writeln!(text, "\n- trial #{} failed: {}", t.id, t.error.as_deref().unwrap_or_default());
            }
        }
    }
    if study.objectives.len() > 1 {
        let names: Vec<&str> = study.objectives.iter().map(|o| o.name()).collect();
        let _ = writeln!(text, "\nPareto set ({}):\n", names.join(", "));
        for t in crate::search::study::pareto_set(trials, &study.objectives) {
            let size = t.compression.as_ref().map(|c| c.summary()).unwrap_or_default();
            let _ = writeln!(text, "- trial #{} — {} — {size} — `{}`", t.id, t.metrics.as_ref().map(|m| m.to_string()).unwrap_or_default(), t.pipeline.summary());
        }
    }
    let charts = if complete == 0 { Vec::new() } else { charts(trials) };
    let by_choice: Vec<String> = charts
        .iter()
        .filter_map(|chart| match chart {
            Chart::ByChoice { field, groups } => {
                let counts: Vec<String> =
                    groups.iter().map(|(label, scores)| format!("{label} {} (best {:.4})", scores.len(), scores.iter().copied().fold(f64::MIN, f64::max))).collect();
                Some(format!("- {field}: {}", counts.join(", ")))
            }
            _ => None,
        })
        .collect();
    if !by_choice.is_empty() {
        let _ = writeln!(text, "\nComplete trials per choice:\n\n{}", by_choice.join("\n"));
    }
    let png = register_png_font();
    if !png && !charts.is_empty() {
        let _ = writeln!(text, "\n(No TrueType font found for PNG text — set DISTILLER_FONT to a .ttf file; SVG plots only.)");
    }
    let (images, sections) = write_charts(out, &charts)?;
    let page = match format {
        PageFormat::Markdown => {
            let mut md = format!("# {heading}\n\n{text}\n");
            for (title, stem, _) in &sections {
                let image = if png { format!("{stem}.png") } else { format!("{stem}.svg") };
                let _ = writeln!(md, "## {title}\n\n![{title}]({image})\n");
            }
            let path = out.join("report.md");
            std::fs::write(&path, md).map_err(|e| Error::io(&path, e))?;
            path
        }
        PageFormat::Html => {
            let escape = |s: &str| s.replace('&', "&amp;").replace('<', "&lt;").replace('>', "&gt;");
            let mut html = format!(
                "<!DOCTYPE html>\n<html><head><meta charset=\"utf-8\"><title>{}</title></head><body style=\"font-family:sans-serif;max-width:860px;margin:auto\">\n<h1>{}</h1>\n<pre style=\"white-space:pre-wrap\">{}</pre>\n",
                escape(&heading),
                escape(&heading),
                escape(&text)
            );
            for (title, _, svg) in &sections {
                let _ = writeln!(html, "<h2>{}</h2>\n{}", escape(title), svg);
            }
            html.push_str("</body></html>\n");
            let path = out.join("report.html");
            std::fs::write(&path, html).map_err(|e| Error::io(&path, e))?;
            path
        }
    };
    Ok(ReportFiles { page, images })
}
