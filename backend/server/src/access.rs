//! Who may use the API: the studio token (created at first start in the data directory, sent
//! as `Authorization: Bearer …` or in the HttpOnly cookie the login URL sets) opens everything;
//! a share token opens one experiment, read-only. Tokens are 256 random bits; share tokens are
//! stored only as SHA-256 hashes.

use std::io::Write;
use std::path::{Path, PathBuf};

use sha2::{Digest, Sha256};

/// The file holding the studio token.
pub fn token_path(data_dir: &Path) -> PathBuf {
    data_dir.join("token")
}

/// A fresh unguessable token: 256 random bits, hex.
pub fn new_token() -> String {
    let mut bytes = [0u8; 32];
    getrandom::fill(&mut bytes).expect("the operating system provides random bytes");
    hex(&bytes)
}

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

/// What the store keeps of a share token.
pub fn token_hash(token: &str) -> String {
    hex(&Sha256::digest(token.as_bytes()))
}

/// The studio token of a data directory, created (readable by its owner only) if missing.
pub fn studio_token(data_dir: &Path) -> std::io::Result<String> {
    let path = token_path(data_dir);
    match std::fs::read_to_string(&path) {
        Ok(token) if !token.trim().is_empty() => return Ok(token.trim().to_owned()),
        Ok(_) => {}
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
        Err(e) => return Err(e),
    }
    std::fs::create_dir_all(data_dir)?;
    let token = new_token();
    let temporary = data_dir.join(format!("token.tmp-{}", std::process::id()));
    let mut options = std::fs::OpenOptions::new();
    options.write(true).create(true).truncate(true);
    std::os::unix::fs::OpenOptionsExt::mode(&mut options, 0o600);
    options.open(&temporary)?.write_all(token.as_bytes())?;
    std::fs::rename(&temporary, &path)?;
    Ok(token)
}

/// Compares two tokens in time independent of where they differ.
pub fn same_token(a: &str, b: &str) -> bool {
    a.len() == b.len() && a.bytes().zip(b.bytes()).fold(0u8, |acc, (x, y)| acc | (x ^ y)) == 0
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_studio_token_is_made_once_and_kept_private() {
        let dir = tempfile::tempdir().unwrap();
        let token = studio_token(dir.path()).unwrap();
        assert_eq!(token.len(), 64);
        assert_eq!(studio_token(dir.path()).unwrap(), token);
        let mode = std::fs::metadata(token_path(dir.path())).unwrap();
        assert_eq!(std::os::unix::fs::PermissionsExt::mode(&mode.permissions()) & 0o777, 0o600);
        assert_ne!(new_token(), new_token());
        assert!(same_token(&token, &token.clone()) && !same_token(&token, &new_token()));
        assert_eq!(token_hash("a").len(), 64);
    }
}
