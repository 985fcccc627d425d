//! GLUE quirks, custom tasks and bad input, on fixtures written here and on ../shared/data.

use crate::common;

use distiller::Error;
use distiller::data::{GlueTask, Label, Split, Task, load_glue_file, load_split, locate};

#[test]
fn glue_quirks_on_fixtures() {
    let tmp = tempfile::tempdir().unwrap();
    let d = tmp.path();
    // SST-2: header, sentence ends with a space before the tab; a sentence starting with a bare quote.
    let p = common::write(d, "SST-2/dev.tsv", b"sentence\tlabel\nhide new secretions \t0\n\" quoted start \t1\n");
    let rows = load_glue_file(GlueTask::Sst2, &p).unwrap();
    assert_eq!(rows.len(), 2);
    assert_eq!(rows[0].text_a, "hide new secretions");
    assert_eq!(rows[1].text_a, "\" quoted start");
    assert_eq!(rows[1].label, Label::Class(1));
    // CoLA: no header, 4 columns, no final newline.
    let p = common::write(d, "CoLA/dev.tsv", b"gj04\t1\t\tThe sailors rode the breeze clear of the rocks.\ngj04\t0\t*\tThe more we study verbs.");
    let rows = load_glue_file(GlueTask::Cola, &p).unwrap();
    assert_eq!(rows.len(), 2);
    assert_eq!(rows[1].label, Label::Class(0));
    assert_eq!(rows[1].text_a, "The more we study verbs.");
    // MRPC: header with a BOM, a sentence pair.
    let p = common::write(d, "MRPC/dev.tsv", "\u{feff}Quality\t#1 ID\t#2 ID\t#1 String\t#2 String\n1\t1\t2\tHe said.\tHe told.\n".as_bytes());
    let rows = load_glue_file(GlueTask::Mrpc, &p).unwrap();
    assert_eq!(rows[0].text_b.as_deref(), Some("He told."));
    // STS-B: score in the last of 10 columns.
    let p = common::write(
        d,
        "STS-B/dev.tsv",
        b"index\tgenre\tfilename\tyear\told_index\tsource1\tsource2\tsentence1\tsentence2\tscore\n0\tmain\tf\t2012\t1\tnone\tnone\tA man.\tA person.\t3.800\n",
    );
    let rows = load_glue_file(GlueTask::Stsb, &p).unwrap();
    assert_eq!(rows[0].label, Label::Score(3.8));
    // discovery through an explicit data dir
    assert_eq!(locate(GlueTask::Sst2, Split::Dev, Some(d)).unwrap(), d.join("SST-2/dev.tsv"));
}

#[test]
fn malformed_rows_name_file_and_line() {
    let tmp = tempfile::tempdir().unwrap();
    let p = common::write(tmp.path(), "SST-2/dev.tsv", b"sentence\tlabel\ngood\t1\nno label column here\n");
    let e = load_glue_file(GlueTask::Sst2, &p).unwrap_err();
    assert!(matches!(e, Error::Malformed { line: 3, .. }), "{e}");
    assert!(e.to_string().contains("dev.tsv:3"), "{e}");
    let p = common::write(tmp.path(), "SST-2/train.tsv", b"sentence\tlabel\ngood\tpositive\n");
    let e = load_glue_file(GlueTask::Sst2, &p).unwrap_err();
    assert!(e.to_string().contains("train.tsv:2: bad label `positive`"), "{e}");
    let p = common::write(tmp.path(), "STS-B/dev.tsv", b"h\th\th\th\th\th\th\th\th\th\n0\tm\tf\t2012\t1\tn\tn\ta\tb\tlots\n");
    assert!(load_glue_file(GlueTask::Stsb, &p).unwrap_err().to_string().contains("bad score `lots`"));
}

#[test]
fn non_utf8_file_names_the_line() {
    let tmp = tempfile::tempdir().unwrap();
    let p = common::write(tmp.path(), "SST-2/dev.tsv", b"sentence\tlabel\nfine\t1\nbad \xff byte\t0\n");
    let e = load_glue_file(GlueTask::Sst2, &p).unwrap_err();
    assert!(e.to_string().contains("dev.tsv:3: not valid UTF-8"), "{e}");
}

#[test]
fn unknown_task_and_missing_data_are_clear() {
    let e = Task::resolve("sst3").unwrap_err();
    assert!(e.to_string().contains("unknown task `sst3`") && e.to_string().contains("sst2"), "{e}");
    assert_eq!(GlueTask::parse("SST-2").unwrap(), GlueTask::Sst2);
    let tmp = tempfile::tempdir().unwrap();
    let e = load_split(&Task::Glue(GlueTask::Rte), Split::Train, Some(tmp.path())).unwrap_err();
    let msg = e.to_string();
    assert!(matches!(e, Error::DataNotFound { .. }));
    assert!(msg.contains(&tmp.path().display().to_string()) && msg.contains("data/glue"), "{msg}");
}

#[test]
fn custom_tasks_from_csv_and_jsonl() {
    let tmp = tempfile::tempdir().unwrap();
    let d = tmp.path();
    common::write(d, "train.csv", b"review,title,stars\n\"Great, really\",Wow,5\nMeh,Hm,2\n");
    common::write(d, "dev.jsonl", b"{\"review\": \"ok\", \"title\": \"fine\", \"stars\": 3}\n\n{\"review\": \"bad\", \"title\": \"no\", \"stars\": \"1\"}\n");
    let spec = common::write(d, "task.toml", b"name = \"reviews\"\ntrain = \"train.csv\"\ndev = \"dev.jsonl\"\ntext = \"review\"\ntext_pair = \"title\"\nlabel = \"stars\"\nlabels = [\"1\", \"2\", \"3\", \"4\", \"5\"]\n");
    let task = Task::resolve(spec.to_str().unwrap()).unwrap();
    let train = load_split(&task, Split::Train, None).unwrap();
    assert_eq!(train[0].text_a, "Great, really");
    assert_eq!(train[0].label, Label::Class(4));
    let dev = load_split(&task, Split::Dev, None).unwrap();
    assert_eq!(dev.len(), 2);
    assert_eq!(dev[1].text_b.as_deref(), Some("no"));
    // a bad spec field is named
    let bad = common::write(d, "bad.toml", b"name = \"x\"\ntrain = \"t\"\ndev = \"d\"\ntext = \"a\"\nlabel = \"b\"\nlables = [\"1\"]\n");
    let e = Task::resolve(bad.to_str().unwrap()).unwrap_err().to_string();
    assert!(e.contains("bad.toml") && e.contains("lables"), "{e}");
    // a missing column is named
    common::write(d, "t2.csv", b"text,y\nhello,1\n");
    let spec2 = common::write(d, "t2.toml", b"name = \"x\"\ntrain = \"t2.csv\"\ndev = \"t2.csv\"\ntext = \"review\"\nlabel = \"y\"\nlabels = [\"0\", \"1\"]\n");
    let e = load_split(&Task::resolve(spec2.to_str().unwrap()).unwrap(), Split::Train, None).unwrap_err().to_string();
    assert!(e.contains("t2.csv:1: no column `review`"), "{e}");
}

#[test]
fn shared_glue_files_load_with_canonical_sizes() {
    let Some(dir) = common::shared_glue() else { return };
    let expect = [
        (GlueTask::Sst2, Split::Train, 67_349),
        (GlueTask::Sst2, Split::Dev, 872),
        (GlueTask::Cola, Split::Train, 8_551),
        (GlueTask::Cola, Split::Dev, 1_043),
        (GlueTask::Mrpc, Split::Train, 3_668),
        (GlueTask::Mrpc, Split::Dev, 408),
        (GlueTask::Stsb, Split::Train, 5_749),
        (GlueTask::Stsb, Split::Dev, 1_500),
        (GlueTask::Qnli, Split::Dev, 5_463),
    ];
    for (task, split, n) in expect {
        let rows = load_split(&Task::Glue(task), split, Some(&dir)).unwrap();
        assert_eq!(rows.len(), n, "{task:?} {split:?}");
    }
    let dev = load_split(&Task::Glue(GlueTask::Sst2), Split::Dev, Some(&dir)).unwrap();
    assert_eq!(dev.iter().filter(|e| e.label == Label::Class(1)).count(), 444);
    assert!(dev.iter().all(|e| !e.text_a.ends_with(' ')));
}
