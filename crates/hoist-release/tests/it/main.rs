//! hoist-release's integration tests: the JSON Schemas of its documents, and the plan and
//! record formats.

mod schema;
