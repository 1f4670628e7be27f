//! Trend statistics over a query's recorded runs, for `time-drift` and
//! `buffers-drift`: a robust slope (Theil–Sen) and a significance test
//! (Mann–Kendall). Pure functions of plain numbers.
//!
//! The series is taken on a log scale: a query that gets 3% slower each
//! run is a straight line there, whatever its absolute time, and one slow
//! outlier moves a median of pairwise slopes very little (Theil–Sen
//! tolerates up to about 29% of wild points).

use super::context::HistoryPoint;
use super::{Context, Thresholds, median};

/// Seconds in a day, for slopes per day.
const DAY: f64 = 86_400.0;

/// The shortest span, in days, over which a per-day trend is judged: runs
/// minutes apart say nothing about a growth per day (their slopes would
/// read "+inf%/day").
pub const MIN_SPAN_DAYS: f64 = 1.0;

/// A monotonic trend found in a series of (time in days, value) points.
#[derive(Debug, Clone, PartialEq)]
pub struct Trend {
    /// Points used.
    pub n: usize,
    /// Days from the first point to the last.
    pub span_days: f64,
    /// Theil–Sen slope of the values, in value units per day.
    pub slope_per_day: f64,
    /// Theil–Sen slope of ln(value) per day: the relative growth rate.
    pub log_slope_per_day: f64,
    /// One-sided p-value of an increasing trend (Mann–Kendall, normal
    /// approximation with the tie correction).
    pub p_increase: f64,
}

impl Trend {
    /// The fitted growth over the whole span as a ratio (1.5: +50%).
    pub fn total_ratio(&self) -> f64 {
        (self.log_slope_per_day * self.span_days).exp()
    }

    /// The fitted increase over the whole span, in value units.
    pub fn total_increase(&self) -> f64 {
        self.slope_per_day * self.span_days
    }
}

/// The trend of `points` (days, value), oldest first. None with fewer
/// than three points, a span of zero days, or a value that is not
/// positive (no logarithm).
pub fn trend(points: &[(f64, f64)]) -> Option<Trend> {
    let n = points.len();
    if n < 3 || points.iter().any(|&(_, y)| !(y > 0.0 && y.is_finite())) {
        return None;
    }
    let span_days = points[n - 1].0 - points[0].0;
    if span_days <= 0.0 {
        return None;
    }
    let mut slopes = Vec::with_capacity(n * (n - 1) / 2);
    let mut log_slopes = Vec::with_capacity(n * (n - 1) / 2);
    let mut s = 0i64;
    for i in 0..n {
        for j in i + 1..n {
            let (ti, yi) = points[i];
            let (tj, yj) = points[j];
            let dt = tj - ti;
            if dt > 0.0 {
                slopes.push((yj - yi) / dt);
                log_slopes.push((yj.ln() - yi.ln()) / dt);
            }
            s += sign(dt) * sign(yj - yi);
        }
    }
    let values: Vec<f64> = points.iter().map(|&(_, y)| y).collect();
    Some(Trend {
        n,
        span_days,
        slope_per_day: median(&slopes)?,
        log_slope_per_day: median(&log_slopes)?,
        p_increase: mann_kendall_p(s, n, &values),
    })
}

fn sign(x: f64) -> i64 {
    if x > 0.0 {
        1
    } else if x < 0.0 {
        -1
    } else {
        0
    }
}

/// The one-sided p-value of Mann–Kendall's S for an increasing trend:
/// Var(S) = [n(n-1)(2n+5) - sum t(t-1)(2t+5)] / 18 over groups of t tied
/// values, z = (S - 1) / sqrt(Var(S)) with the continuity correction.
fn mann_kendall_p(s: i64, n: usize, values: &[f64]) -> f64 {
    let mut sorted = values.to_vec();
    sorted.sort_by(f64::total_cmp);
    let mut ties = 0.0;
    let mut i = 0;
    while i < sorted.len() {
        let j = sorted[i..].iter().take_while(|v| **v == sorted[i]).count();
        let t = j as f64;
        ties += t * (t - 1.0) * (2.0 * t + 5.0);
        i += j;
    }
    let n = n as f64;
    let var = (n * (n - 1.0) * (2.0 * n + 5.0) - ties) / 18.0;
    if var <= 0.0 || s <= 0 {
        return 1.0;
    }
    let z = (s as f64 - 1.0) / var.sqrt();
    0.5 * erfc(z / std::f64::consts::SQRT_2)
}

/// The complementary error function, with a relative error below 1.2e-7
/// everywhere (Numerical Recipes, `erfcc`, a Chebyshev fit).
fn erfc(x: f64) -> f64 {
    let z = x.abs();
    let t = 1.0 / (1.0 + 0.5 * z);
    let poly = -z * z - 1.265_512_23
        + t * (1.000_023_68
            + t * (0.374_091_96
                + t * (0.096_784_18
                    + t * (-0.186_288_06
                        + t * (0.278_868_07
                            + t * (-1.135_203_98
                                + t * (1.488_515_87 + t * (-0.822_152_23 + t * 0.170_872_77))))))));
    let r = t * poly.exp();
    if x >= 0.0 { r } else { 2.0 - r }
}

/// A drift found in one figure of a query: the trend and the runs it was
/// fitted on.
#[derive(Debug, Clone, PartialEq)]
pub struct Drift {
    pub trend: Trend,
    /// The recorded runs used (their history ids), oldest first; the
    /// current run comes after them.
    pub runs: Vec<i64>,
    /// The values used, oldest first, the current run's last.
    pub values: Vec<f64>,
}

/// The series a drift rule looks at: the query's last recorded runs with
/// the current plan (stopping at the first run with another plan, going
/// back), at most `drift_runs` with the current one, each with a value of
/// `figure`; then the trend, when the runs span at least
/// [`MIN_SPAN_DAYS`], and it is significant and adds up to more than the
/// thresholds over the window (`min_increase` in value units).
pub fn drift(
    ctx: &Context,
    figure: fn(&HistoryPoint) -> Option<f64>,
    current: f64,
    min_increase: f64,
) -> Option<Drift> {
    let history = ctx.now.history?;
    let plan = ctx.plan?;
    let fingerprint = crate::plan::shape::fingerprint(plan);
    let t = ctx.thresholds;
    let wanted = t.drift_runs.saturating_sub(1) as usize;
    let mut used: Vec<&HistoryPoint> = Vec::new();
    for point in history.runs.iter().rev() {
        if used.len() == wanted {
            break;
        }
        if point.status != "ok" {
            continue;
        }
        if point.fingerprint.as_deref() != Some(fingerprint.as_str()) {
            break;
        }
        if figure(point).is_some() {
            used.push(point);
        }
    }
    used.reverse();
    if used.len() + 1 < t.drift_min_runs as usize {
        return None;
    }
    let first = used.first()?.at;
    let day = |at: i64| (at - first) as f64 / DAY;
    let mut points: Vec<(f64, f64)> = used
        .iter()
        .filter_map(|p| Some((day(p.at), figure(p)?)))
        .collect();
    points.push((day(history.now), current));
    let trend = trend(&points)?;
    if trend.span_days < MIN_SPAN_DAYS {
        return None;
    }
    significant(&trend, t, min_increase).then(|| Drift {
        trend,
        runs: used.iter().map(|p| p.run).collect(),
        values: points.iter().map(|&(_, v)| v).collect(),
    })
}

/// Whether a trend is a drift: an increase that is significant at
/// `drift_significance` and adds up to at least `drift_ratio` and
/// `min_increase` over the window.
/// A trend whose figures are not all finite numbers is none.
pub fn significant(trend: &Trend, t: &Thresholds, min_increase: f64) -> bool {
    let finite = [
        trend.slope_per_day,
        trend.log_slope_per_day,
        trend.total_ratio(),
        trend.total_increase(),
        trend.log_slope_per_day.exp(),
    ]
    .iter()
    .all(|x| x.is_finite());
    finite
        && trend.p_increase < t.drift_significance
        && trend.total_ratio() >= t.drift_ratio
        && trend.total_increase() >= min_increase
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn erfc_matches_known_values() {
        assert!((erfc(0.0) - 1.0).abs() < 1e-7);
        assert!((erfc(1.0) - 0.157_299_207).abs() < 1e-7);
        assert!((erfc(-1.0) - 1.842_700_793).abs() < 1e-7);
        assert!((erfc(2.0) - 0.004_677_735).abs() < 1e-8);
    }

    #[test]
    fn a_steady_creep_is_a_significant_trend() {
        let points: Vec<(f64, f64)> = (0..14)
            .map(|i| (i as f64, 10.0 * 1.03f64.powi(i)))
            .collect();
        let trend = trend(&points).unwrap();
        assert!((trend.log_slope_per_day - 1.03f64.ln()).abs() < 1e-9);
        assert!((trend.total_ratio() - 1.03f64.powi(13)).abs() < 1e-9);
        assert!(trend.p_increase < 1e-4, "{trend:?}");
    }

    #[test]
    fn a_flat_series_has_no_trend() {
        let points: Vec<(f64, f64)> = (0..14).map(|i| (i as f64, 5.0)).collect();
        let trend = trend(&points).unwrap();
        assert_eq!(trend.slope_per_day, 0.0);
        assert_eq!(trend.p_increase, 1.0);
    }

    #[test]
    fn one_outlier_barely_moves_the_slope() {
        let mut points: Vec<(f64, f64)> = (0..14).map(|i| (i as f64, 5.0)).collect();
        points[13].1 = 500.0;
        let trend = trend(&points).unwrap();
        assert_eq!(trend.slope_per_day, 0.0);
        assert!(trend.p_increase > 0.05, "{trend:?}");
    }

    #[test]
    fn no_trend_without_a_time_span_or_with_a_zero_value() {
        assert!(trend(&[(0.0, 1.0), (0.0, 2.0), (0.0, 3.0)]).is_none());
        assert!(trend(&[(0.0, 1.0), (1.0, 0.0), (2.0, 3.0)]).is_none());
        assert!(trend(&[(0.0, 1.0), (1.0, 2.0)]).is_none());
    }
}
