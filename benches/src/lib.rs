//! Benchmarks of the CRM SDK; see `benches/`.
