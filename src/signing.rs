//! Signed checkpoints: a C2SP `tlog-checkpoint` body (origin, tree size,
//! base64 root hash) wrapped as a C2SP `signed-note` with an Ed25519 key in
//! the note key formats Go's `sumdb/note` uses (`signed_note` crate). The
//! origin line is the key's name.
//!
//! Keys live in files: the signing key (`PRIVATE+KEY+name+hash+base64`) is
//! written with mode 0600 and never logged; the verifier key
//! (`name+hash+base64`) is public.

use crate::error::{Error, Result};
use base64::Engine as _;
use signed_note::{Note, Signer as _, StandardSigner};
use std::io::Write as _;
use std::os::unix::fs::OpenOptionsExt as _;
use std::path::Path;

/// Where `amity key generate` writes the signing key, and where `serve` and
/// `checkpoint` look for it, unless `--key` says otherwise.
pub const KEY_FILE: &str = "signing.key";

/// A loaded signing key.
pub struct Key {
    signer: StandardSigner,
    verifier: String,
}

impl Key {
    /// Makes a new key pair named `name` (the checkpoints' origin line),
    /// writes the signing key to `path` (which must not exist, mode 0600),
    /// and returns the verifier key.
    pub fn generate(name: &str, path: &Path) -> Result<String> {
        if !signed_note::is_key_name_valid(name) {
            return Err(Error::Usage(format!(
                "name: `{name}` is not a note key name (non-empty, no spaces or `+`), e.g. example.org/hanoi-vientiane"
            )));
        }
        let (skey, vkey) = signed_note::generate_key(&mut rand_core::OsRng, name);
        let mut file =
            std::fs::OpenOptions::new().write(true).create_new(true).mode(0o600).open(path).map_err(|e| {
                match e.kind() {
                    std::io::ErrorKind::AlreadyExists => {
                        Error::Usage(format!("{} already exists; a key is never overwritten", path.display()))
                    }
                    _ => Error::io(format!("writing {}", path.display()), e),
                }
            })?;
        file.write_all(format!("{skey}\n").as_bytes())
            .and_then(|()| file.sync_all())
            .map_err(|e| Error::io(format!("writing {}", path.display()), e))?;
        Ok(vkey)
    }

    /// Loads the signing key in `path`.
    pub fn load(path: &Path) -> Result<Key> {
        let text = std::fs::read_to_string(path).map_err(|e| {
            Error::Usage(format!(
                "cannot read the signing key {} ({e}); `amity key generate` makes one",
                path.display()
            ))
        })?;
        let skey = text.trim();
        let bad = || Error::Usage(format!("{}: not a note signing key (PRIVATE+KEY+name+hash+base64)", path.display()));
        let signer = StandardSigner::new(skey).map_err(|_| bad())?;
        // The verifier key, from the private key's Ed25519 seed.
        // PRIVATE+KEY+name+hash+base64: the base64 itself may hold `+`.
        let encoded = skey.splitn(5, '+').nth(4).ok_or_else(bad)?;
        let bytes = base64::engine::general_purpose::STANDARD.decode(encoded).map_err(|_| bad())?;
        let seed: [u8; 32] = bytes.get(1..).and_then(|seed| seed.try_into().ok()).ok_or_else(bad)?;
        let verifying = ed25519_dalek::SigningKey::from_bytes(&seed).verifying_key();
        let verifier = signed_note::new_ed25519_verifier_key(signer.name(), &verifying);
        Ok(Key { signer, verifier })
    }

    /// The verifier key, in the note format (`name+hash+base64`).
    pub fn verifier(&self) -> &str {
        &self.verifier
    }

    /// The checkpoint origin: the key's name.
    pub fn origin(&self) -> &str {
        self.signer.name()
    }

    /// `note` (a signed note) with this key's signature added: a witness's
    /// cosignature.
    pub fn cosign(&self, note: &str) -> Result<String> {
        let mut note =
            Note::from_bytes(note.as_bytes()).map_err(|e| Error::Usage(format!("not a signed note: {e:?}")))?;
        note.add_sigs(&[&self.signer]).map_err(|e| Error::Usage(format!("cosigning: {e:?}")))?;
        Ok(String::from_utf8(note.to_bytes()).expect("a note is UTF-8"))
    }

    /// The signed checkpoint of the tree of `size` records with root `root`.
    pub fn sign(&self, size: u64, root: events::merkle::Hash) -> Result<String> {
        let body = tlog_tiles::Checkpoint::new(self.origin(), size, root, "")
            .map_err(|e| Error::Usage(format!("checkpoint: {e:?}")))?;
        let mut note = Note::new(&body.to_bytes(), &[]).map_err(|e| Error::Usage(format!("checkpoint note: {e:?}")))?;
        note.add_sigs(&[&self.signer]).map_err(|e| Error::Usage(format!("signing the checkpoint: {e:?}")))?;
        Ok(String::from_utf8(note.to_bytes()).expect("a note is UTF-8"))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_generated_key_loads_with_the_verifier_key_it_was_printed_with() {
        // About half of all keys hold a `+` in their base64: 40 cover both.
        let dir = tempfile::tempdir().unwrap();
        for i in 0..40 {
            let path = dir.path().join(format!("key-{i}"));
            let printed = Key::generate("example.org/test", &path).unwrap();
            let key = Key::load(&path).unwrap();
            assert_eq!(key.verifier(), printed);
            assert_eq!(key.origin(), "example.org/test");
        }
    }
}
