//! Genesis: the consortium's founding document.
//!
//! Every validator and every offline verifier starts from the same genesis. Its hash (over the
//! canonical encoding below, not over the TOML text) is the chain id that every batch signs.

use crate::codec::{Encode, encode_bytes};
use crate::hash::{Hash, domain, hash};
use crate::vocabulary::{Currency, OrgId, PublicKey, Role};
use serde::{Deserialize, Serialize};
use std::collections::BTreeSet;

/// The consortium's founding document; its hash is the chain id.
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Genesis {
    pub chain_name: String,
    /// Consensus time at genesis; the first block's timestamp must be later.
    pub genesis_time_ms: u64,
    pub organisations: Vec<OrganisationSpec>,
    pub ledgers: Vec<LedgerSpec>,
    pub validators: Vec<ValidatorSpec>,
}

/// A member organisation.
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct OrganisationSpec {
    pub id: OrgId,
    pub name: String,
    pub role: Role,
    /// The key that signs the organisation's batches.
    pub public_key: PublicKey,
}

/// A ledger is one currency; its issuer alone mints and redeems it.
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct LedgerSpec {
    pub id: u32,
    /// ISO 4217 code, such as `CNY`.
    pub currency: String,
    /// Digits of minor units (2 for fen and cents).
    pub scale: u8,
    pub issuer: OrgId,
}

/// A validator of the consortium.
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ValidatorSpec {
    pub name: String,
    /// The organisation that runs it.
    pub org: OrgId,
    /// Its consensus and p2p identity (ed25519).
    pub public_key: PublicKey,
    /// Where its peers reach it (host:port).
    pub p2p_address: String,
    /// Where clients reach its API (host:port).
    pub api_address: String,
}

/// Why a genesis document is unusable.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum GenesisError {
    #[error("genesis: {0}")]
    Invalid(String),
}

const NAME_BYTES_MAX: usize = 256;

impl Genesis {
    pub fn chain_id(&self) -> Hash {
        hash(domain::GENESIS, &self.encode())
    }

    pub fn organisation(&self, id: OrgId) -> Option<&OrganisationSpec> {
        self.organisations.iter().find(|org| org.id == id)
    }

    pub fn ledger(&self, id: u32) -> Option<&LedgerSpec> {
        self.ledgers.iter().find(|ledger| ledger.id == id)
    }

    pub fn currency(&self, ledger: u32) -> Option<Currency> {
        let spec = self.ledger(ledger)?;
        Currency::parse(&spec.currency, spec.scale)
    }

    /// Checks the rules a genesis must follow.
    pub fn validate(&self) -> Result<(), GenesisError> {
        let fail = |message: String| Err(GenesisError::Invalid(message));
        if self.chain_name.is_empty() || self.chain_name.len() > NAME_BYTES_MAX {
            return fail("chain_name must have 1 to 256 bytes".into());
        }
        let mut org_ids = BTreeSet::new();
        let mut org_keys = BTreeSet::new();
        for org in &self.organisations {
            if !org_ids.insert(org.id) {
                return fail(format!("organisation id {} appears twice", org.id.0));
            }
            if org.public_key.prepare().is_none() {
                return fail(format!("organisation {}: its public key is not an ed25519 point", org.id.0));
            }
            if !org_keys.insert(org.public_key) {
                return fail(format!("organisation {} reuses another's key", org.id.0));
            }
            if org.name.is_empty() || org.name.len() > NAME_BYTES_MAX {
                return fail(format!("organisation {} needs a name of 1 to 256 bytes", org.id.0));
            }
        }
        let mut ledger_ids = BTreeSet::new();
        for ledger in &self.ledgers {
            if ledger.id == 0 || !ledger_ids.insert(ledger.id) {
                return fail(format!("ledger id {} is zero or appears twice", ledger.id));
            }
            if Currency::parse(&ledger.currency, ledger.scale).is_none() {
                return fail(format!("ledger {}: currency must be an ISO 4217 code", ledger.id));
            }
            match self.organisation(ledger.issuer) {
                Some(org) if org.role == Role::PaymentInstitution => {}
                _ => {
                    return fail(format!(
                        "ledger {}: issuer {} must be a payment institution",
                        ledger.id, ledger.issuer.0
                    ));
                }
            }
        }
        if self.validators.is_empty() {
            return fail("at least one validator is needed".into());
        }
        let mut validator_keys = BTreeSet::new();
        for validator in &self.validators {
            if self.organisation(validator.org).is_none() {
                return fail(format!("validator {} names an unknown organisation", validator.name));
            }
            if !validator_keys.insert(validator.public_key) {
                return fail(format!("validator {} reuses another's key", validator.name));
            }
            if validator.p2p_address.parse::<std::net::SocketAddr>().is_err() {
                return fail(format!("validator {}: p2p_address must be ip:port", validator.name));
            }
        }
        Ok(())
    }

    /// Most validators that may fail (crash or lie) with the chain still safe and live.
    pub fn faults_tolerated(&self) -> usize {
        (self.validators.len().saturating_sub(1)) / 3
    }
}

impl Encode for Genesis {
    fn encode_to(&self, out: &mut Vec<u8>) {
        encode_bytes(self.chain_name.as_bytes(), out);
        self.genesis_time_ms.encode_to(out);
        (self.organisations.len() as u32).encode_to(out);
        for org in &self.organisations {
            org.id.encode_to(out);
            encode_bytes(org.name.as_bytes(), out);
            (org.role as u8).encode_to(out);
            org.public_key.encode_to(out);
        }
        (self.ledgers.len() as u32).encode_to(out);
        for ledger in &self.ledgers {
            ledger.id.encode_to(out);
            encode_bytes(ledger.currency.as_bytes(), out);
            ledger.scale.encode_to(out);
            ledger.issuer.encode_to(out);
        }
        (self.validators.len() as u32).encode_to(out);
        for validator in &self.validators {
            encode_bytes(validator.name.as_bytes(), out);
            validator.org.encode_to(out);
            validator.public_key.encode_to(out);
            encode_bytes(validator.p2p_address.as_bytes(), out);
            encode_bytes(validator.api_address.as_bytes(), out);
        }
    }
}
