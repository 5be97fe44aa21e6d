//! Charts rendered on the server with plotters as inline SVG. Each function
//! takes plain numbers (the same the page's tables show) and returns the SVG
//! markup, or `None` when there is nothing to draw (the page then shows an
//! empty state instead of an empty frame). Colours come from the Okabe-Ito
//! palette (distinguishable with colour-vision deficiencies), and every
//! series is named in a legend, so colour is never the only signal.

use plotters::coord::Shift;
use plotters::prelude::*;
use plotters::style::text_anchor::{HPos, Pos, VPos};

/// Okabe-Ito colours, then grey.
const PALETTE: [RGBColor; 8] = [
    RGBColor(0, 114, 178),   // blue
    RGBColor(230, 159, 0),   // orange
    RGBColor(0, 158, 115),   // bluish green
    RGBColor(204, 121, 167), // reddish purple
    RGBColor(86, 180, 233),  // sky blue
    RGBColor(213, 94, 0),    // vermilion
    RGBColor(240, 228, 66),  // yellow
    RGBColor(120, 120, 120), // grey
];

pub fn colour(i: usize) -> RGBColor {
    PALETTE[i % PALETTE.len()]
}

const WIDTH: u32 = 640;
const HEIGHT: u32 = 320;
const FONT: &str = "sans-serif";
/// Faint grid lines between two labelled ones (plotters draws up to 10,
/// each an element of its own).
const LIGHT_LINES: usize = 1;

/// A named series of values, one per x position.
pub struct Series {
    pub name: String,
    pub values: Vec<f64>,
}

type Drawn = Result<(), Box<dyn std::error::Error>>;

/// Renders into an SVG string, marking it up as an image with a label.
fn render(
    label: &str,
    draw: impl FnOnce(&DrawingArea<SVGBackend, Shift>) -> Drawn,
) -> Option<String> {
    let mut svg = String::new();
    {
        let root = SVGBackend::with_string(&mut svg, (WIDTH, HEIGHT)).into_drawing_area();
        root.fill(&WHITE).ok()?;
        if let Err(e) = draw(&root) {
            tracing::warn!(error = %e, chart = label, "chart not drawn");
            return None;
        }
        root.present().ok()?;
    }
    let label = label
        .replace('&', "&amp;")
        .replace('"', "&quot;")
        .replace('<', "&lt;");
    Some(compact(&svg).replacen(
        "<svg ",
        &format!("<svg role=\"img\" aria-label=\"{label}\" preserveAspectRatio=\"xMinYMin meet\" "),
        1,
    ))
}

/// Drops the attributes plotters writes on every element that only repeat
/// SVG's initial values (opacity 1, no stroke, a stroke 1 wide): a fifth of
/// a chart of a few hundred bars. The closing quote in each pattern keeps
/// `opacity="0.1"` or `stroke-width="10"` as they are.
fn compact(svg: &str) -> String {
    svg.replace(" opacity=\"1\"", "")
        .replace(" stroke=\"none\"", "")
        .replace(" stroke-width=\"1\"", "")
}

/// A y range from 0 to a little above the largest value (never empty).
fn y_top(max: f64) -> f64 {
    if max > 0.0 {
        max * 1.1
    } else {
        1.0
    }
}

/// How many x labels fit: about one per 70 px.
fn x_label_count(n: usize) -> usize {
    n.clamp(1, 10)
}

/// Daily bars stacked by series (e.g. cost per service per day).
pub fn stacked_bars(
    label: &str,
    x_labels: &[String],
    series: &[Series],
    x_desc: &str,
    y_desc: &str,
    y_format: fn(f64) -> String,
) -> Option<String> {
    let n = x_labels.len();
    let totals: Vec<f64> = (0..n)
        .map(|i| {
            series
                .iter()
                .map(|s| s.values.get(i).copied().unwrap_or(0.0))
                .sum()
        })
        .collect();
    if n == 0 || totals.iter().all(|t| *t <= 0.0) {
        return None;
    }
    let top = y_top(totals.iter().cloned().fold(0.0, f64::max));
    render(label, |root| {
        let mut chart = day_chart(
            root,
            -0.5..n as f64 - 0.5,
            0.0..top,
            x_labels,
            x_desc,
            y_desc,
            y_format,
            false,
        )?;
        let mut base = vec![0.0; n];
        for (k, s) in series.iter().enumerate() {
            let c = colour(k);
            let bars: Vec<_> = (0..n)
                .filter_map(|i| {
                    let v = s.values.get(i).copied().unwrap_or(0.0);
                    (v > 0.0).then(|| {
                        let r = Rectangle::new(
                            [(i as f64 - 0.38, base[i]), (i as f64 + 0.38, base[i] + v)],
                            c.filled(),
                        );
                        base[i] += v;
                        r
                    })
                })
                .collect();
            chart
                .draw_series(bars)?
                .label(s.name.clone())
                .legend(move |(x, y)| Rectangle::new([(x, y - 5), (x + 10, y + 5)], c.filled()));
        }
        legend(&mut chart, SeriesLabelPosition::UpperLeft)
    })
}

/// A chart drawn by [`day_chart`]: numeric x (day positions) and y axes.
type DayChart<'a, 'b> = ChartContext<
    'a,
    SVGBackend<'b>,
    Cartesian2d<plotters::coord::types::RangedCoordf64, plotters::coord::types::RangedCoordf64>,
>;

/// A chart over day positions (0..n, labelled `x_labels`) with a numeric y
/// axis: margins, axis descriptions, tick formats and fonts in one place.
#[allow(clippy::too_many_arguments)]
fn day_chart<'a, 'b>(
    root: &'a DrawingArea<SVGBackend<'b>, Shift>,
    x: std::ops::Range<f64>,
    y: std::ops::Range<f64>,
    x_labels: &[String],
    x_desc: &str,
    y_desc: &str,
    y_format: fn(f64) -> String,
    x_grid: bool,
) -> Result<DayChart<'a, 'b>, Box<dyn std::error::Error>> {
    let mut chart = ChartBuilder::on(root)
        .margin(12)
        .x_label_area_size(44)
        .y_label_area_size(84)
        .build_cartesian_2d(x, y)?;
    let mut mesh = chart.configure_mesh();
    if !x_grid {
        mesh.disable_x_mesh();
    }
    mesh.max_light_lines(LIGHT_LINES)
        .x_labels(x_label_count(x_labels.len()))
        .x_label_formatter(&|x| label_at(x_labels, *x))
        .y_label_formatter(&|y| y_format(*y))
        .x_desc(x_desc)
        .y_desc(y_desc)
        .axis_desc_style((FONT, 20))
        .label_style((FONT, 17))
        .draw()?;
    Ok(chart)
}

/// The label of the x position nearest `x`, only at whole positions.
fn label_at(labels: &[String], x: f64) -> String {
    let i = x.round();
    if (x - i).abs() > 1e-6 || i < 0.0 {
        return String::new();
    }
    labels.get(i as usize).cloned().unwrap_or_default()
}

fn legend<'a, DB: DrawingBackend + 'a, X: Ranged, Y: Ranged>(
    chart: &mut ChartContext<'a, DB, Cartesian2d<X, Y>>,
    at: SeriesLabelPosition,
) -> Drawn
where
    DB::ErrorType: 'static,
{
    chart
        .configure_series_labels()
        .position(at)
        .background_style(WHITE.mix(0.85))
        .border_style(RGBColor(160, 160, 160))
        .label_font((FONT, 17))
        .draw()?;
    Ok(())
}

/// Horizontal bars, one row per label, one bar per series in each row
/// (e.g. cost and revenue per tenant, costliest first).
pub fn ranked_bars(
    label: &str,
    rows: &[String],
    series: &[Series],
    x_desc: &str,
    x_format: fn(f64) -> String,
) -> Option<String> {
    let n = rows.len();
    let max = series
        .iter()
        .flat_map(|s| s.values.iter().copied())
        .fold(0.0, f64::max);
    if n == 0 || max <= 0.0 {
        return None;
    }
    let k = series.len().max(1) as f64;
    render(label, |root| {
        let mut chart = ChartBuilder::on(root)
            .margin(12)
            .x_label_area_size(44)
            .y_label_area_size(120)
            // Row 0 at the top; room on the right for the legend.
            .build_cartesian_2d(0f64..max * 1.35, n as f64 - 0.5..-0.5f64)?;
        chart
            .configure_mesh()
            .disable_y_mesh()
            .max_light_lines(LIGHT_LINES)
            .y_labels(n + 1)
            .y_label_formatter(&|y| {
                let mut l = label_at(rows, *y);
                if l.chars().count() > 16 {
                    l = l.chars().take(15).collect::<String>() + "\u{2026}";
                }
                l
            })
            .x_label_formatter(&|x| x_format(*x))
            .x_labels(6)
            .x_desc(x_desc)
            .axis_desc_style((FONT, 20))
            .label_style((FONT, 17))
            .draw()?;
        let band = 0.8 / k;
        for (j, s) in series.iter().enumerate() {
            let c = colour(j);
            let bars: Vec<_> = s
                .values
                .iter()
                .enumerate()
                .map(|(i, v)| {
                    let top = i as f64 - 0.4 + band * j as f64;
                    Rectangle::new([(0.0, top), (v.max(0.0), top + band)], c.filled())
                })
                .collect();
            chart
                .draw_series(bars)?
                .label(s.name.clone())
                .legend(move |(x, y)| Rectangle::new([(x, y - 5), (x + 10, y + 5)], c.filled()));
        }
        legend(&mut chart, SeriesLabelPosition::UpperRight)
    })
}

/// A histogram of values (e.g. cost per user) in `bins` equal bins from 0,
/// with vertical markers (e.g. p95 and p99) drawn as dashed lines.
pub fn histogram(
    label: &str,
    values: &[f64],
    markers: &[(String, f64)],
    x_desc: &str,
    x_format: fn(f64) -> String,
) -> Option<String> {
    if values.is_empty() {
        return None;
    }
    let max = values.iter().cloned().fold(0.0, f64::max);
    let max = if max > 0.0 { max } else { 1.0 };
    let bins = 24usize;
    let width = max / bins as f64;
    let mut counts = vec![0u64; bins];
    for v in values {
        let i = ((v / width) as usize).min(bins - 1);
        counts[i] += 1;
    }
    let top = y_top(*counts.iter().max().unwrap_or(&1) as f64);
    render(label, |root| {
        let mut chart = ChartBuilder::on(root)
            .margin(12)
            .x_label_area_size(44)
            .y_label_area_size(64)
            .build_cartesian_2d(0f64..max * 1.02, 0f64..top)?;
        chart
            .configure_mesh()
            .disable_x_mesh()
            .max_light_lines(LIGHT_LINES)
            .x_labels(6)
            .x_label_formatter(&|x| x_format(*x))
            .y_label_formatter(&|y| {
                if (y - y.round()).abs() < 1e-9 {
                    format!("{}", *y as i64)
                } else {
                    String::new()
                }
            })
            .x_desc(x_desc)
            .y_desc("Users")
            .axis_desc_style((FONT, 20))
            .label_style((FONT, 17))
            .draw()?;
        let c = colour(0);
        chart
            .draw_series(
                counts
                    .iter()
                    .enumerate()
                    .filter(|(_, n)| **n > 0)
                    .map(|(i, n)| {
                        Rectangle::new(
                            [(i as f64 * width, 0.0), ((i + 1) as f64 * width, *n as f64)],
                            c.mix(0.8).filled(),
                        )
                    }),
            )?
            .label("users per cost bin")
            .legend(move |(x, y)| Rectangle::new([(x, y - 5), (x + 10, y + 5)], c.filled()));
        for (j, (name, at)) in markers.iter().enumerate() {
            let m = colour(j + 5);
            chart
                .draw_series(DashedLineSeries::new(
                    vec![(*at, 0.0), (*at, top)],
                    6,
                    4,
                    m.stroke_width(2),
                ))?
                .label(format!("{name} {}", x_format(*at)))
                .legend(move |(x, y)| {
                    PathElement::new(vec![(x, y), (x + 14, y)], m.stroke_width(2))
                });
        }
        legend(&mut chart, SeriesLabelPosition::UpperRight)
    })
}

/// Lines over x positions with labels (e.g. hit rate per day). Values that
/// are `NaN` leave a gap.
pub fn lines(
    label: &str,
    x_labels: &[String],
    series: &[Series],
    x_desc: &str,
    y_desc: &str,
    y_range: Option<(f64, f64)>,
    y_format: fn(f64) -> String,
) -> Option<String> {
    let n = x_labels.len();
    let finite = || {
        series
            .iter()
            .flat_map(|s| s.values.iter().copied())
            .filter(|v| v.is_finite())
    };
    if n == 0 || finite().next().is_none() {
        return None;
    }
    let (lo, hi) = y_range.unwrap_or_else(|| {
        let min = finite().fold(f64::INFINITY, f64::min).min(0.0);
        (min, y_top(finite().fold(0.0, f64::max)))
    });
    render(label, |root| {
        let mut chart = day_chart(
            root,
            -0.5..(n as f64 - 0.5).max(0.5),
            lo..hi,
            x_labels,
            x_desc,
            y_desc,
            y_format,
            true,
        )?;
        for (k, s) in series.iter().enumerate() {
            let c = colour(k);
            let points: Vec<(f64, f64)> = s
                .values
                .iter()
                .enumerate()
                .filter(|(_, v)| v.is_finite())
                .map(|(i, v)| (i as f64, *v))
                .collect();
            chart
                .draw_series(LineSeries::new(points.clone(), c.stroke_width(2)))?
                .label(s.name.clone())
                .legend(move |(x, y)| {
                    PathElement::new(vec![(x, y), (x + 14, y)], c.stroke_width(2))
                });
            // Markers (a different shape per series), so a point of one
            // day is visible and series differ by more than colour.
            if k % 2 == 0 {
                chart.draw_series(points.iter().map(|p| Circle::new(*p, 3, c.filled())))?;
            } else {
                chart.draw_series(
                    points
                        .iter()
                        .map(|p| TriangleMarker::new(*p, 4, c.filled())),
                )?;
            }
        }
        legend(&mut chart, SeriesLabelPosition::UpperLeft)
    })
}

/// A past series per name and its projection with a band: history lines up
/// to `history_len`, then the projected line and a shaded band `[lo, hi]`.
pub struct Projection {
    pub name: String,
    pub history: Vec<f64>,
    /// (line, low, high) for each day after the history.
    pub projected: Vec<(f64, f64, f64)>,
}

/// Each series' history and projection over days labelled `x_labels`, with
/// a marker where the history ends ("today").
pub fn forecast(
    label: &str,
    x_labels: &[String],
    series: &[Projection],
    y_desc: &str,
    y_format: fn(f64) -> String,
) -> Option<String> {
    let n = x_labels.len();
    let max = series
        .iter()
        .flat_map(|s| {
            s.history
                .iter()
                .copied()
                .chain(s.projected.iter().map(|p| p.2))
        })
        .fold(0.0, f64::max);
    if n == 0 || max <= 0.0 {
        return None;
    }
    render(label, |root| {
        let mut chart = day_chart(
            root,
            0.0..n as f64,
            0.0..y_top(max),
            x_labels,
            "Day (UTC)",
            y_desc,
            y_format,
            true,
        )?;
        let mut today = 0;
        for (k, s) in series.iter().enumerate() {
            today = today.max(s.history.len());
            draw_projection(&mut chart, s, colour(k))?;
        }
        draw_today(&mut chart, today, y_top(max))?;
        legend(&mut chart, SeriesLabelPosition::UpperLeft)
    })
}

/// Draws one projection in colour `c`: the shaded band `[lo, hi]` after the
/// history, the history as a solid line and the projection dashed, each
/// named in the legend.
fn draw_projection(chart: &mut DayChart<'_, '_>, s: &Projection, c: RGBColor) -> Drawn {
    let h = s.history.len();
    let band: Vec<(f64, f64)> = s
        .projected
        .iter()
        .enumerate()
        .map(|(i, p)| ((h + i) as f64, p.2))
        .chain(
            s.projected
                .iter()
                .enumerate()
                .rev()
                .map(|(i, p)| ((h + i) as f64, p.1.max(0.0))),
        )
        .collect();
    if !band.is_empty() {
        chart
            .draw_series(std::iter::once(Polygon::new(band, c.mix(0.18).filled())))?
            .label(format!("{} 95% band", s.name))
            .legend(move |(x, y)| {
                Rectangle::new([(x, y - 5), (x + 14, y + 5)], c.mix(0.18).filled())
            });
    }
    chart
        .draw_series(LineSeries::new(
            s.history.iter().enumerate().map(|(i, v)| (i as f64, *v)),
            c.stroke_width(2),
        ))?
        .label(format!("{} (actual)", s.name))
        .legend(move |(x, y)| PathElement::new(vec![(x, y), (x + 14, y)], c.stroke_width(2)));
    chart
        .draw_series(DashedLineSeries::new(
            s.projected
                .iter()
                .enumerate()
                .map(|(i, p)| ((h + i) as f64, p.0)),
            8,
            5,
            c.stroke_width(2),
        ))?
        .label(format!("{} (forecast)", s.name))
        .legend(move |(x, y)| PathElement::new(vec![(x, y), (x + 5, y)], c.stroke_width(2)));
    Ok(())
}

/// Marks "today", where the history ends (x = `today`), with a dashed grey
/// line up to `top` and a label at its top.
fn draw_today(chart: &mut DayChart<'_, '_>, today: usize, top: f64) -> Drawn {
    let grey = RGBColor(90, 90, 90);
    chart.draw_series(DashedLineSeries::new(
        vec![(today as f64, 0.0), (today as f64, top)],
        3,
        3,
        grey.stroke_width(1),
    ))?;
    chart.draw_series(std::iter::once(Text::new(
        "today",
        (today as f64, top),
        TextStyle::from((FONT, 16).into_font())
            .color(&grey)
            .pos(Pos::new(HPos::Left, VPos::Top)),
    )))?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ninety_days() -> String {
        let days: Vec<String> = (1..=90).map(|d| format!("d{d}")).collect();
        let series: Vec<Series> = (0..5)
            .map(|s| Series {
                name: format!("service {s}"),
                values: (0..90).map(|d| f64::from((d * 7 + s * 13) % 50)).collect(),
            })
            .collect();
        stacked_bars("cost", &days, &series, "day", "USD", |y| format!("{y:.0}")).expect("drawn")
    }

    #[test]
    fn a_chart_carries_no_attribute_that_repeats_an_initial_value() {
        let svg = ninety_days();
        assert!(svg.matches("<rect").count() > 400, "every bar drawn");
        for default in [" opacity=\"1\"", " stroke=\"none\"", " stroke-width=\"1\""] {
            assert!(!svg.contains(default), "{default} left in");
        }
        // Values other than the initial ones stay.
        assert!(svg.contains("opacity=\"0.1\"") || svg.contains("opacity=\"0.2\""));
        assert!(svg.contains(" fill=\"#"));
    }

    #[test]
    fn compact_keeps_values_that_only_start_like_an_initial_one() {
        let svg = r##"<line opacity="0.1" stroke="#000000" stroke-width="10"/><rect opacity="1" stroke="none"/>"##;
        assert_eq!(
            compact(svg),
            r##"<line opacity="0.1" stroke="#000000" stroke-width="10"/><rect/>"##
        );
    }

    #[test]
    fn ninety_days_of_five_services_fit_in_a_small_chart() {
        // Was 49 KB on the 90-day costs page before the compaction.
        let svg = ninety_days();
        assert!(svg.len() < 36_000, "{} bytes", svg.len());
    }
}
