//! The test producer: see `producer::testing`.

pub use producer::testing::{Options, TestApp, spawn_app, spawn_app_with};
