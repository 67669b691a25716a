//! Printing an `Expr` back to LogQL (`format_query`, round-trip tests).
