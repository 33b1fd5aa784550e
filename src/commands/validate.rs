//! `validate` (placeholder in the skeleton; replaced by its implementation).

use super::Globals;
use crate::{Error, ExitCode, Result};

#[derive(Debug, Clone, clap::Args)]
pub struct Args {}

pub fn run(_g: &Globals, _args: &Args) -> Result<ExitCode> {
    Err(Error::Usage("`validate` is not built yet".into()))
}
