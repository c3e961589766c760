//! Saving and loading supernets and students as safetensors (burn-store).
//!
//! A file carries its own description in the safetensors metadata, so it loads without any
//! other file: `proard.kind` (`supernet` or `student`), `proard.space` (the space, JSON),
//! `proard.net_config` (JSON), and for students `proard.arch` and `proard.subnet` (JSON).
//! Tensor names and layouts are documented in docs/weights.md.

use std::collections::{BTreeMap, HashMap};
use std::path::Path;

use burn::prelude::*;
use burn::store::{ModuleSnapshot, SafetensorsStore};
use proard_shared::{Arch, Space, Subnet};

use super::{NetConfig, Network, Student, Supernet};

#[derive(Debug, thiserror::Error)]
pub enum WeightsError {
    #[error("cannot read {path}: {source}")]
    Io { path: String, source: std::io::Error },
    #[error("{path} is not a safetensors file: {reason}")]
    Format { path: String, reason: String },
    #[error("{path} is a {found} file, not a {expected} file")]
    Kind { path: String, found: String, expected: &'static str },
    #[error("{path}: metadata `{key}` is missing or invalid: {reason}")]
    Metadata { path: String, key: &'static str, reason: String },
    #[error("{path}: tensors do not match the network it describes: {reason}")]
    Tensors { path: String, reason: String },
    #[error("cannot write {path}: {reason}")]
    Write { path: String, reason: String },
}

fn store_for(path: &Path, kind: &str, space: &Space, config: &NetConfig) -> SafetensorsStore {
    SafetensorsStore::from_file(path)
        .overwrite(true)
        .skip_enum_variants(true)
        .metadata("proard.kind", kind)
        .metadata("proard.space", serde_json::to_string(space).expect("spaces serialise"))
        .metadata("proard.net_config", serde_json::to_string(config).expect("configs serialise"))
}

fn write(network: &Network, store: &mut SafetensorsStore, path: &Path) -> Result<(), WeightsError> {
    network.save_into(store).map_err(|e| WeightsError::Write {
        path: path.display().to_string(),
        reason: e.to_string(),
    })
}

/// Saves a supernet (atomically: the file at `path` is replaced only once complete).
pub fn save_supernet(supernet: &Supernet, path: &Path) -> Result<(), WeightsError> {
    let mut store = store_for(path, "supernet", &supernet.space, &supernet.config);
    write(&supernet.network, &mut store, path)
}

/// Saves a student with its arch and resolved layers, and `extra` metadata entries (an export
/// records how it was calibrated).
pub fn save_student(
    student: &Student,
    space: &Space,
    config: &NetConfig,
    extra: &[(&str, String)],
    path: &Path,
) -> Result<(), WeightsError> {
    let mut store = store_for(path, "student", space, config);
    for (key, value) in extra {
        store = store.metadata(*key, value.as_str());
    }
    let mut store = store.metadata("proard.arch", student.arch.to_json()).metadata(
        "proard.subnet",
        serde_json::to_string(&student.subnet).expect("subnets serialise"),
    );
    write(&student.network, &mut store, path)
}

/// Reads the `__metadata__` of a safetensors file (its header only).
pub fn read_metadata(path: &Path) -> Result<HashMap<String, String>, WeightsError> {
    use std::io::Read;
    let name = path.display().to_string();
    let io = |source| WeightsError::Io { path: name.clone(), source };
    let format = |reason: String| WeightsError::Format { path: name.clone(), reason };
    let mut file = std::fs::File::open(path).map_err(io)?;
    let mut prefix = vec![0u8; 8];
    file.read_exact(&mut prefix)
        .map_err(|_| format("shorter than its 8-byte header length".into()))?;
    let len = u64::from_le_bytes(prefix[..8].try_into().expect("8 bytes"));
    let file_len = file.metadata().map_err(io)?.len();
    // Check before allocating: a corrupt length must not make us allocate gigabytes.
    if len > file_len.saturating_sub(8) {
        return Err(format(format!("header length {len} exceeds the file size {file_len}")));
    }
    prefix.resize(8 + len as usize, 0);
    file.read_exact(&mut prefix[8..]).map_err(io)?;
    proard_shared::weights_header::metadata(&prefix).map_err(format)
}

fn field<T: serde::de::DeserializeOwned>(
    metadata: &HashMap<String, String>,
    key: &'static str,
    path: &Path,
) -> Result<T, WeightsError> {
    let error =
        |reason: String| WeightsError::Metadata { path: path.display().to_string(), key, reason };
    let text = metadata.get(key).ok_or_else(|| error("not present".into()))?;
    serde_json::from_str(text).map_err(|e| error(e.to_string()))
}

fn check_kind(
    metadata: &HashMap<String, String>,
    expected: &'static str,
    path: &Path,
) -> Result<(), WeightsError> {
    let found = metadata.get("proard.kind").map(String::as_str).unwrap_or("non-ProARD");
    if found != expected {
        return Err(WeightsError::Kind {
            path: path.display().to_string(),
            found: found.to_owned(),
            expected,
        });
    }
    Ok(())
}

fn load_tensors(network: &mut Network, path: &Path) -> Result<(), WeightsError> {
    let mut store = SafetensorsStore::from_file(path).skip_enum_variants(true);
    let result = network.load_from(&mut store).map_err(|e| WeightsError::Tensors {
        path: path.display().to_string(),
        reason: e.to_string(),
    })?;
    if !result.errors.is_empty() || !result.unused.is_empty() {
        return Err(WeightsError::Tensors {
            path: path.display().to_string(),
            reason: format!("errors {:?}, unexpected tensors {:?}", result.errors, result.unused),
        });
    }
    Ok(())
}

/// Loads a supernet saved by [`save_supernet`] onto `device`.
pub fn load_supernet(path: &Path, device: &Device) -> Result<Supernet, WeightsError> {
    let metadata = read_metadata(path)?;
    check_kind(&metadata, "supernet", path)?;
    let space: Space = field(&metadata, "proard.space", path)?;
    space.validate().map_err(|e| WeightsError::Metadata {
        path: path.display().to_string(),
        key: "proard.space",
        reason: e.to_string(),
    })?;
    let config: NetConfig = field(&metadata, "proard.net_config", path)?;
    let mut supernet = Supernet::new(space, config, device);
    load_tensors(&mut supernet.network, path)?;
    Ok(supernet)
}

/// Loads a student saved by [`save_student`] onto `device`.
pub fn load_student(path: &Path, device: &Device) -> Result<Student, WeightsError> {
    let metadata = read_metadata(path)?;
    check_kind(&metadata, "student", path)?;
    let space: Space = field(&metadata, "proard.space", path)?;
    let config: NetConfig = field(&metadata, "proard.net_config", path)?;
    let arch: Arch = field(&metadata, "proard.arch", path)?;
    let subnet: Subnet = field(&metadata, "proard.subnet", path)?;
    // The student's shapes are those of its arch: cut a throw-away supernet to build them,
    // then overwrite every tensor from the file.
    let skeleton = Supernet::new(space, config, device);
    let mut student = skeleton.export(&arch).map_err(|e| WeightsError::Metadata {
        path: path.display().to_string(),
        key: "proard.arch",
        reason: e.to_string(),
    })?;
    if student.subnet != subnet {
        return Err(WeightsError::Metadata {
            path: path.display().to_string(),
            key: "proard.subnet",
            reason: "does not match the arch in this space".into(),
        });
    }
    let mut network = student.network.fork(device);
    load_tensors(&mut network, path)?;
    student.network = network;
    Ok(student)
}

/// Every tensor of a network under its file name, as (shape, values): what a saved file holds.
pub fn named_tensors(network: &Network) -> BTreeMap<String, (Vec<usize>, Vec<f32>)> {
    network
        .collect(None, None, true)
        .into_iter()
        .map(|t| {
            let data = burn::store::bridge::to_data(&t).expect("in-memory tensors materialise");
            let shape = data.shape().to_vec();
            (
                t.name.clone(),
                (shape, data.convert::<f32>().try_to_vec::<f32>().expect("float tensor")),
            )
        })
        .collect()
}
