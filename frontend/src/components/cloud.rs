//! The students' cloud: a scatter drawn on a canvas, so tens of thousands of points pan (drag),
//! zoom (wheel, double-click resets) and hover smoothly. Points are filled per colour bucket
//! (one path per bucket, not per point); a second canvas carries the hover and selection rings,
//! so hovering never redraws the cloud.
//!
//! No Rust chart library for wasm does interactive canvas scatter (plotters draws still images),
//! so this is written here; it is only what the studio needs.

use leptos::html::Canvas;
use leptos::prelude::*;
use wasm_bindgen::JsCast;
use web_sys::{CanvasRenderingContext2d, MouseEvent, WheelEvent};

use proard_shared::ticks::{nice_ticks, padded_extent, tick_label};

/// A point's marker.
#[derive(Clone, Copy, Debug, PartialEq)]
pub enum Marker {
    Circle,
    Square,
    /// Large, outlined: the teacher.
    Diamond,
}

/// One point: position, the value its colour shows, and what hovering says.
#[derive(Clone, Debug, PartialEq)]
pub struct Point {
    pub x: f64,
    pub y: f64,
    /// Coloured on the colour scale (MACs); `None` uses the series' colour.
    pub tone: Option<f64>,
    /// Identifies the point for selection (`proard:12`).
    pub key: String,
    /// The tooltip: the arch and every number.
    pub label: String,
}

/// Points drawn alike.
#[derive(Clone, Debug, PartialEq)]
pub struct Series {
    pub name: String,
    pub marker: Marker,
    /// The colour of points without a tone, and of the legend.
    pub color: String,
    pub points: Vec<Point>,
    /// Joined by a staircase (a front), in x order.
    pub staircase: bool,
}

/// Plot margins in CSS pixels: left, top, right, bottom.
const MARGIN: (f64, f64, f64, f64) = (64.0, 12.0, 14.0, 40.0);
const HEIGHT: f64 = 400.0;
const BUCKETS: usize = 24;

/// Viridis at nine stops, for the tone scale.
const VIRIDIS: [(f64, f64, f64); 9] = [
    (68.0, 1.0, 84.0),
    (71.0, 44.0, 122.0),
    (59.0, 81.0, 139.0),
    (44.0, 113.0, 142.0),
    (33.0, 144.0, 141.0),
    (39.0, 173.0, 129.0),
    (92.0, 200.0, 99.0),
    (170.0, 220.0, 50.0),
    (253.0, 231.0, 37.0),
];

/// The colour of `t` in [0, 1] on the tone scale.
pub fn viridis(t: f64) -> String {
    let t = t.clamp(0.0, 1.0) * (VIRIDIS.len() - 1) as f64;
    let i = (t.floor() as usize).min(VIRIDIS.len() - 2);
    let f = t - i as f64;
    let (a, b) = (VIRIDIS[i], VIRIDIS[i + 1]);
    let mix = |p: f64, q: f64| (p + (q - p) * f).round();
    format!("rgb({},{},{})", mix(a.0, b.0), mix(a.1, b.1), mix(a.2, b.2))
}

/// The visible domain: x0, x1, y0, y1.
type Domain = (f64, f64, f64, f64);

fn fit(series: &[Series]) -> Domain {
    let xs = padded_extent(series.iter().flat_map(|s| s.points.iter().map(|p| p.x)), 0.05);
    let ys = padded_extent(series.iter().flat_map(|s| s.points.iter().map(|p| p.y)), 0.05);
    let (x0, x1) = xs.unwrap_or((0.0, 1.0));
    let (y0, y1) = ys.unwrap_or((0.0, 1.0));
    (x0, x1, y0, y1)
}

/// Screen mapping of a canvas `width` CSS pixels wide.
#[derive(Clone, Copy)]
struct Frame {
    domain: Domain,
    width: f64,
}

impl Frame {
    fn plot_width(&self) -> f64 {
        (self.width - MARGIN.0 - MARGIN.2).max(10.0)
    }
    fn plot_height(&self) -> f64 {
        HEIGHT - MARGIN.1 - MARGIN.3
    }
    fn sx(&self, x: f64) -> f64 {
        let (x0, x1, _, _) = self.domain;
        MARGIN.0 + (x - x0) / (x1 - x0) * self.plot_width()
    }
    fn sy(&self, y: f64) -> f64 {
        let (_, _, y0, y1) = self.domain;
        MARGIN.1 + (1.0 - (y - y0) / (y1 - y0)) * self.plot_height()
    }
    fn data_x(&self, px: f64) -> f64 {
        let (x0, x1, _, _) = self.domain;
        x0 + (px - MARGIN.0) / self.plot_width() * (x1 - x0)
    }
    fn data_y(&self, py: f64) -> f64 {
        let (_, _, y0, y1) = self.domain;
        y0 + (1.0 - (py - MARGIN.1) / self.plot_height()) * (y1 - y0)
    }
}

fn context(canvas: &web_sys::HtmlCanvasElement, width: f64) -> Option<CanvasRenderingContext2d> {
    let ratio = web_sys::window().map_or(1.0, |w| w.device_pixel_ratio());
    let (w, h) = ((width * ratio).round() as u32, (HEIGHT * ratio).round() as u32);
    if canvas.width() != w || canvas.height() != h {
        canvas.set_width(w);
        canvas.set_height(h);
    }
    let ctx: CanvasRenderingContext2d = canvas.get_context("2d").ok()??.dyn_into().ok()?;
    ctx.set_transform(ratio, 0.0, 0.0, ratio, 0.0, 0.0).ok()?;
    ctx.clear_rect(0.0, 0.0, width, HEIGHT);
    Some(ctx)
}

fn marker_path(ctx: &CanvasRenderingContext2d, marker: Marker, x: f64, y: f64, r: f64) {
    match marker {
        Marker::Circle => {
            ctx.move_to(x + r, y);
            let _ = ctx.arc(x, y, r, 0.0, std::f64::consts::TAU);
        }
        Marker::Square => ctx.rect(x - r, y - r, 2.0 * r, 2.0 * r),
        Marker::Diamond => {
            ctx.move_to(x, y - 2.2 * r);
            ctx.line_to(x + 2.2 * r, y);
            ctx.line_to(x, y + 2.2 * r);
            ctx.line_to(x - 2.2 * r, y);
            ctx.close_path();
        }
    }
}

fn draw_axes(ctx: &CanvasRenderingContext2d, frame: &Frame, x_label: &str, y_label: &str) {
    let (x0, x1, y0, y1) = frame.domain;
    let (left, top) = (MARGIN.0, MARGIN.1);
    let (right, bottom) = (left + frame.plot_width(), top + frame.plot_height());
    ctx.set_font("11px system-ui, sans-serif");
    ctx.set_line_width(1.0);
    let xt = nice_ticks(x0, x1, 8);
    let yt = nice_ticks(y0, y1, 6);
    ctx.set_stroke_style_str("#e6e8ec");
    ctx.set_fill_style_str("#5b6270");
    ctx.begin_path();
    for &x in &xt {
        ctx.move_to(frame.sx(x).round() + 0.5, top);
        ctx.line_to(frame.sx(x).round() + 0.5, bottom);
    }
    for &y in &yt {
        ctx.move_to(left, frame.sy(y).round() + 0.5);
        ctx.line_to(right, frame.sy(y).round() + 0.5);
    }
    ctx.stroke();
    ctx.set_text_align("center");
    for &x in &xt {
        let _ = ctx.fill_text(&tick_label(x, &xt), frame.sx(x), bottom + 14.0);
    }
    ctx.set_text_align("right");
    for &y in &yt {
        let _ = ctx.fill_text(&tick_label(y, &yt), left - 6.0, frame.sy(y) + 4.0);
    }
    ctx.set_stroke_style_str("#9aa1ad");
    ctx.stroke_rect(left, top, right - left, bottom - top);
    ctx.set_font("12px system-ui, sans-serif");
    ctx.set_text_align("center");
    let _ = ctx.fill_text(x_label, (left + right) / 2.0, HEIGHT - 6.0);
    ctx.save();
    let _ = ctx.translate(14.0, (top + bottom) / 2.0);
    let _ = ctx.rotate(-std::f64::consts::FRAC_PI_2);
    let _ = ctx.fill_text(y_label, 0.0, 0.0);
    ctx.restore();
}

/// The line y = x across the visible domain, dashed.
fn draw_diagonal(ctx: &CanvasRenderingContext2d, frame: &Frame) {
    let (x0, x1, y0, y1) = frame.domain;
    let (from, to) = (x0.max(y0), x1.min(y1));
    if from >= to {
        return;
    }
    ctx.save();
    ctx.begin_path();
    ctx.set_stroke_style_str("#888");
    ctx.set_line_width(1.0);
    let dash = js_sys::Array::of2(&4.0.into(), &4.0.into());
    let _ = ctx.set_line_dash(&dash);
    ctx.move_to(frame.sx(from), frame.sy(from));
    ctx.line_to(frame.sx(to), frame.sy(to));
    ctx.stroke();
    ctx.restore();
}

fn draw_points(
    ctx: &CanvasRenderingContext2d,
    frame: &Frame,
    series: &[Series],
    tones: (f64, f64),
) {
    let (left, top) = (MARGIN.0, MARGIN.1);
    ctx.save();
    ctx.begin_path();
    ctx.rect(left, top, frame.plot_width(), frame.plot_height());
    ctx.clip();
    for s in series {
        if s.staircase && s.points.len() > 1 {
            ctx.begin_path();
            ctx.set_stroke_style_str(&s.color);
            ctx.set_line_width(1.5);
            for (i, p) in s.points.iter().enumerate() {
                let (x, y) = (frame.sx(p.x), frame.sy(p.y));
                if i == 0 {
                    ctx.move_to(x, y);
                } else {
                    ctx.line_to(x, frame.sy(s.points[i - 1].y));
                    ctx.line_to(x, y);
                }
            }
            ctx.stroke();
        }
        let radius = if s.points.len() > 3000 { 2.0 } else { 3.2 };
        let mut buckets: Vec<Vec<&Point>> = vec![Vec::new(); BUCKETS + 1];
        for p in &s.points {
            let bucket = match p.tone {
                Some(t) if tones.1 > tones.0 => {
                    ((t - tones.0) / (tones.1 - tones.0) * (BUCKETS - 1) as f64).round() as usize
                }
                Some(_) => 0,
                None => BUCKETS,
            };
            buckets[bucket.min(BUCKETS)].push(p);
        }
        for (bucket, points) in buckets.iter().enumerate().filter(|(_, p)| !p.is_empty()) {
            let color = if bucket == BUCKETS {
                s.color.clone()
            } else {
                viridis(bucket as f64 / (BUCKETS - 1) as f64)
            };
            ctx.begin_path();
            for p in points {
                marker_path(ctx, s.marker, frame.sx(p.x), frame.sy(p.y), radius);
            }
            ctx.set_fill_style_str(&color);
            ctx.set_global_alpha(if s.marker == Marker::Square { 0.75 } else { 0.9 });
            ctx.fill();
            ctx.set_global_alpha(1.0);
            if s.marker != Marker::Circle {
                ctx.set_stroke_style_str("#1d2330");
                ctx.set_line_width(if s.marker == Marker::Diamond { 1.5 } else { 0.6 });
                ctx.stroke();
            }
        }
    }
    ctx.restore();
}

fn ring(ctx: &CanvasRenderingContext2d, x: f64, y: f64, color: &str, r: f64) {
    ctx.begin_path();
    let _ = ctx.arc(x, y, r, 0.0, std::f64::consts::TAU);
    ctx.set_stroke_style_str(color);
    ctx.set_line_width(2.0);
    ctx.stroke();
}

#[component]
pub fn Cloud(
    #[prop(into)] series: Signal<Vec<Series>>,
    x_label: &'static str,
    /// Owned: robust accuracy is named after the experiment's attack (`PGD-20 accuracy`).
    #[prop(into)]
    y_label: String,
    /// What the tone scale measures (shown on its legend), e.g. "MMACs".
    tone_label: &'static str,
    /// The selected point's key ("" for none).
    #[prop(into)]
    selected: Signal<String>,
    on_select: Callback<String>,
    /// The chart's DOM id; its canvas carries the drawn domain for tests and scripts.
    id: &'static str,
    /// Draw y = x: where a prediction plotted against its measurement would lie if exact.
    #[prop(optional)]
    diagonal: bool,
) -> impl IntoView {
    let base = NodeRef::<Canvas>::new();
    let overlay = NodeRef::<Canvas>::new();
    let zoom = RwSignal::new(None::<Domain>);
    let hover = RwSignal::new(None::<(usize, usize)>);
    let width = RwSignal::new(720.0);
    let drag = StoredValue::new(None::<(f64, f64, Domain, bool)>);
    let domain = Memo::new(move |_| {
        zoom.get().unwrap_or_else(|| {
            let (x0, x1, y0, y1) = series.with(|s| fit(s));
            // Measured against predicted: one scale on both axes, so that y = x is the diagonal.
            if diagonal {
                (x0.min(y0), x1.max(y1), x0.min(y0), x1.max(y1))
            } else {
                (x0, x1, y0, y1)
            }
        })
    });
    let tones = Memo::new(move |_| {
        series.with(|all| {
            padded_extent(all.iter().flat_map(|s| s.points.iter().filter_map(|p| p.tone)), 0.0)
        })
    });
    let frame = move || Frame { domain: domain.get(), width: width.get() };
    let measure = move || {
        if let Some(canvas) = base.get_untracked() {
            let w = canvas.client_width() as f64;
            if w > 0.0 && (w - width.get_untracked()).abs() > 0.5 {
                width.set(w);
            }
        }
    };
    Effect::new(move |_| {
        let Some(canvas) = base.get() else { return };
        measure();
        let frame = frame();
        let Some(ctx) = context(&canvas, frame.width) else { return };
        draw_axes(&ctx, &frame, x_label, &y_label);
        if diagonal {
            draw_diagonal(&ctx, &frame);
        }
        series.with(|s| draw_points(&ctx, &frame, s, tones.get().unwrap_or((0.0, 1.0))));
    });
    Effect::new(move |_| {
        let Some(canvas) = overlay.get() else { return };
        let frame = frame();
        let Some(ctx) = context(&canvas, frame.width) else { return };
        let selected = selected.get();
        series.with(|all| {
            for s in all {
                for p in s.points.iter().filter(|p| !selected.is_empty() && p.key == selected) {
                    ring(&ctx, frame.sx(p.x), frame.sy(p.y), "#d62728", 7.0);
                }
            }
            if let Some((s, i)) = hover.get()
                && let Some(p) = all.get(s).and_then(|s| s.points.get(i))
            {
                ring(&ctx, frame.sx(p.x), frame.sy(p.y), "#111", 6.0);
            }
        });
    });
    let offset = move |event: &MouseEvent| (event.offset_x() as f64, event.offset_y() as f64);
    let nearest = move |px: f64, py: f64| {
        let frame = Frame { domain: domain.get_untracked(), width: width.get_untracked() };
        let mut best = None;
        let mut best_d = 10.0 * 10.0;
        series.with_untracked(|all| {
            for (si, s) in all.iter().enumerate() {
                for (pi, p) in s.points.iter().enumerate() {
                    let (dx, dy) = (frame.sx(p.x) - px, frame.sy(p.y) - py);
                    let d = dx * dx + dy * dy;
                    if d < best_d {
                        best_d = d;
                        best = Some((si, pi));
                    }
                }
            }
        });
        best
    };
    let on_down = move |event: MouseEvent| {
        let (px, py) = offset(&event);
        drag.set_value(Some((px, py, domain.get_untracked(), false)));
    };
    let on_move = move |event: MouseEvent| {
        let (px, py) = offset(&event);
        if let Some((sx, sy, start, moved)) = drag.get_value()
            && event.buttons() & 1 == 1
        {
            let moved = moved || (px - sx).abs() + (py - sy).abs() > 3.0;
            drag.set_value(Some((sx, sy, start, moved)));
            if moved {
                let frame = Frame { domain: start, width: width.get_untracked() };
                let dx = frame.data_x(sx) - frame.data_x(px);
                let dy = frame.data_y(sy) - frame.data_y(py);
                zoom.set(Some((start.0 + dx, start.1 + dx, start.2 + dy, start.3 + dy)));
                return;
            }
        }
        let found = nearest(px, py);
        if hover.get_untracked() != found {
            hover.set(found);
        }
    };
    let on_up = move |event: MouseEvent| {
        let (px, py) = offset(&event);
        let clicked = drag.get_value().is_some_and(|(_, _, _, moved)| !moved);
        drag.set_value(None);
        if clicked && let Some((s, i)) = nearest(px, py) {
            let key = series.with_untracked(|all| all[s].points[i].key.clone());
            on_select.run(key);
        }
    };
    let on_wheel = move |event: WheelEvent| {
        event.prevent_default();
        let (px, py) = (event.offset_x() as f64, event.offset_y() as f64);
        let frame = Frame { domain: domain.get_untracked(), width: width.get_untracked() };
        let (cx, cy) = (frame.data_x(px), frame.data_y(py));
        let k = if event.delta_y() > 0.0 { 1.2 } else { 1.0 / 1.2 };
        let (x0, x1, y0, y1) = frame.domain;
        zoom.set(Some((
            cx + (x0 - cx) * k,
            cx + (x1 - cx) * k,
            cy + (y0 - cy) * k,
            cy + (y1 - cy) * k,
        )));
    };
    let tooltip = move || {
        let (s, i) = hover.get()?;
        let frame = frame();
        series.with(|all| {
            let series = all.get(s)?;
            let p = series.points.get(i)?;
            let (x, y) = (frame.sx(p.x), frame.sy(p.y));
            let left = if x > frame.width * 0.6 { x - 290.0 } else { x + 14.0 };
            Some(view! {
                <div class="tooltip" style=format!("left: {left:.0}px; top: {:.0}px", (y - 10.0).max(0.0))>
                    <b>{series.name.clone()}</b>
                    <pre>{p.label.clone()}</pre>
                </div>
            })
        })
    };
    let total = move || series.with(|all| all.iter().map(|s| s.points.len()).sum::<usize>());
    view! {
        <div class="cloud" id=id>
            <div class="cloud-stack">
                <canvas
                    node_ref=base
                    class="cloud-base"
                    data-points=total
                    data-domain=move || { let d = domain.get(); format!("{},{},{},{}", d.0, d.1, d.2, d.3) }
                    data-margin=format!("{},{},{},{}", MARGIN.0, MARGIN.1, MARGIN.2, MARGIN.3)
                ></canvas>
                <canvas
                    node_ref=overlay
                    class="cloud-overlay"
                    on:mousedown=on_down
                    on:mousemove=on_move
                    on:mouseup=on_up
                    on:mouseleave=move |_| { hover.set(None); drag.set_value(None); }
                    on:wheel=on_wheel
                    on:dblclick=move |_| zoom.set(None)
                ></canvas>
                {tooltip}
            </div>
            <div class="cloud-legend">
                {move || series.get().into_iter().map(|s| {
                    let shape = match s.marker { Marker::Circle => "●", Marker::Square => "■", Marker::Diamond => "◆" };
                    view! { <span class="legend-item"><span style=format!("color: {}", s.color)>{shape}" "</span>{format!("{} ({})", s.name, s.points.len())}</span> }
                }).collect_view()}
                {move || tones.get().map(|(t0, t1)| view! {
                    <span class="tone-scale">
                        {format!("{t0:.2}")}
                        <i class="gradient"></i>
                        {format!("{t1:.2} {tone_label}")}
                    </span>
                })}
                <span class="hint">"drag to pan · wheel to zoom · double-click to reset · click to select"</span>
            </div>
        </div>
    }
}
