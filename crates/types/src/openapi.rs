//! OpenAPI schemas of the values whose JSON form is written by hand: hashes, keys, signatures
//! and byte strings as lowercase hex, 128-bit ids and amounts as decimal strings, result codes
//! by name. The derived schemas of the other types point at these, so a client generator reads
//! exactly what the serialisers write. Only the node's API document needs them (feature
//! `openapi`).

use crate::Hash;
use crate::keys::{KEY_ACCOUNTS_MAX, KeyAccounts};
use crate::result::ResultCode;
use crate::vocabulary::{Amount, PublicKey, Signature};
use std::borrow::Cow;
use utoipa::openapi::RefOr;
use utoipa::openapi::schema::{ArrayBuilder, ObjectBuilder, Schema, Type};
use utoipa::{PartialSchema, ToSchema};

/// A string schema with the pattern every value matches and an example.
fn string(pattern: &str, description: &str, example: &str) -> RefOr<Schema> {
    ObjectBuilder::new()
        .schema_type(Type::String)
        .pattern(Some(pattern))
        .description(Some(description))
        .examples([example])
        .into()
}

/// `^[0-9a-f]{digits}$`: what `hex::encode` writes for `digits / 2` bytes.
fn hex_pattern(digits: usize) -> String {
    format!("^[0-9a-f]{{{digits}}}$")
}

/// What [`crate::serde_u128`] writes: `u128::to_string`, no sign, no leading zeros.
const DECIMAL_U128_PATTERN: &str = "^(0|[1-9][0-9]{0,38})$";

/// The schema of a `u128` field serialised with [`crate::serde_u128`] (ids, user data): name it in
/// `#[schema(value_type = DecimalU128)]`.
pub struct DecimalU128;

impl PartialSchema for DecimalU128 {
    fn schema() -> RefOr<Schema> {
        string(
            DECIMAL_U128_PATTERN,
            "A 128-bit unsigned integer as a decimal string (JavaScript numbers lose precision past \
             2^53). Requests may also give a JSON number up to 2^64 - 1.",
            "3001",
        )
    }
}

impl ToSchema for DecimalU128 {}

/// The schema of a `Vec<u8>` field serialised with [`crate::serde_hex_bytes`]: name it in
/// `#[schema(value_type = HexBytes)]`.
pub struct HexBytes;

impl PartialSchema for HexBytes {
    fn schema() -> RefOr<Schema> {
        string("^([0-9a-f]{2})*$", "A byte string as lowercase hex, two digits per byte.", "0a1b")
    }
}

impl ToSchema for HexBytes {}

impl PartialSchema for Amount {
    fn schema() -> RefOr<Schema> {
        string(
            DECIMAL_U128_PATTERN,
            "An amount in a ledger's minor units (fen, cents) as a decimal string of a 128-bit \
             unsigned integer. Requests may also give a JSON number up to 2^64 - 1.",
            "12345",
        )
    }
}

impl ToSchema for Amount {}

impl PartialSchema for Hash {
    fn schema() -> RefOr<Schema> {
        string(&hex_pattern(64), "A SHA-256 digest as 64 lowercase hex digits.", &Hash::ZERO.to_hex())
    }
}

impl ToSchema for Hash {}

impl PartialSchema for PublicKey {
    fn schema() -> RefOr<Schema> {
        string(&hex_pattern(64), "An ed25519 public key as 64 lowercase hex digits.", &"ab".repeat(32))
    }
}

impl ToSchema for PublicKey {}

impl PartialSchema for KeyAccounts {
    fn schema() -> RefOr<Schema> {
        ArrayBuilder::new()
            .items(ObjectBuilder::new().schema_type(Type::String).pattern(Some("^[1-9][0-9]{0,38}$")))
            .max_items(Some(KEY_ACCOUNTS_MAX))
            .description(Some(
                "The account ids (decimal) a key may debit; none listed: any of its organisation's.",
            ))
            .into()
    }
}

impl ToSchema for KeyAccounts {}

impl PartialSchema for Signature {
    fn schema() -> RefOr<Schema> {
        string(
            &hex_pattern(128),
            "An ed25519 signature as 128 lowercase hex digits (verified by ZIP-215's rules).",
            &"cd".repeat(64),
        )
    }
}

impl ToSchema for Signature {}

impl PartialSchema for ResultCode {
    fn schema() -> RefOr<Schema> {
        let numbers: Vec<String> =
            ResultCode::ALL.iter().map(|code| format!("{} = {}", code.name(), *code as u32)).collect();
        ObjectBuilder::new()
            .schema_type(Type::String)
            .enum_values(Some(ResultCode::ALL.iter().map(|code| code.name())))
            .description(Some(format!(
                "An operation's result by its stable name; `ok` and `exists` mean it is in effect. \
                 Numbers (never reused): {}.",
                numbers.join(", ")
            )))
            .into()
    }
}

impl ToSchema for ResultCode {
    fn name() -> Cow<'static, str> {
        Cow::Borrowed("ResultCode")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_string_schemas_fit_what_the_serialisers_write() {
        assert_eq!(u128::MAX.to_string().len(), 39, "the decimal pattern allows 39 digits");
        let hash = serde_json::to_value(Hash([0xab; 32])).expect("serialises");
        assert_eq!(hash.as_str().map(str::len), Some(64));
        let RefOr::T(Schema::Object(names)) = ResultCode::schema() else { panic!("an object schema") };
        assert_eq!(names.enum_values.map(|names| names.len()), Some(ResultCode::ALL.len()));
    }
}
