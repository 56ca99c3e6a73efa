//! The release flow: a request becomes a typed plan, and the plan is executed step by step.
