//! AutoDistiller-style recommendation: rank a new dataset's candidate pipelines from past
//! studies, without running them. [`history`] reads the past tasks from the store (their results
//! over the target space's fields, their `.meta`), [`meta_model`] is the meta-model and chooses
//! its own setting, [`popular`] is the most-popular baseline, [`rank()`] answers a [`Query`] with
//! them, [`candidates`] reads candidates files, and [`paper_trials`] the paper's released table.

pub mod candidates;
pub mod history;
pub mod meta_model;
pub mod paper_trials;
pub mod popular;
pub mod rank;

pub use candidates::Candidate;
pub use history::{History, PastTask, Students, history};
pub use meta_model::{Model, ModelChoice, Prediction, Setting, Target, TaskWeighting};
pub use rank::{LearntFrom, Pick, Query, Recommendation, rank};

use crate::search::space::Point;

/// Normalised ranks of a task's results: 1 for the best, 0 for the worst, ties averaged.
pub fn normalised_ranks(results: &[(Point, f64)]) -> Vec<f64> {
    let n = results.len();
    if n < 2 {
        return vec![0.5; n];
    }
    results
        .iter()
        .map(|(_, s)| {
            let better = results.iter().filter(|(_, o)| o > s).count() as f64;
            let ties = results.iter().filter(|(_, o)| o == s).count() as f64 - 1.0;
            1.0 - (better + ties / 2.0) / (n - 1) as f64
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::data::DatasetMeta;
    use crate::search::space::Space;
    use serde_json::json;

    #[test]
    fn normalised_ranks_run_from_worst_to_best() {
        let results: Vec<(Point, f64)> = [0.9, 0.7, 0.8, 0.8].iter().enumerate().map(|(i, s)| (vec![Some(json!(i))], *s)).collect();
        assert_eq!(normalised_ranks(&results), vec![1.0, 0.0, 0.5, 0.5]);
    }

    fn space() -> Space {
        Space::parse("[[dim]]\nfield = \"kd.temperature\"\nvalues = [1.0, 2.0, 3.0, 4.0, 5.0]\n[[dim]]\nfield = \"train.lr\"\nvalues = [1.0, 2.0, 3.0]\n", "t").unwrap()
    }

    fn meta(n_train: u64) -> DatasetMeta {
        let mut m = DatasetMeta::glue("sst2").unwrap();
        m.n_train = n_train;
        m
    }

    /// The point with temperature `a` + 1 (a in 0..5) and lr 1.
    fn point(a: f64) -> Point {
        vec![Some(json!(a + 1.0)), Some(json!(1.0))]
    }

    fn task(name: &str, n_train: u64, best: f64) -> PastTask {
        let results = (0..5).map(|a| (point(a as f64), -(a as f64 - best).abs())).collect();
        PastTask { study: name.into(), task: name.into(), meta: Some(meta(n_train)), teacher: Some("t".into()), shared: vec![true, true], results }
    }

    fn target(meta: &DatasetMeta) -> Target<'_> {
        Target { meta, teacher: Some("t") }
    }

    #[test]
    fn learns_which_configurations_win_across_tasks() {
        let tasks = [task("x", 1000, 4.0), task("y", 1000, 4.0), task("z", 1000, 4.0)];
        let model = Model::fit(&tasks, &space(), TaskWeighting::Auto.into()).unwrap();
        let ranked = model.rank(target(&meta(1000)), &[point(0.0), point(4.0), point(2.0)]);
        assert_eq!((&ranked[0].point, &ranked[2].point), (&point(4.0), &point(0.0)));
        assert!(ranked[0].mean > 0.5 && ranked[2].mean < 0.5);
        assert_eq!(model.setting().task, None, "identical tasks: nothing to gain from conditioning");
        let empty = PastTask { results: vec![], ..task("e", 1, 0.0) };
        assert!(Model::fit(&[empty], &space(), TaskWeighting::Auto.into()).err().unwrap().to_string().contains("nothing to learn from"));
    }

    #[test]
    fn conditions_on_the_meta_when_similar_tasks_agree() {
        // Small datasets prefer a = 0, large ones a = 4: only the .meta tells them apart.
        let tasks = [task("s1", 500, 0.0), task("s2", 600, 0.0), task("s3", 700, 0.0), task("l1", 300_000, 4.0), task("l2", 400_000, 4.0), task("l3", 500_000, 4.0)];
        let model = Model::fit(&tasks, &space(), TaskWeighting::Auto.into()).unwrap();
        assert!(model.setting().task.is_some(), "leave-one-task-out shows that similarity helps: {:?}", model.selection);
        assert_eq!(model.rank(target(&meta(550)), &[point(0.0), point(4.0)])[0].point, point(0.0));
        assert_eq!(model.rank(target(&meta(450_000)), &[point(0.0), point(4.0)])[0].point, point(4.0));
        assert!(model.task_shares(target(&meta(550)))[0].0.starts_with('s'));
        let equal = Model::fit(&tasks, &space(), TaskWeighting::Equal.into()).unwrap();
        assert_eq!(equal.setting().task, None);
        let (small, large) = (equal.rank(target(&meta(550)), &[point(0.0), point(4.0)]), equal.rank(target(&meta(450_000)), &[point(0.0), point(4.0)]));
        assert_eq!(small[0].point, large[0].point, "equal weights ignore the .meta");
    }

    #[test]
    fn keeps_to_the_teacher_when_teachers_disagree() {
        // Under teacher "t" every task prefers a = 0, under "u" a = 4.
        let under = |teacher: &str, name: &str, best: f64| PastTask { teacher: Some(teacher.into()), ..task(name, 1000, best) };
        let tasks = [under("t", "a", 0.0), under("t", "b", 0.0), under("t", "c", 0.0), under("u", "d", 4.0), under("u", "e", 4.0), under("u", "f", 4.0)];
        let model = Model::fit(&tasks, &space(), TaskWeighting::Equal.into()).unwrap();
        assert!(!model.setting().pooled, "{:?}", model.selection);
        let m = meta(1000);
        for (teacher, best) in [("t", 0.0), ("u", 4.0)] {
            assert_eq!(model.rank(Target { meta: &m, teacher: Some(teacher) }, &[point(0.0), point(4.0)])[0].point, point(best));
        }
        // One teacher: pooling has nothing to add, so the matched teacher's studies are kept.
        assert!(!Model::fit(&tasks[..3], &space(), TaskWeighting::Equal.into()).unwrap().setting().pooled);
    }

    #[test]
    fn unshared_fields_are_ignored() {
        // A study that varied only the first field says nothing about the second (lr 2 is where
        // an inactive value is encoded, so counting the unshared field would favour it).
        let mut partial = task("p", 1000, 4.0);
        partial.shared = vec![true, false];
        partial.results = (0..5).map(|a| (vec![Some(json!(a as f64 + 1.0)), None], a as f64)).collect();
        let model = Model::fit(&[partial], &space(), TaskWeighting::Auto.into()).unwrap();
        let by_lr = model.rank(target(&meta(1000)), &[vec![Some(json!(5.0)), Some(json!(1.0))], vec![Some(json!(5.0)), Some(json!(2.0))]]);
        assert!((by_lr[0].mean - by_lr[1].mean).abs() < 1e-12, "{by_lr:?}");
    }
}
