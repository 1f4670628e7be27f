//! The normalized plan shape (DESIGN.md, snapshot format) and its fingerprint.
