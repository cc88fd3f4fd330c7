//! Known vulnerabilities (being written).
