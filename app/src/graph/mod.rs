//! The graph view's logic and drawing: [`data`] prepares a range query's series, [`ticks`]
//! places and labels the axes, [`chart`] draws them with plotters on a canvas.

pub mod chart;
pub mod data;
pub mod ticks;
