//! The client side of the API's authentication: an interceptor that sends
//! `authorization: Bearer <token>` with every call (an access token or an `oct_` API
//! token). The controller answers `UNAUTHENTICATED` without a valid one and
//! `PERMISSION_DENIED` when the token's role is too small.

use tonic::metadata::{AsciiMetadataValue, errors::InvalidMetadataValue};
use tonic::service::Interceptor;

/// Adds the bearer token to every request.
#[derive(Clone)]
pub struct Bearer(Option<AsciiMetadataValue>);

impl std::fmt::Debug for Bearer {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(if self.0.is_some() {
            "Bearer(***)"
        } else {
            "Bearer(none)"
        })
    }
}

impl Bearer {
    /// Sends `token`; `None` sends nothing (health, reflection and anonymous callers).
    pub fn new(token: Option<&str>) -> Result<Self, InvalidMetadataValue> {
        token
            .map(|t| {
                let mut value: AsciiMetadataValue = format!("Bearer {t}").parse()?;
                value.set_sensitive(true);
                Ok(value)
            })
            .transpose()
            .map(Self)
    }
}

impl Interceptor for Bearer {
    fn call(
        &mut self,
        mut request: tonic::Request<()>,
    ) -> Result<tonic::Request<()>, tonic::Status> {
        if let Some(value) = &self.0 {
            request
                .metadata_mut()
                .insert("authorization", value.clone());
        }
        Ok(request)
    }
}
