//! Every parser of user input, fed random and mutated text: it returns `Ok` or `Err`, never
//! panics. Seeds are real files (the shipped spaces, a pipeline, a `.meta`, a task spec, GLUE rows
//! of four layouts, custom-task rows in TSV, CSV and JSONL, the paper's table, `--candidates`
//! files in CSV and JSONL, a model config) with random edits, plus arbitrary text and bytes;
//! 3,000 cases per test.

use crate::common;

use distiller::data::{CustomTask, GlueTask, load_split};
use proptest::prelude::*;
use std::path::Path;

/// Edits applied to a seed: (position, kind, character); kind 0 deletes, 1 inserts, 2 replaces,
/// 3 duplicates the line at that position.
fn edits() -> impl Strategy<Value = Vec<(usize, u8, char)>> {
    prop::collection::vec(
        (any::<usize>(), 0u8..4, prop_oneof![any::<char>(), prop::sample::select(vec!['"', '=', '[', ']', '\n', '\t', ',', '.', '-', '0', '9', 'e', '{', '}', '#'])]),
        0..8,
    )
}

fn mutate(seed: &str, edits: &[(usize, u8, char)]) -> String {
    let mut chars: Vec<char> = seed.chars().collect();
    for &(at, kind, c) in edits {
        let at = if chars.is_empty() { 0 } else { at % chars.len() };
        match kind {
            0 if !chars.is_empty() => {
                chars.remove(at);
            }
            1 => chars.insert(at, c),
            2 if !chars.is_empty() => chars[at] = c,
            _ => {
                let text: String = chars.iter().collect();
                let line = text[..text.char_indices().nth(at).map_or(text.len(), |(i, _)| i)].matches('\n').count();
                let mut lines: Vec<&str> = text.lines().collect();
                if let Some(&l) = lines.get(line) {
                    lines.insert(line, l);
                }
                chars = lines.join("\n").chars().collect();
            }
        }
    }
    chars.into_iter().collect()
}

/// Writes `bytes` to `name` in `dir` and returns the path.
fn file(dir: &Path, name: &str, bytes: &[u8]) -> std::path::PathBuf {
    let path = dir.join(name);
    std::fs::write(&path, bytes).unwrap();
    path
}

fn seed(path: &str) -> String {
    std::fs::read_to_string(Path::new(env!("CARGO_MANIFEST_DIR")).join(path)).unwrap()
}

const META: &str = "task_type = \"classification\"\npair = false\nn_train = 100\nn_labels = 2\nlabel_entropy = 0.6\nmean_tokens = 9.0\np90_tokens = 19.0\nvocab_size = 500\ntype_token_ratio = 0.2\nteacher_score = 0.9\n[extra]\nshift = 0.3\n";
const SPEC: &str = "name = \"t\"\ntrain = \"train.tsv\"\ndev = \"train.tsv\"\nformat = \"tsv\"\ntext = \"sentence\"\ntext_pair = \"other\"\nlabel = \"label\"\nlabels = [\"0\", \"1\"]\nmax_len = 64\n";
const PAPER: &str = "Model,Teacher,intermediate_loss_type,alpha,intermediate_strategy,kd_loss_type,mixup,repeated_aug,aug_p,#example,score,task,ratio,baseline_score,contextual,backtranslation,random\nTinyBERT4,BERT_BASE,mi,0.9,skip,ce,TRUE,1,0.3,2490,0.70,rte,0.98,66.8,1,0,2\nTinyBERT4,BERT_BASE,cos,0,last,mse,FALSE,4,0.1,2490,0.66,rte,,66.8,0,0,0\n";
const CANDIDATES: &str = "{\"kd\": {\"loss\": \"mse\"}, \"intermediate\": {\"objective\": \"mi\", \"alpha\": 0.9}, \"augment\": {\"chain\": [\"random\"], \"aug_p\": 0.3}}\n{\"kd.loss\": \"ce\", \"intermediate.objective\": \"cos\"}\n";
const CSV_ROWS: &str = "text,pair,label\n\"a, quoted\",b,1\nplain,\"x \"\"y\"\"\",0\n";
const JSONL_ROWS: &str = "{\"text\": \"a\", \"pair\": \"b\", \"label\": \"1\"}\n{\"text\": \"c\", \"pair\": \"d\", \"label\": 0}\n";
const ROWS: [(GlueTask, &str, &str); 4] = [
    (GlueTask::Sst2, "SST-2", "sentence\tlabel\na great film \t1\nboring \t0\n"),
    (GlueTask::Cola, "CoLA", "gj04\t1\t\tThe book was read.\ngj04\t0\t*\tBook the read was.\n"),
    (GlueTask::Mrpc, "MRPC", "\u{feff}Quality\t#1 ID\t#2 ID\t#1 String\t#2 String\n1\t1\t2\tA cat sat.\tThe cat sat.\n"),
    (GlueTask::Stsb, "STS-B", "index\tgenre\tfilename\tyear\told_index\tsource1\tsource2\tsentence1\tsentence2\tscore\n0\tmain\tf\t2012\t0\tnone\tnone\tA cat.\tThe cat.\t4.5\n"),
];

proptest! {
    #![proptest_config(ProptestConfig { cases: 3000, failure_persistence: None, ..ProptestConfig::default() })]

    #[test]
    fn space_files_never_panic(which in 0usize..3, edits in edits(), noise in ".{0,200}") {
        let text = mutate(&seed(["search-spaces/default.toml", "search-spaces/paper.toml", "search-spaces/tiny.toml"][which]), &edits);
        for input in [text.as_str(), noise.as_str()] {
            if let Ok(space) = distiller::search::Space::parse(input, "s.toml") {
                // A space that parses can be sampled and composed without panicking.
                use rand::SeedableRng;
                let mut rng = rand::rngs::StdRng::seed_from_u64(1);
                if let Ok(point) = distiller::search::samplers::random_valid_point(&space, &mut rng) {
                    let _ = space.compose(&point);
                }
                let _ = space.grid_size();
            }
        }
    }

    #[test]
    fn pipeline_meta_spec_and_config_files_never_panic(edits in edits(), bytes in prop::collection::vec(any::<u8>(), 0..200)) {
        let dir = tempfile::tempdir().unwrap();
        let pipeline = mutate(&seed("examples/pipelines/sst2-mi.toml"), &edits);
        let _ = distiller::Pipeline::from_file(&file(dir.path(), "p.toml", pipeline.as_bytes()));
        let _ = distiller::Pipeline::from_file(&file(dir.path(), "p.json", &bytes));
        let _ = distiller::data::DatasetMeta::from_file(&file(dir.path(), "d.meta", mutate(META, &edits).as_bytes()));
        let _ = distiller::data::DatasetMeta::from_file(&file(dir.path(), "e.meta", &bytes));
        file(dir.path(), "train.tsv", b"sentence\tother\tlabel\na\tb\t1\n");
        if let Ok(spec) = CustomTask::from_file(&file(dir.path(), "t.toml", mutate(SPEC, &edits).as_bytes())) {
            let _ = load_split(&distiller::data::Task::Custom(spec), distiller::data::Split::Train, None);
        }
        let config = "{\"vocab_size\": 20, \"hidden_size\": 16, \"num_hidden_layers\": 1, \"num_attention_heads\": 2, \"intermediate_size\": 32, \"max_position_embeddings\": 64, \"type_vocab_size\": 2, \"layer_norm_eps\": 1e-12, \"hidden_dropout_prob\": 0.1, \"attention_probs_dropout_prob\": 0.1, \"num_labels\": 2}";
        let _ = distiller::model::BertConfig::from_file(&file(dir.path(), "config.json", mutate(config, &edits).as_bytes()));
    }

    #[test]
    fn data_rows_and_the_paper_table_never_panic(which in 0usize..4, edits in edits(), bytes in prop::collection::vec(any::<u8>(), 0..300)) {
        let dir = tempfile::tempdir().unwrap();
        let (task, folder, rows) = ROWS[which];
        for content in [mutate(rows, &edits).into_bytes(), bytes.clone()] {
            let path = common::write(dir.path(), &format!("{folder}/train.tsv"), &content);
            let _ = distiller::data::load_glue_file(task, &path);
        }
        let _ = distiller::recommend::paper_trials::load(&file(dir.path(), "t.csv", mutate(PAPER, &edits).as_bytes()));
        let _ = distiller::recommend::paper_trials::load(&file(dir.path(), "u.csv", &bytes));
        // `recommend --candidates` files in both formats, against the paper's space.
        let space = distiller::search::Space::builtin_paper();
        for (name, seed) in [("c.csv", PAPER), ("c.jsonl", CANDIDATES)] {
            let _ = distiller::recommend::candidates::load(&file(dir.path(), name, mutate(seed, &edits).as_bytes()), &space);
            let _ = distiller::recommend::candidates::load(&file(dir.path(), name, &bytes), &space);
        }
        // A custom task's rows in each file format.
        for (format, rows) in [("csv", CSV_ROWS), ("jsonl", JSONL_ROWS), ("tsv", "text\tpair\tlabel\na\tb\t1\n")] {
            let data = file(dir.path(), &format!("rows.{format}"), mutate(rows, &edits).as_bytes());
            let spec = format!("name = \"c\"\ntrain = \"{0}\"\ndev = \"{0}\"\ntext = \"text\"\ntext_pair = \"pair\"\nlabel = \"label\"\nlabels = [\"0\", \"1\"]\n", data.display());
            if let Ok(task) = CustomTask::from_file(&file(dir.path(), "c.toml", spec.as_bytes())) {
                let _ = load_split(&distiller::data::Task::Custom(task), distiller::data::Split::Train, None);
            }
        }
    }
}

/// The seeds the property tests mutate are valid inputs: each parser reads its own seed, so a
/// parser that refused everything would fail here rather than pass the tests above.
#[test]
fn every_parser_reads_its_unmutated_seed() {
    let dir = tempfile::tempdir().unwrap();
    for name in ["default", "paper", "tiny"] {
        distiller::search::Space::parse(&seed(&format!("search-spaces/{name}.toml")), name).unwrap();
    }
    distiller::Pipeline::from_file(&file(dir.path(), "p.toml", seed("examples/pipelines/sst2-mi.toml").as_bytes())).unwrap();
    distiller::data::DatasetMeta::from_file(&file(dir.path(), "d.meta", META.as_bytes())).unwrap();
    file(dir.path(), "train.tsv", b"sentence\tother\tlabel\na\tb\t1\n");
    let spec = CustomTask::from_file(&file(dir.path(), "t.toml", SPEC.as_bytes())).unwrap();
    assert_eq!(load_split(&distiller::data::Task::Custom(spec), distiller::data::Split::Train, None).unwrap().len(), 1);
    let config = "{\"vocab_size\": 20, \"hidden_size\": 16, \"num_hidden_layers\": 1, \"num_attention_heads\": 2, \"intermediate_size\": 32, \"num_labels\": 2}";
    distiller::model::BertConfig::from_file(&file(dir.path(), "config.json", config.as_bytes())).unwrap();
    for (task, folder, rows) in ROWS {
        let path = common::write(dir.path(), &format!("{folder}/train.tsv"), rows.as_bytes());
        assert!(!distiller::data::load_glue_file(task, &path).unwrap().is_empty(), "{folder}");
    }
    assert_eq!(distiller::recommend::paper_trials::load(&file(dir.path(), "t.csv", PAPER.as_bytes())).unwrap().0.len(), 2);
    let space = distiller::search::Space::builtin_paper();
    for (name, seed) in [("c.csv", PAPER), ("c.jsonl", CANDIDATES)] {
        assert_eq!(distiller::recommend::candidates::load(&file(dir.path(), name, seed.as_bytes()), &space).unwrap().len(), 2, "{name}");
    }
    for (format, rows) in [("csv", CSV_ROWS), ("jsonl", JSONL_ROWS), ("tsv", "text\tpair\tlabel\na\tb\t1\n")] {
        let data = file(dir.path(), &format!("rows.{format}"), rows.as_bytes());
        let spec = format!("name = \"c\"\ntrain = \"{0}\"\ndev = \"{0}\"\ntext = \"text\"\ntext_pair = \"pair\"\nlabel = \"label\"\nlabels = [\"0\", \"1\"]\n", data.display());
        let task = CustomTask::from_file(&file(dir.path(), "c.toml", spec.as_bytes())).unwrap();
        assert!(!load_split(&distiller::data::Task::Custom(task), distiller::data::Split::Train, None).unwrap().is_empty(), "{format}");
    }
}
