//! The data sets this server offers the new-experiment form: the built-in synthetic set, and
//! every image folder (`train/<class>/*`, `test/<class>/*`) under `DATA_DIR/datasets/`.

use std::path::Path;

use axum::Json;
use axum::extract::State;
use proard_core::data::synthetic::SyntheticConfig;
use proard_shared::api::DataSet;

use super::AppState;

pub async fn list(State(state): State<AppState>) -> Json<Vec<DataSet>> {
    let synthetic = SyntheticConfig::default();
    let mut sets = vec![DataSet {
        spec: "synthetic".into(),
        description: "built-in synthetic shapes, 10 classes, 32×32 (no download)".into(),
        train_images: synthetic.train,
        test_images: synthetic.test,
    }];
    let root = state.data_dir.join("datasets");
    let folders =
        tokio::task::spawn_blocking(move || image_folders(&root)).await.unwrap_or_default();
    sets.extend(folders);
    Json(sets)
}

/// Folders of images by split and class, with their image counts.
fn image_folders(root: &Path) -> Vec<DataSet> {
    let Ok(entries) = std::fs::read_dir(root) else { return Vec::new() };
    let mut sets: Vec<DataSet> = entries
        .flatten()
        .filter_map(|entry| {
            let dir = std::fs::canonicalize(entry.path()).ok()?;
            let (train, test) =
                (count_images(&dir.join("train"))?, count_images(&dir.join("test"))?);
            Some(DataSet {
                spec: format!("folder:{}", dir.display()),
                description: format!("image folder {}", entry.file_name().to_string_lossy()),
                train_images: train,
                test_images: test,
            })
        })
        .collect();
    sets.sort_by(|a, b| a.spec.cmp(&b.spec));
    sets
}

/// Files in the class folders of a split; none if it is not a split folder.
fn count_images(split: &Path) -> Option<usize> {
    let classes = std::fs::read_dir(split).ok()?;
    let mut n = 0;
    for class in classes.flatten().filter(|c| c.path().is_dir()) {
        n += std::fs::read_dir(class.path()).ok()?.flatten().filter(|f| f.path().is_file()).count();
    }
    Some(n)
}
