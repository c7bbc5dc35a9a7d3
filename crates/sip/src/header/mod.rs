//! Header names, the header block, and typed views of header values.

pub(crate) mod auth;
pub(crate) mod date;
pub(crate) mod map;
pub(crate) mod name;
pub(crate) mod name_addr;
pub(crate) mod session;
pub(crate) mod simple;
mod validate;
pub(crate) mod via;
