//! Id newtypes. Every id is a UUID v7, so ids sort by creation time and index well.

use std::fmt;
use std::str::FromStr;

use serde::{Deserialize, Serialize};
use uuid::Uuid;

macro_rules! id_type {
    ($(#[$doc:meta])* $name:ident) => {
        $(#[$doc])*
        #[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
        #[cfg_attr(feature = "openapi", derive(utoipa::ToSchema), schema(value_type = String, format = Uuid))]
        #[serde(transparent)]
        pub struct $name(Uuid);

        impl $name {
            /// A new, time-ordered id.
            #[must_use]
            pub fn new() -> Self {
                Self(Uuid::now_v7())
            }

            /// Wraps an existing UUID (as read from a store or the wire).
            #[must_use]
            pub const fn from_uuid(uuid: Uuid) -> Self {
                Self(uuid)
            }

            /// The underlying UUID.
            #[must_use]
            pub const fn as_uuid(&self) -> &Uuid {
                &self.0
            }
        }

        impl Default for $name {
            fn default() -> Self {
                Self::new()
            }
        }

        impl fmt::Display for $name {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                fmt::Display::fmt(&self.0, f)
            }
        }

        impl FromStr for $name {
            type Err = uuid::Error;
            fn from_str(s: &str) -> Result<Self, Self::Err> {
                Uuid::parse_str(s).map(Self)
            }
        }

        impl From<Uuid> for $name {
            fn from(uuid: Uuid) -> Self {
                Self(uuid)
            }
        }

        impl From<$name> for Uuid {
            fn from(id: $name) -> Self {
                id.0
            }
        }
    };
}

id_type!(
    /// Identifies a job definition (stable across its versions).
    JobId
);
id_type!(
    /// Identifies one run (one firing) of a job.
    RunId
);
id_type!(
    /// Identifies one chunk of a run; also the AMQP message id.
    ChunkId
);
id_type!(
    /// Identifies an enrolled agent.
    AgentId
);
id_type!(
    /// Identifies a stored credential (never the secret itself).
    CredentialId
);
id_type!(
    /// Identifies a user account.
    UserId
);
id_type!(
    /// Identifies a login session (one chain of rotating refresh tokens).
    SessionId
);
id_type!(
    /// Identifies an API token (never the token itself).
    ApiTokenId
);

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ids_are_time_ordered_and_round_trip_through_text() {
        let first = RunId::new();
        let second = RunId::new();
        assert!(first < second, "v7 ids sort by creation time");
        let parsed: RunId = first.to_string().parse().unwrap();
        assert_eq!(parsed, first);
        assert_eq!(first.as_uuid().get_version_num(), 7);
    }

    #[test]
    fn ids_serialize_as_plain_strings() {
        let id = JobId::new();
        let json = serde_json::to_string(&id).unwrap();
        assert_eq!(json, format!("\"{id}\""));
    }
}
