//! Curves over a count (steps, epochs, generations) as SVG: one path per series (the metrics
//! route downsamples long stages, so a path has at most a few thousand vertices), round ticks,
//! a legend.

use leptos::prelude::*;

use proard_shared::ticks::{count_ticks, nice_ticks, padded_extent, tick_label};

/// One curve.
#[derive(Clone, Debug, PartialEq)]
pub struct Line {
    pub name: String,
    pub color: String,
    pub points: Vec<(f64, f64)>,
    /// Dots at the vertices (few points, e.g. one per epoch).
    pub dots: bool,
}

const W: f64 = 520.0;
const H: f64 = 220.0;
const LEFT: f64 = 64.0;
const RIGHT: f64 = 12.0;
const TOP: f64 = 10.0;
const BOTTOM: f64 = 34.0;

#[component]
pub fn LineChart(
    #[prop(into)] lines: Signal<Vec<Line>>,
    x_label: &'static str,
    y_label: &'static str,
    /// The chart's DOM id (tests read its paths).
    id: &'static str,
) -> impl IntoView {
    view! {
        <figure class="line-chart" id=id>
            {move || {
                let lines = lines.get();
                let xs = padded_extent(lines.iter().flat_map(|l| l.points.iter().map(|p| p.0)), 0.0);
                let ys = padded_extent(lines.iter().flat_map(|l| l.points.iter().map(|p| p.1)), 0.05);
                let (Some((x0, x1)), Some((y0, y1))) = (xs, ys) else {
                    return view! { <p class="note empty">"Nothing measured yet."</p> }.into_any();
                };
                let x1 = if x1 > x0 { x1 } else { x0 + 1.0 };
                let sx = move |x: f64| LEFT + (x - x0) / (x1 - x0) * (W - LEFT - RIGHT);
                let sy = move |y: f64| TOP + (1.0 - (y - y0) / (y1 - y0)) * (H - TOP - BOTTOM);
                let xt = count_ticks(x0, x1, 6);
                let yt = nice_ticks(y0, y1, 4);
                view! {
                    <svg viewBox=format!("0 0 {W} {H}") role="img">
                        {yt.iter().map(|&y| view! {
                            <line class="grid" x1=LEFT x2=W - RIGHT y1=sy(y) y2=sy(y) />
                            <text class="tick" x=LEFT - 6.0 y=sy(y) + 4.0 text-anchor="end">{tick_label(y, &yt)}</text>
                        }).collect_view()}
                        {xt.iter().map(|&x| view! {
                            <text class="tick" x=sx(x) y=H - BOTTOM + 15.0 text-anchor="middle">{tick_label(x, &xt)}</text>
                        }).collect_view()}
                        <line class="axis" x1=LEFT x2=W - RIGHT y1=H - BOTTOM y2=H - BOTTOM />
                        <line class="axis" x1=LEFT x2=LEFT y1=TOP y2=H - BOTTOM />
                        <text class="label" x=(LEFT + W - RIGHT) / 2.0 y=H - 4.0 text-anchor="middle">{x_label}</text>
                        <text class="label" transform=format!("translate(11 {}) rotate(-90)", (TOP + H - BOTTOM) / 2.0) text-anchor="middle">{y_label}</text>
                        {lines.iter().map(|line| {
                            let d: String = line.points.iter().enumerate().map(|(i, p)| {
                                format!("{}{:.1},{:.1}", if i == 0 { "M" } else { "L" }, sx(p.0), sy(p.1))
                            }).collect();
                            let dots = line.dots.then(|| line.points.iter().map(|p| view! {
                                <circle cx=sx(p.0) cy=sy(p.1) r="3" fill=line.color.clone() />
                            }).collect_view());
                            view! {
                                <path d=d stroke=line.color.clone() fill="none" stroke-width="1.6" data-series=line.name.clone() data-points=line.points.len() />
                                {dots}
                            }
                        }).collect_view()}
                    </svg>
                    <figcaption class="legend">
                        {lines.iter().map(|l| view! {
                            <span><i style=format!("background: {}", l.color)></i>{l.name.clone()}</span>
                        }).collect_view()}
                    </figcaption>
                }.into_any()
            }}
        </figure>
    }
}
