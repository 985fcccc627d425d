//! Search spaces (`search-spaces/*.toml`): the dimensions a search explores, each bound to a
//! [`Pipeline`] field, with conditions, plus fixed values. The composer turns a point of the space
//! into a valid `Pipeline` or says why it cannot.
//!
//! ```toml
//! name = "example"
//!
//! [fixed]                       # pipeline fields every trial shares
//! "student.layers" = 4
//! "train.train_subset" = 2000
//!
//! [[dim]]
//! field = "kd.loss"             # a Pipeline field, dotted
//! choices = ["ce", "mse"]       # categorical
//!
//! [[dim]]
//! field = "train.lr"
//! range = [1e-5, 1e-3]          # float range ...
//! log = true                    # ... searched on a log scale
//!
//! [[dim]]
//! field = "train.epochs"
//! int_range = [1, 3]            # integer range, inclusive
//!
//! [[dim]]
//! field = "intermediate.alpha"
//! values = [0.5, 0.9, 0.99]     # ordered numeric values
//! when = { "intermediate.objective" = ["mi"] }   # only meaningful for these values
//! ```

use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;
use std::path::Path;

use crate::error::{Error, Result};
use crate::pipeline::Pipeline;

/// Largest space enumerated point by point (the BO pool, the recommender's candidates).
pub const POOL_LIMIT: usize = 50_000;

/// One searchable dimension, as written in the file.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct DimSpec {
    pub field: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub choices: Option<Vec<toml::Value>>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub range: Option<[f64; 2]>,
    #[serde(default)]
    pub log: bool,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub int_range: Option<[i64; 2]>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub values: Option<Vec<f64>>,
    /// Active only when every listed field (another dimension or a fixed field) takes one of the
    /// listed values.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub when: BTreeMap<String, Vec<toml::Value>>,
}

/// The kind of a dimension, checked at load time.
#[derive(Debug, Clone, PartialEq)]
pub enum Domain {
    Categorical(Vec<serde_json::Value>),
    Float { low: f64, high: f64, log: bool },
    Int { low: i64, high: i64 },
    Ordered(Vec<f64>),
}

impl Domain {
    /// How many values [`Domain::grid_values`] has, without making them.
    pub fn grid_len(&self) -> u64 {
        match self {
            Domain::Categorical(c) => c.len() as u64,
            Domain::Ordered(v) => v.len() as u64,
            Domain::Int { low, high } => high.abs_diff(*low).saturating_add(1),
            Domain::Float { .. } => 3,
        }
    }

    /// The values a grid takes: every categorical, ordered and integer value; float ranges at
    /// their two ends and middle (geometric middle for log ranges).
    pub fn grid_values(&self) -> Vec<serde_json::Value> {
        use serde_json::json;
        match self {
            Domain::Categorical(c) => c.clone(),
            Domain::Ordered(v) => v.iter().map(|x| json!(x)).collect(),
            Domain::Int { low, high } => (*low..=*high).map(|x| json!(x)).collect(),
            Domain::Float { low, high, log } => {
                let mid = if *log { (low * high).sqrt() } else { (low + high) / 2.0 };
                vec![json!(low), json!(mid), json!(high)]
            }
        }
    }
}

impl Domain {
    /// `value` as this domain holds it (a numeric value matched to the nearest listed value within
    /// rounding), or `None` when the domain does not contain it.
    fn canonical(&self, value: &serde_json::Value) -> Option<serde_json::Value> {
        use serde_json::json;
        let close = |a: f64, b: f64| (a - b).abs() <= 1e-9 * a.abs().max(b.abs()).max(1e-12);
        match self {
            Domain::Categorical(choices) => choices.iter().find(|c| *c == value || c.as_f64().zip(value.as_f64()).is_some_and(|(a, b)| close(a, b))).cloned(),
            Domain::Ordered(values) => value.as_f64().and_then(|x| values.iter().find(|v| close(**v, x))).map(|v| json!(v)),
            Domain::Int { low, high } => value.as_f64().filter(|x| x.fract() == 0.0 && (*low as f64..=*high as f64).contains(x)).map(|x| json!(x as i64)),
            Domain::Float { low, high, .. } => value.as_f64().filter(|x| (*low..=*high).contains(x)).map(|x| json!(x)),
        }
    }

    /// The domain in a few words, for error messages.
    fn describe(&self) -> String {
        let list = |v: Vec<String>| v.join(", ");
        match self {
            Domain::Categorical(choices) => format!("one of {}", list(choices.iter().map(|c| c.to_string()).collect())),
            Domain::Ordered(values) => format!("one of {}", list(values.iter().map(|v| v.to_string()).collect())),
            Domain::Int { low, high } => format!("an integer in [{low}, {high}]"),
            Domain::Float { low, high, .. } => format!("a number in [{low}, {high}]"),
        }
    }
}

/// A validated dimension.
#[derive(Debug, Clone, PartialEq)]
pub struct Dim {
    pub field: String,
    pub domain: Domain,
    pub when: Vec<(String, Vec<serde_json::Value>)>,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
struct SpaceFile {
    name: Option<String>,
    #[serde(default)]
    fixed: BTreeMap<String, toml::Value>,
    #[serde(default)]
    dim: Vec<DimSpec>,
    fidelity: Option<FidelitySpec>,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
struct FidelitySpec {
    field: String,
    rungs: Vec<toml::Value>,
    #[serde(default = "default_eta")]
    eta: usize,
}

fn default_eta() -> usize {
    3
}

/// Successive halving over a budget field (e.g. `train.train_subset`): every new point runs at
/// the first rung; the best 1/eta of each rung are promoted to the next (ASHA-style).
#[derive(Debug, Clone, PartialEq)]
pub struct Fidelity {
    pub field: String,
    pub rungs: Vec<serde_json::Value>,
    pub eta: usize,
}

/// A search space: fixed pipeline fields plus dimensions.
#[derive(Debug, Clone)]
pub struct Space {
    pub name: String,
    pub fixed: Vec<(String, serde_json::Value)>,
    pub dims: Vec<Dim>,
    pub fidelity: Option<Fidelity>,
    /// The file's text, stored with a study so a resumed study can tell if the space changed.
    pub source: String,
    /// When set, the space is exactly these points (e.g. the configurations a table of past runs
    /// holds): samplers choose among them only.
    pub candidates: Option<Vec<Point>>,
}

/// A point: one value per dimension (`None` where the dimension is inactive).
pub type Point = Vec<Option<serde_json::Value>>;

fn to_json(v: &toml::Value) -> serde_json::Value {
    serde_json::to_value(v).expect("toml values convert to json")
}

/// Sets a dotted field of a JSON object, creating sections as needed.
fn set_field(root: &mut serde_json::Value, field: &str, value: serde_json::Value) {
    let mut node = root;
    let parts: Vec<&str> = field.split('.').collect();
    for part in &parts[..parts.len() - 1] {
        node = node.as_object_mut().expect("pipeline sections are objects").entry(part.to_string()).or_insert_with(|| serde_json::json!({}));
    }
    node.as_object_mut().expect("pipeline sections are objects").insert(parts[parts.len() - 1].to_string(), value);
}

fn get_field<'a>(root: &'a serde_json::Value, field: &str) -> Option<&'a serde_json::Value> {
    field.split('.').try_fold(root, |node, part| node.get(part))
}

/// A space value as a pipeline field takes it: `values = [1, 4]` are numbers to the space, an
/// integer field (repeated_aug, epochs) needs them as integers, and a float field accepts either.
fn as_field_value(v: serde_json::Value) -> serde_json::Value {
    match v.as_f64() {
        Some(x) if x.fract() == 0.0 && x.abs() < 1e15 && !v.is_i64() => serde_json::json!(x as i64),
        _ => v,
    }
}

/// Whether a pipeline field holds integers (`augment.repeated_aug`, `student.hidden`): what a
/// client that types its values (Optuna) must be given for it.
pub fn is_integer_field(field: &str) -> bool {
    let takes = |value: serde_json::Value| {
        let mut root = serde_json::to_value(Pipeline::default()).expect("pipeline serialises");
        set_field(&mut root, field, value);
        serde_json::from_value::<Pipeline>(root).is_ok()
    };
    takes(serde_json::json!(1)) && !takes(serde_json::json!(0.5))
}

/// Whether `field` exists in a pipeline (a leaf or an optional leaf).
fn is_pipeline_field(field: &str) -> bool {
    let mut defaults = serde_json::to_value(Pipeline::default()).expect("pipeline serialises");
    match get_field(&defaults, field) {
        Some(v) => !v.is_object(),
        // An optional field left out of the serialised default (`augment.paraphrases`): every
        // section refuses unknown fields, so it is a field if a pipeline accepts it unset.
        None => {
            let Some((section, _)) = field.rsplit_once('.') else { return false };
            if !get_field(&defaults, section).is_some_and(serde_json::Value::is_object) {
                return false;
            }
            set_field(&mut defaults, field, serde_json::Value::Null);
            serde_json::from_value::<Pipeline>(defaults).is_ok()
        }
    }
}

impl Space {
    /// Parses and checks a space file; errors name the file, the line where possible, and the field.
    pub fn from_file(path: &Path) -> Result<Self> {
        let text = crate::data::read_utf8(path)?;
        Self::parse(&text, &path.display().to_string())
    }

    /// The built-in default space (`search-spaces/default.toml`).
    pub fn builtin_default() -> Self {
        Self::parse(super::DEFAULT_SPACE, "built-in default space").expect("the built-in default space parses (tested)")
    }

    /// The paper's space (`search-spaces/paper.toml`), onto which the released trials are imported.
    pub fn builtin_paper() -> Self {
        Self::parse(super::PAPER_SPACE, "search-spaces/paper.toml").expect("the paper space parses (tested)")
    }

    /// Parses a space from TOML text; errors name `origin` (a file name), the line and the field.
    pub fn parse(text: &str, origin: &str) -> Result<Self> {
        Self::parse_text(text).map_err(|(line, message)| Error::Space { origin: origin.to_string(), line, message })
    }

    fn parse_text(text: &str) -> std::result::Result<Self, (usize, String)> {
        let file: SpaceFile = crate::error::from_toml(text)?;
        let line_of = |needle: &str| text.lines().position(|l| l.contains(needle)).map_or(0, |i| i + 1);
        let mut fixed = Vec::new();
        for (field, value) in &file.fixed {
            if !is_pipeline_field(field) {
                return Err((line_of(field), format!("fixed: `{field}` is not a pipeline field")));
            }
            fixed.push((field.clone(), to_json(value)));
        }
        let mut dims = Vec::new();
        for spec in &file.dim {
            let line = line_of(&format!("\"{}\"", spec.field));
            let err = |m: String| (line, format!("dim `{}`: {m}", spec.field));
            if !is_pipeline_field(&spec.field) {
                return Err(err("not a pipeline field".into()));
            }
            if fixed.iter().any(|(f, _)| f == &spec.field) || dims.iter().any(|d: &Dim| d.field == spec.field) {
                return Err(err("declared twice".into()));
            }
            let kinds = [spec.choices.is_some(), spec.range.is_some(), spec.int_range.is_some(), spec.values.is_some()];
            if kinds.iter().filter(|&&k| k).count() != 1 {
                return Err(err("give exactly one of choices, range, int_range, values".into()));
            }
            let domain = if let Some(c) = &spec.choices {
                if c.is_empty() {
                    return Err(err("choices is empty".into()));
                }
                Domain::Categorical(c.iter().map(to_json).collect())
            } else if let Some([low, high]) = spec.range {
                if !(low.is_finite() && high.is_finite() && low < high) || (spec.log && low <= 0.0) {
                    return Err(err(format!("range [{low}, {high}] must be finite, low < high (and > 0 with log)")));
                }
                Domain::Float { low, high, log: spec.log }
            } else if let Some([low, high]) = spec.int_range {
                if low > high {
                    return Err(err(format!("int_range [{low}, {high}] has low > high")));
                }
                Domain::Int { low, high }
            } else {
                let v = spec.values.clone().unwrap_or_default();
                if v.is_empty() || v.windows(2).any(|w| w[0] >= w[1]) {
                    return Err(err("values must be non-empty and strictly increasing".into()));
                }
                Domain::Ordered(v)
            };
            let mut when = Vec::new();
            for (field, values) in &spec.when {
                let known = fixed.iter().any(|(f, _)| f == field) || dims.iter().any(|d: &Dim| &d.field == field);
                if !known {
                    return Err(err(format!("when: `{field}` must be a fixed field or a dimension declared above")));
                }
                when.push((field.clone(), values.iter().map(to_json).collect()));
            }
            dims.push(Dim { field: spec.field.clone(), domain, when });
        }
        let fidelity = match &file.fidelity {
            None => None,
            Some(f) => {
                let line = line_of("[fidelity]");
                if !is_pipeline_field(&f.field) {
                    return Err((line, format!("fidelity: `{}` is not a pipeline field", f.field)));
                }
                if dims.iter().any(|d| d.field == f.field) || fixed.iter().any(|(x, _)| x == &f.field) {
                    return Err((line, format!("fidelity: `{}` is also a dimension or fixed field", f.field)));
                }
                if f.rungs.len() < 2 || f.eta < 2 {
                    return Err((line, "fidelity: give at least two rungs and eta >= 2".into()));
                }
                Some(Fidelity { field: f.field.clone(), rungs: f.rungs.iter().map(to_json).collect(), eta: f.eta })
            }
        };
        let space = Space { name: file.name.unwrap_or_else(|| "space".into()), fixed, dims, fidelity, source: text.to_string(), candidates: None };
        // Every fixed value and every dimension value must be a valid value of its field: the
        // right type always, and in range for numbers (a number's range does not depend on the
        // other fields; a choice such as `feature = "attention"` may need another field's value).
        // The fixed fields are set first: a value may only be valid beside them (a random
        // student's heads).
        let mut base = serde_json::to_value(Pipeline::default()).expect("pipeline serialises");
        for (field, value) in &space.fixed {
            set_field(&mut base, field, as_field_value(value.clone()));
        }
        let check = |field: &str, value: &serde_json::Value| -> std::result::Result<(), String> {
            let mut root = base.clone();
            set_field(&mut root, field, value.clone());
            let pipeline: Pipeline = serde_json::from_value(root).map_err(|e| e.to_string())?;
            match pipeline.validate() {
                Err(Error::Pipeline { field: named, message }) if value.is_number() && (named == field || field.starts_with(&format!("{named}."))) => Err(message),
                _ => Ok(()),
            }
        };
        for (field, value) in &space.fixed {
            check(field, value).map_err(|m| (line_of(field), format!("fixed `{field}` = {value}: {m}")))?;
        }
        for dim in &space.dims {
            let values = match &dim.domain {
                Domain::Categorical(values) => values.clone(),
                Domain::Ordered(values) => values.iter().map(|v| serde_json::json!(v)).collect(),
                Domain::Int { low, high } => vec![serde_json::json!(low), serde_json::json!(high)],
                Domain::Float { low, high, .. } => vec![serde_json::json!(low), serde_json::json!(high)],
            };
            for v in values.into_iter().map(as_field_value) {
                check(&dim.field, &v).map_err(|m| (line_of(&format!("\"{}\"", dim.field)), format!("dim `{}`: value {v} is invalid: {m}", dim.field)))?;
            }
        }
        space.check_student_shapes().map_err(|m| (line_of("student.heads"), m))?;
        Ok(space)
    }

    /// Every value `field` takes in the space: its fixed value, or its dimension's values (an
    /// integer range when it has at most 4,096; none for a float range).
    pub fn values_of(&self, field: &str) -> Vec<serde_json::Value> {
        if let Some((_, value)) = self.fixed.iter().find(|(f, _)| f == field) {
            return vec![value.clone()];
        }
        let dim = self.dims.iter().find(|d| d.field == field);
        let values = match dim.map(|d| &d.domain) {
            Some(Domain::Categorical(values)) => values.clone(),
            Some(Domain::Ordered(values)) => values.iter().map(|v| serde_json::json!(v)).collect(),
            Some(Domain::Int { low, high }) if high.abs_diff(*low) < 4096 => (*low..=*high).map(|v| serde_json::json!(v)).collect(),
            _ => Vec::new(),
        };
        values.into_iter().map(as_field_value).collect()
    }

    /// Refuses a student width that some head count the space can pair it with does not divide.
    fn check_student_shapes(&self) -> std::result::Result<(), String> {
        let heads_dim = self.dims.iter().find(|d| d.field == "student.heads");
        let allowed_with = |hidden: &serde_json::Value| heads_dim.is_none_or(|d| d.when.iter().all(|(f, allowed)| f != "student.hidden" || allowed.contains(hidden)));
        for hidden in self.values_of("student.hidden") {
            for heads in self.values_of("student.heads").into_iter().filter(|_| allowed_with(&hidden)) {
                if let (Some(h), Some(k)) = (hidden.as_u64(), heads.as_u64())
                    && k > 0
                    && h % k != 0
                {
                    return Err(format!("student.heads = {k} does not divide student.hidden = {h} (give heads a `when` on student.hidden, or widths every head count divides)"));
                }
            }
        }
        Ok(())
    }

    /// Whether dimension `i` is active given the values chosen so far.
    pub fn is_active(&self, i: usize, point: &Point) -> bool {
        self.dims[i].when.iter().all(|(field, allowed)| {
            let value = self
                .dims
                .iter()
                .position(|d| &d.field == field)
                .and_then(|j| point.get(j).cloned().flatten())
                .or_else(|| self.fixed.iter().find(|(f, _)| f == field).map(|(_, v)| v.clone()));
            value.is_some_and(|v| allowed.contains(&v))
        })
    }

    /// Every point of a finite space: the candidates when given, else all valid grid points when
    /// no dimension is a float range and the grid has at most `limit` combinations. Grid order.
    pub fn finite_points(&self, limit: usize) -> Option<Vec<Point>> {
        if let Some(candidates) = &self.candidates {
            let mut sorted = candidates.clone();
            sorted.sort_by_cached_key(|p| self.grid_rank(p));
            return Some(sorted);
        }
        if self.dims.iter().any(|d| matches!(d.domain, Domain::Float { .. })) {
            return None;
        }
        self.grid_size().filter(|&n| n <= limit as u64)?;
        let mut seen = std::collections::HashSet::new();
        Some(self.grid().filter(|p| seen.insert(serde_json::to_string(p).expect("points serialise"))).collect())
    }

    /// Number of grid combinations (before invalid ones are dropped); `None` when it overflows.
    pub fn grid_size(&self) -> Option<u64> {
        self.dims.iter().try_fold(1u64, |n, d| n.checked_mul(d.domain.grid_len()))
    }

    /// Valid grid points in order, lazily (a point may repeat once inactive dimensions are
    /// cleared); float ranges contribute their [`Domain::grid_values`].
    pub fn grid(&self) -> impl Iterator<Item = Point> + '_ {
        let axes: Vec<Vec<serde_json::Value>> = self.dims.iter().map(|d| d.domain.grid_values()).collect();
        let total: usize = axes.iter().map(Vec::len).product();
        (0..total).filter_map(move |mut k| {
            let mut point = Vec::with_capacity(axes.len());
            for axis in axes.iter().rev() {
                point.push(Some(axis[k % axis.len()].clone()));
                k /= axis.len();
            }
            point.reverse();
            let point = self.normalise(point);
            self.compose(&point).is_ok().then_some(point)
        })
    }

    /// A point's position in grid order: each dimension's value index (inactive first).
    fn grid_rank(&self, point: &Point) -> Vec<usize> {
        self.dims.iter().zip(point).map(|(d, v)| v.as_ref().map_or(0, |v| 1 + d.domain.grid_values().iter().position(|g| g == v).unwrap_or(usize::MAX - 1))).collect()
    }

    /// Clears inactive dimensions (so equal pipelines have equal points).
    pub fn normalise(&self, mut point: Point) -> Point {
        for i in 0..self.dims.len() {
            if !self.is_active(i, &point) {
                point[i] = None;
            }
        }
        point
    }

    /// The pipeline of a point at its first rung (the only one without multi-fidelity).
    pub fn compose(&self, point: &Point) -> Result<Pipeline> {
        self.compose_at(point, 0)
    }

    /// Number of fidelity rungs (1 without multi-fidelity).
    pub fn rungs(&self) -> usize {
        self.fidelity.as_ref().map_or(1, |f| f.rungs.len())
    }

    /// Whether `other` searches the same pipelines: the same fixed fields, dimensions and
    /// fidelity (its name, comments and layout may differ).
    pub fn searches_like(&self, other: &Space) -> bool {
        (&self.fixed, &self.dims, &self.fidelity) == (&other.fixed, &other.dims, &other.fidelity)
    }

    /// The pipeline of a point at fidelity rung `rung`: defaults, then fixed fields, then active
    /// dimensions, then the rung's budget; validated.
    pub fn compose_at(&self, point: &Point, rung: usize) -> Result<Pipeline> {
        let pipeline = self.build(point, rung)?;
        pipeline.validate()?;
        Ok(pipeline)
    }

    /// A point's pipeline, not validated (a record of what ran, where validation would ask for
    /// files this machine lacks, such as paraphrases).
    pub fn compose_unchecked(&self, point: &Point) -> Result<Pipeline> {
        self.build(point, 0)
    }

    /// What every pipeline of the space shares before its dimensions are set: the defaults and
    /// fixed values (the student, for one).
    pub fn base_pipeline(&self) -> Result<Pipeline> {
        self.build(&vec![None; self.dims.len()], 0)
    }

    fn build(&self, point: &Point, rung: usize) -> Result<Pipeline> {
        serde_json::from_value(self.compose_fields(point, rung)).map_err(|e| Error::Space {
            origin: format!("space `{}`", self.name),
            line: 0,
            message: format!("a point composes no pipeline: {e}"),
        })
    }

    /// A point's pipeline as JSON fields, not yet validated.
    fn compose_fields(&self, point: &Point, rung: usize) -> serde_json::Value {
        let mut root = serde_json::to_value(Pipeline::default()).expect("pipeline serialises");
        if let Some(f) = &self.fidelity {
            set_field(&mut root, &f.field, f.rungs[rung.min(f.rungs.len() - 1)].clone());
        }
        for (field, value) in &self.fixed {
            set_field(&mut root, field, value.clone());
        }
        for (i, dim) in self.dims.iter().enumerate() {
            if let Some(v) = point.get(i).cloned().flatten().filter(|_| self.is_active(i, point)) {
                set_field(&mut root, &dim.field, as_field_value(v));
            }
        }
        root
    }

    /// The point whose pipeline has the `given` field values (dotted pipeline fields): each active
    /// dimension takes its given value, or the pipeline default when not given, which must be one
    /// of the dimension's values; every other given field must be what the space makes it (a fixed
    /// value or the default); a value given for an inactive dimension is ignored. The pipeline is not validated (a back-translation chain without paraphrases still
    /// has its point). Errors are (field, what is wrong).
    pub fn point_of(&self, given: &[(String, serde_json::Value)]) -> std::result::Result<Point, (String, String)> {
        if let Some((field, _)) = given.iter().find(|(f, _)| !is_pipeline_field(f)) {
            return Err((field.clone(), "not a pipeline field".into()));
        }
        let defaults = serde_json::to_value(Pipeline::default()).expect("pipeline serialises");
        let value_of = |field: &str| given.iter().find(|(f, _)| f == field).map(|(_, v)| v).or_else(|| get_field(&defaults, field));
        let raw: Vec<Option<&serde_json::Value>> = self.dims.iter().map(|d| value_of(&d.field)).collect();
        let point = self.normalise(self.dims.iter().zip(&raw).map(|(d, v)| v.and_then(|v| d.domain.canonical(v))).collect());
        for (i, dim) in self.dims.iter().enumerate() {
            if !self.is_active(i, &point) || point[i].is_some() {
                continue;
            }
            let message = match (raw[i], given.iter().any(|(f, _)| *f == dim.field)) {
                (Some(v), true) => format!("{v} is not a value of the space ({})", dim.domain.describe()),
                _ => format!("missing, and its default is not a value of the space ({})", dim.domain.describe()),
            };
            return Err((dim.field.clone(), message));
        }
        let composed = self.compose_fields(&point, 0);
        for (field, value) in given {
            if self.dims.iter().any(|d| &d.field == field) {
                continue;
            }
            let made = get_field(&composed, field).cloned().unwrap_or(serde_json::Value::Null);
            // Relative to single precision: some pipeline fields are f32, so the value a pipeline
            // record was written with (0.1) and the one the space composes (0.10000000149…) differ.
            let same = match (value.as_f64(), made.as_f64()) {
                (Some(a), Some(b)) => (a - b).abs() <= 1e-6 * a.abs().max(b.abs()),
                _ => *value == made,
            };
            if !same {
                return Err((field.clone(), format!("{value}, but the space makes it {made}")));
            }
        }
        Ok(point)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const SPACE: &str = r#"
name = "t"
[fixed]
"student.layers" = 2
[[dim]]
field = "intermediate.objective"
choices = ["none", "mi", "cos"]
[[dim]]
field = "intermediate.alpha"
values = [0.5, 0.9]
when = { "intermediate.objective" = ["mi"] }
[[dim]]
field = "train.lr"
range = [1e-5, 1e-3]
log = true
"#;

    #[test]
    fn composes_with_conditions() {
        let space = Space::parse(SPACE, "t").unwrap();
        let point = vec![Some(serde_json::json!("cos")), Some(serde_json::json!(0.5)), Some(serde_json::json!(1e-4))];
        let p = space.compose(&point).unwrap();
        assert_eq!(p.student.layers, 2);
        assert_eq!(p.intermediate.alpha, Pipeline::default().intermediate.alpha); // inactive
        assert_eq!(space.normalise(point)[1], None);
        let mi = vec![Some(serde_json::json!("mi")), Some(serde_json::json!(0.5)), Some(serde_json::json!(1e-4))];
        assert_eq!(space.compose(&mi).unwrap().intermediate.alpha, 0.5);
    }

    #[test]
    fn optional_fields_can_be_fixed() {
        // The paper space's advice: name a paraphrase file and back-translation chains compose.
        let with = crate::search::PAPER_SPACE.replace("[fixed]\n", "[fixed]\n\"augment.paraphrases\" = \"p.tsv\"\n");
        let space = Space::parse(&with, "t").unwrap();
        let fields = [("intermediate.objective".to_string(), serde_json::json!("cos")), ("augment.chain".to_string(), serde_json::json!(["back_translation"]))];
        let point = space.point_of(&fields).unwrap();
        assert_eq!(space.compose(&point).unwrap().augment.paraphrases, Some("p.tsv".into()));
        let without = Space::builtin_paper();
        assert!(without.compose(&without.point_of(&fields).unwrap()).is_err(), "no paraphrases, no back-translation");
        assert!(Space::parse_text("[fixed]\n\"augment.paraphrase\" = \"p.tsv\"\n").is_err());
    }

    #[test]
    fn bad_spaces_name_line_and_field() {
        let err = |t: &str| Space::parse_text(t).unwrap_err();
        let (line, m) = err("[[dim]]\nfield = \"kd.nonsense\"\nchoices = [1]\n");
        assert_eq!(line, 2);
        assert!(m.contains("kd.nonsense") && m.contains("not a pipeline field"), "{m}");
        let (_, m) = err("[[dim]]\nfield = \"kd.loss\"\nchoices = [\"ce\", \"kl\"]\n");
        assert!(m.contains("kd.loss") && m.contains("\"kl\""), "{m}");
        let (_, m) = err("[[dim]]\nfield = \"train.lr\"\nrange = [0.0, 1.0]\nlog = true\n");
        assert!(m.contains("train.lr"), "{m}");
        let (_, m) = err("[[dim]]\nfield = \"train.lr\"\nrange = [0.1, 1.0]\nchoices = [0.1]\n");
        assert!(m.contains("exactly one"), "{m}");
        let (_, m) = err("[[dim]]\nfield = \"intermediate.alpha\"\nvalues = [0.5]\nwhen = { \"intermediate.objective\" = [\"mi\"] }\n");
        assert!(m.contains("when"), "{m}");
        let (line, m) = err("[[dim]]\nfield = \"train.lr\"\nrange = [0.1, 1.0]\nlgo = true\n");
        assert!(line > 0 && m.contains("lgo"), "{line}: {m}");
    }
}
