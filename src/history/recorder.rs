//! The history of one `check` or `baseline` run: opened before the rules
//! (the drift rules read the past runs), written after the report. Any
//! failure is one warning naming the file or URL, after which the run goes
//! on without a history: the report and the exit code never depend on it.
//! The warnings go to the caller's list (one line each).

use std::collections::BTreeMap;

use super::{HistoryError, Measures, Run, RunInfo, Store};
use crate::config::Config;
use crate::queryset::Query;
use crate::report::Report;
use crate::rules::{HistoryPoint, Thresholds};

pub(crate) struct Recorder {
    store: Option<Store>,
    keep: Option<std::time::Duration>,
    info: RunInfo,
}

impl Recorder {
    /// Opens the history `config` names, if any, for a run of `command`
    /// over `queries` on the server `conninfo` (shown without password),
    /// planning with the `--stats` file of hash `stats_hash`.
    pub(crate) async fn open(
        config: &Config,
        conninfo: String,
        command: &'static str,
        queries: &[Query],
        stats_hash: Option<String>,
        warnings: &mut Vec<String>,
    ) -> Recorder {
        let settings = &config.history;
        let store = match settings.target(&config.baselines) {
            None => None,
            Some(target) => Store::open(&target)
                .await
                .map_err(|e| warn(e, warnings))
                .ok(),
        };
        Recorder {
            store,
            keep: settings.keep,
            info: RunInfo {
                started_at: 0,
                command,
                conninfo: Some(conninfo),
                settings: config.run.settings.clone(),
                queryset: queries
                    .iter()
                    .map(|q| (q.id.clone(), q.sql.clone()))
                    .collect(),
                stats_hash,
            },
        }
    }

    /// Each query's recorded runs on this server with these planner
    /// settings and statistics, oldest first, as many as the drift rules
    /// look at (`drift_runs`, a query's own override included); empty
    /// without a history.
    pub(crate) async fn series(
        &mut self,
        queries: &[Query],
        thresholds: &Thresholds,
        warnings: &mut Vec<String>,
    ) -> BTreeMap<String, Vec<HistoryPoint>> {
        let Some(store) = &self.store else {
            return BTreeMap::new();
        };
        let per_query = queries
            .iter()
            .filter_map(|q| thresholds.with_overrides(&q.thresholds).ok())
            .map(|t| t.drift_runs)
            .max()
            .unwrap_or(thresholds.drift_runs);
        match store
            .series(per_query as i64, &self.info.series_key())
            .await
        {
            Ok(series) => series,
            Err(e) => {
                warn(e, warnings);
                self.store = None;
                BTreeMap::new()
            }
        }
    }

    /// Appends the finished run, started at `started_at` (seconds since
    /// the Unix epoch).
    pub(crate) async fn record(
        mut self,
        report: &Report,
        started_at: u64,
        measures: &BTreeMap<String, Measures>,
        warnings: &mut Vec<String>,
    ) {
        if let Some(store) = &self.store {
            self.info.started_at = started_at as i64;
            let run = Run::of_report(report, &self.info, measures);
            if let Err(e) = store.record(&run, self.keep).await {
                warn(e, warnings);
            }
        }
    }
}

fn warn(e: HistoryError, warnings: &mut Vec<String>) {
    warnings.push(format!("{e}; the run is reported as usual"));
}
