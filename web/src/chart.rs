//! Small live charts: a bounded [`Series`] of samples and the [`sparkline`] that draws it
//! as an inline SVG line (no canvas, no library, no request). The drawing is a pure
//! function ([`sparkline_points`]) tested natively. The charts are functions returning
//! `Html`, not components: each component type is its own copy of Yew's generic code in
//! the wasm (the three cost 2.1 KB gzipped), and the views that show them render every
//! frame anyway.
//!
//! A chart is an image to assistive technology: `role="img"` with a label that says what
//! it shows in words (the latest value, the lowest and the highest over the window), so
//! a screen reader user gets the same facts as a sighted one.

use std::collections::VecDeque;

use yew::prelude::*;

use crate::decimal::fixed;

/// The most samples a series keeps (the oldest go first).
pub const MAX_SAMPLES: usize = 120;

/// A bounded history of one metric.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct Series {
    samples: VecDeque<f64>,
}

impl Series {
    /// Adds a sample (non-finite values are skipped: a ratio of nothing is not a point).
    pub fn push(&mut self, v: f64) {
        if !v.is_finite() {
            return;
        }
        if self.samples.len() == MAX_SAMPLES {
            self.samples.pop_front();
        }
        self.samples.push_back(v);
    }

    /// The samples, oldest first.
    pub fn values(&self) -> Vec<f64> {
        self.samples.iter().copied().collect()
    }

    /// The latest sample.
    pub fn last(&self) -> Option<f64> {
        self.samples.back().copied()
    }

    /// Forgets everything (a new run).
    pub fn clear(&mut self) {
        self.samples.clear();
    }
}

/// The polyline points (`"x,y x,y ..."`) for `values` in a `width` × `height` box, the
/// y axis from 0 (or the lowest value, if negative) to the highest value; `None` for
/// fewer than two values.
pub fn sparkline_points(values: &[f64], width: f64, height: f64) -> Option<String> {
    if values.len() < 2 {
        return None;
    }
    let max = values.iter().copied().fold(f64::MIN, f64::max);
    let min = values.iter().copied().fold(0.0, f64::min);
    let span = if max > min { max - min } else { 1.0 };
    let step = width / (values.len() - 1) as f64;
    let pts: Vec<String> = values
        .iter()
        .enumerate()
        .map(|(i, v)| {
            let x = i as f64 * step;
            // 1 px of margin so the stroke is not clipped at the extremes.
            let y = 1.0 + (height - 2.0) * (1.0 - (v - min) / span);
            format!("{},{}", fixed(x, 1), fixed(y, 1))
        })
        .collect();
    Some(pts.join(" "))
}

/// The words a chart's label gives: latest, lowest and highest over the window.
pub fn describe(name: &str, values: &[f64], digits: usize) -> String {
    match values {
        [] => format!("{name}: no samples yet"),
        [v] => format!("{name}: {}", fixed(*v, digits)),
        _ => {
            let last = values[values.len() - 1];
            let lo = values.iter().copied().fold(f64::MAX, f64::min);
            let hi = values.iter().copied().fold(f64::MIN, f64::max);
            format!(
                "{name}: now {}; over the last {} samples between {} and {}",
                fixed(last, digits),
                values.len(),
                fixed(lo, digits),
                fixed(hi, digits)
            )
        }
    }
}

/// A small line chart of `values` (oldest first) whose accessible label starts with `name`
/// and gives figures with `digits` after the point (module docs).
pub fn sparkline(name: &str, values: &[f64], digits: usize) -> Html {
    const W: u32 = 120;
    const H: u32 = 28;
    let label = describe(name, values, digits);
    let line =
        sparkline_points(values, f64::from(W), f64::from(H)).map_or_else(Html::default, |points| {
            html! { <polyline points={points} fill="none" stroke="currentColor" stroke-width="1.5"
            vector-effect="non-scaling-stroke" /> }
        });
    html! {
        <svg class="sparkline" role="img" aria-label={label} viewBox={format!("0 0 {W} {H}")}
            preserveAspectRatio="none" width="120" height="28">
            { line }
        </svg>
    }
}

/// The y range several lines share: from 0 (or the lowest value, if negative) to the
/// highest value over all of them; `None` when there is no value at all.
pub fn shared_range(lines: &[&[f64]]) -> Option<(f64, f64)> {
    let mut all = lines.iter().flat_map(|l| l.iter().copied()).peekable();
    all.peek()?;
    Some(all.fold((0.0, f64::MIN), |(lo, hi), v| {
        (f64::min(lo, v), f64::max(hi, v))
    }))
}

/// Like [`sparkline_points`], on a y axis fixed from `lo` to `hi` (so that several lines
/// drawn with the same range compare by height); `None` for fewer than two values.
pub fn points_in(values: &[f64], width: f64, height: f64, lo: f64, hi: f64) -> Option<String> {
    if values.len() < 2 {
        return None;
    }
    let span = if hi > lo { hi - lo } else { 1.0 };
    let step = width / (values.len() - 1) as f64;
    let pts: Vec<String> = values
        .iter()
        .enumerate()
        .map(|(i, v)| {
            // Not `clamp`: its assertion message formats floats (`decimal` module docs).
            let y = 1.0 + (height - 2.0) * (1.0 - (v.max(lo).min(hi) - lo) / span);
            format!("{},{}", fixed(i as f64 * step, 1), fixed(y, 1))
        })
        .collect();
    Some(pts.join(" "))
}

/// One line of a [`lines_chart`].
#[derive(Clone, Debug, PartialEq)]
pub struct Line {
    /// What it shows ("B-tree"): its part of the label and its legend entry.
    pub name: AttrValue,
    /// The samples, oldest first.
    pub values: Vec<f64>,
}

/// Several lines on one shared y axis, with a legend: for comparing two engines' figures
/// over the same window. One image to assistive technology; its label starts with `name`
/// and describes every line in words, with `digits` after the point (module docs). Each
/// line is drawn with its own colour and dash (`line-0`, `line-1`, …).
pub fn lines_chart(name: &str, lines: &[Line], digits: usize) -> Html {
    const W: u32 = 240;
    const H: u32 = 40;
    let label = format!(
        "{}. {}",
        name,
        lines
            .iter()
            .map(|l| describe(&l.name, &l.values, digits))
            .collect::<Vec<_>>()
            .join(". ")
    );
    let all: Vec<&[f64]> = lines.iter().map(|l| l.values.as_slice()).collect();
    let range = shared_range(&all);
    html! {
        <figure class="lines-chart">
            <svg class="sparkline wide-chart" role="img" aria-label={label}
                viewBox={format!("0 0 {W} {H}")} preserveAspectRatio="none">
                { for lines.iter().enumerate().map(|(i, l)| {
                    range
                        .and_then(|(lo, hi)| points_in(&l.values, f64::from(W), f64::from(H), lo, hi))
                        .map_or_else(Html::default, |points| html! {
                            <polyline class={format!("line-{i}")} points={points} fill="none"
                                stroke-width="1.5" vector-effect="non-scaling-stroke" />
                        })
                }) }
            </svg>
            <figcaption class="legend" aria-hidden="true">
                { for lines.iter().enumerate().map(|(i, l)| html! {
                    <span class={format!("key line-{i}")}>{ l.name.clone() }</span>
                }) }
            </figcaption>
        </figure>
    }
}

/// One row of a `dl.meters`: the `name` (the term of the row and the chart's name), the
/// latest of `values` with `digits` after the point ("–" before the first), `what` the
/// figure is in a few words, and the [`sparkline`] of the values.
pub fn meter_chart(name: &str, what: &str, values: &[f64], digits: usize) -> Html {
    let now = values
        .last()
        .map_or_else(|| "–".to_owned(), |&v| fixed(v, digits));
    html! {
        <div class="meter">
            <dt>{ name.to_owned() }</dt>
            <dd>
                <strong>{ now }</strong>{ " " }<span class="muted">{ what.to_owned() }</span>
                <span class="meter-chart">{ sparkline(name, values, digits) }</span>
            </dd>
        </div>
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_series_is_bounded_and_skips_non_finite_samples() {
        let mut s = Series::default();
        for i in 0..(MAX_SAMPLES + 10) {
            s.push(i as f64);
        }
        s.push(f64::NAN);
        s.push(f64::INFINITY);
        let v = s.values();
        assert_eq!(v.len(), MAX_SAMPLES);
        assert_eq!(v[0], 10.0);
        assert_eq!(s.last(), Some((MAX_SAMPLES + 9) as f64));
        s.clear();
        assert_eq!(s.last(), None);
    }

    #[test]
    fn points_span_the_box_from_zero_to_the_highest_value() {
        assert_eq!(sparkline_points(&[1.0], 100.0, 10.0), None);
        let p = sparkline_points(&[0.0, 5.0, 10.0], 100.0, 10.0).unwrap();
        assert_eq!(p, "0.0,9.0 50.0,5.0 100.0,1.0");
        // A flat line stays inside the box.
        let flat = sparkline_points(&[0.0, 0.0], 10.0, 10.0).unwrap();
        assert_eq!(flat, "0.0,9.0 10.0,9.0");
        // Negative values lower the floor.
        let neg = sparkline_points(&[-10.0, 10.0], 10.0, 10.0).unwrap();
        assert_eq!(neg, "0.0,9.0 10.0,1.0");
    }

    #[test]
    fn the_label_says_what_the_line_shows() {
        assert_eq!(describe("Lag", &[], 0), "Lag: no samples yet");
        assert_eq!(describe("Lag", &[3.0], 0), "Lag: 3");
        assert_eq!(
            describe("Write amplification", &[2.0, 4.5, 3.25], 2),
            "Write amplification: now 3.25; over the last 3 samples between 2.00 and 4.50"
        );
    }

    #[test]
    fn lines_share_one_axis() {
        assert_eq!(shared_range(&[&[], &[]]), None);
        assert_eq!(shared_range(&[&[2.0, 4.0], &[1.0, 8.0]]), Some((0.0, 8.0)));
        assert_eq!(shared_range(&[&[-2.0], &[3.0]]), Some((-2.0, 3.0)));
        // The lower line stays low: 4 of 8 is half the height.
        let low = points_in(&[0.0, 4.0], 10.0, 10.0, 0.0, 8.0).unwrap();
        assert_eq!(low, "0.0,9.0 10.0,5.0");
        let high = points_in(&[0.0, 8.0], 10.0, 10.0, 0.0, 8.0).unwrap();
        assert_eq!(high, "0.0,9.0 10.0,1.0");
        assert_eq!(points_in(&[1.0], 10.0, 10.0, 0.0, 8.0), None);
        // A flat range does not divide by zero.
        assert_eq!(
            points_in(&[0.0, 0.0], 10.0, 10.0, 0.0, 0.0).unwrap(),
            "0.0,9.0 10.0,9.0"
        );
    }
}
