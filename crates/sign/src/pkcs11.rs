//! Signing keys held in a PKCS#11 token (an HSM, a smart card, softhsm2): the module is loaded
//! at run time and the private key never leaves the token. Keys are named with cosign's
//! PKCS#11 URIs (RFC 7512):
//! `pkcs11:token=TOKEN;object=LABEL[;id=%01]?module-path=/usr/lib/softhsm/libsofthsm2.so[&pin-value=PIN]`.
//! The PIN comes from the URI, else from the caller (passphrase file, `COSIGN_PASSWORD`, a
//! prompt). The key must be ECDSA P-256 with its public key object beside it.

use super::signer::Signer;
use cryptoki::context::{CInitializeArgs, CInitializeFlags, Pkcs11};
use cryptoki::mechanism::Mechanism;
use cryptoki::object::{Attribute, AttributeType, ObjectClass, ObjectHandle};
use cryptoki::session::{Session, UserType};
use cryptoki::types::AuthPin;
use p256::ecdsa::{Signature, VerifyingKey};
use sha2::{Digest as _, Sha256};
use std::sync::Mutex;

/// The parts of a PKCS#11 URI hangar uses.
#[derive(Debug, Default, PartialEq, Eq)]
pub struct Uri {
    pub token: Option<String>,
    pub object: Option<String>,
    pub id: Option<Vec<u8>>,
    pub module_path: Option<String>,
    pub pin: Option<String>,
}

/// `%41` → `A` (RFC 3986 percent-decoding, as PKCS#11 URIs use it).
fn unescape(value: &str) -> Result<Vec<u8>, String> {
    let bytes = value.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        if bytes[i] == b'%' {
            let hex = value
                .get(i + 1..i + 3)
                .ok_or_else(|| format!("broken %-escape in {value:?}"))?;
            out.push(
                u8::from_str_radix(hex, 16).map_err(|_| format!("broken %-escape in {value:?}"))?,
            );
            i += 3;
        } else {
            out.push(bytes[i]);
            i += 1;
        }
    }
    Ok(out)
}

pub fn parse_uri(uri: &str) -> Result<Uri, String> {
    let rest = uri
        .strip_prefix("pkcs11:")
        .ok_or_else(|| format!("{uri:?} is not a pkcs11: URI"))?;
    let (path, query) = rest.split_once('?').unwrap_or((rest, ""));
    let text = |v: &str| unescape(v).map(|b| String::from_utf8_lossy(&b).into_owned());
    let mut parsed = Uri::default();
    for attribute in path.split(';').filter(|a| !a.is_empty()) {
        let (key, value) = attribute
            .split_once('=')
            .ok_or_else(|| format!("{attribute:?} in {uri:?} is not key=value"))?;
        match key {
            "token" => parsed.token = Some(text(value)?),
            "object" => parsed.object = Some(text(value)?),
            "id" => parsed.id = Some(unescape(value)?),
            // Other attributes (manufacturer, serial, type...) narrow nothing hangar needs.
            _ => {}
        }
    }
    for attribute in query.split('&').filter(|a| !a.is_empty()) {
        let (key, value) = attribute
            .split_once('=')
            .ok_or_else(|| format!("{attribute:?} in {uri:?} is not key=value"))?;
        match key {
            "module-path" => parsed.module_path = Some(text(value)?),
            "pin-value" => parsed.pin = Some(text(value)?),
            _ => {}
        }
    }
    if parsed.object.is_none() && parsed.id.is_none() {
        return Err(format!("{uri:?} names no key: give object=LABEL or id=ID"));
    }
    Ok(parsed)
}

/// A private key in a token, with its public key.
pub struct Pkcs11Key {
    session: Mutex<Session>,
    key: ObjectHandle,
    public: VerifyingKey,
    // The module stays loaded as long as its session is used.
    _context: Pkcs11,
}

impl Pkcs11Key {
    /// Opens the key `uri` names; `pin` is asked for only when the URI has none.
    pub fn open(
        uri: &str,
        pin: impl FnOnce() -> Result<String, String>,
    ) -> Result<Pkcs11Key, String> {
        let parsed = parse_uri(uri)?;
        let module = parsed.module_path.clone().ok_or_else(|| {
            format!("{uri:?} has no module-path=... (the PKCS#11 module of the token to load)")
        })?;
        let context = Pkcs11::new(&module).map_err(|e| format!("PKCS#11 module {module}: {e}"))?;
        context
            .initialize(CInitializeArgs::new(CInitializeFlags::OS_LOCKING_OK))
            .map_err(|e| format!("PKCS#11 module {module}: {e}"))?;
        let slots = context
            .get_slots_with_token()
            .map_err(|e| format!("PKCS#11 module {module}: {e}"))?;
        let mut labels = Vec::new();
        let mut chosen = None;
        for slot in slots {
            let info = context
                .get_token_info(slot)
                .map_err(|e| format!("PKCS#11 module {module}: {e}"))?;
            let label = info.label().trim().to_string();
            if parsed.token.as_deref().is_none_or(|t| t == label) && chosen.is_none() {
                chosen = Some(slot);
            }
            labels.push(label);
        }
        let slot = chosen.ok_or_else(|| {
            format!(
                "no token {:?} in {module} (tokens: {})",
                parsed.token.as_deref().unwrap_or("(any)"),
                labels.join(", ")
            )
        })?;
        let session = context
            .open_ro_session(slot)
            .map_err(|e| format!("PKCS#11 session: {e}"))?;
        let pin = match &parsed.pin {
            Some(pin) => pin.clone(),
            None => pin()?,
        };
        session
            .login(UserType::User, Some(&AuthPin::from(pin)))
            .map_err(|e| {
                format!(
                    "PKCS#11 login to token {:?}: {e} (is the PIN right?)",
                    parsed.token.as_deref().unwrap_or("")
                )
            })?;
        let template = |class: ObjectClass| {
            let mut t = vec![Attribute::Class(class)];
            if let Some(label) = &parsed.object {
                t.push(Attribute::Label(label.as_bytes().to_vec()));
            }
            if let Some(id) = &parsed.id {
                t.push(Attribute::Id(id.clone()));
            }
            t
        };
        let find = |class: ObjectClass, what: &str| -> Result<ObjectHandle, String> {
            let found = session
                .find_objects(&template(class))
                .map_err(|e| format!("PKCS#11 search: {e}"))?;
            match found.as_slice() {
                [one] => Ok(*one),
                [] => Err(format!("no {what} matching {uri:?} in the token")),
                _ => Err(format!(
                    "{} {what}s match {uri:?}; add id= or object= to choose one",
                    found.len()
                )),
            }
        };
        let key = find(ObjectClass::PRIVATE_KEY, "private key")?;
        let public_handle = find(ObjectClass::PUBLIC_KEY, "public key")?;
        let point = session
            .get_attributes(public_handle, &[AttributeType::EcPoint])
            .map_err(|e| format!("PKCS#11 public key: {e}"))?;
        let Some(Attribute::EcPoint(point)) = point.into_iter().next() else {
            return Err("the public key is not an EC key".into());
        };
        // CKA_EC_POINT is a DER OCTET STRING around the SEC1 point (some modules omit it).
        let sec1 = match point.as_slice() {
            // OCTET STRING (0x04), length 65, then the uncompressed point (0x04, X, Y).
            [0x04, 65, rest @ ..] if rest.len() == 65 && rest[0] == 0x04 => rest.to_vec(),
            _ => point.clone(),
        };
        let public = VerifyingKey::from_sec1_bytes(&sec1)
            .map_err(|e| format!("the token's key is not ECDSA P-256: {e}"))?;
        Ok(Pkcs11Key {
            session: Mutex::new(session),
            key,
            public,
            _context: context,
        })
    }
}

impl Signer for Pkcs11Key {
    fn sign(&self, payload: &[u8]) -> Result<Vec<u8>, String> {
        let digest = Sha256::digest(payload);
        let raw = self
            .session
            .lock()
            .expect("pkcs11 session lock")
            .sign(&Mechanism::Ecdsa, self.key, &digest)
            .map_err(|e| format!("PKCS#11 sign: {e}"))?;
        // CKM_ECDSA gives r||s; cosign stores ASN.1 DER.
        let signature =
            Signature::from_slice(&raw).map_err(|e| format!("PKCS#11 signature: {e}"))?;
        Ok(signature.to_der().as_bytes().to_vec())
    }

    fn public_key(&self) -> &VerifyingKey {
        &self.public
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn uris_are_read_as_cosign_writes_them() {
        let uri = parse_uri(
            "pkcs11:token=hangar%20ci;object=signing;id=%01%a0?module-path=/usr/lib/softhsm/libsofthsm2.so&pin-value=1234",
        )
        .unwrap();
        assert_eq!(uri.token.as_deref(), Some("hangar ci"));
        assert_eq!(uri.object.as_deref(), Some("signing"));
        assert_eq!(uri.id, Some(vec![0x01, 0xa0]));
        assert_eq!(
            uri.module_path.as_deref(),
            Some("/usr/lib/softhsm/libsofthsm2.so")
        );
        assert_eq!(uri.pin.as_deref(), Some("1234"));
        assert!(
            parse_uri("pkcs11:token=x")
                .unwrap_err()
                .contains("names no key")
        );
        assert!(parse_uri("file:x").is_err());
    }
}
