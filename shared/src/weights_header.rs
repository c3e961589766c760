//! The self-description of a weights file: the `__metadata__` string map of a safetensors
//! header (an 8-byte little-endian header length, then a JSON header). ProARD files record there
//! what they hold (`proard.kind`, `proard.space`, …) so that they load without any other file.

use std::collections::HashMap;

/// The metadata of safetensors bytes; only the header needs to be present (the first
/// 8 + header-length bytes of a file).
pub fn metadata(bytes: &[u8]) -> Result<HashMap<String, String>, String> {
    let len = bytes.get(..8).ok_or("shorter than a safetensors header")?;
    let len = u64::from_le_bytes(len.try_into().expect("8 bytes")) as usize;
    let header =
        bytes.get(8..8usize.saturating_add(len)).ok_or("header length exceeds the data")?;
    let header: serde_json::Value =
        serde_json::from_slice(header).map_err(|e| format!("header is not JSON: {e}"))?;
    // A file without metadata has an empty map, not a null one.
    let map = header.get("__metadata__").cloned().unwrap_or_else(|| serde_json::json!({}));
    serde_json::from_value(map).map_err(|e| format!("metadata is not a string map: {e}"))
}

#[cfg(test)]
mod tests {
    use super::metadata;

    fn file(header: &str) -> Vec<u8> {
        let mut bytes = (header.len() as u64).to_le_bytes().to_vec();
        bytes.extend(header.as_bytes());
        bytes
    }

    #[test]
    fn reads_the_metadata_map() {
        let bytes = file(
            r#"{"__metadata__":{"proard.kind":"student"},"w":{"dtype":"F32","shape":[1],"data_offsets":[0,4]}}"#,
        );
        assert_eq!(metadata(&bytes).unwrap()["proard.kind"], "student");
        assert!(metadata(&file(r#"{"w":{}}"#)).unwrap().is_empty());
    }

    #[test]
    fn refuses_what_is_not_a_header() {
        assert!(metadata(b"abc").is_err());
        assert!(metadata(&[200, 0, 0, 0, 0, 0, 0, 0, b'{']).unwrap_err().contains("exceeds"));
        assert!(metadata(&file("not json")).unwrap_err().contains("not JSON"));
        assert!(metadata(&file(r#"{"__metadata__":{"a":1}}"#)).unwrap_err().contains("string map"));
    }
}
