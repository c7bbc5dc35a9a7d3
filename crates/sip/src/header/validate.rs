//! Full validation of a header block: every header this crate types is
//! parsed once, the first error is returned (used by `Message::validate`).

use super::map::Headers;
use super::name::HeaderName;
use crate::error::HeaderError;

impl Headers {
    /// Parses every typed header that is present and returns the first
    /// error. Mandatory headers are checked by `Message::validate`.
    pub fn validate(&self) -> Result<(), HeaderError> {
        fn all<T>(
            mut items: impl Iterator<Item = Result<T, HeaderError>>,
        ) -> Result<(), HeaderError> {
            items.try_for_each(|r| r.map(|_| ()))
        }
        all(self.vias())?;
        if self.contains(&HeaderName::From) {
            self.from()?;
        }
        if self.contains(&HeaderName::To) {
            self.to()?;
        }
        if self.contains(&HeaderName::CallId) {
            self.call_id()?;
        }
        if self.contains(&HeaderName::CSeq) {
            self.cseq()?;
        }
        if self.contains(&HeaderName::MaxForwards) {
            self.max_forwards()?;
        }
        self.contacts()?;
        all(self.routes())?;
        all(self.record_routes())?;
        all(self.path())?;
        self.content_length()?;
        self.content_type()?;
        self.expires()?;
        self.date()?;
        self.min_expires()?;
        all(self.allow())?;
        all(self.supported())?;
        all(self.require())?;
        all(self.proxy_require())?;
        all(self.unsupported())?;
        all(self.allow_events())?;
        all(self.privacy())?;
        self.user_agent()?;
        self.server()?;
        self.refer_to()?;
        self.referred_by()?;
        self.replaces()?;
        all(self.p_asserted_identity())?;
        all(self.p_preferred_identity())?;
        all(self.history_info())?;
        self.session_expires()?;
        self.min_se()?;
        all(self.reasons())?;
        self.retry_after()?;
        all(self.www_authenticate())?;
        all(self.proxy_authenticate())?;
        all(self.authorization())?;
        all(self.proxy_authorization())?;
        Ok(())
    }
}
