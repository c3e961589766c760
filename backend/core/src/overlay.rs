//! Partial configs over non-trivial defaults.
//!
//! `#[serde(default)]` fills a missing table with `Default::default()`, but a table that is
//! present and partial gets its missing fields from the *type's* default, not from the
//! enclosing config's. Where a field's default depends on its context (TRADES' attack uses
//! ε = 0.031, not the generic 8/255), `deserialize_with` an [`overlay`] keeps the context's
//! values for every field the user did not write.

use serde::de::{DeserializeOwned, Error};
use serde::{Deserialize, Deserializer, Serialize};
use serde_json::Value;

/// Deserialises the user's (possibly partial) value on top of `base`.
pub fn overlay<'de, D, T>(base: T, deserializer: D) -> Result<T, D::Error>
where
    D: Deserializer<'de>,
    T: Serialize + DeserializeOwned,
{
    let patch = Value::deserialize(deserializer)?;
    let mut merged = serde_json::to_value(base).map_err(D::Error::custom)?;
    merge(&mut merged, patch);
    serde_json::from_value(merged).map_err(D::Error::custom)
}

/// Objects merge key by key; anything else replaces.
fn merge(base: &mut Value, patch: Value) {
    match (base, patch) {
        (Value::Object(base), Value::Object(patch)) => {
            for (key, value) in patch {
                match base.get_mut(&key) {
                    Some(existing) => merge(existing, value),
                    None => {
                        base.insert(key, value);
                    }
                }
            }
        }
        (base, patch) => *base = patch,
    }
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::merge;

    #[test]
    fn merge_keeps_unwritten_fields_and_replaces_written_ones() {
        let mut base = json!({"a": 1, "b": {"c": 2, "d": 3}, "e": [1, 2]});
        merge(&mut base, json!({"b": {"d": 4}, "e": [5], "f": true}));
        assert_eq!(base, json!({"a": 1, "b": {"c": 2, "d": 4}, "e": [5], "f": true}));
    }
}
