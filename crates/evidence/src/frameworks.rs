//! The frameworks reports are written for, and the requirements of each that veritrail's
//! checks and rules speak to. Names are spelled as the rule packs spell them
//! (`PCI DSS v4.0.1`, `SOC 2`, `ISO/IEC 27001:2022`, `HIPAA`), so a pack rule's control joins
//! a requirement by plain comparison.

/// A framework: its command-line id, its name as the packs write it, and its requirements.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Framework {
    /// `pci-dss`, `soc2`, `iso27001`, `hipaa`.
    pub id: &'static str,
    pub name: &'static str,
    /// (requirement, short title) in the framework's order.
    pub requirements: &'static [(&'static str, &'static str)],
}

pub const PCI_DSS: Framework = Framework {
    id: "pci-dss",
    name: "PCI DSS v4.0.1",
    requirements: &[
        (
            "10.2.1",
            "Audit logs are enabled and active for all system components",
        ),
        (
            "10.2.1.2",
            "All actions by anyone with administrative access are logged",
        ),
        ("10.2.1.3", "All access to audit logs is logged"),
        ("10.2.1.4", "Invalid logical access attempts are logged"),
        (
            "10.2.1.5",
            "Changes to identification and authentication credentials are logged",
        ),
        (
            "10.2.1.6",
            "Initialisation, stopping or pausing of the audit logs is logged",
        ),
        (
            "10.2.1.7",
            "Creation and deletion of system-level objects is logged",
        ),
        ("10.2.2", "Audit logs record the details of each event"),
        (
            "10.3.1",
            "Read access to audit logs is limited to those with a job-related need",
        ),
        ("10.3.2", "Audit log files are protected from modification"),
        (
            "10.3.3",
            "Audit log files are promptly backed up to a secure, central store",
        ),
        (
            "10.3.4",
            "File integrity monitoring or change detection on audit logs",
        ),
        ("10.4.1", "Security events and audit logs are reviewed"),
        (
            "10.5.1",
            "Audit log history is retained for at least 12 months",
        ),
        (
            "10.7.2",
            "Failures of critical security control systems are detected and alerted",
        ),
    ],
};

pub const SOC2: Framework = Framework {
    id: "soc2",
    name: "SOC 2",
    requirements: &[
        (
            "CC6.1",
            "Logical access security over protected information assets",
        ),
        ("CC7.2", "System components are monitored for anomalies"),
        ("CC7.3", "Security events are evaluated"),
        ("CC7.4", "Security incidents are responded to"),
        (
            "CC8.1",
            "Changes to infrastructure are authorised, tracked and recorded",
        ),
    ],
};

pub const ISO27001: Framework = Framework {
    id: "iso27001",
    name: "ISO/IEC 27001:2022",
    requirements: &[("A.8.15", "Logging"), ("A.8.16", "Monitoring activities")],
};

pub const HIPAA: Framework = Framework {
    id: "hipaa",
    name: "HIPAA",
    requirements: &[("164.312(b)", "Audit controls")],
};

pub const ALL: &[Framework] = &[PCI_DSS, SOC2, ISO27001, HIPAA];

/// The framework with this id; `all` gives every one.
pub fn by_id(id: &str) -> Option<Vec<Framework>> {
    if id == "all" {
        return Some(ALL.to_vec());
    }
    ALL.iter().find(|f| f.id == id).map(|f| vec![*f])
}
