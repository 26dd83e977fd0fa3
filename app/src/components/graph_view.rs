//! The graph tab: range, end time, resolution, display mode and refresh controls; the chart
//! on a canvas with a crosshair and tooltip drawn over it in HTML (so hovering never redraws
//! the chart); drag to zoom into a time range, double click to zoom out; a legend where a
//! click isolates a series and Ctrl/Cmd/Shift+click toggles it.

use std::collections::HashSet;

use leptos::html;
use leptos::prelude::*;

use crate::api::{ApiError, QueryResponse, QueryResult};
use crate::components::end_time::EndTimeInput;
use crate::graph::chart::{draw, ChartGeometry, ChartRequest, ChartTheme};
use crate::graph::data::{graph_series, stack, values_at, GraphSeries};
use crate::graph::ticks::{format_value, unit_of};
use crate::panel_state::{Density, DisplayMode, PanelState, Resolution};
use crate::settings::{self, Settings};

/// A finished range query and the window it was asked for.
#[derive(Clone)]
pub struct GraphOutcome {
    pub response: Result<QueryResponse, ApiError>,
    pub start_ms: i64,
    pub end_ms: i64,
    pub step_ms: i64,
    pub load_time_ms: f64,
}

/// Range presets, as Prometheus's range input steps through them.
const RANGE_PRESETS: &[(&str, i64)] = &[
    ("5m", 300_000),
    ("15m", 900_000),
    ("30m", 1_800_000),
    ("1h", 3_600_000),
    ("3h", 10_800_000),
    ("6h", 21_600_000),
    ("12h", 43_200_000),
    ("1d", 86_400_000),
    ("2d", 172_800_000),
    ("1w", 604_800_000),
    ("2w", 1_209_600_000),
    ("4w", 2_419_200_000),
    ("8w", 4_838_400_000),
];

/// The height of the chart in CSS pixels.
const CHART_HEIGHT: f64 = 320.0;

/// The theme's colours for the chart's labels and grid: the frame's computed `color` and
/// border colour, which its CSS takes from the theme (custom properties holding `light-dark()`
/// are not resolved by `getComputedStyle`, used colours are).
fn chart_theme(frame: &web_sys::Element) -> ChartTheme {
    let style = window().get_computed_style(frame).ok().flatten();
    let read = |name: &str, fallback: &str| {
        style
            .as_ref()
            .and_then(|style| style.get_property_value(name).ok())
            .map(|value| value.trim().to_owned())
            .filter(|value| !value.is_empty())
            .unwrap_or_else(|| fallback.to_owned())
    };
    ChartTheme {
        text: read("color", "#5d6675"),
        grid: read("border-top-color", "#d9dde4"),
    }
}

#[component]
pub fn GraphControls(state: RwSignal<PanelState>, refresh_seconds: RwSignal<u32>) -> impl IntoView {
    let range_text = move || narthex_model::duration::format_duration(state.with(|s| s.range_ms));
    let set_range = move |ms: i64| {
        if ms > 0 {
            state.update(|s| s.range_ms = ms);
        }
    };
    let step_text = move || match state.with(|s| s.resolution) {
        Resolution::Auto(_) => String::new(),
        Resolution::Fixed(seconds) => {
            narthex_model::duration::format_duration((seconds * 1000.0) as i64)
        }
    };
    view! {
        <div class="graph-controls">
            <div class="control-group" role="group" aria-label="Range">
                <button
                    type="button"
                    title="Shorter range"
                    data-testid="range-shorter"
                    on:click=move |_| {
                        let current = state.with_untracked(|s| s.range_ms);
                        let shorter = RANGE_PRESETS.iter().rev().find(|(_, ms)| *ms < current);
                        set_range(shorter.map_or(current / 2, |(_, ms)| *ms));
                    }
                >
                    "−"
                </button>
                <input
                    class="range-input"
                    data-testid="range-input"
                    aria-label="Range"
                    list="range-presets"
                    prop:value=range_text
                    on:change=move |event| {
                        match narthex_model::duration::parse_duration(event_target_value(&event).trim()) {
                            Ok(ms) if ms > 0 => set_range(ms),
                            _ => state.update(|_| {}),
                        }
                    }
                />
                <datalist id="range-presets">
                    {RANGE_PRESETS.iter().map(|(text, _)| view! { <option value=*text></option> }).collect_view()}
                </datalist>
                <button
                    type="button"
                    title="Longer range"
                    data-testid="range-longer"
                    on:click=move |_| {
                        let current = state.with_untracked(|s| s.range_ms);
                        let longer = RANGE_PRESETS.iter().find(|(_, ms)| *ms > current);
                        set_range(longer.map_or(current * 2, |(_, ms)| *ms));
                    }
                >
                    "+"
                </button>
            </div>
            <EndTimeInput state test_id="end" label="End time" />
            <div class="control-group">
                <input
                    class="step-input"
                    data-testid="step-input"
                    aria-label="Resolution"
                    placeholder="Res. (auto)"
                    title="Step of the range query: a duration, or empty for automatic"
                    prop:value=step_text
                    on:change=move |event| {
                        let text = event_target_value(&event);
                        let text = text.trim();
                        let auto = match state.with_untracked(|s| s.resolution) {
                            Resolution::Auto(density) => Resolution::Auto(density),
                            Resolution::Fixed(_) => Resolution::Auto(Density::Medium),
                        };
                        let resolution = if text.is_empty() {
                            auto
                        } else if let Ok(ms) = narthex_model::duration::parse_duration(text) {
                            Resolution::Fixed(ms as f64 / 1000.0)
                        } else if let Ok(seconds) = text.parse::<f64>() {
                            Resolution::Fixed(seconds)
                        } else {
                            auto
                        };
                        state.update(|s| s.resolution = resolution);
                    }
                />
            </div>
            <div class="control-group" role="group" aria-label="Display mode">
                <select
                    data-testid="display-mode"
                    aria-label="Display mode"
                    on:change=move |event| {
                        let mode = if event_target_value(&event) == "stacked" {
                            DisplayMode::Stacked
                        } else {
                            DisplayMode::Lines
                        };
                        state.update(|s| s.display_mode = mode);
                    }
                >
                    <option value="lines" selected=move || state.with(|s| s.display_mode == DisplayMode::Lines)>"Lines"</option>
                    <option value="stacked" selected=move || state.with(|s| s.display_mode == DisplayMode::Stacked)>"Stacked"</option>
                </select>
                <select
                    data-testid="refresh"
                    aria-label="Auto-refresh"
                    on:change=move |event| refresh_seconds.set(event_target_value(&event).parse().unwrap_or(0))
                >
                    {[(0, "No refresh"), (5, "Every 5s"), (10, "Every 10s"), (30, "Every 30s"), (60, "Every 1m"), (300, "Every 5m")]
                        .into_iter()
                        .map(|(seconds, label)| {
                            view! {
                                <option value=seconds.to_string() selected=move || refresh_seconds.get() == seconds>
                                    {label}
                                </option>
                            }
                        })
                        .collect_view()}
                </select>
            </div>
        </div>
    }
}

/// `hidden` holds the legend keys of the series not drawn; it belongs to the panel, so a
/// refresh (or auto-refresh) of the query keeps what the user chose to see.
#[component]
pub fn GraphView(
    outcome: GraphOutcome,
    state: RwSignal<PanelState>,
    hidden: RwSignal<HashSet<String>>,
) -> impl IntoView {
    let settings = Settings::get();
    let series: Vec<GraphSeries> = match &outcome.response {
        Ok(QueryResponse {
            result: QueryResult::Matrix(matrix),
            ..
        }) => graph_series(matrix),
        _ => Vec::new(),
    };
    let series = StoredValue::new(series);
    let canvas = NodeRef::<html::Canvas>::new();
    let frame = NodeRef::<html::Div>::new();
    let geometry = RwSignal::new(None::<ChartGeometry>);
    let hover = RwSignal::new(None::<(f64, f64)>);
    let drag_start = RwSignal::new(None::<f64>);
    let width = RwSignal::new(0.0f64);
    let draw_error = RwSignal::new(None::<String>);
    let (start_ms, end_ms, step_ms) = (outcome.start_ms, outcome.end_ms, outcome.step_ms);
    // Lines or stacked is redrawn here, without a new query.
    let stacked = Memo::new(move |_| state.with(|s| s.display_mode == DisplayMode::Stacked));

    // What is drawn: visible series, stacked when asked (legend order is the result's order).
    let drawn = Memo::new(move |_| {
        let hidden = hidden.get();
        let visible: Vec<GraphSeries> = series.with_value(|all| {
            all.iter()
                .filter(|s| !hidden.contains(&s.key))
                .cloned()
                .collect()
        });
        if stacked.get() {
            stack(&visible)
        } else {
            visible
        }
    });
    let unit =
        Memo::new(move |_| series.with_value(|all| unit_of(all.iter().map(|s| s.metric_name()))));

    // Also called from an animation frame, when the view may already be gone.
    let measure = move || {
        if let Some(frame) = frame.try_get_untracked().flatten() {
            width.try_set(f64::from(frame.client_width()));
        }
    };
    let resize = window_event_listener(leptos::ev::resize, move |_| measure());
    on_cleanup(move || resize.remove());
    request_animation_frame(measure);

    Effect::new(move |_| {
        let css_width = width.get();
        let utc = settings.utc.get();
        settings.theme.track();
        let drawn = drawn.get();
        let (Some(canvas), Some(frame_element)) = (canvas.get(), frame.get()) else {
            return;
        };
        if css_width <= 0.0 {
            return;
        }
        let ratio = window().device_pixel_ratio().max(1.0);
        canvas.set_width((css_width * ratio) as u32);
        canvas.set_height((CHART_HEIGHT * ratio) as u32);
        let refs: Vec<&GraphSeries> = drawn.iter().collect();
        let offset = move |ms: i64| settings::offset_minutes(utc, ms);
        let theme = chart_theme(&frame_element);
        let request = ChartRequest {
            series: &refs,
            start_ms,
            end_ms,
            step_ms,
            stacked: stacked.get(),
            unit: unit.get(),
            offset_minutes: &offset,
            theme: &theme,
            pixel_ratio: ratio,
        };
        let began = js_sys::Date::now();
        match draw(&canvas, &request) {
            Ok(drawn_geometry) => {
                // How long the drawing took, for the benchmark and for tests to wait on.
                let _ = canvas.set_attribute(
                    "data-draw-ms",
                    &format!("{:.0}", js_sys::Date::now() - began),
                );
                geometry.set(Some(drawn_geometry));
                draw_error.set(None);
            }
            Err(error) => draw_error.set(Some(error)),
        }
    });

    let position_in_frame = move |event: &leptos::ev::MouseEvent| -> Option<(f64, f64)> {
        let frame = frame.get_untracked()?;
        let rect = frame.get_bounding_client_rect();
        Some((
            f64::from(event.client_x()) - rect.left(),
            f64::from(event.client_y()) - rect.top(),
        ))
    };
    let inside_plot = move |x: f64| {
        geometry
            .get_untracked()
            .is_some_and(|g| x >= g.left && x <= g.right)
    };
    let on_mouse_move = move |event: leptos::ev::MouseEvent| {
        hover.set(position_in_frame(&event).filter(|(x, _)| inside_plot(*x)));
    };
    let on_mouse_down = move |event: leptos::ev::MouseEvent| {
        if event.button() == 0 {
            if let Some((x, _)) = position_in_frame(&event).filter(|(x, _)| inside_plot(*x)) {
                event.prevent_default();
                drag_start.set(Some(x));
            }
        }
    };
    let on_mouse_up = move |event: leptos::ev::MouseEvent| {
        let (Some(from), Some((to, _)), Some(g)) = (
            drag_start.get_untracked(),
            position_in_frame(&event),
            geometry.get_untracked(),
        ) else {
            drag_start.set(None);
            return;
        };
        drag_start.set(None);
        if (to - from).abs() < 5.0 {
            return;
        }
        let (left, right) = (g.time_at(from.min(to)), g.time_at(from.max(to)));
        if right - left >= 1000 {
            state.update(|s| {
                s.range_ms = right - left;
                s.end_ms = Some(right);
            });
        }
    };
    let on_double_click = move |_| {
        let now = js_sys::Date::now() as i64;
        state.update(|s| {
            let end = s.end_ms.unwrap_or(now);
            let center = end - s.range_ms / 2;
            s.range_ms *= 2;
            let new_end = center + s.range_ms / 2;
            s.end_ms = (new_end < now).then_some(new_end);
        });
    };

    let tooltip = move || {
        let (x, y) = hover.get()?;
        let g = geometry.get()?;
        let unit = unit.get();
        let hidden_keys = hidden.get();
        // Borrowed, not cloned: with 500 series of 11,000 points a copy per mouse move would
        // cost more than the rest of the frame.
        let (t, mut rows) = series.with_value(|all| {
            let visible: Vec<&GraphSeries> = all
                .iter()
                .filter(|s| !hidden_keys.contains(&s.key))
                .collect();
            let (t, values) = values_at(&visible, g.time_at(x))?;
            let rows: Vec<(f64, String, &'static str, f64)> = drawn.with(|drawn| {
                values
                    .into_iter()
                    .map(|(index, value)| {
                        let shown = drawn
                            .get(index)
                            .and_then(|d| {
                                d.points
                                    .binary_search_by_key(&t, |p| p.0)
                                    .ok()
                                    .map(|i| d.points[i].1)
                            })
                            .unwrap_or(value);
                        let series = visible[index];
                        (
                            (g.y_of(shown) - y).abs(),
                            series.key.clone(),
                            series.color,
                            value,
                        )
                    })
                    .collect()
            });
            Some((t, rows))
        })?;
        // The series drawn nearest the cursor comes first.
        rows.sort_by(|a, b| a.0.total_cmp(&b.0));
        let shown_rows = rows.len().min(10);
        let more = rows.len() - shown_rows;
        let left = g.x_of(t);
        let flip = left > g.right - 260.0;
        Some(view! {
            <div class="crosshair" style:left=format!("{left}px") style:top=format!("{}px", g.top) style:height=format!("{}px", g.bottom - g.top)></div>
            <div
                class="tooltip"
                data-testid="graph-tooltip"
                style:left=if flip { format!("{}px", left - 270.0) } else { format!("{}px", left + 12.0) }
                style:top=format!("{}px", (y - 10.0).max(0.0))
            >
                <div class="tooltip-time" data-testid="tooltip-time">
                    {settings::format_time(settings.utc.get(), t)}
                </div>
                {rows
                    .into_iter()
                    .take(shown_rows)
                    .map(|(_, key, color, value)| {
                        view! {
                            <div class="tooltip-row" data-testid="tooltip-row">
                                <span class="swatch" style:background=color></span>
                                <span class="tooltip-series">{key}</span>
                                <span class="tooltip-value" data-testid="tooltip-value">
                                    {format_value(value, unit)}
                                </span>
                            </div>
                        }
                    })
                    .collect_view()}
                {(more > 0).then(|| view! { <div class="tooltip-more">{format!("and {more} more")}</div> })}
            </div>
        })
    };
    let selection = move || {
        let from = drag_start.get()?;
        let (to, _) = hover.get()?;
        let g = geometry.get()?;
        Some(view! {
            <div
                class="zoom-selection"
                data-testid="zoom-selection"
                style:left=format!("{}px", from.min(to))
                style:width=format!("{}px", (to - from).abs())
                style:top=format!("{}px", g.top)
                style:height=format!("{}px", g.bottom - g.top)
            ></div>
        })
    };

    let series_count = series.with_value(Vec::len);
    let notes = match &outcome.response {
        Ok(response) => response
            .warnings
            .iter()
            .map(|w| ("warning", w.clone()))
            .chain(response.infos.iter().map(|i| ("info", i.clone())))
            .collect::<Vec<_>>(),
        Err(_) => Vec::new(),
    };
    let stats = outcome.response.as_ref().ok().and_then(|r| r.stats);
    // Every series' key once, shared by the legend entries.
    let keys: std::sync::Arc<Vec<String>> =
        std::sync::Arc::new(series.with_value(|all| all.iter().map(|s| s.key.clone()).collect()));
    let legend = move || {
        series.with_value(|all| {
            all.iter()
                .map(|one| {
                    let key = one.key.clone();
                    let key_for_click = key.clone();
                    let keys = keys.clone();
                    let is_hidden = {
                        let key = key.clone();
                        move || hidden.with(|h| h.contains(&key))
                    };
                    view! {
                        <li
                            class="legend-item"
                            class:hidden=is_hidden
                            data-testid="legend-item"
                            title="Click to show only this series; Ctrl/Cmd/Shift+click to toggle it"
                            on:click=move |event: leptos::ev::MouseEvent| {
                                let key = key_for_click.clone();
                                let toggle = event.ctrl_key() || event.meta_key() || event.shift_key();
                                hidden.update(|hidden| {
                                    if toggle {
                                        if !hidden.remove(&key) {
                                            hidden.insert(key);
                                        }
                                    } else {
                                        // Isolated: this one shown, every other one of this
                                        // result hidden.
                                        let isolated = !hidden.contains(&key)
                                            && keys.iter().all(|k| *k == key || hidden.contains(k));
                                        hidden.clear();
                                        if !isolated {
                                            hidden.extend(keys.iter().filter(|k| **k != key).cloned());
                                        }
                                    }
                                });
                            }
                        >
                            <span class="swatch" style:background=one.color></span>
                            <span class="legend-label">{key}</span>
                        </li>
                    }
                })
                .collect_view()
        })
    };

    view! {
        <div class="result-stats" data-testid="result-stats">
            <span data-testid="series-count">{format!("Series: {series_count}")}</span>
            <span>{format!("Load time: {} ms", outcome.load_time_ms.round())}</span>
            {stats.map(|stats| view! {
                <span data-testid="samples-read">{format!("Samples read: {}", stats.samples.total_queryable_samples)}</span>
                <span>{format!("Query time: {:.1} ms", stats.timings.eval_total_time * 1000.0)}</span>
            })}
            <span>{format!("Resolution: {}", narthex_model::duration::format_duration(step_ms))}</span>
        </div>
        {(!notes.is_empty()).then(|| view! {
            <ul class="notes">{notes.into_iter().map(|(kind, text)| view! { <li class=kind>{text}</li> }).collect_view()}</ul>
        })}
        {move || draw_error.get().map(|e| view! { <p class="error">{format!("cannot draw the graph: {e}")}</p> })}
        {(series_count == 0).then(|| view! { <p class="hint" data-testid="graph-empty">"No data points in this range."</p> })}
        <div
            class="chart-frame"
            node_ref=frame
            data-testid="graph"
            on:mousemove=on_mouse_move
            on:mouseleave=move |_| {
                hover.set(None);
                drag_start.set(None);
            }
            on:mousedown=on_mouse_down
            on:mouseup=on_mouse_up
            on:dblclick=on_double_click
        >
            <canvas node_ref=canvas class="chart" data-testid="graph-canvas" style:height=format!("{CHART_HEIGHT}px")></canvas>
            {selection}
            {tooltip}
        </div>
        <ul class="legend" data-testid="legend">{legend}</ul>
    }
}
