"""Tiny random sequence classifiers of each encoder family distiller reads (BERT, RoBERTa,
ELECTRA, DistilBERT, MPNet, DeBERTa-v2/v3), made and scored by HF transformers, for the parity
tests.

    python3 hf_families.py make OUT_DIR VOCAB_TXT
        For each family, OUT_DIR/<family>/ as HF's save_pretrained writes a classifier (random
        weights, 2 layers, width 32, seed 0; ELECTRA's embeddings narrower than its encoder) and
        its tokenizer (BERT's WordPiece from VOCAB_TXT, a byte-level BPE trained here for
        RoBERTa, MPNet's special tokens around the same WordPiece vocabulary, a SentencePiece-style
        unigram model trained here for DeBERTa, shaped as DeBERTa-v3: relative attention with
        both position terms, log buckets, no absolute positions, no segments; and as
        "deberta-v2-separate", shaped as v2), and
        OUT_DIR/<family>.json: what HF computes on CASES; OUT_DIR/<family>-bin/ holds the same
        classifier with its weights as `pytorch_model.bin`, as transformers before 5 saved them
        (`torch.save` of the state dict).
    python3 hf_families.py score MODEL_DIR
        What HF computes on CASES with the model in MODEL_DIR (one distiller saved).

What HF computes, as JSON: each case's token ids (unpadded), the logits, and every hidden state
(embedding output, then each layer) at the real tokens, with the cases batched and padded to the
longest, truncated at MAX_LEN.
"""
import json
import os
import sys

import torch
import transformers
import inspect

from tokenizers import Regex, Tokenizer, decoders, models, normalizers, pre_tokenizers, processors, trainers

MAX_LEN = 24
CASES = [
    ("a fine film , full of heart and humour .", None),
    ("hide new secretions from the parental units", None),
    ("it 's a charming and often affecting journey .", None),
    ("The cat sat on the mat.", "A cat was sitting on a mat."),
    ("He said the company would not comment on the deal.", "The company declined to comment."),
    ("x", "an unusually long second sentence that goes on and on until it is cut at the length limit, and further"),
]
SIZES = dict(hidden_size=32, num_hidden_layers=2, num_attention_heads=4, intermediate_size=64, num_labels=2)


def wordpiece(vocab, unk, post_processor):
    """An uncased WordPiece tokenizer as BERT's and MPNet's tokenizer.json describe it."""
    tokenizer = Tokenizer(models.WordPiece(vocab, unk_token=unk))
    tokenizer.normalizer = normalizers.BertNormalizer(lowercase=True)
    tokenizer.pre_tokenizer = pre_tokenizers.BertPreTokenizer()
    tokenizer.post_processor = post_processor
    tokenizer.decoder = decoders.WordPiece()
    return tokenizer


def make(out, vocab_txt):
    torch.manual_seed(0)
    os.makedirs(out, exist_ok=True)
    with open(vocab_txt, encoding="utf-8") as f:
        vocab = [line.rstrip("\n") for line in f]
    bert_words = wordpiece({w: i for i, w in enumerate(vocab)}, "[UNK]", processors.BertProcessing(("[SEP]", vocab.index("[SEP]")), ("[CLS]", vocab.index("[CLS]"))))
    bert_specials = dict(unk_token="[UNK]", sep_token="[SEP]", pad_token="[PAD]", cls_token="[CLS]", mask_token="[MASK]")
    # MPNet's vocabulary: <s> <pad> </s> <unk> first, then BERT's words, <mask> last; a pair is
    # `<s> A </s></s> B </s>`.
    words = ["<s>", "<pad>", "</s>", "<unk>"] + [w for w in vocab[4:] if w not in ("[CLS]", "[SEP]", "[MASK]", "[PAD]", "[UNK]")] + ["<mask>"]
    pair = processors.TemplateProcessing(single="<s> $A </s>", pair="<s> $A </s> </s> $B </s>", special_tokens=[("<s>", 0), ("</s>", 2)])
    roberta_specials = dict(bos_token="<s>", eos_token="</s>", sep_token="</s>", cls_token="<s>", unk_token="<unk>", pad_token="<pad>", mask_token="<mask>")
    mpnet_tok = transformers.MPNetTokenizer(tokenizer_object=wordpiece({w: i for i, w in enumerate(words)}, "<unk>", pair), **roberta_specials)
    # RoBERTa's byte-level BPE, trained on the cases and a little more text.
    bpe = Tokenizer(models.BPE())
    bpe.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False)
    corpus = [t for case in CASES for t in case if t] * 20 + ["the quick brown fox jumps over the lazy dog"] * 20
    bpe.train_from_iterator(corpus, trainers.BpeTrainer(vocab_size=400, special_tokens=["<s>", "<pad>", "</s>", "<unk>", "<mask>"], initial_alphabet=pre_tokenizers.ByteLevel.alphabet()))
    bpe.post_processor = processors.RobertaProcessing(("</s>", 2), ("<s>", 0))
    bpe.decoder = decoders.ByteLevel()
    roberta_tok = transformers.RobertaTokenizer(tokenizer_object=bpe, **roberta_specials)
    # DeBERTa-v3's SentencePiece unigram model, with the normalizer transformers gives
    # DebertaV2Tokenizer when it loads one (and writes to tokenizer.json when it saves one).
    unigram = Tokenizer(models.Unigram())
    unigram.normalizer = normalizers.Sequence([normalizers.Replace(Regex(r"\s{2,}|[\n\r\t]"), " "), normalizers.NFC(), normalizers.Strip(left=False, right=True)])
    unigram.pre_tokenizer = pre_tokenizers.Metaspace()
    unigram.train_from_iterator(corpus, trainers.UnigramTrainer(vocab_size=400, special_tokens=["[PAD]", "[CLS]", "[SEP]", "[UNK]", "[MASK]"], unk_token="[UNK]"))
    unigram.post_processor = processors.TemplateProcessing(single="[CLS] $A [SEP]", pair="[CLS] $A [SEP] $B:1 [SEP]:1", special_tokens=[("[CLS]", 1), ("[SEP]", 2)])
    unigram.decoder = decoders.Metaspace()
    deberta_tok = transformers.DebertaV2Tokenizer(tokenizer_object=unigram, **bert_specials)
    families = {
        "bert": (transformers.BertConfig(vocab_size=len(vocab), max_position_embeddings=128, **SIZES), transformers.BertTokenizer(tokenizer_object=bert_words, **bert_specials)),
        "roberta": (transformers.RobertaConfig(vocab_size=len(roberta_tok), max_position_embeddings=130, type_vocab_size=1, pad_token_id=1, bos_token_id=0, eos_token_id=2, layer_norm_eps=1e-5, **SIZES), roberta_tok),
        "electra": (
            transformers.ElectraConfig(vocab_size=len(vocab), embedding_size=16, max_position_embeddings=128, **SIZES),
            transformers.ElectraTokenizer(tokenizer_object=bert_words, **bert_specials),
        ),
        "distilbert": (
            transformers.DistilBertConfig(vocab_size=len(vocab), max_position_embeddings=128, dim=32, n_layers=2, n_heads=4, hidden_dim=64, num_labels=2),
            transformers.DistilBertTokenizer(tokenizer_object=bert_words, **bert_specials),
        ),
        "mpnet": (transformers.MPNetConfig(vocab_size=len(mpnet_tok), max_position_embeddings=130, pad_token_id=1, layer_norm_eps=1e-5, **SIZES), mpnet_tok),
        # Eight position buckets, so sequences of 24 tokens reach the logarithmic ones.
        "deberta-v2": (
            transformers.DebertaV2Config(
                vocab_size=len(deberta_tok), max_position_embeddings=128, relative_attention=True, position_buckets=8, norm_rel_ebd="layer_norm",
                share_att_key=True, pos_att_type="p2c|c2p", position_biased_input=False, type_vocab_size=0, layer_norm_eps=1e-7, **SIZES,
            ),
            deberta_tok,
        ),
        # DeBERTa-v2's shape: absolute positions and segments as well, the position terms through
        # their own projections, exact distances, a narrower embedding.
        "deberta-v2-separate": (
            transformers.DebertaV2Config(
                vocab_size=len(deberta_tok), max_position_embeddings=128, relative_attention=True, max_relative_positions=16, share_att_key=False,
                pos_att_type=["c2p", "p2c"], position_biased_input=True, type_vocab_size=2, embedding_size=16, **SIZES,
            ),
            deberta_tok,
        ),
    }
    for family, (config, tokenizer) in families.items():
        torch.manual_seed(0)
        model = transformers.AutoModelForSequenceClassification.from_config(config).eval()
        # Random heads and biases everywhere, so every weight matters to the parity.
        with torch.no_grad():
            for p in model.parameters():
                p.add_(torch.randn_like(p) * 0.05)
        directory = os.path.join(out, family)
        model.save_pretrained(directory)
        tokenizer.save_pretrained(directory)
        torch_dir = directory + "-bin"
        tokenizer.save_pretrained(torch_dir)
        model.config.save_pretrained(torch_dir)
        torch.save(model.state_dict(), os.path.join(torch_dir, "pytorch_model.bin"))
        with open(os.path.join(out, family + ".json"), "w") as f:
            json.dump(computed(directory), f)


def computed(directory):
    tokenizer = transformers.AutoTokenizer.from_pretrained(directory)
    model = transformers.AutoModelForSequenceClassification.from_pretrained(directory).eval()
    texts = [a for a, _ in CASES]
    pairs = [b if b is not None else "" for _, b in CASES]
    ids, logits, hidden = [], [], []
    # Singles and pairs are batched apart (a batch is all one or the other).
    for rows in ([i for i, c in enumerate(CASES) if c[1] is None], [i for i, c in enumerate(CASES) if c[1] is not None]):
        second = [pairs[i] for i in rows] if CASES[rows[0]][1] is not None else None
        encoded = tokenizer([texts[i] for i in rows], second, padding=True, truncation=True, max_length=MAX_LEN, return_tensors="pt")
        # What the family's forward takes (DistilBERT and MPNet have no token types; RoBERTa's
        # tokenizer gives none, its one segment is 0).
        takes = inspect.signature(model.forward).parameters
        if getattr(model.config, "type_vocab_size", 2) < 2:
            encoded.pop("token_type_ids", None)
        with torch.no_grad():
            out = model(**{k: v for k, v in encoded.items() if k in takes}, output_hidden_states=True)
        for k, row in enumerate(rows):
            n = int(encoded["attention_mask"][k].sum())
            ids.append((row, encoded["input_ids"][k][:n].tolist()))
            logits.append((row, out.logits[k].tolist()))
            hidden.append((row, [h[k][:n].tolist() for h in out.hidden_states]))
    order = lambda pairs: [v for _, v in sorted(pairs, key=lambda p: p[0])]
    return {"cases": CASES, "max_len": MAX_LEN, "ids": order(ids), "logits": order(logits), "hidden": order(hidden)}


if __name__ == "__main__":
    if sys.argv[1] == "make":
        make(sys.argv[2], sys.argv[3])
    else:
        print(json.dumps(computed(sys.argv[2])))
