//! veritrail-provisioner: the architecture veritrail relies on (evidence bucket, KMS key,
//! trail, rules and their targets, the processor's role) as desired state, planned, applied
//! and destroyed through the AWS SDK for Rust against AWS or the emulator.
