// Synthetic node fixtures (helper-owned; filled in by the synthetic-fixtures work).
