//! What genesis fixes for the life of the chain: organisations, their roles and keys, and the
//! ledgers with their issuers.

use hansa_types::genesis::GenesisError;
use hansa_types::{Genesis, Hash, OrgId, PublicKey, Role, VerifyingKey};
use std::collections::BTreeMap;

#[derive(Debug)]
pub struct Consortium {
    pub chain_id: Hash,
    pub genesis: Genesis,
    /// Each organisation's role, key, and key decompressed for verification.
    organisations: BTreeMap<OrgId, (Role, PublicKey, VerifyingKey)>,
    /// Ledger id to its issuer.
    issuers: BTreeMap<u32, OrgId>,
}

impl Consortium {
    pub fn new(genesis: Genesis) -> Result<Consortium, GenesisError> {
        genesis.validate()?;
        let mut organisations = BTreeMap::new();
        for org in &genesis.organisations {
            let Some(verifying) = org.public_key.prepare() else {
                return Err(GenesisError::Invalid(format!(
                    "organisation {}: its public key is not an ed25519 point",
                    org.id.0
                )));
            };
            organisations.insert(org.id, (org.role, org.public_key, verifying));
        }
        let issuers = genesis.ledgers.iter().map(|ledger| (ledger.id, ledger.issuer)).collect();
        Ok(Consortium { chain_id: genesis.chain_id(), genesis, organisations, issuers })
    }

    pub fn role(&self, org: OrgId) -> Option<Role> {
        self.organisations.get(&org).map(|(role, _, _)| *role)
    }

    pub fn issuer(&self, ledger: u32) -> Option<OrgId> {
        self.issuers.get(&ledger).copied()
    }

    /// An organisation's role, key and prepared verifying key.
    pub(crate) fn member(&self, org: OrgId) -> Option<&(Role, PublicKey, VerifyingKey)> {
        self.organisations.get(&org)
    }
}
