//! The conformance suite against the memory backend.

crm_conformance::conformance_suite!(crm_conformance::harness::memory);
