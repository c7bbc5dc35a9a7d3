//! The configuration a TLS side uses now, swapped whole on reload.

use std::sync::{Arc, RwLock};

/// The current `T` (a rustls config): readers take a cheap `Arc`, a reload
/// replaces it for every later handshake. A poisoned lock still holds a
/// complete config (only whole `Arc`s are ever stored), so it is used.
pub(crate) struct Current<T>(RwLock<Arc<T>>);

impl<T> Current<T> {
    pub(crate) fn new(value: Arc<T>) -> Self {
        Current(RwLock::new(value))
    }

    pub(crate) fn get(&self) -> Arc<T> {
        match self.0.read() {
            Ok(current) => Arc::clone(&current),
            Err(poisoned) => Arc::clone(&poisoned.into_inner()),
        }
    }

    pub(crate) fn set(&self, value: Arc<T>) {
        match self.0.write() {
            Ok(mut current) => *current = value,
            Err(poisoned) => *poisoned.into_inner() = value,
        }
    }
}
