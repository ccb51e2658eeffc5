//! Charts drawn on the server as inline SVG: readable without a script, in any browser, and
//! scaled to the page's width. A stacked bar chart of series over the same buckets.

use maud::{html, Markup};
use nexuma_sdk::notify::format;

/// One series: its name and a value per bucket (the chart's buckets, in order).
pub struct Series {
    pub name: String,
    pub values: Vec<i64>,
}

/// Colours of the series, in order (then again).
const COLOURS: [&str; 6] = [
    "#2456c9", "#2f9e6e", "#d9822b", "#8e44ad", "#c62f3b", "#5b6478",
];
const WIDTH: i64 = 720;
const HEIGHT: i64 = 220;
const LEFT: i64 = 70;
const BOTTOM: i64 = 24;

/// One drawn bar: a series' part of a bucket.
struct Bar {
    x: i64,
    y: i64,
    height: i64,
    colour: &'static str,
    title: String,
}

/// Bars per bucket, the series stacked, with the largest total on the scale and each bucket's
/// label under it; `label` reads a value (bytes, money).
pub fn stacked(buckets: &[String], series: &[Series], label: fn(i64) -> String) -> Markup {
    let value = |s: &Series, i: usize| s.values.get(i).copied().unwrap_or(0).max(0);
    if series.iter().all(|s| s.values.iter().all(|v| *v <= 0)) {
        return html! { p.hint { "Nothing in these days." } };
    }
    let top = (0..buckets.len())
        .map(|i| series.iter().map(|s| value(s, i)).sum::<i64>())
        .max()
        .unwrap_or(0)
        .max(1);
    let plot_h = HEIGHT - BOTTOM - 8;
    let slot = (WIDTH - LEFT) / (buckets.len().max(1) as i64);
    let width = (slot * 7 / 10).max(2);
    // At most about fourteen labels under the bars, however many buckets.
    let stride = buckets.len().div_ceil(14).max(1);
    let mut bars = Vec::new();
    for (i, bucket) in buckets.iter().enumerate() {
        let x = LEFT + slot * i as i64 + (slot - width) / 2;
        let mut y = HEIGHT - BOTTOM;
        for (n, s) in series.iter().enumerate() {
            let height = value(s, i) * plot_h / top;
            if height > 0 {
                y -= height;
                bars.push(Bar {
                    x,
                    y,
                    height,
                    colour: COLOURS[n % COLOURS.len()],
                    title: format!("{}, {bucket}: {}", s.name, label(value(s, i))),
                });
            }
        }
    }
    html! {
        svg.chart viewBox={"0 0 " (WIDTH) " " (HEIGHT)} role="img" aria-label="chart" {
            text x="4" y="14" class="axis" { (label(top)) }
            text x="4" y=(HEIGHT - BOTTOM) class="axis" { "0" }
            line x1=(LEFT) y1=(HEIGHT - BOTTOM) x2=(WIDTH) y2=(HEIGHT - BOTTOM) stroke="#c3cada";
            @for bar in &bars {
                rect x=(bar.x) y=(bar.y) width=(width) height=(bar.height) fill=(bar.colour) { title { (bar.title) } }
            }
            @for (i, bucket) in buckets.iter().enumerate() {
                @if i % stride == 0 {
                    text x=(LEFT + slot * i as i64 + slot / 2) y=(HEIGHT - 6) class="axis" text-anchor="middle" { (bucket) }
                }
            }
        }
        div.legend {
            @for (n, s) in series.iter().enumerate() {
                span { i style={"background:" (COLOURS[n % COLOURS.len()])} {} (s.name) " " (label(s.values.iter().sum())) }
            }
        }
    }
}

/// The last `count` UTC days up to today: the buckets of a daily chart.
pub struct Days {
    /// Epoch milliseconds of the first day's start.
    pub from_ms: i64,
    /// The first day as the usage routes take it (`2026-12-01`).
    pub from: String,
    /// Each day's label (`12-01`).
    pub labels: Vec<String>,
}

const DAY_MS: i64 = 86_400_000;

impl Days {
    pub fn last(count: i64, now_ms: i64) -> Days {
        let from_ms = (now_ms.div_euclid(DAY_MS) - (count - 1)) * DAY_MS;
        Days {
            from_ms,
            from: format::moment(from_ms)[..10].to_string(),
            labels: (0..count)
                .map(|d| format::moment(from_ms + d * DAY_MS)[5..10].to_string())
                .collect(),
        }
    }

    /// The bucket of an instant, if it falls in these days.
    pub fn index(&self, time_ms: i64) -> Option<usize> {
        let day = usize::try_from((time_ms - self.from_ms).div_euclid(DAY_MS)).ok()?;
        (day < self.labels.len()).then_some(day)
    }
}

/// Minor units of the balances' currency as a chart reads them.
pub fn money(v: i64) -> String {
    format::money(v, nexuma_sdk::money::CURRENCY)
}

/// Bytes as a chart reads them.
pub fn bytes(v: i64) -> String {
    format::bytes(v)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bars_stack_to_the_buckets_total_and_the_legend_names_each_series() {
        let buckets = vec!["12-01".to_string(), "12-02".to_string()];
        let series = [
            Series {
                name: "Frankfurt".into(),
                values: vec![100, 0],
            },
            Series {
                name: "Helsinki".into(),
                values: vec![100, 50],
            },
        ];
        let svg = stacked(&buckets, &series, bytes).into_string();
        // The tallest bucket (200) fills the plot: its two bars together are the plot's height.
        assert_eq!(svg.matches("<rect").count(), 3, "no bar for a zero");
        assert!(svg.contains("Frankfurt, 12-01: 100 B"), "{svg}");
        assert!(
            svg.contains("Helsinki 150 B"),
            "legend with the series' sum"
        );
        assert!(svg.contains(">200 B<"), "the scale's top");
    }

    #[test]
    fn days_end_today_and_place_instants_in_their_day() {
        let now = 1_796_678_040_000; // 2026-12-07 21:14 UTC
        let days = Days::last(3, now);
        assert_eq!(days.from, "2026-12-05");
        assert_eq!(days.labels, ["12-05", "12-06", "12-07"]);
        assert_eq!(days.index(now), Some(2));
        assert_eq!(days.index(days.from_ms), Some(0));
        assert_eq!(days.index(days.from_ms - 1), None);
        assert_eq!(days.index(now + DAY_MS), None);
    }

    #[test]
    fn nothing_to_draw_says_so_instead_of_an_empty_chart() {
        for series in [
            vec![],
            vec![Series {
                name: "a".into(),
                values: vec![0, 0],
            }],
        ] {
            let page = stacked(&["a".to_string(), "b".to_string()], &series, bytes).into_string();
            assert!(page.contains("Nothing in these days."), "{page}");
            assert!(!page.contains("<svg"));
        }
    }
}
