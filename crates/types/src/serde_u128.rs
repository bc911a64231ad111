//! JSON carries 128-bit ids and amounts as decimal strings: JavaScript numbers lose precision
//! past 2^53. Deserialisation also accepts a JSON number that fits in u64.

use serde::{Deserialize, Deserializer, Serializer};

pub fn serialize<S: Serializer>(value: &u128, serializer: S) -> Result<S::Ok, S::Error> {
    serializer.serialize_str(&value.to_string())
}

pub fn deserialize<'de, D: Deserializer<'de>>(deserializer: D) -> Result<u128, D::Error> {
    #[derive(Deserialize)]
    #[serde(untagged)]
    enum Text {
        String(String),
        Number(u64),
    }
    match Text::deserialize(deserializer)? {
        Text::String(text) => text
            .parse::<u128>()
            .map_err(|_| serde::de::Error::custom("expected a decimal 128-bit unsigned integer")),
        Text::Number(number) => Ok(u128::from(number)),
    }
}
