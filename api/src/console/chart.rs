//! A line chart as server-rendered SVG: the municipality against the comparison group
//! and the country, over the key figure's slices (years). Accessible: `role="img"` with
//! a title and a description; the page shows the same numbers as a table next to it.
//! Only presentation attributes and classes (the CSP allows no inline style).

use maud::{Markup, html};

/// One line of the chart: a value per x position (`None` where there is none).
#[derive(Debug, Clone)]
pub struct Series {
    pub name: String,
    /// CSS class of the line (`own`, `median`, `country`).
    pub class: &'static str,
    pub values: Vec<Option<f64>>,
    /// Positions where the value is withheld (suppressed), marked on the axis.
    pub withheld: Vec<bool>,
}

const WIDTH: f64 = 720.0;
const HEIGHT: f64 = 320.0;
const LEFT: f64 = 90.0;
const RIGHT: f64 = 60.0;
const TOP: f64 = 20.0;
const BOTTOM: f64 = 70.0;

fn fmt(v: f64, decimals: u8) -> String {
    format!("{v:.*}", usize::from(decimals))
}

/// The chart; `labels` are the x positions, `withheld_label` the text at a withheld value.
pub fn line_chart(
    title: &str,
    description: &str,
    labels: &[String],
    series: &[Series],
    decimals: u8,
    withheld_label: &str,
) -> Markup {
    let values: Vec<f64> = series
        .iter()
        .flat_map(|s| s.values.iter().flatten().copied())
        .collect();
    let mut low = values.iter().copied().fold(f64::INFINITY, f64::min);
    let mut high = values.iter().copied().fold(f64::NEG_INFINITY, f64::max);
    if !low.is_finite() || !high.is_finite() {
        (low, high) = (0.0, 1.0);
    }
    if low > 0.0 {
        low = 0.0;
    }
    if high <= low {
        high = low + 1.0;
    }
    let plot_w = WIDTH - LEFT - RIGHT;
    let plot_h = HEIGHT - TOP - BOTTOM;
    let step = if labels.len() > 1 {
        plot_w / (labels.len() - 1) as f64
    } else {
        0.0
    };
    let x = |i: usize| {
        if labels.len() > 1 {
            LEFT + step * i as f64
        } else {
            LEFT + plot_w / 2.0
        }
    };
    let y = |v: f64| TOP + plot_h * (1.0 - (v - low) / (high - low));
    let ticks: Vec<f64> = (0..=4)
        .map(|k| low + (high - low) * f64::from(k) / 4.0)
        .collect();
    let path = |s: &Series| {
        let mut d = String::new();
        let mut pen_down = false;
        for (i, v) in s.values.iter().enumerate() {
            match v {
                Some(v) => {
                    d.push_str(&format!(
                        "{}{:.1},{:.1} ",
                        if pen_down { "L" } else { "M" },
                        x(i),
                        y(*v)
                    ));
                    pen_down = true;
                }
                None => pen_down = false,
            }
        }
        d
    };
    html! {
        svg.chart role="img" aria-labelledby="chart-title chart-desc" viewBox={ "0 0 " (WIDTH) " " (HEIGHT) } xmlns="http://www.w3.org/2000/svg" {
            title id="chart-title" { (title) }
            desc id="chart-desc" { (description) }
            @for t in &ticks {
                line.grid x1=(LEFT) x2=(WIDTH - RIGHT) y1=(format!("{:.1}", y(*t))) y2=(format!("{:.1}", y(*t))) {}
                text.tick x=(LEFT - 8.0) y=(format!("{:.1}", y(*t) + 4.0)) text-anchor="end" { (fmt(*t, decimals)) }
            }
            @for (i, label) in labels.iter().enumerate() {
                text.tick x=(format!("{:.1}", x(i))) y=(HEIGHT - BOTTOM + 20.0) text-anchor="middle" { (label) }
            }
            @for (n, s) in series.iter().enumerate() {
                path class={ "line " (s.class) } d=(path(s)) fill="none" {}
                @for (i, v) in s.values.iter().enumerate() {
                    @if let Some(v) = v {
                        circle class={ "point " (s.class) } cx=(format!("{:.1}", x(i))) cy=(format!("{:.1}", y(*v))) r="4" {
                            title { (s.name) " " (labels.get(i).map(String::as_str).unwrap_or_default()) ": " (fmt(*v, decimals)) }
                        }
                    }
                    @if s.withheld.get(i).copied().unwrap_or(false) {
                        text class={ "withheld " (s.class) } x=(format!("{:.1}", x(i))) y=(HEIGHT - BOTTOM + 38.0 + 14.0 * n as f64) text-anchor="middle" {
                            title { (s.name) ": " (withheld_label) }
                            "× " (withheld_label)
                        }
                    }
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn gaps_break_the_line_and_withheld_values_are_labelled() {
        let series = [Series {
            name: "0101".into(),
            class: "own",
            values: vec![Some(1.0), None, Some(3.0)],
            withheld: vec![false, true, false],
        }];
        let labels = ["2023", "2024", "2025"].map(String::from);
        let svg = line_chart("t", "d", &labels, &series, 0, "suppressed").into_string();
        assert!(svg.contains("role=\"img\""));
        assert!(svg.contains("<title id=\"chart-title\">t</title>"));
        // Two separate line segments (a move after the gap), and the withheld mark.
        assert_eq!(svg.matches('M').count(), 2, "{svg}");
        assert!(svg.contains("<title>0101: suppressed</title>"));
        assert!(!svg.contains("style="));
    }
}
