//! Shared studies in PostgreSQL, in Optuna's relational schema (version 12), so many workers can
//! join one study and `optuna.load_study(study_name=S, storage=URL)` (or optuna-dashboard) reads
//! it. Tables follow `optuna/storages/_rdb/models.py`; the schema is created when the database
//! has none and refused when it has another version.
//!
//! What goes where: a study row with its direction (MAXIMIZE) and our whole [`StudyRecord`] as
//! the system attribute `distiller:study`; a trial row (number = our id, state, start and end)
//! with its score in `trial_values`, its epochs in `trial_intermediate_values`, its point as
//! Optuna parameters (each dimension that is active, with its distribution) and our whole
//! [`TrialRecord`] as the system attribute `distiller:trial`, which is what we read back.
//!
//! Workers: a new trial is added (or a WAITING one claimed) in one transaction that locks the
//! study's row ([`Storage::add_trial`]); a running trial's worker beats `trial_heartbeats`, and a
//! trial whose beat is older than the grace by the database's clock is stale
//! ([`Storage::fail_stale_trials`]): it is failed, and its pipeline queued as a WAITING trial, in
//! one transaction. A lost connection is retried with backoff for [`RECONNECT_FOR`], then reported.
//!
//! Reads are incremental: a finished trial never changes, so each study's trials are cached and a
//! read fetches only the trials added since and those last seen RUNNING or WAITING.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use postgres::{Client, NoTls, Transaction};

use super::optuna::{self, Param, ParamCodec};
use super::{ForeignTrial, NextTrial, Storage, StudyRecord, TrialRecord, TrialState};
use crate::error::{Error, Result};

/// Optuna's schema version and the alembic revision that goes with it.
const SCHEMA_VERSION: i32 = 12;
const ALEMBIC_REVISION: &str = "v3.2.0.a";

/// System-attribute keys holding our records.
const STUDY_KEY: &str = "distiller:study";
const TRIAL_KEY: &str = "distiller:trial";
/// A study system attribute saying its parameters are written as today's [`ParamCodec`] writes
/// them (older releases wrote list-valued choices Optuna cannot read; [`PostgresStorage::open`]
/// rewrites them).
const ENCODING_KEY: &str = "distiller:params_encoding";
const ENCODING: &str = "2";

/// How long a worker keeps reconnecting to a database it lost before giving up.
pub const RECONNECT_FOR: Duration = Duration::from_secs(60);

/// The tables of Optuna's schema version 12 (types, keys and indexes as Optuna creates them).
const SCHEMA: &str = "
CREATE TYPE studydirection AS ENUM ('NOT_SET', 'MINIMIZE', 'MAXIMIZE');
CREATE TYPE trialstate AS ENUM ('RUNNING', 'COMPLETE', 'PRUNED', 'FAIL', 'WAITING');
CREATE TYPE trialvaluetype AS ENUM ('FINITE', 'INF_POS', 'INF_NEG');
CREATE TYPE trialintermediatevaluetype AS ENUM ('FINITE', 'INF_POS', 'INF_NEG', 'NAN');
CREATE TABLE studies (
    study_id SERIAL PRIMARY KEY,
    study_name VARCHAR(512) NOT NULL
);
CREATE UNIQUE INDEX ix_studies_study_name ON studies (study_name);
CREATE TABLE study_directions (
    study_direction_id SERIAL PRIMARY KEY,
    direction studydirection NOT NULL,
    study_id INTEGER NOT NULL REFERENCES studies (study_id),
    objective INTEGER NOT NULL,
    UNIQUE (study_id, objective)
);
CREATE TABLE study_user_attributes (
    study_user_attribute_id SERIAL PRIMARY KEY,
    study_id INTEGER REFERENCES studies (study_id),
    key VARCHAR(512),
    value_json TEXT,
    UNIQUE (study_id, key)
);
CREATE TABLE study_system_attributes (
    study_system_attribute_id SERIAL PRIMARY KEY,
    study_id INTEGER REFERENCES studies (study_id),
    key VARCHAR(512),
    value_json TEXT,
    UNIQUE (study_id, key)
);
CREATE TABLE trials (
    trial_id SERIAL PRIMARY KEY,
    number INTEGER,
    study_id INTEGER REFERENCES studies (study_id),
    state trialstate NOT NULL,
    datetime_start TIMESTAMP,
    datetime_complete TIMESTAMP
);
CREATE INDEX ix_trials_study_id ON trials (study_id);
CREATE TABLE trial_user_attributes (
    trial_user_attribute_id SERIAL PRIMARY KEY,
    trial_id INTEGER REFERENCES trials (trial_id),
    key VARCHAR(512),
    value_json TEXT,
    UNIQUE (trial_id, key)
);
CREATE TABLE trial_system_attributes (
    trial_system_attribute_id SERIAL PRIMARY KEY,
    trial_id INTEGER REFERENCES trials (trial_id),
    key VARCHAR(512),
    value_json TEXT,
    UNIQUE (trial_id, key)
);
CREATE TABLE trial_params (
    param_id SERIAL PRIMARY KEY,
    trial_id INTEGER REFERENCES trials (trial_id),
    param_name VARCHAR(512),
    param_value DOUBLE PRECISION,
    distribution_json TEXT,
    UNIQUE (trial_id, param_name)
);
CREATE TABLE trial_values (
    trial_value_id SERIAL PRIMARY KEY,
    trial_id INTEGER NOT NULL REFERENCES trials (trial_id),
    objective INTEGER NOT NULL,
    value DOUBLE PRECISION,
    value_type trialvaluetype NOT NULL,
    UNIQUE (trial_id, objective)
);
CREATE TABLE trial_intermediate_values (
    trial_intermediate_value_id SERIAL PRIMARY KEY,
    trial_id INTEGER NOT NULL REFERENCES trials (trial_id),
    step INTEGER NOT NULL,
    intermediate_value DOUBLE PRECISION,
    intermediate_value_type trialintermediatevaluetype NOT NULL,
    UNIQUE (trial_id, step)
);
CREATE TABLE trial_heartbeats (
    trial_heartbeat_id SERIAL PRIMARY KEY,
    trial_id INTEGER NOT NULL REFERENCES trials (trial_id),
    heartbeat TIMESTAMP NOT NULL DEFAULT LOCALTIMESTAMP,
    UNIQUE (trial_id)
);
CREATE TABLE version_info (
    version_info_id INTEGER PRIMARY KEY CHECK (version_info_id = 1),
    schema_version INTEGER,
    library_version VARCHAR(256)
);
CREATE TABLE alembic_version (
    version_num VARCHAR(32) NOT NULL PRIMARY KEY
);
";

/// Indexes of our own, beside Optuna's (which its tools ignore): a worker finds a trial by its
/// study and number, and the stale ones by their state, without scanning the study.
const INDEXES: &str = "
CREATE INDEX IF NOT EXISTS distiller_trials_study_number ON trials (study_id, number);
CREATE INDEX IF NOT EXISTS distiller_trials_study_state ON trials (study_id, state);
";

/// A study store in a PostgreSQL database.
pub struct PostgresStorage {
    url: DatabaseUrl,
    client: Mutex<Client>,
    /// What a trial's parameters are (the search's knowledge of each study's space).
    params: Arc<dyn ParamCodec>,
    /// The trials read so far, by study row id.
    cache: Mutex<HashMap<i32, Known>>,
}

/// What has been read of a study's trials, each list in id order: distiller's trials (and those
/// other clients wrote that are pipelines of the space), and the other clients' trials that are not.
#[derive(Default)]
struct Known {
    trials: Vec<TrialRecord>,
    foreign: Vec<ForeignTrial>,
}

impl Known {
    /// The highest trial number read.
    fn last(&self) -> i32 {
        let trials = self.trials.last().map(|t| t.id);
        let foreign = self.foreign.last().map(|t| t.id);
        trials.max(foreign).map_or(-1, number)
    }

    /// The numbers of the trials that may still change.
    fn open(&self) -> Vec<i32> {
        let open = |state: TrialState| matches!(state, TrialState::Running | TrialState::Waiting);
        let trials = self.trials.iter().filter(|t| open(t.state)).map(|t| t.id);
        let foreign = self.foreign.iter().filter(|t| open(t.state)).map(|t| t.id);
        trials.chain(foreign).map(number).collect()
    }

    /// Adds or replaces a trial read from the database (one another client wrote may turn from
    /// foreign into a pipeline of the space once its parameters are all set).
    fn put(&mut self, trial: std::result::Result<TrialRecord, ForeignTrial>) {
        let id = match &trial {
            Ok(t) => t.id,
            Err(t) => t.id,
        };
        self.trials.retain(|t| t.id != id);
        self.foreign.retain(|t| t.id != id);
        match trial {
            Ok(t) => {
                let at = self.trials.partition_point(|x| x.id < id);
                self.trials.insert(at, t);
            }
            Err(t) => {
                let at = self.foreign.partition_point(|x| x.id < id);
                self.foreign.insert(at, t);
            }
        }
    }
}

/// A PostgreSQL database's address, parsed once: the URL as given and the driver's settings.
#[derive(Clone)]
pub struct DatabaseUrl {
    text: String,
    config: Box<postgres::Config>,
}

impl DatabaseUrl {
    /// Parses `postgresql://user@host:port/db` (or `postgres://…`); the error says why not.
    pub fn parse(text: &str) -> std::result::Result<Self, String> {
        if !(text.starts_with("postgresql://") || text.starts_with("postgres://")) {
            return Err("not a postgresql:// URL".into());
        }
        let config = text.parse::<postgres::Config>().map_err(|e| format!("not a PostgreSQL URL: {e}"))?;
        Ok(Self { text: text.to_string(), config: Box::new(config) })
    }

    /// The URL with any password replaced, for messages.
    pub fn redacted(&self) -> String {
        redacted(&self.text)
    }
}

impl PartialEq for DatabaseUrl {
    fn eq(&self, other: &Self) -> bool {
        self.text == other.text
    }
}

impl Eq for DatabaseUrl {}

impl std::fmt::Debug for DatabaseUrl {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.redacted())
    }
}

impl std::fmt::Display for DatabaseUrl {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.redacted())
    }
}

/// The URL with any password replaced, for messages.
pub fn redacted(url: &str) -> String {
    match (url.find("://"), url.rfind('@')) {
        (Some(scheme), Some(at)) if at > scheme => {
            let user = &url[scheme + 3..at];
            match user.split_once(':') {
                Some((name, _)) => format!("{}{name}:***{}", &url[..scheme + 3], &url[at..]),
                None => url.to_string(),
            }
        }
        _ => url.to_string(),
    }
}

/// Why an operation on the connection stopped: the driver (the connection may be lost) or us.
enum Failure {
    Driver(postgres::Error),
    Ours(Error),
}

impl From<postgres::Error> for Failure {
    fn from(e: postgres::Error) -> Self {
        Failure::Driver(e)
    }
}

impl From<Error> for Failure {
    fn from(e: Error) -> Self {
        Failure::Ours(e)
    }
}

type Op<T> = std::result::Result<T, Failure>;

impl PostgresStorage {
    /// Connects (retrying a refused connection for [`RECONNECT_FOR`]) and creates Optuna's
    /// schema when the database has none; `params` says what each trial's Optuna parameters are.
    pub fn open(url: &DatabaseUrl, params: Arc<dyn ParamCodec>) -> Result<Self> {
        let storage = Self { url: url.clone(), client: Mutex::new(connect(url)?), params, cache: Mutex::default() };
        let version = storage.with_client(|client| {
            let mut tx = client.transaction()?;
            // One creator at a time when several workers start on an empty database.
            tx.execute("SELECT pg_advisory_xact_lock(7263510)", &[])?;
            let exists: bool = tx.query_one("SELECT to_regclass('version_info') IS NOT NULL", &[])?.get(0);
            if !exists {
                tx.batch_execute(SCHEMA)?;
                tx.execute("INSERT INTO version_info VALUES (1, $1, $2)", &[&SCHEMA_VERSION, &format!("distiller {}", env!("CARGO_PKG_VERSION"))])?;
                tx.execute("INSERT INTO alembic_version VALUES ($1)", &[&ALEMBIC_REVISION])?;
            }
            let version: Option<i32> = tx.query_opt("SELECT schema_version FROM version_info", &[])?.and_then(|row| row.get(0));
            if version == Some(SCHEMA_VERSION) {
                tx.batch_execute(INDEXES)?;
                storage.upgrade(&mut tx)?;
            }
            tx.commit()?;
            Ok(version)
        })?;
        if version != Some(SCHEMA_VERSION) {
            let found = version.map_or("none".to_string(), |v| v.to_string());
            return Err(storage.error(format!("the database holds Optuna schema version {found}; distiller reads version {SCHEMA_VERSION}")));
        }
        Ok(storage)
    }

    fn error(&self, message: impl std::fmt::Display) -> Error {
        Error::Database { url: self.url.redacted(), message: message.to_string() }
    }

    /// Runs `op` on the connection. When the connection was lost, it is re-opened (with backoff,
    /// for up to [`RECONNECT_FOR`]) and `op` runs once more: a transaction the loss cut off was
    /// rolled back by the server.
    fn with_client<T>(&self, mut op: impl FnMut(&mut Client) -> Op<T>) -> Result<T> {
        let mut client = self.client.lock().unwrap_or_else(|e| e.into_inner());
        if client.is_closed() {
            *client = self.reconnect()?;
        }
        match op(&mut client) {
            Ok(value) => Ok(value),
            Err(Failure::Ours(e)) => Err(e),
            Err(Failure::Driver(e)) if client.is_closed() || connection_lost(&e) => {
                *client = self.reconnect()?;
                op(&mut client).map_err(|f| match f {
                    Failure::Driver(e) => self.error(describe(&e)),
                    Failure::Ours(e) => e,
                })
            }
            Err(Failure::Driver(e)) => Err(self.error(describe(&e))),
        }
    }

    fn reconnect(&self) -> Result<Client> {
        connect(&self.url)
    }

    fn decode<T: serde::de::DeserializeOwned>(&self, what: &str, json: &str) -> Result<T> {
        serde_json::from_str(json).map_err(|e| self.error(format!("corrupt {what}: {e}")))
    }

    /// The study's row id and record; `lock` holds its row until the transaction ends.
    fn study_row(&self, tx: &mut Transaction, name: &str, lock: bool) -> Op<Option<(i32, StudyRecord)>> {
        let sql = format!(
            "SELECT s.study_id, a.value_json FROM studies s LEFT JOIN study_system_attributes a ON a.study_id = s.study_id AND a.key = '{STUDY_KEY}' WHERE s.study_name = $1{}",
            if lock { " FOR UPDATE OF s" } else { "" }
        );
        match tx.query_opt(&sql, &[&name])? {
            None => Ok(None),
            Some(row) => match row.get::<_, Option<String>>(1) {
                Some(json) => Ok(Some((row.get(0), self.decode("study record", &json)?))),
                None => Err(Error::StudyNotOurs { name: name.to_string() }.into()),
            },
        }
    }

    fn no_study(&self, name: &str) -> Error {
        Error::NoSuchStudy { name: name.to_string(), known: Vec::new() }
    }

    /// Calls `f` on what is known of the study's trials: the cached ones, brought up to date with
    /// those added since and those that were RUNNING or WAITING when last read (no copy of the
    /// history). A trial without our record was written by another client (Optuna): it is read
    /// from Optuna's columns.
    fn with_trials<T>(&self, tx: &mut Transaction, study_id: i32, study: &StudyRecord, f: impl FnOnce(&Known) -> T) -> Op<T> {
        let sql = format!(
            "SELECT t.trial_id, a.value_json FROM trials t LEFT JOIN trial_system_attributes a ON a.trial_id = t.trial_id AND a.key = '{TRIAL_KEY}' \
             WHERE t.study_id = $1 AND (t.number > $2 OR t.number = ANY($3)) ORDER BY t.number"
        );
        let mut cache = self.cache.lock().unwrap_or_else(|e| e.into_inner());
        let known = cache.entry(study_id).or_default();
        let mut theirs = Vec::new();
        for row in tx.query(&sql, &[&study_id, &known.last(), &known.open()])? {
            match row.get::<_, Option<&str>>(1) {
                Some(json) => known.put(Ok(self.decode("trial record", json)?)),
                None => theirs.push(row.get::<_, i32>(0)),
            }
        }
        if !theirs.is_empty() {
            for trial in client_trials(tx, study, self.params.as_ref(), &theirs)? {
                known.put(trial);
            }
        }
        Ok(f(known))
    }

    /// Rewrites, once per study, what older releases wrote that Optuna cannot read: list-valued
    /// and float-typed choices, and finished trials without an end (imported ones).
    fn upgrade(&self, tx: &mut Transaction) -> Op<()> {
        let sql = format!(
            "SELECT s.study_id, a.value_json FROM studies s JOIN study_system_attributes a ON a.study_id = s.study_id AND a.key = '{STUDY_KEY}' \
             WHERE NOT EXISTS (SELECT 1 FROM study_system_attributes e WHERE e.study_id = s.study_id AND e.key = '{ENCODING_KEY}') FOR UPDATE OF s"
        );
        'studies: for row in tx.query(&sql, &[])? {
            let study_id: i32 = row.get(0);
            // A study whose record or space cannot be read is left as it is.
            let Ok(study) = serde_json::from_str::<StudyRecord>(row.get(1)) else { continue };
            let trials = tx.query(
                &format!("SELECT t.trial_id, a.value_json FROM trials t JOIN trial_system_attributes a ON a.trial_id = t.trial_id AND a.key = '{TRIAL_KEY}' WHERE t.study_id = $1"),
                &[&study_id],
            )?;
            for trial in trials {
                let Ok(record) = serde_json::from_str::<TrialRecord>(trial.get(1)) else { continue };
                let Ok(params) = self.params.encode(&study, &record) else { continue 'studies };
                write_params(tx, trial.get(0), &params)?;
            }
            tx.execute(
                "UPDATE trials SET datetime_complete = datetime_start WHERE study_id = $1 AND state IN ('COMPLETE', 'PRUNED', 'FAIL') AND datetime_complete IS NULL",
                &[&study_id],
            )?;
            mark_encoding(tx, study_id)?;
        }
        Ok(())
    }

    /// The study's row id, inserting the row (and its direction) when there is none; says whether
    /// it did. A worker inserting the same study meanwhile makes the insert wait for its commit,
    /// then do nothing, so workers that start together create a study once.
    fn study_id_or_insert(tx: &mut Transaction, study: &StudyRecord) -> std::result::Result<(i32, bool), postgres::Error> {
        let name = &study.name;
        if let Some(row) = tx.query_opt("INSERT INTO studies (study_name) VALUES ($1) ON CONFLICT (study_name) DO NOTHING RETURNING study_id", &[&name])? {
            let id: i32 = row.get(0);
            for (k, objective) in study.objectives.iter().enumerate() {
                let k = k as i32;
                tx.execute(
                    "INSERT INTO study_directions (direction, study_id, objective) VALUES (CAST($1::text AS studydirection), $2, $3)",
                    &[&objective.direction().name(), &id, &k],
                )?;
            }
            mark_encoding(tx, id)?;
            return Ok((id, true));
        }
        Ok((tx.query_one("SELECT study_id FROM studies WHERE study_name = $1", &[&name])?.get(0), false))
    }

    /// The number the study's next trial gets; the caller holds the study's row.
    fn next_number(tx: &mut Transaction, study_id: i32) -> std::result::Result<u64, postgres::Error> {
        let number: i32 = tx.query_one("SELECT COALESCE(MAX(number) + 1, 0) FROM trials WHERE study_id = $1", &[&study_id])?.get(0);
        Ok(number as u64)
    }

    /// Inserts or updates a trial's row and everything Optuna reads about it.
    fn write_trial(&self, tx: &mut Transaction, study_id: i32, study: &StudyRecord, trial: &TrialRecord) -> Op<()> {
        let number = number(trial.id);
        let state = trial.state.name();
        // A WAITING trial has not started (Optuna leaves its start empty); a finished one has an
        // end, which Optuna requires (one recorded without, as imports once were, ends at its start).
        let start = (trial.state != TrialState::Waiting).then_some(trial.started as f64);
        let end = trial.ended.or((!matches!(trial.state, TrialState::Waiting | TrialState::Running)).then_some(trial.started)).map(|e| e as f64);
        let existing: Option<i32> = tx.query_opt("SELECT trial_id FROM trials WHERE study_id = $1 AND number = $2", &[&study_id, &number])?.map(|r| r.get(0));
        let trial_id: i32 = match existing {
            Some(id) => {
                tx.execute(
                    "UPDATE trials SET state = CAST($2::text AS trialstate), datetime_start = to_timestamp($3::float8) AT TIME ZONE 'UTC', datetime_complete = to_timestamp($4::float8) AT TIME ZONE 'UTC' WHERE trial_id = $1",
                    &[&id, &state, &start, &end],
                )?;
                id
            }
            None => tx
                .query_one(
                    "INSERT INTO trials (number, study_id, state, datetime_start, datetime_complete) VALUES ($1, $2, CAST($3::text AS trialstate), to_timestamp($4::float8) AT TIME ZONE 'UTC', to_timestamp($5::float8) AT TIME ZONE 'UTC') RETURNING trial_id",
                    &[&number, &study_id, &state, &start, &end],
                )?
                .get(0),
        };
        let record = serde_json::to_string(trial).expect("trial serialises");
        tx.execute(
            "INSERT INTO trial_system_attributes (trial_id, key, value_json) VALUES ($1, $2, $3) ON CONFLICT (trial_id, key) DO UPDATE SET value_json = EXCLUDED.value_json",
            &[&trial_id, &TRIAL_KEY, &record],
        )?;
        write_params(tx, trial_id, &self.params.encode(study, trial)?)?;
        // One value per objective, in the study's order (Optuna's `values`).
        let values: Vec<Option<f64>> = study.objectives.iter().map(|o| o.value(trial)).collect();
        if trial.state == TrialState::Complete && values.iter().all(Option::is_some) {
            for (k, value) in values.into_iter().flatten().enumerate() {
                let k = k as i32;
                tx.execute(
                    "INSERT INTO trial_values (trial_id, objective, value, value_type) VALUES ($1, $2, $3, CAST($4::text AS trialvaluetype)) ON CONFLICT (trial_id, objective) DO UPDATE SET value = EXCLUDED.value, value_type = EXCLUDED.value_type",
                    &[&trial_id, &k, &finite_or_null(value), &value_type(value)],
                )?;
            }
        }
        // The student's size and speed, as user attributes optuna-dashboard lists with the trial.
        for (key, value) in trial.compression.iter().flat_map(|c| c.attributes()) {
            tx.execute(
                "INSERT INTO trial_user_attributes (trial_id, key, value_json) VALUES ($1, $2, $3) ON CONFLICT (trial_id, key) DO UPDATE SET value_json = EXCLUDED.value_json",
                &[&trial_id, &key, &serde_json::json!(value).to_string()],
            )?;
        }
        for (epoch, score) in &trial.intermediate {
            let step = i32::try_from(*epoch).unwrap_or(i32::MAX);
            let kind = if score.is_nan() { "NAN" } else { value_type(*score) };
            tx.execute(
                "INSERT INTO trial_intermediate_values (trial_id, step, intermediate_value, intermediate_value_type) VALUES ($1, $2, $3, CAST($4::text AS trialintermediatevaluetype)) ON CONFLICT (trial_id, step) DO UPDATE SET intermediate_value = EXCLUDED.intermediate_value, intermediate_value_type = EXCLUDED.intermediate_value_type",
                &[&trial_id, &step, &finite_or_null(*score), &kind],
            )?;
        }
        if trial.state == TrialState::Running {
            tx.execute(
                "INSERT INTO trial_heartbeats (trial_id, heartbeat) VALUES ($1, LOCALTIMESTAMP) ON CONFLICT (trial_id) DO UPDATE SET heartbeat = LOCALTIMESTAMP",
                &[&trial_id],
            )?;
        }
        Ok(())
    }
}

/// Whether `e` says the connection is gone rather than that the statement failed: closed, an I/O
/// error, or the server ending the session as it shuts down (a restart's "terminating connection
/// due to administrator command" can reach a statement before the client sees the socket close).
fn connection_lost(e: &postgres::Error) -> bool {
    use postgres::error::SqlState;
    let shutdown = e.code().is_some_and(|c| [SqlState::ADMIN_SHUTDOWN, SqlState::CRASH_SHUTDOWN, SqlState::CANNOT_CONNECT_NOW].contains(c));
    e.is_closed() || shutdown || e.as_db_error().is_none() && std::error::Error::source(e).is_some()
}

/// Connects, retrying while the server refuses or cannot be reached, for [`RECONNECT_FOR`].
fn connect(url: &DatabaseUrl) -> Result<Client> {
    let started = Instant::now();
    let mut wait = Duration::from_millis(250);
    loop {
        match url.config.connect(NoTls) {
            // Timestamps are naive UTC, as Optuna stores them; the connection's time zone must agree.
            Ok(mut client) => {
                client.batch_execute("SET TIME ZONE 'UTC'").map_err(|e| Error::Database { url: url.redacted(), message: describe(&e) })?;
                return Ok(client);
            }
            // An answer from the server (bad password, no such database) will not change, except
            // that it is starting up or shutting down (a restart).
            Err(e) if e.as_db_error().is_some_and(|db| *db.code() != postgres::error::SqlState::CANNOT_CONNECT_NOW) || started.elapsed() >= RECONNECT_FOR => {
                return Err(Error::Database { url: url.redacted(), message: format!("cannot connect: {}", describe(&e)) });
            }
            Err(_) => {
                std::thread::sleep(wait);
                wait = (wait * 2).min(Duration::from_secs(8));
            }
        }
    }
}

/// A driver error in one line, with the server's message where there is one.
fn describe(e: &postgres::Error) -> String {
    match e.as_db_error() {
        Some(db) => format!("{}: {}", db.severity(), db.message()),
        None => {
            let source = std::error::Error::source(e).map(|s| format!(": {s}")).unwrap_or_default();
            format!("{e}{source}")
        }
    }
}

/// A trial id as Optuna's trial number.
fn number(id: u64) -> i32 {
    i32::try_from(id).unwrap_or(i32::MAX)
}

fn value_type(value: f64) -> &'static str {
    match value {
        v if v == f64::INFINITY => "INF_POS",
        v if v == f64::NEG_INFINITY => "INF_NEG",
        _ => "FINITE",
    }
}

fn finite_or_null(value: f64) -> Option<f64> {
    value.is_finite().then_some(value)
}

/// Writes a trial's Optuna parameters.
fn write_params(tx: &mut Transaction, trial_id: i32, params: &[Param]) -> std::result::Result<(), postgres::Error> {
    for param in params {
        tx.execute(
            "INSERT INTO trial_params (trial_id, param_name, param_value, distribution_json) VALUES ($1, $2, $3, $4) ON CONFLICT (trial_id, param_name) DO UPDATE SET param_value = EXCLUDED.param_value, distribution_json = EXCLUDED.distribution_json",
            &[&trial_id, &param.name, &param.internal, &param.distribution.to_string()],
        )?;
    }
    Ok(())
}

/// Marks a study's parameters as written in today's encoding.
fn mark_encoding(tx: &mut Transaction, study_id: i32) -> std::result::Result<(), postgres::Error> {
    tx.execute(
        "INSERT INTO study_system_attributes (study_id, key, value_json) VALUES ($1, $2, $3) ON CONFLICT (study_id, key) DO UPDATE SET value_json = EXCLUDED.value_json",
        &[&study_id, &ENCODING_KEY, &ENCODING],
    )?;
    Ok(())
}

/// A stored value with its Optuna value type (infinities are stored as NULL and a type).
fn typed_value(value: Option<f64>, kind: &str) -> Option<f64> {
    match kind {
        "INF_POS" => Some(f64::INFINITY),
        "INF_NEG" => Some(f64::NEG_INFINITY),
        "NAN" => Some(f64::NAN),
        _ => value,
    }
}

/// Trials (by row id) that another client wrote into `study`, read from Optuna's columns: a trial
/// of the study where its parameters make a pipeline of the space ([`ParamCodec::decode`]), else
/// a [`ForeignTrial`] saying why not.
fn client_trials(tx: &mut Transaction, study: &StudyRecord, codec: &dyn ParamCodec, ids: &[i32]) -> Op<Vec<std::result::Result<TrialRecord, ForeignTrial>>> {
    let mut params: HashMap<i32, Vec<Param>> = HashMap::new();
    for row in tx.query("SELECT trial_id, param_name, param_value, distribution_json FROM trial_params WHERE trial_id = ANY($1) ORDER BY param_id", &[&ids])? {
        let distribution = row.get::<_, Option<&str>>(3).and_then(|d| serde_json::from_str(d).ok()).unwrap_or_default();
        let param = Param { name: row.get::<_, Option<String>>(1).unwrap_or_default(), internal: row.get::<_, Option<f64>>(2).unwrap_or(f64::NAN), distribution };
        params.entry(row.get(0)).or_default().push(param);
    }
    let mut steps: HashMap<i32, Vec<(usize, f64)>> = HashMap::new();
    for row in
        tx.query("SELECT trial_id, step, intermediate_value, intermediate_value_type::text FROM trial_intermediate_values WHERE trial_id = ANY($1) ORDER BY step", &[&ids])?
    {
        let value = typed_value(row.get(2), row.get(3)).unwrap_or(f64::NAN);
        steps.entry(row.get(0)).or_default().push((usize::try_from(row.get::<_, i32>(1)).unwrap_or(0), value));
    }
    let rows = tx.query(
        "SELECT t.trial_id, t.number, t.state::text, EXTRACT(EPOCH FROM t.datetime_start)::float8, EXTRACT(EPOCH FROM t.datetime_complete)::float8, v.value, v.value_type::text \
         FROM trials t LEFT JOIN trial_values v ON v.trial_id = t.trial_id AND v.objective = 0 WHERE t.trial_id = ANY($1) ORDER BY t.number",
        &[&ids],
    )?;
    let mut trials = Vec::with_capacity(rows.len());
    for row in rows {
        let trial_id: i32 = row.get(0);
        let (id, state) = (u64::try_from(row.get::<_, Option<i32>>(1).unwrap_or(0)).unwrap_or(0), TrialState::from_name(row.get(2)).unwrap_or(TrialState::Fail));
        let score = row.get::<_, Option<&str>>(6).and_then(|kind| typed_value(row.get(5), kind));
        let params = params.remove(&trial_id).unwrap_or_default();
        let decoded = codec.decode(study, &params)?;
        // A trial's value counts once it is COMPLETE (a foreign trial shows what it has).
        let complete = score.filter(|_| state == TrialState::Complete);
        trials.push(match decoded {
            Ok((point, pipeline)) => Ok(TrialRecord {
                id,
                study: study.name.clone(),
                point,
                pipeline,
                state,
                rung: 0,
                fidelity: None,
                intermediate: steps.remove(&trial_id).unwrap_or_default(),
                // Optuna names no metric: the study's value is the headline.
                metrics: complete.map(|s| crate::data::Metrics(vec![("value".into(), s)])),
                score: complete,
                student_dir: None,
                host: None,
                error: None,
                retry_of: None,
                external: true,
                compression: None,
                pid: 0,
                started: row.get::<_, Option<f64>>(3).map_or(0, |s| s as u64),
                ended: row.get::<_, Option<f64>>(4).map(|s| s as u64),
            }),
            Err(reason) => Err(ForeignTrial { id, state, score, params: params.iter().map(|p| (p.name.clone(), optuna::external(p).unwrap_or_default())).collect(), reason }),
        });
    }
    Ok(trials)
}

impl Storage for PostgresStorage {
    fn put_study(&self, study: &StudyRecord) -> Result<()> {
        let record = serde_json::to_string(study).expect("study serialises");
        self.with_client(|client| {
            let mut tx = client.transaction()?;
            let (study_id, _) = Self::study_id_or_insert(&mut tx, study)?;
            tx.execute(
                "INSERT INTO study_system_attributes (study_id, key, value_json) VALUES ($1, $2, $3) ON CONFLICT (study_id, key) DO UPDATE SET value_json = EXCLUDED.value_json",
                &[&study_id, &STUDY_KEY, &record],
            )?;
            Ok(tx.commit()?)
        })
    }

    fn create_study(&self, study: &StudyRecord) -> Result<StudyRecord> {
        let record = serde_json::to_string(study).expect("study serialises");
        self.with_client(|client| {
            let mut tx = client.transaction()?;
            let (study_id, created) = Self::study_id_or_insert(&mut tx, study)?;
            if !created {
                let (_, existing) = self.study_row(&mut tx, &study.name, false)?.ok_or_else(|| self.no_study(&study.name))?;
                return Ok(existing);
            }
            tx.execute("INSERT INTO study_system_attributes (study_id, key, value_json) VALUES ($1, $2, $3)", &[&study_id, &STUDY_KEY, &record])?;
            tx.commit()?;
            Ok(study.clone())
        })
    }

    fn study(&self, name: &str) -> Result<Option<StudyRecord>> {
        self.with_client(|client| {
            let mut tx = client.transaction()?;
            Ok(self.study_row(&mut tx, name, false)?.map(|(_, record)| record))
        })
    }

    fn studies(&self) -> Result<Vec<StudyRecord>> {
        let rows = self.with_client(|client| Ok(client.query(&format!("SELECT value_json FROM study_system_attributes WHERE key = '{STUDY_KEY}' ORDER BY study_id"), &[])?))?;
        rows.iter().map(|row| self.decode("study record", row.get(0))).collect()
    }

    fn put_trial(&self, trial: &TrialRecord) -> Result<()> {
        self.with_client(|client| {
            let mut tx = client.transaction()?;
            let (study_id, study) = self.study_row(&mut tx, &trial.study, false)?.ok_or_else(|| self.no_study(&trial.study))?;
            self.write_trial(&mut tx, study_id, &study, trial)?;
            Ok(tx.commit()?)
        })
    }

    fn trials(&self, study: &str) -> Result<Vec<TrialRecord>> {
        self.with_client(|client| {
            let mut tx = client.transaction()?;
            match self.study_row(&mut tx, study, false)? {
                Some((study_id, record)) => self.with_trials(&mut tx, study_id, &record, |known| known.trials.clone()),
                None => Ok(Vec::new()),
            }
        })
    }

    fn foreign_trials(&self, study: &str) -> Result<Vec<ForeignTrial>> {
        self.with_client(|client| {
            let mut tx = client.transaction()?;
            match self.study_row(&mut tx, study, false)? {
                Some((study_id, record)) => self.with_trials(&mut tx, study_id, &record, |known| known.foreign.clone()),
                None => Ok(Vec::new()),
            }
        })
    }

    fn add_trial(&self, study: &str, next: &mut dyn FnMut(&[TrialRecord]) -> Result<Option<NextTrial>>) -> Result<Option<TrialRecord>> {
        self.with_client(|client| {
            let mut tx = client.transaction()?;
            // The study's row stays locked until the commit: no other worker adds or claims a
            // trial meanwhile.
            let (study_id, record) = self.study_row(&mut tx, study, true)?.ok_or_else(|| self.no_study(study))?;
            let trial = match self.with_trials(&mut tx, study_id, &record, |known| next(&known.trials))?? {
                None => return Ok(None),
                Some(NextTrial::Claim(trial)) => trial,
                Some(NextTrial::Add(mut trial)) => {
                    trial.id = Self::next_number(&mut tx, study_id)?;
                    trial
                }
            };
            self.write_trial(&mut tx, study_id, &record, &trial)?;
            tx.commit()?;
            Ok(Some(trial))
        })
    }

    fn finish_trial(&self, trial: &TrialRecord) -> Result<bool> {
        self.with_client(|client| {
            let mut tx = client.transaction()?;
            let (study_id, record) = self.study_row(&mut tx, &trial.study, false)?.ok_or_else(|| self.no_study(&trial.study))?;
            // The trial's row stays locked until the commit, so a worker failing it waits.
            let state: Option<String> =
                tx.query_opt("SELECT state::text FROM trials WHERE study_id = $1 AND number = $2 FOR UPDATE", &[&study_id, &number(trial.id)])?.map(|row| row.get(0));
            if state.as_deref() != Some("RUNNING") {
                return Ok(false);
            }
            self.write_trial(&mut tx, study_id, &record, trial)?;
            tx.commit()?;
            Ok(true)
        })
    }

    fn heartbeat(&self, study: &str, id: u64) -> Result<()> {
        let number = number(id);
        self.with_client(|client| {
            let sql = "INSERT INTO trial_heartbeats (trial_id, heartbeat) SELECT t.trial_id, LOCALTIMESTAMP FROM trials t JOIN studies s ON s.study_id = t.study_id \
                       WHERE s.study_name = $1 AND t.number = $2 ON CONFLICT (trial_id) DO UPDATE SET heartbeat = LOCALTIMESTAMP";
            Ok(client.execute(sql, &[&study, &number]).map(|_| ())?)
        })
    }

    fn fail_stale_trials(&self, study: &str, grace: Duration, fail: &dyn Fn(&mut TrialRecord) -> Option<TrialRecord>) -> Result<Vec<TrialRecord>> {
        let sql = format!(
            "SELECT a.value_json FROM trials t JOIN studies s ON s.study_id = t.study_id \
             JOIN trial_system_attributes a ON a.trial_id = t.trial_id AND a.key = '{TRIAL_KEY}' LEFT JOIN trial_heartbeats h ON h.trial_id = t.trial_id \
             WHERE s.study_name = $1 AND t.state = 'RUNNING' AND COALESCE(h.heartbeat, t.datetime_start) < LOCALTIMESTAMP - make_interval(secs => $2) \
             ORDER BY t.number"
        );
        self.with_client(|client| {
            let mut tx = client.transaction()?;
            if tx.query(&sql, &[&study, &grace.as_secs_f64()])?.is_empty() {
                return Ok(Vec::new());
            }
            // Queued trials take new numbers: hold the study's row, then read the stale trials
            // again (another worker may have failed them while this one waited) and lock them.
            let (study_id, record) = self.study_row(&mut tx, study, true)?.ok_or_else(|| self.no_study(study))?;
            let rows = tx.query(&format!("{sql} FOR UPDATE OF t"), &[&study, &grace.as_secs_f64()])?;
            let mut stale: Vec<TrialRecord> = rows.iter().map(|row| self.decode("trial record", row.get(0))).collect::<Result<_>>()?;
            for trial in &mut stale {
                let queued = fail(trial);
                self.write_trial(&mut tx, study_id, &record, trial)?;
                if let Some(mut queued) = queued {
                    queued.id = Self::next_number(&mut tx, study_id)?;
                    self.write_trial(&mut tx, study_id, &record, &queued)?;
                }
            }
            tx.commit()?;
            Ok(stale)
        })
    }
}
