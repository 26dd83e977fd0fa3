//! Draws a graph with plotters on a `<canvas>`: time and value axes with the ticks of
//! [`super::ticks`], a light grid, one line per visible series reduced to a few points per pixel,
//! and filled bands when stacked. Returns where the plot area ended up so the page can map the
//! mouse back to times and values for the crosshair, tooltip and zoom.

use plotters::prelude::*;
use plotters::style::text_anchor::{HPos, Pos, VPos};
use plotters_canvas::CanvasBackend;
use web_sys::HtmlCanvasElement;

use super::data::{runs, value_range, GraphSeries};
use super::ticks::{format_value, time_ticks, value_ticks, Unit};

/// Colours of the chart's frame, taken from the page's theme.
#[derive(Clone, Debug, PartialEq)]
pub struct ChartTheme {
    pub text: String,
    pub grid: String,
}

/// What to draw.
pub struct ChartRequest<'a> {
    /// Already stacked when `stacked`.
    pub series: &'a [&'a GraphSeries],
    pub start_ms: i64,
    pub end_ms: i64,
    pub step_ms: i64,
    pub stacked: bool,
    pub unit: Unit,
    /// Minutes east of UTC of the displayed time zone at a time.
    pub offset_minutes: &'a dyn Fn(i64) -> i64,
    pub theme: &'a ChartTheme,
    /// Canvas pixels per CSS pixel.
    pub pixel_ratio: f64,
}

/// Where the plot area is, in CSS pixels from the canvas's top left corner, and what it shows.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct ChartGeometry {
    pub left: f64,
    pub right: f64,
    pub top: f64,
    pub bottom: f64,
    pub start_ms: i64,
    pub end_ms: i64,
    pub min_value: f64,
    pub max_value: f64,
}

impl ChartGeometry {
    /// The time under the horizontal CSS pixel position `x`.
    pub fn time_at(&self, x: f64) -> i64 {
        let fraction = ((x - self.left) / (self.right - self.left).max(1.0)).clamp(0.0, 1.0);
        self.start_ms + ((self.end_ms - self.start_ms) as f64 * fraction).round() as i64
    }

    /// The horizontal CSS pixel position of time `t`.
    pub fn x_of(&self, t: i64) -> f64 {
        let span = (self.end_ms - self.start_ms).max(1) as f64;
        self.left + (t - self.start_ms) as f64 / span * (self.right - self.left)
    }

    /// The vertical CSS pixel position of `value`.
    pub fn y_of(&self, value: f64) -> f64 {
        let span = (self.max_value - self.min_value).max(f64::MIN_POSITIVE);
        self.bottom - (value - self.min_value) / span * (self.bottom - self.top)
    }
}

/// `#rrggbb` (or `rgb(r, g, b)`, as `getComputedStyle` answers) as a plotters colour.
pub fn parse_color(text: &str) -> RGBColor {
    let text = text.trim();
    if let Some(hex) = text.strip_prefix('#') {
        if hex.len() == 6 {
            let channel = |i: usize| u8::from_str_radix(&hex[i..i + 2], 16).unwrap_or(128);
            return RGBColor(channel(0), channel(2), channel(4));
        }
    }
    if let Some(inner) = text
        .strip_prefix("rgb(")
        .or_else(|| text.strip_prefix("rgba("))
        .and_then(|rest| rest.strip_suffix(')'))
    {
        let channels: Vec<u8> = inner
            .split(',')
            .take(3)
            .filter_map(|part| part.trim().parse::<f64>().ok())
            .map(|value| value.clamp(0.0, 255.0) as u8)
            .collect();
        if let [red, green, blue] = channels[..] {
            return RGBColor(red, green, blue);
        }
    }
    RGBColor(128, 128, 128)
}

/// Draws `request` on `canvas`, whose pixel size the caller has set.
pub fn draw(
    canvas: &HtmlCanvasElement,
    request: &ChartRequest<'_>,
) -> Result<ChartGeometry, String> {
    let ratio = request.pixel_ratio.max(1.0);
    let css_width = f64::from(canvas.width()) / ratio;
    let backend = CanvasBackend::with_canvas_object(canvas.clone())
        .ok_or_else(|| "the canvas has no 2D context".to_owned())?;
    let root = backend.into_drawing_area();
    root.fill(&TRANSPARENT).map_err(|e| e.to_string())?;
    if let Some(context) = canvas.get_context("2d").ok().flatten().and_then(|context| {
        wasm_bindgen::JsCast::dyn_into::<web_sys::CanvasRenderingContext2d>(context).ok()
    }) {
        context.clear_rect(
            0.0,
            0.0,
            f64::from(canvas.width()),
            f64::from(canvas.height()),
        );
    }

    let (min_value, max_value) = value_range(request.series).unwrap_or((0.0, 1.0));
    let (min_value, max_value) = if request.stacked && min_value > 0.0 {
        (0.0, max_value)
    } else {
        (min_value, max_value)
    };
    let (start, end) = (request.start_ms, request.end_ms.max(request.start_ms + 1));
    let x_ticks = time_ticks(
        start,
        end,
        ((css_width - 80.0) / 110.0).clamp(2.0, 12.0) as usize,
        request.offset_minutes,
    );
    let y_ticks = value_ticks(min_value, max_value, 6);
    let scaled = |css: f64| (css * ratio).round() as u32;

    let text_color = parse_color(&request.theme.text);
    let grid_color = parse_color(&request.theme.grid);
    let font = ("sans-serif", 12.0 * ratio).into_font().color(&text_color);

    let mut chart = ChartBuilder::on(&root)
        .margin(scaled(10.0))
        .x_label_area_size(scaled(24.0))
        .y_label_area_size(scaled(64.0))
        .build_cartesian_2d(start as f64..end as f64, min_value..max_value)
        .map_err(|e| e.to_string())?;
    // The grid and labels are drawn here rather than by plotters' mesh, whose tick choice cannot
    // be told to land on round times of a time zone.
    let grid = grid_color.mix(0.5).stroke_width(scaled(1.0));
    for (t, label) in &x_ticks {
        let x = *t as f64;
        chart
            .draw_series(std::iter::once(PathElement::new(
                vec![(x, min_value), (x, max_value)],
                grid,
            )))
            .map_err(|e| e.to_string())?;
        let (px, py) = chart.backend_coord(&(x, min_value));
        root.draw(&Text::new(
            label.clone(),
            (px, py + scaled(6.0) as i32),
            font.clone().pos(Pos::new(HPos::Center, VPos::Top)),
        ))
        .map_err(|e| e.to_string())?;
    }
    for value in &y_ticks {
        chart
            .draw_series(std::iter::once(PathElement::new(
                vec![(start as f64, *value), (end as f64, *value)],
                grid,
            )))
            .map_err(|e| e.to_string())?;
        let (px, py) = chart.backend_coord(&(start as f64, *value));
        root.draw(&Text::new(
            format_value(*value, request.unit),
            (px - scaled(6.0) as i32, py),
            font.clone().pos(Pos::new(HPos::Right, VPos::Center)),
        ))
        .map_err(|e| e.to_string())?;
    }
    chart
        .draw_series(std::iter::once(Rectangle::new(
            [(start as f64, min_value), (end as f64, max_value)],
            grid_color.stroke_width(scaled(1.0)),
        )))
        .map_err(|e| e.to_string())?;

    let (x_pixels, y_pixels) = chart.plotting_area().get_pixel_range();
    let plot_width = f64::from((x_pixels.end - x_pixels.start).max(1)) / ratio;
    let ms_per_pixel = (end - start) as f64 / plot_width;
    // A series is broken where it has no sample for longer than a step and a half.
    let max_gap_ms = request.step_ms + request.step_ms / 2;

    if request.stacked {
        for series in request.series.iter().rev() {
            let fill = parse_color(series.color).mix(0.25);
            for run in runs(&series.points, max_gap_ms, ms_per_pixel) {
                chart
                    .draw_series(AreaSeries::new(
                        run.iter().map(|&(t, v)| (t as f64, v)),
                        0.0,
                        fill.filled(),
                    ))
                    .map_err(|e| e.to_string())?;
            }
        }
    }
    for series in request.series {
        let color = parse_color(series.color);
        for run in runs(&series.points, max_gap_ms, ms_per_pixel) {
            if run.len() == 1 {
                let (t, v) = run[0];
                chart
                    .draw_series(std::iter::once(Circle::new(
                        (t as f64, v),
                        scaled(1.5),
                        color.filled(),
                    )))
                    .map_err(|e| e.to_string())?;
                continue;
            }
            chart
                .draw_series(LineSeries::new(
                    run.iter().map(|&(t, v)| (t as f64, v)),
                    color.stroke_width(scaled(1.5)),
                ))
                .map_err(|e| e.to_string())?;
        }
    }
    root.present().map_err(|e| e.to_string())?;

    Ok(ChartGeometry {
        left: f64::from(x_pixels.start) / ratio,
        right: f64::from(x_pixels.end) / ratio,
        top: f64::from(y_pixels.start) / ratio,
        bottom: f64::from(y_pixels.end) / ratio,
        start_ms: start,
        end_ms: end,
        min_value,
        max_value,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn colours_parse_from_css() {
        assert_eq!(parse_color("#1f77b4"), RGBColor(0x1f, 0x77, 0xb4));
        assert_eq!(parse_color(" rgb(10, 20, 30) "), RGBColor(10, 20, 30));
        assert_eq!(parse_color("rgba(1, 2, 3, 0.5)"), RGBColor(1, 2, 3));
        assert_eq!(parse_color("tomato"), RGBColor(128, 128, 128));
    }

    #[test]
    fn geometry_maps_pixels_to_times_and_values() {
        let geometry = ChartGeometry {
            left: 50.0,
            right: 150.0,
            top: 10.0,
            bottom: 110.0,
            start_ms: 1_000,
            end_ms: 2_000,
            min_value: 0.0,
            max_value: 10.0,
        };
        assert_eq!(geometry.time_at(100.0), 1_500);
        assert_eq!(geometry.time_at(0.0), 1_000);
        assert_eq!(geometry.time_at(500.0), 2_000);
        assert_eq!(geometry.x_of(1_250), 75.0);
        assert_eq!(geometry.y_of(5.0), 60.0);
    }
}
