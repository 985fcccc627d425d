//! The integration tests, linked into one binary: each file is a module, so the build links
//! burn once instead of once per file (time and disk in CI).
mod common;

mod architecture;
mod augment;
mod cli;
mod clients;
mod compress;
mod data;
mod distill;
mod families;
mod losses;
mod model;
mod parsers;
mod recommend_cli;
mod report;
mod search;
mod search_cli;
mod storage;
mod tabular;
mod train;
