//! Study reports: every file written and well-formed; failed-only studies explained; bad output
//! directories reported.

use distiller::pipeline::{Objective, Pipeline};
use distiller::report::{PageFormat, write};
use distiller::store::{StudyRecord, TrialRecord, TrialState};

fn study() -> StudyRecord {
    StudyRecord {
        name: "s".into(),
        kind: Default::default(),
        task: "sst2".into(),
        space: String::new(),
        sampler: "bo".into(),
        objectives: vec![distiller::store::StudyObjective::Score],
        created: 0,
        meta: None,
        teacher: None,
        student: None,
    }
}

fn trial(id: u64, objective: Objective, alpha: f64, score: Option<f64>) -> TrialRecord {
    let mut pipeline = Pipeline::default();
    pipeline.intermediate.objective = objective;
    pipeline.intermediate.alpha = alpha;
    TrialRecord {
        id,
        study: "s".into(),
        point: vec![],
        pipeline,
        state: if score.is_some() { TrialState::Complete } else { TrialState::Fail },
        rung: 0,
        fidelity: None,
        intermediate: vec![],
        metrics: None,
        score,
        student_dir: None,
        host: None,
        error: score.is_none().then(|| "loss is NaN".to_string()),
        retry_of: None,
        compression: None,
        external: false,
        pid: 1,
        started: 100 + id * 10,
        ended: Some(105 + id * 12),
    }
}

#[test]
fn report_writes_every_plot_as_png_and_svg() {
    let trials = vec![
        trial(0, Objective::Mi, 0.9, Some(0.85)),
        trial(1, Objective::Mi, 0.5, Some(0.86)),
        trial(2, Objective::HiddenMse, 0.9, Some(0.84)),
        trial(3, Objective::None, 0.9, None),
        trial(4, Objective::Cos, 0.9, Some(0.87)),
    ];
    let dir = tempfile::tempdir().unwrap();
    let files = write(&study(), &trials, dir.path(), PageFormat::Markdown).unwrap();
    let md = std::fs::read_to_string(&files.page).unwrap();
    assert!(md.contains("5 trials: 4 complete, 1 failed"), "{md}");
    assert!(md.contains("Best: trial #4"), "the page names the best trial: {md}");
    assert!(md.contains("- intermediate.objective: cos 1 (best 0.8700), hidden_mse 1 (best 0.8400), mi 2 (best 0.8600)"), "per-choice counts: {md}");
    assert!(md.contains("- intermediate.alpha: 0.5 1 (best 0.8600), 0.9 1 (best 0.8500)"), "α counts MI trials only: {md}");
    for stem in ["history", "by_intermediate_objective", "by_intermediate_alpha", "alpha_vs_score", "wall_time"] {
        let svg = std::fs::read_to_string(dir.path().join(format!("{stem}.svg"))).unwrap_or_else(|e| panic!("{stem}.svg: {e}"));
        assert!(svg.starts_with("<svg") || svg.starts_with("<?xml"), "{stem}.svg is not SVG");
        let png_path = dir.path().join(format!("{stem}.png"));
        if png_path.exists() {
            let png = std::fs::read(&png_path).unwrap();
            assert!(png.len() > 1000 && png.starts_with(b"\x89PNG\r\n\x1a\n"), "{stem}.png is not a PNG");
            assert!(md.contains(&format!("({stem}.png)")), "report.md links {stem}.png");
        } else {
            assert!(md.contains("No TrueType font"), "PNG skipped without saying why");
        }
    }
    let html = write(&study(), &trials, dir.path(), PageFormat::Html).unwrap();
    let page = std::fs::read_to_string(html.page).unwrap();
    assert!(page.contains("<svg") && page.matches("<h2>").count() >= 5, "html inlines every plot");
}

#[test]
fn failed_only_study_says_so() {
    let trials = vec![trial(0, Objective::Mi, 0.9, None), trial(1, Objective::Cos, 0.9, None)];
    let dir = tempfile::tempdir().unwrap();
    let files = write(&study(), &trials, dir.path(), PageFormat::Markdown).unwrap();
    let md = std::fs::read_to_string(&files.page).unwrap();
    assert!(md.contains("No trial completed") && md.contains("loss is NaN"), "{md}");
    assert!(files.images.is_empty());
}

#[test]
fn unwritable_output_is_an_error_naming_the_path() {
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("a-file");
    std::fs::write(&file, "x").unwrap();
    let err = write(&study(), &[trial(0, Objective::Mi, 0.9, Some(0.8))], &file.join("out"), PageFormat::Markdown).unwrap_err().to_string();
    assert!(err.contains("a-file"), "{err}");
}
