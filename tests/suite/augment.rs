//! Data augmentation: determinism, aug_p = 0, pairs and labels kept, contextual replacements are
//! real and new words, the MLM head is used when a checkpoint has one, the cache hits, bad input
//! is named, and a distillation with a chain and mixup runs end to end.

use crate::common;

use distiller::Pipeline;
use distiller::augment::{AugmentContext, MaskedLm, MlmHeadKind, SentenceOp, augment, make_copies};
use distiller::data::{Example, GlueTask, Label};
use distiller::distill::distill;
use distiller::model::checkpoint::WEIGHTS_FILE;
use distiller::pipeline::{AugmentOp, AugmentSection};
use distiller::workspace::Workspace;
use std::collections::HashSet;
use std::path::Path;

fn rows(pairs: bool) -> Vec<Example> {
    let a = ["the movie is very good", "a great film", "the plot is boring", "not good fun", "very bad movie", "the film is a great fun film"];
    a.iter().enumerate().map(|(i, t)| Example { text_a: t.to_string(), text_b: pairs.then(|| a[(i + 1) % a.len()].to_string()), label: Label::Score(i as f32) }).collect()
}

/// A fixture teacher and workspace, and the augmentation context over them.
struct Setup {
    f: common::Fixture,
    workspace: Workspace,
    dev: burn::tensor::Device,
}

impl Setup {
    fn new() -> Self {
        let f = common::fixture();
        Self { workspace: Workspace::new(&f.workspace), f, dev: distiller::backend::device(None).unwrap() }
    }

    fn ctx(&self) -> AugmentContext<'_> {
        AugmentContext { workspace: &self.workspace, masked_lm_dir: &self.f.teacher, max_len: 16, device: &self.dev }
    }
}

fn section(chain: &[AugmentOp], aug_p: f64, repeated_aug: usize, paraphrases: Option<&Path>) -> AugmentSection {
    AugmentSection { chain: chain.to_vec(), aug_p, repeated_aug, mixup: false, paraphrases: paraphrases.map(Path::to_path_buf) }
}

/// Every sentence of `rows` mapped to "P: <sentence>" (twice, with different tails, for one).
fn paraphrase_file(dir: &Path, rows: &[Example]) -> std::path::PathBuf {
    let mut text = String::from("original\tparaphrase\n");
    let sentences: HashSet<&str> = rows.iter().flat_map(|r| std::iter::once(r.text_a.as_str()).chain(r.text_b.as_deref())).collect();
    for s in sentences {
        text.push_str(&format!("{s}\tP: {s}\n"));
    }
    common::write(dir, "para.tsv", text.as_bytes())
}

#[test]
fn operators_are_deterministic_keep_pairs_and_labels_and_do_nothing_at_p_zero() {
    let setup = Setup::new();
    let (f, ctx) = (&setup.f, setup.ctx());
    let rows = rows(true);
    let para = paraphrase_file(&f.workspace, &rows);
    let all = [AugmentOp::BackTranslation, AugmentOp::Random, AugmentOp::Contextual];
    let s = section(&all, 0.3, 3, Some(&para));
    let (first, kind) = make_copies(&rows, &s, 11, &ctx).unwrap();
    assert_eq!(kind, Some(MlmHeadKind::TiedEmbeddings));
    assert_eq!(first, make_copies(&rows, &s, 11, &ctx).unwrap().0, "same seed, same set");
    assert_ne!(first, make_copies(&rows, &s, 12, &ctx).unwrap().0, "another seed, another set");
    let source_of = |copy: &Example| -> Example {
        // labels are unique per row here, so the label names the source row
        let Label::Score(i) = copy.label else { panic!("label kept") };
        rows[i as usize].clone()
    };
    for copy in &first {
        assert!(copy.text_b.is_some(), "pairs stay pairs");
        source_of(copy);
    }
    // each operator alone: every copy is its source row, changed side by side as that operator does
    let side_by_side = |op: AugmentOp, same: &dyn Fn(&str, &str) -> bool| {
        let (copies, _) = make_copies(&rows, &section(&[op], 0.5, 2, Some(&para)), 3, &ctx).unwrap();
        assert!(!copies.is_empty(), "{op:?}");
        for copy in &copies {
            let source = source_of(copy);
            assert!(same(&copy.text_a, &source.text_a), "{op:?}: {} from {}", copy.text_a, source.text_a);
            assert!(same(copy.text_b.as_deref().unwrap(), source.text_b.as_deref().unwrap()), "{op:?}: {copy:?} from {source:?}");
        }
        copies.len()
    };
    assert_eq!(side_by_side(AugmentOp::BackTranslation, &|c, s| c == format!("P: {s}")), 2 * rows.len(), "every copy paraphrased");
    side_by_side(AugmentOp::Random, &|c, s| {
        let words: HashSet<&str> = s.split_whitespace().collect();
        c.split_whitespace().all(|w| words.contains(w))
    });
    side_by_side(AugmentOp::Contextual, &|c, s| c.split_whitespace().count() == s.split_whitespace().count());
    // aug_p = 0: the word-level operators change nothing, so no rows are added
    let zero = section(&[AugmentOp::Random, AugmentOp::Contextual], 0.0, 4, None);
    let out = augment(rows.clone(), &zero, 11, &ctx, &mut |_| {}).unwrap();
    assert_eq!(out.rows, rows);
    assert_eq!(out.originals, rows.len());
}

#[test]
fn contextual_replacements_are_new_vocabulary_words_and_the_checkpoint_head_is_used() {
    let f = common::fixture();
    let dev = distiller::backend::device(None).unwrap();
    let vocab: HashSet<String> = std::fs::read_to_string(f.teacher.join("vocab.txt")).unwrap().lines().map(str::to_string).collect();
    let check = |lm: &MaskedLm| {
        let sentences = ["the movie is very good", "a great film .", "not boring"];
        let out = lm.apply(&sentences, &[1, 2, 3]).unwrap();
        assert_eq!(out.len(), sentences.len(), "one output per sentence");
        for (s, o) in sentences.iter().zip(&out) {
            let (before, after): (Vec<&str>, Vec<&str>) = (s.split_whitespace().collect(), o.split_whitespace().collect());
            assert_eq!(before.len(), after.len());
            for (b, a) in before.iter().zip(&after) {
                if b.chars().all(char::is_alphabetic) {
                    // aug_p = 1 masks every word; the sample is never the original word
                    assert_ne!(b, a, "{s} -> {o}");
                    assert!(vocab.contains(*a) && !a.starts_with("##") && !a.starts_with('['), "{a} is a vocabulary word");
                } else {
                    assert_eq!(b, a, "punctuation is not masked");
                }
            }
        }
    };
    let tied = MaskedLm::load(&f.teacher, 16, 1.0, &dev).unwrap();
    assert_eq!(tied.head_kind(), MlmHeadKind::TiedEmbeddings);
    check(&tied);

    // the same checkpoint with an MLM head added
    let with_head = f.workspace.join("with-head");
    std::fs::create_dir_all(&with_head).unwrap();
    for entry in std::fs::read_dir(&f.teacher).unwrap() {
        let entry = entry.unwrap();
        std::fs::copy(entry.path(), with_head.join(entry.file_name())).unwrap();
    }
    let model = distiller::model::load(&f.teacher, &dev).unwrap();
    let (d, v) = (model.config.hidden_size, model.config.vocab_size);
    let mut tensors = model.model.export();
    let ramp = |n: usize, scale: f32| (0..n).map(|i| ((i * 7919) % 97) as f32 / 97.0 * scale - scale / 2.0).collect::<Vec<f32>>();
    tensors.push(("cls.predictions.transform.dense.weight".into(), vec![d, d], ramp(d * d, 0.2)));
    tensors.push(("cls.predictions.transform.dense.bias".into(), vec![d], vec![0.0; d]));
    tensors.push(("cls.predictions.transform.LayerNorm.weight".into(), vec![d], vec![1.0; d]));
    tensors.push(("cls.predictions.transform.LayerNorm.bias".into(), vec![d], vec![0.0; d]));
    tensors.push(("cls.predictions.bias".into(), vec![v], ramp(v, 1.0)));
    distiller::model::weights::write_safetensors(&with_head.join(WEIGHTS_FILE), &tensors).unwrap();
    let headed = MaskedLm::load(&with_head, 16, 1.0, &dev).unwrap();
    assert_eq!(headed.head_kind(), MlmHeadKind::CheckpointHead);
    check(&headed);
}

#[test]
fn the_second_run_hits_the_cache_and_bad_input_is_named() {
    let setup = Setup::new();
    let (f, ctx) = (&setup.f, setup.ctx());
    let rows = rows(false);
    let s = section(&[AugmentOp::Random, AugmentOp::Contextual], 0.5, 2, None);
    let mut log = Vec::new();
    let first = augment(rows.clone(), &s, 5, &ctx, &mut |l| log.push(l.to_string())).unwrap();
    assert!(!first.cache_hit && first.rows.len() > rows.len());
    assert!(log.iter().any(|l| l.contains("tied word embeddings")), "{log:?}");
    let second = augment(rows.clone(), &s, 5, &ctx, &mut |l| log.push(l.to_string())).unwrap();
    assert!(second.cache_hit, "{log:?}");
    assert_eq!(second.rows, first.rows);
    assert!(!augment(rows.clone(), &s, 6, &ctx, &mut |_| {}).unwrap().cache_hit, "another seed is another entry");

    // paraphrase files: wrong columns, missing, not covering the data
    let bt = |path: &Path| augment(rows.clone(), &section(&[AugmentOp::BackTranslation], 0.1, 1, Some(path)), 5, &ctx, &mut |_| {}).unwrap_err().to_string();
    let bad = common::write(&f.workspace, "bad.tsv", b"a great film\tA fine film\nonly one column\n");
    let e = bt(&bad);
    assert!(e.contains("bad.tsv:2") && e.contains("2 tab-separated columns"), "{e}");
    let e = bt(&f.workspace.join("absent.tsv"));
    assert!(e.contains("absent.tsv") && e.contains("not found"), "{e}");
    let partial = common::write(&f.workspace, "partial.tsv", b"a great film\tA fine film\n");
    let e = bt(&partial);
    assert!(e.contains("no paraphrase for 5 of 6"), "{e}");

    // pipeline fields
    let parse = |text: &str| {
        let p = common::write(&f.workspace, "p.toml", text.as_bytes());
        Pipeline::from_file(&p).unwrap_err().to_string()
    };
    let e = parse("[augment]\nchain = [\"random\", \"telepathy\"]\n");
    assert!(e.contains("p.toml:2") && e.contains("telepathy"), "{e}");
    assert!(parse("[augment]\naug_p = -0.1\n").contains("field `augment.aug_p`"));
    assert!(parse("[augment]\nrepeated_aug = 0\n").contains("field `augment.repeated_aug`"));
    assert!(parse("[augment]\nchain = [\"random\", \"random\"]\n").contains("appears twice"));
    assert!(parse("[augment]\nchain = [\"back_translation\"]\n").contains("field `augment.paraphrases`"));
}

#[test]
fn a_distillation_with_a_chain_and_mixup_runs_and_reuses_both_caches() {
    let f = common::fixture();
    let dev = distiller::backend::device(None).unwrap();
    let text = "[train]\nepochs = 1\nbatch_size = 8\nmax_len = 16\nlr = 1e-3\n[kd]\nhard_weight = 0.5\n[augment]\nchain = [\"random\", \"contextual\"]\naug_p = 0.3\nrepeated_aug = 2\nmixup = true\n";
    let pipeline: Pipeline = toml::from_str(text).unwrap();
    pipeline.validate().unwrap();
    let job = f.job(GlueTask::Sst2, &f.teacher, pipeline);
    let mut log = Vec::new();
    let first = distill(&job, &dev, &mut |l| log.push(l.to_string())).unwrap();
    assert!(first.augmented_rows > 0 && first.train_rows == 24 + first.augmented_rows, "{} {}", first.train_rows, first.augmented_rows);
    assert_eq!(first.masked_lm, Some(MlmHeadKind::TiedEmbeddings));
    assert!(first.epochs[0].mean_loss.is_finite());
    let second = distill(&job, &dev, &mut |l| log.push(l.to_string())).unwrap();
    assert!(second.cache_hit, "teacher cache covers the augmented rows: {log:?}");
    assert!(log.iter().any(|l| l.contains("augmentation cache hit")), "{log:?}");
    assert_eq!(first.dev, second.dev, "same seed, same result");
}

#[test]
fn the_augmentation_cache_misses_when_the_paraphrase_file_changes() {
    let setup = Setup::new();
    let (f, ctx) = (&setup.f, setup.ctx());
    let rows = rows(true);
    let para = paraphrase_file(&f.workspace, &rows);
    let s = section(&[AugmentOp::BackTranslation], 0.3, 1, Some(&para));
    let first = augment(rows.clone(), &s, 5, &ctx, &mut |_| {}).unwrap();
    assert!(!first.cache_hit);
    assert!(augment(rows.clone(), &s, 5, &ctx, &mut |_| {}).unwrap().cache_hit, "same file: a hit");
    // Same path, new paraphrases: a miss, and the new paraphrases are used.
    let text = std::fs::read_to_string(&para).unwrap().replace("\tP: ", "\tQ: ");
    std::fs::write(&para, text).unwrap();
    let second = augment(rows.clone(), &s, 5, &ctx, &mut |_| {}).unwrap();
    assert!(!second.cache_hit, "a changed paraphrase file must not reuse the cached set");
    assert!(second.rows[second.originals..].iter().all(|r| r.text_a.starts_with("Q: ")), "{:?}", &second.rows[second.originals..]);
}
