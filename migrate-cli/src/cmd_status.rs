//! `pyctx status`: porting progress per file and per function.
//!
//! Runs the engine without writing and classifies each function definition
//! by the state of the source as it is now:
//!
//! - `migrated`: it has its context (parameter or `PyCtx_Get()` prologue),
//!   every API call it makes that can take one does, and every call of it
//!   passes the context its signature asks for (the engine's output check
//!   holds for it);
//! - `to do`: the engine would still change it;
//! - `legacy`: excluded from migration (`--only` / `--exclude` / `--files`);
//! - `refused`: cannot be rewritten (with the reason);
//! - functions that need no context are counted apart.

use crate::cmd_migrate::{self, Selection};
use anyhow::Result;
use pyctx_rewrite::{FunctionReport, Status};
use std::collections::BTreeMap;
use std::io::Write;
use std::path::PathBuf;

#[derive(clap::Args)]
pub struct Args {
    #[command(flatten)]
    pub selection: Selection,
    /// Only the per-file table and totals, not every function.
    #[arg(long)]
    pub summary: bool,
    /// Print the per-function states as JSON.
    #[arg(long)]
    pub json: bool,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize)]
#[serde(rename_all = "snake_case")]
pub enum State {
    Migrated,
    ToDo,
    Legacy,
    Refused,
    NoContext,
}

pub fn state(r: &FunctionReport) -> State {
    match &r.status {
        Status::Threaded | Status::EntryPoint => {
            // Migrated only when the engine has nothing left to do for it:
            // its own signature, prototypes and calls, and every call of
            // it elsewhere (a caller without its context would not build).
            if r.param_added
                || r.prologue_added
                || r.calls_rewritten > 0
                || r.prototypes_updated > 0
                || r.callers_updated > 0
            {
                State::ToDo
            } else {
                State::Migrated
            }
        }
        Status::NoContext => State::NoContext,
        Status::Legacy => State::Legacy,
        Status::Refused { .. } => State::Refused,
    }
}

#[derive(Default)]
struct Tally {
    functions: usize,
    migrated: usize,
    to_do: usize,
    legacy: usize,
    refused: usize,
    no_context: usize,
    entry_points: usize,
    bridges: usize,
    legacy_calls: usize,
}

impl Tally {
    fn add(&mut self, r: &FunctionReport) {
        self.functions += 1;
        match state(r) {
            State::Migrated => self.migrated += 1,
            State::ToDo => self.to_do += 1,
            State::Legacy => self.legacy += 1,
            State::Refused => self.refused += 1,
            State::NoContext => self.no_context += 1,
        }
        if r.status == Status::EntryPoint {
            self.entry_points += 1;
        }
        self.bridges += r.bridges.len();
        self.legacy_calls += r.legacy_calls.len();
    }

    fn percent(&self) -> f64 {
        let need = self.functions - self.no_context;
        if need == 0 {
            100.0
        } else {
            100.0 * self.migrated as f64 / need as f64
        }
    }
}

pub fn run(args: Args) -> Result<u8> {
    let run = cmd_migrate::run_engine(&args.selection, None)?;
    let outcome = &run.outcome;
    let mut out = std::io::stdout().lock();
    if args.json {
        let rows: Vec<serde_json::Value> = outcome
            .functions
            .iter()
            .map(|r| {
                serde_json::json!({
                    "file": r.file, "line": r.line, "name": r.name, "state": state(r),
                    "entry_point": r.status == Status::EntryPoint,
                    "entry_reason": r.entry_reason,
                    "refused": match &r.status { Status::Refused { reason } => Some(reason), _ => None },
                    "bridges": r.bridges.len(), "legacy_calls_left": r.legacy_calls.len(),
                })
            })
            .collect();
        writeln!(
            out,
            "{}",
            serde_json::to_string_pretty(&serde_json::json!({"schema": 1, "functions": rows}))?
        )?;
        return Ok(if cmd_migrate::had_errors(outcome) {
            2
        } else {
            0
        });
    }
    let mut per_file: BTreeMap<&PathBuf, Tally> = BTreeMap::new();
    let mut total = Tally::default();
    for r in &outcome.functions {
        per_file.entry(&r.file).or_default().add(r);
        total.add(r);
        if args.summary {
            continue;
        }
        let st = match (state(r), &r.status) {
            (_, Status::Refused { reason }) => format!("refused: {reason}"),
            (State::Migrated, _) => "migrated".into(),
            (State::ToDo, _) => "to do".into(),
            (State::Legacy, _) => "legacy (not selected)".into(),
            (State::NoContext, _) => "no context needed".into(),
            (State::Refused, _) => "refused".into(),
        };
        let mut extra = Vec::new();
        if r.status == Status::EntryPoint {
            extra.push("entry point".to_string());
        }
        if !r.bridges.is_empty() {
            extra.push(format!("{} bridge(s)", r.bridges.len()));
        }
        if !r.legacy_calls.is_empty() {
            extra.push(format!("{} legacy call(s) left", r.legacy_calls.len()));
        }
        let extra = if extra.is_empty() {
            String::new()
        } else {
            format!(" ({})", extra.join(", "))
        };
        writeln!(
            out,
            "{}:{}: {}: {st}{extra}",
            r.file.display(),
            r.line,
            r.name
        )?;
    }
    if !args.summary {
        writeln!(out)?;
    }
    let width = per_file
        .keys()
        .map(|p| p.display().to_string().len())
        .max()
        .unwrap_or(4)
        .max(5);
    writeln!(
        out,
        "{:<width$}  {:>9} {:>8} {:>6} {:>6} {:>7} {:>6} {:>7} {:>7} {:>8}",
        "file",
        "functions",
        "migrated",
        "to do",
        "legacy",
        "refused",
        "entry",
        "bridges",
        "legacy",
        "progress"
    )?;
    let line = |out: &mut dyn Write, name: &str, t: &Tally| -> std::io::Result<()> {
        writeln!(
            out,
            "{:<width$}  {:>9} {:>8} {:>6} {:>6} {:>7} {:>6} {:>7} {:>7} {:>7.1}%",
            name,
            t.functions,
            t.migrated,
            t.to_do,
            t.legacy,
            t.refused,
            t.entry_points,
            t.bridges,
            t.legacy_calls,
            t.percent()
        )
    };
    for (file, t) in &per_file {
        line(&mut out, &file.display().to_string(), t)?;
    }
    line(&mut out, "total", &total)?;
    writeln!(
        out,
        "({} function(s) need no context; \"legacy\" columns: calls left in legacy form)",
        total.no_context
    )?;
    Ok(if cmd_migrate::had_errors(outcome) {
        2
    } else {
        0
    })
}
