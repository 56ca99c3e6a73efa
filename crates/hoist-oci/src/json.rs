//! Canonical JSON for everything that gets a digest.
//!
//! oci-spec keeps labels and annotations in `HashMap`s, whose order changes from run to
//! run; a manifest's digest must not. So blobs are written through a `serde_json::Value`
//! with object keys sorted here explicitly (not relying on serde_json's map feature, which
//! another crate in the build could switch to insertion order).

use serde::Serialize;
use serde_json::Value;

/// Serialise `value` compactly with every object's keys sorted.
pub fn canonical<T: Serialize>(value: &T) -> Vec<u8> {
    let value = serde_json::to_value(value).expect("OCI types serialise");
    let mut out = Vec::new();
    write(&value, &mut out);
    out
}

fn write(value: &Value, out: &mut Vec<u8>) {
    match value {
        Value::Object(map) => {
            let mut keys: Vec<&String> = map.keys().collect();
            keys.sort();
            out.push(b'{');
            for (i, k) in keys.into_iter().enumerate() {
                if i > 0 {
                    out.push(b',');
                }
                out.extend(serde_json::to_vec(k).expect("string"));
                out.push(b':');
                write(&map[k], out);
            }
            out.push(b'}');
        }
        Value::Array(items) => {
            out.push(b'[');
            for (i, v) in items.iter().enumerate() {
                if i > 0 {
                    out.push(b',');
                }
                write(v, out);
            }
            out.push(b']');
        }
        other => out.extend(serde_json::to_vec(other).expect("scalar")),
    }
}

#[cfg(test)]
mod tests {
    #[test]
    fn keys_are_sorted_at_every_depth() {
        let v = serde_json::json!({"b": 1, "a": {"z": [ {"y": 1, "x": 2} ], "c": "s"}});
        assert_eq!(String::from_utf8(super::canonical(&v)).unwrap(), r#"{"a":{"c":"s","z":[{"x":2,"y":1}]},"b":1}"#);
    }
}
