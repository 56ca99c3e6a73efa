//! `hoist version` and `hoist tag` against real repositories and a bare remote.
