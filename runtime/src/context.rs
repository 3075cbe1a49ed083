//! The encoding of `PyCtx`, mirrored from `runtime/include/pyctx.h`:
//! `(thread_state + OFFSET) | bits`.

pub const BIT_FAST: usize = 1;
pub const BIT_DEALLOC: usize = 2;
pub const BIT_DETACHED: usize = 4;
pub const BITS: usize = 7;
pub const OFFSET: usize = 8;

/// The capability a context carries.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Capability {
    Full,
    Dealloc,
    Detached,
}

impl Capability {
    pub fn name(self) -> &'static str {
        match self {
            Capability::Full => "full",
            Capability::Dealloc => "dealloc",
            Capability::Detached => "detached",
        }
    }
}

/// A decoded context value.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Decoded {
    /// NULL or a small integer: never produced by `PyCtx_Get`.
    Invalid,
    Context {
        /// The owning `PyThreadState *` (0 for a context made without one).
        tstate: usize,
        capability: Capability,
    },
}

pub fn decode(ctx: usize) -> Decoded {
    let base = ctx & !BITS;
    if base < OFFSET {
        return Decoded::Invalid;
    }
    let capability = if ctx & BIT_DETACHED != 0 {
        Capability::Detached
    } else if ctx & BIT_DEALLOC != 0 {
        Capability::Dealloc
    } else {
        Capability::Full
    };
    Decoded::Context {
        tstate: base - OFFSET,
        capability,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn decodes_what_the_header_encodes() {
        let ts = 0x7f00_1234_5670usize;
        assert_eq!(
            decode((ts + OFFSET) | BIT_FAST),
            Decoded::Context {
                tstate: ts,
                capability: Capability::Full
            }
        );
        assert_eq!(
            decode((ts + OFFSET) | BIT_DEALLOC),
            Decoded::Context {
                tstate: ts,
                capability: Capability::Dealloc
            }
        );
        // PyCtx_Get() without a thread state
        assert_eq!(
            decode(OFFSET | BIT_DETACHED),
            Decoded::Context {
                tstate: 0,
                capability: Capability::Detached
            }
        );
        assert_eq!(decode(0), Decoded::Invalid);
        assert_eq!(decode(BIT_DEALLOC), Decoded::Invalid);
    }
}
