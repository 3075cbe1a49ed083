//! Exit statuses: the one list, which `docs/cli.md` is checked against.

/// How a `pyctx` command ends.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Exit {
    Success,
    WorkLeft,
    Failure,
}

impl Exit {
    pub const ALL: &'static [Exit] = &[Exit::Success, Exit::WorkLeft, Exit::Failure];

    pub fn code(self) -> u8 {
        match self {
            Exit::Success => 0,
            Exit::WorkLeft => 1,
            Exit::Failure => 2,
        }
    }

    /// One line for the documentation table.
    pub fn meaning(self) -> &'static str {
        match self {
            Exit::Success => {
                "done, or nothing to do; also when the reader of the output went away \
                 (`pyctx migrate DIR` piped into `head`)"
            }
            Exit::WorkLeft => "`--check`: something is left to migrate",
            Exit::Failure => {
                "usage error (bad option, `--only` naming no function, unmatched `--files`), \
                 I/O error (missing path, non-UTF-8 file), a diagnostic of severity `error` \
                 (engine or internal error, a panic while processing a file), or `--write` \
                 refused or failed (then nothing was written)"
            }
        }
    }
}

impl From<Exit> for std::process::ExitCode {
    fn from(e: Exit) -> std::process::ExitCode {
        std::process::ExitCode::from(e.code())
    }
}
