//! Create Python virtual environments
