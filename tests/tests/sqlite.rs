//! The conformance suite against the sqlite backend.

crm_conformance::conformance_suite!(crm_conformance::harness::sqlite);
