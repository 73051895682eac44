//! `verdict.dev/v1alpha1` NetworkPolicyEnforcer (being written by the operator work).
