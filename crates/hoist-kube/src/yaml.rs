//! An order-preserving YAML value, so that a rendered manifest keeps its author's key order.
//!
//! `serde_json::Value` (without the workspace-wide `preserve_order` feature) sorts keys,
//! and serde-saphyr has no value type of its own; this is the smallest tree that
//! round-trips a manifest with its keys in place. Kubernetes sees it as JSON
//! ([`Value::to_json`]), where order does not matter.

use std::fmt;

use serde::de::{Deserialize, Deserializer, MapAccess, SeqAccess, Visitor};
use serde::ser::{Serialize, SerializeMap, SerializeSeq, Serializer};

/// A YAML node: scalars, sequences, and mappings in document order.
#[derive(Debug, Clone, PartialEq)]
pub enum Value {
    Null,
    Bool(bool),
    Int(i64),
    UInt(u64),
    Float(f64),
    String(String),
    Seq(Vec<Value>),
    Map(Map),
}

/// A mapping that keeps its keys in document order.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Map(pub Vec<(String, Value)>);

impl Map {
    pub fn get(&self, key: &str) -> Option<&Value> {
        self.0.iter().find(|(k, _)| k == key).map(|(_, v)| v)
    }

    pub fn get_mut(&mut self, key: &str) -> Option<&mut Value> {
        self.0.iter_mut().find(|(k, _)| k == key).map(|(_, v)| v)
    }

    /// Set `key`, keeping its position if it exists, else appending it.
    pub fn insert(&mut self, key: &str, value: Value) {
        match self.get_mut(key) {
            Some(slot) => *slot = value,
            None => self.0.push((key.to_string(), value)),
        }
    }

    /// The mapping under `key`, created (appended) when missing or null.
    pub fn entry_map(&mut self, key: &str) -> &mut Map {
        if !matches!(self.get(key), Some(Value::Map(_))) {
            self.insert(key, Value::Map(Map::default()));
        }
        match self.get_mut(key) {
            Some(Value::Map(m)) => m,
            _ => unreachable!("just inserted a map"),
        }
    }
}

impl Value {
    pub fn as_str(&self) -> Option<&str> {
        match self {
            Value::String(s) => Some(s),
            _ => None,
        }
    }

    pub fn as_map(&self) -> Option<&Map> {
        match self {
            Value::Map(m) => Some(m),
            _ => None,
        }
    }

    pub fn as_map_mut(&mut self) -> Option<&mut Map> {
        match self {
            Value::Map(m) => Some(m),
            _ => None,
        }
    }

    /// Follow a path of mapping keys.
    pub fn pointer(&self, path: &[&str]) -> Option<&Value> {
        let mut at = self;
        for key in path {
            at = at.as_map()?.get(key)?;
        }
        Some(at)
    }

    /// Follow a path of mapping keys, mutably.
    pub fn pointer_mut(&mut self, path: &[&str]) -> Option<&mut Value> {
        let mut at = self;
        for key in path {
            at = at.as_map_mut()?.get_mut(key)?;
        }
        Some(at)
    }

    /// The same tree as JSON (what the API server receives).
    pub fn to_json(&self) -> serde_json::Value {
        match self {
            Value::Null => serde_json::Value::Null,
            Value::Bool(b) => serde_json::Value::Bool(*b),
            Value::Int(i) => serde_json::Value::from(*i),
            Value::UInt(u) => serde_json::Value::from(*u),
            Value::Float(f) => {
                serde_json::Number::from_f64(*f).map_or(serde_json::Value::Null, serde_json::Value::Number)
            }
            Value::String(s) => serde_json::Value::String(s.clone()),
            Value::Seq(items) => serde_json::Value::Array(items.iter().map(Value::to_json).collect()),
            Value::Map(m) => serde_json::Value::Object(m.0.iter().map(|(k, v)| (k.clone(), v.to_json())).collect()),
        }
    }

    /// A tree from JSON (keys in the JSON map's order).
    pub fn from_json(json: &serde_json::Value) -> Value {
        match json {
            serde_json::Value::Null => Value::Null,
            serde_json::Value::Bool(b) => Value::Bool(*b),
            serde_json::Value::Number(n) => {
                if let Some(i) = n.as_i64() {
                    Value::Int(i)
                } else if let Some(u) = n.as_u64() {
                    Value::UInt(u)
                } else {
                    Value::Float(n.as_f64().unwrap_or_default())
                }
            }
            serde_json::Value::String(s) => Value::String(s.clone()),
            serde_json::Value::Array(a) => Value::Seq(a.iter().map(Value::from_json).collect()),
            serde_json::Value::Object(o) => {
                Value::Map(Map(o.iter().map(|(k, v)| (k.clone(), Value::from_json(v))).collect()))
            }
        }
    }
}

impl Serialize for Value {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        match self {
            Value::Null => s.serialize_unit(),
            Value::Bool(b) => s.serialize_bool(*b),
            Value::Int(i) => s.serialize_i64(*i),
            Value::UInt(u) => s.serialize_u64(*u),
            Value::Float(f) => s.serialize_f64(*f),
            Value::String(v) => s.serialize_str(v),
            Value::Seq(items) => {
                let mut seq = s.serialize_seq(Some(items.len()))?;
                for item in items {
                    seq.serialize_element(item)?;
                }
                seq.end()
            }
            Value::Map(m) => {
                let mut map = s.serialize_map(Some(m.0.len()))?;
                for (k, v) in &m.0 {
                    map.serialize_entry(k, v)?;
                }
                map.end()
            }
        }
    }
}

impl<'de> Deserialize<'de> for Value {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Value, D::Error> {
        d.deserialize_any(ValueVisitor)
    }
}

struct ValueVisitor;

impl<'de> Visitor<'de> for ValueVisitor {
    type Value = Value;

    fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
        f.write_str("any YAML value")
    }
    fn visit_unit<E>(self) -> Result<Value, E> {
        Ok(Value::Null)
    }
    fn visit_none<E>(self) -> Result<Value, E> {
        Ok(Value::Null)
    }
    fn visit_some<D: Deserializer<'de>>(self, d: D) -> Result<Value, D::Error> {
        Value::deserialize(d)
    }
    fn visit_bool<E>(self, v: bool) -> Result<Value, E> {
        Ok(Value::Bool(v))
    }
    fn visit_i64<E>(self, v: i64) -> Result<Value, E> {
        Ok(Value::Int(v))
    }
    fn visit_u64<E>(self, v: u64) -> Result<Value, E> {
        Ok(i64::try_from(v).map_or(Value::UInt(v), Value::Int))
    }
    fn visit_f64<E>(self, v: f64) -> Result<Value, E> {
        Ok(Value::Float(v))
    }
    fn visit_str<E>(self, v: &str) -> Result<Value, E> {
        Ok(Value::String(v.to_string()))
    }
    fn visit_string<E>(self, v: String) -> Result<Value, E> {
        Ok(Value::String(v))
    }
    fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<Value, A::Error> {
        let mut items = Vec::new();
        while let Some(item) = seq.next_element()? {
            items.push(item);
        }
        Ok(Value::Seq(items))
    }
    fn visit_map<A: MapAccess<'de>>(self, mut access: A) -> Result<Value, A::Error> {
        let mut map = Map::default();
        // Keys are read as text: a key `y` or `on` is a name, not a boolean.
        while let Some(key) = access.next_key::<String>()? {
            let value = access.next_value()?;
            map.insert(&key, value);
        }
        Ok(Value::Map(map))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keeps_key_order_and_scalar_types_through_a_round_trip() {
        let text = "b: 1\na: \"8080\"\nc: [true, null, 1.5]\nd:\n  z: x\n  y: 'on'\n";
        let v: Value = serde_saphyr::from_str(text).unwrap();
        let keys: Vec<&str> = v.as_map().unwrap().0.iter().map(|(k, _)| k.as_str()).collect();
        assert_eq!(keys, ["b", "a", "c", "d"]);
        assert_eq!(v.pointer(&["a"]), Some(&Value::String("8080".into())));
        assert_eq!(v.pointer(&["d", "y"]), Some(&Value::String("on".into())));
        let out = serde_saphyr::to_string(&v).unwrap();
        let back: Value = serde_saphyr::from_str(&out).unwrap();
        assert_eq!(back, v, "round trip changed the value:\n{out}");
    }

    #[test]
    fn strings_that_look_like_other_scalars_stay_strings() {
        let text = "a: |\n  line one\n  line two\nb: 'yes'\nc: '0o17'\nd: ~\ne: '1e3'\nf: 'null'\ng: '- x'\nh: 'a: b'\ni: ''\nj: '0x1F'\nk: \"#x\"\n";
        let v: Value = serde_saphyr::from_str(text).unwrap();
        assert_eq!(v.pointer(&["a"]), Some(&Value::String("line one\nline two\n".into())));
        assert_eq!(v.pointer(&["d"]), Some(&Value::Null));
        let out = serde_saphyr::to_string(&v).unwrap();
        let back: Value = serde_saphyr::from_str(&out).unwrap();
        assert_eq!(back, v, "round trip changed the value:\n{out}");
    }
}
