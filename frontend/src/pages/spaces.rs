//! The search-space page: every preset with its size, and an editor that checks a space
//! description as it is typed.

use leptos::prelude::*;
use proard_shared::Space;
use proard_shared::api::SpaceSummary;
use proard_shared::display::{group_digits, mmacs, mparams};
use proard_shared::preset::{preset, presets};

/// Thousands separated by thin spaces, as typeset numbers are.
fn grouped(decimal: &str) -> String {
    group_digits(decimal, '\u{2009}')
}

#[component]
pub fn SpacesPage() -> impl IntoView {
    let summaries: Vec<SpaceSummary> = presets().iter().map(SpaceSummary::of).collect();
    view! {
        <section class="page">
            <h1>"Search spaces"</h1>
            <section>
                <h2>"Presets"</h2>
                <p class="note">
                    "Computed in your browser by proard-shared (wasm32). MACs count conv and \
                     linear multiply-accumulates at 32×32; params are those of the exported student."
                </p>
                <table id="presets">
                    <thead>
                        <tr>
                            <th>"space"</th>
                            <th class="num">"subnets"</th>
                            <th class="num">"MMACs min … max"</th>
                            <th class="num">"params (M) min … max"</th>
                            <th class="num">"encoding"</th>
                        </tr>
                    </thead>
                    <tbody>
                        {summaries.into_iter().map(summary_row).collect_view()}
                    </tbody>
                </table>
            </section>
            <SpaceEditor />
        </section>
    }
}

fn summary_row(s: SpaceSummary) -> impl IntoView {
    view! {
        <tr class="preset" data-space=s.name.clone()>
            <td class="name">{s.name.clone()}</td>
            <td class="num subnets" data-value=s.subnets.clone()>{grouped(&s.subnets)}</td>
            <td class="num macs" data-min=s.macs_min data-max=s.macs_max>
                {format!("{} … {}", mmacs(s.macs_min), mmacs(s.macs_max))}
            </td>
            <td class="num params" data-min=s.params_min data-max=s.params_max>
                {format!("{} … {}", mparams(s.params_min), mparams(s.params_max))}
            </td>
            <td class="num encoding" data-value=s.encoding_dim>{s.encoding_dim}</td>
        </tr>
    }
}

/// A TOML editor, seeded with a preset, whose summary updates on every keystroke.
#[component]
fn SpaceEditor() -> impl IntoView {
    let start = preset("resnet-mini").expect("built-in preset").to_toml();
    let (text, set_text) = signal(start);
    let checked = move || Space::from_toml(&text.get()).map(|space| SpaceSummary::of(&space));
    let load = move |name: &str| {
        if let Some(space) = preset(name) {
            set_text.set(space.to_toml());
        }
    };
    view! {
        <section id="editor">
            <h2>"Your own space"</h2>
            <p class="note">"Edit the TOML; the space is validated and sized as you type."</p>
            <div class="buttons">
                {presets()
                    .into_iter()
                    .map(|space| {
                        let name = space.name().to_owned();
                        let label = name.clone();
                        view! { <button on:click=move |_| load(&name)>{label}</button> }
                    })
                    .collect_view()}
            </div>
            <textarea
                id="space-toml"
                spellcheck="false"
                prop:value=move || text.get()
                on:input=move |ev| set_text.set(event_target_value(&ev))
            ></textarea>
            <div id="space-check" aria-live="polite">
                {move || match checked() {
                    Ok(s) => view! {
                        <p class="ok" data-subnets=s.subnets.clone() data-macs-max=s.macs_max>
                            {format!(
                                "{}: {} subnets, {} … {} MMACs, {} … {} M params, {}-dim encoding",
                                s.name,
                                grouped(&s.subnets),
                                mmacs(s.macs_min),
                                mmacs(s.macs_max),
                                mparams(s.params_min),
                                mparams(s.params_max),
                                s.encoding_dim,
                            )}
                        </p>
                    }
                    .into_any(),
                    Err(e) => view! { <p class="error">{e.to_string()}</p> }.into_any(),
                }}
            </div>
        </section>
    }
}
