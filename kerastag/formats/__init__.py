"""One module per file format kerastag writes, holding both its writer and its reader."""
