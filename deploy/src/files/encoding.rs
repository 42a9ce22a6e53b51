//! How keys and cluster ids appear in the files: as hex strings. A malformed one is
//! refused while parsing, so the error names the line it is on.

use std::fmt;

use serde::de::{self, Visitor};
use serde::{Deserialize, Deserializer, Serialize, Serializer};

use rampart_crypto::{ClusterId, PublicKey};

/// An ed25519 public key, written as 64 hex characters.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub struct KeyHex(pub PublicKey);

impl Serialize for KeyHex {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.serialize_str(&self.0.to_string())
    }
}

impl<'de> Deserialize<'de> for KeyHex {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<KeyHex, D::Error> {
        deserializer.deserialize_str(KeyHexVisitor)
    }
}

struct KeyHexVisitor;

impl Visitor<'_> for KeyHexVisitor {
    type Value = KeyHex;

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("an ed25519 public key as 64 hex characters")
    }

    fn visit_str<E: de::Error>(self, text: &str) -> Result<KeyHex, E> {
        text.parse().map(KeyHex).map_err(|error| {
            E::custom(format_args!(
                "{text:?} is not an ed25519 public key ({error}); copy the key as written by \
                 `rampart init`"
            ))
        })
    }
}

/// A cluster id, written as 16 hex characters (a TOML integer cannot hold every u64).
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub struct ClusterIdHex(pub ClusterId);

impl Serialize for ClusterIdHex {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.serialize_str(&self.0.to_string())
    }
}

impl<'de> Deserialize<'de> for ClusterIdHex {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<ClusterIdHex, D::Error> {
        deserializer.deserialize_str(ClusterIdVisitor)
    }
}

struct ClusterIdVisitor;

impl Visitor<'_> for ClusterIdVisitor {
    type Value = ClusterIdHex;

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("a cluster id as 16 hex characters")
    }

    fn visit_str<E: de::Error>(self, text: &str) -> Result<ClusterIdHex, E> {
        let valid = text.len() == 16 && text.bytes().all(|byte| byte.is_ascii_hexdigit());
        match u64::from_str_radix(text, 16) {
            Ok(id) if valid => Ok(ClusterIdHex(ClusterId(id))),
            _ => Err(E::custom(format_args!(
                "cluster id {text:?} is not 16 hex characters"
            ))),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use rampart_crypto::KeyPair;

    #[derive(Serialize, Deserialize, Debug, PartialEq)]
    struct Sample {
        id: ClusterIdHex,
        key: KeyHex,
    }

    #[test]
    fn keys_and_ids_round_trip_as_hex() {
        let sample = Sample {
            id: ClusterIdHex(ClusterId(0x00ab_cdef_0123_4567)),
            key: KeyHex(KeyPair::from_seed(3).public_key()),
        };
        let text = toml::to_string(&sample).expect("serializes");
        assert!(text.contains("id = \"00abcdef01234567\""), "{text}");
        assert_eq!(toml::from_str::<Sample>(&text).expect("parses"), sample);
    }

    #[test]
    fn malformed_keys_and_ids_are_refused() {
        let key = KeyPair::from_seed(3).public_key();
        for text in [
            format!("id = \"12\"\nkey = \"{key}\""),
            format!("id = \"+bcdef0123456789\"\nkey = \"{key}\""),
            "id = \"00abcdef01234567\"\nkey = \"abcd\"".to_string(),
        ] {
            assert!(toml::from_str::<Sample>(&text).is_err(), "{text}");
        }
    }
}
