//! `weaves demo`.

use std::path::PathBuf;

pub(crate) fn run(_dir: Option<PathBuf>) -> Result<i32, String> {
    Err("not supported: demo is being built".into())
}
