//! hoist-git's integration tests: real git against real git servers on loopback.

mod git_http;
mod tags;
mod token;
