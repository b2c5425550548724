//! Key files: TOML holding one ed25519 secret key, written with mode 0600
//! and never overwritten.

use std::fs::OpenOptions;
use std::io::Write;
use std::path::Path;

use anyhow::{bail, Context, Result};
use hutong_runtime::{Address, Keypair, PublicKey};
use serde::{Deserialize, Serialize};
use zeroize::Zeroize;

const KIND: &str = "hutong-ed25519-secret-key";
const KEY_FILE_BYTES_MAX: u64 = 4096;

#[derive(Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
struct KeyFile {
    kind: String,
    public_key: String,
    secret_key: String,
}

/// Writes `key` to a new file at `path`, readable by its owner only.
/// Refuses to replace an existing file: a key overwritten is a key lost.
pub fn write(path: &Path, key: &Keypair) -> Result<()> {
    let mut secret = hex::encode(key.secret_bytes());
    let file = KeyFile {
        kind: KIND.into(),
        public_key: key.public().to_hex(),
        secret_key: secret.clone(),
    };
    let mut text = format!(
        "# Hutong ed25519 key. Keep this file secret: it is the whole key.\n{}",
        toml::to_string(&file).context("encoding the key file")?
    );
    secret.zeroize();
    let mut options = OpenOptions::new();
    options.write(true).create_new(true);
    #[cfg(unix)]
    {
        use std::os::unix::fs::OpenOptionsExt;
        options.mode(0o600);
    }
    let result = options.open(path).map_err(|e| {
        if e.kind() == std::io::ErrorKind::AlreadyExists {
            anyhow::anyhow!(
                "{} already exists; refusing to overwrite a key file",
                path.display()
            )
        } else {
            anyhow::anyhow!("cannot create {}: {e}", path.display())
        }
    });
    let written = result.and_then(|mut f| {
        f.write_all(text.as_bytes())
            .and_then(|_| f.sync_all())
            .with_context(|| format!("writing {}", path.display()))
    });
    text.zeroize();
    written
}

/// Reads a key file and checks that its public key matches its secret.
pub fn read(path: &Path) -> Result<Keypair> {
    // A key file is a few hundred bytes; refuse to read anything large.
    let size = std::fs::metadata(path)
        .with_context(|| format!("cannot read key file {}", path.display()))?
        .len();
    if size > KEY_FILE_BYTES_MAX {
        bail!(
            "{} is {size} bytes; a key file is at most {KEY_FILE_BYTES_MAX}",
            path.display()
        );
    }
    let mut text = std::fs::read_to_string(path)
        .with_context(|| format!("cannot read key file {}", path.display()))?;
    let parsed: Result<KeyFile, _> = toml::from_str(&text);
    text.zeroize();
    let mut file = parsed.map_err(|e| {
        anyhow::anyhow!(
            "{} is not a Hutong key file: {}",
            path.display(),
            e.message()
        )
    })?;
    if file.kind != KIND {
        bail!(
            "{}: kind is {:?}, expected {KIND:?}",
            path.display(),
            file.kind
        );
    }
    let mut bytes = hex::decode(file.secret_key.trim())
        .map_err(|_| anyhow::anyhow!("{}: secret_key is not hex", path.display()))?;
    file.secret_key.zeroize();
    let secret: Result<[u8; 32], _> = bytes.as_slice().try_into();
    bytes.zeroize();
    let Ok(mut secret) = secret else {
        bail!(
            "{}: secret_key must be 32 bytes (64 hex characters)",
            path.display()
        );
    };
    let key = Keypair::from_secret_bytes(&secret);
    secret.zeroize();
    let public = PublicKey::from_hex(&file.public_key)
        .map_err(|e| anyhow::anyhow!("{}: public_key: {e}", path.display()))?;
    if public != key.public() {
        bail!(
            "{}: public_key {} does not belong to the secret key (expected {})",
            path.display(),
            public,
            key.public()
        );
    }
    Ok(key)
}

/// The libp2p peer id a node with this key will have.
pub fn peer_id(key: &PublicKey) -> Result<String> {
    let pk = libp2p::identity::ed25519::PublicKey::try_from_bytes(&key.0)
        .map_err(|e| anyhow::anyhow!("public key {key} is not a libp2p ed25519 key: {e}"))?;
    Ok(libp2p::identity::PublicKey::from(pk)
        .to_peer_id()
        .to_string())
}

pub fn describe(key: &Keypair) -> Result<String> {
    let public = key.public();
    Ok(format!(
        "public key: {public}\naddress:    {}\npeer id:    {}",
        Address::of(&public),
        peer_id(&public)?
    ))
}
