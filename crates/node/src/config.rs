//! Files a node reads: key files, the consortium description, genesis, and node configuration.

use anyhow::{Context, Result, bail};
use hansa_types::{Genesis, LedgerSpec, OrgId, PublicKey, Role, SecretKey, ValidatorSpec};
use serde::{Deserialize, Serialize};
use std::net::SocketAddr;
use std::path::{Path, PathBuf};

/// Writes a new random ed25519 key as a hex seed, readable by the owner only.
pub fn generate_key(path: &Path) -> Result<SecretKey> {
    if path.exists() {
        bail!("{} exists: refusing to overwrite a key", path.display());
    }
    let seed: [u8; 32] = rand::random();
    let key = SecretKey::from_seed(seed);
    if let Some(parent) = path.parent() {
        std::fs::create_dir_all(parent)?;
    }
    std::fs::write(path, format!("{}\n", hex::encode(seed)))?;
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        std::fs::set_permissions(path, std::fs::Permissions::from_mode(0o600))?;
    }
    Ok(key)
}

pub fn read_key(path: &Path) -> Result<SecretKey> {
    let text = std::fs::read_to_string(path).with_context(|| format!("reading key {}", path.display()))?;
    let bytes = hex::decode(text.trim()).with_context(|| format!("{}: not hex", path.display()))?;
    let seed: [u8; 32] =
        bytes.try_into().map_err(|_| anyhow::anyhow!("{}: a key is 32 bytes of hex", path.display()))?;
    Ok(SecretKey::from_seed(seed))
}

/// A consortium described for `hansa genesis`: like genesis, but keys may be given as files.
#[derive(Debug, Deserialize, Serialize)]
pub struct ConsortiumFile {
    pub chain_name: String,
    #[serde(default)]
    pub genesis_time_ms: Option<u64>,
    pub organisations: Vec<OrganisationEntry>,
    pub ledgers: Vec<LedgerSpec>,
    pub validators: Vec<ValidatorEntry>,
}

#[derive(Debug, Deserialize, Serialize)]
pub struct OrganisationEntry {
    pub id: OrgId,
    pub name: String,
    pub role: Role,
    pub public_key: Option<PublicKey>,
    pub key_file: Option<PathBuf>,
}

#[derive(Debug, Deserialize, Serialize)]
pub struct ValidatorEntry {
    pub name: String,
    pub org: OrgId,
    pub public_key: Option<PublicKey>,
    pub key_file: Option<PathBuf>,
    pub p2p_address: String,
    pub api_address: String,
}

fn resolve_key(
    base: &Path,
    public_key: Option<PublicKey>,
    key_file: &Option<PathBuf>,
    what: &str,
) -> Result<PublicKey> {
    match (public_key, key_file) {
        (Some(key), None) => Ok(key),
        (None, Some(file)) => Ok(read_key(&base.join(file))?.public_key()),
        _ => bail!("{what}: give exactly one of public_key and key_file"),
    }
}

/// Builds and validates genesis from a consortium description.
pub fn build_genesis(path: &Path) -> Result<Genesis> {
    let text = std::fs::read_to_string(path).with_context(|| format!("reading {}", path.display()))?;
    let file: ConsortiumFile =
        toml::from_str(&text).with_context(|| format!("parsing {}", path.display()))?;
    let base = path.parent().unwrap_or(Path::new("."));
    let mut organisations = Vec::new();
    for org in &file.organisations {
        let public_key = resolve_key(base, org.public_key, &org.key_file, &org.name)?;
        organisations.push(hansa_types::OrganisationSpec {
            id: org.id,
            name: org.name.clone(),
            role: org.role,
            public_key,
        });
    }
    let mut validators = Vec::new();
    for validator in &file.validators {
        let public_key = resolve_key(base, validator.public_key, &validator.key_file, &validator.name)?;
        validators.push(ValidatorSpec {
            name: validator.name.clone(),
            org: validator.org,
            public_key,
            p2p_address: validator.p2p_address.clone(),
            api_address: validator.api_address.clone(),
        });
    }
    let genesis_time_ms = file.genesis_time_ms.unwrap_or_else(|| {
        std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).map_or(0, |d| d.as_millis() as u64)
    });
    let genesis = Genesis {
        chain_name: file.chain_name,
        genesis_time_ms,
        organisations,
        ledgers: file.ledgers,
        validators,
    };
    genesis.validate()?;
    Ok(genesis)
}

pub fn read_genesis(path: &Path) -> Result<Genesis> {
    let text =
        std::fs::read_to_string(path).with_context(|| format!("reading genesis {}", path.display()))?;
    let genesis: Genesis =
        toml::from_str(&text).with_context(|| format!("parsing genesis {}", path.display()))?;
    genesis.validate()?;
    Ok(genesis)
}

/// One validator's configuration (`node.toml`). Relative paths are relative to the file.
#[derive(Debug, Deserialize, Serialize)]
pub struct NodeFile {
    pub genesis: PathBuf,
    pub validator_key: PathBuf,
    pub data_dir: PathBuf,
    /// Defaults to this validator's `api_address` in genesis.
    pub api_listen: Option<SocketAddr>,
    /// Defaults to this validator's `p2p_address` in genesis.
    pub p2p_listen: Option<SocketAddr>,
    /// Serve the API over TLS with this certificate chain and key (PEM).
    pub tls_cert: Option<PathBuf>,
    pub tls_key: Option<PathBuf>,
}

/// A node configuration with every path resolved and checked against genesis.
pub struct NodeConfig {
    pub genesis: Genesis,
    pub key: SecretKey,
    pub index: usize,
    pub data_dir: PathBuf,
    pub api_listen: SocketAddr,
    pub p2p_listen: SocketAddr,
    pub tls: Option<(PathBuf, PathBuf)>,
}

pub fn read_node_config(path: &Path) -> Result<NodeConfig> {
    let text = std::fs::read_to_string(path).with_context(|| format!("reading {}", path.display()))?;
    let file: NodeFile = toml::from_str(&text).with_context(|| format!("parsing {}", path.display()))?;
    let base = path.parent().unwrap_or(Path::new("."));
    let genesis = read_genesis(&base.join(&file.genesis))?;
    let key = read_key(&base.join(&file.validator_key))?;
    let public_key = key.public_key();
    let index = genesis
        .validators
        .iter()
        .position(|validator| validator.public_key == public_key)
        .ok_or_else(|| anyhow::anyhow!("the validator key {public_key} is not a validator in genesis"))?;
    let spec = &genesis.validators[index];
    let api_listen = match file.api_listen {
        Some(address) => address,
        None => spec.api_address.parse().with_context(|| format!("api_address of {}", spec.name))?,
    };
    let p2p_listen = match file.p2p_listen {
        Some(address) => address,
        None => spec.p2p_address.parse().with_context(|| format!("p2p_address of {}", spec.name))?,
    };
    let tls = match (file.tls_cert, file.tls_key) {
        (Some(cert), Some(key)) => Some((base.join(cert), base.join(key))),
        (None, None) => None,
        _ => bail!("give both tls_cert and tls_key, or neither"),
    };
    Ok(NodeConfig { genesis, key, index, data_dir: base.join(file.data_dir), api_listen, p2p_listen, tls })
}
