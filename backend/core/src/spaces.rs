//! Finding a space from a command-line or request argument: a preset name or a space file.

use std::path::Path;

use proard_shared::preset::{PRESET_NAMES, preset};
use proard_shared::{Space, SpaceError};

/// Why a space argument could not be turned into a space.
#[derive(Debug, thiserror::Error)]
pub enum LoadSpaceError {
    #[error(
        "unknown space `{0}`: it is neither a preset ({presets}) nor an existing .toml or .json file",
        presets = PRESET_NAMES.join(", ")
    )]
    Unknown(String),
    #[error("cannot read space file {path}: {source}")]
    Read { path: String, source: std::io::Error },
    #[error("space file {path}: {source}")]
    Invalid { path: String, source: SpaceError },
    #[error("space file {0}: unsupported extension (use .toml or .json)")]
    Extension(String),
}

/// A preset by name, or a space file by path (`.toml` or `.json`).
pub fn load_space(arg: &str) -> Result<Space, LoadSpaceError> {
    if let Some(space) = preset(arg) {
        return Ok(space);
    }
    let path = Path::new(arg);
    let extension = path.extension().and_then(|e| e.to_str()).map(str::to_ascii_lowercase);
    if !path.is_file() {
        return Err(LoadSpaceError::Unknown(arg.to_owned()));
    }
    let text = std::fs::read_to_string(path)
        .map_err(|source| LoadSpaceError::Read { path: arg.to_owned(), source })?;
    let parsed = match extension.as_deref() {
        Some("toml") => Space::from_toml(&text),
        Some("json") => Space::from_json(&text),
        _ => return Err(LoadSpaceError::Extension(arg.to_owned())),
    };
    parsed.map_err(|source| LoadSpaceError::Invalid { path: arg.to_owned(), source })
}
