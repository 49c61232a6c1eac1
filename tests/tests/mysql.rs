//! The conformance suite against the mysql backend.

crm_conformance::conformance_suite!(crm_conformance::harness::mysql);
