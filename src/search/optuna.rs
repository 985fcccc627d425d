//! A point as Optuna's parameters, and back: the [`ParamCodec`] the PostgreSQL store writes and
//! reads trials with, so that Optuna, its analysis and optuna-dashboard read our studies and we
//! read the trials those clients write into them.
//!
//! Each active dimension is one parameter named by its pipeline field, with a distribution
//! Optuna accepts (`optuna/distributions.py`). Optuna takes only None, bool, int, float and str
//! as categorical choices, so a choice that is a list (an augmentation chain such as
//! `["random", "contextual"]`) is written as its JSON text, and the values of an integer field
//! (`augment.repeated_aug`) as integers. A categorical or ordered parameter's stored value is
//! the choice's index, as Optuna stores it.

use serde_json::{Value, json};
use std::collections::HashMap;
use std::sync::{Arc, Mutex};

use super::space::is_integer_field;
use super::{Domain, Point, Space};
use crate::error::Result;
use crate::store::optuna::{Decoded, Param, ParamCodec, external};
use crate::store::{StudyRecord, TrialRecord};

/// The codec of every study: each study's space parsed once, from the text its record holds.
#[derive(Default)]
pub struct OptunaParams {
    spaces: Mutex<HashMap<String, Space>>,
}

impl OptunaParams {
    /// A codec to open stores with.
    pub fn shared() -> Arc<dyn ParamCodec> {
        Arc::new(Self::default())
    }

    fn space(&self, study: &StudyRecord) -> Result<Space> {
        let mut spaces = self.spaces.lock().unwrap_or_else(|e| e.into_inner());
        if let Some(space) = spaces.get(&study.space) {
            return Ok(space.clone());
        }
        let space = Space::parse(&study.space, &format!("study `{}`'s space", study.name))?;
        spaces.insert(study.space.clone(), space.clone());
        Ok(space)
    }
}

impl ParamCodec for OptunaParams {
    fn encode(&self, study: &StudyRecord, trial: &TrialRecord) -> Result<Vec<Param>> {
        Ok(encode(&self.space(study)?, &trial.point))
    }

    fn decode(&self, study: &StudyRecord, params: &[Param]) -> Result<Decoded> {
        let space = self.space(study)?;
        Ok(decode(&space, params).and_then(|point| space.compose_unchecked(&point).map(|pipeline| (point, pipeline)).map_err(|e| e.to_string())))
    }
}

/// A choice as Optuna may hold it: a scalar stays, anything else becomes its JSON text.
fn choice(value: &Value) -> Value {
    match value {
        Value::Array(_) | Value::Object(_) => Value::String(value.to_string()),
        scalar => scalar.clone(),
    }
}

/// The dimension's distribution, in Optuna's JSON form.
fn distribution(field: &str, domain: &Domain) -> Value {
    match domain {
        Domain::Categorical(choices) => json!({"name": "CategoricalDistribution", "attributes": {"choices": choices.iter().map(choice).collect::<Vec<_>>()}}),
        Domain::Ordered(values) => {
            let integers = is_integer_field(field);
            let choices: Vec<Value> = values.iter().map(|v| if integers && v.fract() == 0.0 { json!(*v as i64) } else { json!(v) }).collect();
            json!({"name": "CategoricalDistribution", "attributes": {"choices": choices}})
        }
        Domain::Float { low, high, log } => json!({"name": "FloatDistribution", "attributes": {"low": low, "high": high, "log": log, "step": null}}),
        Domain::Int { low, high } => json!({"name": "IntDistribution", "attributes": {"low": low, "high": high, "log": false, "step": 1}}),
    }
}

/// The parameters of a point: one for each dimension with a value in its domain.
pub fn encode(space: &Space, point: &Point) -> Vec<Param> {
    let mut params = Vec::new();
    for (dim, value) in space.dims.iter().zip(point) {
        let Some(value) = value else { continue };
        let internal = match &dim.domain {
            Domain::Categorical(choices) => choices.iter().position(|c| c == value).map(|i| i as f64),
            Domain::Ordered(values) => value.as_f64().and_then(|v| values.iter().position(|x| *x == v)).map(|i| i as f64),
            Domain::Float { .. } | Domain::Int { .. } => value.as_f64(),
        };
        if let Some(internal) = internal {
            params.push(Param { name: dim.field.clone(), internal, distribution: distribution(&dim.field, &dim.domain) });
        }
    }
    params
}

/// The point a trial's parameters make in `space`, or why they make none: every active
/// dimension must be given a value of its domain, and any other parameter must name a pipeline
/// field with the value the space gives it.
pub fn decode(space: &Space, params: &[Param]) -> std::result::Result<Point, String> {
    let mut given = Vec::with_capacity(params.len());
    for param in params {
        let mut value = external(param)?;
        // A list-valued choice comes back as the JSON text it was written as.
        let lists = space.dims.iter().any(|d| d.field == param.name && matches!(&d.domain, Domain::Categorical(c) if c.iter().any(|c| c.is_array() || c.is_object())));
        if let (true, Some(text)) = (lists, value.as_str()) {
            value = serde_json::from_str(text).map_err(|_| format!("`{}`: {text:?} is not one of the space's choices", param.name))?;
        }
        given.push((param.name.clone(), value));
    }
    let point = space.point_of(&given).map_err(|(field, message)| format!("`{field}`: {message}"))?;
    match space.dims.iter().zip(&point).find(|(dim, value)| value.is_some() && !given.iter().any(|(f, _)| *f == dim.field)) {
        Some((dim, _)) => Err(format!("no value for `{}`", dim.field)),
        None => Ok(point),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn paper() -> Space {
        Space::builtin_paper()
    }

    fn given(fields: &[(&str, Value)]) -> Vec<(String, Value)> {
        fields.iter().map(|(f, v)| (f.to_string(), v.clone())).collect()
    }

    #[test]
    fn every_choice_is_one_optuna_accepts() {
        let space = paper();
        let point =
            space.point_of(&given(&[("intermediate.objective", json!("mi")), ("augment.chain", json!(["random", "contextual"])), ("augment.repeated_aug", json!(4))])).unwrap();
        for param in encode(&space, &point) {
            for c in param.distribution["attributes"]["choices"].as_array().into_iter().flatten() {
                assert!(!c.is_array() && !c.is_object(), "{}: {c}", param.name);
            }
        }
        let chain = encode(&space, &point).into_iter().find(|p| p.name == "augment.chain").unwrap();
        assert_eq!(external(&chain).unwrap(), json!(r#"["random","contextual"]"#));
        let repeated = encode(&space, &point).into_iter().find(|p| p.name == "augment.repeated_aug").unwrap();
        assert_eq!(repeated.distribution["attributes"]["choices"], json!([1, 4]), "an integer field's values are integers");
        assert_eq!(external(&repeated).unwrap(), json!(4));
    }

    #[test]
    fn parameters_decode_into_the_point_they_encode() {
        let space = paper();
        for point in space.grid().step_by(97) {
            assert_eq!(decode(&space, &encode(&space, &point)), Ok(point));
        }
    }

    #[test]
    fn parameters_outside_the_space_say_why() {
        let space = paper();
        let point = space.grid().next().unwrap();
        let mut params = encode(&space, &point);
        params.retain(|p| p.name != "kd.loss");
        assert_eq!(decode(&space, &params), Err("no value for `kd.loss`".into()));
        params.push(Param { name: "x".into(), internal: 0.5, distribution: json!({"name": "FloatDistribution", "attributes": {"low": 0.0, "high": 1.0}}) });
        assert!(decode(&space, &params).unwrap_err().contains("`x`: not a pipeline field"));
        let bad = Param { name: "kd.loss".into(), internal: 0.0, distribution: json!({"name": "CategoricalDistribution", "attributes": {"choices": ["kl"]}}) };
        assert!(decode(&space, &[bad]).unwrap_err().starts_with("`kd.loss`"));
        let out_of_range = Param { name: "kd.loss".into(), internal: 3.0, distribution: json!({"name": "CategoricalDistribution", "attributes": {"choices": ["ce"]}}) };
        assert!(external(&out_of_range).unwrap_err().contains("index 3"));
    }
}
