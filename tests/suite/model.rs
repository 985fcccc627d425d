//! The BERT encoder: outputs, masking, checkpoints, HF loading, tokenizer, MiniLM semantics.

use crate::common;

use burn::module::Module;
use burn::tensor::Device;
use distiller::data::{HostBatch, TextEncoder};
use distiller::model::{Bert, BertConfig, BertInput, CheckpointWeights, LayerSubset, Pooling, PretrainedHead, load, load_pretrained, save};

fn device() -> Device {
    distiller::backend::device(None).unwrap()
}

fn tiny() -> BertConfig {
    let mut c = BertConfig::sized(2, 16, 20, 2);
    c.num_attention_heads = 2;
    c.intermediate_size = 32;
    c.max_position_embeddings = 32;
    c
}

fn host(t: burn::tensor::Tensor<2>) -> Vec<f32> {
    distiller::model::to_host(t)
}

fn batch(rows: &[&[u32]]) -> HostBatch {
    let enc: Vec<_> = rows.iter().map(|r| distiller::data::Encoded { ids: r.to_vec(), type_ids: vec![0; r.len()] }).collect();
    HostBatch::pad(&enc, &(0..rows.len()).collect::<Vec<_>>(), 0)
}

#[test]
fn forward_exposes_every_layer_and_masks_padding() {
    let dev = device();
    let model = tiny().init(7, &dev).valid();
    let b = batch(&[&[2, 5, 6, 7, 3], &[2, 8, 3]]);
    let out = model.forward(&BertInput::from_host(&b, &dev), true);
    assert_eq!(out.logits.dims(), [2, 2]);
    assert_eq!(out.hidden.len(), 3);
    assert_eq!(out.hidden[2].dims(), [2, 5, 16]);
    assert_eq!(out.attentions.len(), 2);
    assert_eq!(out.attentions[0].dims(), [2, 2, 5, 5]);
    // attention rows sum to one and ignore padded keys
    let att: Vec<f32> = distiller::model::to_host(out.attentions[0].clone());
    let row: &[f32] = &att[25 * 2..25 * 2 + 5]; // row 1, head 0, query 0
    assert!((row.iter().sum::<f32>() - 1.0).abs() < 1e-5);
    assert!(row[3] < 1e-6 && row[4] < 1e-6, "{row:?}");
    // the short row gets the same logits alone as padded in a batch
    let alone = model.forward(&BertInput::from_host(&batch(&[&[2, 8, 3]]), &dev), false);
    let (a, b) = (host(alone.logits), host(out.logits));
    for i in 0..2 {
        assert!((a[i] - b[2 + i]).abs() < 1e-4, "{a:?} vs {b:?}");
    }
}

#[test]
fn same_seed_same_model_different_seed_different_model() {
    let dev = device();
    let b = BertInput::from_host(&batch(&[&[2, 5, 6, 3]]), &dev);
    let l = |seed| host(tiny().init(seed, &dev).valid().forward(&b, false).logits);
    assert_eq!(l(1), l(1));
    assert_ne!(l(1), l(2));
}

/// The metadata of a randomly initialised SST-2 checkpoint, never trained.
fn random_sst2_meta(seed: u64) -> distiller::model::CheckpointMeta {
    distiller::model::CheckpointMeta {
        task: "sst2".into(),
        label_kind: distiller::data::GlueTask::Sst2.label_kind(),
        max_len: 16,
        dev_metrics: None,
        epochs_done: 0,
        seed,
        init_from: "random".into(),
    }
}

#[test]
fn checkpoint_round_trip_and_hf_prefix() {
    let dev = device();
    let tmp = tempfile::tempdir().unwrap();
    let vocab_dir = tmp.path().join("tok");
    common::tiny_vocab(&vocab_dir);
    let model = tiny().init(3, &dev);
    let meta = random_sst2_meta(3);
    let dir = tmp.path().join("ckpt");
    save(&dir, &model, &tiny(), &meta, &vocab_dir).unwrap();
    let loaded = load(&dir, &dev).unwrap();
    assert_eq!(loaded.config, tiny());
    assert_eq!(loaded.meta.unwrap().task, "sst2");
    assert!(dir.join("vocab.txt").is_file());
    let b = BertInput::from_host(&batch(&[&[2, 5, 6, 3], &[2, 9, 3]]), &dev);
    assert_eq!(host(model.valid().forward(&b, false).logits), host(loaded.model.forward(&b, false).logits));

    // the same tensors under HF's `bert.` prefix (as BertForSequenceClassification saves them)
    let prefixed: Vec<_> = model.export().into_iter().map(|(n, s, v)| (if n.starts_with("classifier") { n } else { format!("bert.{n}") }, s, v)).collect();
    let hf = tmp.path().join("hf");
    std::fs::create_dir_all(&hf).unwrap();
    distiller::model::weights::write_safetensors(&hf.join("model.safetensors"), &prefixed).unwrap();
    std::fs::copy(dir.join("config.json"), hf.join("config.json")).unwrap();
    let from_hf = load(&hf, &dev).unwrap();
    assert_eq!(host(from_hf.model.forward(&b, false).logits), host(loaded.model.forward(&b, false).logits));
}

/// `[CLS]` or the token mean through the pooler (tanh) and classifier, by hand from the exported
/// weights and the last hidden layer: what a head with that pooling must output.
fn head_by_hand(model: &Bert, hidden: &[f32], lens: &[usize], seq: usize, mean: bool) -> Vec<f32> {
    let weights = model.export();
    let get = |name: &str| weights.iter().find(|(n, _, _)| n == name).unwrap().2.clone();
    let (pw, pb, cw, cb) = (get("pooler.dense.weight"), get("pooler.dense.bias"), get("classifier.weight"), get("classifier.bias"));
    let d = pb.len();
    let mut logits = Vec::new();
    for (row, &len) in lens.iter().enumerate() {
        let token = |t: usize| &hidden[(row * seq + t) * d..(row * seq + t + 1) * d];
        let rep: Vec<f32> = if mean { (0..d).map(|i| (0..len).map(|t| token(t)[i]).sum::<f32>() / len as f32).collect() } else { token(0).to_vec() };
        let pooled: Vec<f32> = (0..d).map(|o| (pb[o] + (0..d).map(|i| pw[o * d + i] * rep[i]).sum::<f32>()).tanh()).collect();
        logits.extend((0..cb.len()).map(|o| cb[o] + (0..d).map(|i| cw[o * d + i] * pooled[i]).sum::<f32>()));
    }
    logits
}

#[test]
fn mean_pooling_head_reads_the_token_mean_and_survives_a_checkpoint() {
    let dev = device();
    let tmp = tempfile::tempdir().unwrap();
    common::tiny_vocab(&tmp.path().join("tok"));
    let mut config = tiny();
    let b = BertInput::from_host(&batch(&[&[2, 5, 6, 7, 3], &[2, 8, 3]]), &dev);
    let close = |a: &[f32], b: &[f32]| a.len() == b.len() && a.iter().zip(b).all(|(x, y)| (x - y).abs() < 1e-4);
    for (pooling, mean) in [(Pooling::Cls, false), (Pooling::Mean, true)] {
        config.classifier_pooling = pooling;
        let model = config.init(5, &dev).valid();
        let out = model.forward(&b, false);
        let hidden = distiller::model::to_host(out.hidden.last().unwrap().clone());
        let logits = host(out.logits);
        assert!(close(&logits, &head_by_hand(&model, &hidden, &[5, 3], 5, mean)), "{pooling:?}: {logits:?}");
        assert!(!close(&logits, &head_by_hand(&model, &hidden, &[5, 3], 5, !mean)), "{pooling:?} reads the other representation");
    }
    // the choice is saved in config.json and read back
    let model = config.init(5, &dev);
    let meta = random_sst2_meta(5);
    save(&tmp.path().join("ckpt"), &model, &config, &meta, &tmp.path().join("tok")).unwrap();
    let written: serde_json::Value = serde_json::from_str(&std::fs::read_to_string(tmp.path().join("ckpt/config.json")).unwrap()).unwrap();
    assert_eq!(written["classifier_pooling"], "mean");
    // HF transformers cannot express this head: the model type it is given is one it refuses.
    assert_eq!(written["model_type"], "bert-mean-pooling");
    assert!(Pooling::Mean.hf_note().is_some() && Pooling::Cls.hf_note().is_none());
    let loaded = load(&tmp.path().join("ckpt"), &dev).unwrap();
    assert_eq!(loaded.config.classifier_pooling, Pooling::Mean);
    assert_eq!(host(loaded.model.forward(&b, false).logits), host(model.valid().forward(&b, false).logits));
}

#[test]
fn bad_checkpoints_name_the_tensor() {
    let dev = device();
    let tmp = tempfile::tempdir().unwrap();
    let model = tiny().init(3, &dev);
    let mut tensors = model.export();
    tensors.retain(|(n, _, _)| n != "encoder.layer.1.output.dense.bias");
    let path = tmp.path().join("model.safetensors");
    distiller::model::weights::write_safetensors(&path, &tensors).unwrap();
    let e = Bert::build(&tiny(), &mut CheckpointWeights::open(&path, distiller::model::Family::Bert).unwrap(), &dev).unwrap_err().to_string();
    assert!(e.contains("missing tensor `encoder.layer.1.output.dense.bias`"), "{e}");
    let mut wider = tiny();
    wider.hidden_size = 32;
    let e = Bert::build(&wider, &mut CheckpointWeights::open(&path, distiller::model::Family::Bert).unwrap(), &dev).unwrap_err().to_string();
    assert!(e.contains("embeddings.word_embeddings.weight") && e.contains("[20, 16]") && e.contains("[20, 32]"), "{e}");
    std::fs::write(&path, b"definitely not safetensors").unwrap();
    let e = CheckpointWeights::open(&path, distiller::model::Family::Bert).err().unwrap().to_string();
    assert!(e.contains("model.safetensors") && e.contains("not a safetensors file"), "{e}");
    let torch = tmp.path().join("pytorch_model.bin");
    std::fs::write(&torch, b"definitely not a torch zip").unwrap();
    let e = CheckpointWeights::open(&torch, distiller::model::Family::Bert).err().unwrap().to_string();
    assert!(e.contains("pytorch_model.bin") && e.contains("not a PyTorch checkpoint"), "{e}");
    let empty = tempfile::tempdir().unwrap();
    let e = CheckpointWeights::open_dir(empty.path(), distiller::model::Family::Bert).err().unwrap().to_string();
    assert!(e.contains("neither model.safetensors nor pytorch_model.bin"), "{e}");
    std::fs::write(tmp.path().join("config.json"), b"{\"hidden_size\": 16}").unwrap();
    let e = load(tmp.path(), &dev).err().unwrap().to_string();
    assert!(e.contains("config.json") && e.contains("vocab_size"), "{e}");
}

#[test]
fn student_from_teacher_layers_copies_them() {
    let dev = device();
    let tmp = tempfile::tempdir().unwrap();
    let mut teacher_config = tiny();
    teacher_config.num_hidden_layers = 4;
    let teacher = teacher_config.init(5, &dev);
    let path = tmp.path().join("t.safetensors");
    distiller::model::weights::write_safetensors(&path, &teacher.export()).unwrap();
    let mut student_config = teacher_config.clone();
    student_config.num_hidden_layers = 2;
    let mut src = LayerSubset { inner: CheckpointWeights::open(&path, distiller::model::Family::Bert).unwrap(), layers: vec![1, 3] };
    let student = Bert::build(&student_config, &mut src, &dev).unwrap();
    let find = |m: &Bert, name: &str| m.export().into_iter().find(|(n, _, _)| n == name).unwrap().2;
    assert_eq!(find(&student, "encoder.layer.0.attention.self.query.weight"), find(&teacher, "encoder.layer.1.attention.self.query.weight"));
    assert_eq!(find(&student, "encoder.layer.1.output.dense.weight"), find(&teacher, "encoder.layer.3.output.dense.weight"));
    assert_eq!(find(&student, "embeddings.word_embeddings.weight"), find(&teacher, "embeddings.word_embeddings.weight"));
}

#[test]
fn vocab_txt_tokenizer_pairs_and_truncation() {
    let tmp = tempfile::tempdir().unwrap();
    common::tiny_vocab(tmp.path());
    let enc = TextEncoder::from_model_dir(tmp.path(), 8).unwrap();
    let e = enc.encode("A great movie.", None).unwrap();
    assert_eq!(e.ids, vec![2, 5, 6, 7, 19, 3]);
    let p = enc.encode("films", Some("very boring plot")).unwrap();
    assert_eq!(p.ids, vec![2, 9, 14, 3, 17, 16, 18, 3]);
    assert_eq!(p.type_ids, vec![0, 0, 0, 0, 1, 1, 1, 1]);
    let long = enc.encode("a great movie a great movie a great movie", None).unwrap();
    assert_eq!(long.ids.len(), 8);
    assert_eq!(*long.ids.last().unwrap(), 3);
    assert!(TextEncoder::from_model_dir(&tmp.path().join("nothing"), 8).is_err());
}

#[test]
fn minilm_tokenizer_and_embeddings_make_sense() {
    let Some(dir) = common::minilm() else { return };
    let dev = device();
    let enc = TextEncoder::from_model_dir(&dir, 64).unwrap();
    // bert-base-uncased ids
    assert_eq!(enc.encode("Hello world!", None).unwrap().ids, vec![101, 7592, 2088, 999, 102]);
    let (model, config, new) = load_pretrained(&dir, PretrainedHead { num_labels: 2, seed: 0, fresh_pooler: false, pooling: Pooling::Cls, layers: None }, &dev).unwrap();
    assert_eq!((config.num_hidden_layers, config.hidden_size), (6, 384));
    assert_eq!(new, vec!["classifier.weight".to_string(), "classifier.bias".to_string()]);
    let (_, _, fresh) = load_pretrained(&dir, PretrainedHead { num_labels: 2, seed: 0, fresh_pooler: true, pooling: Pooling::Cls, layers: None }, &dev).unwrap();
    assert_eq!(fresh, ["pooler.dense.weight", "pooler.dense.bias", "classifier.weight", "classifier.bias"]);
    let model = model.valid();
    let sentences = ["a great movie", "an excellent film", "the stock market crashed today"];
    let embed = |s: &str| -> Vec<f32> {
        let e = enc.encode(s, None).unwrap();
        let b = HostBatch::pad(&[e], &[0], 0);
        let out = model.forward(&BertInput::from_host(&b, &dev), false);
        // sentence-transformers' mean pooling over tokens
        distiller::model::to_host(out.hidden.last().unwrap().clone().mean_dim(1))
    };
    let cos = |a: &[f32], b: &[f32]| {
        let dot: f32 = a.iter().zip(b).map(|(x, y)| x * y).sum();
        dot / (a.iter().map(|x| x * x).sum::<f32>().sqrt() * b.iter().map(|x| x * x).sum::<f32>().sqrt())
    };
    let v: Vec<Vec<f32>> = sentences.iter().map(|s| embed(s)).collect();
    let (similar, unrelated) = (cos(&v[0], &v[1]), cos(&v[0], &v[2]));
    assert!(similar > unrelated + 0.2, "similar {similar} unrelated {unrelated}");
}

/// `Bert::logits` (what `eval` and a logits-only teacher cache run) skips the last layer's rows
/// the head does not read; its logits are the full forward pass's, for BERT, for MPNet's position
/// bias (one row of it per query), and where it falls back (mean pooling).
#[test]
fn the_logits_path_gives_the_full_forwards_logits() {
    use distiller::model::Family;
    let dev = device();
    // Rows of different lengths: padding masks the keys of the first token's attention too.
    let rows: Vec<_> = (0..5u32).map(|i| distiller::data::Encoded { ids: (0..4 + 3 * i).map(|t| 2 + (t * 7 + i) % 40).collect(), type_ids: vec![0; 4 + 3 * i as usize] }).collect();
    let batch = HostBatch::pad(&rows, &(0..5).collect::<Vec<_>>(), 0);
    let input = BertInput::from_host(&batch, &dev);
    let mpnet = |c: &mut BertConfig| {
        c.family = Family::MpNet;
        c.relative_attention_num_buckets = Some(32);
    };
    let mean = |c: &mut BertConfig| c.classifier_pooling = Pooling::Mean;
    let bert = |_: &mut BertConfig| {};
    for (what, adjust) in [("bert", &bert as &dyn Fn(&mut BertConfig)), ("mpnet", &mpnet), ("mean pooling", &mean)] {
        let mut config = BertConfig::sized(3, 64, 50, 3);
        adjust(&mut config);
        let model = config.init(4, &dev).valid();
        let full = distiller::model::to_host(model.forward(&input, false).logits);
        let fast = distiller::model::to_host(model.logits(&input));
        assert_eq!(full.len(), fast.len());
        for (i, (a, b)) in fast.iter().zip(&full).enumerate() {
            assert!((a - b).abs() <= 1e-5 + 1e-5 * b.abs(), "{what}: logit {i}: {a} vs the full forward's {b}");
        }
    }
}

#[test]
fn host_gelu_matches_burns_value_and_gradient() {
    use burn::tensor::{Tensor, TensorData};
    let dev = device();
    let xs: Vec<f32> = (0..1201).map(|i| (i as f32 - 600.0) / 100.0).collect();
    let weights: Vec<f32> = (0..xs.len()).map(|i| ((i * 37) % 11) as f32 / 5.0 - 1.0).collect();
    let input = |d: &Device| Tensor::<1>::from_data(TensorData::new(xs.clone(), [xs.len()]), d);
    let close = |a: &[f32], b: &[f32], what: &str| {
        for (i, (x, y)) in a.iter().zip(b).enumerate() {
            assert!((x - y).abs() <= 2e-6 + 2e-6 * y.abs(), "{what} at x = {}: {x} vs burn's {y}", xs[i]);
        }
    };
    close(&distiller::model::to_host(distiller::model::kernels::gelu(input(&dev))), &distiller::model::to_host(burn::tensor::activation::gelu(input(&dev))), "inference value");
    let ad = dev.clone().autodiff();
    let run = |f: &dyn Fn(Tensor<1>) -> Tensor<1>| {
        let x = input(&ad).require_grad();
        let y = f(x.clone());
        let grads = (y.clone() * Tensor::<1>::from_data(TensorData::new(weights.clone(), [weights.len()]), &ad)).sum().backward();
        (distiller::model::to_host(y), distiller::model::to_host(x.grad(&grads).expect("gradient reaches x")))
    };
    let (ours, ours_grad) = run(&|x| distiller::model::kernels::gelu(x));
    let (burns, burns_grad) = run(&|x| burn::tensor::activation::gelu(x));
    close(&ours, &burns, "training value");
    close(&ours_grad, &burns_grad, "gradient");
}

/// The host kernels' AVX2 and baseline builds pass the host-op tests too: they run again in a
/// child process with `DISTILLER_KERNEL_ISA` holding the kernels to each (those this CPU has).
#[test]
fn host_ops_match_burns_with_every_vector_extension() {
    use distiller::model::kernels::{Isa, isa};
    if let Ok(wanted) = std::env::var("DISTILLER_KERNEL_ISA") {
        // In the child: the kernels run the extension asked for.
        assert_eq!(isa(), if wanted == "avx2" { Isa::Avx2 } else { Isa::Baseline });
        return;
    }
    let mut narrower = vec!["baseline"];
    #[cfg(target_arch = "x86_64")]
    if isa() == Isa::Avx512 {
        narrower.push("avx2");
    }
    for wanted in narrower {
        let out = std::process::Command::new(std::env::current_exe().unwrap()).arg("model::host_").env("DISTILLER_KERNEL_ISA", wanted).output().unwrap();
        let stdout = String::from_utf8_lossy(&out.stdout);
        assert!(out.status.success(), "{wanted}: {stdout}{}", String::from_utf8_lossy(&out.stderr));
        let passed = stdout.lines().filter(|l| l.starts_with("test model::host_") && l.ends_with("ok")).count();
        assert!(passed >= 9, "{wanted}: only {passed} host-op tests ran: {stdout}");
    }
}

#[test]
fn host_linear_and_linear_gelu_match_burns_values_and_gradients() {
    use burn::nn::LinearConfig;
    use burn::tensor::{Tensor, TensorData};
    let ad = device().autodiff();
    // (batch, seq, d_in, d_out, transposed input): small products run on one thread, larger ones
    // on both; a transposed input reaches gemm through its strides.
    for (batch, seq, d_in, d_out, transposed) in [(3, 5, 37, 23, false), (4, 75, 64, 48, false), (1, 40, 33, 17, true)] {
        let layer = LinearConfig::new(d_in, d_out).init(&ad);
        let n = batch * seq * d_in;
        let xs: Vec<f32> = (0..n).map(|i| ((i * 7919) % 1000) as f32 / 500.0 - 1.0).collect();
        let weights: Vec<f32> = (0..batch * seq * d_out).map(|i| ((i * 37) % 11) as f32 / 5.0 - 1.0).collect();
        let run = |f: &dyn Fn(Tensor<3>) -> Tensor<3>| {
            let x = if transposed {
                Tensor::<2>::from_data(TensorData::new(xs.clone(), [d_in, seq]), &ad).require_grad()
            } else {
                Tensor::<2>::from_data(TensorData::new(xs.clone(), [batch * seq, d_in]), &ad).require_grad()
            };
            let input = if transposed { x.clone().swap_dims(0, 1).reshape([batch, seq, d_in]) } else { x.clone().reshape([batch, seq, d_in]) };
            let y = f(input);
            let loss = (y.clone() * Tensor::<3>::from_data(TensorData::new(weights.clone(), [batch, seq, d_out]), &ad)).sum();
            let grads = loss.backward();
            let host = distiller::model::to_host;
            let bias = layer.bias.as_ref().expect("bias").val();
            [
                host(y.reshape([batch * seq * d_out])),
                host(x.grad(&grads).expect("dx").reshape([n])),
                host(layer.weight.val().grad(&grads).expect("dW").reshape([d_in * d_out])),
                host(bias.grad(&grads).expect("db")),
            ]
        };
        let compare = |op: &str, ours: &[Vec<f32>], burns: &[Vec<f32>]| {
            for (what, (a, b)) in ["value", "input gradient", "weight gradient", "bias gradient"].iter().zip(ours.iter().zip(burns)) {
                assert_eq!(a.len(), b.len(), "{op} {what}: length");
                for (i, (x, y)) in a.iter().zip(b).enumerate() {
                    assert!((x - y).abs() <= 1e-4 + 1e-4 * y.abs(), "{op} {what} [{i}] for {batch}x{seq}x{d_in}->{d_out}: {x} vs burn's {y}");
                }
            }
        };
        compare("linear", &run(&|x| distiller::model::kernels::linear(&layer, x)), &run(&|x| layer.forward(x)));
        compare("linear + GELU", &run(&|x| distiller::model::kernels::linear_gelu(&layer, x)), &run(&|x| burn::tensor::activation::gelu(layer.forward(x))));
        // Inference (no autodiff): the same values.
        let plain = layer.valid();
        let x = Tensor::<3>::from_data(TensorData::new(xs.clone(), [batch, seq, d_in]), &device());
        let ours = distiller::model::to_host(distiller::model::kernels::linear_gelu(&plain, x.clone()).reshape([batch * seq * d_out]));
        let burns = distiller::model::to_host(burn::tensor::activation::gelu(plain.forward(x)).reshape([batch * seq * d_out]));
        compare("linear + GELU, inference", &[ours], &[burns]);
    }
}

#[test]
fn host_embedding_matches_burns_rows_and_table_gradient() {
    use burn::nn::EmbeddingConfig;
    use burn::tensor::{Int, Tensor, TensorData};
    let ad = device().autodiff();
    let (rows, d) = (13, 5);
    let table = EmbeddingConfig::new(rows, d).init(&ad);
    // Repeated ids add up in their row; rows no id names get a zero gradient; a [1, seq] batch is
    // how position ids arrive.
    for (batch, seq, ids) in [(3, 4, vec![0i64, 5, 5, 12, 7, 0, 5, 1, 12, 12, 3, 5]), (1, 4, vec![2, 3, 4, 5])] {
        let weights: Vec<f32> = (0..batch * seq * d).map(|i| ((i * 37) % 11) as f32 / 5.0 - 1.0).collect();
        let ids = |device: &Device| Tensor::<2, Int>::from_data(TensorData::new(ids.clone(), [batch, seq]), device);
        let run = |f: &dyn Fn(Tensor<2, Int>) -> Tensor<3>| {
            let y = f(ids(&ad));
            let grads = (y.clone() * Tensor::<3>::from_data(TensorData::new(weights.clone(), [batch, seq, d]), &ad)).sum().backward();
            let host = distiller::model::to_host;
            [host(y.reshape([batch * seq * d])), host(table.weight.val().grad(&grads).expect("table gradient").reshape([rows * d]))]
        };
        let ours = run(&|ids| distiller::model::kernels::embedding(&table, ids));
        let burns = run(&|ids| table.forward(ids));
        assert_eq!(ours[0], burns[0], "rows for {batch}x{seq}");
        for (i, (x, y)) in ours[1].iter().zip(&burns[1]).enumerate() {
            assert!((x - y).abs() <= 1e-6, "table gradient [{i}] for {batch}x{seq}: {x} vs burn's {y}");
        }
        assert!(ours[1].iter().any(|&g| g != 0.0), "some gradient reached the table");
        let plain = table.valid();
        let inference = distiller::model::to_host(distiller::model::kernels::embedding(&plain, ids(&device())).reshape([batch * seq * d]));
        assert_eq!(inference, burns[0], "inference rows for {batch}x{seq}");
    }
}

/// Every element of a dropout mask as the definition says (quad `q` takes the four 16-bit fields
/// of splitmix64's hash of `key ^ q·C`, lowest first), across parallel tasks and a last, partial
/// quad; named `host_` so that it runs again under each vector extension.
#[test]
fn host_dropout_mask_elements_take_their_quads_hash_fields() {
    let splitmix64 = |x: u64| {
        let mut z = x.wrapping_add(0x9E37_79B9_7F4A_7C15);
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    };
    let (n, keep, key) = (2 * (1 << 14) + 7, 0.7, 99);
    let threshold = (keep * 65536.0f64).round() as u64;
    let want: Vec<f32> = (0..n)
        .map(|e| {
            let bits = splitmix64(key ^ ((e / 4) as u64).wrapping_mul(0xA24B_AED4_963E_E407));
            if (bits >> (16 * (e % 4))) & 0xFFFF < threshold { (1.0 / keep) as f32 } else { 0.0 }
        })
        .collect();
    assert_eq!(distiller::model::dropout::mask(n, keep, key), want);
}

#[test]
fn host_softmax_matches_burns_value_and_gradient() {
    use burn::tensor::{Tensor, TensorData};
    let ad = device().autodiff();
    // Attention-shaped scores with padding columns pushed to -10000, as the encoder's mask does.
    let shape = [2, 3, 5, 7];
    let n: usize = shape.iter().product();
    let xs: Vec<f32> = (0..n).map(|i| if i % 7 == 6 { -10000.0 } else { ((i * 7919) % 1000) as f32 / 100.0 - 5.0 }).collect();
    let weights: Vec<f32> = (0..n).map(|i| ((i * 37) % 11) as f32 / 5.0 - 1.0).collect();
    let run = |f: &dyn Fn(Tensor<4>) -> Tensor<4>| {
        let x = Tensor::<4>::from_data(TensorData::new(xs.clone(), shape), &ad).require_grad();
        let y = f(x.clone());
        let grads = (y.clone() * Tensor::<4>::from_data(TensorData::new(weights.clone(), shape), &ad)).sum().backward();
        (distiller::model::to_host(y), distiller::model::to_host(x.grad(&grads).expect("gradient reaches x")))
    };
    let (ours, ours_grad) = run(&|x| distiller::model::kernels::softmax(x, 3));
    let (burns, burns_grad) = run(&|x| burn::tensor::activation::softmax(x, 3));
    for (what, a, b) in [("value", &ours, &burns), ("gradient", &ours_grad, &burns_grad)] {
        for (i, (x, y)) in a.iter().zip(b.iter()).enumerate() {
            assert!((x - y).abs() <= 1e-6 + 1e-5 * y.abs(), "{what} [{i}]: {x} vs burn's {y}");
        }
    }
    let rows = distiller::model::to_host(distiller::model::kernels::softmax(Tensor::<4>::from_data(TensorData::new(xs.clone(), shape), &device()), 3));
    assert!(rows.chunks(7).all(|r| (r.iter().sum::<f32>() - 1.0).abs() < 1e-6 && r[6] == 0.0), "inference rows sum to 1 and padding gets 0");
}

/// A full disk: saving a checkpoint is an error and leaves no temporary file behind. Needs root
/// to mount a 64 KiB tmpfs; skipped (saying so) where that is not allowed.
#[test]
fn a_full_disk_fails_the_save_and_leaves_no_temporary_file() {
    let tmp = tempfile::tempdir().unwrap();
    if common::mount_tmpfs(tmp.path(), "64k").is_none() {
        return;
    }
    let result = std::panic::catch_unwind(|| {
        let dev = distiller::backend::device(None).unwrap();
        let config = distiller::model::BertConfig::sized(2, 64, 200, 2);
        let meta = common::random_checkpoint_meta(distiller::data::GlueTask::Sst2, 16, 1);
        let dir = tmp.path().join("student");
        let e = distiller::model::save(&dir, &config.init(1, &dev), &config, &meta, &dir).unwrap_err().to_string();
        assert!(e.contains("model.safetensors") || e.contains("student"), "{e}");
        let left: Vec<_> = std::fs::read_dir(&dir).unwrap().map(|e| e.unwrap().file_name()).collect();
        assert!(left.iter().all(|n| !n.to_string_lossy().ends_with(".tmp")), "left behind: {left:?}");
    });
    let _ = std::process::Command::new("umount").arg(tmp.path()).status();
    result.unwrap();
}

#[test]
fn a_checkpoint_with_non_finite_weights_is_not_saved() {
    use burn::module::Module;
    let dev = distiller::backend::device(None).unwrap();
    let config = distiller::model::BertConfig::sized(1, 16, 20, 2);
    let meta = common::random_checkpoint_meta(distiller::data::GlueTask::Sst2, 16, 1);
    struct Poison;
    impl burn::module::ModuleMapper for Poison {
        fn map_float<const D: usize>(&mut self, param: burn::module::Param<burn::tensor::Tensor<D>>) -> burn::module::Param<burn::tensor::Tensor<D>> {
            param.map(|t| t.mul_scalar(f32::NAN))
        }
    }
    let model = config.init(1, &dev).map(&mut Poison);
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path().join("nan");
    let e = distiller::model::save(&dir, &model, &config, &meta, &dir).unwrap_err().to_string();
    assert!(e.contains("non-finite"), "{e}");
    assert!(!dir.join("model.safetensors").exists());
}

#[test]
fn host_layer_norm_matches_burns_value_and_gradients() {
    use burn::nn::LayerNormConfig;
    use burn::tensor::{Tensor, TensorData};
    let ad = device().autodiff();
    // (rows, d): one chunk, and many rows over several parallel chunks with a width that divides
    // no vector length; rows of large offset and small spread, where a one-pass variance loses.
    for (batch, seq, d, eps) in [(2, 3, 8, 1e-12), (7, 131, 37, 1e-5)] {
        let mut norm = LayerNormConfig::new(d).with_epsilon(eps).init(&ad);
        let gammas: Vec<f32> = (0..d).map(|i| 0.5 + (i % 5) as f32 / 4.0).collect();
        let betas: Vec<f32> = (0..d).map(|i| (i % 3) as f32 / 10.0 - 0.1).collect();
        norm.gamma = burn::module::Param::from_tensor(Tensor::from_data(TensorData::new(gammas, [d]), &ad));
        norm.beta = Some(burn::module::Param::from_tensor(Tensor::from_data(TensorData::new(betas, [d]), &ad)));
        let n = batch * seq * d;
        let xs: Vec<f32> = (0..n).map(|i| 100.0 * ((i / d) % 3) as f32 + ((i * 7919) % 1000) as f32 / 500.0 - 1.0).collect();
        let weights: Vec<f32> = (0..n).map(|i| ((i * 37) % 11) as f32 / 5.0 - 1.0).collect();
        let run = |f: &dyn Fn(Tensor<3>) -> Tensor<3>| {
            let x = Tensor::<3>::from_data(TensorData::new(xs.clone(), [batch, seq, d]), &ad).require_grad();
            let y = f(x.clone());
            let grads = (y.clone() * Tensor::<3>::from_data(TensorData::new(weights.clone(), [batch, seq, d]), &ad)).sum().backward();
            let host = distiller::model::to_host;
            [
                host(y.reshape([n])),
                host(x.grad(&grads).expect("dx").reshape([n])),
                host(norm.gamma.val().grad(&grads).expect("dγ")),
                host(norm.beta.as_ref().expect("β").val().grad(&grads).expect("dβ")),
            ]
        };
        let ours = run(&|x| distiller::model::kernels::layer_norm(&norm, x, eps));
        let burns = run(&|x| norm.forward(x));
        for (what, (a, b)) in ["value", "input gradient"].iter().zip(ours.iter().zip(&burns)) {
            assert_eq!(a.len(), b.len(), "{what}: length");
            for (i, (x, y)) in a.iter().zip(b).enumerate() {
                assert!((x - y).abs() <= 1e-4 + 1e-4 * y.abs(), "{what} [{i}] for {batch}x{seq}x{d}: {x} vs burn's {y}");
            }
        }
        // γ's and β's gradients sum over every row and cancel heavily: both are checked against
        // the sums in f64, to a tolerance relative to the sum of the terms' magnitudes (x̂ itself
        // carries about 2e-5 of f32 rounding on the rows offset by 100).
        let rows = batch * seq;
        let normed: Vec<f64> = xs
            .chunks(d)
            .flat_map(|r| {
                let mean = r.iter().map(|&v| f64::from(v)).sum::<f64>() / d as f64;
                let var = r.iter().map(|&v| (f64::from(v) - mean).powi(2)).sum::<f64>() / d as f64;
                r.iter().map(move |&v| (f64::from(v) - mean) / (var + eps).sqrt())
            })
            .collect();
        for j in 0..d {
            // Per column: the exact sum and the sum of its terms' magnitudes, for γ and for β.
            let (mut dgamma, mut dbeta) = ([0.0f64; 2], [0.0f64; 2]);
            for r in 0..rows {
                let (w, x_hat) = (f64::from(weights[r * d + j]), normed[r * d + j]);
                dgamma = [dgamma[0] + w * x_hat, dgamma[1] + (w * x_hat).abs()];
                dbeta = [dbeta[0] + w, dbeta[1] + w.abs()];
            }
            for (what, k, [sum, scale]) in [("γ gradient", 2, dgamma), ("β gradient", 3, dbeta)] {
                for (who, got) in [("ours", ours[k][j]), ("burn's", burns[k][j])] {
                    assert!((f64::from(got) - sum).abs() <= 4e-5 * scale + 1e-6, "{what} [{j}] for {batch}x{seq}x{d}, {who}: {got} vs {sum}");
                }
            }
        }
        // Inference (no autodiff): the values against x̂·γ computed in f64 (burn's own inference
        // op rounds differently on the offset rows, by as much as ours, so neither is the
        // reference there).
        let plain = device();
        let mut inference = LayerNormConfig::new(d).with_epsilon(eps).init(&plain);
        let gammas = distiller::model::to_host(norm.gamma.val());
        inference.gamma = burn::module::Param::from_tensor(Tensor::from_data(TensorData::new(gammas.clone(), [d]), &plain));
        let x = Tensor::<3>::from_data(TensorData::new(xs.clone(), [batch, seq, d]), &plain);
        let ours = distiller::model::to_host(distiller::model::kernels::layer_norm(&inference, x, eps).reshape([n]));
        for (i, y) in ours.iter().enumerate() {
            let want = normed[i] * f64::from(gammas[i % d]);
            assert!((f64::from(*y) - want).abs() <= 1e-4 * (1.0 + want.abs()), "inference value [{i}] for {batch}x{seq}x{d}: {y} vs {want}");
        }
    }
}

#[test]
fn host_residual_norm_matches_dropout_add_and_burns_layer_norm() {
    use burn::nn::{DropoutConfig, LayerNormConfig};
    use burn::tensor::{Tensor, TensorData};
    use distiller::model::dropout::{dropout, with_stream};
    let host = distiller::model::to_host;
    // One chunk, and several parallel chunks of a width that divides no vector length; with and
    // without dropout.
    for (batch, seq, d, prob) in [(2, 3, 8, 0.0), (3, 129, 37, 0.0), (3, 129, 37, 0.3)] {
        let n = batch * seq * d;
        let values = |salt: usize| -> Vec<f32> { (0..n).map(|i| (((i + salt) * 7919) % 1000) as f32 / 250.0 - 2.0).collect() };
        let layer = DropoutConfig::new(prob).init();
        // The value, and on an autodiff device the gradients of y, the residual, γ and β of
        // Σ weights ⊙ output.
        let run = |device: &burn::tensor::Device, f: &dyn Fn(&burn::nn::LayerNorm, Tensor<3>, Tensor<3>) -> Tensor<3>| {
            let mut norm = LayerNormConfig::new(d).with_epsilon(1e-12).init(device);
            norm.gamma = burn::module::Param::from_tensor(Tensor::from_data(TensorData::new((0..d).map(|i| 0.5 + (i % 5) as f32 / 4.0).collect::<Vec<f32>>(), [d]), device));
            norm.beta = Some(burn::module::Param::from_tensor(Tensor::from_data(TensorData::new((0..d).map(|i| (i % 3) as f32 / 10.0 - 0.1).collect::<Vec<f32>>(), [d]), device)));
            let input = |salt| Tensor::<3>::from_data(TensorData::new(values(salt), [batch, seq, d]), device);
            let (y, residual) = if device.is_autodiff() { (input(1).require_grad(), input(2).require_grad()) } else { (input(1), input(2)) };
            let out = with_stream(5, || f(&norm, y.clone(), residual.clone()));
            let mut got = vec![host(out.clone().reshape([n]))];
            if device.is_autodiff() {
                let grads = (out * input(3)).sum().backward();
                got.extend([&y, &residual].map(|t| host(t.grad(&grads).expect("a gradient").reshape([n]))));
                got.push(host(norm.gamma.val().grad(&grads).expect("dγ")));
                got.push(host(norm.beta.as_ref().expect("β").val().grad(&grads).expect("dβ")));
            }
            got
        };
        let ours = |norm: &burn::nn::LayerNorm, y, residual| distiller::model::kernels::residual_norm(norm, y, residual, &layer, 1e-12);
        let burns = |norm: &burn::nn::LayerNorm, y, residual| norm.forward(dropout(&layer, y) + residual);
        if prob > 0.0 {
            let undropped = |norm: &burn::nn::LayerNorm, y, residual| distiller::model::kernels::residual_norm(norm, y, residual, &DropoutConfig::new(0.0).init(), 1e-12);
            let (dropped, plain) = (run(&device().autodiff(), &ours), run(&device().autodiff(), &undropped));
            assert_ne!(dropped[0], plain[0], "dropout is applied in training");
            assert_ne!(dropped[1], dropped[2], "and y's gradient is masked where the residual's is not");
            assert_eq!(run(&device(), &ours)[0], run(&device(), &undropped)[0], "and not at inference");
        }
        for device in [device(), device().autodiff()] {
            let (a, b) = (run(&device, &ours), run(&device, &burns));
            assert_eq!(a.len(), b.len());
            for (what, (a, b)) in ["value", "y gradient", "residual gradient", "γ gradient", "β gradient"].iter().zip(a.iter().zip(&b)) {
                assert_eq!(a.len(), b.len(), "{what}: length");
                for (i, (x, y)) in a.iter().zip(b).enumerate() {
                    assert!((x - y).abs() <= 1e-4 + 1e-4 * y.abs(), "{what} [{i}] for {batch}x{seq}x{d}, dropout {prob}: {x} vs {y}");
                }
            }
        }
    }
}

#[test]
fn host_attention_matches_burns_ops_with_gradients_and_dropout() {
    use burn::nn::DropoutConfig;
    use burn::tensor::{Tensor, TensorData};
    use distiller::model::dropout::{dropout, with_stream};
    let host = distiller::model::to_host;
    // A padding-only mask [batch, 1, 1, seq] (BERT), the mask plus a per-head position bias
    // [1, heads, seq, seq] that takes a gradient (MPNet's), and that bias alone; widths and
    // lengths that divide no vector length; with and without attention dropout.
    for (batch, seq, heads, dh, per_head, prob) in [(3, 7, 2, 5, false, 0.0), (2, 33, 3, 8, true, 0.0), (2, 19, 2, 6, true, 0.2)] {
        let d = heads * dh;
        let n = batch * seq * d;
        let values = |salt: usize, len: usize| -> Vec<f32> { (0..len).map(|i| (((i + salt) * 7919) % 1000) as f32 / 250.0 - 2.0).collect() };
        // Row r has its last r positions padded.
        let mask: Vec<f32> = (0..batch * seq).map(|i| if i % seq + i / seq >= seq { -10000.0 } else { 0.0 }).collect();
        let position: Vec<f32> = (0..heads * seq * seq).map(|i| ((i * 37) % 11) as f32 / 5.0 - 1.0).collect();
        let weights = values(4, n);
        let layer = DropoutConfig::new(prob).init();
        // The value, and on an autodiff device the gradients of q, k, v and the position bias of
        // Σ weights ⊙ output; `f` gets q, k, v and the whole bias.
        let run = |device: &burn::tensor::Device, f: &dyn Fn(&Tensor<3>, &Tensor<3>, &Tensor<3>, &Tensor<4>) -> Tensor<3>| {
            let input = |salt| Tensor::<3>::from_data(TensorData::new(values(salt, n), [batch, seq, d]), device);
            let (q, k, v) = (input(1), input(2), input(3));
            let position = Tensor::<4>::from_data(TensorData::new(position.clone(), [1, heads, seq, seq]), device);
            let (q, k, v, position) = if device.is_autodiff() { (q.require_grad(), k.require_grad(), v.require_grad(), position.require_grad()) } else { (q, k, v, position) };
            let padding = Tensor::<4>::from_data(TensorData::new(mask.clone(), [batch, 1, 1, seq]), device);
            // With dropout, the position bias alone: a bias that broadcasts over the batch, whose
            // gradient the op sums over it.
            let bias = match (per_head, prob > 0.0) {
                (false, _) => padding,
                (true, false) => padding + position.clone(),
                (true, true) => position.clone(),
            };
            let y = with_stream(9, || f(&q, &k, &v, &bias));
            let mut out = vec![host(y.clone().reshape([n]))];
            if device.is_autodiff() {
                let grads = (y * Tensor::<3>::from_data(TensorData::new(weights.clone(), [batch, seq, d]), device)).sum().backward();
                out.extend([&q, &k, &v].map(|t| host(t.grad(&grads).expect("a gradient").reshape([n]))));
                if per_head {
                    out.push(host(position.grad(&grads).expect("the position bias's gradient").reshape([heads * seq * seq])));
                }
            }
            out
        };
        let ours = |q: &Tensor<3>, k: &Tensor<3>, v: &Tensor<3>, bias: &Tensor<4>| distiller::model::kernels::attention(q, k, v, bias, heads, &layer).expect("a host path");
        let burns = |q: &Tensor<3>, k: &Tensor<3>, v: &Tensor<3>, bias: &Tensor<4>| {
            let split = |t: &Tensor<3>| t.clone().reshape([batch, seq, heads, dh]).swap_dims(1, 2);
            let scores = split(q).matmul(split(k).swap_dims(2, 3)).div_scalar((dh as f64).sqrt()) + bias.clone();
            dropout(&layer, burn::tensor::activation::softmax(scores, 3)).matmul(split(v)).swap_dims(1, 2).reshape([batch, seq, d])
        };
        let undropped = |q: &Tensor<3>, k: &Tensor<3>, v: &Tensor<3>, bias: &Tensor<4>| {
            distiller::model::kernels::attention(q, k, v, bias, heads, &DropoutConfig::new(0.0).init()).expect("a host path")
        };
        if prob > 0.0 {
            assert_ne!(run(&device().autodiff(), &ours)[0], run(&device().autodiff(), &undropped)[0], "dropout is applied in training");
            assert_eq!(run(&device(), &ours)[0], run(&device(), &undropped)[0], "and not at inference");
        }
        for device in [device(), device().autodiff()] {
            let (a, b) = (run(&device, &ours), run(&device, &burns));
            assert_eq!(a.len(), b.len());
            for (what, (a, b)) in ["value", "q gradient", "k gradient", "v gradient", "bias gradient"].iter().zip(a.iter().zip(&b)) {
                for (i, (x, y)) in a.iter().zip(b).enumerate() {
                    assert!((x - y).abs() <= 1e-4 + 1e-4 * y.abs(), "{what} [{i}] for {batch}x{seq}, {heads} heads of {dh}, dropout {prob}: {x} vs burn's {y}");
                }
            }
        }
    }
}
